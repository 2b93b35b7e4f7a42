//! The metastore: streams, tables, custom types and persistent queries.

use std::collections::BTreeMap;

use runnel_parser::{SourceKind, SqlType};

use crate::error::{PlanError, Result};
use crate::formats::FormatSpec;
use crate::types::{display_type, TypeRegistry};

/// How a column is bound to the Kafka record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ColumnRole {
    Key,
    Value,
    /// `HEADERS` (all headers) or `HEADER('k')` (one).
    Header,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Column {
    pub name: String,
    pub data_type: SqlType,
    pub role: ColumnRole,
    /// For `HEADER('k')` columns; `None` with role Header means all headers.
    pub header_key: Option<String>,
}

impl Column {
    pub fn new(name: impl Into<String>, data_type: SqlType, role: ColumnRole) -> Self {
        Column { name: name.into(), data_type, role, header_key: None }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum WindowType {
    Tumbling,
    Hopping,
    Session,
}

impl WindowType {
    pub fn name(&self) -> &'static str {
        match self {
            WindowType::Tumbling => "TUMBLING",
            WindowType::Hopping => "HOPPING",
            WindowType::Session => "SESSION",
        }
    }
}

/// Windowing of a source's key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct WindowInfo {
    pub window_type: WindowType,
    /// Window size in ms (None for SESSION).
    pub size_ms: Option<i64>,
}

/// Event-time extraction from a column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimestampSpec {
    pub column: String,
    /// Java `DateTimeFormatter` pattern, for STRING columns.
    pub format: Option<String>,
}

/// A stream or table.
#[derive(Debug, Clone, PartialEq)]
pub struct SourceDef {
    pub name: String,
    pub kind: SourceKind,
    /// Key columns first, in declaration order, then value and header columns in declaration order.
    pub columns: Vec<Column>,
    pub topic: String,
    pub key_format: FormatSpec,
    pub value_format: FormatSpec,
    pub timestamp: Option<TimestampSpec>,
    pub window: Option<WindowInfo>,
    /// Created with `CREATE SOURCE ...` (read-only).
    pub is_source: bool,
    /// The statement that created it.
    pub statement: String,
    /// Partition count of its topic, if known.
    pub partitions: Option<i32>,
}

impl SourceDef {
    pub fn key_columns(&self) -> impl Iterator<Item = &Column> {
        self.columns.iter().filter(|c| c.role == ColumnRole::Key)
    }
    pub fn value_columns(&self) -> impl Iterator<Item = &Column> {
        self.columns.iter().filter(|c| c.role == ColumnRole::Value)
    }
    pub fn column(&self, name: &str) -> Option<&Column> {
        self.columns.iter().find(|c| c.name == name)
    }
    /// `"`K` STRING KEY, `V` INTEGER"`, as in DESCRIBE and the REST query header.
    pub fn schema_text(&self) -> String {
        self.columns
            .iter()
            .map(|c| column_text(&c.name, &c.data_type, c.role, c.header_key.as_deref(), self.kind))
            .collect::<Vec<_>>()
            .join(", ")
    }
    pub fn kind_name(&self) -> &'static str {
        kind_name(self.kind)
    }
}

/// One column as ksqlDB prints it: `` `K` STRING KEY `` (PRIMARY KEY for tables, HEADER(S)).
pub fn column_text(name: &str, data_type: &SqlType, role: ColumnRole, header_key: Option<&str>, kind: SourceKind) -> String {
    let role = match (role, kind) {
        (ColumnRole::Key, SourceKind::Table) => " PRIMARY KEY".to_string(),
        (ColumnRole::Key, SourceKind::Stream) => " KEY".to_string(),
        (ColumnRole::Header, _) => match header_key {
            Some(k) => format!(" HEADER('{k}')"),
            None => " HEADERS".to_string(),
        },
        (ColumnRole::Value, _) => String::new(),
    };
    format!("`{name}` {}{role}", display_type(data_type))
}

pub fn kind_name(kind: SourceKind) -> &'static str {
    match kind {
        SourceKind::Stream => "stream",
        SourceKind::Table => "table",
    }
}

/// A persistent query.
#[derive(Debug, Clone, PartialEq)]
pub struct QueryDef {
    pub id: String,
    pub statement: String,
    pub sources: Vec<String>,
    pub sink: Option<String>,
}

/// The metastore.
#[derive(Debug, Clone, Default)]
pub struct Catalog {
    sources: BTreeMap<String, SourceDef>,
    pub types: TypeRegistry,
    queries: BTreeMap<String, QueryDef>,
    /// Next number in query ids (`CSAS_S_3`): one counter across all queries, like ksqlDB.
    next_query_number: u64,
}

impl Catalog {
    pub fn new() -> Self {
        Self::default()
    }
    pub fn source(&self, name: &str) -> Option<&SourceDef> {
        self.sources.get(name)
    }
    pub fn sources(&self) -> impl Iterator<Item = &SourceDef> {
        self.sources.values()
    }
    pub fn require_source(&self, name: &str) -> Result<&SourceDef> {
        self.source(name).ok_or_else(|| PlanError::statement(format!("{name} does not exist.")))
    }
    pub fn put_source(&mut self, def: SourceDef) {
        self.sources.insert(def.name.clone(), def);
    }
    pub fn remove_source(&mut self, name: &str) -> Option<SourceDef> {
        self.sources.remove(name)
    }
    pub fn queries(&self) -> impl Iterator<Item = &QueryDef> {
        self.queries.values()
    }
    pub fn query(&self, id: &str) -> Option<&QueryDef> {
        self.queries.get(id)
    }
    pub fn put_query(&mut self, q: QueryDef) {
        self.queries.insert(q.id.clone(), q);
    }
    pub fn remove_query(&mut self, id: &str) -> Option<QueryDef> {
        self.queries.remove(id)
    }
    /// Allocates the next query number.
    pub fn next_query_number(&mut self) -> u64 {
        let n = self.next_query_number;
        self.next_query_number += 1;
        n
    }
    /// Queries that read the source.
    pub fn readers_of(&self, name: &str) -> Vec<&QueryDef> {
        self.queries.values().filter(|q| q.sources.iter().any(|s| s == name)).collect()
    }
    /// Queries that write the source.
    pub fn writers_of(&self, name: &str) -> Vec<&QueryDef> {
        self.queries.values().filter(|q| q.sink.as_deref() == Some(name)).collect()
    }
}
