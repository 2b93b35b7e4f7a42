//! The server as a user runs it with no setup: over its embedded broker (data in a file),
//! statements go through the command log, push queries and PRINT read the cluster, and a
//! restarted server (broker included) has its streams, tables and queries back and resumes
//! where it stopped.

use std::time::{Duration, Instant};

use std::path::{Path, PathBuf};

use runnel_server::{start, BrokerStorage, RunningServer, ServerConfig};
use serde_json::{json, Value};

/// The defaults of `runnel-server` with no flags, but on free ports and a state directory
/// of the test's own.
fn config(state_dir: &Path) -> ServerConfig {
    ServerConfig {
        listeners: vec!["127.0.0.1:0".parse().expect("address")],
        embedded_broker_listener: "127.0.0.1:0".into(),
        embedded_broker_storage: BrokerStorage::File(state_dir.join("embedded-broker.db")),
        state_dir: state_dir.to_path_buf(),
        ..ServerConfig::default()
    }
}

fn fresh_state_dir() -> PathBuf {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or_default();
    let dir = std::env::temp_dir().join(format!("runnel-server-test-{}-{nanos}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("state dir");
    dir
}

async fn ksql(server: &RunningServer, sql: &str) -> (u16, Value) {
    let response = reqwest::Client::new()
        .post(format!("{}/ksql", server.url()))
        .json(&json!({"ksql": sql, "streamsProperties": {"auto.offset.reset": "earliest"}}))
        .send()
        .await
        .expect("request sent");
    let status = response.status().as_u16();
    (status, response.json().await.expect("json body"))
}

/// The rows of a push query (`/query-stream`, delimited), until `LIMIT` ends it.
async fn push_query(server: &RunningServer, sql: &str) -> Vec<Value> {
    let response = reqwest::Client::new()
        .post(format!("{}/query-stream", server.url()))
        .json(&json!({"sql": sql, "properties": {"auto.offset.reset": "earliest"}}))
        .send()
        .await
        .expect("request sent");
    assert_eq!(response.status().as_u16(), 200);
    let body = tokio::time::timeout(Duration::from_secs(60), response.text()).await.expect("query ends at its LIMIT").expect("body");
    body.lines().skip(1).map(|line| serde_json::from_str(line).expect("row is JSON")).collect()
}

/// Values of the records in `topic` once it holds `count` (or after a generous deadline).
async fn await_values(server: &RunningServer, topic: &'static str, count: usize) -> Vec<String> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let records = server.engine().run(move |engine| engine.records(topic)).await.expect("engine answers");
        if records.len() >= count || Instant::now() > deadline {
            let mut values: Vec<String> = records.iter().map(|r| String::from_utf8_lossy(r.value.as_deref().unwrap_or_default()).into_owned()).collect();
            values.sort();
            return values;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn statements_queries_and_restart_over_kafka() {
    let state_dir = fresh_state_dir();
    let server = start(config(&state_dir)).await.expect("server starts");
    assert!(server.bootstrap_servers().is_some(), "the embedded broker runs");

    let (status, body) = ksql(&server, "CREATE STREAM ORDERS (ID INT KEY, ITEM VARCHAR) WITH (kafka_topic='orders', value_format='JSON', partitions=2);").await;
    assert_eq!(status, 200, "{body}");
    let first_sequence = body[0]["commandSequenceNumber"].as_i64().expect("sequence number");
    let (status, body) = ksql(&server, "CREATE STREAM LOUD AS SELECT ID, UCASE(ITEM) AS ITEM FROM ORDERS;").await;
    assert_eq!(status, 200, "{body}");
    assert!(body[0]["commandSequenceNumber"].as_i64().expect("sequence number") > first_sequence, "{body}");
    let query_id = body[0]["commandStatus"]["queryId"].as_str().expect("query id").to_string();

    // A statement that fails validation is refused and never reaches the command log.
    let (status, body) = ksql(&server, "CREATE STREAM NOPE (A INT) WITH (kafka_topic='missing', value_format='JSON');").await;
    assert_eq!(status, 400, "{body}");
    assert!(body["message"].as_str().expect("message").contains("Kafka topic does not exist: missing"), "{body}");

    let (status, body) = ksql(&server, "INSERT INTO ORDERS (ID, ITEM) VALUES (1, 'apple'); INSERT INTO ORDERS (ID, ITEM) VALUES (2, 'pear');").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(await_values(&server, "LOUD", 2).await, vec![r#"{"ITEM":"APPLE"}"#, r#"{"ITEM":"PEAR"}"#]);

    // Push queries and PRINT read the cluster with consumers of their own.
    let rows = push_query(&server, "SELECT ID, ITEM FROM LOUD EMIT CHANGES LIMIT 2;").await;
    let mut rows: Vec<String> = rows.iter().map(Value::to_string).collect();
    rows.sort();
    assert_eq!(rows, vec![r#"[1,"APPLE"]"#, r#"[2,"PEAR"]"#]);
    let printed = reqwest::Client::new()
        .post(format!("{}/query", server.url()))
        .json(&json!({"ksql": "PRINT 'orders' FROM BEGINNING LIMIT 2;"}))
        .send()
        .await
        .expect("request sent");
    let printed = tokio::time::timeout(Duration::from_secs(60), printed.text()).await.expect("PRINT ends at its LIMIT").expect("body");
    assert!(printed.contains("apple") && printed.contains("pear"), "{printed}");

    server.shutdown().await;

    // A new server (and embedded broker) over the same state replays the command log: same
    // sources, same query, which resumes from its committed offsets (nothing processed twice).
    let server = start(config(&state_dir)).await.expect("server restarts");
    let (_, streams) = ksql(&server, "SHOW STREAMS;").await;
    let mut names: Vec<&str> = streams[0]["streams"].as_array().expect("streams").iter().filter_map(|s| s["name"].as_str()).collect();
    names.sort();
    assert_eq!(names, vec!["KSQL_PROCESSING_LOG", "LOUD", "ORDERS"]);
    let (_, queries) = ksql(&server, "SHOW QUERIES;").await;
    assert_eq!(queries[0]["queries"][0]["id"], json!(query_id), "{queries}");
    let (status, body) = ksql(&server, "INSERT INTO ORDERS (ID, ITEM) VALUES (3, 'fig');").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(await_values(&server, "LOUD", 3).await, vec![r#"{"ITEM":"APPLE"}"#, r#"{"ITEM":"FIG"}"#, r#"{"ITEM":"PEAR"}"#]);
    server.shutdown().await;
    let _ = std::fs::remove_dir_all(&state_dir);
}
