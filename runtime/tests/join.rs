//! Joins driven through `Pipeline` directly: the results of each kind of join, and that a
//! join restored from its changelogs mid-stream continues exactly like an uninterrupted run.

mod support;

use runnel_runtime::pipeline::Pipeline;
use runnel_runtime::topic::TopicRecord;
use support::{compile, text};

/// An input record for topic `topic`: key text, JSON value (`None`: a tombstone), timestamp.
fn record(topic: &str, key: &str, value: Option<&str>, timestamp: i64) -> (String, TopicRecord) {
    let record = TopicRecord {
        key: Some(key.as_bytes().to_vec()),
        value: value.map(|v| v.as_bytes().to_vec()),
        timestamp,
        ..TopicRecord::default()
    };
    (topic.to_string(), record)
}

fn feed(pipeline: &mut Pipeline, input: &(String, TopicRecord)) -> runnel_runtime::pipeline::PipelineOutput {
    let index = pipeline.input_topics().iter().position(|t| *t == input.0).expect("an input topic of the query");
    let mut errors = Vec::new();
    let out = pipeline.process_input(index, std::slice::from_ref(&input.1), &mut errors).expect("runs");
    assert!(errors.is_empty(), "{errors:?}");
    out
}

/// The output of an uninterrupted run over `inputs`.
fn run(sql: &str, inputs: &[(String, TopicRecord)]) -> Vec<TopicRecord> {
    let mut pipeline = compile(sql);
    inputs.iter().flat_map(|r| feed(&mut pipeline, r).sink).collect()
}

/// Runs the first `split` inputs, drops the query, restores a new one from the changelog
/// records written so far and runs the rest: the output must equal an uninterrupted run's.
fn assert_restore_matches(sql: &str, inputs: &[(String, TopicRecord)], split: usize) {
    let expected = run(sql, inputs);
    let mut first = compile(sql);
    let mut changelog: Vec<(String, TopicRecord)> = Vec::new();
    let mut produced = Vec::new();
    for r in &inputs[..split] {
        let out = feed(&mut first, r);
        produced.extend(out.sink);
        changelog.extend(out.internal);
    }
    drop(first);
    let mut restored = compile(sql);
    for topic in restored.internal_topics() {
        let records: Vec<TopicRecord> = changelog.iter().filter(|(t, _)| *t == topic).map(|(_, r)| r.clone()).collect();
        restored.restore(&topic, &records).expect("restores");
    }
    for r in &inputs[split..] {
        produced.extend(feed(&mut restored, r).sink);
    }
    assert_eq!(text(&produced), text(&expected), "restored after {split} inputs");
}

const STREAM_TABLE: &str = "CREATE STREAM S (K STRING KEY, V INT) WITH (kafka_topic='s', value_format='JSON');
    CREATE TABLE T (K STRING PRIMARY KEY, NAME STRING) WITH (kafka_topic='t', value_format='JSON');
    CREATE STREAM OUT AS SELECT S.K, V, NAME FROM S LEFT JOIN T ON S.K = T.K;";

fn stream_table_inputs() -> Vec<(String, TopicRecord)> {
    vec![
        record("t", "a", Some(r#"{"NAME": "alpha"}"#), 1),
        record("s", "a", Some(r#"{"V": 1}"#), 2),
        record("s", "b", Some(r#"{"V": 2}"#), 3),
        record("t", "b", Some(r#"{"NAME": "beta"}"#), 4),
        record("s", "b", Some(r#"{"V": 3}"#), 5),
        record("t", "a", None, 6),
        record("s", "a", Some(r#"{"V": 4}"#), 7),
    ]
}

#[test]
fn stream_table_join_looks_up_the_table_as_of_each_stream_record() {
    let out = run(STREAM_TABLE, &stream_table_inputs());
    let expected = vec![
        ("a".to_string(), Some(r#"{"V":1,"NAME":"alpha"}"#.to_string()), 2),
        ("b".to_string(), Some(r#"{"V":2,"NAME":null}"#.to_string()), 3),
        ("b".to_string(), Some(r#"{"V":3,"NAME":"beta"}"#.to_string()), 5),
        ("a".to_string(), Some(r#"{"V":4,"NAME":null}"#.to_string()), 7),
    ];
    assert_eq!(text(&out), expected);
}

#[test]
fn restored_stream_table_join_continues_like_an_uninterrupted_run() {
    let inputs = stream_table_inputs();
    for split in 1..inputs.len() {
        assert_restore_matches(STREAM_TABLE, &inputs, split);
    }
}

const STREAM_STREAM: &str = "CREATE STREAM L (K STRING KEY, A INT) WITH (kafka_topic='l', value_format='JSON');
    CREATE STREAM R (K STRING KEY, B INT) WITH (kafka_topic='r', value_format='JSON');
    CREATE STREAM OUT AS SELECT ROWKEY AS K, A, B FROM L FULL OUTER JOIN R WITHIN 10 SECONDS GRACE PERIOD 5 SECONDS ON L.K = R.K;";

fn stream_stream_inputs() -> Vec<(String, TopicRecord)> {
    vec![
        record("l", "a", Some(r#"{"A": 1}"#), 1_000),
        record("r", "a", Some(r#"{"B": 10}"#), 5_000),
        record("l", "b", Some(r#"{"A": 2}"#), 6_000),
        record("r", "c", Some(r#"{"B": 30}"#), 7_000),
        record("l", "a", Some(r#"{"A": 3}"#), 12_000),
        record("r", "a", Some(r#"{"B": 11}"#), 30_000),
        record("l", "d", Some(r#"{"A": 4}"#), 31_000),
        record("l", "e", Some(r#"{"A": 5}"#), 60_000),
    ]
}

#[test]
fn stream_stream_outer_join_emits_unmatched_rows_when_their_window_closes() {
    let out = run(STREAM_STREAM, &stream_stream_inputs());
    let expected = vec![
        ("a".to_string(), Some(r#"{"A":1,"B":10}"#.to_string()), 5_000),
        ("a".to_string(), Some(r#"{"A":3,"B":10}"#.to_string()), 12_000),
        // At 30s the windows of b (6s + 10s + 5s grace) and c have closed, in time order.
        ("b".to_string(), Some(r#"{"A":2,"B":null}"#.to_string()), 6_000),
        ("c".to_string(), Some(r#"{"A":null,"B":30}"#.to_string()), 7_000),
        // At 60s the later rows' windows have closed too.
        ("a".to_string(), Some(r#"{"A":null,"B":11}"#.to_string()), 30_000),
        ("d".to_string(), Some(r#"{"A":4,"B":null}"#.to_string()), 31_000),
    ];
    assert_eq!(text(&out), expected);
}

#[test]
fn restored_stream_stream_join_continues_like_an_uninterrupted_run() {
    let inputs = stream_stream_inputs();
    for split in 1..inputs.len() {
        assert_restore_matches(STREAM_STREAM, &inputs, split);
    }
}

#[test]
fn restored_table_joins_continue_like_an_uninterrupted_run() {
    let table_table = "CREATE TABLE L (K STRING PRIMARY KEY, A INT) WITH (kafka_topic='l', value_format='JSON');
        CREATE TABLE R (K STRING PRIMARY KEY, B INT) WITH (kafka_topic='r', value_format='JSON');
        CREATE TABLE OUT AS SELECT L.K, A, B FROM L LEFT JOIN R ON L.K = R.K;";
    let inputs = vec![
        record("l", "a", Some(r#"{"A": 1}"#), 1),
        record("r", "a", Some(r#"{"B": 10}"#), 2),
        record("r", "b", Some(r#"{"B": 20}"#), 3),
        record("l", "b", Some(r#"{"A": 2}"#), 4),
        record("r", "a", None, 5),
        record("l", "b", None, 6),
        record("l", "a", Some(r#"{"A": 3}"#), 7),
    ];
    for split in 1..inputs.len() {
        assert_restore_matches(table_table, &inputs, split);
    }

    let foreign_key = "CREATE TABLE L (K STRING PRIMARY KEY, FK STRING, A INT) WITH (kafka_topic='l', value_format='JSON');
        CREATE TABLE R (K STRING PRIMARY KEY, B INT) WITH (kafka_topic='r', value_format='JSON');
        CREATE TABLE OUT AS SELECT L.K, A, B FROM L JOIN R ON L.FK = R.K;";
    let inputs = vec![
        record("r", "x", Some(r#"{"B": 10}"#), 1),
        record("l", "1", Some(r#"{"FK": "x", "A": 1}"#), 2),
        record("l", "2", Some(r#"{"FK": "x", "A": 2}"#), 3),
        record("r", "x", Some(r#"{"B": 11}"#), 4),
        record("l", "1", Some(r#"{"FK": "y", "A": 3}"#), 5),
        record("r", "y", Some(r#"{"B": 30}"#), 6),
        record("r", "x", None, 7),
    ];
    let out = run(foreign_key, &inputs);
    let expected = vec![
        ("1".to_string(), Some(r#"{"A":1,"B":10}"#.to_string()), 2),
        ("2".to_string(), Some(r#"{"A":2,"B":10}"#.to_string()), 3),
        ("1".to_string(), Some(r#"{"A":1,"B":11}"#.to_string()), 4),
        ("2".to_string(), Some(r#"{"A":2,"B":11}"#.to_string()), 4),
        ("1".to_string(), None, 5),
        ("1".to_string(), Some(r#"{"A":3,"B":30}"#.to_string()), 6),
        ("2".to_string(), None, 7),
    ];
    assert_eq!(text(&out), expected);
    for split in 1..inputs.len() {
        assert_restore_matches(foreign_key, &inputs, split);
    }
}

#[test]
fn an_extra_on_condition_filters_matches() {
    let sql = "CREATE STREAM S (K STRING KEY, V INT) WITH (kafka_topic='s', value_format='JSON');
        CREATE TABLE T (K STRING PRIMARY KEY, LIMIT_V INT) WITH (kafka_topic='t', value_format='JSON');
        CREATE STREAM OUT AS SELECT S.K, V, LIMIT_V FROM S LEFT JOIN T ON S.K = T.K AND S.V < T.LIMIT_V;";
    let inputs = vec![
        record("t", "a", Some(r#"{"LIMIT_V": 5}"#), 1),
        record("s", "a", Some(r#"{"V": 1}"#), 2),
        record("s", "a", Some(r#"{"V": 9}"#), 3),
    ];
    let expected = vec![
        ("a".to_string(), Some(r#"{"V":1,"LIMIT_V":5}"#.to_string()), 2),
        ("a".to_string(), Some(r#"{"V":9,"LIMIT_V":null}"#.to_string()), 3),
    ];
    assert_eq!(text(&run(sql, &inputs)), expected);
}
