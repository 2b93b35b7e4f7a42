//! ksql configuration the planner consults (`ksql.persistence.*`, `ksql.output.topic.name.prefix`, ...).

use std::collections::BTreeMap;

use crate::formats::FormatName;
use crate::error::Result;

pub const DEFAULT_KEY_FORMAT: &str = "ksql.persistence.default.format.key";
pub const DEFAULT_VALUE_FORMAT: &str = "ksql.persistence.default.format.value";
pub const WRAP_SINGLE_VALUES: &str = "ksql.persistence.wrap.single.values";
pub const OUTPUT_TOPIC_PREFIX: &str = "ksql.output.topic.name.prefix";

/// Config properties, as strings, with typed accessors.
#[derive(Debug, Clone, Default)]
pub struct PlannerConfig {
    pub properties: BTreeMap<String, String>,
}

impl PlannerConfig {
    pub fn new(properties: BTreeMap<String, String>) -> Self {
        PlannerConfig { properties }
    }
    pub fn get(&self, name: &str) -> Option<&str> {
        self.properties.get(name).map(String::as_str)
    }
    pub fn default_key_format(&self) -> Result<FormatName> {
        FormatName::parse(self.get(DEFAULT_KEY_FORMAT).unwrap_or("KAFKA"))
    }
    pub fn default_value_format(&self) -> Result<Option<FormatName>> {
        self.get(DEFAULT_VALUE_FORMAT).map(FormatName::parse).transpose()
    }
    /// `Some(false)` when single values are unwrapped by default.
    pub fn wrap_single_values(&self) -> Option<bool> {
        self.get(WRAP_SINGLE_VALUES).map(|v| !v.eq_ignore_ascii_case("false"))
    }
    pub fn output_topic_prefix(&self) -> &str {
        self.get(OUTPUT_TOPIC_PREFIX).unwrap_or("")
    }
}
