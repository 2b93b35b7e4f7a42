//! `runnel`: the interactive CLI (rustyline REPL over the server's REST API), next milestone.

use std::process::ExitCode;

fn main() -> ExitCode {
    eprintln!("runnel {}: the CLI arrives together with the server (next milestone).", env!("CARGO_PKG_VERSION"));
    ExitCode::from(2)
}
