//! Server information and health: `/info`, `/healthcheck`, `/status`, `/clusterStatus`,
//! `/chc/live`, `/chc/ready`.

use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use serde_json::{json, Map, Value};

use super::{AppState, KSQL_V1_JSON};
use crate::error::ServerError;

fn json_response(status: StatusCode, body: Value) -> Response {
    (status, [(header::CONTENT_TYPE, KSQL_V1_JSON)], body.to_string()).into_response()
}

pub async fn info(State(state): State<AppState>) -> Response {
    json_response(
        StatusCode::OK,
        json!({"KsqlServerInfo": {
            "version": env!("CARGO_PKG_VERSION"),
            "kafkaClusterId": kafka_cluster_id(&state),
            "ksqlServiceId": state.config.service_id,
            "serverStatus": "RUNNING",
        }}),
    )
}

/// Until Kafka I/O lands the engine runs over its in-memory log, which has no cluster id.
fn kafka_cluster_id(state: &AppState) -> String {
    match &state.config.bootstrap_servers {
        Some(servers) => format!("bootstrap:{servers}"),
        None => "embedded".to_string(),
    }
}

pub async fn root() -> Redirect {
    Redirect::temporary("/info")
}

/// Healthy when the engine answers a metadata job (the check ksqlDB runs is
/// `list streams; list tables; list queries;`).
pub async fn healthcheck(State(state): State<AppState>) -> Response {
    let metastore = state.engine.run(|engine| engine.catalog().sources().count() + engine.catalog().queries().count()).await.is_ok();
    let status = if metastore { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    json_response(
        status,
        json!({
            "isHealthy": metastore,
            "details": {
                "metastore": {"isHealthy": metastore},
                "kafka": {"isHealthy": true},
                "commandRunner": {"isHealthy": metastore},
            },
            "serverState": if metastore { "RUNNING" } else { "ERROR" },
        }),
    )
}

pub async fn all_statuses(State(state): State<AppState>) -> Response {
    let statuses: Map<String, Value> = state
        .command_statuses
        .lock()
        .map(|s| s.iter().map(|(id, status)| (id.clone(), json!(status.status))).collect())
        .unwrap_or_default();
    json_response(StatusCode::OK, json!({"commandStatuses": statuses}))
}

pub async fn one_status(State(state): State<AppState>, Path((kind, entity, action)): Path<(String, String, String)>) -> Response {
    let id = format!("{kind}/{entity}/{action}");
    let found = state.command_statuses.lock().ok().and_then(|s| s.get(&id).cloned());
    match found {
        Some(status) => json_response(StatusCode::OK, serde_json::to_value(status).unwrap_or(Value::Null)),
        None => ServerError::NotFound(format!("Command not found: {id}")).into_response(),
    }
}

pub async fn cluster_status(State(state): State<AppState>) -> Response {
    let now = chrono::Utc::now().timestamp_millis();
    let mut hosts = Map::new();
    hosts.insert(
        state.advertised.clone(),
        json!({
            "hostAlive": true,
            "lastStatusUpdateMs": now,
            "activeStandbyPerQuery": {},
            "hostStoreLags": {"stateStoreLags": {}, "updateTimeMs": now},
        }),
    );
    json_response(StatusCode::OK, json!({"clusterStatus": hosts}))
}

pub async fn live() -> Response {
    json_response(StatusCode::OK, json!({}))
}

pub async fn ready(State(state): State<AppState>) -> Response {
    match state.engine.run(|_| ()).await {
        Ok(()) => json_response(StatusCode::OK, json!({})),
        Err(e) => e.into_response(),
    }
}

pub async fn not_found() -> Response {
    ServerError::NotFound("Not found: this path is not part of the ksqlDB REST API that Runnel serves".into()).into_response()
}
