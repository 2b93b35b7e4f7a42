//! runnel-server: ksqlDB's REST API over the Runnel engine.
//!
//! * [`config`]: flags and the properties file.
//! * [`driver`]: the engine on its own thread, reached through [`driver::EngineHandle`].
//! * [`api`]: the endpoints, their request/response shapes and content types.
//! * [`render`]: query results as ksqlDB renders them (header schema, JSON rows).
//! * [`error`]: ksqlDB's error bodies and codes.
//! * [`server`]: listeners (HTTP/1.1 and HTTP/2 prior knowledge on one port), start/stop.
//! * `embedded_broker`: the in-process Kafka-protocol broker (feature `embedded-broker`).

pub mod api;
pub mod config;
pub mod driver;
#[cfg(feature = "embedded-broker")]
pub mod embedded_broker;
pub mod error;
pub mod render;
pub mod server;

pub use config::{Args, BrokerStorage, ServerConfig};
pub use server::{start, start_with_engine, RunningServer, StartError};
