//! ksqlDB URL functions: URL_DECODE_PARAM, URL_ENCODE_PARAM and URL_EXTRACT_FRAGMENT / HOST /
//! PARAMETER / PATH / PORT / PROTOCOL / QUERY, following `java.net.URI`'s component split
//! (RFC 3986) rather than WHATWG URL normalisation (e.g. an empty path stays empty).

use std::borrow::Cow;
use std::sync::LazyLock;

use arrow::datatypes::{DataType, Int32Type};
use datafusion::common::{exec_err, Result};
use regex::Regex;

use super::udf::*;

/// Registers the URL family.
pub fn functions() -> Vec<Named> {
    vec![
        url_decode_param(),
        url_encode_param(),
        url_part("url_extract_fragment", |u| u.fragment.map(decode)),
        url_part("url_extract_host", |u| u.host().map(Cow::Borrowed)),
        url_part("url_extract_path", |u| Some(decode(u.path))),
        url_part("url_extract_protocol", |u| u.scheme.map(Cow::Borrowed)),
        url_part("url_extract_query", |u| u.query.map(decode)),
        url_extract_parameter(),
        url_extract_port(),
    ]
}

static URI: LazyLock<Option<Regex>> = LazyLock::new(|| {
    Regex::new(r"^(?:([^:/?#]+):)?(?://([^/?#]*))?([^?#]*)(?:\?([^#]*))?(?:#(.*))?$").ok()
});

/// Components of a URI reference.
struct Uri<'a> {
    scheme: Option<&'a str>,
    authority: Option<&'a str>,
    path: &'a str,
    query: Option<&'a str>,
    fragment: Option<&'a str>,
}

impl<'a> Uri<'a> {
    fn parse(s: &'a str) -> Result<Uri<'a>> {
        let Some(caps) = URI.as_ref().and_then(|r| r.captures(s)) else {
            return exec_err!("invalid URL: {s}");
        };
        let g = |n| caps.get(n).map(|m| m.as_str());
        if s.contains(' ') {
            return exec_err!("Illegal character in URL: {s}");
        }
        Ok(Uri {
            scheme: g(1),
            authority: g(2),
            path: g(3).unwrap_or(""),
            query: g(4),
            fragment: g(5),
        })
    }
    /// `host[:port]` without user info.
    fn host_port(&self) -> Option<&'a str> {
        let a = self.authority?;
        Some(a.rsplit_once('@').map_or(a, |(_, h)| h))
    }
    fn host(&self) -> Option<&'a str> {
        let hp = self.host_port()?;
        let host = match hp.rfind(':') {
            Some(p) if !hp[p + 1..].contains(']') => &hp[..p],
            _ => hp,
        };
        (!host.is_empty()).then_some(host)
    }
    fn port(&self) -> Option<i32> {
        let hp = self.host_port()?;
        let p = hp.rfind(':')?;
        hp[p + 1..].parse().ok()
    }
}

/// Percent-decoding (no '+' handling), as `URI` getters do.
fn decode(s: &str) -> Cow<'_, str> {
    percent_encoding::percent_decode_str(s).decode_utf8_lossy()
}

fn url_part(name: &'static str, f: for<'a> fn(&Uri<'a>) -> Option<Cow<'a, str>>) -> Named {
    udf(name).sig([STR], R::T(DataType::Utf8)).invoke(move |c| {
        let s = str_arg(&c.args[0])?;
        collect_str(c.rows, |i| {
            let Some(v) = get(s, i) else { return Ok(None) };
            Ok(f(&Uri::parse(v)?))
        })
    })
}

fn url_extract_port() -> Named {
    udf("url_extract_port")
        .sig([STR], R::T(DataType::Int32))
        .invoke(|c| {
            let s = str_arg(&c.args[0])?;
            collect_prim::<Int32Type>(c.rows, c.ret, |i| match get(s, i) {
                Some(v) => Ok(Uri::parse(v)?.port()),
                None => Ok(None),
            })
        })
}

fn url_extract_parameter() -> Named {
    udf("url_extract_parameter")
        .sig([STR, STR], R::T(DataType::Utf8))
        .invoke(|c| {
            let (s, p) = (str_arg(&c.args[0])?, str_arg(&c.args[1])?);
            collect_str(c.rows, |i| {
                let (Some(v), Some(p)) = (get(s, i), get(p, i)) else {
                    return Ok(None);
                };
                let uri = Uri::parse(v)?;
                let Some(q) = uri.query else { return Ok(None) };
                Ok(q.split('&').find_map(|kv| match kv.split_once('=') {
                    Some((k, val)) if decode(k) == p => Some(decode(val)),
                    _ => None,
                }))
            })
        })
}

fn url_decode_param() -> Named {
    udf("url_decode_param")
        .sig([STR], R::T(DataType::Utf8))
        .invoke(|c| {
            let s = str_arg(&c.args[0])?;
            collect_str(c.rows, |i| {
                Ok(get(s, i).map(|v| {
                    let plus_as_space = v.replace('+', " ");
                    Cow::Owned(decode(&plus_as_space).into_owned())
                }))
            })
        })
}

fn url_encode_param() -> Named {
    udf("url_encode_param")
        .sig([STR], R::T(DataType::Utf8))
        .invoke(|c| {
            let s = str_arg(&c.args[0])?;
            collect_str(c.rows, |i| {
                Ok(get(s, i)
                    .map(|v| Cow::Owned(form_urlencoded::byte_serialize(v.as_bytes()).collect())))
            })
        })
}

#[cfg(test)]
mod tests {
    use crate::functions::test_util::*;

    #[test]
    fn url_qtt() {
        assert_eq!(
            call_str(
                "url_decode_param",
                &[strs(&[Some("%3Ffoo+%24bar"), Some("hello%26world")])]
            ),
            vec![Some("?foo $bar".into()), Some("hello&world".into())]
        );
        assert_eq!(
            call_str("url_encode_param", &[strs(&[Some("?foo $bar")])]),
            vec![Some("%3Ffoo+%24bar".into())]
        );
        let u = strs(&[
            Some("http://www.test.com/?query#fragment"),
            Some("http://test@confluent.io:8080/nested/path?query&jobs"),
            Some("www.confluent.io"),
            Some("http://www.test.com?query#fragment"),
        ]);
        assert_eq!(
            call_str("url_extract_fragment", std::slice::from_ref(&u)),
            vec![Some("fragment".into()), None, None, Some("fragment".into())]
        );
        assert_eq!(
            call_str("url_extract_host", std::slice::from_ref(&u)),
            vec![
                Some("www.test.com".into()),
                Some("confluent.io".into()),
                None,
                Some("www.test.com".into())
            ]
        );
        assert_eq!(
            call_str("url_extract_path", std::slice::from_ref(&u)),
            vec![
                Some("/".into()),
                Some("/nested/path".into()),
                Some("www.confluent.io".into()),
                Some("".into())
            ]
        );
        assert_eq!(
            call_i32("url_extract_port", std::slice::from_ref(&u)),
            vec![None, Some(8080), None, None]
        );
        assert_eq!(
            call_str("url_extract_protocol", std::slice::from_ref(&u)),
            vec![
                Some("http".into()),
                Some("http".into()),
                None,
                Some("http".into())
            ]
        );
        assert_eq!(
            call_str("url_extract_query", &[u]),
            vec![
                Some("query".into()),
                Some("query&jobs".into()),
                None,
                Some("query".into())
            ]
        );
        let r = call_str(
            "url_extract_parameter",
            &[
                strs(&[Some("http://www.test.com/?one=a&two=url%20encoded&three"); 3]),
                strs(&[Some("one"), Some("two"), Some("three")]),
            ],
        );
        assert_eq!(r, vec![Some("a".into()), Some("url encoded".into()), None]);
    }
}
