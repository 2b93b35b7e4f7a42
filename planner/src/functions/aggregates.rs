//! ksqlDB's built-in aggregate functions: names, argument rules and result types.
//!
//! The planner only needs to type aggregate calls and check where they may be used; the
//! accumulators that run them live in the runtime (`runnel_runtime::aggregate`).

use arrow::datatypes::{DataType, Field};

use crate::error::{PlanError, Result};
use crate::types::{display_type, from_arrow};

/// How an aggregate behaves beyond its types.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AggregateTraits {
    /// Can retract a value (ksqlDB's `TableAggregationFunction`): usable over tables.
    pub undoable: bool,
    /// Its intermediate state is a STRUCT/ARRAY/MAP, which DELIMITED cannot serialize.
    pub complex_intermediate: bool,
    /// Positions of the parameters that must be literals (e.g. LATEST_BY_OFFSET's `n`).
    pub literal_params: &'static [usize],
    /// The last parameter must be a literal (TOPK's `k`, after any number of columns).
    pub literal_last: bool,
}

impl AggregateTraits {
    /// Whether parameter `position` of `count` must be a literal.
    pub fn is_literal_param(&self, position: usize, count: usize) -> bool {
        self.literal_params.contains(&position) || (self.literal_last && position + 1 == count)
    }
}

const fn traits(undoable: bool, complex_intermediate: bool, literal_params: &'static [usize]) -> AggregateTraits {
    AggregateTraits { undoable, complex_intermediate, literal_params, literal_last: false }
}

/// Upper-case names of every built-in aggregate.
pub const AGGREGATE_NAMES: &[&str] = &[
    "COUNT",
    "SUM",
    "AVG",
    "MIN",
    "MAX",
    "LATEST_BY_OFFSET",
    "EARLIEST_BY_OFFSET",
    "COLLECT_LIST",
    "COLLECT_SET",
    "TOPK",
    "TOPKDISTINCT",
    "HISTOGRAM",
    "COUNT_DISTINCT",
    "STDDEV_SAMP",
    "STDDEV_SAMPLE",
    "STDDEV_POP",
    "CORRELATION",
    "ATTR",
    "SUM_LIST",
];

pub fn is_aggregate(name: &str) -> bool {
    AGGREGATE_NAMES.iter().any(|n| n.eq_ignore_ascii_case(name))
}

/// The traits of the aggregate `name` (upper-case).
pub fn aggregate_traits(name: &str) -> AggregateTraits {
    match name {
        "COUNT" | "SUM" | "ATTR" | "SUM_LIST" => traits(true, false, &[]),
        "AVG" | "STDDEV_SAMP" | "STDDEV_SAMPLE" | "STDDEV_POP" | "CORRELATION" => traits(true, true, &[]),
        "COLLECT_LIST" | "COLLECT_SET" | "HISTOGRAM" => traits(true, true, &[]),
        "MIN" | "MAX" => traits(false, false, &[]),
        "LATEST_BY_OFFSET" | "EARLIEST_BY_OFFSET" => traits(false, true, &[1, 2]),
        "TOPK" | "TOPKDISTINCT" => AggregateTraits { literal_last: true, ..traits(false, true, &[]) },
        "COUNT_DISTINCT" => traits(false, true, &[]),
        _ => traits(false, false, &[]),
    }
}

fn is_numeric(t: &DataType) -> bool {
    matches!(t, DataType::Int32 | DataType::Int64 | DataType::Float64 | DataType::Decimal128(..))
}

fn list_of(t: &DataType) -> DataType {
    DataType::List(std::sync::Arc::new(Field::new("item", t.clone(), true)))
}

fn no_overload(name: &str, args: &[DataType]) -> PlanError {
    let rendered: Vec<String> =
        args.iter().map(|t| from_arrow(t).map(|k| display_type(&k)).unwrap_or_else(|_| t.to_string())).collect();
    PlanError::statement(format!("Function '{name}' does not accept parameters ({}).", rendered.join(", ")))
}

/// The result type of `name(args)`; `args` are the types of the non-literal arguments
/// followed by the literal ones, as written.
pub fn aggregate_return_type(name: &str, args: &[DataType]) -> Result<DataType> {
    let first = args.first();
    let err = || no_overload(name, args);
    Ok(match name {
        "COUNT" => DataType::Int64,
        "COUNT_DISTINCT" => {
            first.ok_or_else(err)?;
            DataType::Int64
        }
        "SUM" => match first.ok_or_else(err)? {
            DataType::Int32 => DataType::Int32,
            DataType::Int64 => DataType::Int64,
            DataType::Float64 => DataType::Float64,
            DataType::Decimal128(p, s) => DataType::Decimal128(*p, *s),
            _ => return Err(err()),
        },
        "AVG" | "STDDEV_SAMP" | "STDDEV_SAMPLE" | "STDDEV_POP" => {
            if !first.is_some_and(is_numeric) {
                return Err(err());
            }
            DataType::Float64
        }
        "CORRELATION" => {
            if args.len() != 2 || !args.iter().all(is_numeric) {
                return Err(err());
            }
            DataType::Float64
        }
        "MIN" | "MAX" => match first.ok_or_else(err)? {
            t @ (DataType::Int32
            | DataType::Int64
            | DataType::Float64
            | DataType::Decimal128(..)
            | DataType::Utf8
            | DataType::Binary
            | DataType::Date32
            | DataType::Time32(_)
            | DataType::Timestamp(..)) => t.clone(),
            _ => return Err(err()),
        },
        "ATTR" => first.ok_or_else(err)?.clone(),
        // The sum of every element of every list (NULL elements count as nothing).
        "SUM_LIST" => match first.ok_or_else(err)? {
            DataType::List(item) if matches!(item.data_type(), DataType::Int32 | DataType::Int64 | DataType::Float64) => item.data_type().clone(),
            _ => return Err(err()),
        },
        "LATEST_BY_OFFSET" | "EARLIEST_BY_OFFSET" => {
            let t = first.ok_or_else(err)?;
            // With a count `n` the result is the list of the latest/earliest n values (a
            // lone BOOLEAN second argument is `ignoreNulls`).
            if matches!(args.get(1), Some(DataType::Int32 | DataType::Int64)) {
                list_of(t)
            } else {
                t.clone()
            }
        }
        "COLLECT_LIST" | "COLLECT_SET" => list_of(first.ok_or_else(err)?),
        // TOPK(col, k): the k largest values; TOPK(col, other, ..., k): the rows with the k
        // largest `col`, as structs (`sort_col`, `col0`, `col1`, ...).
        "TOPK" | "TOPKDISTINCT" => match args {
            [] | [_] => return Err(err()),
            [t, _k] => list_of(t),
            [t, others @ .., _k] if name == "TOPK" => {
                let mut fields = vec![Field::new("sort_col", t.clone(), true)];
                fields.extend(others.iter().enumerate().map(|(i, o)| Field::new(format!("col{i}"), o.clone(), true)));
                list_of(&DataType::Struct(fields.into()))
            }
            _ => return Err(err()),
        },
        "HISTOGRAM" => match first.ok_or_else(err)? {
            DataType::Utf8 => crate::types::to_arrow(&runnel_parser::SqlType::Map(
                Box::new(runnel_parser::SqlType::String),
                Box::new(runnel_parser::SqlType::Bigint),
            )),
            _ => return Err(err()),
        },
        other => return Err(PlanError::statement(format!("Can't find any functions with the name '{other}'"))),
    })
}
