//! `SELECT` in ksql form: select items, FROM/JOIN (with WITHIN / GRACE PERIOD), WINDOW,
//! WHERE, GROUP BY, PARTITION BY, HAVING, EMIT and LIMIT, plus time durations (`10 SECONDS`).

use sqlparser::ast::{
    Expr, Ident, ObjectName, SelectItem, SelectItemQualifiedWildcardKind,
    WildcardAdditionalOptions,
};
use sqlparser::tokenizer::{Token, Word};

use crate::ast::{
    Duration, EmitKind, Join, JoinKind, OrderByItem, Query, SourceRef, TimeUnit, WindowSpec, WithinClause,
};
use crate::cursor::{Cursor, Result};

/// Words that end a FROM/JOIN source and so cannot be a bare (AS-less) alias.
const CLAUSE_WORDS: &[&str] = &[
    "JOIN", "INNER", "LEFT", "RIGHT", "FULL", "OUTER", "ON", "WITHIN", "GRACE", "WINDOW", "WHERE",
    "GROUP", "PARTITION", "HAVING", "ORDER", "EMIT", "LIMIT", "FROM",
];

impl Cursor<'_> {
    /// Parses a query; the cursor is on `SELECT`.
    pub fn query(&mut self) -> Result<Query> {
        self.expect_keyword("SELECT")?;
        let projection = self.select_items()?;
        self.expect_keyword("FROM")?;
        let from = self.source_ref()?;
        let mut joins = Vec::new();
        while let Some(kind) = self.join_kind()? {
            joins.push(self.join(kind)?);
        }
        let window = if self.keyword("WINDOW") { Some(self.window()?) } else { None };
        let selection = if self.keyword("WHERE") { Some(self.expr()?) } else { None };
        let group_by = if self.keywords(&["GROUP", "BY"]) { self.key_exprs()? } else { Vec::new() };
        let partition_by =
            if self.keywords(&["PARTITION", "BY"]) { self.key_exprs()? } else { Vec::new() };
        let having = if self.keyword("HAVING") { Some(self.expr()?) } else { None };
        let order_by = if self.keywords(&["ORDER", "BY"]) { self.order_by()? } else { Vec::new() };
        let emit = if self.keyword("EMIT") {
            if self.keyword("CHANGES") {
                Some(EmitKind::Changes)
            } else if self.keyword("FINAL") {
                Some(EmitKind::Final)
            } else {
                return Err(self.expected("CHANGES or FINAL"));
            }
        } else {
            None
        };
        let (limit, invalid_limit) = if self.keyword("LIMIT") { self.limit()? } else { (None, None) };
        Ok(Query {
            projection,
            from,
            joins,
            window,
            selection,
            group_by,
            partition_by,
            having,
            order_by,
            emit,
            limit,
            invalid_limit,
        })
    }

    /// `expr [ASC|DESC] [NULLS FIRST|LAST], ...`
    fn order_by(&mut self) -> Result<Vec<OrderByItem>> {
        let mut items = Vec::new();
        loop {
            let expr = self.expr()?;
            let ascending = if self.keyword("DESC") {
                false
            } else {
                self.keyword("ASC");
                true
            };
            let nulls_first = if self.keywords(&["NULLS", "FIRST"]) {
                Some(true)
            } else if self.keywords(&["NULLS", "LAST"]) {
                Some(false)
            } else {
                None
            };
            items.push(OrderByItem { expr, ascending, nulls_first });
            if !self.consume(&Token::Comma) {
                return Ok(items);
            }
        }
    }

    /// `LIMIT n`; a negative or fractional literal is kept as text for the planner to reject.
    fn limit(&mut self) -> Result<(Option<u64>, Option<String>)> {
        if let Token::Number(n, false) = &self.peek().token {
            let text = n.clone();
            self.parser.next_token();
            return Ok(match text.parse::<u64>() {
                Ok(value) => (Some(value), None),
                Err(_) => (None, Some(text)),
            });
        }
        if self.peek().token == Token::Minus {
            if let Token::Number(n, false) = &self.peek_nth(1).token {
                let text = format!("-{n}");
                self.parser.next_token();
                self.parser.next_token();
                return Ok((None, Some(text)));
            }
        }
        Err(self.expected("a row count"))
    }

    fn select_items(&mut self) -> Result<Vec<SelectItem>> {
        let mut items = vec![self.select_item()?];
        while self.consume(&Token::Comma) {
            items.push(self.select_item()?);
        }
        Ok(items)
    }

    fn select_item(&mut self) -> Result<SelectItem> {
        if self.consume(&Token::Mul) {
            return Ok(SelectItem::Wildcard(WildcardAdditionalOptions::default()));
        }
        if let (Token::Word(w), Token::Period, Token::Mul) =
            (&self.peek().token, &self.peek_nth(1).token, &self.peek_nth(2).token)
        {
            let source = ObjectName::from(vec![ident_of(w)]);
            for _ in 0..3 {
                self.parser.next_token();
            }
            return Ok(SelectItem::QualifiedWildcard(
                SelectItemQualifiedWildcardKind::ObjectName(source),
                WildcardAdditionalOptions::default(),
            ));
        }
        let expr = self.expr()?;
        if self.peek().token == Token::Arrow && self.peek_nth(1).token == Token::Mul {
            self.parser.next_token();
            self.parser.next_token();
            return Ok(SelectItem::QualifiedWildcard(
                SelectItemQualifiedWildcardKind::Expr(expr),
                WildcardAdditionalOptions::default(),
            ));
        }
        let explicit_as = self.keyword("AS");
        match &self.peek().token {
            Token::Word(w) if explicit_as || !is_clause_word(w) => {
                let alias = ident_of(w);
                self.parser.next_token();
                Ok(SelectItem::ExprWithAlias { expr, alias })
            }
            _ if explicit_as => Err(self.expected("an alias")),
            _ => Ok(SelectItem::UnnamedExpr(expr)),
        }
    }

    /// `name [[AS] alias]`.
    fn source_ref(&mut self) -> Result<SourceRef> {
        let name = self.name("a source name")?;
        let alias = if self.keyword("AS") {
            Some(self.name("an alias")?)
        } else {
            match &self.peek().token {
                Token::Word(w) if !is_clause_word(w) => Some(self.name("an alias")?),
                _ => None,
            }
        };
        Ok(SourceRef { name, alias })
    }

    fn join_kind(&mut self) -> Result<Option<JoinKind>> {
        let kind = if self.keyword("JOIN") {
            return Ok(Some(JoinKind::Inner));
        } else if self.keyword("INNER") {
            JoinKind::Inner
        } else if self.keyword("LEFT") {
            self.keyword("OUTER");
            JoinKind::Left
        } else if self.keyword("RIGHT") {
            self.keyword("OUTER");
            JoinKind::Right
        } else if self.keyword("FULL") {
            self.keyword("OUTER");
            JoinKind::Full
        } else {
            return Ok(None);
        };
        self.expect_keyword("JOIN")?;
        Ok(Some(kind))
    }

    fn join(&mut self, kind: JoinKind) -> Result<Join> {
        let right = self.source_ref()?;
        let within = if self.keyword("WITHIN") {
            let (before, after, asymmetric) = if self.consume(&Token::LParen) {
                let before = self.duration()?;
                self.expect(&Token::Comma)?;
                let after = self.duration()?;
                self.expect(&Token::RParen)?;
                (before, after, true)
            } else {
                let size = self.duration()?;
                (size, size, false)
            };
            let grace = self.grace_period()?;
            Some(WithinClause { before, after, asymmetric, grace })
        } else {
            None
        };
        self.expect_keyword("ON")?;
        let on = self.expr()?;
        Ok(Join { kind, right, within, on })
    }

    fn grace_period(&mut self) -> Result<Option<Duration>> {
        if self.keywords(&["GRACE", "PERIOD"]) {
            Ok(Some(self.duration()?))
        } else {
            Ok(None)
        }
    }

    fn window_kind(&mut self) -> Result<WindowKind> {
        let kind = if self.keyword("TUMBLING") {
            WindowKind::Tumbling
        } else if self.keyword("HOPPING") {
            WindowKind::Hopping
        } else if self.keyword("SESSION") {
            WindowKind::Session
        } else {
            return Err(self.expected("TUMBLING, HOPPING or SESSION"));
        };
        Ok(kind)
    }

    /// `TUMBLING (...)`, `HOPPING (...)` or `SESSION (...)`; the cursor is after `WINDOW`.
    /// ksql allows (and ignores) a window name before the kind: `WINDOW w TUMBLING (...)`.
    fn window(&mut self) -> Result<WindowSpec> {
        let named = matches!(self.peek().token, Token::Word(_))
            && ["TUMBLING", "HOPPING", "SESSION"].iter().any(|k| self.peek_keyword_at(1, k));
        if named {
            self.parser.next_token();
        }
        let kind = self.window_kind()?;
        self.expect(&Token::LParen)?;
        let (size, advance) = match kind {
            WindowKind::Tumbling | WindowKind::Hopping => {
                self.expect_keyword("SIZE")?;
                let size = self.duration()?;
                let advance = if matches!(kind, WindowKind::Hopping) {
                    self.expect(&Token::Comma)?;
                    self.expect_keyword("ADVANCE")?;
                    self.expect_keyword("BY")?;
                    Some(self.duration()?)
                } else {
                    None
                };
                (size, advance)
            }
            WindowKind::Session => (self.duration()?, None),
        };
        let (mut retention, mut grace) = (None, None);
        while self.consume(&Token::Comma) {
            if retention.is_none() && self.keyword("RETENTION") {
                retention = Some(self.duration()?);
            } else if grace.is_none() && self.keywords(&["GRACE", "PERIOD"]) {
                grace = Some(self.duration()?);
            } else {
                return Err(self.expected("RETENTION or GRACE PERIOD"));
            }
        }
        self.expect(&Token::RParen)?;
        Ok(match (kind, advance) {
            (WindowKind::Hopping, Some(advance)) => WindowSpec::Hopping { size, advance, retention, grace },
            (WindowKind::Session, _) => WindowSpec::Session { gap: size, retention, grace },
            _ => WindowSpec::Tumbling { size, retention, grace },
        })
    }

    /// GROUP BY / PARTITION BY expressions; `(a, b)` is the same as `a, b`. An empty `()` is
    /// kept as one empty `Expr::Tuple` so the planner can reject it with ksql's message.
    fn key_exprs(&mut self) -> Result<Vec<Expr>> {
        if self.peek().token == Token::LParen && self.peek_nth(1).token == Token::RParen {
            self.parser.next_token();
            self.parser.next_token();
            return Ok(vec![Expr::Tuple(Vec::new())]);
        }
        let exprs = self.comma_separated_exprs()?;
        Ok(match <[Expr; 1]>::try_from(exprs) {
            Ok([Expr::Tuple(items)]) if !items.is_empty() => items,
            Ok([single]) => vec![single],
            Err(exprs) => exprs,
        })
    }

    /// `n UNIT`, e.g. `10 SECONDS`.
    pub fn duration(&mut self) -> Result<Duration> {
        let value = self.unsigned("a duration")?;
        let unit = match &self.peek().token {
            Token::Word(w) if w.quote_style.is_none() => time_unit(&w.value),
            _ => None,
        };
        match unit {
            Some(unit) => {
                self.parser.next_token();
                Ok(Duration { value, unit })
            }
            None => Err(self.expected("a time unit (MILLISECONDS, SECONDS, MINUTES, HOURS, DAYS)")),
        }
    }
}

enum WindowKind {
    Tumbling,
    Hopping,
    Session,
}

fn time_unit(word: &str) -> Option<TimeUnit> {
    let upper = word.to_ascii_uppercase();
    let singular = upper.strip_suffix('S').unwrap_or(&upper);
    Some(match singular {
        "MILLISECOND" => TimeUnit::Milliseconds,
        "SECOND" => TimeUnit::Seconds,
        "MINUTE" => TimeUnit::Minutes,
        "HOUR" => TimeUnit::Hours,
        "DAY" => TimeUnit::Days,
        _ => return None,
    })
}

fn is_clause_word(word: &Word) -> bool {
    word.quote_style.is_none() && CLAUSE_WORDS.iter().any(|c| word.value.eq_ignore_ascii_case(c))
}

fn ident_of(word: &Word) -> Ident {
    Ident { value: word.value.clone(), quote_style: word.quote_style, span: sqlparser::tokenizer::Span::empty() }
}
