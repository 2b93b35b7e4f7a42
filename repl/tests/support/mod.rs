//! A small HTTP/1.1 server that answers like a ksqlDB server, using the response shapes of
//! ksqlDB's REST API (`/info`, `/ksql` entities and error bodies, chunked `/query` frames,
//! PRINT's text lines). It records every request so tests can check what the CLI sent.
//! Shared by the integration tests and the `mock_ksqldb` example (for trying the CLI by hand).

#![allow(dead_code)] // each user of this module uses a different part of it

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

/// Longest a never-ending push query is kept open (bounds every test).
const PUSH_QUERY_MAX: Duration = Duration::from_secs(20);

#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: String,
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Recorded {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or(Value::Null)
    }
}

#[derive(Default)]
pub struct ServerLog {
    pub requests: Vec<Recorded>,
    /// Set when a never-ending push query saw its client go away.
    pub push_query_closed_by_client: bool,
    /// Rows a never-ending push query has sent.
    pub push_rows_sent: usize,
}

pub struct MockKsqlServer {
    pub url: String,
    pub log: Arc<Mutex<ServerLog>>,
}

impl MockKsqlServer {
    pub fn start() -> MockKsqlServer {
        MockKsqlServer::start_on("127.0.0.1:0", None)
    }

    /// Listens on `address`; with `basic_auth` (user, password) every request must carry it.
    pub fn start_on(address: &str, basic_auth: Option<(&str, &str)>) -> MockKsqlServer {
        use base64::Engine as _;
        let required: Option<Arc<str>> = basic_auth.map(|(user, password)| {
            let token = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
            Arc::from(format!("Basic {token}"))
        });
        let listener = TcpListener::bind(address).expect("bind mock server");
        let url = format!("http://{}", listener.local_addr().expect("local address"));
        let log = Arc::new(Mutex::new(ServerLog::default()));
        let shared = Arc::clone(&log);
        thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let log = Arc::clone(&shared);
                let required = required.clone();
                thread::spawn(move || handle(stream, &log, required.as_deref()));
            }
        });
        MockKsqlServer { url, log }
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.log.lock().expect("log").requests.clone()
    }

    /// Bodies' `ksql` text of the requests to `path`.
    pub fn statements_sent_to(&self, path: &str) -> Vec<String> {
        self.requests()
            .iter()
            .filter(|r| r.path == path)
            .map(|r| r.json()["ksql"].as_str().unwrap_or("").to_string())
            .collect()
    }
}

fn handle(stream: TcpStream, log: &Mutex<ServerLog>, required_auth: Option<&str>) {
    let mut reader = BufReader::new(match stream.try_clone() {
        Ok(s) => s,
        Err(_) => return,
    });
    let mut request_line = String::new();
    if reader.read_line(&mut request_line).is_err() {
        return;
    }
    let mut parts = request_line.split_whitespace();
    let method = parts.next().unwrap_or("").to_string();
    let path = parts.next().unwrap_or("").to_string();
    let mut headers = Vec::new();
    let mut content_length = 0;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).is_err() || line.trim().is_empty() {
            break;
        }
        if let Some((name, value)) = line.trim_end().split_once(':') {
            if name.eq_ignore_ascii_case("content-length") {
                content_length = value.trim().parse().unwrap_or(0);
            }
            headers.push((name.to_string(), value.trim().to_string()));
        }
    }
    let mut body = vec![0; content_length];
    if reader.read_exact(&mut body).is_err() {
        return;
    }
    let recorded = Recorded { method, path, headers, body: String::from_utf8_lossy(&body).into_owned() };
    log.lock().expect("log").requests.push(recorded.clone());
    respond(stream, &recorded, log, required_auth);
}

fn respond(mut stream: TcpStream, request: &Recorded, log: &Mutex<ServerLog>, required_auth: Option<&str>) {
    if let Some(expected) = required_auth {
        if request.header("authorization") != Some(expected) {
            let body = json!({"@type": "generic_error", "error_code": 40100, "message": "Unauthorized"});
            return send(&mut stream, 401, &body.to_string());
        }
    }
    let ksql = request.json()["ksql"].as_str().unwrap_or("").trim().to_string();
    match (request.method.as_str(), request.path.as_str()) {
        ("GET", "/info") => send(
            &mut stream,
            200,
            &json!({"KsqlServerInfo": {
            "version": "0.29.0", "kafkaClusterId": "mock-cluster", "ksqlServiceId": "default_",
            "serverStatus": "RUNNING"}})
            .to_string(),
        ),
        ("GET", path) if path.starts_with("/is_valid_property/") => {
            if path.ends_with("no.such.property") {
                let body = json!({"@type": "generic_error", "error_code": 40000,
                    "message": "Not recognizable as ksql, streams, consumer, or producer property: 'no.such.property'"});
                send(&mut stream, 400, &body.to_string())
            } else {
                send(&mut stream, 200, "true")
            }
        }
        ("POST", "/ksql") => match ksql_response(&ksql) {
            Ok(entities) => send(&mut stream, 200, &Value::Array(entities).to_string()),
            Err((status, error)) => send(&mut stream, status, &error.to_string()),
        },
        ("POST", "/query") => query_response(&mut stream, &ksql, log),
        ("POST", "/close-query") => send(&mut stream, 200, ""),
        _ => send(
            &mut stream,
            404,
            &json!({"@type": "generic_error", "error_code": 40400,
            "message": format!("no such endpoint {}", request.path)})
            .to_string(),
        ),
    }
}

fn ksql_response(ksql: &str) -> Result<Vec<Value>, (u16, Value)> {
    // Line comments dropped and whitespace collapsed, so multi-line input matches too.
    let upper = ksql
        .lines()
        .map(|line| line.split("--").next().unwrap_or(""))
        .collect::<Vec<_>>()
        .join(" ")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_uppercase();
    let upper = upper.trim_end_matches(';').trim();
    let entity = match upper {
        "SHOW STREAMS" | "LIST STREAMS" => json!({"@type": "streams", "statementText": ksql, "streams": [
            {"type": "STREAM", "name": "PAGEVIEWS", "topic": "pageviews", "keyFormat": "KAFKA",
             "valueFormat": "JSON", "isWindowed": false}], "warnings": []}),
        "SHOW TABLES" | "LIST TABLES" => json!({"@type": "tables", "statementText": ksql, "tables": [
            {"type": "TABLE", "name": "USERS", "topic": "users", "keyFormat": "KAFKA",
             "valueFormat": "JSON", "isWindowed": false}], "warnings": []}),
        "SHOW QUERIES" => json!({"@type": "queries", "statementText": ksql, "queries": [
            {"queryString": "CREATE STREAM PV2 AS SELECT * FROM PAGEVIEWS EMIT CHANGES;", "sinks": ["PV2"],
             "sinkKafkaTopics": ["PV2"], "id": "CSAS_PV2_3", "statusCount": {"RUNNING": 1},
             "queryType": "PERSISTENT", "state": "RUNNING"}], "warnings": []}),
        "DESCRIBE PAGEVIEWS" => json!({"@type": "sourceDescription", "statementText": ksql,
            "sourceDescription": {"name": "PAGEVIEWS", "windowType": null, "readQueries": [], "writeQueries": [],
                "fields": [
                    {"name": "USERID", "schema": {"type": "STRING", "fields": null, "memberSchema": null}, "type": "KEY"},
                    {"name": "PAGEID", "schema": {"type": "STRING", "fields": null, "memberSchema": null}},
                    {"name": "VIEWTIME", "schema": {"type": "BIGINT", "fields": null, "memberSchema": null}}],
                "type": "STREAM", "timestamp": "", "statistics": "", "errorStats": "", "extended": false,
                "keyFormat": "KAFKA", "valueFormat": "JSON", "topic": "pageviews", "partitions": 1,
                "replication": 1, "statement": "CREATE STREAM PAGEVIEWS ...", "sourceConstraints": []},
            "warnings": []}),
        "SHOW PROPERTIES" => json!({"@type": "properties", "statementText": ksql, "properties": [
            {"name": "ksql.streams.auto.offset.reset", "scope": "KSQL", "value": "latest", "level": "QUERY"}],
            "overwrittenProperties": [], "defaultProperties": []}),
        _ if upper.starts_with("CREATE STREAM") && !upper.contains("BAD") => json!({"@type": "currentStatus",
            "statementText": ksql, "commandId": "stream/`S`/create",
            "commandStatus": {"status": "SUCCESS", "message": "Stream created", "queryId": null},
            "commandSequenceNumber": 7, "warnings": []}),
        _ if upper.starts_with("DROP STREAM") => json!({"@type": "currentStatus", "statementText": ksql,
            "commandId": "stream/`S`/drop", "commandStatus": {"status": "SUCCESS", "message": "Source `S` (topic: s) was dropped."},
            "commandSequenceNumber": 8, "warnings": [{"message": "Topic s was not deleted"}]}),
        _ => {
            return Err((
                400,
                json!({"@type": "statement_error", "error_code": 40001,
                "message": format!("line 1:1: Syntax error at or near '{}'", ksql.split_whitespace().next().unwrap_or("")),
                "statementText": ksql, "entities": []}),
            ))
        }
    };
    Ok(vec![entity])
}

fn query_response(stream: &mut TcpStream, ksql: &str, log: &Mutex<ServerLog>) {
    let upper = ksql.to_uppercase();
    let header = json!({"header": {"queryId": "transient_PAGEVIEWS_1", "schema": "`USERID` STRING KEY, `PAGEID` STRING, `VIEWTIME` BIGINT"}});
    let row = |user: &str, page: &str, time: i64| json!({"row": {"columns": [user, page, time]}});
    if upper.starts_with("PRINT") {
        start_chunked(stream, "application/json");
        for line in [
            "Key format: KAFKA_STRING\nValue format: JSON or KAFKA_STRING\n",
            "rowtime: 2024/01/01 00:00:00.000 Z, key: u1, value: {\"PAGEID\":\"p1\"}, partition: 0\n",
            "\n",
            "rowtime: 2024/01/01 00:00:01.000 Z, key: u2, value: {\"PAGEID\":\"p2\"}, partition: 0\n",
        ] {
            let _ = chunk(stream, line);
        }
        let _ = chunk(stream, "");
        return;
    }
    if upper.contains("NO_SUCH_STREAM") {
        let body = json!({"@type": "statement_error", "error_code": 40001,
            "message": "NO_SUCH_STREAM does not exist.", "statementText": ksql});
        return send(stream, 400, &body.to_string());
    }
    start_chunked(stream, "application/json");
    if upper.contains("LIMIT 2") {
        // Frames split across chunks at awkward places, as a real network may deliver them.
        let body = format!(
            "[{},\n{},\n{},\n{}]\n",
            header,
            row("u1", "p1", 1),
            row("u2", "p2", 2),
            json!({"finalMessage": "Limit Reached"})
        );
        let (a, b) = body.split_at(body.len() / 3);
        let _ = chunk(stream, a);
        let _ = chunk(stream, b);
        let _ = chunk(stream, "");
        return;
    }
    if upper.contains("FAILING") {
        let _ = chunk(stream, &format!("[{header},\n"));
        let _ = chunk(
            stream,
            &format!(
                "{}]\n",
                json!({"errorMessage": {"@type": "generic_error",
            "error_code": 50000, "message": "Query failed: deserialization error"}})
            ),
        );
        let _ = chunk(stream, "");
        return;
    }
    // A push query that never ends by itself: a row every 200 ms until the client leaves.
    let _ = chunk(stream, &format!("[{header}"));
    let started = Instant::now();
    let mut n = 0;
    while started.elapsed() < PUSH_QUERY_MAX {
        n += 1;
        if chunk(stream, &format!(",\n{}", row(&format!("u{n}"), "p", n))).is_err() {
            log.lock().expect("log").push_query_closed_by_client = true;
            return;
        }
        log.lock().expect("log").push_rows_sent = n as usize;
        thread::sleep(Duration::from_millis(200));
    }
}

fn send(stream: &mut TcpStream, status: u16, body: &str) {
    let reason = match status {
        200 => "OK",
        400 => "Bad Request",
        401 => "Unauthorized",
        404 => "Not Found",
        _ => "Error",
    };
    let _ = write!(
        stream,
        "HTTP/1.1 {status} {reason}\r\nContent-Type: application/vnd.ksql.v1+json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
}

fn start_chunked(stream: &mut TcpStream, content_type: &str) {
    let _ = write!(
        stream,
        "HTTP/1.1 200 OK\r\nContent-Type: {content_type}\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    );
}

/// Writes one chunk (an empty one ends the body).
fn chunk(stream: &mut TcpStream, data: &str) -> std::io::Result<()> {
    write!(stream, "{:x}\r\n{data}\r\n", data.len())?;
    stream.flush()
}
