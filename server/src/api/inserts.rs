//! `POST /inserts-stream`: the body is a first line `{"target": "S", "properties"?: {}}` then
//! one JSON object per line, each a row to insert; the response acknowledges every row with
//! `{"status":"ok","seq":n}` (or `"error"` with `error_code` and `message`) as it is written,
//! one per line (delimited, the default) or inside one JSON array (`Accept: application/json`).
//!
//! Rows are inserted as they arrive: the lines available in each received chunk are inserted
//! together in one engine job, so a large upload does not cost one job per row.

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;
use serde::Deserialize;
use serde_json::{json, Map, Value};

use super::{accepts, parse_body, AppState, DELIMITED, JSON};
use crate::error::{codes, ServerError};

#[derive(Debug, Deserialize)]
struct InsertsTarget {
    target: String,
    #[serde(default)]
    #[allow(dead_code)]
    properties: Map<String, Value>,
}

pub async fn handle(State(state): State<AppState>, headers: HeaderMap, body: Body) -> Response {
    let json_mode = accepts(&headers, JSON) && !accepts(&headers, DELIMITED);
    match start(state, json_mode, body).await {
        Ok(response) => response,
        Err(e) => e.into_response(),
    }
}

async fn start(state: AppState, json_mode: bool, body: Body) -> Result<Response, ServerError> {
    let mut chunks = body.into_data_stream();
    let mut pending: Vec<u8> = Vec::new();
    let mut ended = false;
    let first_line = loop {
        if let Some(end) = pending.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = pending.drain(..=end).collect();
            break line;
        }
        match chunks.next().await {
            Some(Ok(chunk)) => pending.extend_from_slice(&chunk),
            Some(Err(e)) => return Err(ServerError::BadRequest { message: format!("Failed to read the request body: {e}") }),
            None => {
                ended = true;
                break std::mem::take(&mut pending);
            }
        }
    };
    let request: InsertsTarget = parse_body(&first_line)?;
    let wanted = request.target.clone();
    let target = state
        .engine
        .run(move |engine| {
            // Unquoted names are upper-cased in SQL; accept the name as written or upper-cased.
            [wanted.clone(), wanted.to_uppercase()].into_iter().find(|name| engine.catalog().source(name).is_some())
        })
        .await?
        .ok_or_else(|| ServerError::BadRequest { message: format!("Cannot insert values into an unknown stream/table: `{}`", request.target) })?;

    let (frames, response) = super::streamed_response(if json_mode { JSON } else { DELIMITED });
    tokio::spawn(async move {
        let mut acks = Acks { json_mode, seq: 0, first: true };
        let mut shutdown = state.shutdown.clone();
        loop {
            let mut lines: Vec<Vec<u8>> = Vec::new();
            while let Some(end) = pending.iter().position(|&b| b == b'\n') {
                lines.push(pending.drain(..=end).collect());
            }
            if ended && !pending.is_empty() {
                lines.push(std::mem::take(&mut pending));
            }
            let rows: Vec<Vec<u8>> = lines.into_iter().filter(|l| !l.iter().all(u8::is_ascii_whitespace)).collect();
            if !rows.is_empty() {
                let target = target.clone();
                let timestamp = chrono::Utc::now().timestamp_millis();
                let outcome = state
                    .engine
                    .run(move |engine| {
                        let refs: Vec<&[u8]> = rows.iter().map(Vec::as_slice).collect();
                        engine.insert_json_rows(&target, &refs, timestamp)
                    })
                    .await;
                let text = match outcome {
                    Ok(Ok(results)) => results.iter().map(|r| acks.next(r.as_ref().err().map(|e| e.message.as_str()))).collect::<String>(),
                    Ok(Err(e)) => acks.next(Some(&e.message)),
                    Err(e) => acks.next(Some(&e.to_string())),
                };
                if frames.send(Bytes::from(text)).await.is_err() {
                    return;
                }
            }
            if ended {
                break;
            }
            tokio::select! {
                _ = shutdown.changed() => break,
                chunk = chunks.next() => match chunk {
                    Some(Ok(chunk)) => pending.extend_from_slice(&chunk),
                    Some(Err(_)) | None => ended = true,
                }
            }
        }
        if json_mode {
            let _ = frames.send(Bytes::from(if acks.first { "[]" } else { "]" })).await;
        }
    });
    Ok(response)
}

/// Numbers and renders acknowledgements.
struct Acks {
    json_mode: bool,
    seq: u64,
    first: bool,
}

impl Acks {
    fn next(&mut self, error: Option<&str>) -> String {
        let ack = match error {
            None => json!({"status": "ok", "seq": self.seq}),
            Some(message) => json!({"status": "error", "seq": self.seq, "error_code": codes::BAD_REQUEST, "message": message}),
        };
        self.seq += 1;
        if self.json_mode {
            let prefix = if self.first { "[" } else { "," };
            self.first = false;
            format!("{prefix}{ack}")
        } else {
            format!("{ack}\n")
        }
    }
}
