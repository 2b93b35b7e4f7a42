//! CREATE STREAM/TABLE and the sink side of CSAS/CTAS: WITH properties -> [`SourceDef`].

use std::collections::HashSet;

use runnel_parser::{ColumnConstraint, ColumnDef, PropertyValue, SourceKind, SqlType, WithProperties};

use crate::catalog::{Column, ColumnRole, SourceDef, TimestampSpec, WindowInfo, WindowType};
use crate::config::PlannerConfig;
use crate::error::{PlanError, Result};
use crate::formats::{parse_delimiter, validate_columns, FormatName, FormatSpec};
use crate::nodes::RESERVED_COLUMNS;
use crate::query::PlannedQuery;
use crate::types::{contains_map, display_type, resolve_custom, TypeRegistry};

const SOURCE_PROPERTIES: &[&str] = &[
    "KAFKA_TOPIC", "PARTITIONS", "REPLICAS", "RETENTION_MS", "CLEANUP_POLICY", "KEY_FORMAT", "VALUE_FORMAT", "FORMAT",
    "KEY_DELIMITER", "VALUE_DELIMITER", "WRAP_SINGLE_VALUE", "TIMESTAMP", "TIMESTAMP_FORMAT", "KEY_SCHEMA_ID",
    "VALUE_SCHEMA_ID", "KEY_SCHEMA_FULL_NAME", "VALUE_SCHEMA_FULL_NAME", "VALUE_AVRO_SCHEMA_FULL_NAME",
    "KEY_PROTOBUF_NULLABLE_REPRESENTATION", "VALUE_PROTOBUF_NULLABLE_REPRESENTATION", "WINDOW_TYPE", "WINDOW_SIZE",
    "SOURCE_CONNECTOR", "SOURCED_BY_CONNECTOR",
];

/// Typed access to a WITH clause.
pub struct Props<'a>(pub &'a WithProperties);

impl Props<'_> {
    pub fn get(&self, name: &str) -> Option<&PropertyValue> {
        self.0 .0.iter().rev().find(|(k, _)| k == name).map(|(_, v)| v)
    }
    pub fn string(&self, name: &str) -> Option<String> {
        self.get(name).map(|v| match v {
            PropertyValue::String(s) | PropertyValue::Number(s) => s.clone(),
            PropertyValue::Boolean(b) => b.to_string(),
        })
    }
    pub fn int(&self, name: &str) -> Result<Option<i64>> {
        match self.string(name) {
            None => Ok(None),
            Some(s) => s.trim().parse::<i64>().map(Some).map_err(|_| {
                PlanError::statement(format!("Invalid value for property {name}: '{s}' is not an integer"))
            }),
        }
    }
    pub fn boolean(&self, name: &str) -> Result<Option<bool>> {
        match self.get(name) {
            None => Ok(None),
            Some(PropertyValue::Boolean(b)) => Ok(Some(*b)),
            Some(PropertyValue::String(s)) if s.eq_ignore_ascii_case("true") => Ok(Some(true)),
            Some(PropertyValue::String(s)) if s.eq_ignore_ascii_case("false") => Ok(Some(false)),
            Some(other) => Err(PlanError::statement(format!("Invalid value for property {name}: {other:?} is not a boolean"))),
        }
    }
    fn check_known(&self) -> Result<()> {
        let unknown: Vec<&str> = self.0 .0.iter().map(|(k, _)| k.as_str()).filter(|k| !SOURCE_PROPERTIES.contains(k)).collect();
        if unknown.is_empty() {
            Ok(())
        } else {
            Err(PlanError::statement(format!("Invalid config variable(s) in the WITH clause: {}", unknown.join(","))))
        }
    }
}

/// Key and value formats from FORMAT / KEY_FORMAT / VALUE_FORMAT and the defaults.
fn formats(props: &Props, default_key: FormatName, default_value: Option<FormatName>) -> Result<(FormatSpec, FormatSpec)> {
    let format = props.string("FORMAT");
    let key = props.string("KEY_FORMAT");
    let value = props.string("VALUE_FORMAT");
    if format.is_some() && key.is_some() {
        return Err(PlanError::statement("Cannot supply both 'KEY_FORMAT' and 'FORMAT' properties, as 'FORMAT' sets both key and value formats. Either use just 'FORMAT', or use 'KEY_FORMAT' and 'VALUE_FORMAT'."));
    }
    if format.is_some() && value.is_some() {
        return Err(PlanError::statement("Cannot supply both 'VALUE_FORMAT' and 'FORMAT' properties, as 'FORMAT' sets both key and value formats. Either use just 'FORMAT', or use 'KEY_FORMAT' and 'VALUE_FORMAT'."));
    }
    let key_format = match key.or_else(|| format.clone()) {
        Some(k) => FormatName::parse(&k)?,
        None => default_key,
    };
    let value_format = match value.or(format) {
        Some(v) => FormatName::parse(&v)?,
        None => default_value.ok_or_else(|| {
            PlanError::statement("Statement is missing the 'VALUE_FORMAT' property from the WITH clause. Either provide one or set a default via the 'ksql.persistence.default.format.value' config.")
        })?,
    };
    let mut key_spec = FormatSpec::new(key_format);
    let mut value_spec = FormatSpec::new(value_format);
    if let Some(d) = props.string("KEY_DELIMITER") {
        if key_format != FormatName::Delimited {
            return Err(PlanError::statement("KEY_DELIMITER can only be used with KEY_FORMAT='DELIMITED'"));
        }
        key_spec.delimiter = Some(parse_delimiter("KEY_DELIMITER", &d)?);
    }
    if let Some(d) = props.string("VALUE_DELIMITER") {
        if value_format != FormatName::Delimited {
            return Err(PlanError::statement("VALUE_DELIMITER can only be used with VALUE_FORMAT='DELIMITED'"));
        }
        value_spec.delimiter = Some(parse_delimiter("VALUE_DELIMITER", &d)?);
    }
    Ok((key_spec, value_spec))
}

/// Applies WRAP_SINGLE_VALUE / the default to the value format's features.
fn value_wrapping(props: &Props, config: &PlannerConfig, value: &mut FormatSpec, value_columns: usize) -> Result<()> {
    let explicit = props.boolean("WRAP_SINGLE_VALUE")?;
    if explicit.is_some() && value_columns != 1 {
        return Err(PlanError::statement("'WRAP_SINGLE_VALUE' is only valid for single-field value schemas"));
    }
    if value_columns != 1 {
        return Ok(());
    }
    if explicit == Some(true) && matches!(value.format, FormatName::Delimited | FormatName::Kafka) {
        return Err(PlanError::statement(format!(
            "Format '{}' does not support 'WRAP_SINGLE_VALUE' set to 'true'.",
            value.format
        )));
    }
    if explicit.is_some() && !value.format.supports_wrapping() && value.format != FormatName::Kafka {
        return Err(PlanError::statement(format!(
            "Format '{}' does not support 'WRAP_SINGLE_VALUE' set to '{}'.",
            value.format,
            explicit.unwrap_or(true)
        )));
    }
    match explicit.or_else(|| config.wrap_single_values()) {
        Some(false) if value.format.supports_wrapping() => value.features.push("UNWRAP_SINGLES".into()),
        Some(true) if explicit.is_some() => value.features.push("WRAP_SINGLES".into()),
        _ => {}
    }
    Ok(())
}

fn parse_duration_ms(text: &str) -> Result<i64> {
    let invalid = |why: String| PlanError::statement(format!("Configuration WINDOW_SIZE is invalid: Invalid duration: '{text}'. {why}"));
    let mut parts = text.split_whitespace();
    let (Some(n), Some(unit), None) = (parts.next(), parts.next(), parts.next()) else {
        return Err(invalid("Expected '<number> <unit>'".into()));
    };
    let n: i64 = n.parse().map_err(|_| invalid(format!("Not a number: '{n}'")))?;
    let unit_upper = unit.to_ascii_uppercase();
    let factor = match unit_upper.trim_end_matches('S') {
        "MILLISECOND" => 1,
        "SECOND" => 1_000,
        "MINUTE" => 60_000,
        "HOUR" => 3_600_000,
        "DAY" => 86_400_000,
        _ => return Err(invalid(format!("Unknown time unit: '{unit_upper}'"))),
    };
    Ok(n * factor)
}

fn window_info(props: &Props) -> Result<Option<WindowInfo>> {
    let Some(wt) = props.string("WINDOW_TYPE") else {
        if props.get("WINDOW_SIZE").is_some() {
            return Err(PlanError::statement("'WINDOW_SIZE' should not be set without 'WINDOW_TYPE'."));
        }
        return Ok(None);
    };
    let window_type = match wt.to_ascii_uppercase().as_str() {
        "TUMBLING" => WindowType::Tumbling,
        "HOPPING" => WindowType::Hopping,
        "SESSION" => WindowType::Session,
        other => return Err(PlanError::statement(format!("Invalid WINDOW_TYPE: {other}"))),
    };
    let size = props.string("WINDOW_SIZE").map(|s| parse_duration_ms(&s)).transpose()?;
    match (window_type, size) {
        (WindowType::Session, Some(_)) => Err(PlanError::statement("'WINDOW_SIZE' should not be set for SESSION windows.")),
        (WindowType::Tumbling | WindowType::Hopping, None) => Err(PlanError::statement(format!(
            "'WINDOW_SIZE' must be set for {} windows.",
            window_type.name()
        ))),
        _ => Ok(Some(WindowInfo { window_type, size_ms: size })),
    }
}

fn timestamp_spec(props: &Props, columns: &[Column]) -> Result<Option<TimestampSpec>> {
    let Some(column) = props.string("TIMESTAMP") else { return Ok(None) };
    let column = column.trim_matches('`').to_string();
    let column = if columns.iter().any(|c| c.name == column) { column } else { column.to_ascii_uppercase() };
    let Some(def) = columns.iter().find(|c| c.name == column) else {
        return Err(PlanError::statement(format!("The TIMESTAMP column set in the WITH clause does not exist in the schema: '{column}'")));
    };
    let format = props.string("TIMESTAMP_FORMAT");
    match (&def.data_type, &format) {
        (SqlType::Bigint | SqlType::Timestamp, None) | (SqlType::String, Some(_)) => {}
        (SqlType::String, None) => {
            return Err(PlanError::statement(format!(
                "Timestamp column, `{column}`, should be LONG(INT64), TIMESTAMP, or a String with a timestamp_format specified."
            )))
        }
        (_, _) => {
            return Err(PlanError::statement(format!(
                "Timestamp column, `{column}`, should be LONG(INT64), TIMESTAMP, or a String with a timestamp_format specified."
            )))
        }
    }
    Ok(Some(TimestampSpec { column, format }))
}

fn check_key_types(columns: &[Column]) -> Result<()> {
    for c in columns.iter().filter(|c| c.role == ColumnRole::Key) {
        if contains_map(&c.data_type) {
            return Err(PlanError::statement(format!(
                "Map keys, including types that contain maps, are not supported as they may lead to unexpected behavior due to inconsistent serialization. Key column name: `{}`. Column type: {}. See https://github.com/confluentinc/ksql/issues/6621 for more.",
                c.name,
                display_type(&c.data_type)
            )));
        }
    }
    Ok(())
}

fn check_formats(key: &FormatSpec, value: &FormatSpec, columns: &[Column]) -> Result<()> {
    let keys: Vec<(&str, &SqlType)> =
        columns.iter().filter(|c| c.role == ColumnRole::Key).map(|c| (c.name.as_str(), &c.data_type)).collect();
    let values: Vec<(&str, &SqlType)> =
        columns.iter().filter(|c| c.role == ColumnRole::Value).map(|c| (c.name.as_str(), &c.data_type)).collect();
    validate_columns(key.format, &keys, "key")?;
    validate_columns(value.format, &values, "value")
}

/// Checks that both formats are supported and can hold the columns, and sets their serde
/// features (value wrapping, unwrapped single keys).
fn finish_formats(
    props: &Props,
    config: &PlannerConfig,
    key_format: &mut FormatSpec,
    value_format: &mut FormatSpec,
    columns: &[Column],
) -> Result<()> {
    if !key_format.format.is_supported() || !value_format.format.is_supported() {
        let which = if key_format.format.is_supported() { value_format.format } else { key_format.format };
        return Err(PlanError::unsupported(format!("The {which} format is not supported yet")));
    }
    check_key_types(columns)?;
    check_formats(key_format, value_format, columns)?;
    let value_count = columns.iter().filter(|c| c.role == ColumnRole::Value).count();
    value_wrapping(props, config, value_format, value_count)?;
    if columns.iter().filter(|c| c.role == ColumnRole::Key).count() == 1 && key_format.format.supports_wrapping() {
        key_format.features.push("UNWRAP_SINGLES".into());
    }
    Ok(())
}

/// `CREATE [SOURCE] STREAM|TABLE name (columns) WITH (...)`.
#[allow(clippy::too_many_arguments)]
pub fn plan_create_source(
    kind: SourceKind,
    name: &str,
    is_source: bool,
    column_defs: &[ColumnDef],
    with: &WithProperties,
    types: &TypeRegistry,
    config: &PlannerConfig,
    statement: &str,
) -> Result<SourceDef> {
    let props = Props(with);
    props.check_known()?;
    let topic = props.string("KAFKA_TOPIC").ok_or_else(|| {
        PlanError::statement("Missing required property \"KAFKA_TOPIC\" which has no default value.")
    })?;
    let mut seen = HashSet::new();
    let mut keys = Vec::new();
    let mut others = Vec::new();
    for def in column_defs {
        if RESERVED_COLUMNS.contains(&def.name.as_str()) {
            return Err(PlanError::statement(format!(
                "'{}' is a reserved column name. You cannot use it as a name for a column.",
                def.name
            )));
        }
        if !seen.insert(def.name.clone()) {
            return Err(PlanError::statement(format!("Duplicate column names: {}", def.name)));
        }
        let data_type = resolve_custom(&def.data_type, types)?;
        let column = match &def.constraint {
            ColumnConstraint::Key | ColumnConstraint::PrimaryKey => {
                match (kind, &def.constraint) {
                    (SourceKind::Table, ColumnConstraint::Key) => {
                        return Err(PlanError::statement(format!(
                            "Column `{}` is a 'KEY' column: please use 'PRIMARY KEY' for tables.",
                            def.name
                        )))
                    }
                    (SourceKind::Stream, ColumnConstraint::PrimaryKey) => {
                        return Err(PlanError::statement(format!(
                            "Column `{}` is a 'PRIMARY KEY' column: please use 'KEY' for streams.",
                            def.name
                        )))
                    }
                    _ => {}
                }
                keys.push(Column::new(&def.name, data_type, ColumnRole::Key));
                continue;
            }
            ColumnConstraint::Headers => {
                let headers_type = SqlType::Array(Box::new(SqlType::Struct(vec![
                    runnel_parser::StructField { name: "KEY".into(), data_type: SqlType::String },
                    runnel_parser::StructField { name: "VALUE".into(), data_type: SqlType::Bytes },
                ])));
                if data_type != headers_type {
                    return Err(PlanError::statement(format!(
                        "Invalid type for HEADERS column: expected {}, got {}.",
                        display_type(&headers_type),
                        display_type(&data_type)
                    )));
                }
                Column::new(&def.name, data_type, ColumnRole::Header)
            }
            ColumnConstraint::Header(key) => {
                if data_type != SqlType::Bytes {
                    return Err(PlanError::statement(format!(
                        "Invalid type for HEADER('{key}') column: expected BYTES, got {}.",
                        display_type(&data_type)
                    )));
                }
                Column { header_key: Some(key.clone()), ..Column::new(&def.name, data_type, ColumnRole::Header) }
            }
            ColumnConstraint::None => Column::new(&def.name, data_type, ColumnRole::Value),
        };
        others.push(column);
    }
    if kind == SourceKind::Table && keys.is_empty() {
        return Err(PlanError::statement("Tables require a PRIMARY KEY. Please define the PRIMARY KEY."));
    }
    let mut columns = keys;
    columns.extend(others);
    let (mut key_format, mut value_format) = formats(&props, config.default_key_format()?, config.default_value_format()?)?;
    if columns.iter().all(|c| c.role != ColumnRole::Key) && props.string("KEY_FORMAT").is_none() && props.string("FORMAT").is_none() {
        key_format = FormatSpec { format: FormatName::None, ..key_format };
    }
    finish_formats(&props, config, &mut key_format, &mut value_format, &columns)?;
    if columns.is_empty() {
        return Err(PlanError::statement("The statement does not define any columns."));
    }
    let timestamp = timestamp_spec(&props, &columns)?;
    let window = window_info(&props)?;
    if window.is_some() && columns.iter().all(|c| c.role != ColumnRole::Key) {
        return Err(PlanError::statement("Windowed sources require a key column."));
    }
    let partitions = props.int("PARTITIONS")?.map(|p| p as i32);
    Ok(SourceDef {
        name: name.to_string(),
        kind,
        columns,
        topic,
        key_format,
        value_format,
        timestamp,
        window,
        is_source,
        statement: statement.to_string(),
        partitions,
    })
}

/// The stream/table a CSAS/CTAS/INSERT writes, derived from the query and the WITH clause.
pub fn plan_sink(
    name: &str,
    kind: SourceKind,
    with: &WithProperties,
    planned: &PlannedQuery,
    input: &SourceDef,
    config: &PlannerConfig,
    statement: &str,
) -> Result<SourceDef> {
    let props = Props(with);
    props.check_known()?;
    let topic = props.string("KAFKA_TOPIC").unwrap_or_else(|| format!("{}{}", config.output_topic_prefix(), name));
    let columns: Vec<Column> =
        planned.output.iter().map(|c| Column::new(&c.name, c.data_type.clone(), c.role)).collect();
    let has_key = columns.iter().any(|c| c.role == ColumnRole::Key);
    let explicit_key = props.string("KEY_FORMAT").or_else(|| props.string("FORMAT"));
    if let Some(k) = &explicit_key {
        FormatName::parse(k)?;
    }
    if !has_key && props.string("KEY_FORMAT").is_some_and(|f| !f.eq_ignore_ascii_case("NONE")) {
        return Err(PlanError::statement("Key format specified for stream without key columns."));
    }
    let default_key = if input.key_format.format == FormatName::None { config.default_key_format()? } else { input.key_format.format };
    let (mut key_format, mut value_format) = formats(&props, default_key, Some(input.value_format.format))?;
    if explicit_key.is_none() && key_format.format == input.key_format.format && key_format.delimiter.is_none() {
        key_format.delimiter = input.key_format.delimiter;
    }
    if !has_key {
        key_format = FormatSpec::new(FormatName::None);
    }
    if props.string("VALUE_FORMAT").is_none() && props.string("FORMAT").is_none() && value_format.delimiter.is_none() {
        value_format.delimiter = input.value_format.delimiter;
    }
    // Checked before the result's column types, as ksqlDB does.
    if planned.complex_intermediate && value_format.format == FormatName::Delimited {
        return Err(PlanError::statement(
            "One of the functions used in the statement has an intermediate type that the value format can not handle. Please remove the function or change the format.",
        ));
    }
    finish_formats(&props, config, &mut key_format, &mut value_format, &columns)?;
    let timestamp = timestamp_spec(&props, &columns)?;
    let partitions = props.int("PARTITIONS")?.map(|p| p as i32).or(input.partitions);
    Ok(SourceDef {
        name: name.to_string(),
        kind,
        columns,
        topic,
        key_format,
        value_format,
        timestamp,
        window: planned.window,
        is_source: false,
        statement: statement.to_string(),
        partitions,
    })
}
