//! Serde structs for QTT files (see `/work/shared/ksql-tests/FORMAT.md`, section 1).
//!
//! Unknown fields are ignored everywhere (the corpus carries free-form comment keys).

use serde::Deserialize;
use serde_json::{Map, Value};

/// A whole QTT file. Cases are kept as raw JSON so one malformed case does not
/// prevent the rest of the file from loading.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct QttFile {
    #[serde(default)]
    pub tests: Vec<Value>,
}

fn default_true() -> bool {
    true
}

/// One test case as written in the file (before `format`/`config` expansion).
#[derive(Debug, Clone, Deserialize)]
pub struct TestCase {
    pub name: String,
    pub statements: Vec<String>,
    #[serde(default)]
    pub format: Vec<String>,
    #[serde(default)]
    pub config: Vec<String>,
    #[serde(default)]
    pub properties: Map<String, Value>,
    #[serde(default)]
    pub topics: Vec<TopicNode>,
    #[serde(default)]
    pub inputs: Vec<RecordNode>,
    #[serde(default)]
    pub outputs: Vec<RecordNode>,
    #[serde(default, rename = "expectedException")]
    pub expected_exception: Option<ExpectedException>,
    #[serde(default)]
    pub post: Option<PostConditions>,
    #[serde(default = "default_true")]
    pub enabled: bool,
}

#[derive(Debug, Clone, Deserialize)]
pub struct TopicNode {
    pub name: String,
    #[serde(default)]
    pub partitions: Option<i32>,
    #[serde(default, rename = "keyFormat")]
    pub key_format: Option<String>,
    #[serde(default, rename = "valueFormat")]
    pub value_format: Option<String>,
    /// Legacy spelling of the value format.
    #[serde(default)]
    pub format: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct WindowNode {
    pub start: i64,
    pub end: i64,
    #[serde(rename = "type")]
    pub window_type: String,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct HeaderNode {
    #[serde(rename = "KEY")]
    pub key: String,
    /// Base64, or null.
    #[serde(default, rename = "VALUE")]
    pub value: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct RecordNode {
    pub topic: String,
    /// Absent and `null` both mean "no key".
    #[serde(default)]
    pub key: Value,
    /// `null` = tombstone.
    #[serde(default)]
    pub value: Value,
    #[serde(default)]
    pub timestamp: Option<i64>,
    #[serde(default)]
    pub window: Option<WindowNode>,
    #[serde(default)]
    pub headers: Option<Vec<HeaderNode>>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct ExpectedException {
    #[serde(default, rename = "type")]
    pub exception_type: Option<String>,
    #[serde(default)]
    pub message: Option<String>,
    /// Message of the wrapped cause (StreamsException cases).
    #[serde(default, rename = "causeMessage")]
    pub cause_message: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct PostConditions {
    #[serde(default)]
    pub sources: Vec<SourceNode>,
    #[serde(default)]
    pub topics: Option<PostTopics>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct SourceNode {
    pub name: String,
    #[serde(default, rename = "type")]
    pub source_type: Option<String>,
    #[serde(default)]
    pub schema: Option<String>,
    #[serde(default, rename = "keyFormat")]
    pub key_format: Option<KeyFormatNode>,
    #[serde(default, rename = "valueFormat")]
    pub value_format: Option<String>,
    #[serde(default, rename = "keyFeatures")]
    pub key_features: Option<Vec<String>>,
    #[serde(default, rename = "valueFeatures")]
    pub value_features: Option<Vec<String>>,
    #[serde(default, rename = "isSource")]
    pub is_source: Option<bool>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct KeyFormatNode {
    #[serde(default)]
    pub format: Option<String>,
    #[serde(default, rename = "windowType")]
    pub window_type: Option<String>,
    /// Present-but-null (SESSION) vs absent both mean "not checked" unless a type is given.
    #[serde(default, rename = "windowSize")]
    pub window_size: Option<i64>,
    #[serde(default)]
    pub features: Option<Vec<String>>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct PostTopics {
    #[serde(default)]
    pub topics: Vec<PostTopicNode>,
    #[serde(default)]
    pub blacklist: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct PostTopicNode {
    pub name: String,
    #[serde(default, rename = "keyFormat")]
    pub key_format: Option<FormatNode>,
    #[serde(default, rename = "valueFormat")]
    pub value_format: Option<FormatNode>,
    #[serde(default)]
    pub partitions: Option<i32>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct FormatNode {
    #[serde(default)]
    pub format: Option<String>,
    #[serde(default)]
    pub features: Option<Vec<String>>,
}
