//! Extension nodes at the stateful boundaries of a streaming plan, and the source relation.
//!
//! ```text
//!   Sink(OUTPUT, key=[K])                 <- writes the changelog / stream to a topic
//!     Repartition(key=[K])                <- PARTITION BY: records change partition
//!       Projection / Filter               <- ordinary DataFusion, stateless
//!         TableScan(INPUT: SourceTable)   <- decoded Kafka records incl. pseudo columns
//! ```
//! Aggregate and Join nodes mark where state lives; their operators come with aggregation and
//! join support.

use std::cmp::Ordering;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::common::{DFSchemaRef, Result as DfResult, ScalarValue};
use datafusion::logical_expr::{Expr, LogicalPlan, TableSource, UserDefinedLogicalNodeCore};
use runnel_parser::JoinKind;

use crate::catalog::SourceDef;
use crate::types::to_arrow;

pub const ROWTIME: &str = "ROWTIME";
pub const ROWPARTITION: &str = "ROWPARTITION";
pub const ROWOFFSET: &str = "ROWOFFSET";
pub const WINDOWSTART: &str = "WINDOWSTART";
pub const WINDOWEND: &str = "WINDOWEND";
/// Hidden projection column carrying the record timestamp to the sink.
pub const SINK_TIMESTAMP: &str = "__ROWTIME";
/// Hidden projection columns carrying the window bounds of windowed results to the sink.
pub const SINK_WINDOWSTART: &str = "__WINDOWSTART";
pub const SINK_WINDOWEND: &str = "__WINDOWEND";

/// Names no user column may take.
pub const RESERVED_COLUMNS: &[&str] = &[ROWTIME, ROWPARTITION, ROWOFFSET, WINDOWSTART, WINDOWEND];

/// The schema a source's records decode into: its columns in catalog order, then the pseudo
/// columns ROWTIME, ROWPARTITION, ROWOFFSET, and WINDOWSTART/WINDOWEND for windowed sources.
pub fn source_scan_schema(def: &SourceDef) -> SchemaRef {
    let mut fields: Vec<Field> = def.columns.iter().map(|c| Field::new(&c.name, to_arrow(&c.data_type), true)).collect();
    fields.push(Field::new(ROWTIME, DataType::Int64, true));
    fields.push(Field::new(ROWPARTITION, DataType::Int32, true));
    fields.push(Field::new(ROWOFFSET, DataType::Int64, true));
    if def.window.is_some() {
        fields.push(Field::new(WINDOWSTART, DataType::Int64, true));
        fields.push(Field::new(WINDOWEND, DataType::Int64, true));
    }
    Arc::new(Schema::new(fields))
}

/// A stream or table as a DataFusion relation (scanned by the runtime, never by DataFusion).
#[derive(Debug)]
pub struct SourceTable {
    pub source: SourceDef,
    schema: SchemaRef,
}

impl SourceTable {
    pub fn new(source: SourceDef) -> Self {
        let schema = source_scan_schema(&source);
        SourceTable { source, schema }
    }
}

impl TableSource for SourceTable {
    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }
}

/// Writes the input to a stream's or table's topic. `key_columns` name the input columns that
/// form the record key; [`SINK_TIMESTAMP`] gives the record timestamp; the rest is the value.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd)]
pub struct SinkNode {
    pub input: LogicalPlan,
    pub sink: String,
    pub key_columns: Vec<String>,
}

impl UserDefinedLogicalNodeCore for SinkNode {
    fn name(&self) -> &str {
        "Sink"
    }
    fn inputs(&self) -> Vec<&LogicalPlan> {
        vec![&self.input]
    }
    fn schema(&self) -> &DFSchemaRef {
        self.input.schema()
    }
    fn expressions(&self) -> Vec<Expr> {
        vec![]
    }
    fn fmt_for_explain(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "Sink: {} key=[{}]", self.sink, self.key_columns.join(", "))
    }
    fn with_exprs_and_inputs(&self, _exprs: Vec<Expr>, mut inputs: Vec<LogicalPlan>) -> DfResult<Self> {
        Ok(SinkNode { input: inputs.swap_remove(0), sink: self.sink.clone(), key_columns: self.key_columns.clone() })
    }
}

/// PARTITION BY: the named input columns become the record key (none = `PARTITION BY NULL`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd)]
pub struct RepartitionNode {
    pub input: LogicalPlan,
    pub key_columns: Vec<String>,
}

impl UserDefinedLogicalNodeCore for RepartitionNode {
    fn name(&self) -> &str {
        "Repartition"
    }
    fn inputs(&self) -> Vec<&LogicalPlan> {
        vec![&self.input]
    }
    fn schema(&self) -> &DFSchemaRef {
        self.input.schema()
    }
    fn expressions(&self) -> Vec<Expr> {
        vec![]
    }
    fn fmt_for_explain(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "Repartition: key=[{}]", self.key_columns.join(", "))
    }
    fn with_exprs_and_inputs(&self, _exprs: Vec<Expr>, mut inputs: Vec<LogicalPlan>) -> DfResult<Self> {
        Ok(RepartitionNode { input: inputs.swap_remove(0), key_columns: self.key_columns.clone() })
    }
}

/// Table functions (`EXPLODE`): each input row becomes one row per element of the named
/// list columns (zipped; shorter lists pad with NULL); the other columns repeat.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ExplodeNode {
    pub input: LogicalPlan,
    pub columns: Vec<String>,
    pub schema: DFSchemaRef,
}

impl PartialOrd for ExplodeNode {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        match self.input.partial_cmp(&other.input) {
            Some(Ordering::Equal) => self.columns.partial_cmp(&other.columns),
            o => o,
        }
    }
}

impl ExplodeNode {
    /// The node over `input`, whose list columns `columns` become their element type.
    pub fn try_new(input: LogicalPlan, columns: Vec<String>) -> DfResult<Self> {
        let fields = input
            .schema()
            .iter()
            .map(|(qualifier, field)| {
                let field = match field.data_type() {
                    DataType::List(item) if columns.contains(field.name()) => {
                        Arc::new(Field::new(field.name(), item.data_type().clone(), true))
                    }
                    _ => field.clone(),
                };
                (qualifier.cloned(), field)
            })
            .collect();
        let schema = Arc::new(datafusion::common::DFSchema::new_with_metadata(fields, Default::default())?);
        Ok(ExplodeNode { input, columns, schema })
    }
}

impl UserDefinedLogicalNodeCore for ExplodeNode {
    fn name(&self) -> &str {
        "Explode"
    }
    fn inputs(&self) -> Vec<&LogicalPlan> {
        vec![&self.input]
    }
    fn schema(&self) -> &DFSchemaRef {
        &self.schema
    }
    fn expressions(&self) -> Vec<Expr> {
        vec![]
    }
    fn fmt_for_explain(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "Explode: [{}]", self.columns.join(", "))
    }
    fn with_exprs_and_inputs(&self, _exprs: Vec<Expr>, mut inputs: Vec<LogicalPlan>) -> DfResult<Self> {
        Ok(ExplodeNode { input: inputs.swap_remove(0), columns: self.columns.clone(), schema: self.schema.clone() })
    }
}

/// One aggregate call of an [`AggregateNode`]: `function(args..., literals...)`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct AggregateCall {
    /// Upper-case ksql name, e.g. `COUNT`, `TOPK`.
    pub function: String,
    /// Input columns holding the non-literal arguments (none for `COUNT(*)`).
    pub args: Vec<usize>,
    /// Literal parameters (TOPK's `k`, LATEST_BY_OFFSET's `n` and `ignoreNulls`).
    pub literals: Vec<ScalarValue>,
    pub return_type: DataType,
}

impl fmt::Display for AggregateCall {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        let args: Vec<String> =
            self.args.iter().map(|a| format!("#{a}")).chain(self.literals.iter().map(|l| l.to_string())).collect();
        write!(f, "{}({})", self.function, args.join(", "))
    }
}

/// Window sizes of a windowed aggregation, in ms.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum WindowKind {
    Tumbling { size: i64 },
    Hopping { size: i64, advance: i64 },
    Session { gap: i64 },
}

/// A windowed aggregation's windows, grace period and retention (all ms).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct WindowDef {
    pub kind: WindowKind,
    pub grace: i64,
    pub retention: i64,
}

/// GROUP BY [WINDOW]: keeps one aggregate state per group (and window).
///
/// The input's first `key_count` columns are the grouping values, then the aggregate
/// arguments, then [`SINK_TIMESTAMP`] (the event time). The output is the group key columns
/// `__K<i>`, the aggregate results `__AGG<i>`, the result timestamp [`SINK_TIMESTAMP`] and,
/// when windowed, `WINDOWSTART`/`WINDOWEND`. `having` (over the output) hides groups: a group
/// that stops matching is emitted as a delete.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct AggregateNode {
    pub input: LogicalPlan,
    pub key_count: usize,
    pub calls: Vec<AggregateCall>,
    pub window: Option<WindowDef>,
    /// EMIT FINAL: one result per window, when it closes.
    pub emit_final: bool,
    pub having: Option<Expr>,
    /// The input is a table: updates retract the row's previous contribution.
    pub table_input: bool,
    /// Rows (a table's: changes) reach the aggregate through an internal repartition topic
    /// keyed by the group (a persistent query grouping by other than its key); see
    /// docs/architecture.md "Repartition topics".
    pub repartition: bool,
    pub schema: DFSchemaRef,
}

impl PartialOrd for AggregateNode {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        match self.input.partial_cmp(&other.input) {
            Some(Ordering::Equal) => self.key_count.partial_cmp(&other.key_count),
            o => o,
        }
    }
}

impl UserDefinedLogicalNodeCore for AggregateNode {
    fn name(&self) -> &str {
        "Aggregate"
    }
    fn inputs(&self) -> Vec<&LogicalPlan> {
        vec![&self.input]
    }
    fn schema(&self) -> &DFSchemaRef {
        &self.schema
    }
    fn expressions(&self) -> Vec<Expr> {
        // HAVING is over this node's output, which DataFusion's analyzers would resolve
        // against the input: it is planned and coerced by the aggregation planner instead.
        vec![]
    }
    fn fmt_for_explain(&self, f: &mut fmt::Formatter) -> fmt::Result {
        let calls: Vec<String> = self.calls.iter().map(|c| c.to_string()).collect();
        write!(f, "Aggregate: keys={} aggr=[{}]", self.key_count, calls.join(", "))?;
        if let Some(w) = &self.window {
            write!(f, " window={:?} grace={}ms retention={}ms", w.kind, w.grace, w.retention)?;
        }
        if self.emit_final {
            write!(f, " emit=final")?;
        }
        if let Some(h) = &self.having {
            write!(f, " having={h}")?;
        }
        if self.repartition {
            write!(f, " repartition")?;
        }
        Ok(())
    }
    fn with_exprs_and_inputs(&self, _exprs: Vec<Expr>, mut inputs: Vec<LogicalPlan>) -> DfResult<Self> {
        Ok(AggregateNode {
            input: inputs.swap_remove(0),
            having: self.having.clone(),
            key_count: self.key_count,
            calls: self.calls.clone(),
            window: self.window,
            emit_final: self.emit_final,
            table_input: self.table_input,
            repartition: self.repartition,
            schema: self.schema.clone(),
        })
    }
}

/// How a join keeps its state and when it emits (decided by the kinds of its inputs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum JoinStrategy {
    /// Both sides buffered for `before`/`after` ms around each record. `grace: None` keeps
    /// ksqlDB's legacy eager outer results; with a grace period, unmatched records wait for
    /// their window to close.
    StreamStream { before: i64, after: i64, grace: Option<i64> },
    /// The stream side looks up the table side's current row.
    StreamTable,
    /// Both sides are tables joined on the right table's primary key.
    TableTable,
    /// The left table's `left_key` expression references the right table's primary key.
    ForeignKey,
}

/// A join of two inputs on one equality (`left_key = right_key`), with an optional extra
/// condition on matches (`filter`, over this node's output).
///
/// The output is the left input's columns, the right input's columns, then `rowtime_column`
/// (the result timestamp) and `key_column` (the join key: whichever side's key is present).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JoinNode {
    pub left: LogicalPlan,
    pub right: LogicalPlan,
    pub kind: JoinKind,
    pub strategy: JoinStrategy,
    pub left_key: Expr,
    pub right_key: Expr,
    /// Foreign-key joins: the left table's primary key columns (identify left rows).
    pub left_table_key: Vec<Expr>,
    pub filter: Option<Expr>,
    pub rowtime_column: String,
    pub key_column: String,
    /// A side that reaches the join through a repartition topic keyed by its join expression
    /// in the partner's key format (left, right), as ksqlDB does: a stream not keyed by it, or
    /// a side keyed in another format than its partner.
    pub repartition: (bool, bool),
    pub schema: DFSchemaRef,
}

impl Hash for JoinNode {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.left.hash(state);
        self.right.hash(state);
        self.left_key.hash(state);
        self.right_key.hash(state);
        self.key_column.hash(state);
    }
}

impl PartialOrd for JoinNode {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        match self.left.partial_cmp(&other.left) {
            Some(Ordering::Equal) => self.right.partial_cmp(&other.right),
            o => o,
        }
    }
}

impl UserDefinedLogicalNodeCore for JoinNode {
    fn name(&self) -> &str {
        "Join"
    }
    fn inputs(&self) -> Vec<&LogicalPlan> {
        vec![&self.left, &self.right]
    }
    fn schema(&self) -> &DFSchemaRef {
        &self.schema
    }
    fn expressions(&self) -> Vec<Expr> {
        // The keys are over the inputs and the filter over the output, which DataFusion's
        // analyzers cannot tell apart: the join planner coerces them itself.
        vec![]
    }
    fn fmt_for_explain(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "Join: {:?} {:?} on {} = {}", self.kind, self.strategy, self.left_key, self.right_key)?;
        if let Some(filter) = &self.filter {
            write!(f, " and {filter}")?;
        }
        write!(f, " key={}", self.key_column)
    }
    fn with_exprs_and_inputs(&self, _exprs: Vec<Expr>, mut inputs: Vec<LogicalPlan>) -> DfResult<Self> {
        let right = inputs.pop();
        let left = inputs.pop();
        match (left, right) {
            (Some(left), Some(right)) => Ok(JoinNode { left, right, ..self.clone() }),
            _ => datafusion::common::internal_err!("Join needs two inputs"),
        }
    }
}
