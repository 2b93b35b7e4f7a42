//! The statement executor and query driver (API first; implementation in progress).

use std::collections::BTreeMap;

use runnel_parser::{SourceKind, SqlType};

/// One record of a topic, as bytes (exactly what Kafka would hold).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct TopicRecord {
    pub key: Option<Vec<u8>>,
    pub value: Option<Vec<u8>>,
    /// Kafka timestamp, ms since epoch.
    pub timestamp: i64,
    pub headers: Vec<(String, Option<Vec<u8>>)>,
    pub partition: i32,
    pub offset: i64,
}

/// Which family of ksqlDB exception an error corresponds to (the QTT `expectedException.type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// Syntax errors (`ParseFailedException`).
    Parse,
    /// A statement that is well-formed but invalid (`KsqlStatementException`).
    Statement,
    /// Other engine errors (`KsqlException`).
    Engine,
    /// Failures while a query processes records (`StreamsException`).
    Processing,
}

#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct EngineError {
    pub kind: ErrorKind,
    pub message: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColumnRole {
    Key,
    Value,
    /// `HEADERS` or `HEADER('k')` (the key, when given).
    Header,
}

#[derive(Debug, Clone, PartialEq)]
pub struct SourceColumn {
    pub name: String,
    pub data_type: SqlType,
    pub role: ColumnRole,
    /// For `HEADER('k')` columns.
    pub header_key: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WindowType {
    Tumbling,
    Hopping,
    Session,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WindowInfo {
    pub window_type: WindowType,
    /// Window size in ms (None for SESSION).
    pub size_ms: Option<i64>,
}

/// What DESCRIBE / QTT post-conditions need to know about a stream or table.
#[derive(Debug, Clone, PartialEq)]
pub struct SourceDescription {
    pub name: String,
    pub kind: SourceKind,
    pub columns: Vec<SourceColumn>,
    pub topic: String,
    /// Upper-case format names, e.g. `KAFKA`, `JSON`, `DELIMITED`, `NONE`.
    pub key_format: String,
    pub value_format: String,
    /// Serde features, e.g. `UNWRAP_SINGLES`, `WRAP_SINGLES`.
    pub key_features: Vec<String>,
    pub value_features: Vec<String>,
    pub window: Option<WindowInfo>,
    /// Created with `CREATE SOURCE ...`.
    pub is_source: bool,
}

/// The executor. See the module docs.
pub struct Engine {
    _properties: BTreeMap<String, String>,
}

impl Engine {
    /// A new engine over the in-memory topic store; `properties` are ksql/streams config
    /// overrides (e.g. `ksql.persistence.wrap.single.values`).
    pub fn new(properties: BTreeMap<String, String>) -> Self {
        Engine { _properties: properties }
    }

    /// Parses and executes one or more statements (DDL, CSAS/CTAS, INSERT, ...).
    pub fn execute_sql(&mut self, _sql: &str) -> Result<(), EngineError> {
        Err(EngineError { kind: ErrorKind::Engine, message: "not implemented yet".into() })
    }

    /// Creates a topic (no-op if it exists).
    pub fn create_topic(&mut self, _name: &str, _partitions: i32) {}

    /// Appends a record to a topic (the topic is created if missing); `partition`/`offset` in
    /// `record` are ignored and assigned.
    pub fn produce(&mut self, _topic: &str, _record: TopicRecord) -> Result<(), EngineError> {
        Ok(())
    }

    /// Runs every persistent query until all input has been consumed.
    pub fn process(&mut self) -> Result<(), EngineError> {
        Ok(())
    }

    /// All records of a topic in offset order (partitions concatenated in partition order).
    pub fn records(&self, _topic: &str) -> Vec<TopicRecord> {
        Vec::new()
    }

    /// Names of all topics that exist (including internal ones).
    pub fn topic_names(&self) -> Vec<String> {
        Vec::new()
    }

    /// Partition count of a topic, if it exists.
    pub fn topic_partitions(&self, _topic: &str) -> Option<i32> {
        None
    }

    /// The stream or table with this (already resolved, case-sensitive) name.
    pub fn source(&self, _name: &str) -> Option<SourceDescription> {
        None
    }

    /// All sources reading or writing this topic.
    pub fn sources_for_topic(&self, _topic: &str) -> Vec<SourceDescription> {
        Vec::new()
    }
}
