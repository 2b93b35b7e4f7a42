//! The CLI's one error type. Every variant is something to show the user; none ends the REPL.

use std::path::PathBuf;

use serde_json::Value;

/// A ksqlDB error body (`{"@type", "error_code", "message", "statementText"?, "entities"?}`).
#[derive(Debug, Clone, PartialEq)]
pub struct ServerError {
    pub error_code: Option<i64>,
    pub message: String,
    pub statement_text: Option<String>,
    /// Entities the server executed before the failing statement.
    pub entities: Vec<Value>,
}

impl ServerError {
    /// Reads an error body; `None` when the JSON is not ksqlDB-error shaped.
    pub fn from_json(body: &Value) -> Option<ServerError> {
        let message = body.get("message")?.as_str()?.to_string();
        Some(ServerError {
            error_code: body.get("error_code").and_then(Value::as_i64),
            message,
            statement_text: body
                .get("statementText")
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
                .map(str::to_string),
            entities: body.get("entities").and_then(Value::as_array).cloned().unwrap_or_default(),
        })
    }
}

impl std::fmt::Display for ServerError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.error_code {
            Some(code) => write!(f, "Error {code}: {}", self.message)?,
            None => write!(f, "Error: {}", self.message)?,
        }
        if let Some(text) = &self.statement_text {
            write!(f, "\nStatement: {text}")?;
        }
        Ok(())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// The server answered with a ksqlDB error body.
    #[error("{0}")]
    Server(ServerError),
    /// The server answered non-2xx without a ksqlDB error body.
    #[error("The server at {url} answered {path} with HTTP {status}: {body}")]
    Http { url: String, path: String, status: u16, body: String },
    #[error(
        "Could not reach the server at {url} ({path}): {reason}\n\
         Check that the server is running, then retry (or use 'server <url>' to switch servers)."
    )]
    Connect { url: String, path: String, reason: String },
    #[error("The server sent a response to {path} that is not valid: {reason}")]
    BadResponse { path: String, reason: String },
    #[error("Not a valid server URL '{url}': {reason}")]
    BadUrl { url: String, reason: String },
    /// A statement the client handles itself is malformed.
    #[error("{0}")]
    Statement(String),
    #[error("Cannot read {}: {source}", path.display())]
    ReadFile { path: PathBuf, source: std::io::Error },
    #[error("Cannot write output: {0}")]
    Output(#[from] std::io::Error),
}
