//! Runs the `runnel` binary against an in-test server speaking ksqlDB's documented REST shapes,
//! and checks both what the CLI sends and what it prints.

mod support;

use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::json;
use support::MockKsqlServer;

fn scratch_path(name: &str) -> PathBuf {
    static COUNTER: AtomicUsize = AtomicUsize::new(0);
    let n = COUNTER.fetch_add(1, Ordering::SeqCst);
    std::env::temp_dir().join(format!("runnel-cli-test-{}-{n}-{name}", std::process::id()))
}

fn cli(args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_runnel"));
    command.args(args).env("RUNNEL_HISTORY_FILE", scratch_path("history"));
    command
}

fn run(args: &[&str], stdin: &str) -> Output {
    let mut child =
        cli(args).stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("start runnel");
    child.stdin.take().expect("stdin").write_all(stdin.as_bytes()).expect("write stdin");
    child.wait_with_output().expect("runnel output")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn execute_flag_runs_statements_and_renders_entities() {
    let server = MockKsqlServer::start();
    let output = run(
        &[
            &server.url,
            "-e",
            "SHOW STREAMS; CREATE STREAM S (A INT) WITH (kafka_topic='s', value_format='json');\nDESCRIBE PAGEVIEWS;",
        ],
        "",
    );
    let stdout = text(&output.stdout);
    assert!(output.status.success(), "stdout:\n{stdout}\nstderr:\n{}", text(&output.stderr));
    for expected in [
        " Stream Name | Kafka Topic | Key Format | Value Format | Windowed\n",
        " PAGEVIEWS   | pageviews   | KAFKA      | JSON         | false\n",
        " Message\n----------------\n Stream created\n----------------\n",
        "Name                 : PAGEVIEWS\n",
        " USERID   | VARCHAR(STRING)  (key)\n",
        " VIEWTIME | BIGINT\n",
    ] {
        assert!(stdout.contains(expected), "missing {expected:?} in\n{stdout}");
    }
    // One statement per request, in order, with ksqlDB's media type.
    assert_eq!(
        server.statements_sent_to("/ksql"),
        vec![
            "SHOW STREAMS;",
            "CREATE STREAM S (A INT) WITH (kafka_topic='s', value_format='json');",
            // Source names are refreshed for completion after a CREATE.
            "SHOW STREAMS;",
            "SHOW TABLES;",
            "DESCRIBE PAGEVIEWS;",
        ]
    );
    let requests = server.requests();
    let ksql: Vec<_> = requests.iter().filter(|r| r.path == "/ksql").collect();
    assert_eq!(ksql[0].header("content-type"), Some("application/vnd.ksql.v1+json"));
    assert_eq!(ksql[0].header("accept"), Some("application/vnd.ksql.v1+json"));
    // The CREATE's command sequence number is sent with the next statement.
    assert_eq!(ksql[0].json().get("commandSequenceNumber"), None);
    assert_eq!(ksql[4].json()["commandSequenceNumber"], json!(7));
    assert_eq!(requests[0].path, "/info");
}

#[test]
fn set_and_define_are_client_side_and_push_query_rows_stream() {
    let server = MockKsqlServer::start();
    let output = run(
        &[
            &server.url,
            "-e",
            "SET 'auto.offset.reset' = 'earliest'; DEFINE src = 'PAGEVIEWS';\n\
             SELECT * FROM ${src} EMIT CHANGES LIMIT 2; UNSET 'auto.offset.reset'; SHOW VARIABLES;",
        ],
        "",
    );
    let stdout = text(&output.stdout);
    assert!(output.status.success(), "stdout:\n{stdout}\nstderr:\n{}", text(&output.stderr));
    let queries: Vec<_> = server.requests().into_iter().filter(|r| r.path == "/query").collect();
    assert_eq!(queries.len(), 1);
    assert_eq!(
        queries[0].json(),
        json!({"ksql": "SELECT * FROM PAGEVIEWS EMIT CHANGES LIMIT 2;", "streamsProperties": {"auto.offset.reset": "earliest"}})
    );
    // SET was checked with the server, DEFINE/UNSET/SHOW VARIABLES never left the client.
    assert!(server.requests().iter().any(|r| r.path == "/is_valid_property/auto.offset.reset"));
    assert!(server.statements_sent_to("/ksql").is_empty());
    for expected in [
        "Successfully changed local property 'auto.offset.reset' to 'earliest'.",
        "|USERID                   |PAGEID                   |VIEWTIME                 |\n",
        "|u1                       |p1                       |1                        |\n",
        "|u2                       |p2                       |2                        |\n",
        "Limit Reached\nQuery terminated\n",
        "Successfully unset local property 'auto.offset.reset' (value was 'earliest').",
        " Variable Name | Value\n",
        " src           | PAGEVIEWS\n",
    ] {
        assert!(stdout.contains(expected), "missing {expected:?} in\n{stdout}");
    }
}

#[test]
fn server_errors_are_shown_and_stop_the_batch() {
    let server = MockKsqlServer::start();
    let output = run(&[&server.url, "-e", "CREATE STREAM BAD;\nSHOW STREAMS;"], "");
    assert!(!output.status.success());
    let stderr = text(&output.stderr);
    assert!(
        stderr.contains("Error 40001: line 1:1: Syntax error at or near 'CREATE'\nStatement: CREATE STREAM BAD;"),
        "{stderr}"
    );
    // The statement after the failing one was not sent.
    assert_eq!(server.statements_sent_to("/ksql"), vec!["CREATE STREAM BAD;"]);

    let output = run(&[&server.url, "-e", "SELECT * FROM NO_SUCH_STREAM EMIT CHANGES;"], "");
    assert!(!output.status.success());
    assert!(text(&output.stderr).contains("Error 40001: NO_SUCH_STREAM does not exist."));

    let output = run(&[&server.url, "-e", "SELECT * FROM FAILING EMIT CHANGES;"], "");
    assert!(!output.status.success());
    assert!(text(&output.stderr).contains("Error 50000: Query failed: deserialization error"));
    assert!(text(&output.stdout).contains("Query terminated"));

    let output = run(&[&server.url, "-e", "SET 'no.such.property' = 'x';"], "");
    assert!(!output.status.success());
    assert!(text(&output.stderr).contains("Error 40000: Not recognizable as ksql"), "{}", text(&output.stderr));

    let output = run(&[&server.url, "-e", "SELECT ${undefined_var} FROM S;"], "");
    assert!(!output.status.success());
    assert!(text(&output.stderr).contains("Undefined variable: 'undefined_var'"), "{}", text(&output.stderr));
}

#[test]
fn script_file_with_run_script_comments_and_quoted_semicolons() {
    let server = MockKsqlServer::start();
    let inner = scratch_path("inner.sql");
    std::fs::write(&inner, "-- inner script; with a semicolon in a comment\nSHOW QUERIES;\n").expect("write inner");
    let outer = scratch_path("outer.sql");
    std::fs::write(
        &outer,
        format!(
            "/* header; comment */\nDEFINE topic = 's;t';\nCREATE STREAM S (A INT)\n  WITH (kafka_topic='${{topic}}', value_format='json');\nRUN SCRIPT '{}';\n",
            inner.display()
        ),
    )
    .expect("write outer");
    let output = run(&[&server.url, "-f", outer.to_str().expect("utf-8 path")], "");
    let stdout = text(&output.stdout);
    assert!(output.status.success(), "stdout:\n{stdout}\nstderr:\n{}", text(&output.stderr));
    let sent = server.statements_sent_to("/ksql");
    assert_eq!(sent[0], "CREATE STREAM S (A INT)\n  WITH (kafka_topic='s;t', value_format='json');");
    assert_eq!(sent.last().map(String::as_str), Some("SHOW QUERIES;"));
    assert!(stdout.contains(" CSAS_PV2_3 | PERSISTENT | RUNNING:1 |"), "{stdout}");
}

#[test]
fn json_output_prints_entities_and_rows_as_json() {
    let server = MockKsqlServer::start();
    let output = run(
        &[&server.url, "--output", "JSON", "-e", "SHOW STREAMS; SELECT * FROM PAGEVIEWS EMIT CHANGES LIMIT 2;"],
        "",
    );
    let stdout = text(&output.stdout);
    assert!(output.status.success(), "{stdout}");
    assert!(stdout.contains("\"@type\": \"streams\""), "{stdout}");
    assert!(stdout.contains("{\"row\":{\"columns\":[\"u1\",\"p1\",1]}}\n"), "{stdout}");
}

#[test]
fn basic_auth_is_sent() {
    let server = MockKsqlServer::start_on("127.0.0.1:0", Some(("alice", "s3cret")));
    let output = run(&[&server.url, "--user", "alice", "--password", "s3cret", "-e", "SHOW STREAMS;"], "");
    assert!(output.status.success(), "{}", text(&output.stderr));
    let output = run(&[&server.url, "--user", "alice", "--password", "wrong", "-e", "SHOW STREAMS;"], "");
    assert!(!output.status.success());
    assert!(text(&output.stderr).contains("Error 40100: Unauthorized"), "{}", text(&output.stderr));
}

#[test]
fn print_streams_topic_lines() {
    let server = MockKsqlServer::start();
    let output = run(&[&server.url, "-e", "PRINT 'pageviews' FROM BEGINNING LIMIT 2;"], "");
    let stdout = text(&output.stdout);
    assert!(output.status.success(), "{stdout}");
    assert!(
        stdout.contains(
            "Key format: KAFKA_STRING\nValue format: JSON or KAFKA_STRING\n\
         rowtime: 2024/01/01 00:00:00.000 Z, key: u1, value: {\"PAGEID\":\"p1\"}, partition: 0\n\
         rowtime: 2024/01/01 00:00:01.000 Z, key: u2, value: {\"PAGEID\":\"p2\"}, partition: 0\n"
        ),
        "{stdout}"
    );
    assert_eq!(server.statements_sent_to("/query"), vec!["PRINT 'pageviews' FROM BEGINNING LIMIT 2;"]);
}

#[test]
fn unreachable_server_is_named_and_the_repl_keeps_running() {
    // A port nothing listens on: bind, note the port, close.
    let port = std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("free port").port();
    let url = format!("http://127.0.0.1:{port}");
    let output = run(&[&url, "-e", "SHOW STREAMS;"], "");
    assert!(!output.status.success());
    assert!(
        text(&output.stderr).contains(&format!("Could not reach the server at {url} (/info)")),
        "{}",
        text(&output.stderr)
    );

    // Interactive: the error block, then the prompt still works (help) until exit.
    let output = run(&[&url], "help\nSHOW STREAMS;\nexit\n");
    let stdout = text(&output.stdout);
    assert!(output.status.success());
    assert!(stdout.contains(&format!("Remote server at {url} does not appear to be a valid server")), "{stdout}");
    assert!(stdout.contains("CLI commands (no ';' needed):"), "{stdout}");
    assert!(text(&output.stderr).contains(&format!("Could not reach the server at {url} (/ksql)")));
    assert!(stdout.contains("Exiting runnel."), "{stdout}");
}

#[test]
fn interactive_multi_line_statements_commands_and_history() {
    let server = MockKsqlServer::start();
    let history = scratch_path("history-interactive");
    let mut child = cli(&[&server.url])
        .env("RUNNEL_HISTORY_FILE", &history)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start runnel");
    let input = "show\n  streams -- not yet; still the same statement\n;\noutput json\nSHOW TABLES;\noutput\nquit\n";
    child.stdin.take().expect("stdin").write_all(input.as_bytes()).expect("write stdin");
    let output = child.wait_with_output().expect("output");
    let stdout = text(&output.stdout);
    assert!(output.status.success(), "{stdout}");
    assert!(stdout.contains("runnel CLI v0.1.0, Server v0.29.0 located at"), "{stdout}");
    assert!(stdout.contains(" PAGEVIEWS   | pageviews"), "{stdout}");
    assert!(stdout.contains("Output format set to JSON"), "{stdout}");
    assert!(stdout.contains("\"@type\": \"tables\""), "{stdout}");
    assert!(stdout.contains("Output format: JSON"), "{stdout}");
    let sent = server.statements_sent_to("/ksql");
    assert!(sent.contains(&"show\n  streams -- not yet; still the same statement\n;".to_string()), "{sent:?}");
    let saved = std::fs::read_to_string(&history).expect("history file written");
    assert!(saved.contains("output json"), "{saved}");
    assert!(saved.contains("SHOW TABLES;"), "{saved}");
}

/// Reads a child's stdout on a thread so the test can wait for text to appear.
fn collect_stdout(child: &mut Child) -> Arc<Mutex<String>> {
    let collected = Arc::new(Mutex::new(String::new()));
    let sink = Arc::clone(&collected);
    let mut stdout = child.stdout.take().expect("stdout");
    thread::spawn(move || {
        let mut buffer = [0u8; 4096];
        while let Ok(n) = stdout.read(&mut buffer) {
            if n == 0 {
                break;
            }
            sink.lock().expect("stdout buffer").push_str(&String::from_utf8_lossy(&buffer[..n]));
        }
    });
    collected
}

fn wait_for(collected: &Mutex<String>, needle: &str) -> bool {
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(15) {
        if collected.lock().expect("stdout buffer").contains(needle) {
            return true;
        }
        thread::sleep(Duration::from_millis(50));
    }
    false
}

#[test]
fn ctrl_c_closes_the_push_query_but_not_the_repl() {
    let server = MockKsqlServer::start();
    let mut child = cli(&[&server.url])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start runnel");
    let stdout = collect_stdout(&mut child);
    let mut stdin = child.stdin.take().expect("stdin");
    stdin.write_all(b"SELECT * FROM PAGEVIEWS EMIT CHANGES;\n").expect("write");
    assert!(wait_for(&stdout, "|u2 "), "rows never arrived:\n{}", stdout.lock().expect("buffer"));
    let status = Command::new("kill").args(["-INT", &child.id().to_string()]).status().expect("kill -INT");
    assert!(status.success());
    assert!(wait_for(&stdout, "Query terminated"), "{}", stdout.lock().expect("buffer"));
    // The server saw the stream closed.
    let started = Instant::now();
    while !server.log.lock().expect("log").push_query_closed_by_client && started.elapsed() < Duration::from_secs(5) {
        thread::sleep(Duration::from_millis(50));
    }
    assert!(server.log.lock().expect("log").push_query_closed_by_client);
    // The REPL is still there.
    stdin.write_all(b"SHOW STREAMS;\nexit\n").expect("write");
    drop(stdin);
    let status = child.wait().expect("exit");
    assert!(status.success());
    let out = stdout.lock().expect("buffer").clone();
    assert!(out.contains(" PAGEVIEWS   | pageviews"), "{out}");
    assert!(out.contains("Exiting runnel."), "{out}");
    // The interrupted query was also closed by id.
    assert!(server
        .requests()
        .iter()
        .any(|r| r.path == "/close-query" && r.json()["queryId"] == "transient_PAGEVIEWS_1"));
}

#[test]
fn query_row_limit_and_timeout_end_queries() {
    let server = MockKsqlServer::start();
    let output = run(&[&server.url, "--query-row-limit", "3", "-e", "SELECT * FROM PAGEVIEWS EMIT CHANGES;"], "");
    let stdout = text(&output.stdout);
    assert!(output.status.success(), "{stdout}");
    assert!(stdout.contains("|u3 ") && !stdout.contains("|u4 "), "{stdout}");
    assert!(stdout.contains("Limit Reached\nQuery terminated"), "{stdout}");

    let output = run(&[&server.url, "--query-timeout", "500", "-e", "SELECT * FROM PAGEVIEWS EMIT CHANGES;"], "");
    let stdout = text(&output.stdout);
    assert!(output.status.success(), "{stdout}");
    assert!(stdout.contains("Query timed out\nQuery terminated"), "{stdout}");
}
