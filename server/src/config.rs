//! Server configuration: command-line flags over a ksqlDB-style properties file.
//!
//! Precedence: a flag beats the file, the file beats the default. Keys starting with `ksql.`
//! configure the engine; every other key that is not a server setting is a Kafka client
//! property, kept for the Kafka I/O layer to pass through to the client.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use clap::Parser;

use crate::error::ConfigError;

/// Default REST listener, as in ksqlDB.
pub const DEFAULT_LISTENER: &str = "http://0.0.0.0:8088";
/// Where the embedded broker listens when no bootstrap servers are configured.
pub const DEFAULT_EMBEDDED_BROKER_LISTENER: &str = "127.0.0.1:9092";
/// File of the embedded broker's data, under the state directory.
pub const EMBEDDED_BROKER_FILE: &str = "embedded-broker.db";
/// ksqlDB's default `ksql.service.id`.
pub const DEFAULT_SERVICE_ID: &str = "default_";

/// Command-line flags of `runnel-server`.
#[derive(Debug, Clone, Default, Parser)]
#[command(name = "runnel-server", version, about = "Runnel: streaming SQL with ksqlDB's SQL and REST API")]
pub struct Args {
    /// REST listeners, comma-separated (`http://HOST:PORT`); default http://0.0.0.0:8088.
    #[arg(long, value_name = "URLS")]
    pub listeners: Option<String>,
    /// Kafka bootstrap servers; without them the embedded broker is used.
    #[arg(long, value_name = "LIST")]
    pub bootstrap_servers: Option<String>,
    /// Address of the embedded broker (used when no bootstrap servers are given).
    #[arg(long, value_name = "HOST:PORT")]
    pub embedded_broker_listener: Option<String>,
    /// Where the embedded broker keeps its data: `memory` (lost on exit) or a file path;
    /// default <state-dir>/embedded-broker.db.
    #[arg(long, value_name = "memory|FILE")]
    pub embedded_broker_storage: Option<String>,
    /// ksql.service.id: names the command topic and internal topics.
    #[arg(long)]
    pub service_id: Option<String>,
    /// Directory for local state.
    #[arg(long, value_name = "DIR")]
    pub state_dir: Option<PathBuf>,
    /// A properties file (`key=value` lines, `#` or `!` comments), as ksqlDB's server config.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
}

/// The resolved configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct ServerConfig {
    pub listeners: Vec<SocketAddr>,
    pub bootstrap_servers: Option<String>,
    pub embedded_broker_listener: String,
    pub embedded_broker_storage: BrokerStorage,
    pub service_id: String,
    pub state_dir: PathBuf,
    /// `ksql.*` properties: engine configuration (and what SHOW PROPERTIES lists).
    pub ksql_properties: BTreeMap<String, String>,
    /// Other properties: Kafka client settings (`security.protocol`, `sasl.*`, ...).
    pub kafka_properties: BTreeMap<String, String>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            listeners: vec![parse_listener(DEFAULT_LISTENER).expect("the default listener is valid")],
            bootstrap_servers: None,
            embedded_broker_listener: DEFAULT_EMBEDDED_BROKER_LISTENER.to_string(),
            embedded_broker_storage: BrokerStorage::File(default_state_dir().join(EMBEDDED_BROKER_FILE)),
            service_id: DEFAULT_SERVICE_ID.to_string(),
            state_dir: default_state_dir(),
            ksql_properties: BTreeMap::new(),
            kafka_properties: BTreeMap::new(),
        }
    }
}

/// Where the embedded broker keeps topics, offsets and the command log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BrokerStorage {
    /// In memory: gone when the process exits (tests, benchmarks).
    Memory,
    /// An SQLite file: survives restarts.
    File(PathBuf),
}

fn default_state_dir() -> PathBuf {
    std::env::temp_dir().join("runnel-state")
}

impl ServerConfig {
    /// Flags over the properties file (if any) over defaults.
    pub fn from_args(args: &Args) -> Result<Self, ConfigError> {
        let file = match &args.config {
            Some(path) => read_properties_file(path)?,
            None => BTreeMap::new(),
        };
        Self::resolve(args, file)
    }

    /// Flags over `file` (already-read properties) over defaults.
    pub fn resolve(args: &Args, mut file: BTreeMap<String, String>) -> Result<Self, ConfigError> {
        let listeners_text = args
            .listeners
            .clone()
            .or_else(|| file.remove("listeners"))
            .unwrap_or_else(|| DEFAULT_LISTENER.to_string());
        let listeners = listeners_text
            .split(',')
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(parse_listener)
            .collect::<Result<Vec<_>, _>>()?;
        if listeners.is_empty() {
            return Err(ConfigError::Invalid { key: "listeners".into(), message: "no listener given".into() });
        }
        let bootstrap_servers = args
            .bootstrap_servers
            .clone()
            .or_else(|| file.remove("bootstrap.servers"))
            .or_else(|| file.remove("ksql.streams.bootstrap.servers"))
            .filter(|s| !s.trim().is_empty());
        let embedded_broker_listener = args
            .embedded_broker_listener
            .clone()
            .or_else(|| file.remove("runnel.embedded.broker.listener"))
            .unwrap_or_else(|| DEFAULT_EMBEDDED_BROKER_LISTENER.to_string());
        embedded_broker_listener.parse::<SocketAddr>().map_err(|e| ConfigError::Invalid {
            key: "embedded-broker-listener".into(),
            message: format!("'{embedded_broker_listener}' is not HOST:PORT with a numeric host: {e}"),
        })?;
        let service_id = args
            .service_id
            .clone()
            .or_else(|| file.get("ksql.service.id").cloned())
            .unwrap_or_else(|| DEFAULT_SERVICE_ID.to_string());
        let state_dir = args
            .state_dir
            .clone()
            .or_else(|| file.get("ksql.streams.state.dir").map(PathBuf::from))
            .unwrap_or_else(default_state_dir);
        let embedded_broker_storage = match args.embedded_broker_storage.clone().or_else(|| file.remove("runnel.embedded.broker.storage")) {
            Some(s) if s.trim().eq_ignore_ascii_case("memory") => BrokerStorage::Memory,
            Some(s) if !s.trim().is_empty() => BrokerStorage::File(PathBuf::from(s.trim())),
            _ => BrokerStorage::File(state_dir.join(EMBEDDED_BROKER_FILE)),
        };
        let (mut ksql_properties, kafka_properties): (BTreeMap<_, _>, BTreeMap<_, _>) =
            file.into_iter().partition(|(k, _)| k.starts_with("ksql."));
        ksql_properties.insert("ksql.service.id".into(), service_id.clone());
        ksql_properties.insert("ksql.streams.state.dir".into(), state_dir.display().to_string());
        if let Some(servers) = &bootstrap_servers {
            ksql_properties.insert("ksql.streams.bootstrap.servers".into(), servers.clone());
        }
        Ok(ServerConfig {
            listeners,
            bootstrap_servers,
            embedded_broker_listener,
            embedded_broker_storage,
            service_id,
            state_dir,
            ksql_properties,
            kafka_properties,
        })
    }
}

/// `http://HOST:PORT` (the scheme is optional; `https` is not served yet).
pub fn parse_listener(text: &str) -> Result<SocketAddr, ConfigError> {
    let invalid = |message: String| ConfigError::Invalid { key: "listeners".into(), message };
    let rest = match text.split_once("://") {
        Some(("http", rest)) => rest,
        Some((scheme, _)) => return Err(invalid(format!("'{text}': scheme {scheme} is not supported (use http)"))),
        None => text,
    };
    let rest = rest.trim_end_matches('/');
    let (host, port) = rest.rsplit_once(':').ok_or_else(|| invalid(format!("'{text}' has no port")))?;
    let port: u16 = port.parse().map_err(|_| invalid(format!("'{text}': '{port}' is not a port number")))?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let host = if host == "localhost" { "127.0.0.1" } else { host };
    let ip: std::net::IpAddr = host.parse().map_err(|_| invalid(format!("'{text}': '{host}' is not an IP address or localhost")))?;
    Ok(SocketAddr::new(ip, port))
}

/// Reads a Java-style properties file: `key=value` or `key: value`, `#`/`!` comments.
pub fn read_properties_file(path: &Path) -> Result<BTreeMap<String, String>, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|e| ConfigError::Read { path: path.to_path_buf(), source: e })?;
    parse_properties(&text).map_err(|(line, message)| ConfigError::Syntax { path: path.to_path_buf(), line, message })
}

/// Parses properties text; an error names the 1-based line.
pub fn parse_properties(text: &str) -> Result<BTreeMap<String, String>, (usize, String)> {
    let mut properties = BTreeMap::new();
    for (n, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with('!') {
            continue;
        }
        let split = line.find(['=', ':']).ok_or_else(|| (n + 1, format!("expected key=value, found '{line}'")))?;
        let key = line[..split].trim();
        if key.is_empty() {
            return Err((n + 1, format!("missing key before '=' in '{line}'")));
        }
        properties.insert(key.to_string(), line[split + 1..].trim().to_string());
    }
    Ok(properties)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_beat_the_file_and_the_file_beats_defaults() {
        let file = parse_properties(
            "# server\nlisteners=http://127.0.0.1:9000\nksql.service.id = svc\nsecurity.protocol: SASL_SSL\nbootstrap.servers=k:9092\n",
        )
        .expect("valid");
        let args = Args { listeners: Some("http://localhost:7000".into()), ..Args::default() };
        let config = ServerConfig::resolve(&args, file).expect("valid");
        assert_eq!(config.listeners, vec!["127.0.0.1:7000".parse().expect("addr")]);
        assert_eq!(config.service_id, "svc");
        assert_eq!(config.bootstrap_servers.as_deref(), Some("k:9092"));
        assert_eq!(config.kafka_properties.get("security.protocol").map(String::as_str), Some("SASL_SSL"));
        assert_eq!(config.ksql_properties.get("ksql.service.id").map(String::as_str), Some("svc"));
        assert_eq!(config.embedded_broker_listener, DEFAULT_EMBEDDED_BROKER_LISTENER);
    }

    #[test]
    fn defaults_match_ksqldb() {
        let config = ServerConfig::resolve(&Args::default(), BTreeMap::new()).expect("valid");
        assert_eq!(config.listeners, vec!["0.0.0.0:8088".parse().expect("addr")]);
        assert_eq!(config.service_id, "default_");
        assert!(config.bootstrap_servers.is_none());
        assert_eq!(config.embedded_broker_storage, BrokerStorage::File(config.state_dir.join(EMBEDDED_BROKER_FILE)));
    }

    #[test]
    fn embedded_broker_storage_is_memory_or_a_file() {
        let args = Args { embedded_broker_storage: Some("MEMORY".into()), ..Args::default() };
        assert_eq!(ServerConfig::resolve(&args, BTreeMap::new()).expect("valid").embedded_broker_storage, BrokerStorage::Memory);
        let file = parse_properties("runnel.embedded.broker.storage=/data/b.db\n").expect("valid");
        let config = ServerConfig::resolve(&Args::default(), file).expect("valid");
        assert_eq!(config.embedded_broker_storage, BrokerStorage::File(PathBuf::from("/data/b.db")));
    }

    #[test]
    fn bad_input_names_what_is_wrong() {
        assert!(parse_listener("https://0.0.0.0:1").unwrap_err().to_string().contains("https"));
        assert!(parse_listener("http://0.0.0.0").unwrap_err().to_string().contains("no port"));
        assert_eq!(parse_properties("a=1\nnonsense\n").unwrap_err().0, 2);
    }
}
