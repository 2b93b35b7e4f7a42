//! Topic I/O: one interface ([`TopicStore`]) over the in-memory deterministic log (this file)
//! and Kafka (rdkafka, added with the server).

use std::collections::BTreeMap;

use crate::error::{RuntimeError, RuntimeResult};

/// Record headers: (key, value) pairs in order; a value may be null.
pub type Headers = Vec<(String, Option<Vec<u8>>)>;

/// One record of a topic, as bytes (exactly what Kafka would hold).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct TopicRecord {
    pub key: Option<Vec<u8>>,
    pub value: Option<Vec<u8>>,
    /// Kafka timestamp, ms since epoch.
    pub timestamp: i64,
    pub headers: Headers,
    pub partition: i32,
    pub offset: i64,
}

/// Where a consumer stands in a topic: an opaque position into the topic's append order.
pub type Position = usize;

/// The topic interface queries read from and write to.
pub trait TopicStore: Send {
    /// Creates a topic; an existing topic keeps its partitions.
    fn create_topic(&mut self, name: &str, partitions: i32) -> RuntimeResult<()>;
    fn delete_topic(&mut self, name: &str);
    fn partitions(&self, name: &str) -> Option<i32>;
    fn topic_names(&self) -> Vec<String>;
    /// Every topic with its partition count.
    fn topic_partitions(&self) -> Vec<(String, i32)> {
        self.topic_names().into_iter().filter_map(|n| self.partitions(&n).map(|p| (n, p))).collect()
    }
    /// Appends a record; the partition is chosen from the key (Kafka's murmur2 partitioner)
    /// unless `partition` is given. Returns (partition, offset).
    fn append(&mut self, topic: &str, partition: Option<i32>, record: TopicRecord) -> RuntimeResult<(i32, i64)>;
    /// Hands `visit` the records from `from` in append order (all partitions), at most `max`,
    /// borrowed rather than copied; returns the next position (`from` when nothing is new).
    fn read(&self, topic: &str, from: Position, max: usize, visit: &mut dyn FnMut(&[TopicRecord])) -> Position;

    /// The store-wide append sequence number of the record at `position` of `topic`, for
    /// stores that keep one (the in-memory store does, so a query over several topics reads
    /// them in the order they were written). `None` when unknown or past the end.
    fn sequence(&self, _topic: &str, _position: Position) -> Option<u64> {
        None
    }
}

/// A deterministic in-process log: records keep their global append order, like Kafka
/// Streams' TopologyTestDriver.
#[derive(Debug, Default)]
pub struct MemoryTopics {
    topics: BTreeMap<String, MemoryTopic>,
    /// Appends so far, across topics (each record's sequence number).
    appended: u64,
}

#[derive(Debug, Default)]
struct MemoryTopic {
    next_offset: Vec<i64>,
    log: Vec<TopicRecord>,
    /// The store-wide sequence number of each record of `log`.
    sequence: Vec<u64>,
}

impl MemoryTopics {
    pub fn new() -> Self {
        Self::default()
    }
}

impl TopicStore for MemoryTopics {
    fn create_topic(&mut self, name: &str, partitions: i32) -> RuntimeResult<()> {
        if partitions < 1 {
            return Err(RuntimeError::Topic(format!("Invalid partition count {partitions} for topic {name}")));
        }
        self.topics
            .entry(name.to_string())
            .or_insert_with(|| MemoryTopic { next_offset: vec![0; partitions as usize], log: Vec::new(), sequence: Vec::new() });
        Ok(())
    }

    fn delete_topic(&mut self, name: &str) {
        self.topics.remove(name);
    }

    fn partitions(&self, name: &str) -> Option<i32> {
        self.topics.get(name).map(|t| t.next_offset.len() as i32)
    }

    fn topic_names(&self) -> Vec<String> {
        self.topics.keys().cloned().collect()
    }

    fn append(&mut self, topic: &str, partition: Option<i32>, mut record: TopicRecord) -> RuntimeResult<(i32, i64)> {
        let t = self.topics.get_mut(topic).ok_or_else(|| RuntimeError::Topic(format!("Topic {topic} does not exist")))?;
        let count = t.next_offset.len() as i32;
        let partition = match partition {
            Some(p) if (0..count).contains(&p) => p,
            Some(p) => return Err(RuntimeError::Topic(format!("Partition {p} out of range for topic {topic}"))),
            None => record.key.as_deref().map_or(0, |k| partition_for_key(k, count)),
        };
        let offset = t.next_offset[partition as usize];
        t.next_offset[partition as usize] += 1;
        record.partition = partition;
        record.offset = offset;
        t.log.push(record);
        t.sequence.push(self.appended);
        self.appended += 1;
        Ok((partition, offset))
    }

    fn read(&self, topic: &str, from: Position, max: usize, visit: &mut dyn FnMut(&[TopicRecord])) -> Position {
        match self.topics.get(topic) {
            None => from,
            Some(t) => {
                let end = t.log.len().min(from.saturating_add(max));
                let start = from.min(end);
                if start < end {
                    visit(&t.log[start..end]);
                }
                end.max(from)
            }
        }
    }

    fn sequence(&self, topic: &str, position: Position) -> Option<u64> {
        self.topics.get(topic)?.sequence.get(position).copied()
    }
}

/// Kafka's default partitioner: murmur2 of the serialized key, positive, modulo partitions.
pub fn partition_for_key(key: &[u8], partitions: i32) -> i32 {
    ((murmur2(key) & 0x7fff_ffff) % partitions as u32) as i32
}

/// Kafka's murmur2 (seed 0x9747b28c), as in `org.apache.kafka.common.utils.Utils.murmur2`.
pub fn murmur2(data: &[u8]) -> u32 {
    const SEED: u32 = 0x9747_b28c;
    const M: u32 = 0x5bd1_e995;
    const R: u32 = 24;
    let len = data.len();
    let mut h: u32 = SEED ^ (len as u32);
    let chunks = data.chunks_exact(4);
    let tail = chunks.remainder();
    for chunk in chunks {
        let mut k = u32::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]);
        k = k.wrapping_mul(M);
        k ^= k >> R;
        k = k.wrapping_mul(M);
        h = h.wrapping_mul(M);
        h ^= k;
    }
    match tail.len() {
        3 => {
            h ^= (tail[2] as u32) << 16;
            h ^= (tail[1] as u32) << 8;
            h ^= tail[0] as u32;
            h = h.wrapping_mul(M);
        }
        2 => {
            h ^= (tail[1] as u32) << 8;
            h ^= tail[0] as u32;
            h = h.wrapping_mul(M);
        }
        1 => {
            h ^= tail[0] as u32;
            h = h.wrapping_mul(M);
        }
        _ => {}
    }
    h ^= h >> 13;
    h = h.wrapping_mul(M);
    h ^= h >> 15;
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn murmur2_matches_kafka() {
        // Values from Kafka's UtilsTest.testMurmur2.
        assert_eq!(murmur2(b"21") as i32, -973932308);
        assert_eq!(murmur2(b"foobar") as i32, -790332482);
        assert_eq!(murmur2(b"a-little-bit-long-string") as i32, -985981536);
        assert_eq!(murmur2(b"a-little-bit-longer-string") as i32, -1486304829);
        assert_eq!(murmur2(b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8") as i32, -58897971);
        assert_eq!(murmur2(b"abc") as i32, 479470107);
    }

    #[test]
    fn memory_topics_keep_append_order_across_partitions() {
        let mut store = MemoryTopics::new();
        store.create_topic("t", 2).expect("created");
        for p in [1, 0, 1] {
            store.append("t", Some(p), TopicRecord::default()).expect("appended");
        }
        let mut records = Vec::new();
        let next = store.read("t", 0, 10, &mut |batch| records.extend_from_slice(batch));
        assert_eq!(records.iter().map(|r| (r.partition, r.offset)).collect::<Vec<_>>(), vec![(1, 0), (0, 0), (1, 1)]);
        assert_eq!(next, 3);
        assert!(store.append("missing", None, TopicRecord::default()).is_err());
    }
}
