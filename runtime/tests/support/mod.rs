//! Helpers shared by the pipeline tests: compiling a script's last query and showing records.

use runnel_parser::{parse_statements, Statement};
use runnel_planner::ddl::{plan_create_source, plan_sink};
use runnel_planner::{Catalog, KsqlContext, PlannerConfig, QueryPlanner};
use runnel_runtime::pipeline::{Pipeline, PipelineOptions};
use runnel_runtime::topic::TopicRecord;

/// Compiles the last statement (a CSAS/CTAS) of `sql`, after registering the sources before it,
/// with every update emitted and the query id `CTAS_T_0`.
pub fn compile(sql: &str) -> Pipeline {
    let config = PlannerConfig::default();
    let context = KsqlContext::new();
    let mut catalog = Catalog::new();
    let statements = parse_statements(sql).expect("parses");
    let mut pipeline = None;
    for parsed in statements {
        match &parsed.statement {
            Statement::CreateSource { is_source, kind, name, columns, properties, .. } => {
                let def = plan_create_source(*kind, name, *is_source, columns, properties, &catalog.types, &config, &parsed.text)
                    .expect("source plans");
                catalog.put_source(def);
            }
            Statement::CreateAsSelect { kind, name, properties, query, .. } => {
                let planned = QueryPlanner::new(&catalog, &context).plan(query, Some(name)).expect("query plans");
                let input = catalog.require_source(&planned.sources[0]).expect("input").clone();
                let sink = plan_sink(name, *kind, properties, &planned, &input, &config, &parsed.text).expect("sink plans");
                let options = PipelineOptions { coalesce_updates: false, ..PipelineOptions::default() };
                let mut p = Pipeline::compile_with(&planned.with_sink(name), &sink, &options).expect("compiles");
                p.set_query_id("test_", "CTAS_T_0");
                pipeline = Some(p);
            }
            other => panic!("unexpected statement {other:?}"),
        }
    }
    pipeline.expect("a CTAS")
}

/// Records as (key text, value text, timestamp).
pub fn text(records: &[TopicRecord]) -> Vec<(String, Option<String>, i64)> {
    records
        .iter()
        .map(|r| {
            (
                String::from_utf8_lossy(r.key.as_deref().unwrap_or_default()).to_string(),
                r.value.as_ref().map(|v| String::from_utf8_lossy(v).to_string()),
                r.timestamp,
            )
        })
        .collect()
}
