//! A CLI session: the server connection plus what ksqlDB's CLI keeps client-side (properties
//! from `SET`/`UNSET`, variables from `DEFINE`/`UNDEFINE`, the last command sequence number,
//! the output format). [`Session::execute`] runs typed or scripted SQL: statements the client
//! owns are handled here, queries (`SELECT`, `PRINT`) stream from `/query`, everything else
//! goes to `/ksql`.

use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{json, Map, Value};

use crate::client::{Credentials, RestClient, ServerInfo};
use crate::error::{CliError, ServerError};
use crate::frames::FrameReader;
use crate::render::entities::{render_entity, render_variables, RenderContext};
use crate::render::rows::{FrameKind, RowPrinter};
use crate::render::{pretty_json, OutputFormat};
use crate::scanner::{lex, split_statements, Lexeme};

/// `RUN SCRIPT` nesting beyond this is taken to be a script running itself.
const MAX_SCRIPT_DEPTH: usize = 16;

/// How long an interrupted query may take to acknowledge `/close-query`.
const CLOSE_QUERY_TIMEOUT: Duration = Duration::from_secs(2);

/// Source names for completion, shared with the line editor.
pub type SourceNames = Arc<Mutex<Vec<String>>>;

/// Session settings given on the command line.
#[derive(Debug, Clone)]
pub struct SessionOptions {
    pub output: OutputFormat,
    pub row_limit: Option<u64>,
    pub query_timeout: Option<Duration>,
    pub properties: BTreeMap<String, String>,
    pub variables: BTreeMap<String, String>,
}

pub struct Session {
    client: RestClient,
    credentials: Option<Credentials>,
    runtime: tokio::runtime::Runtime,
    pub output: OutputFormat,
    row_limit: Option<u64>,
    query_timeout: Option<Duration>,
    properties: BTreeMap<String, String>,
    variables: BTreeMap<String, String>,
    /// Highest `commandSequenceNumber` seen, sent back so the server has caught up with our own
    /// earlier statements before running the next one.
    command_sequence: Option<i64>,
    sources: SourceNames,
    pub terminal_width: usize,
    script_depth: usize,
    out: Box<dyn Write>,
    err: Box<dyn Write>,
}

/// How one statement is handled.
#[derive(Debug, PartialEq)]
enum Action {
    SetProperty {
        name: String,
        value: String,
    },
    UnsetProperty {
        name: String,
    },
    Define {
        name: String,
        value: String,
    },
    Undefine {
        name: String,
    },
    ShowVariables,
    RunScript {
        path: String,
    },
    /// SELECT: streamed rows.
    Query,
    /// PRINT: streamed text lines.
    Print,
    /// Everything else: `/ksql`.
    Server,
}

impl Session {
    pub fn new(
        url: &str,
        credentials: Option<Credentials>,
        options: SessionOptions,
        out: Box<dyn Write>,
        err: Box<dyn Write>,
    ) -> Result<Session, CliError> {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(CliError::Output)?;
        Ok(Session {
            client: RestClient::new(url, credentials.clone())?,
            credentials,
            runtime,
            output: options.output,
            row_limit: options.row_limit,
            query_timeout: options.query_timeout,
            properties: options.properties,
            variables: options.variables,
            command_sequence: None,
            sources: SourceNames::default(),
            // The interactive loop measures the terminal; scripts use $COLUMNS or 80.
            terminal_width: std::env::var("COLUMNS").ok().and_then(|c| c.parse().ok()).unwrap_or(80),
            script_depth: 0,
            out,
            err,
        })
    }

    pub fn server_url(&self) -> &str {
        self.client.url()
    }

    pub fn source_names(&self) -> SourceNames {
        Arc::clone(&self.sources)
    }

    /// Points the session at another server (the `server <url>` command).
    pub fn switch_server(&mut self, url: &str) -> Result<(), CliError> {
        self.client = RestClient::new(url, self.credentials.clone())?;
        self.command_sequence = None;
        Ok(())
    }

    /// `GET /info`.
    pub fn server_info(&mut self) -> Result<ServerInfo, CliError> {
        let client = &self.client;
        self.runtime.block_on(client.info())
    }

    /// Refreshes the source names used for completion; failures leave the old list.
    pub fn refresh_source_names(&mut self) {
        let mut names = Vec::new();
        for (statement, key) in [("SHOW STREAMS;", "streams"), ("SHOW TABLES;", "tables")] {
            let request = json!({ "ksql": statement, "streamsProperties": {} });
            let client = &self.client;
            let Ok(entities) = self.runtime.block_on(client.ksql(&request)) else { return };
            for entity in &entities {
                for source in entity.get(key).and_then(Value::as_array).into_iter().flatten() {
                    if let Some(name) = source.get("name").and_then(Value::as_str) {
                        names.push(name.to_string());
                    }
                }
            }
        }
        names.sort();
        if let Ok(mut shared) = self.sources.lock() {
            *shared = names;
        }
    }

    /// Runs every statement in `text` (a trailing statement without `;` included), stopping at
    /// the first failure, which is printed. Returns whether all succeeded.
    pub fn execute(&mut self, text: &str) -> bool {
        let split = split_statements(text);
        let rest = split.rest.map(|r| format!("{};", r.trim_end()));
        for statement in split.statements.into_iter().chain(rest) {
            if let Err(error) = self.execute_statement(&statement) {
                self.print_error(&error);
                return false;
            }
        }
        true
    }

    /// Writes `text` to the session's output.
    pub fn print(&mut self, text: &str) {
        // Output that cannot be written (closed pipe) has nowhere to be reported.
        let _ = self.out.write_all(text.as_bytes()).and_then(|()| self.out.flush());
    }

    pub fn print_error(&mut self, error: &CliError) {
        let text = match (error, self.output) {
            (CliError::Server(server), OutputFormat::Json) => {
                let mut body = json!({ "error_code": server.error_code, "message": server.message });
                if let Some(text) = &server.statement_text {
                    body["statementText"] = json!(text);
                }
                pretty_json(&body)
            }
            _ => error.to_string(),
        };
        let _ = writeln!(self.err, "{text}").and_then(|()| self.err.flush());
    }

    fn execute_statement(&mut self, raw: &str) -> Result<(), CliError> {
        let raw_lexemes = lex(raw);
        // UNDEFINE names a variable; substituting it first would undefine its value instead.
        let statement = if raw_lexemes.first().is_some_and(|l| l.is_word("UNDEFINE")) || !raw.contains("${") {
            raw.to_string()
        } else {
            let variables: HashMap<String, String> =
                self.variables.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
            runnel_parser::substitute_variables(raw, &variables).map_err(|e| {
                let at = e.location;
                CliError::Statement(format!("line {}:{}: {}\nStatement: {}", at.line, at.column, e.message, raw.trim()))
            })?
        };
        match classify(&lex(&statement))? {
            Action::SetProperty { name, value } => self.set_property(name, value),
            Action::UnsetProperty { name } => self.unset_property(&name),
            Action::Define { name, value } => {
                self.variables.insert(name, value);
                Ok(())
            }
            Action::Undefine { name } => {
                if self.variables.remove(&name).is_none() {
                    self.print(&format!("Variable '{name}' is not defined; nothing to undefine.\n"));
                }
                Ok(())
            }
            Action::ShowVariables => {
                let text = match self.output {
                    OutputFormat::Tabular => {
                        render_variables(self.variables.iter().map(|(k, v)| (k.as_str(), v.clone())))
                    }
                    OutputFormat::Json => {
                        let variables: Vec<Value> =
                            self.variables.iter().map(|(k, v)| json!({ "name": k, "value": v })).collect();
                        format!("{}\n", pretty_json(&json!([{ "@type": "variables", "variables": variables }])))
                    }
                };
                self.print(&text);
                Ok(())
            }
            Action::RunScript { path } => self.run_script(Path::new(&path)),
            Action::Query => self.run_query(&statement),
            Action::Print => self.run_print(&statement),
            Action::Server => self.run_server_statement(&statement),
        }
    }

    fn set_property(&mut self, name: String, value: String) -> Result<(), CliError> {
        let client = &self.client;
        self.runtime.block_on(client.check_property(&name))?;
        let message = match self.properties.insert(name.clone(), value.clone()) {
            Some(old) => format!("Successfully changed local property '{name}' from '{old}' to '{value}'.\n"),
            None => format!(
                "Successfully changed local property '{name}' to '{value}'. Use the UNSET command to revert your change.\n"
            ),
        };
        self.print(&message);
        Ok(())
    }

    fn unset_property(&mut self, name: &str) -> Result<(), CliError> {
        match self.properties.remove(name) {
            Some(old) => {
                self.print(&format!("Successfully unset local property '{name}' (value was '{old}').\n"));
                Ok(())
            }
            None => {
                Err(CliError::Statement(format!("Property '{name}' was not set in this session; nothing to unset.")))
            }
        }
    }

    /// `RUN SCRIPT`: the file is read here and its statements run one by one.
    pub fn run_script(&mut self, path: &Path) -> Result<(), CliError> {
        if self.script_depth >= MAX_SCRIPT_DEPTH {
            return Err(CliError::Statement(format!(
                "RUN SCRIPT '{}' nests more than {MAX_SCRIPT_DEPTH} scripts deep; does a script run itself?",
                path.display()
            )));
        }
        let text =
            std::fs::read_to_string(path).map_err(|source| CliError::ReadFile { path: PathBuf::from(path), source })?;
        self.script_depth += 1;
        let split = split_statements(&text);
        let rest = split.rest.map(|r| format!("{};", r.trim_end()));
        let mut result = Ok(());
        for statement in split.statements.into_iter().chain(rest) {
            if let Err(error) = self.execute_statement(&statement) {
                result = Err(error);
                break;
            }
        }
        self.script_depth -= 1;
        result
    }

    fn streams_properties(&self) -> Value {
        Value::Object(self.properties.iter().map(|(k, v)| (k.clone(), Value::String(v.clone()))).collect::<Map<_, _>>())
    }

    fn run_server_statement(&mut self, statement: &str) -> Result<(), CliError> {
        let mut request = json!({ "ksql": statement, "streamsProperties": self.streams_properties() });
        if let Some(sequence) = self.command_sequence {
            request["commandSequenceNumber"] = json!(sequence);
        }
        let client = &self.client;
        let response = self.runtime.block_on(interruptible(client.ksql(&request)));
        let entities = match response {
            None => {
                self.print("Request interrupted; the server may still complete it.\n");
                return Ok(());
            }
            Some(Err(CliError::Server(error))) => {
                // Statements the server ran before the one that failed.
                self.print_entities(&error.entities);
                return Err(CliError::Server(ServerError { entities: Vec::new(), ..error }));
            }
            Some(result) => result?,
        };
        self.print_entities(&entities);
        let changes_sources = lex(statement).first().is_some_and(|l| l.is_word("CREATE") || l.is_word("DROP"));
        if changes_sources {
            self.refresh_source_names();
        }
        Ok(())
    }

    fn print_entities(&mut self, entities: &[Value]) {
        for entity in entities {
            if let Some(sequence) = entity.get("commandSequenceNumber").and_then(Value::as_i64) {
                self.command_sequence = Some(self.command_sequence.map_or(sequence, |s| s.max(sequence)));
            }
        }
        if entities.is_empty() {
            return;
        }
        let text = match self.output {
            OutputFormat::Json => format!("{}\n", pretty_json(&Value::Array(entities.to_vec()))),
            OutputFormat::Tabular => {
                let context = RenderContext { local_properties: Some(&self.properties) };
                entities.iter().map(|e| render_entity(e, &context)).collect::<Vec<_>>().join("\n")
            }
        };
        self.print(&text);
    }

    /// SELECT: rows printed as they arrive until the server ends the query, the row limit or
    /// timeout is reached, or the user presses Ctrl-C (which closes the query, not the CLI).
    fn run_query(&mut self, statement: &str) -> Result<(), CliError> {
        let request = json!({ "ksql": statement, "streamsProperties": self.streams_properties() });
        let mut printer = RowPrinter::new(self.output, self.terminal_width);
        let mut reader = FrameReader::new();
        let limits = (self.row_limit, self.query_timeout);
        let runtime = &self.runtime;
        let client = &self.client;
        let out = &mut self.out;
        let outcome = runtime.block_on(async {
            let Some(response) = interruptible(client.open_query("/query", &request)).await else {
                return Ok(QueryOutcome { end: QueryEnd::Interrupted, query_id: None });
            };
            let mut response = response?;
            stream_frames(&mut response, &mut reader, &mut printer, out, limits).await
        })?;
        // After Ctrl-C the terminal has echoed `^C` without a line break.
        let mut tail = if matches!(outcome.end, QueryEnd::Interrupted) { String::from("\n") } else { String::new() };
        tail.push_str(&printer.finish());
        match &outcome.end {
            QueryEnd::Completed(Some(message)) => tail.push_str(&format!("{message}\n")),
            QueryEnd::Completed(None) => {}
            QueryEnd::Failed(_) => {}
            QueryEnd::RowLimit => tail.push_str("Limit Reached\n"),
            QueryEnd::TimedOut => tail.push_str("Query timed out\n"),
            QueryEnd::Interrupted => {}
            QueryEnd::BrokenFrame(reason) => {
                tail.push_str(&format!("The server sent a frame that is not valid JSON: {reason}\n"))
            }
        }
        if !reader.pending().is_empty() && !matches!(outcome.end, QueryEnd::Interrupted) {
            tail.push_str(&format!("The stream ended inside a frame: {}\n", String::from_utf8_lossy(reader.pending())));
        }
        let stopped_by_client = matches!(outcome.end, QueryEnd::Interrupted | QueryEnd::RowLimit | QueryEnd::TimedOut);
        if stopped_by_client {
            // Closing the response already ends a /query stream on ksqlDB; a server that keeps
            // queries by id is told as well. Its answer changes nothing for the user.
            if let Some(id) = &outcome.query_id {
                let client = &self.client;
                let _ = self
                    .runtime
                    .block_on(async { tokio::time::timeout(CLOSE_QUERY_TIMEOUT, client.close_query(id)).await });
            }
        }
        tail.push_str("Query terminated\n");
        self.print(&tail);
        match outcome.end {
            QueryEnd::Failed(error) => Err(CliError::Server(error)),
            _ => Ok(()),
        }
    }

    /// PRINT: the server streams text lines; they are shown as they come.
    fn run_print(&mut self, statement: &str) -> Result<(), CliError> {
        let request = json!({ "ksql": statement, "streamsProperties": self.streams_properties() });
        let runtime = &self.runtime;
        let client = &self.client;
        let out = &mut self.out;
        runtime.block_on(async {
            let Some(response) = interruptible(client.open_query("/query", &request)).await else {
                return Ok(());
            };
            let mut response = response?;
            let mut partial = Vec::new();
            loop {
                let chunk = tokio::select! {
                    chunk = response.chunk() => chunk,
                    _ = tokio::signal::ctrl_c() => break,
                };
                let Ok(Some(bytes)) = chunk else { break };
                partial.extend_from_slice(&bytes);
                while let Some(newline) = partial.iter().position(|&b| b == b'\n') {
                    let line: Vec<u8> = partial.drain(..=newline).collect();
                    let text = String::from_utf8_lossy(&line);
                    // Blank lines are the server's keep-alives.
                    if !text.trim().is_empty() {
                        out.write_all(text.as_bytes())?;
                        out.flush()?;
                    }
                }
            }
            if !partial.iter().all(u8::is_ascii_whitespace) {
                out.write_all(&partial)?;
                out.write_all(b"\n")?;
            }
            Ok::<(), CliError>(())
        })?;
        self.print("Topic printing ceased\n");
        Ok(())
    }
}

#[derive(Debug)]
enum QueryEnd {
    /// The server ended the stream, with its final message if it sent one.
    Completed(Option<String>),
    Failed(ServerError),
    RowLimit,
    TimedOut,
    Interrupted,
    BrokenFrame(String),
}

struct QueryOutcome {
    end: QueryEnd,
    query_id: Option<String>,
}

async fn stream_frames(
    response: &mut reqwest::Response,
    reader: &mut FrameReader,
    printer: &mut RowPrinter,
    out: &mut Box<dyn Write>,
    (row_limit, timeout): (Option<u64>, Option<Duration>),
) -> Result<QueryOutcome, CliError> {
    let deadline = timeout.map(|t| tokio::time::Instant::now() + t);
    let mut query_id = None;
    let mut rows: u64 = 0;
    let mut final_message = None;
    loop {
        let chunk = tokio::select! {
            chunk = response.chunk() => chunk,
            _ = tokio::signal::ctrl_c() => return Ok(QueryOutcome { end: QueryEnd::Interrupted, query_id }),
            _ = sleep_until(deadline) => return Ok(QueryOutcome { end: QueryEnd::TimedOut, query_id }),
        };
        let bytes = match chunk {
            Ok(Some(bytes)) => bytes,
            Ok(None) => return Ok(QueryOutcome { end: QueryEnd::Completed(final_message), query_id }),
            Err(e) => {
                return Err(CliError::Connect {
                    url: response.url().to_string(),
                    path: "/query".into(),
                    reason: format!("the result stream broke off: {e}"),
                })
            }
        };
        for frame in reader.push(&bytes) {
            let frame = match frame {
                Ok(frame) => frame,
                Err(reason) => return Ok(QueryOutcome { end: QueryEnd::BrokenFrame(reason), query_id }),
            };
            let (kind, text) = printer.frame(&frame);
            out.write_all(text.as_bytes())?;
            out.flush()?;
            match kind {
                FrameKind::Header { query_id: id } => query_id = id,
                FrameKind::Row => {
                    rows += 1;
                    if row_limit.is_some_and(|limit| rows >= limit) {
                        return Ok(QueryOutcome { end: QueryEnd::RowLimit, query_id });
                    }
                }
                FrameKind::Final(message) => final_message = Some(message),
                FrameKind::Error(error) => return Ok(QueryOutcome { end: QueryEnd::Failed(error), query_id }),
                FrameKind::Other => {}
            }
        }
    }
}

async fn sleep_until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}

/// Runs `future` unless Ctrl-C comes first (then `None`).
async fn interruptible<T>(future: impl std::future::Future<Output = T>) -> Option<T> {
    tokio::select! {
        value = future => Some(value),
        _ = tokio::signal::ctrl_c() => None,
    }
}

/// Decides who handles a statement from its leading lexemes.
fn classify(lexemes: &[Lexeme]) -> Result<Action, CliError> {
    // The statement's own `;` is not part of any client-side syntax.
    let lexemes = match lexemes.split_last() {
        Some((Lexeme::Symbol(';'), init)) => init,
        _ => lexemes,
    };
    let Some(first) = lexemes.first() else { return Ok(Action::Server) };
    let word = |i: usize, keyword: &str| lexemes.get(i).is_some_and(|l| l.is_word(keyword));
    let usage = |syntax: &str| Err(CliError::Statement(format!("Invalid syntax; expected: {syntax}")));
    if first.is_word("SET") {
        return match lexemes {
            [_, Lexeme::Str(name), Lexeme::Symbol('='), Lexeme::Str(value)] => {
                Ok(Action::SetProperty { name: name.clone(), value: value.clone() })
            }
            _ => usage("SET 'property' = 'value';"),
        };
    }
    if first.is_word("UNSET") {
        return match lexemes {
            [_, Lexeme::Str(name)] => Ok(Action::UnsetProperty { name: name.clone() }),
            _ => usage("UNSET 'property';"),
        };
    }
    if first.is_word("DEFINE") {
        return match lexemes {
            [_, name, Lexeme::Symbol('='), Lexeme::Str(value)] => match variable_name(name) {
                Some(name) => Ok(Action::Define { name, value: value.clone() }),
                None => usage("DEFINE name = 'value';"),
            },
            _ => usage("DEFINE name = 'value';"),
        };
    }
    if first.is_word("UNDEFINE") {
        return match lexemes {
            [_, name] => match variable_name(name) {
                Some(name) => Ok(Action::Undefine { name }),
                None => usage("UNDEFINE name;"),
            },
            _ => usage("UNDEFINE name;"),
        };
    }
    if (first.is_word("SHOW") || first.is_word("LIST")) && word(1, "VARIABLES") && lexemes.len() == 2 {
        return Ok(Action::ShowVariables);
    }
    if first.is_word("RUN") && word(1, "SCRIPT") {
        return match lexemes {
            [_, _, Lexeme::Str(path)] => Ok(Action::RunScript { path: path.clone() }),
            _ => usage("RUN SCRIPT 'path/to/file.sql';"),
        };
    }
    if first.is_word("SELECT") {
        return Ok(Action::Query);
    }
    if first.is_word("PRINT") {
        return Ok(Action::Print);
    }
    Ok(Action::Server)
}

fn variable_name(lexeme: &Lexeme) -> Option<String> {
    match lexeme {
        Lexeme::Word(name) | Lexeme::Quoted(name) if !name.is_empty() => Some(name.clone()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn action(sql: &str) -> Result<Action, CliError> {
        classify(&lex(sql))
    }

    #[test]
    fn client_side_statements_are_recognised() {
        assert_eq!(
            action("SET 'auto.offset.reset' = 'earliest';").ok(),
            Some(Action::SetProperty { name: "auto.offset.reset".into(), value: "earliest".into() })
        );
        assert_eq!(
            action("unset 'auto.offset.reset';").ok(),
            Some(Action::UnsetProperty { name: "auto.offset.reset".into() })
        );
        assert_eq!(
            action("DEFINE topic = 'pageviews';").ok(),
            Some(Action::Define { name: "topic".into(), value: "pageviews".into() })
        );
        assert_eq!(action("UNDEFINE topic;").ok(), Some(Action::Undefine { name: "topic".into() }));
        assert_eq!(action("SHOW VARIABLES;").ok(), Some(Action::ShowVariables));
        assert_eq!(action("list variables;").ok(), Some(Action::ShowVariables));
        assert_eq!(action("RUN SCRIPT '/tmp/x.sql';").ok(), Some(Action::RunScript { path: "/tmp/x.sql".into() }));
    }

    #[test]
    fn queries_and_server_statements() {
        assert_eq!(action("select * from s emit changes;").ok(), Some(Action::Query));
        assert_eq!(action("PRINT 'topic' FROM BEGINNING;").ok(), Some(Action::Print));
        assert_eq!(action("-- comment\nSHOW STREAMS;").ok(), Some(Action::Server));
        assert_eq!(action("CREATE STREAM s2 AS SELECT * FROM s;").ok(), Some(Action::Server));
        assert_eq!(action("SHOW VARIABLES EXTENDED;").ok(), Some(Action::Server));
    }

    #[test]
    fn malformed_client_statements_explain_the_syntax() {
        for sql in ["SET auto = 'x';", "UNSET;", "DEFINE x 'y';", "UNDEFINE;", "RUN SCRIPT file.sql;"] {
            match action(sql) {
                Err(CliError::Statement(message)) => {
                    assert!(message.starts_with("Invalid syntax; expected: "), "{sql}: {message}")
                }
                other => panic!("{sql}: expected a syntax error, got {other:?}"),
            }
        }
    }
}
