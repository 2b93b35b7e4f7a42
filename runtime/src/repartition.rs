//! Internal repartition topics: a persistent query moves rows to the partition of a new key
//! by writing them to `_runnel-<service>-query_<ID>-<name>` keyed by it, and reads them back
//! with an input of its own (Kafka Streams' sub-topologies). Two kinds:
//!
//! - GROUP BY over a stream not keyed by its groups: the aggregate's input rows (`__KEY_*`
//!   group columns in the key, `__ARG_*` arguments in the value);
//! - a join side not keyed by its join expression: the side's rows as `__C<i>` value columns,
//!   keyed by the join key in the key format of the side it joins (so that equal keys land in
//!   partitions of the same number on both sides).
//!
//! Event time travels as the record timestamp, headers as the record headers. Rows the next
//! operator would skip (deletes, NULL keys) are not written.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, BooleanArray};
use arrow::compute::filter_record_batch;
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use arrow::record_batch::RecordBatch;
use datafusion::physical_expr::expressions::Column as ColumnExpr;
use datafusion::physical_expr::PhysicalExpr;
use runnel_parser::SourceKind;
use runnel_planner::catalog::{Column, ColumnRole, SourceDef};
use runnel_planner::formats::FormatSpec;
use runnel_planner::nodes::{source_scan_schema, ROWTIME, SINK_TIMESTAMP};
use runnel_planner::types::{from_arrow, to_arrow};
use runnel_planner::FormatName;

use crate::error::{RuntimeError, RuntimeResult};
use crate::pipeline::SinkWriter;
use crate::source::{RecordError, SourceDecoder};
use crate::topic::{Headers, TopicRecord};

/// The repartition topic of a GROUP BY.
pub(crate) const GROUP_BY: &str = "Aggregate-GroupBy-repartition";

/// How a repartition topic's rows are keyed.
enum Keying {
    /// The first `n` columns are the key (GROUP BY).
    Leading(usize),
    /// The key is an expression over the rows, which are written after it (join sides).
    Expr { key: Arc<dyn PhysicalExpr>, key_type: DataType, timestamp: usize, written: SchemaRef },
}

/// One repartition topic of a query: how to write its rows.
pub(crate) struct RepartitionTopic {
    /// The topic name's suffix (e.g. `Join-left-repartition`).
    pub(crate) name: String,
    /// Set by [`RepartitionTopic::set_topic`].
    topic: String,
    /// A table side: deletes are written as tombstones (other rows with a delete are dropped).
    table: bool,
    /// Carries a table aggregation's changes (see `AggregateOperator::table_changes`).
    pub(crate) table_changes: bool,
    /// The input topic whose partition count it takes (a join side's partner), if any.
    pub(crate) partitions_like: Option<String>,
    writer: SinkWriter,
    keying: Keying,
}

/// How a query reads a repartition topic back: its decoder, and the projection from the
/// decoded columns to the rows that were written.
pub(crate) struct ReadBack {
    pub(crate) kind: SourceKind,
    pub(crate) decoder: SourceDecoder,
    pub(crate) exprs: Vec<Arc<dyn PhysicalExpr>>,
    pub(crate) schema: SchemaRef,
}

fn sql_column(name: String, data_type: &DataType, role: ColumnRole) -> Option<Column> {
    match from_arrow(data_type) {
        Ok(data_type) => Some(Column { name, data_type, role, header_key: None }),
        Err(_) => {
            tracing::debug!("column {name} of type {data_type} cannot be written to a topic: re-keying in place");
            None
        }
    }
}

fn topic_def(name: &str, kind: SourceKind, columns: Vec<Column>, key_format: FormatSpec) -> SourceDef {
    SourceDef {
        name: name.to_string(),
        kind,
        columns,
        topic: String::new(),
        key_format,
        value_format: FormatSpec::new(FormatName::Json),
        timestamp: None,
        window: None,
        is_source: false,
        statement: String::new(),
        partitions: None,
    }
}

/// The projection picking `names` (in order) out of what `def` decodes; ROWTIME for the
/// event-time column.
fn read_back(def: SourceDef, names: &[String], schema: SchemaRef) -> RuntimeResult<ReadBack> {
    let scan = source_scan_schema(&def);
    let kind = def.kind;
    let exprs = names
        .iter()
        .map(|name| {
            let index = scan.index_of(name)?;
            Ok(Arc::new(ColumnExpr::new(name, index)) as Arc<dyn PhysicalExpr>)
        })
        .collect::<RuntimeResult<Vec<_>>>()?;
    Ok(ReadBack { kind, decoder: SourceDecoder::new(def)?, exprs, schema })
}

impl RepartitionTopic {
    pub(crate) fn topic(&self) -> &str {
        &self.topic
    }

    /// Names the topic (once the query has an id).
    pub(crate) fn set_topic(&mut self, topic: String) {
        self.writer.topic = topic.clone();
        self.topic = topic;
    }

    /// The topic for an aggregate's input `rows` (`key_count` group columns first, the event
    /// time in `__ROWTIME`), or a table aggregation's changes laid out the same way. `None`
    /// when a column cannot be written to a topic.
    pub(crate) fn group_by(rows: &SchemaRef, key_count: usize) -> RuntimeResult<Option<(Self, ReadBack)>> {
        let mut columns = Vec::with_capacity(rows.fields().len());
        for (i, field) in rows.fields().iter().enumerate().filter(|(_, f)| f.name() != SINK_TIMESTAMP) {
            let role = if i < key_count { ColumnRole::Key } else { ColumnRole::Value };
            let Some(column) = sql_column(field.name().clone(), field.data_type(), role) else { return Ok(None) };
            columns.push(column);
        }
        let def = topic_def(GROUP_BY, SourceKind::Stream, columns, FormatSpec::new(FormatName::Json));
        let writer = SinkWriter::new(&def, rows)?;
        let names: Vec<String> =
            rows.fields().iter().map(|f| if f.name() == SINK_TIMESTAMP { ROWTIME.to_string() } else { f.name().clone() }).collect();
        let read = read_back(def, &names, rows.clone())?;
        let topic =
            RepartitionTopic { name: GROUP_BY.into(), topic: String::new(), table: false, table_changes: false, partitions_like: None, writer, keying: Keying::Leading(key_count) };
        Ok(Some((topic, read)))
    }

    /// The topic for a join side's `rows` (event time in column `timestamp`), keyed by `key`
    /// written as a `key_type` (the partner's key column type, else the key's own) in
    /// `key_format` (the partner's key format, else JSON). For a table side, `table_key` is
    /// the column of its primary key: deletes go through as tombstones and the key column is
    /// read back from the record key. `None` when a column cannot be written to a topic.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn join_side(
        name: String,
        rows: &SchemaRef,
        key: Arc<dyn PhysicalExpr>,
        key_type: DataType,
        timestamp: usize,
        key_format: FormatSpec,
        partitions_like: Option<String>,
        table_key: Option<usize>,
    ) -> RuntimeResult<Option<(Self, ReadBack)>> {
        let Some(key_column) = sql_column("__K".into(), &key_type, ColumnRole::Key) else { return Ok(None) };
        let key_type = to_arrow(&key_column.data_type);
        let mut columns = vec![key_column];
        let mut fields = vec![Field::new("__K", key_type.clone(), true)];
        let mut names = Vec::with_capacity(rows.fields().len());
        for (i, field) in rows.fields().iter().enumerate() {
            let name = format!("__C{i}");
            let Some(column) = sql_column(name.clone(), field.data_type(), ColumnRole::Value) else { return Ok(None) };
            columns.push(column);
            fields.push(Field::new(&name, field.data_type().clone(), true));
            // A table's key column comes back from the record key (a tombstone has no value).
            names.push(if table_key == Some(i) && field.data_type() == &key_type { "__K".to_string() } else { name });
        }
        fields.push(Field::new(SINK_TIMESTAMP, DataType::Int64, true));
        let written: SchemaRef = Arc::new(Schema::new(fields));
        let kind = if table_key.is_some() { SourceKind::Table } else { SourceKind::Stream };
        let def = topic_def(&name, kind, columns, key_format);
        let writer = SinkWriter::new(&def, &written)?;
        let read = read_back(def, &names, rows.clone())?;
        let keying = Keying::Expr { key, key_type, timestamp, written };
        Ok(Some((RepartitionTopic { name, topic: String::new(), table: table_key.is_some(), table_changes: false, partitions_like, writer, keying }, read)))
    }

    /// Encodes the rows to write: all but deletes and rows with a NULL key, with the headers
    /// of the records they came from (`origin[i]` indexes `records`).
    pub(crate) fn write(
        &self,
        batch: &RecordBatch,
        deleted: &[bool],
        origin: &[usize],
        records: &[TopicRecord],
        errors: &mut Vec<RecordError>,
    ) -> RuntimeResult<Vec<(String, TopicRecord)>> {
        let (batch, key_nulls): (RecordBatch, Vec<bool>) = match &self.keying {
            Keying::Leading(n) => {
                let nulls = (0..batch.num_rows()).map(|row| batch.columns()[..*n].iter().any(|c| c.is_null(row))).collect();
                (batch.clone(), nulls)
            }
            Keying::Expr { key, key_type, timestamp, written } => {
                let key = key.evaluate(batch).and_then(|v| v.into_array(batch.num_rows()))?;
                let key = if key.data_type() != key_type { arrow::compute::cast(&key, key_type)? } else { key };
                let nulls = (0..batch.num_rows()).map(|row| key.is_null(row)).collect();
                let mut columns: Vec<ArrayRef> = Vec::with_capacity(batch.num_columns() + 2);
                columns.push(key);
                columns.extend(batch.columns().iter().cloned());
                columns.push(batch.column(*timestamp).clone());
                (RecordBatch::try_new(written.clone(), columns)?, nulls)
            }
        };
        let is_deleted = |row: usize| deleted.get(row).copied().unwrap_or(false);
        let keep: Vec<bool> = (0..batch.num_rows()).map(|row| (self.table || !is_deleted(row)) && !key_nulls[row]).collect();
        let kept = |values: Vec<bool>| -> Vec<bool> { values.into_iter().zip(&keep).filter(|(_, k)| **k).map(|(v, _)| v).collect() };
        let deletes = kept((0..batch.num_rows()).map(|row| self.table && is_deleted(row)).collect());
        let (batch, origin): (RecordBatch, Vec<usize>) = if keep.iter().all(|k| *k) {
            (batch, origin.to_vec())
        } else {
            let kept_origin = origin.iter().zip(&keep).filter(|(_, k)| **k).map(|(o, _)| *o).collect();
            (filter_record_batch(&batch, &BooleanArray::from(keep.clone()))?, kept_origin)
        };
        // Like Kafka Streams, repartitioned records carry the headers of their source record.
        let headers: Vec<Headers> = origin.iter().map(|&r| records.get(r).map(|r| r.headers.clone()).unwrap_or_default()).collect();
        let rows = batch.num_rows();
        if self.topic.is_empty() {
            return Err(RuntimeError::Internal(format!("the repartition topic {} has no query id", self.name)));
        }
        let out = self.writer.write(&batch, &deletes, &vec![false; rows], &headers, errors)?;
        Ok(out.into_iter().map(|r| (self.topic.clone(), r)).collect())
    }
}
