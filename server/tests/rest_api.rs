//! The REST API over real HTTP: status codes, ksqlDB error bodies, statement round trips,
//! push queries, inserts, and HTTP/2 with prior knowledge on the HTTP/1.1 port.

use std::time::Duration;

use runnel_runtime::Engine;
use runnel_server::{start_with_engine, RunningServer, ServerConfig};
use serde_json::{json, Value};

async fn server() -> RunningServer {
    let config = ServerConfig { listeners: vec!["127.0.0.1:0".parse().expect("address")], ..ServerConfig::default() };
    let engine = Engine::new(config.ksql_properties.clone());
    start_with_engine(config, engine).await.expect("server starts")
}

async fn post(client: &reqwest::Client, url: String, body: Value) -> (u16, Value) {
    let response = client.post(url).header("Content-Type", "application/vnd.ksql.v1+json").json(&body).send().await.expect("request sent");
    let status = response.status().as_u16();
    let text = response.text().await.expect("body read");
    (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
}

async fn ksql(server: &RunningServer, sql: &str) -> (u16, Value) {
    post(&reqwest::Client::new(), format!("{}/ksql", server.url()), json!({"ksql": sql})).await
}

/// Reads a streamed body line by line until `lines` lines arrived or it ends.
async fn read_lines(mut response: reqwest::Response, lines: usize) -> Vec<String> {
    let mut out = Vec::new();
    let mut pending = String::new();
    while out.len() < lines {
        let chunk = tokio::time::timeout(Duration::from_secs(10), response.chunk()).await.expect("no stall").expect("body chunk");
        let Some(chunk) = chunk else { break };
        pending.push_str(std::str::from_utf8(&chunk).expect("utf-8"));
        while let Some(end) = pending.find('\n') {
            out.push(pending.drain(..=end).collect::<String>().trim_end().to_string());
        }
    }
    out
}

#[tokio::test]
async fn info_and_healthcheck() {
    let server = server().await;
    let client = reqwest::Client::new();
    let info: Value = client.get(format!("{}/info", server.url())).send().await.expect("sent").json().await.expect("json");
    assert_eq!(info["KsqlServerInfo"]["ksqlServiceId"], "default_");
    assert_eq!(info["KsqlServerInfo"]["serverStatus"], "RUNNING");
    let health = client.get(format!("{}/healthcheck", server.url())).send().await.expect("sent");
    assert_eq!(health.status().as_u16(), 200);
    let health: Value = health.json().await.expect("json");
    assert_eq!(health["isHealthy"], true);
    assert_eq!(health["details"]["metastore"]["isHealthy"], true);
    server.shutdown().await;
}

#[tokio::test]
async fn user_mistakes_get_ksqldb_error_bodies() {
    let server = server().await;
    let client = reqwest::Client::new();

    let response = client.post(format!("{}/ksql", server.url())).body("{not json").send().await.expect("sent");
    assert_eq!(response.status().as_u16(), 400);
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["@type"], "generic_error");
    assert_eq!(body["error_code"], 40000);

    let (status, body) = ksql(&server, "CREATE STREAM oops (a INT) WITH (kafka_topic='t' value_format='JSON');").await;
    assert_eq!(status, 400);
    assert_eq!(body["@type"], "statement_error");
    assert_eq!(body["error_code"], 40001);
    assert!(body["message"].as_str().expect("message").starts_with("line 1:"), "{body}");

    let (status, body) = ksql(&server, "DESCRIBE nothing_here;").await;
    assert_eq!((status, body["error_code"].clone()), (400, json!(40001)));
    assert_eq!(body["statementText"], "DESCRIBE nothing_here;");

    let (status, body) = ksql(&server, "SELECT * FROM x EMIT CHANGES;").await;
    assert_eq!((status, body["error_code"].clone()), (400, json!(40002)));

    // Earlier statements of the request stay done and are listed in `entities`.
    let (status, body) =
        ksql(&server, "CREATE STREAM s (k STRING KEY, v INT) WITH (kafka_topic='s', value_format='JSON', partitions=1); DROP STREAM nope;").await;
    assert_eq!(status, 400);
    assert_eq!(body["entities"][0]["@type"], "currentStatus");
    assert_eq!(body["statementText"], "DROP STREAM nope;");

    let response = client.get(format!("{}/no/such/path", server.url())).send().await.expect("sent");
    assert_eq!(response.status().as_u16(), 404);
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["error_code"], 40400);

    let (status, body) = post(&client, format!("{}/close-query", server.url()), json!({"queryId": "transient_X_99"})).await;
    assert_eq!((status, body["error_code"].clone()), (400, json!(40000)));
    server.shutdown().await;
}

#[tokio::test]
async fn statements_return_entities() {
    let server = server().await;
    let (status, body) = ksql(
        &server,
        "CREATE STREAM s (k STRING KEY, v INT) WITH (kafka_topic='s_topic', value_format='JSON', partitions=2);
         CREATE STREAM big AS SELECT * FROM s WHERE v > 10;
         SHOW STREAMS; LIST TOPICS; SHOW QUERIES; DESCRIBE s;",
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let entities = body.as_array().expect("array");
    assert_eq!(entities.len(), 6);
    assert_eq!(entities[0]["@type"], "currentStatus");
    assert_eq!(entities[0]["commandId"], "stream/`S`/create");
    assert_eq!(entities[0]["commandStatus"]["status"], "SUCCESS");
    assert_eq!(entities[0]["commandSequenceNumber"], 1);
    assert_eq!(entities[1]["commandStatus"]["queryId"], "CSAS_BIG_0");
    assert_eq!(entities[1]["commandSequenceNumber"], 2);
    let streams: Vec<&str> = entities[2]["streams"].as_array().expect("streams").iter().map(|s| s["name"].as_str().expect("name")).collect();
    assert_eq!(streams, vec!["BIG", "S"]);
    let topics = &entities[3]["topics"];
    assert!(topics.as_array().expect("topics").iter().any(|t| t["name"] == "s_topic" && t["replicaInfo"] == json!([1, 1])), "{topics}");
    assert_eq!(entities[4]["queries"][0]["id"], "CSAS_BIG_0");
    assert_eq!(entities[4]["queries"][0]["sinks"], json!(["BIG"]));
    let description = &entities[5]["sourceDescription"];
    assert_eq!(description["fields"][0], json!({"name": "K", "schema": {"type": "STRING", "fields": null, "memberSchema": null}, "type": "KEY"}));
    assert_eq!(description["readQueries"][0]["id"], "CSAS_BIG_0");

    let client = reqwest::Client::new();
    let status: Value = client.get(format!("{}/status", server.url())).send().await.expect("sent").json().await.expect("json");
    assert_eq!(status["commandStatuses"]["stream/`S`/create"], "SUCCESS");
    server.shutdown().await;
}

#[tokio::test]
async fn push_query_streams_rows_inserted_after_it_started() {
    let server = server().await;
    let (status, _) = ksql(&server, "CREATE STREAM s (k STRING KEY, v INT) WITH (kafka_topic='s', value_format='JSON', partitions=1);").await;
    assert_eq!(status, 200);
    // Before the query starts: not seen (auto.offset.reset defaults to latest).
    assert_eq!(ksql(&server, "INSERT INTO s (k, v) VALUES ('old', 0);").await.0, 200);

    let client = reqwest::Client::new();
    let response = client
        .post(format!("{}/query", server.url()))
        .json(&json!({"ksql": "SELECT k, v * 2 AS d FROM s WHERE v > 1 EMIT CHANGES LIMIT 2;"}))
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status().as_u16(), 200);
    let reader = tokio::spawn(read_lines(response, 10));
    // The query is registered before the response starts, so these reach it.
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(ksql(&server, "INSERT INTO s (k, v) VALUES ('a', 1); INSERT INTO s (k, v) VALUES ('b', 2);").await.0, 200);
    assert_eq!(ksql(&server, "INSERT INTO s (k, v) VALUES ('c', 3);").await.0, 200);
    let lines = reader.await.expect("reader");
    assert_eq!(lines.len(), 4, "{lines:?}");
    let header: Value = serde_json::from_str(lines[0].trim_start_matches('[').trim_end_matches(',')).expect("header json");
    assert_eq!(header["header"]["schema"], "`K` STRING, `D` INTEGER");
    assert!(header["header"]["queryId"].as_str().expect("id").starts_with("transient_S_"));
    assert_eq!(lines[1], r#"{"row":{"columns":["b",4]}},"#);
    assert_eq!(lines[2], r#"{"row":{"columns":["c",6]}},"#);
    assert_eq!(lines[3], r#"{"finalMessage":"Limit Reached"}]"#);
    server.shutdown().await;
}

#[tokio::test]
async fn http2_prior_knowledge_query_stream_inserts_and_close() {
    let server = server().await;
    assert_eq!(ksql(&server, "CREATE STREAM s (k STRING KEY, v INT) WITH (kafka_topic='s', value_format='JSON', partitions=1);").await.0, 200);
    let h2 = reqwest::Client::builder().http2_prior_knowledge().build().expect("client");

    let response = h2
        .post(format!("{}/inserts-stream", server.url()))
        .body("{\"target\":\"S\"}\n{\"K\":\"a\",\"V\":1}\n{\"k\":\"b\",\"v\":\"not a number\"}\n{\"K\":\"c\",\"V\":3}\n")
        .send()
        .await
        .expect("sent");
    assert_eq!(response.version(), reqwest::Version::HTTP_2);
    let acks: Vec<Value> = read_lines(response, 3).await.iter().map(|l| serde_json::from_str(l).expect("ack json")).collect();
    assert_eq!(acks[0], json!({"status": "ok", "seq": 0}));
    assert_eq!(acks[1]["status"], "error");
    assert_eq!(acks[1]["seq"], 1);
    assert_eq!(acks[2], json!({"status": "ok", "seq": 2}));

    // Delimited (the default): a metadata line, then one array per row.
    let response = h2
        .post(format!("{}/query-stream", server.url()))
        .json(&json!({"sql": "SELECT * FROM s EMIT CHANGES;", "properties": {"auto.offset.reset": "earliest"}}))
        .send()
        .await
        .expect("sent");
    assert_eq!(response.version(), reqwest::Version::HTTP_2);
    assert_eq!(response.headers()["content-type"], "application/vnd.ksqlapi.delimited.v1");
    let mut response = response;
    let mut lines = Vec::new();
    let mut pending = String::new();
    while lines.len() < 3 {
        let chunk = tokio::time::timeout(Duration::from_secs(10), response.chunk()).await.expect("no stall").expect("chunk").expect("open");
        pending.push_str(std::str::from_utf8(&chunk).expect("utf-8"));
        while let Some(end) = pending.find('\n') {
            lines.push(pending.drain(..=end).collect::<String>());
        }
    }
    let metadata: Value = serde_json::from_str(&lines[0]).expect("metadata");
    assert_eq!(metadata["columnNames"], json!(["K", "V"]));
    assert_eq!(metadata["columnTypes"], json!(["STRING", "INTEGER"]));
    assert_eq!(lines[1].trim_end(), r#"["a",1]"#);
    assert_eq!(lines[2].trim_end(), r#"["c",3]"#);

    // The query runs until closed.
    let query_id = metadata["queryId"].as_str().expect("id").to_string();
    let (status, _) = post(&h2, format!("{}/close-query", server.url()), json!({"queryId": query_id})).await;
    assert_eq!(status, 200);
    let end = tokio::time::timeout(Duration::from_secs(10), async {
        while let Some(_chunk) = response.chunk().await.expect("chunk") {}
    })
    .await;
    assert!(end.is_ok(), "the response ends once the query is closed");

    // JSON mode: one array.
    let body: Value = h2
        .post(format!("{}/query-stream", server.url()))
        .header("Accept", "application/json")
        .json(&json!({"sql": "SELECT v FROM s EMIT CHANGES LIMIT 1;", "properties": {"auto.offset.reset": "earliest"}}))
        .send()
        .await
        .expect("sent")
        .json()
        .await
        .expect("one JSON array");
    assert_eq!(body[0]["columnNames"], json!(["V"]));
    assert_eq!(body[1], json!([1]));
    server.shutdown().await;
}

#[tokio::test]
async fn pull_queries_say_what_is_missing() {
    let server = server().await;
    assert_eq!(ksql(&server, "CREATE TABLE t (k STRING PRIMARY KEY, v INT) WITH (kafka_topic='t', value_format='JSON', partitions=1);").await.0, 200);
    let (status, body) = post(&reqwest::Client::new(), format!("{}/query", server.url()), json!({"ksql": "SELECT * FROM t;"})).await;
    assert_eq!(status, 400);
    assert_eq!(body["@type"], "statement_error");
    assert!(body["message"].as_str().expect("message").contains("EMIT CHANGES"), "{body}");
    server.shutdown().await;
}
