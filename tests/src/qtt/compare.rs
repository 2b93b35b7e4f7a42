//! Comparing the engine's output records with the expected QTT records.

use base64::Engine as _;
use runnel_parser::SqlType;
use runnel_runtime::engine::{TopicRecord, WindowType};
use serde_json::{Number, Value};

use super::model::RecordNode;
use super::records::{b64, decode, split_window, TopicSerde};

/// Short JSON rendering for failure reasons.
pub fn short_json(v: &Value) -> String {
    let s = v.to_string();
    if s.chars().count() > 80 {
        format!("{}...", s.chars().take(80).collect::<String>())
    } else {
        s
    }
}

fn mismatch(path: &str, expected: &Value, actual: &Value) -> String {
    format!("{path}: expected {} but was {}", short_json(expected), short_json(actual))
}

fn close(x: f64, y: f64) -> bool {
    if x == y {
        return true;
    }
    let diff = (x - y).abs();
    diff <= 1e-6 || diff <= 1e-6 * x.abs().max(y.abs())
}

fn is_integer(n: &Number) -> bool {
    n.is_i64() || n.is_u64()
}

fn numbers_equal(e: &Number, a: &Number, ty: Option<&SqlType>) -> bool {
    if let (Some(x), Some(y)) = (e.as_i64(), a.as_i64()) {
        return x == y;
    }
    if let (Some(x), Some(y)) = (e.as_u64(), a.as_u64()) {
        return x == y;
    }
    let (Some(x), Some(y)) = (e.as_f64(), a.as_f64()) else { return false };
    match ty {
        Some(SqlType::Int | SqlType::Bigint) => false,
        Some(SqlType::Decimal { .. }) => x == y,
        _ => close(x, y),
    }
}

fn parse_decimal(s: &str) -> Option<f64> {
    s.trim().parse::<f64>().ok().filter(|f| f.is_finite())
}

/// Compares an expected JSON value with an actual one. `ty` (when known) refines number
/// handling: integers exact, DECIMAL exact (expected may be a string), DOUBLE within 1e-6.
pub fn compare_values(expected: &Value, actual: &Value, ty: Option<&SqlType>, path: &str) -> Result<(), String> {
    let decimal_or_unknown = matches!(ty, None | Some(SqlType::Decimal { .. }));
    match (expected, actual) {
        (Value::Null, Value::Null) => Ok(()),
        (Value::Bool(e), Value::Bool(a)) if e == a => Ok(()),
        (Value::String(e), Value::String(a)) if e == a => Ok(()),
        (Value::Number(e), Value::Number(a)) => {
            if matches!(ty, Some(SqlType::Int | SqlType::Bigint)) && is_integer(e) && !is_integer(a) {
                return Err(mismatch(path, expected, actual));
            }
            if numbers_equal(e, a, ty) {
                Ok(())
            } else {
                Err(mismatch(path, expected, actual))
            }
        }
        // Decimals may be given as strings ("1.10") on either side.
        (Value::String(e), Value::Number(a)) if decimal_or_unknown => match (parse_decimal(e), a.as_f64()) {
            (Some(x), Some(y)) if x == y => Ok(()),
            _ => Err(mismatch(path, expected, actual)),
        },
        (Value::Number(e), Value::String(a)) if matches!(ty, Some(SqlType::Decimal { .. })) => {
            match (e.as_f64(), parse_decimal(a)) {
                (Some(x), Some(y)) if x == y => Ok(()),
                _ => Err(mismatch(path, expected, actual)),
            }
        }
        (Value::Array(e), Value::Array(a)) => {
            if e.len() != a.len() {
                return Err(format!(
                    "{path}: expected array of {} but was {} elements: expected {} but was {}",
                    e.len(),
                    a.len(),
                    short_json(expected),
                    short_json(actual)
                ));
            }
            let elem = match ty {
                Some(SqlType::Array(t)) => Some(t.as_ref()),
                _ => None,
            };
            for (i, (x, y)) in e.iter().zip(a).enumerate() {
                compare_values(x, y, elem, &format!("{path}[{i}]"))?;
            }
            Ok(())
        }
        (Value::Object(e), Value::Object(a)) => {
            // Field names compare like ksqlDB's test framework: exactly, else ignoring case
            // (map keys are data and always compare exactly).
            let is_map = matches!(ty, Some(SqlType::Map(..)));
            let find = |k: &str| -> Option<(&String, &Value)> {
                a.get_key_value(k).or_else(|| if is_map { None } else { a.iter().find(|(ak, _)| ak.eq_ignore_ascii_case(k)) })
            };
            for k in e.keys() {
                if find(k).is_none() {
                    return Err(format!(
                        "{path}: missing field '{k}' (actual fields: {})",
                        a.keys().cloned().collect::<Vec<_>>().join(", ")
                    ));
                }
            }
            if a.len() != e.len() {
                if let Some(k) = a.keys().find(|k| !e.keys().any(|ek| ek == *k || (!is_map && ek.eq_ignore_ascii_case(k)))) {
                    return Err(format!("{path}: unexpected field '{k}'"));
                }
            }
            for (k, x) in e {
                let field_ty = match ty {
                    Some(SqlType::Struct(fields)) => fields
                        .iter()
                        .find(|f| &f.name == k)
                        .or_else(|| fields.iter().find(|f| f.name.eq_ignore_ascii_case(k)))
                        .map(|f| &f.data_type),
                    Some(SqlType::Map(_, v)) => Some(v.as_ref()),
                    _ => None,
                };
                let actual = find(k).map(|(_, v)| v).unwrap_or(&Value::Null);
                compare_values(x, actual, field_ty, &format!("{path}.{k}"))?;
            }
            Ok(())
        }
        _ => Err(mismatch(path, expected, actual)),
    }
}

fn header_values(headers: &[(String, Option<Vec<u8>>)]) -> Vec<(String, Option<String>)> {
    headers.iter().map(|(k, v)| (k.clone(), v.as_ref().map(|b| b64().encode(b)))).collect()
}

/// Compares one actual record with the expected one (topic/index are added by the caller).
/// `check_zero_timestamps` is false for cases without `inputs`.
pub fn compare_record(
    expected: &RecordNode,
    actual: &TopicRecord,
    serde: &TopicSerde,
    check_zero_timestamps: bool,
) -> Result<(), String> {
    // Key (and window).
    let mut key_bytes = actual.key.as_deref();
    if let Some(w) = &serde.window {
        if let Some(bytes) = key_bytes {
            let session = w.window_type == WindowType::Session;
            let split = split_window(bytes, session).map_err(|e| format!("key: {e}"))?;
            key_bytes = Some(split.inner);
            if let Some(ew) = &expected.window {
                let (ty, end) = match w.window_type {
                    WindowType::Session => ("session", split.end.unwrap_or(split.start)),
                    _ => ("time", split.start + w.size_ms.unwrap_or(0)),
                };
                if !ew.window_type.eq_ignore_ascii_case(ty) || ew.start != split.start || ew.end != end {
                    return Err(format!(
                        "window: expected {} [{}, {}] but was {ty} [{}, {end}]",
                        ew.window_type, ew.start, ew.end, split.start
                    ));
                }
            }
        } else if expected.window.is_some() {
            return Err("window: expected a windowed key but the key is null".into());
        }
    } else if expected.window.is_some() {
        return Err("window: expected a windowed key but the sink is not windowed".into());
    }
    let key = decode(&serde.key, key_bytes, &expected.key).map_err(|e| format!("key: {e}"))?;
    compare_values(&expected.key, &key, serde.key.type_for(&expected.key).as_ref(), "key")?;

    // Value.
    let value = decode(&serde.value, actual.value.as_deref(), &expected.value).map_err(|e| format!("value: {e}"))?;
    compare_values(&expected.value, &value, serde.value.type_for(&expected.value).as_ref(), "value")?;

    // Timestamp.
    if let Some(ts) = expected.timestamp {
        if (ts != 0 || check_zero_timestamps) && ts != actual.timestamp {
            return Err(format!("timestamp: expected {ts} but was {}", actual.timestamp));
        }
    }

    // Headers.
    let expected_headers: Vec<(String, Option<String>)> =
        expected.headers.iter().flatten().map(|h| (h.key.clone(), h.value.clone())).collect();
    let actual_headers = header_values(&actual.headers);
    if expected_headers != actual_headers {
        return Err(format!("headers: expected {expected_headers:?} but was {actual_headers:?}"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::qtt::records::FormatSpec;
    use runnel_parser::StructField;
    use runnel_runtime::engine::WindowInfo;
    use serde_json::json;

    #[test]
    fn doubles_within_tolerance() {
        assert!(compare_values(&json!(0.1), &json!(0.1000000001), Some(&SqlType::Double), "v").is_ok());
        assert!(compare_values(&json!(1e12), &json!(1.0000000001e12), None, "v").is_ok());
        assert!(compare_values(&json!(0.1), &json!(0.11), Some(&SqlType::Double), "v").is_err());
        assert!(compare_values(&json!(1), &json!(1.0), Some(&SqlType::Double), "v").is_ok());
    }

    #[test]
    fn integers_exact() {
        assert!(compare_values(&json!(5), &json!(5), Some(&SqlType::Bigint), "v").is_ok());
        assert!(compare_values(&json!(5), &json!(6), None, "v").is_err());
        assert!(compare_values(&json!(5), &json!(5.0), Some(&SqlType::Int), "v").is_err());
        assert!(compare_values(&json!(9007199254740993i64), &json!(9007199254740992i64), None, "v").is_err());
    }

    #[test]
    fn decimals_exact_and_as_strings() {
        let dec = SqlType::Decimal { precision: 4, scale: 2 };
        assert!(compare_values(&json!("1.10"), &json!(1.1), Some(&dec), "v").is_ok());
        assert!(compare_values(&json!(1.1), &json!(1.1), Some(&dec), "v").is_ok());
        assert!(compare_values(&json!(1.1), &json!(1.1000000001), Some(&dec), "v").is_err());
        assert!(compare_values(&json!("1.10"), &json!(1.2), Some(&dec), "v").is_err());
        assert!(compare_values(&json!(1.1), &json!("1.10"), Some(&dec), "v").is_ok());
        // A STRING column must not match a number.
        assert!(compare_values(&json!("1"), &json!(1), Some(&SqlType::String), "v").is_err());
    }

    #[test]
    fn objects_arrays_and_reasons() {
        let ty = SqlType::Struct(vec![
            StructField { name: "A".into(), data_type: SqlType::Array(Box::new(SqlType::Double)) },
            StructField { name: "B".into(), data_type: SqlType::String },
        ]);
        assert!(compare_values(&json!({"A": [1.0, 2.0], "B": "x"}), &json!({"B": "x", "A": [1.0, 2.0000000001]}), Some(&ty), "value").is_ok());
        let err = compare_values(&json!({"A": [1.0], "B": "x"}), &json!({"A": [1.0], "B": "y"}), Some(&ty), "value").unwrap_err();
        assert_eq!(err, "value.B: expected \"x\" but was \"y\"");
        let err = compare_values(&json!({"A": [], "B": "x"}), &json!({"A": []}), Some(&ty), "value").unwrap_err();
        assert!(err.contains("missing field 'B'"), "{err}");
        assert!(compare_values(&json!({"a": 1}), &json!({"A": 1}), None, "value").is_ok());
        let map = SqlType::Map(Box::new(SqlType::String), Box::new(SqlType::Int));
        let err = compare_values(&json!({"a": 1}), &json!({"A": 1}), Some(&map), "value").unwrap_err();
        assert!(err.contains("missing field 'a'"), "{err}");
        assert!(compare_values(&json!([1, 2]), &json!([1]), None, "v").is_err());
        assert!(compare_values(&Value::Null, &json!(0), None, "v").is_err());
    }

    fn rec(key: Option<Vec<u8>>, value: Option<&str>, ts: i64) -> TopicRecord {
        TopicRecord { key, value: value.map(|v| v.as_bytes().to_vec()), timestamp: ts, ..Default::default() }
    }

    #[test]
    fn windowed_record() {
        let serde = TopicSerde {
            key: FormatSpec { format: Some("KAFKA".into()), columns: Some(vec![("ID".into(), SqlType::Bigint)]) },
            value: FormatSpec { format: Some("DELIMITED".into()), columns: None },
            window: Some(WindowInfo { window_type: WindowType::Tumbling, size_ms: Some(30000) }),
        };
        let mut key = 7i64.to_be_bytes().to_vec();
        key.extend_from_slice(&60000i64.to_be_bytes());
        let expected: RecordNode = serde_json::from_value(json!({
            "topic": "S2", "key": 7, "value": "1", "timestamp": 89999,
            "window": {"start": 60000, "end": 90000, "type": "time"}
        }))
        .unwrap();
        assert_eq!(compare_record(&expected, &rec(Some(key.clone()), Some("1"), 89999), &serde, true), Ok(()));
        let err = compare_record(&expected, &rec(Some(key.clone()), Some("2"), 89999), &serde, true).unwrap_err();
        assert!(err.starts_with("value:"), "{err}");
        let err = compare_record(&expected, &rec(Some(key), Some("1"), 1), &serde, true).unwrap_err();
        assert!(err.starts_with("timestamp:"), "{err}");
    }

    #[test]
    fn zero_timestamps_and_headers() {
        let serde = TopicSerde {
            key: FormatSpec { format: Some("KAFKA".into()), columns: Some(vec![("K".into(), SqlType::String)]) },
            value: FormatSpec { format: Some("JSON".into()), columns: Some(vec![("V".into(), SqlType::Int)]) },
            window: None,
        };
        let expected: RecordNode =
            serde_json::from_value(json!({"topic": "T", "key": "k", "value": {"V": 1}, "timestamp": 0})).unwrap();
        let actual = rec(Some(b"k".to_vec()), Some(r#"{"V":1}"#), 1234);
        assert!(compare_record(&expected, &actual, &serde, true).is_err());
        assert!(compare_record(&expected, &actual, &serde, false).is_ok());
        let mut with_header = actual.clone();
        with_header.headers = vec![("abc".into(), Some(vec![0x21]))];
        assert!(compare_record(&expected, &with_header, &serde, false).unwrap_err().starts_with("headers:"));
        let expected: RecordNode = serde_json::from_value(
            json!({"topic": "T", "key": "k", "value": {"V": 1}, "headers": [{"KEY": "abc", "VALUE": "IQ=="}]}),
        )
        .unwrap();
        assert!(compare_record(&expected, &with_header, &serde, false).is_ok());
    }
}
