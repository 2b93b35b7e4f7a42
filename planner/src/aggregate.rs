//! GROUP BY / WINDOW / HAVING planning.
//!
//! ```text
//!   Projection [key aliases, value exprs over __KEY_j/__AGG_i, __ROWTIME, window bounds]
//!     Aggregate(keys, calls, window, having)        nodes::AggregateNode
//!       Projection [__KEY_j = group exprs, __ARG_n = aggregate args, __ROWTIME]
//!         Filter (WHERE)
//!           TableScan
//! ```
//! Aggregate calls are lifted out of the select items and HAVING on the SQL AST (each
//! becomes a column `__AGG_i`), the rest of each item is planned over the scan schema plus
//! those columns, and then every sub-expression equal to a GROUP BY expression is replaced by
//! its key column. A column of the source left over after that is a non-aggregate expression
//! that is not part of the GROUP BY: an error, as in ksqlDB.

use std::collections::HashSet;
use std::ops::ControlFlow;
use std::sync::Arc;

use arrow::datatypes::{DataType, Field};
use datafusion::common::config::ConfigOptions;
use datafusion::common::tree_node::{Transformed, TreeNode, TreeNodeRecursion};
use datafusion::common::{Column as DfColumn, DFSchema, ScalarValue, TableReference};
use datafusion::logical_expr::{col, EmptyRelation, Expr, ExprSchemable, Extension, Filter, LogicalPlan, LogicalPlanBuilder};
use datafusion::optimizer::analyzer::type_coercion::TypeCoercion;
use datafusion::optimizer::AnalyzerRule;
use runnel_parser::{Duration, EmitKind, Query, SourceKind, TimeUnit, WindowSpec};
use sqlparser::ast::{self as sql, FunctionArg, FunctionArgExpr, FunctionArguments};

use crate::catalog::{ColumnRole, SourceDef, WindowInfo, WindowType};
use crate::error::{PlanError, Result};
use crate::functions::aggregates::{aggregate_return_type, aggregate_traits, is_aggregate};
use crate::nodes::{
    AggregateCall, AggregateNode, SourceTable, WindowDef, WindowKind, RESERVED_COLUMNS, ROWTIME, SINK_TIMESTAMP, SINK_WINDOWEND,
    SINK_WINDOWSTART, WINDOWEND, WINDOWSTART,
};
use crate::query::{clause_error, missing_from_projection, select_error, strip, table_function_arg, OutputColumn, PlannedQuery, QueryPlanner};
use crate::types::from_arrow;

pub(crate) const AGG_PREFIX: &str = "__AGG_";
const KEY_PREFIX: &str = "__KEY_";
const ARG_PREFIX: &str = "__ARG_";
/// Kafka Streams' grace period for windows declared without one (24h minus the window size).
const DEFAULT_GRACE_MS: i64 = 24 * 60 * 60 * 1000;

/// The joined relation a GROUP BY aggregates (see `QueryPlanner::plan_join`).
pub(crate) struct JoinedInput {
    pub(crate) plan: LogicalPlan,
    pub(crate) kind: SourceKind,
    /// The join result's event-time column.
    pub(crate) rowtime: String,
    pub(crate) sources: Vec<String>,
    /// The select items, named the way join queries name them.
    pub(crate) items: Vec<crate::query::Item>,
    /// See [`PlannedQuery::copartitioned`].
    pub(crate) copartitioned: Vec<(String, String)>,
}

/// One aggregate call lifted out of the SQL.
pub(crate) struct Lifted {
    pub(crate) name: String,
    /// Planned non-literal arguments (over the scan schema).
    pub(crate) args: Vec<Expr>,
    pub(crate) literals: Vec<ScalarValue>,
    pub(crate) return_type: DataType,
    /// ksql rendering, e.g. `COUNT(ROWTIME)`.
    text: String,
}

pub(crate) fn millis(d: &Duration) -> i64 {
    let unit: i64 = match d.unit {
        TimeUnit::Milliseconds => 1,
        TimeUnit::Seconds => 1_000,
        TimeUnit::Minutes => 60_000,
        TimeUnit::Hours => 3_600_000,
        TimeUnit::Days => 86_400_000,
    };
    (d.value as i64).saturating_mul(unit)
}

/// The windows of `spec`; grace defaults to 0 for EMIT FINAL (results must come out) and to
/// Kafka Streams' legacy 24h-minus-size otherwise; retention defaults to size + grace.
pub fn window_def(spec: &WindowSpec, emit_final: bool) -> WindowDef {
    let (kind, span, retention, grace) = match spec {
        WindowSpec::Tumbling { size, retention, grace } => {
            (WindowKind::Tumbling { size: millis(size) }, millis(size), retention, grace)
        }
        WindowSpec::Hopping { size, advance, retention, grace } => {
            (WindowKind::Hopping { size: millis(size), advance: millis(advance) }, millis(size), retention, grace)
        }
        WindowSpec::Session { gap, retention, grace } => (WindowKind::Session { gap: millis(gap) }, millis(gap), retention, grace),
    };
    let grace = match grace {
        Some(g) => millis(g),
        None if emit_final => 0,
        None => (DEFAULT_GRACE_MS - span).max(0),
    };
    let retention = retention.as_ref().map(millis).unwrap_or(span.saturating_add(grace)).max(span.saturating_add(grace));
    WindowDef { kind, grace, retention }
}

fn function_name(f: &sql::Function) -> String {
    match f.name.0.last() {
        Some(sql::ObjectNamePart::Identifier(id)) => id.value.to_ascii_uppercase(),
        Some(other) => other.to_string().to_ascii_uppercase(),
        None => String::new(),
    }
}

fn aggregate_call(e: &sql::Expr) -> Option<(&sql::Function, String)> {
    match e {
        sql::Expr::Function(f) => {
            let name = function_name(f);
            is_aggregate(&name).then_some((f, name))
        }
        _ => None,
    }
}

pub(crate) fn contains_aggregate(e: &sql::Expr) -> Option<String> {
    let mut found = None;
    let _ = sql::visit_expressions(e, |x| {
        if let Some((_, name)) = aggregate_call(x) {
            found = Some(name);
            return ControlFlow::Break(());
        }
        ControlFlow::Continue(())
    });
    found
}

fn call_args(f: &sql::Function) -> Vec<&sql::Expr> {
    match &f.args {
        FunctionArguments::List(list) => list
            .args
            .iter()
            .filter_map(|a| match a {
                FunctionArg::Unnamed(FunctionArgExpr::Expr(e)) => Some(e),
                _ => None,
            })
            .collect(),
        _ => Vec::new(),
    }
}

/// ksql's rendering of an expression in error messages: `SUBSTRING(SOURCE, 0, 1)`, `(F1 * SUM(F2))`.
fn render(e: &sql::Expr) -> String {
    match e {
        sql::Expr::Identifier(id) => crate::expr::ident_name(id),
        sql::Expr::CompoundIdentifier(parts) => parts.last().map(crate::expr::ident_name).unwrap_or_default(),
        sql::Expr::Nested(inner) => render(inner),
        sql::Expr::BinaryOp { left, op, right } => format!("({} {op} {})", render(left), render(right)),
        sql::Expr::Function(f) => {
            let name = function_name(f);
            let args: Vec<String> = call_args(f).into_iter().map(render).collect();
            if name == "COUNT" && args.is_empty() {
                return "COUNT(ROWTIME)".to_string();
            }
            format!("{name}({})", args.join(", "))
        }
        other => other.to_string(),
    }
}

fn unresolved_columns(e: &Expr, out: &mut Vec<String>) {
    let _ = e.apply(|x| {
        if let Expr::Column(c) = x {
            if !c.name.starts_with(AGG_PREFIX) && !c.name.starts_with(KEY_PREFIX) && c.name != WINDOWSTART && c.name != WINDOWEND {
                out.push(c.name.clone());
            }
        }
        Ok(TreeNodeRecursion::Continue)
    });
}

impl QueryPlanner<'_> {
    /// Whether the projection or HAVING calls an aggregate function.
    pub(crate) fn has_aggregates(&self, query: &Query) -> bool {
        query.projection.iter().any(|item| match item {
            runnel_parser::SelectItem::UnnamedExpr(e) | runnel_parser::SelectItem::ExprWithAlias { expr: e, .. } => {
                contains_aggregate(e).is_some()
            }
            _ => false,
        })
    }

    /// Lifts every aggregate call out of `e` (replacing it with a `__AGG_i` column).
    pub(crate) fn lift_aggregates(&self, e: &mut sql::Expr, lifted: &mut Vec<Lifted>, scan: &DFSchema) -> Result<()> {
        // Nesting is checked top-down on the original tree, so the message shows both calls.
        let mut nested = None;
        let _ = sql::visit_expressions(&*e, |x| {
            if let Some((f, name)) = aggregate_call(x) {
                if call_args(f).into_iter().any(|a| contains_aggregate(a).is_some()) {
                    nested = Some(format!("{name}({})", call_args(f).into_iter().map(|a| a.to_string().to_ascii_uppercase()).collect::<Vec<_>>().join(", ")));
                    return ControlFlow::Break(());
                }
            }
            ControlFlow::Continue(())
        });
        if let Some(text) = nested {
            return Err(PlanError::statement(format!("Aggregate functions can not be nested: {text}")));
        }
        let flow = sql::visit_expressions_mut(e, |x| {
            let Some((f, name)) = aggregate_call(x) else { return ControlFlow::Continue(()) };
            let f = f.clone();
            match self.lift_one(&f, &name, lifted, scan) {
                Ok(index) => {
                    *x = sql::Expr::Identifier(sql::Ident::with_quote('`', format!("{AGG_PREFIX}{index}")));
                    ControlFlow::Continue(())
                }
                Err(err) => ControlFlow::Break(err),
            }
        });
        match flow {
            ControlFlow::Break(err) => Err(err),
            ControlFlow::Continue(()) => Ok(()),
        }
    }

    fn lift_one(&self, f: &sql::Function, name: &str, lifted: &mut Vec<Lifted>, scan: &DFSchema) -> Result<usize> {
        let traits = aggregate_traits(name);
        let mut args = Vec::new();
        let mut literals = Vec::new();
        let mut types = Vec::new();
        let raw = call_args(f);
        let star = matches!(&f.args, FunctionArguments::List(l) if l.args.iter().any(|a| matches!(a, FunctionArg::Unnamed(FunctionArgExpr::Wildcard))));
        for (position, arg) in raw.iter().enumerate() {
            if traits.is_literal_param(position, raw.len()) {
                let planned = self.exprs().plan(arg, &DFSchema::empty()).map_err(|_| {
                    PlanError::statement(format!(
                        "Parameter {} passed to function {name} must be a literal constant, but was expression: '{}'",
                        position + 1,
                        render(arg)
                    ))
                })?;
                match planned {
                    Expr::Literal(v, _) => literals.push(v),
                    _ => {
                        return Err(PlanError::statement(format!(
                            "Parameter {} passed to function {name} must be a literal constant, but was expression: '{}'",
                            position + 1,
                            render(arg)
                        )))
                    }
                }
            } else {
                let planned = self.exprs().plan(arg, scan).map_err(|e| select_error(arg, e))?;
                let (_, field) = planned.to_field(scan)?;
                types.push(field.data_type().clone());
                args.push(planned);
            }
        }
        let mut all_types = types.clone();
        all_types.extend(literals.iter().map(|l| l.data_type()));
        let return_type = if name == "COUNT" && (star || args.is_empty()) {
            args.clear();
            DataType::Int64
        } else {
            aggregate_return_type(name, &all_types)?
        };
        let text = render(&sql::Expr::Function(f.clone()));
        let same = |l: &Lifted| {
            l.name == name
                && l.literals == literals
                && l.args.len() == args.len()
                && l.args.iter().zip(&args).all(|(a, b)| strip(a) == strip(b))
        };
        if let Some(existing) = lifted.iter().position(same) {
            return Ok(existing);
        }
        lifted.push(Lifted { name: name.to_string(), args, literals, return_type, text });
        Ok(lifted.len() - 1)
    }

    pub(crate) fn plan_aggregate(&self, query: &Query, source: &SourceDef, sink_name: Option<&str>) -> Result<PlannedQuery> {
        self.plan_aggregate_over(query, source, sink_name, None)
    }

    /// Plans GROUP BY over `source`, or over `join` (the joined relation of a JOIN query,
    /// with its items already named) when given.
    pub(crate) fn plan_aggregate_over(
        &self,
        query: &Query,
        source: &SourceDef,
        sink_name: Option<&str>,
        join: Option<JoinedInput>,
    ) -> Result<PlannedQuery> {
        if query.group_by.is_empty() {
            if query.window.is_some() {
                return Err(PlanError::statement("WINDOW clause requires a GROUP BY clause."));
            }
            if query.having.is_some() {
                return Err(PlanError::statement("HAVING clause requires a GROUP BY clause."));
            }
        }
        if source.window.is_some() && source.kind == SourceKind::Table && sink_name.is_some() && join.is_none() {
            return Err(PlanError::statement("KSQL does not support persistent queries on windowed tables."));
        }
        if !query.partition_by.is_empty() {
            return Err(PlanError::statement("PARTITION BY is not supported with GROUP BY"));
        }
        let emit_final = query.emit == Some(EmitKind::Final);
        if emit_final && query.window.is_none() {
            return Err(PlanError::statement("EMIT FINAL is only supported for windowed aggregations."));
        }
        let qualifier = query.from.alias.clone().unwrap_or_else(|| source.name.clone());
        // The input's kind, window, event-time column and source names.
        let (input_kind, input_window, rowtime, source_names) = match &join {
            Some(j) => (j.kind, None, col(DfColumn::new_unqualified(j.rowtime.clone())), j.sources.clone()),
            None => (
                source.kind,
                source.window,
                col(DfColumn::new(Some(TableReference::bare(qualifier.as_str())), ROWTIME)),
                vec![source.name.clone()],
            ),
        };
        let mut builder = match &join {
            Some(j) => LogicalPlanBuilder::from(j.plan.clone()),
            None => LogicalPlanBuilder::scan(
                TableReference::bare(qualifier.clone()),
                Arc::new(SourceTable::new(source.clone())) as Arc<dyn datafusion::logical_expr::TableSource>,
                None,
            )?,
        };
        let scan_schema = builder.schema().clone();
        if let Some(selection) = &query.selection {
            if contains_aggregate(selection).is_some() {
                return Err(PlanError::statement("Aggregate functions are not allowed in WHERE."));
            }
            // Window bounds exist only after the aggregation (WHERE filters its input).
            if let Some(bound) = window_bound_in(selection).filter(|_| input_window.is_none()) {
                return Err(PlanError::statement(format!("Error in WHERE expression: Unknown column {bound}.")));
            }
            let predicate = self.exprs().plan(selection, &scan_schema).map_err(|e| clause_error("WHERE", e))?;
            builder = builder.filter(predicate)?;
        }

        let mut items = match join.as_ref().map(|j| j.items.clone()) {
            Some(items) => items,
            None => self.expand_projection(query, source, &qualifier, &scan_schema, None)?,
        };
        let windowed = query.window.is_some();
        for item in &items {
            // A client may select the window bounds of a windowed aggregation as they are.
            let window_bound = item.name == WINDOWSTART || item.name == WINDOWEND;
            if self.transient && windowed && window_bound && !item.aliased {
                continue;
            }
            if RESERVED_COLUMNS.contains(&item.name.as_str()) {
                if item.aliased {
                    return Err(PlanError::statement(format!(
                        "`{}` is a reserved column name. You cannot use it as an alias for a column.",
                        item.name
                    )));
                }
                return Err(PlanError::statement(format!(
                    "Reserved column name in select: `{}`. Please remove or alias the column.",
                    item.name
                )));
            }
        }

        // GROUP BY expressions over the source.
        let mut group_by = Vec::with_capacity(query.group_by.len());
        for g in &query.group_by {
            if let Some(name) = contains_aggregate(g) {
                return Err(PlanError::statement(format!("GROUP BY does not support aggregate functions: {name} is an aggregate function.")));
            }
            if let Some(bound) = window_bound_in(g) {
                return Err(window_bound_error(&bound));
            }
            group_by.push(self.exprs().plan(g, &scan_schema).map_err(|e| clause_error("GROUP BY", e))?);
        }

        for item in &items {
            if table_function_arg(&item.expr)?.is_some() {
                return Err(PlanError::statement("Table functions cannot be used with aggregations."));
            }
        }
        let mut lifted = Vec::new();
        for item in items.iter_mut() {
            self.lift_aggregates(&mut item.expr, &mut lifted, &scan_schema)?;
        }
        let mut having_sql = query.having.clone();
        if let Some(h) = having_sql.as_mut() {
            if let Some(bound) = window_bound_in(h) {
                return Err(window_bound_error(&bound));
            }
            self.lift_aggregates(h, &mut lifted, &scan_schema)?;
        }
        if group_by.is_empty() && self.transient {
            // A push query aggregates everything into one group (ksqlDB groups by a constant).
            group_by.push(datafusion::logical_expr::lit(ScalarValue::Int32(Some(1))));
        }
        if group_by.is_empty() {
            let calls: Vec<&str> = lifted.iter().map(|l| l.text.as_str()).collect();
            return Err(PlanError::statement(format!(
                "CREATE TABLE AS SELECT statement does not support aggregate function [{}] without a GROUP BY clause.",
                calls.join(", ")
            )));
        }
        if input_kind == SourceKind::Table {
            let mut stream_only: Vec<&str> = Vec::new();
            for l in &lifted {
                if !aggregate_traits(&l.name).undoable && !stream_only.contains(&l.name.as_str()) {
                    stream_only.push(&l.name);
                }
            }
            if !stream_only.is_empty() {
                let list = match stream_only.as_slice() {
                    [one] => one.to_string(),
                    [init @ .., last] => format!("{} and {last}", init.join(", ")),
                    [] => String::new(),
                };
                let noun = if stream_only.len() == 1 { "function" } else { "functions" };
                return Err(PlanError::statement(format!(
                    "The aggregation {noun} {list} cannot be applied to a table source, only to a stream source."
                )));
            }
        }

        // Items are planned over the source plus the lifted aggregates (and window bounds).
        let mut extra: Vec<(Option<TableReference>, Arc<Field>)> = lifted
            .iter()
            .enumerate()
            .map(|(i, l)| (None, Arc::new(Field::new(format!("{AGG_PREFIX}{i}"), l.return_type.clone(), true))))
            .collect();
        if windowed && input_window.is_none() && join.is_none() {
            let q = join.is_none().then(|| TableReference::bare(qualifier.as_str()));
            extra.push((q.clone(), Arc::new(Field::new(WINDOWSTART, DataType::Int64, true))));
            extra.push((q, Arc::new(Field::new(WINDOWEND, DataType::Int64, true))));
        }
        let mut extended = scan_schema.as_ref().clone();
        extended.merge(&DFSchema::new_with_metadata(extra, Default::default())?);

        let to_output = |e: Expr| -> Result<Expr> {
            let rewritten = e.transform_down(|x| {
                if let Some(j) = group_by.iter().position(|g| strip(g) == strip(&x)) {
                    return Ok(Transformed::new(col(DfColumn::new_unqualified(format!("{KEY_PREFIX}{j}"))), true, TreeNodeRecursion::Jump));
                }
                Ok(match x {
                    Expr::Column(c) if c.name.starts_with(AGG_PREFIX) || (windowed && (c.name == WINDOWSTART || c.name == WINDOWEND)) => {
                        Transformed::yes(Expr::Column(DfColumn::new_unqualified(c.name)))
                    }
                    other => Transformed::no(other),
                })
            })?;
            Ok(rewritten.data)
        };

        let mut planned = Vec::with_capacity(items.len());
        let mut not_grouped = Vec::new();
        for item in &items {
            let e = self.exprs().plan(&item.expr, &extended).map_err(|e| select_error(&item.expr, e))?;
            let e = to_output(e)?;
            let mut leftover = Vec::new();
            unresolved_columns(&e, &mut leftover);
            if !leftover.is_empty() {
                not_grouped.push(render_item(&item.expr, &lifted));
            }
            planned.push(e);
        }
        if lifted.is_empty() {
            return Err(PlanError::statement("GROUP BY requires aggregate functions in either the SELECT or HAVING clause."));
        }
        if !not_grouped.is_empty() {
            return Err(PlanError::statement(format!(
                "Non-aggregate SELECT expression(s) not part of GROUP BY: {}",
                not_grouped.join(", ")
            )));
        }
        let having = match &having_sql {
            Some(h) => {
                let e = self.exprs().plan(h, &extended).map_err(|e| clause_error("HAVING", e))?;
                let e = to_output(e)?;
                let mut leftover = Vec::new();
                unresolved_columns(&e, &mut leftover);
                if let Some(first) = leftover.first() {
                    return Err(PlanError::statement(format!("Non-aggregate HAVING expression not part of GROUP BY: {first}")));
                }
                Some(e)
            }
            None => None,
        };

        // Key columns: the select items that are exactly a GROUP BY expression.
        let mut key_item = vec![None; group_by.len()];
        for (j, slot) in key_item.iter_mut().enumerate() {
            let key_col = format!("{KEY_PREFIX}{j}");
            let matches: Vec<usize> =
                planned.iter().enumerate().filter(|(_, e)| matches!(e, Expr::Column(c) if c.name == key_col)).map(|(i, _)| i).collect();
            match matches.as_slice() {
                [] => {}
                [one] => *slot = Some(*one),
                many => {
                    let names: Vec<String> = many.iter().map(|&i| format!("`{}`", items[i].name)).collect();
                    return Err(PlanError::statement(format!(
                        "The projection contains a key column more than once: {}.",
                        names.join(" and ")
                    )));
                }
            }
        }
        let missing: Vec<String> = key_item
            .iter()
            .enumerate()
            .filter(|(_, k)| k.is_none())
            // A push query without GROUP BY has one synthetic group, which is no select item.
            .filter_map(|(j, _)| query.group_by.get(j).map(render))
            .collect();
        // A client needs no key columns; a sink does.
        if !missing.is_empty() && !self.transient {
            return Err(missing_from_projection(sink_name, "grouping expression", "grouping expressions", &missing));
        }
        let is_key: Vec<bool> = (0..items.len()).map(|i| key_item.contains(&Some(i))).collect();

        // The aggregate's input: keys, arguments, event time.
        let mut pre: Vec<Expr> = group_by.iter().enumerate().map(|(j, g)| g.clone().alias(format!("{KEY_PREFIX}{j}"))).collect();
        let mut calls = Vec::with_capacity(lifted.len());
        let mut arg_count = 0usize;
        for l in &lifted {
            let mut arg_columns = Vec::new();
            for a in &l.args {
                arg_columns.push(group_by.len() + arg_count);
                pre.push(a.clone().alias(format!("{ARG_PREFIX}{arg_count}")));
                arg_count += 1;
            }
            calls.push(AggregateCall {
                function: l.name.clone(),
                args: arg_columns,
                literals: l.literals.clone(),
                return_type: l.return_type.clone(),
            });
        }
        pre.push(rowtime.alias(SINK_TIMESTAMP));
        let pre_plan = TypeCoercion::new().analyze(builder.project(pre)?.build()?, &ConfigOptions::default())?;
        for (j, g) in group_by.iter().enumerate() {
            let (_, field) = g.to_field(&scan_schema)?;
            if let DataType::Map(..) = field.data_type() {
                return Err(PlanError::statement(format!(
                    "Map keys, including types that contain maps, are not supported as they may lead to unexpected behavior due to inconsistent serialization. Key column name: `{}`.",
                    key_item[j].map(|i| items[i].name.clone()).unwrap_or_default()
                )));
            }
        }

        // The aggregate's output schema.
        let mut out_fields: Vec<(Option<TableReference>, Arc<Field>)> = Vec::new();
        for (j, field) in pre_plan.schema().fields().iter().take(group_by.len()).enumerate() {
            out_fields.push((None, Arc::new(Field::new(format!("{KEY_PREFIX}{j}"), field.data_type().clone(), true))));
        }
        for (i, l) in lifted.iter().enumerate() {
            out_fields.push((None, Arc::new(Field::new(format!("{AGG_PREFIX}{i}"), l.return_type.clone(), true))));
        }
        out_fields.push((None, Arc::new(Field::new(SINK_TIMESTAMP, DataType::Int64, true))));
        if windowed {
            out_fields.push((None, Arc::new(Field::new(WINDOWSTART, DataType::Int64, true))));
            out_fields.push((None, Arc::new(Field::new(WINDOWEND, DataType::Int64, true))));
        }
        let agg_schema = Arc::new(DFSchema::new_with_metadata(out_fields, Default::default())?);
        let having = match having {
            Some(h) => {
                let filter = LogicalPlan::Filter(Filter::try_new(
                    h,
                    Arc::new(LogicalPlan::EmptyRelation(EmptyRelation { produce_one_row: false, schema: agg_schema.clone() })),
                )?);
                match TypeCoercion::new().analyze(filter, &ConfigOptions::default())? {
                    LogicalPlan::Filter(f) => Some(f.predicate),
                    _ => return Err(PlanError::Internal("HAVING lost its filter".into())),
                }
            }
            None => None,
        };
        // Grouping by exactly the source's key keeps records where they are.
        let source_keys: Vec<&str> = source.key_columns().map(|c| c.name.as_str()).collect();
        let by_source_key = join.is_none()
            && group_by.len() == source_keys.len()
            && group_by.iter().zip(&source_keys).all(|(g, k)| matches!(strip(g), Expr::Column(c) if c.name == *k));
        let window = query.window.as_ref().map(|w| window_def(w, emit_final));
        let node = AggregateNode {
            input: pre_plan,
            key_count: group_by.len(),
            calls,
            window,
            emit_final,
            having,
            table_input: input_kind == SourceKind::Table,
            // Grouped by anything but its key, each row (a table's: each change) moves to its
            // group's partition.
            repartition: !by_source_key,
            schema: agg_schema,
        };
        let agg_plan = LogicalPlan::Extension(Extension { node: Arc::new(node) });

        // Validate names, then the result projection: keys (GROUP BY order), values, time.
        let mut seen = HashSet::new();
        for (i, item) in items.iter().enumerate() {
            if !seen.insert(item.name.clone()) {
                let (_, field) = planned[i].to_field(&agg_plan.schema().as_ref().clone())?;
                let ty = from_arrow(field.data_type()).map(|t| crate::types::display_type(&t)).unwrap_or_default();
                return Err(PlanError::statement(format!("Duplicate value columns found in schema: `{}` {ty}", item.name)));
            }
        }
        if !is_key.iter().any(|k| !k) && !self.transient {
            return Err(PlanError::statement("The projection contains no value columns."));
        }
        let mut proj = Vec::new();
        let mut output = Vec::new();
        if self.transient {
            // A client sees the projection order.
            for (i, e) in planned.iter().enumerate() {
                proj.push(e.clone().alias(items[i].name.clone()));
                output.push((items[i].name.clone(), if is_key[i] { ColumnRole::Key } else { ColumnRole::Value }));
            }
        } else {
            for i in key_item.iter().flatten() {
                proj.push(planned[*i].clone().alias(items[*i].name.clone()));
                output.push((items[*i].name.clone(), ColumnRole::Key));
            }
            for (i, e) in planned.iter().enumerate() {
                if !is_key[i] {
                    proj.push(e.clone().alias(items[i].name.clone()));
                    output.push((items[i].name.clone(), ColumnRole::Value));
                }
            }
        }
        proj.push(col(DfColumn::new_unqualified(SINK_TIMESTAMP)).alias(SINK_TIMESTAMP));
        if windowed {
            proj.push(col(DfColumn::new_unqualified(WINDOWSTART)).alias(SINK_WINDOWSTART));
            proj.push(col(DfColumn::new_unqualified(WINDOWEND)).alias(SINK_WINDOWEND));
        }
        let plan = LogicalPlanBuilder::from(agg_plan).project(proj)?.build()?;
        let plan = TypeCoercion::new().analyze(plan, &ConfigOptions::default())?;
        let mut columns = Vec::with_capacity(output.len());
        for (i, (name, role)) in output.into_iter().enumerate() {
            let dt = plan.schema().field(i).data_type();
            if dt == &DataType::Null {
                return Err(PlanError::statement(
                    "Can't infer a type of null. Please explicitly cast it to a required type, e.g. CAST(null AS VARCHAR).",
                ));
            }
            columns.push(OutputColumn { name, data_type: from_arrow(dt)?, role });
        }
        let window_info = window.map(|w| match w.kind {
            WindowKind::Tumbling { size } => WindowInfo { window_type: WindowType::Tumbling, size_ms: Some(size) },
            WindowKind::Hopping { size, .. } => WindowInfo { window_type: WindowType::Hopping, size_ms: Some(size) },
            WindowKind::Session { .. } => WindowInfo { window_type: WindowType::Session, size_ms: None },
        });
        let complex_intermediate = lifted.iter().any(|l| aggregate_traits(&l.name).complex_intermediate);
        Ok(PlannedQuery {
            plan,
            sources: source_names,
            output: columns,
            kind: SourceKind::Table,
            window: window_info,
            repartitioned: !by_source_key,
            complex_intermediate,
            copartitioned: join.map(|j| j.copartitioned).unwrap_or_default(),
        })
    }
}

/// The window bound a GROUP BY / HAVING expression mentions, if any.
fn window_bound_in(e: &sql::Expr) -> Option<String> {
    let mut found = None;
    let _ = sql::visit_expressions(e, |x| {
        let name = match x {
            sql::Expr::Identifier(id) => Some(crate::expr::ident_name(id)),
            sql::Expr::CompoundIdentifier(parts) => parts.last().map(crate::expr::ident_name),
            _ => None,
        };
        if let Some(n) = name.filter(|n| n == WINDOWSTART || n == WINDOWEND) {
            found = Some(n);
            return ControlFlow::Break(());
        }
        ControlFlow::Continue(())
    });
    found
}

fn window_bound_error(bound: &str) -> PlanError {
    PlanError::statement(format!("Window bounds column {bound} can only be used in the SELECT clause of windowed aggregations"))
}

/// A select item in ksql's rendering with its lifted aggregates put back.
fn render_item(e: &sql::Expr, lifted: &[Lifted]) -> String {
    let mut restored = e.clone();
    let _ = sql::visit_expressions_mut(&mut restored, |x| {
        if let sql::Expr::Identifier(id) = x {
            if let Some(i) = id.value.strip_prefix(AGG_PREFIX).and_then(|n| n.parse::<usize>().ok()) {
                if let Some(l) = lifted.get(i) {
                    *x = sql::Expr::Identifier(sql::Ident::new(l.text.clone()));
                }
            }
        }
        ControlFlow::<()>::Continue(())
    });
    render(&restored)
}
