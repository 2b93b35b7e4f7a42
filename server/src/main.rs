//! `runnel-server`: serves ksqlDB's REST API (see docs/rest.md).

use std::process::ExitCode;

use clap::Parser;
use runnel_server::{Args, ServerConfig};

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn,runnel_server=info,runnel_runtime=info".into()))
        .init();
    let args = Args::parse();
    let config = match ServerConfig::from_args(&args) {
        Ok(config) => config,
        Err(e) => {
            eprintln!("runnel-server: {e}");
            return ExitCode::from(2);
        }
    };
    let server = match runnel_server::start(config).await {
        Ok(server) => server,
        Err(e) => {
            eprintln!("runnel-server: {e}");
            return ExitCode::FAILURE;
        }
    };
    for address in &server.addresses {
        tracing::info!("runnel-server {} listening on http://{address}", env!("CARGO_PKG_VERSION"));
    }
    if let Err(e) = tokio::signal::ctrl_c().await {
        tracing::error!(error = %e, "cannot wait for Ctrl-C; stopping");
    }
    tracing::info!("shutting down");
    server.shutdown().await;
    ExitCode::SUCCESS
}
