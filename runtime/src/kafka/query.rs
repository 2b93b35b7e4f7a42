//! A persistent query over Kafka: one consumer group per query, one thread that consumes
//! batches, runs them through the compiled pipeline, produces the output and commits the
//! input offsets only after every output record was acknowledged (at-least-once).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::message::Message;
use rdkafka::{Offset, TopicPartitionList};

use super::{
    end_reader, flush, kafka_error, partition_count, read_to_end, send, to_record, tracked_producer, KafkaConfig, TrackedProducer,
    REQUEST_TIMEOUT,
};
use crate::error::{RuntimeError, RuntimeResult};
use crate::pipeline::Pipeline;
use crate::processing_log;
use crate::source::RecordError;
use crate::topic::TopicRecord;

pub use super::held::CommitPolicy;
use super::held::{Counts, HeldResults, Released};
use super::merge::{Batch, InputMerge, MAX_BATCH};

/// How long a poll waits for the first record of a batch (also how soon a stop is noticed).
const POLL_WAIT: Duration = Duration::from_millis(100);
/// Records a query with several inputs buffers for its merge; beyond it, it stops polling.
const PENDING_LIMIT: usize = 2 * MAX_BATCH;

/// What a running query reports about itself; read without stopping it.
#[derive(Debug, Default)]
pub struct QueryStats {
    /// Records of the query's sources processed, their output acknowledged and their offsets
    /// committed.
    pub consumed: AtomicU64,
    /// Rows written to the query's repartition topics (acknowledged).
    pub repartitioned: AtomicU64,
    /// Rows read back from its repartition topics and processed (committed): the query has
    /// caught up with its sources when this equals `repartitioned`.
    pub read_back: AtomicU64,
    pub produced: AtomicU64,
    /// Records skipped because they could not be decoded, processed or encoded.
    pub record_errors: AtomicU64,
    /// Entries held in the query's state stores (aggregates, join buffers and tables) after
    /// the last batch: what its memory grows with.
    pub state_entries: AtomicU64,
    /// Input partitions (sources and repartition topics) the consumer group gave this server.
    pub assigned_partitions: AtomicU64,
    /// Set when the query stopped on an error it cannot skip (e.g. the cluster rejected output).
    pub failure: Mutex<Option<String>>,
}

/// A persistent query running on its own thread; dropping it stops the thread.
pub struct KafkaQuery {
    stop: Arc<AtomicBool>,
    stats: Arc<QueryStats>,
    thread: Option<JoinHandle<()>>,
}

impl KafkaQuery {
    /// Starts consuming the pipeline's source topic as consumer group `group_id`.
    /// `auto_offset_reset` applies when the group has no committed offsets yet.
    pub fn start(
        id: &str,
        group_id: &str,
        auto_offset_reset: &str,
        pipeline: Pipeline,
        config: &KafkaConfig,
        processing_log: Option<String>,
        policy: CommitPolicy,
    ) -> RuntimeResult<Self> {
        let rebalanced = Arc::new(AtomicBool::new(false));
        let consumer: QueryConsumer = config
            .client()
            .set("group.id", group_id)
            .set("enable.auto.commit", "false")
            .set("auto.offset.reset", auto_offset_reset)
            // As Kafka Streams under at_least_once (ksqlDB's default): transactional input is
            // read uncommitted; there is no exactly-once mode yet (Tansu has no transactions).
            .set("isolation.level", "read_uncommitted")
            .create_with_context(QueryConsumerContext { assigned: rebalanced.clone() })
            .map_err(|e| kafka_error("cannot create a Kafka consumer", e))?;
        start_at_beginning(&consumer, &pipeline.repartition_topics())?;
        let topics = pipeline.input_topics();
        let joined: Vec<bool> = (0..topics.len()).map(|i| pipeline.joins_input(i)).collect();
        let names: Vec<&str> = topics.iter().map(String::as_str).collect();
        consumer.subscribe(&names).map_err(|e| kafka_error(&format!("cannot subscribe to {}", names.join(", ")), e))?;
        let producer = tracked_producer(config)?;
        let stop = Arc::new(AtomicBool::new(false));
        let stats = Arc::new(QueryStats::default());
        let held = pipeline.coalesces_updates().then(|| HeldResults::new(policy));
        let worker = Worker {
            id: id.to_string(),
            config: config.clone(),
            rebalanced,
            held,
            reads_back: (0..topics.len()).map(|i| pipeline.reads_back(i)).collect(),
            merge: InputMerge::default(),
            processed: HashMap::new(),
            merged: joined.iter().filter(|j| **j).count() > 1,
            joined,
            topics,
            consumer,
            producer,
            pipeline,
            processing_log,
            stop: stop.clone(),
            stats: stats.clone(),
        };
        let thread = std::thread::Builder::new()
            .name(format!("query-{id}"))
            .spawn(move || worker.run())
            .map_err(|e| RuntimeError::Internal(format!("cannot start a thread for query {id}: {e}")))?;
        Ok(KafkaQuery { stop, stats, thread: Some(thread) })
    }

    pub fn stats(&self) -> &Arc<QueryStats> {
        &self.stats
    }
}

impl Drop for KafkaQuery {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// The consumer of a query: tells its worker when the group assigned it partitions.
struct QueryConsumerContext {
    assigned: Arc<AtomicBool>,
}

impl rdkafka::ClientContext for QueryConsumerContext {}

impl rdkafka::consumer::ConsumerContext for QueryConsumerContext {
    fn post_rebalance(&self, _consumer: &BaseConsumer<Self>, rebalance: &rdkafka::consumer::Rebalance<'_>) {
        if let rdkafka::consumer::Rebalance::Assign(_) = rebalance {
            self.assigned.store(true, Ordering::Release);
        }
    }
}

type QueryConsumer = BaseConsumer<QueryConsumerContext>;

/// Brings the query's state stores up to their changelog topics (read to the end): before it
/// consumes anything, and whenever the group assigns it partitions, which may have been
/// another server's. Changelog records hold whole entries (tombstones for deletes), so
/// replaying them over the current state leaves the latest entry of every key.
fn restore_state(pipeline: &mut Pipeline, config: &KafkaConfig) -> RuntimeResult<()> {
    let changelogs = pipeline.changelog_topics();
    if changelogs.is_empty() {
        return Ok(());
    }
    let reader = end_reader(config)?;
    for topic in changelogs {
        let Some(partitions) = partition_count(reader.client(), &topic)? else { continue };
        let records = read_to_end(&reader, &topic, partitions, REQUEST_TIMEOUT)?;
        pipeline.restore(&topic, &records)?;
    }
    Ok(())
}

/// Makes the group read `topics` (the query's own repartition topics) from their first record
/// when it has no position there yet, whatever `auto.offset.reset` says for the sources:
/// every record written there is the query's own and must be processed.
fn start_at_beginning(consumer: &QueryConsumer, topics: &[String]) -> RuntimeResult<()> {
    for topic in topics {
        let Some(partitions) = partition_count(consumer.client(), topic)? else {
            return Err(RuntimeError::Execution(format!("the repartition topic {topic} does not exist")));
        };
        let mut wanted = TopicPartitionList::new();
        for p in 0..partitions {
            wanted.add_partition(topic, p);
        }
        let committed = consumer.committed_offsets(wanted, REQUEST_TIMEOUT).map_err(|e| kafka_error(&format!("cannot read the offsets of {topic}"), e))?;
        let mut start = TopicPartitionList::new();
        for element in committed.elements() {
            if !matches!(element.offset(), Offset::Offset(_)) {
                start
                    .add_partition_offset(topic, element.partition(), Offset::Offset(0))
                    .map_err(|e| kafka_error("cannot build the offsets to commit", e))?;
            }
        }
        if start.count() > 0 {
            consumer.commit(&start, CommitMode::Sync).map_err(|e| kafka_error(&format!("cannot set the start of {topic}"), e))?;
        }
    }
    Ok(())
}

/// Per input and partition, the offset after the batch's last record there.
fn batch_offsets(batch: &Batch) -> HashMap<(usize, i32), i64> {
    let mut next: HashMap<(usize, i32), i64> = HashMap::new();
    for (input, r) in batch.inputs.iter().zip(&batch.records) {
        let entry = next.entry((*input, r.partition)).or_insert(r.offset + 1);
        *entry = (*entry).max(r.offset + 1);
    }
    next
}

struct Worker {
    id: String,
    /// Results held until the next commit (queries whose results coalesce).
    held: Option<HeldResults>,
    /// Per input: whether it reads a repartition topic back.
    reads_back: Vec<bool>,
    merge: InputMerge,
    /// The offset after the last processed record, per (input, partition).
    processed: HashMap<(usize, i32), i64>,
    /// The pipeline's input topics (a record's input is the index of its topic here).
    topics: Vec<String>,
    /// Per input: whether it is a side of a join (see [`Pipeline::joins_input`]).
    joined: Vec<bool>,
    /// Several join inputs: records are merged in timestamp order ([`InputMerge`]).
    merged: bool,
    consumer: QueryConsumer,
    config: KafkaConfig,
    /// Set by the consumer when the group assigned it partitions (see [`Worker::on_assignment`]).
    rebalanced: Arc<AtomicBool>,
    producer: TrackedProducer,
    pipeline: Pipeline,
    /// Topic that skipped records are reported to, if any.
    processing_log: Option<String>,
    stop: Arc<AtomicBool>,
    stats: Arc<QueryStats>,
}

impl Worker {
    fn run(mut self) {
        let mut batch = Batch::default();
        let mut errors = Vec::new();
        while !self.stop.load(Ordering::Acquire) {
            batch.clear();
            self.fill(&mut batch);
            if let Ok(assignment) = self.consumer.assignment() {
                self.stats.assigned_partitions.store(assignment.count() as u64, Ordering::Relaxed);
            }
            let mut outcome = Ok(());
            if self.rebalanced.swap(false, Ordering::AcqRel) {
                outcome = self.on_assignment(&mut batch);
            }
            if outcome.is_ok() {
                outcome = if batch.records.is_empty() { self.emit_held(false) } else { self.process(&batch, &mut errors) };
            }
            if let Err(e) = outcome {
                tracing::error!("query stopped: {e}");
                if let Ok(mut failure) = self.stats.failure.lock() {
                    *failure = Some(e.to_string());
                }
                return;
            }
        }
        // Held results go out now. Batches are committed asynchronously; on a stop, wait for
        // the last positions so that a restart does not reprocess.
        if let Err(e) = self.emit_held(true) {
            tracing::warn!("query {}: {e}", self.id);
            return;
        }
        if let Err(e) = self.commit_offsets(&self.processed, CommitMode::Sync) {
            tracing::warn!("query {}: {e}", self.id);
        }
    }

    /// The group assigned partitions (at the start, or moved from or to another server):
    /// what this server did is emitted and committed, so that a new owner of its partitions
    /// finds it in the changelogs; then its own state is brought up to the changelogs, which
    /// hold what the previous owners of its new partitions did. Records of partitions it
    /// lost and has not processed (in `batch` or buffered) are dropped: their new owner
    /// processes them.
    fn on_assignment(&mut self, batch: &mut Batch) -> RuntimeResult<()> {
        self.emit_held(true)?;
        if let Err(e) = self.commit_offsets(&self.processed, CommitMode::Sync) {
            // A commit the rebalance made stale: the new owner reprocesses (at-least-once).
            tracing::warn!("query {}: {e}", self.id);
        }
        self.processed.clear();
        let assigned: Vec<(String, i32)> = match self.consumer.assignment() {
            Ok(list) => list.elements().iter().map(|e| (e.topic().to_string(), e.partition())).collect(),
            Err(e) => return Err(kafka_error("cannot read the partition assignment", e)),
        };
        let topics = &self.topics;
        let kept = |input: usize, partition: i32| assigned.iter().any(|(t, p)| *t == topics[input] && *p == partition);
        self.merge.partitions.retain(|q| kept(q.input, q.partition));
        let keep: Vec<bool> = batch.inputs.iter().zip(&batch.records).map(|(&i, r)| kept(i, r.partition)).collect();
        if keep.contains(&false) {
            let mut flags = keep.iter();
            batch.inputs.retain(|_| flags.next().copied().unwrap_or(false));
            let mut flags = keep.iter();
            batch.records.retain(|_| flags.next().copied().unwrap_or(false));
        }
        let started = Instant::now();
        restore_state(&mut self.pipeline, &self.config)?;
        tracing::info!("query {}: {} partitions assigned, state restored in {:?}", self.id, assigned.len(), started.elapsed());
        self.stats.state_entries.store(self.pipeline.state_entries() as u64, Ordering::Relaxed);
        Ok(())
    }

    /// Waits up to [`POLL_WAIT`] for a record, then takes whatever else is already buffered.
    /// Stops early when the group assigns partitions, so that no record of a new partition
    /// is processed before the state is brought up to date.
    fn fill(&mut self, batch: &mut Batch) {
        if self.merged {
            return self.fill_merged(batch);
        }
        let mut wait = POLL_WAIT;
        while batch.records.len() < MAX_BATCH && !self.rebalanced.load(Ordering::Acquire) {
            match self.consumer.poll(wait) {
                Some(Ok(message)) => {
                    if let Some(input) = self.topics.iter().position(|t| t == message.topic()) {
                        batch.inputs.push(input);
                        batch.records.push(to_record(&message));
                    }
                }
                Some(Err(e)) => {
                    tracing::warn!("consumer error: {e}");
                    break;
                }
                None => break,
            }
            wait = Duration::ZERO;
        }
    }

    /// [`Self::fill`] for several inputs: polls into the partition queues, then takes records
    /// in timestamp order.
    fn fill_merged(&mut self, batch: &mut Batch) {
        // Assigned partitions that have sent nothing yet are waited for, too.
        if let Ok(assignment) = self.consumer.assignment() {
            for element in assignment.elements() {
                if let Some(input) = self.topics.iter().position(|t| t == element.topic()).filter(|&i| self.joined[i]) {
                    self.merge.queue(input, element.partition());
                }
            }
        }
        // Bounded buffers: with enough buffered, stop polling until the merge takes some (an
        // empty partition holds the others back only for a while, so this cannot stall).
        let buffered = self.merge.buffered();
        if buffered < PENDING_LIMIT {
            let mut wait = if buffered == 0 { POLL_WAIT } else { Duration::from_millis(10) };
            let mut polled = 0;
            while polled < MAX_BATCH && !self.rebalanced.load(Ordering::Acquire) {
                match self.consumer.poll(wait) {
                    Some(Ok(message)) => {
                        if let Some(input) = self.topics.iter().position(|t| t == message.topic()) {
                            if self.joined[input] {
                                self.merge.push(input, to_record(&message));
                            } else {
                                // Not a join side (a repartition topic after the join): as it comes.
                                batch.inputs.push(input);
                                batch.records.push(to_record(&message));
                            }
                            polled += 1;
                        }
                    }
                    Some(Err(e)) => {
                        tracing::warn!("consumer error: {e}");
                        break;
                    }
                    None => break,
                }
                wait = Duration::ZERO;
            }
        }
        self.merge.drain(batch);
        if batch.records.is_empty() && buffered >= PENDING_LIMIT {
            // Held back by an empty partition with full buffers: give it time to arrive.
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    fn process(&mut self, batch: &Batch, errors: &mut Vec<RecordError>) -> RuntimeResult<()> {
        errors.clear();
        // Consecutive records of one input go through the pipeline together, in poll order.
        let mut outputs = crate::pipeline::PipelineOutput::default();
        let len = batch.records.len();
        let mut start = 0;
        while start < len {
            let input = batch.inputs[start];
            let end = batch.inputs[start..].iter().position(|i| *i != input).map_or(len, |n| start + n);
            let mut out = self.pipeline.process_input(input, &batch.records[start..end], errors)?;
            outputs.sink.append(&mut out.sink);
            outputs.internal.append(&mut out.internal);
            outputs.repartition.append(&mut out.repartition);
            start = end;
        }
        if !errors.is_empty() {
            self.stats.record_errors.fetch_add(errors.len() as u64, Ordering::Relaxed);
            let now = chrono::Utc::now().timestamp_millis();
            for e in errors.iter() {
                tracing::debug!("query {} skipped a record of {} at offset {}: {}", self.id, e.topic, e.offset, e.message);
                if let Some(log) = &self.processing_log {
                    let entry = TopicRecord { value: Some(processing_log::entry(&self.id, e, now)), timestamp: now, ..TopicRecord::default() };
                    send(&self.producer, log, None, &entry)?;
                }
            }
        }
        self.stats.state_entries.store(self.pipeline.state_entries() as u64, Ordering::Relaxed);
        let read_back = batch.inputs.iter().filter(|&&i| self.reads_back.get(i).copied().unwrap_or(false)).count() as u64;
        let repartitioned = outputs.repartition.len() as u64;
        let counts = Counts { source: len as u64 - read_back, read_back, repartitioned };
        if let Some(held) = self.held.as_mut() {
            // Rows for the repartition topic go now; results wait for the commit, coalesced.
            for (topic, record) in &outputs.repartition {
                send(&self.producer, topic, None, record)?;
            }
            for (topic, record) in outputs.internal {
                held.hold_internal(topic, record);
            }
            for record in outputs.sink {
                held.hold_sink(record);
            }
            for (key, offset) in batch_offsets(batch) {
                let entry = held.offsets.entry(key).or_insert(offset);
                *entry = (*entry).max(offset);
            }
            held.counts.add(counts);
            return self.emit_held(false);
        }
        let sink = self.pipeline.sink_topic().to_string();
        for record in &outputs.sink {
            send(&self.producer, &sink, None, record)?;
        }
        for (topic, record) in outputs.internal.iter().chain(&outputs.repartition) {
            send(&self.producer, topic, None, record)?;
        }
        flush(&self.producer)?;
        self.stats.produced.fetch_add(outputs.sink.len() as u64, Ordering::Relaxed);
        self.commit(batch_offsets(batch))?;
        self.count(counts);
        Ok(())
    }

    fn count(&self, counts: Counts) {
        self.stats.consumed.fetch_add(counts.source, Ordering::Relaxed);
        self.stats.read_back.fetch_add(counts.read_back, Ordering::Relaxed);
        self.stats.repartitioned.fetch_add(counts.repartitioned, Ordering::Relaxed);
    }

    /// Sends the held results and commits the offsets they account for, when the commit is
    /// due (or `now`).
    fn emit_held(&mut self, now: bool) -> RuntimeResult<()> {
        let Some(held) = self.held.as_mut() else { return Ok(()) };
        if !(now || held.due()) || (held.offsets.is_empty() && held.sink.is_empty() && held.internal.is_empty()) {
            return Ok(());
        }
        let Released { sink: sink_records, internal, offsets, counts } = held.take();
        let sink = self.pipeline.sink_topic().to_string();
        for record in &sink_records {
            send(&self.producer, &sink, None, record)?;
        }
        for (topic, record) in &internal {
            send(&self.producer, topic, None, record)?;
        }
        flush(&self.producer)?;
        self.stats.produced.fetch_add(sink_records.len() as u64, Ordering::Relaxed);
        self.commit(offsets)?;
        self.count(counts);
        Ok(())
    }

    /// Commits the offsets `next` (per input and partition, the offset after the last record
    /// processed), whose output is acknowledged: without waiting for the broker (a lost commit
    /// only means reprocessing, at-least-once still holds).
    fn commit(&mut self, next: HashMap<(usize, i32), i64>) -> RuntimeResult<()> {
        self.commit_offsets(&next, CommitMode::Async)?;
        self.processed.extend(next);
        Ok(())
    }

    fn commit_offsets(&self, next: &HashMap<(usize, i32), i64>, mode: CommitMode) -> RuntimeResult<()> {
        if next.is_empty() {
            return Ok(());
        }
        let mut offsets = TopicPartitionList::new();
        for ((input, partition), offset) in next {
            offsets
                .add_partition_offset(&self.topics[*input], *partition, Offset::Offset(*offset))
                .map_err(|e| kafka_error("cannot build the offsets to commit", e))?;
        }
        self.consumer
            .commit(&offsets, mode)
            .map_err(|e| kafka_error(&format!("cannot commit offsets of {}", self.topics.join(", ")), e))
    }
}
