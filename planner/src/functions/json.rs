//! ksqlDB JSON functions: EXTRACTJSONFIELD, IS_JSON_STRING, JSON_ARRAY_CONTAINS,
//! JSON_ARRAY_LENGTH, JSON_CONCAT, JSON_ITEMS, JSON_KEYS, JSON_RECORDS, TO_JSON_STRING.
//!
//! JSON text results are compact (no spaces), like Jackson's `toString()`.  Invalid JSON input
//! yields NULL (or `false` for the predicates), as in ksqlDB.

use std::borrow::Cow;
use std::fmt::Write;
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, MapBuilder, StringBuilder};
use arrow::datatypes::*;
use arrow::temporal_conversions::{date32_to_datetime, time32ms_to_time, timestamp_ms_to_datetime};
use base64::Engine;
use datafusion::common::{exec_err, Result};
use serde_json::Value;

use super::udf::*;

/// Registers the JSON family.
pub fn functions() -> Vec<Named> {
    vec![
        extract_json_field(),
        is_json_string(),
        json_array_contains(),
        json_array_length(),
        json_concat(),
        json_items(),
        json_keys(),
        json_records(),
        to_json_string(),
    ]
}

fn parse(s: &str) -> Option<Value> {
    serde_json::from_str(s).ok()
}

/// Jackson-style text of a node: strings unquoted, everything else compact JSON.
fn node_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// One step of a `$.a.b[0]['c']` path.
enum PathStep {
    Key(String),
    Index(i64),
}

fn parse_path(path: &str) -> Result<Vec<PathStep>> {
    let Some(mut rest) = path.trim().strip_prefix('$') else {
        return exec_err!("Invalid JsonPath: {path}");
    };
    let mut steps = vec![];
    while !rest.is_empty() {
        if let Some(r) = rest.strip_prefix('.') {
            let end = r.find(['.', '[']).unwrap_or(r.len());
            steps.push(PathStep::Key(r[..end].to_string()));
            rest = &r[end..];
        } else if let Some(r) = rest.strip_prefix('[') {
            let Some(end) = r.find(']') else {
                return exec_err!("Invalid JsonPath: {path}");
            };
            let inner = r[..end].trim();
            let quoted = inner
                .strip_prefix('\'')
                .and_then(|x| x.strip_suffix('\''))
                .or_else(|| inner.strip_prefix('"').and_then(|x| x.strip_suffix('"')));
            match quoted {
                Some(k) => steps.push(PathStep::Key(k.to_string())),
                None => match inner.parse::<i64>() {
                    Ok(n) => steps.push(PathStep::Index(n)),
                    Err(_) => return exec_err!("Invalid JsonPath: {path}"),
                },
            }
            rest = &r[end + 1..];
        } else {
            return exec_err!("Invalid JsonPath: {path}");
        }
    }
    Ok(steps)
}

fn extract_json_field() -> Named {
    udf("extractjsonfield")
        .sig([STR, STR], R::T(DataType::Utf8))
        .invoke(|c| {
            let (s, p) = (str_arg(&c.args[0])?, str_arg(&c.args[1])?);
            let mut cached: Option<(&str, Vec<PathStep>)> = None;
            collect_str(c.rows, |i| {
                let (Some(s), Some(p)) = (get(s, i), get(p, i)) else {
                    return Ok(None);
                };
                if cached.as_ref().is_none_or(|(cp, _)| *cp != p) {
                    cached = Some((p, parse_path(p)?));
                }
                let Some((_, steps)) = &cached else {
                    return Ok(None);
                };
                let Some(root) = parse(s) else {
                    return Ok(None);
                };
                let mut node = &root;
                for step in steps {
                    let next = match (step, node) {
                        (PathStep::Key(k), Value::Object(m)) => m.get(k),
                        (PathStep::Index(n), Value::Array(a)) if *n >= 0 => a.get(*n as usize),
                        _ => None,
                    };
                    match next {
                        Some(n) => node = n,
                        None => return Ok(None),
                    }
                }
                Ok(Some(Cow::Owned(node_text(node))))
            })
        })
}

fn is_json_string() -> Named {
    udf("is_json_string")
        .sig([STR], R::T(DataType::Boolean))
        .invoke(|c| {
            let s = str_arg(&c.args[0])?;
            collect_bool(c.rows, |i| {
                Ok(Some(get(s, i).is_some_and(|v| parse(v).is_some())))
            })
        })
}

fn json_array_length() -> Named {
    udf("json_array_length")
        .sig([STR], R::T(DataType::Int32))
        .invoke(|c| {
            let s = str_arg(&c.args[0])?;
            collect_prim::<Int32Type>(c.rows, c.ret, |i| {
                Ok(get(s, i)
                    .and_then(parse)
                    .and_then(|v| v.as_array().map(|a| a.len() as i32)))
            })
        })
}

fn json_array_contains() -> Named {
    udf("json_array_contains")
        .sig([STR, STR], R::T(DataType::Boolean))
        .sig([STR, BOOL], R::T(DataType::Boolean))
        .sig([STR, INT], R::T(DataType::Boolean))
        .sig([STR, BIGINT], R::T(DataType::Boolean))
        .sig([STR, DOUBLE], R::T(DataType::Boolean))
        .invoke(|c| {
            let s = str_arg(&c.args[0])?;
            let needle = &c.args[1];
            collect_bool(c.rows, |i| {
                let Some(Value::Array(items)) = get(s, i).and_then(parse) else {
                    return Ok(Some(false));
                };
                let found = items.iter().any(|item| match (needle.data_type(), item) {
                    (_, _) if needle.is_null(i) => item.is_null(),
                    (DataType::Utf8, Value::String(x)) => needle.as_string::<i32>().value(i) == x,
                    (DataType::Boolean, Value::Bool(x)) => needle.as_boolean().value(i) == *x,
                    (DataType::Int32, Value::Number(n)) => {
                        n.as_i64() == Some(i64::from(needle.as_primitive::<Int32Type>().value(i)))
                    }
                    (DataType::Int64, Value::Number(n)) => {
                        n.as_i64() == Some(needle.as_primitive::<Int64Type>().value(i))
                    }
                    (DataType::Float64, Value::Number(n)) => {
                        n.is_f64()
                            && n.as_f64() == Some(needle.as_primitive::<Float64Type>().value(i))
                    }
                    _ => false,
                });
                Ok(Some(found))
            })
        })
}

/// ksql JSON_CONCAT: objects merge (later keys win); otherwise everything is flattened into
/// one array (non-array values become elements).
fn concat_json(values: Vec<Value>) -> Value {
    if values.iter().all(Value::is_object) {
        let mut out = serde_json::Map::new();
        for v in values {
            if let Value::Object(m) = v {
                out.extend(m);
            }
        }
        Value::Object(out)
    } else {
        let mut out = vec![];
        for v in values {
            match v {
                Value::Array(a) => out.extend(a),
                other => out.push(other),
            }
        }
        Value::Array(out)
    }
}

fn json_concat() -> Named {
    udf("json_concat")
        .variadic([STR], R::T(DataType::Utf8))
        .invoke(|c| {
            let args = c.args.iter().map(str_arg).collect::<Result<Vec<_>>>()?;
            collect_str(c.rows, |i| {
                let mut values = Vec::with_capacity(args.len());
                for a in &args {
                    match get(*a, i).and_then(parse) {
                        Some(v) => values.push(v),
                        None => return Ok(None),
                    }
                }
                Ok(Some(Cow::Owned(concat_json(values).to_string())))
            })
        })
}

fn json_items() -> Named {
    udf("json_items")
        .sig([STR], R::T(list_of(DataType::Utf8)))
        .invoke(|c| {
            let s = str_arg(&c.args[0])?;
            collect_str_list(c.rows, |i| {
                Ok(get(s, i).and_then(parse).and_then(|v| match v {
                    Value::Array(a) => Some(a.iter().map(|x| Some(x.to_string())).collect()),
                    _ => None,
                }))
            })
        })
}

fn json_keys() -> Named {
    udf("json_keys")
        .sig([STR], R::T(list_of(DataType::Utf8)))
        .invoke(|c| {
            let s = str_arg(&c.args[0])?;
            collect_str_list(c.rows, |i| {
                Ok(get(s, i).and_then(parse).and_then(|v| match v {
                    Value::Object(m) => Some(m.keys().map(|k| Some(k.clone())).collect()),
                    _ => None,
                }))
            })
        })
}

fn json_records() -> Named {
    udf("json_records")
        .sig([STR], R::T(map_of(DataType::Utf8, DataType::Utf8)))
        .invoke(|c| {
            let s = str_arg(&c.args[0])?;
            let mut b = MapBuilder::new(None, StringBuilder::new(), StringBuilder::new());
            for i in 0..c.rows {
                match get(s, i).and_then(parse) {
                    Some(Value::Object(m)) => {
                        for (k, v) in &m {
                            b.keys().append_value(k);
                            b.values().append_value(node_text(v));
                        }
                        b.append(true)?;
                    }
                    _ => b.append(false)?,
                }
            }
            cast_to(&(Arc::new(b.finish()) as ArrayRef), c.ret)
        })
}

fn to_json_string() -> Named {
    udf("to_json_string")
        .sig([P::Any], R::T(DataType::Utf8))
        .invoke(|c| {
            let a = &c.args[0];
            collect_str_into(c.rows, |i, out| {
                write_json(out, a, i);
                Ok(true)
            })
        })
}

/// Java's `Double.toString`: shortest digits, always a fraction, scientific outside
/// [10^-3, 10^7).
pub fn java_double(v: f64) -> String {
    if v.is_nan() {
        return "NaN".into();
    }
    if v.is_infinite() {
        return if v > 0.0 {
            "Infinity".into()
        } else {
            "-Infinity".into()
        };
    }
    let abs = v.abs();
    if abs == 0.0 || (1e-3..1e7).contains(&abs) {
        let s = format!("{v}");
        if s.contains('.') {
            s
        } else {
            format!("{s}.0")
        }
    } else {
        let s = format!("{v:e}");
        let (m, e) = s.split_once('e').unwrap_or((&s, "0"));
        let m = if m.contains('.') {
            m.to_string()
        } else {
            format!("{m}.0")
        };
        format!("{m}E{e}")
    }
}

/// Decimal `v` with `scale` as plain text ("1.20", "-0.5").
pub fn decimal_text(v: i128, scale: i8) -> String {
    if scale <= 0 {
        let mut s = v.to_string();
        if v != 0 {
            s.extend(std::iter::repeat_n('0', (-scale) as usize));
        }
        return s;
    }
    let digits = v.unsigned_abs().to_string();
    let scale = scale as usize;
    let padded = if digits.len() <= scale {
        format!("{}{digits}", "0".repeat(scale - digits.len() + 1))
    } else {
        digits
    };
    let (int, frac) = padded.split_at(padded.len() - scale);
    format!("{}{int}.{frac}", if v < 0 { "-" } else { "" })
}

fn write_json_string(out: &mut String, s: &str) {
    out.push_str(&Value::String(s.to_string()).to_string());
}

/// Writes row `i` of `a` as ksqlDB's JSON text (null -> `null`).
pub fn write_json(out: &mut String, a: &ArrayRef, i: usize) {
    if a.is_null(i) {
        out.push_str("null");
        return;
    }
    match a.data_type() {
        DataType::Boolean => out.push_str(if a.as_boolean().value(i) {
            "true"
        } else {
            "false"
        }),
        DataType::Int32 => {
            let _ = write!(out, "{}", a.as_primitive::<Int32Type>().value(i));
        }
        DataType::Int64 => {
            let _ = write!(out, "{}", a.as_primitive::<Int64Type>().value(i));
        }
        DataType::Float64 => out.push_str(&java_double(a.as_primitive::<Float64Type>().value(i))),
        DataType::Decimal128(_, s) => out.push_str(&decimal_text(
            a.as_primitive::<Decimal128Type>().value(i),
            *s,
        )),
        DataType::Utf8 => write_json_string(out, a.as_string::<i32>().value(i)),
        DataType::Binary => write_json_string(
            out,
            &base64::engine::general_purpose::STANDARD.encode(a.as_binary::<i32>().value(i)),
        ),
        DataType::Date32 => {
            let d = date32_to_datetime(a.as_primitive::<Date32Type>().value(i));
            write_json_string(
                out,
                &d.map(|d| d.format("%Y-%m-%d").to_string())
                    .unwrap_or_default(),
            )
        }
        DataType::Time32(TimeUnit::Millisecond) => {
            let t = time32ms_to_time(a.as_primitive::<Time32MillisecondType>().value(i));
            let text = t.map(|t| {
                if t.format("%f").to_string().trim_end_matches('0').is_empty() {
                    t.format("%H:%M:%S").to_string()
                } else {
                    t.format("%H:%M:%S%.3f").to_string()
                }
            });
            write_json_string(out, &text.unwrap_or_default())
        }
        DataType::Timestamp(TimeUnit::Millisecond, _) => {
            let t = timestamp_ms_to_datetime(a.as_primitive::<TimestampMillisecondType>().value(i));
            write_json_string(
                out,
                &t.map(|t| t.format("%Y-%m-%dT%H:%M:%S%.3f").to_string())
                    .unwrap_or_default(),
            )
        }
        DataType::List(_) => {
            let l = a.as_list::<i32>();
            let vals = l.value(i);
            out.push('[');
            for k in 0..vals.len() {
                if k > 0 {
                    out.push(',');
                }
                write_json(out, &vals, k);
            }
            out.push(']');
        }
        DataType::Map(..) => {
            let m = a.as_map();
            let (start, end) = (
                m.value_offsets()[i] as usize,
                m.value_offsets()[i + 1] as usize,
            );
            let (keys, values) = (m.keys(), m.values());
            out.push('{');
            for k in start..end {
                if k > start {
                    out.push(',');
                }
                let mut key = String::new();
                write_json(&mut key, keys, k);
                if keys.data_type() == &DataType::Utf8 {
                    out.push_str(&key);
                } else {
                    write_json_string(out, &key);
                }
                out.push(':');
                write_json(out, values, k);
            }
            out.push('}');
        }
        DataType::Struct(fields) => {
            let s = a.as_struct();
            out.push('{');
            for (k, f) in fields.iter().enumerate() {
                if k > 0 {
                    out.push(',');
                }
                write_json_string(out, f.name());
                out.push(':');
                write_json(out, s.column(k), i);
            }
            out.push('}');
        }
        _ => match arrow::util::display::ArrayFormatter::try_new(a.as_ref(), &Default::default()) {
            Ok(f) => write_json_string(out, &f.value(i).to_string()),
            Err(_) => out.push_str("null"),
        },
    }
}

/// Row `i` of `a` as JSON text.
pub fn to_json_text(a: &ArrayRef, i: usize) -> String {
    let mut s = String::new();
    write_json(&mut s, a, i);
    s
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::array::{
        ArrayRef, Date32Array, Int32Array, ListArray, StructArray, Time32MillisecondArray,
        TimestampMillisecondArray,
    };
    use arrow::datatypes::{DataType, Field, Int32Type};

    use crate::functions::test_util::*;

    #[test]
    fn to_json_string_qtt() {
        assert_eq!(
            call_str("to_json_string", &[i32s(&[Some(1), None])]),
            vec![Some("1".into()), Some("null".into())]
        );
        assert_eq!(
            call_str("to_json_string", &[strs(&[Some("abc")])]),
            vec![Some("\"abc\"".into())]
        );
        assert_eq!(
            call_str("to_json_string", &[f64s(&[Some(123.456), Some(1.0)])]),
            vec![Some("123.456".into()), Some("1.0".into())]
        );
        let t: ArrayRef = Arc::new(Time32MillisecondArray::from(vec![60220000]));
        assert_eq!(
            call_str("to_json_string", &[t]),
            vec![Some("\"16:43:40\"".into())]
        );
        let d: ArrayRef = Arc::new(Date32Array::from(vec![1000]));
        assert_eq!(
            call_str("to_json_string", &[d]),
            vec![Some("\"1972-09-27\"".into())]
        );
        let ts: ArrayRef = Arc::new(TimestampMillisecondArray::from(vec![60220000000]));
        assert_eq!(
            call_str("to_json_string", &[ts]),
            vec![Some("\"1971-11-28T23:46:40.000\"".into())]
        );
        let l: ArrayRef = Arc::new(ListArray::from_iter_primitive::<Int32Type, _, _>(vec![
            Some(vec![Some(1), Some(2), Some(3)]),
        ]));
        assert_eq!(
            call_str("to_json_string", std::slice::from_ref(&l)),
            vec![Some("[1,2,3]".into())]
        );
        let s: ArrayRef = Arc::new(StructArray::from(vec![
            (
                Arc::new(Field::new("ID", DataType::Int32, true)),
                Arc::new(Int32Array::from(vec![1])) as ArrayRef,
            ),
            (
                Arc::new(Field::new("NAME", DataType::Utf8, true)),
                strs(&[Some("Alice")]),
            ),
        ]));
        assert_eq!(
            call_str("to_json_string", &[s]),
            vec![Some("{\"ID\":1,\"NAME\":\"Alice\"}".into())]
        );
    }

    #[test]
    fn extract_json_field_qtt() {
        let src = strs(&[Some("{\"name\": \"cdc\", \"version\": \"1\", \"@type\": \"UDF\", \"array\": [1, {\"x\": 2}]}"), Some("not json"), None]);
        let p = |x: &str| strs(&[Some(x); 3]);
        assert_eq!(
            call_str("extractjsonfield", &[src.clone(), p("$.name")]),
            vec![Some("cdc".into()), None, None]
        );
        assert_eq!(
            call_str("extractjsonfield", &[src.clone(), p("$.@type")])[0],
            Some("UDF".into())
        );
        assert_eq!(
            call_str("extractjsonfield", &[src.clone(), p("$.array[1]")])[0],
            Some("{\"x\":2}".into())
        );
        assert_eq!(
            call_str("extractjsonfield", &[src.clone(), p("$.array[-1]")])[0],
            None
        );
        assert_eq!(
            call_str("extractjsonfield", &[src, p("$.array[0]")])[0],
            Some("1".into())
        );
    }

    #[test]
    fn json_helpers_qtt() {
        let r = call_str(
            "json_concat",
            &[
                strs(&[
                    Some("{\"a\": {\"5\": 6}}"),
                    Some("[1, 2]"),
                    Some("null"),
                    Some("x"),
                ]),
                strs(&[
                    Some("{\"a\": {\"3\": 4}}"),
                    Some("[3, 4]"),
                    Some("null"),
                    Some("[]"),
                ]),
            ],
        );
        assert_eq!(
            r,
            vec![
                Some("{\"a\":{\"3\":4}}".into()),
                Some("[1,2,3,4]".into()),
                Some("[null,null]".into()),
                None
            ]
        );
        let r = call_list_str(
            "json_items",
            &[strs(&[Some("[{\"type\": \"A\"}, 1]"), Some("[]")])],
        );
        assert_eq!(
            r,
            vec![
                Some(vec![Some("{\"type\":\"A\"}".into()), Some("1".into())]),
                Some(vec![])
            ]
        );
        assert_eq!(
            call_list_str(
                "json_keys",
                &[strs(&[Some("{\"b\": 1, \"a\": 2}"), Some("[]")])]
            ),
            vec![Some(vec![Some("b".into()), Some("a".into())]), None]
        );
        assert_eq!(
            call_json(
                "json_records",
                &[strs(&[Some("{\"White\": \"Seven\", \"n\": 3}"), Some("")])]
            ),
            vec![Some("{\"White\":\"Seven\",\"n\":\"3\"}".into()), None]
        );
        assert_eq!(
            call_i32(
                "json_array_length",
                &[strs(&[Some("[1,2]"), Some("{}"), None])]
            ),
            vec![Some(2), None, None]
        );
        assert_eq!(
            call_bool(
                "is_json_string",
                &[strs(&[Some("[1,2]"), Some("abc"), None])]
            ),
            vec![Some(true), Some(false), Some(false)]
        );
        assert_eq!(
            call_bool(
                "json_array_contains",
                &[
                    strs(&[Some("[1,2]"), Some("[\"a\"]")]),
                    i32s(&[Some(2), Some(2)])
                ]
            ),
            vec![Some(true), Some(false)]
        );
        let _ = bools(&[]);
    }
}
