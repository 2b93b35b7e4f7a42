//! `rqtt`: runs ksqlDB's REST query-validation tests (RQTT JSON files) over HTTP against an
//! in-process runnel-server (a fresh one per case, on an ephemeral port).
//!
//! Usage: `rqtt [--report FILE] [--filter SUBSTR] [--min-pass N] [--jobs N] [--verbose] PATH...`
//! Same output contract as `qtt`: one line per file, the top failure reasons, and last the
//! line `N passed, N failed, N skipped`. Exit code: 0 (even with failures), 1 if `--min-pass`
//! is not reached, 2 for usage/IO errors.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use runnel_tests::qtt::{load, report};
use runnel_tests::rqtt::{model, run_cases};

#[derive(Parser, Debug)]
#[command(name = "rqtt", about = "Run ksqlDB RQTT conformance tests against runnel-server over HTTP")]
struct Args {
    /// Write one JSON object per case (file, name, status, reason) per line to this file.
    #[arg(long)]
    report: Option<PathBuf>,
    /// Only run cases whose full name contains this substring.
    #[arg(long)]
    filter: Option<String>,
    /// Exit with status 1 when fewer than N cases pass.
    #[arg(long, value_name = "N")]
    min_pass: Option<usize>,
    /// Cases run at the same time (default: 4).
    #[arg(long, short, default_value_t = 4)]
    jobs: usize,
    /// Print every failing case with its reason.
    #[arg(long, short)]
    verbose: bool,
    /// RQTT JSON files or folders of them.
    #[arg(required = true)]
    paths: Vec<PathBuf>,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let files = match load::collect_files(&args.paths) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("rqtt: {e}");
            return ExitCode::from(2);
        }
    };
    let mut load_errors = false;
    let mut cases = Vec::new();
    for (path, display) in &files {
        let loaded = std::fs::read_to_string(path).map_err(|e| e.to_string()).and_then(|text| model::parse_file(display, &text));
        match loaded {
            Ok(c) => cases.extend(c),
            Err(e) => {
                eprintln!("rqtt: {}: {e}", path.display());
                load_errors = true;
            }
        }
    }
    if let Some(f) = &args.filter {
        cases.retain(|c| c.name.contains(f.as_str()));
    }
    let results = run_cases(&cases, args.jobs);

    if args.verbose {
        for r in &results {
            if r.status == report::Status::Failed {
                println!("FAIL {}: {}", r.name, r.reason.as_deref().unwrap_or(""));
            }
        }
        println!();
    }
    if let Some(path) = &args.report {
        let written = std::fs::File::create(path).and_then(|f| report::write_report(std::io::BufWriter::new(f), &results));
        if let Err(e) = written {
            eprintln!("rqtt: cannot write report {}: {e}", path.display());
            load_errors = true;
        }
    }
    let listed: Vec<String> = if args.filter.is_none() { files.iter().map(|(_, d)| d.clone()).collect() } else { Vec::new() };
    println!("{}", report::summary_with_files(&listed, &results));
    if load_errors {
        return ExitCode::from(2);
    }
    let totals = report::totals(&results);
    if args.min_pass.is_some_and(|n| totals.passed < n) {
        eprintln!("rqtt: {} passed, fewer than the required {}", totals.passed, args.min_pass.unwrap_or(0));
        return ExitCode::from(1);
    }
    ExitCode::SUCCESS
}
