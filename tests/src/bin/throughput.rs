//! One-shot throughput of the stateless Nexmark queries against decode-only, in one process.
//!
//! `cargo run --release -p runnel-tests --bin throughput -- [--events N] [--query q1|q2|all] [--breakdown]`
//!
//! Generates N bids (`runnel_tests::nexmark`, untimed), then measures, after one untimed
//! warm-up run of each:
//! * decode-only: the JSON payloads decoded into Arrow (`format::Decoder`, batches of 4096);
//! * produce-only: appending the pre-built records to the in-memory `bid` topic;
//! * each query: produce everything, then `Engine::process()`; the ratio to decode is given
//!   net of the produce step (`process / decode`) and including it.
//!
//! `--breakdown` (implied when a query is over 2x decode) times the sub-steps of `process()`
//! one by one through public APIs: copying records out of the log, source decode
//! (`source::SourceDecoder`), output encode (`format::encode`), the sink append, and an
//! arrow-kernel equivalent of the query's expressions; the rest of `process()` is the
//! DataFusion operators plus glue.

use std::hint::black_box;
use std::process::ExitCode;
use std::time::Instant;

use arrow::array::{ArrayRef, AsArray, Decimal128Array, Int64Array, RecordBatch, Scalar};
use arrow::compute::kernels::{cmp, numeric};
use arrow::compute::{cast, filter_record_batch};
use arrow::datatypes::{DataType, Field, Fields, Int64Type};
use clap::Parser;
use runnel_planner::catalog::ColumnRole;
use runnel_planner::types::to_arrow;
use runnel_runtime::format::encode;
use runnel_runtime::source::{runtime_format, wrapping, SourceDecoder};
use runnel_runtime::{Engine, TopicRecord};
use runnel_tests::nexmark::stateless::{
    bid_decoder, decode_all, engine, payloads, produce_all, records, Query, BATCH,
};

#[derive(Parser, Debug)]
#[command(about = "Stateless Nexmark throughput (q1, q2) against decode-only")]
struct Args {
    /// Number of bids.
    #[arg(long, default_value_t = 1_000_000)]
    events: usize,
    /// q1, q2 or all.
    #[arg(long, default_value = "all")]
    query: String,
    /// Timed runs per measurement (the best is reported).
    #[arg(long, default_value_t = 1)]
    rounds: usize,
    /// Time the sub-steps of process() (implied when a ratio is above 2x).
    #[arg(long)]
    breakdown: bool,
    /// Print the first N generated payloads and exit.
    #[arg(long)]
    dump: Option<usize>,
}

fn secs(f: impl FnOnce()) -> f64 {
    let start = Instant::now();
    f();
    start.elapsed().as_secs_f64()
}

fn rate(events: usize, s: f64) -> String {
    format!("{events} events in {s:.3} s = {:.3} M events/s", events as f64 / s / 1e6)
}

fn main() -> ExitCode {
    let args = Args::parse();
    let queries: Vec<Query> = match args.query.to_ascii_lowercase().as_str() {
        "q1" => vec![Query::Q1],
        "q2" => vec![Query::Q2],
        "all" => Query::ALL.to_vec(),
        other => {
            eprintln!("unknown --query {other} (q1, q2 or all)");
            return ExitCode::FAILURE;
        }
    };
    if let Some(n) = args.dump {
        for p in payloads(n) {
            println!("{}", String::from_utf8_lossy(&p));
        }
        return ExitCode::SUCCESS;
    }
    let n = args.events;
    let rounds = args.rounds.max(1);

    let mut data = Vec::new();
    let gen_s = secs(|| data = payloads(n));
    let bytes: usize = data.iter().map(Vec::len).sum();
    println!(
        "generated {n} bids ({:.1} MB, avg {:.0} B) in {gen_s:.3} s = {:.3} M events/s",
        bytes as f64 / 1e6,
        bytes as f64 / n.max(1) as f64,
        n as f64 / gen_s / 1e6
    );
    let refs: Vec<Option<&[u8]>> = data.iter().map(|p| Some(p.as_slice())).collect();
    let recs = records(&data);

    // decode-only
    let mut decoder = bid_decoder();
    decode_all(&mut decoder, &refs); // warm-up
    let decode_s = best(rounds, || secs(|| assert_eq!(decode_all(&mut decoder, &refs), n)));
    println!("decode-only: {}", rate(n, decode_s));

    // produce-only
    let produce_s = best(rounds + 1, || {
        let mut e = engine(None);
        let input = recs.clone();
        let s = secs(|| produce_all(&mut e, input));
        drop(e);
        s
    });
    println!("produce-only: {}", rate(n, produce_s));

    let mut over = false;
    for &q in &queries {
        let mut last = None;
        let mut runs = Vec::new();
        for round in 0..=rounds {
            let mut e = engine(Some(q));
            let input = recs.clone();
            let p = secs(|| produce_all(&mut e, input));
            let t = secs(|| e.process().expect("process"));
            if round > 0 {
                runs.push((p, t));
            }
            last = Some(e);
        }
        let (p, t) = runs.into_iter().min_by(|a, b| (a.0 + a.1).total_cmp(&(b.0 + b.1))).expect("a run");
        let e = last.expect("an engine");
        let out = e.records(q.sink_topic());
        let errors = e.processing_errors().len();
        let ratio = t / decode_s;
        println!(
            "{}: {} (produce {p:.3} s + process {t:.3} s); output {} records, {errors} errors",
            q.name(),
            rate(n, p + t),
            out.len()
        );
        println!(
            "{}: process only {}; ratio to decode: {ratio:.2}x (incl. produce: {:.2}x)",
            q.name(),
            rate(n, t),
            (p + t) / decode_s
        );
        over |= ratio > 2.0;
        if args.breakdown || ratio > 2.0 {
            breakdown(q, &e, &recs, &out, t, decode_s, rounds);
        }
    }
    if over {
        println!("target: query within 2x of decode: NOT met");
    } else {
        println!("target: query within 2x of decode: met");
    }
    ExitCode::SUCCESS
}

fn best(rounds: usize, mut f: impl FnMut() -> f64) -> f64 {
    (0..rounds).map(|_| f()).fold(f64::INFINITY, f64::min)
}

/// Times the steps of `process()` separately (see the module docs).
fn breakdown(
    q: Query,
    e: &Engine,
    input: &[TopicRecord],
    output: &[TopicRecord],
    process_s: f64,
    decode_s: f64,
    rounds: usize,
) {
    let n = input.len();
    let pct = |s: f64| 100.0 * s / process_s;
    let line = |name: &str, s: f64| println!("  {:<44} {s:>7.3} s {:>5.1}% of process", name, pct(s));
    println!("{} breakdown (process() = {process_s:.3} s; decode-only = {decode_s:.3} s):", q.name());

    // 1. MemoryTopics::read copies each 4096-record slice out of the log.
    let read_s = best(rounds, || {
        secs(|| {
            for chunk in input.chunks(BATCH) {
                black_box(chunk.to_vec());
            }
        })
    });
    line("read: copy records out of the log", read_s);

    // 2. Source decode: value decode + ROWTIME/partition/offset columns.
    let bid = e.catalog().source("BID").expect("BID").clone();
    let mut source = SourceDecoder::new(bid).expect("source decoder");
    let mut errors = Vec::new();
    let mut batches: Vec<RecordBatch> = Vec::new();
    for chunk in input.chunks(BATCH) {
        batches.push(source.decode("bid", chunk, &mut errors).expect("decode").batch); // warm-up + keep
    }
    let source_s = best(rounds, || {
        secs(|| {
            for chunk in input.chunks(BATCH) {
                black_box(source.decode("bid", chunk, &mut errors).expect("decode"));
            }
        })
    });
    line("source decode (SourceDecoder)", source_s);
    line("  of which format::Decoder (decode-only)", decode_s);

    // 3. The query's expressions with plain arrow kernels (a floor for the operators).
    let kernels_s = best(rounds, || {
        secs(|| {
            for b in &batches {
                black_box(kernel_equivalent(q, b));
            }
        })
    });
    line("expressions as bare arrow kernels", kernels_s);

    // 4. Encoding the result rows (decoded back from the sink topic) with format::encode.
    let sink = e.catalog().source(q.sink_topic()).expect("sink").clone();
    let value_fields: Fields = sink
        .columns
        .iter()
        .filter(|c| c.role == ColumnRole::Value)
        .map(|c| Field::new(&c.name, to_arrow(&c.data_type), true))
        .collect();
    let format = runtime_format(&sink.value_format).expect("format");
    let wrap = wrapping(&sink.value_format);
    let mut sink_decoder = SourceDecoder::new(sink).expect("sink decoder");
    let out_batches: Vec<Vec<ArrayRef>> = output
        .chunks(BATCH)
        .map(|chunk| {
            let b = sink_decoder.decode("sink", chunk, &mut errors).expect("decode output").batch;
            b.columns()[..value_fields.len()].to_vec()
        })
        .collect();
    let encode_s = best(rounds, || {
        secs(|| {
            for cols in &out_batches {
                black_box(encode(&format, cols, &value_fields, wrap).expect("encode"));
            }
        })
    });
    line("encode output (format::encode)", encode_s);

    // 5. Appending the output records to a topic.
    let append_s = best(rounds, || {
        let mut sink_engine = engine(None);
        let out_copy = output.to_vec();
        secs(|| {
            for r in out_copy {
                sink_engine.produce("out", r).expect("append");
            }
        })
    });
    line("append output records to the sink topic", append_s);

    let rest = process_s - read_s - source_s - encode_s - append_s;
    line("rest: DataFusion operators + glue (+ noise)", rest);
    println!(
        "  ({n} input rows, {} output rows; {} source errors)",
        output.len(),
        errors.len()
    );
}

/// q1's projection or q2's filter + projection with arrow kernels directly.
fn kernel_equivalent(q: Query, batch: &RecordBatch) -> RecordBatch {
    let col = |name: &str| batch.column(batch.schema().index_of(name).expect("column")).clone();
    match q {
        Query::Q1 => {
            let price = cast(&col("PRICE"), &DataType::Decimal128(20, 0)).expect("cast");
            let rate = Decimal128Array::from(vec![908]).with_precision_and_scale(3, 3).expect("decimal");
            let converted = numeric::mul(&price, &Scalar::new(rate)).expect("mul");
            let columns = vec![col("AUCTION"), col("BIDDER"), converted, col("dateTime"), col("EXTRA")];
            RecordBatch::try_from_iter(["AUCTION", "BIDDER", "PRICE", "dateTime", "EXTRA"].into_iter().zip(columns))
                .expect("batch")
        }
        Query::Q2 => {
            let auction = col("AUCTION");
            let m = numeric::rem(&auction, &Scalar::new(Int64Array::from(vec![123]))).expect("rem");
            let keep = cmp::eq(&m, &Scalar::new(Int64Array::from(vec![0]))).expect("eq");
            let projected = RecordBatch::try_from_iter([("AUCTION", auction), ("PRICE", col("PRICE"))]).expect("batch");
            let out = filter_record_batch(&projected, &keep).expect("filter");
            debug_assert!(out.column(0).as_primitive::<Int64Type>().iter().all(|v| v.is_some_and(|v| v % 123 == 0)));
            out
        }
    }
}
