//! Syntax errors point at the offending token (1-based line:column) and read like ksqlDB's.

use runnel_parser::{parse_expr, parse_statement, parse_statements, Location};

fn error_at(sql: &str) -> (Location, String) {
    let error = parse_statements(sql).expect_err(sql);
    (error.location, error.to_string())
}

#[test]
fn parenthesized_key_constraint_fails_like_ksqldb() {
    // ksqlDB reads `(` after a type as the start of type parameters, so (as in the QTT corpus,
    // key-schemas.json) the error is at `KEY`, right after the `(`.
    let (location, text) = error_at("CREATE STREAM INPUT (K STRING (KEY))");
    assert_eq!(location, Location { line: 1, column: 32 });
    assert!(text.starts_with("line 1:32: Syntax Error\nExpecting {'STRING', INTEGER_VALUE}"), "{text}");
    let (location, text) = error_at(
        "CREATE STREAM INPUT (K VARCHAR(STRING) (KEY)) WITH (kafka_topic='input',value_format='JSON');",
    );
    assert_eq!(location, Location { line: 1, column: 40 });
    assert!(text.starts_with("line 1:40: Syntax Error\nExpecting {',', ')'}"), "{text}");
    let (location, _) = error_at("SELECT CAST(f0 AS NULL) FROM s");
    assert_eq!(location, Location { line: 1, column: 19 });
}

#[test]
fn error_in_a_later_statement_uses_script_positions() {
    let (location, _) = error_at("SHOW STREAMS;\nSELECT a +\n  FROM s;");
    assert_eq!(location, Location { line: 3, column: 3 });
}

#[test]
fn unknown_statement_is_reported_at_its_keyword() {
    let (location, text) = error_at("  FROB things");
    assert_eq!(location, Location { line: 1, column: 3 });
    assert!(text.contains("Unknown statement 'FROB'"), "{text}");
}

#[test]
fn missing_tokens_at_end_of_input_point_past_the_last_token() {
    let (location, text) = error_at("SELECT * FROM");
    assert_eq!(location, Location { line: 1, column: 14 });
    assert!(text.contains("end of input"), "{text}");
}

#[test]
fn bad_window_and_durations() {
    let (location, _) = error_at("SELECT * FROM s WINDOW TUMBLING (SIZE 10 FORTNIGHTS) GROUP BY x");
    assert_eq!(location, Location { line: 1, column: 42 });
    let (location, _) = error_at("SELECT * FROM s WINDOW SLIDING (SIZE 10 SECONDS)");
    assert_eq!(location, Location { line: 1, column: 24 });
}

#[test]
fn trailing_garbage_and_bad_literals() {
    let (location, _) = error_at("DROP STREAM s EXTRA");
    assert_eq!(location, Location { line: 1, column: 15 });
    let (location, _) = error_at("CREATE STREAM s (a INT) WITH (kafka_topic=topic)");
    assert_eq!(location, Location { line: 1, column: 43 });
    let (location, _) = error_at("SELECT 'unterminated FROM s");
    assert_eq!(location.line, 1);
    let error = parse_expr("a +").expect_err("incomplete");
    assert!(error.to_string().starts_with("line 1:"), "{error}");
}

#[test]
fn deep_nesting_is_an_error_not_a_crash() {
    let deep = format!("SELECT {}1{} FROM s", "(".repeat(5000), ")".repeat(5000));
    assert!(parse_statement(&deep).is_err());
    let deep_type = format!("CREATE TYPE t AS {}INT{}", "ARRAY<".repeat(5000), ">".repeat(5000));
    assert!(parse_statement(&deep_type).is_err());
}

#[test]
fn long_operator_chains_do_not_overflow_the_stack() {
    let plus = format!("SELECT {} FROM s", vec!["1"; 20_000].join(" + "));
    let _ = parse_statement(&plus);
    let arrows = format!("SELECT a{} FROM s", "->f".repeat(20_000));
    let _ = parse_statement(&arrows);
    let subscripts = format!("SELECT a{} FROM s", "[1]".repeat(20_000));
    let _ = parse_statement(&subscripts);
}

#[test]
fn long_but_reasonable_chains_parse_and_round_trip() {
    let sql = format!("SELECT {} FROM s", vec!["a->f[1]"; 300].join(" + "));
    let statement = parse_statement(&sql).expect("900 operators are fine");
    assert_eq!(parse_statement(&statement.to_string()).expect("reparses"), statement);
    let error = parse_statement(&format!("SELECT {} FROM s", vec!["1"; 1002].join(" + "))).expect_err("too many");
    assert!(error.message.contains("too complex"), "{error}");
}
