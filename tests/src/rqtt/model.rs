//! RQTT files (see `/work/shared/ksql-tests/FORMAT.md`, section 2): loading and `format`
//! expansion. The fields RQTT shares with QTT (statements, topics, inputs, outputs,
//! properties) are read into the QTT [`TestCase`], so records are encoded and compared by the
//! same code as in the QTT harness.

use std::path::Path;

use serde::Deserialize;
use serde_json::Value;

use crate::qtt::load::{strip_comments, unsupported_format};
use crate::qtt::model::{QttFile, TestCase};

/// The REST-only fields of a case.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct RestFields {
    /// One entry per response: `{"admin": {...}}`, `{"query": [...]}` or `{"queryProto": [...]}`.
    #[serde(default)]
    pub responses: Vec<Value>,
    #[serde(default, rename = "expectedError")]
    pub expected_error: Option<ExpectedError>,
    #[serde(default, rename = "inputConditions")]
    pub input_conditions: Option<InputConditions>,
    #[serde(default, rename = "outputConditions")]
    pub output_conditions: Option<OutputConditions>,
    #[serde(default, rename = "testPullWithProtoFormat")]
    pub test_pull_with_proto_format: bool,
}

/// The last statement must fail with this.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct ExpectedError {
    /// The REST entity class, e.g. `io.confluent.ksql.rest.entity.KsqlStatementErrorMessage`.
    #[serde(default, rename = "type")]
    pub error_type: Option<String>,
    #[serde(default)]
    pub message: Option<String>,
    #[serde(default)]
    pub status: Option<u16>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct InputConditions {
    /// Start the (single) query, wait until it runs, then produce the inputs.
    #[serde(default, rename = "waitForActivePushQuery")]
    pub wait_for_active_push_query: bool,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct OutputConditions {
    /// False: query rows are compared as a multiset.
    #[serde(default = "default_true", rename = "verifyOrder")]
    pub verify_order: bool,
}

fn default_true() -> bool {
    true
}

/// One expanded case.
#[derive(Debug, Clone)]
pub struct RestCase {
    pub file: String,
    /// `<file stem> - <name>[ - <format>]`.
    pub name: String,
    pub kind: RestCaseKind,
}

#[derive(Debug, Clone)]
pub enum RestCaseKind {
    Run(Box<TestCase>, Box<RestFields>),
    Skip(String),
    Invalid(String),
}

/// Parses one RQTT file into expanded cases (disabled cases are dropped).
pub fn parse_file(display: &str, text: &str) -> Result<Vec<RestCase>, String> {
    let file: QttFile = serde_json::from_str(&strip_comments(text)).map_err(|e| format!("invalid RQTT file: {e}"))?;
    let stem = Path::new(display).file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_else(|| display.to_string());
    let mut cases = Vec::new();
    for (idx, raw) in file.tests.into_iter().enumerate() {
        if raw.get("enabled") == Some(&Value::Bool(false)) {
            continue;
        }
        let raw_name = raw.get("name").and_then(Value::as_str).map(str::to_string);
        let parsed = serde_json::from_value::<TestCase>(raw.clone()).and_then(|tc| Ok((tc, serde_json::from_value::<RestFields>(raw)?)));
        match parsed {
            Ok((tc, rest)) => cases.extend(expand(display, &stem, tc, rest)),
            Err(e) => cases.push(RestCase {
                file: display.to_string(),
                name: format!("{stem} - {}", raw_name.unwrap_or_else(|| format!("#{idx}"))),
                kind: RestCaseKind::Invalid(format!("invalid case: {e}")),
            }),
        }
    }
    Ok(cases)
}

/// One case per `format` entry (`{FORMAT}` replaced in the statements).
fn expand(file: &str, stem: &str, tc: TestCase, rest: RestFields) -> Vec<RestCase> {
    let formats: Vec<Option<String>> = if tc.format.is_empty() { vec![None] } else { tc.format.iter().cloned().map(Some).collect() };
    formats
        .into_iter()
        .map(|format| {
            let mut tc = tc.clone();
            let mut name = format!("{stem} - {}", tc.name);
            if let Some(f) = &format {
                name.push_str(&format!(" - {f}"));
                tc.statements = tc.statements.iter().map(|s| s.replace("{FORMAT}", f)).collect();
            }
            let kind = if let Some(f) = unsupported_format(&tc) {
                RestCaseKind::Skip(format!("needs a schema-registry format ({f})"))
            } else if rest.test_pull_with_proto_format || rest.responses.iter().any(|r| r.get("queryProto").is_some()) {
                RestCaseKind::Skip("checks protobuf query output (application/vnd.ksql.v1+protobuf), not served yet".into())
            } else {
                RestCaseKind::Run(Box::new(tc), Box::new(rest.clone()))
            };
            RestCase { file: file.to_string(), name, kind }
        })
        .collect()
}
