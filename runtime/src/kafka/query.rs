//! A persistent query over Kafka: one consumer group per query, one thread that consumes
//! batches, runs them through the compiled pipeline, produces the output and commits the
//! input offsets only after every output record was acknowledged (at-least-once).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

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

/// Most records handed to the pipeline at once.
const MAX_BATCH: usize = 4096;
/// How long a poll waits for the first record of a batch (also how soon a stop is noticed).
const POLL_WAIT: Duration = Duration::from_millis(100);

/// What a running query reports about itself; read without stopping it.
#[derive(Debug, Default)]
pub struct QueryStats {
    /// Input records processed, their output acknowledged and their offsets committed.
    pub consumed: AtomicU64,
    pub produced: AtomicU64,
    /// Records skipped because they could not be decoded, processed or encoded.
    pub record_errors: AtomicU64,
    /// Entries held in the query's state stores (aggregates, join buffers and tables) after
    /// the last batch: what its memory grows with.
    pub state_entries: AtomicU64,
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
        mut pipeline: Pipeline,
        config: &KafkaConfig,
        processing_log: Option<String>,
    ) -> RuntimeResult<Self> {
        restore_state(&mut pipeline, config)?;
        let consumer: BaseConsumer = config
            .client()
            .set("group.id", group_id)
            .set("enable.auto.commit", "false")
            .set("auto.offset.reset", auto_offset_reset)
            .set("isolation.level", "read_committed")
            .create()
            .map_err(|e| kafka_error("cannot create a Kafka consumer", e))?;
        let topics = pipeline.input_topics();
        let names: Vec<&str> = topics.iter().map(String::as_str).collect();
        consumer.subscribe(&names).map_err(|e| kafka_error(&format!("cannot subscribe to {}", names.join(", ")), e))?;
        let producer = tracked_producer(config)?;
        let stop = Arc::new(AtomicBool::new(false));
        let stats = Arc::new(QueryStats::default());
        let worker = Worker {
            id: id.to_string(),
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

/// Rebuilds the query's state stores from their changelog topics before it consumes input.
fn restore_state(pipeline: &mut Pipeline, config: &KafkaConfig) -> RuntimeResult<()> {
    let changelogs = pipeline.internal_topics();
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

/// Records of one poll round, and the index of each one's input topic (kept apart so that runs
/// of one input reach the pipeline as slices, without copying the records).
#[derive(Default)]
struct Batch {
    inputs: Vec<usize>,
    records: Vec<TopicRecord>,
}

impl Batch {
    fn clear(&mut self) {
        self.inputs.clear();
        self.records.clear();
    }
}

struct Worker {
    id: String,
    /// The pipeline's input topics (a record's input is the index of its topic here).
    topics: Vec<String>,
    consumer: BaseConsumer,
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
            if batch.records.is_empty() {
                continue;
            }
            if let Err(e) = self.process(&batch, &mut errors) {
                tracing::error!("query stopped: {e}");
                if let Ok(mut failure) = self.stats.failure.lock() {
                    *failure = Some(e.to_string());
                }
                return;
            }
        }
    }

    /// Waits up to [`POLL_WAIT`] for a record, then takes whatever else is already buffered.
    fn fill(&self, batch: &mut Batch) {
        let mut wait = POLL_WAIT;
        while batch.records.len() < MAX_BATCH {
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
            outputs.changelog.append(&mut out.changelog);
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
        let sink = self.pipeline.sink_topic().to_string();
        for record in &outputs.sink {
            send(&self.producer, &sink, None, record)?;
        }
        for (changelog, record) in &outputs.changelog {
            send(&self.producer, changelog, None, record)?;
        }
        flush(&self.producer)?;
        self.stats.produced.fetch_add(outputs.sink.len() as u64, Ordering::Relaxed);
        self.commit(batch)?;
        self.stats.consumed.fetch_add(len as u64, Ordering::Relaxed);
        self.stats.state_entries.store(self.pipeline.state_entries() as u64, Ordering::Relaxed);
        Ok(())
    }

    /// Commits, per topic and partition, the offset after the last record of the batch.
    fn commit(&self, batch: &Batch) -> RuntimeResult<()> {
        let mut next: HashMap<(usize, i32), i64> = HashMap::new();
        for (input, r) in batch.inputs.iter().zip(&batch.records) {
            let entry = next.entry((*input, r.partition)).or_insert(r.offset + 1);
            *entry = (*entry).max(r.offset + 1);
        }
        let mut offsets = TopicPartitionList::new();
        for ((input, partition), offset) in next {
            offsets
                .add_partition_offset(&self.topics[input], partition, Offset::Offset(offset))
                .map_err(|e| kafka_error("cannot build the offsets to commit", e))?;
        }
        self.consumer
            .commit(&offsets, CommitMode::Sync)
            .map_err(|e| kafka_error(&format!("cannot commit offsets of {}", self.topics.join(", ")), e))
    }
}
