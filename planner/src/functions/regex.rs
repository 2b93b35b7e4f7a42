//! ksqlDB regular-expression functions: REGEXP_EXTRACT, REGEXP_EXTRACT_ALL, REGEXP_REPLACE,
//! REGEXP_SPLIT_TO_ARRAY.  Java regex syntax is close to Rust's `regex` for the common
//! subset; Java-style `$1` group references in replacements are rewritten to `${1}`.

use std::borrow::Cow;

use arrow::datatypes::{DataType, Int32Type};
use datafusion::common::{exec_err, Result};
use regex::Regex;

use super::udf::*;

/// Registers the regex family.
pub fn functions() -> Vec<Named> {
    vec![
        regexp_extract(),
        regexp_extract_all(),
        regexp_replace(),
        regexp_split_to_array(),
    ]
}

/// Compiles patterns, reusing the last one (patterns are almost always literals).
#[derive(Default)]
struct RegexCache {
    last: Option<(String, Regex)>,
}

impl RegexCache {
    fn get(&mut self, pattern: &str) -> Result<&Regex> {
        if self.last.as_ref().is_none_or(|(p, _)| p != pattern) {
            match Regex::new(pattern) {
                Ok(r) => self.last = Some((pattern.to_string(), r)),
                Err(e) => return exec_err!("invalid regular expression '{pattern}': {e}"),
            }
        }
        match &self.last {
            Some((_, r)) => Ok(r),
            None => exec_err!("regex cache is empty"),
        }
    }
}

/// Rewrites Java `$n` group references to Rust's `${n}`.
fn java_replacement(r: &str) -> String {
    let mut out = String::with_capacity(r.len());
    let mut chars = r.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                if let Some(n) = chars.next() {
                    if n == '$' {
                        out.push_str("$$");
                    } else {
                        out.push(n);
                    }
                }
            }
            '$' => {
                let mut digits = String::new();
                while let Some(d) = chars.peek().filter(|d| d.is_ascii_digit()) {
                    digits.push(*d);
                    chars.next();
                }
                if digits.is_empty() {
                    out.push_str("$$");
                } else {
                    out.push_str(&format!("${{{digits}}}"));
                }
            }
            other => out.push(other),
        }
    }
    out
}

fn group_arg(c: &Call, idx: usize, i: usize) -> Result<Option<usize>> {
    match c.args.get(idx) {
        None => Ok(Some(0)),
        Some(a) => Ok(get(prim_arg::<Int32Type>(a)?, i).map(|g| g.max(0) as usize)),
    }
}

fn regexp_extract() -> Named {
    udf("regexp_extract")
        .sig([STR, STR], R::T(DataType::Utf8))
        .sig([STR, STR, INT], R::T(DataType::Utf8))
        .invoke(|c| {
            let (p, s) = (str_arg(&c.args[0])?, str_arg(&c.args[1])?);
            let mut cache = RegexCache::default();
            collect_str(c.rows, |i| {
                let (Some(p), Some(s), Some(g)) = (get(p, i), get(s, i), group_arg(c, 2, i)?)
                else {
                    return Ok(None);
                };
                let re = cache.get(p)?;
                Ok(re
                    .captures(s)
                    .and_then(|caps| caps.get(g))
                    .map(|m| Cow::Borrowed(m.as_str())))
            })
        })
}

fn regexp_extract_all() -> Named {
    udf("regexp_extract_all")
        .sig([STR, STR], R::T(list_of(DataType::Utf8)))
        .sig([STR, STR, INT], R::T(list_of(DataType::Utf8)))
        .invoke(|c| {
            let (p, s) = (str_arg(&c.args[0])?, str_arg(&c.args[1])?);
            let mut cache = RegexCache::default();
            collect_str_list(c.rows, |i| {
                let (Some(p), Some(s), Some(g)) = (get(p, i), get(s, i), group_arg(c, 2, i)?)
                else {
                    return Ok(None);
                };
                let re = cache.get(p)?;
                Ok(Some(
                    re.captures_iter(s)
                        .map(|caps| caps.get(g).map(|m| m.as_str()))
                        .collect(),
                ))
            })
        })
}

fn regexp_replace() -> Named {
    udf("regexp_replace")
        .sig([STR, STR, STR], R::T(DataType::Utf8))
        .invoke(|c| {
            let [s, p, r] = [0, 1, 2].map(|k| str_arg(&c.args[k]));
            let (s, p, r) = (s?, p?, r?);
            let mut cache = RegexCache::default();
            collect_str(c.rows, |i| {
                let (Some(s), Some(p), Some(r)) = (get(s, i), get(p, i), get(r, i)) else {
                    return Ok(None);
                };
                let re = cache.get(p)?;
                Ok(Some(Cow::Owned(
                    re.replace_all(s, java_replacement(r).as_str()).into_owned(),
                )))
            })
        })
}

fn regexp_split_to_array() -> Named {
    udf("regexp_split_to_array")
        .sig([STR, STR], R::T(list_of(DataType::Utf8)))
        .invoke(|c| {
            let (s, p) = (str_arg(&c.args[0])?, str_arg(&c.args[1])?);
            let mut cache = RegexCache::default();
            collect_str_list(c.rows, |i| {
                let (Some(s), Some(p)) = (get(s, i), get(p, i)) else {
                    return Ok(None);
                };
                let re = cache.get(p)?;
                let mut parts: Vec<Option<&str>> = re.split(s).map(Some).collect();
                // Java drops the leading empty piece produced by a zero-width match at position 0.
                if parts.len() > 1
                    && parts[0] == Some("")
                    && re.find(s).is_some_and(|m| m.start() == 0 && m.end() == 0)
                {
                    parts.remove(0);
                }
                Ok(Some(parts))
            })
        })
}

#[cfg(test)]
mod tests {
    use crate::functions::test_util::*;

    #[test]
    fn extract_qtt() {
        let s = strs(&[
            Some("some_test_string"),
            Some("anothertest"),
            Some("testa"),
            None,
        ]);
        assert_eq!(
            call_str("regexp_extract", &[strs(&[Some("test."); 4]), s.clone()]),
            vec![Some("test_".into()), None, Some("testa".into()), None]
        );
        let r = call_str(
            "regexp_extract",
            &[
                strs(&[Some("(.*) (.*)"); 2]),
                strs(&[Some("steven zhang"), Some("agavra")]),
                i32s(&[Some(2); 2]),
            ],
        );
        assert_eq!(r, vec![Some("zhang".into()), None]);
        let r = call_list_str(
            "regexp_extract_all",
            &[
                strs(&[Some("test."); 2]),
                strs(&[Some("some_test_string_testabab"), Some("nothing")]),
            ],
        );
        assert_eq!(
            r,
            vec![
                Some(vec![Some("test_".into()), Some("testa".into())]),
                Some(vec![])
            ]
        );
    }

    #[test]
    fn replace_split() {
        let r = call_str(
            "regexp_replace",
            &[
                strs(&[Some("foo bar")]),
                strs(&[Some("(\\w+) (\\w+)")]),
                strs(&[Some("$2 $1")]),
            ],
        );
        assert_eq!(r, vec![Some("bar foo".into())]);
        let r = call_list_str(
            "regexp_split_to_array",
            &[strs(&[Some("a1b22c")]), strs(&[Some("\\d+")])],
        );
        assert_eq!(
            r,
            vec![Some(vec![
                Some("a".into()),
                Some("b".into()),
                Some("c".into())
            ])]
        );
    }
}
