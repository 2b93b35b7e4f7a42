//! Translation of Java `DateTimeFormatter`/`SimpleDateFormat` patterns (as used by ksqlDB's
//! date/time functions) into chrono format items, plus zone-id parsing and lenient parsing
//! with Java's defaults (missing date = 1970-01-01, missing time fields = 0).
//!
//! Supported letters: `y u M L d D E a H k h K m s S n z Z X x V` and quoted literals
//! (`'T'`, `''`).  `S` runs other than 3/6/9 digits use the nearest chrono fraction (3, 6, 9).

use chrono::format::{Fixed, Item, Numeric, Pad, Parsed, StrftimeItems};
use chrono::{DateTime, FixedOffset, NaiveDate, NaiveDateTime, NaiveTime, Offset, TimeZone, Utc};
use chrono_tz::Tz;
use datafusion::common::{exec_err, Result};

/// A translated pattern.
#[derive(Debug, Clone)]
pub struct JavaFormat {
    items: Vec<Item<'static>>,
    /// Same as `items`, except `.S...` parses a variable-length fraction (Java is lenient).
    parse_items: Vec<Item<'static>>,
}

fn strftime_item(spec: &'static str) -> Item<'static> {
    StrftimeItems::new(spec).next().unwrap_or(Item::Error)
}

fn num(n: Numeric, count: usize) -> Item<'static> {
    Item::Numeric(n, if count >= 2 { Pad::Zero } else { Pad::None })
}

impl JavaFormat {
    /// Translates a Java pattern; unknown pattern letters are an error (as in Java).
    pub fn new(pattern: &str) -> Result<Self> {
        let chars: Vec<char> = pattern.chars().collect();
        let mut items: Vec<Item<'static>> = vec![];
        let mut parse_items: Vec<Item<'static>> = vec![];
        let mut i = 0;
        while i < chars.len() {
            let c = chars[i];
            if c == '\'' {
                // Quoted literal; '' is a single quote.
                if chars.get(i + 1) == Some(&'\'') {
                    items.push(Item::OwnedLiteral("'".into()));
                    parse_items.push(Item::OwnedLiteral("'".into()));
                    i += 2;
                    continue;
                }
                let mut lit = String::new();
                i += 1;
                while i < chars.len() {
                    if chars[i] == '\'' {
                        if chars.get(i + 1) == Some(&'\'') {
                            lit.push('\'');
                            i += 2;
                            continue;
                        }
                        break;
                    }
                    lit.push(chars[i]);
                    i += 1;
                }
                i += 1;
                items.push(Item::OwnedLiteral(lit.clone().into()));
                parse_items.push(Item::OwnedLiteral(lit.into()));
                continue;
            }
            if !c.is_ascii_alphabetic() {
                items.push(Item::OwnedLiteral(c.to_string().into()));
                parse_items.push(Item::OwnedLiteral(c.to_string().into()));
                i += 1;
                continue;
            }
            let mut n = 1;
            while chars.get(i + n) == Some(&c) {
                n += 1;
            }
            i += n;
            if c == 'S' && matches!(parse_items.last(), Some(Item::OwnedLiteral(l)) if &**l == ".")
            {
                parse_items.pop();
                parse_items.push(Item::Fixed(Fixed::Nanosecond));
            } else {
                parse_items.push(Item::Error);
            }
            items.push(match c {
                'y' | 'u' if n == 2 => Item::Numeric(Numeric::YearMod100, Pad::Zero),
                'y' | 'u' => Item::Numeric(Numeric::Year, Pad::Zero),
                'M' | 'L' if n <= 2 => num(Numeric::Month, n),
                'M' | 'L' if n == 3 => Item::Fixed(Fixed::ShortMonthName),
                'M' | 'L' => Item::Fixed(Fixed::LongMonthName),
                'd' => num(Numeric::Day, n),
                'D' => Item::Numeric(Numeric::Ordinal, if n >= 3 { Pad::Zero } else { Pad::None }),
                'E' if n <= 3 => Item::Fixed(Fixed::ShortWeekdayName),
                'E' => Item::Fixed(Fixed::LongWeekdayName),
                'a' => Item::Fixed(Fixed::UpperAmPm),
                'H' | 'k' => num(Numeric::Hour, n),
                'h' | 'K' => num(Numeric::Hour12, n),
                'm' => num(Numeric::Minute, n),
                's' => num(Numeric::Second, n),
                'S' if n <= 3 => strftime_item("%3f"),
                'S' if n <= 6 => strftime_item("%6f"),
                'S' | 'n' => strftime_item("%9f"),
                'z' | 'V' | 'v' => Item::Fixed(Fixed::TimezoneName),
                'Z' | 'x' if n <= 4 => Item::Fixed(Fixed::TimezoneOffset),
                'Z' | 'x' => Item::Fixed(Fixed::TimezoneOffsetColon),
                'X' => Item::Fixed(Fixed::TimezoneOffsetZ),
                'O' => Item::Fixed(Fixed::TimezoneOffsetColon),
                other => return exec_err!("Unknown pattern letter: {other}"),
            });
            if let (Some(Item::Error), Some(last)) = (parse_items.last(), items.last()) {
                let last = last.clone();
                parse_items.pop();
                parse_items.push(last);
            }
        }
        Ok(Self { items, parse_items })
    }

    /// Formats a date/time value (anything chrono can format with these items).
    pub fn format<T: TimeZone>(&self, dt: &DateTime<T>) -> String
    where
        T::Offset: std::fmt::Display,
    {
        dt.format_with_items(self.items.iter()).to_string()
    }

    /// Formats a naive date/time (zone letters render as UTC).
    pub fn format_naive(&self, dt: &NaiveDateTime) -> String {
        self.format(&Utc.from_utc_datetime(dt))
    }

    /// Parses with Java's defaults for missing fields.
    pub fn parse(&self, s: &str) -> Result<Parsed> {
        let mut p = Parsed::new();
        if let Err(e) = chrono::format::parse(&mut p, s, self.parse_items.iter()) {
            return exec_err!("Text '{s}' could not be parsed: {e}");
        }
        let r = (|| -> chrono::format::ParseResult<()> {
            if p.year().is_none() && p.year_mod_100().is_none() {
                p.set_year(1970)?;
            } else if p.year().is_none() {
                if let Some(y) = p.year_mod_100() {
                    p.set_year(2000 + i64::from(y))?;
                }
            }
            if p.ordinal().is_none() {
                if p.month().is_none() {
                    p.set_month(1)?;
                }
                if p.day().is_none() {
                    p.set_day(1)?;
                }
            }
            if p.hour_div_12().is_none() {
                if p.hour_mod_12().is_none() {
                    p.set_hour(0)?;
                } else {
                    p.set_ampm(false)?;
                }
            }
            if p.minute().is_none() {
                p.set_minute(0)?;
            }
            if p.second().is_none() {
                p.set_second(0)?;
            }
            if p.nanosecond().is_none() {
                p.set_nanosecond(0)?;
            }
            Ok(())
        })();
        match r {
            Ok(()) => Ok(p),
            Err(e) => exec_err!("Text '{s}' could not be parsed: {e}"),
        }
    }

    /// Parses to epoch milliseconds; an offset in the text wins over `zone`.
    pub fn parse_millis(&self, s: &str, zone: &Zone) -> Result<i64> {
        let p = self.parse(s)?;
        let naive = match p.to_naive_datetime_with_offset(0) {
            Ok(n) => n,
            Err(e) => return exec_err!("Text '{s}' could not be parsed: {e}"),
        };
        if let Some(off) = p.offset() {
            return Ok(naive.and_utc().timestamp_millis() - i64::from(off) * 1000);
        }
        zone.local_to_millis(&naive)
    }

    /// Parses a date.
    pub fn parse_date(&self, s: &str) -> Result<NaiveDate> {
        match self.parse(s)?.to_naive_date() {
            Ok(d) => Ok(d),
            Err(e) => exec_err!("Text '{s}' could not be parsed: {e}"),
        }
    }

    /// Parses a time of day.
    pub fn parse_time(&self, s: &str) -> Result<NaiveTime> {
        match self.parse(s)?.to_naive_time() {
            Ok(t) => Ok(t),
            Err(e) => exec_err!("Text '{s}' could not be parsed: {e}"),
        }
    }
}

/// A Java `ZoneId`: a region (`America/Los_Angeles`) or a fixed offset (`+05:00`, `UTC+1`).
#[derive(Debug, Clone, Copy)]
pub enum Zone {
    Region(Tz),
    Fixed(FixedOffset),
}

impl Zone {
    /// Parses a zone id like Java's `ZoneId.of`.
    pub fn parse(id: &str) -> Result<Zone> {
        let id = id.trim();
        if let Ok(tz) = id.parse::<Tz>() {
            return Ok(Zone::Region(tz));
        }
        let upper = id.to_ascii_uppercase();
        let rest = ["UTC", "GMT", "UT"]
            .iter()
            .find_map(|p| upper.strip_prefix(p))
            .unwrap_or(&upper);
        if rest.is_empty() || rest == "Z" {
            return Ok(Zone::Fixed(Utc.fix()));
        }
        let (sign, digits) = match rest.split_at(1) {
            ("+", d) => (1, d),
            ("-", d) => (-1, d),
            _ => return exec_err!("Unknown time-zone ID: {id}"),
        };
        let parts: Vec<&str> = if digits.contains(':') {
            digits.split(':').collect()
        } else if digits.len() > 2 {
            vec![&digits[..digits.len() - 2], &digits[digits.len() - 2..]]
        } else {
            vec![digits]
        };
        let mut secs = 0i32;
        for (k, part) in parts.iter().enumerate().take(3) {
            let Ok(v) = part.parse::<i32>() else {
                return exec_err!("Unknown time-zone ID: {id}");
            };
            secs += v * [3600, 60, 1][k];
        }
        match FixedOffset::east_opt(sign * secs) {
            Some(o) => Ok(Zone::Fixed(o)),
            None => exec_err!("Unknown time-zone ID: {id}"),
        }
    }

    /// Formats epoch milliseconds in this zone.
    pub fn format_millis(&self, ms: i64, f: &JavaFormat) -> Result<String> {
        let Some(utc) = DateTime::from_timestamp_millis(ms) else {
            return exec_err!("timestamp out of range: {ms}");
        };
        Ok(match self {
            Zone::Region(tz) => f.format(&utc.with_timezone(tz)),
            Zone::Fixed(o) => f.format(&utc.with_timezone(o)),
        })
    }

    /// Offset from UTC in seconds at instant `ms`.
    pub fn offset_secs_at(&self, ms: i64) -> i64 {
        let utc = DateTime::from_timestamp_millis(ms).unwrap_or_default();
        match self {
            Zone::Region(tz) => i64::from(utc.with_timezone(tz).offset().fix().local_minus_utc()),
            Zone::Fixed(o) => i64::from(o.local_minus_utc()),
        }
    }

    /// Epoch millis of a local date-time in this zone (earliest on DST overlaps, shifted
    /// forward across gaps like Java).
    pub fn local_to_millis(&self, naive: &NaiveDateTime) -> Result<i64> {
        let resolved = match self {
            Zone::Region(tz) => tz
                .from_local_datetime(naive)
                .earliest()
                .or_else(|| {
                    tz.from_local_datetime(&(*naive + chrono::Duration::hours(1)))
                        .earliest()
                })
                .map(|d| d.timestamp_millis()),
            Zone::Fixed(o) => o
                .from_local_datetime(naive)
                .earliest()
                .map(|d| d.timestamp_millis()),
        };
        match resolved {
            Some(ms) => Ok(ms),
            None => exec_err!("invalid local time {naive}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fmt(p: &str) -> JavaFormat {
        JavaFormat::new(p).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn formats_like_java() {
        let la = Zone::parse("America/Los_Angeles").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            la.format_millis(1526075913000, &fmt("yyyy-MM-dd HH:mm:ss zzz"))
                .ok(),
            Some("2018-05-11 14:58:33 PDT".into())
        );
        let utc = Zone::parse("UTC").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            utc.format_millis(1526075913123, &fmt("yyyy-MM-dd'T'HH:mm:ss.SSS"))
                .ok(),
            Some("2018-05-11T21:58:33.123".into())
        );
        assert_eq!(
            utc.format_millis(1640995200000, &fmt("dd-MMM-yyyy'Sophia' EEEE h a"))
                .ok(),
            Some("01-Jan-2022Sophia Saturday 12 AM".into())
        );
    }

    #[test]
    fn parses_like_java() {
        let utc = Zone::parse("UTC").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            fmt("yyyy-MM-dd'T'HH:mm:ssX")
                .parse_millis("2018-05-11T21:58:33Z", &utc)
                .ok(),
            Some(1526075913000)
        );
        assert_eq!(
            fmt("yyyy-MM-dd'T'HH:mm:ss")
                .parse_millis("2018-05-11T21:58:33", &utc)
                .ok(),
            Some(1526075913000)
        );
        assert_eq!(
            fmt("HH:mm:ss'Lit'").parse_time("00:01:05Lit").ok(),
            NaiveTime::from_hms_opt(0, 1, 5)
        );
        assert_eq!(
            fmt("hh:mm:ss a").parse_time("01:00:00 Pm").ok(),
            NaiveTime::from_hms_opt(13, 0, 0)
        );
        assert_eq!(
            fmt("HH/mm/ss").parse_time("11/05/19").ok(),
            NaiveTime::from_hms_opt(11, 5, 19)
        );
        let plus3 = Zone::parse("+03:00").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            fmt("yyyy-MM-dd HH:mm")
                .parse_millis("1970-01-01 03:00", &plus3)
                .ok(),
            Some(0)
        );
        assert!(fmt("yyyy").parse_millis("abc", &utc).is_err());
        assert_eq!(
            fmt("yyyy-MM-dd'T'HH:mm:ss.SX")
                .parse_millis("2019-08-27T13:31:09.2+0000", &utc)
                .ok(),
            Some(1566912669200)
        );
        assert_eq!(
            fmt("yyyy-MM-dd'T'HH:mm:ss.SSS")
                .parse_millis("2019-08-27T13:31:09.200", &utc)
                .ok(),
            Some(1566912669200)
        );
        assert!(JavaFormat::new("yyyy-qq").is_err() || JavaFormat::new("yyyy-bb").is_err());
    }
}
