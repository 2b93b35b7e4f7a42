//! Persistent queries over a real Kafka-protocol broker (the embedded one): records go in
//! through the producer, come out of the query's sink topic, and a restarted query resumes
//! from its committed offsets instead of reprocessing.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use runnel_runtime::kafka::KafkaConfig;
use runnel_runtime::{Engine, TopicRecord};
use runnel_server::embedded_broker::EmbeddedBroker;

fn record(key: &str, value: &str, timestamp: i64) -> TopicRecord {
    TopicRecord { key: Some(key.as_bytes().to_vec()), value: Some(value.as_bytes().to_vec()), timestamp, ..Default::default() }
}

/// Reads `topic` until it holds `count` records (or gives up after a generous deadline).
fn await_records(engine: &Engine, topic: &str, count: usize) -> Vec<TopicRecord> {
    await_until(engine, topic, |records| records.len() >= count)
}

/// Reads `topic` until `done` holds for its records (or gives up after a generous deadline).
fn await_until(engine: &Engine, topic: &str, done: impl Fn(&[TopicRecord]) -> bool) -> Vec<TopicRecord> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let records = engine.records(topic);
        if done(&records) || Instant::now() > deadline {
            return records;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn properties() -> BTreeMap<String, String> {
    BTreeMap::from([("auto.offset.reset".to_string(), "earliest".to_string())])
}

const DDL: &str = "CREATE STREAM BIDS (K STRING KEY, PRICE INT, BIDDER STRING) WITH (kafka_topic='bids', value_format='JSON', partitions=2);";
const CSAS: &str = "CREATE STREAM BIG AS SELECT K, PRICE * 2 AS DOUBLED, BIDDER FROM BIDS WHERE PRICE > 10;";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn csas_runs_over_kafka_and_resumes_after_restart() {
    let broker = EmbeddedBroker::start("127.0.0.1:0").await.expect("broker starts");
    let config = KafkaConfig::new(broker.bootstrap_servers());
    tokio::task::spawn_blocking(move || {
        let mut engine = Engine::with_kafka(properties(), config.clone()).expect("engine connects");
        engine.execute_sql(DDL).expect("create stream");
        engine.execute_sql(CSAS).expect("csas");
        for (i, (k, v)) in [("a", r#"{"price": 5, "bidder": "x"}"#), ("b", r#"{"price": 50, "bidder": "y"}"#), ("c", "not json"), ("d", r#"{"price": 11}"#)]
            .iter()
            .enumerate()
        {
            engine.produce("bids", record(k, v, 1000 + i as i64)).expect("produce");
        }
        let out = await_records(&engine, "BIG", 2);
        let mut values: Vec<(String, String)> = out
            .iter()
            .map(|r| (String::from_utf8_lossy(r.key.as_deref().unwrap_or_default()).into(), String::from_utf8_lossy(r.value.as_deref().unwrap_or_default()).into()))
            .collect();
        values.sort();
        assert_eq!(
            values,
            vec![("b".into(), r#"{"DOUBLED":100,"BIDDER":"y"}"#.into()), ("d".into(), r#"{"DOUBLED":22,"BIDDER":null}"#.into())]
        );
        let timestamps: Vec<i64> = out.iter().map(|r| r.timestamp).collect();
        assert!(timestamps.contains(&1001) && timestamps.contains(&1003), "{timestamps:?}");
        let stats = engine.query_stats("CSAS_BIG_0").expect("query runs on kafka");
        assert_eq!(stats.record_errors.load(std::sync::atomic::Ordering::Relaxed), 1, "the malformed record is skipped, not fatal");
        let log = await_records(&engine, "default_ksql_processing_log", 1);
        assert_eq!(log.len(), 1, "the skipped record is in the processing log");
        let entry: serde_json::Value = serde_json::from_slice(log[0].value.as_deref().unwrap_or_default()).expect("entry is JSON");
        assert_eq!(entry["logger"], "processing.CSAS_BIG_0");
        assert_eq!(entry["message"]["deserializationError"]["topic"], "bids");
        assert!(engine.source("KSQL_PROCESSING_LOG").is_some(), "the processing log stream exists");
        drop(engine);

        // A new engine with the same statements is the same query (same consumer group): it
        // continues after the committed offsets.
        let mut engine = Engine::with_kafka(properties(), config).expect("engine reconnects");
        engine.execute_sql(DDL).expect("create stream again");
        engine.execute_sql(CSAS).expect("csas again");
        engine.produce("bids", record("e", r#"{"price": 70, "bidder": "z"}"#, 2000)).expect("produce");
        let out = await_records(&engine, "BIG", 3);
        std::thread::sleep(Duration::from_millis(500));
        let out_after = engine.records("BIG");
        assert_eq!(out_after.len(), 3, "nothing reprocessed, the new record processed: {out:?}");
    })
    .await
    .expect("test body");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn command_log_replays_statements_in_order() {
    use runnel_runtime::kafka::command_log::CommandLog;
    use runnel_runtime::kafka::KafkaTopics;

    let broker = EmbeddedBroker::start("127.0.0.1:0").await.expect("broker starts");
    let config = KafkaConfig::new(broker.bootstrap_servers());
    tokio::task::spawn_blocking(move || {
        let mut topics = KafkaTopics::connect(config.clone()).expect("connect");
        let log = CommandLog::open("svc", &config, &mut topics).expect("open");
        assert_eq!(log.topic(), "_runnel-svc-command");
        assert!(log.replay().expect("empty replay").is_empty());
        let props = BTreeMap::from([("auto.offset.reset".to_string(), "earliest".to_string())]);
        let first = log.append("CREATE STREAM A (X INT) WITH (kafka_topic='a', partitions=1, value_format='JSON');", &props).expect("append");
        let second = log.append("DROP STREAM A;", &BTreeMap::new()).expect("append");
        assert!(second > first);
        let again = CommandLog::open("svc", &config, &mut topics).expect("reopen");
        let commands = again.replay().expect("replay");
        assert_eq!(commands.iter().map(|c| c.statement.as_str()).collect::<Vec<_>>(), vec![
            "CREATE STREAM A (X INT) WITH (kafka_topic='a', partitions=1, value_format='JSON');",
            "DROP STREAM A;"
        ]);
        assert_eq!(commands[0].properties, props);
        assert_eq!(commands.iter().map(|c| c.sequence).collect::<Vec<_>>(), vec![first, second]);
    })
    .await
    .expect("test body");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sources_over_kafka_need_an_existing_topic_or_partitions() {
    let broker = EmbeddedBroker::start("127.0.0.1:0").await.expect("broker starts");
    let config = KafkaConfig::new(broker.bootstrap_servers());
    tokio::task::spawn_blocking(move || {
        let mut engine = Engine::with_kafka(properties(), config).expect("engine connects");
        let err = engine
            .execute_sql("CREATE STREAM S (X INT) WITH (kafka_topic='missing', value_format='JSON');")
            .expect_err("no such topic");
        assert_eq!(err.message, "Kafka topic does not exist: missing");
        // The sandbox sees the same topics and refuses the same statement, without side effects.
        let mut sandbox = engine.sandbox();
        assert!(sandbox.execute_sql("CREATE STREAM S (X INT) WITH (kafka_topic='missing', value_format='JSON');").is_err());
        sandbox.execute_sql("CREATE STREAM S (X INT) WITH (kafka_topic='made', partitions=3, value_format='JSON');").expect("sandbox create");
        assert!(engine.source("S").is_none(), "the sandbox does not change the engine");
        assert_eq!(engine.topic_partitions("made"), None, "nor the cluster");
        engine.execute_sql("CREATE STREAM S (X INT) WITH (kafka_topic='made', partitions=3, value_format='JSON');").expect("create");
        assert_eq!(engine.topic_partitions("made"), Some(3));
    })
    .await
    .expect("test body");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aggregate_state_is_restored_from_its_changelog_after_restart() {
    let broker = EmbeddedBroker::start("127.0.0.1:0").await.expect("broker starts");
    let config = KafkaConfig::new(broker.bootstrap_servers());
    tokio::task::spawn_blocking(move || {
        const DDL: &str = "CREATE STREAM CLICKS (USER STRING KEY, PAGE STRING) WITH (kafka_topic='clicks', value_format='JSON', partitions=2);";
        const CTAS: &str = "CREATE TABLE PER_USER AS SELECT USER, COUNT(*) AS N FROM CLICKS GROUP BY USER;";
        let mut engine = Engine::with_kafka(properties(), config.clone()).expect("engine connects");
        engine.execute_sql(DDL).expect("create stream");
        engine.execute_sql(CTAS).expect("ctas");
        for user in ["ann", "bob", "ann"] {
            engine.produce("clicks", record(user, r#"{"page": "home"}"#, 1)).expect("produce");
        }
        // Updates are coalesced per key per batch, so the number of records varies; the
        // latest value per key does not.
        let counted = |n: &'static str| move |records: &[TopicRecord]| latest_by_key(records).get("ann").map(String::as_str) == Some(n);
        let out = await_until(&engine, "PER_USER", counted(r#"{"N":2}"#));
        assert_eq!(latest_by_key(&out).get("ann").map(String::as_str), Some(r#"{"N":2}"#));
        drop(engine);

        let mut engine = Engine::with_kafka(properties(), config).expect("engine reconnects");
        engine.execute_sql(DDL).expect("create stream again");
        engine.execute_sql(CTAS).expect("ctas again");
        engine.produce("clicks", record("ann", r#"{"page": "cart"}"#, 2)).expect("produce");
        let out = await_until(&engine, "PER_USER", counted(r#"{"N":3}"#));
        let latest = latest_by_key(&out);
        assert_eq!(latest.get("ann").map(String::as_str), Some(r#"{"N":3}"#), "the count continues from the restored state");
        assert_eq!(latest.get("bob").map(String::as_str), Some(r#"{"N":1}"#));
    })
    .await
    .expect("test body");
}

/// Both inputs of a stream-table join have a backlog when the query starts, the stream's
/// written first: the query still takes the records in timestamp order across the topics, so
/// each order is joined with the price valid at its time (not the last one, nor none).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_join_over_two_backlogged_topics_follows_their_timestamps() {
    let broker = EmbeddedBroker::start("127.0.0.1:0").await.expect("broker starts");
    let config = KafkaConfig::new(broker.bootstrap_servers());
    tokio::task::spawn_blocking(move || {
        let mut engine = Engine::with_kafka(properties(), config).expect("engine connects");
        engine
            .execute_sql(
                "CREATE STREAM ORDERS (K STRING KEY, N INT) WITH (kafka_topic='orders', value_format='JSON', partitions=1);
                 CREATE TABLE PRICES (K STRING PRIMARY KEY, PRICE INT) WITH (kafka_topic='prices', value_format='JSON', partitions=1);",
            )
            .expect("sources");
        for i in 1..=50 {
            engine.produce("orders", record("p", &format!(r#"{{"n": {i}}}"#), i * 100 + 50)).expect("produce order");
        }
        for i in 1..=50 {
            engine.produce("prices", record("p", &format!(r#"{{"price": {i}}}"#), i * 100)).expect("produce price");
        }
        engine
            .execute_sql("CREATE STREAM PRICED AS SELECT O.K, O.N, P.PRICE FROM ORDERS O LEFT JOIN PRICES P ON O.K = P.K;")
            .expect("join");
        let out = await_records(&engine, "PRICED", 50);
        let pairs: Vec<(i64, i64)> = out
            .iter()
            .map(|r| {
                let value: serde_json::Value = serde_json::from_slice(r.value.as_deref().unwrap_or_default()).expect("JSON value");
                (value["N"].as_i64().unwrap_or(-1), value["PRICE"].as_i64().unwrap_or(-1))
            })
            .collect();
        assert_eq!(pairs, (1..=50).map(|i| (i, i)).collect::<Vec<_>>());
    })
    .await
    .expect("test thread");
}

/// The latest value of each key of `records` (a table's current rows), as text.
fn latest_by_key(records: &[TopicRecord]) -> BTreeMap<String, String> {
    records
        .iter()
        .map(|r| {
            (
                String::from_utf8_lossy(r.key.as_deref().unwrap_or_default()).to_string(),
                String::from_utf8_lossy(r.value.as_deref().unwrap_or_default()).to_string(),
            )
        })
        .collect()
}

/// Waits until each of `servers` holds `each` input partitions of query `id`: the consumer
/// group has settled (fails at `deadline`).
fn await_assignment(servers: &[&Engine], id: &str, each: u64, deadline: Instant) {
    let assigned = |engine: &Engine| engine.query_stats(id).map_or(0, |s| s.assigned_partitions.load(std::sync::atomic::Ordering::Relaxed));
    while servers.iter().any(|engine| assigned(engine) != each) {
        let held: Vec<u64> = servers.iter().map(|engine| assigned(engine)).collect();
        assert!(Instant::now() < deadline, "each server should hold {each} partitions of {id}, they hold {held:?}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Two servers run the same grouped query (same consumer group), so each consumes some of
/// the source's partitions. Grouping by a value column sends every row through the query's
/// repartition topic to its group's partition, so each group is counted by one server from
/// all of its rows: the table's latest row per group is the full count. (Re-keying in place,
/// each server would publish its own partial counts.) When one server leaves, the other takes
/// over its partitions with their state, restored from the changelog.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn servers_sharing_a_grouped_query_count_each_group_once_through_the_repartition_topic() {
    let broker = EmbeddedBroker::start("127.0.0.1:0").await.expect("broker starts");
    let config = KafkaConfig::new(broker.bootstrap_servers());
    tokio::task::spawn_blocking(move || {
        const DDL: &str = "CREATE STREAM CLICKS (USER STRING KEY, PAGE STRING) WITH (kafka_topic='clicks', value_format='JSON', partitions=2);";
        const CTAS: &str = "CREATE TABLE HITS AS SELECT PAGE, COUNT(*) AS N FROM CLICKS GROUP BY PAGE;";
        let mut first = Engine::with_kafka(properties(), config.clone()).expect("first server connects");
        first.execute_sql(DDL).expect("create stream");
        first.execute_sql(CTAS).expect("ctas");
        let repartition = first.topic_names().into_iter().find(|t| t.ends_with("-Aggregate-GroupBy-repartition")).expect("repartition topic");
        assert_eq!(first.topic_partitions(&repartition), Some(2));
        let mut second = Engine::with_kafka(properties(), config).expect("second server connects");
        second.execute_sql(DDL).expect("create stream again");
        second.execute_sql(CTAS).expect("same query on the second server");

        // Once the group gave each server its share of the source and repartition
        // partitions (2 + 2), users spread over both partitions click pages.
        let consumed = |engine: &Engine| engine.query_stats("CTAS_HITS_0").map_or(0, |s| s.consumed.load(std::sync::atomic::Ordering::Relaxed));
        let deadline = Instant::now() + Duration::from_secs(60);
        await_assignment(&[&first, &second], "CTAS_HITS_0", 2, deadline);
        let mut totals: BTreeMap<String, u64> = BTreeMap::new();
        let click = |engine: &mut Engine, totals: &mut BTreeMap<String, u64>, clicks: std::ops::Range<u64>| {
            for click in clicks {
                let user = format!("user{}", click % 7);
                let page = format!("page{}", click % 3);
                engine.produce("clicks", record(&user, &format!(r#"{{"page": "{page}"}}"#), click as i64)).expect("produce");
                *totals.entry(page).or_default() += 1;
            }
        };
        let clicks = 60u64;
        click(&mut first, &mut totals, 0..clicks);
        let expected: BTreeMap<String, String> = totals.iter().map(|(page, n)| (page.clone(), format!(r#"{{"N":{n}}}"#))).collect();
        let out = await_until(&first, "HITS", |records| latest_by_key(records) == expected);
        assert_eq!(latest_by_key(&out), expected, "every group counted once, from all of its rows, over {clicks} clicks");
        assert!(consumed(&first) > 0 && consumed(&second) > 0, "both servers took part");

        // The second server leaves: the first takes over its partitions and, with them, the
        // state the second built (from the changelog), and counts on from there.
        drop(second);
        await_assignment(&[&first], "CTAS_HITS_0", 4, deadline + Duration::from_secs(60));
        click(&mut first, &mut totals, clicks..2 * clicks);
        let expected: BTreeMap<String, String> = totals.iter().map(|(page, n)| (page.clone(), format!(r#"{{"N":{n}}}"#))).collect();
        let out = await_until(&first, "HITS", |records| latest_by_key(records) == expected);
        assert_eq!(latest_by_key(&out), expected, "counts continue from the state the second server left");
    })
    .await
    .expect("test body");
}

/// With the record cache on (`cache.max.bytes.buffering` > 0), an aggregate's updates are held
/// until the commit and only the last one per key is emitted; with it off, every update is.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aggregate_updates_coalesce_per_commit_interval_unless_the_cache_is_off() {
    let broker = EmbeddedBroker::start("127.0.0.1:0").await.expect("broker starts");
    let config = KafkaConfig::new(broker.bootstrap_servers());
    tokio::task::spawn_blocking(move || {
        const DDL: &str = "CREATE STREAM CLICKS (USER STRING KEY, PAGE STRING) WITH (kafka_topic='clicks', value_format='JSON', partitions=1);";
        let cached = BTreeMap::from([
            ("auto.offset.reset".to_string(), "earliest".to_string()),
            ("commit.interval.ms".to_string(), "5000".to_string()),
        ]);
        let mut engine = Engine::with_kafka(cached, config.clone()).expect("engine connects");
        engine.execute_sql(DDL).expect("create stream");
        engine.execute_sql("CREATE TABLE CACHED AS SELECT USER, COUNT(*) AS N FROM CLICKS GROUP BY USER;").expect("ctas");
        let mut uncached_properties = properties();
        uncached_properties.insert("cache.max.bytes.buffering".to_string(), "0".to_string());
        let mut uncached = Engine::with_kafka(uncached_properties, config).expect("engine connects");
        uncached.execute_sql(DDL).expect("create stream");
        uncached.execute_sql("CREATE TABLE EVERY AS SELECT USER, COUNT(*) AS N FROM CLICKS GROUP BY USER;").expect("ctas");
        // Clicks trickle in, so the queries see them in many small batches.
        for i in 0..30 {
            engine.produce("clicks", record("ann", r#"{"page": "home"}"#, i)).expect("produce");
            std::thread::sleep(Duration::from_millis(20));
        }
        let every = await_records(&uncached, "EVERY", 30);
        assert_eq!(every.len(), 30, "without the cache every update is emitted");
        let done = |records: &[TopicRecord]| latest_by_key(records).get("ann").map(String::as_str) == Some(r#"{"N":30}"#);
        let cached_out = await_until(&engine, "CACHED", done);
        assert!(done(&cached_out), "the held result is emitted at the commit");
        assert!(cached_out.len() <= 3, "updates coalesce per commit interval, not per batch: {} records", cached_out.len());
    })
    .await
    .expect("test body");
}

/// Two servers share a stream-table join whose stream is not keyed by the join expression.
/// Each server holds half of the table's partitions; the orders go through the query's
/// repartition topic, keyed by item like the table, so each order meets its item on the
/// server holding it. (Joined in place, an order read by the other server finds no item.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn servers_sharing_a_join_meet_each_order_with_its_item_through_the_repartition_topic() {
    let broker = EmbeddedBroker::start("127.0.0.1:0").await.expect("broker starts");
    let config = KafkaConfig::new(broker.bootstrap_servers());
    tokio::task::spawn_blocking(move || {
        const ORDERS: &str = "CREATE STREAM ORDERS (ID STRING KEY, ITEM STRING, QTY INT) WITH (kafka_topic='orders', value_format='JSON', partitions=2);";
        const ITEMS: &str = "CREATE TABLE ITEMS (ID STRING PRIMARY KEY, NAME STRING) WITH (kafka_topic='items', value_format='JSON', partitions=2);";
        const CSAS: &str = "CREATE STREAM ENRICHED AS SELECT ITEMS.ID AS ITEM, ORDERS.ID AS ORDER_ID, NAME FROM ORDERS JOIN ITEMS ON ORDERS.ITEM = ITEMS.ID;";
        let mut first = Engine::with_kafka(properties(), config.clone()).expect("first server connects");
        for sql in [ORDERS, ITEMS, CSAS] {
            first.execute_sql(sql).expect("statement");
        }
        let mut second = Engine::with_kafka(properties(), config).expect("second server connects");
        for sql in [ORDERS, ITEMS, CSAS] {
            second.execute_sql(sql).expect("same statements on the second server");
        }
        // Orders, items and the repartition topic: 6 partitions, 3 each.
        await_assignment(&[&first, &second], "CSAS_ENRICHED_0", 3, Instant::now() + Duration::from_secs(60));
        // Items written once each server holds its partitions: each server's table holds
        // only its half. Orders come after their items (a join reads items as of its time).
        for i in 0..8 {
            first.produce("items", record(&format!("item{i}"), &format!(r#"{{"name": "item{i} name"}}"#), 1)).expect("produce");
        }
        let orders = 24;
        for i in 0..orders {
            first.produce("orders", record(&format!("order{i}"), &format!(r#"{{"item": "item{}", "qty": 1}}"#, i % 8), 1000 + i)).expect("produce");
        }
        let out = await_records(&first, "ENRICHED", orders as usize);
        let mut joined: Vec<String> = out
            .iter()
            .map(|r| {
                let value: serde_json::Value = serde_json::from_slice(r.value.as_deref().unwrap_or_default()).expect("json");
                format!("{} {}", value["ORDER_ID"].as_str().unwrap_or("?"), value["NAME"].as_str().unwrap_or("?"))
            })
            .collect();
        joined.sort();
        let mut expected: Vec<String> = (0..orders).map(|i| format!("order{i} item{} name", i % 8)).collect();
        expected.sort();
        assert_eq!(joined, expected, "every order joined its item exactly once");
    })
    .await
    .expect("test body");
}
