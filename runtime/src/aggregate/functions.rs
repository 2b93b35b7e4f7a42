//! ksqlDB's aggregate functions as accumulators with ksqlDB's semantics: nulls are skipped
//! unless the function keeps them (COLLECT_LIST), tables retract values with `undo`, session
//! windows combine states with `merge`, and every state round-trips through `state`/`restore`
//! for the changelog.

use std::collections::VecDeque;
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, MapBuilder, StringBuilder, Int64Builder};
use arrow::datatypes::{DataType, Field, Float64Type, Int32Type, Int64Type, Decimal128Type};
use datafusion::common::ScalarValue;
use runnel_planner::nodes::AggregateCall;

use crate::error::{RuntimeError, RuntimeResult};

/// ksqlDB's default cap on COLLECT_LIST / COLLECT_SET sizes and HISTOGRAM entries.
pub const DEFAULT_COLLECTION_LIMIT: usize = 1000;

/// One aggregate's running state for one group (and window).
pub trait Accumulator: Send + Sync {
    /// Adds input row `row` (`args` are the call's argument columns).
    fn add(&mut self, args: &[ArrayRef], row: usize) -> RuntimeResult<()>;
    /// Retracts a row added earlier (table aggregations).
    fn undo(&mut self, args: &[ArrayRef], row: usize) -> RuntimeResult<()>;
    /// Folds in the state of another accumulator of the same call (session merges).
    fn merge(&mut self, other: &[ScalarValue]) -> RuntimeResult<()>;
    /// The current result.
    fn value(&self) -> ScalarValue;
    /// The state as values of [`AccumulatorFactory::state_types`].
    fn state(&self) -> Vec<ScalarValue>;
    /// Replaces the state with one produced by [`Accumulator::state`].
    fn restore(&mut self, state: &[ScalarValue]) -> RuntimeResult<()>;
}

fn scalar(args: &[ArrayRef], row: usize) -> RuntimeResult<ScalarValue> {
    let a = args.first().ok_or_else(|| RuntimeError::Internal("aggregate without an argument".into()))?;
    Ok(ScalarValue::try_from_array(a, row)?)
}

fn typed_null(t: &DataType) -> ScalarValue {
    ScalarValue::try_from(t).unwrap_or(ScalarValue::Null)
}

fn list_value(values: impl IntoIterator<Item = ScalarValue>, item: &DataType) -> ScalarValue {
    let values: Vec<ScalarValue> = values.into_iter().collect();
    ScalarValue::List(ScalarValue::new_list_nullable(&values, item))
}

fn list_items(v: &ScalarValue) -> RuntimeResult<Vec<ScalarValue>> {
    match v {
        ScalarValue::List(l) if l.is_null(0) => Ok(Vec::new()),
        ScalarValue::List(l) => {
            let values = l.value(0);
            (0..values.len()).map(|i| Ok(ScalarValue::try_from_array(&values, i)?)).collect()
        }
        ScalarValue::Null => Ok(Vec::new()),
        other => Err(RuntimeError::Internal(format!("expected a list state, got {other:?}"))),
    }
}

fn as_i64(v: &ScalarValue) -> i64 {
    match v {
        ScalarValue::Int64(Some(x)) => *x,
        ScalarValue::Int32(Some(x)) => *x as i64,
        _ => 0,
    }
}

fn as_f64(v: &ScalarValue) -> f64 {
    match v {
        ScalarValue::Float64(Some(x)) => *x,
        ScalarValue::Int64(Some(x)) => *x as f64,
        _ => 0.0,
    }
}

/// A numeric argument as f64 (None for NULL).
fn number(array: &ArrayRef, row: usize) -> Option<f64> {
    if array.is_null(row) {
        return None;
    }
    match array.data_type() {
        DataType::Int32 => Some(array.as_primitive::<Int32Type>().value(row) as f64),
        DataType::Int64 => Some(array.as_primitive::<Int64Type>().value(row) as f64),
        DataType::Float64 => Some(array.as_primitive::<Float64Type>().value(row)),
        DataType::Decimal128(_, s) => Some(array.as_primitive::<Decimal128Type>().value(row) as f64 / 10f64.powi(*s as i32)),
        _ => None,
    }
}

/// Builds accumulators for one aggregate call.
#[derive(Debug, Clone)]
pub struct AccumulatorFactory {
    call: AggregateCall,
    /// Type of the first argument (the value aggregated), if any.
    input: Option<DataType>,
    collection_limit: usize,
}

impl AccumulatorFactory {
    pub fn new(call: AggregateCall, input_types: &[DataType], collection_limit: usize) -> RuntimeResult<Self> {
        let input = call.args.first().and_then(|&a| input_types.get(a).cloned());
        let factory = AccumulatorFactory { call, input, collection_limit };
        factory.create()?;
        Ok(factory)
    }

    pub fn call(&self) -> &AggregateCall {
        &self.call
    }

    fn literal_usize(&self, i: usize) -> Option<usize> {
        match self.call.literals.get(i)? {
            ScalarValue::Int32(Some(v)) => Some((*v).max(0) as usize),
            ScalarValue::Int64(Some(v)) => Some((*v).max(0) as usize),
            _ => None,
        }
    }

    fn literal_bool(&self, i: usize) -> Option<bool> {
        match self.call.literals.get(i)? {
            ScalarValue::Boolean(Some(b)) => Some(*b),
            _ => None,
        }
    }

    fn input_type(&self) -> DataType {
        self.input.clone().unwrap_or(DataType::Null)
    }

    /// The types of [`Accumulator::state`]'s values (ksql types, so the JSON codec can hold them).
    pub fn state_types(&self) -> Vec<DataType> {
        let t = self.input_type();
        let list = |t: &DataType| DataType::List(Arc::new(Field::new("item", t.clone(), true)));
        match self.call.function.as_str() {
            "COUNT" => vec![DataType::Int64],
            "SUM" | "SUM_LIST" | "TOPK" | "TOPKDISTINCT" => vec![self.call.return_type.clone()],
            "AVG" => vec![DataType::Float64, DataType::Int64, DataType::Int64],
            "MIN" | "MAX" => vec![t],
            "STDDEV_SAMP" | "STDDEV_SAMPLE" | "STDDEV_POP" => vec![DataType::Int64, DataType::Float64, DataType::Float64],
            "CORRELATION" => vec![DataType::Int64, DataType::Float64, DataType::Float64, DataType::Float64, DataType::Float64, DataType::Float64],
            "HISTOGRAM" => vec![list(&DataType::Utf8), list(&DataType::Int64)],
            "ATTR" => vec![list(&t), list(&DataType::Int64)],
            "LATEST_BY_OFFSET" | "EARLIEST_BY_OFFSET" => vec![list(&t), DataType::Int64],
            _ => vec![list(&t)],
        }
    }

    pub fn create(&self) -> RuntimeResult<Box<dyn Accumulator>> {
        let t = self.input_type();
        let f = self.call.function.as_str();
        Ok(match f {
            "COUNT" => Box::new(Count { star: self.call.args.is_empty(), n: 0 }),
            "SUM" | "SUM_LIST" => Box::new(Sum { result: self.call.return_type.clone(), int: 0, float: 0.0, lists: f == "SUM_LIST" }),
            "AVG" => Box::new(Avg { float: 0.0, int: 0, count: 0, integral: !matches!(t, DataType::Float64 | DataType::Decimal128(..)) }),
            "MIN" | "MAX" => Box::new(MinMax { max: f == "MAX", best: None, data_type: t }),
            "LATEST_BY_OFFSET" | "EARLIEST_BY_OFFSET" => Box::new(ByOffset {
                latest: f == "LATEST_BY_OFFSET",
                n: self.literal_usize(0),
                ignore_nulls: self.literal_bool(1).or_else(|| self.literal_bool(0)).unwrap_or(true),
                values: VecDeque::new(),
                seen: 0,
                data_type: t,
            }),
            "COLLECT_LIST" | "COLLECT_SET" => Box::new(Collect {
                distinct: f == "COLLECT_SET",
                limit: self.collection_limit,
                values: Vec::new(),
                data_type: t,
            }),
            "TOPK" | "TOPKDISTINCT" => {
                let k = self.literal_usize(0).ok_or_else(|| RuntimeError::Execution(format!("{f} needs a literal k")))?;
                let item = match &self.call.return_type {
                    DataType::List(item) => item.data_type().clone(),
                    _ => t,
                };
                Box::new(TopK { distinct: f == "TOPKDISTINCT", k, values: Vec::new(), item })
            }
            "HISTOGRAM" => Box::new(Histogram { limit: self.collection_limit, entries: Vec::new() }),
            "COUNT_DISTINCT" => Box::new(CountDistinct { values: Vec::new(), data_type: t }),
            "STDDEV_SAMP" | "STDDEV_SAMPLE" | "STDDEV_POP" => {
                Box::new(StdDev { sample: f != "STDDEV_POP", count: 0, mean: 0.0, m2: 0.0 })
            }
            "CORRELATION" => Box::new(Correlation { n: 0, sx: 0.0, sy: 0.0, sxx: 0.0, syy: 0.0, sxy: 0.0 }),
            "ATTR" => Box::new(Attr { entries: Vec::new(), data_type: t }),
            other => return Err(RuntimeError::Execution(format!("Aggregate function {other} is not supported by the runtime"))),
        })
    }
}

struct Count {
    star: bool,
    n: i64,
}

impl Accumulator for Count {
    fn add(&mut self, args: &[ArrayRef], row: usize) -> RuntimeResult<()> {
        if self.star || args.first().is_some_and(|a| a.is_valid(row)) {
            self.n += 1;
        }
        Ok(())
    }
    fn undo(&mut self, args: &[ArrayRef], row: usize) -> RuntimeResult<()> {
        if self.star || args.first().is_some_and(|a| a.is_valid(row)) {
            self.n -= 1;
        }
        Ok(())
    }
    fn merge(&mut self, other: &[ScalarValue]) -> RuntimeResult<()> {
        self.n += other.first().map_or(0, as_i64);
        Ok(())
    }
    fn value(&self) -> ScalarValue {
        ScalarValue::Int64(Some(self.n))
    }
    fn state(&self) -> Vec<ScalarValue> {
        vec![self.value()]
    }
    fn restore(&mut self, state: &[ScalarValue]) -> RuntimeResult<()> {
        self.n = state.first().map_or(0, as_i64);
        Ok(())
    }
}

/// SUM keeps the input's type (INT sums wrap like Java ints); NULLs count as nothing.
/// SUM_LIST (`lists`) sums the elements of each list.
struct Sum {
    result: DataType,
    int: i128,
    float: f64,
    lists: bool,
}

impl Sum {
    fn apply_row(&mut self, args: &[ArrayRef], row: usize, sign: i128) {
        if !self.lists {
            return self.apply(args, row, sign);
        }
        let Some(lists) = args.first().and_then(|a| a.as_list_opt::<i32>()) else { return };
        if lists.is_null(row) {
            return;
        }
        let items = lists.value(row);
        for i in 0..items.len() {
            self.apply(std::slice::from_ref(&items), i, sign);
        }
    }

    fn apply(&mut self, args: &[ArrayRef], row: usize, sign: i128) {
        let Some(a) = args.first() else { return };
        if a.is_null(row) {
            return;
        }
        match a.data_type() {
            DataType::Int32 => self.int += sign * a.as_primitive::<Int32Type>().value(row) as i128,
            DataType::Int64 => self.int += sign * a.as_primitive::<Int64Type>().value(row) as i128,
            DataType::Decimal128(..) => self.int += sign * a.as_primitive::<Decimal128Type>().value(row),
            DataType::Float64 => self.float += sign as f64 * a.as_primitive::<Float64Type>().value(row),
            _ => {}
        }
    }
}

impl Accumulator for Sum {
    fn add(&mut self, args: &[ArrayRef], row: usize) -> RuntimeResult<()> {
        self.apply_row(args, row, 1);
        Ok(())
    }
    fn undo(&mut self, args: &[ArrayRef], row: usize) -> RuntimeResult<()> {
        self.apply_row(args, row, -1);
        Ok(())
    }
    fn merge(&mut self, other: &[ScalarValue]) -> RuntimeResult<()> {
        match other.first() {
            Some(ScalarValue::Int32(Some(v))) => self.int += *v as i128,
            Some(ScalarValue::Int64(Some(v))) => self.int += *v as i128,
            Some(ScalarValue::Decimal128(Some(v), ..)) => self.int += *v,
            Some(ScalarValue::Float64(Some(v))) => self.float += *v,
            _ => {}
        }
        Ok(())
    }
    fn value(&self) -> ScalarValue {
        match &self.result {
            DataType::Int32 => ScalarValue::Int32(Some(self.int as i32)),
            DataType::Int64 => ScalarValue::Int64(Some(self.int as i64)),
            DataType::Decimal128(p, s) => ScalarValue::Decimal128(Some(self.int), *p, *s),
            _ => ScalarValue::Float64(Some(self.float)),
        }
    }
    fn state(&self) -> Vec<ScalarValue> {
        vec![self.value()]
    }
    fn restore(&mut self, state: &[ScalarValue]) -> RuntimeResult<()> {
        self.int = 0;
        self.float = 0.0;
        self.merge(state)
    }
}

/// AVG: integral inputs sum exactly; the result is a DOUBLE (0 when nothing was added).
struct Avg {
    float: f64,
    int: i128,
    count: i64,
    integral: bool,
}

impl Avg {
    fn apply(&mut self, args: &[ArrayRef], row: usize, sign: i64) {
        let Some(a) = args.first() else { return };
        if a.is_null(row) {
            return;
        }
        match a.data_type() {
            DataType::Int32 => self.int += (sign * a.as_primitive::<Int32Type>().value(row) as i64) as i128,
            DataType::Int64 => self.int += sign as i128 * a.as_primitive::<Int64Type>().value(row) as i128,
            _ => self.float += sign as f64 * number(a, row).unwrap_or(0.0),
        }
        self.count += sign;
    }
}

impl Accumulator for Avg {
    fn add(&mut self, args: &[ArrayRef], row: usize) -> RuntimeResult<()> {
        self.apply(args, row, 1);
        Ok(())
    }
    fn undo(&mut self, args: &[ArrayRef], row: usize) -> RuntimeResult<()> {
        self.apply(args, row, -1);
        Ok(())
    }
    fn merge(&mut self, other: &[ScalarValue]) -> RuntimeResult<()> {
        self.float += other.first().map_or(0.0, as_f64);
        self.int += other.get(1).map_or(0, as_i64) as i128;
        self.count += other.get(2).map_or(0, as_i64);
        Ok(())
    }
    fn value(&self) -> ScalarValue {
        if self.count == 0 {
            return ScalarValue::Float64(Some(0.0));
        }
        let sum = if self.integral { self.int as f64 } else { self.float };
        ScalarValue::Float64(Some(sum / self.count as f64))
    }
    fn state(&self) -> Vec<ScalarValue> {
        vec![ScalarValue::Float64(Some(self.float)), ScalarValue::Int64(Some(self.int as i64)), ScalarValue::Int64(Some(self.count))]
    }
    fn restore(&mut self, state: &[ScalarValue]) -> RuntimeResult<()> {
        (self.float, self.int, self.count) = (0.0, 0, 0);
        self.merge(state)
    }
}

struct MinMax {
    max: bool,
    best: Option<ScalarValue>,
    data_type: DataType,
}

impl MinMax {
    fn offer(&mut self, v: ScalarValue) {
        if v.is_null() {
            return;
        }
        let better = match &self.best {
            None => true,
            Some(b) => match v.partial_cmp(b) {
                Some(std::cmp::Ordering::Greater) => self.max,
                Some(std::cmp::Ordering::Less) => !self.max,
                _ => false,
            },
        };
        if better {
            self.best = Some(v);
        }
    }
}

impl Accumulator for MinMax {
    fn add(&mut self, args: &[ArrayRef], row: usize) -> RuntimeResult<()> {
        let v = scalar(args, row)?;
        self.offer(v);
        Ok(())
    }
    fn undo(&mut self, _args: &[ArrayRef], _row: usize) -> RuntimeResult<()> {
        Err(RuntimeError::Execution("MIN/MAX cannot retract values".into()))
    }
    fn merge(&mut self, other: &[ScalarValue]) -> RuntimeResult<()> {
        if let Some(v) = other.first() {
            self.offer(v.clone());
        }
        Ok(())
    }
    fn value(&self) -> ScalarValue {
        self.best.clone().unwrap_or_else(|| typed_null(&self.data_type))
    }
    fn state(&self) -> Vec<ScalarValue> {
        vec![self.value()]
    }
    fn restore(&mut self, state: &[ScalarValue]) -> RuntimeResult<()> {
        self.best = state.first().filter(|v| !v.is_null()).cloned();
        Ok(())
    }
}

/// LATEST_BY_OFFSET / EARLIEST_BY_OFFSET, optionally the latest/earliest `n` values.
struct ByOffset {
    latest: bool,
    n: Option<usize>,
    ignore_nulls: bool,
    values: VecDeque<ScalarValue>,
    /// Values offered so far (kept in the state so merges know which side is older).
    seen: i64,
    data_type: DataType,
}

impl ByOffset {
    fn capacity(&self) -> usize {
        self.n.unwrap_or(1)
    }
    fn offer(&mut self, v: ScalarValue) {
        if v.is_null() && self.ignore_nulls {
            return;
        }
        self.seen += 1;
        if self.latest {
            self.values.push_back(v);
            while self.values.len() > self.capacity() {
                self.values.pop_front();
            }
        } else if self.values.len() < self.capacity() {
            self.values.push_back(v);
        }
    }
}

impl Accumulator for ByOffset {
    fn add(&mut self, args: &[ArrayRef], row: usize) -> RuntimeResult<()> {
        let v = scalar(args, row)?;
        self.offer(v);
        Ok(())
    }
    fn undo(&mut self, _args: &[ArrayRef], _row: usize) -> RuntimeResult<()> {
        Err(RuntimeError::Execution("LATEST_BY_OFFSET/EARLIEST_BY_OFFSET cannot retract values".into()))
    }
    fn merge(&mut self, other: &[ScalarValue]) -> RuntimeResult<()> {
        // Sessions merge in time order: `other` is an earlier session than the values here
        // only when this accumulator is fresh, which is how the session operator calls it.
        for v in other.first().map(list_items).transpose()?.unwrap_or_default() {
            self.offer(v);
        }
        Ok(())
    }
    fn value(&self) -> ScalarValue {
        match self.n {
            Some(_) => list_value(self.values.iter().cloned(), &self.data_type),
            None => self.values.back().cloned().unwrap_or_else(|| typed_null(&self.data_type)),
        }
    }
    fn state(&self) -> Vec<ScalarValue> {
        vec![list_value(self.values.iter().cloned(), &self.data_type), ScalarValue::Int64(Some(self.seen))]
    }
    fn restore(&mut self, state: &[ScalarValue]) -> RuntimeResult<()> {
        self.values = state.first().map(list_items).transpose()?.unwrap_or_default().into();
        self.seen = state.get(1).map_or(0, as_i64);
        Ok(())
    }
}

/// COLLECT_LIST (keeps NULLs and duplicates) and COLLECT_SET, both capped at `limit`.
struct Collect {
    distinct: bool,
    limit: usize,
    values: Vec<ScalarValue>,
    data_type: DataType,
}

impl Collect {
    fn offer(&mut self, v: ScalarValue) {
        if self.distinct && self.values.contains(&v) {
            return;
        }
        if self.values.len() < self.limit {
            self.values.push(v);
        }
    }
}

impl Accumulator for Collect {
    fn add(&mut self, args: &[ArrayRef], row: usize) -> RuntimeResult<()> {
        let v = scalar(args, row)?;
        self.offer(v);
        Ok(())
    }
    fn undo(&mut self, args: &[ArrayRef], row: usize) -> RuntimeResult<()> {
        let v = scalar(args, row)?;
        if let Some(i) = self.values.iter().rposition(|x| *x == v) {
            self.values.remove(i);
        }
        Ok(())
    }
    fn merge(&mut self, other: &[ScalarValue]) -> RuntimeResult<()> {
        for v in other.first().map(list_items).transpose()?.unwrap_or_default() {
            self.offer(v);
        }
        Ok(())
    }
    fn value(&self) -> ScalarValue {
        list_value(self.values.iter().cloned(), &self.data_type)
    }
    fn state(&self) -> Vec<ScalarValue> {
        vec![self.value()]
    }
    fn restore(&mut self, state: &[ScalarValue]) -> RuntimeResult<()> {
        self.values = state.first().map(list_items).transpose()?.unwrap_or_default();
        Ok(())
    }
}

/// TOPK / TOPKDISTINCT: the `k` largest non-null values, largest first (ties in arrival
/// order). With other columns, the rows with the `k` largest values, as structs
/// (`sort_col`, `col0`, ...).
struct TopK {
    distinct: bool,
    k: usize,
    /// Sort value and the other columns' values.
    values: Vec<(ScalarValue, Vec<ScalarValue>)>,
    /// The result's item type: the sort column's, or the struct.
    item: DataType,
}

impl TopK {
    fn offer(&mut self, v: ScalarValue, others: Vec<ScalarValue>) {
        if v.is_null() || (self.distinct && self.values.iter().any(|(x, _)| *x == v)) {
            return;
        }
        let at = self.values.iter().position(|(x, _)| v.partial_cmp(x) == Some(std::cmp::Ordering::Greater)).unwrap_or(self.values.len());
        self.values.insert(at, (v, others));
        self.values.truncate(self.k);
    }

    /// One result item: the value, or the struct of the value and the other columns.
    fn item(&self, value: &ScalarValue, others: &[ScalarValue]) -> RuntimeResult<ScalarValue> {
        let DataType::Struct(fields) = &self.item else { return Ok(value.clone()) };
        let columns = std::iter::once(value).chain(others).map(|v| v.to_array()).collect::<Result<Vec<_>, _>>()?;
        let array = arrow::array::StructArray::try_new(fields.clone(), columns, None)?;
        Ok(ScalarValue::Struct(Arc::new(array)))
    }

    /// Splits a result item back into the value and the other columns.
    fn split(&self, item: ScalarValue) -> RuntimeResult<(ScalarValue, Vec<ScalarValue>)> {
        match item {
            ScalarValue::Struct(s) if matches!(self.item, DataType::Struct(_)) => {
                let mut parts = (0..s.num_columns()).map(|c| ScalarValue::try_from_array(s.column(c), 0)).collect::<Result<Vec<_>, _>>()?;
                if parts.is_empty() {
                    return Err(RuntimeError::Internal("TOPK state without a sort column".into()));
                }
                let value = parts.remove(0);
                Ok((value, parts))
            }
            value => Ok((value, Vec::new())),
        }
    }
}

impl Accumulator for TopK {
    fn add(&mut self, args: &[ArrayRef], row: usize) -> RuntimeResult<()> {
        let v = scalar(args, row)?;
        let others = args[1..].iter().map(|a| ScalarValue::try_from_array(a, row)).collect::<Result<Vec<_>, _>>()?;
        self.offer(v, others);
        Ok(())
    }
    fn undo(&mut self, _args: &[ArrayRef], _row: usize) -> RuntimeResult<()> {
        Err(RuntimeError::Execution("TOPK cannot retract values".into()))
    }
    fn merge(&mut self, other: &[ScalarValue]) -> RuntimeResult<()> {
        for item in other.first().map(list_items).transpose()?.unwrap_or_default() {
            let (v, others) = self.split(item)?;
            self.offer(v, others);
        }
        Ok(())
    }
    fn value(&self) -> ScalarValue {
        let items: RuntimeResult<Vec<ScalarValue>> = self.values.iter().map(|(v, others)| self.item(v, others)).collect();
        match items {
            Ok(items) => list_value(items, &self.item),
            Err(_) => typed_null(&DataType::List(Arc::new(Field::new("item", self.item.clone(), true)))),
        }
    }
    fn state(&self) -> Vec<ScalarValue> {
        vec![self.value()]
    }
    fn restore(&mut self, state: &[ScalarValue]) -> RuntimeResult<()> {
        let items = state.first().map(list_items).transpose()?.unwrap_or_default();
        self.values = items.into_iter().map(|item| self.split(item)).collect::<RuntimeResult<_>>()?;
        Ok(())
    }
}

/// HISTOGRAM: count per distinct non-null string, in first-seen order; entries at 0 vanish.
struct Histogram {
    limit: usize,
    entries: Vec<(String, i64)>,
}

impl Histogram {
    fn bump(&mut self, key: &str, by: i64) {
        match self.entries.iter_mut().position(|(k, _)| k == key) {
            Some(i) => {
                self.entries[i].1 += by;
                if self.entries[i].1 <= 0 {
                    self.entries.remove(i);
                }
            }
            None if by > 0 && self.entries.len() < self.limit => self.entries.push((key.to_string(), by)),
            None => {}
        }
    }
}

impl Accumulator for Histogram {
    fn add(&mut self, args: &[ArrayRef], row: usize) -> RuntimeResult<()> {
        if let ScalarValue::Utf8(Some(s)) = scalar(args, row)? {
            self.bump(&s, 1);
        }
        Ok(())
    }
    fn undo(&mut self, args: &[ArrayRef], row: usize) -> RuntimeResult<()> {
        if let ScalarValue::Utf8(Some(s)) = scalar(args, row)? {
            self.bump(&s, -1);
        }
        Ok(())
    }
    fn merge(&mut self, other: &[ScalarValue]) -> RuntimeResult<()> {
        let keys = other.first().map(list_items).transpose()?.unwrap_or_default();
        let counts = other.get(1).map(list_items).transpose()?.unwrap_or_default();
        for (k, c) in keys.iter().zip(&counts) {
            if let ScalarValue::Utf8(Some(k)) = k {
                self.bump(k, as_i64(c));
            }
        }
        Ok(())
    }
    fn value(&self) -> ScalarValue {
        let mut b = MapBuilder::new(None, StringBuilder::new(), Int64Builder::new());
        for (k, c) in &self.entries {
            b.keys().append_value(k);
            b.values().append_value(*c);
        }
        match b.append(true) {
            Ok(()) => ScalarValue::Map(Arc::new(b.finish())),
            Err(_) => ScalarValue::Null,
        }
    }
    fn state(&self) -> Vec<ScalarValue> {
        vec![
            list_value(self.entries.iter().map(|(k, _)| ScalarValue::Utf8(Some(k.clone()))), &DataType::Utf8),
            list_value(self.entries.iter().map(|(_, c)| ScalarValue::Int64(Some(*c))), &DataType::Int64),
        ]
    }
    fn restore(&mut self, state: &[ScalarValue]) -> RuntimeResult<()> {
        self.entries.clear();
        self.merge(state)
    }
}

/// COUNT_DISTINCT (exact; ksqlDB estimates with HyperLogLog, which is exact at small sizes).
struct CountDistinct {
    values: Vec<ScalarValue>,
    data_type: DataType,
}

impl Accumulator for CountDistinct {
    fn add(&mut self, args: &[ArrayRef], row: usize) -> RuntimeResult<()> {
        let v = scalar(args, row)?;
        if !v.is_null() && !self.values.contains(&v) {
            self.values.push(v);
        }
        Ok(())
    }
    fn undo(&mut self, _args: &[ArrayRef], _row: usize) -> RuntimeResult<()> {
        Err(RuntimeError::Execution("COUNT_DISTINCT cannot retract values".into()))
    }
    fn merge(&mut self, other: &[ScalarValue]) -> RuntimeResult<()> {
        for v in other.first().map(list_items).transpose()?.unwrap_or_default() {
            if !self.values.contains(&v) {
                self.values.push(v);
            }
        }
        Ok(())
    }
    fn value(&self) -> ScalarValue {
        ScalarValue::Int64(Some(self.values.len() as i64))
    }
    fn state(&self) -> Vec<ScalarValue> {
        vec![list_value(self.values.iter().cloned(), &self.data_type)]
    }
    fn restore(&mut self, state: &[ScalarValue]) -> RuntimeResult<()> {
        self.values = state.first().map(list_items).transpose()?.unwrap_or_default();
        Ok(())
    }
}

/// STDDEV_SAMP / STDDEV_POP over (count, mean, M2) (Welford, with retraction).
struct StdDev {
    sample: bool,
    count: i64,
    mean: f64,
    m2: f64,
}

impl Accumulator for StdDev {
    fn add(&mut self, args: &[ArrayRef], row: usize) -> RuntimeResult<()> {
        if let Some(x) = args.first().and_then(|a| number(a, row)) {
            self.count += 1;
            let delta = x - self.mean;
            self.mean += delta / self.count as f64;
            self.m2 += delta * (x - self.mean);
        }
        Ok(())
    }
    fn undo(&mut self, args: &[ArrayRef], row: usize) -> RuntimeResult<()> {
        if let Some(x) = args.first().and_then(|a| number(a, row)) {
            if self.count <= 1 {
                (self.count, self.mean, self.m2) = (0, 0.0, 0.0);
                return Ok(());
            }
            let old_mean = (self.mean * self.count as f64 - x) / (self.count - 1) as f64;
            self.m2 -= (x - self.mean) * (x - old_mean);
            self.mean = old_mean;
            self.count -= 1;
        }
        Ok(())
    }
    fn merge(&mut self, other: &[ScalarValue]) -> RuntimeResult<()> {
        let n2 = other.first().map_or(0, as_i64);
        if n2 == 0 {
            return Ok(());
        }
        let (mean2, m22) = (other.get(1).map_or(0.0, as_f64), other.get(2).map_or(0.0, as_f64));
        let n = self.count + n2;
        let delta = mean2 - self.mean;
        self.m2 += m22 + delta * delta * (self.count as f64) * (n2 as f64) / n as f64;
        self.mean += delta * n2 as f64 / n as f64;
        self.count = n;
        Ok(())
    }
    fn value(&self) -> ScalarValue {
        let divisor = if self.sample { self.count - 1 } else { self.count };
        if divisor <= 0 {
            return ScalarValue::Float64(Some(0.0));
        }
        ScalarValue::Float64(Some((self.m2.max(0.0) / divisor as f64).sqrt()))
    }
    fn state(&self) -> Vec<ScalarValue> {
        vec![ScalarValue::Int64(Some(self.count)), ScalarValue::Float64(Some(self.mean)), ScalarValue::Float64(Some(self.m2))]
    }
    fn restore(&mut self, state: &[ScalarValue]) -> RuntimeResult<()> {
        (self.count, self.mean, self.m2) = (0, 0.0, 0.0);
        self.merge(state)
    }
}

/// CORRELATION(x, y): Pearson's r from running sums; rows with a NULL are skipped.
struct Correlation {
    n: i64,
    sx: f64,
    sy: f64,
    sxx: f64,
    syy: f64,
    sxy: f64,
}

impl Correlation {
    fn apply(&mut self, args: &[ArrayRef], row: usize, sign: f64) {
        let (Some(x), Some(y)) = (args.first().and_then(|a| number(a, row)), args.get(1).and_then(|a| number(a, row))) else {
            return;
        };
        self.n += sign as i64;
        self.sx += sign * x;
        self.sy += sign * y;
        self.sxx += sign * x * x;
        self.syy += sign * y * y;
        self.sxy += sign * x * y;
    }
}

impl Accumulator for Correlation {
    fn add(&mut self, args: &[ArrayRef], row: usize) -> RuntimeResult<()> {
        self.apply(args, row, 1.0);
        Ok(())
    }
    fn undo(&mut self, args: &[ArrayRef], row: usize) -> RuntimeResult<()> {
        self.apply(args, row, -1.0);
        Ok(())
    }
    fn merge(&mut self, other: &[ScalarValue]) -> RuntimeResult<()> {
        self.n += other.first().map_or(0, as_i64);
        let f = |i: usize| other.get(i).map_or(0.0, as_f64);
        self.sx += f(1);
        self.sy += f(2);
        self.sxx += f(3);
        self.syy += f(4);
        self.sxy += f(5);
        Ok(())
    }
    fn value(&self) -> ScalarValue {
        let n = self.n as f64;
        let cov = n * self.sxy - self.sx * self.sy;
        let var = (n * self.sxx - self.sx * self.sx) * (n * self.syy - self.sy * self.sy);
        ScalarValue::Float64(Some(if self.n == 0 { f64::NAN } else { cov / var.sqrt() }))
    }
    fn state(&self) -> Vec<ScalarValue> {
        let f = |v: f64| ScalarValue::Float64(Some(v));
        vec![ScalarValue::Int64(Some(self.n)), f(self.sx), f(self.sy), f(self.sxx), f(self.syy), f(self.sxy)]
    }
    fn restore(&mut self, state: &[ScalarValue]) -> RuntimeResult<()> {
        (self.n, self.sx, self.sy, self.sxx, self.syy, self.sxy) = (0, 0.0, 0.0, 0.0, 0.0, 0.0);
        self.merge(state)
    }
}

/// ATTR: the value when every row has the same one, else NULL.
struct Attr {
    entries: Vec<(ScalarValue, i64)>,
    data_type: DataType,
}

impl Attr {
    fn bump(&mut self, v: ScalarValue, by: i64) {
        match self.entries.iter().position(|(x, _)| *x == v) {
            Some(i) => {
                self.entries[i].1 += by;
                if self.entries[i].1 <= 0 {
                    self.entries.remove(i);
                }
            }
            None if by > 0 => self.entries.push((v, by)),
            None => {}
        }
    }
}

impl Accumulator for Attr {
    fn add(&mut self, args: &[ArrayRef], row: usize) -> RuntimeResult<()> {
        let v = scalar(args, row)?;
        self.bump(v, 1);
        Ok(())
    }
    fn undo(&mut self, args: &[ArrayRef], row: usize) -> RuntimeResult<()> {
        let v = scalar(args, row)?;
        self.bump(v, -1);
        Ok(())
    }
    fn merge(&mut self, other: &[ScalarValue]) -> RuntimeResult<()> {
        let values = other.first().map(list_items).transpose()?.unwrap_or_default();
        let counts = other.get(1).map(list_items).transpose()?.unwrap_or_default();
        for (v, c) in values.into_iter().zip(&counts) {
            self.bump(v, as_i64(c));
        }
        Ok(())
    }
    fn value(&self) -> ScalarValue {
        match self.entries.as_slice() {
            [(v, _)] => v.clone(),
            _ => typed_null(&self.data_type),
        }
    }
    fn state(&self) -> Vec<ScalarValue> {
        vec![
            list_value(self.entries.iter().map(|(v, _)| v.clone()), &self.data_type),
            list_value(self.entries.iter().map(|(_, c)| ScalarValue::Int64(Some(*c))), &DataType::Int64),
        ]
    }
    fn restore(&mut self, state: &[ScalarValue]) -> RuntimeResult<()> {
        self.entries.clear();
        self.merge(state)
    }
}
