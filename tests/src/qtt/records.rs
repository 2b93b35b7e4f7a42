//! Test-side serdes: encoding QTT JSON records to the bytes Kafka would hold, and decoding
//! the engine's output bytes back into JSON for comparison.

use base64::Engine as _;
use runnel_parser::{SqlType, StructField};
use runnel_runtime::engine::{ColumnRole, SourceDescription, WindowInfo, WindowType};
use serde_json::{Number, Value};

use super::model::{TopicNode, WindowNode};

pub fn b64() -> &'static base64::engine::GeneralPurpose {
    &base64::engine::general_purpose::STANDARD
}

/// The format of one side (key or value) of a topic and, when known, its columns.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct FormatSpec {
    /// Upper-case format name; `None` = unknown (no source and nothing declared).
    pub format: Option<String>,
    /// Columns of this side; `None` = unknown.
    pub columns: Option<Vec<(String, SqlType)>>,
}

/// How records of one topic are (de)serialized.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct TopicSerde {
    pub key: FormatSpec,
    pub value: FormatSpec,
    pub window: Option<WindowInfo>,
}

impl TopicSerde {
    pub fn from_source(src: &SourceDescription) -> Self {
        let cols = |role: ColumnRole| -> Vec<(String, SqlType)> {
            src.columns.iter().filter(|c| c.role == role).map(|c| (c.name.clone(), c.data_type.clone())).collect()
        };
        TopicSerde {
            key: FormatSpec { format: Some(src.key_format.to_ascii_uppercase()), columns: Some(cols(ColumnRole::Key)) },
            value: FormatSpec {
                format: Some(src.value_format.to_ascii_uppercase()),
                columns: Some(cols(ColumnRole::Value)),
            },
            window: src.window,
        }
    }

    /// For topics no source describes: the declared formats, KAFKA key by default.
    pub fn from_decl(decl: Option<&TopicNode>) -> Self {
        let key = decl.and_then(|t| t.key_format.clone()).unwrap_or_else(|| "KAFKA".into());
        let value = decl.and_then(|t| t.value_format.clone().or_else(|| t.format.clone()));
        TopicSerde {
            key: FormatSpec { format: Some(key.to_ascii_uppercase()), columns: None },
            value: FormatSpec { format: value.map(|v| v.to_ascii_uppercase()), columns: None },
            window: None,
        }
    }
}

impl FormatSpec {
    /// The SQL type the JSON `expected` (a whole key or value) should be read as, if known:
    /// a STRUCT of the columns for wrapped/multi-column data, the single column's type for
    /// unwrapped single values.
    pub fn type_for(&self, expected: &Value) -> Option<SqlType> {
        let cols = self.columns.as_ref()?;
        let as_struct = || {
            SqlType::Struct(cols.iter().map(|(n, t)| StructField { name: n.clone(), data_type: t.clone() }).collect())
        };
        if cols.len() == 1 {
            let wrapped = match expected {
                Value::Object(m) => m.len() == 1 && m.contains_key(&cols[0].0),
                _ => false,
            };
            if wrapped {
                Some(as_struct())
            } else {
                Some(cols[0].1.clone())
            }
        } else {
            Some(as_struct())
        }
    }

    fn single_type(&self) -> Option<&SqlType> {
        match self.columns.as_deref() {
            Some([(_, t)]) => Some(t),
            _ => None,
        }
    }
}

/// Encodes one key or value. `Value::Null` means no bytes (absent key / tombstone).
pub fn encode(spec: &FormatSpec, value: &Value) -> Result<Option<Vec<u8>>, String> {
    if value.is_null() {
        return Ok(None);
    }
    match spec.format.as_deref() {
        Some("NONE") => Ok(None),
        Some("JSON") => Ok(Some(serde_json::to_vec(value).map_err(|e| e.to_string())?)),
        Some("KAFKA") => encode_kafka(spec.single_type(), value).map(Some),
        // DELIMITED, unknown formats: strings as UTF-8, anything else as its JSON text.
        _ => Ok(Some(match value {
            Value::String(s) => s.as_bytes().to_vec(),
            other => other.to_string().into_bytes(),
        })),
    }
}

fn as_i64(value: &Value) -> Option<i64> {
    match value {
        Value::Number(n) => n.as_i64().or_else(|| n.as_f64().filter(|f| f.fract() == 0.0).map(|f| f as i64)),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn as_f64(value: &Value) -> Option<f64> {
    match value {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn encode_kafka(ty: Option<&SqlType>, value: &Value) -> Result<Vec<u8>, String> {
    let bad = |t: &str| format!("cannot encode {value} as KAFKA {t}");
    match ty {
        Some(SqlType::Int) => {
            let v = as_i64(value).and_then(|v| i32::try_from(v).ok()).ok_or_else(|| bad("INT"))?;
            Ok(v.to_be_bytes().to_vec())
        }
        Some(SqlType::Bigint) => Ok(as_i64(value).ok_or_else(|| bad("BIGINT"))?.to_be_bytes().to_vec()),
        Some(SqlType::Double) => Ok(as_f64(value).ok_or_else(|| bad("DOUBLE"))?.to_be_bytes().to_vec()),
        Some(SqlType::String) => Ok(match value {
            Value::String(s) => s.as_bytes().to_vec(),
            other => other.to_string().into_bytes(),
        }),
        Some(SqlType::Bytes) => {
            let s = value.as_str().ok_or_else(|| bad("BYTES"))?;
            b64().decode(s).map_err(|e| format!("invalid base64 for BYTES: {e}"))
        }
        Some(other) => Err(format!("KAFKA format does not support type {}", super::post::render_type(other))),
        // Unknown column type: guess from the JSON value.
        None => match value {
            Value::String(s) => Ok(s.as_bytes().to_vec()),
            Value::Number(n) => {
                if let Some(i) = n.as_i64() {
                    Ok(match i32::try_from(i) {
                        Ok(i) => i.to_be_bytes().to_vec(),
                        Err(_) => i.to_be_bytes().to_vec(),
                    })
                } else {
                    Ok(n.as_f64().unwrap_or(0.0).to_be_bytes().to_vec())
                }
            }
            other => Ok(other.to_string().into_bytes()),
        },
    }
}

/// Decodes one key or value into JSON. `expected` guides decoding when the type is unknown.
pub fn decode(spec: &FormatSpec, bytes: Option<&[u8]>, expected: &Value) -> Result<Value, String> {
    let Some(bytes) = bytes else { return Ok(Value::Null) };
    match spec.format.as_deref() {
        Some("NONE") => Ok(Value::Null),
        Some("JSON") => serde_json::from_slice(bytes)
            .map_err(|e| format!("invalid JSON ({e}): {}", short(&String::from_utf8_lossy(bytes)))),
        Some("KAFKA") => decode_kafka(spec.single_type(), bytes, expected),
        Some("DELIMITED") if matches!(expected, Value::String(_) | Value::Null) => {
            Ok(Value::String(String::from_utf8_lossy(bytes).into_owned()))
        }
        // DELIMITED (expected given as a non-string) and unknown formats.
        _ => {
            if !expected.is_string() {
                if let Ok(v) = serde_json::from_slice(bytes) {
                    return Ok(v);
                }
            }
            Ok(Value::String(String::from_utf8_lossy(bytes).into_owned()))
        }
    }
}

fn short(s: &str) -> String {
    if s.chars().count() > 60 {
        format!("{}...", s.chars().take(60).collect::<String>())
    } else {
        s.to_string()
    }
}

fn f64_value(f: f64) -> Value {
    Number::from_f64(f).map(Value::Number).unwrap_or_else(|| Value::String(f.to_string()))
}

fn decode_kafka(ty: Option<&SqlType>, bytes: &[u8], expected: &Value) -> Result<Value, String> {
    let fixed = |n: usize, t: &str| -> Result<[u8; 8], String> {
        if bytes.len() != n {
            return Err(format!("KAFKA {t} needs {n} bytes, got {}", bytes.len()));
        }
        let mut buf = [0u8; 8];
        buf[8 - n..].copy_from_slice(bytes);
        Ok(buf)
    };
    match ty {
        Some(SqlType::Int) => {
            let b = fixed(4, "INT")?;
            Ok(Value::from(i32::from_be_bytes([b[4], b[5], b[6], b[7]])))
        }
        Some(SqlType::Bigint) => Ok(Value::from(i64::from_be_bytes(fixed(8, "BIGINT")?))),
        Some(SqlType::Double) => Ok(f64_value(f64::from_be_bytes(fixed(8, "DOUBLE")?))),
        Some(SqlType::Bytes) => Ok(Value::String(b64().encode(bytes))),
        Some(SqlType::String) => Ok(Value::String(String::from_utf8_lossy(bytes).into_owned())),
        Some(other) => Err(format!("KAFKA format does not support type {}", super::post::render_type(other))),
        None => Ok(match expected {
            Value::Number(n) if n.is_f64() && bytes.len() == 8 => {
                f64_value(f64::from_be_bytes(bytes.try_into().expect("8 bytes")))
            }
            Value::Number(_) if bytes.len() == 4 => Value::from(i32::from_be_bytes(bytes.try_into().expect("4 bytes"))),
            Value::Number(_) if bytes.len() == 8 => Value::from(i64::from_be_bytes(bytes.try_into().expect("8 bytes"))),
            _ => Value::String(String::from_utf8_lossy(bytes).into_owned()),
        }),
    }
}

/// Whether a window node / window info describes a session window.
pub fn is_session(window: Option<&WindowInfo>, node: Option<&WindowNode>) -> bool {
    match (window, node) {
        (Some(w), _) => w.window_type == WindowType::Session,
        (None, Some(n)) => n.window_type.eq_ignore_ascii_case("session"),
        _ => false,
    }
}

/// Appends the Kafka Streams windowed-serde suffix to an inner key: time windows add the
/// 8-byte big-endian start; session windows add the end then the start.
pub fn append_window(inner: Option<Vec<u8>>, window: &WindowNode, session: bool) -> Vec<u8> {
    let mut out = inner.unwrap_or_default();
    if session {
        out.extend_from_slice(&window.end.to_be_bytes());
    }
    out.extend_from_slice(&window.start.to_be_bytes());
    out
}

/// A key split into its inner bytes and window bounds. `end` is `Some` for session windows.
#[derive(Debug, Clone, PartialEq)]
pub struct WindowedKey<'a> {
    pub inner: &'a [u8],
    pub start: i64,
    pub end: Option<i64>,
}

/// Splits a windowed key (see [`append_window`]).
pub fn split_window(bytes: &[u8], session: bool) -> Result<WindowedKey<'_>, String> {
    let suffix = if session { 16 } else { 8 };
    if bytes.len() < suffix {
        return Err(format!("windowed key too short ({} bytes)", bytes.len()));
    }
    let (inner, tail) = bytes.split_at(bytes.len() - suffix);
    let read = |b: &[u8]| i64::from_be_bytes(b.try_into().expect("8 bytes"));
    if session {
        Ok(WindowedKey { inner, end: Some(read(&tail[..8])), start: read(&tail[8..]) })
    } else {
        Ok(WindowedKey { inner, start: read(tail), end: None })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn spec(format: &str, cols: &[SqlType]) -> FormatSpec {
        FormatSpec {
            format: Some(format.into()),
            columns: Some(cols.iter().enumerate().map(|(i, t)| (format!("C{i}"), t.clone())).collect()),
        }
    }

    #[test]
    fn kafka_ints_and_doubles() {
        assert_eq!(encode(&spec("KAFKA", &[SqlType::Int]), &json!(1)).unwrap(), Some(vec![0, 0, 0, 1]));
        assert_eq!(encode(&spec("KAFKA", &[SqlType::Int]), &json!(-2)).unwrap(), Some(vec![255, 255, 255, 254]));
        assert_eq!(encode(&spec("KAFKA", &[SqlType::Bigint]), &json!(258)).unwrap(), Some(vec![0, 0, 0, 0, 0, 0, 1, 2]));
        assert_eq!(
            encode(&spec("KAFKA", &[SqlType::Double]), &json!(1.5)).unwrap(),
            Some(1.5f64.to_be_bytes().to_vec())
        );
        assert!(encode(&spec("KAFKA", &[SqlType::Int]), &json!(1u64 << 40)).is_err());
        let s = spec("KAFKA", &[SqlType::Int]);
        assert_eq!(decode(&s, Some(&[0, 0, 1, 0]), &Value::Null).unwrap(), json!(256));
        assert!(decode(&s, Some(&[0, 0, 0, 0, 0, 0, 1, 0]), &Value::Null).is_err());
        let s = spec("KAFKA", &[SqlType::Bigint]);
        assert_eq!(decode(&s, Some(&(-5i64).to_be_bytes()), &Value::Null).unwrap(), json!(-5));
        let s = spec("KAFKA", &[SqlType::Double]);
        assert_eq!(decode(&s, Some(&2.25f64.to_be_bytes()), &Value::Null).unwrap(), json!(2.25));
    }

    #[test]
    fn kafka_strings_and_bytes() {
        let s = spec("KAFKA", &[SqlType::String]);
        assert_eq!(encode(&s, &json!("foo")).unwrap(), Some(b"foo".to_vec()));
        assert_eq!(decode(&s, Some(b"foo"), &Value::Null).unwrap(), json!("foo"));
        let b = spec("KAFKA", &[SqlType::Bytes]);
        assert_eq!(encode(&b, &json!("IQ==")).unwrap(), Some(vec![0x21]));
        assert_eq!(decode(&b, Some(&[0x21]), &Value::Null).unwrap(), json!("IQ=="));
    }

    #[test]
    fn nulls_none_json_delimited() {
        assert_eq!(encode(&spec("JSON", &[]), &Value::Null).unwrap(), None);
        assert_eq!(encode(&spec("NONE", &[]), &json!("x")).unwrap(), None);
        assert_eq!(encode(&spec("JSON", &[]), &json!({"A": 1})).unwrap(), Some(br#"{"A":1}"#.to_vec()));
        assert_eq!(encode(&spec("DELIMITED", &[]), &json!("1,a")).unwrap(), Some(b"1,a".to_vec()));
        assert_eq!(encode(&spec("DELIMITED", &[]), &json!(12)).unwrap(), Some(b"12".to_vec()));
        assert_eq!(decode(&spec("DELIMITED", &[]), Some(b"1,a"), &Value::Null).unwrap(), json!("1,a"));
        assert_eq!(decode(&spec("DELIMITED", &[]), Some(b"12"), &json!(12)).unwrap(), json!(12));
        assert_eq!(decode(&spec("DELIMITED", &[]), Some(b"12"), &json!("12")).unwrap(), json!("12"));
        assert_eq!(decode(&spec("JSON", &[]), Some(br#"{"A":1}"#), &Value::Null).unwrap(), json!({"A": 1}));
        assert!(decode(&spec("JSON", &[]), Some(b"{"), &Value::Null).is_err());
        assert_eq!(decode(&spec("JSON", &[]), None, &json!(1)).unwrap(), Value::Null);
    }

    #[test]
    fn unknown_kafka_type_is_guessed() {
        let s = FormatSpec { format: Some("KAFKA".into()), columns: None };
        assert_eq!(encode(&s, &json!(7)).unwrap(), Some(vec![0, 0, 0, 7]));
        assert_eq!(decode(&s, Some(&[0, 0, 0, 7]), &json!(7)).unwrap(), json!(7));
        assert_eq!(decode(&s, Some(&7i64.to_be_bytes()), &json!(7)).unwrap(), json!(7));
        assert_eq!(decode(&s, Some(b"ab"), &json!("ab")).unwrap(), json!("ab"));
    }

    #[test]
    fn windowed_keys_round_trip() {
        let w = WindowNode { start: 1000, end: 31000, window_type: "time".into() };
        let key = append_window(Some(vec![0, 0, 0, 9]), &w, false);
        assert_eq!(key.len(), 12);
        assert_eq!(&key[4..], &1000i64.to_be_bytes());
        let split = split_window(&key, false).unwrap();
        assert_eq!(split, WindowedKey { inner: &[0, 0, 0, 9], start: 1000, end: None });

        let s = WindowNode { start: 10, end: 20, window_type: "session".into() };
        let key = append_window(Some(b"k".to_vec()), &s, true);
        assert_eq!(&key[1..9], &20i64.to_be_bytes());
        assert_eq!(&key[9..], &10i64.to_be_bytes());
        assert_eq!(split_window(&key, true).unwrap(), WindowedKey { inner: b"k", start: 10, end: Some(20) });
        assert!(split_window(&[1, 2, 3], false).is_err());
    }

    #[test]
    fn type_for_wrapped_and_unwrapped() {
        let s = FormatSpec { format: Some("JSON".into()), columns: Some(vec![("V".into(), SqlType::Int)]) };
        assert_eq!(s.type_for(&json!(1)), Some(SqlType::Int));
        assert!(matches!(s.type_for(&json!({"V": 1})), Some(SqlType::Struct(_))));
    }
}
