//! The typed AST of the ksqlDB dialect.
//!
//! Expressions are sqlparser's [`Expr`] (produced by our [`crate::KsqlDialect`]): ksql-only
//! expression forms map onto it as follows
//! - struct field access `a->b->c`       -> `Expr::BinaryOp { op: BinaryOperator::Arrow, .. }`
//!   (left-associative; the right side is an `Expr::Identifier`)
//! - lambdas `x => e`, `(x, y) => e`     -> `Expr::Lambda(LambdaFunction { syntax: Arrow, .. })`
//! - `ARRAY[a, b]`                       -> `Expr::Array`
//! - `MAP(k := v, ...)`, `STRUCT(f := v)`-> `Expr::Function` with named args (`:=`):
//!   `STRUCT(f := v)` uses `FunctionArg::Named { name: f, .. }`; MAP keys are expressions, so
//!   every MAP entry is `FunctionArg::ExprNamed { name: key_expr, .. }` (`MAP(k1 := v)` reads
//!   column `k1`); any other `expr := v` argument is `ExprNamed` too
//! - `[i]` subscripts                    -> `Expr::CompoundFieldAccess` with `AccessExpr::Subscript`
//!   (consecutive subscripts share one node: `a[1][2]` has a two-element `access_chain`)
//! - every `NAME(args)` is a plain `Expr::Function` (no SQL special forms: `SUBSTRING(s, 1, 2)`,
//!   `TRIM(s)`, `TIMESTAMPADD(SECONDS, 5, ts)` are ordinary calls; `SECONDS` is an identifier)
//! - `CAST(x AS t)`                      -> `Expr::Cast` whose `DataType` comes from
//!   [`crate::sql_type_to_data_type`]; map it back with [`crate::sql_type_from_data_type`]
//! - identifiers keep their spelling and quote style (`Ident.quote_style` is `Some('`')` or
//!   `Some('"')` when quoted); resolving them (upper-casing unquoted ones) is the planner's job
//!
//! Select items:
//! - `*`          -> `SelectItem::Wildcard`
//! - `src.*`      -> `SelectItem::QualifiedWildcard(SelectItemQualifiedWildcardKind::ObjectName(src), _)`
//! - `expr->*`    -> `SelectItem::QualifiedWildcard(SelectItemQualifiedWildcardKind::Expr(expr), _)`
//!   (all fields of the struct `expr`)
//! - `expr [AS] alias` -> `SelectItem::ExprWithAlias`, otherwise `SelectItem::UnnamedExpr`
//!
//! `GROUP BY (a, b)` is stored like `GROUP BY a, b`; an empty `GROUP BY ()` / `PARTITION BY ()`
//! is stored as a single empty `Expr::Tuple` so the planner can report ksql's error for it.
//!
//! Names held as `String` (sources, columns, aliases, types, query ids, connectors) are
//! resolved: upper-cased unless quoted. Topic names (`PRINT`, `ASSERT TOPIC`), schema subjects
//! and variable names are kept exactly as written.
//! Every statement implements `Display`, and `parse(display(stmt)) == stmt`.

use std::fmt;

pub use sqlparser::ast::{Expr, Ident, SelectItem};

/// A position in the source text (1-based line and column).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Location {
    pub line: u64,
    pub column: u64,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.line, self.column)
    }
}

/// One parsed statement together with the exact SQL text it came from.
#[derive(Debug, Clone, PartialEq)]
pub struct ParsedStatement {
    pub statement: Statement,
    /// The statement's own text, without the terminating `;` (kept for the command log).
    pub text: String,
    pub start: Location,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SourceKind {
    Stream,
    Table,
}

/// ksql data types as written in SQL.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum SqlType {
    Boolean,
    Int,
    Bigint,
    Double,
    Decimal { precision: u8, scale: u8 },
    String,
    Bytes,
    Timestamp,
    Date,
    Time,
    Array(Box<SqlType>),
    Map(Box<SqlType>, Box<SqlType>),
    Struct(Vec<StructField>),
    /// A name defined with `CREATE TYPE` (upper-cased unless quoted).
    Custom(String),
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct StructField {
    pub name: String,
    pub data_type: SqlType,
}

/// How a declared column is bound to the record.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ColumnConstraint {
    None,
    /// `KEY` on a stream column.
    Key,
    /// `PRIMARY KEY` on a table column.
    PrimaryKey,
    /// `HEADERS`: all headers as `ARRAY<STRUCT<KEY STRING, VALUE BYTES>>`.
    Headers,
    /// `HEADER('k')`: the last header with this key, as BYTES.
    Header(String),
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ColumnDef {
    /// Resolved name: upper-cased unless it was quoted or back-ticked.
    pub name: String,
    pub data_type: SqlType,
    pub constraint: ColumnConstraint,
}

/// A literal in a `WITH (...)` list or `SET`/`DEFINE`.
#[derive(Debug, Clone, PartialEq)]
pub enum PropertyValue {
    String(String),
    Number(String),
    Boolean(bool),
}

/// `WITH (name=value, ...)`; names are upper-cased, order kept.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct WithProperties(pub Vec<(String, PropertyValue)>);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TimeUnit {
    Milliseconds,
    Seconds,
    Minutes,
    Hours,
    Days,
}

/// `n UNIT`, e.g. `10 SECONDS`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Duration {
    pub value: u64,
    pub unit: TimeUnit,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum WindowSpec {
    Tumbling { size: Duration, retention: Option<Duration>, grace: Option<Duration> },
    Hopping { size: Duration, advance: Duration, retention: Option<Duration>, grace: Option<Duration> },
    Session { gap: Duration, retention: Option<Duration>, grace: Option<Duration> },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum JoinKind {
    Inner,
    Left,
    Right,
    Full,
}

/// `WITHIN n unit` or `WITHIN (before, after)`, optional `GRACE PERIOD`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct WithinClause {
    pub before: Duration,
    pub after: Duration,
    /// true when written as `WITHIN (before, after)`.
    pub asymmetric: bool,
    pub grace: Option<Duration>,
}

/// A source in FROM / JOIN: name and optional alias (both resolved identifiers).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SourceRef {
    pub name: String,
    pub alias: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Join {
    pub kind: JoinKind,
    pub right: SourceRef,
    pub within: Option<WithinClause>,
    pub on: Expr,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EmitKind {
    Changes,
    Final,
}

/// `SELECT` in ksql form.
#[derive(Debug, Clone, PartialEq)]
pub struct Query {
    pub projection: Vec<SelectItem>,
    pub from: SourceRef,
    pub joins: Vec<Join>,
    pub window: Option<WindowSpec>,
    pub selection: Option<Expr>,
    pub group_by: Vec<Expr>,
    pub partition_by: Vec<Expr>,
    pub having: Option<Expr>,
    /// `ORDER BY` (pull queries only; ksqlDB has no ORDER BY).
    pub order_by: Vec<OrderByItem>,
    pub emit: Option<EmitKind>,
    pub limit: Option<u64>,
    /// A `LIMIT` literal that is not a non-negative integer (`-1`, `2.5`), kept as written so
    /// the planner can reject it with ksql's message; `limit` is then `None`.
    pub invalid_limit: Option<String>,
}

/// One `ORDER BY` item: `expr [ASC|DESC] [NULLS FIRST|LAST]`.
#[derive(Debug, Clone, PartialEq)]
pub struct OrderByItem {
    pub expr: Expr,
    pub ascending: bool,
    /// `None`: the default (NULLs last ascending, first descending).
    pub nulls_first: Option<bool>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Statement {
    /// `CREATE [OR REPLACE] [SOURCE] STREAM|TABLE [IF NOT EXISTS] name (cols) WITH (...)`
    CreateSource {
        or_replace: bool,
        is_source: bool,
        kind: SourceKind,
        if_not_exists: bool,
        name: String,
        columns: Vec<ColumnDef>,
        properties: WithProperties,
    },
    /// CSAS / CTAS.
    CreateAsSelect {
        or_replace: bool,
        kind: SourceKind,
        if_not_exists: bool,
        name: String,
        properties: WithProperties,
        query: Box<Query>,
    },
    /// `INSERT INTO target [WITH (...)] SELECT ...`
    InsertInto { target: String, properties: WithProperties, query: Box<Query> },
    /// `INSERT INTO target [(cols)] VALUES (...)`
    InsertValues { target: String, columns: Option<Vec<String>>, values: Vec<Expr> },
    /// A bare SELECT (push query with EMIT, pull query without).
    Query(Box<Query>),
    /// `ALTER STREAM|TABLE name ADD [COLUMN] c type, ...`
    AlterSource { kind: SourceKind, name: String, add_columns: Vec<ColumnDef> },
    Drop { kind: SourceKind, if_exists: bool, name: String, delete_topic: bool },
    CreateType { if_not_exists: bool, name: String, data_type: SqlType },
    DropType { if_exists: bool, name: String },
    Show(ShowTarget),
    Describe(DescribeTarget),
    /// `EXPLAIN <statement>` or `EXPLAIN <query id>`.
    Explain(ExplainTarget),
    Terminate(QueryTarget),
    Pause(QueryTarget),
    Resume(QueryTarget),
    Print { topic: String, from_beginning: bool, interval: Option<u64>, limit: Option<u64> },
    Set { property: String, value: String },
    Unset { property: String },
    AlterSystem { property: String, value: String },
    Define { name: String, value: String },
    Undefine { name: String },
    RunScript { path: String },
    CreateConnector { kind: ConnectorKind, if_not_exists: bool, name: String, properties: WithProperties },
    DropConnector { if_exists: bool, name: String },
    AssertTopic { exists: bool, name: String, properties: WithProperties, timeout: Option<Duration> },
    AssertSchema { exists: bool, subject: Option<String>, id: Option<u64>, timeout: Option<Duration> },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ConnectorKind {
    Source,
    Sink,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ShowTarget {
    Streams { extended: bool },
    Tables { extended: bool },
    Topics { all: bool, extended: bool },
    Queries { extended: bool },
    Properties,
    Functions,
    Types,
    Variables,
    Connectors { kind: Option<ConnectorKind> },
    ConnectorPlugins,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum DescribeTarget {
    Source { name: String, extended: bool },
    Streams { extended: bool },
    Tables { extended: bool },
    Function { name: String },
    Connector { name: String },
}

#[derive(Debug, Clone, PartialEq)]
pub enum ExplainTarget {
    Statement(Box<Statement>),
    QueryId(String),
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum QueryTarget {
    All,
    Id(String),
}
