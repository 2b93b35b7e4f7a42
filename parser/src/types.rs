//! ksql data types: parsing `SqlType` from sqlparser tokens (shared by column definitions,
//! `CREATE TYPE` and `CAST`), and the mapping to/from sqlparser's [`DataType`] used inside
//! `Expr::Cast`.

use sqlparser::ast::{
    ArrayElemTypeDef, DataType, ExactNumberInfo, Ident, ObjectName, StructBracketKind,
    StructField as SqlStructField, TimezoneInfo,
};
use sqlparser::parser::{Parser, ParserError};
use sqlparser::tokenizer::Token;

use crate::ast::{SqlType, StructField};
use crate::names::{ident_for_name, resolve_ident};

/// Words that can never name a type (ksql reserves them): `CAST(x AS NULL)` is a syntax error.
const NOT_TYPE_NAMES: &[&str] = &[
    "NULL", "TRUE", "FALSE", "SELECT", "FROM", "WHERE", "AND", "OR", "NOT", "AS", "KEY",
    "PRIMARY", "HEADERS", "HEADER", "WITH",
];

/// Deepest type nesting accepted (keeps hostile input from exhausting the stack).
const MAX_TYPE_DEPTH: usize = 64;

/// Parses one ksql type. `>>` closing two nested generics is handled by splitting the token.
pub(crate) fn parse_sql_type(parser: &mut Parser) -> Result<SqlType, ParserError> {
    let mut state = TypeParser { pending_gt: 0, depth: 0 };
    let parsed = state.parse(parser)?;
    if state.pending_gt > 0 {
        return parser.expected("end of type", parser.peek_token());
    }
    Ok(parsed)
}

struct TypeParser {
    /// `>` tokens already consumed as half of a `>>` token.
    pending_gt: usize,
    depth: usize,
}

impl TypeParser {
    fn parse(&mut self, parser: &mut Parser) -> Result<SqlType, ParserError> {
        self.depth += 1;
        if self.depth > MAX_TYPE_DEPTH {
            return Err(ParserError::RecursionLimitExceeded);
        }
        let result = self.parse_inner(parser);
        self.depth -= 1;
        result
    }

    fn parse_inner(&mut self, parser: &mut Parser) -> Result<SqlType, ParserError> {
        let token = parser.next_token();
        let word = match &token.token {
            Token::Word(w) => w.clone(),
            _ => return parser.expected("a data type", token),
        };
        if word.quote_style.is_some() {
            let custom = SqlType::Custom(word.value);
            skip_type_parameters(parser)?;
            return Ok(custom);
        }
        let upper = word.value.to_uppercase();
        if NOT_TYPE_NAMES.contains(&upper.as_str()) {
            parser.prev_token();
            return parser.expected("a data type", parser.peek_token());
        }
        let sql_type = match upper.as_str() {
            "BOOLEAN" => SqlType::Boolean,
            "INT" | "INTEGER" => SqlType::Int,
            "BIGINT" => SqlType::Bigint,
            "DOUBLE" => SqlType::Double,
            "VARCHAR" | "STRING" => SqlType::String,
            "BYTES" => SqlType::Bytes,
            "TIMESTAMP" => SqlType::Timestamp,
            "DATE" => SqlType::Date,
            "TIME" => SqlType::Time,
            "DECIMAL" => {
                parser.expect_token(&Token::LParen)?;
                let precision = parse_u8(parser)?;
                parser.expect_token(&Token::Comma)?;
                let scale = parse_u8(parser)?;
                parser.expect_token(&Token::RParen)?;
                SqlType::Decimal { precision, scale }
            }
            "ARRAY" => {
                parser.expect_token(&Token::Lt)?;
                let element = self.parse(parser)?;
                self.expect_gt(parser)?;
                SqlType::Array(Box::new(element))
            }
            "MAP" => {
                // `MAP(K, V)` is how sqlparser displays a map type, so accept it as well.
                let close_paren = parser.consume_token(&Token::LParen);
                if !close_paren {
                    parser.expect_token(&Token::Lt)?;
                }
                let key = self.parse(parser)?;
                parser.expect_token(&Token::Comma)?;
                let value = self.parse(parser)?;
                if close_paren {
                    parser.expect_token(&Token::RParen)?;
                } else {
                    self.expect_gt(parser)?;
                }
                SqlType::Map(Box::new(key), Box::new(value))
            }
            "STRUCT" => {
                // `STRUCT<>` lexes as STRUCT + `<>`; sqlparser displays an empty struct as `STRUCT`.
                if parser.consume_token(&Token::Neq) {
                    return Ok(SqlType::Struct(Vec::new()));
                }
                if !parser.consume_token(&Token::Lt) {
                    return Ok(SqlType::Struct(Vec::new()));
                }
                let mut fields = Vec::new();
                if !self.consume_gt(parser) {
                    loop {
                        let name_token = parser.next_token();
                        let name = match &name_token.token {
                            Token::Word(w) => resolve_ident(&w.value, w.quote_style),
                            _ => return parser.expected("a struct field name", name_token),
                        };
                        let data_type = self.parse(parser)?;
                        fields.push(StructField { name, data_type });
                        if self.pending_gt == 0 && parser.consume_token(&Token::Comma) {
                            continue;
                        }
                        self.expect_gt(parser)?;
                        break;
                    }
                }
                SqlType::Struct(fields)
            }
            _ => SqlType::Custom(upper),
        };
        if !matches!(sql_type, SqlType::Decimal { .. } | SqlType::Map(..)) {
            skip_type_parameters(parser)?;
        }
        Ok(sql_type)
    }

    fn consume_gt(&mut self, parser: &mut Parser) -> bool {
        if self.pending_gt > 0 {
            self.pending_gt -= 1;
            return true;
        }
        if parser.consume_token(&Token::Gt) {
            return true;
        }
        if parser.consume_token(&Token::ShiftRight) {
            self.pending_gt += 1;
            return true;
        }
        false
    }

    fn expect_gt(&mut self, parser: &mut Parser) -> Result<(), ParserError> {
        if self.consume_gt(parser) {
            Ok(())
        } else {
            parser.expected("'>'", parser.peek_token())
        }
    }
}

/// ksql's grammar lets a base type carry ignored parameters (numbers or `STRING`):
/// `VARCHAR(STRING)`, `STRING(10)`. Like ksqlDB, `K STRING (KEY)` therefore fails at `KEY`
/// with "Expecting {'STRING', INTEGER_VALUE}".
fn skip_type_parameters(parser: &mut Parser) -> Result<(), ParserError> {
    let is_parameter = |token: &Token| match token {
        Token::Number(..) => true,
        Token::Word(w) => w.quote_style.is_none() && w.value.eq_ignore_ascii_case("STRING"),
        _ => false,
    };
    if !parser.consume_token(&Token::LParen) {
        return Ok(());
    }
    loop {
        let token = parser.next_token();
        if !is_parameter(&token.token) {
            return Err(ParserError::ParserError(format!(
                // ksqlDB's exact wording; the location names the offending token.
                "Expecting {{'STRING', INTEGER_VALUE}}{}",
                token.span.start
            )));
        }
        if parser.consume_token(&Token::Comma) {
            continue;
        }
        parser.expect_token(&Token::RParen)?;
        return Ok(());
    }
}

fn parse_u8(parser: &mut Parser) -> Result<u8, ParserError> {
    let token = parser.next_token();
    match &token.token {
        Token::Number(n, _) => match n.parse::<u8>() {
            Ok(v) => Ok(v),
            Err(_) => parser.expected("a number between 0 and 255", token),
        },
        _ => parser.expected("a number", token),
    }
}

/// The sqlparser [`DataType`] we store in `Expr::Cast` for a ksql type. Its `Display` is accepted
/// by [`parse_sql_type`], and [`sql_type_from_data_type`] maps it back.
pub fn sql_type_to_data_type(sql_type: &SqlType) -> DataType {
    match sql_type {
        SqlType::Boolean => DataType::Boolean,
        SqlType::Int => DataType::Int(None),
        SqlType::Bigint => DataType::BigInt(None),
        SqlType::Double => DataType::Double(ExactNumberInfo::None),
        SqlType::Decimal { precision, scale } => DataType::Decimal(
            ExactNumberInfo::PrecisionAndScale(u64::from(*precision), i64::from(*scale)),
        ),
        SqlType::String => DataType::String(None),
        SqlType::Bytes => DataType::Bytes(None),
        SqlType::Timestamp => DataType::Timestamp(None, TimezoneInfo::None),
        SqlType::Date => DataType::Date,
        SqlType::Time => DataType::Time(None, TimezoneInfo::None),
        SqlType::Array(element) => {
            DataType::Array(ArrayElemTypeDef::AngleBracket(Box::new(sql_type_to_data_type(element))))
        }
        SqlType::Map(key, value) => DataType::Map(
            Box::new(sql_type_to_data_type(key)),
            Box::new(sql_type_to_data_type(value)),
        ),
        SqlType::Struct(fields) => DataType::Struct(
            fields
                .iter()
                .map(|field| SqlStructField {
                    field_name: Some(ident_for_name(&field.name)),
                    field_type: sql_type_to_data_type(&field.data_type),
                    options: None,
                })
                .collect(),
            StructBracketKind::AngleBrackets,
        ),
        SqlType::Custom(name) => {
            DataType::Custom(ObjectName::from(vec![ident_for_name(name)]), Vec::new())
        }
    }
}

/// Maps a [`DataType`] produced by [`sql_type_to_data_type`] back to the ksql type
/// (`None` for data types the ksql dialect never produces).
pub fn sql_type_from_data_type(data_type: &DataType) -> Option<SqlType> {
    Some(match data_type {
        DataType::Boolean => SqlType::Boolean,
        DataType::Int(None) | DataType::Integer(None) => SqlType::Int,
        DataType::BigInt(None) => SqlType::Bigint,
        DataType::Double(ExactNumberInfo::None) => SqlType::Double,
        DataType::Decimal(ExactNumberInfo::PrecisionAndScale(p, s)) => SqlType::Decimal {
            precision: u8::try_from(*p).ok()?,
            scale: u8::try_from(*s).ok()?,
        },
        DataType::String(None) | DataType::Varchar(None) => SqlType::String,
        DataType::Bytes(None) => SqlType::Bytes,
        DataType::Timestamp(None, TimezoneInfo::None) => SqlType::Timestamp,
        DataType::Date => SqlType::Date,
        DataType::Time(None, TimezoneInfo::None) => SqlType::Time,
        DataType::Array(ArrayElemTypeDef::AngleBracket(element)) => {
            SqlType::Array(Box::new(sql_type_from_data_type(element)?))
        }
        DataType::Map(key, value) => SqlType::Map(
            Box::new(sql_type_from_data_type(key)?),
            Box::new(sql_type_from_data_type(value)?),
        ),
        DataType::Struct(fields, _) => SqlType::Struct(
            fields
                .iter()
                .map(|field| {
                    let name = field.field_name.as_ref()?;
                    Some(StructField {
                        name: resolve_ident(&name.value, name.quote_style),
                        data_type: sql_type_from_data_type(&field.field_type)?,
                    })
                })
                .collect::<Option<Vec<_>>>()?,
        ),
        DataType::Custom(name, modifiers) if modifiers.is_empty() => match name.0.as_slice() {
            [part] => {
                let ident: &Ident = part.as_ident()?;
                SqlType::Custom(resolve_ident(&ident.value, ident.quote_style))
            }
            _ => return None,
        },
        _ => return None,
    })
}
