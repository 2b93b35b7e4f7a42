//! Event-time parsing for `TIMESTAMP_FORMAT` (Java `DateTimeFormatter` patterns).

use chrono::{DateTime, NaiveDate, NaiveDateTime};

/// Translates the common subset of Java date-time patterns to chrono's strftime syntax.
pub fn java_to_chrono(pattern: &str) -> String {
    let mut out = String::new();
    let chars: Vec<char> = pattern.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == '\'' {
            // Quoted literal; '' is a quote.
            i += 1;
            if i < chars.len() && chars[i] == '\'' {
                out.push('\'');
                i += 1;
                continue;
            }
            while i < chars.len() && chars[i] != '\'' {
                if chars[i] == '%' {
                    out.push_str("%%");
                } else {
                    out.push(chars[i]);
                }
                i += 1;
            }
            i += 1;
            continue;
        }
        let mut run = 1;
        while i + run < chars.len() && chars[i + run] == c {
            run += 1;
        }
        let spec = match (c, run) {
            ('y' | 'u', 2) => "%y",
            ('y' | 'u', _) => "%Y",
            ('M', 1 | 2) => "%m",
            ('M', 3) => "%b",
            ('M', _) => "%B",
            ('d', _) => "%d",
            ('D', _) => "%j",
            ('H', _) => "%H",
            ('h', _) => "%I",
            ('m', _) => "%M",
            ('s', _) => "%S",
            ('S', 1..=3) => "%3f",
            ('S', _) => "%f",
            ('a', _) => "%p",
            ('E', 1..=3) => "%a",
            ('E', _) => "%A",
            ('X' | 'x' | 'Z', _) => "%z",
            ('z', _) => "%Z",
            ('%', _) => "%%",
            _ => "",
        };
        if spec.is_empty() {
            for _ in 0..run {
                out.push(c);
            }
        } else {
            out.push_str(spec);
        }
        i += run;
    }
    out
}

/// Parses `text` with a Java pattern into epoch milliseconds (UTC when the pattern has no zone).
pub fn parse_timestamp_column(text: &str, pattern: &str) -> Result<i64, String> {
    let fmt = java_to_chrono(pattern);
    if let Ok(dt) = DateTime::parse_from_str(text, &fmt) {
        return Ok(dt.timestamp_millis());
    }
    if let Ok(dt) = NaiveDateTime::parse_from_str(text, &fmt) {
        return Ok(dt.and_utc().timestamp_millis());
    }
    if let Ok(d) = NaiveDate::parse_from_str(text, &fmt) {
        return Ok(d.and_hms_opt(0, 0, 0).map(|dt| dt.and_utc().timestamp_millis()).unwrap_or(0));
    }
    Err(format!("Failed to parse timestamp '{text}' with formatter '{pattern}'"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_iso_like_patterns() {
        assert_eq!(parse_timestamp_column("2018-05-11 21:58:33", "yyyy-MM-dd HH:mm:ss"), Ok(1_526_075_913_000));
        assert_eq!(parse_timestamp_column("2018-05-11T21:58:33.123", "yyyy-MM-dd'T'HH:mm:ss.SSS"), Ok(1_526_075_913_123));
        assert!(parse_timestamp_column("nope", "yyyy-MM-dd").is_err());
    }
}
