//! `${name}` variable substitution (`DEFINE name = 'value'`), applied to the raw text before
//! parsing. Like ksqlDB, substitution happens everywhere, string literals included; names are
//! matched exactly first, then case-insensitively.

use std::collections::HashMap;

use crate::ast::Location;
use crate::error::ParseError;

/// Replaces every `${name}` with the variable's value; an undefined variable is an error
/// pointing at its `$`. A `$` not followed by `{` is kept as is.
pub fn substitute_variables(sql: &str, vars: &HashMap<String, String>) -> Result<String, ParseError> {
    let mut out = String::with_capacity(sql.len());
    let mut rest = sql;
    while let Some(at) = rest.find("${") {
        out.push_str(&rest[..at]);
        let after = &rest[at + 2..];
        let Some(close) = after.find('}') else {
            return Err(ParseError::new(
                "Unterminated variable reference: missing '}' after '${'",
                location_at(sql, sql.len() - rest.len() + at),
            ));
        };
        let name = after[..close].trim();
        let value = vars.get(name).or_else(|| {
            vars.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v)
        });
        match value {
            Some(value) => out.push_str(value),
            None => {
                return Err(ParseError::new(
                    format!("Undefined variable: '{name}' (use DEFINE {name} = '...')"),
                    location_at(sql, sql.len() - rest.len() + at),
                ))
            }
        }
        rest = &after[close + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

/// The 1-based line and character column of byte offset `offset`.
fn location_at(sql: &str, offset: usize) -> Location {
    let before = sql.get(..offset).unwrap_or(sql);
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = before[line_start..].chars().count() + 1;
    Location { line: line as u64, column: column as u64 }
}
