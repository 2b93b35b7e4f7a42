//! Generic machinery shared by every ksqlDB scalar function.
//!
//! A ksql function is described by a [`KsqlUdf`]: a name, a list of overloads (parameter
//! patterns plus a return-type rule) and one columnar `invoke` closure.  Overload resolution
//! follows ksqlDB: an exact match wins, otherwise the overload needing the cheapest implicit
//! widening (`INT -> BIGINT -> DECIMAL -> DOUBLE`, `NULL -> anything`) is chosen, and
//! DataFusion inserts the casts that [`ScalarUDFImpl::coerce_types`] asks for.
//!
//! The `invoke` closure always sees arrays (scalars are broadcast), already cast to the chosen
//! overload's types; when every argument was a scalar the one-row result is turned back into a
//! scalar.  The small `collect_*`/`get` helpers below are the building blocks of the
//! per-family files: iterate rows, read typed optional values, build one output column.

use std::borrow::Cow;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use arrow::array::{
    Array, ArrayAccessor, ArrayRef, AsArray, BinaryBuilder, BooleanBuilder, GenericListArray,
    ListBuilder, PrimitiveBuilder, StringBuilder,
};
use arrow::buffer::OffsetBuffer;
use arrow::datatypes::{ArrowPrimitiveType, DataType, Field, FieldRef};
use datafusion::common::{exec_err, plan_err, Result, ScalarValue};
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};

/// A parameter pattern of one overload.
#[derive(Clone, Debug, PartialEq)]
pub enum P {
    /// Exactly this Arrow type (after widening).
    T(DataType),
    /// Any DECIMAL(p, s).
    Decimal,
    /// Any ARRAY.
    List,
    /// Any MAP.
    Map,
    /// Any STRUCT.
    Struct,
    /// Anything at all.
    Any,
}

/// Return-type rule of one overload.
#[derive(Clone)]
pub enum R {
    /// A fixed type.
    T(DataType),
    /// The (coerced) type of argument `n`.
    Arg(usize),
    /// Computed from the coerced argument types.
    F(fn(&[DataType]) -> Result<DataType>),
}

/// One ksql overload: parameters (the last one repeats when `variadic`) and its return type.
#[derive(Clone)]
pub struct Overload {
    pub params: Vec<P>,
    pub variadic: bool,
    pub ret: R,
}

/// What `invoke` receives.
pub struct Call<'a> {
    /// Arguments as arrays of `rows` rows, cast to the resolved overload's types.
    pub args: &'a [ArrayRef],
    /// Number of rows to produce.
    pub rows: usize,
    /// The resolved return type.
    pub ret: &'a DataType,
}

type InvokeFn = dyn Fn(&Call) -> Result<ArrayRef> + Send + Sync;
type CoerceFn = dyn Fn(&[DataType]) -> Result<Vec<DataType>> + Send + Sync;

/// A ksqlDB scalar function implemented on Arrow arrays.
pub struct KsqlUdf {
    name: String,
    signature: Signature,
    overloads: Vec<Overload>,
    coerce: Option<Arc<CoerceFn>>,
    invoke: Arc<InvokeFn>,
}

impl fmt::Debug for KsqlUdf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KsqlUdf({})", self.name)
    }
}
impl PartialEq for KsqlUdf {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name
    }
}
impl Eq for KsqlUdf {}
impl Hash for KsqlUdf {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.name.hash(state)
    }
}

/// Builder for a [`KsqlUdf`].
pub struct UdfBuilder {
    name: &'static str,
    volatility: Volatility,
    overloads: Vec<Overload>,
    coerce: Option<Arc<CoerceFn>>,
}

/// A registered function: lower-case ksql name and the DataFusion UDF.
pub type Named = (&'static str, Arc<ScalarUDF>);

/// Start describing the ksql function `name` (lower case).
pub fn udf(name: &'static str) -> UdfBuilder {
    UdfBuilder {
        name,
        volatility: Volatility::Immutable,
        overloads: vec![],
        coerce: None,
    }
}

impl UdfBuilder {
    /// Adds an overload with a fixed parameter list.
    pub fn sig(mut self, params: impl Into<Vec<P>>, ret: R) -> Self {
        self.overloads.push(Overload {
            params: params.into(),
            variadic: false,
            ret,
        });
        self
    }
    /// Adds an overload whose last parameter repeats zero or more times.
    pub fn variadic(mut self, params: impl Into<Vec<P>>, ret: R) -> Self {
        self.overloads.push(Overload {
            params: params.into(),
            variadic: true,
            ret,
        });
        self
    }
    /// Marks the function volatile (RANDOM, UUID...).
    pub fn volatile(mut self) -> Self {
        self.volatility = Volatility::Volatile;
        self
    }
    /// Replaces overload-based coercion with a custom rule (generic functions like
    /// ARRAY_CONTAINS(ARRAY<T>, T)); the overloads then only compute the return type.
    pub fn coerce(
        mut self,
        f: impl Fn(&[DataType]) -> Result<Vec<DataType>> + Send + Sync + 'static,
    ) -> Self {
        self.coerce = Some(Arc::new(f));
        self
    }
    /// Finishes with the columnar implementation.
    pub fn invoke(self, f: impl Fn(&Call) -> Result<ArrayRef> + Send + Sync + 'static) -> Named {
        let nullary = self.overloads.iter().all(|o| o.params.is_empty());
        let signature = if nullary {
            Signature::nullary(self.volatility)
        } else {
            Signature::user_defined(self.volatility)
        };
        let name = self.name;
        let udf = KsqlUdf {
            name: name.to_string(),
            signature,
            overloads: self.overloads,
            coerce: self.coerce,
            invoke: Arc::new(f),
        };
        (name, Arc::new(ScalarUDF::new_from_impl(udf)))
    }
}

/// Cost of implicitly converting `from` to pattern `to`, with the resulting type.
fn widen(from: &DataType, to: &P) -> Option<(u32, DataType)> {
    use DataType::*;
    let from_norm = match from {
        LargeUtf8 | Utf8View => Utf8,
        LargeBinary | BinaryView => Binary,
        Int8 | Int16 | UInt8 | UInt16 => Int32,
        UInt32 => Int64,
        Float16 | Float32 => Float64,
        other => other.clone(),
    };
    let base = u32::from(&from_norm != from);
    let (c, t) = match (&from_norm, to) {
        (_, P::Any) => (0, from.clone()),
        (Null, P::T(t)) => (1, t.clone()),
        // Untyped NULLs become a concrete empty-ish type so the implementation sees its usual
        // array kind (and returns NULL for the row).
        (Null, P::List) => (1, list_of(Null)),
        (Null, P::Map) => (1, map_of(Utf8, Null)),
        (Null, P::Decimal) => (1, Decimal128(10, 0)),
        (Null, _) => (1, Null),
        (f, P::T(t)) if f == t => (0, t.clone()),
        (Decimal128(..), P::Decimal) => (0, from_norm.clone()),
        (List(_), P::List) | (Map(..), P::Map) | (Struct(_), P::Struct) => (0, from.clone()),
        (Int32, P::T(Int64)) => (1, Int64),
        (Int32, P::Decimal) => (2, Decimal128(10, 0)),
        (Int64, P::Decimal) => (2, Decimal128(19, 0)),
        (Int32 | Int64, P::T(Float64)) => (3, Float64),
        // Not a ksql widening: lets BIGINT-typed literals (DataFusion's default for integer
        // literals) reach INT parameters when no other overload fits; values are range-checked
        // by the cast.
        (Int64, P::T(Int32)) => (8, Int32),
        (Decimal128(..), P::T(Float64)) => (3, Float64),
        (Decimal128(..), P::T(Decimal128(..))) => (
            1,
            match to {
                P::T(t) => t.clone(),
                _ => return None,
            },
        ),
        _ => return None,
    };
    Some((c + base, t))
}

impl KsqlUdf {
    fn resolve(&self, args: &[DataType]) -> Result<(usize, Vec<DataType>)> {
        let mut best: Option<(u32, usize, Vec<DataType>)> = None;
        'overloads: for (idx, o) in self.overloads.iter().enumerate() {
            let n = o.params.len();
            let fits = if o.variadic {
                args.len() + 1 >= n
            } else {
                args.len() == n
            };
            if !fits {
                continue;
            }
            let mut cost = 0;
            let mut types = Vec::with_capacity(args.len());
            for (i, a) in args.iter().enumerate() {
                let p = &o.params[i.min(n - 1)];
                match widen(a, p) {
                    Some((c, t)) => {
                        cost += c;
                        types.push(t);
                    }
                    None => continue 'overloads,
                }
            }
            if best.as_ref().is_none_or(|b| cost < b.0) {
                best = Some((cost, idx, types));
            }
        }
        match best {
            Some((_, idx, types)) => Ok((idx, types)),
            None => plan_err!(
                "Function '{}' does not accept parameters ({})",
                self.name.to_uppercase(),
                args.iter()
                    .map(|t| t.to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        }
    }
}

impl ScalarUDFImpl for KsqlUdf {
    fn name(&self) -> &str {
        &self.name
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        match &self.coerce {
            Some(f) => f(arg_types),
            None => Ok(self.resolve(arg_types)?.1),
        }
    }
    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        let (idx, types) = match &self.coerce {
            Some(f) => (0, f(arg_types)?),
            None => self.resolve(arg_types)?,
        };
        let Some(o) = self.overloads.get(idx) else {
            return plan_err!("Function '{}' has no overloads", self.name);
        };
        match &o.ret {
            R::T(t) => Ok(t.clone()),
            R::Arg(i) => match types.get(*i) {
                Some(t) => Ok(t.clone()),
                None => plan_err!("Function '{}' is missing argument {i}", self.name),
            },
            R::F(f) => f(&types),
        }
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        // Guard the closures' argument indexing against callers that skipped coercion.
        let types: Vec<DataType> = args.args.iter().map(|a| a.data_type()).collect();
        match &self.coerce {
            Some(f) => f(&types).map(drop)?,
            None => self.resolve(&types).map(drop)?,
        }
        let all_scalar = !args.args.is_empty()
            && args
                .args
                .iter()
                .all(|a| matches!(a, ColumnarValue::Scalar(_)));
        let rows = if all_scalar { 1 } else { args.number_rows };
        let arrays = args
            .args
            .iter()
            .map(|a| a.to_array(rows))
            .collect::<Result<Vec<_>>>()?;
        let ret = args.return_field.data_type().clone();
        let out = (self.invoke)(&Call {
            args: &arrays,
            rows,
            ret: &ret,
        })?;
        if all_scalar {
            Ok(ColumnarValue::Scalar(ScalarValue::try_from_array(&out, 0)?))
        } else {
            Ok(ColumnarValue::Array(out))
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Shorthands for signatures.

pub const STR: P = P::T(DataType::Utf8);
pub const BYTES: P = P::T(DataType::Binary);
pub const INT: P = P::T(DataType::Int32);
pub const BIGINT: P = P::T(DataType::Int64);
pub const DOUBLE: P = P::T(DataType::Float64);
pub const BOOL: P = P::T(DataType::Boolean);
pub const DATE: P = P::T(DataType::Date32);
pub const TIME: P = P::T(DataType::Time32(arrow::datatypes::TimeUnit::Millisecond));
pub const TIMESTAMP: P = P::T(DataType::Timestamp(
    arrow::datatypes::TimeUnit::Millisecond,
    None,
));

/// `ARRAY<item>` as Arrow type.
pub fn list_of(item: DataType) -> DataType {
    DataType::List(Arc::new(Field::new("item", item, true)))
}

/// `MAP<key, value>` as Arrow type.
pub fn map_of(key: DataType, value: DataType) -> DataType {
    DataType::Map(
        Arc::new(Field::new(
            "entries",
            DataType::Struct(
                vec![
                    Field::new("key", key, false),
                    Field::new("value", value, true),
                ]
                .into(),
            ),
            false,
        )),
        false,
    )
}

/// Element type of a list type.
pub fn item_type(t: &DataType) -> Result<DataType> {
    match t {
        DataType::List(f) | DataType::LargeList(f) => Ok(f.data_type().clone()),
        DataType::Null => Ok(DataType::Null),
        other => plan_err!("expected ARRAY, got {other}"),
    }
}

/// Key and value fields of a map type.
pub fn map_kv(t: &DataType) -> Result<(FieldRef, FieldRef)> {
    if let DataType::Map(entries, _) = t {
        if let DataType::Struct(fields) = entries.data_type() {
            if fields.len() == 2 {
                return Ok((fields[0].clone(), fields[1].clone()));
            }
        }
    }
    plan_err!("expected MAP, got {t}")
}

// ---------------------------------------------------------------------------------------------
// Row access and output builders.

/// Value at row `i`, or `None` when null.
#[inline]
pub fn get<A: ArrayAccessor>(a: A, i: usize) -> Option<A::Item> {
    if a.is_valid(i) {
        Some(a.value(i))
    } else {
        None
    }
}

/// Builds a Utf8 column from a per-row closure.
pub fn collect_str<'a>(
    rows: usize,
    mut f: impl FnMut(usize) -> Result<Option<Cow<'a, str>>>,
) -> Result<ArrayRef> {
    let mut b = StringBuilder::with_capacity(rows, rows * 8);
    for i in 0..rows {
        match f(i)? {
            Some(s) => b.append_value(s),
            None => b.append_null(),
        }
    }
    Ok(Arc::new(b.finish()))
}

/// Builds a Utf8 column by letting the closure write each row into a reused buffer
/// (`Ok(false)` = null), avoiding a heap allocation per row.
pub fn collect_str_into(
    rows: usize,
    mut f: impl FnMut(usize, &mut String) -> Result<bool>,
) -> Result<ArrayRef> {
    let mut b = StringBuilder::with_capacity(rows, rows * 8);
    let mut buf = String::new();
    for i in 0..rows {
        buf.clear();
        if f(i, &mut buf)? {
            b.append_value(&buf);
        } else {
            b.append_null();
        }
    }
    Ok(Arc::new(b.finish()))
}

/// Builds a Binary column from a per-row closure.
pub fn collect_bin<'a>(
    rows: usize,
    mut f: impl FnMut(usize) -> Result<Option<Cow<'a, [u8]>>>,
) -> Result<ArrayRef> {
    let mut b = BinaryBuilder::with_capacity(rows, rows * 8);
    for i in 0..rows {
        match f(i)? {
            Some(s) => b.append_value(s),
            None => b.append_null(),
        }
    }
    Ok(Arc::new(b.finish()))
}

/// Builds a primitive column (of exactly `data_type`, e.g. a decimal precision) from a closure.
pub fn collect_prim<T: ArrowPrimitiveType>(
    rows: usize,
    data_type: &DataType,
    mut f: impl FnMut(usize) -> Result<Option<T::Native>>,
) -> Result<ArrayRef> {
    let mut b = PrimitiveBuilder::<T>::with_capacity(rows).with_data_type(data_type.clone());
    for i in 0..rows {
        b.append_option(f(i)?);
    }
    Ok(Arc::new(b.finish()))
}

/// Builds a Boolean column from a per-row closure.
pub fn collect_bool(
    rows: usize,
    mut f: impl FnMut(usize) -> Result<Option<bool>>,
) -> Result<ArrayRef> {
    let mut b = BooleanBuilder::with_capacity(rows);
    for i in 0..rows {
        b.append_option(f(i)?);
    }
    Ok(Arc::new(b.finish()))
}

/// Builds an `ARRAY<STRING>` column from a per-row closure yielding the elements.
pub fn collect_str_list<S: AsRef<str>>(
    rows: usize,
    mut f: impl FnMut(usize) -> Result<Option<Vec<Option<S>>>>,
) -> Result<ArrayRef> {
    let mut b = ListBuilder::new(StringBuilder::new());
    for i in 0..rows {
        match f(i)? {
            Some(items) => {
                for it in items {
                    b.values().append_option(it);
                }
                b.append(true);
            }
            None => b.append(false),
        }
    }
    Ok(Arc::new(b.finish()))
}

/// Builds an `ARRAY<BYTES>` column from a per-row closure yielding the elements.
pub fn collect_bin_list<S: AsRef<[u8]>>(
    rows: usize,
    mut f: impl FnMut(usize) -> Result<Option<Vec<Option<S>>>>,
) -> Result<ArrayRef> {
    let mut b = ListBuilder::new(BinaryBuilder::new());
    for i in 0..rows {
        match f(i)? {
            Some(items) => {
                for it in items {
                    b.values().append_option(it);
                }
                b.append(true);
            }
            None => b.append(false),
        }
    }
    Ok(Arc::new(b.finish()))
}

/// Builds a list column by selecting, per row, indices into `values` (`None` = null row).
/// This is how generic collection functions stay type-agnostic: they only pick elements.
pub fn select_list(
    item: FieldRef,
    values: &ArrayRef,
    per_row: impl IntoIterator<Item = Option<Vec<u32>>>,
) -> Result<ArrayRef> {
    let mut offsets = vec![0i32];
    let mut indices: Vec<u32> = vec![];
    let mut valid = vec![];
    for r in per_row {
        match r {
            Some(ix) => {
                indices.extend(ix);
                valid.push(true);
            }
            None => valid.push(false),
        }
        offsets.push(i32::try_from(indices.len()).unwrap_or(i32::MAX));
    }
    let taken = arrow::compute::take(
        values.as_ref(),
        &arrow::array::UInt32Array::from(indices),
        None,
    )?;
    let item = Arc::new(Field::new(item.name(), taken.data_type().clone(), true));
    Ok(Arc::new(GenericListArray::<i32>::try_new(
        item,
        OffsetBuffer::new(offsets.into()),
        taken,
        Some(valid.into()),
    )?))
}

/// Downcast helpers with a clean error instead of a panic.
pub fn str_arg(a: &ArrayRef) -> Result<&arrow::array::StringArray> {
    match a.as_string_opt::<i32>() {
        Some(s) => Ok(s),
        None => exec_err!("expected STRING argument, got {}", a.data_type()),
    }
}
pub fn bin_arg(a: &ArrayRef) -> Result<&arrow::array::BinaryArray> {
    match a.as_binary_opt::<i32>() {
        Some(s) => Ok(s),
        None => exec_err!("expected BYTES argument, got {}", a.data_type()),
    }
}
pub fn prim_arg<T: ArrowPrimitiveType>(a: &ArrayRef) -> Result<&arrow::array::PrimitiveArray<T>> {
    match a.as_primitive_opt::<T>() {
        Some(s) => Ok(s),
        None => exec_err!("unexpected argument type {}", a.data_type()),
    }
}
pub fn list_arg(a: &ArrayRef) -> Result<&arrow::array::ListArray> {
    match a.as_list_opt::<i32>() {
        Some(s) => Ok(s),
        None => exec_err!("expected ARRAY argument, got {}", a.data_type()),
    }
}
pub fn map_arg(a: &ArrayRef) -> Result<&arrow::array::MapArray> {
    match a.as_map_opt() {
        Some(s) => Ok(s),
        None => exec_err!("expected MAP argument, got {}", a.data_type()),
    }
}

/// Casts `a` to `t` (used when an argument is `NULL`-typed or needs a representation change).
pub fn cast_to(a: &ArrayRef, t: &DataType) -> Result<ArrayRef> {
    if a.data_type() == t {
        Ok(Arc::clone(a))
    } else {
        Ok(arrow::compute::cast(a, t)?)
    }
}

/// Common supertype of numeric/other types under ksql widening (for GREATEST, COALESCE...).
pub fn common_type(types: &[DataType]) -> Result<DataType> {
    use DataType::*;
    let mut acc = Null;
    for t in types {
        let t = match t {
            LargeUtf8 | Utf8View => Utf8,
            Int8 | Int16 | UInt8 | UInt16 => Int32,
            Float32 => Float64,
            o => o.clone(),
        };
        acc = match (&acc, &t) {
            (Null, t) => t.clone(),
            (a, Null) => a.clone(),
            (a, b) if a == b => a.clone(),
            (Int32, Int64) | (Int64, Int32) => Int64,
            (Float64, Int32 | Int64 | Decimal128(..))
            | (Int32 | Int64 | Decimal128(..), Float64) => Float64,
            (Decimal128(p, s), Int32 | Int64) | (Int32 | Int64, Decimal128(p, s)) => {
                let ip = if matches!(t, Int32) || matches!(acc, Int32) {
                    10
                } else {
                    19
                };
                let int_digits = (*p as i8 - *s).max(ip);
                Decimal128((int_digits + *s).min(38) as u8, *s)
            }
            (Decimal128(p1, s1), Decimal128(p2, s2)) => {
                let s = (*s1).max(*s2);
                let ip = (*p1 as i8 - *s1).max(*p2 as i8 - *s2);
                Decimal128((ip + s).min(38) as u8, s)
            }
            (a, b) => return plan_err!("incompatible types {a} and {b}"),
        };
    }
    Ok(acc)
}

/// Row-encodes arrays of one type so elements of any type (nested included) can be compared
/// for equality and ordering as byte strings.  Types the row format cannot encode (maps) are
/// compared through their JSON text instead.
pub fn row_encode(arrays: &[&ArrayRef]) -> Result<Vec<arrow::row::Rows>> {
    let Some(first) = arrays.first() else {
        return Ok(vec![]);
    };
    let field = arrow::row::SortField::new(first.data_type().clone());
    if arrow::row::RowConverter::supports_fields(std::slice::from_ref(&field)) {
        let conv = arrow::row::RowConverter::new(vec![field])?;
        return arrays
            .iter()
            .map(|a| Ok(conv.convert_columns(&[Arc::clone(a)])?))
            .collect();
    }
    let conv = arrow::row::RowConverter::new(vec![arrow::row::SortField::new(DataType::Utf8)])?;
    arrays
        .iter()
        .map(|a| {
            let text: ArrayRef = Arc::new(
                (0..a.len())
                    .map(|i| a.is_valid(i).then(|| super::json::to_json_text(a, i)))
                    .collect::<arrow::array::StringArray>(),
            );
            Ok(conv.convert_columns(&[text])?)
        })
        .collect()
}
