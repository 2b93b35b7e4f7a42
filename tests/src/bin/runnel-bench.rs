//! Throughput over Kafka: Nexmark bids produced as JSON to a broker, queries run as
//! persistent queries, events/s from the query's start until it has consumed every bid, next
//! to the raw floor measured in the same run (plain rdkafka consume + JSON decode of the same
//! topic). Stateless: q0, q1, q2. Stateful (state stores with changelog topics): q5s1
//! (hopping count per auction), q7s1 (tumbling max, EMIT FINAL), q11 (session count per
//! bidder), q17 (per auction and day: counts, min, max, avg, sum). `pull`: a per-auction
//! count table read by key-lookup pull queries, one after another, while it ingests the bids;
//! prints the ingest rate and the lookup latency (p50/p99/max). Joins over persons and
//! auctions produced keyed by id (a quarter persons, three quarters auctions, event time at
//! 100 000 events/s so that windows close): q3 (auction stream ⋈ person table, filtered),
//! q20 (bid stream ⋈ auction table, category 10) and q8 (person stream ⋈ auction stream
//! WITHIN 10 seconds, GRACE PERIOD 1 second, which bounds its buffers); each prints the state entries it holds at the end and at most.
//!
//! `cargo run --release -p runnel-tests --bin runnel-bench -- [--events N]
//! [--query q0|q1|q2|q5s1|q7s1|q11|q17|pull|q3|q20|q8|stateless|stateful|joins|all] [--bootstrap-servers HOST:PORT]`
//! (without bootstrap servers it starts the embedded broker, memory storage).

use std::collections::BTreeMap;
use std::process::ExitCode;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use clap::Parser;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::message::Message;
use rdkafka::producer::{BaseRecord, Producer, ThreadedProducer};
use rdkafka::producer::DefaultProducerContext;
use rdkafka::{Offset, TopicPartitionList};
use runnel_runtime::kafka::KafkaConfig;
use runnel_runtime::Engine;
use runnel_server::embedded_broker::EmbeddedBroker;
use runnel_tests::nexmark::{BidGenerator, Config};
use runnel_tests::nexmark::stateless::{bid_decoder, BATCH, BID_DDL, Q1, Q2};

#[derive(Parser, Debug)]
#[command(about = "Nexmark q0/q1/q2 as persistent queries over Kafka, against raw consume + decode")]
struct Args {
    /// Number of bids.
    #[arg(long, default_value_t = 1_000_000)]
    events: usize,
    /// A query name, `stateless`, `stateful`, `joins` or `all`.
    #[arg(long, default_value = "all")]
    query: String,
    /// Use this cluster instead of the embedded broker.
    #[arg(long)]
    bootstrap_servers: Option<String>,
}

/// q0 (pass-through), as in nexmark.md.
const Q0: &str = "CREATE STREAM q0 AS SELECT * FROM bid EMIT CHANGES;";
/// Stateful queries of nexmark.md (section 3.2); q17 has a two-column key, which needs a key
/// format that holds several columns (KAFKA holds one).
const Q5_STAGE1: &str = "CREATE TABLE q5s1 AS SELECT auction, COUNT(*) AS num, WINDOWSTART AS starttime, WINDOWEND AS endtime \
    FROM bid WINDOW HOPPING (SIZE 10 SECONDS, ADVANCE BY 2 SECONDS) GROUP BY auction EMIT CHANGES;";
const Q7_STAGE1: &str = "CREATE TABLE q7s1 AS SELECT 1 AS k, MAX(price) AS maxprice, WINDOWEND AS wend \
    FROM bid WINDOW TUMBLING (SIZE 10 SECONDS) GROUP BY 1 EMIT FINAL;";
const Q11: &str = "CREATE TABLE q11 AS SELECT bidder, COUNT(*) AS bid_count, WINDOWSTART AS starttime, WINDOWEND AS endtime \
    FROM bid WINDOW SESSION (10 SECONDS) GROUP BY bidder EMIT CHANGES;";
const Q17: &str = "CREATE TABLE q17 WITH (KEY_FORMAT='JSON') AS SELECT auction, TIMESTAMPTOSTRING(`dateTime`, 'yyyy-MM-dd', 'UTC') AS day, \
    COUNT(*) AS total_bids, \
    SUM(CASE WHEN price < 10000 THEN 1 ELSE 0 END) AS rank1_bids, \
    SUM(CASE WHEN price >= 10000 AND price < 1000000 THEN 1 ELSE 0 END) AS rank2_bids, \
    SUM(CASE WHEN price >= 1000000 THEN 1 ELSE 0 END) AS rank3_bids, \
    MIN(price) AS min_price, MAX(price) AS max_price, AVG(price) AS avg_price, SUM(price) AS sum_price \
    FROM bid GROUP BY auction, TIMESTAMPTOSTRING(`dateTime`, 'yyyy-MM-dd', 'UTC') EMIT CHANGES;";

/// The table the pull-query latency is measured on, and the lookup (`{}` = an auction id).
const PULL_TABLE: &str = "CREATE TABLE bids_per_auction AS SELECT auction, COUNT(*) AS bids, MAX(price) AS max_price \
    FROM bid GROUP BY auction EMIT CHANGES;";
const PULL_LOOKUP: &str = "SELECT * FROM bids_per_auction WHERE auction = {};";

/// Persons and auctions (nexmark.md §3.1), produced with the record key = id.
const JOIN_SOURCES: &str = "CREATE STREAM auction (id BIGINT, `itemName` VARCHAR, description VARCHAR, `initialBid` BIGINT, reserve BIGINT, \
    `dateTime` BIGINT, expires BIGINT, seller BIGINT, category BIGINT, extra VARCHAR) \
    WITH (KAFKA_TOPIC='auction', VALUE_FORMAT='JSON', TIMESTAMP='dateTime', PARTITIONS=2); \
    CREATE STREAM person (id BIGINT, name VARCHAR, `emailAddress` VARCHAR, `creditCard` VARCHAR, city VARCHAR, state VARCHAR, \
    `dateTime` BIGINT, extra VARCHAR) WITH (KAFKA_TOPIC='person', VALUE_FORMAT='JSON', TIMESTAMP='dateTime', PARTITIONS=2); \
    CREATE TABLE person_t (pid BIGINT PRIMARY KEY, name VARCHAR, city VARCHAR, state VARCHAR, `dateTime` BIGINT) \
    WITH (KAFKA_TOPIC='person', KEY_FORMAT='JSON', VALUE_FORMAT='JSON', TIMESTAMP='dateTime'); \
    CREATE TABLE auction_t (aid BIGINT PRIMARY KEY, `itemName` VARCHAR, description VARCHAR, `initialBid` BIGINT, \
    reserve BIGINT, `dateTime` BIGINT, expires BIGINT, seller BIGINT, category BIGINT, extra VARCHAR) \
    WITH (KAFKA_TOPIC='auction', KEY_FORMAT='JSON', VALUE_FORMAT='JSON', TIMESTAMP='dateTime');";
/// Join queries of nexmark.md §3.2.
const Q3: &str = "CREATE STREAM q3 AS SELECT A.seller, P.name, P.city, P.state, A.id AS auction_id \
    FROM auction A JOIN person_t P ON A.seller = P.pid \
    WHERE A.category = 10 AND P.state IN ('OR', 'ID', 'CA') EMIT CHANGES;";
const Q20: &str = "CREATE STREAM q20 AS SELECT B.auction, B.bidder, B.price, B.channel, B.url, B.`dateTime`, \
    A.`itemName`, A.description, A.`initialBid`, A.reserve, A.expires, A.seller, A.category \
    FROM bid B JOIN auction_t A ON B.auction = A.aid WHERE A.category = 10 EMIT CHANGES;";
const Q8: &str = "CREATE STREAM q8 AS SELECT P.id AS id, P.name AS name, A.`dateTime` AS auction_time \
    FROM person P JOIN auction A WITHIN 10 SECONDS GRACE PERIOD 1 SECOND ON P.id = A.seller EMIT CHANGES;";
/// Event time density of all events: 100 000 events/s, as nexmark.md's bench (10-second
/// windows then close every 920 000 bids).
const EVENT_RATE: u64 = 100_000;

const STATELESS: [(&str, &str); 3] = [("q0", Q0), ("q1", Q1), ("q2", Q2)];
const STATEFUL: [(&str, &str); 5] =
    [("q5s1", Q5_STAGE1), ("q7s1", Q7_STAGE1), ("q11", Q11), ("q17", Q17), ("pull", PULL_TABLE)];
const JOINS: [(&str, &str); 3] = [("q3", Q3), ("q20", Q20), ("q8", Q8)];

fn rate(events: usize, s: f64) -> String {
    format!("{events} events in {s:.3} s = {:.3} M events/s", events as f64 / s / 1e6)
}

fn main() -> ExitCode {
    let args = Args::parse();
    let wanted = args.query.to_ascii_lowercase();
    let queries: Vec<(&str, &str)> = match wanted.as_str() {
        "stateless" => STATELESS.to_vec(),
        "stateful" => STATEFUL.to_vec(),
        "joins" => JOINS.to_vec(),
        "all" => STATELESS.iter().chain(&STATEFUL).chain(&JOINS).copied().collect(),
        name => match STATELESS.iter().chain(&STATEFUL).chain(&JOINS).find(|(n, _)| *n == name) {
            Some(query) => vec![*query],
            None => {
                eprintln!("unknown --query {name} (q0, q1, q2, q5s1, q7s1, q11, q17, pull, q3, q20, q8, stateless, stateful, joins or all)");
                return ExitCode::FAILURE;
            }
        },
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("cannot start tokio: {e}");
            return ExitCode::FAILURE;
        }
    };
    let (bootstrap, _broker) = match args.bootstrap_servers {
        Some(b) => (b, None),
        None => match runtime.block_on(EmbeddedBroker::start("127.0.0.1:0")) {
            Ok(broker) => (broker.bootstrap_servers().to_string(), Some(broker)),
            Err(e) => {
                eprintln!("{e}");
                return ExitCode::FAILURE;
            }
        },
    };
    match run(&bootstrap, args.events, &queries) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{e}");
            ExitCode::FAILURE
        }
    }
}

fn run(bootstrap: &str, n: usize, queries: &[(&str, &str)]) -> Result<(), String> {
    let config = KafkaConfig::new(bootstrap);
    let properties = BTreeMap::from([("auto.offset.reset".to_string(), "earliest".to_string())]);
    let mut engine = Engine::with_kafka(properties, config).map_err(|e| e.to_string())?;
    engine.execute_sql(BID_DDL).map_err(|e| e.to_string())?;

    // Every topic is produced with the record timestamp = the event's `dateTime`, so that a
    // query over several topics orders them as their event times interleave.
    let generator = BidGenerator::new(Config { rate: EVENT_RATE, ..Config::default() });
    let data = generator.bids(n);
    let bid_times: Vec<i64> = (0..n as u64).map(|i| generator.timestamp_for(generator.bid_event_number(i))).collect();
    let produce_s = produce(bootstrap, &data, &bid_times)?;
    println!("produce: {}", rate(n, produce_s));

    let (floor_s, floor_rows) = raw_consume_and_decode(bootstrap, n)?;
    println!("raw floor (rdkafka consume + JSON decode): {}", rate(floor_rows, floor_s));

    let auctions = sample_auctions(&data, 1000)?;
    // Persons and auctions only when a join needs them: a quarter and three quarters of n.
    let (persons_n, auctions_n) = (n / 4, n - n / 4);
    if queries.iter().any(|(name, _)| JOINS.iter().any(|(j, _)| j == name)) {
        engine.execute_sql(JOIN_SOURCES).map_err(|e| e.to_string())?;
        let persons: Vec<(Vec<u8>, Vec<u8>, i64)> = (0..persons_n as u64)
            .map(|i| (generator.person(i), generator.timestamp_for(generator.person_event_number(i))))
            .map(|((id, p), ts)| (id.to_string().into_bytes(), p, ts))
            .collect();
        let auction_records: Vec<(Vec<u8>, Vec<u8>, i64)> = (0..auctions_n as u64)
            .map(|i| (generator.auction(i), generator.timestamp_for(generator.auction_event_number(i))))
            .map(|((id, a), ts)| (id.to_string().into_bytes(), a, ts))
            .collect();
        let s = produce_keyed(bootstrap, "person", &persons)? + produce_keyed(bootstrap, "auction", &auction_records)?;
        println!("produce persons and auctions: {}", rate(persons_n + auctions_n, s));
    }
    for (name, sql) in queries {
        // Every input record of the query: bids, persons and/or auctions.
        let inputs = match *name {
            "q3" | "q8" => persons_n + auctions_n,
            "q20" => n + auctions_n,
            _ => n,
        };
        let start = Instant::now();
        let parsed = runnel_parser::parse_statements(sql).map_err(|e| format!("{name}: {e}"))?;
        let started = parsed.iter().map(|p| engine.execute_statement(p)).collect::<Result<Vec<_>, _>>().map_err(|e| format!("{name}: {e}"))?;
        let query_id = started.into_iter().flatten().next().ok_or_else(|| format!("{name} started no query"))?;
        let stats = engine.query_stats(&query_id).ok_or("query does not run on Kafka")?;
        let mut latencies = LookupLatencies::default();
        let mut max_state = 0;
        let deadline = start + Duration::from_secs(600);
        // Done when every input record is processed, and every row the query moved through a
        // repartition topic (GROUP BY or join on a non-key column) too.
        let caught_up = |s: &runnel_runtime::kafka::query::QueryStats| {
            s.consumed.load(Ordering::Relaxed) >= inputs as u64 && s.read_back.load(Ordering::Relaxed) >= s.repartitioned.load(Ordering::Relaxed)
        };
        while !caught_up(&stats) {
            max_state = max_state.max(stats.state_entries.load(Ordering::Relaxed));
            if let Ok(Some(failure)) = stats.failure.lock().map(|f| f.clone()) {
                return Err(format!("{name} failed: {failure}"));
            }
            if Instant::now() > deadline {
                return Err(format!("{name} consumed only {} of {inputs} in 600 s", stats.consumed.load(Ordering::Relaxed)));
            }
            if *name == "pull" {
                // Back to back, as a busy dashboard would: the query thread ingests meanwhile.
                let auction = auctions[latencies.samples.len() % auctions.len()];
                latencies.lookup(&mut engine, auction)?;
            } else {
                std::thread::sleep(Duration::from_millis(5));
            }
        }
        let s = start.elapsed().as_secs_f64();
        // The floor is per bid; a query over other inputs is compared per input record.
        let floor_per_event = floor_s / floor_rows.max(1) as f64;
        let state = stats.state_entries.load(Ordering::Relaxed);
        println!(
            "{name}: {} (produced {} records, {} rows repartitioned, {} skipped, state entries {} at end, {} at most); ratio to raw floor: {:.2}x",
            rate(inputs, s),
            stats.produced.load(Ordering::Relaxed),
            stats.repartitioned.load(Ordering::Relaxed),
            stats.record_errors.load(Ordering::Relaxed),
            state,
            max_state.max(state),
            s / (floor_per_event * inputs as f64)
        );
        if *name == "pull" {
            println!("{}", latencies.summary());
        }
    }
    Ok(())
}

/// Key-lookup pull queries timed end to end (parse, plan, read the store, run the plan).
#[derive(Default)]
struct LookupLatencies {
    samples: Vec<Duration>,
    rows: usize,
}

impl LookupLatencies {
    fn lookup(&mut self, engine: &mut Engine, auction: i64) -> Result<(), String> {
        let sql = PULL_LOOKUP.replace("{}", &auction.to_string());
        let start = Instant::now();
        let (_, batches) = engine.pull_query(&sql, &BTreeMap::new()).map_err(|e| format!("pull: {e}"))?;
        self.samples.push(start.elapsed());
        self.rows += batches.iter().map(|b| b.num_rows()).sum::<usize>();
        Ok(())
    }

    fn summary(&mut self) -> String {
        self.samples.sort_unstable();
        let at = |q: f64| {
            let i = ((self.samples.len() as f64 * q).ceil() as usize).saturating_sub(1);
            self.samples.get(i).map_or(0.0, |d| d.as_secs_f64() * 1e6)
        };
        format!(
            "pull key lookups while ingesting: {} lookups ({} rows found), latency p50 {:.0} us, p99 {:.0} us, max {:.0} us",
            self.samples.len(),
            self.rows,
            at(0.5),
            at(0.99),
            at(1.0)
        )
    }
}

/// Distinct auction ids of the first bids, the keys the pull benchmark looks up.
fn sample_auctions(data: &[Vec<u8>], count: usize) -> Result<Vec<i64>, String> {
    let mut auctions = Vec::with_capacity(count);
    for payload in data.iter().take(count * 20) {
        let bid: serde_json::Value = serde_json::from_slice(payload).map_err(|e| format!("bid payload: {e}"))?;
        if let Some(auction) = bid.get("auction").and_then(serde_json::Value::as_i64) {
            if !auctions.contains(&auction) {
                auctions.push(auction);
            }
        }
        if auctions.len() == count {
            break;
        }
    }
    if auctions.is_empty() {
        return Err("no auction ids in the generated bids".into());
    }
    Ok(auctions)
}

/// A record to produce: key (if any), payload, timestamp.
type Outgoing<'a> = (Option<&'a [u8]>, &'a [u8], i64);

fn produce(bootstrap: &str, data: &[Vec<u8>], timestamps: &[i64]) -> Result<f64, String> {
    let unkeyed: Vec<Outgoing<'_>> = data.iter().zip(timestamps).map(|(p, ts)| (None, p.as_slice(), *ts)).collect();
    produce_records(bootstrap, "bid", &unkeyed)
}

fn produce_keyed(bootstrap: &str, topic: &str, data: &[(Vec<u8>, Vec<u8>, i64)]) -> Result<f64, String> {
    let keyed: Vec<Outgoing<'_>> = data.iter().map(|(k, p, ts)| (Some(k.as_slice()), p.as_slice(), *ts)).collect();
    produce_records(bootstrap, topic, &keyed)
}

fn produce_records(bootstrap: &str, topic: &str, data: &[Outgoing<'_>]) -> Result<f64, String> {
    let producer: ThreadedProducer<DefaultProducerContext> = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("linger.ms", "20")
        .set("batch.size", "1000000")
        .create()
        .map_err(|e| e.to_string())?;
    let start = Instant::now();
    for (key, payload, timestamp) in data {
        let mut record: BaseRecord<'_, [u8], [u8]> = BaseRecord::to(topic).payload(*payload).timestamp(*timestamp);
        if let Some(key) = key {
            record = record.key(*key);
        }
        loop {
            match producer.send(record) {
                Ok(()) => break,
                Err((KafkaError::MessageProduction(rdkafka::types::RDKafkaErrorCode::QueueFull), back)) => {
                    record = back;
                    producer.poll(Duration::from_millis(5));
                }
                Err((e, _)) => return Err(format!("produce: {e}")),
            }
        }
    }
    producer.flush(Duration::from_secs(120)).map_err(|e| e.to_string())?;
    Ok(start.elapsed().as_secs_f64())
}

/// Consumes the whole `bid` topic with a plain consumer and decodes it into Arrow in batches.
fn raw_consume_and_decode(bootstrap: &str, n: usize) -> Result<(f64, usize), String> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", "runnel-bench-floor")
        .set("enable.auto.commit", "false")
        .create()
        .map_err(|e| e.to_string())?;
    let partitions = consumer
        .fetch_metadata(Some("bid"), Duration::from_secs(30))
        .map_err(|e| e.to_string())?
        .topics()
        .first()
        .map_or(0, |t| t.partitions().len() as i32);
    let mut assignment = TopicPartitionList::new();
    for p in 0..partitions {
        assignment.add_partition_offset("bid", p, Offset::Beginning).map_err(|e| e.to_string())?;
    }
    consumer.assign(&assignment).map_err(|e| e.to_string())?;
    let mut decoder = bid_decoder();
    let mut rows = 0;
    let mut batch: Vec<Vec<u8>> = Vec::with_capacity(BATCH);
    let start = Instant::now();
    let deadline = start + Duration::from_secs(600);
    while rows < n && Instant::now() < deadline {
        batch.clear();
        let mut wait = Duration::from_millis(100);
        while batch.len() < BATCH {
            match consumer.poll(wait) {
                Some(Ok(m)) => batch.push(m.payload().unwrap_or_default().to_vec()),
                Some(Err(e)) => return Err(format!("consume: {e}")),
                None => break,
            }
            wait = Duration::ZERO;
        }
        let refs: Vec<Option<&[u8]>> = batch.iter().map(|p| Some(p.as_slice())).collect();
        let decoded = decoder.decode(&refs).map_err(|e| e.to_string())?;
        rows += decoded.columns.first().map_or(0, |c| c.len());
    }
    Ok((start.elapsed().as_secs_f64(), rows))
}
