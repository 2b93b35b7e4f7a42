//! Identifier resolution and quoting: unquoted names are upper-cased, quoted (back-ticked or
//! double-quoted) names are kept exactly; on output a name is back-ticked whenever writing it
//! bare would not read back as the same name.

use sqlparser::ast::Ident;

/// Words our grammar gives a meaning to in some position; names spelled like them are
/// back-ticked on output so they can never be mistaken for the keyword.
const RESERVED: &[&str] = &[
    "ALL", "AND", "ARRAY", "AS", "BETWEEN", "BIGINT", "BOOLEAN", "BY", "BYTES", "CASE", "CAST",
    "CHANGES", "CONNECTOR", "CONNECTORS", "DATE", "DECIMAL", "DELETE", "DOUBLE", "ELSE", "EMIT",
    "END", "EXISTS", "EXTENDED", "FALSE", "FINAL", "FROM", "FULL", "FUNCTION", "GRACE", "GROUP",
    "HAVING", "HEADER", "HEADERS", "IF", "IN", "INNER", "INT", "INTEGER", "INTERVAL", "IS", "JOIN",
    "KEY", "LEFT", "LIKE", "LIMIT", "MAP", "NOT", "NULL", "ON", "OR", "OUTER", "PARTITION",
    "PRIMARY", "RIGHT", "SAMPLE", "SELECT", "SINK", "SOURCE", "STREAM", "STREAMS", "STRING",
    "STRUCT", "TABLE", "TABLES", "THEN", "TIME", "TIMESTAMP", "TOPIC", "TRUE", "TYPE", "VALUES",
    "VARCHAR", "WHEN", "WHERE", "WINDOW", "WITH", "WITHIN",
];

/// The name an identifier token denotes: upper-cased unless it was quoted.
pub(crate) fn resolve_ident(value: &str, quote_style: Option<char>) -> String {
    match quote_style {
        Some(_) => value.to_string(),
        None => value.to_uppercase(),
    }
}

fn is_plain_word(name: &str, allow_lower: bool) -> bool {
    let mut chars = name.chars();
    let starts_ok = chars
        .next()
        .is_some_and(|c| c.is_ascii_uppercase() || c == '_' || (allow_lower && c.is_ascii_lowercase()));
    starts_ok
        && chars.all(|c| {
            c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_' || (allow_lower && c.is_ascii_lowercase())
        })
}

fn is_reserved(name: &str) -> bool {
    RESERVED.iter().any(|r| r.eq_ignore_ascii_case(name))
}

/// True when `name` (already resolved) can be written without back-ticks.
pub(crate) fn is_bare_name(name: &str) -> bool {
    is_plain_word(name, false) && !is_reserved(name)
}

/// An [`Ident`] that displays as `name` and resolves back to exactly `name`.
pub(crate) fn ident_for_name(name: &str) -> Ident {
    if is_bare_name(name) {
        Ident::new(name)
    } else {
        Ident::with_quote('`', name)
    }
}

/// Writes a resolved name: bare when safe, otherwise back-ticked with `` ` `` doubled.
pub(crate) fn quote_name(name: &str) -> String {
    if is_bare_name(name) {
        name.to_string()
    } else {
        format!("`{}`", name.replace('`', "``"))
    }
}

/// Writes a case-preserving word (topic names, variable names): bare when it reads back
/// unchanged, otherwise as `quoted` produces.
pub(crate) fn quote_word(word: &str, quoted: impl Fn(&str) -> String) -> String {
    if is_plain_word(word, true) && !is_reserved(word) {
        word.to_string()
    } else {
        quoted(word)
    }
}

/// `'text'` with embedded quotes doubled.
pub(crate) fn quote_string(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}
