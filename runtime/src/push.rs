//! Transient queries: push queries (`SELECT ... EMIT CHANGES`) and `PRINT`, whose output goes
//! to a client instead of a topic.
//!
//! The engine polls them in [`crate::Engine::process`] next to the persistent queries and
//! hands results to the client through a bounded channel. A client that reads slowly fills
//! its channel; the engine then stops reading that query's source (the records stay in the
//! topic) instead of buffering without bound or holding back other queries. A client that
//! goes away closes the channel and the engine drops the query on its next pass.
//!
//! Over the in-memory log a transient query polls the engine's topic store; over Kafka it has
//! a consumer of its own ([`TopicFeed`]) that the engine polls without waiting.

use std::collections::VecDeque;

use arrow::datatypes::SchemaRef;
use runnel_parser::SqlType;
use tokio::sync::mpsc;

use crate::engine::EngineError;
use crate::kafka::TopicFeed;
use crate::pipeline::{Pipeline, ResultBatch};
use crate::topic::{Position, TopicRecord, TopicStore};

/// Most records a transient query reads from its Kafka feed per step.
const FEED_BATCH: usize = 1024;

/// Result batches buffered per transient query before the engine stops reading its source.
pub const RESULT_CHANNEL_CAPACITY: usize = 16;

/// Where a transient query starts reading (`auto.offset.reset`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartFrom {
    /// Only records appended after the query starts (ksqlDB's default, `latest`).
    Latest,
    /// Every record in the topic (`earliest`).
    Earliest,
}

impl StartFrom {
    /// Reads `auto.offset.reset` from request properties, then from the engine's config
    /// (`ksql.streams.auto.offset.reset` or `auto.offset.reset`); ksqlDB's default is latest.
    pub fn from_properties<'a>(lookups: impl IntoIterator<Item = Option<&'a str>>) -> Result<Self, EngineError> {
        let Some(value) = lookups.into_iter().flatten().next() else { return Ok(StartFrom::Latest) };
        match value.trim().to_ascii_lowercase().as_str() {
            "earliest" => Ok(StartFrom::Earliest),
            "latest" => Ok(StartFrom::Latest),
            other => Err(EngineError {
                kind: crate::ErrorKind::Statement,
                message: format!("Invalid value {other} for configuration auto.offset.reset: must be one of earliest, latest"),
            }),
        }
    }
}

/// One column of a push query's result, in projection order.
#[derive(Debug, Clone, PartialEq)]
pub struct ResultColumn {
    pub name: String,
    pub data_type: SqlType,
}

/// What a client of a push query holds: its id, result columns, LIMIT and the result stream.
/// Dropping it (or its `results`) ends the query.
#[derive(Debug)]
pub struct PushQuery {
    /// `transient_<SOURCE>_<n>`, as ksqlDB names them.
    pub id: String,
    pub columns: Vec<ResultColumn>,
    /// The Arrow schema of the batches in `results` (exactly `columns`).
    pub schema: SchemaRef,
    /// `LIMIT n`: the client stops after `n` rows.
    pub limit: Option<u64>,
    /// Result batches in order; an `Err` is the last item (the query failed).
    pub results: mpsc::Receiver<Result<ResultBatch, EngineError>>,
}

/// What a client of `PRINT` holds: raw records of the topic, in order.
#[derive(Debug)]
pub struct TopicPrint {
    pub topic: String,
    pub records: mpsc::Receiver<Vec<TopicRecord>>,
}

/// The engine's side of a push query.
pub(crate) struct TransientQuery {
    pub(crate) id: String,
    pub(crate) statement: String,
    pub(crate) pipeline: Pipeline,
    /// Positions of the client's columns in the pipeline's output (which also has hidden
    /// sink columns such as `__ROWTIME`).
    pub(crate) projection: Vec<usize>,
    pub(crate) schema: SchemaRef,
    pub(crate) sender: mpsc::Sender<Result<ResultBatch, EngineError>>,
    pub(crate) pending: VecDeque<ResultBatch>,
    /// Its own consumer over Kafka; `None` reads the engine's topic store.
    pub(crate) feed: Option<TopicFeed>,
}

impl TransientQuery {
    /// Moves results towards the client; returns the records read, or `None` when the query
    /// is finished (the client went away or the query failed).
    pub(crate) fn advance(&mut self, topics: &mut dyn TopicStore, errors: &mut Vec<crate::source::RecordError>) -> Option<usize> {
        if self.sender.is_closed() {
            return None;
        }
        let mut read = 0;
        loop {
            while let Some(batch) = self.pending.pop_front() {
                match self.sender.try_send(Ok(batch)) {
                    Ok(()) => {}
                    Err(mpsc::error::TrySendError::Full(Ok(batch))) => {
                        self.pending.push_front(batch);
                        return Some(read);
                    }
                    Err(_) => return None,
                }
            }
            let n = match self.read(topics, errors) {
                Ok(n) => n,
                Err(e) => {
                    let error = EngineError { kind: crate::ErrorKind::Processing, message: e.to_string() };
                    // The client learns why its query ended; if it is gone there is no one to tell.
                    let _ = self.sender.try_send(Err(error));
                    return None;
                }
            };
            read += n;
            for result in self.pipeline.take_results() {
                match result.batch.project(&self.projection) {
                    Ok(batch) => {
                        debug_assert_eq!(batch.schema().fields().len(), self.schema.fields().len());
                        self.pending.push_back(ResultBatch { batch, tombstone: result.tombstone });
                    }
                    Err(e) => {
                        let error = EngineError { kind: crate::ErrorKind::Engine, message: e.to_string() };
                        let _ = self.sender.try_send(Err(error));
                        return None;
                    }
                }
            }
            if n == 0 && self.pending.is_empty() {
                return Some(read);
            }
        }
    }

    /// Runs the next records of the source through the pipeline; returns how many.
    fn read(&mut self, topics: &mut dyn TopicStore, errors: &mut Vec<crate::source::RecordError>) -> crate::error::RuntimeResult<usize> {
        let Some(feed) = &self.feed else { return self.pipeline.poll(topics, errors) };
        let mut records = Vec::new();
        feed.poll_ready(FEED_BATCH, &mut records)?;
        if !records.is_empty() {
            // A transient query's state lives only as long as the query: its changelog
            // output has nowhere to go and is dropped.
            self.pipeline.process(&records, errors)?;
        }
        Ok(records.len())
    }
}

/// The engine's side of a `PRINT`.
pub(crate) struct TopicTap {
    pub(crate) topic: String,
    pub(crate) position: Position,
    pub(crate) sender: mpsc::Sender<Vec<TopicRecord>>,
    /// Its own consumer over Kafka; `None` reads the engine's topic store.
    pub(crate) feed: Option<TopicFeed>,
}

impl TopicTap {
    /// Forwards new records; returns the number forwarded, or `None` when the client is gone.
    pub(crate) fn advance(&mut self, topics: &dyn TopicStore) -> Option<usize> {
        let mut forwarded = 0;
        loop {
            let permit = match self.sender.try_reserve() {
                Ok(permit) => permit,
                Err(mpsc::error::TrySendError::Full(())) => return Some(forwarded),
                Err(mpsc::error::TrySendError::Closed(())) => return None,
            };
            let mut copied = Vec::new();
            match &self.feed {
                Some(feed) => {
                    if let Err(e) = feed.poll_ready(FEED_BATCH, &mut copied) {
                        tracing::warn!("PRINT {} stopped: {e}", self.topic);
                        return None;
                    }
                }
                None => {
                    self.position = topics.read(&self.topic, self.position, FEED_BATCH, &mut |records| copied.extend_from_slice(records));
                }
            }
            if copied.is_empty() {
                return Some(forwarded);
            }
            forwarded += copied.len();
            permit.send(copied);
        }
    }
}

/// The position just past the last record of `topic` (where `latest` starts).
pub(crate) fn end_position(topics: &dyn TopicStore, topic: &str) -> Position {
    let mut position = 0;
    loop {
        let next = topics.read(topic, position, usize::MAX / 2, &mut |_| {});
        if next == position {
            return position;
        }
        position = next;
    }
}
