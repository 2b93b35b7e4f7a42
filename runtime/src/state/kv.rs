//! Key-value store: latest value per key (aggregates, materialized table rows).

use std::collections::{HashMap, HashSet};

use super::StateStore;

/// Values keyed by serialized keys; writes are tracked for the changelog.
pub struct KeyValueStore<V> {
    name: String,
    map: HashMap<Vec<u8>, V>,
    dirty: Vec<Vec<u8>>,
    dirty_set: HashSet<Vec<u8>>,
}

impl<V> KeyValueStore<V> {
    pub fn new(name: impl Into<String>) -> Self {
        KeyValueStore { name: name.into(), map: HashMap::new(), dirty: Vec::new(), dirty_set: HashSet::new() }
    }

    fn mark(&mut self, key: &[u8]) {
        if !self.dirty_set.contains(key) {
            self.dirty_set.insert(key.to_vec());
            self.dirty.push(key.to_vec());
        }
    }

    pub fn get(&self, key: &[u8]) -> Option<&V> {
        self.map.get(key)
    }

    /// Mutable access; the entry counts as written.
    pub fn get_mut(&mut self, key: &[u8]) -> Option<&mut V> {
        if self.map.contains_key(key) {
            self.mark(key);
        }
        self.map.get_mut(key)
    }

    pub fn put(&mut self, key: &[u8], value: V) {
        self.mark(key);
        self.map.insert(key.to_vec(), value);
    }

    pub fn remove(&mut self, key: &[u8]) -> Option<V> {
        let old = self.map.remove(key);
        if old.is_some() {
            self.mark(key);
        }
        old
    }

    pub fn iter(&self) -> impl Iterator<Item = (&Vec<u8>, &V)> {
        self.map.iter()
    }

    /// Keys written since the last call, each once, in first-write order.
    pub fn take_dirty(&mut self) -> Vec<Vec<u8>> {
        self.dirty_set.clear();
        std::mem::take(&mut self.dirty)
    }

    /// Applies a changelog record (`None` = delete) without marking it dirty.
    pub fn restore(&mut self, key: &[u8], value: Option<V>) {
        match value {
            Some(v) => {
                self.map.insert(key.to_vec(), v);
            }
            None => {
                self.map.remove(key);
            }
        }
    }
}

impl<V: Send> StateStore for KeyValueStore<V> {
    fn name(&self) -> &str {
        &self.name
    }
    fn entries(&self) -> usize {
        self.map.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_are_dirty_once_and_restores_are_not() {
        let mut store = KeyValueStore::new("s");
        store.put(b"a", 1);
        store.put(b"b", 2);
        if let Some(v) = store.get_mut(b"a") {
            *v += 1;
        }
        store.remove(b"b");
        assert_eq!(store.take_dirty(), vec![b"a".to_vec(), b"b".to_vec()]);
        store.restore(b"c", Some(7));
        assert!(store.take_dirty().is_empty());
        assert_eq!(store.get(b"a"), Some(&2));
        assert_eq!(store.get(b"c"), Some(&7));
        assert_eq!(store.entries(), 2);
    }
}
