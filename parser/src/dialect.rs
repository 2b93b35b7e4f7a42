//! [`KsqlDialect`]: the sqlparser dialect that makes sqlparser's expression parser read ksql.
//!
//! sqlparser handles literals, unary/binary operators, `CASE`, `IN`, `BETWEEN`, `LIKE`,
//! `IS [NOT] NULL|DISTINCT FROM` and parentheses. The prefix/infix hooks below take over the
//! ksql-specific forms:
//! - every `name(...)` is an ordinary function call (no SQL special forms like
//!   `SUBSTRING(x FROM 1)` or `TRIM(BOTH ...)`), args may be named with `:=` (MAP/STRUCT);
//! - `CAST(x AS ksql_type)`, `ARRAY[...]`, lambdas `x => e` / `(x, y) => e`;
//! - any other word (keywords included) is an identifier, `a.b` a compound identifier;
//! - infix `a->b` (struct field, left-assoc, binds like a postfix operator) and `a[i]`.
//!
//! `expr->*` (struct wildcard in a select item) is left for the statement parser: the `->`
//! before `*` gets precedence 0 so the expression ends there.

use sqlparser::ast::{
    AccessExpr, Array, BinaryOperator, CastKind, Expr, Function, FunctionArg, FunctionArgExpr,
    FunctionArgOperator, FunctionArgumentList, FunctionArguments, Ident, LambdaFunction,
    LambdaFunctionParameter, LambdaSyntax, ObjectName, OneOrManyWithParens, Subscript, Value,
    ValueWithSpan,
};
use sqlparser::dialect::{Dialect, Precedence};
use sqlparser::keywords::Keyword;
use sqlparser::parser::{Parser, ParserError};
use sqlparser::tokenizer::{Span, Token, Word};

use crate::types::{parse_sql_type, sql_type_to_data_type};

/// Clause and operator words that cannot start an expression unquoted (ksql reserves them), so
/// `SELECT a + FROM s` fails at `FROM` rather than reading `FROM` as a column.
const RESERVED_IN_EXPRESSIONS: &[&str] = &[
    "AND", "AS", "BETWEEN", "BY", "ELSE", "EMIT", "END", "FROM", "FULL", "GROUP", "HAVING", "IN",
    "INNER", "IS", "JOIN", "LIKE", "LIMIT", "ON", "OR", "OUTER", "PARTITION", "SELECT", "THEN",
    "WHEN", "WHERE", "WINDOW", "WITHIN",
];

/// The ksqlDB expression dialect (identifiers in back-ticks or double quotes, `''` escapes).
#[derive(Debug, Default, Clone, Copy)]
pub struct KsqlDialect;

impl Dialect for KsqlDialect {
    fn is_delimited_identifier_start(&self, ch: char) -> bool {
        ch == '`' || ch == '"'
    }

    fn is_identifier_start(&self, ch: char) -> bool {
        ch.is_alphabetic() || ch == '_'
    }

    fn is_identifier_part(&self, ch: char) -> bool {
        ch.is_alphanumeric() || ch == '_' || ch == '@'
    }

    fn supports_named_fn_args_with_assignment_operator(&self) -> bool {
        true
    }

    /// ksql's DIGIT_IDENTIFIER: `1R` is an identifier.
    fn supports_numeric_prefix(&self) -> bool {
        true
    }

    fn parse_prefix(&self, parser: &mut Parser) -> Option<Result<Expr, ParserError>> {
        let primary = parse_primary(parser)?;
        // Postfix `[i]` / `->f` are applied here, before sqlparser's own compound-access
        // handling (which would parse `[a:b]` slices and `.field` chains) can see them.
        Some(primary.and_then(|expr| parse_postfix(parser, expr)))
    }

    fn parse_infix(
        &self,
        parser: &mut Parser,
        expr: &Expr,
        _precedence: u8,
    ) -> Option<Result<Expr, ParserError>> {
        match parser.peek_token_ref().token {
            Token::Arrow => Some(parse_field_access(parser, expr)),
            Token::LBracket => Some(parse_subscript(parser, expr)),
            _ => None,
        }
    }

    fn get_next_precedence(&self, parser: &Parser) -> Option<Result<u8, ParserError>> {
        let postfix = self.prec_value(Precedence::DoubleColon);
        let precedence = match &parser.peek_token_ref().token {
            Token::Arrow if parser.peek_nth_token_ref(1).token == Token::Mul => 0,
            Token::Arrow | Token::LBracket => postfix,
            // ksql's binary operators: left to sqlparser's defaults.
            Token::Eq
            | Token::Neq
            | Token::Lt
            | Token::LtEq
            | Token::Gt
            | Token::GtEq
            | Token::Plus
            | Token::Minus
            | Token::Mul
            | Token::Div
            | Token::Mod
            | Token::StringConcat => return None,
            Token::Word(w)
                if w.quote_style.is_none()
                    && matches!(
                        w.keyword,
                        Keyword::OR
                            | Keyword::AND
                            | Keyword::NOT
                            | Keyword::IS
                            | Keyword::IN
                            | Keyword::BETWEEN
                            | Keyword::LIKE
                            | Keyword::AT
                    ) =>
            {
                return None
            }
            // Everything else (`::`, `:=`, `:`, `.`, other dialects' operators) ends the expression.
            _ => 0,
        };
        Some(Ok(precedence))
    }
}

/// The primary expressions we parse ourselves; `None` leaves `NOT`, `CASE`, unary signs and
/// other tokens to sqlparser.
fn parse_primary(parser: &mut Parser) -> Option<Result<Expr, ParserError>> {
    let (word, next) = match &parser.peek_token_ref().token {
        Token::Word(w) => (w.clone(), parser.peek_nth_token_ref(1).token.clone()),
        Token::LParen if starts_parenthesized_lambda(parser) => {
            return Some(parse_parenthesized_lambda(parser))
        }
        Token::LParen => return Some(parse_parenthesized(parser)),
        Token::Number(n, long) => {
            let value = Value::Number(n.clone(), *long);
            parser.next_token();
            return Some(Ok(value_expr(value)));
        }
        Token::SingleQuotedString(s) => {
            let value = Value::SingleQuotedString(s.clone());
            parser.next_token();
            return Some(Ok(value_expr(value)));
        }
        _ => return None,
    };
    if word.quote_style.is_none() {
        let literal = match word.value.to_uppercase().as_str() {
            "NOT" | "CASE" => return None,
            "TRUE" if next != Token::LParen => Some(Value::Boolean(true)),
            "FALSE" if next != Token::LParen => Some(Value::Boolean(false)),
            "NULL" if next != Token::LParen => Some(Value::Null),
            "CAST" if next == Token::LParen => return Some(parse_cast(parser)),
            "ARRAY" if next == Token::LBracket => return Some(parse_array(parser)),
            reserved if next != Token::LParen && RESERVED_IN_EXPRESSIONS.contains(&reserved) => {
                return Some(parser.expected("an expression", parser.peek_token()))
            }
            _ => None,
        };
        if let Some(value) = literal {
            parser.next_token();
            return Some(Ok(value_expr(value)));
        }
    }
    Some(match next {
        Token::LParen => parse_function_call(parser),
        Token::RArrow => parse_single_lambda(parser),
        _ => Ok(parse_identifier_chain(parser)),
    })
}

fn value_expr(value: Value) -> Expr {
    Expr::Value(ValueWithSpan { value, span: Span::empty() })
}

/// `(e)` -> `Nested`, `(a, b, ...)` -> `Tuple`.
fn parse_parenthesized(parser: &mut Parser) -> Result<Expr, ParserError> {
    parser.expect_token(&Token::LParen)?;
    let first = parser.parse_expr()?;
    if parser.consume_token(&Token::RParen) {
        return Ok(Expr::Nested(Box::new(first)));
    }
    let mut items = vec![first];
    while parser.consume_token(&Token::Comma) {
        items.push(parser.parse_expr()?);
    }
    parser.expect_token(&Token::RParen)?;
    Ok(Expr::Tuple(items))
}

/// Applies `[i]` and `->field` suffixes (not `->*`, which belongs to the select item).
fn parse_postfix(parser: &mut Parser, mut expr: Expr) -> Result<Expr, ParserError> {
    loop {
        expr = match parser.peek_token_ref().token {
            Token::Arrow if parser.peek_nth_token_ref(1).token != Token::Mul => {
                parse_field_access(parser, &expr)?
            }
            Token::LBracket => parse_subscript(parser, &expr)?,
            _ => return Ok(expr),
        };
    }
}

fn ident_of(word: &Word) -> Ident {
    Ident { value: word.value.clone(), quote_style: word.quote_style, span: Span::empty() }
}

fn expect_word(parser: &mut Parser, what: &str) -> Result<Ident, ParserError> {
    let token = parser.next_token();
    match &token.token {
        Token::Word(w) => Ok(ident_of(w)),
        _ => parser.expected(what, token),
    }
}

/// `a`, `a.b`, `a.b.c` (the caller has checked the next token is a word).
fn parse_identifier_chain(parser: &mut Parser) -> Expr {
    let mut parts = Vec::new();
    if let Token::Word(w) = &parser.next_token().token {
        parts.push(ident_of(w));
    }
    while parser.peek_token_ref().token == Token::Period
        && matches!(parser.peek_nth_token_ref(1).token, Token::Word(_))
    {
        parser.next_token();
        if let Token::Word(w) = &parser.next_token().token {
            parts.push(ident_of(w));
        }
    }
    if parts.len() == 1 {
        Expr::Identifier(parts.remove(0))
    } else {
        Expr::CompoundIdentifier(parts)
    }
}

/// `NAME(arg, name := arg, *)` as a plain function call.
fn parse_function_call(parser: &mut Parser) -> Result<Expr, ParserError> {
    let name = expect_word(parser, "a function name")?;
    // MAP keys are expressions (`MAP('a' := 1)`, `MAP(k1 := v1)` reads column k1).
    let keys_are_exprs = name.quote_style.is_none() && name.value.eq_ignore_ascii_case("MAP");
    parser.expect_token(&Token::LParen)?;
    let mut args = Vec::new();
    if !parser.consume_token(&Token::RParen) {
        loop {
            args.push(parse_function_arg(parser, keys_are_exprs)?);
            if parser.consume_token(&Token::Comma) {
                continue;
            }
            parser.expect_token(&Token::RParen)?;
            break;
        }
    }
    Ok(Expr::Function(Function {
        name: ObjectName::from(vec![name]),
        uses_odbc_syntax: false,
        parameters: FunctionArguments::None,
        args: FunctionArguments::List(FunctionArgumentList {
            duplicate_treatment: None,
            args,
            clauses: Vec::new(),
        }),
        filter: None,
        null_treatment: None,
        over: None,
        within_group: Vec::new(),
    }))
}

/// One argument: `*`, `expr`, `name := expr` (`Named`) or `expr := expr` (`ExprNamed`, and
/// always for MAP keys).
fn parse_function_arg(parser: &mut Parser, keys_are_exprs: bool) -> Result<FunctionArg, ParserError> {
    let next = parser.peek_nth_token_ref(1).token.clone();
    match &parser.peek_token_ref().token {
        Token::Mul if matches!(next, Token::Comma | Token::RParen) => {
            parser.next_token();
            Ok(FunctionArg::Unnamed(FunctionArgExpr::Wildcard))
        }
        Token::Word(_) if next == Token::Assignment && !keys_are_exprs => {
            let name = expect_word(parser, "an argument name")?;
            parser.expect_token(&Token::Assignment)?;
            let arg = parser.parse_expr()?;
            Ok(FunctionArg::Named {
                name,
                arg: FunctionArgExpr::Expr(arg),
                operator: FunctionArgOperator::Assignment,
            })
        }
        _ => {
            let expr = parser.parse_expr()?;
            if parser.consume_token(&Token::Assignment) {
                let arg = parser.parse_expr()?;
                return Ok(FunctionArg::ExprNamed {
                    name: expr,
                    arg: FunctionArgExpr::Expr(arg),
                    operator: FunctionArgOperator::Assignment,
                });
            }
            Ok(FunctionArg::Unnamed(FunctionArgExpr::Expr(expr)))
        }
    }
}

/// `CAST(expr AS type)` with a ksql type.
fn parse_cast(parser: &mut Parser) -> Result<Expr, ParserError> {
    parser.next_token();
    parser.expect_token(&Token::LParen)?;
    let expr = parser.parse_expr()?;
    parser.expect_keyword(Keyword::AS)?;
    let sql_type = parse_sql_type(parser)?;
    parser.expect_token(&Token::RParen)?;
    Ok(Expr::Cast {
        kind: CastKind::Cast,
        expr: Box::new(expr),
        data_type: sql_type_to_data_type(&sql_type),
        array: false,
        format: None,
    })
}

/// `ARRAY[a, b, ...]`.
fn parse_array(parser: &mut Parser) -> Result<Expr, ParserError> {
    parser.next_token();
    parser.expect_token(&Token::LBracket)?;
    let mut elem = Vec::new();
    if !parser.consume_token(&Token::RBracket) {
        loop {
            elem.push(parser.parse_expr()?);
            if parser.consume_token(&Token::Comma) {
                continue;
            }
            parser.expect_token(&Token::RBracket)?;
            break;
        }
    }
    Ok(Expr::Array(Array { elem, named: true }))
}

/// `x => body`.
fn parse_single_lambda(parser: &mut Parser) -> Result<Expr, ParserError> {
    let name = expect_word(parser, "a lambda parameter")?;
    parser.expect_token(&Token::RArrow)?;
    let body = parser.parse_expr()?;
    Ok(lambda(OneOrManyWithParens::One(param(name)), body))
}

/// Looks ahead for `( word [, word]* ) =>`.
fn starts_parenthesized_lambda(parser: &Parser) -> bool {
    let mut n = 1;
    loop {
        if !matches!(parser.peek_nth_token_ref(n).token, Token::Word(_)) {
            return false;
        }
        match parser.peek_nth_token_ref(n + 1).token {
            Token::Comma => n += 2,
            Token::RParen => return parser.peek_nth_token_ref(n + 2).token == Token::RArrow,
            _ => return false,
        }
    }
}

/// `(x, y) => body`.
fn parse_parenthesized_lambda(parser: &mut Parser) -> Result<Expr, ParserError> {
    parser.expect_token(&Token::LParen)?;
    let mut params = Vec::new();
    loop {
        params.push(param(expect_word(parser, "a lambda parameter")?));
        if parser.consume_token(&Token::Comma) {
            continue;
        }
        parser.expect_token(&Token::RParen)?;
        break;
    }
    parser.expect_token(&Token::RArrow)?;
    let body = parser.parse_expr()?;
    Ok(lambda(OneOrManyWithParens::Many(params), body))
}

fn param(name: Ident) -> LambdaFunctionParameter {
    LambdaFunctionParameter { name, data_type: None }
}

fn lambda(params: OneOrManyWithParens<LambdaFunctionParameter>, body: Expr) -> Expr {
    Expr::Lambda(LambdaFunction { params, body: Box::new(body), syntax: LambdaSyntax::Arrow })
}

/// `left -> field`.
fn parse_field_access(parser: &mut Parser, left: &Expr) -> Result<Expr, ParserError> {
    parser.expect_token(&Token::Arrow)?;
    let field = expect_word(parser, "a struct field name")?;
    Ok(Expr::BinaryOp {
        left: Box::new(left.clone()),
        op: BinaryOperator::Arrow,
        right: Box::new(Expr::Identifier(field)),
    })
}

/// `left[index]`; consecutive subscripts share one `CompoundFieldAccess`.
fn parse_subscript(parser: &mut Parser, left: &Expr) -> Result<Expr, ParserError> {
    parser.expect_token(&Token::LBracket)?;
    let index = parser.parse_expr()?;
    parser.expect_token(&Token::RBracket)?;
    let access = AccessExpr::Subscript(Subscript::Index { index });
    Ok(match left {
        Expr::CompoundFieldAccess { root, access_chain } => {
            let mut access_chain = access_chain.clone();
            access_chain.push(access);
            Expr::CompoundFieldAccess { root: root.clone(), access_chain }
        }
        _ => Expr::CompoundFieldAccess { root: Box::new(left.clone()), access_chain: vec![access] },
    })
}
