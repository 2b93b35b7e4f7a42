//! `Display` for the AST, written so that `parse_statement(&stmt.to_string()) == stmt`.
//!
//! Names are back-ticked when writing them bare would not read back identically; expressions
//! use sqlparser's `Display` except for lambdas, which sqlparser writes with `->` (ksql's struct
//! access), so [`render_expr`] writes them as `x => body`.

use std::fmt::{self, Display, Formatter, Write};
use std::ops::ControlFlow;

use sqlparser::ast::{
    visit_expressions_mut, Expr, Ident, OneOrManyWithParens, SelectItem,
    SelectItemQualifiedWildcardKind, UnaryOperator, Value, ValueWithSpan,
};

use crate::ast::*;
use crate::names::{quote_name, quote_string, quote_word};

/// Writes an expression in ksql syntax.
///
/// sqlparser's `Display` is used for the bulk, with repairs done through placeholders:
/// lambdas (sqlparser writes `x -> e`, ksql's struct access), string literals / quoted
/// identifiers containing their quote character (sqlparser collapses doubled quotes on output)
/// and `- -x` (sqlparser writes `--x`, a comment).
pub fn render_expr(expr: &Expr) -> String {
    let mut expr = expr.clone();
    let mut replacements: Vec<String> = Vec::new();
    let placeholder_for = |text: String, replacements: &mut Vec<String>| {
        let placeholder = placeholder(replacements.len());
        replacements.push(text);
        Expr::Identifier(Ident::new(placeholder))
    };
    // Post-order: inner nodes are replaced before their enclosing lambda is rendered.
    let _ = visit_expressions_mut(&mut expr, |e| {
        let text = match e {
            Expr::Lambda(lambda) => {
                let params = match &lambda.params {
                    OneOrManyWithParens::One(p) => render_ident(&p.name),
                    OneOrManyWithParens::Many(ps) => {
                        format!("({})", join(ps, |p| render_ident(&p.name)))
                    }
                };
                Some(format!("{params} => {}", lambda.body))
            }
            Expr::Value(ValueWithSpan { value: Value::SingleQuotedString(s), .. }) if s.contains('\'') => {
                Some(quote_string(s))
            }
            Expr::Identifier(ident) if needs_own_quoting(ident) => Some(render_ident(ident)),
            // sqlparser writes `- -1` as `--1`, which reads back as a comment.
            Expr::UnaryOp { op: UnaryOperator::Minus, expr: operand }
                if matches!(**operand, Expr::UnaryOp { .. })
                    || matches!(&**operand, Expr::Identifier(i) if i.value.starts_with('\u{0}')) =>
            {
                Some(format!("- {operand}"))
            }
            Expr::CompoundIdentifier(parts) if parts.iter().any(needs_own_quoting) => {
                Some(parts.iter().map(render_ident).collect::<Vec<_>>().join("."))
            }
            _ => None,
        };
        if let Some(text) = text {
            *e = placeholder_for(text, &mut replacements);
        }
        ControlFlow::<()>::Continue(())
    });
    let mut out = expr.to_string();
    // Later replacements enclose earlier ones, so expand from the last to the first.
    for (i, text) in replacements.iter().enumerate().rev() {
        out = out.replacen(&placeholder(i), text, 1);
    }
    out
}

fn placeholder(i: usize) -> String {
    format!("\u{0}R{i}\u{0}")
}

/// A quoted identifier whose value contains its own quote character.
fn needs_own_quoting(ident: &Ident) -> bool {
    ident.quote_style.is_some_and(|q| ident.value.contains(q))
}

/// Writes an identifier as written: bare, or in its quotes with the quote character doubled.
pub(crate) fn render_ident(ident: &Ident) -> String {
    match ident.quote_style {
        Some(q) => {
            let doubled: String = [q, q].iter().collect();
            format!("{q}{}{q}", ident.value.replace(q, &doubled))
        }
        None => ident.value.clone(),
    }
}

fn join<T>(items: &[T], f: impl Fn(&T) -> String) -> String {
    items.iter().map(f).collect::<Vec<_>>().join(", ")
}

/// Writes one select item (`*`, `src.*`, `expr->*`, `expr [AS alias]`).
pub fn render_select_item(item: &SelectItem) -> String {
    match item {
        SelectItem::Wildcard(_) => "*".to_string(),
        SelectItem::QualifiedWildcard(SelectItemQualifiedWildcardKind::ObjectName(name), _) => {
            format!("{name}.*")
        }
        SelectItem::QualifiedWildcard(SelectItemQualifiedWildcardKind::Expr(expr), _) => {
            format!("{}->*", render_expr(expr))
        }
        SelectItem::UnnamedExpr(expr) => render_expr(expr),
        SelectItem::ExprWithAlias { expr, alias } => {
            format!("{} AS {}", render_expr(expr), render_ident(alias))
        }
        // Not produced by our parser; sqlparser's own spelling is the best we can do.
        other => other.to_string(),
    }
}

impl Display for SqlType {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            SqlType::Boolean => f.write_str("BOOLEAN"),
            SqlType::Int => f.write_str("INT"),
            SqlType::Bigint => f.write_str("BIGINT"),
            SqlType::Double => f.write_str("DOUBLE"),
            SqlType::Decimal { precision, scale } => write!(f, "DECIMAL({precision}, {scale})"),
            SqlType::String => f.write_str("STRING"),
            SqlType::Bytes => f.write_str("BYTES"),
            SqlType::Timestamp => f.write_str("TIMESTAMP"),
            SqlType::Date => f.write_str("DATE"),
            SqlType::Time => f.write_str("TIME"),
            SqlType::Array(element) => write!(f, "ARRAY<{element}>"),
            SqlType::Map(key, value) => write!(f, "MAP<{key}, {value}>"),
            SqlType::Struct(fields) => {
                write!(f, "STRUCT<{}>", join(fields, |field| field.to_string()))
            }
            SqlType::Custom(name) => f.write_str(&quote_name(name)),
        }
    }
}

impl Display for StructField {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", quote_name(&self.name), self.data_type)
    }
}

impl Display for ColumnConstraint {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            ColumnConstraint::None => Ok(()),
            ColumnConstraint::Key => f.write_str(" KEY"),
            ColumnConstraint::PrimaryKey => f.write_str(" PRIMARY KEY"),
            ColumnConstraint::Headers => f.write_str(" HEADERS"),
            ColumnConstraint::Header(key) => write!(f, " HEADER({})", quote_string(key)),
        }
    }
}

impl Display for ColumnDef {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}{}", quote_name(&self.name), self.data_type, self.constraint)
    }
}

impl Display for PropertyValue {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            PropertyValue::String(s) => f.write_str(&quote_string(s)),
            PropertyValue::Number(n) => f.write_str(n),
            PropertyValue::Boolean(true) => f.write_str("TRUE"),
            PropertyValue::Boolean(false) => f.write_str("FALSE"),
        }
    }
}

impl Display for WithProperties {
    /// Writes `(NAME=value, ...)` (without the `WITH`).
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        let items = join(&self.0, |(name, value)| {
            let name = if crate::names::is_bare_name(name) { name.clone() } else { quote_string(name) };
            format!("{name}={value}")
        });
        write!(f, "({items})")
    }
}

/// ` WITH (...)` when there are properties.
struct WithClause<'a>(&'a WithProperties);

impl Display for WithClause<'_> {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        if self.0 .0.is_empty() {
            Ok(())
        } else {
            write!(f, " WITH {}", self.0)
        }
    }
}

impl Display for TimeUnit {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TimeUnit::Milliseconds => "MILLISECONDS",
            TimeUnit::Seconds => "SECONDS",
            TimeUnit::Minutes => "MINUTES",
            TimeUnit::Hours => "HOURS",
            TimeUnit::Days => "DAYS",
        })
    }
}

impl Display for Duration {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.value, self.unit)
    }
}

fn optional_clauses(retention: &Option<Duration>, grace: &Option<Duration>) -> String {
    let mut out = String::new();
    if let Some(r) = retention {
        let _ = write!(out, ", RETENTION {r}");
    }
    if let Some(g) = grace {
        let _ = write!(out, ", GRACE PERIOD {g}");
    }
    out
}

impl Display for WindowSpec {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            WindowSpec::Tumbling { size, retention, grace } => {
                write!(f, "TUMBLING (SIZE {size}{})", optional_clauses(retention, grace))
            }
            WindowSpec::Hopping { size, advance, retention, grace } => write!(
                f,
                "HOPPING (SIZE {size}, ADVANCE BY {advance}{})",
                optional_clauses(retention, grace)
            ),
            WindowSpec::Session { gap, retention, grace } => {
                write!(f, "SESSION ({gap}{})", optional_clauses(retention, grace))
            }
        }
    }
}

impl Display for JoinKind {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            JoinKind::Inner => "INNER JOIN",
            JoinKind::Left => "LEFT JOIN",
            JoinKind::Right => "RIGHT JOIN",
            JoinKind::Full => "FULL OUTER JOIN",
        })
    }
}

impl Display for WithinClause {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        if self.asymmetric {
            write!(f, "WITHIN ({}, {})", self.before, self.after)?;
        } else {
            write!(f, "WITHIN {}", self.before)?;
        }
        if let Some(grace) = &self.grace {
            write!(f, " GRACE PERIOD {grace}")?;
        }
        Ok(())
    }
}

impl Display for SourceRef {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        f.write_str(&quote_name(&self.name))?;
        if let Some(alias) = &self.alias {
            write!(f, " AS {}", quote_name(alias))?;
        }
        Ok(())
    }
}

impl Display for Join {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.kind, self.right)?;
        if let Some(within) = &self.within {
            write!(f, " {within}")?;
        }
        write!(f, " ON {}", render_expr(&self.on))
    }
}

impl Display for EmitKind {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            EmitKind::Changes => "CHANGES",
            EmitKind::Final => "FINAL",
        })
    }
}

impl Display for Query {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        write!(f, "SELECT {} FROM {}", join(&self.projection, render_select_item), self.from)?;
        for j in &self.joins {
            write!(f, " {j}")?;
        }
        if let Some(window) = &self.window {
            write!(f, " WINDOW {window}")?;
        }
        if let Some(selection) = &self.selection {
            write!(f, " WHERE {}", render_expr(selection))?;
        }
        if !self.group_by.is_empty() {
            write!(f, " GROUP BY {}", join(&self.group_by, render_expr))?;
        }
        if !self.partition_by.is_empty() {
            write!(f, " PARTITION BY {}", join(&self.partition_by, render_expr))?;
        }
        if let Some(having) = &self.having {
            write!(f, " HAVING {}", render_expr(having))?;
        }
        if !self.order_by.is_empty() {
            let items = self.order_by.iter().map(|o| {
                let mut text = render_expr(&o.expr);
                if !o.ascending {
                    text.push_str(" DESC");
                }
                match o.nulls_first {
                    Some(true) => text.push_str(" NULLS FIRST"),
                    Some(false) => text.push_str(" NULLS LAST"),
                    None => {}
                }
                text
            });
            write!(f, " ORDER BY {}", items.collect::<Vec<_>>().join(", "))?;
        }
        if let Some(emit) = &self.emit {
            write!(f, " EMIT {emit}")?;
        }
        if let Some(limit) = &self.limit {
            write!(f, " LIMIT {limit}")?;
        } else if let Some(text) = &self.invalid_limit {
            write!(f, " LIMIT {text}")?;
        }
        Ok(())
    }
}

impl Display for SourceKind {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SourceKind::Stream => "STREAM",
            SourceKind::Table => "TABLE",
        })
    }
}

impl Display for ConnectorKind {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ConnectorKind::Source => "SOURCE",
            ConnectorKind::Sink => "SINK",
        })
    }
}

fn flag(on: bool, text: &str) -> &str {
    if on {
        text
    } else {
        ""
    }
}

impl Display for ShowTarget {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            ShowTarget::Streams { extended } => write!(f, "STREAMS{}", flag(*extended, " EXTENDED")),
            ShowTarget::Tables { extended } => write!(f, "TABLES{}", flag(*extended, " EXTENDED")),
            ShowTarget::Topics { all, extended } => {
                write!(f, "{}TOPICS{}", flag(*all, "ALL "), flag(*extended, " EXTENDED"))
            }
            ShowTarget::Queries { extended } => write!(f, "QUERIES{}", flag(*extended, " EXTENDED")),
            ShowTarget::Properties => f.write_str("PROPERTIES"),
            ShowTarget::Functions => f.write_str("FUNCTIONS"),
            ShowTarget::Types => f.write_str("TYPES"),
            ShowTarget::Variables => f.write_str("VARIABLES"),
            ShowTarget::Connectors { kind: Some(kind) } => write!(f, "{kind} CONNECTORS"),
            ShowTarget::Connectors { kind: None } => f.write_str("CONNECTORS"),
            ShowTarget::ConnectorPlugins => f.write_str("CONNECTOR PLUGINS"),
        }
    }
}

impl Display for DescribeTarget {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            DescribeTarget::Source { name, extended } => {
                write!(f, "{}{}", quote_name(name), flag(*extended, " EXTENDED"))
            }
            DescribeTarget::Streams { extended } => write!(f, "STREAMS{}", flag(*extended, " EXTENDED")),
            DescribeTarget::Tables { extended } => write!(f, "TABLES{}", flag(*extended, " EXTENDED")),
            DescribeTarget::Function { name } => write!(f, "FUNCTION {}", quote_name(name)),
            DescribeTarget::Connector { name } => write!(f, "CONNECTOR {}", quote_name(name)),
        }
    }
}

impl Display for ExplainTarget {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            ExplainTarget::Statement(statement) => write!(f, "{statement}"),
            ExplainTarget::QueryId(id) => f.write_str(&quote_name(id)),
        }
    }
}

impl Display for QueryTarget {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            QueryTarget::All => f.write_str("ALL"),
            QueryTarget::Id(id) => f.write_str(&quote_name(id)),
        }
    }
}

fn if_not_exists(on: bool) -> &'static str {
    if on {
        " IF NOT EXISTS"
    } else {
        ""
    }
}

fn if_exists(on: bool) -> &'static str {
    if on {
        " IF EXISTS"
    } else {
        ""
    }
}

fn backticked(word: &str) -> String {
    format!("`{}`", word.replace('`', "``"))
}

impl Display for Statement {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            Statement::CreateSource {
                or_replace,
                is_source,
                kind,
                if_not_exists: ine,
                name,
                columns,
                properties,
            } => {
                write!(
                    f,
                    "CREATE {}{}{kind}{} {}",
                    flag(*or_replace, "OR REPLACE "),
                    flag(*is_source, "SOURCE "),
                    if_not_exists(*ine),
                    quote_name(name)
                )?;
                if !columns.is_empty() {
                    write!(f, " ({})", join(columns, |c| c.to_string()))?;
                }
                write!(f, "{}", WithClause(properties))
            }
            Statement::CreateAsSelect { or_replace, kind, if_not_exists: ine, name, properties, query } => {
                write!(
                    f,
                    "CREATE {}{kind}{} {}{} AS {query}",
                    flag(*or_replace, "OR REPLACE "),
                    if_not_exists(*ine),
                    quote_name(name),
                    WithClause(properties)
                )
            }
            Statement::InsertInto { target, properties, query } => {
                write!(f, "INSERT INTO {}{} {query}", quote_name(target), WithClause(properties))
            }
            Statement::InsertValues { target, columns, values } => {
                write!(f, "INSERT INTO {}", quote_name(target))?;
                if let Some(columns) = columns {
                    write!(f, " ({})", join(columns, |c| quote_name(c)))?;
                }
                write!(f, " VALUES ({})", join(values, render_expr))
            }
            Statement::Query(query) => write!(f, "{query}"),
            Statement::AlterSource { kind, name, add_columns } => write!(
                f,
                "ALTER {kind} {} {}",
                quote_name(name),
                join(add_columns, |c| format!("ADD COLUMN {c}"))
            ),
            Statement::Drop { kind, if_exists: ie, name, delete_topic } => write!(
                f,
                "DROP {kind}{} {}{}",
                if_exists(*ie),
                quote_name(name),
                flag(*delete_topic, " DELETE TOPIC")
            ),
            Statement::CreateType { if_not_exists: ine, name, data_type } => {
                write!(f, "CREATE TYPE{} {} AS {data_type}", if_not_exists(*ine), quote_name(name))
            }
            Statement::DropType { if_exists: ie, name } => {
                write!(f, "DROP TYPE{} {}", if_exists(*ie), quote_name(name))
            }
            Statement::Show(target) => write!(f, "SHOW {target}"),
            Statement::Describe(target) => write!(f, "DESCRIBE {target}"),
            Statement::Explain(target) => write!(f, "EXPLAIN {target}"),
            Statement::Terminate(target) => write!(f, "TERMINATE {target}"),
            Statement::Pause(target) => write!(f, "PAUSE {target}"),
            Statement::Resume(target) => write!(f, "RESUME {target}"),
            Statement::Print { topic, from_beginning, interval, limit } => {
                write!(f, "PRINT {}", quote_word(topic, quote_string))?;
                if *from_beginning {
                    f.write_str(" FROM BEGINNING")?;
                }
                if let Some(interval) = interval {
                    write!(f, " INTERVAL {interval}")?;
                }
                if let Some(limit) = limit {
                    write!(f, " LIMIT {limit}")?;
                }
                Ok(())
            }
            Statement::Set { property, value } => {
                write!(f, "SET {} = {}", quote_string(property), quote_string(value))
            }
            Statement::Unset { property } => write!(f, "UNSET {}", quote_string(property)),
            Statement::AlterSystem { property, value } => {
                write!(f, "ALTER SYSTEM {} = {}", quote_string(property), quote_string(value))
            }
            Statement::Define { name, value } => {
                write!(f, "DEFINE {} = {}", quote_word(name, backticked), quote_string(value))
            }
            Statement::Undefine { name } => write!(f, "UNDEFINE {}", quote_word(name, backticked)),
            Statement::RunScript { path } => write!(f, "RUN SCRIPT {}", quote_string(path)),
            Statement::CreateConnector { kind, if_not_exists: ine, name, properties } => write!(
                f,
                "CREATE {kind} CONNECTOR{} {}{}",
                if_not_exists(*ine),
                quote_name(name),
                WithClause(properties)
            ),
            Statement::DropConnector { if_exists: ie, name } => {
                write!(f, "DROP CONNECTOR{} {}", if_exists(*ie), quote_name(name))
            }
            Statement::AssertTopic { exists, name, properties, timeout } => {
                write!(
                    f,
                    "ASSERT {}TOPIC {}{}",
                    flag(!*exists, "NOT EXISTS "),
                    quote_word(name, quote_string),
                    WithClause(properties)
                )?;
                if let Some(timeout) = timeout {
                    write!(f, " TIMEOUT {timeout}")?;
                }
                Ok(())
            }
            Statement::AssertSchema { exists, subject, id, timeout } => {
                write!(f, "ASSERT {}SCHEMA", flag(!*exists, "NOT EXISTS "))?;
                if let Some(subject) = subject {
                    write!(f, " SUBJECT {}", quote_word(subject, quote_string))?;
                }
                if let Some(id) = id {
                    write!(f, " ID {id}")?;
                }
                if let Some(timeout) = timeout {
                    write!(f, " TIMEOUT {timeout}")?;
                }
                Ok(())
            }
        }
    }
}

impl Display for ParsedStatement {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.statement)
    }
}
