//! The rustyline helper: Enter submits only a finished statement (ended by `;` outside quotes
//! and comments) or a CLI command, Tab completes keywords, CLI commands and the server's
//! stream and table names, and a masking mode hides a typed password.

use std::borrow::Cow;

use rustyline::completion::{Completer, Pair};
use rustyline::highlight::{CmdKind, Highlighter};
use rustyline::hint::Hinter;
use rustyline::validate::{ValidationContext, ValidationResult, Validator};
use rustyline::{Context, Helper};
use unicode_width::UnicodeWidthStr;

use crate::commands::{is_cli_command, CLI_COMMANDS};
use crate::scanner::{is_complete, is_word_char};
use crate::session::SourceNames;

/// ksqlDB keywords offered by completion.
pub const KEYWORDS: &[&str] = &[
    "ADVANCE",
    "ALL",
    "ALTER",
    "AND",
    "ARRAY",
    "AS",
    "ASC",
    "ASSERT",
    "AT",
    "BEGINNING",
    "BETWEEN",
    "BY",
    "CASE",
    "CAST",
    "CHANGES",
    "CONNECTOR",
    "CONNECTORS",
    "CREATE",
    "DEFINE",
    "DELETE",
    "DESC",
    "DESCRIBE",
    "DISTINCT",
    "DROP",
    "ELSE",
    "EMIT",
    "END",
    "EXISTS",
    "EXPLAIN",
    "EXTENDED",
    "FALSE",
    "FINAL",
    "FROM",
    "FULL",
    "FUNCTION",
    "FUNCTIONS",
    "GRACE",
    "GROUP",
    "HAVING",
    "HEADER",
    "HEADERS",
    "HOPPING",
    "IF",
    "IN",
    "INNER",
    "INSERT",
    "INTEGER",
    "INTERVAL",
    "INTO",
    "IS",
    "JOIN",
    "KEY",
    "LEFT",
    "LIKE",
    "LIMIT",
    "LIST",
    "MAP",
    "NOT",
    "NULL",
    "ON",
    "OR",
    "OUTER",
    "PARTITION",
    "PARTITIONS",
    "PERIOD",
    "PRIMARY",
    "PRINT",
    "PROPERTIES",
    "QUERIES",
    "QUERY",
    "REPLACE",
    "RIGHT",
    "RUN",
    "SCRIPT",
    "SELECT",
    "SESSION",
    "SET",
    "SHOW",
    "SINK",
    "SIZE",
    "SOURCE",
    "STREAM",
    "STREAMS",
    "STRUCT",
    "TABLE",
    "TABLES",
    "TERMINATE",
    "THEN",
    "TIMESTAMP",
    "TOPIC",
    "TOPICS",
    "TRUE",
    "TUMBLING",
    "TYPE",
    "TYPES",
    "UNDEFINE",
    "UNSET",
    "VALUES",
    "VARCHAR",
    "VARIABLES",
    "WHEN",
    "WHERE",
    "WINDOW",
    "WITH",
    "WITHIN",
];

#[derive(Default)]
pub struct ReplHelper {
    pub sources: SourceNames,
    /// While reading a password, the line is drawn as blanks.
    pub masking: bool,
}

impl ReplHelper {
    pub fn new(sources: SourceNames) -> ReplHelper {
        ReplHelper { sources, masking: false }
    }

    /// Completion candidates for the word `prefix`; `statement_start` when the word is the
    /// first of a statement (CLI commands are offered there too).
    pub fn candidates(&self, prefix: &str, statement_start: bool) -> Vec<String> {
        if prefix.is_empty() {
            return Vec::new();
        }
        let lower = !prefix.chars().any(char::is_uppercase);
        let matches = |word: &str| word.len() >= prefix.len() && word[..prefix.len()].eq_ignore_ascii_case(prefix);
        let mut out: Vec<String> = KEYWORDS
            .iter()
            .filter(|k| matches(k))
            .map(|k| if lower { k.to_lowercase() } else { k.to_string() })
            .collect();
        if statement_start {
            out.extend(CLI_COMMANDS.iter().filter(|c| matches(c)).map(|c| c.to_string()));
        }
        if let Ok(sources) = self.sources.lock() {
            out.extend(sources.iter().filter(|s| matches(s)).cloned());
        }
        out.sort();
        out.dedup();
        out
    }
}

impl Completer for ReplHelper {
    type Candidate = Pair;

    fn complete(&self, line: &str, pos: usize, _: &Context<'_>) -> rustyline::Result<(usize, Vec<Pair>)> {
        let before = &line[..pos];
        let start = before.char_indices().rev().find(|&(_, c)| !is_word_char(c)).map_or(0, |(i, c)| i + c.len_utf8());
        let preceding = before[..start].trim_end();
        let statement_start = preceding.is_empty() || preceding.ends_with(';');
        let pairs = self
            .candidates(&before[start..], statement_start)
            .into_iter()
            .map(|c| Pair { display: c.clone(), replacement: c })
            .collect();
        Ok((start, pairs))
    }
}

impl Validator for ReplHelper {
    fn validate(&self, ctx: &mut ValidationContext<'_>) -> rustyline::Result<ValidationResult> {
        let input = ctx.input();
        if self.masking || is_complete(input) || is_cli_command(input) {
            Ok(ValidationResult::Valid(None))
        } else {
            Ok(ValidationResult::Incomplete)
        }
    }
}

impl Hinter for ReplHelper {
    type Hint = String;
}

impl Highlighter for ReplHelper {
    fn highlight<'l>(&self, line: &'l str, _pos: usize) -> Cow<'l, str> {
        if self.masking {
            Cow::Owned(" ".repeat(line.width()))
        } else {
            Cow::Borrowed(line)
        }
    }

    fn highlight_char(&self, _line: &str, _pos: usize, kind: CmdKind) -> bool {
        self.masking && kind != CmdKind::MoveCursor
    }
}

impl Helper for ReplHelper {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn completes_keywords_in_the_case_typed() {
        let helper = ReplHelper::default();
        assert_eq!(helper.candidates("SEL", false), vec!["SELECT"]);
        assert_eq!(helper.candidates("str", false), vec!["stream", "streams", "struct"]);
        assert!(helper.candidates("", true).is_empty());
    }

    #[test]
    fn completes_source_names_and_cli_commands() {
        let helper = ReplHelper::default();
        if let Ok(mut names) = helper.sources.lock() {
            names.extend(["PAGEVIEWS".to_string(), "PAGEVIEWS_BY_REGION".to_string()]);
        }
        assert_eq!(helper.candidates("pagev", false), vec!["PAGEVIEWS", "PAGEVIEWS_BY_REGION"]);
        assert_eq!(helper.candidates("ex", true), vec!["exists", "exit", "explain", "extended"]);
        assert_eq!(helper.candidates("ex", false), vec!["exists", "explain", "extended"]);
    }
}
