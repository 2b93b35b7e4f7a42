//! Bid payloads and helpers shared by the decode bench (also used by ad-hoc harnesses via `#[path]`).

use std::sync::Arc;
use std::time::Instant;

use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};

pub const RECORDS: usize = 100_000;

pub fn bid_schema() -> SchemaRef {
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
pub fn payloads() -> Vec<Vec<u8>> {
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

pub fn report(name: &str, f: &mut dyn FnMut()) {
    f(); // warm up
    let start = Instant::now();
    let rounds = 5;
    for _ in 0..rounds {
        f();
    }
    let secs = start.elapsed().as_secs_f64();
    println!("{name}: {:.0} events/s", (RECORDS * rounds) as f64 / secs);
}

