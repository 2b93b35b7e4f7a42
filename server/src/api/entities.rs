//! The entities `/ksql` returns (`@type` = `streams`, `tables`, `queries`, `sourceDescription`,
//! ...), built from the engine's catalog in ksqlDB's JSON shapes.

use runnel_parser::{SourceKind, SqlType};
use runnel_planner::catalog::{ColumnRole, QueryDef, SourceDef};
use runnel_planner::types::display_type;
use runnel_runtime::Engine;
use serde_json::{json, Value};

/// `STREAM` / `TABLE`.
pub fn kind_upper(kind: SourceKind) -> &'static str {
    match kind {
        SourceKind::Stream => "STREAM",
        SourceKind::Table => "TABLE",
    }
}

/// ksqlDB's `SchemaInfo` of a type: `{"type", "fields", "memberSchema"}` (+ DECIMAL parameters).
pub fn schema_info(ty: &SqlType) -> Value {
    match ty {
        SqlType::Array(inner) => json!({"type": "ARRAY", "fields": null, "memberSchema": schema_info(inner)}),
        SqlType::Map(_, value) => json!({"type": "MAP", "fields": null, "memberSchema": schema_info(value)}),
        SqlType::Struct(fields) => json!({
            "type": "STRUCT",
            "fields": fields.iter().map(|f| json!({"name": f.name, "schema": schema_info(&f.data_type)})).collect::<Vec<_>>(),
            "memberSchema": null,
        }),
        SqlType::Decimal { precision, scale } => json!({
            "type": "DECIMAL",
            "fields": null,
            "memberSchema": null,
            "parameters": {"precision": precision, "scale": scale},
        }),
        SqlType::Custom(name) => json!({"type": name, "fields": null, "memberSchema": null}),
        other => json!({"type": display_type(other), "fields": null, "memberSchema": null}),
    }
}

/// One entry of `streams` / `tables`.
pub fn source_summary(def: &SourceDef) -> Value {
    json!({
        "type": kind_upper(def.kind),
        "name": def.name,
        "topic": def.topic,
        "keyFormat": def.key_format.format.name(),
        "valueFormat": def.value_format.format.name(),
        "isWindowed": def.window.is_some(),
    })
}

/// One entry of `queries` (and of a source description's read/write queries).
pub fn query_summary(engine: &Engine, query: &QueryDef) -> Value {
    let sink_topic = query.sink.as_ref().and_then(|s| engine.catalog().source(s)).map(|s| s.topic.clone());
    json!({
        "queryString": query.statement,
        "sinks": query.sink.iter().collect::<Vec<_>>(),
        "sinkKafkaTopics": sink_topic.iter().collect::<Vec<_>>(),
        "id": query.id,
        "statusCount": {"RUNNING": 1},
        "queryType": "PERSISTENT",
        "state": "RUNNING",
    })
}

/// Push queries as `queries` entries.
pub fn push_query_summary(id: &str, statement: &str) -> Value {
    json!({
        "queryString": statement,
        "sinks": [],
        "sinkKafkaTopics": [],
        "id": id,
        "statusCount": {"RUNNING": 1},
        "queryType": "PUSH",
        "state": "RUNNING",
    })
}

/// The columns of a source as `fields` entries (with `type: KEY|HEADER` where it applies).
pub fn fields(def: &SourceDef) -> Vec<Value> {
    def.columns
        .iter()
        .map(|c| {
            let mut field = json!({"name": c.name, "schema": schema_info(&c.data_type)});
            match c.role {
                ColumnRole::Key => field["type"] = json!("KEY"),
                ColumnRole::Header => field["type"] = json!("HEADER"),
                ColumnRole::Value => {}
            }
            field
        })
        .collect()
}

/// `sourceDescription` of DESCRIBE [EXTENDED].
pub fn source_description(engine: &Engine, def: &SourceDef, extended: bool) -> Value {
    let readers: Vec<Value> = engine.catalog().readers_of(&def.name).iter().map(|q| query_summary(engine, q)).collect();
    let writers: Vec<Value> = engine.catalog().writers_of(&def.name).iter().map(|q| query_summary(engine, q)).collect();
    let partitions = engine.topic_partitions(&def.topic).unwrap_or(0);
    json!({
        "name": def.name,
        "windowType": def.window.map(|w| w.window_type.name()),
        "readQueries": readers,
        "writeQueries": writers,
        "fields": fields(def),
        "type": kind_upper(def.kind),
        "timestamp": def.timestamp.as_ref().map(|t| t.column.clone()).unwrap_or_default(),
        "statistics": "",
        "errorStats": "",
        "extended": extended,
        "keyFormat": def.key_format.format.name(),
        "valueFormat": def.value_format.format.name(),
        "topic": def.topic,
        "partitions": if extended { partitions } else { 0 },
        "replication": if extended { 1 } else { 0 },
        "statement": def.statement,
        "queryOffsetSummaries": [],
        "sourceConstraints": [],
        "clusterStatistics": [],
        "clusterErrorStats": [],
    })
}

/// `queryDescription` of `EXPLAIN <query id>`.
pub fn query_description(engine: &Engine, query: &QueryDef) -> Value {
    let sink = query.sink.as_ref().and_then(|s| engine.catalog().source(s));
    let sink_topic = sink.map(|s| s.topic.clone());
    json!({
        "id": query.id,
        "statementText": query.statement,
        "windowType": sink.and_then(|s| s.window.map(|w| w.window_type.name())),
        "fields": sink.map(fields).unwrap_or_default(),
        "sources": query.sources,
        "sinks": query.sink.iter().collect::<Vec<_>>(),
        "sinkKafkaTopics": sink_topic.iter().collect::<Vec<_>>(),
        "topology": "",
        "executionPlan": "",
        "overriddenProperties": {},
        "ksqlHostQueryStatus": {},
        "queryType": "PERSISTENT",
        "queryErrors": [],
        "tasksMetadata": [],
        "state": "RUNNING",
    })
}
