//! ksqlDB string functions (most with a BYTES twin): CONCAT, CONCAT_WS, LCASE, UCASE, LEN,
//! SUBSTRING, TRIM, REPLACE, INSTR, INITCAP, LPAD, RPAD, SPLIT, SPLIT_TO_MAP, MASK*, CHR,
//! MD5, UUID, ELT, FIELD.
//!
//! Positions follow ksqlDB (1-based, negative counts from the end) and are measured in
//! characters (Java counts UTF-16 units; the two differ only for non-BMP characters, except
//! LEN which counts UTF-16 units exactly like Java).

use std::borrow::Cow;
use std::fmt::Write;
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, MapBuilder, StringBuilder};
use arrow::datatypes::{DataType, Int32Type};
use datafusion::common::{exec_err, Result};

use super::udf::*;

/// Registers the string family.
pub fn functions() -> Vec<Named> {
    vec![
        concat(),
        concat_ws(),
        case_fn("lcase", |c, buf| buf.extend(c.to_lowercase())),
        case_fn("ucase", |c, buf| buf.extend(c.to_uppercase())),
        len(),
        substring(),
        trim(),
        replace(),
        instr(),
        initcap(),
        pad("lpad", true),
        pad("rpad", false),
        split(),
        split_to_map(),
        mask("mask", MaskRange::All),
        mask("mask_keep_left", MaskRange::KeepLeft),
        mask("mask_keep_right", MaskRange::KeepRight),
        mask("mask_left", MaskRange::Left),
        mask("mask_right", MaskRange::Right),
        chr(),
        md5(),
        uuid(),
        elt(),
        field(),
    ]
}

fn concat() -> Named {
    udf("concat")
        .variadic([STR], R::T(DataType::Utf8))
        .variadic([BYTES], R::T(DataType::Binary))
        .invoke(|c| {
            if *c.ret == DataType::Binary {
                let args = c.args.iter().map(bin_arg).collect::<Result<Vec<_>>>()?;
                let mut buf = Vec::new();
                collect_bin(c.rows, |i| {
                    buf.clear();
                    args.iter()
                        .filter_map(|a| get(*a, i))
                        .for_each(|v| buf.extend_from_slice(v));
                    Ok(Some(Cow::Owned(buf.clone())))
                })
            } else {
                let args = c.args.iter().map(str_arg).collect::<Result<Vec<_>>>()?;
                collect_str_into(c.rows, |i, buf| {
                    args.iter()
                        .filter_map(|a| get(*a, i))
                        .for_each(|v| buf.push_str(v));
                    Ok(true)
                })
            }
        })
}

fn concat_ws() -> Named {
    udf("concat_ws")
        .variadic([STR, STR], R::T(DataType::Utf8))
        .variadic([BYTES, BYTES], R::T(DataType::Binary))
        .invoke(|c| {
            if *c.ret == DataType::Binary {
                let args = c.args.iter().map(bin_arg).collect::<Result<Vec<_>>>()?;
                collect_bin(c.rows, |i| {
                    let Some(sep) = get(args[0], i) else {
                        return Ok(None);
                    };
                    let parts: Vec<&[u8]> = args[1..].iter().filter_map(|a| get(*a, i)).collect();
                    Ok(Some(Cow::Owned(parts.join(sep))))
                })
            } else {
                let args = c.args.iter().map(str_arg).collect::<Result<Vec<_>>>()?;
                collect_str_into(c.rows, |i, buf| {
                    let Some(sep) = get(args[0], i) else {
                        return Ok(false);
                    };
                    for (k, part) in args[1..].iter().filter_map(|a| get(*a, i)).enumerate() {
                        if k > 0 {
                            buf.push_str(sep);
                        }
                        buf.push_str(part);
                    }
                    Ok(true)
                })
            }
        })
}

/// Per-character case mapping (LCASE/UCASE).
fn case_fn(name: &'static str, map_char: fn(char, &mut String)) -> Named {
    udf(name).sig([STR], R::T(DataType::Utf8)).invoke(move |c| {
        let s = str_arg(&c.args[0])?;
        collect_str_into(c.rows, |i, buf| {
            let Some(v) = get(s, i) else { return Ok(false) };
            v.chars().for_each(|ch| map_char(ch, buf));
            Ok(true)
        })
    })
}

fn len() -> Named {
    udf("len")
        .sig([STR], R::T(DataType::Int32))
        .sig([BYTES], R::T(DataType::Int32))
        .invoke(|c| {
            let a = &c.args[0];
            if *a.data_type() == DataType::Binary {
                let b = bin_arg(a)?;
                collect_prim::<Int32Type>(c.rows, c.ret, |i| Ok(get(b, i).map(|v| v.len() as i32)))
            } else {
                let s = str_arg(a)?;
                collect_prim::<Int32Type>(c.rows, c.ret, |i| {
                    Ok(get(s, i).map(|v| v.encode_utf16().count() as i32))
                })
            }
        })
}

/// ksql's `getStartIndex`/`getEndIndex` for a value of `len` units.
fn substring_range(len: usize, pos: i32, length: Option<i32>) -> (usize, usize) {
    let len_i = len as i64;
    let pos = i64::from(pos);
    let start = if pos >= 0 {
        len_i.min((pos - 1).max(0))
    } else {
        (len_i + pos).max(0)
    };
    let end = match length {
        Some(l) => start.max(len_i.min(start + i64::from(l))),
        None => len_i,
    };
    (start as usize, end as usize)
}

/// Byte offset of the `n`th char of `s` (or `s.len()`).
fn char_to_byte(s: &str, n: usize) -> usize {
    s.char_indices().nth(n).map_or(s.len(), |(b, _)| b)
}

fn substring() -> Named {
    udf("substring")
        .sig([STR, INT], R::T(DataType::Utf8))
        .sig([STR, INT, INT], R::T(DataType::Utf8))
        .sig([BYTES, INT], R::T(DataType::Binary))
        .sig([BYTES, INT, INT], R::T(DataType::Binary))
        .invoke(|c| {
            let pos = prim_arg::<Int32Type>(&c.args[1])?;
            let length = c.args.get(2).map(prim_arg::<Int32Type>).transpose()?;
            // None = a null argument; Some(None) = no length given.
            let args_at = |i: usize| -> Option<(i32, Option<i32>)> {
                let p = get(pos, i)?;
                match length {
                    Some(l) => Some((p, Some(get(l, i)?))),
                    None => Some((p, None)),
                }
            };
            if *c.ret == DataType::Binary {
                let b = bin_arg(&c.args[0])?;
                collect_bin(c.rows, |i| {
                    let (Some(v), Some((p, l))) = (get(b, i), args_at(i)) else {
                        return Ok(None);
                    };
                    let (s, e) = substring_range(v.len(), p, l);
                    Ok(Some(Cow::Borrowed(&v[s..e])))
                })
            } else {
                let st = str_arg(&c.args[0])?;
                collect_str(c.rows, |i| {
                    let (Some(v), Some((p, l))) = (get(st, i), args_at(i)) else {
                        return Ok(None);
                    };
                    let (s, e) = substring_range(v.chars().count(), p, l);
                    let (bs, be) = (char_to_byte(v, s), char_to_byte(v, e));
                    Ok(Some(Cow::Borrowed(&v[bs..be])))
                })
            }
        })
}

fn trim() -> Named {
    udf("trim").sig([STR], R::T(DataType::Utf8)).invoke(|c| {
        let s = str_arg(&c.args[0])?;
        collect_str(c.rows, |i| {
            Ok(get(s, i).map(|v| Cow::Borrowed(v.trim_matches(|ch| ch <= ' '))))
        })
    })
}

fn replace() -> Named {
    udf("replace")
        .sig([STR, STR, STR], R::T(DataType::Utf8))
        .invoke(|c| {
            let [s, from, to] = [0, 1, 2].map(|k| str_arg(&c.args[k]));
            let (s, from, to) = (s?, from?, to?);
            collect_str(c.rows, |i| {
                let (Some(s), Some(f), Some(t)) = (get(s, i), get(from, i), get(to, i)) else {
                    return Ok(None);
                };
                Ok(Some(Cow::Owned(s.replace(f, t))))
            })
        })
}

/// ksql INSTR on chars: 1-based index of the `occurrence`th match searching from `position`
/// (negative = backwards from the end), 0 when absent.
pub fn instr_chars(s: &[char], sub: &[char], position: i32, occurrence: i32) -> i32 {
    let matches_at = |i: usize| i + sub.len() <= s.len() && s[i..i + sub.len()] == *sub;
    let n = s.len() as i64;
    if position > 0 {
        let mut from = i64::from(position) - 1;
        let mut found = -1i64;
        for _ in 0..occurrence.max(1) {
            found = (from.max(0)..=n)
                .find(|&i| matches_at(i as usize))
                .unwrap_or(-1);
            if found < 0 {
                return 0;
            }
            from = found + 1;
        }
        (found + 1) as i32
    } else if position < 0 {
        let mut from = n + i64::from(position);
        let mut found = -1i64;
        for _ in 0..occurrence.max(1) {
            if from < 0 {
                return 0;
            }
            found = (0..=from.min(n))
                .rev()
                .find(|&i| matches_at(i as usize))
                .unwrap_or(-1);
            if found < 0 {
                return 0;
            }
            from = found - 1;
        }
        (found + 1) as i32
    } else {
        0
    }
}

fn instr() -> Named {
    udf("instr")
        .sig([STR, STR], R::T(DataType::Int32))
        .sig([STR, STR, INT], R::T(DataType::Int32))
        .sig([STR, STR, INT, INT], R::T(DataType::Int32))
        .invoke(|c| {
            let s = str_arg(&c.args[0])?;
            let sub = str_arg(&c.args[1])?;
            let pos = c.args.get(2).map(prim_arg::<Int32Type>).transpose()?;
            let occ = c.args.get(3).map(prim_arg::<Int32Type>).transpose()?;
            let (mut sv, mut subv) = (Vec::new(), Vec::new());
            collect_prim::<Int32Type>(c.rows, c.ret, |i| {
                let (Some(a), Some(b)) = (get(s, i), get(sub, i)) else {
                    return Ok(Some(0));
                };
                let p = match pos {
                    Some(p) => match get(p, i) {
                        Some(v) => v,
                        None => return Ok(None),
                    },
                    None => 1,
                };
                let o = match occ {
                    Some(o) => match get(o, i) {
                        Some(v) => v,
                        None => return Ok(None),
                    },
                    None => 1,
                };
                sv.clear();
                sv.extend(a.chars());
                subv.clear();
                subv.extend(b.chars());
                Ok(Some(instr_chars(&sv, &subv, p, o)))
            })
        })
}

fn initcap() -> Named {
    udf("initcap").sig([STR], R::T(DataType::Utf8)).invoke(|c| {
        let s = str_arg(&c.args[0])?;
        collect_str_into(c.rows, |i, out| {
            Ok(get(s, i).is_some_and(|v| {
                let mut at_word_start = true;
                for ch in v.chars() {
                    if ch.is_whitespace() {
                        at_word_start = true;
                        out.push(ch);
                    } else if at_word_start {
                        out.extend(ch.to_uppercase());
                        at_word_start = false;
                    } else {
                        out.extend(ch.to_lowercase());
                    }
                }
                true
            }))
        })
    })
}

/// Guard against unbounded allocation (ksqlDB would exhaust the heap instead).
const MAX_PAD_LEN: i32 = 1 << 26;

/// Pads `input` (as units) to `len` with repeated `pad`, on the left or right; truncates when
/// longer. `None` for ksql's null cases (negative length, empty padding).
fn pad_units<T: Clone>(input: &[T], len: i32, pad: &[T], left: bool) -> Result<Option<Vec<T>>> {
    if len < 0 || pad.is_empty() {
        return Ok(None);
    }
    if len > MAX_PAD_LEN {
        return exec_err!("padded length {len} exceeds the limit of {MAX_PAD_LEN}");
    }
    let len = len as usize;
    if input.len() >= len {
        return Ok(Some(input[..len].to_vec()));
    }
    let fill: Vec<T> = pad
        .iter()
        .cycle()
        .take(len - input.len())
        .cloned()
        .collect();
    Ok(Some(if left {
        [fill.as_slice(), input].concat()
    } else {
        [input, fill.as_slice()].concat()
    }))
}

fn pad(name: &'static str, left: bool) -> Named {
    udf(name)
        .sig([STR, INT, STR], R::T(DataType::Utf8))
        .sig([BYTES, INT, BYTES], R::T(DataType::Binary))
        .invoke(move |c| {
            let len = prim_arg::<Int32Type>(&c.args[1])?;
            if *c.ret == DataType::Binary {
                let (s, p) = (bin_arg(&c.args[0])?, bin_arg(&c.args[2])?);
                collect_bin(c.rows, |i| {
                    let (Some(s), Some(l), Some(p)) = (get(s, i), get(len, i), get(p, i)) else {
                        return Ok(None);
                    };
                    Ok(pad_units(s, l, p, left)?.map(Cow::Owned))
                })
            } else {
                let (s, p) = (str_arg(&c.args[0])?, str_arg(&c.args[2])?);
                collect_str(c.rows, |i| {
                    let (Some(s), Some(l), Some(p)) = (get(s, i), get(len, i), get(p, i)) else {
                        return Ok(None);
                    };
                    let (sc, pc): (Vec<char>, Vec<char>) =
                        (s.chars().collect(), p.chars().collect());
                    Ok(pad_units(&sc, l, &pc, left)?.map(|v| Cow::Owned(v.into_iter().collect())))
                })
            }
        })
}

/// Splits `s` on the literal `delim`; an empty delimiter splits into single units.
fn split_bytes<'a>(s: &'a [u8], delim: &[u8]) -> Vec<&'a [u8]> {
    if delim.is_empty() {
        if s.is_empty() {
            return vec![s];
        }
        return s.chunks(1).collect();
    }
    let mut out = vec![];
    let mut start = 0;
    let mut i = 0;
    while i + delim.len() <= s.len() {
        if &s[i..i + delim.len()] == delim {
            out.push(&s[start..i]);
            i += delim.len();
            start = i;
        } else {
            i += 1;
        }
    }
    out.push(&s[start..]);
    out
}

fn split() -> Named {
    udf("split")
        .sig([STR, STR], R::T(list_of(DataType::Utf8)))
        .sig([BYTES, BYTES], R::T(list_of(DataType::Binary)))
        .invoke(|c| {
            if *c.args[0].data_type() == DataType::Binary {
                let (s, d) = (bin_arg(&c.args[0])?, bin_arg(&c.args[1])?);
                collect_bin_list(c.rows, |i| {
                    let (Some(s), Some(d)) = (get(s, i), get(d, i)) else {
                        return Ok(None);
                    };
                    Ok(Some(split_bytes(s, d).into_iter().map(Some).collect()))
                })
            } else {
                let (s, d) = (str_arg(&c.args[0])?, str_arg(&c.args[1])?);
                collect_str_list(c.rows, |i| {
                    let (Some(s), Some(d)) = (get(s, i), get(d, i)) else {
                        return Ok(None);
                    };
                    if s.is_empty() {
                        return Ok(Some(vec![Some(s)]));
                    }
                    if d.is_empty() {
                        let mut parts = Vec::new();
                        for (b, ch) in s.char_indices() {
                            parts.push(Some(&s[b..b + ch.len_utf8()]));
                        }
                        return Ok(Some(parts));
                    }
                    Ok(Some(s.split(d).map(Some).collect()))
                })
            }
        })
}

fn split_to_map() -> Named {
    udf("split_to_map")
        .sig(
            [STR, STR, STR],
            R::T(map_of(DataType::Utf8, DataType::Utf8)),
        )
        .invoke(|c| {
            let [s, e, k] = [0, 1, 2].map(|n| str_arg(&c.args[n]));
            let (s, e, k) = (s?, e?, k?);
            let mut b = MapBuilder::new(None, StringBuilder::new(), StringBuilder::new());
            for i in 0..c.rows {
                match (get(s, i), get(e, i), get(k, i)) {
                    (Some(s), Some(e), Some(k)) if !e.is_empty() && !k.is_empty() => {
                        let mut seen: Vec<(&str, &str)> = vec![];
                        for entry in s.split(e).filter(|x| !x.is_empty()) {
                            if let Some((key, val)) = entry.split_once(k) {
                                match seen.iter_mut().find(|(sk, _)| *sk == key) {
                                    Some(slot) => slot.1 = val,
                                    None => seen.push((key, val)),
                                }
                            }
                        }
                        for (key, val) in seen {
                            b.keys().append_value(key);
                            b.values().append_value(val);
                        }
                        b.append(true)?;
                    }
                    _ => b.append(false)?,
                }
            }
            let out: ArrayRef = Arc::new(b.finish());
            cast_to(&out, c.ret)
        })
}

#[derive(Clone, Copy)]
enum MaskRange {
    All,
    KeepLeft,
    KeepRight,
    Left,
    Right,
}

/// Mask replacement for a char: `None` keeps it (a NULL replacement argument).
fn mask_char(ch: char, repl: &[Option<char>; 4]) -> char {
    let class = if ch.is_uppercase() {
        0
    } else if ch.is_lowercase() {
        1
    } else if ch.is_numeric() {
        2
    } else {
        3
    };
    repl[class].unwrap_or(ch)
}

fn mask(name: &'static str, range: MaskRange) -> Named {
    let with_n = !matches!(range, MaskRange::All);
    let mut b = udf(name);
    let base: Vec<P> = if with_n { vec![STR, INT] } else { vec![STR] };
    for extra in 0..=4 {
        let mut params = base.clone();
        params.extend(std::iter::repeat_n(STR, extra));
        b = b.sig(params, R::T(DataType::Utf8));
    }
    b.invoke(move |c| {
        let s = str_arg(&c.args[0])?;
        let n = if with_n {
            Some(prim_arg::<Int32Type>(&c.args[1])?)
        } else {
            None
        };
        let first_repl = if with_n { 2 } else { 1 };
        let repls = c.args[first_repl..]
            .iter()
            .map(str_arg)
            .collect::<Result<Vec<_>>>()?;
        collect_str(c.rows, |i| {
            let Some(v) = get(s, i) else { return Ok(None) };
            let count = match n {
                Some(n) => match get(n, i) {
                    Some(x) if x >= 0 => x as usize,
                    Some(x) => {
                        return exec_err!("function {name} requires a non-negative number, got {x}")
                    }
                    None => return Ok(None),
                },
                None => 0,
            };
            let mut repl = [Some('X'), Some('x'), Some('n'), Some('-')];
            for (k, r) in repls.iter().enumerate() {
                repl[k] = get(*r, i).and_then(|x| x.chars().next());
            }
            let total = v.chars().count();
            let masked = |idx: usize| match range {
                MaskRange::All => true,
                MaskRange::KeepLeft => idx >= count,
                MaskRange::KeepRight => idx + count < total,
                MaskRange::Left => idx < count,
                MaskRange::Right => idx + count >= total,
            };
            Ok(Some(Cow::Owned(
                v.chars()
                    .enumerate()
                    .map(|(idx, ch)| {
                        if masked(idx) {
                            mask_char(ch, &repl)
                        } else {
                            ch
                        }
                    })
                    .collect(),
            )))
        })
    })
}

/// CHR of a text code like `\u004b` or a surrogate pair `\ud820\udeb8`.
fn chr_from_text(s: &str) -> Option<String> {
    let mut units = vec![];
    let mut rest = s;
    while !rest.is_empty() {
        let hex = rest.strip_prefix("\\u")?;
        if hex.len() < 4 || !hex.is_char_boundary(4) {
            return None;
        }
        units.push(u16::from_str_radix(&hex[..4], 16).ok()?);
        rest = &hex[4..];
    }
    if units.is_empty() {
        return None;
    }
    String::from_utf16(&units).ok()
}

fn chr() -> Named {
    udf("chr")
        .sig([INT], R::T(DataType::Utf8))
        .sig([STR], R::T(DataType::Utf8))
        .invoke(|c| {
            if *c.args[0].data_type() == DataType::Utf8 {
                let s = str_arg(&c.args[0])?;
                collect_str(c.rows, |i| {
                    Ok(get(s, i).and_then(chr_from_text).map(Cow::Owned))
                })
            } else {
                let n = prim_arg::<Int32Type>(&c.args[0])?;
                collect_str(c.rows, |i| {
                    Ok(get(n, i)
                        .and_then(|x| u32::try_from(x).ok())
                        .and_then(char::from_u32)
                        .map(|ch| Cow::Owned(ch.to_string())))
                })
            }
        })
}

fn md5() -> Named {
    udf("md5").sig([STR], R::T(DataType::Utf8)).invoke(|c| {
        let s = str_arg(&c.args[0])?;
        collect_str_into(c.rows, |i, out| {
            let Some(v) = get(s, i) else { return Ok(false) };
            let digest = <md5::Md5 as md5::Digest>::digest(v.as_bytes());
            for b in digest.iter() {
                let _ = write!(out, "{b:02x}");
            }
            Ok(true)
        })
    })
}

fn uuid() -> Named {
    udf("uuid")
        .sig([], R::T(DataType::Utf8))
        .sig([BYTES], R::T(DataType::Utf8))
        .volatile()
        .invoke(|c| match c.args.first() {
            None => collect_str(c.rows, |_| {
                Ok(Some(Cow::Owned(uuid::Uuid::new_v4().to_string())))
            }),
            Some(a) => {
                let b = bin_arg(a)?;
                collect_str(c.rows, |i| {
                    Ok(get(b, i)
                        .and_then(|v| uuid::Uuid::from_slice(v).ok())
                        .map(|u| Cow::Owned(u.to_string())))
                })
            }
        })
}

fn elt() -> Named {
    udf("elt")
        .variadic([INT, STR], R::T(DataType::Utf8))
        .variadic([INT, BYTES], R::T(DataType::Binary))
        .invoke(|c| {
            let n = prim_arg::<Int32Type>(&c.args[0])?;
            let pick = |i: usize| -> Option<usize> {
                let k = get(n, i)?;
                (k >= 1 && (k as usize) < c.args.len()).then_some(k as usize)
            };
            if *c.ret == DataType::Binary {
                let vals = c.args[1..]
                    .iter()
                    .map(bin_arg)
                    .collect::<Result<Vec<_>>>()?;
                collect_bin(c.rows, |i| {
                    Ok(pick(i).and_then(|k| get(vals[k - 1], i)).map(Cow::Borrowed))
                })
            } else {
                let vals = c.args[1..]
                    .iter()
                    .map(str_arg)
                    .collect::<Result<Vec<_>>>()?;
                collect_str(c.rows, |i| {
                    Ok(pick(i).and_then(|k| get(vals[k - 1], i)).map(Cow::Borrowed))
                })
            }
        })
}

fn field() -> Named {
    udf("field")
        .variadic([STR, STR], R::T(DataType::Int32))
        .variadic([BYTES, BYTES], R::T(DataType::Int32))
        .invoke(|c| {
            // Compare as bytes: works for both overloads.
            let as_bin = c
                .args
                .iter()
                .map(|a| cast_to(a, &DataType::Binary))
                .collect::<Result<Vec<_>>>()?;
            let vals = as_bin.iter().map(bin_arg).collect::<Result<Vec<_>>>()?;
            collect_prim::<Int32Type>(c.rows, c.ret, |i| {
                let Some(needle) = get(vals[0], i) else {
                    return Ok(Some(0));
                };
                let pos = vals[1..].iter().position(|v| get(*v, i) == Some(needle));
                Ok(Some(pos.map_or(0, |p| p as i32 + 1)))
            })
        })
}

#[cfg(test)]
mod tests {
    use crate::functions::test_util::*;

    #[test]
    fn substring_qtt() {
        let src = strs(&[Some("some_string"), Some("another"), Some("short")]);
        assert_eq!(
            call_str("substring", &[src.clone(), i32s(&[Some(6); 3])]),
            vec![Some("string".into()), Some("er".into()), Some("".into())]
        );
        let r = call_str(
            "substring",
            &[
                strs(&[Some("lower"), Some("s"), Some(" \t with white space \t")]),
                i32s(&[Some(2); 3]),
                i32s(&[Some(5); 3]),
            ],
        );
        assert_eq!(
            r,
            vec![Some("ower".into()), Some("".into()), Some("\t wit".into())]
        );
        let r = call_str(
            "substring",
            &[
                strs(&[Some("abcdef"), Some("abcdef"), None]),
                i32s(&[Some(-3), Some(-10), Some(1)]),
                i32s(&[Some(2), Some(3), Some(1)]),
            ],
        );
        assert_eq!(r, vec![Some("de".into()), Some("abc".into()), None]);
    }

    #[test]
    fn case_trim_len() {
        let src = strs(&[Some("MiXeD"), Some(" \t with white space \t"), None]);
        assert_eq!(
            call_str("lcase", std::slice::from_ref(&src)),
            vec![
                Some("mixed".into()),
                Some(" \t with white space \t".into()),
                None
            ]
        );
        assert_eq!(
            call_str("ucase", std::slice::from_ref(&src))[0],
            Some("MIXED".into())
        );
        assert_eq!(
            call_str("trim", std::slice::from_ref(&src))[1],
            Some("with white space".into())
        );
        assert_eq!(
            call_i32("len", &[strs(&[Some("héllo"), Some(""), None])]),
            vec![Some(5), Some(0), None]
        );
    }

    #[test]
    fn concat_and_concat_ws_skip_nulls() {
        let r = call_str(
            "concat_ws",
            &[
                strs(&[Some("SEP"), Some("SEP"), None]),
                strs(&[Some("foo"), None, Some("foo")]),
                strs(&[Some("baz"), None, Some("x")]),
            ],
        );
        assert_eq!(r, vec![Some("fooSEPbaz".into()), Some("".into()), None]);
        let r = call_str("concat", &[strs(&[Some("a"), None]), strs(&[None, None])]);
        assert_eq!(r, vec![Some("a".into()), Some("".into())]);
    }

    #[test]
    fn instr_qtt() {
        let s = strs(&[Some("corporate floor"), Some("short")]);
        let or = strs(&[Some("or"); 2]);
        assert_eq!(
            call_i32("instr", &[s.clone(), or.clone()]),
            vec![Some(2), Some(3)]
        );
        assert_eq!(
            call_i32(
                "instr",
                &[
                    s.clone(),
                    or.clone(),
                    i32s(&[Some(4); 2]),
                    i32s(&[Some(2); 2])
                ]
            ),
            vec![Some(14), Some(0)]
        );
        assert_eq!(
            call_i32("instr", &[s.clone(), or.clone(), i32s(&[Some(-4); 2])]),
            vec![Some(5), Some(0)]
        );
        assert_eq!(
            call_i32("instr", &[s, or, i32s(&[Some(-4); 2]), i32s(&[Some(2); 2])]),
            vec![Some(2), Some(0)]
        );
    }

    #[test]
    fn initcap_pad_replace() {
        assert_eq!(
            call_str(
                "initcap",
                &[strs(&[Some("the   Quick br0wn fOx"), Some("some_string")])]
            ),
            vec![
                Some("The   Quick Br0wn Fox".into()),
                Some("Some_string".into())
            ]
        );
        let r = call_str(
            "lpad",
            &[
                strs(&[Some("foo"), Some("foo"), Some("foo")]),
                i32s(&[Some(7), Some(2), Some(-1)]),
                strs(&[Some("Bar"), Some("Bar"), Some("x")]),
            ],
        );
        assert_eq!(r, vec![Some("BarBfoo".into()), Some("fo".into()), None]);
        let r = call_str(
            "rpad",
            &[strs(&[Some("foo")]), i32s(&[Some(7)]), strs(&[Some("Bar")])],
        );
        assert_eq!(r, vec![Some("fooBarB".into())]);
        assert_eq!(
            call_str(
                "replace",
                &[
                    strs(&[Some("aXbX")]),
                    strs(&[Some("X")]),
                    strs(&[Some("--")])
                ]
            ),
            vec![Some("a--b--".into())]
        );
    }

    #[test]
    fn chr_qtt() {
        assert_eq!(
            call_str(
                "chr",
                &[i32s(&[Some(75), Some(22909), Some(99000), Some(-1), None])]
            ),
            vec![
                Some("K".into()),
                Some("好".into()),
                Some("\u{182b8}".into()),
                None,
                None
            ]
        );
        let r = call_str(
            "chr",
            &[strs(&[
                Some("\\u004b"),
                Some("\\ud820\\udeb8"),
                Some("75"),
                Some("bogus"),
                Some(""),
            ])],
        );
        assert_eq!(
            r,
            vec![Some("K".into()), Some("\u{182b8}".into()), None, None, None]
        );
    }

    #[test]
    fn mask_elt_field_md5() {
        assert_eq!(
            call_str("mask", &[strs(&[Some("AbC-12")])]),
            vec![Some("XxX-nn".into())]
        );
        assert_eq!(
            call_str(
                "mask_keep_left",
                &[strs(&[Some("AbC-12")]), i32s(&[Some(2)])]
            ),
            vec![Some("AbX-nn".into())]
        );
        assert_eq!(
            call_str("mask_right", &[strs(&[Some("AbC-12")]), i32s(&[Some(2)])]),
            vec![Some("AbC-nn".into())]
        );
        assert_eq!(
            call_str(
                "elt",
                &[
                    i32s(&[Some(2), Some(3), Some(0)]),
                    strs(&[Some("a"); 3]),
                    strs(&[Some("b"); 3])
                ]
            ),
            vec![Some("b".into()), None, None]
        );
        assert_eq!(
            call_i32(
                "field",
                &[
                    strs(&[Some("b"), None, Some("z")]),
                    strs(&[Some("a"); 3]),
                    strs(&[Some("b"); 3])
                ]
            ),
            vec![Some(2), Some(0), Some(0)]
        );
        assert_eq!(
            call_str("md5", &[strs(&[Some("")])]),
            vec![Some("d41d8cd98f00b204e9800998ecf8427e".into())]
        );
    }

    #[test]
    fn split_qtt() {
        let r = call_list_str(
            "split",
            &[
                strs(&[Some("a.b.c"), Some(".ab."), Some("abc"), None]),
                strs(&[Some("."), Some("."), Some(""), Some(".")]),
            ],
        );
        assert_eq!(
            r[0],
            Some(vec![Some("a".into()), Some("b".into()), Some("c".into())])
        );
        assert_eq!(
            r[1],
            Some(vec![Some("".into()), Some("ab".into()), Some("".into())])
        );
        assert_eq!(
            r[2],
            Some(vec![Some("a".into()), Some("b".into()), Some("c".into())])
        );
        assert_eq!(r[3], None);
        let r = call_list_str(
            "split",
            &[strs(&[Some(""), Some("")]), strs(&[Some(""), Some(".")])],
        );
        assert_eq!(
            r,
            vec![Some(vec![Some("".into())]), Some(vec![Some("".into())])]
        );
    }
}
