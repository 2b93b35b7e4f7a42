//! Aggregations driven through `Pipeline` directly: restoring state from the changelog
//! continues exactly like an uninterrupted run, and EMIT FINAL windows close on wall-clock
//! time when asked.

mod support;

use runnel_runtime::topic::TopicRecord;
use support::{compile, text};

fn record(key: &str, value: &str, timestamp: i64, offset: i64) -> TopicRecord {
    TopicRecord {
        key: Some(key.as_bytes().to_vec()),
        value: Some(value.as_bytes().to_vec()),
        timestamp,
        offset,
        ..TopicRecord::default()
    }
}

fn inputs() -> Vec<TopicRecord> {
    let keys = ["a", "b", "a", "c", "b", "a", "c", "c", "a", "b"];
    keys.iter().enumerate().map(|(i, k)| record(k, &format!("{{\"V\": {i}}}"), 1000 * i as i64, i as i64)).collect()
}

/// Runs the first `split` inputs, "kills" the query, restores a new one from the changelog
/// and runs the rest: its results must equal the uninterrupted run's.
fn assert_restore_matches(sql: &str, split: usize) {
    let all = inputs();
    let mut errors = Vec::new();
    let mut straight = compile(sql);
    let expected: Vec<TopicRecord> = all.iter().flat_map(|r| straight.process(std::slice::from_ref(r), &mut errors).expect("runs").sink).collect();

    let mut first = compile(sql);
    let mut changelog: Vec<(String, TopicRecord)> = Vec::new();
    let mut produced = Vec::new();
    for r in &all[..split] {
        let out = first.process(std::slice::from_ref(r), &mut errors).expect("runs");
        produced.extend(out.sink);
        changelog.extend(out.internal);
    }
    assert!(!changelog.is_empty(), "state writes produce changelog records");
    drop(first);
    let mut restored = compile(sql);
    for topic in restored.internal_topics() {
        let records: Vec<TopicRecord> = changelog.iter().filter(|(t, _)| *t == topic).map(|(_, r)| r.clone()).collect();
        restored.restore(&topic, &records).expect("restores");
    }
    for r in &all[split..] {
        produced.extend(restored.process(std::slice::from_ref(r), &mut errors).expect("runs").sink);
    }
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(text(&produced), text(&expected));
}

#[test]
fn restored_aggregate_continues_like_an_uninterrupted_run() {
    let sql = "CREATE STREAM S (K STRING KEY, V INT) WITH (kafka_topic='s', value_format='JSON');
        CREATE TABLE T AS SELECT K, COUNT(*) AS C, SUM(V) AS TOTAL, AVG(V) AS MEAN, COLLECT_LIST(V) AS L,
          MAX(V) AS TOP, LATEST_BY_OFFSET(V) AS LAST, HISTOGRAM(CAST(V AS STRING)) AS H,
          TOPK(V, K, 2) AS TOP_ROWS, SUM_LIST(ARRAY[V, V + 1]) AS PAIRS FROM S GROUP BY K;";
    for split in [1, 4, 7] {
        assert_restore_matches(sql, split);
    }
}

#[test]
fn restored_windowed_aggregates_continue_like_an_uninterrupted_run() {
    let tumbling = "CREATE STREAM S (K STRING KEY, V INT) WITH (kafka_topic='s', value_format='JSON');
        CREATE TABLE T AS SELECT K, COUNT(*) AS C, STDDEV_SAMP(V) AS SD FROM S
          WINDOW TUMBLING (SIZE 3 SECONDS) GROUP BY K;";
    let session = "CREATE STREAM S (K STRING KEY, V INT) WITH (kafka_topic='s', value_format='JSON');
        CREATE TABLE T AS SELECT K, COUNT(*) AS C, TOPK(V, 2) AS TOP FROM S
          WINDOW SESSION (2500 MILLISECONDS) GROUP BY K;";
    for split in [2, 5, 8] {
        assert_restore_matches(tumbling, split);
        assert_restore_matches(session, split);
    }
}

#[test]
fn restored_table_aggregate_retracts_rows_seen_before_the_restart() {
    let sql = "CREATE TABLE S (ID STRING PRIMARY KEY, K STRING, V INT) WITH (kafka_topic='s', value_format='JSON');
        CREATE TABLE T AS SELECT K, COUNT(*) AS C, SUM(V) AS TOTAL FROM S GROUP BY K;";
    // Rows re-keyed between groups: updates must retract what the restored state holds.
    let rows = [("1", "x", 1), ("2", "y", 2), ("1", "y", 3), ("3", "x", 4), ("2", "x", 5), ("1", "x", 6)];
    let all: Vec<TopicRecord> = rows
        .iter()
        .enumerate()
        .map(|(i, (id, k, v))| record(id, &format!("{{\"K\": \"{k}\", \"V\": {v}}}"), i as i64, i as i64))
        .collect();
    let mut errors = Vec::new();
    let mut straight = compile(sql);
    let expected: Vec<TopicRecord> = all.iter().flat_map(|r| straight.process(std::slice::from_ref(r), &mut errors).expect("runs").sink).collect();
    let mut first = compile(sql);
    let mut changelog = Vec::new();
    let mut produced = Vec::new();
    for r in &all[..3] {
        let out = first.process(std::slice::from_ref(r), &mut errors).expect("runs");
        produced.extend(out.sink);
        changelog.extend(out.internal);
    }
    let mut restored = compile(sql);
    assert_eq!(restored.internal_topics().len(), 2, "aggregate and source-row stores");
    for topic in restored.internal_topics() {
        let records: Vec<TopicRecord> = changelog.iter().filter(|(t, _)| *t == topic).map(|(_, r): &(String, TopicRecord)| r.clone()).collect();
        restored.restore(&topic, &records).expect("restores");
    }
    for r in &all[3..] {
        produced.extend(restored.process(std::slice::from_ref(r), &mut errors).expect("runs").sink);
    }
    assert_eq!(text(&produced), text(&expected));
    // The last update moves row 1 from y back to x: y keeps only row... none, x has 1, 3 and 2.
    let last = text(&expected);
    assert!(last.iter().any(|(_, v, _)| v.as_deref() == Some("{\"C\":0,\"TOTAL\":0}")), "{last:?}");
}

#[test]
fn emit_final_windows_close_on_wall_clock_time() {
    let sql = "CREATE STREAM S (K STRING KEY, V INT) WITH (kafka_topic='s', value_format='JSON');
        CREATE TABLE T AS SELECT K, COUNT(*) AS C FROM S
          WINDOW TUMBLING (SIZE 10 MILLISECONDS, GRACE PERIOD 2 MILLISECONDS) GROUP BY K EMIT FINAL;";
    let mut p = compile(sql);
    let mut errors = Vec::new();
    let out = p.process(&[record("a", "{\"V\": 1}", 3, 0), record("a", "{\"V\": 2}", 5, 1)], &mut errors).expect("runs");
    assert!(out.sink.is_empty(), "nothing is final before the window closes");
    assert!(p.on_wall_clock(11, &mut errors).expect("ticks").sink.is_empty(), "grace has not passed at 11");
    let closed = p.on_wall_clock(12, &mut errors).expect("ticks").sink;
    assert_eq!(text(&closed).into_iter().map(|(_, v, ts)| (v, ts)).collect::<Vec<_>>(), vec![(Some("{\"C\":2}".to_string()), 5)]);
    // The window key carries the window start after the key bytes.
    assert_eq!(closed[0].key.as_deref().map(|k| k.len()), Some(1 + 8));
    assert!(p.on_wall_clock(100, &mut errors).expect("ticks").sink.is_empty(), "each window is final once");
    // A record for the closed window is late and dropped.
    let late = p.process(&[record("a", "{\"V\": 3}", 4, 2)], &mut errors).expect("runs");
    assert!(late.sink.is_empty());
}

#[test]
fn late_records_beyond_grace_are_dropped_and_counted() {
    let sql = "CREATE STREAM S (K STRING KEY, V INT) WITH (kafka_topic='s', value_format='JSON');
        CREATE TABLE T AS SELECT K, COUNT(*) AS C FROM S
          WINDOW TUMBLING (SIZE 10 MILLISECONDS, GRACE PERIOD 5 MILLISECONDS) GROUP BY K;";
    let mut p = compile(sql);
    let mut errors = Vec::new();
    let out = p
        .process(&[record("a", "{}", 1, 0), record("a", "{}", 30, 1), record("a", "{}", 2, 2), record("a", "{}", 26, 3)], &mut errors)
        .expect("runs");
    assert_eq!(out.sink.len(), 3, "the record at 2 is late: its window closed at 10 + 5");
    assert_eq!(p.late_records(), 1);
}

/// Windows evicted by retention are deleted in the changelog too: compacted, it holds only the
/// live windows, and a query restored from it holds what the uninterrupted one holds.
#[test]
fn evicted_windows_are_tombstoned_in_the_changelog() {
    let sql = "CREATE STREAM S (K STRING KEY, V INT) WITH (kafka_topic='s', value_format='JSON');
        CREATE TABLE T AS SELECT K, COUNT(*) AS C FROM S
          WINDOW TUMBLING (SIZE 1 SECOND, RETENTION 2 SECONDS, GRACE PERIOD 0 SECONDS) GROUP BY K;";
    let mut errors = Vec::new();
    let mut live = compile(sql);
    let mut changelog: Vec<(String, TopicRecord)> = Vec::new();
    for r in inputs() {
        changelog.extend(live.process(std::slice::from_ref(&r), &mut errors).expect("runs").internal);
    }
    assert!(errors.is_empty(), "{errors:?}");
    // Ten records one second apart, 2 s retention: only the last windows are live.
    let live_entries = live.state_entries();
    assert!(live_entries > 0 && live_entries < 10, "retention bounds the windows: {live_entries}");
    let tombstones = changelog.iter().filter(|(_, r)| r.value.is_none()).count();
    assert!(tombstones >= 10 - live_entries, "every evicted window is deleted: {tombstones} tombstones");
    let mut compacted = std::collections::BTreeMap::new();
    for (_, r) in &changelog {
        compacted.insert(r.key.clone(), r.value.is_some());
    }
    assert_eq!(compacted.values().filter(|present| **present).count(), live_entries, "compacted, the changelog holds the live windows");

    let mut restored = compile(sql);
    for topic in restored.changelog_topics() {
        let records: Vec<TopicRecord> = changelog.iter().filter(|(t, _)| *t == topic).map(|(_, r)| r.clone()).collect();
        restored.restore(&topic, &records).expect("restores");
    }
    assert_eq!(restored.state_entries(), live_entries);
}
