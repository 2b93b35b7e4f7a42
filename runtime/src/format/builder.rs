//! Truncatable column builders.
//!
//! Arrow's own builders cannot drop values once appended, but a decoder that fails half way
//! through a record (e.g. the third column does not parse) must undo whatever the record already
//! appended. These builders store plain `Vec`s, support [`ColumnBuilder::truncate`], and turn into
//! Arrow arrays without copying the value buffers.

use std::sync::Arc;

use arrow::array::{make_array, ArrayData, ArrayRef};
use arrow::buffer::{Buffer, NullBuffer};
use arrow::datatypes::{DataType, Field, FieldRef, Fields, TimeUnit};

use super::FormatError;

/// Storage of a column, by physical layout.
#[derive(Debug)]
pub(crate) enum Store {
    Bool(Vec<bool>),
    /// Int32, Date32, Time32(ms).
    I32(Vec<i32>),
    /// Int64, Timestamp(ms).
    I64(Vec<i64>),
    F64(Vec<f64>),
    /// Decimal128(precision, scale).
    I128(Vec<i128>),
    /// Utf8 or Binary: concatenated bytes plus `len + 1` offsets.
    Bytes { data: Vec<u8>, offsets: Vec<i32> },
    List { offsets: Vec<i32>, child: Box<ColumnBuilder> },
    Map { offsets: Vec<i32>, keys: Box<ColumnBuilder>, values: Box<ColumnBuilder> },
    Struct { children: Vec<ColumnBuilder> },
}

/// A growable, truncatable column of one Arrow type (see the module docs).
#[derive(Debug)]
pub(crate) struct ColumnBuilder {
    pub(crate) data_type: DataType,
    /// Validity per slot (`true` = valid).
    pub(crate) valid: Vec<bool>,
    pub(crate) store: Store,
    /// Upper-cased field names of a struct, for case-insensitive lookup.
    pub(crate) upper_names: Vec<String>,
}

impl ColumnBuilder {
    /// Creates a builder for `data_type`, or an error naming `column` if the type is outside the
    /// ksql type contract.
    pub(crate) fn new(column: &str, data_type: &DataType) -> Result<Self, FormatError> {
        let mut upper_names = Vec::new();
        let store = match data_type {
            DataType::Boolean => Store::Bool(Vec::new()),
            DataType::Int32 | DataType::Date32 | DataType::Time32(TimeUnit::Millisecond) => {
                Store::I32(Vec::new())
            }
            DataType::Int64 | DataType::Timestamp(TimeUnit::Millisecond, None) => {
                Store::I64(Vec::new())
            }
            DataType::Float64 => Store::F64(Vec::new()),
            DataType::Decimal128(_, _) => Store::I128(Vec::new()),
            DataType::Utf8 | DataType::Binary => Store::Bytes { data: Vec::new(), offsets: vec![0] },
            DataType::List(f) => Store::List {
                offsets: vec![0],
                child: Box::new(ColumnBuilder::new(column, f.data_type())?),
            },
            DataType::Map(entries, _) => {
                let DataType::Struct(kv) = entries.data_type() else {
                    return Err(unsupported(column, data_type));
                };
                if kv.len() != 2 || kv[0].data_type() != &DataType::Utf8 {
                    return Err(unsupported(column, data_type));
                }
                Store::Map {
                    offsets: vec![0],
                    keys: Box::new(ColumnBuilder::new(column, kv[0].data_type())?),
                    values: Box::new(ColumnBuilder::new(column, kv[1].data_type())?),
                }
            }
            DataType::Struct(fields) => {
                upper_names = fields.iter().map(|f| f.name().to_uppercase()).collect();
                Store::Struct {
                    children: fields
                        .iter()
                        .map(|f| ColumnBuilder::new(column, f.data_type()))
                        .collect::<Result<_, _>>()?,
                }
            }
            _ => return Err(unsupported(column, data_type)),
        };
        Ok(Self { data_type: data_type.clone(), valid: Vec::new(), store, upper_names })
    }

    pub(crate) fn len(&self) -> usize {
        self.valid.len()
    }

    /// Appends a null slot.
    pub(crate) fn push_null(&mut self) {
        self.valid.push(false);
        match &mut self.store {
            Store::Bool(v) => v.push(false),
            Store::I32(v) => v.push(0),
            Store::I64(v) => v.push(0),
            Store::F64(v) => v.push(0.0),
            Store::I128(v) => v.push(0),
            Store::Bytes { data, offsets } => offsets.push(data.len() as i32),
            Store::List { offsets, child } => offsets.push(child.len() as i32),
            Store::Map { offsets, keys, .. } => offsets.push(keys.len() as i32),
            Store::Struct { children } => children.iter_mut().for_each(ColumnBuilder::push_null),
        }
    }

    /// Drops every slot at index `len` and above, including child values a failed decode
    /// appended for a slot that was never completed (so `len == self.len()` still trims them).
    pub(crate) fn truncate(&mut self, len: usize) {
        if len > self.len() {
            return;
        }
        self.valid.truncate(len);
        match &mut self.store {
            Store::Bool(v) => v.truncate(len),
            Store::I32(v) => v.truncate(len),
            Store::I64(v) => v.truncate(len),
            Store::F64(v) => v.truncate(len),
            Store::I128(v) => v.truncate(len),
            Store::Bytes { data, offsets } => {
                offsets.truncate(len + 1);
                data.truncate(offsets[len] as usize);
            }
            Store::List { offsets, child } => {
                offsets.truncate(len + 1);
                child.truncate(offsets[len] as usize);
            }
            Store::Map { offsets, keys, values } => {
                offsets.truncate(len + 1);
                keys.truncate(offsets[len] as usize);
                values.truncate(offsets[len] as usize);
            }
            Store::Struct { children } => children.iter_mut().for_each(|c| c.truncate(len)),
        }
    }

    /// Turns the appended slots into an array and resets the builder (keeping its capacity for
    /// the value vectors where Arrow does not take ownership).
    pub(crate) fn finish(&mut self) -> Result<ArrayRef, FormatError> {
        Ok(make_array(self.finish_data()?))
    }

    fn finish_data(&mut self) -> Result<ArrayData, FormatError> {
        let len = self.len();
        let valid = std::mem::take(&mut self.valid);
        let nulls = if valid.iter().all(|v| *v) { None } else { Some(NullBuffer::from(valid)) };
        let builder = ArrayData::builder(self.data_type.clone()).len(len).nulls(nulls);
        let builder = match &mut self.store {
            Store::Bool(v) => {
                let buf = arrow::buffer::BooleanBuffer::from(std::mem::take(v));
                builder.add_buffer(buf.into_inner())
            }
            Store::I32(v) => builder.add_buffer(Buffer::from_vec(std::mem::take(v))),
            Store::I64(v) => builder.add_buffer(Buffer::from_vec(std::mem::take(v))),
            Store::F64(v) => builder.add_buffer(Buffer::from_vec(std::mem::take(v))),
            Store::I128(v) => builder.add_buffer(Buffer::from_vec(std::mem::take(v))),
            Store::Bytes { data, offsets } => {
                let o = std::mem::replace(offsets, vec![0]);
                builder
                    .add_buffer(Buffer::from_vec(o))
                    .add_buffer(Buffer::from_vec(std::mem::take(data)))
            }
            Store::List { offsets, child } => {
                let o = std::mem::replace(offsets, vec![0]);
                builder.add_buffer(Buffer::from_vec(o)).add_child_data(child.finish_data()?)
            }
            Store::Map { offsets, keys, values } => {
                let o = std::mem::replace(offsets, vec![0]);
                let DataType::Map(entries, _) = &self.data_type else {
                    return Err(FormatError::Internal("map builder without map type".into()));
                };
                let entries_len = keys.len();
                let k = keys.finish_data()?;
                let v = values.finish_data()?;
                let entries_data = ArrayData::builder(entries.data_type().clone())
                    .len(entries_len)
                    .add_child_data(k)
                    .add_child_data(v)
                    .build()
                    .map_err(|e| FormatError::Internal(e.to_string()))?;
                builder.add_buffer(Buffer::from_vec(o)).add_child_data(entries_data)
            }
            Store::Struct { children } => {
                let mut b = builder;
                for c in children.iter_mut() {
                    b = b.add_child_data(c.finish_data()?);
                }
                b
            }
        };
        builder.build().map_err(|e| FormatError::Internal(e.to_string()))
    }
}

fn unsupported(column: &str, data_type: &DataType) -> FormatError {
    FormatError::UnsupportedType {
        format: "runtime",
        column: column.to_string(),
        data_type: super::ksql_type_name(data_type),
    }
}

/// The `entries` field of a ksql MAP<STRING, V> (helper for tests and callers building schemas).
pub fn map_type(value: DataType) -> DataType {
    let entries = Field::new(
        "entries",
        DataType::Struct(Fields::from(vec![
            Field::new("key", DataType::Utf8, false),
            Field::new("value", value, true),
        ])),
        false,
    );
    DataType::Map(FieldRef::new(entries), false)
}

/// `List(Field "item", nullable)` as used for ksql ARRAY<T>.
pub fn list_type(item: DataType) -> DataType {
    DataType::List(Arc::new(Field::new("item", item, true)))
}
