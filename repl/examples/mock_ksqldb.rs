//! A stand-in ksqlDB server for trying the CLI by hand (the integration tests' mock):
//! `cargo run -p runnel-cli --example mock_ksqldb -- 127.0.0.1:8088 [USER:PASSWORD]`, then
//! `runnel` (with `--user`/`--password` when the server was given credentials).
//! Answers SHOW STREAMS/TABLES/QUERIES/PROPERTIES, DESCRIBE PAGEVIEWS, CREATE/DROP STREAM,
//! push queries (`... LIMIT 2` ends, others stream a row every 200 ms), PRINT; anything else
//! gets a ksqlDB statement error.

#[path = "../tests/support/mod.rs"]
mod support;

fn main() {
    let address = std::env::args().nth(1).unwrap_or_else(|| "127.0.0.1:8088".to_string());
    let credentials = std::env::args().nth(2);
    let basic_auth = credentials.as_deref().and_then(|c| c.split_once(':'));
    let server = support::MockKsqlServer::start_on(&address, basic_auth);
    println!("mock ksqlDB server listening at {}", server.url);
    loop {
        std::thread::park();
    }
}
