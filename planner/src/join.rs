//! JOIN planning: stream-stream (WITHIN), stream-table, table-table and foreign-key joins,
//! chained left to right for n-way joins.
//!
//! ```text
//!   Projection [key, values, __ROWTIME]
//!     Filter (WHERE, over the joined columns)
//!       Join(kind, strategy, left_key = right_key [AND filter])   nodes::JoinNode
//!         Join(...) | TableScan(FROM)                              left: everything joined so far
//!         TableScan(JOIN source)                                   right: the source joined now
//! ```
//! Every source is scanned under its alias, so `T.ID` resolves as usual and an unqualified
//! name resolves when one source has it. A join's output is its inputs' columns followed by
//! the result timestamp and the join key; the outermost join names its key, for joins
//! without a key column to select (FULL OUTER, expressions on both sides), the
//! synthetic `ROWKEY`; the inner ones, and every join's timestamp, have hidden names.

use std::collections::HashSet;
use std::ops::ControlFlow;
use std::sync::Arc;

use arrow::datatypes::{DataType, Field};
use datafusion::common::config::ConfigOptions;
use datafusion::common::{Column as DfColumn, DFSchema, TableReference};
use datafusion::logical_expr::{col, EmptyRelation, Expr, ExprSchemable, Extension, Filter, LogicalPlan, LogicalPlanBuilder};
use datafusion::optimizer::analyzer::type_coercion::TypeCoercion;
use datafusion::optimizer::AnalyzerRule;
use runnel_parser::{JoinKind, Query, SelectItem, SourceKind, SqlType};
use sqlparser::ast::{self as sql, SelectItemQualifiedWildcardKind};

use crate::aggregate::{millis, JoinedInput};
use crate::catalog::{ColumnRole, SourceDef, WindowType};
use crate::error::{PlanError, Result};
use crate::expr::ident_name;
use crate::formats::FormatName;
use crate::nodes::{source_scan_schema, JoinNode, RepartitionNode, JoinStrategy, SourceTable, RESERVED_COLUMNS, SINK_TIMESTAMP};
use crate::query::{natural_name, quoted, select_error, Item, OutputColumn, PlannedQuery, QueryPlanner};
use crate::types::{display_type, from_arrow};

const JOIN_ROWTIME_PREFIX: &str = "__JOIN_ROWTIME_";
const JOIN_KEY_PREFIX: &str = "__JOIN_KEY_";

/// One source of a join and the name it is referenced by.
struct Joined<'s> {
    def: &'s SourceDef,
    qualifier: String,
    /// Column and pseudo-column names of its scan.
    names: Vec<String>,
}

/// What is known about the relation joined so far.
struct Joint {
    plan: LogicalPlan,
    kind: SourceKind,
    /// Expressions whose value is the relation's key (e.g. `S1.ID`, `T2.ID`), with their
    /// ksql rendering, in the order ksqlDB lists them.
    key_exprs: Vec<(Expr, String)>,
    /// Foreign-key join results are keyed by the left table's primary key columns.
    foreign_key: Option<Vec<Expr>>,
    /// The relation's join key and timestamp columns (none before the first join).
    key_column: Option<String>,
    rowtime_column: Option<String>,
    /// See [`crate::query::PlannedQuery::copartitioned`].
    copartitioned: Vec<(String, String)>,
}

/// One planned join condition.
struct Condition {
    left: sql::Expr,
    right: sql::Expr,
    /// The ON clause as written (ksql rendering), for messages.
    text: String,
    /// `left = right` in ksql rendering, in the order written.
    pair_text: String,
    /// Conditions besides the equality (Runnel's extension: a filter on matches).
    extra: Option<sql::Expr>,
}

impl QueryPlanner<'_> {
    pub(crate) fn plan_join(&self, query: &Query, sink_name: Option<&str>) -> Result<PlannedQuery> {
        let sources = self.join_sources(query)?;
        let kafka: Vec<&str> =
            sources.iter().filter(|s| s.def.value_format.format == FormatName::Kafka).map(|s| s.def.name.as_str()).collect();
        if !kafka.is_empty() {
            return Err(PlanError::statement(format!(
                "Source(s) {} are using the 'KAFKA' value format. This format does not yet support JOIN.",
                kafka.join(", ")
            )));
        }
        let windowed: Vec<&Joined> = sources.iter().filter(|s| s.def.window.is_some()).collect();
        if let Some(w) = windowed.first() {
            if let Some(plain) = sources.iter().find(|s| s.def.window.is_none()) {
                let (first, second) = if sources[0].def.window.is_some() { (*w, plain) } else { (plain, *w) };
                let describe = |s: &Joined| match s.def.window {
                    Some(info) => format!("`{}` is {} windowed", s.def.name, info.window_type.name()),
                    None => format!("`{}` is not windowed", s.def.name),
                };
                return Err(PlanError::statement(format!(
                    "Can not join windowed source to non-windowed source.\n{}\n{}",
                    describe(first),
                    describe(second)
                )));
            }
        }

        let mut joint = Joint {
            plan: scan(&sources[0])?,
            kind: sources[0].def.kind,
            key_exprs: Vec::new(),
            foreign_key: None,
            key_column: None,
            rowtime_column: None,
            copartitioned: Vec::new(),
        };
        let count = query.joins.len();
        // Every condition is checked before any join is planned (as ksqlDB does).
        let conditions = query
            .joins
            .iter()
            .enumerate()
            .map(|(j, join)| self.join_condition(&join.on, &sources[..=j], &sources[j + 1], &sources))
            .collect::<Result<Vec<_>>>()?;
        if sources.iter().all(|s| s.def.window.is_some()) {
            let types: Vec<WindowType> = sources.iter().filter_map(|s| s.def.window.map(|w| w.window_type)).collect();
            let session = |t: &WindowType| *t == WindowType::Session;
            if types.iter().any(session) && !types.iter().all(session) {
                return Err(PlanError::statement(format!(
                    "Incompatible windowed sources.\nLeft source: {}\nRight source: {}\nSession windowed sources can only be joined to other session windowed sources, and may still not result in expected behaviour as session bounds must be an exact match for the join to work\nHopping and tumbling windowed sources can only be joined to other hopping and tumbling windowed sources",
                    types[0].name(),
                    types[1].name()
                )));
            }
            let on_key = |e: &sql::Expr| {
                matches!(column_ref(e, &sources), Ok(Some((i, name))) if sources[i].def.column(&name).is_some_and(|c| c.role == ColumnRole::Key))
            };
            if conditions.iter().any(|c| !on_key(&c.left) || !on_key(&c.right)) {
                return Err(PlanError::statement(
                    "Implicit repartitioning of windowed sources is not supported. See https://github.com/confluentinc/ksql/issues/4385.",
                ));
            }
            return Err(PlanError::unsupported("Joins of windowed sources are not supported yet"));
        }
        for (j, (join, condition)) in query.joins.iter().zip(&conditions).enumerate() {
            joint = self.plan_one_join(joint, join, condition, &sources[j + 1], &sources, j, j + 1 == count)?;
        }
        self.plan_join_projection(query, sink_name, &sources, joint)
    }

    /// The sources in FROM/JOIN order, checked for existence and repetition.
    fn join_sources<'q>(&'q self, query: &Query) -> Result<Vec<Joined<'q>>> {
        let mut refs = vec![&query.from];
        refs.extend(query.joins.iter().map(|j| &j.right));
        let mut out: Vec<Joined> = Vec::new();
        for r in refs {
            let def = self.catalog.source(&r.name).ok_or_else(|| PlanError::statement(format!("{} does not exist.", r.name)))?;
            if out.iter().any(|s| s.def.name == def.name) {
                return Err(PlanError::statement(if query.joins.len() == 1 {
                    format!("Can not join '{0}' to '{0}': self joins are not yet supported.", def.name)
                } else {
                    format!("N-way joins do not support multiple occurrences of the same source. Source: '{}'", def.name)
                }));
            }
            let names = source_scan_schema(def).fields().iter().map(|f| f.name().clone()).collect();
            out.push(Joined { def, qualifier: r.alias.clone().unwrap_or_else(|| def.name.clone()), names });
        }
        Ok(out)
    }

    /// Splits ON into the equality that keys the join and the rest; orients the equality so
    /// that its right side references the source joined now.
    fn join_condition(&self, on: &sql::Expr, left: &[Joined], right: &Joined, all: &[Joined]) -> Result<Condition> {
        let text = render(on, all);
        let mut conjuncts = Vec::new();
        split_and(on, &mut conjuncts);
        let mut equality: Option<(sql::Expr, sql::Expr)> = None;
        let mut extra: Vec<sql::Expr> = Vec::new();
        for c in conjuncts {
            match strip_nested(c) {
                sql::Expr::BinaryOp { left: l, op: sql::BinaryOperator::Eq, right: r } if equality.is_none() => {
                    equality = Some((l.as_ref().clone(), r.as_ref().clone()));
                }
                sql::Expr::BinaryOp { op: sql::BinaryOperator::Eq, left: l, right: r }
                    if !referenced(l, all)?.is_empty() && !referenced(r, all)?.is_empty() =>
                {
                    return Err(PlanError::statement(format!(
                        "Invalid join condition: joins on multiple conditions are not yet supported. Got {text}."
                    )));
                }
                other => extra.push(other.clone()),
            }
        }
        let Some((l, r)) = equality else {
            return Err(PlanError::statement(format!("Unsupported join expression: {text}. Joins need an equality between the two sides.")));
        };
        let (l_refs, r_refs) = (referenced(&l, all)?, referenced(&r, all)?);
        for (side, refs) in [(&l, &l_refs), (&r, &r_refs)] {
            if refs.is_empty() {
                let shown = match strip_nested(on) {
                    sql::Expr::BinaryOp { .. } if extra.is_empty() => text.clone(),
                    _ => format!("({} = {})", render(&l, all), render(&r, all)),
                };
                return Err(PlanError::statement(format!(
                    "Invalid comparison expression '{}' in join '{shown}'. Each side of the join comparision must contain references from exactly one source.",
                    render(side, all)
                )));
            }
        }
        let names = |refs: &[String]| refs.iter().map(|r| format!("`{r}`")).collect::<Vec<_>>().join(", ");
        if l_refs.len() > 1 || r_refs.len() > 1 || l_refs == r_refs {
            return Err(PlanError::statement(format!(
                "Each side of the join must reference exactly one source and not the same source. Left side references {} and right references {}",
                names(&l_refs),
                names(&r_refs)
            )));
        }
        let is_left = |refs: &[String]| refs.iter().all(|q| left.iter().any(|s| &s.qualifier == q));
        let is_right = |refs: &[String]| refs.len() == 1 && refs[0] == right.qualifier;
        let pair_text = format!("{} = {}", render(&l, all), render(&r, all));
        let (left_expr, right_expr) = if is_right(&r_refs) && is_left(&l_refs) {
            (l, r)
        } else if is_right(&l_refs) && is_left(&r_refs) {
            (r, l)
        } else {
            return Err(PlanError::statement(format!(
                "A join criteria is expected to reference the source (`{}`) in the FROM clause, instead the right source references {} and the left source references {}",
                right.qualifier,
                names(&r_refs),
                names(&l_refs)
            )));
        };
        let extra = extra.into_iter().reduce(|a, b| sql::Expr::BinaryOp { left: Box::new(a), op: sql::BinaryOperator::And, right: Box::new(b) });
        Ok(Condition { left: left_expr, right: right_expr, text, pair_text, extra })
    }

    #[allow(clippy::too_many_arguments)]
    fn plan_one_join(
        &self,
        joint: Joint,
        join: &runnel_parser::Join,
        condition: &Condition,
        right: &Joined,
        all: &[Joined],
        index: usize,
        outermost: bool,
    ) -> Result<Joint> {
        let left_name = {
            let refs = referenced(&condition.left, all)?;
            refs.first().cloned().unwrap_or_default()
        };
        let got = format!("{left_name} {} {}", join_type_text(join.kind), right.qualifier);
        let right_plan = scan(right)?;
        let left_key = self.plan_key(&condition.left, &joint.plan)?;
        let right_key = self.plan_key(&condition.right, &right_plan)?;
        let left_type = key_type(&left_key, &joint.plan)?;
        let right_type = key_type(&right_key, &right_plan)?;
        if left_type != right_type {
            let l = render(&condition.left, all);
            let r = render(&condition.right, all);
            return Err(PlanError::statement(format!(
                "Invalid join condition: types don't match. Got {l}{{{}}} = {r}{{{}}}.",
                display_type(&left_type),
                display_type(&right_type)
            )));
        }
        if crate::types::contains_map(&left_type) {
            // The join key is named like the left column in the joined schema (`L_COL`).
            let key_name = match &left_key {
                Expr::Column(c) => match &c.relation {
                    Some(q) => format!("{}_{}", q.table(), c.name),
                    None => c.name.clone(),
                },
                _ => "ROWKEY".to_string(),
            };
            return Err(PlanError::statement(format!(
                "Map keys, including types that contain maps, are not supported as they may lead to unexpected behavior due to inconsistent serialization. Key column name: `{key_name}`. Column type: {}. See https://github.com/confluentinc/ksql/issues/6621 for more.",
                display_type(&left_type)
            )));
        }
        let right_is_primary_key = matches!(&right_key, Expr::Column(c)
            if right.def.column(&c.name).is_some_and(|col| col.role == ColumnRole::Key) && right.def.key_columns().count() == 1);
        let strategy = match (joint.kind, right.def.kind) {
            (SourceKind::Table, SourceKind::Stream) => {
                return Err(PlanError::statement(format!(
                    "Invalid join order: table-stream joins are not supported; only stream-table joins. Got {got}."
                )))
            }
            (SourceKind::Stream, SourceKind::Stream) => {
                let Some(within) = &join.within else {
                    return Err(PlanError::statement("Stream-Stream joins must have a WITHIN clause specified. None was provided."));
                };
                JoinStrategy::StreamStream {
                    before: millis(&within.before),
                    after: millis(&within.after),
                    grace: within.grace.as_ref().map(millis),
                }
            }
            (SourceKind::Stream, SourceKind::Table) => {
                match join.kind {
                    JoinKind::Full => {
                        return Err(PlanError::statement(format!(
                            "Invalid join type: full-outer join not supported for stream-table join. Got {got}."
                        )))
                    }
                    JoinKind::Right => {
                        return Err(PlanError::statement(format!(
                            "Invalid join type: right-outer join not supported for stream-table join. Got {got}."
                        )))
                    }
                    _ => {}
                }
                if !right_is_primary_key {
                    return Err(PlanError::statement(format!(
                        "Invalid join condition: stream-table joins require to join on the table's primary key. Got {}.",
                        condition.pair_text
                    )));
                }
                JoinStrategy::StreamTable
            }
            (SourceKind::Table, SourceKind::Table) => {
                if !right_is_primary_key {
                    return Err(PlanError::statement(format!(
                        "Invalid join condition: table-table joins require to join on the primary key of the right input table. Got {}.",
                        condition.pair_text
                    )));
                }
                let left_is_key = match &joint.foreign_key {
                    Some(keys) => keys.len() == 1 && keys[0] == left_key,
                    None if index == 0 => matches!(&left_key, Expr::Column(c)
                        if all[0].def.column(&c.name).is_some_and(|col| col.role == ColumnRole::Key) && all[0].def.key_columns().count() == 1),
                    None => joint.key_exprs.iter().any(|(e, _)| *e == left_key),
                };
                if left_is_key {
                    JoinStrategy::TableTable
                } else if index > 0 {
                    return Err(PlanError::statement(format!(
                        "Invalid join condition: foreign-key table-table joins are not supported as part of n-way joins. Got {}.",
                        condition.pair_text
                    )));
                } else {
                    match join.kind {
                        JoinKind::Right => return Err(PlanError::statement("RIGHT OUTER JOIN on a foreign key is not supported")),
                        JoinKind::Full => return Err(PlanError::statement("FULL OUTER JOIN on a foreign key is not supported")),
                        _ => JoinStrategy::ForeignKey,
                    }
                }
            }
        };
        if join.within.is_some() && !matches!(strategy, JoinStrategy::StreamStream { .. }) {
            return Err(PlanError::statement(
                "A window definition was provided for a Stream-Table or Table-Table join. These joins are not windowed. Please drop the window definition (ie. the WITHIN clause) and try to execute your join again.",
            ));
        }

        // Keys that name the result's key.
        let left_text = render(&condition.left, all);
        let right_text = render(&condition.right, all);
        let mut key_exprs = Vec::new();
        if joint.key_exprs.iter().any(|(e, _)| *e == left_key) || joint.foreign_key.as_ref().is_some_and(|k| k.contains(&left_key)) {
            key_exprs.extend(joint.key_exprs.iter().cloned());
        }
        for (e, t) in [(left_key.clone(), left_text), (right_key.clone(), right_text)] {
            if !key_exprs.iter().any(|(k, _)| *k == e) {
                key_exprs.push((e, t));
            }
        }
        let left_table_key: Vec<Expr> = if strategy == JoinStrategy::ForeignKey {
            all[0]
                .def
                .key_columns()
                .map(|c| col(DfColumn::new(Some(TableReference::bare(all[0].qualifier.as_str())), c.name.clone())))
                .collect()
        } else {
            Vec::new()
        };

        let synthetic = matches!(join.kind, JoinKind::Full) || !key_exprs.iter().any(|(e, _)| matches!(e, Expr::Column(_)));
        // The result timestamp cannot be an unqualified ROWTIME next to the sources' own.
        let rowtime_column = format!("{JOIN_ROWTIME_PREFIX}{index}");
        let key_column = if outermost && synthetic { synthetic_key_name(all) } else { format!("{JOIN_KEY_PREFIX}{index}") };
        let mut fields: Vec<(Option<TableReference>, Arc<Field>)> =
            joint.plan.schema().iter().map(|(q, f)| (q.cloned(), f.clone())).collect();
        fields.extend(right_plan.schema().iter().map(|(q, f)| (q.cloned(), f.clone())));
        fields.push((None, Arc::new(Field::new(&rowtime_column, DataType::Int64, true))));
        let key_arrow = left_key.to_field(joint.plan.schema())?.1.data_type().clone();
        fields.push((None, Arc::new(Field::new(&key_column, key_arrow, true))));
        let schema = Arc::new(DFSchema::new_with_metadata(fields, Default::default())?);
        let filter = match &condition.extra {
            Some(extra) => {
                let planned = self.exprs().plan(extra, &schema).map_err(|e| join_on_error(e, &condition.text))?;
                let filter = LogicalPlan::Filter(Filter::try_new(
                    planned,
                    Arc::new(LogicalPlan::EmptyRelation(EmptyRelation { produce_one_row: false, schema: schema.clone() })),
                )?);
                match TypeCoercion::new().analyze(filter, &ConfigOptions::default())? {
                    LogicalPlan::Filter(f) => Some(f.predicate),
                    _ => return Err(PlanError::Internal("the join filter lost its Filter node".into())),
                }
            }
            None => None,
        };
        let kind = if joint.kind == SourceKind::Table && right.def.kind == SourceKind::Table { SourceKind::Table } else { SourceKind::Stream };
        let foreign_key = if strategy == JoinStrategy::ForeignKey { Some(left_table_key.clone()) } else { None };
        let key_exprs = if strategy == JoinStrategy::ForeignKey {
            // A foreign-key join's result is keyed by the left table's primary key.
            all[0]
                .def
                .key_columns()
                .map(|c| {
                    (col(DfColumn::new(Some(TableReference::bare(all[0].qualifier.as_str())), c.name.clone())), format!("{}.{}", all[0].qualifier, c.name))
                })
                .collect()
        } else {
            key_exprs
        };
        // Key joins read both sides partition by partition (a foreign-key join re-keys the
        // right side instead); the relation joined so far is partitioned like its first source.
        // A stream side not keyed by its join expression is repartitioned by it (the left one:
        // a source not keyed by it, or a join result keyed by another expression).
        let keyed_by = |def: &SourceDef, key: &Expr| {
            matches!(key, Expr::Column(c) if def.column(&c.name).is_some_and(|col| col.role == ColumnRole::Key) && def.key_columns().count() == 1)
        };
        let left_keyed = if index == 0 { keyed_by(all[0].def, &left_key) } else { joint.key_exprs.iter().any(|(e, _)| *e == left_key) };
        let mut repartition = (
            joint.kind == SourceKind::Stream && strategy != JoinStrategy::ForeignKey && !left_keyed,
            right.def.kind == SourceKind::Stream && !keyed_by(right.def, &right_key),
        );
        // Keyed alike but serialized differently, equal keys land in different partitions: a
        // stream side is repartitioned in its partner's key format (the right one first, as
        // ksqlDB does); of two tables, the right one.
        let formats_differ = all[0].def.key_format.format != right.def.key_format.format
            || all[0].def.key_format.features != right.def.key_format.features;
        if strategy != JoinStrategy::ForeignKey && repartition == (false, false) && formats_differ {
            if right.def.kind == SourceKind::Stream || joint.kind == SourceKind::Table {
                repartition.1 = true;
            } else {
                repartition.0 = true;
            }
        }
        let mut copartitioned = joint.copartitioned;
        if strategy != JoinStrategy::ForeignKey && repartition == (false, false) {
            copartitioned.push((all[0].def.name.clone(), right.def.name.clone()));
        }
        let node = JoinNode {
            left: joint.plan,
            right: right_plan,
            kind: join.kind,
            strategy,
            left_key,
            right_key,
            left_table_key,
            filter,
            key_column: key_column.clone(),
            rowtime_column: rowtime_column.clone(),
            repartition,
            schema,
        };
        Ok(Joint {
            plan: LogicalPlan::Extension(Extension { node: Arc::new(node) }),
            kind,
            key_exprs,
            foreign_key,
            key_column: Some(key_column),
            copartitioned,
            rowtime_column: Some(rowtime_column),
        })
    }

    /// A join key expression over `input`, with DataFusion's type coercion applied.
    fn plan_key(&self, e: &sql::Expr, input: &LogicalPlan) -> Result<Expr> {
        let planned = self.exprs().plan(e, input.schema()).map_err(|err| match err {
            PlanError::Statement(m) if m.contains("No field named") => {
                PlanError::statement(format!("JOIN ON column '{}' cannot be resolved.", crate::query::unquoted_display(e)))
            }
            other => other,
        })?;
        let projected = LogicalPlanBuilder::from(input.clone()).project(vec![planned.alias("__K")])?.build()?;
        match TypeCoercion::new().analyze(projected, &ConfigOptions::default())? {
            LogicalPlan::Projection(p) => match p.expr.into_iter().next() {
                Some(Expr::Alias(a)) => Ok(*a.expr),
                Some(other) => Ok(other),
                None => Err(PlanError::Internal("join key projection is empty".into())),
            },
            _ => Err(PlanError::Internal("join key lost its projection".into())),
        }
    }

    fn plan_join_projection(&self, query: &Query, sink_name: Option<&str>, sources: &[Joined], joint: Joint) -> Result<PlannedQuery> {
        let key_column = joint.key_column.clone().unwrap_or_default();
        let synthetic = !key_column.starts_with(JOIN_KEY_PREFIX);
        let rowtime_column = joint.rowtime_column.clone().unwrap_or_default();
        let joined_plan = joint.plan.clone();
        let mut builder = LogicalPlanBuilder::from(joint.plan);
        let joined_schema = builder.schema().clone();
        if let Some(selection) = &query.selection {
            let predicate = self.exprs().plan(selection, &joined_schema).map_err(|e| match e {
                PlanError::Statement(m) => PlanError::statement(ambiguity_message(&m, sources).unwrap_or(m)),
                other => other,
            })?;
            builder = builder.filter(predicate)?;
        }

        // Items: `*`, `X.*` and expressions, named the ksql way.
        let mut items: Vec<(sql::Expr, String, bool)> = Vec::new();
        let star_of = |s: &Joined| -> Vec<(sql::Expr, String, bool)> {
            s.def
                .columns
                .iter()
                .map(|c| {
                    (
                        sql::Expr::CompoundIdentifier(vec![quoted(&s.qualifier), quoted(&c.name)]),
                        format!("{}_{}", s.qualifier, c.name),
                        false,
                    )
                })
                .collect()
        };
        let mut pending_auto = Vec::new();
        for item in &query.projection {
            match item {
                SelectItem::Wildcard(_) => {
                    if synthetic {
                        items.push((sql::Expr::Identifier(quoted(&key_column)), key_column.clone(), false));
                    }
                    for s in sources {
                        items.extend(star_of(s));
                    }
                }
                SelectItem::QualifiedWildcard(SelectItemQualifiedWildcardKind::ObjectName(name), _) => {
                    let target = match name.0.last() {
                        Some(sql::ObjectNamePart::Identifier(id)) => ident_name(id),
                        Some(other) => other.to_string(),
                        None => String::new(),
                    };
                    let Some(s) = sources.iter().find(|s| s.qualifier == target) else {
                        return Err(PlanError::statement(format!("'{target}' is not a valid stream/table name or alias.")));
                    };
                    items.extend(star_of(s));
                }
                SelectItem::UnnamedExpr(e) => {
                    let name = match column_ref(e, sources)? {
                        Some((source, column)) => {
                            let shared = sources.iter().filter(|s| s.names.contains(&column)).count() > 1;
                            if shared { format!("{}_{column}", sources[source].qualifier) } else { column }
                        }
                        None => natural_name(e).unwrap_or_default(),
                    };
                    if name.is_empty() {
                        pending_auto.push(items.len());
                    }
                    items.push((e.clone(), name, false));
                }
                SelectItem::ExprWithAlias { expr, alias } => items.push((expr.clone(), ident_name(alias), true)),
                other => return Err(PlanError::unsupported(format!("Unsupported select item: {other}"))),
            }
        }
        let taken: HashSet<String> = items.iter().map(|i| i.1.clone()).collect();
        let mut generated = 0usize;
        for idx in pending_auto {
            loop {
                let candidate = format!("KSQL_COL_{generated}");
                generated += 1;
                if !taken.contains(&candidate) {
                    items[idx].1 = candidate;
                    break;
                }
            }
        }
        if !query.group_by.is_empty() || query.window.is_some() || query.having.is_some() || self.has_aggregates(query) {
            let input = JoinedInput {
                plan: joined_plan,
                kind: joint.kind,
                rowtime: rowtime_column,
                sources: sources.iter().map(|s| s.def.name.clone()).collect(),
                items: items.into_iter().map(|(expr, name, aliased)| Item { expr, name, aliased }).collect(),
                copartitioned: joint.copartitioned.clone(),
            };
            return self.plan_aggregate_over(query, sources[0].def, sink_name, Some(input));
        }
        let schema = builder.schema().clone();
        let mut planned = Vec::with_capacity(items.len());
        for (e, _, _) in &items {
            let p = self.exprs().plan(e, &schema).map_err(|err| match err {
                PlanError::Statement(m) => match ambiguity_message(&m, sources) {
                    Some(m) => PlanError::statement(m),
                    None => select_error(e, PlanError::Statement(m)),
                },
                other => other,
            })?;
            planned.push(p);
        }
        for (_, name, _) in &items {
            if RESERVED_COLUMNS.contains(&name.as_str()) && !self.transient {
                return Err(PlanError::statement(format!("Reserved column name in select: `{name}`. Please remove or alias the column.")));
            }
        }

        // The key: the first item that is a key expression (or the synthetic key).
        let mut is_key = vec![false; items.len()];
        let key_col = col(DfColumn::new_unqualified(key_column.clone()));
        let partition_by: Option<Vec<Expr>> = if query.partition_by.is_empty() {
            None
        } else {
            Some(
                query
                    .partition_by
                    .iter()
                    .map(|e| self.exprs().plan(e, &joined_schema).map_err(|err| crate::query::clause_error("PARTITION BY", err)))
                    .collect::<Result<_>>()?,
            )
        };
        if let Some(keys) = &partition_by {
            // PARTITION BY re-keys the joined rows: its expressions are the key.
            let mut missing = Vec::new();
            for k in keys {
                match planned.iter().position(|e| unalias(e) == k) {
                    Some(i) => is_key[i] = true,
                    None => missing.push(render_planned(k)),
                }
            }
            if !missing.is_empty() && !self.transient {
                return Err(crate::query::missing_from_projection(sink_name, "partitioning expression", "partitioning expressions", &missing));
            }
        } else if let Some(left_keys) = &joint.foreign_key {
            let left = &sources[0];
            let mut missing = Vec::new();
            for k in left_keys {
                let positions: Vec<usize> = planned.iter().enumerate().filter(|(_, e)| *e == k).map(|(i, _)| i).collect();
                match positions.as_slice() {
                    [] => {
                        if let Expr::Column(c) = k {
                            missing.push(c.name.clone());
                        }
                    }
                    [one] => is_key[*one] = true,
                    [first, rest @ ..] => {
                        let name = match k {
                            Expr::Column(c) => format!("{}_{}", left.qualifier, c.name),
                            other => other.to_string(),
                        };
                        let aliases: Vec<&str> =
                            std::iter::once(*first).chain(rest.iter().copied()).map(|i| items[i].1.as_str()).collect();
                        return Err(PlanError::statement(format!(
                            "The projection contains a key column (`{name}`) more than once, aliased as: {}.",
                            aliases.join(" and ")
                        )));
                    }
                }
            }
            if !missing.is_empty() && !self.transient {
                let list = missing.iter().map(|m| format!("`{m}`")).collect::<Vec<_>>().join(", ");
                let (noun, column) = if missing.len() == 1 { ("column", "column") } else { ("columns", "columns") };
                return Err(PlanError::statement(format!(
                    "Primary key {noun} missing in projection. For foreign-key table-table joins, the projection must include all primary key columns from the left input table (`{}`). Missing {column}: {list}.",
                    left.qualifier
                )));
            }
        } else {
            // The first key expression (in ksqlDB's order: left before right) that is selected.
            let position = if synthetic {
                planned.iter().position(|e| *unalias(e) == key_col)
            } else {
                joint.key_exprs.iter().find_map(|(k, _)| planned.iter().position(|e| unalias(e) == k))
            };
            match position {
                Some(i) => {
                    is_key[i] = true;
                    planned[i] = key_col.clone();
                }
                None if self.transient => {}
                None => {
                    let sink = sink_name.unwrap_or("the result");
                    if synthetic {
                        return Err(PlanError::statement(format!(
                            "Key missing from projection (ie, SELECT). See https://cnfl.io/2LV7ouS.\nThe query used to build `{sink}` must include the join expression {key_column} in its projection (eg, SELECT {key_column}...).\n{key_column} was added as a synthetic key column because the join criteria did not match any source column. This expression must be included in the projection and may be aliased."
                        )));
                    }
                    let columns: Vec<&str> =
                        joint.key_exprs.iter().filter(|(e, _)| matches!(e, Expr::Column(_))).map(|(_, t)| t.as_str()).collect();
                    let (noun, list) = match columns.as_slice() {
                        [one] => ("expression", one.to_string()),
                        [init @ .., last] => ("expressions", format!("{} or {last}", init.join(", "))),
                        [] => ("expression", String::new()),
                    };
                    return Err(PlanError::statement(format!(
                        "Key missing from projection (ie, SELECT). See https://cnfl.io/2LV7ouS.\nThe query used to build `{sink}` must include the join {noun} {list} in its projection (eg, SELECT {}...).",
                        columns.first().copied().unwrap_or_default()
                    )));
                }
            }
        }

        let mut seen = HashSet::new();
        for (_, name, _) in &items {
            if !seen.insert(name.clone()) {
                return Err(PlanError::statement(format!("Duplicate value columns found in schema: `{name}`")));
            }
        }
        if !self.transient && !is_key.iter().any(|k| !k) {
            return Err(PlanError::statement("The projection contains no value columns."));
        }
        let mut proj = Vec::new();
        let mut roles = Vec::new();
        let passes: &[Option<bool>] = if self.transient { &[None] } else { &[Some(true), Some(false)] };
        for &pass in passes {
            for (i, e) in planned.iter().enumerate() {
                if pass.is_none_or(|keys| is_key[i] == keys) {
                    proj.push(e.clone().alias(items[i].1.clone()));
                    roles.push((items[i].1.clone(), if is_key[i] { ColumnRole::Key } else { ColumnRole::Value }));
                }
            }
        }
        proj.push(col(DfColumn::new_unqualified(rowtime_column)).alias(SINK_TIMESTAMP));
        let mut plan = TypeCoercion::new().analyze(builder.project(proj)?.build()?, &ConfigOptions::default())?;
        if partition_by.is_some() {
            let key_columns = roles.iter().filter(|(_, r)| *r == ColumnRole::Key).map(|(n, _)| n.clone()).collect();
            plan = LogicalPlan::Extension(Extension { node: Arc::new(RepartitionNode { input: plan, key_columns }) });
        }
        let mut output = Vec::with_capacity(roles.len());
        for (i, (name, role)) in roles.into_iter().enumerate() {
            let dt = plan.schema().field(i).data_type();
            if dt == &DataType::Null {
                return Err(PlanError::statement(
                    "Can't infer a type of null. Please explicitly cast it to a required type, e.g. CAST(null AS VARCHAR).",
                ));
            }
            output.push(OutputColumn { name, data_type: from_arrow(dt)?, role });
        }
        Ok(PlannedQuery {
            plan,
            sources: sources.iter().map(|s| s.def.name.clone()).collect(),
            output,
            kind: joint.kind,
            window: None,
            repartitioned: true,
            complex_intermediate: false,
            copartitioned: joint.copartitioned,
        })
    }
}

fn scan(source: &Joined) -> Result<LogicalPlan> {
    let table = Arc::new(SourceTable::new(source.def.clone()));
    Ok(LogicalPlanBuilder::scan(
        TableReference::bare(source.qualifier.clone()),
        table as Arc<dyn datafusion::logical_expr::TableSource>,
        None,
    )?
    .build()?)
}

fn key_type(e: &Expr, plan: &LogicalPlan) -> Result<SqlType> {
    let (_, field) = e.to_field(plan.schema())?;
    match field.data_type() {
        DataType::Null => Ok(SqlType::String),
        dt => from_arrow(dt),
    }
}

/// A planned expression as ksql shows it in messages (`L.B`).
fn render_planned(e: &Expr) -> String {
    match e {
        Expr::Column(c) => match &c.relation {
            Some(q) => format!("{q}.{}", c.name),
            None => c.name.clone(),
        },
        other => other.to_string(),
    }
}

fn unalias(e: &Expr) -> &Expr {
    match e {
        Expr::Alias(a) => unalias(&a.expr),
        other => other,
    }
}

/// The synthetic key's name: `ROWKEY`, or `ROWKEY_<n>` if a source has such a column.
fn synthetic_key_name(sources: &[Joined]) -> String {
    let used = |name: &str| sources.iter().any(|s| s.names.iter().any(|n| n == name));
    if !used("ROWKEY") {
        return "ROWKEY".to_string();
    }
    (1..).map(|n| format!("ROWKEY_{n}")).find(|n| !used(n)).unwrap_or_default()
}

fn join_type_text(kind: JoinKind) -> &'static str {
    match kind {
        JoinKind::Inner => "[INNER] JOIN",
        JoinKind::Left => "LEFT [OUTER] JOIN",
        JoinKind::Right => "RIGHT [OUTER] JOIN",
        JoinKind::Full => "[FULL] OUTER JOIN",
    }
}

fn split_and<'e>(e: &'e sql::Expr, out: &mut Vec<&'e sql::Expr>) {
    match strip_nested(e) {
        sql::Expr::BinaryOp { left, op: sql::BinaryOperator::And, right } => {
            split_and(left, out);
            split_and(right, out);
        }
        other => out.push(other),
    }
}

fn strip_nested(e: &sql::Expr) -> &sql::Expr {
    match e {
        sql::Expr::Nested(inner) => strip_nested(inner),
        other => other,
    }
}

/// The source (index) and column a plain column reference names, if `e` is one.
fn column_ref(e: &sql::Expr, sources: &[Joined]) -> Result<Option<(usize, String)>> {
    match e {
        sql::Expr::Identifier(id) => {
            let name = ident_name(id);
            Ok(sources.iter().position(|s| s.names.contains(&name)).map(|i| (i, name)))
        }
        sql::Expr::CompoundIdentifier(parts) if parts.len() == 2 => {
            let q = ident_name(&parts[0]);
            let name = ident_name(&parts[1]);
            match sources.iter().position(|s| s.qualifier == q) {
                Some(i) => Ok(Some((i, name))),
                None => Err(PlanError::statement(format!("'{q}' is not a valid stream/table name or alias."))),
            }
        }
        sql::Expr::Nested(inner) => column_ref(inner, sources),
        _ => Ok(None),
    }
}

/// The qualifiers of the sources `e` references, in first-reference order.
fn referenced(e: &sql::Expr, sources: &[Joined]) -> Result<Vec<String>> {
    // Field names after `->` are not columns.
    let mut e = e.clone();
    let _ = sql::visit_expressions_mut(&mut e, |x| {
        if let sql::Expr::BinaryOp { op: sql::BinaryOperator::Arrow, right, .. } = x {
            **right = sql::Expr::value(sql::Value::Null);
        }
        ControlFlow::<()>::Continue(())
    });
    let mut out: Vec<String> = Vec::new();
    let flow = sql::visit_expressions(&e, |x| {
        let found = match x {
            sql::Expr::Identifier(id) => {
                let name = ident_name(id);
                let owners: Vec<&Joined> = sources.iter().filter(|s| s.names.contains(&name)).collect();
                match owners.as_slice() {
                    [] => return ControlFlow::Break(PlanError::statement(format!("JOIN ON column '{name}' cannot be resolved."))),
                    [one] => Some(one.qualifier.clone()),
                    [first, second, ..] => {
                        return ControlFlow::Break(PlanError::statement(format!(
                            "Column '{name}' is ambiguous. Could be {}.{name} or {}.{name}.",
                            first.qualifier, second.qualifier
                        )))
                    }
                }
            }
            sql::Expr::CompoundIdentifier(parts) if parts.len() >= 2 => {
                let q = ident_name(&parts[0]);
                let name = ident_name(&parts[1]);
                match sources.iter().find(|s| s.qualifier == q) {
                    None => {
                        return ControlFlow::Break(PlanError::statement(format!(
                            "Failed to prepare statement: '{q}' is not a valid stream/table name or alias."
                        )))
                    }
                    Some(s) if !s.names.contains(&name) => {
                        return ControlFlow::Break(PlanError::statement(format!("JOIN ON column '{q}.{name}' cannot be resolved.")))
                    }
                    Some(s) => Some(s.qualifier.clone()),
                }
            }
            _ => None,
        };
        if let Some(q) = found {
            if !out.contains(&q) {
                out.push(q);
            }
        }
        ControlFlow::Continue(())
    });
    match flow {
        ControlFlow::Break(e) => Err(e),
        ControlFlow::Continue(()) => Ok(out),
    }
}

/// ksql's rendering of a join condition: qualified upper-case columns, `(a = b)`.
fn render(e: &sql::Expr, sources: &[Joined]) -> String {
    match e {
        sql::Expr::Identifier(id) => {
            let name = ident_name(id);
            match sources.iter().find(|s| s.names.contains(&name)) {
                Some(s) => format!("{}.{name}", s.qualifier),
                None => name,
            }
        }
        sql::Expr::CompoundIdentifier(parts) => parts.iter().map(ident_name).collect::<Vec<_>>().join("."),
        sql::Expr::Nested(inner) => render(inner, sources),
        sql::Expr::BinaryOp { left, op, right } => format!("({} {op} {})", render(left, sources), render(right, sources)),
        sql::Expr::Value(v) => match &v.value {
            sql::Value::Null => "null".to_string(),
            other => other.to_string(),
        },
        sql::Expr::Function(f) => {
            let name = f.name.to_string().to_ascii_uppercase();
            let args: Vec<String> = match &f.args {
                sql::FunctionArguments::List(list) => list
                    .args
                    .iter()
                    .map(|a| match a {
                        sql::FunctionArg::Unnamed(sql::FunctionArgExpr::Expr(x)) => render(x, sources),
                        other => other.to_string(),
                    })
                    .collect(),
                _ => Vec::new(),
            };
            format!("{name}({})", args.join(", "))
        }
        other => other.to_string(),
    }
}

/// DataFusion's ambiguous-reference error as ksqlDB's message.
fn ambiguity_message(message: &str, sources: &[Joined]) -> Option<String> {
    let rest = message.split("Ambiguous reference to unqualified field ").nth(1)?;
    let name: String = rest.chars().take_while(|c| !c.is_whitespace()).collect::<String>().trim_matches('"').to_string();
    let owners: Vec<&Joined> = sources.iter().filter(|s| s.names.contains(&name)).collect();
    match owners.as_slice() {
        [first, second, ..] => Some(format!("Column '{name}' is ambiguous. Could be {}.{name} or {}.{name}.", first.qualifier, second.qualifier)),
        _ => None,
    }
}

fn join_on_error(e: PlanError, text: &str) -> PlanError {
    match e {
        PlanError::Statement(m) => PlanError::statement(format!("Invalid join condition {text}: {m}")),
        other => other,
    }
}
