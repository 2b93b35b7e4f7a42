//! `POST /query`, `POST /query-stream` and `POST /close-query`: push queries, pull queries and
//! PRINT, streamed in ksqlDB's framings.
//!
//! * `/query` (v1): one JSON array, each element on its own line and flushed on its own:
//!   `[{"header":{...}},\n{"row":{"columns":[...]}},\n...{"finalMessage":"Limit Reached"}]\n`.
//! * `/query-stream` delimited (its default): a metadata object line
//!   `{"queryId","columnNames","columnTypes"}`, then one JSON array per row and line.
//! * `/query-stream` with `Accept: application/json`: the same items inside one JSON array.
//!
//! A push query runs until its LIMIT, until the client disconnects, or until `/close-query`.

use std::collections::{BTreeMap, HashMap};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use runnel_parser::{parse_statements, SourceKind, Statement};
use runnel_planner::types::display_type;
use runnel_runtime::{PushQuery, ResultBatch, TopicPrint};
use serde::Deserialize;
use serde_json::{json, Map, Value};
use tokio::sync::{mpsc, oneshot};


use super::ksql::KsqlRequest;
use super::{accepts, parse_body, property_strings, streamed_response, AppState, DELIMITED, JSON, KSQL_V1_JSON};
use crate::error::ServerError;
use crate::render::{header_columns, schema_text, write_rows, write_string, HeaderColumn};

/// The body of `/query-stream`.
#[derive(Debug, Deserialize)]
struct QueryStreamRequest {
    sql: String,
    #[serde(default)]
    properties: Map<String, Value>,
    #[serde(rename = "sessionVariables", default)]
    session_variables: Map<String, Value>,
}

#[derive(Debug, Deserialize)]
struct CloseQueryRequest {
    #[serde(rename = "queryId")]
    query_id: String,
}

/// How results are framed on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Framing {
    /// `/query`: an array of `header`/`row`/`finalMessage` objects, one per line.
    QueryV1,
    /// `/query-stream` default: metadata line, then one row array per line.
    Delimited,
    /// `/query-stream` with `Accept: application/json`: metadata and rows in one array.
    JsonArray,
}

impl Framing {
    fn content_type(self) -> &'static str {
        match self {
            Framing::QueryV1 => KSQL_V1_JSON,
            Framing::Delimited => DELIMITED,
            Framing::JsonArray => JSON,
        }
    }
}

pub async fn handle_query(State(state): State<AppState>, body: Bytes) -> Response {
    let request: KsqlRequest = match parse_body(&body) {
        Ok(r) => r,
        Err(e) => return e.into_response(),
    };
    serve(state, request.ksql, property_strings(&request.streams_properties), property_strings(&request.session_variables), Framing::QueryV1)
        .await
        .unwrap_or_else(IntoResponse::into_response)
}

pub async fn handle_query_stream(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let request: QueryStreamRequest = match parse_body(&body) {
        Ok(r) => r,
        Err(e) => return e.into_response(),
    };
    let framing = if accepts(&headers, JSON) && !accepts(&headers, DELIMITED) { Framing::JsonArray } else { Framing::Delimited };
    serve(state, request.sql, property_strings(&request.properties), property_strings(&request.session_variables), framing)
        .await
        .unwrap_or_else(IntoResponse::into_response)
}

pub async fn handle_close(State(state): State<AppState>, body: Bytes) -> Response {
    let request: CloseQueryRequest = match parse_body(&body) {
        Ok(r) => r,
        Err(e) => return e.into_response(),
    };
    let closer = state.open_queries.lock().ok().and_then(|mut open| open.remove(&request.query_id));
    match closer {
        Some(close) => {
            // The query task may have just finished on its own: closed either way.
            let _ = close.send(());
            StatusCode::OK.into_response()
        }
        None => ServerError::BadRequest { message: format!("No query with id {} exists on this host", request.query_id) }.into_response(),
    }
}

async fn serve(
    state: AppState,
    sql: String,
    properties: BTreeMap<String, String>,
    variables: BTreeMap<String, String>,
    framing: Framing,
) -> Result<Response, ServerError> {
    let variables: HashMap<String, String> = variables.into_iter().collect();
    let sql = if variables.is_empty() {
        sql
    } else {
        runnel_parser::substitute_variables(&sql, &variables)
            .map_err(|e| ServerError::Statement { message: e.to_string(), statement_text: sql.clone(), entities: Vec::new() })?
    };
    let statements = parse_statements(&sql).map_err(|e| ServerError::syntax(&e, &sql))?;
    let [parsed] = statements.as_slice() else {
        return Err(ServerError::BadRequest { message: format!("Expected exactly one KSQL statement; found {} instead", statements.len()) });
    };
    let text = format!("{};", parsed.text);
    match &parsed.statement {
        Statement::Query(query) if query.emit.is_some() => {
            let statement = sql.clone();
            let push = state
                .engine
                .run(move |engine| engine.start_push_query(&statement, &properties))
                .await?
                .map_err(|e| ServerError::from_engine(e, &text, Vec::new()))?;
            Ok(stream_push(state, push, framing))
        }
        Statement::Query(query) => {
            let statement = sql.clone();
            let source = query.from.name.clone();
            let limit = query.limit;
            let (result, from_stream) = state
                .engine
                .run(move |engine| {
                    let from_stream = engine.catalog().source(&source).is_some_and(|s| s.kind == SourceKind::Stream);
                    (engine.pull_query(&statement, &properties), from_stream)
                })
                .await?;
            let (schema, batches) = result.map_err(|e| ServerError::from_engine(e, &text, Vec::new()))?;
            let columns = header_columns(&schema)?;
            let query_id = format!("query_{}", chrono::Utc::now().timestamp_millis());
            let mut frames = Frames::new(framing);
            let mut body = frames.header(&query_id, &columns);
            let rows: usize = batches.iter().map(|b| b.num_rows()).sum();
            for batch in &batches {
                let tombstones = vec![false; batch.num_rows()];
                for row in frames.rows(batch, &tombstones, usize::MAX)? {
                    body.push_str(&row);
                }
            }
            if from_stream || framing != Framing::QueryV1 {
                let limit_reached = limit.is_some_and(|l| u64::try_from(rows).is_ok_and(|r| r >= l));
                body.push_str(&frames.end(Some(if limit_reached { "Limit Reached" } else { "Query Completed" })));
            } else {
                // ksqlDB ends a pull over a table without a final message.
                close_v1_array(&mut body);
            }
            Ok(([(header::CONTENT_TYPE, framing.content_type())], body).into_response())
        }
        Statement::Print { topic, from_beginning, interval, limit } => {
            let (topic_name, from_beginning) = (topic.clone(), *from_beginning);
            let print = state
                .engine
                .run(move |engine| engine.start_print(&topic_name, from_beginning))
                .await?
                .map_err(|e| ServerError::from_engine(e, &text, Vec::new()))?;
            Ok(stream_print(state, print, interval.unwrap_or(1).max(1), *limit))
        }
        _ => Err(ServerError::BadRequest {
            message: format!("The /query endpoint only runs SELECT and PRINT statements; use /ksql for: {text}"),
        }),
    }
}

/// Writes frames of one response in its framing.
struct Frames {
    framing: Framing,
}

impl Frames {
    fn new(framing: Framing) -> Self {
        Frames { framing }
    }

    fn header(&mut self, query_id: &str, columns: &[HeaderColumn]) -> String {
        match self.framing {
            Framing::QueryV1 => {
                format!("[{},\n", json!({"header": {"queryId": query_id, "schema": schema_text(columns)}}))
            }
            Framing::Delimited | Framing::JsonArray => {
                let names: Vec<&str> = columns.iter().map(|c| c.name.as_str()).collect();
                let types: Vec<String> = columns.iter().map(|c| display_type(&c.data_type)).collect();
                let metadata = json!({"queryId": query_id, "columnNames": names, "columnTypes": types});
                if self.framing == Framing::Delimited {
                    format!("{metadata}\n")
                } else {
                    format!("[{metadata}")
                }
            }
        }
    }

    /// At most `max` rows of `batch`, one string per row (each is flushed on its own).
    fn rows(&mut self, batch: &arrow::record_batch::RecordBatch, tombstones: &[bool], max: usize) -> Result<Vec<String>, ServerError> {
        let batch = if batch.num_rows() > max { batch.slice(0, max) } else { batch.clone() };
        let framing = self.framing;
        let mut rows = Vec::with_capacity(batch.num_rows());
        let mut scratch = String::new();
        write_rows(&batch, &mut scratch, |out, row, write_values| {
            out.clear();
            match framing {
                Framing::QueryV1 => {
                    out.push_str("{\"row\":{\"columns\":");
                    write_values(out);
                    if tombstones.get(row).copied().unwrap_or(false) {
                        out.push_str(",\"tombstone\":true");
                    }
                    out.push_str("}},\n");
                }
                Framing::Delimited => {
                    write_values(out);
                    out.push('\n');
                }
                Framing::JsonArray => {
                    out.push(',');
                    write_values(out);
                }
            }
            rows.push(out.clone());
        })?;
        Ok(rows)
    }

    /// Ends the response; `message` is the v1 `finalMessage`.
    fn end(&mut self, message: Option<&str>) -> String {
        match self.framing {
            Framing::QueryV1 => format!("{}]\n", json!({"finalMessage": message.unwrap_or("Query Completed")})),
            Framing::Delimited => String::new(),
            Framing::JsonArray => "]".into(),
        }
    }

    fn error(&mut self, error: &ServerError) -> String {
        let body = error.body();
        match self.framing {
            Framing::QueryV1 => format!("{}]\n", json!({"errorMessage": body})),
            Framing::Delimited => format!("{body}\n"),
            Framing::JsonArray => format!(",{body}]"),
        }
    }
}

/// Ends a complete v1 body whose last element ends with `,\n` by closing the array there.
fn close_v1_array(body: &mut String) {
    if body.ends_with(",\n") {
        body.truncate(body.len() - 2);
        body.push_str("]\n");
    }
}

/// Registers a running query for `/close-query`; the receiver fires when it is closed.
fn register(state: &AppState, id: &str) -> oneshot::Receiver<()> {
    let (close, closed) = oneshot::channel();
    if let Ok(mut open) = state.open_queries.lock() {
        open.insert(id.to_string(), close);
    }
    closed
}

fn unregister(state: &AppState, id: &str) {
    if let Ok(mut open) = state.open_queries.lock() {
        open.remove(id);
    }
}

fn stream_push(state: AppState, push: PushQuery, framing: Framing) -> Response {
    let (frames_tx, response) = streamed_response(framing.content_type());
    let columns: Vec<HeaderColumn> =
        push.columns.iter().map(|c| HeaderColumn { name: c.name.clone(), data_type: c.data_type.clone(), key: false }).collect();
    let closed = register(&state, &push.id);
    tokio::spawn(run_push(state, push, columns, framing, frames_tx, closed));
    response
}

async fn run_push(
    state: AppState,
    mut push: PushQuery,
    columns: Vec<HeaderColumn>,
    framing: Framing,
    frames_tx: mpsc::Sender<Bytes>,
    mut closed: oneshot::Receiver<()>,
) {
    let mut frames = Frames::new(framing);
    let mut shutdown = state.shutdown.clone();
    let mut remaining = push.limit.map_or(usize::MAX, |l| usize::try_from(l).unwrap_or(usize::MAX));
    let send = |text: String| {
        let tx = frames_tx.clone();
        async move { tx.send(Bytes::from(text)).await.is_ok() }
    };
    if send(frames.header(&push.id, &columns)).await && remaining == 0 {
        send(frames.end(Some("Limit Reached"))).await;
    } else if remaining > 0 {
        loop {
            tokio::select! {
                _ = frames_tx.closed() => break,
                _ = &mut closed => break,
                _ = shutdown.changed() => break,
                item = push.results.recv() => match item {
                    Some(Ok(ResultBatch { batch, tombstone })) => {
                        let rows = match frames.rows(&batch, &tombstone, remaining) {
                            Ok(rows) => rows,
                            Err(e) => {
                                send(frames.error(&e)).await;
                                break;
                            }
                        };
                        remaining -= rows.len();
                        let mut delivered = true;
                        for row in rows {
                            if !send(row).await {
                                delivered = false;
                                break;
                            }
                        }
                        if !delivered {
                            break;
                        }
                        if remaining == 0 {
                            send(frames.end(Some("Limit Reached"))).await;
                            break;
                        }
                        state.engine.wake();
                    }
                    Some(Err(e)) => {
                        let error = ServerError::Internal(e.message);
                        send(frames.error(&error)).await;
                        break;
                    }
                    None => break,
                }
            }
        }
    }
    unregister(&state, &push.id);
    // Dropping `push` ends the transient query in the engine.
}

fn stream_print(state: AppState, print: TopicPrint, interval: u64, limit: Option<u64>) -> Response {
    let (frames_tx, response) = streamed_response("text/plain");
    let id = format!("print_{}_{}", print.topic, chrono::Utc::now().timestamp_millis());
    let closed = register(&state, &id);
    tokio::spawn(run_print(state, id, print, interval, limit, frames_tx, closed));
    response
}

async fn run_print(
    state: AppState,
    id: String,
    mut print: TopicPrint,
    interval: u64,
    limit: Option<u64>,
    frames_tx: mpsc::Sender<Bytes>,
    mut closed: oneshot::Receiver<()>,
) {
    let mut shutdown = state.shutdown.clone();
    let mut to_skip: u64 = 0;
    let mut printed: u64 = 0;
    let mut described = false;
    'outer: loop {
        tokio::select! {
            _ = frames_tx.closed() => break,
            _ = &mut closed => break,
            _ = shutdown.changed() => break,
            item = print.records.recv() => {
                let Some(records) = item else { break };
                for record in records {
                    // INTERVAL n prints every n-th record, starting with the first.
                    if to_skip > 0 {
                        to_skip -= 1;
                        continue;
                    }
                    to_skip = interval - 1;
                    let mut text = String::new();
                    if !described {
                        described = true;
                        text.push_str(&format!("Key format: {}\nValue format: {}\n", guess_format(record.key.as_deref()), guess_format(record.value.as_deref())));
                    }
                    text.push_str(&print_line(&record));
                    if frames_tx.send(Bytes::from(text)).await.is_err() {
                        break 'outer;
                    }
                    printed += 1;
                    if limit.is_some_and(|l| printed >= l) {
                        break 'outer;
                    }
                }
                state.engine.wake();
            }
        }
    }
    unregister(&state, &id);
}

/// ksqlDB's PRINT guesses each side's format from the bytes; this distinguishes JSON, text
/// and binary.
fn guess_format(bytes: Option<&[u8]>) -> &'static str {
    match bytes {
        None => "¯\\_(ツ)_/¯ - no data processed",
        Some(b) if serde_json::from_slice::<Value>(b).is_ok_and(|v| v.is_object() || v.is_array()) => "JSON",
        Some(b) if std::str::from_utf8(b).is_ok() => "KAFKA_STRING",
        Some(_) => "KAFKA_BYTES",
    }
}

/// `rowtime: 2020/05/26 07:36:47.123 Z, key: k, value: v, partition: 0`
fn print_line(record: &runnel_runtime::TopicRecord) -> String {
    let rowtime = chrono::DateTime::from_timestamp_millis(record.timestamp)
        .map(|t| t.format("%Y/%m/%d %H:%M:%S%.3f Z").to_string())
        .unwrap_or_else(|| record.timestamp.to_string());
    let text = |b: &Option<Vec<u8>>| match b {
        None => "<null>".to_string(),
        Some(bytes) => String::from_utf8_lossy(bytes).into_owned(),
    };
    let mut line = format!("rowtime: {rowtime}, key: {}, value: {}, partition: {}", text(&record.key), text(&record.value), record.partition);
    if !record.headers.is_empty() {
        let mut headers = String::new();
        for (i, (k, v)) in record.headers.iter().enumerate() {
            if i > 0 {
                headers.push_str(", ");
            }
            write_string(&mut headers, k);
            headers.push_str(": ");
            headers.push_str(&text(v));
        }
        line.push_str(&format!(", headers: [{headers}]"));
    }
    line.push('\n');
    line
}
