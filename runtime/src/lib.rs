//! runnel-runtime: tasks, operators, formats and topic I/O.
//!
//! [`Engine`] is the in-process executor: it runs statements against a catalog and a topic
//! store (the deterministic in-memory log, or Kafka), and drives persistent queries.

pub mod aggregate;
pub mod engine;
pub mod error;
pub mod format;
pub mod join;
pub mod kafka;
pub mod materialize;
pub mod pipeline;
pub mod processing_log;
pub mod pull;
pub mod push;
pub(crate) mod repartition;
pub mod source;
pub mod state;
pub mod topic;

pub use engine::{ColumnRole, Engine, KEY_COLUMN_METADATA, EngineError, ErrorKind, SourceColumn, SourceDescription, TopicRecord, WindowInfo, WindowType};
pub use error::RuntimeError;
pub use push::{PushQuery, ResultColumn, StartFrom, TopicPrint};
pub use pipeline::ResultBatch;
