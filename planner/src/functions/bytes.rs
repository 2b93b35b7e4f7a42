//! ksqlDB BYTES conversions: TO_BYTES, FROM_BYTES, ENCODE, INT_FROM_BYTES,
//! BIGINT_FROM_BYTES, DOUBLE_FROM_BYTES.
//!
//! Encodings are `hex`, `utf8`, `ascii` and `base64` (case-insensitive).  Decoding invalid
//! input is a per-row error, an unknown encoding too (ksql throws in both cases).

use arrow::datatypes::{DataType, Float64Type, Int32Type, Int64Type};
use base64::Engine;
use datafusion::common::{exec_err, Result};
use std::borrow::Cow;

use super::udf::*;

/// Registers the bytes family.
pub fn functions() -> Vec<Named> {
    vec![
        to_bytes(),
        from_bytes(),
        encode(),
        number_from_bytes("int_from_bytes", DataType::Int32),
        number_from_bytes("bigint_from_bytes", DataType::Int64),
        number_from_bytes("double_from_bytes", DataType::Float64),
    ]
}

/// Text -> bytes in the named encoding.
pub fn decode_text(s: &str, encoding: &str) -> Result<Vec<u8>> {
    match encoding.to_ascii_lowercase().as_str() {
        "hex" => {
            let s = s
                .strip_prefix("0x")
                .or_else(|| s.strip_prefix("0X"))
                .unwrap_or(s);
            let s = if s.len() % 2 == 1 {
                Cow::Owned(format!("0{s}"))
            } else {
                Cow::Borrowed(s)
            };
            (0..s.len())
                .step_by(2)
                .map(
                    |i| match s.get(i..i + 2).and_then(|h| u8::from_str_radix(h, 16).ok()) {
                        Some(b) => Ok(b),
                        None => exec_err!("invalid hex string: {s}"),
                    },
                )
                .collect()
        }
        "utf8" => Ok(s.as_bytes().to_vec()),
        "ascii" => Ok(s
            .chars()
            .map(|c| if c.is_ascii() { c as u8 } else { b'?' })
            .collect()),
        "base64" => match base64::engine::general_purpose::STANDARD.decode(s) {
            Ok(b) => Ok(b),
            Err(e) => exec_err!("invalid base64 string: {e}"),
        },
        other => exec_err!("unknown encoding: {other}"),
    }
}

/// Bytes -> text in the named encoding.  ksql's FROM_BYTES writes upper-case hex while
/// ENCODE writes lower-case hex.
pub fn encode_bytes(b: &[u8], encoding: &str, upper_hex: bool) -> Result<String> {
    match encoding.to_ascii_lowercase().as_str() {
        "hex" if upper_hex => Ok(b.iter().map(|x| format!("{x:02X}")).collect()),
        "hex" => Ok(b.iter().map(|x| format!("{x:02x}")).collect()),
        "utf8" => Ok(String::from_utf8_lossy(b).into_owned()),
        "ascii" => Ok(b
            .iter()
            .map(|&x| if x.is_ascii() { x as char } else { '\u{fffd}' })
            .collect()),
        "base64" => Ok(base64::engine::general_purpose::STANDARD.encode(b)),
        other => exec_err!("unknown encoding: {other}"),
    }
}

fn to_bytes() -> Named {
    udf("to_bytes")
        .sig([STR, STR], R::T(DataType::Binary))
        .invoke(|c| {
            let (s, e) = (str_arg(&c.args[0])?, str_arg(&c.args[1])?);
            collect_bin(c.rows, |i| {
                let (Some(s), Some(e)) = (get(s, i), get(e, i)) else {
                    return Ok(None);
                };
                Ok(Some(Cow::Owned(decode_text(s, e)?)))
            })
        })
}

fn from_bytes() -> Named {
    udf("from_bytes")
        .sig([BYTES, STR], R::T(DataType::Utf8))
        .invoke(|c| {
            let (b, e) = (bin_arg(&c.args[0])?, str_arg(&c.args[1])?);
            collect_str(c.rows, |i| {
                let (Some(b), Some(e)) = (get(b, i), get(e, i)) else {
                    return Ok(None);
                };
                Ok(Some(Cow::Owned(encode_bytes(b, e, true)?)))
            })
        })
}

fn encode() -> Named {
    udf("encode")
        .sig([STR, STR, STR], R::T(DataType::Utf8))
        .invoke(|c| {
            let [s, from, to] = [0, 1, 2].map(|k| str_arg(&c.args[k]));
            let (s, from, to) = (s?, from?, to?);
            collect_str(c.rows, |i| {
                let (Some(s), Some(f), Some(t)) = (get(s, i), get(from, i), get(to, i)) else {
                    return Ok(None);
                };
                Ok(Some(Cow::Owned(encode_bytes(
                    &decode_text(s, f)?,
                    t,
                    false,
                )?)))
            })
        })
}

fn number_from_bytes(name: &'static str, t: DataType) -> Named {
    udf(name)
        .sig([BYTES], R::T(t.clone()))
        .sig([BYTES, STR], R::T(t.clone()))
        .invoke(move |c| {
            let b = bin_arg(&c.args[0])?;
            let order = c.args.get(1).map(str_arg).transpose()?;
            let width = if t == DataType::Int32 { 4 } else { 8 };
            // Some(bytes in big-endian order), None for null input.
            let read = |i: usize| -> Result<Option<[u8; 8]>> {
                let Some(v) = get(b, i) else { return Ok(None) };
                let little = match order.map(|o| get(o, i)) {
                    None => false,
                    Some(None) => return Ok(None),
                    Some(Some(o)) => match o.to_ascii_uppercase().as_str() {
                        "BIG_ENDIAN" => false,
                        "LITTLE_ENDIAN" => true,
                        other => {
                            return exec_err!(
                                "byte order must be BIG_ENDIAN or LITTLE_ENDIAN, got {other}"
                            )
                        }
                    },
                };
                if v.len() != width {
                    return exec_err!(
                        "Number of bytes must be equal to {width}, but found {}",
                        v.len()
                    );
                }
                let mut be = [0u8; 8];
                be[..width].copy_from_slice(v);
                if little {
                    be[..width].reverse();
                }
                Ok(Some(be))
            };
            match t {
                DataType::Int32 => collect_prim::<Int32Type>(c.rows, c.ret, |i| {
                    Ok(read(i)?.map(|b| i32::from_be_bytes([b[0], b[1], b[2], b[3]])))
                }),
                DataType::Int64 => collect_prim::<Int64Type>(c.rows, c.ret, |i| {
                    Ok(read(i)?.map(i64::from_be_bytes))
                }),
                _ => collect_prim::<Float64Type>(c.rows, c.ret, |i| {
                    Ok(read(i)?.map(f64::from_be_bytes))
                }),
            }
        })
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::array::{ArrayRef, BinaryArray};

    use crate::functions::test_util::*;

    fn bins(v: &[Option<&[u8]>]) -> ArrayRef {
        Arc::new(BinaryArray::from(v.to_vec()))
    }

    #[test]
    fn encode_qtt() {
        let s = strs(&[
            Some("4578616d706c6521"),
            Some("c39c6265726d656e736368"),
            None,
        ]);
        let e = |x: &str| strs(&[Some(x); 3]);
        assert_eq!(
            call_str("encode", &[s.clone(), e("hex"), e("ascii")]),
            vec![
                Some("Example!".into()),
                Some("\u{fffd}\u{fffd}bermensch".into()),
                None
            ]
        );
        assert_eq!(
            call_str("encode", &[s.clone(), e("hex"), e("utf8")])[1],
            Some("Übermensch".into())
        );
        assert_eq!(
            call_str("encode", &[s, e("hex"), e("base64")])[1],
            Some("w5xiZXJtZW5zY2g=".into())
        );
        assert_eq!(
            call_str(
                "encode",
                &[
                    strs(&[Some("Ελλάδα")]),
                    strs(&[Some("ascii")]),
                    strs(&[Some("hex")])
                ]
            ),
            vec![Some("3f3f3f3f3f3f".into())]
        );
        assert!(try_call(
            "encode",
            &[
                strs(&[Some("x")]),
                strs(&[Some("null")]),
                strs(&[Some("hex")])
            ]
        )
        .is_err());
    }

    #[test]
    fn bytes_numbers() {
        let b = bins(&[Some(&[0, 0, 0, 1]), Some(&[1, 0, 0, 0]), None]);
        assert_eq!(
            call_i32("int_from_bytes", std::slice::from_ref(&b)),
            vec![Some(1), Some(16777216), None]
        );
        assert_eq!(
            call_i32(
                "int_from_bytes",
                &[b.clone(), strs(&[Some("LITTLE_ENDIAN"); 3])]
            ),
            vec![Some(16777216), Some(1), None]
        );
        assert!(try_call("bigint_from_bytes", &[b]).is_err());
        let s = call_str(
            "from_bytes",
            &[
                call(
                    "to_bytes",
                    &[strs(&[Some("AAE=")]), strs(&[Some("base64")])],
                ),
                strs(&[Some("hex")]),
            ],
        );
        assert_eq!(s, vec![Some("0001".into())]);
        let s = call_str(
            "from_bytes",
            &[
                call("to_bytes", &[strs(&[Some("1aB2")]), strs(&[Some("hex")])]),
                strs(&[Some("hex")]),
            ],
        );
        assert_eq!(s, vec![Some("1AB2".into())]);
        let le = |b64: &str| call("to_bytes", &[strs(&[Some(b64)]), strs(&[Some("base64")])]);
        let order = strs(&[Some("LITTLE_ENDIAN")]);
        assert_eq!(
            call_i32("int_from_bytes", &[le("5QcAAA=="), order.clone()]),
            vec![Some(2021)]
        );
        assert_eq!(
            call_i64("bigint_from_bytes", &[le("APIFKgEAAAA="), order.clone()]),
            vec![Some(5000000000)]
        );
        assert_eq!(
            call_f64("double_from_bytes", &[le("gvXJm/2mgEA="), order]),
            vec![Some(532.8738323)]
        );
    }
}
