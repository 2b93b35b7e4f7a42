//! RQTT's matching of expected responses: expected objects are partial (only listed keys
//! are compared, recursively), `key|starts_with` compares a prefix, numbers compare by value
//! (`11.0` equals `11`), arrays element by element with equal lengths.

use serde_json::Value;

use crate::qtt::compare::short_json;

/// Checks `actual` against the partial `expected`; the error names the path that differs.
pub fn matches(expected: &Value, actual: &Value, path: &str) -> Result<(), String> {
    match (expected, actual) {
        (Value::Object(e), Value::Object(a)) => {
            for (key, ev) in e {
                if let Some(field) = key.strip_suffix("|starts_with") {
                    let prefix = ev.as_str().ok_or_else(|| format!("{path}.{key}: expected value must be a string"))?;
                    match a.get(field).and_then(Value::as_str) {
                        Some(s) if s.starts_with(prefix) => {}
                        other => {
                            return Err(format!("{path}.{field}: expected to start with \"{prefix}\" but was {}", other.unwrap_or("(missing)")))
                        }
                    }
                    continue;
                }
                let av = a.get(key).ok_or_else(|| format!("{path}.{key}: missing (expected {})", short_json(ev)))?;
                matches(ev, av, &format!("{path}.{key}"))?;
            }
            Ok(())
        }
        (Value::Array(e), Value::Array(a)) => {
            if e.len() != a.len() {
                return Err(format!("{path}: expected {} elements but got {}: {}", e.len(), a.len(), short_json(actual)));
            }
            for (i, (ev, av)) in e.iter().zip(a).enumerate() {
                matches(ev, av, &format!("{path}[{i}]"))?;
            }
            Ok(())
        }
        (Value::Number(e), Value::Number(a)) => {
            let same = match (e.as_i64(), a.as_i64()) {
                (Some(x), Some(y)) => x == y,
                _ => match (e.as_f64(), a.as_f64()) {
                    (Some(x), Some(y)) => x == y || (x - y).abs() <= 1e-9 * x.abs().max(y.abs()),
                    _ => false,
                },
            };
            if same {
                Ok(())
            } else {
                Err(format!("{path}: expected {e} but was {a}"))
            }
        }
        (e, a) if e == a => Ok(()),
        (e, a) => Err(format!("{path}: expected {} but was {}", short_json(e), short_json(a))),
    }
}

/// Compares query frames: same count; in order, or as a multiset when `verify_order` is false
/// (each expected frame must match a distinct actual frame).
pub fn match_frames(expected: &[Value], actual: &[Value], verify_order: bool) -> Result<(), String> {
    if expected.len() != actual.len() {
        let shown: Vec<String> = actual.iter().take(4).map(short_json).collect();
        return Err(format!("expected {} query frames but got {}: [{}{}]", expected.len(), actual.len(), shown.join(", "), if actual.len() > 4 { ", ..." } else { "" }));
    }
    if verify_order {
        for (i, (e, a)) in expected.iter().zip(actual).enumerate() {
            matches(e, a, &format!("frame {i}"))?;
        }
        return Ok(());
    }
    let mut used = vec![false; actual.len()];
    for (i, e) in expected.iter().enumerate() {
        let found = actual.iter().enumerate().position(|(j, a)| !used[j] && matches(e, a, "").is_ok());
        match found {
            Some(j) => used[j] = true,
            None => return Err(format!("frame {i}: no actual frame matches {}", short_json(e))),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn partial_objects_prefixes_and_numbers() {
        let actual = json!({"@type": "currentStatus", "commandStatus": {"status": "SUCCESS"}, "queryId": "transient_X_1", "n": 11.0});
        assert!(matches(&json!({"@type": "currentStatus"}), &actual, "").is_ok());
        assert!(matches(&json!({"queryId|starts_with": "transient_"}), &actual, "").is_ok());
        assert!(matches(&json!({"queryId|starts_with": "query_"}), &actual, "").is_err());
        assert!(matches(&json!({"n": 11}), &actual, "").is_ok());
        assert!(matches(&json!({"commandStatus": {"status": "ERROR"}}), &actual, "").is_err());
        assert!(matches(&json!({"missing": 1}), &actual, "").is_err());
    }

    #[test]
    fn frames_in_order_or_as_multiset() {
        let a = vec![json!({"row": {"columns": [1]}}), json!({"row": {"columns": [2]}})];
        let e = vec![json!({"row": {"columns": [2]}}), json!({"row": {"columns": [1]}})];
        assert!(match_frames(&e, &a, true).is_err());
        assert!(match_frames(&e, &a, false).is_ok());
        assert!(match_frames(&e[..1], &a, false).is_err());
    }
}
