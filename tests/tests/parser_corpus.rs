//! Parses every statement of the ksqlDB QTT and RQTT corpora (`../shared/ksql-tests`) and
//! round-trips each through `Display`.

use std::path::{Path, PathBuf};

use runnel_parser::{parse_statement, parse_statements};
use runnel_tests::qtt::load::strip_comments;
use serde_json::Value;

/// One statement string of a test case, and whether the case expects a syntax error.
struct CorpusStatement {
    origin: String,
    sql: String,
    may_fail: bool,
}

fn shared_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared");
    assert!(
        dir.join("ksql-tests").is_dir(),
        "shared test corpus not found at {} (expected the `shared` directory next to the workspace root)",
        dir.display()
    );
    dir
}

fn expects_syntax_error(case: &Value) -> bool {
    let exception_type = case["expectedException"]["type"].as_str().unwrap_or("");
    let error_message = case["expectedError"]["message"].as_str().unwrap_or("");
    let exception_message = case["expectedException"]["message"].as_str().unwrap_or("");
    exception_type.ends_with("ParseFailedException")
        || error_message.contains("Syntax")
        || exception_message.contains("Syntax error")
}

fn corpus_statements() -> Vec<CorpusStatement> {
    let shared = shared_dir();
    let mut statements = Vec::new();
    for corpus in ["qtt", "rqtt"] {
        let mut files: Vec<_> = std::fs::read_dir(shared.join("ksql-tests").join(corpus))
            .expect("corpus directory is readable")
            .map(|entry| entry.expect("directory entry").path())
            .filter(|path| path.extension().is_some_and(|e| e == "json"))
            .collect();
        files.sort();
        for file in files {
            let text = std::fs::read_to_string(&file).expect("corpus file is readable");
            let json: Value = serde_json::from_str(&strip_comments(&text))
                .unwrap_or_else(|e| panic!("{}: invalid JSON: {e}", file.display()));
            let file_name = file.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            for case in json["tests"].as_array().into_iter().flatten() {
                let format = case["format"][0].as_str().unwrap_or("JSON");
                let may_fail = expects_syntax_error(case);
                let name = case["name"].as_str().unwrap_or("?");
                for sql in case["statements"].as_array().into_iter().flatten() {
                    let sql = sql.as_str().unwrap_or_default().replace("{FORMAT}", format);
                    statements.push(CorpusStatement {
                        origin: format!("{corpus}/{file_name} :: {name}"),
                        sql,
                        may_fail,
                    });
                }
            }
        }
    }
    statements
}

#[test]
fn every_corpus_statement_parses_and_round_trips() {
    let statements = corpus_statements();
    assert!(statements.len() > 1000, "corpus looks truncated: {} statements", statements.len());
    let mut unexpected_failures = Vec::new();
    let mut expected_failures = 0;
    let mut round_trip_failures = Vec::new();
    let mut parsed_count = 0;
    for stmt in &statements {
        match parse_statements(&stmt.sql) {
            Ok(parsed) => {
                for p in parsed {
                    parsed_count += 1;
                    let displayed = p.statement.to_string();
                    match parse_statement(&displayed) {
                        Ok(again) if again == p.statement => {}
                        Ok(again) => round_trip_failures.push(format!(
                            "{}\n  sql:       {}\n  displayed: {displayed}\n  reparsed:  {again}",
                            stmt.origin, stmt.sql
                        )),
                        Err(e) => round_trip_failures.push(format!(
                            "{}\n  sql:       {}\n  displayed: {displayed}\n  error: {e}",
                            stmt.origin, stmt.sql
                        )),
                    }
                }
            }
            Err(_) if stmt.may_fail => expected_failures += 1,
            Err(e) => unexpected_failures.push(format!("{}\n  sql: {}\n  {e}", stmt.origin, stmt.sql)),
        }
    }
    println!(
        "corpus: {} statement strings, {parsed_count} statements parsed, {expected_failures} expected syntax errors, {} unexpected failures, {} round-trip failures",
        statements.len(),
        unexpected_failures.len(),
        round_trip_failures.len()
    );
    for failure in unexpected_failures.iter().chain(&round_trip_failures) {
        println!("{failure}\n");
    }
    assert!(unexpected_failures.is_empty(), "{} corpus statements failed to parse", unexpected_failures.len());
    assert!(round_trip_failures.is_empty(), "{} statements did not round-trip", round_trip_failures.len());
}
