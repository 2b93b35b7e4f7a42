//! A running persistent query: source decode -> stateless operators -> sink encode.
//!
//! The logical plan is compiled into a short push pipeline over Arrow batches: a filter
//! predicate and projection expressions become DataFusion `PhysicalExpr`s evaluated on whole
//! batches. An expression that fails on a batch is re-evaluated row by row so that only the
//! failing rows are affected (ksqlDB logs such a row and yields NULL for that expression;
//! a failing WHERE drops the row).

use std::sync::Arc;

use arrow::array::{new_null_array, Array, ArrayRef, AsArray, BooleanArray};
use arrow::compute::{cast, concat, filter_record_batch};
use arrow::datatypes::{DataType, Field, Fields, SchemaRef};
use arrow::record_batch::RecordBatch;
use datafusion::common::DFSchema;
use datafusion::execution::context::ExecutionProps;
use datafusion::logical_expr::physical_planning_context::PhysicalPlanningContext;
use datafusion::logical_expr::{Expr, LogicalPlan};
use datafusion::physical_expr::{create_physical_expr, PhysicalExpr};
use runnel_parser::SourceKind;
use runnel_planner::catalog::{ColumnRole, SourceDef, WindowType};
use runnel_planner::nodes::{
    AggregateNode, ExplodeNode, JoinNode, RepartitionNode, SinkNode, SourceTable, ROWTIME, SINK_TIMESTAMP, SINK_WINDOWEND, SINK_WINDOWSTART,
};
use runnel_planner::types::to_arrow;

use crate::aggregate::functions::DEFAULT_COLLECTION_LIMIT;
use crate::aggregate::{AggregateOperator, AggregateOutput};
use crate::error::{RuntimeError, RuntimeResult};
use crate::join::{timestamps, JoinOperator, Side};
use crate::materialize::TableMaterializer;
use crate::repartition::{ReadBack, RepartitionTopic};
use crate::state::{changelog_topic, internal_topic};
use crate::format::{encode, Format, Wrapping};
use crate::source::{runtime_format, wrapping, RecordError, RecordErrorKind, SourceDecoder};
use crate::topic::{Headers, Position, TopicRecord, TopicStore};

/// Records read per batch.
const BATCH_SIZE: usize = 4096;

/// One stateless step between source and sink.
enum Operator {
    Filter(Arc<dyn PhysicalExpr>),
    Project { exprs: Vec<Arc<dyn PhysicalExpr>>, schema: SchemaRef },
    /// Unnests the list columns at these positions.
    Explode { columns: Vec<usize>, schema: SchemaRef },
}

/// Settings that shape how a query runs (from the ksql/streams properties).
#[derive(Debug, Clone)]
pub struct PipelineOptions {
    /// Coalesce aggregate results per key per batch (`cache.max.bytes.buffering` > 0);
    /// otherwise every update is emitted.
    pub coalesce_updates: bool,
    /// Cap on COLLECT_LIST/COLLECT_SET/HISTOGRAM sizes.
    pub collection_limit: usize,
    /// A persistent query over a stream grouped by other than its key sends the rows through
    /// an internal repartition topic keyed by the group (set by the engine, which creates
    /// the topic; pipelines driven directly and transient queries re-key in place).
    pub repartition_topics: bool,
}

impl Default for PipelineOptions {
    fn default() -> Self {
        PipelineOptions { coalesce_updates: true, collection_limit: DEFAULT_COLLECTION_LIMIT, repartition_topics: false }
    }
}

impl PipelineOptions {
    /// Reads `[ksql.streams.]cache.max.bytes.buffering` and `ksql.functions.collect_{list,set}.limit`.
    pub fn from_properties(properties: &std::collections::BTreeMap<String, String>) -> Self {
        let get = |k: &str| properties.get(k).or_else(|| properties.get(&format!("ksql.streams.{k}")));
        let cache = get("cache.max.bytes.buffering").and_then(|v| v.trim().parse::<i64>().ok());
        let limit = properties
            .get("ksql.functions.collect_list.limit")
            .or_else(|| properties.get("ksql.functions.collect_set.limit"))
            .and_then(|v| v.trim().parse::<usize>().ok());
        PipelineOptions {
            coalesce_updates: cache.is_none_or(|c| c > 0),
            collection_limit: limit.unwrap_or(DEFAULT_COLLECTION_LIMIT),
            repartition_topics: false,
        }
    }
}

/// What one step of a query produced: records for the sink topic and for its internal topics.
#[derive(Debug, Default)]
pub struct PipelineOutput {
    pub sink: Vec<TopicRecord>,
    /// (changelog topic, record): state changes, partitioned by key.
    pub internal: Vec<(String, TopicRecord)>,
    /// (repartition topic, record): rows the query reads back, partitioned by their new key.
    pub repartition: Vec<(String, TopicRecord)>,
}

/// Result rows of a transient query, for its client: the projected batch and, per row,
/// whether it is a delete (a table tombstone).
#[derive(Debug, Clone)]
pub struct ResultBatch {
    pub batch: RecordBatch,
    pub tombstone: Vec<bool>,
}

/// Where a pipeline's results go.
enum Output {
    /// Encoded and appended to the sink topic (persistent queries).
    Topic(SinkWriter),
    /// Held for the client of a transient query until [`Pipeline::take_results`]; while any are
    /// held the pipeline reads no further, so a slow client holds back only its own query.
    Rows(Vec<ResultBatch>),
    /// Nowhere: the query only keeps a table's rows for pull queries (`CREATE SOURCE TABLE`).
    Discard,
}

/// Where the rows of a branch go once its operators ran.
#[derive(Debug, Clone, Copy)]
enum Target {
    /// The aggregate, or the output when there is none.
    Top,
    /// One side of a join (by index).
    Join(usize, Side),
    /// A repartition topic of the query (by index), read back by another input.
    Repartition(usize),
}

/// Stateless operators between two stateful points, and where their rows go.
struct Branch {
    operators: Vec<Operator>,
    /// Stream rows that a filter rejects are dropped; table rows become deletes.
    kind: SourceKind,
    target: Target,
}

/// One source topic of a query, decoded and run through its branch.
struct Input {
    topic: String,
    /// Reads the query's own repartition topic of this index (from its start, whatever the
    /// offset reset).
    internal: Option<usize>,
    kind: SourceKind,
    decoder: SourceDecoder,
    position: Position,
    branch: Branch,
}

/// A join and the operators between it and the next stateful point.
struct JoinStage {
    operator: JoinOperator,
    /// The ROWTIME column of each side's rows (left, right).
    timestamp_columns: (usize, usize),
    branch: Branch,
    /// Table joins whose branch filters: the keys whose last result passed the filter. A
    /// filtered-out result is a delete only for those (Kafka Streams' KTable filter with old
    /// values), so rows that never passed produce nothing.
    visible: Option<std::collections::HashSet<Vec<u8>>>,
}

/// Rows moving through a pipeline: `deleted[i]` marks deletes (tombstones), `origin[i]` is
/// the input record row `i` came from.
struct Flow {
    batch: RecordBatch,
    deleted: Vec<bool>,
    origin: Vec<usize>,
    /// After a join: each row's join key (identifies table rows for an aggregate).
    keys: Option<Vec<Vec<u8>>>,
}

/// A compiled query: persistent (writing a topic) or transient (handing rows to a client).
///
/// ```text
///  Input 0 ──branch──▶ Join 0 (left) ──branch──▶ Join 1 (left) ──branch──▶ [Aggregate ─▶ post operators] ─▶ Output
///  Input 1 ──branch──▶ Join 0 (right)             ▲
///  Input 2 ──branch───────────────────────────────┘ (right)
/// ```
/// A query without joins has one input whose branch goes straight to the top.
pub struct Pipeline {
    inputs: Vec<Input>,
    joins: Vec<JoinStage>,
    /// The kind of rows reaching the top (the aggregate or the output).
    top_kind: SourceKind,
    /// PARTITION BY computes new keys; otherwise a record without a key stays without one.
    rekeyed: bool,
    aggregate: Option<AggregateOperator>,
    /// Operators after the aggregate.
    post_operators: Vec<Operator>,
    output: Output,
    output_schema: SchemaRef,
    /// Changelog topic per store name, once the query has an id.
    changelogs: Vec<(String, String)>,
    /// Keeps the result table's current rows for pull queries.
    materializer: Option<TableMaterializer>,
    /// The repartition topics branches write to (see [`crate::repartition`]).
    repartitions: Vec<RepartitionTopic>,
}

impl Pipeline {
    /// Compiles `plan` (rooted at a Sink node) writing to `sink`, with default options.
    pub fn compile(plan: &LogicalPlan, sink: &SourceDef) -> RuntimeResult<Self> {
        Self::compile_with(plan, sink, &PipelineOptions::default())
    }

    /// Compiles `plan` (rooted at a Sink node) writing to `sink`.
    pub fn compile_with(plan: &LogicalPlan, sink: &SourceDef, options: &PipelineOptions) -> RuntimeResult<Self> {
        Self::compile_to(plan, options, true, |schema| Ok(Output::Topic(SinkWriter::new(sink, schema)?)))
    }

    /// Compiles a transient query's `plan` (no Sink node) whose results are collected as
    /// batches of the final projection (see [`Pipeline::take_results`]).
    pub fn compile_transient(plan: &LogicalPlan, options: &PipelineOptions) -> RuntimeResult<Self> {
        Self::compile_to(plan, options, false, |_| Ok(Output::Rows(Vec::new())))
    }

    /// Compiles a query whose results go nowhere but to the materializer it is given (the
    /// rows of a source table, see [`Pipeline::materialize_into`]).
    pub fn compile_to_discard(plan: &LogicalPlan, options: &PipelineOptions) -> RuntimeResult<Self> {
        Self::compile_to(plan, options, false, |_| Ok(Output::Discard))
    }

    /// Also keeps the results' current rows (the query writes a table) for pull queries.
    pub fn materialize_into(&mut self, materializer: TableMaterializer) {
        self.materializer = Some(materializer);
    }

    fn compile_to(
        plan: &LogicalPlan,
        options: &PipelineOptions,
        persistent: bool,
        output: impl FnOnce(&SchemaRef) -> RuntimeResult<Output>,
    ) -> RuntimeResult<Self> {
        let mut compiler = Compiler {
            options,
            // Only a persistent query may write internal topics (the engine creates them).
            repartition_topics: persistent && options.repartition_topics,
            inputs: Vec::new(),
            joins: Vec::new(),
            aggregate: None,
            post_operators: None,
            rekeyed: false,
            repartitions: Vec::new(),
        };
        let top_kind = compiler.compile_branch(plan, Target::Top)?;
        let Compiler { inputs, joins, aggregate, post_operators, rekeyed, repartitions, .. } = compiler;
        let post_operators = post_operators.unwrap_or_default();
        let last = if aggregate.is_some() {
            post_operators.last()
        } else {
            // The operators next to the output: the top join's branch, or the only input's.
            let top_branch = joins.iter().map(|j| &j.branch).chain(inputs.iter().map(|i| &i.branch)).find(|b| matches!(b.target, Target::Top));
            top_branch.and_then(|b| b.operators.last())
        };
        let output_schema = match last {
            Some(Operator::Project { schema, .. } | Operator::Explode { schema, .. }) => schema.clone(),
            _ => return Err(RuntimeError::Internal("plan without a projection".into())),
        };
        if inputs.is_empty() {
            return Err(RuntimeError::Internal("plan without a source".into()));
        }
        Ok(Pipeline {
            inputs,
            joins,
            top_kind,
            rekeyed,
            aggregate,
            post_operators,
            output: output(&output_schema)?,
            output_schema,
            changelogs: Vec::new(),
            materializer: None,
            repartitions,
        })
    }

    /// Names this query's changelog topics (`_runnel-<service>-query_<id>-<store>-changelog`);
    /// returns them so they can be created.
    pub fn set_query_id(&mut self, service_id: &str, query_id: &str) -> Vec<String> {
        let mut stores: Vec<String> = self.joins.iter().flat_map(|j| j.operator.store_names()).collect();
        if let Some(a) = &self.aggregate {
            stores.extend(a.store_names().into_iter().map(str::to_string));
        }
        self.changelogs = stores.into_iter().map(|s| {
            let topic = changelog_topic(service_id, query_id, &s);
            (s, topic)
        }).collect();
        for (r, repartition) in self.repartitions.iter_mut().enumerate() {
            repartition.set_topic(internal_topic(service_id, query_id, &repartition.name));
            for input in self.inputs.iter_mut().filter(|i| i.internal == Some(r)) {
                input.topic = repartition.topic().to_string();
            }
        }
        self.internal_topics()
    }

    /// The schema of the final projection (including hidden sink columns such as `__ROWTIME`).
    pub fn output_schema(&self) -> &SchemaRef {
        &self.output_schema
    }

    /// The topic this query reads (the first, for a join).
    pub fn source_topic(&self) -> &str {
        &self.inputs[0].topic
    }

    /// Every topic this query reads, in input order (see [`Pipeline::process_input`]).
    pub fn input_topics(&self) -> Vec<String> {
        self.inputs.iter().map(|i| i.topic.clone()).collect()
    }

    /// Whether input `input` is one side of a join: such inputs are read in timestamp order
    /// against each other; the others (a single source, a repartition topic) as they come.
    pub fn joins_input(&self, input: usize) -> bool {
        self.inputs.get(input).is_some_and(|i| matches!(i.branch.target, Target::Join(..)))
    }

    /// Whether input `input` reads back one of the query's repartition topics.
    pub fn reads_back(&self, input: usize) -> bool {
        self.inputs.get(input).is_some_and(|i| i.internal.is_some())
    }

    /// The query's repartition topics, read back from their start.
    pub fn repartition_topics(&self) -> Vec<String> {
        self.repartitions.iter().map(|r| r.topic().to_string()).collect()
    }

    /// The input topic whose partition count a repartition topic must have (a join side's
    /// partner, for co-partitioning); `None` for other topics.
    pub fn partitions_like(&self, topic: &str) -> Option<&str> {
        self.repartitions.iter().find(|r| r.topic() == topic).and_then(|r| r.partitions_like.as_deref())
    }

    /// The topic this query writes (empty for a transient query, which writes no topic).
    pub fn sink_topic(&self) -> &str {
        match &self.output {
            Output::Topic(sink) => &sink.topic,
            Output::Rows(_) | Output::Discard => "",
        }
    }

    /// Makes the next poll read from `position` (e.g. the end of the topic for
    /// `auto.offset.reset=latest`).
    pub fn seek(&mut self, position: Position) {
        // A join reads its tables from the beginning: only the streams start later.
        let single = self.inputs.len() == 1;
        for input in self.inputs.iter_mut().filter(|i| i.internal.is_none()) {
            if input.kind == SourceKind::Stream || single {
                input.position = position;
            }
        }
    }

    /// The results a transient pipeline holds (empty for persistent ones).
    pub fn take_results(&mut self) -> Vec<ResultBatch> {
        match &mut self.output {
            Output::Rows(held) => std::mem::take(held),
            Output::Topic(_) | Output::Discard => Vec::new(),
        }
    }

    /// The internal topics this query writes (changelogs, repartition topic), after
    /// [`Pipeline::set_query_id`].
    pub fn internal_topics(&self) -> Vec<String> {
        let mut topics = self.changelog_topics();
        topics.extend(self.repartition_topics());
        topics
    }

    /// The changelog topics its state is restored from (see [`Pipeline::restore`]).
    pub fn changelog_topics(&self) -> Vec<String> {
        self.changelogs.iter().map(|(_, t)| t.clone()).collect()
    }

    /// Whether the query's results are updates of a key that may be coalesced (an aggregate
    /// with `cache.max.bytes.buffering` > 0): a runner may then hold them back and emit only
    /// the last one per key per commit interval.
    pub fn coalesces_updates(&self) -> bool {
        self.aggregate.as_ref().is_some_and(|a| a.coalesces())
    }

    /// Records dropped because their window had closed (late beyond the grace period).
    pub fn late_records(&self) -> u64 {
        self.aggregate.as_ref().map_or(0, |a| a.late_records())
    }

    /// Entries held in the query's state stores.
    pub fn state_entries(&self) -> usize {
        self.aggregate.as_ref().map_or(0, |a| a.state_entries()) + self.joins.iter().map(|j| j.operator.state_entries()).sum::<usize>()
    }

    /// Rebuilds the state stores from records of one of [`Pipeline::changelog_topics`], in
    /// topic order (call before processing input).
    pub fn restore(&mut self, changelog_topic: &str, records: &[TopicRecord]) -> RuntimeResult<()> {
        let Some(store) = self.changelogs.iter().find(|(_, t)| t == changelog_topic).map(|(s, _)| s.clone()) else {
            return Err(RuntimeError::Execution(format!("{changelog_topic} is not a changelog topic of this query")));
        };
        let pairs: Vec<crate::aggregate::ChangelogEntry> = records.iter().map(|r| (r.key.clone(), r.value.clone())).collect();
        if let Some(join) = self.joins.iter_mut().find(|j| j.operator.store_names().contains(&store)) {
            return join.operator.restore(&store, &pairs);
        }
        let Some(aggregate) = self.aggregate.as_mut() else { return Ok(()) };
        aggregate.restore(&store, &pairs)
    }

    /// EMIT FINAL windows also close by wall-clock time: emits those whose end + grace is at
    /// or before `now_ms`. Never called from processing, so runs stay deterministic.
    pub fn on_wall_clock(&mut self, now_ms: i64, errors: &mut Vec<RecordError>) -> RuntimeResult<PipelineOutput> {
        let Some(aggregate) = self.aggregate.as_mut() else { return Ok(PipelineOutput::default()) };
        let out = aggregate.on_wall_clock(now_ms)?;
        self.finish_aggregate(out, &[], errors)
    }

    /// Processes everything available on the source topics. Returns the number of records read.
    ///
    /// A query over several topics reads them in the order their records were appended when
    /// the store keeps that order (as the in-memory one does), so a replay is deterministic.
    pub fn poll(&mut self, topics: &mut dyn TopicStore, errors: &mut Vec<RecordError>) -> RuntimeResult<usize> {
        let mut total = 0;
        loop {
            if matches!(&self.output, Output::Rows(held) if !held.is_empty()) {
                return Ok(total);
            }
            let Some((input, max)) = self.next_input(topics) else { return Ok(total) };
            // Records are processed while borrowed from the log; outputs are appended after.
            let mut outcome: Option<RuntimeResult<PipelineOutput>> = None;
            let topic = self.inputs[input].topic.clone();
            let position = self.inputs[input].position;
            let next = topics.read(&topic, position, max, &mut |records| {
                total += records.len();
                outcome = Some(self.process_input(input, records, errors));
            });
            let Some(out) = outcome else { return Ok(total) };
            self.inputs[input].position = next;
            let out = out?;
            if let Output::Topic(sink) = &self.output {
                for record in out.sink {
                    topics.append(&sink.topic, None, record)?;
                }
            }
            for (topic, record) in out.internal.into_iter().chain(out.repartition) {
                topics.append(&topic, None, record)?;
            }
        }
    }

    /// The input to read next and how many of its records to read: the one holding the
    /// earliest appended record, up to the first record appended after another input's next.
    fn next_input(&self, topics: &dyn TopicStore) -> Option<(usize, usize)> {
        if self.inputs.len() == 1 {
            return Some((0, BATCH_SIZE));
        }
        // Rows the query wrote to its repartition topics go on first, as Kafka Streams' test
        // driver forwards them: a repartitioned join side meets the other side as it was.
        if let Some(input) = self.inputs.iter().position(|i| i.internal.is_some() && topics.sequence(&i.topic, i.position).is_some()) {
            return Some((input, BATCH_SIZE));
        }
        let heads: Vec<Option<u64>> = self.inputs.iter().map(|i| topics.sequence(&i.topic, i.position)).collect();
        let Some((input, _)) = heads.iter().enumerate().filter_map(|(i, h)| h.map(|h| (i, h))).min_by_key(|(_, h)| *h) else {
            // No append order known: each input in turn (only an input with records reads any).
            let input = self.inputs.iter().position(|i| {
                let mut any = false;
                topics.read(&i.topic, i.position, 1, &mut |r| any = !r.is_empty());
                any
            })?;
            return Some((input, BATCH_SIZE));
        };
        let bound = heads.iter().enumerate().filter(|(i, _)| *i != input).filter_map(|(_, h)| *h).min().unwrap_or(u64::MAX);
        let topic = &self.inputs[input].topic;
        let start = self.inputs[input].position;
        let mut count = 1;
        while count < BATCH_SIZE && topics.sequence(topic, start + count).is_some_and(|s| s < bound) {
            count += 1;
        }
        Some((input, count))
    }

    /// Processes records of the (first) source topic, in order, and returns what they produce.
    pub fn process(&mut self, records: &[TopicRecord], errors: &mut Vec<RecordError>) -> RuntimeResult<PipelineOutput> {
        self.process_input(0, records, errors)
    }

    /// Processes records of input `input` (see [`Pipeline::input_topics`]), in order.
    pub fn process_input(&mut self, input: usize, records: &[TopicRecord], errors: &mut Vec<RecordError>) -> RuntimeResult<PipelineOutput> {
        let Some(source) = self.inputs.get_mut(input) else {
            return Err(RuntimeError::Internal(format!("query has no input {input}")));
        };
        let mut decoded = source.decoder.decode(&source.topic, records, errors)?;
        if source.kind == SourceKind::Table && decoded.rows.iter().any(|&r| records[r].key.is_none()) {
            // A table row needs a key: records without one are skipped (as Kafka Streams does).
            let keep: Vec<bool> = decoded.rows.iter().map(|&r| records[r].key.is_some()).collect();
            decoded.batch = filter_record_batch(&decoded.batch, &BooleanArray::from(keep.clone()))?;
            decoded.tombstone = decoded.tombstone.iter().zip(&keep).filter(|(_, k)| **k).map(|(t, _)| *t).collect();
            decoded.rows = decoded.rows.iter().zip(&keep).filter(|(_, k)| **k).map(|(r, _)| *r).collect();
        }
        // A null value is a delete for tables and a null-valued event for streams (whose
        // columns read as NULL): either way it is forwarded as a record without a value.
        let flow = Flow { batch: decoded.batch, deleted: decoded.tombstone, origin: decoded.rows, keys: None };
        let flow = run_operators(&source.branch.operators, source.branch.kind, flow)?;
        let mut target = source.branch.target;
        let mut flow = flow;
        let mut changelog = Vec::new();
        while let Target::Join(j, side) = target {
            let stage = &mut self.joins[j];
            let ts_column = match side {
                Side::Left => stage.timestamp_columns.0,
                Side::Right => stage.timestamp_columns.1,
            };
            let ts = timestamps(&flow.batch, ts_column);
            let out = stage.operator.on_batch(side, &flow.batch, &flow.deleted, &ts)?;
            for (store, key, value, timestamp) in stage.operator.take_changelog()? {
                if let Some((_, topic)) = self.changelogs.iter().find(|(s, _)| *s == store) {
                    changelog.push((topic.clone(), TopicRecord { key, value, timestamp, ..TopicRecord::default() }));
                }
            }
            let origin: Vec<usize> = out.origin.iter().map(|&r| flow.origin[r]).collect();
            let joined = Flow { batch: out.batch, deleted: out.deleted, origin, keys: Some(out.keys) };
            flow = run_operators(&stage.branch.operators, stage.branch.kind, joined)?;
            if let (Some(visible), Some(keys)) = (stage.visible.as_mut(), flow.keys.as_mut()) {
                let keep: Vec<bool> = flow
                    .deleted
                    .iter()
                    .zip(keys.iter())
                    .map(|(&deleted, key)| if deleted { visible.remove(key) } else { {
                        visible.insert(key.clone());
                        true
                    } })
                    .collect();
                if keep.iter().any(|k| !k) {
                    let mask = BooleanArray::from(keep.clone());
                    flow.batch = filter_record_batch(&flow.batch, &mask)?;
                    flow.deleted = flow.deleted.iter().zip(&keep).filter(|(_, k)| **k).map(|(d, _)| *d).collect();
                    flow.origin = flow.origin.iter().zip(&keep).filter(|(_, k)| **k).map(|(o, _)| *o).collect();
                    *keys = std::mem::take(keys).into_iter().zip(&keep).filter(|(_, k)| **k).map(|(key, _)| key).collect();
                }
            }
            target = stage.branch.target;
        }
        if let Target::Repartition(r) = target {
            let repartition = self.repartitions.get(r).ok_or_else(|| RuntimeError::Internal(format!("no repartition topic {r}")))?;
            let repartitioned = match self.aggregate.as_mut().filter(|_| repartition.table_changes) {
                Some(aggregate) => {
                    // Table rows are told apart by their key: a join's key after a join.
                    let keys: Vec<Option<&[u8]>> = match &flow.keys {
                        Some(keys) => keys.iter().map(|k| Some(k.as_slice())).collect(),
                        None => flow.origin.iter().map(|&o| records.get(o).and_then(|r| r.key.as_deref())).collect(),
                    };
                    let changes = aggregate.table_changes(&flow.batch, &flow.deleted, &keys)?;
                    let origin: Vec<usize> = changes.origin.iter().map(|&i| flow.origin[i]).collect();
                    let none = vec![false; origin.len()];
                    let rows = repartition.write(&changes.batch, &none, &origin, records, errors)?;
                    changelog.extend(self.aggregate_changelog()?);
                    rows
                }
                None => repartition.write(&flow.batch, &flow.deleted, &flow.origin, records, errors)?,
            };
            return Ok(PipelineOutput { sink: Vec::new(), internal: changelog, repartition: repartitioned });
        }
        let mut out = self.finish_top(flow, records, errors)?;
        changelog.append(&mut out.internal);
        out.internal = changelog;
        Ok(out)
    }

    /// Hands rows that reached the top to the aggregate or the output.
    fn finish_top(&mut self, flow: Flow, records: &[TopicRecord], errors: &mut Vec<RecordError>) -> RuntimeResult<PipelineOutput> {
        let Flow { batch, deleted, origin, keys: join_keys } = flow;
        if let Some(aggregate) = self.aggregate.as_mut() {
            let keys: Vec<Option<&[u8]>> = match &join_keys {
                Some(keys) => keys.iter().map(|k| Some(k.as_slice())).collect(),
                None => origin.iter().map(|&r| records[r].key.as_deref()).collect(),
            };
            let out = aggregate.on_batch(&batch, &deleted, &keys)?;
            // Like Kafka Streams, results carry the headers of the record being processed.
            let headers: Vec<Headers> =
                out.origin.iter().map(|o| o.map(|r| records[origin[r]].headers.clone()).unwrap_or_default()).collect();
            return self.finish_aggregate(out, &headers, errors);
        }
        if let Some(materializer) = &mut self.materializer {
            materializer.apply(&batch, &deleted)?;
        }
        match &mut self.output {
            Output::Discard => Ok(PipelineOutput::default()),
            Output::Topic(sink) => {
                // Like Kafka Streams, outputs carry the headers of the record they came from.
                let headers: Vec<_> = origin.iter().map(|&r| records[r].headers.clone()).collect();
                let keyless: Vec<bool> = origin.iter().map(|&r| !self.rekeyed && records[r].key.is_none()).collect();
                Ok(PipelineOutput { sink: sink.write(&batch, &deleted, &keyless, &headers, errors)?, ..PipelineOutput::default() })
            }
            Output::Rows(held) => {
                // A client sees changes, not records: on streams, records without a value
                // carry no event; on tables, records without a key are invalid, and rows a
                // filter turned into deletes are left out (only real tombstones are shown).
                let joined = !self.joins.is_empty();
                let keep: Vec<bool> = origin
                    .iter()
                    .zip(&deleted)
                    .map(|(&r, &deleted)| {
                        let record = &records[r];
                        match self.top_kind {
                            SourceKind::Stream => joined || record.value.is_some(),
                            SourceKind::Table if joined => true,
                            SourceKind::Table => record.key.is_some() && (!deleted || record.value.is_none()),
                        }
                    })
                    .collect();
                let batch = if keep.iter().all(|k| *k) { batch } else { filter_record_batch(&batch, &BooleanArray::from(keep.clone()))? };
                let tombstone: Vec<bool> = deleted.iter().zip(&keep).filter(|(_, k)| **k).map(|(d, _)| *d).collect();
                if batch.num_rows() > 0 {
                    held.push(ResultBatch { batch, tombstone });
                }
                Ok(PipelineOutput::default())
            }
        }
    }

    /// Runs the aggregate's results through the operators after it and encodes them (or, for
    /// a transient query, hands them to the client), with the changelog records of the state
    /// written meanwhile.
    fn finish_aggregate(&mut self, out: AggregateOutput, headers: &[Headers], errors: &mut Vec<RecordError>) -> RuntimeResult<PipelineOutput> {
        let mut batch = out.batch;
        for op in &self.post_operators {
            if let Operator::Project { exprs, schema } = op {
                batch = project(exprs, schema, &batch)?;
            }
        }
        if let Some(materializer) = &mut self.materializer {
            materializer.apply(&batch, &out.deleted)?;
        }
        let sink = match &mut self.output {
            Output::Discard => Vec::new(),
            Output::Topic(sink) => {
                let keyless = vec![false; batch.num_rows()];
                sink.write(&batch, &out.deleted, &keyless, headers, errors)?
            }
            Output::Rows(held) => {
                if batch.num_rows() > 0 {
                    held.push(ResultBatch { batch, tombstone: out.deleted });
                }
                Vec::new()
            }
        };
        Ok(PipelineOutput { sink, internal: self.aggregate_changelog()?, repartition: Vec::new() })
    }

    /// The changelog records of the aggregate's store writes since the last call.
    fn aggregate_changelog(&mut self) -> RuntimeResult<Vec<(String, TopicRecord)>> {
        let mut changelog = Vec::new();
        if let Some(aggregate) = self.aggregate.as_mut() {
            for (store, key, value, timestamp) in aggregate.take_changelog()? {
                if let Some((_, topic)) = self.changelogs.iter().find(|(s, _)| s == store) {
                    changelog.push((topic.clone(), TopicRecord { key, value, timestamp, ..TopicRecord::default() }));
                }
            }
        }
        Ok(changelog)
    }
}

/// Walks a logical plan from the sink down, building the inputs, joins and top of a pipeline.
struct Compiler<'o> {
    options: &'o PipelineOptions,
    inputs: Vec<Input>,
    joins: Vec<JoinStage>,
    aggregate: Option<AggregateOperator>,
    post_operators: Option<Vec<Operator>>,
    rekeyed: bool,
    /// Stateful steps that need rows moved to another partition write a repartition topic.
    repartition_topics: bool,
    repartitions: Vec<RepartitionTopic>,
}

impl Compiler<'_> {
    /// Compiles the stateless operators from `node` down to the next join or scan into a
    /// branch whose rows go to `target`; returns the kind of the rows it carries.
    fn compile_branch(&mut self, plan: &LogicalPlan, target: Target) -> RuntimeResult<SourceKind> {
        let mut operators = Vec::new();
        let mut node = plan;
        loop {
            match node {
                LogicalPlan::Extension(ext) => {
                    let any = ext.node.as_any();
                    if let Some(s) = any.downcast_ref::<SinkNode>() {
                        node = &s.input;
                    } else if let Some(a) = any.downcast_ref::<AggregateNode>() {
                        if self.aggregate.is_some() || !matches!(target, Target::Top) {
                            return Err(RuntimeError::Execution("only one aggregation, at the top of a query, is supported".into()));
                        }
                        let having = match &a.having {
                            Some(h) => Some(physical(h, &a.schema)?),
                            None => None,
                        };
                        self.aggregate = Some(AggregateOperator::new(a, having, self.options.coalesce_updates, self.options.collection_limit)?);
                        operators.reverse();
                        self.post_operators = Some(std::mem::take(&mut operators));
                        self.rekeyed = true;
                        if a.repartition && self.repartition_topics {
                            if let Some(kind) = self.compile_repartition(a)? {
                                return Ok(kind);
                            }
                        }
                        node = &a.input;
                    } else if let Some(x) = any.downcast_ref::<ExplodeNode>() {
                        let schema = Arc::new(x.schema.as_arrow().clone());
                        let columns = x.columns.iter().map(|c| schema.index_of(c)).collect::<Result<Vec<_>, _>>()?;
                        operators.push(Operator::Explode { columns, schema });
                        node = &x.input;
                    } else if let Some(r) = any.downcast_ref::<RepartitionNode>() {
                        // One process holds every partition: re-keying needs no shuffle here.
                        self.rekeyed = true;
                        node = &r.input;
                    } else if let Some(j) = any.downcast_ref::<JoinNode>() {
                        self.rekeyed = true;
                        let index = self.joins.len();
                        let timestamp_columns = (timestamp_column(&j.left)?, timestamp_column(&j.right)?);
                        operators.reverse();
                        let kind = if matches!(j.strategy, runnel_planner::nodes::JoinStrategy::TableTable | runnel_planner::nodes::JoinStrategy::ForeignKey) {
                            SourceKind::Table
                        } else {
                            SourceKind::Stream
                        };
                        let filters = operators.iter().any(|o| matches!(o, Operator::Filter(_)));
                        self.joins.push(JoinStage {
                            operator: JoinOperator::new(j, index)?,
                            timestamp_columns,
                            branch: Branch { operators, kind, target },
                            visible: (kind == SourceKind::Table && filters).then(std::collections::HashSet::new),
                        });
                        self.compile_join_side(j, index, Side::Left)?;
                        self.compile_join_side(j, index, Side::Right)?;
                        return Ok(kind);
                    } else {
                        return Err(RuntimeError::Execution(format!("{} is not supported by the runtime yet", ext.node.name())));
                    }
                }
                LogicalPlan::Projection(p) => {
                    let input_schema = p.input.schema();
                    let exprs = p.expr.iter().map(|e| physical(e, input_schema)).collect::<RuntimeResult<_>>()?;
                    let schema = Arc::new(p.schema.as_arrow().clone());
                    operators.push(Operator::Project { exprs, schema });
                    node = &p.input;
                }
                LogicalPlan::Filter(f) => {
                    operators.push(Operator::Filter(physical(&f.predicate, f.input.schema())?));
                    node = &f.input;
                }
                LogicalPlan::TableScan(scan) => {
                    let any: &dyn std::any::Any = scan.source.as_ref();
                    let table = any
                        .downcast_ref::<SourceTable>()
                        .ok_or_else(|| RuntimeError::Internal("scan of a non-ksql relation".into()))?;
                    let source = table.source.clone();
                    operators.reverse();
                    let kind = source.kind;
                    self.inputs.push(Input {
                        topic: source.topic.clone(),
                        internal: None,
                        kind,
                        decoder: SourceDecoder::new(source)?,
                        position: 0,
                        branch: Branch { operators, kind, target },
                    });
                    return Ok(kind);
                }
                other => {
                    return Err(RuntimeError::Execution(format!("plan node {} is not supported by the runtime yet", other.display())))
                }
            }
        }
    }
}

impl Compiler<'_> {
    /// Splits an aggregation at a repartition topic: the rows of the aggregate's input go
    /// through it, keyed by their group, and come back through an input of their own whose
    /// rows go to the aggregate. Returns `None`, to re-key in place, when a column type cannot
    /// be written to a topic.
    fn compile_repartition(&mut self, aggregate: &AggregateNode) -> RuntimeResult<Option<SourceKind>> {
        let Some(operator) = self.aggregate.as_mut() else { return Ok(None) };
        // A table's rows go as changes (old and new row of a key), so that a row moving to
        // another group is retracted where it was.
        let rows: SchemaRef =
            if aggregate.table_input { operator.change_schema() } else { Arc::new(aggregate.input.schema().as_arrow().clone()) };
        let Some((mut topic, read)) = RepartitionTopic::group_by(&rows, aggregate.key_count)? else { return Ok(None) };
        if aggregate.table_input {
            operator.read_changes();
            topic.table_changes = true;
        }
        let r = self.read_back(topic, read, Target::Top);
        Ok(Some(self.compile_branch(&aggregate.input, Target::Repartition(r))?))
    }

    /// Compiles one side of join `index`: through a repartition topic keyed by its join key
    /// when the planner asks for one (and the query may write internal topics), else directly.
    fn compile_join_side(&mut self, join: &JoinNode, index: usize, side: Side) -> RuntimeResult<()> {
        let target = Target::Join(index, side);
        let (plan, key, partner, repartition, name) = match side {
            Side::Left => (&join.left, &join.left_key, &join.right, join.repartition.0, "left"),
            Side::Right => (&join.right, &join.right_key, &join.left, join.repartition.1, "right"),
        };
        if !(repartition && self.repartition_topics) {
            self.compile_branch(plan, target)?;
            return Ok(());
        }
        // Keyed like the partner side when it is a source read as it is (same key type and
        // format, so that equal keys go to partitions of the same number), else by JSON.
        let partner_repartitioned = match side {
            Side::Left => join.repartition.1,
            Side::Right => join.repartition.0,
        };
        let partner_def = scan_source(partner).filter(|d| !partner_repartitioned && d.key_columns().count() == 1);
        let key_type = match partner_def.and_then(|d| d.key_columns().next()) {
            Some(c) => to_arrow(&c.data_type),
            None => datafusion::logical_expr::ExprSchemable::get_type(key, plan.schema().as_ref())?,
        };
        let key_format = partner_def.map_or_else(|| runnel_planner::formats::FormatSpec::new(runnel_planner::FormatName::Json), |d| d.key_format.clone());
        let rows: SchemaRef = Arc::new(plan.schema().as_arrow().clone());
        let prefix = if index == 0 { "Join".to_string() } else { format!("Join{index}") };
        // A table side's key column (tables join on their primary key).
        let table_key = match scan_source(plan) {
            Some(def) if def.kind == SourceKind::Table => match key {
                Expr::Column(c) => plan.schema().index_of_column(c).ok(),
                _ => None,
            },
            _ => None,
        };
        let Some((topic, read)) = RepartitionTopic::join_side(
            format!("{prefix}-{name}-repartition"),
            &rows,
            physical(key, plan.schema())?,
            key_type,
            timestamp_column(plan)?,
            key_format,
            partner_def.map(|d| d.topic.clone()),
            table_key,
        )?
        else {
            self.compile_branch(plan, target)?;
            return Ok(());
        };
        let r = self.read_back(topic, read, target);
        self.compile_branch(plan, Target::Repartition(r))?;
        Ok(())
    }

    /// Registers a repartition topic and the input reading it back, whose rows go to `target`.
    fn read_back(&mut self, topic: RepartitionTopic, read: ReadBack, target: Target) -> usize {
        let r = self.repartitions.len();
        self.repartitions.push(topic);
        self.inputs.push(Input {
            topic: String::new(),
            internal: Some(r),
            kind: read.kind,
            decoder: read.decoder,
            position: 0,
            branch: Branch { operators: vec![Operator::Project { exprs: read.exprs, schema: read.schema }], kind: read.kind, target },
        });
        r
    }
}

/// The source a plan scans, when it is a scan (under filters and projections).
fn scan_source(plan: &LogicalPlan) -> Option<&SourceDef> {
    match plan {
        LogicalPlan::TableScan(scan) => {
            let any: &dyn std::any::Any = scan.source.as_ref();
            any.downcast_ref::<SourceTable>().map(|t| &t.source)
        }
        LogicalPlan::Projection(p) => scan_source(&p.input),
        LogicalPlan::Filter(f) => scan_source(&f.input),
        _ => None,
    }
}

/// The column of `plan`'s output holding each row's event time.
fn timestamp_column(plan: &LogicalPlan) -> RuntimeResult<usize> {
    if let LogicalPlan::Extension(ext) = plan {
        if let Some(j) = ext.node.as_any().downcast_ref::<JoinNode>() {
            return Ok(j.schema.index_of_column_by_name(None, &j.rowtime_column).unwrap_or(j.schema.fields().len() - 2));
        }
    }
    plan.schema()
        .fields()
        .iter()
        .position(|f| f.name() == ROWTIME)
        .ok_or_else(|| RuntimeError::Internal("join input without ROWTIME".into()))
}

/// Runs stateless operators over a flow of rows of `kind`.
fn run_operators(operators: &[Operator], kind: SourceKind, flow: Flow) -> RuntimeResult<Flow> {
    let Flow { mut batch, mut deleted, mut origin, mut keys } = flow;
    for op in operators {
        match op {
            Operator::Filter(predicate) => {
                let mask = evaluate_predicate(predicate, &batch)?;
                if kind == SourceKind::Table {
                    // For tables, rows a filter rejects become deletes of their key.
                    for (i, d) in deleted.iter_mut().enumerate() {
                        if !mask.value(i) {
                            *d = true;
                        }
                    }
                } else {
                    // Stream records without a value pass projections but never a filter.
                    let mask = BooleanArray::from((0..mask.len()).map(|i| mask.value(i) && !deleted[i]).collect::<Vec<_>>());
                    batch = filter_record_batch(&batch, &mask)?;
                    let keep = |i: &usize| mask.value(*i);
                    deleted = (0..deleted.len()).filter(keep).map(|i| deleted[i]).collect();
                    origin = (0..origin.len()).filter(keep).map(|i| origin[i]).collect();
                    if let Some(k) = keys.as_mut() {
                        *k = std::mem::take(k).into_iter().enumerate().filter(|(i, _)| keep(i)).map(|(_, key)| key).collect();
                    }
                }
            }
            Operator::Explode { columns, schema } => {
                let (exploded, source_rows) = explode(&batch, columns, schema)?;
                deleted = source_rows.iter().map(|&r| deleted[r]).collect();
                origin = source_rows.iter().map(|&r| origin[r]).collect();
                if let Some(k) = keys.as_mut() {
                    *k = source_rows.iter().map(|&r| k[r].clone()).collect();
                }
                batch = exploded;
            }
            Operator::Project { exprs, schema } => batch = project(exprs, schema, &batch)?,
        }
    }
    Ok(Flow { batch, deleted, origin, keys })
}

/// A DataFusion physical expression for `expr` over rows of `schema`.
pub(crate) fn physical(expr: &Expr, schema: &DFSchema) -> RuntimeResult<Arc<dyn PhysicalExpr>> {
    Ok(create_physical_expr(expr, schema, &ExecutionProps::new(), &PhysicalPlanningContext::default())?)
}

/// One output row per element of the longest exploded list of each row (none for NULL or
/// empty lists); returns the new batch and, per output row, the input row it came from.
fn explode(batch: &RecordBatch, columns: &[usize], schema: &SchemaRef) -> RuntimeResult<(RecordBatch, Vec<usize>)> {
    let lists: Vec<&arrow::array::ListArray> = columns
        .iter()
        .map(|&c| batch.column(c).as_list_opt::<i32>().ok_or_else(|| RuntimeError::Internal("EXPLODE of a non-list column".into())))
        .collect::<RuntimeResult<_>>()?;
    let len_of = |l: &arrow::array::ListArray, row: usize| if l.is_null(row) { 0 } else { l.value_length(row) as usize };
    let mut source_rows = Vec::new();
    let mut element_idx: Vec<Vec<Option<u32>>> = vec![Vec::new(); lists.len()];
    for row in 0..batch.num_rows() {
        let n = lists.iter().map(|l| len_of(l, row)).max().unwrap_or(0);
        for i in 0..n {
            source_rows.push(row);
            for (li, l) in lists.iter().enumerate() {
                let idx = (i < len_of(l, row)).then(|| (l.value_offsets()[row] as usize + i) as u32);
                element_idx[li].push(idx);
            }
        }
    }
    let repeat = arrow::array::UInt32Array::from(source_rows.iter().map(|&r| r as u32).collect::<Vec<_>>());
    let mut out = Vec::with_capacity(batch.num_columns());
    for (c, column) in batch.columns().iter().enumerate() {
        match columns.iter().position(|&x| x == c) {
            Some(li) => {
                let idx = arrow::array::UInt32Array::from(std::mem::take(&mut element_idx[li]));
                out.push(arrow::compute::take(lists[li].values().as_ref(), &idx, None)?);
            }
            None => out.push(arrow::compute::take(column.as_ref(), &repeat, None)?),
        }
    }
    Ok((RecordBatch::try_new(schema.clone(), out)?, source_rows))
}

/// Evaluates a projection over `batch` into a batch of `schema`.
fn project(exprs: &[Arc<dyn PhysicalExpr>], schema: &SchemaRef, batch: &RecordBatch) -> RuntimeResult<RecordBatch> {
    let columns = exprs
        .iter()
        .zip(schema.fields())
        .map(|(e, f)| evaluate_column(e, batch, f.data_type()))
        .collect::<RuntimeResult<Vec<_>>>()?;
    Ok(RecordBatch::try_new(schema.clone(), columns)?)
}

/// Evaluates `expr` over `batch`; rows whose evaluation fails become NULL.
fn evaluate_column(expr: &Arc<dyn PhysicalExpr>, batch: &RecordBatch, data_type: &DataType) -> RuntimeResult<ArrayRef> {
    let result = expr.evaluate(batch).and_then(|v| v.into_array(batch.num_rows()));
    let array = match result {
        Ok(a) => a,
        Err(_) => {
            let mut pieces = Vec::with_capacity(batch.num_rows());
            for row in 0..batch.num_rows() {
                let one = batch.slice(row, 1);
                let piece = expr.evaluate(&one).and_then(|v| v.into_array(1)).ok().filter(|a| a.data_type() == data_type);
                pieces.push(piece.unwrap_or_else(|| new_null_array(data_type, 1)));
            }
            let refs: Vec<&dyn Array> = pieces.iter().map(|a| a.as_ref()).collect();
            if refs.is_empty() {
                new_null_array(data_type, 0)
            } else {
                concat(&refs)?
            }
        }
    };
    if array.data_type() != data_type {
        return Ok(cast(&array, data_type)?);
    }
    Ok(array)
}

/// Evaluates a predicate; NULL and failing rows are false.
pub(crate) fn evaluate_predicate(expr: &Arc<dyn PhysicalExpr>, batch: &RecordBatch) -> RuntimeResult<BooleanArray> {
    let column = evaluate_column(expr, batch, &DataType::Boolean)?;
    let bools = column.as_boolean();
    Ok(BooleanArray::from((0..bools.len()).map(|i| bools.is_valid(i) && bools.value(i)).collect::<Vec<_>>()))
}

/// Encodes result rows into records of the sink topic.
pub(crate) struct SinkWriter {
    pub(crate) topic: String,
    key_format: Format,
    value_format: Format,
    value_wrapping: Wrapping,
    key_fields: Fields,
    value_fields: Fields,
    key_idx: Vec<usize>,
    value_idx: Vec<usize>,
    timestamp_idx: usize,
    /// Windowed sinks: the window kind and the columns holding its bounds.
    window: Option<(WindowType, usize, usize)>,
}

impl SinkWriter {
    pub(crate) fn new(sink: &SourceDef, schema: &SchemaRef) -> RuntimeResult<Self> {
        let index_of = |name: &str| {
            schema
                .index_of(name)
                .map_err(|_| RuntimeError::Internal(format!("sink column {name} missing from the query result")))
        };
        let mut key_idx = Vec::new();
        let mut value_idx = Vec::new();
        let mut key_fields = Vec::new();
        let mut value_fields = Vec::new();
        for c in &sink.columns {
            let field = Field::new(&c.name, to_arrow(&c.data_type), true);
            match c.role {
                ColumnRole::Key => {
                    key_idx.push(index_of(&c.name)?);
                    key_fields.push(field);
                }
                ColumnRole::Value => {
                    value_idx.push(index_of(&c.name)?);
                    value_fields.push(field);
                }
                ColumnRole::Header => {}
            }
        }
        let timestamp_idx = match &sink.timestamp {
            Some(ts) => index_of(&ts.column)?,
            None => index_of(SINK_TIMESTAMP)?,
        };
        Ok(SinkWriter {
            topic: sink.topic.clone(),
            key_format: runtime_format(&sink.key_format)?,
            value_format: runtime_format(&sink.value_format)?,
            value_wrapping: wrapping(&sink.value_format),
            key_fields: Fields::from(key_fields),
            value_fields: Fields::from(value_fields),
            key_idx,
            value_idx,
            timestamp_idx,
            window: match sink.window {
                Some(w) => Some((w.window_type, index_of(SINK_WINDOWSTART)?, index_of(SINK_WINDOWEND)?)),
                None => None,
            },
        })
    }

    /// Encodes each row; `headers[i]` go onto row `i`'s record; rows with `keyless[i]` get no key.
    pub(crate) fn write(
        &self,
        batch: &RecordBatch,
        deleted: &[bool],
        keyless: &[bool],
        headers: &[Headers],
        errors: &mut Vec<RecordError>,
    ) -> RuntimeResult<Vec<TopicRecord>> {
        let rows = batch.num_rows();
        let keys: Vec<ArrayRef> = self.key_idx.iter().map(|&i| batch.column(i).clone()).collect();
        let values: Vec<ArrayRef> = self.value_idx.iter().map(|&i| batch.column(i).clone()).collect();
        // A key-less sink writes null keys (an encoder cannot count rows of zero columns).
        let key_bytes =
            if keys.is_empty() { vec![Ok(None); rows] } else { encode(&self.key_format, &keys, &self.key_fields, Wrapping::Unwrapped)? };
        let value_bytes = if values.is_empty() {
            // Only a repartition topic's rows can have no value column (COUNT(*) grouped by
            // the key columns): an empty JSON object, since a null value would read as a delete.
            vec![Ok(Some(b"{}".to_vec())); rows]
        } else {
            encode(&self.value_format, &values, &self.value_fields, self.value_wrapping)?
        };
        let ts = cast(batch.column(self.timestamp_idx), &DataType::Int64)?;
        let ts = ts.as_primitive::<arrow::datatypes::Int64Type>();
        let mut out = Vec::with_capacity(rows);
        for (row, (key, value)) in key_bytes.into_iter().zip(value_bytes).enumerate() {
            let key = match key {
                Ok(k) => match &self.window {
                    Some((kind, start, end)) => Some(windowed_key(k.unwrap_or_default(), *kind, batch, *start, *end, row)),
                    None => k,
                },
                Err(e) => {
                    errors.push(RecordError {
                        topic: self.topic.clone(),
                        offset: -1,
                        message: format!("Failed to serialize key: {e}"),
                        kind: RecordErrorKind::Serialization { key: true },
                        record: None,
                    });
                    continue;
                }
            };
            let key = if keyless.get(row).copied().unwrap_or(false) && self.window.is_none() { None } else { key };
            let timestamp = if ts.is_null(row) { -1 } else { ts.value(row) };
            if timestamp < 0 {
                errors.push(RecordError {
                    topic: self.topic.clone(),
                    offset: -1,
                    message: format!("Invalid timestamp {timestamp}: output records need a non-negative timestamp"),
                    kind: RecordErrorKind::Processing,
                    record: None,
                });
                continue;
            }
            let value = if deleted.get(row).copied().unwrap_or(false) {
                None
            } else {
                match value {
                    Ok(v) => v,
                    Err(e) => {
                        errors.push(RecordError {
                            topic: self.topic.clone(),
                            offset: -1,
                            message: format!("Failed to serialize value: {e}"),
                            kind: RecordErrorKind::Serialization { key: false },
                            record: None,
                        });
                        continue;
                    }
                }
            };
            out.push(TopicRecord {
                key,
                value,
                timestamp,
                headers: headers.get(row).cloned().unwrap_or_default(),
                partition: 0,
                offset: 0,
            });
        }
        Ok(out)
    }
}

/// Kafka Streams' windowed key layout: key, then start (time windows) or end and start (session).
fn windowed_key(mut key: Vec<u8>, kind: WindowType, batch: &RecordBatch, start: usize, end: usize, row: usize) -> Vec<u8> {
    let bound = |col: usize| {
        batch.column(col).as_primitive_opt::<arrow::datatypes::Int64Type>().filter(|a| a.is_valid(row)).map_or(0, |a| a.value(row))
    };
    if kind == WindowType::Session {
        key.extend_from_slice(&bound(end).to_be_bytes());
    }
    key.extend_from_slice(&bound(start).to_be_bytes());
    key
}
