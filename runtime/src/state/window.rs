//! Window store: values per (key, window), indexed by window end for closing and eviction.
//! Time windows and session windows share it (a session is a window with a data-driven end).

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use super::StateStore;

/// A key and one of its windows (`start`/`end` in ms).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct WindowKey {
    pub key: Vec<u8>,
    pub start: i64,
    pub end: i64,
}

impl WindowKey {
    /// Changelog key layout: key bytes, then start and end (big-endian).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut b = Vec::with_capacity(self.key.len() + 16);
        b.extend_from_slice(&self.key);
        b.extend_from_slice(&self.start.to_be_bytes());
        b.extend_from_slice(&self.end.to_be_bytes());
        b
    }

    pub fn from_bytes(bytes: &[u8]) -> Option<Self> {
        if bytes.len() < 16 {
            return None;
        }
        let (key, bounds) = bytes.split_at(bytes.len() - 16);
        let mut start = [0u8; 8];
        let mut end = [0u8; 8];
        start.copy_from_slice(&bounds[..8]);
        end.copy_from_slice(&bounds[8..]);
        Some(WindowKey { key: key.to_vec(), start: i64::from_be_bytes(start), end: i64::from_be_bytes(end) })
    }
}

pub struct WindowStore<V> {
    name: String,
    windows: HashMap<Vec<u8>, BTreeMap<(i64, i64), V>>,
    /// (end, start, key) of every window, for closing and eviction in end order.
    by_end: BTreeSet<(i64, i64, Vec<u8>)>,
    dirty: Vec<WindowKey>,
    dirty_set: HashSet<WindowKey>,
}

impl<V> WindowStore<V> {
    pub fn new(name: impl Into<String>) -> Self {
        WindowStore {
            name: name.into(),
            windows: HashMap::new(),
            by_end: BTreeSet::new(),
            dirty: Vec::new(),
            dirty_set: HashSet::new(),
        }
    }

    fn mark(&mut self, w: &WindowKey) {
        if self.dirty_set.insert(w.clone()) {
            self.dirty.push(w.clone());
        }
    }

    pub fn get(&self, w: &WindowKey) -> Option<&V> {
        self.windows.get(&w.key)?.get(&(w.start, w.end))
    }

    pub fn get_mut(&mut self, w: &WindowKey) -> Option<&mut V> {
        if self.get(w).is_some() {
            self.mark(w);
        }
        self.windows.get_mut(&w.key)?.get_mut(&(w.start, w.end))
    }

    pub fn put(&mut self, w: WindowKey, value: V) {
        self.mark(&w);
        self.insert(w, value);
    }

    fn insert(&mut self, w: WindowKey, value: V) {
        self.by_end.insert((w.end, w.start, w.key.clone()));
        self.windows.entry(w.key).or_default().insert((w.start, w.end), value);
    }

    pub fn remove(&mut self, w: &WindowKey) -> Option<V> {
        let old = self.take(w);
        if old.is_some() {
            self.mark(w);
        }
        old
    }

    fn take(&mut self, w: &WindowKey) -> Option<V> {
        let per_key = self.windows.get_mut(&w.key)?;
        let old = per_key.remove(&(w.start, w.end));
        if per_key.is_empty() {
            self.windows.remove(&w.key);
        }
        if old.is_some() {
            self.by_end.remove(&(w.end, w.start, w.key.clone()));
        }
        old
    }

    /// The windows of `key` that end at or after `min_end` and start at or before `max_start`,
    /// in start order (the sessions a record at a time within the gap would merge with).
    pub fn overlapping(&self, key: &[u8], min_end: i64, max_start: i64) -> Vec<WindowKey> {
        self.windows
            .get(key)
            .map(|m| {
                m.range(..=(max_start, i64::MAX))
                    .filter(|((_, end), _)| *end >= min_end)
                    .map(|((start, end), _)| WindowKey { key: key.to_vec(), start: *start, end: *end })
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Windows whose end is at most `max_end`, in end order.
    pub fn ending_by(&self, max_end: i64) -> Vec<WindowKey> {
        self.by_end
            .range(..=(max_end, i64::MAX, Vec::new()))
            .filter(|(end, _, _)| *end <= max_end)
            .map(|(end, start, key)| WindowKey { key: key.clone(), start: *start, end: *end })
            .collect()
    }

    /// Removes windows that `expired` says are out of retention (checked in end order up to
    /// `max_end`). An eviction is a delete: the changelog gets a tombstone for each window, so
    /// a compacted changelog holds only live windows and a restore rebuilds just those (the
    /// brokers here do not compact or expire by time). Returns how many were evicted.
    pub fn evict(&mut self, max_end: i64, expired: impl Fn(&WindowKey) -> bool) -> usize {
        let doomed: Vec<WindowKey> = self.ending_by(max_end).into_iter().filter(|w| expired(w)).collect();
        for w in &doomed {
            self.remove(w);
        }
        doomed.len()
    }

    pub fn iter(&self) -> impl Iterator<Item = (WindowKey, &V)> {
        self.windows
            .iter()
            .flat_map(|(k, m)| m.iter().map(move |((s, e), v)| (WindowKey { key: k.clone(), start: *s, end: *e }, v)))
    }

    pub fn take_dirty(&mut self) -> Vec<WindowKey> {
        self.dirty_set.clear();
        std::mem::take(&mut self.dirty)
    }

    /// Applies a changelog record without marking it dirty.
    pub fn restore(&mut self, w: WindowKey, value: Option<V>) {
        match value {
            Some(v) => {
                self.take(&w);
                self.insert(w, v);
            }
            None => {
                self.take(&w);
            }
        }
    }
}

impl<V: Send> StateStore for WindowStore<V> {
    fn name(&self) -> &str {
        &self.name
    }
    fn entries(&self) -> usize {
        self.by_end.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w(key: &str, start: i64, end: i64) -> WindowKey {
        WindowKey { key: key.as_bytes().to_vec(), start, end }
    }

    #[test]
    fn finds_overlapping_sessions_and_evicts_by_end() {
        let mut store = WindowStore::new("s");
        store.put(w("k", 0, 10), 1);
        store.put(w("k", 20, 30), 2);
        store.put(w("j", 0, 5), 3);
        assert_eq!(store.overlapping(b"k", 8, 25), vec![w("k", 0, 10), w("k", 20, 30)]);
        assert_eq!(store.overlapping(b"k", 11, 15), vec![]);
        assert_eq!(store.ending_by(10), vec![w("j", 0, 5), w("k", 0, 10)]);
        assert_eq!(store.take_dirty().len(), 3);
        assert_eq!(store.evict(10, |x| x.end < 8), 1);
        assert_eq!(store.entries(), 2);
        assert_eq!(store.take_dirty(), vec![w("j", 0, 5)], "an eviction is written to the changelog");
        assert_eq!(store.get(&w("j", 0, 5)), None);
        assert_eq!(WindowKey::from_bytes(&w("k", 1, 2).to_bytes()), Some(w("k", 1, 2)));
    }
}
