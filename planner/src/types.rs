//! ksql SQL types <-> Arrow types, and ksql's textual rendering of types.
//!
//! The mapping is a contract shared by formats, functions and the planner:
//! BOOLEAN->Boolean, INT->Int32, BIGINT->Int64, DOUBLE->Float64, DECIMAL(p,s)->Decimal128(p,s),
//! STRING->Utf8, BYTES->Binary, TIMESTAMP->Timestamp(ms), DATE->Date32, TIME->Time32(ms),
//! ARRAY->List("item"), MAP->Map("entries"{key,value}), STRUCT->Struct.

use std::collections::BTreeMap;
use std::sync::Arc;

use arrow::datatypes::{DataType, Field, Fields, TimeUnit};
use runnel_parser::{SqlType, StructField};

use crate::error::PlanError;

/// Resolves custom type names (`CREATE TYPE`) while converting.
pub type TypeRegistry = BTreeMap<String, SqlType>;

/// Replaces every `Custom` type by its definition.
pub fn resolve_custom(ty: &SqlType, types: &TypeRegistry) -> Result<SqlType, PlanError> {
    Ok(match ty {
        SqlType::Custom(name) => match types.get(name) {
            Some(def) => resolve_custom(def, types)?,
            None => return Err(PlanError::statement(format!("Unknown type: {name}"))),
        },
        SqlType::Array(inner) => SqlType::Array(Box::new(resolve_custom(inner, types)?)),
        SqlType::Map(k, v) => SqlType::Map(Box::new(resolve_custom(k, types)?), Box::new(resolve_custom(v, types)?)),
        SqlType::Struct(fields) => SqlType::Struct(
            fields
                .iter()
                .map(|f| Ok(StructField { name: f.name.clone(), data_type: resolve_custom(&f.data_type, types)? }))
                .collect::<Result<_, PlanError>>()?,
        ),
        other => other.clone(),
    })
}

/// The Arrow type of a (resolved) ksql type.
pub fn to_arrow(ty: &SqlType) -> DataType {
    match ty {
        SqlType::Boolean => DataType::Boolean,
        SqlType::Int => DataType::Int32,
        SqlType::Bigint => DataType::Int64,
        SqlType::Double => DataType::Float64,
        SqlType::Decimal { precision, scale } => DataType::Decimal128(*precision, *scale as i8),
        SqlType::String | SqlType::Custom(_) => DataType::Utf8,
        SqlType::Bytes => DataType::Binary,
        SqlType::Timestamp => DataType::Timestamp(TimeUnit::Millisecond, None),
        SqlType::Date => DataType::Date32,
        SqlType::Time => DataType::Time32(TimeUnit::Millisecond),
        SqlType::Array(inner) => DataType::List(Arc::new(Field::new("item", to_arrow(inner), true))),
        SqlType::Map(k, v) => map_type(to_arrow(k), to_arrow(v)),
        SqlType::Struct(fields) => DataType::Struct(
            fields.iter().map(|f| Field::new(&f.name, to_arrow(&f.data_type), true)).collect::<Fields>(),
        ),
    }
}

/// The Arrow map type with ksql's entry layout.
pub fn map_type(key: DataType, value: DataType) -> DataType {
    let entries = Field::new(
        "entries",
        DataType::Struct(Fields::from(vec![Field::new("key", key, false), Field::new("value", value, true)])),
        false,
    );
    DataType::Map(Arc::new(entries), false)
}

/// The ksql type of an Arrow type, where there is one.
pub fn from_arrow(dt: &DataType) -> Result<SqlType, PlanError> {
    Ok(match dt {
        DataType::Boolean => SqlType::Boolean,
        DataType::Int8 | DataType::Int16 | DataType::Int32 | DataType::UInt8 | DataType::UInt16 => SqlType::Int,
        DataType::Int64 | DataType::UInt32 | DataType::UInt64 => SqlType::Bigint,
        DataType::Float16 | DataType::Float32 | DataType::Float64 => SqlType::Double,
        DataType::Decimal128(p, s) => SqlType::Decimal { precision: *p, scale: (*s).max(0) as u8 },
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => SqlType::String,
        DataType::Binary | DataType::LargeBinary | DataType::BinaryView | DataType::FixedSizeBinary(_) => SqlType::Bytes,
        DataType::Timestamp(_, _) => SqlType::Timestamp,
        DataType::Date32 | DataType::Date64 => SqlType::Date,
        DataType::Time32(_) | DataType::Time64(_) => SqlType::Time,
        DataType::List(f) | DataType::LargeList(f) | DataType::FixedSizeList(f, _) | DataType::ListView(f) => {
            SqlType::Array(Box::new(from_arrow(f.data_type())?))
        }
        DataType::Map(entries, _) => match entries.data_type() {
            DataType::Struct(kv) if kv.len() == 2 => {
                SqlType::Map(Box::new(from_arrow(kv[0].data_type())?), Box::new(from_arrow(kv[1].data_type())?))
            }
            other => return Err(PlanError::internal(format!("unexpected map entries type {other}"))),
        },
        DataType::Struct(fields) => SqlType::Struct(
            fields
                .iter()
                .map(|f| Ok(StructField { name: f.name().clone(), data_type: from_arrow(f.data_type())? }))
                .collect::<Result<_, PlanError>>()?,
        ),
        DataType::Null => SqlType::String,
        other => return Err(PlanError::statement(format!("type {other} has no ksql equivalent"))),
    })
}

/// ksql's rendering of a type, as in DESCRIBE and error messages: `INTEGER`, `STRUCT<`F` INTEGER>`.
pub fn display_type(ty: &SqlType) -> String {
    match ty {
        SqlType::Boolean => "BOOLEAN".into(),
        SqlType::Int => "INTEGER".into(),
        SqlType::Bigint => "BIGINT".into(),
        SqlType::Double => "DOUBLE".into(),
        SqlType::Decimal { precision, scale } => format!("DECIMAL({precision}, {scale})"),
        SqlType::String => "STRING".into(),
        SqlType::Bytes => "BYTES".into(),
        SqlType::Timestamp => "TIMESTAMP".into(),
        SqlType::Date => "DATE".into(),
        SqlType::Time => "TIME".into(),
        SqlType::Array(inner) => format!("ARRAY<{}>", display_type(inner)),
        SqlType::Map(k, v) => format!("MAP<{}, {}>", display_type(k), display_type(v)),
        SqlType::Struct(fields) => format!(
            "STRUCT<{}>",
            fields.iter().map(|f| format!("`{}` {}", f.name, display_type(&f.data_type))).collect::<Vec<_>>().join(", ")
        ),
        SqlType::Custom(name) => name.clone(),
    }
}

/// Whether a type is or contains a MAP (not allowed in keys).
pub fn contains_map(ty: &SqlType) -> bool {
    match ty {
        SqlType::Map(..) => true,
        SqlType::Array(inner) => contains_map(inner),
        SqlType::Struct(fields) => fields.iter().any(|f| contains_map(&f.data_type)),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nested_types_round_trip_through_arrow() {
        let ty = SqlType::Struct(vec![
            StructField { name: "A".into(), data_type: SqlType::Array(Box::new(SqlType::Decimal { precision: 4, scale: 2 })) },
            StructField { name: "M".into(), data_type: SqlType::Map(Box::new(SqlType::String), Box::new(SqlType::Bigint)) },
        ]);
        assert_eq!(from_arrow(&to_arrow(&ty)).expect("maps back"), ty);
        assert_eq!(display_type(&ty), "STRUCT<`A` ARRAY<DECIMAL(4, 2)>, `M` MAP<STRING, BIGINT>>");
    }
}
