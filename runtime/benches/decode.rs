//! Decoding 100k Nexmark-style bid JSON records into Arrow, against plain `serde_json` parsing
//! of the same payloads into `Value`s (which builds no columns at all) as a baseline.
//!
//! Run with `cargo bench -p runnel-runtime --bench decode`; besides criterion's timings it
//! prints events/s for each variant.

use std::hint::black_box;
use std::sync::Arc;
use std::time::Instant;

use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use runnel_runtime::format::{Decoder, Format, Wrapping};

const RECORDS: usize = 100_000;

fn bid_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("AUCTION", DataType::Int64, true),
        Field::new("BIDDER", DataType::Int64, true),
        Field::new("PRICE", DataType::Int64, true),
        Field::new("CHANNEL", DataType::Utf8, true),
        Field::new("URL", DataType::Utf8, true),
        Field::new("DATETIME", DataType::Timestamp(TimeUnit::Millisecond, None), true),
        Field::new("EXTRA", DataType::Utf8, true),
    ]))
}

/// Deterministic bid payloads shaped like Nexmark's generator output.
fn payloads() -> Vec<Vec<u8>> {
    let channels = ["Google", "Facebook", "Baidu", "Apple"];
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    (0..RECORDS)
        .map(|i| {
            let auction = 1000 + next() % 10_000;
            let bidder = 1000 + next() % 100_000;
            let price = 100 + next() % 10_000_000;
            let channel = channels[(next() % 4) as usize];
            let url = format!("https://www.nexmark.com/{}/item.htm?query=1&channel_id={}", channel.to_lowercase(), next() % 1_000_000);
            let dt = 1_700_000_000_000i64 + i as i64 * 10;
            let extra = "x".repeat((next() % 24) as usize);
            format!(
                r#"{{"auction":{auction},"bidder":{bidder},"price":{price},"channel":"{channel}","url":"{url}","dateTime":{dt},"extra":"{extra}"}}"#
            )
            .into_bytes()
        })
        .collect()
}

fn report(name: &str, f: &mut dyn FnMut()) {
    f(); // warm up
    let start = Instant::now();
    let rounds = 5;
    for _ in 0..rounds {
        f();
    }
    let secs = start.elapsed().as_secs_f64();
    println!("{name}: {:.0} events/s", (RECORDS * rounds) as f64 / secs);
}

fn bench(c: &mut Criterion) {
    let data = payloads();
    let refs: Vec<Option<&[u8]>> = data.iter().map(|p| Some(p.as_slice())).collect();
    let mut decoder = Decoder::new(Format::Json, bid_schema(), Wrapping::Wrapped).expect("decoder");

    report("runnel JSON -> Arrow (100k bids)", &mut || {
        let d = decoder.decode(&refs).expect("decode");
        assert!(d.errors.is_empty());
        black_box(d);
    });
    report("serde_json::Value baseline (100k bids)", &mut || {
        for p in &data {
            let v: serde_json::Value = serde_json::from_slice(p).expect("json");
            black_box(v);
        }
    });

    let mut group = c.benchmark_group("decode_bids");
    group.throughput(Throughput::Elements(RECORDS as u64));
    group.sample_size(10);
    group.bench_function("runnel_json_to_arrow", |b| {
        b.iter(|| black_box(decoder.decode(&refs).expect("decode")))
    });
    group.bench_function("serde_json_value_baseline", |b| {
        b.iter(|| {
            for p in &data {
                black_box(serde_json::from_slice::<serde_json::Value>(p).expect("json"));
            }
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
