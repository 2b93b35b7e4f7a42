//! A stand-in ksqlDB server for trying the CLI by hand (the integration tests' mock):
//! `cargo run -p runnel-cli --example mock_ksqldb -- 127.0.0.1:8088`, then `runnel`.
//! Answers SHOW STREAMS/TABLES/QUERIES/PROPERTIES, DESCRIBE PAGEVIEWS, CREATE/DROP STREAM,
//! push queries (`... LIMIT 2` ends, others stream a row every 200 ms), PRINT; anything else
//! gets a ksqlDB statement error.

#[path = "../tests/support/mod.rs"]
mod support;

fn main() {
    let address = std::env::args().nth(1).unwrap_or_else(|| "127.0.0.1:8088".to_string());
    let server = support::MockKsqlServer::start_on(&address, None);
    println!("mock ksqlDB server listening at {}", server.url);
    loop {
        std::thread::park();
    }
}
