//! Starting and stopping the server: the engine thread, the listeners and the REST API.
//!
//! Each listener serves HTTP/1.1 and HTTP/2 with prior knowledge on the same port (axum's
//! `serve` hands connections to hyper-util's auto builder, which tells them apart from the
//! first bytes).

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::atomic::AtomicI64;
use std::sync::{Arc, Mutex};

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
}

/// A started server; dropping it does not stop it, [`RunningServer::shutdown`] does.
pub struct RunningServer {
    /// The bound addresses (a listener on port 0 gets an ephemeral port).
    pub addresses: Vec<SocketAddr>,
    shutdown: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
    engine: EngineHandle,
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

    /// Stops accepting requests, ends streamed responses and waits for the listeners.
    pub async fn shutdown(self) {
        let _ = self.shutdown.send(true);
        for task in self.tasks {
            let _ = task.await;
        }
    }
}

/// Starts the server for `config` over a new engine configured with its `ksql.*` properties.
pub async fn start(config: ServerConfig) -> Result<RunningServer, StartError> {
    let engine = Engine::new(config.ksql_properties.clone());
    start_with_engine(config, engine).await
}

/// Starts the server over an existing engine.
pub async fn start_with_engine(config: ServerConfig, engine: Engine) -> Result<RunningServer, StartError> {
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
    Ok(RunningServer { addresses, shutdown, tasks, engine })
}
