//! Table store: the current rows of a materialized table, in the order Kafka Streams' stores
//! give them (partition, then serialized key, then window), for pull queries.
//!
//! The query that materializes a table writes it ([`TableStore::apply`], one write lock per
//! batch) on whatever thread runs the query; pull queries read it from the engine
//! ([`TableStore::scan`], one read lock per scan). Rows are kept in Arrow's row format, so a
//! scan converts the selected rows back into columns in one go.

use std::collections::BTreeMap;
use std::ops::Bound;
use std::sync::{Arc, PoisonError, RwLock};

use arrow::array::{ArrayRef, Int32Array};
use arrow::datatypes::SchemaRef;
use arrow::row::{OwnedRow, RowConverter, SortField};

use super::StateStore;
use crate::error::{RuntimeError, RuntimeResult};

/// Where a row sits: Kafka Streams iterates partition by partition, each in key byte order.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct RowPosition {
    pub partition: i32,
    /// The serialized key (without window bounds).
    pub key: Vec<u8>,
    /// Window start and end (0, 0 for non-windowed tables).
    pub window: (i64, i64),
}

/// One change to apply: the row's position, and its values (`None` deletes it).
pub struct RowChange {
    pub position: RowPosition,
    /// Index of the row in the batch given to [`TableStore::apply`]; `None` deletes.
    pub row: Option<usize>,
}

/// Which rows a scan reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScanRange {
    /// Exact keys (partition, serialized key) in lookup order; `None` reads every key.
    pub keys: Option<Vec<(i32, Vec<u8>)>>,
    /// Bounds on the window start and end (windowed tables).
    pub window_start: (Bound<i64>, Bound<i64>),
    pub window_end: (Bound<i64>, Bound<i64>),
}

impl ScanRange {
    pub fn all() -> Self {
        ScanRange { keys: None, window_start: (Bound::Unbounded, Bound::Unbounded), window_end: (Bound::Unbounded, Bound::Unbounded) }
    }

    fn admits_window(&self, (start, end): (i64, i64)) -> bool {
        in_bounds(start, &self.window_start) && in_bounds(end, &self.window_end)
    }
}

fn in_bounds(v: i64, (low, high): &(Bound<i64>, Bound<i64>)) -> bool {
    let above = match low {
        Bound::Included(l) => v >= *l,
        Bound::Excluded(l) => v > *l,
        Bound::Unbounded => true,
    };
    let below = match high {
        Bound::Included(h) => v <= *h,
        Bound::Excluded(h) => v < *h,
        Bound::Unbounded => true,
    };
    above && below
}

/// The rows of one table; cheap to clone (a shared handle).
#[derive(Clone)]
pub struct TableStore {
    name: Arc<str>,
    /// The columns of every row (the table's columns, ROWTIME, window bounds if windowed).
    schema: SchemaRef,
    converter: Arc<RowConverter>,
    rows: Arc<RwLock<BTreeMap<RowPosition, OwnedRow>>>,
}

impl std::fmt::Debug for TableStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TableStore").field("name", &self.name).field("schema", &self.schema).finish()
    }
}

impl TableStore {
    pub fn new(name: &str, schema: SchemaRef) -> RuntimeResult<Self> {
        let fields = schema.fields().iter().map(|f| SortField::new(f.data_type().clone())).collect();
        let converter = RowConverter::new(fields)?;
        Ok(TableStore { name: name.into(), schema, converter: Arc::new(converter), rows: Arc::default() })
    }

    /// The columns of every row.
    pub fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    /// Applies `changes`, whose rows are in `columns` (of [`TableStore::schema`]).
    pub fn apply(&self, columns: &[ArrayRef], changes: Vec<RowChange>) -> RuntimeResult<()> {
        if changes.is_empty() {
            return Ok(());
        }
        let rows = self.converter.convert_columns(columns)?;
        let mut map = self.rows.write().unwrap_or_else(PoisonError::into_inner);
        for change in changes {
            match change.row {
                Some(i) if i < rows.num_rows() => {
                    map.insert(change.position, rows.row(i).owned());
                }
                Some(_) => return Err(RuntimeError::Internal("table store change names a row past the batch".into())),
                None => {
                    map.remove(&change.position);
                }
            }
        }
        Ok(())
    }

    /// The rows in `range`, in store order, as columns of [`TableStore::schema`], with each
    /// row's partition.
    pub fn scan(&self, range: &ScanRange) -> RuntimeResult<(Vec<ArrayRef>, Int32Array)> {
        let map = self.rows.read().unwrap_or_else(PoisonError::into_inner);
        let entries: Vec<(&RowPosition, &OwnedRow)> = match &range.keys {
            None => map.iter().filter(|(p, _)| range.admits_window(p.window)).collect(),
            Some(keys) => keys
                .iter()
                .flat_map(|(partition, key)| {
                    let low = RowPosition { partition: *partition, key: key.clone(), window: (i64::MIN, i64::MIN) };
                    let high = RowPosition { partition: *partition, key: key.clone(), window: (i64::MAX, i64::MAX) };
                    map.range(low..=high)
                })
                .filter(|(p, _)| range.admits_window(p.window))
                .collect(),
        };
        let partitions: Vec<i32> = entries.iter().map(|(p, _)| p.partition).collect();
        let selected = entries.iter().map(|(_, row)| row.row());
        let columns = self.converter.convert_rows(selected)?;
        Ok((columns, Int32Array::from(partitions)))
    }

    /// Removes windows that ended before `min_end` (out of retention).
    pub fn evict_windows_ending_before(&self, min_end: i64) {
        let mut map = self.rows.write().unwrap_or_else(PoisonError::into_inner);
        map.retain(|p, _| p.window.1 >= min_end);
    }
}

impl StateStore for TableStore {
    fn name(&self) -> &str {
        &self.name
    }
    fn entries(&self) -> usize {
        self.rows.read().unwrap_or_else(PoisonError::into_inner).len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{AsArray, Int64Array, StringArray};
    use arrow::datatypes::{DataType, Field, Int64Type, Schema};

    fn store() -> TableStore {
        let schema = Arc::new(Schema::new(vec![Field::new("K", DataType::Utf8, true), Field::new("V", DataType::Int64, true)]));
        TableStore::new("t", schema).unwrap()
    }

    fn position(partition: i32, key: &str, window: (i64, i64)) -> RowPosition {
        RowPosition { partition, key: key.as_bytes().to_vec(), window }
    }

    #[test]
    fn scans_in_partition_then_key_order_and_looks_up_keys() {
        let store = store();
        let columns: Vec<ArrayRef> =
            vec![Arc::new(StringArray::from(vec!["b", "a", "c"])), Arc::new(Int64Array::from(vec![1, 2, 3]))];
        let changes = vec![
            RowChange { position: position(1, "b", (0, 0)), row: Some(0) },
            RowChange { position: position(1, "a", (0, 0)), row: Some(1) },
            RowChange { position: position(0, "c", (0, 0)), row: Some(2) },
        ];
        store.apply(&columns, changes).unwrap();
        let (cols, partitions) = store.scan(&ScanRange::all()).unwrap();
        let keys: Vec<&str> = cols[0].as_string::<i32>().iter().flatten().collect();
        assert_eq!(keys, vec!["c", "a", "b"]);
        assert_eq!(partitions.values().to_vec(), vec![0, 1, 1]);

        let lookup = ScanRange { keys: Some(vec![(1, b"b".to_vec()), (0, b"zz".to_vec())]), ..ScanRange::all() };
        let (cols, _) = store.scan(&lookup).unwrap();
        assert_eq!(cols[1].as_primitive::<Int64Type>().values().to_vec(), vec![1]);

        store.apply(&columns, vec![RowChange { position: position(1, "b", (0, 0)), row: None }]).unwrap();
        assert_eq!(store.entries(), 2);
    }

    #[test]
    fn window_bounds_select_windows_of_a_key() {
        let store = store();
        let columns: Vec<ArrayRef> =
            vec![Arc::new(StringArray::from(vec!["k", "k", "k"])), Arc::new(Int64Array::from(vec![1, 2, 3]))];
        let changes = (0..3).map(|i| RowChange { position: position(0, "k", (i * 10, i * 10 + 10)), row: Some(i as usize) }).collect();
        store.apply(&columns, changes).unwrap();
        let range = ScanRange {
            keys: Some(vec![(0, b"k".to_vec())]),
            window_start: (Bound::Excluded(0), Bound::Unbounded),
            window_end: (Bound::Unbounded, Bound::Included(20)),
        };
        let (cols, _) = store.scan(&range).unwrap();
        assert_eq!(cols[1].as_primitive::<Int64Type>().values().to_vec(), vec![2]);
        store.evict_windows_ending_before(25);
        assert_eq!(store.entries(), 1);
    }
}
