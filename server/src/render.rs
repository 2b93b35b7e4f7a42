//! Query results as ksqlDB's REST API renders them: the schema text of the header
//! (`` `K` STRING KEY, `V` INTEGER ``), column names and types, and rows as JSON arrays.
//!
//! Rows are written straight from Arrow columns into the response buffer; a batch gets one
//! writer per column, then each row is written column by column. Values follow ksqlDB's REST
//! rendering: numbers as numbers (DOUBLE always with a fraction, e.g. `11.0`), DECIMAL as a
//! plain number, BYTES as base64, TIMESTAMP/DATE/TIME as ISO-8601 text, STRUCT and MAP as
//! objects.

use std::fmt::Write as _;

use arrow::array::{Array, ArrayRef, AsArray, GenericListArray, MapArray, StructArray};
use arrow::datatypes::{DataType, Date32Type, Decimal128Type, Float32Type, Float64Type, Int16Type, Int32Type, Int64Type, Int8Type, SchemaRef, Time32MillisecondType, TimeUnit, TimestampMillisecondType};
use arrow::record_batch::RecordBatch;
use runnel_parser::SqlType;
use runnel_planner::types::{display_type, from_arrow};

use crate::error::ServerError;

/// One result column as the header shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct HeaderColumn {
    pub name: String,
    pub data_type: SqlType,
    pub key: bool,
}

/// `` `K` STRING KEY, `V` INTEGER ``.
pub fn schema_text(columns: &[HeaderColumn]) -> String {
    columns
        .iter()
        .map(|c| format!("`{}` {}{}", c.name, display_type(&c.data_type), if c.key { " KEY" } else { "" }))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Header columns of an Arrow result schema; key columns carry
/// [`runnel_runtime::KEY_COLUMN_METADATA`].
pub fn header_columns(schema: &SchemaRef) -> Result<Vec<HeaderColumn>, ServerError> {
    schema
        .fields()
        .iter()
        .map(|f| {
            Ok(HeaderColumn {
                name: f.name().clone(),
                data_type: from_arrow(f.data_type()).map_err(|e| ServerError::Internal(format!("result column {}: {e}", f.name())))?,
                key: f.metadata().get(runnel_runtime::KEY_COLUMN_METADATA).is_some_and(|v| v == "true"),
            })
        })
        .collect()
}

/// Writes each row of `batch` as a JSON array (`[1,"a",null]`), calling `row` after each with
/// the row index, so the caller frames rows (`{"row":{"columns":...}}` or a bare array).
pub fn write_rows(batch: &RecordBatch, out: &mut String, mut row: impl FnMut(&mut String, usize, &mut dyn FnMut(&mut String))) -> Result<(), ServerError> {
    let writers = batch.columns().iter().map(ValueWriter::new).collect::<Result<Vec<_>, _>>()?;
    for r in 0..batch.num_rows() {
        row(out, r, &mut |out: &mut String| {
            out.push('[');
            for (i, w) in writers.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                w.write(out, r);
            }
            out.push(']');
        });
    }
    Ok(())
}

/// Writes one value per JSON rules for its Arrow type.
enum ValueWriter<'a> {
    Null,
    Bool(&'a arrow::array::BooleanArray),
    I8(&'a arrow::array::PrimitiveArray<Int8Type>),
    I16(&'a arrow::array::PrimitiveArray<Int16Type>),
    I32(&'a arrow::array::PrimitiveArray<Int32Type>),
    I64(&'a arrow::array::PrimitiveArray<Int64Type>),
    F32(&'a arrow::array::PrimitiveArray<Float32Type>),
    F64(&'a arrow::array::PrimitiveArray<Float64Type>),
    Decimal(&'a arrow::array::PrimitiveArray<Decimal128Type>),
    Str(&'a arrow::array::StringArray),
    Bytes(&'a arrow::array::BinaryArray),
    Timestamp(&'a arrow::array::PrimitiveArray<TimestampMillisecondType>),
    Date(&'a arrow::array::PrimitiveArray<Date32Type>),
    Time(&'a arrow::array::PrimitiveArray<Time32MillisecondType>),
    List(&'a GenericListArray<i32>, Box<ValueWriter<'a>>),
    Map(&'a MapArray, Box<ValueWriter<'a>>, Box<ValueWriter<'a>>),
    Struct(&'a StructArray, Vec<(String, ValueWriter<'a>)>),
}

impl<'a> ValueWriter<'a> {
    fn new(array: &'a ArrayRef) -> Result<Self, ServerError> {
        Self::of(array.as_ref())
    }

    fn of(array: &'a dyn Array) -> Result<Self, ServerError> {
        Ok(match array.data_type() {
            DataType::Null => ValueWriter::Null,
            DataType::Boolean => ValueWriter::Bool(array.as_boolean()),
            DataType::Int8 => ValueWriter::I8(array.as_primitive()),
            DataType::Int16 => ValueWriter::I16(array.as_primitive()),
            DataType::Int32 => ValueWriter::I32(array.as_primitive()),
            DataType::Int64 => ValueWriter::I64(array.as_primitive()),
            DataType::Float32 => ValueWriter::F32(array.as_primitive()),
            DataType::Float64 => ValueWriter::F64(array.as_primitive()),
            DataType::Decimal128(_, _) => ValueWriter::Decimal(array.as_primitive()),
            DataType::Utf8 => ValueWriter::Str(array.as_string()),
            DataType::Binary => ValueWriter::Bytes(array.as_binary()),
            DataType::Timestamp(TimeUnit::Millisecond, _) => ValueWriter::Timestamp(array.as_primitive()),
            DataType::Date32 => ValueWriter::Date(array.as_primitive()),
            DataType::Time32(TimeUnit::Millisecond) => ValueWriter::Time(array.as_primitive()),
            DataType::List(_) => {
                let list = array.as_list::<i32>();
                ValueWriter::List(list, Box::new(Self::of(list.values().as_ref())?))
            }
            DataType::Map(_, _) => {
                let map = array.as_map();
                ValueWriter::Map(map, Box::new(Self::of(map.keys().as_ref())?), Box::new(Self::of(map.values().as_ref())?))
            }
            DataType::Struct(fields) => {
                let s = array.as_struct();
                let children = fields
                    .iter()
                    .zip(s.columns())
                    .map(|(f, c)| Ok((f.name().clone(), Self::of(c.as_ref())?)))
                    .collect::<Result<Vec<_>, ServerError>>()?;
                ValueWriter::Struct(s, children)
            }
            other => return Err(ServerError::Internal(format!("cannot render a result column of Arrow type {other}"))),
        })
    }

    fn is_null(&self, row: usize) -> bool {
        match self {
            ValueWriter::Null => true,
            ValueWriter::Bool(a) => a.is_null(row),
            ValueWriter::I8(a) => a.is_null(row),
            ValueWriter::I16(a) => a.is_null(row),
            ValueWriter::I32(a) => a.is_null(row),
            ValueWriter::I64(a) => a.is_null(row),
            ValueWriter::F32(a) => a.is_null(row),
            ValueWriter::F64(a) => a.is_null(row),
            ValueWriter::Decimal(a) => a.is_null(row),
            ValueWriter::Str(a) => a.is_null(row),
            ValueWriter::Bytes(a) => a.is_null(row),
            ValueWriter::Timestamp(a) => a.is_null(row),
            ValueWriter::Date(a) => a.is_null(row),
            ValueWriter::Time(a) => a.is_null(row),
            ValueWriter::List(a, _) => a.is_null(row),
            ValueWriter::Map(a, _, _) => a.is_null(row),
            ValueWriter::Struct(a, _) => a.is_null(row),
        }
    }

    fn write(&self, out: &mut String, row: usize) {
        if self.is_null(row) {
            out.push_str("null");
            return;
        }
        match self {
            ValueWriter::Null => out.push_str("null"),
            ValueWriter::Bool(a) => out.push_str(if a.value(row) { "true" } else { "false" }),
            ValueWriter::I8(a) => write_display(out, a.value(row)),
            ValueWriter::I16(a) => write_display(out, a.value(row)),
            ValueWriter::I32(a) => write_display(out, a.value(row)),
            ValueWriter::I64(a) => write_display(out, a.value(row)),
            ValueWriter::F32(a) => write_double(out, a.value(row) as f64),
            ValueWriter::F64(a) => write_double(out, a.value(row)),
            ValueWriter::Decimal(a) => out.push_str(&a.value_as_string(row)),
            ValueWriter::Str(a) => write_string(out, a.value(row)),
            ValueWriter::Bytes(a) => {
                use base64::Engine as _;
                out.push('"');
                out.push_str(&base64::engine::general_purpose::STANDARD.encode(a.value(row)));
                out.push('"');
            }
            ValueWriter::Timestamp(a) => match chrono::DateTime::from_timestamp_millis(a.value(row)) {
                Some(t) => {
                    let _ = write!(out, "\"{}\"", t.naive_utc().format("%Y-%m-%dT%H:%M:%S%.3f"));
                }
                None => write_display(out, a.value(row)),
            },
            ValueWriter::Date(a) => {
                let days = a.value(row);
                match chrono::NaiveDate::from_ymd_opt(1970, 1, 1).and_then(|epoch| epoch.checked_add_signed(chrono::Duration::days(days as i64))) {
                    Some(d) => {
                        let _ = write!(out, "\"{}\"", d.format("%Y-%m-%d"));
                    }
                    None => write_display(out, days),
                }
            }
            ValueWriter::Time(a) => {
                let ms = a.value(row);
                match chrono::NaiveTime::from_num_seconds_from_midnight_opt((ms / 1000) as u32, (ms % 1000) as u32 * 1_000_000) {
                    Some(t) if ms % 1000 == 0 => {
                        let _ = write!(out, "\"{}\"", t.format("%H:%M:%S"));
                    }
                    Some(t) => {
                        let _ = write!(out, "\"{}\"", t.format("%H:%M:%S%.3f"));
                    }
                    None => write_display(out, ms),
                }
            }
            ValueWriter::List(a, child) => {
                let offsets = a.value_offsets();
                out.push('[');
                for (n, i) in (offsets[row] as usize..offsets[row + 1] as usize).enumerate() {
                    if n > 0 {
                        out.push(',');
                    }
                    child.write(out, i);
                }
                out.push(']');
            }
            ValueWriter::Map(a, keys, values) => {
                let offsets = a.value_offsets();
                out.push('{');
                for (n, i) in (offsets[row] as usize..offsets[row + 1] as usize).enumerate() {
                    if n > 0 {
                        out.push(',');
                    }
                    // JSON keys are strings: non-string keys are written as their JSON text.
                    match keys.as_ref() {
                        ValueWriter::Str(k) => write_string(out, k.value(i)),
                        other => {
                            let mut key = String::new();
                            other.write(&mut key, i);
                            write_string(out, &key);
                        }
                    }
                    out.push(':');
                    values.write(out, i);
                }
                out.push('}');
            }
            ValueWriter::Struct(_, children) => {
                out.push('{');
                for (n, (name, child)) in children.iter().enumerate() {
                    if n > 0 {
                        out.push(',');
                    }
                    write_string(out, name);
                    out.push(':');
                    child.write(out, row);
                }
                out.push('}');
            }
        }
    }
}

fn write_display(out: &mut String, v: impl std::fmt::Display) {
    let _ = write!(out, "{v}");
}

/// A double as Jackson writes it: always with a fraction or exponent (`11.0`), non-finite
/// values quoted.
fn write_double(out: &mut String, d: f64) {
    if !d.is_finite() {
        let _ = write!(out, "\"{}\"", if d.is_nan() { "NaN" } else if d > 0.0 { "Infinity" } else { "-Infinity" });
        return;
    }
    let text = format!("{d:?}");
    out.push_str(&text);
}

/// A JSON string with the escapes JSON requires.
pub fn write_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::array::{Decimal128Array, Float64Array, Int32Array, StringArray, TimestampMillisecondArray};
    use arrow::datatypes::{Field, Schema};

    use super::*;

    #[test]
    fn rows_render_as_ksqldb_does() {
        let schema = Arc::new(Schema::new(vec![
            Field::new("K", DataType::Utf8, true),
            Field::new("D", DataType::Float64, true),
            Field::new("N", DataType::Int32, true),
            Field::new("DEC", DataType::Decimal128(4, 2), true),
            Field::new("TS", DataType::Timestamp(TimeUnit::Millisecond, None), true),
        ]));
        let batch = RecordBatch::try_new(
            schema,
            vec![
                Arc::new(StringArray::from(vec![Some("a\"b"), None])),
                Arc::new(Float64Array::from(vec![Some(11.0), Some(0.5)])),
                Arc::new(Int32Array::from(vec![Some(1), None])),
                Arc::new(Decimal128Array::from(vec![Some(150), Some(-5)]).with_precision_and_scale(4, 2).expect("valid")),
                Arc::new(TimestampMillisecondArray::from(vec![Some(12), Some(1_600_000_000_123)])),
            ],
        )
        .expect("batch");
        let mut out = String::new();
        write_rows(&batch, &mut out, |out, _, write| {
            write(out);
            out.push('\n');
        })
        .expect("rendered");
        assert_eq!(
            out,
            "[\"a\\\"b\",11.0,1,1.50,\"1970-01-01T00:00:00.012\"]\n[null,0.5,null,-0.05,\"2020-09-13T12:26:40.123\"]\n"
        );
    }

    #[test]
    fn header_marks_keys() {
        let columns = vec![
            HeaderColumn { name: "K".into(), data_type: SqlType::String, key: true },
            HeaderColumn { name: "V".into(), data_type: SqlType::Int, key: false },
        ];
        assert_eq!(schema_text(&columns), "`K` STRING KEY, `V` INTEGER");
    }
}
