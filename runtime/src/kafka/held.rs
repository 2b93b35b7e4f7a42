//! Kafka Streams' record cache for queries whose results coalesce: results held until the
//! commit, the last one per key, with the offsets and counts they account for.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use crate::topic::TopicRecord;

/// When a query whose results coalesce (see [`crate::pipeline::Pipeline::coalesces_updates`]) emits them:
/// Kafka Streams' record cache, flushed on commit. Other queries emit every batch.
#[derive(Debug, Clone, Copy)]
pub struct CommitPolicy {
    /// `commit.interval.ms` (ksqlDB's default: 2000).
    pub interval: Duration,
    /// `cache.max.bytes.buffering` (default 10 MB): held results beyond it are emitted early.
    pub max_bytes: usize,
}

impl CommitPolicy {
    /// Reads `[ksql.streams.]commit.interval.ms` and `[ksql.streams.]cache.max.bytes.buffering`.
    pub fn from_properties(properties: &std::collections::BTreeMap<String, String>) -> Self {
        let get = |k: &str| {
            properties.get(k).or_else(|| properties.get(&format!("ksql.streams.{k}"))).and_then(|v| v.trim().parse::<u64>().ok())
        };
        CommitPolicy {
            interval: Duration::from_millis(get("commit.interval.ms").unwrap_or(2000)),
            max_bytes: get("cache.max.bytes.buffering").map_or(10 * 1024 * 1024, |b| b as usize),
        }
    }
}

/// Results held back until the next commit, the last one per key (sink records by key,
/// changelog records by topic and key), with the input offsets they account for.
pub(super) struct HeldResults {
    pub(super) policy: CommitPolicy,
    pub(super) since: Instant,
    pub(super) sink: Vec<Option<TopicRecord>>,
    pub(super) sink_index: HashMap<Option<Vec<u8>>, usize>,
    pub(super) internal: Vec<Option<(String, TopicRecord)>>,
    pub(super) internal_index: HashMap<(String, Option<Vec<u8>>), usize>,
    pub(super) offsets: HashMap<(usize, i32), i64>,
    pub(super) bytes: usize,
    /// What these results account for.
    pub(super) counts: Counts,
}

/// Records a batch (or held results) accounts for, added to [`QueryStats`] once committed.
#[derive(Debug, Default, Clone, Copy)]
pub(super) struct Counts {
    /// Records of the query's sources.
    pub(super) source: u64,
    /// Records read back from its repartition topics.
    pub(super) read_back: u64,
    /// Rows written to its repartition topics.
    pub(super) repartitioned: u64,
}

impl Counts {
    pub(super) fn add(&mut self, other: Counts) {
        self.source += other.source;
        self.read_back += other.read_back;
        self.repartitioned += other.repartitioned;
    }
}

impl HeldResults {
    pub(super) fn new(policy: CommitPolicy) -> Self {
        HeldResults {
            policy,
            since: Instant::now(),
            sink: Vec::new(),
            sink_index: HashMap::new(),
            internal: Vec::new(),
            internal_index: HashMap::new(),
            offsets: HashMap::new(),
            bytes: 0,
            counts: Counts::default(),
        }
    }

    pub(super) fn size(record: &TopicRecord) -> usize {
        record.key.as_ref().map_or(0, Vec::len) + record.value.as_ref().map_or(0, Vec::len) + 16
    }

    pub(super) fn hold_sink(&mut self, record: TopicRecord) {
        self.bytes += Self::size(&record);
        if let Some(old) = self.sink_index.insert(record.key.clone(), self.sink.len()) {
            self.sink[old] = None;
        }
        self.sink.push(Some(record));
    }

    pub(super) fn hold_internal(&mut self, topic: String, record: TopicRecord) {
        self.bytes += Self::size(&record);
        if let Some(old) = self.internal_index.insert((topic.clone(), record.key.clone()), self.internal.len()) {
            self.internal[old] = None;
        }
        self.internal.push(Some((topic, record)));
    }

    /// Whether the commit interval has passed or the held bytes exceed the cache.
    pub(super) fn due(&self) -> bool {
        self.since.elapsed() >= self.policy.interval || self.bytes > self.policy.max_bytes
    }

    /// Takes the held records, in the order of their last update.
    pub(super) fn take(&mut self) -> Released {
        self.since = Instant::now();
        self.bytes = 0;
        self.sink_index.clear();
        self.internal_index.clear();
        Released {
            sink: std::mem::take(&mut self.sink).into_iter().flatten().collect(),
            internal: std::mem::take(&mut self.internal).into_iter().flatten().collect(),
            offsets: std::mem::take(&mut self.offsets),
            counts: std::mem::take(&mut self.counts),
        }
    }
}

/// What [`HeldResults`] lets go at a commit.
pub(super) struct Released {
    pub(super) sink: Vec<TopicRecord>,
    pub(super) internal: Vec<(String, TopicRecord)>,
    pub(super) offsets: HashMap<(usize, i32), i64>,
    pub(super) counts: Counts,
}
