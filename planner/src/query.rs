//! SELECT -> DataFusion logical plan with streaming extension nodes.

use std::collections::HashSet;
use std::sync::Arc;

use datafusion::common::config::ConfigOptions;
use datafusion::common::{Column as DfColumn, DFSchema, TableReference};
use datafusion::optimizer::analyzer::type_coercion::TypeCoercion;
use datafusion::optimizer::AnalyzerRule;
use datafusion::logical_expr::{col, ExprSchemable, Expr, Extension, LogicalPlan, LogicalPlanBuilder};
use runnel_parser::{Query, SelectItem, SourceKind, SqlType};
use sqlparser::ast::{self as sql, SelectItemQualifiedWildcardKind};

use crate::catalog::{Catalog, ColumnRole, SourceDef, WindowInfo};
use crate::context::KsqlContext;
use crate::error::{PlanError, Result};
use crate::expr::{ident_name, is_null as is_null_literal, ExprPlanner};
use crate::nodes::{
    ExplodeNode, RepartitionNode, SinkNode, SourceTable, RESERVED_COLUMNS, ROWTIME, SINK_TIMESTAMP, SINK_WINDOWEND, SINK_WINDOWSTART, WINDOWEND,
    WINDOWSTART,
};
use crate::types::from_arrow;

/// One column of a query's result.
#[derive(Debug, Clone, PartialEq)]
pub struct OutputColumn {
    pub name: String,
    pub data_type: SqlType,
    pub role: ColumnRole,
}

/// A planned SELECT.
#[derive(Debug, Clone)]
pub struct PlannedQuery {
    /// Scan -> ... -> Projection -> [Repartition] (no sink yet).
    pub plan: LogicalPlan,
    pub sources: Vec<String>,
    /// The result columns, key columns first (in projection order) then values.
    pub output: Vec<OutputColumn>,
    pub kind: SourceKind,
    pub window: Option<WindowInfo>,
    /// True when the record key changes (PARTITION BY, GROUP BY other than the source key).
    pub repartitioned: bool,
    /// An aggregate keeps a STRUCT/ARRAY/MAP intermediate state (DELIMITED cannot hold it).
    pub complex_intermediate: bool,
    /// Pairs of sources (left, right) a join reads partition by partition: their topics
    /// must have the same partition count (checked where the topics are known).
    pub copartitioned: Vec<(String, String)>,
}

impl PlannedQuery {
    pub fn key_names(&self) -> Vec<String> {
        self.output.iter().filter(|c| c.role == ColumnRole::Key).map(|c| c.name.clone()).collect()
    }

    /// Wraps the plan in a sink writing to `sink`.
    pub fn with_sink(&self, sink: &str) -> LogicalPlan {
        LogicalPlan::Extension(Extension {
            node: Arc::new(SinkNode { input: self.plan.clone(), sink: sink.to_string(), key_columns: self.key_names() }),
        })
    }
}

/// Plans SELECTs against a catalog.
pub struct QueryPlanner<'a> {
    pub catalog: &'a Catalog,
    pub context: &'a KsqlContext,
    /// Planning a transient (push) query, whose result goes to a client rather than a topic:
    /// columns keep their projection order, pseudo columns may be selected, `*` on a windowed
    /// source includes the window bounds, and no key or value column is required.
    pub(crate) transient: bool,
}

/// A select item after `*` expansion: the SQL expression and its output name.
#[derive(Clone)]
pub(crate) struct Item {
    pub(crate) expr: sql::Expr,
    pub(crate) name: String,
    /// The user wrote `AS name`.
    pub(crate) aliased: bool,
}

impl<'a> QueryPlanner<'a> {
    pub fn new(catalog: &'a Catalog, context: &'a KsqlContext) -> Self {
        QueryPlanner { catalog, context, transient: false }
    }

    /// A planner for transient (push) queries; see the `transient` field.
    pub fn transient(catalog: &'a Catalog, context: &'a KsqlContext) -> Self {
        QueryPlanner { catalog, context, transient: true }
    }

    pub(crate) fn exprs(&self) -> ExprPlanner<'_> {
        ExprPlanner::new(self.context, &self.catalog.types)
    }

    /// Plans `query`; `sink_name` (for C*AS / INSERT) is used in error messages.
    pub fn plan(&self, query: &Query, sink_name: Option<&str>) -> Result<PlannedQuery> {
        if !query.order_by.is_empty() {
            return Err(PlanError::statement("ORDER BY is only supported in pull queries (SELECT without EMIT CHANGES)"));
        }
        if !query.joins.is_empty() {
            return self.plan_join(query, sink_name);
        }
        let source = self.catalog.source(&query.from.name).ok_or_else(|| {
            PlanError::statement(format!("{} does not exist.", query.from.name))
        })?;
        if !query.group_by.is_empty() || query.window.is_some() || query.having.is_some() || self.has_aggregates(query) {
            return self.plan_aggregate(query, source, sink_name);
        }
        if source.kind == SourceKind::Table && source.window.is_some() && sink_name.is_some() {
            return Err(PlanError::statement("KSQL does not support persistent queries on windowed tables."));
        }
        let qualifier = query.from.alias.clone().unwrap_or_else(|| source.name.clone());
        let table = Arc::new(SourceTable::new(source.clone()));
        let mut builder = LogicalPlanBuilder::scan(
            TableReference::bare(qualifier.clone()),
            table as Arc<dyn datafusion::logical_expr::TableSource>,
            None,
        )?;
        let scan_schema = builder.schema().clone();

        if let Some(selection) = &query.selection {
            self.check_in_lists(selection, &scan_schema)?;
            let predicate = self.exprs().plan(selection, &scan_schema).map_err(|e| clause_error("WHERE", e))?;
            builder = builder.filter(predicate)?;
        }

        // PARTITION BY expressions, planned over the source.
        let partition_by: Option<Vec<Expr>> = if query.partition_by.is_empty() {
            None
        } else if matches!(query.partition_by.as_slice(), [sql::Expr::Tuple(t)] if t.is_empty()) {
            return Err(PlanError::statement("PARTITION BY requires at least one expression"));
        } else if query.partition_by.len() == 1 && is_null_literal(&query.partition_by[0]) {
            Some(vec![])
        } else if query.partition_by.iter().any(is_null_literal) {
            return Err(PlanError::statement("Cannot PARTITION BY multiple columns including NULL"));
        } else {
            Some(
                query
                    .partition_by
                    .iter()
                    .map(|e| self.exprs().plan(e, &scan_schema).map_err(|e| clause_error("PARTITION BY", e)))
                    .collect::<Result<_>>()?,
            )
        };

        let mut items = self.expand_projection(query, source, &qualifier, &scan_schema, partition_by.as_deref())?;
        // EXPLODE(list) items: the list is projected, then unnested by an Explode node.
        let mut exploded = vec![false; items.len()];
        for (i, item) in items.iter_mut().enumerate() {
            if let Some(arg) = table_function_arg(&item.expr)? {
                item.expr = arg;
                exploded[i] = true;
            }
        }
        if exploded.iter().any(|e| *e) && source.kind == SourceKind::Table {
            return Err(PlanError::statement("Table source is not supported with table functions"));
        }
        let mut planned = Vec::with_capacity(items.len());
        for (i, item) in items.iter().enumerate() {
            let e = self.exprs().plan(&item.expr, &scan_schema).map_err(|e| select_error(&item.expr, e))?;
            if exploded[i] {
                let (_, field) = e.to_field(&scan_schema)?;
                if !matches!(field.data_type(), arrow::datatypes::DataType::List(_)) {
                    return Err(PlanError::statement(format!(
                        "Function 'explode' does not accept parameters ({}).\nValid alternatives are:\nexplode(ARRAY<DECIMAL> input)\nexplode(ARRAY<T> list)",
                        crate::types::display_type(&from_arrow(field.data_type())?)
                    )));
                }
            }
            planned.push(e);
        }

        // Decide which output columns form the key.
        let mut is_key = vec![false; items.len()];
        match &partition_by {
            None => {
                let mut key_aliases: Vec<(String, Vec<String>)> = Vec::new();
                for (i, e) in planned.iter().enumerate() {
                    if let Expr::Column(c) = e {
                        if source.column(&c.name).is_some_and(|sc| sc.role == ColumnRole::Key) {
                            match key_aliases.iter_mut().find(|(k, _)| *k == c.name) {
                                Some((_, names)) => names.push(items[i].name.clone()),
                                None => {
                                    is_key[i] = true;
                                    key_aliases.push((c.name.clone(), vec![items[i].name.clone()]));
                                }
                            }
                        }
                    }
                }
                if let Some((key, names)) = key_aliases.iter().find(|(_, names)| names.len() > 1) {
                    return Err(PlanError::statement(format!(
                        "The projection contains a key column (`{key}`) more than once, aliased as: {}.",
                        names.join(" and ")
                    )));
                }
                if source.kind == SourceKind::Table && !self.transient {
                    let missing: Vec<String> = source
                        .key_columns()
                        .filter(|k| !key_aliases.iter().any(|(name, _)| *name == k.name))
                        .map(|k| k.name.clone())
                        .collect();
                    if !missing.is_empty() {
                        return Err(missing_from_projection(sink_name, "key column", "key columns", &missing));
                    }
                }
            }
            Some(keys) => {
                let missing: Vec<String> = keys
                    .iter()
                    .filter(|key| !planned.iter().any(|e| same_expr(e, key)))
                    .map(|key| if keys.len() > 1 { display_arg(key, &qualifier) } else { display_for_error(key, &qualifier) })
                    .collect();
                if !missing.is_empty() {
                    return Err(missing_from_projection(
                        sink_name,
                        "partitioning expression",
                        "partitioning expressions",
                        &missing,
                    ));
                }
                for key in keys {
                    let positions: Vec<usize> = planned.iter().enumerate().filter(|(_, e)| same_expr(e, key)).map(|(i, _)| i).collect();
                    match positions.as_slice() {
                        [] => {}
                        [one] => is_key[*one] = true,
                        [first, rest @ ..] => {
                            let names: Vec<&str> = std::iter::once(*first).chain(rest.iter().copied()).map(|i| items[i].name.as_str()).collect();
                            return Err(PlanError::statement(format!(
                                "The projection contains a key column (`{}`) more than once, aliased as: {}.",
                                key_display_name(key),
                                names.join(" and ")
                            )));
                        }
                    }
                }
            }
        }
        if source.kind == SourceKind::Table && partition_by.is_some() {
            return Err(PlanError::statement("PARTITION BY is not supported on tables"));
        }

        // Validate names.
        let mut seen = HashSet::new();
        for (i, item) in items.iter().enumerate() {
            // PARTITION BY ROWTIME (etc.) legitimately names the new key after the pseudo column.
            let partition_key = partition_by.is_some() && is_key[i] && !item.aliased;
            let selected_pseudo_column = self.transient && !item.aliased;
            if RESERVED_COLUMNS.contains(&item.name.as_str()) && !partition_key && !selected_pseudo_column {
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
            if !seen.insert(item.name.clone()) {
                return Err(PlanError::statement(format!(
                    "Duplicate value columns found in schema: `{}`",
                    item.name
                )));
            }
        }
        if !self.transient && !is_key.iter().any(|k| !k) {
            return Err(PlanError::statement("The projection contains no value columns."));
        }

        // Projection: result columns (keys first) + the hidden timestamp.
        let mut proj: Vec<Expr> = Vec::new();
        let mut output = Vec::new();
        // Sinks put key columns first; a client sees the projection order.
        let passes: &[Option<bool>] = if self.transient { &[None] } else { &[Some(true), Some(false)] };
        for &pass in passes {
            for (i, e) in planned.iter().enumerate() {
                if pass.is_none_or(|keys| is_key[i] == keys) {
                    proj.push(e.clone().alias(items[i].name.clone()));
                    let (_, field) = e.to_field(&scan_schema)?;
                    if field.data_type() == &arrow::datatypes::DataType::Null {
                        return Err(PlanError::statement(
                            "Can't infer a type of null. Please explicitly cast it to a required type, e.g. CAST(null AS VARCHAR).",
                        ));
                    }
                    output.push(OutputColumn {
                        name: items[i].name.clone(),
                        data_type: from_arrow(field.data_type())?,
                        role: if is_key[i] { ColumnRole::Key } else { ColumnRole::Value },
                    });
                }
            }
        }
        proj.push(col(DfColumn::new(Some(TableReference::bare(qualifier.as_str())), ROWTIME)).alias(SINK_TIMESTAMP));
        if source.window.is_some() {
            // Windowed results keep their window in the record key.
            proj.push(col(DfColumn::new(Some(TableReference::bare(qualifier.as_str())), WINDOWSTART)).alias(SINK_WINDOWSTART));
            proj.push(col(DfColumn::new(Some(TableReference::bare(qualifier.as_str())), WINDOWEND)).alias(SINK_WINDOWEND));
        }
        builder = builder.project(proj)?;
        // DataFusion's own coercion rules give operands common types (INT + BIGINT, ...).
        let mut plan = TypeCoercion::new().analyze(builder.build()?, &ConfigOptions::default())?;
        let exploded_names: Vec<String> =
            items.iter().zip(&exploded).filter(|(_, e)| **e).map(|(item, _)| item.name.clone()).collect();
        if !exploded_names.is_empty() {
            plan = LogicalPlan::Extension(Extension { node: Arc::new(ExplodeNode::try_new(plan, exploded_names)?) });
        }
        for (i, column) in output.iter_mut().enumerate() {
            column.data_type = from_arrow(plan.schema().field(i).data_type())?;
        }
        let repartitioned = partition_by.is_some();
        if repartitioned {
            let key_columns = output.iter().filter(|c| c.role == ColumnRole::Key).map(|c| c.name.clone()).collect();
            plan = LogicalPlan::Extension(Extension { node: Arc::new(RepartitionNode { input: plan, key_columns }) });
        }
        Ok(PlannedQuery {
            plan,
            sources: vec![source.name.clone()],
            output,
            kind: source.kind,
            window: source.window,
            repartitioned,
            complex_intermediate: false,
            copartitioned: Vec::new(),
        })
    }

    /// ksqlDB's type rules for `x IN (...)`: every item must compare with `x`; string
    /// literals must parse as `x`'s type.
    fn check_in_lists(&self, predicate: &sql::Expr, schema: &DFSchema) -> Result<()> {
        let mut lists = Vec::new();
        let _ = sql::visit_expressions(predicate, |e| {
            if let sql::Expr::InList { expr, list, .. } = e {
                lists.push((expr.as_ref().clone(), list.clone()));
            }
            std::ops::ControlFlow::<()>::Continue(())
        });
        for (target, items) in lists {
            let target_type = self.ksql_type_of(&target, schema)?;
            for item in &items {
                if let Some(message) = literal_mismatch(&target_type, item) {
                    return Err(PlanError::statement(format!("Invalid Predicate: {message}")));
                }
                // Literals are coerced to the target's type (string literals were checked above).
                if is_null_literal(item) || contains_string_literal(item) || (is_literal(item) && target_type == SqlType::String) {
                    continue;
                }
                let item_type = self.ksql_type_of(item, schema)?;
                if !comparable(&target_type, &item_type) {
                    let text = item.to_string().replace(" := ", ":=");
                    return Err(PlanError::statement(format!(
                        "Invalid Predicate: operator does not exist: {} = {} ({text})\nHint: You might need to add explicit type casts.",
                        crate::types::display_type(&target_type),
                        crate::types::display_type(&item_type)
                    )));
                }
            }
        }
        Ok(())
    }

    fn ksql_type_of(&self, e: &sql::Expr, schema: &DFSchema) -> Result<SqlType> {
        let planned = self.exprs().plan(e, schema)?;
        let (_, field) = planned.to_field(schema)?;
        match field.data_type() {
            arrow::datatypes::DataType::Null => Ok(SqlType::String),
            dt => from_arrow(dt),
        }
    }

    /// Expands `*`, `src.*` and names every item.
    pub(crate) fn expand_projection(
        &self,
        query: &Query,
        source: &SourceDef,
        qualifier: &str,
        schema: &DFSchema,
        partition_by: Option<&[Expr]>,
    ) -> Result<Vec<Item>> {
        let mut items = Vec::new();
        let star_columns = || -> Vec<Item> {
            let mut names: Vec<String> = Vec::new();
            match partition_by {
                None => {
                    // Window bounds stay in the (windowed) key rather than becoming columns,
                    // except for a client, which sees them after the key columns.
                    names.extend(source.key_columns().map(|c| c.name.clone()));
                    if self.transient && source.window.is_some() {
                        names.extend([WINDOWSTART.to_string(), WINDOWEND.to_string()]);
                    }
                    names.extend(source.columns.iter().filter(|c| c.role != ColumnRole::Key).map(|c| c.name.clone()));
                }
                Some(keys) => {
                    let key_cols: HashSet<&str> = keys
                        .iter()
                        .filter_map(|k| match k {
                            Expr::Column(c) => Some(c.name.as_str()),
                            _ => None,
                        })
                        .collect();
                    // The old key columns become values, after the value columns.
                    let keep = |c: &&crate::catalog::Column| !key_cols.contains(c.name.as_str());
                    names.extend(source.columns.iter().filter(|c| c.role != ColumnRole::Key).filter(keep).map(|c| c.name.clone()));
                    names.extend(source.key_columns().filter(keep).map(|c| c.name.clone()));
                }
            }
            names
                .into_iter()
                .map(|n| Item {
                    expr: sql::Expr::CompoundIdentifier(vec![quoted(qualifier), quoted(&n)]),
                    name: n,
                    aliased: false,
                })
                .collect()
        };
        // With PARTITION BY, `*` also yields the new key columns (expressions first).
        let mut generated = 0usize;
        let mut pending_auto: Vec<usize> = Vec::new();
        for item in &query.projection {
            match item {
                SelectItem::Wildcard(_) => {
                    if let Some(keys) = partition_by {
                        for (k, e) in keys.iter().enumerate() {
                            if !matches!(e, Expr::Column(_)) {
                                items.push(Item {
                                    expr: query.partition_by[k].clone(),
                                    name: String::new(),
                                    aliased: false,
                                });
                                pending_auto.push(items.len() - 1);
                            } else if let Expr::Column(c) = e {
                                items.push(Item {
                                    expr: sql::Expr::CompoundIdentifier(vec![quoted(qualifier), quoted(&c.name)]),
                                    name: c.name.clone(),
                                    aliased: false,
                                });
                            }
                        }
                    }
                    items.extend(star_columns());
                }
                SelectItem::QualifiedWildcard(kind, _) => {
                    let target = match kind {
                        SelectItemQualifiedWildcardKind::ObjectName(name) => match name.0.last() {
                            Some(sql::ObjectNamePart::Identifier(id)) => ident_name(id),
                            Some(other) => other.to_string(),
                            None => String::new(),
                        },
                        SelectItemQualifiedWildcardKind::Expr(e) => {
                            // `struct->*`: every field of the struct.
                            let planned = self.exprs().plan(e, schema)?;
                            let (_, field) = planned.to_field(schema)?;
                            let SqlType::Struct(fields) = from_arrow(field.data_type())? else {
                                return Err(PlanError::statement(format!("{e} is not a STRUCT: cannot expand ->*")));
                            };
                            for f in fields {
                                items.push(Item {
                                    expr: sql::Expr::BinaryOp {
                                        left: Box::new(e.clone()),
                                        op: sql::BinaryOperator::Arrow,
                                        right: Box::new(sql::Expr::Identifier(quoted(&f.name))),
                                    },
                                    name: f.name.clone(),
                                    aliased: false,
                                });
                            }
                            continue;
                        }
                    };
                    if target != qualifier && target != source.name {
                        return Err(PlanError::statement(format!("'{target}' is not a valid stream/table name or alias.")));
                    }
                    items.extend(star_columns());
                }
                SelectItem::UnnamedExpr(e) => {
                    let name = natural_name(e);
                    items.push(Item { expr: e.clone(), name: name.clone().unwrap_or_default(), aliased: false });
                    if name.is_none() {
                        pending_auto.push(items.len() - 1);
                    }
                }
                SelectItem::ExprWithAlias { expr, alias } => {
                    items.push(Item { expr: expr.clone(), name: ident_name(alias), aliased: true });
                }
                other => return Err(PlanError::unsupported(format!("Unsupported select item: {other}"))),
            }
        }
        // KSQL_COL_n for unnamed expressions, skipping names already taken.
        let taken: HashSet<String> = items.iter().map(|i| i.name.clone()).collect();
        for idx in pending_auto {
            loop {
                let candidate = format!("KSQL_COL_{generated}");
                generated += 1;
                if !taken.contains(&candidate) {
                    items[idx].name = candidate;
                    break;
                }
            }
        }
        Ok(items)
    }
}

fn is_numeric(t: &SqlType) -> bool {
    matches!(t, SqlType::Int | SqlType::Bigint | SqlType::Double | SqlType::Decimal { .. })
}

/// Whether ksqlDB lets values of these types be compared for equality.
fn comparable(a: &SqlType, b: &SqlType) -> bool {
    match (a, b) {
        (x, y) if is_numeric(x) && is_numeric(y) => true,
        (SqlType::Array(x), SqlType::Array(y)) => comparable(x, y),
        (SqlType::Map(k1, v1), SqlType::Map(k2, v2)) => comparable(k1, k2) && comparable(v1, v2),
        (SqlType::Struct(f1), SqlType::Struct(f2)) => f1.iter().all(|x| {
            f2.iter().find(|y| y.name == x.name).is_none_or(|y| comparable(&x.data_type, &y.data_type))
        }),
        (x, y) => std::mem::discriminant(x) == std::mem::discriminant(y),
    }
}

fn is_literal(e: &sql::Expr) -> bool {
    matches!(e, sql::Expr::Value(_))
        || matches!(e, sql::Expr::UnaryOp { expr, .. } if matches!(expr.as_ref(), sql::Expr::Value(_)))
}

fn contains_string_literal(e: &sql::Expr) -> bool {
    let found = sql::visit_expressions(e, |x| match x {
        sql::Expr::Value(v) if matches!(v.value, sql::Value::SingleQuotedString(_)) => std::ops::ControlFlow::Break(()),
        _ => std::ops::ControlFlow::Continue(()),
    });
    found.is_break()
}

/// A string literal (also inside ARRAY/MAP/STRUCT constructors) that cannot become `target`.
fn literal_mismatch(target: &SqlType, item: &sql::Expr) -> Option<String> {
    match (target, item) {
        (_, sql::Expr::Value(v)) => match &v.value {
            sql::Value::SingleQuotedString(text) => {
                let ok = match target {
                    SqlType::Int | SqlType::Bigint | SqlType::Double | SqlType::Decimal { .. } => {
                        text.trim().parse::<f64>().is_ok()
                    }
                    SqlType::Boolean => matches!(text.trim().to_ascii_lowercase().as_str(), "true" | "false"),
                    _ => true,
                };
                (!ok).then(|| {
                    let name = match target {
                        SqlType::Decimal { .. } => "DECIMAL".to_string(),
                        other => crate::types::display_type(other),
                    };
                    format!("invalid input syntax for type {name}: \"{text}\".")
                })
            }
            _ => None,
        },
        (SqlType::Array(elem), sql::Expr::Array(array)) => {
            array.elem.iter().find_map(|e| literal_mismatch(elem, e)).map(|m| m.trim_end_matches('.').to_string())
        }
        (SqlType::Map(..) | SqlType::Struct(_), sql::Expr::Function(f)) => {
            let sql::FunctionArguments::List(list) = &f.args else { return None };
            list.args.iter().find_map(|a| {
                let (name, arg) = match a {
                    sql::FunctionArg::Named { name, arg: sql::FunctionArgExpr::Expr(arg), .. } => (Some(ident_name(name)), arg),
                    sql::FunctionArg::ExprNamed { arg: sql::FunctionArgExpr::Expr(arg), .. } => (None, arg),
                    _ => return None,
                };
                let field_type = match (target, name) {
                    (SqlType::Struct(fields), Some(n)) => fields.iter().find(|f| f.name == n).map(|f| f.data_type.clone())?,
                    (SqlType::Map(_, value), _) => value.as_ref().clone(),
                    _ => return None,
                };
                literal_mismatch(&field_type, arg).map(|m| m.trim_end_matches('.').to_string())
            })
        }
        _ => None,
    }
}

/// `EXPLODE(x)` -> `Some(x)`.
pub(crate) fn table_function_arg(e: &sql::Expr) -> Result<Option<sql::Expr>> {
    let sql::Expr::Function(f) = e else { return Ok(None) };
    let is_explode = matches!(f.name.0.last(), Some(sql::ObjectNamePart::Identifier(id)) if id.value.eq_ignore_ascii_case("EXPLODE"));
    if !is_explode {
        return Ok(None);
    }
    match &f.args {
        sql::FunctionArguments::List(list) if list.args.len() == 1 => match &list.args[0] {
            sql::FunctionArg::Unnamed(sql::FunctionArgExpr::Expr(arg)) => Ok(Some(arg.clone())),
            other => Err(PlanError::statement(format!("EXPLODE takes one expression, got {other}"))),
        },
        _ => Err(PlanError::statement("Function 'explode' takes exactly one argument")),
    }
}

/// The name ksql gives an unaliased select expression, if it has a natural one.
pub(crate) fn natural_name(e: &sql::Expr) -> Option<String> {
    match e {
        sql::Expr::Identifier(id) => Some(ident_name(id)),
        sql::Expr::CompoundIdentifier(parts) => parts.last().map(ident_name),
        sql::Expr::BinaryOp { op: sql::BinaryOperator::Arrow, right, .. } => match right.as_ref() {
            sql::Expr::Identifier(id) => Some(ident_name(id)),
            _ => None,
        },
        sql::Expr::Nested(inner) => natural_name(inner),
        _ => None,
    }
}

pub(crate) fn quoted(name: &str) -> sql::Ident {
    sql::Ident::with_quote('`', name)
}

/// ksqlDB's "must include the X in its projection" error for the `missing` items.
pub(crate) fn missing_from_projection(sink: Option<&str>, singular: &str, plural: &str, missing: &[String]) -> PlanError {
    let (noun, list) = match missing {
        [one] => (singular, one.clone()),
        [init @ .., last] => (plural, format!("{} and {last}", init.join(", "))),
        [] => (plural, String::new()),
    };
    PlanError::statement(format!(
        "The query used to build `{}` must include the {noun} {list} in its projection (eg, SELECT {}...).",
        sink.unwrap_or("the result"),
        missing.join(", ")
    ))
}

/// Structural equality ignoring aliases and qualifiers.
pub(crate) fn same_expr(a: &Expr, b: &Expr) -> bool {
    strip(a) == strip(b)
}

pub(crate) fn strip(e: &Expr) -> Expr {
    use datafusion::common::tree_node::{Transformed, TreeNode};
    e.clone()
        .transform_up(|e| {
            Ok(match e {
                Expr::Alias(a) => Transformed::yes(*a.expr),
                Expr::Column(c) => Transformed::yes(Expr::Column(DfColumn::new_unqualified(c.name))),
                other => Transformed::no(other),
            })
        })
        .map(|t| t.data)
        .unwrap_or_else(|_| e.clone())
}

fn key_display_name(e: &Expr) -> String {
    match strip(e) {
        Expr::Column(c) => c.name,
        other => other.to_string(),
    }
}

/// ksql's rendering of a planned expression in error messages, e.g. `ABS(INPUT.ID)`.
pub(crate) fn display_for_error(e: &Expr, qualifier: &str) -> String {
    match e {
        Expr::Column(c) => c.name.clone(),
        Expr::ScalarFunction(f) => format!(
            "{}({})",
            f.func.name().to_ascii_uppercase(),
            f.args.iter().map(|a| display_arg(a, qualifier)).collect::<Vec<_>>().join(", ")
        ),
        other => other.to_string(),
    }
}

pub(crate) fn display_arg(e: &Expr, qualifier: &str) -> String {
    match e {
        Expr::Column(c) => format!("{qualifier}.{}", c.name),
        other => display_for_error(other, qualifier),
    }
}

pub(crate) fn clause_error(clause: &str, e: PlanError) -> PlanError {
    match e {
        PlanError::Statement(m) => match field_not_found(&m) {
            Some(name) if clause == "PARTITION BY" => PlanError::statement(format!(
                "PARTITION BY column '{name}' cannot be resolved. '{name}' must be a column in the source schema since PARTITION BY is applied on the input."
            )),
            Some(name) => PlanError::statement(format!("{clause} column '{name}' cannot be resolved.")),
            None => PlanError::Statement(m),
        },
        other => other,
    }
}

pub(crate) fn select_error(expr: &sql::Expr, e: PlanError) -> PlanError {
    match e {
        PlanError::Statement(m) => match field_not_found(&m) {
            Some(_) => PlanError::statement(format!("SELECT column '{}' cannot be resolved.", unquoted_display(expr))),
            None => PlanError::Statement(m),
        },
        other => other,
    }
}

pub(crate) fn unquoted_display(expr: &sql::Expr) -> String {
    match expr {
        sql::Expr::Identifier(id) => ident_name(id),
        sql::Expr::CompoundIdentifier(parts) => parts.iter().map(ident_name).collect::<Vec<_>>().join("."),
        other => other.to_string(),
    }
}

/// Extracts the column name from DataFusion's "No field named X" message.
pub(crate) fn field_not_found(message: &str) -> Option<String> {
    // `"S"."BOB"`, `"BOB"` or `S.BOB`, followed by `.` and a space or a newline.
    let mut rest = message.split("No field named ").nth(1)?;
    let mut last;
    loop {
        if let Some(quoted) = rest.strip_prefix('"') {
            let end = quoted.find('"')?;
            last = &quoted[..end];
            rest = &quoted[end + 1..];
        } else {
            let end = rest.find(|c: char| c == '.' || c.is_whitespace()).unwrap_or(rest.len());
            last = &rest[..end];
            rest = &rest[end..];
        }
        match rest.strip_prefix('.') {
            Some(next) if next.starts_with(|c: char| c == '"' || c.is_alphanumeric() || c == '_') => rest = next,
            _ => break,
        }
    }
    (!last.is_empty()).then(|| last.to_string())
}
