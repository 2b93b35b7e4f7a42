//! `POST /ksql`: runs a script of statements and returns one entity per statement.
//!
//! Statements run in order in one engine job. When one fails, the earlier ones stay done and
//! the error body lists their entities (as ksqlDB does). SELECT and PRINT belong to `/query`
//! (error 40002). `SET`/`UNSET` and `DEFINE`/`UNDEFINE` affect the rest of the request.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::Ordering;

use axum::body::Bytes;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use runnel_parser::{parse_statements, DescribeTarget, ExplainTarget, ParsedStatement, QueryTarget, ShowTarget, SourceKind, Statement};
use runnel_runtime::Engine;
use serde::Deserialize;
use serde_json::{json, Map, Value};

use super::entities::{push_query_summary, query_description, query_summary, schema_info, source_description, source_summary};
use super::{parse_body, property_strings, AppState, CommandStatus, KSQL_V1_JSON};
use crate::error::ServerError;

/// The body of `/ksql` (and of `/query`).
#[derive(Debug, Deserialize)]
pub struct KsqlRequest {
    pub ksql: String,
    #[serde(rename = "streamsProperties", default)]
    pub streams_properties: Map<String, Value>,
    #[serde(rename = "sessionVariables", default)]
    pub session_variables: Map<String, Value>,
    #[serde(rename = "commandSequenceNumber", default)]
    pub command_sequence_number: Option<i64>,
    #[serde(rename = "requestProperties", default)]
    pub request_properties: Map<String, Value>,
}

pub async fn handle(State(state): State<AppState>, body: Bytes) -> Response {
    match run(state, body).await {
        Ok(entities) => {
            ([(axum::http::header::CONTENT_TYPE, KSQL_V1_JSON)], Value::Array(entities).to_string()).into_response()
        }
        Err(e) => e.into_response(),
    }
}

async fn run(state: AppState, body: Bytes) -> Result<Vec<Value>, ServerError> {
    let request: KsqlRequest = parse_body(&body)?;
    let variables: HashMap<String, String> = property_strings(&request.session_variables).into_iter().collect();
    let sql = substitute(&request.ksql, &variables)?;
    let statements = parse_statements(&sql).map_err(|e| ServerError::syntax(&e, &sql))?;
    let context = RequestContext {
        properties: property_strings(&request.streams_properties),
        variables,
        state: state.clone(),
    };
    state.engine.run(move |engine| execute_all(engine, statements, context)).await?
}

fn substitute(sql: &str, variables: &HashMap<String, String>) -> Result<String, ServerError> {
    if variables.is_empty() {
        return Ok(sql.to_string());
    }
    runnel_parser::substitute_variables(sql, variables).map_err(|e| ServerError::Statement {
        message: e.to_string(),
        statement_text: sql.to_string(),
        entities: Vec::new(),
    })
}

/// What statements of one request share.
struct RequestContext {
    /// `streamsProperties`, then `SET`s in the request.
    properties: BTreeMap<String, String>,
    /// `sessionVariables`, then `DEFINE`s in the request.
    variables: HashMap<String, String>,
    state: AppState,
}

fn execute_all(engine: &mut Engine, statements: Vec<ParsedStatement>, mut context: RequestContext) -> Result<Vec<Value>, ServerError> {
    let mut entities = Vec::new();
    for parsed in statements {
        let text = format!("{};", parsed.text);
        match execute_one(engine, &parsed, &text, &mut context) {
            Ok(Some(entity)) => entities.push(entity),
            Ok(None) => {}
            Err(Failure::Engine(e)) => return Err(ServerError::from_engine(e, &text, entities)),
            Err(Failure::Statement(message)) => {
                return Err(ServerError::Statement { message, statement_text: text, entities });
            }
            Err(Failure::UseQuery) => {
                return Err(ServerError::UseQueryEndpoint {
                    message: "The following statement types should be issued to the websocket endpoint '/query':\n\t* PRINT\n\t* SELECT".into(),
                    statement_text: text,
                    entities,
                })
            }
            Err(Failure::Assertion(message)) => return Err(ServerError::AssertionFailed { message, statement_text: text, entities }),
        }
    }
    Ok(entities)
}

enum Failure {
    Engine(runnel_runtime::EngineError),
    Statement(String),
    UseQuery,
    Assertion(String),
}

impl From<runnel_runtime::EngineError> for Failure {
    fn from(e: runnel_runtime::EngineError) -> Self {
        Failure::Engine(e)
    }
}

fn execute_one(engine: &mut Engine, parsed: &ParsedStatement, text: &str, context: &mut RequestContext) -> Result<Option<Value>, Failure> {
    let statement = &parsed.statement;
    match statement {
        Statement::Query(_) | Statement::Print { .. } => Err(Failure::UseQuery),
        Statement::CreateSource { kind, name, if_not_exists, .. } => {
            let existed = engine.catalog().source(name).is_some();
            let (_, sequence) = context.apply(engine, parsed, text)?;
            let noun = if *kind == SourceKind::Stream { "Stream" } else { "Table" };
            let message = if existed && *if_not_exists { format!("Cannot add {} `{name}`: A {} with the same name already exists.", noun.to_lowercase(), noun.to_lowercase()) } else { format!("{noun} created") };
            Ok(Some(command(context, sequence, text, format!("{}/`{name}`/create", noun.to_lowercase()), message, None)))
        }
        Statement::CreateAsSelect { kind, name, .. } => {
            let (started, sequence) = context.apply(engine, parsed, text)?;
            let noun = if *kind == SourceKind::Stream { "stream" } else { "table" };
            let query_id = started.first().cloned();
            let message = match &query_id {
                Some(id) => format!("Created query with ID {id}"),
                None => format!("Cannot add {noun} `{name}`: A {noun} with the same name already exists."),
            };
            Ok(Some(command(context, sequence, text, format!("{noun}/`{name}`/create"), message, query_id)))
        }
        Statement::InsertInto { target, .. } => {
            let (started, sequence) = context.apply(engine, parsed, text)?;
            let query_id = started.first().cloned();
            let message = query_id.as_ref().map(|id| format!("Created query with ID {id}")).unwrap_or_default();
            Ok(Some(command(context, sequence, text, format!("stream/`{target}`/create"), message, query_id)))
        }
        // Rows are produced directly; ksqlDB returns no entity for them.
        Statement::InsertValues { .. } => {
            engine.execute_statement_with(parsed, &context.properties)?;
            Ok(None)
        }
        Statement::Drop { kind, name, .. } => {
            let topic = engine.catalog().source(name).map(|s| s.topic.clone());
            let (_, sequence) = context.apply(engine, parsed, text)?;
            let noun = if *kind == SourceKind::Stream { "stream" } else { "table" };
            let message = match topic {
                Some(topic) => format!("Source `{name}` (topic: {topic}) was dropped."),
                None => format!("Source `{name}` does not exist."),
            };
            Ok(Some(command(context, sequence, text, format!("{noun}/`{name}`/drop"), message, None)))
        }
        Statement::CreateType { name, data_type, .. } => {
            let (_, sequence) = context.apply(engine, parsed, text)?;
            let message = format!("Registered custom type with name '{name}' and SQL type {}", runnel_planner::types::display_type(data_type));
            Ok(Some(command(context, sequence, text, format!("type/`{name}`/create"), message, None)))
        }
        Statement::DropType { name, .. } => {
            let (_, sequence) = context.apply(engine, parsed, text)?;
            Ok(Some(command(context, sequence, text, format!("type/`{name}`/drop"), format!("Dropped type '{name}'"), None)))
        }
        Statement::Terminate(target) => {
            let (_, sequence) = context.apply(engine, parsed, text)?;
            let id = match target {
                QueryTarget::All => "ALL".to_string(),
                QueryTarget::Id(id) => id.clone(),
            };
            Ok(Some(command(context, sequence, text, format!("terminate/{id}/execute"), "Query terminated.".into(), None)))
        }
        Statement::Show(target) => show(engine, target, text, context).map(Some),
        Statement::Describe(target) => describe(engine, target, text).map(Some),
        Statement::Explain(ExplainTarget::QueryId(id)) => {
            let query = engine.catalog().query(id).ok_or_else(|| Failure::Statement(format!("Query with id:{id} does not exist, use SHOW QUERIES to view the full set of running queries.")))?;
            Ok(Some(json!({"@type": "queryDescription", "statementText": text, "queryDescription": query_description(engine, query), "warnings": []})))
        }
        Statement::Explain(ExplainTarget::Statement(_)) => {
            Err(Failure::Statement("EXPLAIN of a statement is not supported yet: EXPLAIN the id of a running query instead.".into()))
        }
        Statement::Set { property, value } => {
            context.properties.insert(property.clone(), value.clone());
            Ok(None)
        }
        Statement::Unset { property } => {
            context.properties.remove(property);
            Ok(None)
        }
        Statement::Define { name, value } => {
            context.variables.insert(name.clone(), value.clone());
            Ok(None)
        }
        Statement::Undefine { name } => {
            context.variables.remove(name);
            Ok(None)
        }
        Statement::AssertTopic { exists, name, .. } => {
            let found = engine.topic_partitions(name).is_some();
            if found != *exists {
                let message = if *exists { format!("Topic {name} does not exist") } else { format!("Topic {name} exists") };
                return Err(Failure::Assertion(message));
            }
            Ok(Some(json!({"@type": "assert_topic", "statementText": text, "topicName": name, "exists": exists, "warnings": []})))
        }
        Statement::AssertSchema { .. } => Err(Failure::Statement(
            "Cannot check schema existence: no Schema Registry is configured (schema-registry formats are not supported yet).".into(),
        )),
        Statement::CreateConnector { .. } | Statement::DropConnector { .. } => {
            Err(Failure::Statement("Kafka Connect is not supported: no connect cluster is configured.".into()))
        }
        Statement::AlterSource { .. } | Statement::Pause(_) | Statement::Resume(_) | Statement::AlterSystem { .. } => {
            Err(Failure::Statement(format!("{} is not supported yet.", statement_keyword(text))))
        }
        Statement::RunScript { .. } => {
            context.apply(engine, parsed, text)?;
            Ok(None)
        }
    }
}

/// The first word(s) of a statement, for "X is not supported" messages.
fn statement_keyword(text: &str) -> String {
    text.split_whitespace().take(2).collect::<Vec<_>>().join(" ").to_uppercase()
}

impl RequestContext {
    /// Runs a statement that changes the catalog. With a command log it is first validated
    /// on a sandbox copy of the engine, then appended to the log (so that a restarted server
    /// replays it), then executed; returns the started query ids and its sequence number.
    fn apply(&self, engine: &mut Engine, parsed: &ParsedStatement, text: &str) -> Result<(Vec<String>, i64), Failure> {
        let Some(log) = &self.state.command_log else {
            let started = engine.execute_statement_with(parsed, &self.properties)?;
            return Ok((started, self.state.command_sequence.fetch_add(1, Ordering::SeqCst) + 1));
        };
        engine.sandbox().execute_statement_with(parsed, &self.properties)?;
        let sequence = log.append(text, &self.properties).map_err(runnel_runtime::EngineError::from)?;
        self.state.command_sequence.store(sequence, Ordering::SeqCst);
        let started = engine.execute_statement_with(parsed, &self.properties)?;
        Ok((started, sequence))
    }
}

/// A `currentStatus` entity for a statement that changed the catalog; records its status.
fn command(context: &RequestContext, sequence: i64, text: &str, command_id: String, message: String, query_id: Option<String>) -> Value {
    let status = CommandStatus { status: "SUCCESS", message: message.clone(), query_id: query_id.clone() };
    if let Ok(mut statuses) = context.state.command_statuses.lock() {
        statuses.insert(command_id.clone(), status);
    }
    json!({
        "@type": "currentStatus",
        "statementText": text,
        "commandId": command_id,
        "commandStatus": {"status": "SUCCESS", "message": message, "queryId": query_id},
        "commandSequenceNumber": sequence,
        "warnings": [],
    })
}

fn show(engine: &Engine, target: &ShowTarget, text: &str, context: &RequestContext) -> Result<Value, Failure> {
    Ok(match target {
        ShowTarget::Streams { extended } | ShowTarget::Tables { extended } => {
            let kind = if matches!(target, ShowTarget::Streams { .. }) { SourceKind::Stream } else { SourceKind::Table };
            let sources = engine.catalog().sources().filter(|s| s.kind == kind);
            if *extended {
                let descriptions: Vec<Value> = sources.map(|s| source_description(engine, s, true)).collect();
                json!({"@type": "source_descriptions", "statementText": text, "sourceDescriptions": descriptions, "warnings": []})
            } else {
                let list: Vec<Value> = sources.map(source_summary).collect();
                let key = if kind == SourceKind::Stream { "streams" } else { "tables" };
                json!({"@type": key, "statementText": text, key: list, "warnings": []})
            }
        }
        ShowTarget::Topics { all, extended } => {
            let topics: Vec<Value> = engine
                .topic_names()
                .into_iter()
                .filter(|name| *all || !name.starts_with('_'))
                .map(|name| {
                    let partitions = engine.topic_partitions(&name).unwrap_or(0).max(0) as usize;
                    let mut topic = json!({"name": name, "replicaInfo": vec![1; partitions]});
                    if *extended {
                        topic["consumerCount"] = json!(0);
                        topic["consumerGroupCount"] = json!(0);
                    }
                    topic
                })
                .collect();
            let kind = if *extended { "kafka_topics_extended" } else { "kafka_topics" };
            json!({"@type": kind, "statementText": text, "topics": topics, "warnings": []})
        }
        ShowTarget::Queries { extended } => {
            if *extended {
                let descriptions: Vec<Value> = engine.catalog().queries().map(|q| query_description(engine, q)).collect();
                json!({"@type": "query_descriptions", "statementText": text, "queryDescriptions": descriptions, "warnings": []})
            } else {
                let mut queries: Vec<Value> = engine.catalog().queries().map(|q| query_summary(engine, q)).collect();
                queries.extend(engine.transient_queries().iter().map(|(id, statement)| push_query_summary(id, statement)));
                json!({"@type": "queries", "statementText": text, "queries": queries, "warnings": []})
            }
        }
        ShowTarget::Properties => {
            let mut merged: BTreeMap<String, (String, &str)> =
                engine.properties().iter().map(|(k, v)| (k.clone(), (v.clone(), "SERVER"))).collect();
            for (k, v) in &context.properties {
                merged.insert(k.clone(), (v.clone(), "QUERY"));
            }
            let properties: Vec<Value> = merged
                .iter()
                .map(|(name, (value, level))| {
                    let scope = if name.starts_with("ksql.streams.") || !name.starts_with("ksql.") { "STREAMS" } else { "KSQL" };
                    json!({"name": name, "scope": scope, "value": value, "editable": *level == "QUERY", "level": level})
                })
                .collect();
            let overwritten: Vec<&String> = context.properties.keys().collect();
            json!({
                "@type": "properties",
                "statementText": text,
                "properties": properties,
                "overwrittenProperties": overwritten,
                "defaultProperties": [],
                "warnings": [],
            })
        }
        ShowTarget::Functions => {
            let mut names: Vec<(String, &str)> = runnel_planner::functions::scalar_functions()
                .into_iter()
                .map(|(name, _)| (name.to_uppercase(), "SCALAR"))
                .chain(runnel_planner::functions::higher_order_functions().into_iter().map(|(name, _)| (name.to_uppercase(), "SCALAR")))
                .collect();
            names.sort();
            names.dedup();
            let functions: Vec<Value> = names.iter().map(|(name, kind)| json!({"name": name, "type": kind})).collect();
            json!({"@type": "function_names", "statementText": text, "functions": functions, "warnings": []})
        }
        ShowTarget::Types => {
            let types: Map<String, Value> = engine.catalog().types.iter().map(|(name, ty)| (name.clone(), schema_info(ty))).collect();
            json!({"@type": "type_list", "statementText": text, "types": types, "warnings": []})
        }
        ShowTarget::Variables => {
            let mut variables: Vec<(&String, &String)> = context.variables.iter().collect();
            variables.sort();
            let list: Vec<Value> = variables.iter().map(|(name, value)| json!({"name": name, "value": value})).collect();
            json!({"@type": "variables", "statementText": text, "variables": list, "warnings": []})
        }
        ShowTarget::Connectors { .. } | ShowTarget::ConnectorPlugins => {
            return Err(Failure::Statement("Kafka Connect is not supported: no connect cluster is configured.".into()))
        }
    })
}

fn describe(engine: &Engine, target: &DescribeTarget, text: &str) -> Result<Value, Failure> {
    Ok(match target {
        DescribeTarget::Source { name, extended } => {
            let def = engine.catalog().source(name).ok_or_else(|| Failure::Statement(format!("Could not find STREAM/TABLE '{name}' in the Metastore")))?;
            json!({"@type": "sourceDescription", "statementText": text, "sourceDescription": source_description(engine, def, *extended), "warnings": []})
        }
        DescribeTarget::Streams { extended } | DescribeTarget::Tables { extended } => {
            let kind = if matches!(target, DescribeTarget::Streams { .. }) { SourceKind::Stream } else { SourceKind::Table };
            let descriptions: Vec<Value> =
                engine.catalog().sources().filter(|s| s.kind == kind).map(|s| source_description(engine, s, *extended)).collect();
            json!({"@type": "source_descriptions", "statementText": text, "sourceDescriptions": descriptions, "warnings": []})
        }
        DescribeTarget::Function { name } => {
            let lower = name.to_lowercase();
            let known = runnel_planner::functions::scalar_functions().iter().any(|(n, _)| *n == lower)
                || runnel_planner::functions::higher_order_functions().iter().any(|(n, _)| *n == lower);
            if !known {
                return Err(Failure::Statement(format!("Can't find any functions with the name '{name}'")));
            }
            json!({
                "@type": "describe_function",
                "statementText": text,
                "name": name.to_uppercase(),
                "description": "",
                "author": "",
                "version": "",
                "path": "internal",
                "functions": [],
                "type": "SCALAR",
                "warnings": [],
            })
        }
        DescribeTarget::Connector { .. } => {
            return Err(Failure::Statement("Kafka Connect is not supported: no connect cluster is configured.".into()))
        }
    })
}
