//! End-to-end checks of the ksql function registry through DataFusion's SQL planner: argument
//! coercion, scalar folding, per-row evaluation and lambda planning.

use std::sync::Arc;

use arrow::util::display::{ArrayFormatter, FormatOptions};
use datafusion::prelude::{SessionConfig, SessionContext};
use runnel_planner::functions::{higher_order_functions, scalar_functions};

fn context() -> SessionContext {
    // A dialect whose parser understands `x -> body` lambdas.
    let config = SessionConfig::new().set_str("datafusion.sql_parser.dialect", "databricks");
    let ctx = SessionContext::new_with_config(config);
    for (name, f) in scalar_functions() {
        // Register under the ksql name (DataFusion looks functions up by lower-case name).
        ctx.register_udf(f.as_ref().clone().with_aliases([name]));
    }
    for (_, f) in higher_order_functions() {
        ctx.register_higher_order_function(Arc::clone(&f));
    }
    ctx
}

/// Runs `sql` and renders the single result row as `a | b | ...`.
async fn row(sql: &str) -> String {
    let df = context()
        .sql(sql)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
    let batches = df.collect().await.unwrap_or_else(|e| panic!("{sql}: {e}"));
    let opts = FormatOptions::default().with_null("NULL");
    let b = &batches[0];
    b.columns()
        .iter()
        .map(|c| {
            ArrayFormatter::try_new(c.as_ref(), &opts)
                .map(|f| f.value(0).to_string())
                .unwrap_or_default()
        })
        .collect::<Vec<_>>()
        .join(" | ")
}

#[tokio::test]
async fn scalar_functions_through_sql() {
    assert_eq!(
        row("select substring('some_string', 6), len('abc'), ucase('a'), round(1.5), round(-1.5, 0), abs(-3)").await,
        "string | 3 | A | 2 | -1.0 | 3"
    );
    assert_eq!(row("select concat('a', null, 'b'), coalesce(null, 2), ifnull(null, 'x'), instr('corporate floor', 'or', -4, 2)").await, "ab | 2 | x | 2");
    assert_eq!(
        row(
            "select greatest(1, 5, null), least(2.5, 1), sqrt(16), array_length(split('a,b', ','))"
        )
        .await,
        "5 | 1.0 | 4.0 | 2"
    );
    assert_eq!(
        row("select timestamptostring(1526075913000, 'yyyy-MM-dd HH:mm:ss zzz', 'America/Los_Angeles'), stringtodate('2018-05-11', 'yyyy-MM-dd')").await,
        "2018-05-11 14:58:33 PDT | 17662"
    );
    assert_eq!(row("select extractjsonfield('{\"a\":{\"b\":[1,2]}}', '$.a.b[1]'), to_json_string(split('a,b', ','))").await, "2 | [\"a\",\"b\"]");
    assert_eq!(
        row("select array_length(null), map_keys(null), abs(null), array_max(null), concat(null)")
            .await,
        "NULL | NULL | NULL | NULL | "
    );
    assert_eq!(
        row("select length(uuid()) from (values (1), (2)) t(x)")
            .await
            .len(),
        2,
        "uuid per row"
    );
}

#[tokio::test]
async fn lambdas_through_sql() {
    assert_eq!(
        row("select transform(split('a,b', ','), x -> concat(x, '!')), filter(generate_series(1, 6), x -> x > 3), reduce(generate_series(1, 4), 0, (s, x) -> s + x)").await,
        "[a!, b!] | [4, 5, 6] | 10"
    );
    // Captured outer columns and nested lambdas.
    assert_eq!(
        row("select transform(generate_series(1, 3), x -> x + c), reduce(generate_series(1, 2), c, (s, x) -> s + reduce(generate_series(1, x), 0, (t, y) -> t + y)) from (values (10)) v(c)").await,
        "[11, 12, 13] | 14"
    );
    assert_eq!(
        row("select transform(split_to_map('a:1,bb:2', ',', ':'), (k, v) -> ucase(k), (k, v) -> concat(v, k)), filter(split_to_map('a:1,bb:2', ',', ':'), (k, v) -> len(k) > 1)").await,
        "{A: 1a, BB: 2bb} | {bb: 2}"
    );
}

/// QTT complex-lambda.json cases (ksql `=>` written as `->`, MAP literals via `map`).
#[tokio::test]
async fn complex_lambdas_qtt() {
    assert_eq!(
        row("select transform(transform(map(['a', 'b'], [[2, null, 5, 4], [-1, -2]]), (x, y) -> x, (x, y) -> filter(y, z -> z < 5)), (x, y) -> ucase(x), (k, v) -> array_max(v))").await,
        "{A: 4, B: -1}"
    );
    assert_eq!(
        row("select transform(filter(map(['hello', 'hey', 'wow'], [[200, 4, 5], [14, -3, -15, 3], [2, 3, 4]]), (a, b) -> len(a) > 2 and reduce(b, 0, (c, d) -> c + d) < 20), (x, y) -> lpad(x, reduce(y, 2, (s, k) -> abs(abs(k) - s)), 'a'), (x, y) -> reduce(array_union(y, transform(y, z -> z * 3)), 0, (e, f) -> e + f))").await,
        "{hey: -4, w: 36}"
    );
}

#[tokio::test]
async fn row_columns_and_errors() {
    let ctx = context();
    let df = ctx
        .sql("select lpad(s, n, 'Bar') from (values ('foo', 7), ('foo', -1), (null, 2)) t(s, n)")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let batches = df.collect().await.unwrap_or_else(|e| panic!("{e}"));
    let col = batches[0].column(0);
    let f = ArrayFormatter::try_new(col.as_ref(), &FormatOptions::default().with_null("NULL"))
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        (0..3).map(|i| f.value(i).to_string()).collect::<Vec<_>>(),
        vec!["BarBfoo", "NULL", "NULL"]
    );
    // A ksql exception surfaces as an execution error (the engine retries row by row).
    let err = ctx
        .sql("select int_from_bytes(to_bytes('AAE=', 'base64'))")
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .collect()
        .await;
    assert!(err.is_err());
}
