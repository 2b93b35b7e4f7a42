//! The server's errors and their ksqlDB REST shape: HTTP status, `@type`, `error_code`.
//!
//! ksqlDB derives `error_code` from the status (`status * 100 + n`); the body is
//! `{"@type": "generic_error"|"statement_error", "error_code", "message", "statementText"?,
//! "entities"?}`. Engine errors are mapped here, at the edge, so the engine stays unaware of
//! HTTP.

use std::path::PathBuf;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use runnel_runtime::{EngineError, ErrorKind};
use serde_json::{json, Value};

/// Errors in the server's configuration (flags and properties file).
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("config file {path}, line {line}: {message}")]
    Syntax { path: PathBuf, line: usize, message: String },
    #[error("invalid {key}: {message}")]
    Invalid { key: String, message: String },
}

/// ksqlDB's REST error codes (`Errors.java`).
pub mod codes {
    pub const BAD_REQUEST: u32 = 40000;
    pub const BAD_STATEMENT: u32 = 40001;
    pub const QUERY_ENDPOINT: u32 = 40002;
    pub const NOT_FOUND: u32 = 40400;
    pub const NOT_ACCEPTABLE: u32 = 40600;
    pub const ASSERTION_FAILED: u32 = 41700;
    pub const SERVER_ERROR: u32 = 50000;
    pub const SERVER_SHUTTING_DOWN: u32 = 50303;
}

/// A request that failed, with what the client is told.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// Malformed request (bad JSON, missing field, unsupported statement for the endpoint).
    #[error("{message}")]
    BadRequest { message: String },
    /// A statement that cannot be executed (syntax, unknown source, invalid query...).
    /// `entities` are the results of the statements before it in the same request.
    #[error("{message}")]
    Statement { message: String, statement_text: String, entities: Vec<Value> },
    /// SELECT / PRINT sent to `/ksql`.
    #[error("{message}")]
    UseQueryEndpoint { message: String, statement_text: String, entities: Vec<Value> },
    /// `ASSERT` that did not hold.
    #[error("{message}")]
    AssertionFailed { message: String, statement_text: String, entities: Vec<Value> },
    #[error("{0}")]
    NotFound(String),
    /// The Accept header asks for a representation this endpoint does not produce.
    #[error("{0}")]
    NotAcceptable(String),
    /// The engine thread is gone (server shutting down).
    #[error("The server is shutting down")]
    ShuttingDown,
    /// A bug: logged, reported as 50000.
    #[error("{0}")]
    Internal(String),
}

impl ServerError {
    /// An engine error while executing `statement_text` (after `entities` succeeded).
    pub fn from_engine(error: EngineError, statement_text: &str, entities: Vec<Value>) -> Self {
        match error.kind {
            // Syntax and validation errors, and engine refusals of a well-formed statement
            // (an unsupported plan, a topic that cannot be created): the user's statement.
            ErrorKind::Parse | ErrorKind::Statement | ErrorKind::Engine => {
                ServerError::Statement { message: error.message, statement_text: statement_text.to_string(), entities }
            }
            ErrorKind::Processing => ServerError::Internal(error.message),
        }
    }

    /// A syntax error in `sql`, worded as ksqlDB words it (`line L:C: Syntax Error` then the
    /// statement), followed by what the parser expected.
    pub fn syntax(error: &runnel_parser::ParseError, sql: &str) -> Self {
        let statement = sql.trim();
        ServerError::Statement {
            message: format!(
                "line {}:{}: Syntax Error\n\nStatement: {statement}\n\n{}",
                error.location.line, error.location.column, error.message
            ),
            statement_text: statement.to_string(),
            entities: Vec::new(),
        }
    }

    pub fn status(&self) -> StatusCode {
        match self {
            ServerError::BadRequest { .. }
            | ServerError::Statement { .. }
            | ServerError::UseQueryEndpoint { .. } => StatusCode::BAD_REQUEST,
            ServerError::AssertionFailed { .. } => StatusCode::EXPECTATION_FAILED,
            ServerError::NotFound(_) => StatusCode::NOT_FOUND,
            ServerError::NotAcceptable(_) => StatusCode::NOT_ACCEPTABLE,
            ServerError::ShuttingDown => StatusCode::SERVICE_UNAVAILABLE,
            ServerError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    pub fn error_code(&self) -> u32 {
        match self {
            ServerError::BadRequest { .. } => codes::BAD_REQUEST,
            ServerError::Statement { .. } => codes::BAD_STATEMENT,
            ServerError::UseQueryEndpoint { .. } => codes::QUERY_ENDPOINT,
            ServerError::AssertionFailed { .. } => codes::ASSERTION_FAILED,
            ServerError::NotFound(_) => codes::NOT_FOUND,
            ServerError::NotAcceptable(_) => codes::NOT_ACCEPTABLE,
            ServerError::ShuttingDown => codes::SERVER_SHUTTING_DOWN,
            ServerError::Internal(_) => codes::SERVER_ERROR,
        }
    }

    /// The JSON body ksqlDB sends with this error.
    pub fn body(&self) -> Value {
        match self {
            ServerError::Statement { message, statement_text, entities }
            | ServerError::UseQueryEndpoint { message, statement_text, entities }
            | ServerError::AssertionFailed { message, statement_text, entities } => json!({
                "@type": "statement_error",
                "error_code": self.error_code(),
                "message": message,
                "statementText": statement_text,
                "entities": entities,
            }),
            other => json!({
                "@type": "generic_error",
                "error_code": other.error_code(),
                "message": other.to_string(),
            }),
        }
    }
}

impl IntoResponse for ServerError {
    fn into_response(self) -> Response {
        if let ServerError::Internal(message) = &self {
            tracing::error!(%message, "internal error while serving a request");
        }
        let status = self.status();
        let body = self.body().to_string();
        (status, [(axum::http::header::CONTENT_TYPE, crate::api::KSQL_V1_JSON)], body).into_response()
    }
}
