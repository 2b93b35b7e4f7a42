//! The REST API: ksqlDB's endpoints, request/response shapes and content types.
//!
//! | endpoint | module |
//! |---|---|
//! | `POST /ksql` | [`ksql`]: every statement except SELECT/PRINT, returning entities |
//! | `POST /query`, `POST /query-stream`, `POST /close-query` | [`query`]: push, pull, PRINT |
//! | `POST /inserts-stream` | [`inserts`] |
//! | `GET /info`, `/healthcheck`, `/status`, `/clusterStatus` | [`status`] |

pub mod entities;
pub mod inserts;
pub mod ksql;
pub mod query;
pub mod status;

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::AtomicI64;
use std::sync::{Arc, Mutex};

use axum::http::HeaderMap;
use axum::routing::{get, post};
use axum::Router;
use serde::de::DeserializeOwned;
use runnel_runtime::kafka::command_log::CommandLog;
use tokio::sync::{oneshot, watch};

use crate::config::ServerConfig;
use crate::driver::EngineHandle;
use crate::error::ServerError;

/// ksqlDB's own JSON content type (the default of `/ksql` and `/query`).
pub const KSQL_V1_JSON: &str = "application/vnd.ksql.v1+json";
pub const JSON: &str = "application/json";
/// `/query-stream` and `/inserts-stream`: one JSON document per line (their default).
pub const DELIMITED: &str = "application/vnd.ksqlapi.delimited.v1";

/// What every handler shares.
#[derive(Clone)]
pub struct AppState {
    pub engine: EngineHandle,
    pub config: Arc<ServerConfig>,
    /// The last sequence number of a statement that changed the catalog (its offset in the
    /// command log; a counter when there is none).
    pub command_sequence: Arc<AtomicI64>,
    /// Where catalog changes are logged before they take effect (`None` over in-memory topics).
    pub command_log: Option<Arc<CommandLog>>,
    /// `commandId` -> final status, for `/status`.
    pub command_statuses: Arc<Mutex<BTreeMap<String, CommandStatus>>>,
    /// Running push queries and PRINTs: query id -> closes it (`/close-query`).
    pub open_queries: Arc<Mutex<HashMap<String, oneshot::Sender<()>>>>,
    /// Flips to true on shutdown, ending streamed responses.
    pub shutdown: watch::Receiver<bool>,
    /// The address the server answers on, for `/clusterStatus`.
    pub advertised: String,
}

/// A command's outcome, as `/status` reports it.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct CommandStatus {
    pub status: &'static str,
    pub message: String,
    #[serde(rename = "queryId", skip_serializing_if = "Option::is_none")]
    pub query_id: Option<String>,
}

/// Every route of the API.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/ksql", post(ksql::handle))
        .route("/query", post(query::handle_query))
        .route("/query-stream", post(query::handle_query_stream))
        .route("/close-query", post(query::handle_close))
        .route("/inserts-stream", post(inserts::handle))
        .route("/info", get(status::info))
        .route("/", get(status::root))
        .route("/healthcheck", get(status::healthcheck))
        .route("/status", get(status::all_statuses))
        .route("/status/{kind}/{entity}/{action}", get(status::one_status))
        .route("/clusterStatus", get(status::cluster_status))
        .route("/chc/live", get(status::live))
        .route("/chc/ready", get(status::ready))
        .fallback(status::not_found)
        .with_state(state)
}

/// Parses a JSON request body; malformed bodies are a 400 that says what is wrong.
pub fn parse_body<T: DeserializeOwned>(body: &[u8]) -> Result<T, ServerError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(ServerError::BadRequest { message: "The request body is empty: expected a JSON object".into() });
    }
    serde_json::from_slice(body).map_err(|e| ServerError::BadRequest { message: format!("Invalid JSON in request: {e}") })
}

/// Whether the client's Accept header names `content_type`.
pub fn accepts(headers: &HeaderMap, content_type: &str) -> bool {
    headers
        .get_all(axum::http::header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|item| item.split(';').next().is_some_and(|t| t.trim().eq_ignore_ascii_case(content_type)))
}

/// JSON request properties (`streamsProperties`, `properties`) as strings.
pub fn property_strings(properties: &serde_json::Map<String, serde_json::Value>) -> BTreeMap<String, String> {
    properties
        .iter()
        .map(|(k, v)| {
            let text = match v {
                serde_json::Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            (k.clone(), text)
        })
        .collect()
}

/// Frames buffered between a streaming task and its HTTP response.
const FRAME_CHANNEL_CAPACITY: usize = 64;

/// A response whose body a task feeds chunk by chunk (each chunk is sent as it comes, so a
/// client sees every frame as soon as it is written). The body ends when the sender is dropped;
/// the sender's `closed()` fires when the client goes away.
pub fn streamed_response(content_type: &'static str) -> (tokio::sync::mpsc::Sender<axum::body::Bytes>, axum::response::Response) {
    use axum::response::IntoResponse;
    let (frames, rx) = tokio::sync::mpsc::channel::<axum::body::Bytes>(FRAME_CHANNEL_CAPACITY);
    let stream = futures_util::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|b| (Ok::<_, std::convert::Infallible>(b), rx)) });
    let response = axum::response::Response::builder()
        .status(axum::http::StatusCode::OK)
        .header(axum::http::header::CONTENT_TYPE, content_type)
        .body(axum::body::Body::from_stream(stream))
        .unwrap_or_else(|e| ServerError::Internal(format!("building a streamed response: {e}")).into_response());
    (frames, response)
}
