//! Functions the planner rewrites ksql syntax into (`a->b`, `x[i]`, `ARRAY[..]`, `MAP(..)`,
//! `STRUCT(..)`, `CAST`). Their names start with [`PREFIX`] so users cannot call them.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, Int64Array, UInt32Builder};
use arrow::compute::{cast, take};
use arrow::datatypes::DataType;
use datafusion::common::{exec_err, plan_err, Result as DfResult, ScalarValue};
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};

pub const PREFIX: &str = "__";
pub const GET_FIELD: &str = "__get_field";
pub const NAMED_STRUCT: &str = "__named_struct";
pub const MAKE_ARRAY: &str = "__make_array";
pub const MAKE_MAP: &str = "__make_map";
pub const ARROW_CAST: &str = "__arrow_cast";
pub const SUBSCRIPT: &str = "__subscript";

pub fn functions() -> Vec<(&'static str, Arc<ScalarUDF>)> {
    vec![
        (GET_FIELD, datafusion::functions::core::get_field()),
        (NAMED_STRUCT, datafusion::functions::core::named_struct()),
        (MAKE_ARRAY, datafusion::functions_nested::make_array::make_array_udf()),
        (MAKE_MAP, datafusion::functions_nested::map::map_udf()),
        (ARROW_CAST, datafusion::functions::core::arrow_cast()),
        (SUBSCRIPT, Arc::new(ScalarUDF::new_from_impl(Subscript::new()))),
    ]
}

/// `array[i]` (1-based; negative counts from the end; out of range is NULL) and `map[key]`.
#[derive(Debug, PartialEq, Eq, Hash)]
struct Subscript {
    signature: Signature,
}

impl Subscript {
    fn new() -> Self {
        Subscript { signature: Signature::any(2, Volatility::Immutable) }
    }
}

impl ScalarUDFImpl for Subscript {
    fn name(&self) -> &str {
        SUBSCRIPT
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, args: &[DataType]) -> DfResult<DataType> {
        match &args[0] {
            DataType::List(f) | DataType::LargeList(f) => Ok(f.data_type().clone()),
            DataType::Map(entries, _) => match entries.data_type() {
                DataType::Struct(kv) if kv.len() == 2 => Ok(kv[1].data_type().clone()),
                other => plan_err!("unexpected map layout {other}"),
            },
            DataType::Null => Ok(DataType::Null),
            other => plan_err!("Cannot subscript a value of type {other}: only ARRAY and MAP can be indexed"),
        }
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> DfResult<ColumnarValue> {
        let rows = args.number_rows;
        let base = args.args[0].to_array(rows)?;
        let index = args.args[1].to_array(rows)?;
        let out = match base.data_type() {
            DataType::List(_) => list_subscript(&base, &index)?,
            DataType::Map(_, _) => map_subscript(&base, &index)?,
            DataType::Null => return Ok(ColumnarValue::Scalar(ScalarValue::Null)),
            other => return exec_err!("Cannot subscript a value of type {other}"),
        };
        Ok(ColumnarValue::Array(out))
    }
}

fn list_subscript(base: &ArrayRef, index: &ArrayRef) -> DfResult<ArrayRef> {
    let list = base.as_list::<i32>();
    let index = cast(index, &DataType::Int64)?;
    let index: &Int64Array = index.as_primitive();
    let mut take_idx = UInt32Builder::with_capacity(list.len());
    let offsets = list.value_offsets();
    for row in 0..list.len() {
        if list.is_null(row) || index.is_null(row) {
            take_idx.append_null();
            continue;
        }
        let start = offsets[row] as i64;
        let len = (offsets[row + 1] - offsets[row]) as i64;
        let i = index.value(row);
        let pos = if i > 0 { i - 1 } else { len + i };
        if i == 0 || pos < 0 || pos >= len {
            take_idx.append_null();
        } else {
            take_idx.append_value((start + pos) as u32);
        }
    }
    Ok(take(list.values().as_ref(), &take_idx.finish(), None)?)
}

fn map_subscript(base: &ArrayRef, index: &ArrayRef) -> DfResult<ArrayRef> {
    let map = base.as_map();
    let keys = cast(map.keys(), &DataType::Utf8)?;
    let keys = keys.as_string::<i32>();
    let wanted = cast(index, &DataType::Utf8)?;
    let wanted = wanted.as_string::<i32>();
    let offsets = map.value_offsets();
    let mut take_idx = UInt32Builder::with_capacity(map.len());
    for row in 0..map.len() {
        if map.is_null(row) || wanted.is_null(row) {
            take_idx.append_null();
            continue;
        }
        let target = wanted.value(row);
        // The last entry wins if a key repeats, as with a Java map built in order.
        let found = (offsets[row]..offsets[row + 1])
            .rev()
            .find(|&e| keys.is_valid(e as usize) && keys.value(e as usize) == target);
        match found {
            Some(e) => take_idx.append_value(e as u32),
            None => take_idx.append_null(),
        }
    }
    Ok(take(map.values().as_ref(), &take_idx.finish(), None)?)
}
