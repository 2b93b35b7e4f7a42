//! [`Cursor`]: keyword-level helpers over a sqlparser [`Parser`] for our recursive-descent
//! statement parser. ksql keywords are matched by spelling (case-insensitive, unquoted), since
//! many of them (STREAM, EMIT, GRACE, ...) are not sqlparser keywords.

use sqlparser::ast::Expr;
use sqlparser::parser::{Parser, ParserError};
use sqlparser::tokenizer::{Token, TokenWithSpan};

use crate::ast::{Location, PropertyValue, WithProperties};
use crate::error::{location_of, ParseError};
use crate::names::resolve_ident;
use crate::types::parse_sql_type;
use crate::SqlType;

pub(crate) type Result<T> = std::result::Result<T, ParseError>;

pub(crate) struct Cursor<'a> {
    pub parser: Parser<'a>,
    /// Reported for errors at the end of input.
    pub end: Location,
}

impl<'a> Cursor<'a> {
    pub fn new(parser: Parser<'a>, end: Location) -> Self {
        Cursor { parser, end }
    }

    pub fn peek(&self) -> &TokenWithSpan {
        self.parser.peek_token_ref()
    }

    pub fn peek_nth(&self, n: usize) -> &TokenWithSpan {
        self.parser.peek_nth_token_ref(n)
    }

    pub fn location(&self) -> Location {
        location_of(self.peek()).unwrap_or(self.end)
    }

    /// Is the `n`-th next token the unquoted word `keyword`?
    pub fn peek_keyword_at(&self, n: usize, keyword: &str) -> bool {
        matches!(&self.peek_nth(n).token,
            Token::Word(w) if w.quote_style.is_none() && w.value.eq_ignore_ascii_case(keyword))
    }

    pub fn peek_keyword(&self, keyword: &str) -> bool {
        self.peek_keyword_at(0, keyword)
    }

    /// Consumes the keyword if it is next.
    pub fn keyword(&mut self, keyword: &str) -> bool {
        let found = self.peek_keyword(keyword);
        if found {
            self.parser.next_token();
        }
        found
    }

    /// Consumes all keywords if they are next, in order; otherwise consumes nothing.
    pub fn keywords(&mut self, keywords: &[&str]) -> bool {
        let found = keywords.iter().enumerate().all(|(i, k)| self.peek_keyword_at(i, k));
        if found {
            for _ in keywords {
                self.parser.next_token();
            }
        }
        found
    }

    pub fn expect_keyword(&mut self, keyword: &str) -> Result<()> {
        if self.keyword(keyword) {
            Ok(())
        } else {
            Err(self.expected(keyword))
        }
    }

    pub fn consume(&mut self, token: &Token) -> bool {
        self.parser.consume_token(token)
    }

    pub fn expect(&mut self, token: &Token) -> Result<()> {
        if self.consume(token) {
            Ok(())
        } else {
            Err(self.expected(&format!("'{token}'")))
        }
    }

    /// An error at the next token: `Expected: <what>, found: <token>`.
    pub fn expected(&self, what: &str) -> ParseError {
        ParseError::expected(what, self.peek(), self.end)
    }

    pub fn sql_error(&self, error: ParserError) -> ParseError {
        ParseError::from_sqlparser(error, self.location())
    }

    pub fn expect_end(&self) -> Result<()> {
        match self.peek().token {
            Token::EOF => Ok(()),
            _ => Err(self.expected("end of statement")),
        }
    }

    /// An identifier (any word), resolved: upper-cased unless quoted.
    pub fn name(&mut self, what: &str) -> Result<String> {
        match &self.peek().token {
            Token::Word(w) => {
                let name = resolve_ident(&w.value, w.quote_style);
                self.parser.next_token();
                Ok(name)
            }
            _ => Err(self.expected(what)),
        }
    }

    /// A word exactly as written (quotes removed) or a string literal: topic names, subjects.
    pub fn word_or_string(&mut self, what: &str) -> Result<String> {
        let text = match &self.peek().token {
            Token::Word(w) => w.value.clone(),
            Token::SingleQuotedString(s) => s.clone(),
            _ => return Err(self.expected(what)),
        };
        self.parser.next_token();
        Ok(text)
    }

    pub fn string(&mut self, what: &str) -> Result<String> {
        match &self.peek().token {
            Token::SingleQuotedString(s) => {
                let s = s.clone();
                self.parser.next_token();
                Ok(s)
            }
            _ => Err(self.expected(what)),
        }
    }

    /// A non-negative integer literal.
    pub fn unsigned(&mut self, what: &str) -> Result<u64> {
        let value = match &self.peek().token {
            Token::Number(n, false) => n.parse::<u64>().ok(),
            _ => None,
        };
        match value {
            Some(v) => {
                self.parser.next_token();
                Ok(v)
            }
            None => Err(self.expected(what)),
        }
    }

    pub fn expr(&mut self) -> Result<Expr> {
        self.parser.parse_expr().map_err(|e| self.sql_error(e))
    }

    pub fn comma_separated_exprs(&mut self) -> Result<Vec<Expr>> {
        let mut exprs = vec![self.expr()?];
        while self.consume(&Token::Comma) {
            exprs.push(self.expr()?);
        }
        Ok(exprs)
    }

    pub fn sql_type(&mut self) -> Result<SqlType> {
        parse_sql_type(&mut self.parser).map_err(|e| self.sql_error(e))
    }

    /// `WITH (name = literal, ...)` if present. Unquoted names are upper-cased; quoted names
    /// too when `fold_quoted` (source properties are case-insensitive, connector ones are not).
    pub fn with_properties(&mut self, fold_quoted: bool) -> Result<WithProperties> {
        if !self.keyword("WITH") {
            return Ok(WithProperties::default());
        }
        self.properties(fold_quoted)
    }

    /// `(name = literal, ...)`.
    pub fn properties(&mut self, fold_quoted: bool) -> Result<WithProperties> {
        self.expect(&Token::LParen)?;
        let mut properties = Vec::new();
        loop {
            let name = match &self.peek().token {
                Token::Word(w) if w.quote_style.is_none() || fold_quoted => w.value.to_uppercase(),
                Token::Word(w) => w.value.clone(),
                Token::SingleQuotedString(s) if fold_quoted => s.to_uppercase(),
                Token::SingleQuotedString(s) => s.clone(),
                _ => return Err(self.expected("a property name")),
            };
            self.parser.next_token();
            self.expect(&Token::Eq)?;
            let value = self.property_value()?;
            properties.push((name, value));
            if !self.consume(&Token::Comma) {
                break;
            }
        }
        self.expect(&Token::RParen)?;
        Ok(WithProperties(properties))
    }

    fn property_value(&mut self) -> Result<PropertyValue> {
        let negative = matches!(self.peek().token, Token::Minus)
            && matches!(self.peek_nth(1).token, Token::Number(..));
        if negative {
            self.parser.next_token();
        }
        let value = match &self.peek().token {
            Token::SingleQuotedString(s) if !negative => PropertyValue::String(s.clone()),
            Token::Number(n, _) if negative => PropertyValue::Number(format!("-{n}")),
            Token::Number(n, _) => PropertyValue::Number(n.clone()),
            Token::Word(w) if w.quote_style.is_none() && w.value.eq_ignore_ascii_case("TRUE") => {
                PropertyValue::Boolean(true)
            }
            Token::Word(w) if w.quote_style.is_none() && w.value.eq_ignore_ascii_case("FALSE") => {
                PropertyValue::Boolean(false)
            }
            _ => return Err(self.expected("a string, number or boolean literal")),
        };
        self.parser.next_token();
        Ok(value)
    }
}
