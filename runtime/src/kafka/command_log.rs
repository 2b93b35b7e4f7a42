//! The command log: every statement that changes the catalog is appended to the
//! single-partition topic `_runnel-<service>-command` before it takes effect; a server that
//! starts replays it in order to rebuild the same catalog and queries.
//!
//! A command's sequence number is its offset in that topic.

use std::collections::BTreeMap;
use std::time::Duration;

use rdkafka::error::KafkaError;
use rdkafka::producer::{FutureProducer, FutureRecord};
use serde_json::{json, Value};

use super::{end_reader, kafka_error, read_to_end, KafkaConfig};
use crate::error::{RuntimeError, RuntimeResult};
use crate::topic::TopicStore;

const REPLAY_TIMEOUT: Duration = Duration::from_secs(60);

/// One replayable statement.
#[derive(Debug, Clone, PartialEq)]
pub struct Command {
    pub sequence: i64,
    pub statement: String,
    /// Session properties the statement ran with (SET ... and request properties).
    pub properties: BTreeMap<String, String>,
}

/// The command topic of one service.
pub struct CommandLog {
    topic: String,
    config: KafkaConfig,
    producer: FutureProducer,
}

impl CommandLog {
    /// The log of service `service_id`; creates its topic (one partition) if missing.
    pub fn open(service_id: &str, config: &KafkaConfig, topics: &mut dyn TopicStore) -> RuntimeResult<Self> {
        let topic = command_topic(service_id);
        topics.create_topic(&topic, 1)?;
        let producer = config.producer().create().map_err(|e| kafka_error("cannot create the command log producer", e))?;
        Ok(CommandLog { topic, config: config.clone(), producer })
    }

    pub fn topic(&self) -> &str {
        &self.topic
    }

    /// Appends a statement and waits for the broker to acknowledge it; returns its sequence
    /// number.
    pub fn append(&self, statement: &str, properties: &BTreeMap<String, String>) -> RuntimeResult<i64> {
        let value = json!({ "statement": statement, "streamsProperties": properties }).to_string();
        let record: FutureRecord<'_, (), String> = FutureRecord::to(&self.topic).payload(&value).partition(0);
        let failed = |e: KafkaError| kafka_error(&format!("cannot append to the command log {}", self.topic), e);
        // send_result + block_on: no async runtime needed (delivery is signalled by librdkafka).
        let delivery = self.producer.send_result(record).map_err(|(e, _)| failed(e))?;
        match futures::executor::block_on(delivery) {
            Ok(Ok(delivered)) => Ok(delivered.offset),
            Ok(Err((e, _))) => Err(failed(e)),
            Err(_) => Err(RuntimeError::Topic(format!("the producer of {} was closed", self.topic))),
        }
    }

    /// Every command so far, in order. Records that are not commands are skipped with a warning.
    pub fn replay(&self) -> RuntimeResult<Vec<Command>> {
        let reader = end_reader(&self.config)?;
        let records = read_to_end(&reader, &self.topic, 1, REPLAY_TIMEOUT)?;
        Ok(records
            .iter()
            .filter_map(|r| {
                let command = r.value.as_deref().and_then(|p| parse_command(r.offset, p));
                if command.is_none() {
                    tracing::warn!("skipping unreadable command at offset {} of {}", r.offset, self.topic);
                }
                command
            })
            .collect())
    }
}

pub fn command_topic(service_id: &str) -> String {
    format!("_runnel-{service_id}-command")
}

fn parse_command(sequence: i64, payload: &[u8]) -> Option<Command> {
    let value: Value = serde_json::from_slice(payload).ok()?;
    let statement = value.get("statement")?.as_str()?.to_string();
    let properties = value
        .get("streamsProperties")
        .and_then(Value::as_object)
        .map(|m| m.iter().filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string()))).collect())
        .unwrap_or_default();
    Some(Command { sequence, statement, properties })
}
