//! The statement executor and query driver: statements change the catalog and start
//! persistent queries; [`Engine::process`] runs the queries over the topic store.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use arrow::array::{new_null_array, ArrayRef};
use arrow::compute::cast;
use arrow::datatypes::{DataType, Field, Schema};
use arrow::record_batch::{RecordBatch, RecordBatchOptions};
use datafusion::common::DFSchema;
use runnel_parser::{parse_statements, ParsedStatement, SourceKind, SqlType, Statement};
use runnel_planner::catalog::{column_text, kind_name, Catalog, QueryDef, SourceDef};
use runnel_planner::ddl::{plan_create_source, plan_sink};
use runnel_planner::expr::ExprPlanner;
use runnel_planner::nodes::SINK_TIMESTAMP;
use runnel_planner::types::to_arrow;
use runnel_planner::{KsqlContext, PlanError, PlannerConfig, PullSettings, QueryPlanner};

pub use runnel_planner::catalog::{ColumnRole, WindowInfo, WindowType};

use crate::error::RuntimeError;
use crate::pipeline::{physical, Pipeline, PipelineOptions, SinkWriter};
use crate::materialize::{self, TableMaterializer};
use crate::processing_log;
use crate::pull::{self, StateTable};
use crate::state::TableStore;
use crate::push::{end_position, PushQuery, ResultColumn, StartFrom, TopicPrint, TopicTap, TransientQuery, RESULT_CHANNEL_CAPACITY};
use crate::source::RecordError;
pub use crate::topic::TopicRecord;
use crate::kafka::query::{CommitPolicy, KafkaQuery, QueryStats};
use crate::kafka::command_log::CommandLog;
use crate::kafka::{KafkaConfig, KafkaTopics, TopicFeed};
use crate::topic::{MemoryTopics, TopicStore};

/// Which family of ksqlDB exception an error corresponds to (the QTT `expectedException.type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// Syntax errors (`ParseFailedException`).
    Parse,
    /// A statement that is well-formed but invalid (`KsqlStatementException`).
    Statement,
    /// Other engine errors (`KsqlException`).
    Engine,
    /// Failures while a query processes records (`StreamsException`).
    Processing,
}

#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct EngineError {
    pub kind: ErrorKind,
    pub message: String,
}

impl EngineError {
    fn statement(message: impl Into<String>) -> Self {
        EngineError { kind: ErrorKind::Statement, message: message.into() }
    }
}

impl From<PlanError> for EngineError {
    fn from(e: PlanError) -> Self {
        let kind = match &e {
            PlanError::Parse(_) => ErrorKind::Parse,
            PlanError::Statement(_) | PlanError::Unsupported(_) => ErrorKind::Statement,
            PlanError::Internal(_) => ErrorKind::Engine,
        };
        EngineError { kind, message: e.to_string() }
    }
}

impl From<RuntimeError> for EngineError {
    fn from(e: RuntimeError) -> Self {
        match e {
            RuntimeError::Plan(p) => p.into(),
            other => EngineError { kind: ErrorKind::Engine, message: other.to_string() },
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct SourceColumn {
    pub name: String,
    pub data_type: SqlType,
    pub role: ColumnRole,
    /// For `HEADER('k')` columns.
    pub header_key: Option<String>,
}

/// What DESCRIBE / QTT post-conditions need to know about a stream or table.
#[derive(Debug, Clone, PartialEq)]
pub struct SourceDescription {
    pub name: String,
    pub kind: SourceKind,
    pub columns: Vec<SourceColumn>,
    pub topic: String,
    /// Upper-case format names, e.g. `KAFKA`, `JSON`, `DELIMITED`, `NONE`.
    pub key_format: String,
    pub value_format: String,
    /// Serde features, e.g. `UNWRAP_SINGLES`, `WRAP_SINGLES`.
    pub key_features: Vec<String>,
    pub value_features: Vec<String>,
    pub window: Option<WindowInfo>,
    /// Created with `CREATE SOURCE ...`.
    pub is_source: bool,
}

impl From<&SourceDef> for SourceDescription {
    fn from(def: &SourceDef) -> Self {
        SourceDescription {
            name: def.name.clone(),
            kind: def.kind,
            columns: def
                .columns
                .iter()
                .map(|c| SourceColumn {
                    name: c.name.clone(),
                    data_type: c.data_type.clone(),
                    role: c.role,
                    header_key: c.header_key.clone(),
                })
                .collect(),
            topic: def.topic.clone(),
            key_format: def.key_format.format.name().to_string(),
            value_format: def.value_format.format.name().to_string(),
            key_features: def.key_format.features.clone(),
            value_features: def.value_format.features.clone(),
            window: def.window,
            is_source: def.is_source,
        }
    }
}

struct RunningQuery {
    id: String,
    task: QueryTask,
    /// Not a user query: the task that keeps a `CREATE SOURCE TABLE`'s rows for pull queries.
    internal: bool,
}

/// How a persistent query runs: stepped by [`Engine::process`] over the in-memory log, or on
/// its own consumer thread over Kafka.
enum QueryTask {
    Stepped(Box<Pipeline>),
    Kafka(KafkaQuery),
}

/// Config keys the engine reads (ksqlDB's names).
const SERVICE_ID: &str = "ksql.service.id";
const AUTO_OFFSET_RESET: &str = "auto.offset.reset";
const STREAMS_AUTO_OFFSET_RESET: &str = "ksql.streams.auto.offset.reset";

/// The executor. See the module docs.
pub struct Engine {
    config: PlannerConfig,
    context: KsqlContext,
    catalog: Catalog,
    topics: Box<dyn TopicStore>,
    /// Set when queries run over Kafka.
    kafka: Option<KafkaConfig>,
    /// CREATE STREAM/TABLE without PARTITIONS must name an existing topic.
    require_existing_topics: bool,
    /// Topics the in-memory log created on demand for a source declared without PARTITIONS:
    /// their partition count is assumed, not known, so joins do not check it.
    assumed_partitions: std::collections::HashSet<String>,
    /// Where queries over Kafka report skipped records.
    processing_log: Option<String>,
    queries: Vec<RunningQuery>,
    /// Records skipped by queries (the processing log).
    processing_errors: Vec<RecordError>,
    /// Push queries, polled with the persistent ones.
    transients: Vec<TransientQuery>,
    /// `PRINT`s in progress.
    taps: Vec<TopicTap>,
    transients_started: u64,
    /// The current rows of every materialized table (CTAS results, source tables), by name.
    tables: HashMap<String, TableStore>,
}

/// Marks a key column in the Arrow schema of a pull query's result: the field's metadata
/// maps this key to `"true"` (the REST header prints such columns with `KEY`).
pub const KEY_COLUMN_METADATA: &str = "runnel.key";

impl Engine {
    /// A new engine over the in-memory topic store; `properties` are ksql/streams config
    /// overrides (e.g. `ksql.persistence.wrap.single.values`).
    pub fn new(properties: BTreeMap<String, String>) -> Self {
        Self::with_topics(properties, Box::new(MemoryTopics::new()))
    }

    /// A new engine over any topic store.
    pub fn with_topics(properties: BTreeMap<String, String>, topics: Box<dyn TopicStore>) -> Self {
        Engine {
            config: PlannerConfig::new(properties),
            context: KsqlContext::new(),
            catalog: Catalog::new(),
            topics,
            kafka: None,
            require_existing_topics: false,
            assumed_partitions: Default::default(),
            processing_log: None,
            queries: Vec::new(),
            processing_errors: Vec::new(),
            transients: Vec::new(),
            taps: Vec::new(),
            transients_started: 0,
            tables: HashMap::new(),
        }
    }

    /// A new engine over a Kafka cluster: topics are created there and every persistent
    /// query consumes and produces on its own thread.
    pub fn with_kafka(properties: BTreeMap<String, String>, kafka: KafkaConfig) -> Result<Self, EngineError> {
        let topics = KafkaTopics::connect(kafka.clone())?;
        let mut engine = Self::with_topics(properties, Box::new(topics));
        engine.kafka = Some(kafka);
        engine.require_existing_topics = true;
        engine.open_processing_log()?;
        Ok(engine)
    }

    /// Creates the processing log topic and its stream unless configured off.
    fn open_processing_log(&mut self) -> Result<(), EngineError> {
        let enabled = |key: &str| self.config.get(key).is_none_or(|v| !v.eq_ignore_ascii_case("false"));
        if !enabled(processing_log::TOPIC_AUTO_CREATE) {
            return Ok(());
        }
        let topic = processing_log::processing_log_topic(self.service_id());
        self.topics.create_topic(&topic, 1)?;
        if enabled(processing_log::STREAM_AUTO_CREATE) && self.catalog.source(processing_log::PROCESSING_LOG_STREAM).is_none() {
            self.execute_sql(&processing_log::processing_log_ddl(&topic))?;
        }
        self.processing_log = Some(topic);
        Ok(())
    }

    /// The service id (`ksql.service.id`), which prefixes internal names such as consumer groups.
    pub fn service_id(&self) -> &str {
        self.config.get(SERVICE_ID).unwrap_or("default_")
    }

    fn start_query(&mut self, id: String, pipeline: Pipeline) -> Result<(), EngineError> {
        self.start_task(id, pipeline, false)
    }

    /// Starts a query; an `internal` one (a source table's materialization) reads its topic
    /// from the start and is not listed as a user query.
    fn start_task(&mut self, id: String, pipeline: Pipeline, internal: bool) -> Result<(), EngineError> {
        let task = match &self.kafka {
            None => QueryTask::Stepped(Box::new(pipeline)),
            Some(kafka) => {
                let group = format!("_runnel-{}-query_{id}", self.service_id());
                let reset = if internal {
                    "earliest"
                } else {
                    self.config.get(AUTO_OFFSET_RESET).or_else(|| self.config.get(STREAMS_AUTO_OFFSET_RESET)).unwrap_or("latest")
                };
                QueryTask::Kafka(KafkaQuery::start(
                    &id,
                    &group,
                    reset,
                    pipeline,
                    kafka,
                    self.processing_log.clone(),
                    CommitPolicy::from_properties(&self.config.properties),
                )?)
            }
        };
        self.queries.push(RunningQuery { id, task, internal });
        Ok(())
    }

    /// A key join reads partition `p` of one side with partition `p` of the other: their
    /// topics need the same partition count (ksqlDB's check and message).
    fn check_copartitioned(&self, planned: &runnel_planner::query::PlannedQuery) -> Result<(), EngineError> {
        let partitions = |name: &str| {
            self.catalog.source(name).filter(|def| !self.assumed_partitions.contains(&def.topic)).and_then(|def| self.topics.partitions(&def.topic))
        };
        for (left, right) in &planned.copartitioned {
            if let (Some(l), Some(r)) = (partitions(left), partitions(right)) {
                if l != r {
                    return Err(EngineError::statement(format!(
                        "Can't join `{left}` with `{right}` since the number of partitions don't match. `{left}` partitions = {l}; `{right}` partitions = {r}. Please repartition either one so that the number of partitions match."
                    )));
                }
            }
        }
        Ok(())
    }

    /// Keeps the rows of the source table `def` for pull queries: a task reads its topic into
    /// a table store (ksqlDB materializes `CREATE SOURCE TABLE`s the same way).
    fn materialize_source_table(&mut self, def: &SourceDef) -> Result<(), EngineError> {
        let planner = QueryPlanner::transient(&self.catalog, &self.context);
        let plan = planner.plan_materialization(def)?;
        let store = materialize::new_store(def)?;
        let partitions = self.topics.partitions(&def.topic).unwrap_or(1);
        let options = self.pipeline_options();
        let mut pipeline = Pipeline::compile_to_discard(&plan, &options)?;
        let materializer = TableMaterializer::new(def, store.clone(), pipeline.output_schema(), partitions)?;
        pipeline.materialize_into(materializer);
        self.start_task(source_table_task_id(&def.name), pipeline, true)?;
        self.tables.insert(def.name.clone(), store);
        Ok(())
    }

    /// A throw-away copy for validating statements before they are logged and run: same
    /// catalog and config, topics mirrored (names and partition counts) into memory, no
    /// running queries. Executing a statement there has no effect outside it.
    pub fn sandbox(&self) -> Engine {
        let mut topics = MemoryTopics::new();
        for (name, partitions) in self.topics.topic_partitions() {
            let _ = topics.create_topic(&name, partitions);
        }
        let mut sandbox = Engine::with_topics(self.config.properties.clone(), Box::new(topics));
        sandbox.catalog = self.catalog.clone();
        sandbox.require_existing_topics = self.require_existing_topics;
        sandbox.assumed_partitions = self.assumed_partitions.clone();
        sandbox
    }

    /// Counters of a query running over Kafka.
    pub fn query_stats(&self, id: &str) -> Option<Arc<QueryStats>> {
        self.queries.iter().find(|q| q.id == id).and_then(|q| match &q.task {
            QueryTask::Kafka(k) => Some(k.stats().clone()),
            QueryTask::Stepped(_) => None,
        })
    }

    pub fn catalog(&self) -> &Catalog {
        &self.catalog
    }

    /// Records skipped so far, with why.
    pub fn processing_errors(&self) -> &[RecordError] {
        &self.processing_errors
    }

    /// Parses and executes one or more statements (DDL, CSAS/CTAS, INSERT, ...).
    pub fn execute_sql(&mut self, sql: &str) -> Result<(), EngineError> {
        let statements = parse_statements(sql).map_err(|e| EngineError::from(PlanError::from(e)))?;
        for parsed in statements {
            self.execute(&parsed)?;
        }
        Ok(())
    }

    /// Executes one parsed statement; returns the ids of the persistent queries it started.
    pub fn execute_statement(&mut self, parsed: &ParsedStatement) -> Result<Vec<String>, EngineError> {
        let before: std::collections::HashSet<String> = self.queries.iter().map(|q| q.id.clone()).collect();
        self.execute(parsed)?;
        Ok(self.queries.iter().filter(|q| !q.internal && !before.contains(&q.id)).map(|q| q.id.clone()).collect())
    }

    /// Executes one statement with `overrides` (request properties such as
    /// `auto.offset.reset`) over the engine's configuration for this statement only.
    pub fn execute_statement_with(&mut self, parsed: &ParsedStatement, overrides: &BTreeMap<String, String>) -> Result<Vec<String>, EngineError> {
        if overrides.is_empty() {
            return self.execute_statement(parsed);
        }
        let configured = self.config.properties.clone();
        self.config.properties.extend(overrides.iter().map(|(k, v)| (k.clone(), v.clone())));
        let outcome = self.execute_statement(parsed);
        self.config.properties = configured;
        outcome
    }

    /// Opens this service's command log (creating its topic); `None` when the engine does
    /// not run over Kafka.
    pub fn open_command_log(&mut self) -> Result<Option<CommandLog>, EngineError> {
        let Some(kafka) = self.kafka.clone() else { return Ok(None) };
        let service = self.service_id().to_string();
        Ok(Some(CommandLog::open(&service, &kafka, self.topics.as_mut())?))
    }

    /// Stops every query (persistent ones finish their current batch and commit) and ends
    /// push queries and PRINTs. The catalog stays as it is.
    pub fn stop_queries(&mut self) {
        self.transients.clear();
        self.taps.clear();
        // Dropping a Kafka query stops its thread and waits for it.
        self.queries.clear();
    }

    /// The ksql/streams properties the engine was configured with.
    pub fn properties(&self) -> &BTreeMap<String, String> {
        &self.config.properties
    }

    /// Starts a push query (`SELECT ... EMIT CHANGES [LIMIT n]`): a transient query whose
    /// results go to the returned handle, read from `auto.offset.reset` (in `properties`, else
    /// the engine's config; default latest). [`Engine::process`] feeds it; dropping the handle
    /// ends it.
    pub fn start_push_query(&mut self, sql: &str, properties: &BTreeMap<String, String>) -> Result<PushQuery, EngineError> {
        let statements = parse_statements(sql).map_err(|e| EngineError::from(PlanError::from(e)))?;
        let [parsed] = statements.as_slice() else {
            return Err(EngineError::statement(format!("Expected exactly one SELECT statement, got {}", statements.len())));
        };
        let Statement::Query(query) = &parsed.statement else {
            return Err(EngineError::statement("A push query must be a SELECT statement"));
        };
        if query.emit.is_none() {
            return Err(EngineError::statement("A push query needs EMIT CHANGES (without it, SELECT is a pull query)"));
        }
        if let Some(limit) = &query.invalid_limit {
            return Err(EngineError::statement(format!("Value must be integer for command: LIMIT (got {limit})")));
        }
        let planned = QueryPlanner::transient(&self.catalog, &self.context).plan(query, None)?;
        self.check_copartitioned(&planned)?;
        let mut pipeline = Pipeline::compile_transient(&planned.plan, &self.pipeline_options())?;
        let start = StartFrom::from_properties([
            properties.get("auto.offset.reset").map(String::as_str),
            properties.get("ksql.streams.auto.offset.reset").map(String::as_str),
            self.config.properties.get("ksql.streams.auto.offset.reset").map(String::as_str),
            self.config.properties.get("auto.offset.reset").map(String::as_str),
        ])?;
        let feed = match &self.kafka {
            Some(kafka) => Some(TopicFeed::open(kafka, pipeline.source_topic(), start == StartFrom::Earliest)?),
            None => {
                if start == StartFrom::Latest {
                    let end = end_position(self.topics.as_ref(), pipeline.source_topic());
                    pipeline.seek(end);
                }
                None
            }
        };
        let output = pipeline.output_schema().clone();
        let projection = planned
            .output
            .iter()
            .map(|c| output.index_of(&c.name))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| EngineError { kind: ErrorKind::Engine, message: format!("push query result: {e}") })?;
        let schema = Arc::new(output.project(&projection).map_err(RuntimeError::from)?);
        self.transients_started += 1;
        let id = if self.is_scalable_push(query, &planned, properties, start) {
            format!("SCALABLE_PUSH_QUERY_{}", self.transients_started)
        } else {
            format!("transient_{}_{}", planned.sources[0], self.transients_started)
        };
        let (sender, results) = tokio::sync::mpsc::channel(RESULT_CHANNEL_CAPACITY);
        self.transients.push(TransientQuery {
            id: id.clone(),
            statement: parsed.text.clone(),
            pipeline,
            projection,
            schema: schema.clone(),
            sender,
            pending: Default::default(),
            feed,
        });
        Ok(PushQuery {
            id,
            columns: planned.output.iter().map(|c| ResultColumn { name: c.name.clone(), data_type: c.data_type.clone() }).collect(),
            schema,
            limit: query.limit,
            results,
        })
    }

    /// Whether ksqlDB would run this push query as a scalable push query (v2): enabled by
    /// `ksql.query.push.v2.enabled`, reading from `latest`, a plain SELECT/WHERE over the
    /// output of a persistent query. It names the query `SCALABLE_PUSH_QUERY_<n>`; here both
    /// kinds run the same way (a tap on the source topic).
    fn is_scalable_push(
        &self,
        query: &runnel_parser::Query,
        planned: &runnel_planner::PlannedQuery,
        properties: &BTreeMap<String, String>,
        start: StartFrom,
    ) -> bool {
        let enabled = properties
            .get("ksql.query.push.v2.enabled")
            .or_else(|| self.config.properties.get("ksql.query.push.v2.enabled"))
            .is_some_and(|v| v.eq_ignore_ascii_case("true"));
        let simple = query.joins.is_empty() && query.group_by.is_empty() && query.window.is_none() && query.partition_by.is_empty();
        let from_query = planned.sources.iter().all(|s| !self.catalog.writers_of(s).is_empty());
        enabled && simple && from_query && start == StartFrom::Latest
    }

    /// Starts streaming a topic's raw records (`PRINT topic [FROM BEGINNING]`).
    pub fn start_print(&mut self, topic: &str, from_beginning: bool) -> Result<TopicPrint, EngineError> {
        if self.topics.partitions(topic).is_none() {
            return Err(EngineError::statement(format!("Could not find topic '{topic}', or the KSQL user does not have permissions to list the topic. Topic names are case-sensitive.")));
        }
        let (position, feed) = match &self.kafka {
            Some(kafka) => (0, Some(TopicFeed::open(kafka, topic, from_beginning)?)),
            None => (if from_beginning { 0 } else { end_position(self.topics.as_ref(), topic) }, None),
        };
        let (sender, records) = tokio::sync::mpsc::channel(RESULT_CHANNEL_CAPACITY);
        self.taps.push(TopicTap { topic: topic.to_string(), position, sender, feed });
        Ok(TopicPrint { topic: topic.to_string(), records })
    }

    /// Push queries currently running: (query id, statement text).
    pub fn transient_queries(&self) -> Vec<(String, String)> {
        self.transients.iter().filter(|q| !q.sender.is_closed()).map(|q| (q.id.clone(), q.statement.clone())).collect()
    }

    /// Ends a push query; false if there is none with this id.
    pub fn close_transient(&mut self, id: &str) -> bool {
        let before = self.transients.len();
        self.transients.retain(|q| q.id != id);
        self.transients.len() != before
    }

    /// Whether push queries or PRINTs are running (their clients may have made room for
    /// more results since the last [`Engine::process`]).
    pub fn has_transients(&self) -> bool {
        !self.transients.is_empty() || !self.taps.is_empty()
    }

    /// A pull query (`SELECT` without `EMIT CHANGES`): the result's Arrow schema (key columns
    /// marked with [`KEY_COLUMN_METADATA`]) and its rows. A table is read from its
    /// materialized rows, a stream from its topic up to the current end. `properties` are the
    /// request's overrides (e.g. `ksql.query.pull.table.scan.enabled`).
    pub fn pull_query(&mut self, sql: &str, properties: &BTreeMap<String, String>) -> Result<(arrow::datatypes::SchemaRef, Vec<RecordBatch>), EngineError> {
        let statements = parse_statements(sql).map_err(|e| EngineError::from(PlanError::from(e)))?;
        let [parsed] = statements.as_slice() else {
            return Err(EngineError::statement(format!("Expected exactly one SELECT statement, got {}", statements.len())));
        };
        let Statement::Query(query) = &parsed.statement else {
            return Err(EngineError::statement("A pull query must be a SELECT statement"));
        };
        if query.emit.is_some() {
            return Err(EngineError::statement("A pull query has no EMIT clause (with EMIT CHANGES, SELECT is a push query)"));
        }
        let settings =
            PullSettings::from_lookup(|key| properties.get(key).map(String::as_str).or_else(|| self.config.get(key)));
        let planned = QueryPlanner::transient(&self.catalog, &self.context).plan_pull(query, settings)?;
        let source = &planned.source;
        let provider: Arc<dyn datafusion::datasource::TableProvider> = match source.kind {
            SourceKind::Table => {
                let store = self.tables.get(&source.name).ok_or_else(|| {
                    EngineError::statement(format!(
                        "The `{name}` table isn't queryable. To derive a queryable table, you can do 'CREATE TABLE QUERYABLE_{name} AS SELECT * FROM {name}'. See https://cnfl.io/queries for more info.\nAdd EMIT CHANGES if you intended to issue a push query.",
                        name = source.name
                    ))
                })?;
                let partitions = self.topics.partitions(&source.topic).unwrap_or(1);
                Arc::new(StateTable::new(source.clone(), store.clone(), partitions))
            }
            SourceKind::Stream => {
                let (schema, batches) = self.read_stream(source)?;
                pull::stream_table(schema, batches)?
            }
        };
        Ok(pull::execute(&planned, provider)?)
    }

    /// Every record of a stream's topic up to its current end, decoded (records without a
    /// value carry no event and are left out; undecodable ones are skipped).
    fn read_stream(&self, def: &SourceDef) -> Result<(arrow::datatypes::SchemaRef, Vec<RecordBatch>), EngineError> {
        let mut decoder = crate::source::SourceDecoder::new(def.clone())?;
        let schema = decoder.schema().clone();
        let mut batches = Vec::new();
        let mut errors = Vec::new();
        let mut position = 0;
        let mut failure = None;
        loop {
            let next = self.topics.read(&def.topic, position, 4096, &mut |records| {
                match decoder.decode(&def.topic, records, &mut errors) {
                    Ok(decoded) => {
                        let keep: Vec<bool> = decoded.tombstone.iter().map(|t| !t).collect();
                        match arrow::compute::filter_record_batch(&decoded.batch, &arrow::array::BooleanArray::from(keep)) {
                            Ok(batch) if batch.num_rows() > 0 => batches.push(batch),
                            Ok(_) => {}
                            Err(e) => failure = Some(RuntimeError::from(e)),
                        }
                    }
                    Err(e) => failure = Some(e),
                }
            });
            if let Some(e) = failure.take() {
                return Err(e.into());
            }
            if next == position {
                return Ok((schema, batches));
            }
            position = next;
        }
    }

    fn execute(&mut self, parsed: &ParsedStatement) -> Result<(), EngineError> {
        let text = parsed.text.as_str();
        match &parsed.statement {
            Statement::CreateSource { or_replace, is_source, kind, if_not_exists, name, columns, properties } => {
                let noun = kind_name(*kind);
                if *or_replace && *is_source {
                    return Err(EngineError::statement(format!(
                        "Cannot add {noun} '{name}': CREATE OR REPLACE is not supported on source {noun}s."
                    )));
                }
                if let Some(existing) = self.catalog.source(name) {
                    if *if_not_exists {
                        return Ok(());
                    }
                    if *or_replace && existing.is_source {
                        return Err(EngineError::statement(format!(
                            "Cannot add {noun} '{name}': CREATE OR REPLACE is not supported on source {noun}s."
                        )));
                    }
                    if !*or_replace {
                        return Err(EngineError::statement(format!(
                            "Cannot add {noun} '{name}': A {} with the same name already exists",
                            kind_name(existing.kind)
                        )));
                    }
                }
                let def = plan_create_source(*kind, name, *is_source, columns, properties, &self.catalog.types, &self.config, text)?;
                // Against a real cluster a source names an existing topic unless PARTITIONS
                // asks for a new one (ksqlDB's rule); the test log creates topics on demand.
                if self.require_existing_topics && def.partitions.is_none() && self.topics.partitions(&def.topic).is_none() {
                    return Err(EngineError::statement(format!("Kafka topic does not exist: {}", def.topic)));
                }
                if def.partitions.is_none() && self.topics.partitions(&def.topic).is_none() {
                    self.assumed_partitions.insert(def.topic.clone());
                }
                self.topics.create_topic(&def.topic, def.partitions.unwrap_or(1))?;
                if def.is_source && def.kind == SourceKind::Table {
                    self.materialize_source_table(&def)?;
                }
                self.catalog.put_source(def);
                Ok(())
            }
            Statement::CreateAsSelect { or_replace, kind, if_not_exists, name, properties, query } => {
                if query.limit.is_some() || query.invalid_limit.is_some() {
                    let statement = if *kind == SourceKind::Stream { "CREATE STREAM AS SELECT" } else { "CREATE TABLE AS SELECT" };
                    return Err(EngineError::statement(format!("{statement} statements don't support LIMIT clause.")));
                }
                if let Some(existing) = self.catalog.source(name) {
                    if *if_not_exists {
                        return Ok(());
                    }
                    if !*or_replace {
                        return Err(EngineError::statement(format!(
                            "Cannot add {} '{name}': A {} with the same name already exists",
                            kind_name(*kind),
                            kind_name(existing.kind)
                        )));
                    }
                }
                let planner = QueryPlanner::new(&self.catalog, &self.context);
                let planned = planner.plan(query, Some(name))?;
                self.check_copartitioned(&planned)?;
                if planned.kind != *kind {
                    let (produces, use_kind) = match planned.kind {
                        SourceKind::Stream => ("STREAM", "STREAM"),
                        SourceKind::Table => ("TABLE", "TABLE"),
                    };
                    return Err(EngineError::statement(format!(
                        "Invalid result type. Your SELECT query produces a {produces}. Please use CREATE {use_kind} AS SELECT statement instead."
                    )));
                }
                let input = self.catalog.require_source(&planned.sources[0])?.clone();
                let sink = plan_sink(name, *kind, properties, &planned, &input, &self.config, text)?;
                let plan = planned.with_sink(name);
                let mut pipeline = Pipeline::compile_with(&plan, &sink, &self.persistent_pipeline_options())?;
                let partitions = sink.partitions.or_else(|| self.topics.partitions(&input.topic)).unwrap_or(1);
                self.topics.create_topic(&sink.topic, partitions)?;
                let prefix = if *kind == SourceKind::Stream { "CSAS" } else { "CTAS" };
                let id = format!("{prefix}_{name}_{}", self.catalog.next_query_number());
                self.create_internal_topics(&mut pipeline, &id, partitions)?;
                if *kind == SourceKind::Table {
                    // The table's rows are kept for pull queries.
                    let store = materialize::new_store(&sink)?;
                    let materializer = TableMaterializer::new(&sink, store.clone(), pipeline.output_schema(), partitions)?;
                    pipeline.materialize_into(materializer);
                    self.tables.insert(name.clone(), store);
                }
                self.start_query(id.clone(), pipeline)?;
                self.catalog.put_query(QueryDef {
                    id,
                    statement: text.to_string(),
                    sources: planned.sources.clone(),
                    sink: Some(name.clone()),
                });
                self.catalog.put_source(sink);
                Ok(())
            }
            Statement::InsertInto { target, query, .. } => {
                let sink = self.catalog.require_source(target)?.clone();
                if sink.kind == SourceKind::Table {
                    return Err(EngineError::statement(format!(
                        "INSERT INTO can only be used to insert into a stream. {target} is a table."
                    )));
                }
                if sink.is_source {
                    return Err(EngineError::statement(format!("Cannot insert into read-only {}: {target}", kind_name(sink.kind))));
                }
                if sink.columns.iter().any(|c| c.role == ColumnRole::Header) {
                    return Err(EngineError::statement(format!("Cannot insert into {target} because it has header columns")));
                }
                let planner = QueryPlanner::new(&self.catalog, &self.context);
                let planned = planner.plan(query, Some(target))?;
                self.check_copartitioned(&planned)?;
                // A query reading its own output (directly or through other queries) would feed
                // on itself forever.
                if planned.sources.iter().any(|s| self.feeds(target, s)) {
                    return Err(EngineError::statement(format!(
                        "Cannot insert into {target}: it is also a source of the query (directly or through other queries), which would read its own output."
                    )));
                }
                let result_schema: Vec<(String, SqlType, ColumnRole)> =
                    planned.output.iter().map(|c| (c.name.clone(), c.data_type.clone(), c.role)).collect();
                let sink_schema: Vec<(String, SqlType, ColumnRole)> =
                    sink.columns.iter().filter(|c| c.role != ColumnRole::Header).map(|c| (c.name.clone(), c.data_type.clone(), c.role)).collect();
                if result_schema != sink_schema {
                    return Err(EngineError::statement(format!(
                        "Incompatible schema between results and sink.\nResult schema is {}\nSink schema is {}",
                        render_schema(&result_schema, planned.kind),
                        render_schema(&sink_schema, sink.kind)
                    )));
                }
                let plan = planned.with_sink(target);
                let mut pipeline = Pipeline::compile_with(&plan, &sink, &self.persistent_pipeline_options())?;
                let id = format!("INSERTQUERY_{}", self.catalog.next_query_number());
                let partitions = self.topics.partitions(&sink.topic).unwrap_or(1);
                self.create_internal_topics(&mut pipeline, &id, partitions)?;
                self.start_query(id.clone(), pipeline)?;
                self.catalog.put_query(QueryDef {
                    id,
                    statement: text.to_string(),
                    sources: planned.sources.clone(),
                    sink: Some(target.clone()),
                });
                Ok(())
            }
            Statement::InsertValues { target, columns, values } => self.insert_values(target, columns.as_deref(), values),
            Statement::Drop { kind, if_exists, name, delete_topic } => {
                let Some(def) = self.catalog.source(name).cloned() else {
                    if *if_exists {
                        return Ok(());
                    }
                    return Err(EngineError::statement(format!("{} {name} does not exist.", capitalized(kind_name(*kind)))));
                };
                if def.kind != *kind {
                    return Err(EngineError::statement(format!(
                        "Incompatible data source type is {}, but statement was DROP {}",
                        kind_name(def.kind).to_ascii_uppercase(),
                        kind_name(*kind).to_ascii_uppercase()
                    )));
                }
                if *delete_topic && def.is_source {
                    return Err(EngineError::statement(format!("Cannot delete topic for read-only source: {name}")));
                }
                let readers: Vec<String> = self.catalog.readers_of(name).iter().map(|q| q.id.clone()).collect();
                if !readers.is_empty() {
                    return Err(EngineError::statement(format!(
                        "Cannot drop {name}.\nThe following queries read from this source: [{}].\nYou need to terminate them before dropping {name}.",
                        readers.join(", ")
                    )));
                }
                // The query writing a C*AS sink is terminated with it.
                for writer in self.catalog.writers_of(name).iter().map(|q| q.id.clone()).collect::<Vec<_>>() {
                    self.terminate(&writer);
                }
                self.catalog.remove_source(name);
                self.tables.remove(name);
                let task = source_table_task_id(name);
                self.queries.retain(|q| q.id != task);
                if *delete_topic {
                    self.topics.delete_topic(&def.topic);
                }
                Ok(())
            }
            Statement::CreateType { if_not_exists, name, data_type } => {
                if self.catalog.types.contains_key(name) {
                    if *if_not_exists {
                        return Ok(());
                    }
                    return Err(EngineError::statement(format!("Cannot register custom type '{name}' since it is already registered")));
                }
                let resolved = runnel_planner::types::resolve_custom(data_type, &self.catalog.types)?;
                self.catalog.types.insert(name.clone(), resolved);
                Ok(())
            }
            Statement::DropType { if_exists, name } => {
                if self.catalog.types.remove(name).is_none() && !*if_exists {
                    return Err(EngineError::statement(format!("Type {name} does not exist.")));
                }
                Ok(())
            }
            Statement::Terminate(target) => {
                match target {
                    runnel_parser::QueryTarget::All => {
                        for id in self.queries.iter().filter(|q| !q.internal).map(|q| q.id.clone()).collect::<Vec<_>>() {
                            self.terminate(&id);
                        }
                    }
                    runnel_parser::QueryTarget::Id(id) => {
                        if self.catalog.query(id).is_none() {
                            return Err(EngineError::statement(format!("Unknown queryId: {id}")));
                        }
                        self.terminate(id);
                    }
                }
                Ok(())
            }
            Statement::RunScript { .. } => {
                Err(EngineError::statement("RUN SCRIPT is only available in the CLI: the server does not read local files"))
            }
            Statement::Query(_) => Err(EngineError::statement(
                "The engine only runs persistent statements; SELECT is served by the server's /query endpoint",
            )),
            // Listing, describing and session statements do not change the engine.
            _ => Ok(()),
        }
    }

    fn pipeline_options(&self) -> PipelineOptions {
        PipelineOptions::from_properties(&self.config.properties)
    }

    /// Names the query's internal topics and creates them: changelogs with `partitions`,
    /// repartition topics with their join partner's count where they have one.
    fn create_internal_topics(&mut self, pipeline: &mut Pipeline, id: &str, partitions: i32) -> Result<(), EngineError> {
        for topic in pipeline.set_query_id(self.service_id(), id) {
            let like = pipeline.partitions_like(&topic).and_then(|t| self.topics.partitions(t));
            self.topics.create_topic(&topic, like.unwrap_or(partitions))?;
        }
        Ok(())
    }

    /// Options of persistent queries: these write internal topics the engine creates.
    fn persistent_pipeline_options(&self) -> PipelineOptions {
        PipelineOptions { repartition_topics: true, ..self.pipeline_options() }
    }

    /// Whether records written to `from` reach `to` through running queries (or `from == to`).
    fn feeds(&self, from: &str, to: &str) -> bool {
        let mut pending = vec![from.to_string()];
        let mut seen = std::collections::HashSet::new();
        while let Some(source) = pending.pop() {
            if source == to {
                return true;
            }
            if seen.insert(source.clone()) {
                pending.extend(self.catalog.readers_of(&source).iter().filter_map(|q| q.sink.clone()));
            }
        }
        false
    }

    fn terminate(&mut self, id: &str) {
        self.queries.retain(|q| q.id != id);
        // A table whose query stopped is no longer kept up to date: no pull queries on it.
        if let Some(sink) = self.catalog.remove_query(id).and_then(|q| q.sink) {
            self.tables.remove(&sink);
        }
    }

    /// The stream or table that INSERT VALUES or `/inserts-stream` writes to: it must exist and
    /// not be read-only.
    fn insert_target(&self, target: &str) -> Result<SourceDef, EngineError> {
        let sink = self
            .catalog
            .source(target)
            .ok_or_else(|| EngineError::statement(format!("Cannot insert values into an unknown stream/table: `{target}`")))?;
        if sink.is_source {
            return Err(EngineError::statement(format!("Cannot insert values into read-only {}: {target}", kind_name(sink.kind))));
        }
        Ok(sink.clone())
    }

    fn insert_values(
        &mut self,
        target: &str,
        columns: Option<&[String]>,
        values: &[runnel_parser::Expr],
    ) -> Result<(), EngineError> {
        let sink = self.insert_target(target)?;
        if let Some(cols) = columns {
            let headers: Vec<&str> = sink
                .columns
                .iter()
                .filter(|c| c.role == ColumnRole::Header && cols.contains(&c.name))
                .map(|c| c.name.as_str())
                .collect();
            if !headers.is_empty() {
                return Err(EngineError::statement(format!("Cannot insert into HEADER columns: {}", headers.join(", "))));
            }
        }
        let data_columns: Vec<&runnel_planner::Column> = sink.columns.iter().filter(|c| c.role != ColumnRole::Header).collect();
        let names: Vec<String> = match columns {
            Some(cols) => cols.to_vec(),
            None => data_columns.iter().map(|c| c.name.clone()).collect(),
        };
        if let Some(pseudo) = names.iter().find(|n| matches!(n.as_str(), "ROWPARTITION" | "ROWOFFSET")) {
            return Err(EngineError::statement(format!("Inserting into column `{pseudo}` is not allowed.")));
        }
        if columns.is_some() && names.len() != values.len() {
            return Err(EngineError::statement(format!(
                "Failed to prepare statement: Expected number columns and values to match: {}, {}",
                names.len(),
                values.len()
            )));
        }
        if names.len() != values.len() {
            return Err(EngineError::statement(format!(
                "Expected a value for each column. Expected Columns: [{}]. Got {}",
                names.join(", "),
                values.iter().map(|v| v.to_string()).collect::<Vec<_>>().join(", ")
            )));
        }
        let empty = DFSchema::empty();
        let planner = ExprPlanner::new(&self.context, &self.catalog.types);
        let one_row = RecordBatch::try_new_with_options(
            Arc::new(Schema::empty()),
            vec![],
            &RecordBatchOptions::new().with_row_count(Some(1)),
        )
        .map_err(RuntimeError::from)?;
        let mut provided: BTreeMap<String, ArrayRef> = BTreeMap::new();
        for (name, value) in names.iter().zip(values) {
            let target_type = if name == "ROWTIME" {
                DataType::Int64
            } else {
                let column = data_columns
                    .iter()
                    .find(|c| &c.name == name)
                    .ok_or_else(|| EngineError::statement(format!("Column name {name} does not exist.")))?;
                to_arrow(&column.data_type)
            };
            // VALUES are literals and expressions over them: a qualified column names no source.
            if let Some(qualifier) = value_qualifier(value) {
                return Err(EngineError::statement(format!("Failed to prepare statement: '{qualifier}' is not a valid stream/table name or alias.")));
            }
            let expr = planner.plan(value, &empty)?;
            let physical = physical(&expr, &empty)?;
            let array = physical
                .evaluate(&one_row)
                .and_then(|v| v.into_array(1))
                .map_err(|e| EngineError::statement(format!("Failed to insert values into '{target}'. {e}")))?;
            let array = cast(&array, &target_type).map_err(|_| {
                EngineError::statement(format!(
                    "Failed to insert values into '{target}'. Expected type {} for column {name} but got {value}",
                    target_type
                ))
            })?;
            provided.insert(name.clone(), array);
        }
        let mut fields = Vec::new();
        let mut arrays = Vec::new();
        for c in &data_columns {
            let dt = to_arrow(&c.data_type);
            arrays.push(provided.get(&c.name).cloned().unwrap_or_else(|| new_null_array(&dt, 1)));
            fields.push(Field::new(&c.name, dt, true));
        }
        fields.push(Field::new(SINK_TIMESTAMP, DataType::Int64, true));
        arrays.push(provided.get("ROWTIME").cloned().unwrap_or_else(|| Arc::new(arrow::array::Int64Array::from(vec![0i64]))));
        let batch = RecordBatch::try_new(Arc::new(Schema::new(fields)), arrays).map_err(RuntimeError::from)?;
        let writer = SinkWriter::new(&sink, &batch.schema())?;
        let mut errors = Vec::new();
        let records = writer.write(&batch, &[false], &[false], &[], &mut errors)?;
        if let Some(e) = errors.first() {
            return Err(EngineError::statement(format!("Failed to insert values into '{target}'. {}", e.message)));
        }
        for r in records {
            self.topics.append(&sink.topic, None, r)?;
        }
        Ok(())
    }

    /// Inserts rows given as JSON objects (the `/inserts-stream` payload) into `target`: object
    /// fields name columns, key columns included, case-insensitively; missing columns are NULL;
    /// `ROWTIME` is `timestamp`. The outer error is about the target; each row gets its own
    /// result, so one bad row does not stop the others.
    pub fn insert_json_rows(&mut self, target: &str, rows: &[&[u8]], timestamp: i64) -> Result<Vec<Result<(), EngineError>>, EngineError> {
        let sink = self.insert_target(target)?;
        let mut fields: Vec<Field> = sink
            .columns
            .iter()
            .filter(|c| c.role != ColumnRole::Header)
            .map(|c| Field::new(&c.name, to_arrow(&c.data_type), true))
            .collect();
        let schema = Arc::new(Schema::new(fields.clone()));
        let mut decoder = crate::format::Decoder::new(crate::format::Format::Json, schema, crate::format::Wrapping::Wrapped)
            .map_err(|e| EngineError::statement(format!("Cannot insert into {target}: {e}")))?;
        let payloads: Vec<Option<&[u8]>> = rows.iter().map(|r| Some(*r)).collect();
        let decoded = decoder.decode(&payloads).map_err(|e| EngineError::statement(format!("Failed to insert values into '{target}'. {e}")))?;
        let mut results: Vec<Result<(), EngineError>> = (0..rows.len()).map(|_| Ok(())).collect();
        for (row, e) in decoded.errors {
            results[row] = Err(EngineError::statement(format!("Failed to insert values into '{target}'. {e}")));
        }
        for row in decoded.null_records {
            results[row] = Err(EngineError::statement(format!("Failed to insert values into '{target}'. A row must be a JSON object, not null")));
        }
        fields.push(Field::new(SINK_TIMESTAMP, DataType::Int64, true));
        let mut columns = decoded.columns;
        columns.push(Arc::new(arrow::array::Int64Array::from(vec![timestamp; rows.len()])));
        let batch = RecordBatch::try_new(Arc::new(Schema::new(fields)), columns).map_err(RuntimeError::from)?;
        let writer = SinkWriter::new(&sink, &batch.schema())?;
        for (row, result) in results.iter_mut().enumerate() {
            if result.is_err() {
                continue;
            }
            let mut errors = Vec::new();
            let records = writer.write(&batch.slice(row, 1), &[false], &[false], &[], &mut errors)?;
            if let Some(e) = errors.first() {
                *result = Err(EngineError::statement(format!("Failed to insert values into '{target}'. {}", e.message)));
                continue;
            }
            for record in records {
                self.topics.append(&sink.topic, None, record)?;
            }
        }
        Ok(results)
    }

    /// Creates a topic (no-op if it exists).
    pub fn create_topic(&mut self, name: &str, partitions: i32) {
        // Only fails for a partition count below 1, which callers never pass.
        let _ = self.topics.create_topic(name, partitions.max(1));
    }

    /// Appends a record to a topic (the topic is created if missing); `partition`/`offset` in
    /// `record` are ignored and assigned.
    pub fn produce(&mut self, topic: &str, record: TopicRecord) -> Result<(), EngineError> {
        if self.topics.partitions(topic).is_none() {
            self.topics.create_topic(topic, 1)?;
        }
        self.topics.append(topic, None, record)?;
        Ok(())
    }

    /// Runs every persistent query until all input has been consumed.
    pub fn process(&mut self) -> Result<(), EngineError> {
        loop {
            let mut progressed = false;
            for q in &mut self.queries {
                let QueryTask::Stepped(pipeline) = &mut q.task else { continue };
                let read = pipeline.poll(self.topics.as_mut(), &mut self.processing_errors).map_err(|e| EngineError {
                    kind: ErrorKind::Processing,
                    message: format!("Exception caught in process. query={}: {e}", q.id),
                })?;
                progressed |= read > 0;
            }
            let topics = self.topics.as_mut();
            let errors = &mut self.processing_errors;
            self.transients.retain_mut(|q| match q.advance(topics, errors) {
                Some(read) => {
                    progressed |= read > 0;
                    true
                }
                None => false,
            });
            self.taps.retain_mut(|t| t.advance(topics).is_some());
            if !progressed {
                return Ok(());
            }
        }
    }

    /// All records of a topic in append order.
    pub fn records(&self, topic: &str) -> Vec<TopicRecord> {
        let mut records = Vec::new();
        self.topics.read(topic, 0, usize::MAX, &mut |batch| records.extend_from_slice(batch));
        records
    }

    /// Names of all topics that exist (including internal ones).
    pub fn topic_names(&self) -> Vec<String> {
        self.topics.topic_names()
    }

    /// Partition count of a topic, if it exists.
    pub fn topic_partitions(&self, topic: &str) -> Option<i32> {
        self.topics.partitions(topic)
    }

    /// The stream or table with this (already resolved, case-sensitive) name.
    pub fn source(&self, name: &str) -> Option<SourceDescription> {
        self.catalog.source(name).map(SourceDescription::from)
    }

    /// All sources reading or writing this topic.
    pub fn sources_for_topic(&self, topic: &str) -> Vec<SourceDescription> {
        self.catalog.sources().filter(|s| s.topic == topic).map(SourceDescription::from).collect()
    }
}

/// The qualifier of the first qualified column reference in `value`, if any (upper-cased
/// unless quoted, as ksql identifiers are).
fn value_qualifier(value: &datafusion::sql::sqlparser::ast::Expr) -> Option<String> {
    let mut found = None;
    let _ = datafusion::sql::sqlparser::ast::visit_expressions(value, |e| {
        if let datafusion::sql::sqlparser::ast::Expr::CompoundIdentifier(parts) = e {
            if let Some(first) = parts.first().filter(|_| parts.len() >= 2) {
                found = Some(if first.quote_style.is_some() { first.value.clone() } else { first.value.to_ascii_uppercase() });
                return std::ops::ControlFlow::Break(());
            }
        }
        std::ops::ControlFlow::Continue(())
    });
    found
}

/// The id of the task that materializes the source table `name`.
fn source_table_task_id(name: &str) -> String {
    format!("CST_{name}")
}

fn capitalized(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

fn render_schema(columns: &[(String, SqlType, ColumnRole)], kind: SourceKind) -> String {
    columns.iter().map(|(n, t, r)| column_text(n, t, *r, None, kind)).collect::<Vec<_>>().join(", ")
}
