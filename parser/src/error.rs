//! [`ParseError`]: a syntax error with the 1-based position of the offending token, plus the
//! conversions from sqlparser's tokenizer and parser errors.

use sqlparser::parser::ParserError;
use sqlparser::tokenizer::TokenWithSpan;

use crate::ast::Location;

/// A syntax error, with where it happened.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("line {}:{}: Syntax Error\n{message}", location.line, location.column)]
pub struct ParseError {
    pub message: String,
    pub location: Location,
}

impl ParseError {
    pub fn new(message: impl Into<String>, location: Location) -> Self {
        ParseError { message: message.into(), location }
    }

    /// `Expected: <expected>, found: <token>` pointing at `found`.
    pub(crate) fn expected(expected: &str, found: &TokenWithSpan, fallback: Location) -> Self {
        let location = location_of(found).unwrap_or(fallback);
        let found = match &found.token {
            sqlparser::tokenizer::Token::EOF => "end of input".to_string(),
            other => format!("'{other}'"),
        };
        ParseError::new(format!("Expected: {expected}, found: {found}"), location)
    }

    /// Converts a sqlparser error; sqlparser appends ` at Line: L, Column: C` to its messages.
    pub(crate) fn from_sqlparser(error: ParserError, fallback: Location) -> Self {
        let raw = match error {
            ParserError::TokenizerError(m) | ParserError::ParserError(m) => m,
            ParserError::RecursionLimitExceeded => {
                return ParseError::new("expression nested too deeply", fallback)
            }
        };
        match split_location_suffix(&raw) {
            Some((message, location)) => ParseError::new(message, location),
            None => ParseError::new(raw, fallback),
        }
    }
}

/// The start of a token, or `None` for synthetic tokens (EOF) that carry no position.
pub(crate) fn location_of(token: &TokenWithSpan) -> Option<Location> {
    let start = token.span.start;
    (start.line > 0).then_some(Location { line: start.line, column: start.column })
}

fn split_location_suffix(raw: &str) -> Option<(String, Location)> {
    let at = raw.rfind(" at Line: ")?;
    let (message, suffix) = raw.split_at(at);
    let rest = suffix.strip_prefix(" at Line: ")?;
    let (line, column) = rest.split_once(", Column: ")?;
    let location = Location { line: line.trim().parse().ok()?, column: column.trim().parse().ok()? };
    Some((message.to_string(), location))
}
