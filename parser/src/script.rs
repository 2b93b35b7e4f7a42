//! Script splitting: tokenizes a whole script once, cuts it at top-level `;` and recovers each
//! statement's exact source text and start position.

use sqlparser::tokenizer::{Token, TokenWithSpan, Tokenizer};

use crate::ast::Location;
use crate::dialect::KsqlDialect;
use crate::error::ParseError;

/// The tokens of one statement (comments and whitespace removed, no `;`), with its source text.
pub(crate) struct StatementTokens {
    pub tokens: Vec<TokenWithSpan>,
    pub text: String,
    pub start: Location,
    /// Where the statement ends (used to report "unexpected end of input").
    pub end: Location,
}

/// Tokenizes `sql` and groups the tokens into statements.
pub(crate) fn split_statements(sql: &str) -> Result<Vec<StatementTokens>, ParseError> {
    let tokens = Tokenizer::new(&KsqlDialect, sql)
        .with_unescape(true)
        .tokenize_with_location()
        .map_err(|e| {
            ParseError::new(e.message, Location { line: e.location.line, column: e.location.column })
        })?;
    let index = LineIndex::new(sql);
    let mut statements = Vec::new();
    let mut current: Vec<TokenWithSpan> = Vec::new();
    for token in tokens {
        match token.token {
            Token::Whitespace(_) => {}
            Token::SemiColon | Token::EOF => {
                if !current.is_empty() {
                    statements.push(finish(sql, &index, std::mem::take(&mut current)));
                }
            }
            _ => current.push(token),
        }
    }
    if !current.is_empty() {
        statements.push(finish(sql, &index, current));
    }
    Ok(statements)
}

fn finish(sql: &str, index: &LineIndex, tokens: Vec<TokenWithSpan>) -> StatementTokens {
    let (start, end) = match (tokens.first(), tokens.last()) {
        (Some(first), Some(last)) => (
            Location { line: first.span.start.line, column: first.span.start.column },
            Location { line: last.span.end.line, column: last.span.end.column },
        ),
        _ => (Location::default(), Location::default()),
    };
    let from = index.offset(start);
    let to = index.offset(end).max(from);
    let text = sql.get(from..to).unwrap_or_default().trim().to_string();
    StatementTokens { tokens, text, start, end }
}

/// Maps sqlparser's 1-based (line, character column) positions to byte offsets.
struct LineIndex<'a> {
    sql: &'a str,
    line_starts: Vec<usize>,
}

impl<'a> LineIndex<'a> {
    fn new(sql: &'a str) -> Self {
        let mut line_starts = vec![0];
        line_starts.extend(sql.match_indices('\n').map(|(i, _)| i + 1));
        LineIndex { sql, line_starts }
    }

    fn offset(&self, location: Location) -> usize {
        let line = usize::try_from(location.line).unwrap_or(usize::MAX);
        let Some(&line_start) = line.checked_sub(1).and_then(|l| self.line_starts.get(l)) else {
            return self.sql.len();
        };
        let column = usize::try_from(location.column.saturating_sub(1)).unwrap_or(usize::MAX);
        let rest = &self.sql[line_start..];
        rest.char_indices().nth(column).map_or(self.sql.len(), |(i, _)| line_start + i)
    }
}
