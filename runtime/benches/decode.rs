//! Decoding 100k Nexmark-style bid JSON records into Arrow, against plain `serde_json` parsing
//! of the same payloads into `Value`s (which builds no columns at all) as a baseline.
//!
//! Run with `cargo bench -p runnel-runtime --bench decode`; besides criterion's timings it
//! prints events/s for each variant.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use runnel_runtime::format::{Decoder, Format, Wrapping};

mod common;

use common::{bid_schema, payloads, report, RECORDS};

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
