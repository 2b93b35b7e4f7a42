//! runnel-parser: the ksqlDB SQL dialect parsed into a typed AST ([`ast`]).
//!
//! Entry points: [`parse_statements`] for scripts, [`parse_statement`] for exactly one,
//! [`parse_expr`] for a lone expression, [`substitute_variables`] for `${var}`.
//!
//! Layout: [`script`] cuts a script into statements, [`statement`]/[`query`] are the
//! recursive-descent statement parser (over [`cursor`]), which hands expressions to sqlparser
//! driven by our [`KsqlDialect`] ([`dialect`]); [`types`] parses ksql types; [`display`] writes
//! the AST back out; [`variables`] does `${name}` substitution.

pub mod ast;
mod cursor;
pub mod dialect;
pub mod display;
mod error;
mod names;
mod query;
mod script;
mod statement;
pub mod types;
mod variables;

use sqlparser::parser::Parser;
use sqlparser::tokenizer::Token;

pub use ast::*;
pub use dialect::KsqlDialect;
pub use display::{render_expr, render_select_item};
pub use error::ParseError;
pub use types::{sql_type_from_data_type, sql_type_to_data_type};
pub use variables::substitute_variables;

use cursor::Cursor;

/// How deeply sqlparser may nest expressions before giving up (bounds stack use).
const RECURSION_LIMIT: usize = 64;

/// Most operators (binary, `->`, `[`) one statement may hold. Each can add a level to a
/// left-nested expression tree, and deep trees overflow the stack when displayed, compared or
/// dropped, so hostile input is refused up front.
const MAX_OPERATORS_PER_STATEMENT: usize = 1000;

/// Parses a script of `;`-separated statements (comments allowed).
pub fn parse_statements(sql: &str) -> Result<Vec<ParsedStatement>, ParseError> {
    script::split_statements(sql)?
        .into_iter()
        .map(|piece| {
            check_operator_count(&piece.tokens)?;
            let parser = Parser::new(&KsqlDialect)
                .with_recursion_limit(RECURSION_LIMIT)
                .with_tokens_with_locations(piece.tokens);
            let statement = Cursor::new(parser, piece.end).statement()?;
            Ok(ParsedStatement { statement, text: piece.text, start: piece.start })
        })
        .collect()
}

/// Parses exactly one statement (a trailing `;` is optional).
pub fn parse_statement(sql: &str) -> Result<Statement, ParseError> {
    let mut all = parse_statements(sql)?;
    match all.len() {
        1 => Ok(all.remove(0).statement),
        0 => Err(ParseError::new("expected one statement, found none", Location { line: 1, column: 1 })),
        _ => Err(ParseError::new(
            format!("expected one statement, found {}", all.len()),
            all[1].start,
        )),
    }
}

/// Parses one ksql expression.
pub fn parse_expr(sql: &str) -> Result<Expr, ParseError> {
    let mut pieces = script::split_statements(sql)?;
    if pieces.len() != 1 {
        return Err(ParseError::new(
            "expected one expression",
            pieces.get(1).map_or(Location { line: 1, column: 1 }, |p| p.start),
        ));
    }
    let piece = pieces.remove(0);
    check_operator_count(&piece.tokens)?;
    let parser = Parser::new(&KsqlDialect)
        .with_recursion_limit(RECURSION_LIMIT)
        .with_tokens_with_locations(piece.tokens);
    let mut cursor = Cursor::new(parser, piece.end);
    let expr = cursor.expr()?;
    match cursor.peek().token {
        Token::EOF => Ok(expr),
        _ => Err(cursor.expected("end of expression")),
    }
}

fn check_operator_count(tokens: &[sqlparser::tokenizer::TokenWithSpan]) -> Result<(), ParseError> {
    let is_operator = |token: &Token| match token {
        Token::Plus
        | Token::Minus
        | Token::Mul
        | Token::Div
        | Token::Mod
        | Token::StringConcat
        | Token::Eq
        | Token::Neq
        | Token::Lt
        | Token::LtEq
        | Token::Gt
        | Token::GtEq
        | Token::Arrow
        | Token::LBracket => true,
        Token::Word(w) => {
            w.quote_style.is_none()
                && ["AND", "OR", "IS", "IN", "BETWEEN", "LIKE", "AT"]
                    .iter()
                    .any(|k| w.value.eq_ignore_ascii_case(k))
        }
        _ => false,
    };
    match tokens.iter().filter(|t| is_operator(&t.token)).nth(MAX_OPERATORS_PER_STATEMENT) {
        None => Ok(()),
        Some(token) => Err(ParseError::new(
            format!("Statement too complex: more than {MAX_OPERATORS_PER_STATEMENT} operators"),
            error::location_of(token).unwrap_or_default(),
        )),
    }
}
