//! `runnel`: the interactive CLI, a client of the server's REST API (ksqlDB's, so it also works
//! against a ksqlDB server).
//!
//! Layout: [`scanner`] cuts typed text into statements, [`session`] runs them (client-side
//! statements, `/ksql`, streamed `/query`) over [`client`], [`frames`] reads streamed results,
//! [`render`] prints entities and rows, [`repl`] is the interactive loop with [`editor`]'s
//! completion and validation, [`commands`] the CLI's own commands.

mod client;
mod commands;
mod editor;
mod error;
mod frames;
mod render;
mod repl;
mod scanner;
mod session;

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;

use crate::client::Credentials;
use crate::render::OutputFormat;
use crate::session::{Session, SessionOptions};

#[derive(Debug, Parser)]
#[command(name = "runnel", version, about = "Interactive SQL client for Runnel (and ksqlDB) servers")]
struct Args {
    /// The server's URL.
    #[arg(default_value = "http://localhost:8088")]
    server: String,
    /// User name for HTTP basic authentication.
    #[arg(short = 'u', long)]
    user: Option<String>,
    /// Password for HTTP basic authentication (prompted for when --user is given without it).
    #[arg(short = 'p', long)]
    password: Option<String>,
    /// Run the statements of this file, then exit.
    #[arg(short = 'f', long, conflicts_with = "execute")]
    file: Option<PathBuf>,
    /// Run these statements, then exit.
    #[arg(short = 'e', long)]
    execute: Option<String>,
    /// How to print results.
    #[arg(long, default_value = "TABULAR", value_parser = parse_output)]
    output: OutputFormat,
    /// A properties file (`name=value` lines) whose entries are set as session properties.
    #[arg(long)]
    config_file: Option<PathBuf>,
    /// Define a variable, as `DEFINE name = 'value';` would (repeatable).
    #[arg(short = 'd', long = "define", value_name = "NAME=VALUE")]
    defines: Vec<String>,
    /// Stop queries after this many rows.
    #[arg(long)]
    query_row_limit: Option<u64>,
    /// Stop queries after this many milliseconds.
    #[arg(long, value_name = "MS")]
    query_timeout: Option<u64>,
}

fn parse_output(text: &str) -> Result<OutputFormat, String> {
    OutputFormat::parse(text).ok_or_else(|| format!("unknown output format '{text}' (use TABULAR or JSON)"))
}

fn main() -> ExitCode {
    let args = Args::parse();
    match run(args) {
        Ok(code) => code,
        Err(message) => {
            eprintln!("{message}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: Args) -> Result<ExitCode, String> {
    let properties = match &args.config_file {
        Some(path) => read_properties(path)?,
        None => BTreeMap::new(),
    };
    let mut variables = BTreeMap::new();
    for define in &args.defines {
        let (name, value) = define
            .split_once('=')
            .filter(|(name, _)| !name.trim().is_empty())
            .ok_or_else(|| format!("--define expects NAME=VALUE, got '{define}'"))?;
        variables.insert(name.trim().to_string(), value.to_string());
    }
    let credentials = match (args.user, args.password) {
        (Some(user), Some(password)) => Some(Credentials { user, password }),
        (Some(user), None) => Some(Credentials { password: prompt_password()?, user }),
        (None, Some(_)) => return Err("--password needs --user".to_string()),
        (None, None) => None,
    };
    let options = SessionOptions {
        output: args.output,
        row_limit: args.query_row_limit,
        query_timeout: args.query_timeout.map(Duration::from_millis),
        properties,
        variables,
    };
    let mut session =
        Session::new(&args.server, credentials, options, Box::new(std::io::stdout()), Box::new(std::io::stderr()))
            .map_err(|e| e.to_string())?;

    let batch = match (&args.file, &args.execute) {
        (Some(path), _) => Some(BatchInput::File(path.clone())),
        (None, Some(sql)) => Some(BatchInput::Sql(sql.clone())),
        (None, None) => None,
    };
    let Some(batch) = batch else {
        repl::run(&mut session);
        return Ok(ExitCode::SUCCESS);
    };
    if let Err(error) = session.server_info() {
        session.print_error(&error);
        return Ok(ExitCode::FAILURE);
    }
    let succeeded = match batch {
        BatchInput::Sql(sql) => session.execute(&sql),
        BatchInput::File(path) => match session.run_script(&path) {
            Ok(()) => true,
            Err(error) => {
                session.print_error(&error);
                false
            }
        },
    };
    Ok(if succeeded { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

enum BatchInput {
    File(PathBuf),
    Sql(String),
}

/// Reads a Java-style properties file: `name=value` or `name: value` lines, `#`/`!` comments.
fn read_properties(path: &Path) -> Result<BTreeMap<String, String>, String> {
    let text =
        std::fs::read_to_string(path).map_err(|e| format!("Cannot read --config-file {}: {e}", path.display()))?;
    parse_properties(&text).map_err(|(line, message)| format!("{}:{line}: {message}", path.display()))
}

fn parse_properties(text: &str) -> Result<BTreeMap<String, String>, (usize, String)> {
    let mut properties = BTreeMap::new();
    for (index, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with('!') {
            continue;
        }
        let split_at = line.find(['=', ':']).ok_or((index + 1, format!("expected name=value, got '{line}'")))?;
        let name = line[..split_at].trim();
        if name.is_empty() {
            return Err((index + 1, format!("a property needs a name: '{line}'")));
        }
        properties.insert(name.to_string(), line[split_at + 1..].trim().to_string());
    }
    Ok(properties)
}

/// Asks for the password without echoing it (terminals only).
fn prompt_password() -> Result<String, String> {
    if !std::io::stdin().is_terminal() {
        return Err("--user needs --password when input is not a terminal".to_string());
    }
    let mut editor: rustyline::Editor<editor::ReplHelper, rustyline::history::DefaultHistory> =
        rustyline::Editor::new().map_err(|e| e.to_string())?;
    editor.set_helper(Some(editor::ReplHelper { masking: true, ..Default::default() }));
    editor.set_auto_add_history(false);
    use rustyline::config::Configurer;
    editor.set_color_mode(rustyline::ColorMode::Forced);
    editor.readline("Password: ").map_err(|e| format!("No password entered: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_properties_files() {
        let text = "# comment\n! also\nauto.offset.reset = earliest\nksql.streams.num.stream.threads: 4\n\n";
        let properties = parse_properties(text).expect("valid file");
        assert_eq!(properties.get("auto.offset.reset").map(String::as_str), Some("earliest"));
        assert_eq!(properties.get("ksql.streams.num.stream.threads").map(String::as_str), Some("4"));
        assert_eq!(parse_properties("no separator"), Err((1, "expected name=value, got 'no separator'".into())));
    }
}
