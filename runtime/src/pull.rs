//! Pull queries: a planned pull query ([`runnel_planner::PlannedPull`]) runs as an ordinary
//! bounded DataFusion plan. Its scan reads
//!
//! * a table: the table's [`TableStore`] through [`StateTable`], a `TableProvider` that takes
//!   key equalities / IN lists and WINDOWSTART/WINDOWEND bounds from the WHERE clause and
//!   reads only those keys and windows (the filter still runs on what it returns);
//! * a stream: the records of its topic up to the end offsets at query time, decoded.
//!
//! DataFusion runs the rest (filter, projection, sort, limit) on one partition.

use std::collections::HashSet;
use std::ops::Bound;
use std::sync::Arc;

use arrow::array::{new_null_array, Array, ArrayRef, RecordBatch, RecordBatchOptions};
use arrow::compute::cast;
use arrow::datatypes::{DataType, Field, Fields, Int64Type, Schema, SchemaRef};
use async_trait::async_trait;
use datafusion::catalog::Session;
use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::common::{DFSchema, ScalarValue};
use datafusion::datasource::memory::MemorySourceConfig;
use datafusion::datasource::{provider_as_source, TableProvider, TableType};
use datafusion::execution::context::SessionContext;
use datafusion::execution::session_state::SessionStateBuilder;
use datafusion::optimizer::push_down_filter::PushDownFilter;
use datafusion::logical_expr::{BinaryExpr, Expr, LogicalPlan, Operator, TableProviderFilterPushDown};
use datafusion::physical_plan::ExecutionPlan;
use datafusion::prelude::SessionConfig;
use runnel_planner::catalog::{ColumnRole, SourceDef};
use runnel_planner::nodes::{source_scan_schema, ROWOFFSET, ROWPARTITION, WINDOWEND, WINDOWSTART};
use runnel_planner::PlannedPull;

use crate::engine::KEY_COLUMN_METADATA;
use crate::error::{RuntimeError, RuntimeResult};
use crate::format::{encode, Wrapping};
use crate::pipeline::physical;
use crate::source::runtime_format;
use crate::state::{ScanRange, TableStore};
use crate::topic::partition_for_key;

/// The current rows of a materialized table as a DataFusion table, in the source's scan
/// schema (columns, ROWTIME, ROWPARTITION, ROWOFFSET = NULL, window bounds).
#[derive(Debug)]
pub struct StateTable {
    def: SourceDef,
    store: TableStore,
    schema: SchemaRef,
    /// Partitions of the table's topic (where a key lives).
    partitions: i32,
}

impl StateTable {
    pub fn new(def: SourceDef, store: TableStore, partitions: i32) -> Self {
        let schema = source_scan_schema(&def);
        StateTable { def, store, schema, partitions: partitions.max(1) }
    }

    /// Which keys and windows the conjunctive `filters` allow (a superset of the matches).
    pub fn scan_range(&self, filters: &[Expr]) -> ScanRange {
        let mut range = ScanRange::all();
        let mut conjuncts = Vec::new();
        for f in filters {
            split_and(f, &mut conjuncts);
        }
        let keys: Vec<&runnel_planner::Column> = self.def.columns.iter().filter(|c| c.role == ColumnRole::Key).collect();
        // Candidate values per key column, from `K = v` and `K IN (...)`.
        let mut candidates: Vec<Option<Vec<ScalarValue>>> = vec![None; keys.len()];
        for conjunct in &conjuncts {
            if let Some((column, values)) = key_values(conjunct) {
                if let Some(k) = keys.iter().position(|k| k.name == column) {
                    let narrowed = match candidates[k].take() {
                        None => values,
                        Some(previous) => previous.into_iter().filter(|v| values.contains(v)).collect(),
                    };
                    candidates[k] = Some(narrowed);
                }
            }
            if self.def.window.is_some() {
                if let Some((column, op, value)) = bound(conjunct) {
                    match column.as_str() {
                        WINDOWSTART => narrow(&mut range.window_start, op, value),
                        WINDOWEND => narrow(&mut range.window_end, op, value),
                        _ => {}
                    }
                }
            }
        }
        if !keys.is_empty() && candidates.iter().all(Option::is_some) {
            let lists: Vec<Vec<ScalarValue>> = candidates.into_iter().flatten().collect();
            if let Some(encoded) = self.encode_keys(&keys, &lists) {
                range.keys = Some(encoded);
            }
        }
        range
    }

    /// Every combination of the candidate values, serialized with the key format, with its
    /// partition; `None` if they cannot be (then the scan reads every key).
    fn encode_keys(&self, keys: &[&runnel_planner::Column], lists: &[Vec<ScalarValue>]) -> Option<Vec<(i32, Vec<u8>)>> {
        let combinations: usize = lists.iter().map(Vec::len).product();
        if combinations > 10_000 {
            return None;
        }
        let fields: Fields = keys.iter().map(|k| Field::new(&k.name, runnel_planner::types::to_arrow(&k.data_type), true)).collect();
        let mut columns: Vec<Vec<ScalarValue>> = vec![Vec::with_capacity(combinations); keys.len()];
        for n in 0..combinations {
            let mut rest = n;
            for (k, list) in lists.iter().enumerate() {
                columns[k].push(list[rest % list.len()].clone());
                rest /= list.len();
            }
        }
        let mut arrays = Vec::with_capacity(keys.len());
        for (values, field) in columns.iter().zip(fields.iter()) {
            let array = if values.is_empty() { new_null_array(field.data_type(), 0) } else { ScalarValue::iter_to_array(values.clone()).ok()? };
            // A value the key type cannot hold matches no key.
            arrays.push(cast(&array, field.data_type()).ok()?);
        }
        let format = runtime_format(&self.def.key_format).ok()?;
        let encoded = if combinations == 0 { Vec::new() } else { encode(&format, &arrays, &fields, Wrapping::Unwrapped).ok()? };
        let mut seen = HashSet::new();
        let mut out = Vec::new();
        for (row, key) in encoded.into_iter().enumerate() {
            // A NULL or unencodable candidate matches nothing.
            let Ok(Some(key)) = key else { continue };
            if arrays.iter().any(|a| a.is_null(row)) || !seen.insert(key.clone()) {
                continue;
            }
            out.push((partition_for_key(&key, self.partitions), key));
        }
        Some(out)
    }

    /// The rows in `range` as a batch of the scan schema.
    fn read(&self, range: &ScanRange) -> RuntimeResult<RecordBatch> {
        let (columns, partitions) = self.store.scan(range)?;
        let rows = partitions.len();
        let stored = self.store.schema();
        let mut out: Vec<ArrayRef> = Vec::with_capacity(self.schema.fields().len());
        for field in self.schema.fields() {
            let column = match field.name().as_str() {
                ROWPARTITION => Arc::new(partitions.clone()) as ArrayRef,
                ROWOFFSET => new_null_array(&DataType::Int64, rows),
                name => {
                    let i = stored.index_of(name).map_err(|_| RuntimeError::Internal(format!("table store without {name}")))?;
                    columns[i].clone()
                }
            };
            out.push(column);
        }
        let options = RecordBatchOptions::new().with_row_count(Some(rows));
        Ok(RecordBatch::try_new_with_options(self.schema.clone(), out, &options)?)
    }
}

#[async_trait]
impl TableProvider for StateTable {
    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    fn supports_filters_pushdown(&self, filters: &[&Expr]) -> datafusion::error::Result<Vec<TableProviderFilterPushDown>> {
        // Filters narrow the keys and windows read; the filter still runs on the result.
        Ok(vec![TableProviderFilterPushDown::Inexact; filters.len()])
    }

    async fn scan(
        &self,
        _state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        _limit: Option<usize>,
    ) -> datafusion::error::Result<Arc<dyn ExecutionPlan>> {
        let range = self.scan_range(filters);
        let batch = self.read(&range).map_err(|e| datafusion::error::DataFusionError::External(Box::new(e)))?;
        Ok(MemorySourceConfig::try_new_exec(&[vec![batch]], self.schema.clone(), projection.cloned())?)
    }
}

fn split_and<'e>(e: &'e Expr, out: &mut Vec<&'e Expr>) {
    match e {
        Expr::BinaryExpr(BinaryExpr { left, op: Operator::And, right }) => {
            split_and(left, out);
            split_and(right, out);
        }
        other => out.push(other),
    }
}

/// A column referenced directly or through a widening numeric cast.
fn column_of(e: &Expr) -> Option<String> {
    match e {
        Expr::Column(c) => Some(c.name.clone()),
        Expr::Cast(c) if c.field.data_type().is_numeric() => match c.expr.as_ref() {
            Expr::Column(col) => Some(col.name.clone()),
            _ => None,
        },
        _ => None,
    }
}

/// The value of an expression without column references.
fn constant(e: &Expr) -> Option<ScalarValue> {
    if let Expr::Literal(v, _) = e {
        return Some(v.clone());
    }
    if !e.column_refs().is_empty() {
        return None;
    }
    let empty = DFSchema::empty();
    let expr = physical(e, &empty).ok()?;
    let one_row = RecordBatch::try_new_with_options(Arc::new(Schema::empty()), vec![], &RecordBatchOptions::new().with_row_count(Some(1))).ok()?;
    let array = expr.evaluate(&one_row).ok()?.into_array(1).ok()?;
    ScalarValue::try_from_array(&array, 0).ok()
}

/// `K = v`, `v = K`, `K IN (v, ...)`, `K = v OR K = w` -> (K, values).
fn key_values(e: &Expr) -> Option<(String, Vec<ScalarValue>)> {
    match e {
        Expr::BinaryExpr(BinaryExpr { left, op: Operator::Or, right }) => {
            let (column, mut values) = key_values(left)?;
            let (other, more) = key_values(right)?;
            if other != column {
                return None;
            }
            values.extend(more);
            Some((column, values))
        }
        Expr::BinaryExpr(BinaryExpr { left, op: Operator::Eq, right }) => match (column_of(left), column_of(right)) {
            (Some(c), None) => Some((c, vec![constant(right)?])),
            (None, Some(c)) => Some((c, vec![constant(left)?])),
            _ => None,
        },
        Expr::InList(list) if !list.negated => {
            let column = column_of(&list.expr)?;
            let values = list.list.iter().map(constant).collect::<Option<Vec<_>>>()?;
            Some((column, values))
        }
        _ => None,
    }
}

/// `C op v` or `v op C` on an Int64 column -> (C, op as if C is on the left, v).
fn bound(e: &Expr) -> Option<(String, Operator, i64)> {
    let Expr::BinaryExpr(BinaryExpr { left, op, right }) = e else { return None };
    let (column, op, value) = match (column_of(left), column_of(right)) {
        (Some(c), None) => (c, *op, constant(right)?),
        (None, Some(c)) => (c, op.swap()?, constant(left)?),
        _ => return None,
    };
    let value = cast(&value.to_array().ok()?, &DataType::Int64).ok()?;
    let value = value.as_any().downcast_ref::<arrow::array::PrimitiveArray<Int64Type>>()?;
    if value.is_null(0) {
        return None;
    }
    Some((column, op, value.value(0)))
}

fn narrow(bounds: &mut (Bound<i64>, Bound<i64>), op: Operator, value: i64) {
    let tighter_low = |current: Bound<i64>, new: Bound<i64>| match (current, new) {
        (Bound::Unbounded, n) => n,
        (Bound::Included(a) | Bound::Excluded(a), Bound::Included(b) | Bound::Excluded(b)) if b > a => new,
        (c, _) => c,
    };
    let tighter_high = |current: Bound<i64>, new: Bound<i64>| match (current, new) {
        (Bound::Unbounded, n) => n,
        (Bound::Included(a) | Bound::Excluded(a), Bound::Included(b) | Bound::Excluded(b)) if b < a => new,
        (c, _) => c,
    };
    match op {
        Operator::Eq => {
            bounds.0 = tighter_low(bounds.0, Bound::Included(value));
            bounds.1 = tighter_high(bounds.1, Bound::Included(value));
        }
        Operator::Gt => bounds.0 = tighter_low(bounds.0, Bound::Excluded(value)),
        Operator::GtEq => bounds.0 = tighter_low(bounds.0, Bound::Included(value)),
        Operator::Lt => bounds.1 = tighter_high(bounds.1, Bound::Excluded(value)),
        Operator::LtEq => bounds.1 = tighter_high(bounds.1, Bound::Included(value)),
        _ => {}
    }
}

/// Runs `planned` with its scan reading `provider`; returns the result schema (key columns
/// marked with [`KEY_COLUMN_METADATA`]) and the rows.
pub fn execute(planned: &PlannedPull, provider: Arc<dyn TableProvider>) -> RuntimeResult<(SchemaRef, Vec<RecordBatch>)> {
    let source = provider_as_source(provider);
    let plan = planned
        .plan
        .clone()
        .transform_up(|node| {
            Ok(match node {
                LogicalPlan::TableScan(mut scan) => {
                    scan.source = source.clone();
                    Transformed::yes(LogicalPlan::TableScan(scan))
                }
                other => Transformed::no(other),
            })
        })?
        .data;
    // One partition: results keep the store's order, and nothing needs a thread pool. The
    // plan is already analyzed and typed by the planner; the only logical rewrite needed is
    // pushing the WHERE clause into the scan (re-running type coercion would retype lambdas).
    let config = SessionConfig::new().with_target_partitions(1).with_round_robin_repartition(false).with_repartition_sorts(false);
    let state = SessionStateBuilder::new()
        .with_config(config)
        .with_analyzer_rules(vec![])
        .with_optimizer_rules(vec![Arc::new(PushDownFilter::new())])
        .build();
    let context = SessionContext::new_with_state(state);
    let batches = futures::executor::block_on(async {
        let frame = context.execute_logical_plan(plan).await?;
        frame.collect().await
    })?;
    let fields: Vec<Field> = planned
        .output
        .iter()
        .map(|c| {
            let field = Field::new(&c.name, runnel_planner::types::to_arrow(&c.data_type), true);
            if c.role == ColumnRole::Key {
                field.with_metadata([(KEY_COLUMN_METADATA.to_string(), "true".to_string())].into())
            } else {
                field
            }
        })
        .collect();
    let schema = Arc::new(Schema::new(fields));
    let batches = batches
        .into_iter()
        .filter(|b| b.num_rows() > 0)
        .map(|b| conform(&b, &schema))
        .collect::<RuntimeResult<Vec<_>>>()?;
    Ok((schema, batches))
}

/// `batch` in `schema` (names and types as planned; DataFusion may produce e.g. Utf8View).
fn conform(batch: &RecordBatch, schema: &SchemaRef) -> RuntimeResult<RecordBatch> {
    let columns = batch
        .columns()
        .iter()
        .zip(schema.fields())
        .map(|(c, f)| if c.data_type() == f.data_type() { Ok(c.clone()) } else { cast(c, f.data_type()).map_err(RuntimeError::from) })
        .collect::<RuntimeResult<Vec<_>>>()?;
    let options = RecordBatchOptions::new().with_row_count(Some(batch.num_rows()));
    Ok(RecordBatch::try_new_with_options(schema.clone(), columns, &options)?)
}

/// A stream's decoded records as a DataFusion table.
pub fn stream_table(schema: SchemaRef, batches: Vec<RecordBatch>) -> RuntimeResult<Arc<dyn TableProvider>> {
    Ok(Arc::new(datafusion::datasource::MemTable::try_new(schema, vec![batches])?))
}
