//! Serialization format names, their properties and what each can hold.

use std::fmt;

use runnel_parser::SqlType;

use crate::error::{PlanError, Result};
use crate::types::display_type;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FormatName {
    None,
    Kafka,
    Delimited,
    Json,
    JsonSr,
    Avro,
    Protobuf,
    ProtobufNoSr,
}

impl FormatName {
    pub fn parse(name: &str) -> Result<Self> {
        Ok(match name.to_ascii_uppercase().as_str() {
            "NONE" => FormatName::None,
            "KAFKA" => FormatName::Kafka,
            "DELIMITED" => FormatName::Delimited,
            "JSON" => FormatName::Json,
            "JSON_SR" => FormatName::JsonSr,
            "AVRO" => FormatName::Avro,
            "PROTOBUF" => FormatName::Protobuf,
            "PROTOBUF_NOSR" => FormatName::ProtobufNoSr,
            other => return Err(PlanError::statement(format!("Unknown format: {other}"))),
        })
    }
    pub fn name(&self) -> &'static str {
        match self {
            FormatName::None => "NONE",
            FormatName::Kafka => "KAFKA",
            FormatName::Delimited => "DELIMITED",
            FormatName::Json => "JSON",
            FormatName::JsonSr => "JSON_SR",
            FormatName::Avro => "AVRO",
            FormatName::Protobuf => "PROTOBUF",
            FormatName::ProtobufNoSr => "PROTOBUF_NOSR",
        }
    }
    /// Formats whose runtime codec exists today.
    pub fn is_supported(&self) -> bool {
        matches!(self, FormatName::None | FormatName::Kafka | FormatName::Delimited | FormatName::Json)
    }
    /// Whether a single column can be written unwrapped / wrapped (i.e. WRAP_SINGLE_VALUE applies).
    pub fn supports_wrapping(&self) -> bool {
        !matches!(self, FormatName::None | FormatName::Kafka)
    }
}

impl fmt::Display for FormatName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A key or value format with its options.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FormatSpec {
    pub format: FormatName,
    /// DELIMITED only: the delimiter character.
    pub delimiter: Option<char>,
    /// Serde features, e.g. `UNWRAP_SINGLES` / `WRAP_SINGLES`.
    pub features: Vec<String>,
}

impl FormatSpec {
    pub fn new(format: FormatName) -> Self {
        FormatSpec { format, delimiter: None, features: Vec::new() }
    }
    /// True when a single column is written bare.
    pub fn unwrapped(&self) -> bool {
        self.features.iter().any(|f| f == "UNWRAP_SINGLES")
    }
}

/// Parses `KEY_DELIMITER`/`VALUE_DELIMITER`.
pub fn parse_delimiter(prop: &str, value: &str) -> Result<char> {
    let invalid = |why: &str| {
        PlanError::statement(format!(
            "Failed to prepare statement: Configuration {prop} is invalid: {why}\nExample valid value: ';'"
        ))
    };
    match value.to_ascii_uppercase().as_str() {
        v if v.trim().is_empty() => Err(invalid(
            "Delimiter cannot be empty, if you meant to have a tab or space for delimiter, please use the special values 'TAB' or 'SPACE'",
        )),
        "TAB" => Ok('\t'),
        "SPACE" => Ok(' '),
        _ => {
            let mut chars = value.chars();
            match (chars.next(), chars.next()) {
                (Some(c), None) => Ok(c),
                _ => Err(invalid(&format!(
                    "Invalid delimiter value: '{value}'. Delimiter must be a single character or TAB or SPACE"
                ))),
            }
        }
    }
}

/// Checks that the format can hold these columns. `what` is "key" or "value".
pub fn validate_columns(format: FormatName, columns: &[(&str, &SqlType)], what: &str) -> Result<()> {
    let result = validate_columns_inner(format, columns, what);
    match result {
        // ksqlDB words key-side failures of KAFKA/DELIMITED this way, naming the key schema.
        Err(PlanError::Statement(reason)) if what == "key" && matches!(format, FormatName::Kafka | FormatName::Delimited) => {
            let keys = columns.iter().map(|(n, t)| format!("`{n}` {} KEY", display_type(t))).collect::<Vec<_>>().join(", ");
            let reason = match format {
                FormatName::Kafka if columns.len() > 1 => {
                    format!("The 'KAFKA' format only supports a single field. Got: [{keys}]")
                }
                FormatName::Delimited => {
                    // The offending column is the first one with a complex type.
                    let column = columns
                        .iter()
                        .find(|(_, t)| matches!(t, SqlType::Array(_) | SqlType::Map(..) | SqlType::Struct(_)))
                        .map(|(n, _)| format!(", column: `{n}`"))
                        .unwrap_or_default();
                    format!("{reason}{column}")
                }
                _ => reason,
            };
            Err(PlanError::statement(format!(
                "Key format does not support schema.\nformat: {format}\nschema: Persistence{{columns=[{keys}], features=[]}}\nreason: {reason}"
            )))
        }
        other => other,
    }
}

fn validate_columns_inner(format: FormatName, columns: &[(&str, &SqlType)], what: &str) -> Result<()> {
    match format {
        FormatName::None => {
            if !columns.is_empty() {
                let cols = columns
                    .iter()
                    .map(|(n, t)| format!("`{n}` {}{}", display_type(t), if what == "key" { " KEY" } else { "" }))
                    .collect::<Vec<_>>()
                    .join(", ");
                return Err(PlanError::statement(format!(
                    "The 'NONE' format can only be used when no columns are defined. Got: [{cols}]"
                )));
            }
        }
        FormatName::Kafka => {
            if columns.len() > 1 {
                let cols = columns
                    .iter()
                    .map(|(n, t)| format!("`{n}` {}", display_type(t)))
                    .collect::<Vec<_>>()
                    .join(", ");
                return Err(PlanError::statement(format!(
                    "The 'KAFKA' format only supports a single field. Got: [{cols}]"
                )));
            }
            for (_, t) in columns {
                let bad = match t {
                    SqlType::Boolean => Some("BOOLEAN"),
                    SqlType::Array(_) => Some("ARRAY"),
                    SqlType::Map(..) => Some("MAP"),
                    SqlType::Struct(_) => Some("STRUCT"),
                    SqlType::Decimal { .. } => Some("DECIMAL"),
                    SqlType::Timestamp => Some("TIMESTAMP"),
                    SqlType::Date => Some("DATE"),
                    SqlType::Time => Some("TIME"),
                    _ => None,
                };
                if let Some(bad) = bad {
                    return Err(PlanError::statement(format!("The 'KAFKA' format does not support type '{bad}'")));
                }
            }
        }
        FormatName::Delimited => {
            for (_, t) in columns {
                let bad = match t {
                    SqlType::Array(_) => Some("ARRAY"),
                    SqlType::Map(..) => Some("MAP"),
                    SqlType::Struct(_) => Some("STRUCT"),
                    _ => None,
                };
                if let Some(bad) = bad {
                    return Err(PlanError::statement(format!("The 'DELIMITED' format does not support type '{bad}'")));
                }
            }
        }
        FormatName::Json | FormatName::JsonSr => {
            for (_, t) in columns {
                if has_non_string_map_key(t) {
                    return Err(PlanError::statement("JSON only supports MAP types with STRING keys"));
                }
            }
        }
        FormatName::Avro => {
            for (_, t) in columns {
                if has_non_string_map_key(t) {
                    return Err(PlanError::statement("Avro only supports MAPs with STRING keys"));
                }
            }
        }
        FormatName::Protobuf | FormatName::ProtobufNoSr => {
            for (_, t) in columns {
                if has_non_string_map_key(t) {
                    return Err(PlanError::statement("PROTOBUF format only supports MAP types with STRING keys"));
                }
            }
        }
    }
    Ok(())
}

fn has_non_string_map_key(t: &SqlType) -> bool {
    match t {
        SqlType::Map(k, v) => **k != SqlType::String || has_non_string_map_key(v),
        SqlType::Array(inner) => has_non_string_map_key(inner),
        SqlType::Struct(fields) => fields.iter().any(|f| has_non_string_map_key(&f.data_type)),
        _ => false,
    }
}
