//! The KAFKA format: Kafka's primitive serializers for a single column.
//! INT = 4 bytes big-endian, BIGINT = 8 bytes big-endian, DOUBLE = 8 bytes IEEE-754
//! big-endian, STRING = UTF-8, BYTES = raw. BOOLEAN and everything else are unsupported.

use arrow::array::{Array, ArrayRef, AsArray};
use arrow::datatypes::{DataType, Field, Fields, Float64Type, Int32Type, Int64Type};

use super::builder::{ColumnBuilder, Store};
use super::{ksql_type_name, EncodedRows, FormatError};

pub(crate) fn validate(fields: &Fields) -> Result<(), FormatError> {
    if fields.len() != 1 {
        return Err(FormatError::UnsupportedSchema {
            format: "KAFKA",
            message: format!(
                "The 'KAFKA' format only supports a single field. Got: [{}]",
                fields
                    .iter()
                    .map(|f| format!("`{}` {}", f.name(), ksql_type_name(f.data_type())))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        });
    }
    let f = &fields[0];
    match f.data_type() {
        DataType::Int32 | DataType::Int64 | DataType::Float64 | DataType::Utf8 | DataType::Binary => Ok(()),
        other => Err(FormatError::UnsupportedType {
            format: "KAFKA",
            column: f.name().clone(),
            data_type: ksql_type_name(other),
        }),
    }
}

fn fixed<const N: usize>(bytes: &[u8], column: &str, expected: &'static str) -> Result<[u8; N], FormatError> {
    bytes.try_into().map_err(|_| FormatError::PayloadSize {
        column: column.to_string(),
        expected,
        size: N,
        actual: bytes.len(),
    })
}

pub(crate) fn decode_row(bytes: &[u8], col: &mut ColumnBuilder, column: &str) -> Result<(), FormatError> {
    match (&col.data_type, &mut col.store) {
        (DataType::Int32, Store::I32(v)) => v.push(i32::from_be_bytes(fixed::<4>(bytes, column, "INT")?)),
        (DataType::Int64, Store::I64(v)) => v.push(i64::from_be_bytes(fixed::<8>(bytes, column, "BIGINT")?)),
        (DataType::Float64, Store::F64(v)) => v.push(f64::from_be_bytes(fixed::<8>(bytes, column, "DOUBLE")?)),
        (dt, Store::Bytes { data, offsets }) => {
            if dt == &DataType::Utf8 && std::str::from_utf8(bytes).is_err() {
                return Err(FormatError::Malformed {
                    format: "KAFKA",
                    offset: 0,
                    message: format!("invalid UTF-8 for STRING column `{column}`"),
                    snippet: super::text::snippet_bytes(bytes),
                });
            }
            data.extend_from_slice(bytes);
            offsets.push(data.len() as i32);
        }
        (dt, _) => {
            return Err(FormatError::UnsupportedType {
                format: "KAFKA",
                column: column.to_string(),
                data_type: ksql_type_name(dt),
            })
        }
    }
    col.valid.push(true);
    Ok(())
}

pub(crate) fn encode(
    array: &ArrayRef,
    field: &Field,
    rows: usize,
) -> Result<EncodedRows, FormatError> {
    let mut out = Vec::with_capacity(rows);
    for row in 0..rows {
        if array.is_null(row) {
            out.push(Ok(None));
            continue;
        }
        let bytes = match field.data_type() {
            DataType::Int32 => array.as_primitive::<Int32Type>().value(row).to_be_bytes().to_vec(),
            DataType::Int64 => array.as_primitive::<Int64Type>().value(row).to_be_bytes().to_vec(),
            DataType::Float64 => array.as_primitive::<Float64Type>().value(row).to_be_bytes().to_vec(),
            DataType::Utf8 => array.as_string::<i32>().value(row).as_bytes().to_vec(),
            DataType::Binary => array.as_binary::<i32>().value(row).to_vec(),
            other => {
                return Err(FormatError::UnsupportedType {
                    format: "KAFKA",
                    column: field.name().clone(),
                    data_type: ksql_type_name(other),
                })
            }
        };
        out.push(Ok(Some(bytes)));
    }
    Ok(out)
}
