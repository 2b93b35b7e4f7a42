//! Materialized tables: the query that builds a table (a CTAS, or the task behind
//! `CREATE SOURCE TABLE`) hands every result batch to a [`TableMaterializer`], which keeps the
//! table's current rows in a [`TableStore`] for pull queries.
//!
//! ```text
//!   pipeline result batch ──▶ TableMaterializer ──(key encoded, partition)──▶ TableStore
//!   (keys, values, __ROWTIME,     per row: upsert or delete                  (read by pull
//!    __WINDOWSTART/__WINDOWEND)                                               queries)
//! ```
//!
//! Rows are placed by the partition Kafka's default partitioner gives their serialized key, so
//! a scan returns them in the order ksqlDB's per-partition stores do.

use std::sync::Arc;

use arrow::array::{new_null_array, Array, ArrayRef, AsArray, RecordBatch};
use arrow::compute::cast;
use arrow::datatypes::{DataType, Field, Fields, Int64Type, Schema, SchemaRef};
use runnel_planner::catalog::{ColumnRole, SourceDef};
use runnel_planner::nodes::{ROWTIME, SINK_TIMESTAMP, SINK_WINDOWEND, SINK_WINDOWSTART, WINDOWEND, WINDOWSTART};
use runnel_planner::types::to_arrow;

use crate::error::{RuntimeError, RuntimeResult};
use crate::format::{encode, Format, Wrapping};
use crate::source::runtime_format;
use crate::state::{RowChange, RowPosition, TableStore};
use crate::topic::partition_for_key;

/// The columns a table store keeps per row: the table's columns (keys, values, headers) in
/// catalog order, ROWTIME, and WINDOWSTART/WINDOWEND for windowed tables.
pub fn store_schema(def: &SourceDef) -> SchemaRef {
    let mut fields: Vec<Field> = def.columns.iter().map(|c| Field::new(&c.name, to_arrow(&c.data_type), true)).collect();
    fields.push(Field::new(ROWTIME, DataType::Int64, true));
    if def.window.is_some() {
        fields.push(Field::new(WINDOWSTART, DataType::Int64, true));
        fields.push(Field::new(WINDOWEND, DataType::Int64, true));
    }
    Arc::new(Schema::new(fields))
}

/// A new, empty store for `def`.
pub fn new_store(def: &SourceDef) -> RuntimeResult<TableStore> {
    TableStore::new(&def.name, store_schema(def))
}

/// Writes a query's results into its table's store.
pub struct TableMaterializer {
    store: TableStore,
    /// For each store column, the result column holding it (`None`: always NULL, e.g. header
    /// columns that a CTAS result does not carry).
    sources: Vec<Option<usize>>,
    key_format: Format,
    key_fields: Fields,
    /// Store columns of the key.
    key_columns: Vec<usize>,
    /// Store columns of the window bounds.
    window: Option<(usize, usize)>,
    rowtime: usize,
    partitions: i32,
    /// Windows ending this long before the latest ROWTIME are dropped (windowed tables).
    retention_ms: Option<i64>,
    stream_time: i64,
    /// Stream time at the last eviction (eviction walks the store, so it runs only after
    /// stream time moved on by a quarter of the retention).
    evicted_at: i64,
}

impl TableMaterializer {
    /// A materializer for results of `result_schema` into `store` (made for `table`), whose
    /// topic has `partitions` partitions.
    pub fn new(table: &SourceDef, store: TableStore, result_schema: &SchemaRef, partitions: i32) -> RuntimeResult<Self> {
        let schema = store.schema().clone();
        let find = |names: &[&str]| names.iter().find_map(|n| result_schema.index_of(n).ok());
        let sources = schema
            .fields()
            .iter()
            .map(|f| match f.name().as_str() {
                ROWTIME => find(&[SINK_TIMESTAMP, ROWTIME]),
                WINDOWSTART => find(&[SINK_WINDOWSTART, WINDOWSTART]),
                WINDOWEND => find(&[SINK_WINDOWEND, WINDOWEND]),
                name => find(&[name]),
            })
            .collect();
        let key_columns: Vec<usize> =
            table.columns.iter().enumerate().filter(|(_, c)| c.role == ColumnRole::Key).map(|(i, _)| i).collect();
        let key_fields: Fields = key_columns.iter().map(|&i| schema.field(i).clone()).collect();
        let index = |name: &str| schema.index_of(name).map_err(|_| RuntimeError::Internal(format!("table store without {name}")));
        let window = match table.window {
            Some(_) => Some((index(WINDOWSTART)?, index(WINDOWEND)?)),
            None => None,
        };
        Ok(TableMaterializer {
            rowtime: index(ROWTIME)?,
            store,
            sources,
            key_format: runtime_format(&table.key_format)?,
            key_fields,
            key_columns,
            window,
            partitions: partitions.max(1),
            retention_ms: None,
            stream_time: i64::MIN,
            evicted_at: i64::MIN,
        })
    }

    /// Drops windows that end more than `retention_ms` before the latest ROWTIME seen.
    pub fn with_retention(mut self, retention_ms: Option<i64>) -> Self {
        self.retention_ms = retention_ms;
        self
    }

    /// Upserts the rows of `batch` (a result batch of the query), or deletes those marked in
    /// `deleted`. Rows whose key cannot be encoded are left out (the sink reports them).
    pub fn apply(&mut self, batch: &RecordBatch, deleted: &[bool]) -> RuntimeResult<()> {
        if batch.num_rows() == 0 {
            return Ok(());
        }
        let schema = self.store.schema().clone();
        let rows = batch.num_rows();
        let columns: Vec<ArrayRef> = schema
            .fields()
            .iter()
            .zip(&self.sources)
            .map(|(field, source)| match source {
                Some(i) => {
                    let column = batch.column(*i);
                    if column.data_type() == field.data_type() {
                        Ok(column.clone())
                    } else {
                        cast(column, field.data_type()).map_err(RuntimeError::from)
                    }
                }
                None => Ok(new_null_array(field.data_type(), rows)),
            })
            .collect::<RuntimeResult<_>>()?;
        let key_columns: Vec<ArrayRef> = self.key_columns.iter().map(|&i| columns[i].clone()).collect();
        let keys = if key_columns.is_empty() {
            vec![Ok(None); rows]
        } else {
            encode(&self.key_format, &key_columns, &self.key_fields, Wrapping::Unwrapped)?
        };
        let bound = |column: usize, row: usize| {
            let array = columns[column].as_primitive::<Int64Type>();
            if array.is_valid(row) {
                array.value(row)
            } else {
                0
            }
        };
        let rowtimes = columns[self.rowtime].as_primitive::<Int64Type>();
        let mut changes = Vec::with_capacity(rows);
        for (row, key) in keys.into_iter().enumerate() {
            // A table row needs a key; rows without one never reach a table's topic either.
            let Ok(Some(key)) = key else { continue };
            if rowtimes.is_valid(row) {
                self.stream_time = self.stream_time.max(rowtimes.value(row));
            }
            let window = self.window.map_or((0, 0), |(start, end)| (bound(start, row), bound(end, row)));
            let partition = partition_for_key(&key, self.partitions);
            let is_delete = deleted.get(row).copied().unwrap_or(false);
            changes.push(RowChange { position: RowPosition { partition, key, window }, row: (!is_delete).then_some(row) });
        }
        self.store.apply(&columns, changes)?;
        if let (Some(retention), Some(_)) = (self.retention_ms, self.window) {
            if self.stream_time != i64::MIN && self.stream_time.saturating_sub(self.evicted_at) >= (retention / 4).max(1) {
                self.store.evict_windows_ending_before(self.stream_time.saturating_sub(retention));
                self.evicted_at = self.stream_time;
            }
        }
        Ok(())
    }
}
