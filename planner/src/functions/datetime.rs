//! ksqlDB date/time functions: UNIX_TIMESTAMP, UNIX_DATE, FROM_UNIXTIME, FROM_DAYS,
//! TIMESTAMPTOSTRING, STRINGTOTIMESTAMP, DATETOSTRING, STRINGTODATE, FORMAT_TIMESTAMP,
//! PARSE_TIMESTAMP, FORMAT_DATE, PARSE_DATE, FORMAT_TIME, PARSE_TIME, CONVERT_TZ,
//! DATEADD/DATESUB, TIMEADD/TIMESUB, TIMESTAMPADD/TIMESTAMPSUB.
//!
//! Patterns are Java's (see [`super::java_format`]); the time-unit argument of the *ADD/*SUB
//! functions arrives as a string literal (`'DAYS'`, `'SECONDS'`...).

use std::borrow::Cow;
use std::sync::Arc;

use arrow::array::ArrayRef;
use arrow::datatypes::{
    DataType, Date32Type, Int32Type, Int64Type, Time32MillisecondType, TimeUnit,
    TimestampMillisecondType,
};
use chrono::{DateTime, NaiveDate, NaiveTime, Timelike};
use datafusion::common::{exec_err, Result};

use super::java_format::{JavaFormat, Zone};
use super::udf::*;

const TS: DataType = DataType::Timestamp(TimeUnit::Millisecond, None);
const TIME_T: DataType = DataType::Time32(TimeUnit::Millisecond);
const MS_PER_DAY: i64 = 86_400_000;

/// Registers the date/time family.
pub fn functions() -> Vec<Named> {
    vec![
        unix_timestamp(),
        unix_date(),
        from_unixtime(),
        from_days(),
        format_ts("timestamptostring", BIGINT),
        format_ts("format_timestamp", TIMESTAMP),
        parse_ts("stringtotimestamp", DataType::Int64),
        parse_ts("parse_timestamp", TS),
        format_date("datetostring", INT),
        format_date("format_date", DATE),
        parse_date("stringtodate", DataType::Int32),
        parse_date("parse_date", DataType::Date32),
        format_time(),
        parse_time(),
        convert_tz(),
        shift("dateadd", 1, DATE),
        shift("datesub", -1, DATE),
        shift("timeadd", 1, TIME),
        shift("timesub", -1, TIME),
        shift("timestampadd", 1, TIMESTAMP),
        shift("timestampsub", -1, TIMESTAMP),
    ]
}

/// Caches the last translated pattern and zone (both are almost always literals).
#[derive(Default)]
struct FormatCache {
    pattern: Option<(String, JavaFormat)>,
    zone: Option<(String, Zone)>,
}

impl FormatCache {
    fn format(&mut self, p: &str) -> Result<&JavaFormat> {
        if self.pattern.as_ref().is_none_or(|(k, _)| k != p) {
            self.pattern = Some((p.to_string(), JavaFormat::new(p)?));
        }
        match &self.pattern {
            Some((_, f)) => Ok(f),
            None => exec_err!("format cache empty"),
        }
    }
    fn zone(&mut self, z: Option<&str>) -> Result<Zone> {
        let z = z.unwrap_or("UTC");
        if self.zone.as_ref().is_none_or(|(k, _)| k != z) {
            self.zone = Some((z.to_string(), Zone::parse(z)?));
        }
        match &self.zone {
            Some((_, zone)) => Ok(*zone),
            None => exec_err!("zone cache empty"),
        }
    }
}

fn now_millis() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

fn unix_timestamp() -> Named {
    udf("unix_timestamp")
        .sig([], R::T(DataType::Int64))
        .sig([TIMESTAMP], R::T(DataType::Int64))
        .volatile()
        .invoke(|c| match c.args.first() {
            None => collect_prim::<Int64Type>(c.rows, c.ret, |_| Ok(Some(now_millis()))),
            Some(a) => cast_to(&cast_to(a, &DataType::Int64)?, c.ret),
        })
}

fn unix_date() -> Named {
    udf("unix_date")
        .sig([], R::T(DataType::Int32))
        .sig([DATE], R::T(DataType::Int32))
        .volatile()
        .invoke(|c| match c.args.first() {
            None => collect_prim::<Int32Type>(c.rows, c.ret, |_| {
                Ok(Some(now_millis().div_euclid(MS_PER_DAY) as i32))
            }),
            Some(a) => Ok(arrow::compute::cast(a, &DataType::Int32)?),
        })
}

fn from_unixtime() -> Named {
    udf("from_unixtime").sig([BIGINT], R::T(TS)).invoke(|c| {
        let v = prim_arg::<Int64Type>(&c.args[0])?;
        Ok(Arc::new(v.reinterpret_cast::<TimestampMillisecondType>()))
    })
}

fn from_days() -> Named {
    udf("from_days")
        .sig([INT], R::T(DataType::Date32))
        .invoke(|c| {
            let v = prim_arg::<Int32Type>(&c.args[0])?;
            Ok(Arc::new(v.reinterpret_cast::<Date32Type>()))
        })
}

/// Epoch millis of column `a` (BIGINT or TIMESTAMP) as an Int64 array.
fn millis_col(a: &ArrayRef) -> Result<ArrayRef> {
    Ok(arrow::compute::cast(a, &DataType::Int64)?)
}

fn format_ts(name: &'static str, input: P) -> Named {
    udf(name)
        .sig([input.clone(), STR], R::T(DataType::Utf8))
        .sig([input, STR, STR], R::T(DataType::Utf8))
        .invoke(|c| {
            let ms = millis_col(&c.args[0])?;
            let ms = prim_arg::<Int64Type>(&ms)?;
            let pat = str_arg(&c.args[1])?;
            let zone = c.args.get(2).map(str_arg).transpose()?;
            let mut cache = FormatCache::default();
            collect_str(c.rows, |i| {
                let (Some(v), Some(p)) = (get(ms, i), get(pat, i)) else {
                    return Ok(None);
                };
                let z = match zone {
                    Some(z) => match get(z, i) {
                        Some(z) => Some(z),
                        None => return Ok(None),
                    },
                    None => None,
                };
                let zone = cache.zone(z)?;
                let f = cache.format(p)?;
                Ok(Some(Cow::Owned(zone.format_millis(v, f)?)))
            })
        })
}

fn parse_ts(name: &'static str, ret: DataType) -> Named {
    udf(name)
        .sig([STR, STR], R::T(ret.clone()))
        .sig([STR, STR, STR], R::T(ret))
        .invoke(|c| {
            let (s, pat) = (str_arg(&c.args[0])?, str_arg(&c.args[1])?);
            let zone = c.args.get(2).map(str_arg).transpose()?;
            let mut cache = FormatCache::default();
            collect_prim::<Int64Type>(c.rows, &DataType::Int64, |i| {
                let (Some(v), Some(p)) = (get(s, i), get(pat, i)) else {
                    return Ok(None);
                };
                let z = match zone {
                    Some(z) => match get(z, i) {
                        Some(z) => Some(z),
                        None => return Ok(None),
                    },
                    None => None,
                };
                let zone = cache.zone(z)?;
                Ok(Some(cache.format(p)?.parse_millis(v, &zone)?))
            })
            .and_then(|a| cast_to(&a, c.ret))
        })
}

fn epoch() -> NaiveDate {
    NaiveDate::from_ymd_opt(1970, 1, 1).unwrap_or_default()
}

fn format_date(name: &'static str, input: P) -> Named {
    udf(name)
        .sig([input, STR], R::T(DataType::Utf8))
        .invoke(|c| {
            let days = arrow::compute::cast(&c.args[0], &DataType::Int32)?;
            let days = prim_arg::<Int32Type>(&days)?;
            let pat = str_arg(&c.args[1])?;
            let mut cache = FormatCache::default();
            collect_str(c.rows, |i| {
                let (Some(d), Some(p)) = (get(days, i), get(pat, i)) else {
                    return Ok(None);
                };
                let Some(date) = epoch().checked_add_signed(chrono::Duration::days(i64::from(d)))
                else {
                    return exec_err!("date out of range: {d}");
                };
                Ok(Some(Cow::Owned(
                    cache
                        .format(p)?
                        .format_naive(&date.and_time(NaiveTime::MIN)),
                )))
            })
        })
}

fn parse_date(name: &'static str, ret: DataType) -> Named {
    udf(name).sig([STR, STR], R::T(ret)).invoke(|c| {
        let (s, pat) = (str_arg(&c.args[0])?, str_arg(&c.args[1])?);
        let mut cache = FormatCache::default();
        let days = collect_prim::<Int32Type>(c.rows, &DataType::Int32, |i| {
            let (Some(v), Some(p)) = (get(s, i), get(pat, i)) else {
                return Ok(None);
            };
            let d = cache.format(p)?.parse_date(v)?;
            Ok(Some((d - epoch()).num_days() as i32))
        })?;
        cast_to(&days, c.ret)
    })
}

fn format_time() -> Named {
    udf("format_time")
        .sig([TIME, STR], R::T(DataType::Utf8))
        .invoke(|c| {
            let t = prim_arg::<Time32MillisecondType>(&c.args[0])?;
            let pat = str_arg(&c.args[1])?;
            let mut cache = FormatCache::default();
            collect_str(c.rows, |i| {
                let (Some(ms), Some(p)) = (get(t, i), get(pat, i)) else {
                    return Ok(None);
                };
                let Some(time) = NaiveTime::from_num_seconds_from_midnight_opt(
                    (ms / 1000) as u32,
                    ((ms % 1000) * 1_000_000) as u32,
                ) else {
                    return exec_err!("time out of range: {ms}");
                };
                Ok(Some(Cow::Owned(
                    cache.format(p)?.format_naive(&epoch().and_time(time)),
                )))
            })
        })
}

fn parse_time() -> Named {
    udf("parse_time").sig([STR, STR], R::T(TIME_T)).invoke(|c| {
        let (s, pat) = (str_arg(&c.args[0])?, str_arg(&c.args[1])?);
        let mut cache = FormatCache::default();
        collect_prim::<Time32MillisecondType>(c.rows, c.ret, |i| {
            let (Some(v), Some(p)) = (get(s, i), get(pat, i)) else {
                return Ok(None);
            };
            let t = cache.format(p)?.parse_time(v)?;
            Ok(Some(
                (t.num_seconds_from_midnight() * 1000 + t.nanosecond() / 1_000_000) as i32,
            ))
        })
    })
}

fn convert_tz() -> Named {
    udf("convert_tz")
        .sig([TIMESTAMP, STR, STR], R::T(TS))
        .invoke(|c| {
            let ts = prim_arg::<TimestampMillisecondType>(&c.args[0])?;
            let (from, to) = (str_arg(&c.args[1])?, str_arg(&c.args[2])?);
            let (mut from_cache, mut to_cache) = (FormatCache::default(), FormatCache::default());
            collect_prim::<TimestampMillisecondType>(c.rows, c.ret, |i| {
                let (Some(v), Some(f), Some(t)) = (get(ts, i), get(from, i), get(to, i)) else {
                    return Ok(None);
                };
                let (fz, tz) = (from_cache.zone(Some(f))?, to_cache.zone(Some(t))?);
                // The value is a local time in `from`; re-express the same instant as local `to`.
                let Some(naive) = DateTime::from_timestamp_millis(v).map(|d| d.naive_utc()) else {
                    return exec_err!("timestamp out of range: {v}");
                };
                let instant = fz.local_to_millis(&naive)?;
                Ok(Some(instant + tz.offset_secs_at(instant) * 1000))
            })
        })
}

/// Milliseconds in one `unit` (Java `TimeUnit` names, singular or plural).
fn unit_millis(unit: &str) -> Result<f64> {
    let u = unit.trim().to_ascii_uppercase();
    let u = u.strip_suffix('S').unwrap_or(&u);
    Ok(match u {
        "NANOSECOND" => 1e-6,
        "MICROSECOND" => 1e-3,
        "MILLISECOND" => 1.0,
        "SECOND" => 1_000.0,
        "MINUTE" => 60_000.0,
        "HOUR" => 3_600_000.0,
        "DAY" => MS_PER_DAY as f64,
        other => return exec_err!("Unknown time unit: {other}"),
    })
}

/// `amount` of `unit` converted to `target_ms` units, truncating like `TimeUnit.convert`.
fn convert_units(amount: i64, unit: &str, target_ms: f64) -> Result<i64> {
    let ms = unit_millis(unit)?;
    Ok(if ms >= target_ms {
        amount.saturating_mul((ms / target_ms).round() as i64)
    } else {
        amount / (target_ms / ms).round() as i64
    })
}

fn shift(name: &'static str, sign: i64, input: P) -> Named {
    udf(name)
        .sig([STR, BIGINT, input], R::Arg(2))
        .invoke(move |c| {
            let unit = str_arg(&c.args[0])?;
            let amount = prim_arg::<Int64Type>(&c.args[1])?;
            let value = arrow::compute::cast(&c.args[2], &DataType::Int64)?;
            let value = prim_arg::<Int64Type>(&value)?;
            let target_ms = match c.ret {
                DataType::Date32 => MS_PER_DAY as f64,
                _ => 1.0,
            };
            let out = collect_prim::<Int64Type>(c.rows, &DataType::Int64, |i| {
                let (Some(u), Some(n), Some(v)) = (get(unit, i), get(amount, i), get(value, i))
                else {
                    return Ok(None);
                };
                let delta = convert_units(n, u, target_ms)?.saturating_mul(sign);
                Ok(Some(match c.ret {
                    DataType::Time32(_) => (i128::from(v) + i128::from(delta))
                        .rem_euclid(i128::from(MS_PER_DAY))
                        as i64,
                    _ => v.saturating_add(delta),
                }))
            })?;
            match c.ret {
                DataType::Date32 | DataType::Time32(_) => Ok(arrow::compute::cast(
                    &arrow::compute::cast(&out, &DataType::Int32)?,
                    c.ret,
                )?),
                _ => Ok(arrow::compute::cast(&out, c.ret)?),
            }
        })
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::array::{
        ArrayRef, AsArray, Date32Array, Time32MillisecondArray, TimestampMillisecondArray,
    };
    use arrow::datatypes::{Date32Type, Time32MillisecondType, TimestampMillisecondType};

    use crate::functions::test_util::*;

    fn ts(v: &[Option<i64>]) -> ArrayRef {
        Arc::new(TimestampMillisecondArray::from(v.to_vec()))
    }

    #[test]
    fn format_and_parse_timestamps() {
        let r = call_str(
            "timestamptostring",
            &[
                i64s(&[Some(1526075913000), None]),
                strs(&[Some("yyyy-MM-dd HH:mm:ss zzz"); 2]),
                strs(&[Some("America/Los_Angeles"); 2]),
            ],
        );
        assert_eq!(r, vec![Some("2018-05-11 14:58:33 PDT".into()), None]);
        let r = call_str(
            "format_timestamp",
            &[
                ts(&[Some(1526075913000)]),
                strs(&[Some("yyyy-MM-dd HH:mm:ss zzz")]),
                strs(&[Some("Europe/London")]),
            ],
        );
        assert_eq!(r, vec![Some("2018-05-11 22:58:33 BST".into())]);
        let r = call_i64(
            "stringtotimestamp",
            &[
                strs(&[Some("2018-05-11T21:58:33Z"), Some("2020-05-11T21:58:33z")]),
                strs(&[Some("yyyy-MM-dd'T'HH:mm:ssX"); 2]),
            ],
        );
        assert_eq!(r, vec![Some(1526075913000), Some(1589234313000)]);
        let out = call(
            "parse_timestamp",
            &[
                strs(&[Some("2018-05-11 21:58:33")]),
                strs(&[Some("yyyy-MM-dd HH:mm:ss")]),
            ],
        );
        assert_eq!(
            out.as_primitive::<TimestampMillisecondType>().value(0),
            1526075913000
        );
        assert!(try_call(
            "parse_timestamp",
            &[strs(&[Some("nope")]), strs(&[Some("yyyy")])]
        )
        .is_err());
    }

    #[test]
    fn dates_and_times() {
        let d: ArrayRef = Arc::new(Date32Array::from(vec![Some(17662), Some(18993), Some(-1)]));
        let r = call_str(
            "format_date",
            &[
                d,
                strs(&[
                    Some("yyyy-MM-dd"),
                    Some("dd-MMM-yyyy"),
                    Some("dd-MM-yyyy'Sophia'"),
                ]),
            ],
        );
        assert_eq!(
            r,
            vec![
                Some("2018-05-11".into()),
                Some("01-Jan-2022".into()),
                Some("31-12-1969Sophia".into())
            ]
        );
        let out = call(
            "parse_date",
            &[strs(&[Some("2018-05-11")]), strs(&[Some("yyyy-MM-dd")])],
        );
        assert_eq!(out.as_primitive::<Date32Type>().value(0), 17662);
        assert_eq!(
            call_i32(
                "stringtodate",
                &[strs(&[Some("11/05/2018")]), strs(&[Some("dd/MM/yyyy")])]
            ),
            vec![Some(17662)]
        );
        let out = call(
            "parse_time",
            &[
                strs(&[Some("01:00:00 PM"), Some("00:01:05Lit")]),
                strs(&[Some("hh:mm:ss a"), Some("HH:mm:ss'Lit'")]),
            ],
        );
        let t = out.as_primitive::<Time32MillisecondType>();
        assert_eq!((t.value(0), t.value(1)), (46800000, 65000));
        let tm: ArrayRef = Arc::new(Time32MillisecondArray::from(vec![
            Some(65000),
            Some(1234567),
            None,
        ]));
        let r = call_str(
            "format_time",
            &[
                tm,
                strs(&[
                    Some("HH_mm_ss_SSS"),
                    Some("HHmmss'AAAAA'"),
                    Some("HH:mm:ss"),
                ]),
            ],
        );
        assert_eq!(
            r,
            vec![
                Some("00_01_05_000".into()),
                Some("002034AAAAA".into()),
                None
            ]
        );
        let r = call_i32(
            "stringtodate",
            &[
                strs(&[Some("01-JAN-2022"), Some("JAN-2022"), Some("2018-05-11Lit")]),
                strs(&[
                    Some("dd-MMM-yyyy"),
                    Some("MMM-yyyy"),
                    Some("yyyy-MM-dd'Lit'"),
                ]),
            ],
        );
        assert_eq!(r, vec![Some(18993), Some(18993), Some(17662)]);
    }

    #[test]
    fn convert_and_shift() {
        let out = call(
            "convert_tz",
            &[
                ts(&[Some(100), Some(1589234313000), None]),
                strs(&[Some("UTC"); 3]),
                strs(&[Some("+03:00"); 3]),
            ],
        );
        let v: Vec<_> = out
            .as_primitive::<TimestampMillisecondType>()
            .iter()
            .collect();
        assert_eq!(v, vec![Some(10800100), Some(1589245113000), None]);
        let d: ArrayRef = Arc::new(Date32Array::from(vec![Some(10), None]));
        let out = call(
            "dateadd",
            &[strs(&[Some("DAYS"); 2]), i32s(&[Some(10); 2]), d],
        );
        assert_eq!(
            out.as_primitive::<Date32Type>().iter().collect::<Vec<_>>(),
            vec![Some(20), None]
        );
        let out = call(
            "timestampsub",
            &[
                strs(&[Some("MILLISECONDS")]),
                i32s(&[Some(5)]),
                ts(&[Some(2)]),
            ],
        );
        assert_eq!(out.as_primitive::<TimestampMillisecondType>().value(0), -3);
        let tm: ArrayRef = Arc::new(Time32MillisecondArray::from(vec![1000]));
        let out = call("timesub", &[strs(&[Some("SECONDS")]), i32s(&[Some(2)]), tm]);
        assert_eq!(
            out.as_primitive::<Time32MillisecondType>().value(0),
            86_399_000
        );
        let out = call("from_unixtime", &[i64s(&[Some(100)])]);
        assert_eq!(out.as_primitive::<TimestampMillisecondType>().value(0), 100);
        assert_eq!(call_i64("unix_timestamp", &[ts(&[Some(7)])]), vec![Some(7)]);
    }
}
