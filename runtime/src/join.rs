//! The JOIN operator: both inputs' rows, kept in state stores keyed by the join key, and the
//! joined rows they produce, with Kafka Streams' semantics for each kind of join.
//!
//! ```text
//!  left rows ──▶ key = left_key(row) ─┐                     ┌─▶ output rows
//!                                      ├─▶ JoinState ───────┤   (left cols, right cols,
//!  right rows ─▶ key = right_key(row) ─┘   (stores below)   │    ROWTIME, join key)
//!                                                           └─▶ changelog records
//! ```
//! | strategy      | state                                             | emits on                    |
//! |---------------|---------------------------------------------------|-----------------------------|
//! | stream-stream | a window store per side (rows by key and time), an outer store for unmatched rows awaiting their window's close (with GRACE PERIOD) | each row: its matches within the window; outer rows eagerly (no grace) or when the window closes |
//! | stream-table  | the table side's rows by key                      | stream rows                 |
//! | table-table   | both sides' rows by key                           | a change on either side     |
//! | foreign key   | left rows by primary key (plus an index by foreign key), right rows by key | a change on either side; a right change re-joins every left row referencing it |
//!
//! Rows are held in Arrow's row format. Every store write is dirty until [`JoinOperator::take_changelog`]
//! encodes it (`[count][ts, len, JSON row]...`); [`JoinOperator::restore`] replays those records.
//! Window stores drop rows older than the retention (window size + grace), so memory is bounded
//! by the rate of input times the retention.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use arrow::array::{new_null_array, Array, ArrayRef, AsArray, Int64Array};
use arrow::datatypes::{DataType, Field, Fields, Schema, SchemaRef};
use arrow::record_batch::RecordBatch;
use arrow::row::{OwnedRow, RowConverter, SortField};
use datafusion::physical_expr::PhysicalExpr;
use runnel_parser::JoinKind;
use runnel_planner::nodes::{JoinNode, JoinStrategy};

use crate::error::{RuntimeError, RuntimeResult};
use crate::format::{encode, Decoder, Format, Wrapping};
use crate::pipeline::physical;
use crate::state::{KeyValueStore, StateStore, WindowKey, WindowStore};

/// Kafka Streams' legacy join windows (no GRACE PERIOD) keep rows for a day at least.
const LEGACY_RETENTION_MS: i64 = 24 * 60 * 60 * 1000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    Left,
    Right,
}

impl Side {
    fn byte(self) -> u8 {
        match self {
            Side::Right => 0,
            Side::Left => 1,
        }
    }
}

/// A row of one side with its timestamp.
#[derive(Clone)]
struct StoredRow {
    row: OwnedRow,
    timestamp: i64,
}

/// A left row of a foreign-key join: the row and the right key it references.
#[derive(Clone)]
struct ReferencingRow {
    stored: StoredRow,
    foreign_key: Option<Vec<u8>>,
}

/// A candidate match for the extra ON condition: left row, right row, join key, timestamp.
type Candidate<'r> = (Option<&'r OwnedRow>, Option<&'r OwnedRow>, &'r [u8], i64);

/// One joined (or outer) result.
struct Emitted {
    left: Option<OwnedRow>,
    right: Option<OwnedRow>,
    key: Vec<u8>,
    timestamp: i64,
    deleted: bool,
    origin: usize,
    /// Foreign-key joins: the left row's primary key (the result's identity).
    primary: Option<Vec<u8>>,
}

/// What one batch of one side produced.
pub struct JoinOutput {
    pub batch: RecordBatch,
    pub deleted: Vec<bool>,
    /// Per output row, the input row being processed when it was produced.
    pub origin: Vec<usize>,
    /// Per output row, the join key in row format (identifies table rows downstream).
    pub keys: Vec<Vec<u8>>,
}

enum JoinState {
    StreamStream(Box<StreamStreamState>),
    StreamTable { table: KeyValueStore<StoredRow> },
    TableTable { left: KeyValueStore<StoredRow>, right: KeyValueStore<StoredRow> },
    ForeignKey {
        left: KeyValueStore<ReferencingRow>,
        /// Foreign key -> primary keys of the left rows referencing it.
        referencing: BTreeMap<Vec<u8>, BTreeSet<Vec<u8>>>,
        right: KeyValueStore<StoredRow>,
    },
}

struct StreamStreamState {
    before: i64,
    after: i64,
    /// `None`: legacy eager outer results.
    grace: Option<i64>,
    retention: i64,
    left: WindowStore<Vec<StoredRow>>,
    right: WindowStore<Vec<StoredRow>>,
    /// Largest timestamp put into each side's store.
    left_observed: i64,
    right_observed: i64,
    /// Unmatched outer rows by (side byte + key, time), waiting for their window to close.
    outer: Option<WindowStore<Vec<StoredRow>>>,
    stream_time: i64,
    /// Smallest timestamp in the outer store (`i64::MAX` when empty).
    min_outer_time: i64,
}

pub struct JoinOperator {
    kind: JoinKind,
    left_key: Arc<dyn PhysicalExpr>,
    right_key: Arc<dyn PhysicalExpr>,
    left_table_key: Vec<Arc<dyn PhysicalExpr>>,
    filter: Option<Arc<dyn PhysicalExpr>>,
    left_rows: RowConverter,
    right_rows: RowConverter,
    key_rows: RowConverter,
    left_null: OwnedRow,
    right_null: OwnedRow,
    /// A NULL join key (for results whose key is unknown, e.g. a foreign key that is NULL).
    null_key: Vec<u8>,
    left_schema: SchemaRef,
    output_schema: SchemaRef,
    /// Encodes/decodes one side's rows for the changelog.
    left_codec: RowCodec,
    right_codec: RowCodec,
    store_names: [String; 3],
    state: JoinState,
}

impl JoinOperator {
    /// The operator for `node`; `index` numbers the joins of a query (names its stores).
    pub fn new(node: &JoinNode, index: usize) -> RuntimeResult<Self> {
        let left_schema: SchemaRef = Arc::new(node.left.schema().as_arrow().clone());
        let right_schema: SchemaRef = Arc::new(node.right.schema().as_arrow().clone());
        let output_schema: SchemaRef = Arc::new(node.schema.as_arrow().clone());
        let left_rows = converter(&left_schema)?;
        let right_rows = converter(&right_schema)?;
        let key_field = output_schema.field(output_schema.fields().len() - 1);
        let key_rows = RowConverter::new(vec![SortField::new(key_field.data_type().clone())])?;
        let left_null = null_row(&left_rows, &left_schema)?;
        let null_key = key_rows.convert_columns(&[new_null_array(key_field.data_type(), 1)])?.row(0).as_ref().to_vec();
        let right_null = null_row(&right_rows, &right_schema)?;
        let store_names = [format!("Join{index}-Left"), format!("Join{index}-Right"), format!("Join{index}-Outer")];
        let state = match node.strategy {
            JoinStrategy::StreamStream { before, after, grace } => {
                let size = before.saturating_add(after);
                let retention = match grace {
                    Some(g) => size.saturating_add(g),
                    None => size.max(LEGACY_RETENTION_MS),
                };
                let outer = grace.is_some() && node.kind != JoinKind::Inner;
                JoinState::StreamStream(Box::new(StreamStreamState {
                    before,
                    after,
                    grace,
                    retention,
                    left: WindowStore::new(store_names[0].clone()),
                    right: WindowStore::new(store_names[1].clone()),
                    left_observed: i64::MIN,
                    right_observed: i64::MIN,
                    outer: outer.then(|| WindowStore::new(store_names[2].clone())),
                    stream_time: i64::MIN,
                    min_outer_time: i64::MAX,
                }))
            }
            JoinStrategy::StreamTable => JoinState::StreamTable { table: KeyValueStore::new(store_names[1].clone()) },
            JoinStrategy::TableTable => JoinState::TableTable {
                left: KeyValueStore::new(store_names[0].clone()),
                right: KeyValueStore::new(store_names[1].clone()),
            },
            JoinStrategy::ForeignKey => JoinState::ForeignKey {
                left: KeyValueStore::new(store_names[0].clone()),
                referencing: BTreeMap::new(),
                right: KeyValueStore::new(store_names[1].clone()),
            },
        };
        let left_table_key = node
            .left_table_key
            .iter()
            .map(|e| physical(e, node.left.schema()))
            .collect::<RuntimeResult<Vec<_>>>()?;
        Ok(JoinOperator {
            kind: node.kind,
            left_key: physical(&node.left_key, node.left.schema())?,
            right_key: physical(&node.right_key, node.right.schema())?,
            left_table_key,
            filter: match &node.filter {
                Some(f) => Some(physical(f, &node.schema)?),
                None => None,
            },
            left_codec: RowCodec::new(&left_schema)?,
            right_codec: RowCodec::new(&right_schema)?,
            left_rows,
            right_rows,
            key_rows,
            left_null,
            right_null,
            null_key,
            left_schema,
            output_schema,
            store_names,
            state,
        })
    }

    /// The stores this operator writes (and so the changelog topics it needs).
    pub fn store_names(&self) -> Vec<String> {
        match &self.state {
            JoinState::StreamStream(s) if s.outer.is_some() => self.store_names.to_vec(),
            JoinState::StreamTable { .. } => vec![self.store_names[1].clone()],
            _ => self.store_names[..2].to_vec(),
        }
    }

    /// Entries held in the stores.
    pub fn state_entries(&self) -> usize {
        match &self.state {
            JoinState::StreamStream(s) => s.left.entries() + s.right.entries() + s.outer.as_ref().map_or(0, |o| o.entries()),
            JoinState::StreamTable { table } => table.entries(),
            JoinState::TableTable { left, right } => left.entries() + right.entries(),
            JoinState::ForeignKey { left, right, .. } => left.entries() + right.entries(),
        }
    }

    /// Processes one batch of `side`. `deleted[i]`: row `i` is a delete (a tombstone, or a
    /// table row a filter rejected); `timestamps[i]`: its event time.
    pub fn on_batch(&mut self, side: Side, batch: &RecordBatch, deleted: &[bool], timestamps: &[i64]) -> RuntimeResult<JoinOutput> {
        let (key_expr, rows_conv) = match side {
            Side::Left => (&self.left_key, &self.left_rows),
            Side::Right => (&self.right_key, &self.right_rows),
        };
        let key_array = key_expr.evaluate(batch).and_then(|v| v.into_array(batch.num_rows()))?;
        let key_array = if key_array.data_type() != self.key_rows_type() {
            arrow::compute::cast(&key_array, self.key_rows_type())?
        } else {
            key_array
        };
        let keys = self.key_rows.convert_columns(std::slice::from_ref(&key_array))?;
        let rows = rows_conv.convert_columns(batch.columns())?;
        let primary_keys = if side == Side::Left && !self.left_table_key.is_empty() {
            let arrays = self
                .left_table_key
                .iter()
                .map(|e| e.evaluate(batch).and_then(|v| v.into_array(batch.num_rows())))
                .collect::<Result<Vec<_>, _>>()?;
            let converter = RowConverter::new(arrays.iter().map(|a| SortField::new(a.data_type().clone())).collect())?;
            Some(converter.convert_columns(&arrays)?)
        } else {
            None
        };
        let mut out = Vec::new();
        for row in 0..batch.num_rows() {
            let key = (!key_array.is_null(row)).then(|| keys.row(row).as_ref().to_vec());
            let stored = StoredRow { row: rows.row(row).owned(), timestamp: timestamps.get(row).copied().unwrap_or(0) };
            let is_deleted = deleted.get(row).copied().unwrap_or(false);
            match &self.state {
                JoinState::StreamStream(_) => {
                    if let Some(key) = key.filter(|_| !is_deleted) {
                        self.stream_stream_row(side, key, stored, row, &mut out)?;
                    }
                }
                JoinState::StreamTable { .. } => self.stream_table_row(side, key, stored, is_deleted, row, &mut out)?,
                JoinState::TableTable { .. } => {
                    if let Some(key) = key {
                        self.table_table_row(side, key, stored, is_deleted, row, &mut out)?;
                    }
                }
                JoinState::ForeignKey { .. } => {
                    let primary = primary_keys.as_ref().map(|p| p.row(row).as_ref().to_vec());
                    self.foreign_key_row(side, key, primary, stored, is_deleted, row, &mut out)?;
                }
            }
        }
        self.finish(out)
    }

    fn key_rows_type(&self) -> &DataType {
        self.output_schema.field(self.output_schema.fields().len() - 1).data_type()
    }

    /// Whether the extra ON condition holds for each candidate pair (all, without one).
    fn admit(&self, pairs: &[Candidate<'_>]) -> RuntimeResult<Vec<bool>> {
        let Some(filter) = &self.filter else { return Ok(vec![true; pairs.len()]) };
        if pairs.is_empty() {
            return Ok(Vec::new());
        }
        let emitted: Vec<Emitted> = pairs
            .iter()
            .map(|(l, r, k, ts)| Emitted {
                left: l.cloned(),
                right: r.cloned(),
                key: k.to_vec(),
                timestamp: *ts,
                deleted: false,
                origin: 0,
                primary: None,
            })
            .collect();
        let batch = self.rows_batch(&emitted)?;
        let mask = crate::pipeline::evaluate_predicate(filter, &batch)?;
        Ok((0..mask.len()).map(|i| mask.value(i)).collect())
    }

    fn stream_table_row(
        &mut self,
        side: Side,
        key: Option<Vec<u8>>,
        stored: StoredRow,
        deleted: bool,
        origin: usize,
        out: &mut Vec<Emitted>,
    ) -> RuntimeResult<()> {
        let JoinState::StreamTable { table } = &mut self.state else { return Ok(()) };
        let Some(key) = key else { return Ok(()) };
        match side {
            Side::Right => {
                if deleted {
                    table.remove(&key);
                } else {
                    table.put(&key, stored);
                }
            }
            Side::Left => {
                if deleted {
                    return Ok(());
                }
                let right = table.get(&key).map(|r| r.row.clone());
                let matched = match &right {
                    Some(r) => self.admit(&[(Some(&stored.row), Some(r), &key, stored.timestamp)])?[0],
                    None => false,
                };
                if matched || self.kind == JoinKind::Left {
                    let right = if matched { right } else { None };
                    out.push(Emitted { left: Some(stored.row), right, key, timestamp: stored.timestamp, deleted: false, origin, primary: None });
                }
            }
        }
        Ok(())
    }

    fn table_table_row(
        &mut self,
        side: Side,
        key: Vec<u8>,
        stored: StoredRow,
        deleted: bool,
        origin: usize,
        out: &mut Vec<Emitted>,
    ) -> RuntimeResult<()> {
        let JoinState::TableTable { left, right } = &mut self.state else { return Ok(()) };
        let (this, other) = match side {
            Side::Left => (left, right),
            Side::Right => (right, left),
        };
        let old = if deleted { this.remove(&key) } else { this.get(&key).cloned() };
        let timestamp = stored.timestamp;
        let new = (!deleted).then_some(stored);
        if let Some(n) = &new {
            this.put(&key, n.clone());
        }
        let other = other.get(&key).cloned();
        // Kafka Streams' KTable-KTable join processors, seen from the side that changed.
        let this_outer = match side {
            Side::Left => matches!(self.kind, JoinKind::Left | JoinKind::Full),
            Side::Right => matches!(self.kind, JoinKind::Right | JoinKind::Full),
        };
        let other_outer = match side {
            Side::Left => matches!(self.kind, JoinKind::Right | JoinKind::Full),
            Side::Right => matches!(self.kind, JoinKind::Left | JoinKind::Full),
        };
        let pair = |this_row: Option<OwnedRow>, other_row: Option<OwnedRow>| match side {
            Side::Left => (this_row, other_row),
            Side::Right => (other_row, this_row),
        };
        // A match that fails the extra ON condition counts as no match.
        let other = match (&other, &new) {
            (Some(o), Some(n)) => {
                let (l, r) = pair(Some(n.row.clone()), Some(o.row.clone()));
                if self.admit(&[(l.as_ref(), r.as_ref(), &key, timestamp)])?[0] {
                    other
                } else {
                    None
                }
            }
            _ => other,
        };
        match other {
            None => {
                if !this_outer || (new.is_none() && old.is_none()) {
                    if !this_outer && self.filter.is_some() && old.is_some() {
                        // Retract a previous match that no longer holds.
                        out.push(Emitted { left: None, right: None, key, timestamp, deleted: true, origin, primary: None });
                    }
                    return Ok(());
                }
                match new {
                    Some(n) => {
                        let (l, r) = pair(Some(n.row), None);
                        out.push(Emitted { left: l, right: r, key, timestamp, deleted: false, origin, primary: None });
                    }
                    None => out.push(Emitted { left: None, right: None, key, timestamp, deleted: true, origin, primary: None }),
                }
            }
            Some(o) => {
                let timestamp = timestamp.max(o.timestamp);
                match new {
                    Some(n) => {
                        let (l, r) = pair(Some(n.row), Some(o.row));
                        out.push(Emitted { left: l, right: r, key, timestamp, deleted: false, origin, primary: None });
                    }
                    None if other_outer => {
                        let (l, r) = pair(None, Some(o.row));
                        out.push(Emitted { left: l, right: r, key, timestamp, deleted: false, origin, primary: None });
                    }
                    None => out.push(Emitted { left: None, right: None, key, timestamp, deleted: true, origin, primary: None }),
                }
            }
        }
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    fn foreign_key_row(
        &mut self,
        side: Side,
        key: Option<Vec<u8>>,
        primary: Option<Vec<u8>>,
        stored: StoredRow,
        deleted: bool,
        origin: usize,
        out: &mut Vec<Emitted>,
    ) -> RuntimeResult<()> {
        let left_join = self.kind == JoinKind::Left;
        let timestamp = stored.timestamp;
        match side {
            Side::Left => {
                let Some(primary) = primary else { return Ok(()) };
                let JoinState::ForeignKey { left, referencing, right } = &mut self.state else { return Ok(()) };
                let old = left.remove(&primary);
                if let Some(old) = &old {
                    if let Some(fk) = &old.foreign_key {
                        if let Some(set) = referencing.get_mut(fk) {
                            set.remove(&primary);
                            if set.is_empty() {
                                referencing.remove(fk);
                            }
                        }
                    }
                }
                if deleted {
                    // Only a row that existed is retracted; the tombstone carries its key columns.
                    let Some(old) = old else { return Ok(()) };
                    let row = old.stored.row;
                    let key = key.unwrap_or_else(|| self.null_key.clone());
                    out.push(Emitted { left: Some(row), right: None, key, timestamp, deleted: true, origin, primary: Some(primary) });
                    return Ok(());
                }
                if let Some(fk) = &key {
                    referencing.entry(fk.clone()).or_default().insert(primary.clone());
                }
                left.put(&primary, ReferencingRow { stored: stored.clone(), foreign_key: key.clone() });
                let right_row = key.as_ref().and_then(|fk| right.get(fk)).map(|r| r.row.clone());
                if old.is_none() && right_row.is_none() && !left_join {
                    // Kafka Streams propagates a new row of an inner join only once it matches.
                    return Ok(());
                }
                let key = key.unwrap_or_else(|| self.null_key.clone());
                self.emit_foreign(primary, Some(stored.row), right_row, key, timestamp, left_join, origin, out)?;
            }
            Side::Right => {
                let Some(key) = key else { return Ok(()) };
                let JoinState::ForeignKey { left, referencing, right } = &mut self.state else { return Ok(()) };
                if deleted {
                    right.remove(&key);
                } else {
                    right.put(&key, stored.clone());
                }
                let primaries: Vec<Vec<u8>> = referencing.get(&key).map(|s| s.iter().cloned().collect()).unwrap_or_default();
                let lefts: Vec<(Vec<u8>, OwnedRow)> =
                    primaries.into_iter().filter_map(|p| left.get(&p).map(|l| (p, l.stored.row.clone()))).collect();
                let right_row = (!deleted).then_some(stored.row);
                for (primary, left_row) in lefts {
                    self.emit_foreign(primary, Some(left_row), right_row.clone(), key.clone(), timestamp, left_join, origin, out)?;
                }
            }
        }
        Ok(())
    }

    /// A foreign-key result for the left row `primary`: joined, left-only (LEFT JOIN) or a
    /// tombstone (INNER JOIN without a match), as Kafka Streams' response processor does.
    #[allow(clippy::too_many_arguments)]
    fn emit_foreign(
        &self,
        primary: Vec<u8>,
        left: Option<OwnedRow>,
        right: Option<OwnedRow>,
        foreign_key: Vec<u8>,
        timestamp: i64,
        left_join: bool,
        origin: usize,
        out: &mut Vec<Emitted>,
    ) -> RuntimeResult<()> {
        let right = match &right {
            Some(r) if self.admit(&[(left.as_ref(), Some(r), &foreign_key, timestamp)])?[0] => right,
            _ => None,
        };
        // The result is keyed by the left row's primary key columns (so a tombstone keeps the
        // left row); the join key column carries the foreign key.
        let deleted = right.is_none() && !left_join;
        out.push(Emitted { left, right, key: foreign_key, timestamp, deleted, origin, primary: Some(primary) });
        Ok(())
    }

    fn stream_stream_row(&mut self, side: Side, key: Vec<u8>, stored: StoredRow, origin: usize, out: &mut Vec<Emitted>) -> RuntimeResult<()> {
        let JoinState::StreamStream(state) = &mut self.state else { return Ok(()) };
        let ts = stored.timestamp;
        let (this_before, this_after) = match side {
            Side::Left => (state.before, state.after),
            Side::Right => (state.after, state.before),
        };
        let time_from = ts.saturating_sub(this_before).max(0);
        let time_to = ts.saturating_add(this_after).max(0);
        state.stream_time = state.stream_time.max(ts);
        if state.outer.is_some() && ts == state.stream_time {
            let mut closed = Vec::new();
            state.take_closed_outer(this_after, &mut closed);
            for (w, rows) in closed {
                let Some((&side_byte, key)) = w.key.split_first() else { continue };
                for r in rows {
                    let (left, right) = if side_byte == Side::Left.byte() { (Some(r.row), None) } else { (None, Some(r.row)) };
                    out.push(Emitted { left, right, key: key.to_vec(), timestamp: w.start, deleted: false, origin, primary: None });
                }
            }
        }
        let (other, other_observed) = match side {
            Side::Left => (&state.right, state.right_observed),
            Side::Right => (&state.left, state.left_observed),
        };
        // Rows older than the other store's retention are gone (Kafka Streams' fetch starts there).
        let live_from = other_observed.saturating_sub(state.retention).saturating_add(1);
        let mut candidates: Vec<(i64, OwnedRow)> = Vec::new();
        for w in other.overlapping(&key, time_from, time_to) {
            if w.start < live_from.max(time_from) || w.start > time_to {
                continue;
            }
            if let Some(rows) = other.get(&w) {
                candidates.extend(rows.iter().map(|r| (r.timestamp, r.row.clone())));
            }
        }
        let pairs: Vec<Candidate<'_>> = candidates
            .iter()
            .map(|(other_ts, other_row)| {
                let (l, r) = match side {
                    Side::Left => (Some(&stored.row), Some(other_row)),
                    Side::Right => (Some(other_row), Some(&stored.row)),
                };
                (l, r, key.as_slice(), ts.max(*other_ts))
            })
            .collect();
        let admitted = self.admit(&pairs)?;
        let JoinState::StreamStream(state) = &mut self.state else { return Ok(()) };
        let other_side = match side {
            Side::Left => Side::Right,
            Side::Right => Side::Left,
        };
        let mut matched = false;
        for ((other_ts, other_row), ok) in candidates.into_iter().zip(admitted) {
            if !ok {
                continue;
            }
            matched = true;
            if let Some(outer) = state.outer.as_mut() {
                outer.remove(&outer_key(other_side, &key, other_ts));
            }
            let (left, right) = match side {
                Side::Left => (Some(stored.row.clone()), Some(other_row)),
                Side::Right => (Some(other_row), Some(stored.row.clone())),
            };
            out.push(Emitted { left, right, key: key.clone(), timestamp: ts.max(other_ts), deleted: false, origin, primary: None });
        }
        let this_outer = match side {
            Side::Left => matches!(self.kind, JoinKind::Left | JoinKind::Full),
            Side::Right => matches!(self.kind, JoinKind::Right | JoinKind::Full),
        };
        if !matched && this_outer {
            match state.outer.as_mut() {
                Some(outer) if time_to >= state.stream_time => {
                    state.min_outer_time = state.min_outer_time.min(ts);
                    let w = outer_key(side, &key, ts);
                    let mut rows = outer.remove(&w).unwrap_or_default();
                    rows.push(stored.clone());
                    outer.put(w, rows);
                }
                _ => {
                    let (left, right) = match side {
                        Side::Left => (Some(stored.row.clone()), None),
                        Side::Right => (None, Some(stored.row.clone())),
                    };
                    out.push(Emitted { left, right, key: key.clone(), timestamp: ts, deleted: false, origin, primary: None });
                }
            }
        }
        // Then the row joins its side's store (Kafka Streams' KStreamJoinWindow puts after
        // forwarding), unless it is already out of retention there.
        let retention = state.retention;
        let (store, observed) = match side {
            Side::Left => (&mut state.left, &mut state.left_observed),
            Side::Right => (&mut state.right, &mut state.right_observed),
        };
        *observed = (*observed).max(ts);
        let oldest = observed.saturating_sub(retention);
        if ts > oldest {
            let w = WindowKey { key, start: ts, end: ts };
            let mut rows = store.remove(&w).unwrap_or_default();
            rows.push(stored);
            store.put(w, rows);
        }
        store.evict(oldest, |w| w.end <= oldest);
        Ok(())
    }

    fn rows_batch(&self, rows: &[Emitted]) -> RuntimeResult<RecordBatch> {
        let left = self.left_rows.convert_rows(rows.iter().map(|e| e.left.as_ref().map_or(self.left_null.row(), |r| r.row())))?;
        let right = self.right_rows.convert_rows(rows.iter().map(|e| e.right.as_ref().map_or(self.right_null.row(), |r| r.row())))?;
        let parser = self.key_rows.parser();
        let keys = self.key_rows.convert_rows(rows.iter().map(|e| parser.parse(&e.key)))?;
        let mut columns: Vec<ArrayRef> = left;
        columns.extend(right);
        columns.push(Arc::new(Int64Array::from(rows.iter().map(|e| e.timestamp).collect::<Vec<_>>())));
        columns.extend(keys);
        let columns = columns
            .into_iter()
            .zip(self.output_schema.fields())
            .map(|(c, f)| if c.data_type() == f.data_type() { Ok(c) } else { arrow::compute::cast(&c, f.data_type()) })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(RecordBatch::try_new(self.output_schema.clone(), columns)?)
    }

    fn finish(&self, out: Vec<Emitted>) -> RuntimeResult<JoinOutput> {
        let batch = if out.is_empty() { RecordBatch::new_empty(self.output_schema.clone()) } else { self.rows_batch(&out)? };
        Ok(JoinOutput {
            batch,
            deleted: out.iter().map(|e| e.deleted).collect(),
            origin: out.iter().map(|e| e.origin).collect(),
            keys: out.into_iter().map(|e| e.primary.unwrap_or(e.key)).collect(),
        })
    }

    /// Changelog records for every store write since the last call: (store, key, value, ts).
    pub fn take_changelog(&mut self) -> RuntimeResult<ChangelogOut> {
        let mut records = Vec::new();
        let names = self.store_names.clone();
        match &mut self.state {
            JoinState::StreamStream(state) => {
                window_changelog(&names[0], &mut state.left, |_| (&self.left_codec, &self.left_rows), &mut records)?;
                window_changelog(&names[1], &mut state.right, |_| (&self.right_codec, &self.right_rows), &mut records)?;
                if let Some(outer) = state.outer.as_mut() {
                    let (left, right) = ((&self.left_codec, &self.left_rows), (&self.right_codec, &self.right_rows));
                    window_changelog(&names[2], outer, |w| if w.key.first() == Some(&Side::Left.byte()) { left } else { right }, &mut records)?;
                }
            }
            JoinState::StreamTable { table } => kv_changelog(&names[1], table, &self.right_codec, &self.right_rows, |r| r, &mut records)?,
            JoinState::TableTable { left, right } => {
                kv_changelog(&names[0], left, &self.left_codec, &self.left_rows, |r| r, &mut records)?;
                kv_changelog(&names[1], right, &self.right_codec, &self.right_rows, |r| r, &mut records)?;
            }
            JoinState::ForeignKey { left, right, .. } => {
                kv_changelog(&names[0], left, &self.left_codec, &self.left_rows, |r| &r.stored, &mut records)?;
                kv_changelog(&names[1], right, &self.right_codec, &self.right_rows, |r| r, &mut records)?;
            }
        }
        Ok(records)
    }

    /// Rebuilds `store` from its changelog records (in topic order).
    pub fn restore(&mut self, store: &str, records: &[crate::aggregate::ChangelogEntry]) -> RuntimeResult<()> {
        let Some(which) = self.store_names.iter().position(|n| n == store) else {
            return Err(RuntimeError::Execution(format!("{store} is not a store of this join")));
        };
        let left_side = which == 0;
        for (key, value) in records {
            let Some(key) = key else { continue };
            let (codec, rows_conv) = match which {
                0 => (&mut self.left_codec, &self.left_rows),
                1 => (&mut self.right_codec, &self.right_rows),
                _ => {
                    if key.first() == Some(&Side::Left.byte()) {
                        (&mut self.left_codec, &self.left_rows)
                    } else {
                        (&mut self.right_codec, &self.right_rows)
                    }
                }
            };
            let rows = match value {
                Some(v) => Some(codec.decode(v, rows_conv)?),
                None => None,
            };
            match &mut self.state {
                JoinState::StreamStream(state) => {
                    let w = WindowKey::from_bytes(key).ok_or_else(|| RuntimeError::Execution(format!("changelog key of {store} too short for a window")))?;
                    let ts = w.start;
                    match which {
                        0 => {
                            state.left_observed = state.left_observed.max(ts);
                            state.left.restore(w, rows);
                        }
                        1 => {
                            state.right_observed = state.right_observed.max(ts);
                            state.right.restore(w, rows);
                        }
                        _ => {
                            if let Some(outer) = state.outer.as_mut() {
                                outer.restore(w, rows);
                            }
                        }
                    }
                    state.stream_time = state.stream_time.max(ts);
                }
                JoinState::StreamTable { table } => table.restore(key, rows.and_then(|r| r.into_iter().next())),
                JoinState::TableTable { left, right } => {
                    let store = if left_side { left } else { right };
                    store.restore(key, rows.and_then(|r| r.into_iter().next()));
                }
                JoinState::ForeignKey { left, right, .. } => {
                    if left_side {
                        // The foreign key is recomputed below, once every row is back.
                        left.restore(key, rows.and_then(|r| r.into_iter().next()).map(|stored| ReferencingRow { stored, foreign_key: None }));
                    } else {
                        right.restore(key, rows.and_then(|r| r.into_iter().next()));
                    }
                }
            }
        }
        self.after_restore()
    }

    /// Derived state: the foreign-key index, the outer store's oldest time, evictions.
    fn after_restore(&mut self) -> RuntimeResult<()> {
        match &mut self.state {
            JoinState::ForeignKey { left, referencing, .. } => {
                let entries: Vec<(Vec<u8>, OwnedRow)> = left.iter().map(|(k, v)| (k.clone(), v.stored.row.clone())).collect();
                if entries.is_empty() {
                    return Ok(());
                }
                let columns = self.left_rows.convert_rows(entries.iter().map(|(_, r)| r.row()))?;
                let batch = RecordBatch::try_new(self.left_schema.clone(), columns)?;
                let fk = self.left_key.evaluate(&batch).and_then(|v| v.into_array(batch.num_rows()))?;
                let fk_rows = self.key_rows.convert_columns(std::slice::from_ref(&fk))?;
                referencing.clear();
                for (i, (primary, _)) in entries.iter().enumerate() {
                    let foreign = (!fk.is_null(i)).then(|| fk_rows.row(i).as_ref().to_vec());
                    if let Some(f) = &foreign {
                        referencing.entry(f.clone()).or_default().insert(primary.clone());
                    }
                    left.restore(primary, left.get(primary).cloned().map(|mut r| {
                        r.foreign_key = foreign.clone();
                        r
                    }));
                }
                left.take_dirty();
            }
            JoinState::StreamStream(state) => {
                state.min_outer_time = state.outer.as_ref().and_then(|o| o.iter().map(|(w, _)| w.start).min()).unwrap_or(i64::MAX);
                let retention = state.retention;
                let oldest = state.left_observed.saturating_sub(retention);
                state.left.evict(oldest, |w| w.end <= oldest);
                let oldest = state.right_observed.saturating_sub(retention);
                state.right.evict(oldest, |w| w.end <= oldest);
                state.left.take_dirty();
                state.right.take_dirty();
                if let Some(o) = state.outer.as_mut() {
                    o.take_dirty();
                }
            }
            JoinState::StreamTable { table } => {
                table.take_dirty();
            }
            JoinState::TableTable { left, right } => {
                left.take_dirty();
                right.take_dirty();
            }
        }
        Ok(())
    }
}

impl StreamStreamState {
    /// Takes the outer store's rows whose window has closed (time + the other side's window +
    /// grace before stream time), in (time, side, key) order.
    fn take_closed_outer(&mut self, this_after: i64, closed: &mut Vec<(WindowKey, Vec<StoredRow>)>) {
        let Some(outer) = self.outer.as_mut() else { return };
        let grace = self.grace.unwrap_or(0);
        if self.min_outer_time.saturating_add(this_after).saturating_add(grace) >= self.stream_time {
            return;
        }
        let mut remaining_min = i64::MAX;
        for w in outer.ending_by(i64::MAX) {
            let look_back = if w.key.first() == Some(&Side::Left.byte()) { self.after } else { self.before };
            if w.start.saturating_add(look_back).saturating_add(grace) >= self.stream_time {
                remaining_min = remaining_min.min(w.start);
                continue;
            }
            if let Some(rows) = outer.remove(&w) {
                closed.push((w, rows));
            }
        }
        self.min_outer_time = remaining_min;
    }
}

fn outer_key(side: Side, key: &[u8], ts: i64) -> WindowKey {
    let mut k = Vec::with_capacity(key.len() + 1);
    k.push(side.byte());
    k.extend_from_slice(key);
    WindowKey { key: k, start: ts, end: ts }
}

fn converter(schema: &SchemaRef) -> RuntimeResult<RowConverter> {
    Ok(RowConverter::new(schema.fields().iter().map(|f| SortField::new(f.data_type().clone())).collect())?)
}

fn null_row(conv: &RowConverter, schema: &SchemaRef) -> RuntimeResult<OwnedRow> {
    let nulls: Vec<ArrayRef> = schema.fields().iter().map(|f| new_null_array(f.data_type(), 1)).collect();
    Ok(conv.convert_columns(&nulls)?.row(0).owned())
}

/// Encodes stored rows for a changelog record: `[count: u32]` then per row
/// `[timestamp: i64][length: u32][the row as a JSON object]` (big-endian).
struct RowCodec {
    schema: SchemaRef,
    fields: Fields,
    decoder: Decoder,
}

impl RowCodec {
    fn new(schema: &SchemaRef) -> RuntimeResult<Self> {
        // Positional names: a side's columns may repeat names across qualifiers.
        let fields: Fields =
            schema.fields().iter().enumerate().map(|(i, f)| Field::new(format!("C{i}"), f.data_type().clone(), true)).collect();
        let codec_schema = Arc::new(Schema::new(fields.clone()));
        Ok(RowCodec { decoder: Decoder::new(Format::Json, codec_schema.clone(), Wrapping::Wrapped)?, schema: codec_schema, fields })
    }

    fn encode(&self, rows: &[&StoredRow], conv: &RowConverter) -> RuntimeResult<Vec<u8>> {
        let columns = conv.convert_rows(rows.iter().map(|r| r.row.row()))?;
        let encoded = encode(&Format::Json, &columns, &self.fields, Wrapping::Wrapped)?;
        let mut out = Vec::new();
        out.extend_from_slice(&(rows.len() as u32).to_be_bytes());
        for (r, bytes) in rows.iter().zip(encoded) {
            let bytes = bytes?.unwrap_or_default();
            out.extend_from_slice(&r.timestamp.to_be_bytes());
            out.extend_from_slice(&(bytes.len() as u32).to_be_bytes());
            out.extend_from_slice(&bytes);
        }
        Ok(out)
    }

    fn decode(&mut self, bytes: &[u8], conv: &RowConverter) -> RuntimeResult<Vec<StoredRow>> {
        let malformed = || RuntimeError::Execution("malformed join changelog record".into());
        let mut rest = bytes;
        let mut take = |n: usize| -> RuntimeResult<&[u8]> {
            if rest.len() < n {
                return Err(malformed());
            }
            let (head, tail) = rest.split_at(n);
            rest = tail;
            Ok(head)
        };
        let count = u32::from_be_bytes(take(4)?.try_into().map_err(|_| malformed())?) as usize;
        let mut timestamps = Vec::with_capacity(count.min(1024));
        let mut payloads: Vec<Option<&[u8]>> = Vec::with_capacity(count.min(1024));
        for _ in 0..count {
            let ts = i64::from_be_bytes(take(8)?.try_into().map_err(|_| malformed())?);
            let len = u32::from_be_bytes(take(4)?.try_into().map_err(|_| malformed())?) as usize;
            timestamps.push(ts);
            payloads.push(Some(take(len)?));
        }
        let decoded = self.decoder.decode(&payloads)?;
        if let Some((_, e)) = decoded.errors.first() {
            return Err(RuntimeError::Execution(format!("malformed join changelog row: {e}")));
        }
        let columns: Vec<ArrayRef> = decoded
            .columns
            .into_iter()
            .zip(self.schema.fields())
            .map(|(c, f)| if c.data_type() == f.data_type() { Ok(c) } else { arrow::compute::cast(&c, f.data_type()) })
            .collect::<Result<_, _>>()?;
        let rows = conv.convert_columns(&columns)?;
        Ok(timestamps.into_iter().enumerate().map(|(i, timestamp)| StoredRow { row: rows.row(i).owned(), timestamp }).collect())
    }
}

/// Changelog records: (store, key, value, timestamp); a `None` value deletes the key.
pub type ChangelogOut = Vec<(String, Option<Vec<u8>>, Option<Vec<u8>>, i64)>;

fn kv_changelog<V>(
    name: &str,
    store: &mut KeyValueStore<V>,
    codec: &RowCodec,
    conv: &RowConverter,
    stored: impl Fn(&V) -> &StoredRow,
    out: &mut ChangelogOut,
) -> RuntimeResult<()> {
    for key in store.take_dirty() {
        match store.get(&key) {
            Some(v) => {
                let row = stored(v);
                out.push((name.to_string(), Some(key), Some(codec.encode(&[row], conv)?), row.timestamp));
            }
            None => out.push((name.to_string(), Some(key), None, 0)),
        }
    }
    Ok(())
}

fn window_changelog<'c>(
    name: &str,
    store: &mut WindowStore<Vec<StoredRow>>,
    codec_for: impl Fn(&WindowKey) -> (&'c RowCodec, &'c RowConverter),
    out: &mut ChangelogOut,
) -> RuntimeResult<()> {
    for w in store.take_dirty() {
        let (codec, conv) = codec_for(&w);
        match store.get(&w) {
            Some(rows) => {
                let refs: Vec<&StoredRow> = rows.iter().collect();
                out.push((name.to_string(), Some(w.to_bytes()), Some(codec.encode(&refs, conv)?), w.start));
            }
            None => out.push((name.to_string(), Some(w.to_bytes()), None, w.start.max(0))),
        }
    }
    Ok(())
}

/// The timestamps of a batch's rows from its ROWTIME column (`index`).
pub fn timestamps(batch: &RecordBatch, index: usize) -> Vec<i64> {
    match batch.column(index).as_primitive_opt::<arrow::datatypes::Int64Type>() {
        Some(ts) => (0..ts.len()).map(|i| if ts.is_null(i) { 0 } else { ts.value(i) }).collect(),
        None => vec![0; batch.num_rows()],
    }
}
