//! runnel-server: the ksqlDB-compatible server around the Runnel engine.

#[cfg(feature = "embedded-broker")]
pub mod embedded_broker;
