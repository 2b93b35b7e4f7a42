//! Pull queries: `SELECT` without `EMIT` over the current state of a table (or the current
//! contents of a stream's topic), planned as an ordinary bounded DataFusion plan:
//!
//! ```text
//!   [Limit] -> [Sort] -> Projection -> [Filter] -> TableScan(SourceTable)
//! ```
//!
//! The runtime swaps the scan's [`SourceTable`] for a provider over the materialized state
//! (key filters are pushed down to it) and runs the plan with DataFusion.
//!
//! ksqlDB restricts pull queries to key lookups unless table scans are enabled
//! (`ksql.query.pull.table.scan.enabled`, on by default); with scans disabled the WHERE clause
//! is checked the way ksqlDB checks it, with its messages.

use std::collections::HashSet;
use std::ops::ControlFlow;
use std::sync::Arc;

use datafusion::common::config::ConfigOptions;
use datafusion::common::{Column, DFSchema, TableReference};
use datafusion::logical_expr::expr::AggregateFunction;
use datafusion::logical_expr::{cast, lit, Expr, ExprSchemable, LogicalPlan, LogicalPlanBuilder, SortExpr};
use datafusion::optimizer::analyzer::type_coercion::TypeCoercion;
use datafusion::optimizer::AnalyzerRule;
use runnel_parser::{Query, SelectItem, SourceKind, SqlType};
use sqlparser::ast as sql;

use crate::aggregate::{contains_aggregate, Lifted, AGG_PREFIX};
use crate::catalog::{ColumnRole, SourceDef};
use crate::error::{PlanError, Result};
use crate::expr::{ident_name, is_null as is_null_literal};
use crate::nodes::{SourceTable, ROWOFFSET, ROWPARTITION, WINDOWEND, WINDOWSTART};
use crate::query::{clause_error, select_error, table_function_arg, OutputColumn, QueryPlanner};
use crate::types::{display_type, from_arrow};

/// Config switches of pull queries (ksqlDB's names; both default to on).
pub const TABLE_SCAN_ENABLED: &str = "ksql.query.pull.table.scan.enabled";
pub const RANGE_SCAN_ENABLED: &str = "ksql.query.pull.range.scan.enabled";

/// ksqlDB's hint appended to errors about pull-query features.
const PULL_HINT: &str = "See https://cnfl.io/queries for more info.\nAdd EMIT CHANGES if you intended to issue a push query.";

/// How a pull query may read the state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PullSettings {
    /// Queries that are not key lookups scan the whole table.
    pub table_scan_enabled: bool,
    /// Ranges over a single STRING key are served without a full scan.
    pub range_scan_enabled: bool,
}

impl Default for PullSettings {
    fn default() -> Self {
        PullSettings { table_scan_enabled: true, range_scan_enabled: true }
    }
}

impl PullSettings {
    /// Reads the switches from properties (request properties first).
    pub fn from_lookup<'a>(get: impl Fn(&str) -> Option<&'a str>) -> Self {
        let flag = |key: &str| get(key).is_none_or(|v| !v.trim().eq_ignore_ascii_case("false"));
        PullSettings { table_scan_enabled: flag(TABLE_SCAN_ENABLED), range_scan_enabled: flag(RANGE_SCAN_ENABLED) }
    }
}

/// A planned pull query.
#[derive(Debug, Clone)]
pub struct PlannedPull {
    /// `[Limit] -> [Sort] -> Projection -> [Filter] -> TableScan(SourceTable)`.
    pub plan: LogicalPlan,
    pub source: SourceDef,
    /// Result columns in projection order; `Key` marks key columns and window bounds selected
    /// as they are (ksqlDB prints those with `KEY`).
    pub output: Vec<OutputColumn>,
}

impl QueryPlanner<'_> {
    /// Plans a pull query. Use a planner made with [`QueryPlanner::transient`].
    pub fn plan_pull(&self, query: &Query, settings: PullSettings) -> Result<PlannedPull> {
        if !query.joins.is_empty() {
            return Err(PlanError::statement("Pull queries don't support JOIN clauses."));
        }
        if query.window.is_some() {
            return Err(PlanError::statement(format!("Pull queries don't support WINDOW clauses. {PULL_HINT}")));
        }
        if !query.group_by.is_empty() {
            return Err(PlanError::statement(format!("Pull queries don't support GROUP BY clauses. {PULL_HINT}")));
        }
        if query.having.is_some() {
            return Err(PlanError::statement(format!("Pull queries don't support HAVING clauses. {PULL_HINT}")));
        }
        if !query.partition_by.is_empty() {
            return Err(PlanError::statement(format!("Pull queries don't support PARTITION BY clauses. {PULL_HINT}")));
        }
        if let Some(limit) = &query.invalid_limit {
            if limit.trim_start().starts_with('-') {
                return Err(PlanError::statement(
                    "Pull queries don't support negative integers in the LIMIT clause. See https://cnfl.io/queries for more info.",
                ));
            }
            return Err(PlanError::statement(format!("Failed to prepare statement: Value must be integer for command: LIMIT (got {limit})")));
        }
        let source = self
            .catalog
            .source(&query.from.name)
            .ok_or_else(|| PlanError::statement(format!("{} does not exist.", query.from.name)))?
            .clone();
        check_pseudo_columns(query)?;

        let qualifier = query.from.alias.clone().unwrap_or_else(|| source.name.clone());
        let table = Arc::new(SourceTable::new(source.clone()));
        let mut builder =
            LogicalPlanBuilder::scan(TableReference::bare(qualifier.clone()), table as Arc<dyn datafusion::logical_expr::TableSource>, None)?;
        let scan_schema = builder.schema().clone();

        if let Some(selection) = &query.selection {
            if contains_aggregate(selection).is_some() {
                return Err(PlanError::statement("Aggregate functions are not allowed in WHERE."));
            }
            self.check_where(selection, &source, &scan_schema)?;
            if !settings.table_scan_enabled {
                check_key_lookup(selection, &source, settings)?;
            }
            let predicate = self.exprs().plan(selection, &scan_schema).map_err(|e| clause_error("WHERE", e))?;
            builder = builder.filter(predicate)?;
        } else if !settings.table_scan_enabled && source.kind == SourceKind::Table {
            return Err(PlanError::statement(format!(
                "Missing WHERE clause. See https://cnfl.io/queries for more info.\nAdd EMIT CHANGES if you intended to issue a push query.\nPull queries require a WHERE clause that:\n - includes a key equality expression, e.g. `SELECT * FROM X WHERE <key-column>=Y;`.\n - in the case of a windowed table, may optionally include WINDOWSTART and WINDOWEND bounds on the window.\nIf you want to scan the whole table, set {TABLE_SCAN_ENABLED}=true"
            )));
        }

        let (projected, mut output) = if self.has_aggregates(query) {
            self.aggregate_projection(query, &source, &qualifier, &scan_schema, builder)?
        } else {
            self.row_projection(query, &source, &qualifier, &scan_schema, builder)?
        };
        builder = projected;
        if !query.order_by.is_empty() {
            let result_schema = builder.schema().clone();
            let sort = query
                .order_by
                .iter()
                .map(|o| self.order_expr(o, &result_schema, &scan_schema))
                .collect::<Result<Vec<_>>>()?;
            builder = builder.sort(sort)?;
        }
        if let Some(limit) = query.limit {
            let fetch = usize::try_from(limit).unwrap_or(usize::MAX);
            builder = builder.limit(0, Some(fetch))?;
        }
        let plan = TypeCoercion::new().analyze(builder.build()?, &ConfigOptions::default())?;
        for (i, column) in output.iter_mut().enumerate() {
            column.data_type = from_arrow(plan.schema().field(i).data_type())?;
        }
        Ok(PlannedPull { plan, source, output })
    }

    /// The plan of the task that keeps a source table's rows for pull queries: each record's
    /// columns, ROWTIME and window bounds.
    pub fn plan_materialization(&self, def: &SourceDef) -> Result<LogicalPlan> {
        let table = Arc::new(SourceTable::new(def.clone()));
        let builder =
            LogicalPlanBuilder::scan(TableReference::bare(def.name.clone()), table as Arc<dyn datafusion::logical_expr::TableSource>, None)?;
        let columns: Vec<Expr> = builder
            .schema()
            .iter()
            .filter(|(_, f)| f.name() != ROWPARTITION && f.name() != ROWOFFSET)
            .map(|(qualifier, f)| Expr::Column(datafusion::common::Column::new(qualifier.cloned(), f.name())))
            .collect();
        Ok(builder.project(columns)?.build()?)
    }

    /// The select items of a pull query without aggregates: one result row per row read.
    fn row_projection(
        &self,
        query: &Query,
        source: &SourceDef,
        qualifier: &str,
        scan_schema: &DFSchema,
        builder: LogicalPlanBuilder,
    ) -> Result<(LogicalPlanBuilder, Vec<OutputColumn>)> {
        let items = self.expand_projection(query, source, qualifier, scan_schema, None)?;
        let mut projection = Vec::with_capacity(items.len());
        let mut output = Vec::with_capacity(items.len());
        let mut seen = HashSet::new();
        for item in &items {
            if table_function_arg(&item.expr)?.is_some() {
                return Err(PlanError::statement(format!("Pull queries don't support table functions. {PULL_HINT}")));
            }
            let e = self.exprs().plan(&item.expr, scan_schema).map_err(|e| select_error(&item.expr, e))?;
            let (_, field) = e.to_field(scan_schema)?;
            if field.data_type() == &arrow::datatypes::DataType::Null {
                return Err(PlanError::statement(
                    "Can't infer a type of null. Please explicitly cast it to a required type, e.g. CAST(null AS VARCHAR).",
                ));
            }
            let data_type = from_arrow(field.data_type())?;
            if !seen.insert(item.name.clone()) {
                return Err(PlanError::statement(format!(
                    "Duplicate value columns found in schema: `{}` {}",
                    item.name,
                    display_type(&data_type)
                )));
            }
            // A stream's rows have no key in a result (ksqlDB prints no KEY for them).
            let is_key = match &e {
                Expr::Column(c) if source.kind == SourceKind::Table => {
                    source.column(&c.name).is_some_and(|sc| sc.role == ColumnRole::Key)
                        || (source.window.is_some() && (c.name == WINDOWSTART || c.name == WINDOWEND))
                }
                _ => false,
            };
            projection.push(e.alias(item.name.clone()));
            output.push(OutputColumn { name: item.name.clone(), data_type, role: if is_key { ColumnRole::Key } else { ColumnRole::Value } });
        }
        Ok((builder.project(projection)?, output))
    }

    /// The select items of a pull query with aggregate functions (beyond ksqlDB, which refuses
    /// them): one result row over every row read, by DataFusion's aggregates, cast to ksql's
    /// result types. Without GROUP BY, every column must sit inside an aggregate.
    fn aggregate_projection(
        &self,
        query: &Query,
        source: &SourceDef,
        qualifier: &str,
        scan_schema: &DFSchema,
        builder: LogicalPlanBuilder,
    ) -> Result<(LogicalPlanBuilder, Vec<OutputColumn>)> {
        let items = self.expand_projection(query, source, qualifier, scan_schema, None)?;
        let mut lifted = Vec::new();
        let mut rewritten = Vec::with_capacity(items.len());
        for item in &items {
            let mut e = item.expr.clone();
            self.lift_aggregates(&mut e, &mut lifted, scan_schema)?;
            rewritten.push(e);
        }
        let calls = lifted
            .iter()
            .enumerate()
            .map(|(i, call)| Ok(bounded_aggregate(call)?.alias(format!("{AGG_PREFIX}{i}"))))
            .collect::<Result<Vec<_>>>()?;
        // DataFusion widens some results (SUM of INT is BIGINT); ksql keeps its own types.
        let typed: Vec<Expr> = lifted
            .iter()
            .enumerate()
            .map(|(i, call)| {
                let name = format!("{AGG_PREFIX}{i}");
                cast(Expr::Column(Column::new_unqualified(&name)), call.return_type.clone()).alias(name)
            })
            .collect();
        let builder = builder.aggregate(Vec::<Expr>::new(), calls)?.project(typed)?;
        let aggregated = builder.schema().clone();
        let mut projection = Vec::with_capacity(items.len());
        let mut output = Vec::with_capacity(items.len());
        let mut seen = HashSet::new();
        for (item, e) in items.iter().zip(&rewritten) {
            let planned = self.exprs().plan(e, &aggregated).map_err(|_| {
                PlanError::statement(format!(
                    "Non-aggregate SELECT expression(s) in a pull query with aggregate functions: {}. Pull queries have no GROUP BY: \
                     select aggregates of the rows read, or drop the aggregates.",
                    item.expr
                ))
            })?;
            if !seen.insert(item.name.clone()) {
                return Err(PlanError::statement(format!("Duplicate value columns found in schema: `{}`", item.name)));
            }
            let (_, field) = planned.to_field(&aggregated)?;
            let data_type = from_arrow(field.data_type())?;
            projection.push(planned.alias(item.name.clone()));
            output.push(OutputColumn { name: item.name.clone(), data_type, role: ColumnRole::Value });
        }
        Ok((builder.project(projection)?, output))
    }

    /// An ORDER BY item: a result column by name, else an expression over the result columns.
    fn order_expr(&self, item: &runnel_parser::OrderByItem, result: &DFSchema, scan: &DFSchema) -> Result<SortExpr> {
        let expr = match self.exprs().plan(&item.expr, result) {
            Ok(e) => e,
            Err(first) => match self.exprs().plan(&item.expr, scan) {
                // A column of the source that is not selected cannot be sorted on after the
                // projection: name the problem in ksql's terms.
                Ok(_) => {
                    return Err(PlanError::statement(format!(
                        "ORDER BY expression {} must be a result column or an expression over result columns.",
                        item.expr
                    )))
                }
                Err(_) => return Err(clause_error("ORDER BY", first)),
            },
        };
        Ok(SortExpr::new(expr, item.ascending, item.nulls_first.unwrap_or(!item.ascending)))
    }

    /// ksqlDB's type checks of comparisons in WHERE, and of IN lists on key columns.
    fn check_where(&self, selection: &sql::Expr, source: &SourceDef, schema: &DFSchema) -> Result<()> {
        let mut error = None;
        let _ = sql::visit_expressions(selection, |e| {
            let result = match e {
                sql::Expr::BinaryOp { left, op, right } if comparison_name(op).is_some() => self.check_comparison(left, op, right, schema),
                sql::Expr::InList { expr, list, negated: false } => check_key_in_list(expr, list, source),
                sql::Expr::Like { expr, .. } | sql::Expr::ILike { expr, .. } => self.check_like(expr, schema),
                _ => Ok(()),
            };
            match result {
                Ok(()) => ControlFlow::Continue(()),
                Err(e) => {
                    error = Some(e);
                    ControlFlow::Break(())
                }
            }
        });
        error.map_or(Ok(()), Err)
    }

    fn check_comparison(&self, left: &sql::Expr, op: &sql::BinaryOperator, right: &sql::Expr, schema: &DFSchema) -> Result<()> {
        let statement = format!("({} {op} {})", render(left), render(right));
        let (column, literal) = match (column_name(left), column_name(right)) {
            (Some(_), None) => (left, right),
            (None, Some(_)) => (right, left),
            _ => return Ok(()),
        };
        let Some(column_type) = self.column_type(column, schema) else { return Ok(()) };
        if is_null_literal(literal) {
            return Err(PlanError::statement(format!(
                "Error in WHERE expression: Comparison with NULL not supported: {} {op} NULL\nUse 'IS NULL' or 'IS NOT NULL' instead.\nStatement: {statement}",
                display_type(&column_type)
            )));
        }
        let Some(literal_type) = literal_type(literal) else { return Ok(()) };
        let time_column = matches!(column_name(column).as_deref(), Some("ROWTIME" | "WINDOWSTART" | "WINDOWEND"));
        let compatible = match (&column_type, &literal_type) {
            (c, SqlType::String) if is_numeric(c) => time_column,
            (SqlType::String, l) => !is_numeric(l) && *l != SqlType::Boolean,
            (SqlType::Boolean, l) => *l == SqlType::Boolean,
            (c, l) if is_numeric(c) => is_numeric(l),
            _ => true,
        };
        if compatible {
            return Ok(());
        }
        Err(PlanError::statement(format!(
            "Error in WHERE expression: Cannot compare {} ({}) to {} ({}) with {}.\nStatement: {statement}",
            render(column),
            display_type(&column_type),
            render(literal),
            display_type(&literal_type),
            comparison_name(op).unwrap_or("EQUAL"),
        )))
    }

    fn check_like(&self, expr: &sql::Expr, schema: &DFSchema) -> Result<()> {
        match self.column_type(expr, schema) {
            Some(SqlType::String) | None => Ok(()),
            Some(other) => Err(PlanError::statement(format!(
                "The column type for Like condition must be VARCHAR. The column type is {}",
                display_type(&other)
            ))),
        }
    }

    fn column_type(&self, e: &sql::Expr, schema: &DFSchema) -> Option<SqlType> {
        column_name(e)?;
        let planned = self.exprs().plan(e, schema).ok()?;
        let (_, field) = planned.to_field(schema).ok()?;
        from_arrow(field.data_type()).ok()
    }
}

/// A ksql aggregate call as the DataFusion aggregate that computes it over a bounded input.
fn bounded_aggregate(call: &Lifted) -> Result<Expr> {
    use datafusion::functions_aggregate::{array_agg, average, correlation, count, min_max, stddev, sum};
    let (function, distinct) = match call.name.as_str() {
        "COUNT" => (count::count_udaf(), false),
        "COUNT_DISTINCT" => (count::count_udaf(), true),
        "SUM" => (sum::sum_udaf(), false),
        "AVG" => (average::avg_udaf(), false),
        "MIN" => (min_max::min_udaf(), false),
        "MAX" => (min_max::max_udaf(), false),
        "STDDEV_SAMP" | "STDDEV_SAMPLE" => (stddev::stddev_udaf(), false),
        "STDDEV_POP" => (stddev::stddev_pop_udaf(), false),
        "CORRELATION" => (correlation::corr_udaf(), false),
        "COLLECT_LIST" => (array_agg::array_agg_udaf(), false),
        "COLLECT_SET" => (array_agg::array_agg_udaf(), true),
        other => {
            return Err(PlanError::statement(format!(
                "Pull queries don't support the aggregate function {other}. Supported in pull queries: COUNT, COUNT_DISTINCT, SUM, AVG, MIN, MAX, STDDEV_SAMP, STDDEV_POP, CORRELATION, COLLECT_LIST, COLLECT_SET."
            )))
        }
    };
    // COUNT(*) has no argument left: count every row.
    let args = if call.args.is_empty() { vec![lit(1i64)] } else { call.args.clone() };
    Ok(Expr::AggregateFunction(AggregateFunction::new_udf(function, args, distinct, None, Vec::new(), None)))
}

/// ROWPARTITION and ROWOFFSET describe a record's place in a topic, which materialized state
/// does not keep: pull queries may not use them (as in ksqlDB).
fn check_pseudo_columns(query: &Query) -> Result<()> {
    let mut in_select: Vec<&str> = Vec::new();
    for item in &query.projection {
        if let SelectItem::UnnamedExpr(e) | SelectItem::ExprWithAlias { expr: e, .. } = item {
            collect_pseudo(e, &mut in_select);
        }
    }
    if !in_select.is_empty() {
        return Err(PlanError::statement(format!(
            "Pull queries don't support the following columns in SELECT clauses: {}\n{PULL_HINT}",
            in_select.iter().map(|c| format!("`{c}`")).collect::<Vec<_>>().join(", ")
        )));
    }
    let mut in_where = Vec::new();
    if let Some(selection) = &query.selection {
        collect_pseudo(selection, &mut in_where);
    }
    if !in_where.is_empty() {
        return Err(PlanError::statement(format!(
            "Pull queries don't support the following columns in WHERE clauses: {}\n{PULL_HINT}",
            in_where.iter().map(|c| format!("`{c}`")).collect::<Vec<_>>().join(", ")
        )));
    }
    Ok(())
}

fn collect_pseudo(e: &sql::Expr, out: &mut Vec<&'static str>) {
    let _ = sql::visit_expressions(e, |x| {
        match column_name(x).as_deref() {
            Some(ROWPARTITION) if !out.contains(&ROWPARTITION) => out.push(ROWPARTITION),
            Some(ROWOFFSET) if !out.contains(&ROWOFFSET) => out.push(ROWOFFSET),
            _ => {}
        }
        ControlFlow::<()>::Continue(())
    });
}

/// The column a (possibly qualified) identifier names.
fn column_name(e: &sql::Expr) -> Option<String> {
    match e {
        sql::Expr::Identifier(id) => Some(ident_name(id)),
        sql::Expr::CompoundIdentifier(parts) if parts.len() <= 2 => parts.last().map(ident_name),
        sql::Expr::Nested(inner) => column_name(inner),
        _ => None,
    }
}

fn comparison_name(op: &sql::BinaryOperator) -> Option<&'static str> {
    use sql::BinaryOperator as B;
    Some(match op {
        B::Eq => "EQUAL",
        B::NotEq => "NOT_EQUAL",
        B::Lt => "LESS_THAN",
        B::LtEq => "LESS_THAN_OR_EQUAL",
        B::Gt => "GREATER_THAN",
        B::GtEq => "GREATER_THAN_OR_EQUAL",
        _ => return None,
    })
}

fn is_numeric(t: &SqlType) -> bool {
    matches!(t, SqlType::Int | SqlType::Bigint | SqlType::Double | SqlType::Decimal { .. })
}

/// The type of a plain literal (`'x'`, `1`, `1.5`, `true`), if it is one.
fn literal_type(e: &sql::Expr) -> Option<SqlType> {
    match e {
        sql::Expr::Value(v) => match &v.value {
            sql::Value::SingleQuotedString(_) => Some(SqlType::String),
            sql::Value::Number(text, _) => Some(if text.contains(['.', 'e', 'E']) { SqlType::Double } else { SqlType::Bigint }),
            sql::Value::Boolean(_) => Some(SqlType::Boolean),
            _ => None,
        },
        sql::Expr::UnaryOp { expr, .. } => literal_type(expr).filter(is_numeric),
        sql::Expr::Nested(inner) => literal_type(inner),
        _ => None,
    }
}

/// An expression as ksqlDB prints it in messages (`NULL` as `null`).
fn render(e: &sql::Expr) -> String {
    if is_null_literal(e) {
        return "null".into();
    }
    match column_name(e) {
        Some(name) if matches!(e, sql::Expr::Identifier(_) | sql::Expr::CompoundIdentifier(_)) => name,
        _ => e.to_string(),
    }
}

/// ksqlDB's checks of `KEY IN (...)`: no NULLs, and literals that fit the key's type.
fn check_key_in_list(expr: &sql::Expr, list: &[sql::Expr], source: &SourceDef) -> Result<()> {
    let Some(name) = column_name(expr) else { return Ok(()) };
    let Some(key) = source.key_columns().find(|k| k.name == name) else { return Ok(()) };
    for item in list {
        if is_null_literal(item) {
            return Err(PlanError::statement(format!("Primary key columns can not be NULL: ({name} = null)")));
        }
        if let Some(literal) = literal_type(item) {
            let fits = match (&key.data_type, &literal) {
                (k, SqlType::String) if is_numeric(k) => false,
                (SqlType::String, l) => !is_numeric(l),
                (k, l) if is_numeric(k) => is_numeric(l),
                _ => true,
            };
            if !fits {
                return Err(PlanError::statement(format!(
                    "{item} can not be converted to the type of the key column: {name} {} KEY",
                    display_type(&key.data_type)
                )));
            }
        }
    }
    Ok(())
}

/// How one conjunct constrains a key column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum KeyBound {
    Equal,
    In,
    NotEqual,
    Range,
}

/// With table scans disabled, a pull query must be a key lookup: every disjunct of the WHERE
/// clause fixes every key column (ranges over one STRING key are allowed when range scans are
/// on). Messages follow ksqlDB's.
fn check_key_lookup(selection: &sql::Expr, source: &SourceDef, settings: PullSettings) -> Result<()> {
    let keys: Vec<&crate::catalog::Column> = source.key_columns().collect();
    let key_names: Vec<&str> = keys.iter().map(|k| k.name.as_str()).collect();
    let mut disjuncts = Vec::new();
    split(selection, &sql::BinaryOperator::Or, &mut disjuncts);
    let mut any_range = false;
    for disjunct in &disjuncts {
        let mut conjuncts = Vec::new();
        split(disjunct, &sql::BinaryOperator::And, &mut conjuncts);
        let mut bounds: Vec<(String, KeyBound)> = Vec::new();
        for conjunct in conjuncts {
            if let Some(bound) = key_bound(conjunct, &key_names)? {
                bounds.push(bound);
            }
        }
        if bounds.is_empty() {
            let text = if disjuncts.len() == 1 && matches!(disjunct, sql::Expr::BinaryOp { .. }) {
                format!(": ({disjunct})")
            } else {
                String::new()
            };
            return Err(PlanError::statement(format!("WHERE clause missing key column for disjunct{text}")));
        }
        for (i, (name, _)) in bounds.iter().enumerate() {
            if bounds[..i].iter().any(|(n, _)| n == name) {
                return Err(PlanError::statement(
                    "A comparison condition on the key column cannot be combined with other comparisons such as an IN predicate",
                ));
            }
        }
        if let Some((_, KeyBound::NotEqual)) = bounds.iter().find(|(_, b)| *b == KeyBound::NotEqual) {
            let listed: Vec<String> = keys.iter().map(|k| format!("`{}` {} KEY", k.name, display_type(&k.data_type))).collect();
            return Err(PlanError::statement(format!("Bound on key columns '[{}]' must currently be '='. ", listed.join(", "))));
        }
        if keys.len() > 1 && !key_names.iter().all(|k| bounds.iter().any(|(n, _)| n == k)) {
            return Err(PlanError::statement("Multi-column sources must specify every key in the WHERE clause"));
        }
        if bounds.iter().any(|(_, b)| *b == KeyBound::Range) {
            let string_key = keys.len() == 1 && keys[0].data_type == SqlType::String;
            if !settings.range_scan_enabled || !string_key || source.window.is_some() {
                return Err(PlanError::statement("Query requires table scan to be enabled"));
            }
            any_range = true;
        }
    }
    if any_range && disjuncts.len() > 1 {
        return Err(PlanError::statement("Query requires table scan to be enabled"));
    }
    Ok(())
}

/// Splits `e` on a top-level `op` (AND/OR), looking through parentheses.
fn split<'e>(e: &'e sql::Expr, op: &sql::BinaryOperator, out: &mut Vec<&'e sql::Expr>) {
    match e {
        sql::Expr::Nested(inner) => split(inner, op, out),
        sql::Expr::BinaryOp { left, op: o, right } if o == op => {
            split(left, op, out);
            split(right, op, out);
        }
        other => out.push(other),
    }
}

fn references_columns(e: &sql::Expr) -> bool {
    sql::visit_expressions(e, |x| match x {
        sql::Expr::Identifier(_) | sql::Expr::CompoundIdentifier(_) => ControlFlow::Break(()),
        _ => ControlFlow::Continue(()),
    })
    .is_break()
}

fn references_key(e: &sql::Expr, keys: &[&str]) -> bool {
    sql::visit_expressions(e, |x| match column_name(x) {
        Some(name) if keys.contains(&name.as_str()) => ControlFlow::Break(()),
        _ => ControlFlow::Continue(()),
    })
    .is_break()
}

/// The key column a conjunct bounds and how, if it bounds one.
fn key_bound(conjunct: &sql::Expr, keys: &[&str]) -> Result<Option<(String, KeyBound)>> {
    let unresolvable = || PlanError::statement("A comparison must be between a key column and a resolvable expression.");
    match conjunct {
        sql::Expr::BinaryOp { left, op, right } if comparison_name(op).is_some() => {
            let key_side = |e: &sql::Expr| column_name(e).filter(|n| keys.contains(&n.as_str()));
            let (key, other) = match (key_side(left), key_side(right)) {
                (Some(k), None) => (k, right),
                (None, Some(k)) => (k, left),
                (Some(_), Some(_)) => return Err(unresolvable()),
                (None, None) => {
                    if references_key(left, keys) || references_key(right, keys) {
                        return Err(PlanError::statement("A comparison must directly reference a key column."));
                    }
                    return Ok(None);
                }
            };
            if references_columns(other) {
                return Err(unresolvable());
            }
            let bound = match op {
                sql::BinaryOperator::Eq => KeyBound::Equal,
                sql::BinaryOperator::NotEq => KeyBound::NotEqual,
                _ => KeyBound::Range,
            };
            Ok(Some((key, bound)))
        }
        sql::Expr::InList { expr, list, negated: false } => match column_name(expr).filter(|n| keys.contains(&n.as_str())) {
            Some(key) => {
                if list.iter().any(references_columns) {
                    return Err(unresolvable());
                }
                Ok(Some((key, KeyBound::In)))
            }
            None => Ok(None),
        },
        sql::Expr::Between { expr, .. } => Ok(column_name(expr).filter(|n| keys.contains(&n.as_str())).map(|k| (k, KeyBound::Range))),
        _ => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::Catalog;
    use crate::context::KsqlContext;
    use crate::ddl::plan_create_source;
    use crate::PlannerConfig;
    use runnel_parser::{parse_statements, Statement};

    fn catalog(ddl: &str) -> Catalog {
        let mut catalog = Catalog::new();
        for parsed in parse_statements(ddl).expect("parses") {
            let Statement::CreateSource { kind, name, is_source, columns, properties, .. } = &parsed.statement else { panic!("DDL only") };
            let def = plan_create_source(*kind, name, *is_source, columns, properties, &catalog.types, &PlannerConfig::default(), &parsed.text)
                .expect("plans");
            catalog.put_source(def);
        }
        catalog
    }

    fn plan(catalog: &Catalog, sql: &str, settings: PullSettings) -> Result<PlannedPull> {
        let parsed = parse_statements(sql).expect("parses");
        let Statement::Query(query) = &parsed[0].statement else { panic!("a query") };
        QueryPlanner::transient(catalog, &KsqlContext::new()).plan_pull(query, settings)
    }

    #[test]
    fn unknown_window_bounds_are_named() {
        let c = catalog("CREATE TABLE T (ID STRING PRIMARY KEY, V INT) WITH (kafka_topic='t', value_format='JSON');");
        let e = plan(&c, "SELECT * FROM T WHERE ID='a' AND WINDOWSTART=10;", PullSettings::default()).unwrap_err();
        assert_eq!(e.to_string(), "WHERE column 'WINDOWSTART' cannot be resolved.");
    }

    #[test]
    fn key_columns_and_window_bounds_are_marked_as_keys() {
        let c = catalog(
            "CREATE TABLE T (ID STRING PRIMARY KEY, V INT) WITH (kafka_topic='t', value_format='JSON');
             CREATE STREAM S (ID STRING KEY, V INT) WITH (kafka_topic='s', value_format='JSON');",
        );
        let planned = plan(&c, "SELECT V, ID, ID AS ALSO FROM T ORDER BY V DESC LIMIT 3;", PullSettings::default()).unwrap();
        let roles: Vec<(&str, ColumnRole)> = planned.output.iter().map(|o| (o.name.as_str(), o.role)).collect();
        assert_eq!(roles, vec![("V", ColumnRole::Value), ("ID", ColumnRole::Key), ("ALSO", ColumnRole::Key)]);
        let planned = plan(&c, "SELECT * FROM S;", PullSettings::default()).unwrap();
        assert!(planned.output.iter().all(|o| o.role == ColumnRole::Value), "streams have no key columns in results");
    }

    #[test]
    fn disabled_table_scans_demand_key_lookups() {
        let c = catalog(
            "CREATE TABLE T (ID STRING PRIMARY KEY, V INT) WITH (kafka_topic='t', value_format='JSON');
             CREATE TABLE M (A INT PRIMARY KEY, B INT PRIMARY KEY, V INT) WITH (kafka_topic='m', format='JSON');",
        );
        let no_scan = PullSettings { table_scan_enabled: false, range_scan_enabled: true };
        let error = |sql: &str| plan(&c, sql, no_scan).unwrap_err().to_string();
        assert!(plan(&c, "SELECT * FROM T WHERE ID = 'a';", no_scan).is_ok());
        assert!(plan(&c, "SELECT * FROM T WHERE ID >= 'a';", no_scan).is_ok(), "ranges over a STRING key are range scans");
        assert_eq!(error("SELECT * FROM T WHERE V = 1;"), "WHERE clause missing key column for disjunct: (V = 1)");
        assert!(error("SELECT * FROM T WHERE ID = 'a' AND ID IN ('b');").starts_with("A comparison condition on the key column cannot be combined"));
        assert_eq!(error("SELECT * FROM T WHERE ID = V;"), "A comparison must be between a key column and a resolvable expression.");
        assert_eq!(error("SELECT * FROM M WHERE A = 1;"), "Multi-column sources must specify every key in the WHERE clause");
        assert_eq!(error("SELECT * FROM M WHERE A = 1 AND B > 2;"), "Query requires table scan to be enabled");
        assert!(error("SELECT * FROM T;").starts_with("Missing WHERE clause."));
    }

    #[test]
    fn comparisons_are_type_checked_like_ksqldb() {
        let c = catalog("CREATE TABLE T (ID INT PRIMARY KEY, V STRING) WITH (kafka_topic='t', value_format='JSON');");
        let error = |sql: &str| plan(&c, sql, PullSettings::default()).unwrap_err().to_string();
        assert_eq!(error("SELECT * FROM T WHERE ID = '1';"), "Error in WHERE expression: Cannot compare ID (INTEGER) to '1' (STRING) with EQUAL.\nStatement: (ID = '1')");
        assert!(error("SELECT * FROM T WHERE ID = NULL;").contains("Comparison with NULL not supported: INTEGER = NULL"));
        assert_eq!(error("SELECT * FROM T WHERE ID IN (NULL);"), "Primary key columns can not be NULL: (ID = null)");
        assert_eq!(error("SELECT V, V FROM T;"), "Duplicate value columns found in schema: `V` STRING");
        assert!(error("SELECT ROWPARTITION FROM T;").starts_with("Pull queries don't support the following columns in SELECT clauses: `ROWPARTITION`"));
    }
}
