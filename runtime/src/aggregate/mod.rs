//! The GROUP BY operator: per-group (and per-window) accumulators in state stores.
//!
//! ```text
//!  input rows (keys.., args.., __ROWTIME) ──▶ group key bytes (arrow row format)
//!        │ stream: add            table: undo the key's previous row, add the new one
//!        ▼
//!  KeyValueStore / WindowStore<GroupState> ──dirty──▶ changelog records
//!        │ EMIT CHANGES: every update   EMIT FINAL: windows whose end + grace has passed
//!        ▼
//!  output rows (__KEY_j.., __AGG_i.., __ROWTIME, WINDOWSTART, WINDOWEND) + delete flags
//! ```
//! Kafka Streams semantics: stream time is the largest ROWTIME seen; a record whose window
//! closed (end + grace <= stream time) is dropped and counted; a result's timestamp is the
//! largest input timestamp of its group; session windows merge, deleting the merged sessions.

pub mod functions;

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, Int64Array};
use arrow::datatypes::{DataType, Field, Int64Type, Schema, SchemaRef};
use arrow::record_batch::RecordBatch;
use arrow::row::{RowConverter, SortField};
use datafusion::common::ScalarValue;
use datafusion::physical_expr::PhysicalExpr;
use runnel_planner::nodes::{AggregateNode, WindowDef, WindowKind};

use crate::error::{RuntimeError, RuntimeResult};
use crate::format::{encode, Decoder, Format, Wrapping};
use crate::state::{KeyValueStore, StateStore, WindowKey, WindowStore};
use functions::{Accumulator, AccumulatorFactory};

/// Store names (the `<store>` of the changelog topics).
pub const AGGREGATE_STORE: &str = "Aggregate-Aggregate-Materialize";
pub const SOURCE_TABLE_STORE: &str = "Aggregate-SourceTable-Materialize";

/// The state of one group (or group window).
pub struct GroupState {
    accumulators: Vec<Box<dyn Accumulator>>,
    /// Largest input timestamp (the result's timestamp).
    timestamp: i64,
    /// The last result passed HAVING (so a failing update is a delete, not a no-op).
    visible: bool,
}

/// One input row of a table, remembered so that its update can retract it.
struct SourceRow {
    values: Vec<ScalarValue>,
}

/// A result to emit.
struct Emitted {
    key: Vec<u8>,
    window: Option<(i64, i64)>,
    /// `None`: a delete.
    values: Option<Vec<ScalarValue>>,
    timestamp: i64,
    /// The input row that caused it (its record's headers go along), if any.
    origin: Option<usize>,
}

/// Output of one batch.
pub struct AggregateOutput {
    pub batch: RecordBatch,
    pub deleted: Vec<bool>,
    /// Per output row, the input row being processed when it was produced.
    pub origin: Vec<Option<usize>>,
}

/// One changelog record as (key, value) bytes; a `None` value deletes the key.
pub type ChangelogEntry = (Option<Vec<u8>>, Option<Vec<u8>>);

/// Records for the changelog topics, per store name.
pub type ChangelogRecords = Vec<(&'static str, Option<Vec<u8>>, Option<Vec<u8>>, i64)>;

pub struct AggregateOperator {
    key_count: usize,
    factories: Vec<AccumulatorFactory>,
    window: Option<WindowDef>,
    emit_final: bool,
    having: Option<Arc<dyn PhysicalExpr>>,
    table_input: bool,
    input_schema: SchemaRef,
    output_schema: SchemaRef,
    converter: RowConverter,
    groups: KeyValueStore<GroupState>,
    windows: WindowStore<GroupState>,
    source_rows: KeyValueStore<SourceRow>,
    stream_time: i64,
    /// Largest window start stored (time windows: retention is measured from it).
    max_window_start: i64,
    late_records: u64,
    /// Emit only the last result per key per batch (`cache.max.bytes.buffering` > 0).
    coalesce: bool,
    state_schema: SchemaRef,
    state_decoder: Decoder,
    row_decoder: Decoder,
    /// The input row being processed (like Kafka Streams' record context).
    current_row: Option<usize>,
    /// The input is table changes read back from a repartition topic (see
    /// [`AggregateOperator::table_changes`]) rather than table rows.
    change_input: bool,
}

/// One change of a group: the key, the new and/or old row's aggregate arguments.
struct Change {
    key: Vec<ScalarValue>,
    new: Option<Vec<ScalarValue>>,
    old: Option<Vec<ScalarValue>>,
    timestamp: i64,
    origin: usize,
}

/// Table changes for a repartition topic (Kafka Streams' `Change<old, new>`): a batch of
/// `[group key columns, new arguments, old arguments, __NEW, __OLD, __ROWTIME]`, and per row
/// the input row it came from.
pub struct TableChanges {
    pub batch: RecordBatch,
    pub origin: Vec<usize>,
}

impl AggregateOperator {
    pub fn new(
        node: &AggregateNode,
        having: Option<Arc<dyn PhysicalExpr>>,
        coalesce: bool,
        collection_limit: usize,
    ) -> RuntimeResult<Self> {
        let input_schema: SchemaRef = Arc::new(node.input.schema().as_arrow().clone());
        let output_schema: SchemaRef = Arc::new(node.schema.as_arrow().clone());
        let types: Vec<DataType> = input_schema.fields().iter().map(|f| f.data_type().clone()).collect();
        let factories = node
            .calls
            .iter()
            .map(|c| AccumulatorFactory::new(c.clone(), &types, collection_limit))
            .collect::<RuntimeResult<Vec<_>>>()?;
        let converter = RowConverter::new(types[..node.key_count].iter().map(|t| SortField::new(t.clone())).collect())?;
        let mut state_fields = vec![Field::new("TS", DataType::Int64, true), Field::new("VISIBLE", DataType::Boolean, true)];
        for (i, f) in factories.iter().enumerate() {
            for (j, t) in f.state_types().into_iter().enumerate() {
                state_fields.push(Field::new(format!("A{i}_{j}"), t, true));
            }
        }
        let state_schema = Arc::new(Schema::new(state_fields));
        let row_fields: Vec<Field> =
            input_schema.fields().iter().enumerate().map(|(i, f)| Field::new(format!("C{i}"), f.data_type().clone(), true)).collect();
        Ok(AggregateOperator {
            key_count: node.key_count,
            factories,
            window: node.window,
            emit_final: node.emit_final,
            having,
            table_input: node.table_input,
            input_schema,
            output_schema,
            converter,
            groups: KeyValueStore::new(AGGREGATE_STORE),
            windows: WindowStore::new(AGGREGATE_STORE),
            source_rows: KeyValueStore::new(SOURCE_TABLE_STORE),
            change_input: false,
            stream_time: i64::MIN,
            max_window_start: i64::MIN,
            late_records: 0,
            coalesce,
            state_decoder: Decoder::new(Format::Json, state_schema.clone(), Wrapping::Wrapped)?,
            state_schema,
            row_decoder: Decoder::new(Format::Json, Arc::new(Schema::new(row_fields)), Wrapping::Wrapped)?,
            current_row: None,
        })
    }

    /// The stores this operator writes (and so the changelog topics it needs).
    pub fn store_names(&self) -> Vec<&'static str> {
        if self.table_input {
            vec![AGGREGATE_STORE, SOURCE_TABLE_STORE]
        } else {
            vec![AGGREGATE_STORE]
        }
    }

    /// Records dropped because their window had closed.
    /// Whether results are coalesced per key (`cache.max.bytes.buffering` > 0).
    pub fn coalesces(&self) -> bool {
        self.coalesce
    }

    /// How many leading input columns are the group key.
    pub fn key_count(&self) -> usize {
        self.key_count
    }

    pub fn late_records(&self) -> u64 {
        self.late_records
    }

    /// Entries held in the stores.
    pub fn state_entries(&self) -> usize {
        self.groups.entries() + self.windows.entries() + self.source_rows.entries()
    }

    fn new_state(&self) -> RuntimeResult<GroupState> {
        Ok(GroupState {
            accumulators: self.factories.iter().map(|f| f.create()).collect::<RuntimeResult<_>>()?,
            timestamp: i64::MIN,
            visible: false,
        })
    }

    fn call_args(&self, columns: &[ArrayRef], call: usize) -> Vec<ArrayRef> {
        self.factories[call].call().args.iter().map(|&a| columns[a].clone()).collect()
    }

    fn apply(&self, state: &mut GroupState, columns: &[ArrayRef], row: usize, undo: bool) -> RuntimeResult<()> {
        for (i, acc) in state.accumulators.iter_mut().enumerate() {
            let args = self.call_args(columns, i);
            if undo {
                acc.undo(&args, row)?;
            } else {
                acc.add(&args, row)?;
            }
        }
        Ok(())
    }

    fn result(state: &GroupState) -> Vec<ScalarValue> {
        state.accumulators.iter().map(|a| a.value()).collect()
    }

    /// Processes one batch of the aggregate's input. `deleted[i]`: row `i` is a delete (a
    /// tombstone, or for tables a row the WHERE rejects); `record_keys[i]`: the Kafka key of
    /// row `i`'s record (identifies table rows).
    pub fn on_batch(&mut self, batch: &RecordBatch, deleted: &[bool], record_keys: &[Option<&[u8]>]) -> RuntimeResult<AggregateOutput> {
        if self.change_input {
            return self.on_changes(batch);
        }
        let columns = batch.columns().to_vec();
        let rows = self.converter.convert_columns(&columns[..self.key_count])?;
        let ts_col = batch.column(batch.num_columns() - 1).clone();
        let ts = ts_col.as_primitive_opt::<Int64Type>().ok_or_else(|| RuntimeError::Internal("event time is not BIGINT".into()))?;
        let mut out = Vec::new();
        for (row, &row_deleted) in deleted.iter().enumerate().take(batch.num_rows()) {
            self.current_row = Some(row);
            let null_key = columns[..self.key_count].iter().any(|c| c.is_null(row));
            let key = rows.row(row).as_ref().to_vec();
            let timestamp = if ts.is_null(row) { 0 } else { ts.value(row) };
            if self.table_input {
                let Some(record_key) = record_keys.get(row).copied().flatten() else { continue };
                self.table_row(record_key, (!null_key).then_some(key), &columns, row, row_deleted, timestamp, &mut out)?;
                continue;
            }
            if row_deleted || null_key {
                continue;
            }
            match self.window {
                None => {
                    let mut state = match self.groups.remove(&key) {
                        Some(s) => s,
                        None => self.new_state()?,
                    };
                    self.apply(&mut state, &columns, row, false)?;
                    state.timestamp = state.timestamp.max(timestamp);
                    self.emit(key.clone(), None, &mut state, &mut out)?;
                    self.groups.put(&key, state);
                }
                Some(def) => match def.kind {
                    WindowKind::Session { gap } => self.session_row(key, &columns, row, timestamp, gap, def, &mut out)?,
                    WindowKind::Tumbling { size } => self.time_row(key, &columns, row, timestamp, size, size, def, &mut out)?,
                    WindowKind::Hopping { size, advance } => {
                        self.time_row(key, &columns, row, timestamp, size, advance, def, &mut out)?
                    }
                },
            }
            if self.emit_final {
                self.close_windows(self.stream_time, &mut out)?;
            }
        }
        self.current_row = None;
        self.finish(out)
    }

    /// EMIT FINAL beyond ksqlDB: windows also close when the wall clock passes end + grace,
    /// without waiting for a record to advance stream time. The caller supplies the time.
    pub fn on_wall_clock(&mut self, now_ms: i64) -> RuntimeResult<AggregateOutput> {
        let mut out = Vec::new();
        if self.emit_final {
            self.close_windows(self.stream_time.max(now_ms), &mut out)?;
        }
        self.finish(out)
    }

    #[allow(clippy::too_many_arguments)]
    fn table_row(
        &mut self,
        record_key: &[u8],
        key: Option<Vec<u8>>,
        columns: &[ArrayRef],
        row: usize,
        deleted: bool,
        timestamp: i64,
        out: &mut Vec<Emitted>,
    ) -> RuntimeResult<()> {
        let previous = self.source_rows.remove(record_key);
        let new_key = if deleted { None } else { key };
        if let Some(prev) = previous {
            let prev_columns: Vec<ArrayRef> = prev.values.iter().map(|v| v.to_array()).collect::<Result<_, _>>()?;
            let prev_rows = self.converter.convert_columns(&prev_columns[..self.key_count])?;
            let prev_key = prev_rows.row(0).as_ref().to_vec();
            if let Some(mut state) = self.groups.remove(&prev_key) {
                self.apply(&mut state, &prev_columns, 0, true)?;
                let same_group = new_key.as_deref() == Some(prev_key.as_slice());
                if same_group {
                    // One update: Kafka Streams sends old and new together when the group stays.
                    self.apply(&mut state, columns, row, false)?;
                }
                state.timestamp = state.timestamp.max(timestamp);
                self.emit(prev_key.clone(), None, &mut state, out)?;
                self.groups.put(&prev_key, state);
                if same_group {
                    self.remember(record_key, deleted, columns, row);
                    return Ok(());
                }
            }
        }
        self.add_table_row(new_key, columns, row, timestamp, out)?;
        self.remember(record_key, deleted, columns, row);
        Ok(())
    }

    /// Takes table changes read back from the repartition topic instead of table rows.
    pub fn read_changes(&mut self) {
        self.change_input = true;
    }

    /// The schema of [`TableChanges`] batches (`__N`/`__O`-prefixed argument columns).
    pub fn change_schema(&self) -> SchemaRef {
        let fields = self.input_schema.fields();
        let args = &fields[self.key_count..fields.len() - 1];
        let mut out: Vec<Field> = fields[..self.key_count].iter().map(|f| f.as_ref().clone()).collect();
        out.extend(args.iter().map(|f| Field::new(format!("__N{}", f.name()), f.data_type().clone(), true)));
        out.extend(args.iter().map(|f| Field::new(format!("__O{}", f.name()), f.data_type().clone(), true)));
        out.push(Field::new("__NEW", DataType::Boolean, false));
        out.push(Field::new("__OLD", DataType::Boolean, false));
        out.push(fields[fields.len() - 1].as_ref().clone());
        Arc::new(Schema::new(out))
    }

    /// The first half of a table aggregation split at a repartition topic: turns table rows
    /// into changes of groups, using the row each table key had before (kept here, with its
    /// changelog). A row that stays in its group is one change (old and new); one that moves
    /// is two (old for the former group, then new for the next); a delete is old only.
    pub fn table_changes(&mut self, batch: &RecordBatch, deleted: &[bool], record_keys: &[Option<&[u8]>]) -> RuntimeResult<TableChanges> {
        let columns = batch.columns().to_vec();
        let width = columns.len();
        let args = self.key_count..width - 1;
        let nulls: Vec<ScalarValue> = columns[args.clone()].iter().map(|c| ScalarValue::try_from(c.data_type()).unwrap_or(ScalarValue::Null)).collect();
        let mut rows: Vec<Change> = Vec::new();
        let ts = columns[width - 1].clone();
        let ts = ts.as_primitive_opt::<Int64Type>().ok_or_else(|| RuntimeError::Internal("event time is not BIGINT".into()))?;
        for row in 0..batch.num_rows() {
            let Some(record_key) = record_keys.get(row).copied().flatten() else { continue };
            let timestamp = if ts.is_null(row) { 0 } else { ts.value(row) };
            let scalars = |c: &ArrayRef| ScalarValue::try_from_array(c, row);
            let new_key = columns[..self.key_count].iter().map(scalars).collect::<Result<Vec<_>, _>>()?;
            let has_new = !deleted.get(row).copied().unwrap_or(false) && new_key.iter().all(|v| !v.is_null());
            let new_args = columns[args.clone()].iter().map(scalars).collect::<Result<Vec<_>, _>>()?;
            let previous = self.source_rows.remove(record_key);
            if let Some(prev) = previous {
                let old_key = prev.values[..self.key_count].to_vec();
                let old_args = prev.values[args.clone()].to_vec();
                if has_new && old_key == new_key {
                    rows.push(Change { key: new_key, new: Some(new_args), old: Some(old_args), timestamp, origin: row });
                    self.remember(record_key, false, &columns, row);
                    continue;
                }
                rows.push(Change { key: old_key, new: None, old: Some(old_args), timestamp, origin: row });
            }
            if has_new {
                rows.push(Change { key: new_key, new: Some(new_args), old: None, timestamp, origin: row });
            }
            self.remember(record_key, !has_new, &columns, row);
        }
        let schema = self.change_schema();
        let mut out: Vec<ArrayRef> = Vec::with_capacity(schema.fields().len());
        let column = |values: Vec<ScalarValue>, t: &DataType| -> RuntimeResult<ArrayRef> {
            if values.is_empty() {
                return Ok(arrow::array::new_empty_array(t));
            }
            Ok(ScalarValue::iter_to_array(values)?)
        };
        for k in 0..self.key_count {
            out.push(column(rows.iter().map(|r| r.key[k].clone()).collect(), schema.field(k).data_type())?);
        }
        let n_args = args.len();
        for a in 0..n_args {
            out.push(column(rows.iter().map(|r| r.new.as_ref().map_or_else(|| nulls[a].clone(), |v| v[a].clone())).collect(), schema.field(self.key_count + a).data_type())?);
        }
        for a in 0..n_args {
            out.push(column(
                rows.iter().map(|r| r.old.as_ref().map_or_else(|| nulls[a].clone(), |v| v[a].clone())).collect(),
                schema.field(self.key_count + n_args + a).data_type(),
            )?);
        }
        out.push(Arc::new(arrow::array::BooleanArray::from(rows.iter().map(|r| r.new.is_some()).collect::<Vec<_>>())));
        out.push(Arc::new(arrow::array::BooleanArray::from(rows.iter().map(|r| r.old.is_some()).collect::<Vec<_>>())));
        out.push(Arc::new(Int64Array::from(rows.iter().map(|r| r.timestamp).collect::<Vec<_>>())));
        // Columns built from scalars may differ in nullability/type details: cast to the schema.
        let out = out
            .into_iter()
            .zip(schema.fields())
            .map(|(c, f)| if c.data_type() == f.data_type() { Ok(c) } else { arrow::compute::cast(&c, f.data_type()) })
            .collect::<Result<Vec<_>, _>>()?;
        let batch = RecordBatch::try_new(schema, out)?;
        Ok(TableChanges { batch, origin: rows.iter().map(|r| r.origin).collect() })
    }

    /// The second half: applies changes read back from the repartition topic to their group
    /// (old retracted, new added) and emits the group once per change.
    fn on_changes(&mut self, batch: &RecordBatch) -> RuntimeResult<AggregateOutput> {
        let columns = batch.columns();
        let width = columns.len();
        let n_args = (width - self.key_count - 3) / 2;
        let keys = &columns[..self.key_count];
        let ts = columns[width - 1].clone();
        let with_args = |args: &[ArrayRef]| -> Vec<ArrayRef> {
            keys.iter().chain(args).chain(std::iter::once(&ts)).cloned().collect()
        };
        let new_columns = with_args(&columns[self.key_count..self.key_count + n_args]);
        let old_columns = with_args(&columns[self.key_count + n_args..self.key_count + 2 * n_args]);
        let has_new = columns[width - 3].as_boolean_opt().ok_or_else(|| RuntimeError::Internal("change flags are not BOOLEAN".into()))?.clone();
        let has_old = columns[width - 2].as_boolean_opt().ok_or_else(|| RuntimeError::Internal("change flags are not BOOLEAN".into()))?.clone();
        let ts = ts.as_primitive_opt::<Int64Type>().ok_or_else(|| RuntimeError::Internal("event time is not BIGINT".into()))?.clone();
        let rows = self.converter.convert_columns(keys)?;
        let mut out = Vec::new();
        for row in 0..batch.num_rows() {
            self.current_row = Some(row);
            if keys.iter().any(|c| c.is_null(row)) {
                continue;
            }
            let key = rows.row(row).as_ref().to_vec();
            let mut state = match self.groups.remove(&key) {
                Some(s) => s,
                None => self.new_state()?,
            };
            if has_old.is_valid(row) && has_old.value(row) {
                self.apply(&mut state, &old_columns, row, true)?;
            }
            if has_new.is_valid(row) && has_new.value(row) {
                self.apply(&mut state, &new_columns, row, false)?;
            }
            state.timestamp = state.timestamp.max(if ts.is_null(row) { 0 } else { ts.value(row) });
            self.emit(key.clone(), None, &mut state, &mut out)?;
            self.groups.put(&key, state);
        }
        self.current_row = None;
        self.finish(out)
    }

    fn remember(&mut self, record_key: &[u8], deleted: bool, columns: &[ArrayRef], row: usize) {
        if deleted || columns[..self.key_count].iter().any(|c| c.is_null(row)) {
            return;
        }
        let values = columns.iter().map(|c| ScalarValue::try_from_array(c, row).unwrap_or(ScalarValue::Null)).collect();
        self.source_rows.put(record_key, SourceRow { values });
    }

    fn add_table_row(&mut self, key: Option<Vec<u8>>, columns: &[ArrayRef], row: usize, timestamp: i64, out: &mut Vec<Emitted>) -> RuntimeResult<()> {
        let Some(key) = key else { return Ok(()) };
        let mut state = match self.groups.remove(&key) {
            Some(s) => s,
            None => self.new_state()?,
        };
        self.apply(&mut state, columns, row, false)?;
        state.timestamp = state.timestamp.max(timestamp);
        self.emit(key.clone(), None, &mut state, out)?;
        self.groups.put(&key, state);
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    fn time_row(
        &mut self,
        key: Vec<u8>,
        columns: &[ArrayRef],
        row: usize,
        timestamp: i64,
        size: i64,
        advance: i64,
        def: WindowDef,
        out: &mut Vec<Emitted>,
    ) -> RuntimeResult<()> {
        self.stream_time = self.stream_time.max(timestamp);
        let advance = advance.max(1);
        // Kafka Streams' TimeWindows.windowsFor: every window [s, s + size) holding the time.
        let mut start = ((timestamp - size + advance).max(0) / advance) * advance;
        while start <= timestamp {
            let end = start + size;
            if end + def.grace <= self.stream_time {
                self.late_records += 1;
            } else {
                let w = WindowKey { key: key.clone(), start, end };
                let mut state = match self.windows.remove(&w) {
                    Some(s) => s,
                    None => self.new_state()?,
                };
                self.apply(&mut state, columns, row, false)?;
                state.timestamp = state.timestamp.max(timestamp);
                if !self.emit_final {
                    self.emit(key.clone(), Some((start, end)), &mut state, out)?;
                }
                self.windows.put(w, state);
                self.max_window_start = self.max_window_start.max(start);
            }
            start += advance;
        }
        self.evict_expired();
        Ok(())
    }

    /// Evicts the windows out of retention: time windows that started more than the retention
    /// before the latest window start, sessions that ended more than the retention before
    /// stream time.
    fn evict_expired(&mut self) {
        let Some(def) = self.window else { return };
        match def.kind {
            WindowKind::Tumbling { size } | WindowKind::Hopping { size, .. } => {
                // A time window starts `size` before it ends, so the expired ones (start before
                // `oldest_start`) are exactly those ending before `oldest_start + size`: bounding
                // the scan there keeps this per-row check proportional to what it evicts.
                let oldest_start = self.max_window_start.saturating_sub(def.retention);
                self.windows.evict(oldest_start.saturating_add(size).saturating_sub(1), |w| w.start < oldest_start);
            }
            WindowKind::Session { .. } => {
                let oldest_end = self.stream_time.saturating_sub(def.retention);
                self.windows.evict(oldest_end, |w| w.end <= oldest_end);
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn session_row(
        &mut self,
        key: Vec<u8>,
        columns: &[ArrayRef],
        row: usize,
        timestamp: i64,
        gap: i64,
        def: WindowDef,
        out: &mut Vec<Emitted>,
    ) -> RuntimeResult<()> {
        self.stream_time = self.stream_time.max(timestamp);
        // Kafka Streams: a session closes once stream time passes its end + gap + grace, and
        // sessions out of retention (gap + grace) are no longer found for merging.
        let close_time = self.stream_time - def.grace - gap;
        if self.emit_final {
            self.close_windows(self.stream_time, out)?;
        }
        self.evict_expired();
        let merging = self.windows.overlapping(&key, timestamp.saturating_sub(gap), timestamp.saturating_add(gap));
        let start = merging.iter().map(|w| w.start).min().unwrap_or(timestamp).min(timestamp);
        let end = merging.iter().map(|w| w.end).max().unwrap_or(timestamp).max(timestamp);
        if end < close_time {
            self.late_records += 1;
            return Ok(());
        }
        let mut merged = self.new_state()?;
        for w in &merging {
            if let Some(mut old) = self.windows.remove(w) {
                for (acc, other) in merged.accumulators.iter_mut().zip(&old.accumulators) {
                    acc.merge(&other.state())?;
                }
                merged.timestamp = merged.timestamp.max(old.timestamp);
                merged.visible |= old.visible;
                if !self.emit_final && old.visible {
                    old.visible = false;
                    out.push(Emitted { key: key.clone(), window: Some((w.start, w.end)), values: None, timestamp: w.end, origin: self.current_row });
                }
            }
        }
        self.apply(&mut merged, columns, row, false)?;
        merged.timestamp = merged.timestamp.max(timestamp);
        if !self.emit_final {
            merged.visible = false;
            self.emit(key.clone(), Some((start, end)), &mut merged, out)?;
        }
        self.windows.put(WindowKey { key, start, end }, merged);
        Ok(())
    }

    /// EMIT FINAL: emits and forgets the windows that closed by `time`.
    fn close_windows(&mut self, time: i64, out: &mut Vec<Emitted>) -> RuntimeResult<()> {
        let Some(def) = self.window else { return Ok(()) };
        let (session, max_end) = match def.kind {
            // Sessions stay open while a record within the gap could still extend them.
            WindowKind::Session { gap } => (true, time.saturating_sub(def.grace).saturating_sub(gap) - 1),
            _ => (false, time.saturating_sub(def.grace)),
        };
        for w in self.windows.ending_by(max_end) {
            if let Some(mut state) = self.windows.remove(&w) {
                let timestamp = if session { w.end } else { state.timestamp };
                state.timestamp = timestamp;
                self.emit(w.key.clone(), Some((w.start, w.end)), &mut state, out)?;
            }
        }
        Ok(())
    }

    /// Queues `state`'s result for `key` (applying HAVING: a group that stops matching is
    /// emitted as a delete, one that never matched is not emitted).
    fn emit(&self, key: Vec<u8>, window: Option<(i64, i64)>, state: &mut GroupState, out: &mut Vec<Emitted>) -> RuntimeResult<()> {
        let values = Self::result(state);
        let timestamp = match (window, &self.window) {
            (Some((_, end)), Some(WindowDef { kind: WindowKind::Session { .. }, .. })) => end,
            _ => state.timestamp,
        };
        let passes = match &self.having {
            None => true,
            Some(predicate) => {
                let probe = Emitted { key: key.clone(), window, values: Some(values.clone()), timestamp, origin: None };
                let batch = self.rows_batch(&[probe])?;
                let result = predicate.evaluate(&batch).and_then(|v| v.into_array(1));
                matches!(result, Ok(a) if a.as_boolean_opt().is_some_and(|b| b.is_valid(0) && b.value(0)))
            }
        };
        if passes {
            state.visible = true;
            out.push(Emitted { key, window, values: Some(values), timestamp, origin: self.current_row });
        } else if state.visible {
            state.visible = false;
            out.push(Emitted { key, window, values: None, timestamp, origin: self.current_row });
        }
        Ok(())
    }

    fn rows_batch(&self, rows: &[Emitted]) -> RuntimeResult<RecordBatch> {
        let parser = self.converter.parser();
        let keys = self.converter.convert_rows(rows.iter().map(|e| parser.parse(&e.key)))?;
        let mut columns: Vec<ArrayRef> = keys;
        for (i, f) in self.factories.iter().enumerate() {
            let t = &f.call().return_type;
            let values: Vec<ScalarValue> = rows
                .iter()
                .map(|e| match &e.values {
                    Some(v) => v[i].clone(),
                    None => ScalarValue::try_from(t).unwrap_or(ScalarValue::Null),
                })
                .collect();
            let array = if values.is_empty() { arrow::array::new_empty_array(t) } else { ScalarValue::iter_to_array(values)? };
            let array = if array.data_type() != t { arrow::compute::cast(&array, t)? } else { array };
            columns.push(array);
        }
        columns.push(Arc::new(Int64Array::from(rows.iter().map(|e| e.timestamp).collect::<Vec<_>>())));
        if self.window.is_some() {
            columns.push(Arc::new(Int64Array::from(rows.iter().map(|e| e.window.map(|w| w.0)).collect::<Vec<_>>())));
            columns.push(Arc::new(Int64Array::from(rows.iter().map(|e| e.window.map(|w| w.1)).collect::<Vec<_>>())));
        }
        Ok(RecordBatch::try_new(self.output_schema.clone(), columns)?)
    }

    fn finish(&mut self, mut out: Vec<Emitted>) -> RuntimeResult<AggregateOutput> {
        if self.coalesce && out.len() > 1 {
            // Only the last result per key (and window) of the batch.
            let mut seen = std::collections::HashSet::new();
            let mut kept: Vec<Emitted> = Vec::with_capacity(out.len());
            for e in out.into_iter().rev() {
                if seen.insert((e.key.clone(), e.window)) {
                    kept.push(e);
                }
            }
            kept.reverse();
            out = kept;
        }
        let deleted = out.iter().map(|e| e.values.is_none()).collect();
        let origin = out.iter().map(|e| e.origin).collect();
        Ok(AggregateOutput { batch: self.rows_batch(&out)?, deleted, origin })
    }

    /// The changelog records for every store write since the last call: key bytes and the
    /// encoded state (`None` for removed entries), with the state's timestamp.
    pub fn take_changelog(&mut self) -> RuntimeResult<ChangelogRecords> {
        let mut records: ChangelogRecords = Vec::new();
        let mut states: Vec<(Vec<u8>, Option<&GroupState>)> = Vec::new();
        let group_keys = self.groups.take_dirty();
        for k in &group_keys {
            states.push((k.clone(), self.groups.get(k)));
        }
        let window_keys = self.windows.take_dirty();
        for w in &window_keys {
            states.push((w.to_bytes(), self.windows.get(w)));
        }
        let present: Vec<&GroupState> = states.iter().filter_map(|(_, s)| *s).collect();
        let mut encoded = self.encode_states(&present)?.into_iter();
        for (key, state) in &states {
            match state {
                Some(s) => records.push((AGGREGATE_STORE, Some(key.clone()), encoded.next().flatten(), s.timestamp.max(0))),
                None => records.push((AGGREGATE_STORE, Some(key.clone()), None, 0)),
            }
        }
        let row_keys = self.source_rows.take_dirty();
        let rows: Vec<(&Vec<u8>, Option<&SourceRow>)> = row_keys.iter().map(|k| (k, self.source_rows.get(k))).collect();
        let present: Vec<&SourceRow> = rows.iter().filter_map(|(_, r)| *r).collect();
        let mut encoded = self.encode_rows(&present)?.into_iter();
        for (key, row) in rows {
            let value = if row.is_some() { encoded.next().flatten() } else { None };
            records.push((SOURCE_TABLE_STORE, Some(key.clone()), value, 0));
        }
        Ok(records)
    }

    fn encode_states(&self, states: &[&GroupState]) -> RuntimeResult<Vec<Option<Vec<u8>>>> {
        if states.is_empty() {
            return Ok(Vec::new());
        }
        let mut columns: Vec<ArrayRef> = vec![
            Arc::new(Int64Array::from(states.iter().map(|s| s.timestamp).collect::<Vec<_>>())),
            Arc::new(arrow::array::BooleanArray::from(states.iter().map(|s| s.visible).collect::<Vec<_>>())),
        ];
        let mut field = 2;
        for (i, f) in self.factories.iter().enumerate() {
            let per_state: Vec<Vec<ScalarValue>> = states.iter().map(|s| s.accumulators[i].state()).collect();
            for j in 0..f.state_types().len() {
                let t = self.state_schema.field(field).data_type();
                let values: Vec<ScalarValue> = per_state.iter().map(|s| s.get(j).cloned().unwrap_or(ScalarValue::Null)).collect();
                let array = ScalarValue::iter_to_array(values)?;
                columns.push(if array.data_type() != t { arrow::compute::cast(&array, t)? } else { array });
                field += 1;
            }
        }
        let encoded = encode(&Format::Json, &columns, self.state_schema.fields(), Wrapping::Wrapped)?;
        encoded.into_iter().map(|r| r.map_err(RuntimeError::from)).collect()
    }

    fn encode_rows(&self, rows: &[&SourceRow]) -> RuntimeResult<Vec<Option<Vec<u8>>>> {
        if rows.is_empty() {
            return Ok(Vec::new());
        }
        let schema = self.row_decoder_schema();
        let mut columns = Vec::new();
        for (c, f) in schema.fields().iter().enumerate() {
            let values: Vec<ScalarValue> = rows.iter().map(|r| r.values[c].clone()).collect();
            let array = ScalarValue::iter_to_array(values)?;
            columns.push(if array.data_type() != f.data_type() { arrow::compute::cast(&array, f.data_type())? } else { array });
        }
        let encoded = encode(&Format::Json, &columns, schema.fields(), Wrapping::Wrapped)?;
        encoded.into_iter().map(|r| r.map_err(RuntimeError::from)).collect()
    }

    fn row_decoder_schema(&self) -> SchemaRef {
        Arc::new(Schema::new(
            self.input_schema.fields().iter().enumerate().map(|(i, f)| Field::new(format!("C{i}"), f.data_type().clone(), true)).collect::<Vec<_>>(),
        ))
    }

    /// Rebuilds the stores from changelog records of `store` (in topic order).
    pub fn restore(&mut self, store: &str, records: &[ChangelogEntry]) -> RuntimeResult<()> {
        let values: Vec<Option<&[u8]>> = records.iter().map(|(_, v)| v.as_deref()).collect();
        if store == SOURCE_TABLE_STORE {
            let decoded = self.row_decoder.decode(&values)?;
            for (row, (key, value)) in records.iter().enumerate() {
                let Some(key) = key else { continue };
                let row_values = match value {
                    Some(_) => Some(SourceRow {
                        values: decoded.columns.iter().map(|c| ScalarValue::try_from_array(c, row)).collect::<Result<_, _>>()?,
                    }),
                    None => None,
                };
                self.source_rows.restore(key, row_values);
            }
            return Ok(());
        }
        let decoded = self.state_decoder.decode(&values)?;
        for (row, (key, value)) in records.iter().enumerate() {
            let Some(key) = key else { continue };
            let state = match value {
                Some(_) => {
                    let ts = decoded.columns[0].as_primitive::<Int64Type>();
                    let visible = decoded.columns[1].as_boolean();
                    let mut state = self.new_state()?;
                    state.timestamp = if ts.is_null(row) { i64::MIN } else { ts.value(row) };
                    state.visible = visible.is_valid(row) && visible.value(row);
                    let mut field = 2;
                    for (i, f) in self.factories.iter().enumerate() {
                        let n = f.state_types().len();
                        let parts: Vec<ScalarValue> = (field..field + n)
                            .map(|c| ScalarValue::try_from_array(&decoded.columns[c], row))
                            .collect::<Result<_, _>>()?;
                        state.accumulators[i].restore(&parts)?;
                        field += n;
                    }
                    Some(state)
                }
                None => None,
            };
            if self.window.is_some() {
                let w = WindowKey::from_bytes(key).ok_or_else(|| RuntimeError::Execution("changelog key too short for a window".into()))?;
                self.stream_time = self.stream_time.max(state.as_ref().map_or(i64::MIN, |s| s.timestamp));
                if !matches!(self.window.map(|d| d.kind), Some(WindowKind::Session { .. })) {
                    self.max_window_start = self.max_window_start.max(w.start);
                }
                self.windows.restore(w, state);
            } else {
                self.groups.restore(key, state);
            }
        }
        // Windows the changelog still holds but retention has passed (written before their
        // eviction's tombstone, or by an older version) are dropped now, not kept until the
        // next record. Restoring is not a write.
        self.evict_expired();
        self.groups.take_dirty();
        self.windows.take_dirty();
        Ok(())
    }
}
