//! Pull queries through `Engine::pull_query`: key lookups, IN lists, key ranges, window
//! bounds, full scans with ORDER BY / LIMIT, streams read to their end, source tables, and
//! the errors ksqlDB gives for what a pull query cannot do.

use std::collections::BTreeMap;

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use runnel_runtime::{Engine, EngineError, TopicRecord, KEY_COLUMN_METADATA};

fn engine(sql: &str) -> Engine {
    let mut engine = Engine::new(BTreeMap::new());
    engine.execute_sql(sql).expect("statements run");
    engine
}

fn produce(engine: &mut Engine, topic: &str, records: &[(&str, &str, i64)]) {
    for (key, value, timestamp) in records {
        let record = TopicRecord {
            key: Some(key.as_bytes().to_vec()),
            value: if value.is_empty() { None } else { Some(value.as_bytes().to_vec()) },
            timestamp: *timestamp,
            ..TopicRecord::default()
        };
        engine.produce(topic, record).expect("produced");
    }
    engine.process().expect("processed");
}

fn pull(engine: &mut Engine, sql: &str) -> (SchemaRef, Vec<RecordBatch>) {
    pull_with(engine, sql, &BTreeMap::new()).unwrap_or_else(|e| panic!("{sql}: {e}"))
}

fn pull_with(engine: &mut Engine, sql: &str, properties: &BTreeMap<String, String>) -> Result<(SchemaRef, Vec<RecordBatch>), EngineError> {
    engine.pull_query(sql, properties)
}

/// Rows as their values' display strings, for compact assertions.
fn rows(batches: &[RecordBatch]) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    for batch in batches {
        for row in 0..batch.num_rows() {
            out.push(
                batch
                    .columns()
                    .iter()
                    .map(|c| arrow::util::display::array_value_to_string(c, row).expect("displayable"))
                    .collect(),
            );
        }
    }
    out
}

fn row(values: &[&str]) -> Vec<String> {
    values.iter().map(|v| v.to_string()).collect()
}

fn keys_of(schema: &SchemaRef) -> Vec<String> {
    schema.fields().iter().filter(|f| f.metadata().get(KEY_COLUMN_METADATA).is_some_and(|v| v == "true")).map(|f| f.name().clone()).collect()
}

const COUNTS: &str = "CREATE STREAM S (ID STRING KEY, V INT) WITH (kafka_topic='s', value_format='JSON', partitions=4);
    CREATE TABLE T AS SELECT ID, COUNT(*) AS N, SUM(V) AS TOTAL FROM S GROUP BY ID;";

fn counts() -> Engine {
    let mut e = engine(COUNTS);
    produce(&mut e, "s", &[("a", r#"{"V":1}"#, 10), ("b", r#"{"V":2}"#, 11), ("a", r#"{"V":3}"#, 12), ("c", r#"{"V":4}"#, 13), ("d", r#"{"V":5}"#, 14)]);
    e
}

#[test]
fn key_lookup_reads_the_current_row() {
    let mut e = counts();
    let (schema, batches) = pull(&mut e, "SELECT * FROM T WHERE ID = 'a';");
    assert_eq!(keys_of(&schema), vec!["ID"]);
    assert_eq!(rows(&batches), vec![row(&["a", "2", "4"])]);
    let (_, batches) = pull(&mut e, "SELECT * FROM T WHERE ID = 'missing';");
    assert!(rows(&batches).is_empty());
    // Later input is seen by the next pull query.
    produce(&mut e, "s", &[("a", r#"{"V":10}"#, 20)]);
    let (_, batches) = pull(&mut e, "SELECT N, TOTAL FROM T WHERE ID = 'a';");
    assert_eq!(rows(&batches), vec![row(&["3", "14"])]);
}

#[test]
fn in_lists_and_key_ranges_select_keys() {
    let mut e = counts();
    let (_, batches) = pull(&mut e, "SELECT ID, N FROM T WHERE ID IN ('d', 'b', 'zz') ORDER BY ID;");
    assert_eq!(rows(&batches), vec![row(&["b", "1"]), row(&["d", "1"])]);
    let (_, batches) = pull(&mut e, "SELECT ID FROM T WHERE ID >= 'b' AND ID < 'd' ORDER BY ID;");
    assert_eq!(rows(&batches), vec![row(&["b"]), row(&["c"])]);
}

#[test]
fn full_scans_sort_limit_and_filter_on_values() {
    let mut e = counts();
    let (schema, batches) = pull(&mut e, "SELECT ID, TOTAL * 10 AS X FROM T WHERE TOTAL > 1 ORDER BY X DESC LIMIT 2;");
    assert_eq!(keys_of(&schema), vec!["ID"]);
    assert_eq!(rows(&batches), vec![row(&["d", "50"]), row(&["a", "40"])]);
    let (_, batches) = pull(&mut e, "SELECT * FROM T;");
    assert_eq!(rows(&batches).len(), 4);
}

#[test]
fn windowed_tables_are_read_within_window_bounds() {
    let mut e = engine(
        "CREATE STREAM S (ID STRING KEY, V INT) WITH (kafka_topic='s', value_format='JSON');
         CREATE TABLE W AS SELECT ID, COUNT(*) AS N FROM S WINDOW TUMBLING (SIZE 1 SECOND) GROUP BY ID;",
    );
    produce(&mut e, "s", &[("a", r#"{"V":1}"#, 1_100), ("a", r#"{"V":1}"#, 1_200), ("a", r#"{"V":1}"#, 2_500), ("b", r#"{"V":1}"#, 3_000)]);
    let (schema, batches) = pull(&mut e, "SELECT * FROM W WHERE ID = 'a';");
    assert_eq!(keys_of(&schema), vec!["ID", "WINDOWSTART", "WINDOWEND"]);
    assert_eq!(rows(&batches), vec![row(&["a", "1000", "2000", "2"]), row(&["a", "2000", "3000", "1"])]);
    let (_, batches) = pull(&mut e, "SELECT ID, WINDOWSTART, N FROM W WHERE ID = 'a' AND WINDOWSTART >= 2000;");
    assert_eq!(rows(&batches), vec![row(&["a", "2000", "1"])]);
    let (_, batches) = pull(&mut e, "SELECT ID, N FROM W WHERE WINDOWEND <= 3000;");
    assert_eq!(rows(&batches).len(), 2);
    let (_, batches) = pull(&mut e, "SELECT ID FROM W WHERE ID = 'a' AND WINDOWSTART = '1970-01-01T00:00:02';");
    assert_eq!(rows(&batches), vec![row(&["a"])]);
}

#[test]
fn tables_follow_updates_and_deletes_of_their_query() {
    let mut e = engine(
        "CREATE TABLE U (ID STRING PRIMARY KEY, NAME STRING) WITH (kafka_topic='u', value_format='JSON');
         CREATE TABLE Q AS SELECT ID, UCASE(NAME) AS NAME FROM U WHERE NAME != 'hidden';",
    );
    produce(&mut e, "u", &[("1", r#"{"NAME":"ann"}"#, 1), ("2", r#"{"NAME":"bob"}"#, 2), ("1", r#"{"NAME":"amy"}"#, 3), ("2", "", 4), ("3", r#"{"NAME":"hidden"}"#, 5)]);
    let (_, batches) = pull(&mut e, "SELECT * FROM Q;");
    assert_eq!(rows(&batches), vec![row(&["1", "AMY"])]);
}

#[test]
fn source_tables_are_queryable_and_plain_tables_are_not() {
    let mut e = engine(
        "CREATE SOURCE TABLE ST (ID INT PRIMARY KEY, TEXT STRING) WITH (kafka_topic='st', value_format='DELIMITED');
         CREATE TABLE PLAIN (ID INT PRIMARY KEY, TEXT STRING) WITH (kafka_topic='plain', value_format='DELIMITED');",
    );
    for (k, v) in [(1i32, "a"), (2, "b")] {
        let record = TopicRecord { key: Some(k.to_be_bytes().to_vec()), value: Some(v.as_bytes().to_vec()), timestamp: 5, ..TopicRecord::default() };
        e.produce("st", record).expect("produced");
    }
    e.process().expect("processed");
    let (_, batches) = pull(&mut e, "SELECT * FROM ST WHERE ID = 2;");
    assert_eq!(rows(&batches), vec![row(&["2", "b"])]);
    let error = pull_with(&mut e, "SELECT * FROM PLAIN;", &BTreeMap::new()).expect_err("not materialized");
    assert!(error.message.contains("The `PLAIN` table isn't queryable"), "{}", error.message);
}

#[test]
fn streams_are_read_to_their_current_end() {
    let mut e = engine("CREATE STREAM S (ID STRING KEY, V INT) WITH (kafka_topic='s', value_format='JSON');");
    produce(&mut e, "s", &[("a", r#"{"V":1}"#, 10), ("b", "", 11), ("c", r#"{"V":3}"#, 12)]);
    let (schema, batches) = pull(&mut e, "SELECT ID, V, ROWTIME FROM S WHERE V > 0;");
    assert!(keys_of(&schema).is_empty(), "stream columns are not keys of a result");
    assert_eq!(rows(&batches), vec![row(&["a", "1", "10"]), row(&["c", "3", "12"])]);
}

#[test]
fn errors_name_what_a_pull_query_cannot_do() {
    let mut e = counts();
    let error = |e: &mut Engine, sql: &str, properties: &[(&str, &str)]| {
        let properties = properties.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        pull_with(e, sql, &properties).expect_err(sql).message
    };
    assert!(error(&mut e, "SELECT * FROM T WHERE ID = 1;", &[]).contains("Cannot compare ID (STRING) to 1 (BIGINT) with EQUAL"));
    assert!(error(&mut e, "SELECT *, ROWOFFSET FROM T;", &[]).contains("Pull queries don't support the following columns in SELECT clauses: `ROWOFFSET`"));
    assert!(error(&mut e, "SELECT * FROM T WINDOW TUMBLING (SIZE 1 SECOND);", &[]).contains("don't support WINDOW clauses"));
    let no_scans = [("ksql.query.pull.table.scan.enabled", "false")];
    assert!(error(&mut e, "SELECT * FROM T WHERE N = 1;", &no_scans).contains("WHERE clause missing key column for disjunct: (N = 1)"));
    assert!(error(&mut e, "SELECT * FROM T WHERE ID != 'a';", &no_scans).contains("must currently be '='"));
    assert!(pull_with(&mut e, "SELECT * FROM T WHERE ID = 'a';", &no_scans.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()).is_ok());
}

#[test]
fn header_columns_of_a_table_reach_its_materialized_copy() {
    let mut e = engine(
        "CREATE TABLE I (ID STRING PRIMARY KEY, GRADE STRING, HEAD BYTES HEADER('abc')) WITH (kafka_topic='i', value_format='JSON');
         CREATE TABLE Q AS SELECT * FROM I;",
    );
    let record = TopicRecord {
        key: Some(b"11".to_vec()),
        value: Some(br#"{"GRADE":"A"}"#.to_vec()),
        timestamp: 7,
        headers: vec![("abc".to_string(), Some(vec![33]))],
        ..TopicRecord::default()
    };
    e.produce("i", record).expect("produced");
    e.process().expect("processed");
    let (_, batches) = pull(&mut e, "SELECT ID, GRADE, HEAD FROM Q;");
    assert_eq!(rows(&batches), vec![row(&["11", "A", "21"])]);
}

#[test]
fn aggregates_over_the_rows_read() {
    let mut e = counts();
    // Table T: a -> (N 2, TOTAL 4), b -> (1, 2), c -> (1, 4), d -> (1, 5).
    let (schema, batches) = pull(&mut e, "SELECT COUNT(*) AS ROWS_READ, SUM(TOTAL) AS ALL_V, MAX(N) AS MOST, AVG(TOTAL) FROM T;");
    assert_eq!(rows(&batches), vec![row(&["4", "15", "2", "3.75"])]);
    assert!(keys_of(&schema).is_empty());
    // ksql's result types: SUM of INT stays INT, COUNT is BIGINT, AVG is DOUBLE.
    let types: Vec<String> = schema.fields().iter().map(|f| f.data_type().to_string()).collect();
    assert_eq!(types, ["Int64", "Int32", "Int64", "Float64"]);

    let (_, batches) = pull(&mut e, "SELECT COUNT(*) AS C, MIN(TOTAL) + 1 AS M FROM T WHERE N = 1;");
    assert_eq!(rows(&batches), vec![row(&["3", "3"])]);
    let (_, batches) = pull(&mut e, "SELECT COUNT(*) AS C FROM T WHERE ID = 'a';");
    assert_eq!(rows(&batches), vec![row(&["1"])]);
    // Over no rows: one row, COUNT 0 and NULL elsewhere.
    let (_, batches) = pull(&mut e, "SELECT COUNT(*) AS C, SUM(TOTAL) AS S FROM T WHERE ID = 'nope';");
    assert_eq!(rows(&batches), vec![row(&["0", ""])]);
    // A stream's records are aggregated too.
    let (_, batches) = pull(&mut e, "SELECT COUNT(*) AS C, COUNT_DISTINCT(ID) AS IDS, SUM(V) AS V FROM S;");
    assert_eq!(rows(&batches), vec![row(&["5", "4", "15"])]);
}

#[test]
fn aggregate_pull_queries_refuse_what_they_cannot_answer() {
    let mut e = counts();
    let err = pull_with(&mut e, "SELECT ID, COUNT(*) FROM T;", &BTreeMap::new()).unwrap_err();
    assert!(err.to_string().contains("Non-aggregate SELECT expression(s) in a pull query"), "{err}");
    let err = pull_with(&mut e, "SELECT TOPK(N, 2) FROM T;", &BTreeMap::new()).unwrap_err();
    assert!(err.to_string().contains("Pull queries don't support the aggregate function TOPK"), "{err}");
    let err = pull_with(&mut e, "SELECT * FROM T WHERE COUNT(*) > 1;", &BTreeMap::new()).unwrap_err();
    assert!(err.to_string().contains("Aggregate functions are not allowed in WHERE"), "{err}");
    let err = pull_with(&mut e, "SELECT COUNT(*) FROM T GROUP BY ID;", &BTreeMap::new()).unwrap_err();
    assert!(err.to_string().contains("Pull queries don't support GROUP BY clauses"), "{err}");
}
