//! The RQTT harness: ksqlDB's REST query-validation tests, run over real HTTP against an
//! in-process `runnel-server` on an ephemeral port (one fresh server per case).
//!
//! Per case, as ksqlDB's `RestTestExecutor` does:
//! 1. the statements before the first `SELECT` go to `POST /ksql` in one request; each
//!    returned entity is checked against the next `admin` response;
//! 2. the inputs are produced (after the push query started, with `waitForActivePushQuery`);
//! 3. each `SELECT` goes to `POST /query`; its frames are checked against the next `query`
//!    response (push queries without LIMIT are closed once the expected frames arrived);
//! 4. `outputs` are read back from the topics and compared as in QTT;
//! 5. with `expectedError`, the last statement must fail with that status, type and message.
//!
//! The server runs with `auto.offset.reset=earliest`, like ksqlDB's REST test server, so
//! queries see inputs produced before them.

pub mod matching;
pub mod model;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use runnel_server::config::ServerConfig;
use runnel_server::RunningServer;
use serde_json::{json, Value};

use crate::qtt::model::{RecordNode, TestCase};
use crate::qtt::report::{CaseResult, Status};
use crate::qtt::{compare, encode_input, serde_for};
use model::{ExpectedError, RestCase, RestCaseKind, RestFields};

/// How long a query response may take to deliver the expected frames.
const QUERY_DEADLINE: Duration = Duration::from_secs(5);
/// How long a whole case may take.
const CASE_DEADLINE: Duration = Duration::from_secs(30);

/// Runs `cases` with up to `jobs` cases at a time; results are in input order.
pub fn run_cases(cases: &[RestCase], jobs: usize) -> Vec<CaseResult> {
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            return cases
                .iter()
                .map(|c| CaseResult { file: c.file.clone(), name: c.name.clone(), status: Status::Failed, reason: Some(format!("no tokio runtime: {e}")) })
                .collect()
        }
    };
    let cases: Arc<Vec<RestCase>> = Arc::new(cases.to_vec());
    let next = Arc::new(AtomicUsize::new(0));
    runtime.block_on(async {
        let mut workers = Vec::new();
        for _ in 0..jobs.clamp(1, cases.len().max(1)) {
            let (cases, next) = (cases.clone(), next.clone());
            workers.push(tokio::spawn(async move {
                let mut done = Vec::new();
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(case) = cases.get(i) else { break };
                    // A panic in a case is a failure of that case only.
                    let outcome = tokio::spawn(run_one(case.clone())).await;
                    let result = outcome.unwrap_or_else(|e| CaseResult {
                        file: case.file.clone(),
                        name: case.name.clone(),
                        status: Status::Failed,
                        reason: Some(format!("panic: {e}")),
                    });
                    done.push((i, result));
                }
                done
            }));
        }
        let mut results: Vec<Option<CaseResult>> = vec![None; cases.len()];
        for worker in workers {
            if let Ok(done) = worker.await {
                for (i, r) in done {
                    results[i] = Some(r);
                }
            }
        }
        results
            .into_iter()
            .zip(cases.iter())
            .map(|(r, c)| {
                r.unwrap_or_else(|| CaseResult { file: c.file.clone(), name: c.name.clone(), status: Status::Failed, reason: Some("panic: worker died".into()) })
            })
            .collect()
    })
}

/// Runs one case on its own server.
pub async fn run_one(case: RestCase) -> CaseResult {
    let (status, reason) = match &case.kind {
        RestCaseKind::Skip(r) => (Status::Skipped, Some(r.clone())),
        RestCaseKind::Invalid(r) => (Status::Failed, Some(r.clone())),
        RestCaseKind::Run(tc, rest) => match tokio::time::timeout(CASE_DEADLINE, run_case(tc, rest)).await {
            Ok(Ok(())) => (Status::Passed, None),
            Ok(Err(r)) => (Status::Failed, Some(r)),
            Err(_) => (Status::Failed, Some(format!("case timed out after {}s", CASE_DEADLINE.as_secs()))),
        },
    };
    CaseResult { file: case.file, name: case.name, status, reason }
}

async fn run_case(tc: &TestCase, rest: &RestFields) -> Result<(), String> {
    let mut ksql_properties = BTreeMap::new();
    // As ksqlDB's REST test server: queries read from the start, every update is emitted (no
    // record cache), scalable push queries on.
    ksql_properties.insert("ksql.streams.auto.offset.reset".to_string(), "earliest".to_string());
    ksql_properties.insert("ksql.streams.cache.max.bytes.buffering".to_string(), "0".to_string());
    ksql_properties.insert("ksql.query.push.v2.enabled".to_string(), "true".to_string());
    let config = ServerConfig {
        listeners: vec!["127.0.0.1:0".parse().map_err(|e| format!("listener: {e}"))?],
        ksql_properties,
        ..ServerConfig::default()
    };
    // Over the deterministic in-memory topic log, as the QTT harness (ksqlDB's REST tests run
    // against an embedded Kafka; here topics need no broker and cases stay independent).
    let engine = runnel_runtime::Engine::new(config.ksql_properties.clone());
    let server = runnel_server::start_with_engine(config, engine).await.map_err(|e| format!("server did not start: {e}"))?;
    let outcome = Runner { server: &server, client: reqwest::Client::new(), tc, rest }.run().await;
    server.shutdown().await;
    outcome
}

struct Runner<'a> {
    server: &'a RunningServer,
    client: reqwest::Client,
    tc: &'a TestCase,
    rest: &'a RestFields,
}

impl Runner<'_> {
    async fn run(&self) -> Result<(), String> {
        let tc = self.tc;
        let mut topics: Vec<(String, i32)> = tc.topics.iter().map(|t| (t.name.clone(), t.partitions.unwrap_or(1))).collect();
        for (name, partitions) in statement_topics(&tc.statements) {
            if !topics.iter().any(|(t, _)| *t == name) {
                topics.push((name, partitions));
            }
        }
        self.server
            .engine()
            .run(move |engine| topics.iter().for_each(|(name, partitions)| engine.create_topic(name, *partitions)))
            .await
            .map_err(|e| e.to_string())?;

        let first_query = tc.statements.iter().position(|s| s.trim_start().to_ascii_uppercase().starts_with("SELECT ")).unwrap_or(tc.statements.len());
        let (admin, queries) = tc.statements.split_at(first_query);
        let expected_error = self.rest.expected_error.as_ref();
        let mut expected_responses = self.rest.responses.iter();
        let properties = Value::Object(tc.properties.clone());

        if !admin.is_empty() {
            let body = json!({"ksql": admin.join("\n"), "streamsProperties": properties});
            let (status, reply) = self.post_json("/ksql", &body).await?;
            if queries.is_empty() {
                if let Some(expected) = expected_error {
                    return check_error(expected, status, &reply);
                }
            }
            if status != 200 {
                return Err(format!("/ksql failed with {status}: {}", reply.get("message").and_then(Value::as_str).unwrap_or(&reply.to_string())));
            }
            let entities = reply.as_array().ok_or("/ksql did not return an array of entities")?;
            let expected_admin: Vec<&Value> = self.rest.responses.iter().filter_map(|r| r.get("admin")).collect();
            if !self.rest.responses.is_empty() && expected_admin.len() != entities.len() {
                return Err(format!("/ksql: expected {} entities but got {}", expected_admin.len(), entities.len()));
            }
            for (i, (e, a)) in expected_admin.iter().zip(entities).enumerate() {
                matching::matches(e, a, &format!("admin response {i}"))?;
            }
            expected_responses = self.rest.responses[expected_admin.len().min(self.rest.responses.len())..].iter();
        }

        let wait_for_query = self.rest.input_conditions.as_ref().is_some_and(|c| c.wait_for_active_push_query);
        if !wait_for_query || queries.is_empty() {
            self.produce_inputs().await?;
        }

        for (i, statement) in queries.iter().enumerate() {
            let last = i + 1 == queries.len();
            let expected_frames: Option<Vec<Value>> =
                expected_responses.next().and_then(|r| r.get("query")).and_then(Value::as_array).cloned();
            let body = json!({"ksql": statement, "streamsProperties": properties});
            let response = self
                .client
                .post(format!("{}/query", self.server.url()))
                .header("Content-Type", "application/vnd.ksql.v1+json")
                .json(&body)
                .send()
                .await
                .map_err(|e| format!("POST /query: {e}"))?;
            let status = response.status().as_u16();
            if status != 200 {
                let text = response.text().await.unwrap_or_default();
                let reply: Value = serde_json::from_str(&text).unwrap_or(Value::String(text));
                if let (true, Some(expected)) = (last, expected_error) {
                    return check_error(expected, status, &reply);
                }
                return Err(format!("query {} failed with {status}: {}", i + 1, reply.get("message").and_then(Value::as_str).unwrap_or(&reply.to_string())));
            }
            if let (true, Some(_)) = (last, expected_error) {
                return Err(format!("expected an error but query {} was accepted", i + 1));
            }
            let produce_after_header = wait_for_query && i == 0;
            let frames = self.read_frames(response, expected_frames.as_deref(), produce_after_header).await?;
            if let Some(expected) = &expected_frames {
                let verify_order = self.rest.output_conditions.as_ref().is_none_or(|c| c.verify_order);
                matching::match_frames(expected, &frames, verify_order).map_err(|e| format!("query {}: {e}", i + 1))?;
            }
        }
        if let (Some(_), true) = (expected_error, !admin.is_empty() && queries.is_empty()) {
            return Err("expected an error but the statements succeeded".into());
        }
        self.check_outputs().await
    }

    async fn post_json(&self, path: &str, body: &Value) -> Result<(u16, Value), String> {
        let response = self
            .client
            .post(format!("{}{path}", self.server.url()))
            .header("Content-Type", "application/vnd.ksql.v1+json")
            .json(body)
            .send()
            .await
            .map_err(|e| format!("POST {path}: {e}"))?;
        let status = response.status().as_u16();
        let text = response.text().await.map_err(|e| format!("POST {path}: reading the body: {e}"))?;
        let value = serde_json::from_str(&text).map_err(|e| format!("POST {path}: the body is not JSON ({e}): {text}"))?;
        Ok((status, value))
    }

    /// Produces the case's inputs, encoded with their topic's formats, into the server's topics.
    async fn produce_inputs(&self) -> Result<(), String> {
        let tc = self.tc.clone();
        self.server
            .engine()
            .run(move |engine| {
                let mut serdes = BTreeMap::new();
                for (i, rec) in tc.inputs.iter().enumerate() {
                    let serde = serdes.entry(rec.topic.clone()).or_insert_with(|| serde_for(engine, &tc, &rec.topic));
                    let record = encode_input(rec, serde).map_err(|e| format!("input {i} to '{}': cannot encode {e}", rec.topic))?;
                    engine.produce(&rec.topic, record).map_err(|e| format!("produce to '{}': {e}", rec.topic))?;
                }
                Ok(())
            })
            .await
            .map_err(|e| e.to_string())?
    }

    /// Reads `/query` frames (one per line) until the body ends, or until the expected
    /// frames arrived when the last expected one is not a final message (a push query
    /// without LIMIT never ends by itself).
    async fn read_frames(&self, mut response: reqwest::Response, expected: Option<&[Value]>, produce_after_header: bool) -> Result<Vec<Value>, String> {
        let wanted = expected.map(<[Value]>::len);
        let ends_by_itself = expected.and_then(<[Value]>::last).is_some_and(|f| f.get("finalMessage").is_some() || f.get("errorMessage").is_some());
        let deadline = tokio::time::Instant::now() + QUERY_DEADLINE;
        let mut frames = Vec::new();
        let mut pending = String::new();
        let mut produced = !produce_after_header;
        loop {
            if !ends_by_itself && wanted.is_some_and(|n| frames.len() >= n) {
                break;
            }
            let chunk = match tokio::time::timeout_at(deadline, response.chunk()).await {
                Err(_) => break,
                Ok(Err(e)) => return Err(format!("reading /query: {e}")),
                Ok(Ok(None)) => break,
                Ok(Ok(Some(chunk))) => chunk,
            };
            pending.push_str(&String::from_utf8_lossy(&chunk));
            while let Some(end) = pending.find('\n') {
                let line: String = pending.drain(..=end).collect();
                if let Some(frame) = parse_frame_line(&line)? {
                    frames.push(frame);
                }
            }
            if !produced && !frames.is_empty() {
                produced = true;
                self.produce_inputs().await?;
            }
        }
        if let Some(frame) = parse_frame_line(&pending)? {
            frames.push(frame);
        }
        Ok(frames)
    }

    /// Compares `outputs` with the topics' records, as QTT does.
    async fn check_outputs(&self) -> Result<(), String> {
        if self.tc.outputs.is_empty() {
            return Ok(());
        }
        let tc = self.tc.clone();
        self.server
            .engine()
            .run(move |engine| {
                let mut topics: Vec<&str> = Vec::new();
                for r in &tc.outputs {
                    if !topics.contains(&r.topic.as_str()) {
                        topics.push(&r.topic);
                    }
                }
                for topic in topics {
                    let expected: Vec<&RecordNode> = tc.outputs.iter().filter(|r| r.topic == topic).collect();
                    let actual = engine.records(topic);
                    if expected.len() != actual.len() {
                        return Err(format!("topic '{topic}': expected {} records but got {}", expected.len(), actual.len()));
                    }
                    let serde = serde_for(engine, &tc, topic);
                    for (i, (e, a)) in expected.iter().zip(&actual).enumerate() {
                        compare::compare_record(e, a, &serde, !tc.inputs.is_empty()).map_err(|r| format!("topic '{topic}' record {i}: {r}"))?;
                    }
                }
                Ok(())
            })
            .await
            .map_err(|e| e.to_string())?
    }
}

/// Partitions of the topics ksqlDB's REST test executor creates for `CREATE STREAM/TABLE`
/// statements that name a topic without `PARTITIONS` (`KsqlConstants.legacyDefaultSinkPartitionCount`).
const DEFAULT_TEST_TOPIC_PARTITIONS: i32 = 4;

/// The topics that `CREATE STREAM/TABLE` statements name, with their partition counts, as
/// ksqlDB's test executor creates them before the statements run.
fn statement_topics(statements: &[String]) -> Vec<(String, i32)> {
    use runnel_parser::{PropertyValue, Statement};
    let mut topics = Vec::new();
    for text in statements {
        let Ok(parsed) = runnel_parser::parse_statements(text) else { continue };
        for statement in parsed {
            let Statement::CreateSource { properties, .. } = &statement.statement else { continue };
            let value = |name: &str| properties.0.iter().find(|(k, _)| k == name).map(|(_, v)| v);
            let Some(PropertyValue::String(topic)) = value("KAFKA_TOPIC") else { continue };
            let partitions = match value("PARTITIONS") {
                Some(PropertyValue::Number(n)) => n.parse().unwrap_or(DEFAULT_TEST_TOPIC_PARTITIONS),
                _ => DEFAULT_TEST_TOPIC_PARTITIONS,
            };
            topics.push((topic.clone(), partitions));
        }
    }
    topics
}

/// One line of a `/query` body: `[{...},` / `{...},` / `{...}]`; blank lines carry nothing.
fn parse_frame_line(line: &str) -> Result<Option<Value>, String> {
    let mut text = line.trim();
    text = text.strip_prefix('[').unwrap_or(text).trim_start();
    text = text.strip_suffix(']').unwrap_or(text).trim_end();
    text = text.strip_suffix(',').unwrap_or(text).trim_end();
    if text.is_empty() {
        return Ok(None);
    }
    serde_json::from_str(text).map(Some).map_err(|e| format!("unparseable /query frame ({e}): {text}"))
}

/// Checks an error response against `expectedError`.
fn check_error(expected: &ExpectedError, status: u16, body: &Value) -> Result<(), String> {
    let message = body.get("message").and_then(Value::as_str).unwrap_or("");
    let first_line = message.lines().next().unwrap_or("");
    if status == 200 {
        return Err(format!("expected an error{} but the request succeeded", expected.message.as_deref().map(|m| format!(" ({m})")).unwrap_or_default()));
    }
    if let Some(s) = expected.status {
        if s != status {
            return Err(format!("expected status {s} but got {status}: {first_line}"));
        }
    }
    let body_type = body.get("@type").and_then(Value::as_str).unwrap_or("");
    if let Some(t) = expected.error_type.as_deref().map(|t| t.rsplit('.').next().unwrap_or(t)) {
        // KsqlStatementErrorMessage extends KsqlErrorMessage.
        let ok = match t {
            "KsqlStatementErrorMessage" => body_type == "statement_error",
            "KsqlErrorMessage" => matches!(body_type, "statement_error" | "generic_error"),
            _ => true,
        };
        if !ok {
            return Err(format!("expected error type {t} but got @type {body_type}: {first_line}"));
        }
    }
    if let Some(m) = &expected.message {
        if !message.contains(m.as_str()) {
            return Err(format!("expected error message containing '{}' but got: {first_line} | expected message: {m}", m.lines().next().unwrap_or("")));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frame_lines() {
        assert_eq!(parse_frame_line("[{\"header\":{}},\n").unwrap(), Some(json!({"header": {}})));
        assert_eq!(parse_frame_line("{\"row\":{\"columns\":[1]}},\n").unwrap(), Some(json!({"row": {"columns": [1]}})));
        assert_eq!(parse_frame_line("{\"finalMessage\":\"Limit Reached\"}]\n").unwrap(), Some(json!({"finalMessage": "Limit Reached"})));
        assert_eq!(parse_frame_line("\n").unwrap(), None);
        assert!(parse_frame_line("{oops},").is_err());
    }

    #[test]
    fn errors_match_type_status_and_message() {
        let body = json!({"@type": "statement_error", "error_code": 40001, "message": "Pull queries don't support JOIN clauses."});
        let expected = ExpectedError {
            error_type: Some("io.confluent.ksql.rest.entity.KsqlErrorMessage".into()),
            message: Some("don't support JOIN".into()),
            status: Some(400),
        };
        assert!(check_error(&expected, 400, &body).is_ok());
        assert!(check_error(&expected, 500, &body).is_err());
        let generic = json!({"@type": "generic_error", "message": "Pull queries don't support JOIN clauses."});
        let statement_only = ExpectedError { error_type: Some("KsqlStatementErrorMessage".into()), ..expected.clone() };
        assert!(check_error(&statement_only, 400, &generic).is_err());
    }
}
