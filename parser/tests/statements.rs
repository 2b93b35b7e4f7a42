//! Statement- and expression-level parser tests: AST shapes, identifier resolution, scripts,
//! variable substitution.

use std::collections::HashMap;

use runnel_parser::*;
use sqlparser::ast::{
    BinaryOperator, Expr, FunctionArg, FunctionArguments, SelectItem,
    SelectItemQualifiedWildcardKind,
};

fn parse(sql: &str) -> Statement {
    let statement = parse_statement(sql).unwrap_or_else(|e| panic!("{sql}\n{e}"));
    let displayed = statement.to_string();
    let again = parse_statement(&displayed).unwrap_or_else(|e| panic!("{displayed}\n{e}"));
    assert_eq!(again, statement, "round trip of {sql} via {displayed}");
    statement
}

fn query(sql: &str) -> Query {
    match parse(sql) {
        Statement::Query(q) => *q,
        other => panic!("not a query: {other:?}"),
    }
}

fn expr(sql: &str) -> Expr {
    parse_expr(sql).unwrap_or_else(|e| panic!("{sql}\n{e}"))
}

#[test]
fn create_stream_resolves_names_and_constraints() {
    let statement = parse(
        "CREATE OR REPLACE STREAM IF NOT EXISTS pageviews (`userId` VARCHAR KEY, viewtime BIGINT, \
         h ARRAY<STRUCT<`key` STRING, VALUE BYTES>> HEADERS, hk BYTES HEADER('k'), d DECIMAL(10, 2)) \
         WITH (kafka_topic='pv', value_format='json', partitions=4, wrap_single_value=false);",
    );
    let Statement::CreateSource { or_replace, is_source, kind, if_not_exists, name, columns, properties } =
        statement
    else {
        panic!("not CreateSource")
    };
    assert!(or_replace && !is_source && if_not_exists);
    assert_eq!(kind, SourceKind::Stream);
    assert_eq!(name, "PAGEVIEWS");
    assert_eq!(columns[0].name, "userId");
    assert_eq!(columns[0].constraint, ColumnConstraint::Key);
    assert_eq!(columns[1].name, "VIEWTIME");
    assert_eq!(
        columns[2].data_type,
        SqlType::Array(Box::new(SqlType::Struct(vec![
            StructField { name: "key".into(), data_type: SqlType::String },
            StructField { name: "VALUE".into(), data_type: SqlType::Bytes },
        ])))
    );
    assert_eq!(columns[2].constraint, ColumnConstraint::Headers);
    assert_eq!(columns[3].constraint, ColumnConstraint::Header("k".into()));
    assert_eq!(columns[4].data_type, SqlType::Decimal { precision: 10, scale: 2 });
    assert_eq!(
        properties.0,
        vec![
            ("KAFKA_TOPIC".to_string(), PropertyValue::String("pv".into())),
            ("VALUE_FORMAT".to_string(), PropertyValue::String("json".into())),
            ("PARTITIONS".to_string(), PropertyValue::Number("4".into())),
            ("WRAP_SINGLE_VALUE".to_string(), PropertyValue::Boolean(false)),
        ]
    );
}

#[test]
fn nested_generic_types_close_with_shift_right() {
    let Statement::CreateType { data_type, .. } = parse("CREATE TYPE t AS ARRAY<MAP<STRING,ARRAY<INT>>>")
    else {
        panic!()
    };
    assert_eq!(
        data_type,
        SqlType::Array(Box::new(SqlType::Map(
            Box::new(SqlType::String),
            Box::new(SqlType::Array(Box::new(SqlType::Int)))
        )))
    );
    parse("CREATE STREAM s (a STRUCT<>, b MY_TYPE, c `lower_type`) WITH (kafka_topic='t')");
}

#[test]
fn create_as_select_with_joins_window_and_clauses() {
    let Statement::CreateAsSelect { kind, name, properties, query, .. } = parse(
        "CREATE TABLE pv_by_region WITH (kafka_topic='out') AS \
         SELECT u.region, COUNT(*) AS views FROM pageviews p \
         LEFT OUTER JOIN users AS u WITHIN (1 HOUR, 2 MINUTES) GRACE PERIOD 5 SECONDS ON p.userid = u.userid \
         WINDOW TUMBLING (SIZE 30 SECONDS, RETENTION 2 DAYS, GRACE PERIOD 1 MILLISECOND) \
         WHERE p.x > 1 GROUP BY (u.region, p.x) HAVING COUNT(*) > 2 EMIT FINAL",
    ) else {
        panic!()
    };
    assert_eq!(kind, SourceKind::Table);
    assert_eq!(name, "PV_BY_REGION");
    assert_eq!(properties.0.len(), 1);
    assert_eq!(query.from, SourceRef { name: "PAGEVIEWS".into(), alias: Some("P".into()) });
    let join = &query.joins[0];
    assert_eq!(join.kind, JoinKind::Left);
    let within = join.within.as_ref().expect("within");
    assert!(within.asymmetric);
    assert_eq!(within.before, Duration { value: 1, unit: TimeUnit::Hours });
    assert_eq!(within.grace, Some(Duration { value: 5, unit: TimeUnit::Seconds }));
    assert!(matches!(query.window, Some(WindowSpec::Tumbling { retention: Some(_), grace: Some(_), .. })));
    assert_eq!(query.group_by.len(), 2);
    assert_eq!(query.emit, Some(EmitKind::Final));
}

#[test]
fn windows_hopping_and_session() {
    let q = query("SELECT k, COUNT(*) FROM s WINDOW HOPPING (SIZE 10 SECONDS, ADVANCE BY 5 SECONDS) GROUP BY k EMIT CHANGES");
    assert!(matches!(q.window, Some(WindowSpec::Hopping { .. })));
    let q = query("SELECT k FROM s WINDOW SESSION (30 seconds, GRACE PERIOD 0 SECONDS) GROUP BY k");
    assert!(matches!(q.window, Some(WindowSpec::Session { gap: Duration { value: 30, .. }, .. })));
}

#[test]
fn select_items_wildcards_and_aliases() {
    let q = query("SELECT *, s.*, col->inner->*, a b, c AS `d`, 1R FROM src s PARTITION BY a, b LIMIT 10");
    assert!(matches!(q.projection[0], SelectItem::Wildcard(_)));
    assert!(matches!(
        &q.projection[1],
        SelectItem::QualifiedWildcard(SelectItemQualifiedWildcardKind::ObjectName(_), _)
    ));
    let SelectItem::QualifiedWildcard(SelectItemQualifiedWildcardKind::Expr(e), _) = &q.projection[2] else {
        panic!("struct wildcard: {:?}", q.projection[2])
    };
    assert!(matches!(e, Expr::BinaryOp { op: BinaryOperator::Arrow, .. }));
    assert!(matches!(&q.projection[3], SelectItem::ExprWithAlias { alias, .. } if alias.value == "b"));
    assert_eq!(q.partition_by.len(), 2);
    assert_eq!(q.limit, Some(10));
}

#[test]
fn struct_access_is_left_associative_and_binds_tighter_than_arithmetic() {
    let e = expr("a->b->c + 1");
    let Expr::BinaryOp { left, op: BinaryOperator::Plus, .. } = e else { panic!("{e:?}") };
    let Expr::BinaryOp { left: inner, op: BinaryOperator::Arrow, right } = *left else { panic!() };
    assert!(matches!(*right, Expr::Identifier(ref i) if i.value == "c"));
    assert!(matches!(*inner, Expr::BinaryOp { op: BinaryOperator::Arrow, .. }));
    assert!(matches!(expr("arr[1]->f"), Expr::BinaryOp { op: BinaryOperator::Arrow, .. }));
    assert!(matches!(expr("m['k'][2]"), Expr::CompoundFieldAccess { ref access_chain, .. } if access_chain.len() == 2));
}

#[test]
fn lambdas_display_with_fat_arrow() {
    let statement = parse("SELECT TRANSFORM(arr, x => x + 1), REDUCE(m, 0, (s, k, v) => s + v) FROM s");
    let text = statement.to_string();
    assert!(text.contains("x => x + 1"), "{text}");
    assert!(text.contains("(s, k, v) => s + v"), "{text}");
    assert!(matches!(expr("FILTER(a, x => x->f > 1)"), Expr::Function(_)));
    parse("SELECT TRANSFORM(a, x => TRANSFORM(x, y => y * 2)) FROM s");
}

#[test]
fn constructors_and_plain_function_calls() {
    let Expr::Function(map) = expr("MAP('a' := 1, k := 2)") else { panic!() };
    let FunctionArguments::List(args) = &map.args else { panic!() };
    assert!(args.args.iter().all(|a| matches!(a, FunctionArg::ExprNamed { .. })));
    let Expr::Function(st) = expr("STRUCT(f := 1, `g` := 'x')") else { panic!() };
    let FunctionArguments::List(args) = &st.args else { panic!() };
    assert!(args.args.iter().all(|a| matches!(a, FunctionArg::Named { .. })));
    assert!(matches!(expr("STRUCT()"), Expr::Function(_)));
    assert!(matches!(expr("ARRAY[1, 2]"), Expr::Array(_)));
    for call in [
        "SUBSTRING(s, 1, 2)",
        "TRIM(s)",
        "POSITION(a, b)",
        "TIMESTAMPADD(SECONDS, 5, ts)",
        "FIELD('a', 'b')",
        "LEFT(s, 2)",
        "EXTRACTJSONFIELD(j, '$.a')",
        "CONCAT(a, b)",
        "COUNT(*)",
    ] {
        assert!(matches!(expr(call), Expr::Function(_)), "{call}");
        parse(&format!("SELECT {call} FROM s"));
    }
}

#[test]
fn predicates_literals_and_casts() {
    for e in [
        "a IN (1, 2)",
        "a NOT IN (1, 2)",
        "a BETWEEN 1 AND 2",
        "a NOT BETWEEN 1 AND 2",
        "a LIKE 'x%' ESCAPE '!'",
        "a IS NOT NULL",
        "a IS NULL",
        "a IS DISTINCT FROM b",
        "a IS NOT DISTINCT FROM b",
        "a || 'x'",
        "-a",
        "CASE WHEN a THEN 1 ELSE 2 END",
        "CASE a WHEN 1 THEN 'x' END",
        "CAST(a AS DECIMAL(4, 2))",
        "CAST(a AS ARRAY<MAP<STRING, INT>>)",
        "CAST(a AS STRUCT<f INT, `g` STRING>)",
        "TRUE AND NOT FALSE OR NULL",
        "'it''s'",
        "12345678901234567890123",
        "- -1",
        "-(-a)",
        "a - -1",
        "ts AT TIME ZONE 'UTC'",
    ] {
        parse(&format!("SELECT {e} FROM s"));
    }
    let Expr::Cast { data_type, .. } = expr("CAST(x AS MAP<STRING, ARRAY<BIGINT>>)") else { panic!() };
    assert_eq!(
        sql_type_from_data_type(&data_type),
        Some(SqlType::Map(Box::new(SqlType::String), Box::new(SqlType::Array(Box::new(SqlType::Bigint)))))
    );
    assert!(matches!(expr("'it''s'"), Expr::Value(v) if v.to_string() == "'it''s'"));
}

#[test]
fn insert_forms() {
    let Statement::InsertValues { target, columns, values } =
        parse("INSERT INTO s (ROWTIME, `k`, v) VALUES (1, 'a', STRUCT(x := 1))")
    else {
        panic!()
    };
    assert_eq!(target, "S");
    assert_eq!(columns, Some(vec!["ROWTIME".into(), "k".into(), "V".into()]));
    assert_eq!(values.len(), 3);
    assert!(matches!(parse("INSERT INTO s VALUES (1)"), Statement::InsertValues { columns: None, .. }));
    assert!(matches!(
        parse("INSERT INTO s WITH (query_id='q') SELECT * FROM t EMIT CHANGES"),
        Statement::InsertInto { .. }
    ));
}

#[test]
fn metadata_and_control_statements() {
    let cases: Vec<(&str, Statement)> = vec![
        ("SHOW STREAMS EXTENDED", Statement::Show(ShowTarget::Streams { extended: true })),
        ("LIST TABLES", Statement::Show(ShowTarget::Tables { extended: false })),
        ("SHOW ALL TOPICS EXTENDED", Statement::Show(ShowTarget::Topics { all: true, extended: true })),
        ("SHOW QUERIES", Statement::Show(ShowTarget::Queries { extended: false })),
        ("SHOW PROPERTIES", Statement::Show(ShowTarget::Properties)),
        ("SHOW FUNCTIONS", Statement::Show(ShowTarget::Functions)),
        ("SHOW TYPES", Statement::Show(ShowTarget::Types)),
        ("SHOW VARIABLES", Statement::Show(ShowTarget::Variables)),
        ("SHOW SINK CONNECTORS", Statement::Show(ShowTarget::Connectors { kind: Some(ConnectorKind::Sink) })),
        ("SHOW CONNECTORS", Statement::Show(ShowTarget::Connectors { kind: None })),
        ("SHOW CONNECTOR PLUGINS", Statement::Show(ShowTarget::ConnectorPlugins)),
        ("DESCRIBE s EXTENDED", Statement::Describe(DescribeTarget::Source { name: "S".into(), extended: true })),
        ("DESCRIBE EXTENDED s", Statement::Describe(DescribeTarget::Source { name: "S".into(), extended: true })),
        ("DESCRIBE STREAMS", Statement::Describe(DescribeTarget::Streams { extended: false })),
        ("DESCRIBE TABLES EXTENDED", Statement::Describe(DescribeTarget::Tables { extended: true })),
        ("DESCRIBE FUNCTION concat", Statement::Describe(DescribeTarget::Function { name: "CONCAT".into() })),
        ("DESCRIBE CONNECTOR c", Statement::Describe(DescribeTarget::Connector { name: "C".into() })),
        ("EXPLAIN CSAS_OUT_0", Statement::Explain(ExplainTarget::QueryId("CSAS_OUT_0".into()))),
        ("TERMINATE ALL", Statement::Terminate(QueryTarget::All)),
        ("PAUSE q1", Statement::Pause(QueryTarget::Id("Q1".into()))),
        ("RESUME ALL", Statement::Resume(QueryTarget::All)),
        ("DROP TABLE IF EXISTS t DELETE TOPIC", Statement::Drop { kind: SourceKind::Table, if_exists: true, name: "T".into(), delete_topic: true }),
        ("PRINT 'my-topic' FROM BEGINNING INTERVAL 2 LIMIT 3", Statement::Print { topic: "my-topic".into(), from_beginning: true, interval: Some(2), limit: Some(3) }),
        ("PRINT test_topic SAMPLE 5", Statement::Print { topic: "test_topic".into(), from_beginning: false, interval: Some(5), limit: None }),
        ("SET 'auto.offset.reset'='earliest'", Statement::Set { property: "auto.offset.reset".into(), value: "earliest".into() }),
        ("UNSET 'auto.offset.reset'", Statement::Unset { property: "auto.offset.reset".into() }),
        ("ALTER SYSTEM 'a'='b'", Statement::AlterSystem { property: "a".into(), value: "b".into() }),
        ("DEFINE format = 'JSON'", Statement::Define { name: "format".into(), value: "JSON".into() }),
        ("UNDEFINE format", Statement::Undefine { name: "format".into() }),
        ("RUN SCRIPT '/tmp/x.sql'", Statement::RunScript { path: "/tmp/x.sql".into() }),
        ("DROP TYPE IF EXISTS t", Statement::DropType { if_exists: true, name: "T".into() }),
        ("DROP CONNECTOR c", Statement::DropConnector { if_exists: false, name: "C".into() }),
        ("ASSERT NOT EXISTS TOPIC t WITH (partitions=1) TIMEOUT 3 SECONDS", Statement::AssertTopic {
            exists: false,
            name: "t".into(),
            properties: WithProperties(vec![("PARTITIONS".into(), PropertyValue::Number("1".into()))]),
            timeout: Some(Duration { value: 3, unit: TimeUnit::Seconds }),
        }),
        ("ASSERT SCHEMA SUBJECT 's-value' ID 3", Statement::AssertSchema { exists: true, subject: Some("s-value".into()), id: Some(3), timeout: None }),
    ];
    for (sql, expected) in cases {
        assert_eq!(parse(sql), expected, "{sql}");
    }
    assert!(matches!(parse("EXPLAIN SELECT * FROM s"), Statement::Explain(ExplainTarget::Statement(_))));
    assert!(matches!(
        parse("CREATE SOURCE CONNECTOR IF NOT EXISTS c WITH (\"connector.class\"='x', tasks_max='1')"),
        Statement::CreateConnector { kind: ConnectorKind::Source, if_not_exists: true, ref properties, .. }
            if properties.0[0].0 == "connector.class" && properties.0[1].0 == "TASKS_MAX"
    ));
    assert!(matches!(
        parse("ALTER STREAM s ADD COLUMN a INT, ADD b STRING"),
        Statement::AlterSource { ref add_columns, .. } if add_columns.len() == 2
    ));
}

#[test]
fn scripts_keep_text_and_start_positions() {
    let script = "-- leading comment\nCREATE STREAM a (x INT)\n  WITH (kafka_topic='a;b');  /* block\n comment */ SELECT *\nFROM a EMIT CHANGES;\n;";
    let statements = parse_statements(script).expect("script parses");
    assert_eq!(statements.len(), 2);
    assert_eq!(statements[0].text, "CREATE STREAM a (x INT)\n  WITH (kafka_topic='a;b')");
    assert_eq!(statements[0].start, Location { line: 2, column: 1 });
    assert_eq!(statements[1].text, "SELECT *\nFROM a EMIT CHANGES");
    assert_eq!(statements[1].start, Location { line: 4, column: 13 });
}

#[test]
fn variables_are_substituted_everywhere() {
    let vars = HashMap::from([("fmt".to_string(), "JSON".to_string()), ("T".to_string(), "topic".to_string())]);
    let sql = substitute_variables("CREATE STREAM ${T} WITH (value_format='${fmt}', kafka_topic='${t}')", &vars)
        .expect("all defined");
    assert_eq!(sql, "CREATE STREAM topic WITH (value_format='JSON', kafka_topic='topic')");
    let err = substitute_variables("SELECT\n  ${nope} FROM x", &vars).expect_err("undefined");
    assert_eq!(err.location, Location { line: 2, column: 3 });
    assert!(err.message.contains("nope"), "{}", err.message);
}
