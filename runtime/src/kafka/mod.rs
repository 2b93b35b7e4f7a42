//! Kafka I/O through rdkafka: the [`TopicStore`] over a real cluster ([`KafkaTopics`]) and
//! persistent queries run as consumer threads ([`query::KafkaQuery`]).
//!
//! Producers write with `acks=all` and idempotence on, and partition keyed records with
//! murmur2 like Kafka's Java clients (librdkafka's default partitioner differs), so records
//! land where ksqlDB would put them.

pub mod command_log;
mod held;
mod merge;
pub mod query;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::{Client, ClientContext, DefaultClientContext};
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{BorrowedMessage, DeliveryResult, Header, Headers as _, Message, OwnedHeaders};
use rdkafka::producer::{BaseRecord, Producer, ProducerContext, ThreadedProducer};
use rdkafka::{Offset, TopicPartitionList};

use crate::error::{RuntimeError, RuntimeResult};
use crate::topic::{Headers, Position, TopicRecord, TopicStore};

/// How long admin and metadata requests may take before they are reported as failed.
pub(crate) const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// Where the cluster is and how to talk to it.
#[derive(Debug, Clone)]
pub struct KafkaConfig {
    pub bootstrap_servers: String,
    /// Client properties passed through to rdkafka (`security.protocol`, `sasl.*`, ...).
    pub client_properties: BTreeMap<String, String>,
    /// Replication factor for topics Runnel creates when the statement does not give one.
    pub default_replicas: i32,
}

impl KafkaConfig {
    pub fn new(bootstrap_servers: impl Into<String>) -> Self {
        KafkaConfig { bootstrap_servers: bootstrap_servers.into(), client_properties: BTreeMap::new(), default_replicas: 1 }
    }

    /// A client config with the bootstrap servers and pass-through properties.
    pub(crate) fn client(&self) -> ClientConfig {
        let mut config = ClientConfig::new();
        config.set("bootstrap.servers", &self.bootstrap_servers);
        for (k, v) in &self.client_properties {
            config.set(k, v);
        }
        config
    }

    /// A producer config: acks=all, idempotent, Java-compatible partitioning.
    pub(crate) fn producer(&self) -> ClientConfig {
        let mut config = self.client();
        config
            .set("acks", "all")
            .set("enable.idempotence", "true")
            .set("partitioner", "murmur2_random")
            .set("linger.ms", "5");
        config
    }
}

fn kafka_error(what: &str, e: impl std::fmt::Display) -> RuntimeError {
    RuntimeError::Topic(format!("{what}: {e}"))
}

/// Counts failed deliveries so that a writer knows whether everything it sent was
/// acknowledged before it commits its input offsets.
#[derive(Default)]
pub(crate) struct DeliveryTracker {
    failed: AtomicU64,
    first_error: Mutex<Option<String>>,
}

impl DeliveryTracker {
    /// The first delivery failure since the last call, if any (and resets the count).
    pub(crate) fn take_failure(&self) -> Option<String> {
        if self.failed.swap(0, Ordering::AcqRel) == 0 {
            return None;
        }
        self.first_error.lock().ok().and_then(|mut e| e.take()).or_else(|| Some("delivery failed".into()))
    }
}

impl ClientContext for DeliveryTracker {}

impl ProducerContext for DeliveryTracker {
    type DeliveryOpaque = ();

    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        if let Err((e, message)) = result {
            // Only failures take the lock; successful deliveries cost nothing here.
            if self.failed.fetch_add(1, Ordering::AcqRel) == 0 {
                if let Ok(mut first) = self.first_error.lock() {
                    *first = Some(format!("could not write to {}: {e}", message.topic()));
                }
            }
        }
    }
}

pub(crate) type TrackedProducer = ThreadedProducer<DeliveryTracker>;

pub(crate) fn tracked_producer(config: &KafkaConfig) -> RuntimeResult<TrackedProducer> {
    config.producer().create_with_context(DeliveryTracker::default()).map_err(|e| kafka_error("cannot create a Kafka producer", e))
}

/// Queues one record, waiting while the producer's queue is full.
pub(crate) fn send(producer: &TrackedProducer, topic: &str, partition: Option<i32>, record: &TopicRecord) -> RuntimeResult<()> {
    let mut headers = None;
    if !record.headers.is_empty() {
        let mut owned = OwnedHeaders::new_with_capacity(record.headers.len());
        for (key, value) in &record.headers {
            owned = owned.insert(Header { key, value: value.as_deref() });
        }
        headers = Some(owned);
    }
    let mut base: BaseRecord<'_, [u8], [u8]> = BaseRecord::to(topic).timestamp(record.timestamp);
    base.key = record.key.as_deref();
    base.payload = record.value.as_deref();
    base.partition = partition;
    base.headers = headers;
    loop {
        match producer.send(base) {
            Ok(()) => return Ok(()),
            Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                base = back;
                producer.poll(Duration::from_millis(10));
            }
            Err((e, _)) => return Err(kafka_error(&format!("could not write to {topic}"), e)),
        }
    }
}

/// Waits until everything queued is acknowledged; fails if any record was not.
pub(crate) fn flush(producer: &TrackedProducer) -> RuntimeResult<()> {
    producer.flush(REQUEST_TIMEOUT).map_err(|e| kafka_error("could not flush the producer", e))?;
    match producer.context().take_failure() {
        Some(e) => Err(RuntimeError::Topic(e)),
        None => Ok(()),
    }
}

/// A borrowed Kafka message as a [`TopicRecord`].
pub(crate) fn to_record(message: &BorrowedMessage<'_>) -> TopicRecord {
    let headers: Headers = match message.headers() {
        Some(h) => h.iter().map(|h| (h.key.to_string(), h.value.map(<[u8]>::to_vec))).collect(),
        None => Vec::new(),
    };
    TopicRecord {
        key: message.key().map(<[u8]>::to_vec),
        value: message.payload().map(<[u8]>::to_vec),
        timestamp: message.timestamp().to_millis().unwrap_or(0),
        headers,
        partition: message.partition(),
        offset: message.offset(),
    }
}

/// Every record of `topic` up to the end seen now, partition after partition, read with
/// `consumer` (an `enable.partition.eof` consumer; its assignment is replaced and cleared).
pub(crate) fn read_to_end(consumer: &EndReader, topic: &str, partitions: i32, timeout: Duration) -> RuntimeResult<Vec<TopicRecord>> {
    let mut assignment = TopicPartitionList::new();
    for p in 0..partitions {
        assignment.add_partition_offset(topic, p, Offset::Beginning).map_err(|e| kafka_error(&format!("cannot read {topic}"), e))?;
    }
    consumer.assign(&assignment).map_err(|e| kafka_error(&format!("cannot read {topic}"), e))?;
    let mut records = Vec::new();
    let mut at_end = 0;
    let deadline = Instant::now() + timeout;
    let outcome = loop {
        if at_end >= partitions {
            break Ok(records);
        }
        if Instant::now() > deadline {
            break Err(RuntimeError::Topic(format!("timed out reading {topic} to its end")));
        }
        match consumer.poll(Duration::from_millis(100)) {
            Some(Ok(m)) => records.push(to_record(&m)),
            Some(Err(KafkaError::PartitionEOF(_))) => at_end += 1,
            Some(Err(e)) => break Err(kafka_error(&format!("cannot read {topic}"), e)),
            None => {}
        }
    };
    let _ = consumer.unassign();
    outcome
}

/// How many partitions `topic` has, or `None` if it does not exist.
pub(crate) fn partition_count<C: ClientContext>(client: &Client<C>, topic: &str) -> RuntimeResult<Option<i32>> {
    let metadata = client
        .fetch_metadata(Some(topic), REQUEST_TIMEOUT)
        .map_err(|e| kafka_error(&format!("cannot read metadata of topic {topic}"), e))?;
    Ok(metadata
        .topics()
        .iter()
        .find(|t| t.name() == topic && t.error().is_none())
        .map(|t| t.partitions().len() as i32)
        .filter(|&n| n > 0))
}

/// The client context of [`end_reader`]s: reaching the end of a partition is what they wait
/// for, so librdkafka's report of it is not logged as an error (every other error is).
pub(crate) struct EndReaderContext;

impl ClientContext for EndReaderContext {
    fn error(&self, error: KafkaError, reason: &str) {
        match error {
            KafkaError::PartitionEOF(_) | KafkaError::Global(RDKafkaErrorCode::PartitionEOF) => tracing::trace!("{reason}"),
            error => tracing::error!("librdkafka: {error}: {reason}"),
        }
    }
}

impl rdkafka::consumer::ConsumerContext for EndReaderContext {}

pub(crate) type EndReader = BaseConsumer<EndReaderContext>;

/// A consumer for [`read_to_end`]: no group offsets, end-of-partition events on.
pub(crate) fn end_reader(config: &KafkaConfig) -> RuntimeResult<EndReader> {
    config
        .client()
        .set("group.id", "runnel-reader")
        .set("enable.auto.commit", "false")
        .set("enable.partition.eof", "true")
        .create_with_context(EndReaderContext)
        .map_err(|e| kafka_error("cannot create a Kafka consumer", e))
}

/// Topics of a Kafka cluster behind the [`TopicStore`] interface. Calls block until the
/// cluster answers, so async callers run them on a blocking thread.
pub struct KafkaTopics {
    config: KafkaConfig,
    admin: AdminClient<DefaultClientContext>,
    producer: TrackedProducer,
    /// Reads a whole topic for [`TopicStore::read`] (tests): no group, no commits.
    reader: EndReader,
}

impl KafkaTopics {
    pub fn connect(config: KafkaConfig) -> RuntimeResult<Self> {
        let admin = config.client().create().map_err(|e| kafka_error("cannot create a Kafka admin client", e))?;
        let producer = tracked_producer(&config)?;
        let reader = end_reader(&config)?;
        let topics = KafkaTopics { config, admin, producer, reader };
        // Fail fast with a clear message when the cluster is unreachable.
        topics.producer.client().fetch_metadata(None, REQUEST_TIMEOUT).map_err(|e| {
            kafka_error(&format!("cannot reach the Kafka cluster at {}", topics.config.bootstrap_servers), e)
        })?;
        Ok(topics)
    }

    pub fn config(&self) -> &KafkaConfig {
        &self.config
    }

    fn partition_count(&self, name: &str) -> RuntimeResult<Option<i32>> {
        partition_count(self.producer.client(), name)
    }
}

impl TopicStore for KafkaTopics {
    fn create_topic(&mut self, name: &str, partitions: i32) -> RuntimeResult<()> {
        if partitions < 1 {
            return Err(RuntimeError::Topic(format!("Invalid partition count {partitions} for topic {name}")));
        }
        if self.partition_count(name)?.is_some() {
            return Ok(());
        }
        let topic = NewTopic::new(name, partitions, TopicReplication::Fixed(self.config.default_replicas));
        let options = AdminOptions::new().operation_timeout(Some(REQUEST_TIMEOUT));
        let results = futures::executor::block_on(self.admin.create_topics([&topic], &options))
            .map_err(|e| kafka_error(&format!("cannot create topic {name}"), e))?;
        for result in results {
            match result {
                Ok(_) | Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
                Err((topic, code)) => return Err(kafka_error(&format!("cannot create topic {topic}"), code)),
            }
        }
        // Metadata can trail creation: wait until the topic is visible so that producers and
        // consumers started next find it.
        let deadline = Instant::now() + REQUEST_TIMEOUT;
        while self.partition_count(name)?.is_none() {
            if Instant::now() > deadline {
                return Err(RuntimeError::Topic(format!("topic {name} was created but never became visible")));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(())
    }

    fn delete_topic(&mut self, name: &str) {
        let options = AdminOptions::new().operation_timeout(Some(REQUEST_TIMEOUT));
        if let Err(e) = futures::executor::block_on(self.admin.delete_topics(&[name], &options)) {
            tracing::warn!("could not delete topic {name}: {e}");
        }
    }

    fn partitions(&self, name: &str) -> Option<i32> {
        self.partition_count(name).ok().flatten()
    }

    fn topic_names(&self) -> Vec<String> {
        self.topic_partitions().into_iter().map(|(name, _)| name).collect()
    }

    fn topic_partitions(&self) -> Vec<(String, i32)> {
        match self.producer.client().fetch_metadata(None, REQUEST_TIMEOUT) {
            Ok(m) => m
                .topics()
                .iter()
                .filter(|t| t.error().is_none())
                .map(|t| (t.name().to_string(), t.partitions().len() as i32))
                .collect(),
            Err(e) => {
                tracing::warn!("cannot list topics: {e}");
                Vec::new()
            }
        }
    }

    fn append(&mut self, topic: &str, partition: Option<i32>, record: TopicRecord) -> RuntimeResult<(i32, i64)> {
        send(&self.producer, topic, partition, &record)?;
        flush(&self.producer)?;
        // The delivery report carries the offset; callers of append only need success.
        Ok((partition.unwrap_or(-1), -1))
    }

    /// Reads the whole topic (partition by partition, to the end seen now) and hands `visit`
    /// the records after the first `from`. Meant for tests and PRINT, not for queries.
    fn read(&self, topic: &str, from: Position, max: usize, visit: &mut dyn FnMut(&[TopicRecord])) -> Position {
        let Some(partitions) = self.partitions(topic) else { return from };
        let records = match read_to_end(&self.reader, topic, partitions, REQUEST_TIMEOUT) {
            Ok(records) => records,
            Err(e) => {
                tracing::warn!("{e}");
                return from;
            }
        };
        let start = from.min(records.len());
        let end = records.len().min(start.saturating_add(max));
        if start < end {
            visit(&records[start..end]);
        }
        end.max(from)
    }
}

/// A transient reader of one topic (push queries, PRINT): a consumer of its own with every
/// partition assigned from the start or the end, no group offsets, polled without waiting
/// from the engine thread.
pub(crate) struct TopicFeed {
    consumer: BaseConsumer,
    topic: String,
}

impl TopicFeed {
    pub(crate) fn open(config: &KafkaConfig, topic: &str, from_beginning: bool) -> RuntimeResult<Self> {
        let consumer: BaseConsumer = config
            .client()
            .set("group.id", "runnel-transient")
            .set("enable.auto.commit", "false")
            .set("isolation.level", "read_committed")
            .create()
            .map_err(|e| kafka_error("cannot create a Kafka consumer", e))?;
        let partitions = partition_count(consumer.client(), topic)?
            .ok_or_else(|| RuntimeError::Topic(format!("Kafka topic does not exist: {topic}")))?;
        let start = if from_beginning { Offset::Beginning } else { Offset::End };
        let mut assignment = TopicPartitionList::new();
        for p in 0..partitions {
            assignment.add_partition_offset(topic, p, start).map_err(|e| kafka_error(&format!("cannot read {topic}"), e))?;
        }
        consumer.assign(&assignment).map_err(|e| kafka_error(&format!("cannot read {topic}"), e))?;
        Ok(TopicFeed { consumer, topic: topic.to_string() })
    }

    /// Appends up to `max` records that have already arrived to `out`; never waits.
    pub(crate) fn poll_ready(&self, max: usize, out: &mut Vec<TopicRecord>) -> RuntimeResult<()> {
        while out.len() < max {
            match self.consumer.poll(Duration::ZERO) {
                Some(Ok(message)) => out.push(to_record(&message)),
                Some(Err(KafkaError::PartitionEOF(_))) => {}
                Some(Err(e)) => return Err(kafka_error(&format!("cannot read {}", self.topic), e)),
                None => break,
            }
        }
        Ok(())
    }
}
