//! A deterministic Nexmark **bid** generator producing JSON payloads, for the benches.
//!
//! A port of the bid path of `gen_nexmark_json.py` (shared reference): Java's
//! `SplittableRandom` reproduced bit for bit and seeded per event
//! (`seed_n = mix64(seed + n * GOLDEN_GAMMA)`), the nexmark-flink id arithmetic (hot
//! auctions / bidders, including the doubled `FIRST_PERSON_ID` offset on `bidder`), the
//! log-uniform price, the hot-channel / 10 000-channel URL cache and the `extra` padding cut
//! from a 1 MiB pool (which contains backslashes, so the JSON escape path is exercised).
//! With the same parameters the payloads equal the script's `--only bid` output byte for byte.
//!
//! Shape of a payload (keys in this order, no spaces):
//! `{"auction":1000,"bidder":2001,"price":1234,"channel":"Google","url":"https://…","dateTime":1700000000000,"extra":"…"}`
//!
//! Generation is allocation-light: [`BidGenerator::write_bid`] appends to a caller buffer and
//! allocates nothing; the tables (pool, URL cache) are built once in [`BidGenerator::new`].

use runnel_runtime::format::write_int;

const GOLDEN_GAMMA: u64 = 0x9E37_79B9_7F4A_7C15;

const FIRST_AUCTION_ID: i64 = 1000;
const FIRST_PERSON_ID: i64 = 1000;
const PERSON_ID_LEAD: i64 = 10;
const AUCTION_ID_LEAD: i64 = 10;
const HOT_AUCTION_RATIO: i64 = 100;
const HOT_BIDDER_RATIO: i64 = 100;
const HOT_SELLER_RATIO: i64 = 100;
const FIRST_CATEGORY_ID: i64 = 10;
const NUM_CATEGORIES: i32 = 5;
const US_STATES: [&str; 6] = ["AZ", "CA", "ID", "OR", "WA", "WY"];
const US_CITIES: [&str; 10] =
    ["Phoenix", "Los Angeles", "San Francisco", "Boise", "Portland", "Bend", "Redmond", "Seattle", "Kent", "Cheyenne"];
const FIRST_NAMES: [&str; 11] = ["Peter", "Paul", "Luke", "John", "Saul", "Vicky", "Kate", "Julie", "Sarah", "Deiter", "Walter"];
const LAST_NAMES: [&str; 9] = ["Shultz", "Abrams", "Spencer", "White", "Bartels", "Walton", "Smith", "Jones", "Noris"];
const HOT_CHANNELS_RATIO: i32 = 2;
const CHANNELS_NUMBER: usize = 10_000;
const HOT_CHANNELS: [&str; 4] = ["Google", "Facebook", "Baidu", "Apple"];
const MIN_STRING_LENGTH: i32 = 3;
const EXTRA_POOL_LEN: usize = 1024 * 1024;

/// Generator parameters; the defaults are those of `gen_nexmark_json.py`.
#[derive(Debug, Clone)]
pub struct Config {
    pub seed: u64,
    /// Events per second of *event* time (`dateTime` density).
    pub rate: u64,
    /// Event time of event 0, epoch ms.
    pub base_time: i64,
    /// Add `FIRST_PERSON_ID` to `bidder` once (Beam) instead of twice (nexmark-flink).
    pub fix_bidder: bool,
    pub person_proportion: i64,
    pub auction_proportion: i64,
    pub bid_proportion: i64,
    pub hot_auction_ratio: i32,
    pub hot_bidders_ratio: i32,
    pub hot_sellers_ratio: i32,
    pub num_active_people: i64,
    pub num_in_flight_auctions: i64,
    pub avg_person_bytes: i32,
    pub avg_auction_bytes: i32,
    pub avg_bid_bytes: i32,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            seed: 42,
            rate: 10_000_000,
            base_time: 1_700_000_000_000,
            fix_bidder: false,
            person_proportion: 1,
            auction_proportion: 3,
            bid_proportion: 46,
            hot_auction_ratio: 2,
            hot_bidders_ratio: 4,
            hot_sellers_ratio: 4,
            num_active_people: 1000,
            num_in_flight_auctions: 100,
            avg_person_bytes: 200,
            avg_auction_bytes: 500,
            avg_bid_bytes: 100,
        }
    }
}

/// SplitMix64's finaliser (Java's `SplittableRandom.mix64`).
pub fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// `java.util.SplittableRandom` (the parts the generator uses), bit-exact.
#[derive(Debug, Clone)]
pub struct SplittableRandom {
    seed: u64,
}

impl SplittableRandom {
    pub fn new(seed: u64) -> Self {
        SplittableRandom { seed }
    }

    fn next_seed(&mut self) -> u64 {
        self.seed = self.seed.wrapping_add(GOLDEN_GAMMA);
        self.seed
    }

    pub fn next_long(&mut self) -> i64 {
        mix64(self.next_seed()) as i64
    }

    /// `mix32` of the next seed, as Java's `nextInt()`.
    pub fn next_int(&mut self) -> i32 {
        let mut z = self.next_seed();
        z = (z ^ (z >> 33)).wrapping_mul(0x62A9_D9ED_7997_05F5);
        (((z ^ (z >> 28)).wrapping_mul(0xCB24_D0A5_C88C_35B3)) >> 32) as u32 as i32
    }

    /// `nextInt(bound)` for `bound > 0` (Java's `RandomSupport.boundedNextInt`).
    pub fn next_int_bound(&mut self, bound: i32) -> i32 {
        debug_assert!(bound > 0);
        let r = self.next_int();
        let m = bound - 1;
        if bound & m == 0 {
            return r & m;
        }
        let mut u = ((r as u32) >> 1) as i32;
        loop {
            let r = u % bound;
            // Java checks `u + m - r < 0` in wrapping int arithmetic.
            if u.wrapping_add(m).wrapping_sub(r) >= 0 {
                return r;
            }
            u = ((self.next_int() as u32) >> 1) as i32;
        }
    }

    pub fn next_double(&mut self) -> f64 {
        ((mix64(self.next_seed()) >> 11) as f64) * (1.0 / (1u64 << 53) as f64)
    }
}

/// nexmark's `LongGenerator.nextLong(rng, n)` for `n > 0`.
fn next_long_bounded(rng: &mut SplittableRandom, n: i64) -> i64 {
    if n < i32::MAX as i64 {
        rng.next_int_bound(n as i32) as i64
    } else {
        (rng.next_long() % n).abs()
    }
}

/// `str(max, c)`: 3 + rand(max − 3) chars, each `c` with probability 1/13 else a..z; trimmed
/// of surrounding whitespace.
fn next_string(rng: &mut SplittableRandom, max_length: i32, special: u8, out: &mut String) {
    let n = MIN_STRING_LENGTH + rng.next_int_bound(max_length - MIN_STRING_LENGTH);
    let start = out.len();
    for _ in 0..n {
        let c = if rng.next_int_bound(13) == 0 { special } else { b'a' + rng.next_int_bound(26) as u8 };
        out.push(c as char);
    }
    let trimmed = out[start..].trim().to_string();
    out.truncate(start);
    out.push_str(&trimmed);
}

fn base_url(rng: &mut SplittableRandom) -> String {
    let mut url = String::from("https://www.nexmark.com/");
    for _ in 0..3 {
        next_string(rng, 5, b'_', &mut url);
        url.push('/');
    }
    url.push_str("item.htm?query=1");
    url
}

/// The 1 MiB `extra` pool (Java int arithmetic: negative values give `H`..`` ` `` too).
fn build_extra_pool(seed: u64) -> Vec<u8> {
    let mut rng = SplittableRandom::new(seed);
    let mut out = Vec::with_capacity(EXTRA_POOL_LEN);
    let mut rnd: i32 = 0;
    let mut n = 0;
    for _ in 0..EXTRA_POOL_LEN {
        if n == 0 {
            rnd = rng.next_int();
            n = 6;
        }
        out.push((97 + rnd % 26) as u8);
        rnd /= 26;
        n -= 1;
    }
    out
}

/// A generator of bid JSON payloads. See the module docs.
#[derive(Debug, Clone)]
pub struct BidGenerator {
    config: Config,
    total: i64,
    inter_event_delay_us: f64,
    extra_pool: Vec<u8>,
    hot_urls: Vec<String>,
    /// (channel, url) pairs.
    channel_cache: Vec<(String, String)>,
}

impl Default for BidGenerator {
    fn default() -> Self {
        Self::new(Config::default())
    }
}

impl BidGenerator {
    pub fn new(config: Config) -> Self {
        let total = config.person_proportion + config.auction_proportion + config.bid_proportion;
        let inter_event_delay_us = 1_000_000.0 / config.rate as f64;
        let extra_pool = build_extra_pool(config.seed.wrapping_add(1));
        let mut rng = SplittableRandom::new(config.seed.wrapping_add(2));
        let hot_urls = (0..HOT_CHANNELS.len()).map(|_| base_url(&mut rng)).collect();
        let channel_cache = (0..CHANNELS_NUMBER)
            .map(|i| {
                let mut url = base_url(&mut rng);
                if rng.next_int_bound(10) > 0 {
                    let reversed = (i as u32).reverse_bits() as i32;
                    url.push_str("&channel_id=");
                    url.push_str(&(reversed as i64).abs().to_string());
                }
                (format!("channel-{i}"), url)
            })
            .collect();
        BidGenerator { config, total, inter_event_delay_us, extra_pool, hot_urls, channel_cache }
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The event number (in the interleaved person/auction/bid sequence) of the `i`-th bid.
    pub fn bid_event_number(&self, i: u64) -> u64 {
        let bp = self.config.bid_proportion as u64;
        let before = (self.config.person_proportion + self.config.auction_proportion) as u64;
        (i / bp) * self.total as u64 + before + i % bp
    }

    /// Event time of event `n`, epoch ms.
    pub fn timestamp_for(&self, n: u64) -> i64 {
        self.config.base_time + ((n as f64 * self.inter_event_delay_us) as i64) / 1000
    }

    fn last_base0_person_id(&self, n: i64) -> i64 {
        let pp = self.config.person_proportion;
        let (epoch, mut offset) = (n.div_euclid(self.total), n.rem_euclid(self.total));
        if offset >= pp {
            offset = pp - 1;
        }
        epoch * pp + offset
    }

    fn last_base0_auction_id(&self, n: i64) -> i64 {
        let (pp, ap) = (self.config.person_proportion, self.config.auction_proportion);
        let (mut epoch, mut offset) = (n.div_euclid(self.total), n.rem_euclid(self.total));
        if offset < pp {
            epoch -= 1;
            offset = ap - 1;
        } else if offset >= pp + ap {
            offset = ap - 1;
        } else {
            offset -= pp;
        }
        epoch * ap + offset
    }

    fn next_base0_person_id(&self, n: i64, rng: &mut SplittableRandom) -> i64 {
        let num_people = self.last_base0_person_id(n) + 1;
        let active = num_people.min(self.config.num_active_people);
        num_people - active + next_long_bounded(rng, active + PERSON_ID_LEAD)
    }

    fn next_base0_auction_id(&self, n: i64, rng: &mut SplittableRandom) -> i64 {
        let last = self.last_base0_auction_id(n);
        let min = (last - self.config.num_in_flight_auctions).max(0);
        min + next_long_bounded(rng, last - min + 1 + AUCTION_ID_LEAD)
    }

    fn next_price(rng: &mut SplittableRandom) -> i64 {
        (10f64.powf(rng.next_double() * 6.0) * 100.0 + 0.5) as i64
    }

    fn next_extra(&self, rng: &mut SplittableRandom, current_size: i32, desired_avg: i32) -> &[u8] {
        if current_size > desired_avg {
            return &[];
        }
        let desired = desired_avg - current_size;
        let delta = (desired as f64 * 0.2).round() as i32;
        let size = desired - delta + if delta == 0 { 0 } else { rng.next_int_bound(2 * delta) };
        let off = rng.next_int_bound(EXTRA_POOL_LEN as i32 - size) as usize;
        &self.extra_pool[off..off + size as usize]
    }

    /// Appends the JSON payload of event `n` (which must be a bid event number, see
    /// [`Self::bid_event_number`]) to `out`.
    pub fn write_event(&self, n: u64, out: &mut Vec<u8>) {
        let seed = mix64(self.config.seed.wrapping_add(n.wrapping_mul(GOLDEN_GAMMA)));
        let mut rng = SplittableRandom::new(seed);
        let ts = self.timestamp_for(n);
        let n = n as i64;
        let mut auction = if rng.next_int_bound(self.config.hot_auction_ratio) > 0 {
            (self.last_base0_auction_id(n) / HOT_AUCTION_RATIO) * HOT_AUCTION_RATIO
        } else {
            self.next_base0_auction_id(n, &mut rng)
        };
        auction += FIRST_AUCTION_ID;
        let mut bidder = if rng.next_int_bound(self.config.hot_bidders_ratio) > 0 {
            (self.last_base0_person_id(n) / HOT_BIDDER_RATIO) * HOT_BIDDER_RATIO + 1
        } else {
            self.next_base0_person_id(n, &mut rng)
        };
        bidder += FIRST_PERSON_ID;
        let price = Self::next_price(&mut rng);
        let (channel, url) = if rng.next_int_bound(HOT_CHANNELS_RATIO) > 0 {
            let i = rng.next_int_bound(HOT_CHANNELS.len() as i32) as usize;
            (HOT_CHANNELS[i], self.hot_urls[i].as_str())
        } else {
            let (c, u) = &self.channel_cache[rng.next_int_bound(CHANNELS_NUMBER as i32) as usize];
            (c.as_str(), u.as_str())
        };
        if !self.config.fix_bidder {
            bidder += FIRST_PERSON_ID;
        }
        let extra = self.next_extra(&mut rng, 32, self.config.avg_bid_bytes);

        out.extend_from_slice(b"{\"auction\":");
        write_int(out, auction);
        out.extend_from_slice(b",\"bidder\":");
        write_int(out, bidder);
        out.extend_from_slice(b",\"price\":");
        write_int(out, price);
        out.extend_from_slice(b",\"channel\":");
        push_json_string(out, channel.as_bytes());
        out.extend_from_slice(b",\"url\":");
        push_json_string(out, url.as_bytes());
        out.extend_from_slice(b",\"dateTime\":");
        write_int(out, ts);
        out.extend_from_slice(b",\"extra\":");
        push_json_string(out, extra);
        out.push(b'}');
    }

    /// Appends the JSON payload of the `i`-th bid (0-based) to `out`.
    pub fn write_bid(&self, i: u64, out: &mut Vec<u8>) {
        self.write_event(self.bid_event_number(i), out);
    }

    /// The `i`-th bid as a fresh buffer.
    pub fn bid(&self, i: u64) -> Vec<u8> {
        let mut out = Vec::with_capacity(256);
        self.write_bid(i, &mut out);
        out
    }

    /// Bids `0..count`, one exactly-sized buffer each.
    pub fn bids(&self, count: usize) -> Vec<Vec<u8>> {
        let mut scratch = Vec::with_capacity(512);
        (0..count as u64)
            .map(|i| {
                scratch.clear();
                self.write_bid(i, &mut scratch);
                scratch.clone()
            })
            .collect()
    }

    /// The event number of the `i`-th person.
    pub fn person_event_number(&self, i: u64) -> u64 {
        let pp = self.config.person_proportion as u64;
        (i / pp) * self.total as u64 + i % pp
    }

    /// The event number of the `i`-th auction.
    pub fn auction_event_number(&self, i: u64) -> u64 {
        let ap = self.config.auction_proportion as u64;
        (i / ap) * self.total as u64 + self.config.person_proportion as u64 + i % ap
    }

    fn event_rng(&self, n: u64) -> SplittableRandom {
        SplittableRandom::new(mix64(self.config.seed.wrapping_add(n.wrapping_mul(GOLDEN_GAMMA))))
    }

    /// The `i`-th person: its id (the record key of the `person` topic) and JSON payload
    /// `{"id","name","emailAddress","creditCard","city","state","dateTime","extra"}`.
    pub fn person(&self, i: u64) -> (i64, Vec<u8>) {
        let n = self.person_event_number(i);
        let mut rng = self.event_rng(n);
        let ts = self.timestamp_for(n);
        let id = self.last_base0_person_id(n as i64) + FIRST_PERSON_ID;
        let mut name = FIRST_NAMES[rng.next_int_bound(FIRST_NAMES.len() as i32) as usize].to_string();
        name.push(' ');
        name.push_str(LAST_NAMES[rng.next_int_bound(LAST_NAMES.len() as i32) as usize]);
        let mut email = String::new();
        next_string(&mut rng, 7, b' ', &mut email);
        email.push('@');
        next_string(&mut rng, 5, b' ', &mut email);
        email.push_str(".com");
        let card: Vec<String> = (0..4).map(|_| format!("{:04}", rng.next_int_bound(10_000))).collect();
        let card = card.join(" ");
        let city = US_CITIES[rng.next_int_bound(US_CITIES.len() as i32) as usize];
        let state = US_STATES[rng.next_int_bound(US_STATES.len() as i32) as usize];
        let current = 8 + name.len() + email.len() + card.len() + city.len() + state.len();
        let extra = self.next_extra(&mut rng, current as i32, self.config.avg_person_bytes);

        let mut out = Vec::with_capacity(320);
        out.extend_from_slice(b"{\"id\":");
        write_int(&mut out, id);
        for (field, value) in [("name", name.as_bytes()), ("emailAddress", email.as_bytes()), ("creditCard", card.as_bytes()), ("city", city.as_bytes()), ("state", state.as_bytes())] {
            out.extend_from_slice(b",\"");
            out.extend_from_slice(field.as_bytes());
            out.extend_from_slice(b"\":");
            push_json_string(&mut out, value);
        }
        out.extend_from_slice(b",\"dateTime\":");
        write_int(&mut out, ts);
        out.extend_from_slice(b",\"extra\":");
        push_json_string(&mut out, extra);
        out.push(b'}');
        (id, out)
    }

    /// The `i`-th auction: its id (the record key of the `auction` topic) and JSON payload
    /// `{"id","itemName","description","initialBid","reserve","dateTime","expires","seller","category","extra"}`.
    pub fn auction(&self, i: u64) -> (i64, Vec<u8>) {
        let n = self.auction_event_number(i);
        let mut rng = self.event_rng(n);
        let ts = self.timestamp_for(n);
        let n = n as i64;
        let id = self.last_base0_auction_id(n) + FIRST_AUCTION_ID;
        let seller = if rng.next_int_bound(self.config.hot_sellers_ratio) > 0 {
            (self.last_base0_person_id(n) / HOT_SELLER_RATIO) * HOT_SELLER_RATIO
        } else {
            self.next_base0_person_id(n, &mut rng)
        } + FIRST_PERSON_ID;
        let category = FIRST_CATEGORY_ID + rng.next_int_bound(NUM_CATEGORIES) as i64;
        let initial_bid = Self::next_price(&mut rng);
        // The mean auction length is the time until `num_in_flight_auctions` more auctions.
        let events_for_auctions = self.config.num_in_flight_auctions * self.total / self.config.auction_proportion;
        let horizon = self.timestamp_for((n + events_for_auctions) as u64) - ts;
        let expires = ts + 1 + next_long_bounded(&mut rng, (horizon * 2).max(1));
        let mut item = String::new();
        next_string(&mut rng, 20, b' ', &mut item);
        let mut description = String::new();
        next_string(&mut rng, 100, b' ', &mut description);
        let reserve = initial_bid + Self::next_price(&mut rng);
        let current = 8 + item.len() + description.len() + 40;
        let extra = self.next_extra(&mut rng, current as i32, self.config.avg_auction_bytes);

        let mut out = Vec::with_capacity(640);
        out.extend_from_slice(b"{\"id\":");
        write_int(&mut out, id);
        out.extend_from_slice(b",\"itemName\":");
        push_json_string(&mut out, item.as_bytes());
        out.extend_from_slice(b",\"description\":");
        push_json_string(&mut out, description.as_bytes());
        for (field, value) in [("initialBid", initial_bid), ("reserve", reserve), ("dateTime", ts), ("expires", expires), ("seller", seller), ("category", category)] {
            out.extend_from_slice(b",\"");
            out.extend_from_slice(field.as_bytes());
            out.extend_from_slice(b"\":");
            write_int(&mut out, value);
        }
        out.extend_from_slice(b",\"extra\":");
        push_json_string(&mut out, extra);
        out.push(b'}');
        (id, out)
    }
}

/// Appends `s` (UTF-8) as a JSON string literal, escaping as Python's `json.dumps` does with
/// `ensure_ascii=False`.
fn push_json_string(out: &mut Vec<u8>, s: &[u8]) {
    out.push(b'"');
    let mut start = 0;
    for (i, &b) in s.iter().enumerate() {
        let escape: &[u8] = match b {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            0x08 => b"\\b",
            0x0c => b"\\f",
            0..=0x1f => {
                out.extend_from_slice(&s[start..i]);
                out.extend_from_slice(format!("\\u{b:04x}").as_bytes());
                start = i + 1;
                continue;
            }
            _ => continue,
        };
        out.extend_from_slice(&s[start..i]);
        out.extend_from_slice(escape);
        start = i + 1;
    }
    out.extend_from_slice(&s[start..]);
    out.push(b'"');
}

/// Fixtures shared by the stateless benches (`benches/stateless.rs`) and the `throughput`
/// binary: the ksql text of the bid stream and of q1/q2 (from `nexmark.md` §3.1/§3.2), the
/// value schema the engine decodes bids into, and engine / record set-up.
pub mod stateless {
    use std::collections::BTreeMap;
    use std::sync::Arc;

    use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
    use runnel_runtime::format::{Decoder, Format, Wrapping};
    use runnel_runtime::{Engine, TopicRecord};

    use super::BidGenerator;

    /// Records per batch: the runtime pipeline's read batch size (`pipeline::BATCH_SIZE`),
    /// used by the decode-only baseline so that both sides build batches of the same size.
    pub const BATCH: usize = 4096;

    /// Default number of bids of the criterion benches (`NEXMARK_EVENTS` overrides it).
    pub const DEFAULT_EVENTS: usize = 100_000;

    /// The bid source, as in nexmark.md §3.1.
    pub const BID_DDL: &str = "CREATE STREAM bid (\n  auction BIGINT, bidder BIGINT, price BIGINT, channel VARCHAR, url VARCHAR,\n  `dateTime` BIGINT, extra VARCHAR\n) WITH (KAFKA_TOPIC='bid', VALUE_FORMAT='JSON', TIMESTAMP='dateTime', PARTITIONS=2);";

    /// q1 (currency conversion), as in nexmark.md §3.2.
    pub const Q1: &str = "CREATE STREAM q1 AS\n  SELECT auction, bidder, CAST(price AS DECIMAL(20,0)) * 0.908 AS price, `dateTime`, extra\n  FROM bid EMIT CHANGES;";

    /// q2 (selection), as in nexmark.md §3.2.
    pub const Q2: &str = "CREATE STREAM q2 AS SELECT auction, price FROM bid WHERE auction % 123 = 0 EMIT CHANGES;";

    /// A stateless query under test.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub enum Query {
        Q1,
        Q2,
    }

    impl Query {
        pub const ALL: [Query; 2] = [Query::Q1, Query::Q2];

        pub fn name(self) -> &'static str {
            match self {
                Query::Q1 => "q1",
                Query::Q2 => "q2",
            }
        }

        pub fn sql(self) -> &'static str {
            match self {
                Query::Q1 => Q1,
                Query::Q2 => Q2,
            }
        }

        /// The sink topic (ksql upper-cases the unquoted stream name).
        pub fn sink_topic(self) -> &'static str {
            match self {
                Query::Q1 => "Q1",
                Query::Q2 => "Q2",
            }
        }
    }

    /// `NEXMARK_EVENTS` from the environment, else `default`.
    pub fn events_from_env(default: usize) -> usize {
        std::env::var("NEXMARK_EVENTS").ok().and_then(|v| v.replace('_', "").parse().ok()).unwrap_or(default)
    }

    /// The value columns of `BID_DDL` as the engine's decoder sees them.
    pub fn bid_value_schema() -> SchemaRef {
        Arc::new(Schema::new(vec![
            Field::new("AUCTION", DataType::Int64, true),
            Field::new("BIDDER", DataType::Int64, true),
            Field::new("PRICE", DataType::Int64, true),
            Field::new("CHANNEL", DataType::Utf8, true),
            Field::new("URL", DataType::Utf8, true),
            Field::new("dateTime", DataType::Int64, true),
            Field::new("EXTRA", DataType::Utf8, true),
        ]))
    }

    /// A JSON decoder for [`bid_value_schema`].
    pub fn bid_decoder() -> Decoder {
        Decoder::new(Format::Json, bid_value_schema(), Wrapping::Wrapped).expect("bid decoder")
    }

    /// `count` bid payloads of the default generator.
    pub fn payloads(count: usize) -> Vec<Vec<u8>> {
        BidGenerator::default().bids(count)
    }

    /// Unkeyed topic records carrying `payloads` (timestamps = the bids' event times are
    /// taken from `dateTime` by the source anyway; the record timestamp is 0).
    pub fn records(payloads: &[Vec<u8>]) -> Vec<TopicRecord> {
        payloads.iter().map(|p| TopicRecord { value: Some(p.clone()), ..TopicRecord::default() }).collect()
    }

    /// Decodes every payload in batches of [`BATCH`]; returns the number of rows decoded and
    /// panics on a decode error. This is the decode-only baseline.
    pub fn decode_all(decoder: &mut Decoder, refs: &[Option<&[u8]>]) -> usize {
        let mut rows = 0;
        for chunk in refs.chunks(BATCH) {
            let decoded = decoder.decode(chunk).expect("decode");
            assert!(decoded.errors.is_empty(), "decode errors: {:?}", decoded.errors.first());
            rows += decoded.columns[0].len();
            std::hint::black_box(&decoded);
        }
        rows
    }

    /// A fresh engine with the bid stream and, if given, the query (not yet fed).
    pub fn engine(query: Option<Query>) -> Engine {
        let mut engine = Engine::new(BTreeMap::new());
        engine.execute_sql(BID_DDL).expect("bid DDL");
        if let Some(q) = query {
            engine.execute_sql(q.sql()).expect("query");
        }
        engine
    }

    /// Appends `records` to the `bid` topic.
    pub fn produce_all(engine: &mut Engine, records: Vec<TopicRecord>) {
        for r in records {
            engine.produce("bid", r).expect("produce");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deterministic_and_well_formed() {
        let g = BidGenerator::default();
        let a = g.bids(500);
        let b = BidGenerator::default().bids(500);
        assert_eq!(a, b);
        for p in &a {
            let v: serde_json::Value = serde_json::from_slice(p).expect("valid JSON");
            let keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
            assert_eq!(keys, ["auction", "bidder", "price", "channel", "url", "dateTime", "extra"]);
            let extra = v["extra"].as_str().unwrap().len();
            assert!((54..82).contains(&extra), "extra length {extra}");
            assert!(v["price"].as_i64().unwrap() >= 100);
        }
    }

    #[test]
    fn bid_event_numbers_skip_person_and_auctions() {
        let g = BidGenerator::default();
        assert_eq!(g.bid_event_number(0), 4);
        assert_eq!(g.bid_event_number(45), 49);
        assert_eq!(g.bid_event_number(46), 54);
    }

    #[test]
    fn matches_the_python_generator() {
        // First bids of `gen_nexmark_json.py --bids 2 --only bid` (seed 42, defaults).
        let g = BidGenerator::default();
        assert_eq!(String::from_utf8(g.bid(0)).unwrap(), r#"{"auction":1000,"bidder":2001,"price":246,"channel":"channel-6711","url":"https://www.nexmark.com/cndd/pmib/_wm/item.htm?query=1","dateTime":1700000000000,"extra":"hgrfsoieaykqqqpXWL[O[wixynvI_J_RPafghsrgnynjgbufdzyrxwpytRWSLNZisigsxLVPJVXL\\]"}"#);
        assert_eq!(String::from_utf8(g.bid(1)).unwrap(), r#"{"auction":1005,"bidder":2000,"price":297700,"channel":"channel-6848","url":"https://www.nexmark.com/_ob/huni/tyv/item.htm?query=1&channel_id=56098816","dateTime":1700000000000,"extra":"MHQQJYNWY``YowdimyqgsobkS`^RO]XKKUMX[a^_`PuguddxQKK[\\[Q"}"#);
    }

    #[test]
    fn persons_and_auctions_match_the_python_generator() {
        // `gen_nexmark_json.py --events 100 --out-dir D` (seed 42, defaults): first person,
        // second auction.
        let g = BidGenerator::default();
        let (id, person) = g.person(0);
        assert_eq!(id, 1000);
        assert_eq!(String::from_utf8(person).unwrap(), r#"{"id":1000,"name":"Luke Walton","emailAddress":"xuf h@kdi.com","creditCard":"5482 7715 3569 4219","city":"Boise","state":"OR","dateTime":1700000000000,"extra":"\\YK\\]ldeyqwK\\KIaUhkrdvrOK_TZNnzubskkmtrchkqtcicuamkrmwdbvpmmsxmuva_SSHSSH_a^YrqkpfiO\\ORSNqlmhkrUROaX]gtahbdX\\KZLSqgbyp"}"#);
        let (id, auction) = g.auction(1);
        assert_eq!(id, 1001);
        assert_eq!(String::from_utf8(auction).unwrap(), r#"{"id":1001,"itemName":"gbslk y","description":"iofisvmzicl  knzzzzyvodn pvzxcddmkums zlpepwpiwjfsmp xpvwetwqpctil","initialBid":109773,"reserve":11526099,"dateTime":1700000000000,"expires":1700000000001,"seller":1000,"category":10,"extra":"qwkjivbgjbxbptokbydzhrxxeejdmhie`OO`XJknjvuvrnwmgekifrwm_JQ[YXNJR\\JHbkbzneWP\\K[SdiezwwarlvgeW`IOTKUMMLOSdywtamUWRUL`JHaNWZazcegctqrellcywlpfZOOSaUU__SVP\\]MOZJ`WLMHWpmllnfhuerzipgpbzhwqktenI^HHHIWRMaPOZL\\MN[cuipoelagmjdNY_M\\_dkjferVJU`ROxwfhthydjjouU_RY^`clkolmstjqqgHZYSQRmnpjyafqtcnc`OSTX^V``^K^OLW[JNyezjzubmbhfdewowaq_]OLH`P^I]M\\_VKOSL`PY_\\]WS^I[\\sdbhrhT^XPRZahbekqqdfpepkyeniqZ^]`]QqugzosVHYUYX`MTXOLqrg"}"#);
        assert_eq!((g.person_event_number(1), g.auction_event_number(3)), (50, 51));
    }

    #[test]
    fn json_escaping() {
        let mut out = Vec::new();
        push_json_string(&mut out, b"a\\b\"c\x01");
        assert_eq!(out, b"\"a\\\\b\\\"c\\u0001\"");
        let mut n = Vec::new();
        write_int(&mut n, -1234);
        write_int(&mut n, 0);
        assert_eq!(n, b"-12340");
    }
}
