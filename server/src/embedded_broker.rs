//! The embedded Kafka-protocol broker: Tansu, run in-process when no bootstrap servers are
//! configured (and by the integration tests, so CI needs no broker).
//!
//! The server keeps its data in an SQLite file under the state directory, so topics, the
//! command log and committed offsets survive a restart; tests and benchmarks use memory
//! storage. Tansu 0.6 has no compaction (docs/architecture.md, "Brokers").

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::{Duration, Instant};

use tansu_broker::broker::Broker;
use tansu_broker::coordinator::group::administrator::Controller;
use tansu_storage::StorageContainer;
use tokio::task::JoinHandle;
use url::Url;

use crate::config::BrokerStorage;

#[derive(Debug, thiserror::Error)]
pub enum EmbeddedBrokerError {
    #[error("invalid embedded broker listener '{0}': expected HOST:PORT")]
    Listener(String),
    #[error("embedded broker could not start on {listener}: {message}")]
    Start { listener: String, message: String },
}

/// A running in-process broker; dropping it stops the broker.
pub struct EmbeddedBroker {
    bootstrap: String,
    task: JoinHandle<()>,
}

impl EmbeddedBroker {
    /// Starts a broker with memory storage listening on `listener` (`HOST:PORT`; port 0 picks
    /// a free port) and waits until it accepts connections. Must be called inside a tokio
    /// runtime.
    pub async fn start(listener: &str) -> Result<Self, EmbeddedBrokerError> {
        Self::start_with(listener, &BrokerStorage::Memory).await
    }

    /// Starts a broker keeping its data in `storage`.
    pub async fn start_with(listener: &str, storage: &BrokerStorage) -> Result<Self, EmbeddedBrokerError> {
        let addr = resolve_listener(listener)?;
        let url = Url::parse(&format!("tcp://{addr}")).map_err(|_| EmbeddedBrokerError::Listener(listener.to_string()))?;
        let start_error = |message: String| EmbeddedBrokerError::Start { listener: addr.to_string(), message };
        let storage = storage_url(storage).map_err(start_error)?;
        // A broker just stopped over the same storage may still hold its database lock for a
        // moment (a server restart): retry that for a while.
        let lock_deadline = Instant::now() + Duration::from_secs(10);
        let mut broker = loop {
            let built = Broker::<Controller<StorageContainer>, StorageContainer>::builder()
                .node_id(tansu_broker::NODE_ID)
                .cluster_id("runnel-embedded")
                .incarnation_id(uuid::Uuid::new_v4())
                .advertised_listener(url.clone())
                .storage(storage.clone())
                .listener(url.clone())
                .silent(true)
                .build()
                .await;
            match built {
                Ok(broker) => break broker,
                Err(e) => {
                    let message = format!("{e:?}");
                    if !message.contains("database is locked") || Instant::now() > lock_deadline {
                        return Err(start_error(message));
                    }
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        };
        let task = tokio::spawn(async move {
            if let Err(e) = broker.serve(tokio::time::Instant::now()).await {
                tracing::error!("embedded broker stopped: {e:?}");
            }
        });
        // The broker binds asynchronously: wait until it accepts connections.
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err() {
            if task.is_finished() || Instant::now() > deadline {
                task.abort();
                return Err(start_error("the broker did not start listening".into()));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Ok(EmbeddedBroker { bootstrap: addr.to_string(), task })
    }

    /// The `bootstrap.servers` value that reaches this broker.
    pub fn bootstrap_servers(&self) -> &str {
        &self.bootstrap
    }
}

impl Drop for EmbeddedBroker {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Tansu's storage URL. Its SQLite engine joins the URL's path to the working directory
/// after dropping one leading `/`, so an absolute file path is written with two.
fn storage_url(storage: &BrokerStorage) -> Result<Url, String> {
    match storage {
        BrokerStorage::Memory => Url::parse("memory://runnel/").map_err(|e| e.to_string()),
        BrokerStorage::File(path) => {
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
            }
            let absolute = std::path::absolute(path).map_err(|e| format!("{}: {e}", path.display()))?;
            Url::parse(&format!("sqlite:///{}", absolute.display())).map_err(|e| format!("{}: {e}", path.display()))
        }
    }
}

/// `HOST:PORT` to a socket address; port 0 is replaced by a free port (Tansu advertises the
/// address it is given, so it must know its real port up front).
fn resolve_listener(listener: &str) -> Result<SocketAddr, EmbeddedBrokerError> {
    let invalid = || EmbeddedBrokerError::Listener(listener.to_string());
    let mut addr = std::net::ToSocketAddrs::to_socket_addrs(listener).map_err(|_| invalid())?.next().ok_or_else(invalid)?;
    if addr.port() == 0 {
        let probe = TcpListener::bind(addr).map_err(|e| EmbeddedBrokerError::Start { listener: listener.to_string(), message: e.to_string() })?;
        addr = probe.local_addr().map_err(|_| invalid())?;
    }
    Ok(addr)
}
