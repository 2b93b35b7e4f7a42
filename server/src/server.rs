//! Starting and stopping the server: the engine thread, the listeners and the REST API.
//!
//! Each listener serves HTTP/1.1 and HTTP/2 with prior knowledge on the same port (axum's
//! `serve` hands connections to hyper-util's auto builder, which tells them apart from the
//! first bytes).

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::atomic::AtomicI64;
use std::sync::{Arc, Mutex};

use runnel_parser::parse_statements;
use runnel_runtime::kafka::command_log::CommandLog;
use runnel_runtime::kafka::KafkaConfig;
use runnel_runtime::Engine;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::api::{router, AppState};
use crate::config::ServerConfig;
use crate::driver::EngineHandle;

/// Errors starting the server.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("cannot listen on {address}: {source}")]
    Bind { address: SocketAddr, source: std::io::Error },
    #[error("cannot start the engine thread: {0}")]
    Engine(std::io::Error),
    #[cfg(feature = "embedded-broker")]
    #[error(transparent)]
    EmbeddedBroker(#[from] crate::embedded_broker::EmbeddedBrokerError),
    #[error("no bootstrap servers are configured and this build has no embedded broker (feature `embedded-broker`): pass --bootstrap-servers")]
    NoBroker,
    #[error("cannot connect to Kafka at {bootstrap_servers}: {message}")]
    Kafka { bootstrap_servers: String, message: String },
}

/// A started server; dropping it does not stop it, [`RunningServer::shutdown`] does.
pub struct RunningServer {
    /// The bound addresses (a listener on port 0 gets an ephemeral port).
    pub addresses: Vec<SocketAddr>,
    shutdown: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
    engine: EngineHandle,
    /// The in-process broker, when no bootstrap servers were configured; it stops last.
    #[cfg(feature = "embedded-broker")]
    broker: Option<crate::embedded_broker::EmbeddedBroker>,
}

impl RunningServer {
    /// The first listener's address as a URL, e.g. `http://127.0.0.1:8088`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addresses[0])
    }

    /// The engine behind the API (for embedding and tests: produce input, inspect topics).
    pub fn engine(&self) -> &EngineHandle {
        &self.engine
    }

    /// The Kafka bootstrap servers the engine uses (the embedded broker's address when it runs).
    pub fn bootstrap_servers(&self) -> Option<&str> {
        #[cfg(feature = "embedded-broker")]
        if let Some(broker) = &self.broker {
            return Some(broker.bootstrap_servers());
        }
        None
    }

    /// Stops accepting requests, ends streamed responses, waits for the listeners, stops the
    /// queries (each commits what it has written) and then the embedded broker, if any.
    pub async fn shutdown(self) {
        let _ = self.shutdown.send(true);
        for task in self.tasks {
            let _ = task.await;
        }
        if let Err(e) = self.engine.run(Engine::stop_queries).await {
            tracing::warn!("could not stop the queries cleanly: {e}");
        }
        #[cfg(feature = "embedded-broker")]
        drop(self.broker);
    }
}

/// Starts the server for `config` over Kafka: the cluster at `bootstrap_servers`, or else an
/// embedded broker on `embedded_broker_listener`. The command log is replayed before the
/// listeners open, so a restarted server has its streams, tables and queries back.
pub async fn start(config: ServerConfig) -> Result<RunningServer, StartError> {
    #[cfg(feature = "embedded-broker")]
    let mut broker = None;
    let bootstrap_servers = match &config.bootstrap_servers {
        Some(servers) => servers.clone(),
        #[cfg(feature = "embedded-broker")]
        None => {
            let storage = &config.embedded_broker_storage;
            let embedded = crate::embedded_broker::EmbeddedBroker::start_with(&config.embedded_broker_listener, storage).await?;
            let kept = match storage {
                crate::config::BrokerStorage::Memory => "in this process's memory: they are lost when the server stops".to_string(),
                crate::config::BrokerStorage::File(path) => format!("in {}", path.display()),
            };
            tracing::warn!(
                "no bootstrap servers configured: started the embedded Kafka-protocol broker (Tansu, single node, \
                 no replication) on {}; its topics are kept {kept}. Use --bootstrap-servers for a real cluster.",
                embedded.bootstrap_servers()
            );
            let servers = embedded.bootstrap_servers().to_string();
            broker = Some(embedded);
            servers
        }
        #[cfg(not(feature = "embedded-broker"))]
        None => return Err(StartError::NoBroker),
    };
    let kafka = KafkaConfig {
        bootstrap_servers: bootstrap_servers.clone(),
        client_properties: config.kafka_properties.clone(),
        default_replicas: config
            .ksql_properties
            .get("ksql.internal.topic.replicas")
            .and_then(|r| r.trim().parse().ok())
            .unwrap_or(1),
    };
    let properties = config.ksql_properties.clone();
    // Connecting, creating topics and replaying block on the cluster: off the async workers.
    let opened = tokio::task::spawn_blocking(move || -> Result<(Engine, Option<CommandLog>), String> {
        let mut engine = Engine::with_kafka(properties, kafka).map_err(|e| e.to_string())?;
        let log = engine.open_command_log().map_err(|e| e.to_string())?;
        if let Some(log) = &log {
            replay(&mut engine, log).map_err(|e| e.to_string())?;
        }
        Ok((engine, log))
    })
    .await
    .map_err(|e| StartError::Kafka { bootstrap_servers: bootstrap_servers.clone(), message: e.to_string() })?;
    let (engine, log) = opened.map_err(|message| StartError::Kafka { bootstrap_servers, message })?;
    #[allow(unused_mut)]
    let mut server = serve(config, engine, log.map(Arc::new)).await?;
    #[cfg(feature = "embedded-broker")]
    {
        server.broker = broker;
    }
    Ok(server)
}

/// Re-executes every logged command in order, as the statements originally ran. A command
/// that fails now (e.g. its topic was deleted meanwhile) is reported and skipped, as ksqlDB
/// does, so one bad command cannot keep the server from starting.
fn replay(engine: &mut Engine, log: &CommandLog) -> Result<(), runnel_runtime::RuntimeError> {
    let commands = log.replay()?;
    let mut failed = 0;
    for command in &commands {
        let statements = match parse_statements(&command.statement) {
            Ok(statements) => statements,
            Err(e) => {
                failed += 1;
                tracing::error!("command {} of {} no longer parses, skipped: {e}", command.sequence, log.topic());
                continue;
            }
        };
        for parsed in &statements {
            if let Err(e) = engine.execute_statement_with(parsed, &command.properties) {
                failed += 1;
                tracing::error!("command {} ({}) failed on replay, skipped: {e}", command.sequence, parsed.text);
            }
        }
    }
    tracing::info!("replayed {} commands from {} ({failed} failed)", commands.len(), log.topic());
    Ok(())
}

/// Starts the server over an existing engine, without a command log (e.g. an engine over
/// the in-memory topic log, as the RQTT harness uses).
pub async fn start_with_engine(config: ServerConfig, engine: Engine) -> Result<RunningServer, StartError> {
    serve(config, engine, None).await
}

async fn serve(config: ServerConfig, engine: Engine, command_log: Option<Arc<CommandLog>>) -> Result<RunningServer, StartError> {
    let engine = EngineHandle::spawn(engine).map_err(StartError::Engine)?;
    let (shutdown, shutdown_rx) = watch::channel(false);
    let mut listeners = Vec::new();
    for address in &config.listeners {
        let listener =
            tokio::net::TcpListener::bind(address).await.map_err(|source| StartError::Bind { address: *address, source })?;
        let bound = listener.local_addr().map_err(|source| StartError::Bind { address: *address, source })?;
        listeners.push((listener, bound));
    }
    let addresses: Vec<SocketAddr> = listeners.iter().map(|(_, a)| *a).collect();
    let state = AppState {
        engine: engine.clone(),
        config: Arc::new(config),
        command_sequence: Arc::new(AtomicI64::new(0)),
        command_log,
        command_statuses: Arc::new(Mutex::new(BTreeMap::new())),
        open_queries: Arc::new(Mutex::new(HashMap::new())),
        shutdown: shutdown_rx.clone(),
        advertised: addresses[0].to_string(),
    };
    let app = router(state);
    let mut tasks = Vec::new();
    for (listener, address) in listeners {
        let app = app.clone();
        let mut stop = shutdown_rx.clone();
        tasks.push(tokio::spawn(async move {
            let serve = axum::serve(listener, app).with_graceful_shutdown(async move {
                let _ = stop.wait_for(|stopped| *stopped).await;
            });
            if let Err(e) = serve.await {
                tracing::error!(%address, error = %e, "listener failed");
            }
        }));
    }
    Ok(RunningServer {
        addresses,
        shutdown,
        tasks,
        engine,
        #[cfg(feature = "embedded-broker")]
        broker: None,
    })
}
