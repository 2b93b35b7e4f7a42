//! Property tests: `parse_statement(&stmt.to_string()) == stmt` for randomly built statement
//! ASTs (names that need quoting, nested types, properties, durations) and for random queries
//! assembled from ksql expression and clause pieces.

use proptest::prelude::*;
use runnel_parser::*;

fn name() -> impl Strategy<Value = String> {
    prop_oneof![
        "[A-Z_][A-Z0-9_]{0,6}",
        "[a-z][a-zA-Z0-9 _.-]{0,6}",
        Just("SELECT".to_string()),
        Just("KEY".to_string()),
        Just("STRING".to_string()),
        Just("a`b".to_string()),
        Just("Ünïcode".to_string()),
    ]
}

fn sql_type() -> impl Strategy<Value = SqlType> {
    let leaf = prop_oneof![
        Just(SqlType::Boolean),
        Just(SqlType::Int),
        Just(SqlType::Bigint),
        Just(SqlType::Double),
        (0u8..=38, 0u8..=10).prop_map(|(precision, scale)| SqlType::Decimal { precision, scale }),
        Just(SqlType::String),
        Just(SqlType::Bytes),
        Just(SqlType::Timestamp),
        Just(SqlType::Date),
        Just(SqlType::Time),
        name().prop_map(SqlType::Custom),
    ];
    leaf.prop_recursive(4, 24, 4, |inner| {
        prop_oneof![
            inner.clone().prop_map(|t| SqlType::Array(Box::new(t))),
            (inner.clone(), inner.clone()).prop_map(|(k, v)| SqlType::Map(Box::new(k), Box::new(v))),
            prop::collection::vec((name(), inner), 0..4).prop_map(|fields| SqlType::Struct(
                fields.into_iter().map(|(name, data_type)| StructField { name, data_type }).collect()
            )),
        ]
    })
}

fn constraint() -> impl Strategy<Value = ColumnConstraint> {
    prop_oneof![
        Just(ColumnConstraint::None),
        Just(ColumnConstraint::Key),
        Just(ColumnConstraint::PrimaryKey),
        Just(ColumnConstraint::Headers),
        ".{0,5}".prop_map(ColumnConstraint::Header),
    ]
}

fn column() -> impl Strategy<Value = ColumnDef> {
    (name(), sql_type(), constraint()).prop_map(|(name, data_type, constraint)| ColumnDef { name, data_type, constraint })
}

fn property_value() -> impl Strategy<Value = PropertyValue> {
    prop_oneof![
        ".{0,6}".prop_map(PropertyValue::String),
        "-?[0-9]{1,5}(\\.[0-9]{1,3})?".prop_map(PropertyValue::Number),
        any::<bool>().prop_map(PropertyValue::Boolean),
    ]
}

/// Source properties: names are upper-cased on parse, so generate upper-case ones.
fn source_properties() -> impl Strategy<Value = WithProperties> {
    prop::collection::vec(("[A-Z_][A-Z0-9_.]{0,8}", property_value()), 0..4).prop_map(WithProperties)
}

fn connector_properties() -> impl Strategy<Value = WithProperties> {
    prop::collection::vec(
        (prop_oneof!["[A-Z_][A-Z0-9_]{0,8}", "[a-z.]{1,10}"], property_value()),
        0..4,
    )
    .prop_map(WithProperties)
}

fn duration() -> impl Strategy<Value = Duration> {
    (
        0u64..100_000,
        prop_oneof![
            Just(TimeUnit::Milliseconds),
            Just(TimeUnit::Seconds),
            Just(TimeUnit::Minutes),
            Just(TimeUnit::Hours),
            Just(TimeUnit::Days),
        ],
    )
        .prop_map(|(value, unit)| Duration { value, unit })
}

fn word() -> impl Strategy<Value = String> {
    prop_oneof!["[a-zA-Z_][a-zA-Z0-9_]{0,6}", "[a-z0-9.-]{1,8}", Just("SELECT".to_string())]
}

fn kind() -> impl Strategy<Value = SourceKind> {
    prop_oneof![Just(SourceKind::Stream), Just(SourceKind::Table)]
}

fn query_target() -> impl Strategy<Value = QueryTarget> {
    prop_oneof![Just(QueryTarget::All), name().prop_map(QueryTarget::Id)]
}

/// Statements whose fields are all plain data (no expressions).
fn ddl_statement() -> impl Strategy<Value = Statement> {
    prop_oneof![
        (any::<bool>(), any::<bool>(), kind(), any::<bool>(), name(), prop::collection::vec(column(), 0..4), source_properties())
            .prop_map(|(or_replace, is_source, kind, if_not_exists, name, columns, properties)| {
                Statement::CreateSource { or_replace, is_source, kind, if_not_exists, name, columns, properties }
            }),
        (kind(), name(), prop::collection::vec(column(), 1..3))
            .prop_map(|(kind, name, add_columns)| Statement::AlterSource { kind, name, add_columns }),
        (kind(), any::<bool>(), name(), any::<bool>())
            .prop_map(|(kind, if_exists, name, delete_topic)| Statement::Drop { kind, if_exists, name, delete_topic }),
        (any::<bool>(), name(), sql_type())
            .prop_map(|(if_not_exists, name, data_type)| Statement::CreateType { if_not_exists, name, data_type }),
        (any::<bool>(), name()).prop_map(|(if_exists, name)| Statement::DropType { if_exists, name }),
        (word(), any::<bool>(), prop::option::of(0u64..100), prop::option::of(0u64..100)).prop_map(
            |(topic, from_beginning, interval, limit)| Statement::Print { topic, from_beginning, interval, limit }
        ),
        (".{0,6}", ".{0,6}").prop_map(|(property, value)| Statement::Set { property, value }),
        ".{0,6}".prop_map(|property| Statement::Unset { property }),
        (".{0,6}", ".{0,6}").prop_map(|(property, value)| Statement::AlterSystem { property, value }),
        ("[a-zA-Z_][a-zA-Z0-9_ ]{0,6}", ".{0,6}").prop_map(|(name, value)| Statement::Define { name, value }),
        "[a-zA-Z_][a-zA-Z0-9_]{0,6}".prop_map(|name| Statement::Undefine { name }),
        ".{0,8}".prop_map(|path| Statement::RunScript { path }),
        (prop_oneof![Just(ConnectorKind::Source), Just(ConnectorKind::Sink)], any::<bool>(), name(), connector_properties())
            .prop_map(|(kind, if_not_exists, name, properties)| Statement::CreateConnector { kind, if_not_exists, name, properties }),
        (any::<bool>(), name()).prop_map(|(if_exists, name)| Statement::DropConnector { if_exists, name }),
        (any::<bool>(), word(), source_properties(), prop::option::of(duration()))
            .prop_map(|(exists, name, properties, timeout)| Statement::AssertTopic { exists, name, properties, timeout }),
        (any::<bool>(), prop::option::of(word()), prop::option::of(0u64..1000), prop::option::of(duration()))
            .prop_map(|(exists, subject, id, timeout)| Statement::AssertSchema { exists, subject, id, timeout }),
        query_target().prop_map(Statement::Terminate),
        query_target().prop_map(Statement::Pause),
        query_target().prop_map(Statement::Resume),
        name().prop_map(|id| Statement::Explain(ExplainTarget::QueryId(id))),
        (name(), any::<bool>()).prop_map(|(name, extended)| Statement::Describe(DescribeTarget::Source { name, extended })),
        name().prop_map(|name| Statement::Describe(DescribeTarget::Function { name })),
        name().prop_map(|name| Statement::Describe(DescribeTarget::Connector { name })),
    ]
}

/// ksql expression text built from the dialect's pieces.
fn expr_text() -> impl Strategy<Value = String> {
    let leaf = prop_oneof![
        "c_[a-z0-9_]{0,4}",
        "`[a-zA-Z ]{1,4}`",
        "T[A-Z]{0,2}\\.[a-z]{1,3}",
        "[0-9]{1,25}",
        "[0-9]{1,3}\\.[0-9]{1,3}",
        "'([a-z ]|'')*'",
        Just("TRUE".to_string()),
        Just("NULL".to_string()),
        Just("ARRAY[]".to_string()),
        Just("STRUCT()".to_string()),
    ];
    leaf.prop_recursive(4, 32, 3, |inner| {
        let op = prop_oneof![
            Just("+"), Just("-"), Just("*"), Just("/"), Just("%"), Just("||"), Just("="), Just("<>"),
            Just("<"), Just(">="), Just("AND"), Just("OR"),
        ];
        prop_oneof![
            (inner.clone(), op, inner.clone()).prop_map(|(l, op, r)| format!("{l} {op} {r}")),
            inner.clone().prop_map(|e| format!("({e})")),
            inner.clone().prop_map(|e| format!("-({e})")),
            inner.clone().prop_map(|e| format!("NOT ({e})")),
            (inner.clone(), "[a-z]{1,3}").prop_map(|(e, f)| format!("({e})->{f}->`{f}`")),
            (inner.clone(), inner.clone()).prop_map(|(e, i)| format!("({e})[{i}]")),
            prop::collection::vec(inner.clone(), 0..3).prop_map(|args| format!("FN_{}({})", args.len(), args.join(", "))),
            prop::collection::vec(inner.clone(), 0..3).prop_map(|xs| format!("ARRAY[{}]", xs.join(", "))),
            (inner.clone(), inner.clone()).prop_map(|(k, v)| format!("MAP({k} := {v})")),
            (inner.clone(), "[a-z]{1,3}").prop_map(|(v, f)| format!("STRUCT({f} := {v})")),
            (inner.clone(), sql_type()).prop_map(|(e, t)| format!("CAST({e} AS {t})")),
            inner.clone().prop_map(|e| format!("TRANSFORM(xs, x => {e})")),
            inner.clone().prop_map(|e| format!("REDUCE(m, 0, (s, k) => s + ({e}))")),
            (inner.clone(), inner.clone(), inner.clone())
                .prop_map(|(c, a, b)| format!("CASE WHEN {c} THEN {a} ELSE {b} END")),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("({a}) IN ({b}, 1)")),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("({a}) NOT BETWEEN ({b}) AND 3")),
            inner.clone().prop_map(|a| format!("({a}) LIKE 'x%' ESCAPE '!'")),
            inner.clone().prop_map(|a| format!("({a}) IS NOT NULL")),
            (inner.clone(), inner).prop_map(|(a, b)| format!("({a}) IS DISTINCT FROM ({b})")),
        ]
    })
}

fn duration_text() -> impl Strategy<Value = String> {
    (0u32..1000, prop_oneof![Just("MILLISECOND"), Just("SECONDS"), Just("minute"), Just("HOURS"), Just("days")])
        .prop_map(|(n, unit)| format!("{n} {unit}"))
}

fn query_text() -> impl Strategy<Value = String> {
    let item = prop_oneof![
        Just("*".to_string()),
        Just("s.*".to_string()),
        expr_text().prop_map(|e| format!("({e})->*")),
        expr_text(),
        (expr_text(), "[a-z][a-z0-9]{0,3}").prop_map(|(e, a)| format!("{e} AS {a}")),
    ];
    let join = (
        prop_oneof![Just("JOIN"), Just("LEFT OUTER JOIN"), Just("RIGHT JOIN"), Just("FULL JOIN"), Just("INNER JOIN")],
        prop::option::of(prop_oneof![
            duration_text().prop_map(|d| format!(" WITHIN {d}")),
            (duration_text(), duration_text()).prop_map(|(a, b)| format!(" WITHIN ({a}, {b})")),
        ]),
        prop::option::of(duration_text()),
        expr_text(),
    )
        .prop_map(|(kind, within, grace, on)| {
            let grace = match (&within, grace) {
                (Some(_), Some(g)) => format!(" GRACE PERIOD {g}"),
                _ => String::new(),
            };
            format!(" {kind} t2 AS b{} {grace} ON {on}", within.unwrap_or_default())
        });
    let window = prop_oneof![
        duration_text().prop_map(|d| format!(" WINDOW TUMBLING (SIZE {d})")),
        (duration_text(), duration_text(), duration_text())
            .prop_map(|(s, a, g)| format!(" WINDOW HOPPING (SIZE {s}, ADVANCE BY {a}, GRACE PERIOD {g})")),
        (duration_text(), duration_text()).prop_map(|(g, r)| format!(" WINDOW SESSION ({g}, RETENTION {r})")),
    ];
    (
        prop::collection::vec(item, 1..4),
        prop::collection::vec(join, 0..2),
        prop::option::of(window),
        prop::option::of(expr_text()),
        prop::collection::vec(expr_text(), 0..3),
        prop::collection::vec(expr_text(), 0..2),
        prop::option::of(expr_text()),
        prop::option::of(prop_oneof![Just(" EMIT CHANGES"), Just(" EMIT FINAL")]),
        prop::option::of(0u64..1000),
    )
        .prop_map(|(items, joins, window, selection, group_by, partition_by, having, emit, limit)| {
            let mut sql = format!("SELECT {} FROM s a", items.join(", "));
            sql.extend(joins);
            sql.push_str(&window.unwrap_or_default());
            if let Some(e) = selection {
                sql.push_str(&format!(" WHERE {e}"));
            }
            if !group_by.is_empty() {
                sql.push_str(&format!(" GROUP BY {}", group_by.join(", ")));
            }
            if !partition_by.is_empty() {
                sql.push_str(&format!(" PARTITION BY {}", partition_by.join(", ")));
            }
            if let Some(e) = having {
                sql.push_str(&format!(" HAVING {e}"));
            }
            sql.push_str(emit.unwrap_or_default());
            if let Some(n) = limit {
                sql.push_str(&format!(" LIMIT {n}"));
            }
            sql
        })
}

fn assert_round_trips(statement: &Statement) -> Result<(), TestCaseError> {
    let displayed = statement.to_string();
    let reparsed = parse_statement(&displayed)
        .map_err(|e| TestCaseError::fail(format!("{displayed}\n{e}")))?;
    prop_assert_eq!(&reparsed, statement, "displayed as: {}", displayed);
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn ddl_statements_round_trip(statement in ddl_statement()) {
        assert_round_trips(&statement)?;
    }

    #[test]
    fn expressions_round_trip(text in expr_text()) {
        let expr = parse_expr(&text).map_err(|e| TestCaseError::fail(format!("{text}\n{e}")))?;
        let displayed = render_expr(&expr);
        let again = parse_expr(&displayed).map_err(|e| TestCaseError::fail(format!("{displayed}\n{e}")))?;
        prop_assert_eq!(again, expr, "displayed as: {}", displayed);
    }

    #[test]
    fn queries_round_trip(text in query_text(), kind in kind(), properties in source_properties(), name in name()) {
        let query = match parse_statement(&text) {
            Ok(Statement::Query(query)) => query,
            Ok(other) => return Err(TestCaseError::fail(format!("not a query: {other:?}"))),
            Err(e) => return Err(TestCaseError::fail(format!("{text}\n{e}"))),
        };
        assert_round_trips(&Statement::Query(query.clone()))?;
        assert_round_trips(&Statement::CreateAsSelect {
            or_replace: false, kind, if_not_exists: true, name: name.clone(), properties: properties.clone(), query: query.clone(),
        })?;
        assert_round_trips(&Statement::InsertInto { target: name, properties, query: query.clone() })?;
        assert_round_trips(&Statement::Explain(ExplainTarget::Statement(Box::new(Statement::Query(query)))))?;
    }
}
