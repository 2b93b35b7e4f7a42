//! End-to-end through the in-memory engine: statements, records in, records out.

use std::collections::BTreeMap;

use runnel_runtime::{Engine, TopicRecord};

fn record(key: &str, value: &str, timestamp: i64) -> TopicRecord {
    keyed(key.as_bytes(), Some(value), timestamp)
}

/// A record with these key bytes and value (`None`: a tombstone).
fn keyed(key: &[u8], value: Option<&str>, timestamp: i64) -> TopicRecord {
    TopicRecord { key: Some(key.to_vec()), value: value.map(|v| v.as_bytes().to_vec()), timestamp, ..Default::default() }
}

#[test]
fn csas_filters_and_projects_delimited_records() {
    let mut engine = Engine::new(BTreeMap::new());
    engine
        .execute_sql("CREATE STREAM TEST (K STRING KEY, ID bigint, NAME varchar, VALUE double) WITH (kafka_topic='test_topic', value_format='DELIMITED');")
        .expect("create stream");
    engine.execute_sql("CREATE STREAM S1 as SELECT K, name FROM test where id > 100;").expect("csas");
    for (k, v) in [("0", "0,zero,0.0"), ("100", "100,100,0.0"), ("101", "101,101,0.0"), ("bad", "x,y")] {
        engine.produce("test_topic", record(k, v, 7)).expect("produce");
    }
    engine.process().expect("process");
    let out = engine.records("S1");
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].key.as_deref(), Some(&b"101"[..]));
    assert_eq!(out[0].value.as_deref(), Some(&b"101"[..]));
    assert_eq!(out[0].timestamp, 7);
    assert_eq!(engine.processing_errors().len(), 1, "the malformed record is reported");
}

#[test]
fn json_projection_with_expressions() {
    let mut engine = Engine::new(BTreeMap::new());
    engine.execute_sql("CREATE STREAM S (ID INT KEY, A INT, B BIGINT, N STRING) WITH (kafka_topic='s', value_format='JSON');").expect("create");
    engine.execute_sql("CREATE STREAM O AS SELECT ID, A + B AS SUM, N || '!' AS E, A / 0 AS BAD, 1e3 AS D FROM S;").expect("csas");
    engine
        .produce("s", TopicRecord { key: Some(5i32.to_be_bytes().to_vec()), value: Some(br#"{"a": 1, "B": 2, "n": "hi"}"#.to_vec()), ..Default::default() })
        .expect("produce");
    engine.process().expect("process");
    let out = engine.records("O");
    assert_eq!(out.len(), 1);
    let value: serde_json::Value = serde_json::from_slice(out[0].value.as_deref().expect("value")).expect("json");
    assert_eq!(value, serde_json::json!({"SUM": 3, "E": "hi!", "BAD": null, "D": 1000.0}));
}

#[test]
fn syntax_errors_name_the_position() {
    let mut engine = Engine::new(BTreeMap::new());
    let err = engine.execute_sql("CREATE STREAM X (K STRING (KEY)) WITH (kafka_topic='x', value_format='JSON');").expect_err("bad sql");
    assert_eq!(err.kind, runnel_runtime::ErrorKind::Parse);
    assert!(err.message.starts_with("line 1:"), "{}", err.message);
}

#[test]
fn insert_into_its_own_source_is_rejected() {
    let mut engine = Engine::new(BTreeMap::new());
    engine.execute_sql("CREATE STREAM S (K STRING KEY, V INT) WITH (kafka_topic='s', value_format='JSON');").expect("create");
    let err = engine.execute_sql("INSERT INTO S SELECT * FROM S;").expect_err("self-insert");
    assert!(err.message.contains("also a source"), "{}", err.message);
    engine.execute_sql("CREATE STREAM T AS SELECT * FROM S;").expect("csas");
    let err = engine.execute_sql("INSERT INTO S SELECT * FROM T;").expect_err("cycle through T");
    assert!(err.message.contains("also a source"), "{}", err.message);
}

#[test]
fn key_joins_need_the_same_partition_count_foreign_key_joins_do_not() {
    let mut engine = Engine::new(BTreeMap::new());
    engine.execute_sql("CREATE STREAM S (ID INT KEY, V INT) WITH (kafka_topic='s', value_format='JSON', PARTITIONS=2);").expect("create");
    engine.execute_sql("CREATE TABLE T (ID INT PRIMARY KEY, W INT) WITH (kafka_topic='t', value_format='JSON', PARTITIONS=3);").expect("create");
    engine.execute_sql("CREATE TABLE F (ID INT PRIMARY KEY, T_ID INT) WITH (kafka_topic='f', value_format='JSON', PARTITIONS=2);").expect("create");
    let err = engine.execute_sql("CREATE STREAM J AS SELECT S.ID, V, W FROM S JOIN T ON S.ID = T.ID;").expect_err("mismatch");
    assert_eq!(
        err.message,
        "Can't join `S` with `T` since the number of partitions don't match. `S` partitions = 2; `T` partitions = 3. Please repartition either one so that the number of partitions match."
    );
    let Err(err) = engine.start_push_query("SELECT * FROM S JOIN T ON S.ID = T.ID EMIT CHANGES;", &BTreeMap::new()) else {
        panic!("the push query should be refused too");
    };
    assert!(err.message.starts_with("Can't join `S` with `T`"), "{}", err.message);
    engine.execute_sql("CREATE TABLE FK AS SELECT F.ID, W FROM F JOIN T ON F.T_ID = T.ID;").expect("a foreign-key join re-keys: no check");
    engine.execute_sql("CREATE STREAM J2 AS SELECT S.ID, T_ID FROM S JOIN F ON S.ID = F.ID;").expect("same counts");
}

#[test]
fn grouping_a_stream_by_a_value_column_goes_through_a_repartition_topic() {
    let mut engine = Engine::new(BTreeMap::from([("cache.max.bytes.buffering".to_string(), "0".to_string())]));
    engine.execute_sql("CREATE STREAM S (ID INT KEY, G STRING, V INT) WITH (kafka_topic='s', value_format='JSON', PARTITIONS=2);").expect("create");
    engine.execute_sql("CREATE TABLE T AS SELECT G, COUNT(*) AS N, SUM(V) AS TOTAL FROM S GROUP BY G;").expect("ctas");
    let repartition = engine.topic_names().into_iter().find(|t| t.ends_with("-Aggregate-GroupBy-repartition")).expect("a repartition topic");
    assert_eq!(engine.topic_partitions(&repartition), Some(2), "partitioned like the source");
    for (id, g, v, ts) in [(1i32, "a", 10, 1), (2, "b", 20, 2), (3, "a", 30, 3)] {
        let value = format!(r#"{{"G": "{g}", "V": {v}}}"#);
        engine
            .produce("s", TopicRecord { key: Some(id.to_be_bytes().to_vec()), value: Some(value.into_bytes()), timestamp: ts, ..Default::default() })
            .expect("produce");
    }
    engine.process().expect("process");
    let moved = engine.records(&repartition);
    assert_eq!(moved.len(), 3, "every row went through the repartition topic");
    assert_eq!(moved.iter().map(|r| r.timestamp).collect::<Vec<_>>(), vec![1, 2, 3], "with its event time");
    let out: Vec<(String, serde_json::Value, i64)> = engine
        .records("T")
        .iter()
        .map(|r| {
            let key = String::from_utf8(r.key.clone().expect("key")).expect("utf8");
            (key, serde_json::from_slice(r.value.as_deref().expect("value")).expect("json"), r.timestamp)
        })
        .collect();
    assert_eq!(
        out,
        vec![
            ("a".into(), serde_json::json!({"N": 1, "TOTAL": 10}), 1),
            ("b".into(), serde_json::json!({"N": 1, "TOTAL": 20}), 2),
            ("a".into(), serde_json::json!({"N": 2, "TOTAL": 40}), 3),
        ]
    );
    engine.execute_sql("CREATE TABLE BY_KEY AS SELECT ID, COUNT(*) AS N FROM S GROUP BY ID;").expect("ctas by key");
    assert_eq!(engine.topic_names().iter().filter(|t| t.ends_with("-repartition")).count(), 1, "grouping by the key does not repartition");
}

#[test]
fn a_stream_joined_on_a_value_column_goes_through_a_repartition_topic_keyed_like_the_table() {
    let mut engine = Engine::new(BTreeMap::new());
    engine.execute_sql("CREATE STREAM ORDERS (ID INT KEY, ITEM INT, QTY INT) WITH (kafka_topic='orders', value_format='JSON', PARTITIONS=2);").expect("create");
    engine.execute_sql("CREATE TABLE ITEMS (ID INT PRIMARY KEY, NAME STRING) WITH (kafka_topic='items', value_format='JSON', PARTITIONS=3);").expect("create");
    engine.execute_sql("CREATE STREAM ENRICHED AS SELECT ITEMS.ID AS ITEM, ORDERS.ID AS ORDER_ID, QTY, NAME FROM ORDERS JOIN ITEMS ON ORDERS.ITEM = ITEMS.ID;").expect("csas: the stream is repartitioned, so the counts need not match");
    let repartition = engine.topic_names().into_iter().find(|t| t.ends_with("-Join-left-repartition")).expect("the stream side is repartitioned");
    assert_eq!(engine.topic_partitions(&repartition), Some(3), "co-partitioned with the table");
    let item = |id: i32, name: &str, ts: i64| keyed(&id.to_be_bytes(), Some(&format!(r#"{{"NAME": "{name}"}}"#)), ts);
    let order = |id: i32, item: i32, ts: i64| keyed(&id.to_be_bytes(), Some(&format!(r#"{{"ITEM": {item}, "QTY": 1}}"#)), ts);
    engine.produce("items", item(7, "pen", 1)).expect("produce");
    engine.produce("orders", order(100, 7, 2)).expect("produce");
    // Renamed after the order: the order still joins the name it had then.
    engine.produce("items", item(7, "ink pen", 3)).expect("produce");
    engine.produce("orders", order(101, 7, 4)).expect("produce");
    engine.process().expect("process");
    let moved = engine.records(&repartition);
    assert_eq!(moved.len(), 2);
    let table_partition = engine.records("items")[0].partition;
    assert!(moved.iter().all(|r| r.partition == table_partition), "an order goes to the partition of its item");
    let names: Vec<serde_json::Value> = engine
        .records("ENRICHED")
        .iter()
        .map(|r| serde_json::from_slice::<serde_json::Value>(r.value.as_deref().expect("value")).expect("json")["NAME"].clone())
        .collect();
    assert_eq!(names, vec![serde_json::json!("pen"), serde_json::json!("ink pen")]);
}

#[test]
fn a_push_query_may_aggregate_without_group_by() {
    let mut engine = Engine::new(BTreeMap::new());
    engine.execute_sql("CREATE STREAM S (K INT KEY, ID INT) WITH (kafka_topic='s', value_format='JSON');").expect("create");
    for sql in ["SELECT COUNT(*) AS C FROM S EMIT CHANGES;", "SELECT SUM(ID) AS S, COUNT(*) AS C FROM S EMIT CHANGES LIMIT 2;"] {
        assert!(engine.start_push_query(sql, &BTreeMap::new()).is_ok(), "{sql}");
    }
    let err = engine.execute_sql("CREATE TABLE T AS SELECT COUNT(*) AS C FROM S;").expect_err("a persistent query needs GROUP BY");
    assert!(!err.message.is_empty());
}

#[test]
fn a_stream_keyed_in_another_format_than_its_table_is_repartitioned_in_the_table_format() {
    let mut engine = Engine::new(BTreeMap::new());
    engine.execute_sql("CREATE STREAM S (ID STRING KEY, V INT) WITH (kafka_topic='s', key_format='KAFKA', value_format='JSON', PARTITIONS=4);").expect("create");
    engine.execute_sql("CREATE TABLE T (ID STRING PRIMARY KEY, W INT) WITH (kafka_topic='t', key_format='JSON', value_format='JSON', PARTITIONS=4);").expect("create");
    engine.execute_sql("CREATE STREAM J AS SELECT S.ID, V, W FROM S JOIN T ON S.ID = T.ID;").expect("csas");
    let repartition = engine.topic_names().into_iter().find(|t| t.ends_with("-Join-left-repartition")).expect("the stream is repartitioned");
    let ids = ["a", "b", "c", "d", "e", "f"];
    for id in ids {
        let key = format!("\"{id}\"").into_bytes();
        engine.produce("t", keyed(&key, Some(r#"{"W": 1}"#), 1)).expect("produce");
    }
    for id in ids {
        engine.produce("s", keyed(id.as_bytes(), Some(r#"{"V": 2}"#), 2)).expect("produce");
    }
    engine.process().expect("process");
    let table = engine.records("t");
    let moved = engine.records(&repartition);
    assert_eq!(moved.len(), ids.len());
    for r in &moved {
        let partner = table.iter().find(|t| t.key == r.key).expect("keyed like the table (JSON)");
        assert_eq!(r.partition, partner.partition, "co-partitioned with the table");
    }
    assert_eq!(engine.records("J").len(), ids.len(), "every stream record joined");
}

#[test]
fn a_table_keyed_in_another_format_than_its_partner_is_repartitioned_with_its_deletes() {
    let mut engine = Engine::new(BTreeMap::from([("cache.max.bytes.buffering".to_string(), "0".to_string())]));
    engine.execute_sql("CREATE TABLE L (ID STRING PRIMARY KEY, V INT) WITH (kafka_topic='l', key_format='KAFKA', value_format='JSON', PARTITIONS=4);").expect("create");
    engine.execute_sql("CREATE TABLE R (ID STRING PRIMARY KEY, W INT) WITH (kafka_topic='r', key_format='JSON', value_format='JSON', PARTITIONS=4);").expect("create");
    engine.execute_sql("CREATE TABLE J AS SELECT L.ID, V, W FROM L JOIN R ON L.ID = R.ID;").expect("ctas");
    let repartition = engine.topic_names().into_iter().find(|t| t.ends_with("-Join-right-repartition")).expect("the right table is repartitioned");
    engine.produce("l", keyed(b"a", Some(r#"{"V": 1}"#), 1)).expect("produce");
    engine.produce("r", keyed(br#""a""#, Some(r#"{"W": 2}"#), 2)).expect("produce");
    engine.produce("r", keyed(br#""a""#, None, 3)).expect("produce a delete");
    engine.process().expect("process");
    let moved = engine.records(&repartition);
    assert_eq!(moved.len(), 2, "the row and its delete");
    assert_eq!(moved[0].key.as_deref(), Some(&b"a"[..]), "keyed in the left table's format (KAFKA)");
    assert!(moved[1].value.is_none(), "the delete is a tombstone");
    let left_partition = engine.records("l")[0].partition;
    assert!(moved.iter().all(|r| r.partition == left_partition), "co-partitioned with the left table");
    let out = engine.records("J");
    assert_eq!(out.len(), 2, "the join result, then its delete");
    assert!(out[0].value.is_some() && out[1].value.is_none());
}

#[test]
fn a_table_grouped_by_a_value_column_sends_its_changes_through_a_repartition_topic() {
    let mut engine = Engine::new(BTreeMap::from([("cache.max.bytes.buffering".to_string(), "0".to_string())]));
    engine.execute_sql("CREATE TABLE USERS (ID STRING PRIMARY KEY, REGION STRING, SCORE INT) WITH (kafka_topic='users', value_format='JSON', PARTITIONS=2);").expect("create");
    engine.execute_sql("CREATE TABLE PER_REGION AS SELECT REGION, COUNT(*) AS N, SUM(SCORE) AS TOTAL FROM USERS GROUP BY REGION;").expect("ctas");
    let repartition = engine.topic_names().into_iter().find(|t| t.ends_with("-Aggregate-GroupBy-repartition")).expect("a repartition topic");
    let user = |id: &str, value: Option<&str>, ts: i64| keyed(id.as_bytes(), value, ts);
    engine.produce("users", user("ann", Some(r#"{"REGION": "eu", "SCORE": 5}"#), 1)).expect("produce");
    engine.produce("users", user("bob", Some(r#"{"REGION": "eu", "SCORE": 7}"#), 2)).expect("produce");
    engine.produce("users", user("ann", Some(r#"{"REGION": "eu", "SCORE": 6}"#), 3)).expect("stays in eu: one change");
    engine.produce("users", user("bob", Some(r#"{"REGION": "us", "SCORE": 7}"#), 4)).expect("moves to us: two changes");
    engine.produce("users", user("ann", None, 5)).expect("deleted: retracted from eu");
    engine.process().expect("process");
    assert_eq!(engine.records(&repartition).len(), 6, "1 + 1 + 1 + 2 + 1 changes");
    let out: Vec<(String, String)> = engine
        .records("PER_REGION")
        .iter()
        .map(|r| {
            (
                String::from_utf8_lossy(r.key.as_deref().unwrap_or_default()).to_string(),
                String::from_utf8_lossy(r.value.as_deref().unwrap_or_default()).to_string(),
            )
        })
        .collect();
    let expected: Vec<(String, String)> = [
        ("eu", r#"{"N":1,"TOTAL":5}"#),
        ("eu", r#"{"N":2,"TOTAL":12}"#),
        ("eu", r#"{"N":2,"TOTAL":13}"#),
        ("eu", r#"{"N":1,"TOTAL":6}"#),
        ("us", r#"{"N":1,"TOTAL":7}"#),
        ("eu", r#"{"N":0,"TOTAL":0}"#),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    assert_eq!(out, expected);
}

#[test]
fn insert_values_refuses_column_references() {
    let mut engine = Engine::new(BTreeMap::new());
    engine.execute_sql("CREATE STREAM S (K STRING KEY, ID INT) WITH (kafka_topic='s', value_format='JSON');").expect("create");
    let err = engine.execute_sql("INSERT INTO S (K, ID) VALUES (FOO.bar, 10);").expect_err("a column reference");
    assert_eq!(err.message, "Failed to prepare statement: 'FOO' is not a valid stream/table name or alias.");
    engine.execute_sql("INSERT INTO S (K, ID) VALUES ('a', 1 + 2);").expect("expressions over literals are fine");
}
