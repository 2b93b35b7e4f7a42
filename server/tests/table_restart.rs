//! Stopping and restarting the server in the middle of a stream leaves every table exactly as
//! a run without the restart: the same statements and records through the deterministic
//! in-memory engine are the reference.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use runnel_runtime::{Engine, TopicRecord};
use runnel_server::{start, BrokerStorage, RunningServer, ServerConfig};
use serde_json::json;

const DDL: &[&str] = &[
    "CREATE STREAM PAGEVIEWS (USER_ID VARCHAR KEY, PAGE VARCHAR, MS BIGINT) WITH (kafka_topic='pageviews', value_format='JSON', partitions=2);",
    "CREATE TABLE PER_USER AS SELECT USER_ID, COUNT(*) AS VIEWS, SUM(MS) AS TOTAL_MS, MAX(MS) AS LONGEST FROM PAGEVIEWS GROUP BY USER_ID;",
    "CREATE TABLE PER_PAGE AS SELECT PAGE, COUNT(*) AS VIEWS FROM PAGEVIEWS WINDOW TUMBLING (SIZE 10 SECONDS) GROUP BY PAGE;",
];
/// The tables to compare, and the ids of the queries that write them.
const TABLES: &[(&str, &str)] = &[("PER_USER", "CTAS_PER_USER_0"), ("PER_PAGE", "CTAS_PER_PAGE_1")];
const EVENTS: usize = 120;

/// Deterministic page views with increasing timestamps, as INSERT VALUES statements.
fn inserts(range: std::ops::Range<usize>) -> String {
    range
        .map(|i| {
            let user = format!("u{}", i % 7);
            let page = ["home", "cart", "search", "checkout"][i % 4];
            let rowtime = 1_000_000 + (i as i64) * 1_500;
            format!("INSERT INTO PAGEVIEWS (ROWTIME, USER_ID, PAGE, MS) VALUES ({rowtime}, '{user}', '{page}', {});", (i * 37) % 1000)
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The final row of each key (the table), as key bytes -> value bytes.
fn table(records: &[TopicRecord]) -> BTreeMap<Vec<u8>, Option<Vec<u8>>> {
    records.iter().map(|r| (r.key.clone().unwrap_or_default(), r.value.clone())).collect()
}

fn reference() -> Vec<BTreeMap<Vec<u8>, Option<Vec<u8>>>> {
    let mut engine = Engine::new(BTreeMap::from([("ksql.streams.cache.max.bytes.buffering".to_string(), "0".to_string())]));
    engine.execute_sql(&DDL.join("\n")).expect("statements run in memory");
    engine.execute_sql(&inserts(0..EVENTS)).expect("inserts run in memory");
    engine.process().expect("processed");
    TABLES.iter().map(|(topic, _)| table(&engine.records(topic))).collect()
}

async fn ksql(server: &RunningServer, sql: &str) {
    let response = reqwest::Client::new()
        .post(format!("{}/ksql", server.url()))
        .json(&json!({"ksql": sql, "streamsProperties": {"auto.offset.reset": "earliest"}}))
        .send()
        .await
        .expect("request sent");
    let status = response.status().as_u16();
    assert_eq!(status, 200, "{sql}: {}", response.text().await.unwrap_or_default());
}

/// Waits until every query has consumed (and committed) `count` records since it started.
async fn await_consumed(server: &RunningServer, count: u64) {
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let consumed = server
            .engine()
            .run(|engine| TABLES.iter().map(|(_, id)| engine.query_stats(id).map_or(0, |s| s.consumed.load(Ordering::Acquire))).collect::<Vec<_>>())
            .await
            .expect("engine answers");
        if consumed.iter().all(|&c| c >= count) {
            return;
        }
        assert!(Instant::now() < deadline, "queries consumed {consumed:?} of {count} records");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn config(state_dir: &std::path::Path) -> ServerConfig {
    ServerConfig {
        listeners: vec!["127.0.0.1:0".parse().expect("address")],
        embedded_broker_listener: "127.0.0.1:0".into(),
        embedded_broker_storage: BrokerStorage::File(state_dir.join("embedded-broker.db")),
        state_dir: state_dir.to_path_buf(),
        ksql_properties: BTreeMap::from([("ksql.streams.cache.max.bytes.buffering".to_string(), "0".to_string())]),
        ..ServerConfig::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tables_after_a_restart_equal_an_uninterrupted_run() {
    let expected = reference();
    assert!(expected.iter().all(|t| t.len() > 4), "the reference run fills the tables");

    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or_default();
    let state_dir: PathBuf = std::env::temp_dir().join(format!("runnel-table-restart-{}-{nanos}", std::process::id()));
    let half = EVENTS / 2;

    let server = start(config(&state_dir)).await.expect("server starts");
    for statement in DDL {
        ksql(&server, statement).await;
    }
    ksql(&server, &inserts(0..half)).await;
    await_consumed(&server, half as u64).await;
    server.shutdown().await;

    // The restarted queries restore their stores from the changelogs and resume after the
    // committed offsets: the second half is added to the first, nothing counted twice.
    let server = start(config(&state_dir)).await.expect("server restarts");
    ksql(&server, &inserts(half..EVENTS)).await;
    await_consumed(&server, (EVENTS - half) as u64).await;
    for ((topic, _), expected) in TABLES.iter().zip(&expected) {
        let records = server.engine().run(move |engine| engine.records(topic)).await.expect("engine answers");
        assert_eq!(&table(&records), expected, "table {topic} after the restart");
    }
    server.shutdown().await;
    let _ = std::fs::remove_dir_all(&state_dir);
}
