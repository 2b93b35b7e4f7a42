//! Text conversions shared by the JSON and DELIMITED formats: Java-compatible double printing
//! and parsing, exact decimal parsing/printing, base64.

use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
use base64::engine::DecodePaddingMode;
use base64::alphabet;

/// Standard base64 that, like `java.util.Base64.getDecoder()`, accepts missing padding.
pub(crate) const BASE64: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new()
        .with_encode_padding(true)
        .with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// Truncates `text` for an error message (at most 64 chars, on a char boundary).
pub(crate) fn snippet(text: &str) -> String {
    const MAX: usize = 64;
    if text.chars().count() <= MAX {
        text.to_string()
    } else {
        let mut s: String = text.chars().take(MAX).collect();
        s.push('…');
        s
    }
}

/// Same as [`snippet`] for raw bytes (lossy UTF-8).
pub(crate) fn snippet_bytes(bytes: &[u8]) -> String {
    snippet(&String::from_utf8_lossy(&bytes[..bytes.len().min(256)]))
}

/// Appends `d` the way Java's `Double.toString(d)` (and so Jackson) prints it:
/// `1.0`, `0.001`, `1234567.0`, `1.0E7`, `1.0E-4`, `NaN`, `Infinity`.
pub(crate) fn write_java_double(out: &mut Vec<u8>, d: f64) {
    if d.is_nan() {
        out.extend_from_slice(b"NaN");
        return;
    }
    if d.is_infinite() {
        out.extend_from_slice(if d > 0.0 { b"Infinity" } else { b"-Infinity" });
        return;
    }
    if d == 0.0 {
        out.extend_from_slice(if d.is_sign_negative() { b"-0.0" } else { b"0.0" });
        return;
    }
    // Rust's `{:e}` gives the shortest round-tripping digits: "d.ddde<exp>".
    let sci = format!("{:e}", d.abs());
    let (mantissa, exp) = sci.split_once('e').unwrap_or((sci.as_str(), "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let digits: Vec<u8> = mantissa.bytes().filter(u8::is_ascii_digit).collect();
    if d < 0.0 {
        out.push(b'-');
    }
    if (-3..7).contains(&exp) {
        if exp >= 0 {
            let int_len = exp as usize + 1;
            for i in 0..int_len {
                out.push(*digits.get(i).unwrap_or(&b'0'));
            }
            out.push(b'.');
            if digits.len() > int_len {
                out.extend_from_slice(&digits[int_len..]);
            } else {
                out.push(b'0');
            }
        } else {
            out.extend_from_slice(b"0.");
            for _ in 0..(-exp - 1) {
                out.push(b'0');
            }
            out.extend_from_slice(&digits);
        }
    } else {
        out.push(digits[0]);
        out.push(b'.');
        if digits.len() > 1 {
            out.extend_from_slice(&digits[1..]);
        } else {
            out.push(b'0');
        }
        out.push(b'E');
        out.extend_from_slice(exp.to_string().as_bytes());
    }
}

/// Parses a double like Java's `Double.parseDouble`: surrounding whitespace trimmed, optional
/// `f`/`d` suffix, `NaN` / `Infinity` spelled as in Java. Returns `None` if it does not parse.
pub(crate) fn parse_java_double(text: &str) -> Option<f64> {
    let t = text.trim_matches(|c: char| c <= ' ');
    let body = t.strip_prefix(['+', '-']).unwrap_or(t);
    match body {
        "NaN" => return Some(f64::NAN),
        "Infinity" => return Some(if t.starts_with('-') { f64::NEG_INFINITY } else { f64::INFINITY }),
        _ => {}
    }
    let t = t.strip_suffix(['f', 'F', 'd', 'D']).unwrap_or(t);
    // Rust accepts "inf"/"nan" spellings Java does not; only digits, sign, '.', exponent here.
    if t.is_empty() || !t.bytes().all(|b| b.is_ascii_digit() || matches!(b, b'+' | b'-' | b'.' | b'e' | b'E')) {
        return None;
    }
    t.parse::<f64>().ok()
}

/// Parses a Java `Integer.parseInt`/`Long.parseLong`-style integer (optional sign, ASCII digits).
pub(crate) fn parse_java_long(text: &str) -> Result<i64, IntError> {
    let body = text.strip_prefix(['+', '-']).unwrap_or(text);
    if body.is_empty() || !body.bytes().all(|b| b.is_ascii_digit()) {
        return Err(IntError::Invalid);
    }
    text.parse::<i64>().map_err(|_| IntError::Overflow)
}

/// Why an integer did not parse.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum IntError {
    Invalid,
    Overflow,
}

/// Why a decimal did not fit.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum DecimalError {
    /// Not a number.
    Invalid,
    /// More integer digits than `precision - scale`.
    Overflow,
    /// More fractional digits than `scale` (ksql never rounds on input).
    Rounding,
}

/// Parses `text` (`[+-]digits[.digits][(e|E)[+-]digits]`, as `java.math.BigDecimal(String)`)
/// exactly into the unscaled value of a `DECIMAL(precision, scale)`.
pub(crate) fn parse_decimal(text: &str, precision: u8, scale: i8) -> Result<i128, DecimalError> {
    let bytes = text.as_bytes();
    let mut i = 0;
    let negative = match bytes.first() {
        Some(b'-') => {
            i += 1;
            true
        }
        Some(b'+') => {
            i += 1;
            false
        }
        _ => false,
    };
    // Significant digits (leading zeros dropped) and the scale they carry.
    let mut digits: Vec<u8> = Vec::with_capacity(bytes.len());
    let mut frac_digits: i64 = 0;
    let mut seen_digit = false;
    let mut seen_point = false;
    while i < bytes.len() {
        let b = bytes[i];
        if b.is_ascii_digit() {
            seen_digit = true;
            if seen_point {
                frac_digits += 1;
            }
            if !(digits.is_empty() && b == b'0') {
                digits.push(b - b'0');
            }
        } else if b == b'.' && !seen_point {
            seen_point = true;
        } else {
            break;
        }
        i += 1;
    }
    if !seen_digit {
        return Err(DecimalError::Invalid);
    }
    let mut exponent: i64 = 0;
    if i < bytes.len() {
        if bytes[i] != b'e' && bytes[i] != b'E' {
            return Err(DecimalError::Invalid);
        }
        let exp_text = &text[i + 1..];
        exponent = match parse_java_long(exp_text) {
            Ok(e) if e.abs() < 10_000 => e,
            Ok(_) => return Err(DecimalError::Overflow),
            Err(_) => return Err(DecimalError::Invalid),
        };
    }
    // value = digits * 10^(exponent - frac_digits); we need digits * 10^(scale + exponent - frac).
    let shift = scale as i64 + exponent - frac_digits;
    if shift < 0 {
        // Dropping digits: they must all be zero.
        let drop = (-shift) as usize;
        if drop > digits.len() {
            if digits.iter().any(|d| *d != 0) {
                return Err(DecimalError::Rounding);
            }
            digits.clear();
        } else {
            let cut = digits.len() - drop;
            if digits[cut..].iter().any(|d| *d != 0) {
                return Err(DecimalError::Rounding);
            }
            digits.truncate(cut);
        }
    } else {
        if digits.is_empty() {
            return Ok(0);
        }
        digits.extend(std::iter::repeat_n(0, shift as usize));
    }
    while digits.first() == Some(&0) {
        digits.remove(0);
    }
    if digits.len() > precision as usize {
        return Err(DecimalError::Overflow);
    }
    let mut v: i128 = 0;
    for d in digits {
        v = v * 10 + d as i128;
    }
    Ok(if negative { -v } else { v })
}

/// Appends an unscaled decimal as plain text keeping its scale: `(110, 2)` -> `1.10`.
/// Writes the decimal digits of `n` at the end of `buf` (which must hold 20 bytes or more)
/// and returns where they start.
pub(crate) fn digits_before_end(buf: &mut [u8], mut n: u64) -> usize {
    let mut pos = buf.len();
    loop {
        pos -= 1;
        buf[pos] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            return pos;
        }
    }
}

pub(crate) fn write_decimal(out: &mut Vec<u8>, unscaled: i128, scale: i8) {
    // Digits on the stack: this runs once per DECIMAL value on the encode path.
    let mut stack = [0u8; 40];
    let mut pos = stack.len();
    let abs = unscaled.unsigned_abs();
    // u128 division is a library call per digit; most values fit in u64, whose division by
    // a constant compiles to a multiply.
    match u64::try_from(abs) {
        Ok(rest) => pos = digits_before_end(&mut stack, rest),
        Err(_) => {
            let mut rest = abs;
            loop {
                pos -= 1;
                stack[pos] = b'0' + (rest % 10) as u8;
                rest /= 10;
                if rest == 0 {
                    break;
                }
            }
        }
    }
    let digits = &stack[pos..];
    if unscaled < 0 {
        out.push(b'-');
    }
    if scale <= 0 {
        out.extend_from_slice(digits);
        if unscaled != 0 {
            out.extend(std::iter::repeat_n(b'0', (-scale) as usize));
        }
        return;
    }
    let scale = scale as usize;
    if digits.len() <= scale {
        // 0.00ddd: the integer part is 0 and the fraction is zero-padded.
        out.extend_from_slice(b"0.");
        out.extend(std::iter::repeat_n(b'0', scale - digits.len()));
        out.extend_from_slice(digits);
        return;
    }
    let point = digits.len() - scale;
    out.extend_from_slice(&digits[..point]);
    out.push(b'.');
    out.extend_from_slice(&digits[point..]);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jd(d: f64) -> String {
        let mut v = Vec::new();
        write_java_double(&mut v, d);
        String::from_utf8(v).unwrap()
    }

    #[test]
    fn java_double_formatting() {
        assert_eq!(jd(1.0), "1.0");
        assert_eq!(jd(0.0), "0.0");
        assert_eq!(jd(-0.0), "-0.0");
        assert_eq!(jd(1.5), "1.5");
        assert_eq!(jd(-1.5), "-1.5");
        assert_eq!(jd(100.0), "100.0");
        assert_eq!(jd(1234567.0), "1234567.0");
        assert_eq!(jd(1.0e7), "1.0E7");
        assert_eq!(jd(1.5e10), "1.5E10");
        assert_eq!(jd(0.001), "0.001");
        assert_eq!(jd(0.0001), "1.0E-4");
        assert_eq!(jd(1.234e-5), "1.234E-5");
        assert_eq!(jd(9876.54321), "9876.54321");
        assert_eq!(jd(0.1 + 0.2), "0.30000000000000004");
        assert_eq!(jd(f64::MAX), "1.7976931348623157E308");
        assert_eq!(jd(f64::MIN_POSITIVE), "2.2250738585072014E-308");
        assert_eq!(jd(f64::NAN), "NaN");
        assert_eq!(jd(f64::NEG_INFINITY), "-Infinity");
    }

    #[test]
    fn java_double_parsing() {
        assert_eq!(parse_java_double("1.5"), Some(1.5));
        assert_eq!(parse_java_double(" -2e3 "), Some(-2000.0));
        assert_eq!(parse_java_double("1.5d"), Some(1.5));
        assert_eq!(parse_java_double("Infinity"), Some(f64::INFINITY));
        assert!(parse_java_double("NaN").unwrap().is_nan());
        assert_eq!(parse_java_double("inf"), None);
        assert_eq!(parse_java_double("nan"), None);
        assert_eq!(parse_java_double("abc"), None);
        assert_eq!(parse_java_double(""), None);
    }

    #[test]
    fn long_parsing() {
        assert_eq!(parse_java_long("+12"), Ok(12));
        assert_eq!(parse_java_long("-9223372036854775808"), Ok(i64::MIN));
        assert_eq!(parse_java_long("9223372036854775808"), Err(IntError::Overflow));
        assert_eq!(parse_java_long(" 1"), Err(IntError::Invalid));
        assert_eq!(parse_java_long("1.0"), Err(IntError::Invalid));
        assert_eq!(parse_java_long("-"), Err(IntError::Invalid));
    }

    #[test]
    fn decimal_parsing() {
        assert_eq!(parse_decimal("10.1", 4, 2), Ok(1010));
        assert_eq!(parse_decimal("-0.5", 4, 2), Ok(-50));
        assert_eq!(parse_decimal("12", 6, 4), Ok(120000));
        assert_eq!(parse_decimal("12.3650", 6, 4), Ok(123650));
        assert_eq!(parse_decimal("1.10e1", 4, 1), Ok(110));
        assert_eq!(parse_decimal("1E-2", 4, 2), Ok(1));
        assert_eq!(parse_decimal("0.000", 2, 1), Ok(0));
        assert_eq!(parse_decimal("00012.50", 4, 2), Ok(1250));
        assert_eq!(parse_decimal("0", 1, 0), Ok(0));
        assert_eq!(parse_decimal("100.0", 4, 2), Err(DecimalError::Overflow));
        assert_eq!(parse_decimal("1.234", 4, 2), Err(DecimalError::Rounding));
        assert_eq!(parse_decimal("abc", 4, 2), Err(DecimalError::Invalid));
        assert_eq!(parse_decimal("1.2.3", 4, 2), Err(DecimalError::Invalid));
        assert_eq!(parse_decimal("", 4, 2), Err(DecimalError::Invalid));
        assert_eq!(parse_decimal("1e99999", 4, 2), Err(DecimalError::Overflow));
        assert_eq!(
            parse_decimal("10.1234512345123451234", 21, 19),
            Ok(101_234_512_345_123_451_234)
        );
    }

    #[test]
    fn decimal_printing() {
        let p = |v: i128, s: i8| {
            let mut o = Vec::new();
            write_decimal(&mut o, v, s);
            String::from_utf8(o).unwrap()
        };
        assert_eq!(p(110, 2), "1.10");
        assert_eq!(p(-5, 2), "-0.05");
        assert_eq!(p(1, 4), "0.0001");
        assert_eq!(p(0, 2), "0.00");
        assert_eq!(p(123, 0), "123");
        assert_eq!(p(120000, 4), "12.0000");
        // Beyond u64 (the slow path) and at its edges.
        assert_eq!(p(u64::MAX as i128, 0), "18446744073709551615");
        assert_eq!(p(u64::MAX as i128 + 1, 3), "18446744073709551.616");
        assert_eq!(p(-(10i128.pow(30)) - 7, 2), "-10000000000000000000000000000.07");
        assert_eq!(p(i128::MIN, 0), "-170141183460469231731687303715884105728");
    }
}
