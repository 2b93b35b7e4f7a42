//! The DELIMITED format: one CSV record per payload, as ksqlDB writes it with Apache Commons
//! CSV (`CSVFormat.DEFAULT` with a custom delimiter, quote `"`, `QuoteMode.MINIMAL`).
//!
//! Decoding: fields split on the delimiter, `"..."` quoting with `""` for a quote, an empty
//! field (quoted or not) is null, the field count must equal the column count.
//! Encoding: null is an empty field; a value is quoted when Commons CSV 1.4's MINIMAL rule says
//! so (see [`needs_quotes`]).

use arrow::array::{Array, ArrayRef, AsArray};
use arrow::datatypes::{
    DataType, Date32Type, Decimal128Type, Fields, Float64Type, Int32Type, Int64Type, Time32MillisecondType,
    TimeUnit, TimestampMillisecondType,
};
use base64::Engine;

use super::builder::{ColumnBuilder, Store};
use super::text::{self, parse_decimal, parse_java_double, parse_java_long, snippet, DecimalError, IntError, BASE64};
use super::{ksql_type_name, EncodedRows, FormatError};

pub(crate) fn validate(fields: &Fields) -> Result<(), FormatError> {
    for f in fields {
        match f.data_type() {
            DataType::Boolean
            | DataType::Int32
            | DataType::Int64
            | DataType::Float64
            | DataType::Decimal128(_, _)
            | DataType::Utf8
            | DataType::Binary
            | DataType::Timestamp(TimeUnit::Millisecond, None)
            | DataType::Date32
            | DataType::Time32(TimeUnit::Millisecond) => {}
            other => {
                return Err(FormatError::UnsupportedType {
                    format: "DELIMITED",
                    column: f.name().clone(),
                    data_type: ksql_type_name(other),
                })
            }
        }
    }
    Ok(())
}

fn malformed(bytes: &[u8], offset: usize, message: &str) -> FormatError {
    FormatError::Malformed {
        format: "DELIMITED",
        offset,
        message: message.to_string(),
        snippet: text::snippet_bytes(bytes),
    }
}

/// Splits one record into `spans` (ranges of `scratch`, which receives the unquoted field
/// contents).
fn split(
    bytes: &[u8],
    delimiter: u8,
    scratch: &mut Vec<u8>,
    spans: &mut Vec<(usize, usize)>,
) -> Result<(), FormatError> {
    scratch.clear();
    spans.clear();
    let n = bytes.len();
    let mut i = 0;
    loop {
        let start = scratch.len();
        if i < n && bytes[i] == b'"' {
            i += 1;
            loop {
                if i >= n {
                    return Err(malformed(bytes, i, "EOF reached before encapsulated token finished"));
                }
                if bytes[i] == b'"' {
                    if i + 1 < n && bytes[i + 1] == b'"' {
                        scratch.push(b'"');
                        i += 2;
                    } else {
                        i += 1;
                        break;
                    }
                } else {
                    scratch.push(bytes[i]);
                    i += 1;
                }
            }
            // Only whitespace may follow the closing quote before the delimiter.
            while i < n && bytes[i] != delimiter && bytes[i] != b'\n' && bytes[i] != b'\r' {
                if !bytes[i].is_ascii_whitespace() {
                    return Err(malformed(bytes, i, "invalid char between encapsulated token and delimiter"));
                }
                i += 1;
            }
        } else {
            while i < n && bytes[i] != delimiter && bytes[i] != b'\n' && bytes[i] != b'\r' {
                scratch.push(bytes[i]);
                i += 1;
            }
        }
        spans.push((start, scratch.len()));
        if i < n && bytes[i] == delimiter {
            i += 1;
            continue;
        }
        break;
    }
    if bytes[i..].iter().any(|b| *b != b'\n' && *b != b'\r') {
        return Err(malformed(bytes, i, "payload holds more than one record"));
    }
    Ok(())
}

pub(crate) fn decode_row(
    bytes: &[u8],
    delimiter: u8,
    columns: &mut [ColumnBuilder],
    fields: &Fields,
    scratch: &mut Vec<u8>,
    spans: &mut Vec<(usize, usize)>,
) -> Result<(), FormatError> {
    split(bytes, delimiter, scratch, spans)?;
    if spans.len() != columns.len() {
        return Err(FormatError::ColumnCount { expected: columns.len(), actual: spans.len() });
    }
    for ((col, field), &(s, e)) in columns.iter_mut().zip(fields.iter()).zip(spans.iter()) {
        if s == e {
            col.push_null();
            continue;
        }
        let value = std::str::from_utf8(&scratch[s..e])
            .map_err(|_| malformed(bytes, 0, &format!("invalid UTF-8 in column `{}`", field.name())))?;
        push_text(col, value, field.name(), true)?;
    }
    Ok(())
}

/// Appends `text` converted to the (primitive) type of `col`. `java_bool` selects Java's
/// `Boolean.parseBoolean` (anything but "true", any case, is false) over strict true/false.
pub(crate) fn push_text(col: &mut ColumnBuilder, text: &str, column: &str, java_bool: bool) -> Result<(), FormatError> {
    let parse_err = |dt: &DataType| FormatError::Parse {
        column: column.to_string(),
        expected: ksql_type_name(dt),
        text: snippet(text),
    };
    let range_err = |dt: &DataType| FormatError::OutOfRange {
        column: column.to_string(),
        expected: ksql_type_name(dt),
        text: snippet(text),
    };
    let long = |dt: &DataType| {
        parse_java_long(text).map_err(|e| match e {
            IntError::Invalid => parse_err(dt),
            IntError::Overflow => range_err(dt),
        })
    };
    match (&col.data_type, &mut col.store) {
        (DataType::Boolean, Store::Bool(v)) => {
            let b = if text.eq_ignore_ascii_case("true") {
                true
            } else if java_bool || text.eq_ignore_ascii_case("false") {
                false
            } else {
                return Err(parse_err(&DataType::Boolean));
            };
            v.push(b);
        }
        (dt @ (DataType::Int32 | DataType::Date32 | DataType::Time32(_)), Store::I32(v)) => {
            let x = long(dt)?;
            v.push(i32::try_from(x).map_err(|_| range_err(dt))?);
        }
        (dt, Store::I64(v)) => v.push(long(dt)?),
        (dt, Store::F64(v)) => v.push(parse_java_double(text).ok_or_else(|| parse_err(dt))?),
        (DataType::Decimal128(p, s), Store::I128(v)) => v.push(parse_decimal(text, *p, *s).map_err(|e| {
            decimal_error(column, *p, *s, text, e)
        })?),
        (DataType::Utf8, Store::Bytes { data, offsets }) => {
            data.extend_from_slice(text.as_bytes());
            offsets.push(data.len() as i32);
        }
        (dt @ DataType::Binary, Store::Bytes { data, offsets }) => {
            // Decodes straight into the column's buffer; a failure is rolled back by the caller.
            BASE64.decode_vec(text, data).map_err(|_| parse_err(dt))?;
            offsets.push(data.len() as i32);
        }
        (dt, _) => {
            return Err(FormatError::TypeMismatch {
                column: column.to_string(),
                expected: ksql_type_name(dt),
                found: format!("string `{}`", snippet(text)),
            })
        }
    }
    col.valid.push(true);
    Ok(())
}

pub(crate) fn decimal_error(column: &str, precision: u8, scale: i8, text: &str, e: DecimalError) -> FormatError {
    match e {
        DecimalError::Invalid => FormatError::Parse {
            column: column.to_string(),
            expected: format!("DECIMAL({precision}, {scale})"),
            text: snippet(text),
        },
        DecimalError::Overflow => FormatError::Decimal {
            column: column.to_string(),
            precision,
            scale,
            text: snippet(text),
            reason: ": Numeric field overflow",
        },
        DecimalError::Rounding => FormatError::Decimal {
            column: column.to_string(),
            precision,
            scale,
            text: snippet(text),
            reason: " without rounding",
        },
    }
}

/// Commons CSV 1.4 `QuoteMode.MINIMAL`: quote an empty first field; a first field not starting
/// with an ASCII letter or digit; any field starting with a char <= `#`, containing CR, LF,
/// the quote or the delimiter, or ending with a char <= space.
fn needs_quotes(value: &[u8], delimiter: u8, first: bool) -> bool {
    let Some(&c) = value.first() else {
        return first;
    };
    if first && !c.is_ascii_alphanumeric() {
        return true;
    }
    if c <= b'#' {
        return true;
    }
    if value.iter().any(|&b| b == b'\n' || b == b'\r' || b == b'"' || b == delimiter) {
        return true;
    }
    value.last().is_some_and(|&b| b <= b' ')
}

pub(crate) fn encode(
    columns: &[ArrayRef],
    fields: &Fields,
    delimiter: u8,
    rows: usize,
) -> Result<EncodedRows, FormatError> {
    let mut out = Vec::with_capacity(rows);
    let mut field_buf = Vec::new();
    for row in 0..rows {
        if columns.len() == 1 && columns[0].is_null(row) {
            out.push(Ok(None));
            continue;
        }
        let mut payload = Vec::new();
        for (i, (col, field)) in columns.iter().zip(fields.iter()).enumerate() {
            if i > 0 {
                payload.push(delimiter);
            }
            if col.is_null(row) {
                continue;
            }
            field_buf.clear();
            write_value(&mut field_buf, col, field.data_type(), row, field.name())?;
            if needs_quotes(&field_buf, delimiter, i == 0) {
                payload.push(b'"');
                for &b in &field_buf {
                    if b == b'"' {
                        payload.push(b'"');
                    }
                    payload.push(b);
                }
                payload.push(b'"');
            } else {
                payload.extend_from_slice(&field_buf);
            }
        }
        out.push(Ok(Some(payload)));
    }
    Ok(out)
}

fn write_value(out: &mut Vec<u8>, col: &ArrayRef, dt: &DataType, row: usize, column: &str) -> Result<(), FormatError> {
    match dt {
        DataType::Boolean => {
            out.extend_from_slice(if col.as_boolean().value(row) { b"true" } else { b"false" })
        }
        DataType::Int32 => out.extend_from_slice(col.as_primitive::<Int32Type>().value(row).to_string().as_bytes()),
        DataType::Int64 => out.extend_from_slice(col.as_primitive::<Int64Type>().value(row).to_string().as_bytes()),
        DataType::Float64 => text::write_java_double(out, col.as_primitive::<Float64Type>().value(row)),
        DataType::Decimal128(_, s) => text::write_decimal(out, col.as_primitive::<Decimal128Type>().value(row), *s),
        DataType::Utf8 => out.extend_from_slice(col.as_string::<i32>().value(row).as_bytes()),
        DataType::Binary => out.extend_from_slice(BASE64.encode(col.as_binary::<i32>().value(row)).as_bytes()),
        DataType::Timestamp(TimeUnit::Millisecond, None) => out
            .extend_from_slice(col.as_primitive::<TimestampMillisecondType>().value(row).to_string().as_bytes()),
        DataType::Date32 => out.extend_from_slice(col.as_primitive::<Date32Type>().value(row).to_string().as_bytes()),
        DataType::Time32(TimeUnit::Millisecond) => {
            out.extend_from_slice(col.as_primitive::<Time32MillisecondType>().value(row).to_string().as_bytes())
        }
        other => {
            return Err(FormatError::UnsupportedType {
                format: "DELIMITED",
                column: column.to_string(),
                data_type: ksql_type_name(other),
            })
        }
    }
    Ok(())
}
