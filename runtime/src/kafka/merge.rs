//! The timestamp-ordered merge of a query's join inputs, and the batch a poll round fills.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use crate::topic::TopicRecord;

/// Most records handed to the pipeline at once.
pub(super) const MAX_BATCH: usize = 32_768;
/// How long a query with several inputs waits for more records of an input partition that ran
/// dry before it processes the other partitions' records without it (Kafka Streams'
/// `max.task.idle.ms`; the broker's end offsets cannot tell, Tansu's lag behind).
const MAX_IDLE: Duration = Duration::from_millis(250);
/// How long it waits, after the assignment, for the first records of a partition.
const MAX_START_WAIT: Duration = Duration::from_secs(3);

/// Orders the records of a query with several inputs by timestamp across its input partitions
/// (each partition keeps its order), as Kafka Streams picks the partition with the smallest
/// head timestamp: a stream-table join then sees the table as of each stream record's time,
/// also when both topics have a backlog. A partition with nothing buffered holds the others
/// back for [`MAX_IDLE`] after it ran dry ([`MAX_START_WAIT`] before its first record). The
/// record's Kafka timestamp is used, not a `TIMESTAMP` column.
#[derive(Default)]
pub(super) struct InputMerge {
    pub(super) partitions: Vec<PartitionQueue>,
}

/// Records of one assigned input partition not yet processed.
pub(super) struct PartitionQueue {
    pub(super) input: usize,
    pub(super) partition: i32,
    pub(super) records: VecDeque<TopicRecord>,
    /// When the queue ran dry (or was assigned, before its first record).
    pub(super) dry_since: Instant,
    /// Whether a record has arrived yet.
    pub(super) started: bool,
}

impl PartitionQueue {
    /// Whether this queue, if empty, still holds the others back.
    pub(super) fn holds_back(&self, now: Instant) -> bool {
        let wait = if self.started { MAX_IDLE } else { MAX_START_WAIT };
        self.records.is_empty() && now.duration_since(self.dry_since) < wait
    }
}

impl InputMerge {
    /// The queue of (input, partition), added (empty, lag unknown) when first seen.
    pub(super) fn queue(&mut self, input: usize, partition: i32) -> &mut PartitionQueue {
        let at = match self.partitions.iter().position(|q| q.input == input && q.partition == partition) {
            Some(at) => at,
            None => {
                self.partitions.push(PartitionQueue {
                    input,
                    partition,
                    records: VecDeque::new(),
                    dry_since: Instant::now(),
                    started: false,
                });
                self.partitions.len() - 1
            }
        };
        &mut self.partitions[at]
    }

    pub(super) fn push(&mut self, input: usize, record: TopicRecord) {
        let queue = self.queue(input, record.partition);
        queue.started = true;
        queue.records.push_back(record);
    }

    pub(super) fn buffered(&self) -> usize {
        self.partitions.iter().map(|q| q.records.len()).sum()
    }

    /// Moves records into `batch` in timestamp order while no empty queue holds the others
    /// back.
    pub(super) fn drain(&mut self, batch: &mut Batch) {
        let now = Instant::now();
        while batch.records.len() < MAX_BATCH {
            if self.partitions.iter().any(|q| q.holds_back(now)) {
                return;
            }
            let next = self
                .partitions
                .iter()
                .enumerate()
                .filter_map(|(at, q)| q.records.front().map(|r| (r.timestamp, at)))
                .min();
            let Some((_, at)) = next else { return };
            let queue = &mut self.partitions[at];
            let Some(record) = queue.records.pop_front() else { return };
            batch.inputs.push(queue.input);
            batch.records.push(record);
            if queue.records.is_empty() {
                queue.dry_since = now;
            }
        }
    }
}

/// Records of one poll round, and the index of each one's input topic (kept apart so that runs
/// of one input reach the pipeline as slices, without copying the records).
#[derive(Default)]
pub(super) struct Batch {
    pub(super) inputs: Vec<usize>,
    pub(super) records: Vec<TopicRecord>,
}

impl Batch {
    pub(super) fn clear(&mut self) {
        self.inputs.clear();
        self.records.clear();
    }
}
