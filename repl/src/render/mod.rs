//! Everything the CLI prints: [`table`] is the bordered listing, [`entities`] turns `/ksql`
//! entities into text, [`rows`] prints query results as they stream in.

pub mod entities;
pub mod rows;
pub mod table;

use serde_json::Value;

/// How results are printed (`--output`, `output` command).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputFormat {
    Tabular,
    Json,
}

impl OutputFormat {
    pub fn parse(text: &str) -> Option<OutputFormat> {
        match text.to_ascii_uppercase().as_str() {
            "TABULAR" => Some(OutputFormat::Tabular),
            "JSON" => Some(OutputFormat::Json),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            OutputFormat::Tabular => "TABULAR",
            OutputFormat::Json => "JSON",
        }
    }
}

/// A JSON value as a table cell: strings bare, `null` as `null`, nested values as compact JSON.
pub fn cell_text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Indented JSON (serialising a `Value` cannot fail; the fallback keeps it total anyway).
pub fn pretty_json(value: &Value) -> String {
    serde_json::to_string_pretty(value).unwrap_or_else(|_| value.to_string())
}
