//! The function and type environment DataFusion's SQL planner sees ([`ContextProvider`]).
//!
//! Only ksql functions are visible (plus a few DataFusion built-ins the planner rewrites ksql
//! syntax into), so a name resolves exactly as it would in ksqlDB.

use std::collections::HashMap;
use std::sync::Arc;

use arrow::datatypes::DataType;
use datafusion::common::config::ConfigOptions;
use datafusion::common::TableReference;
use datafusion::error::{DataFusionError, Result as DfResult};
use datafusion::logical_expr::{AggregateUDF, HigherOrderUDF, ScalarUDF, TableSource, WindowUDF};
use datafusion::sql::planner::ContextProvider;

use crate::functions;
use crate::internal_udfs;

/// Function registry + DataFusion config for expression planning.
#[derive(Debug)]
pub struct KsqlContext {
    scalars: HashMap<String, Arc<ScalarUDF>>,
    higher_order: HashMap<String, Arc<HigherOrderUDF>>,
    aggregates: HashMap<String, Arc<AggregateUDF>>,
    options: ConfigOptions,
}

impl Default for KsqlContext {
    fn default() -> Self {
        Self::new()
    }
}

impl KsqlContext {
    pub fn new() -> Self {
        let mut scalars: HashMap<String, Arc<ScalarUDF>> = HashMap::new();
        for (name, udf) in internal_udfs::functions() {
            scalars.insert(name.to_string(), udf);
        }
        // ksql functions win over internal helpers of the same name.
        for (name, udf) in functions::scalar_functions() {
            scalars.insert(name.to_ascii_lowercase(), udf);
        }
        let higher_order = functions::higher_order_functions()
            .into_iter()
            .map(|(n, f)| (n.to_ascii_lowercase(), f))
            .collect();
        KsqlContext { scalars, higher_order, aggregates: HashMap::new(), options: ConfigOptions::default() }
    }

    /// Registers aggregate functions (used by the aggregation planner).
    pub fn with_aggregates(mut self, aggs: impl IntoIterator<Item = (String, Arc<AggregateUDF>)>) -> Self {
        self.aggregates.extend(aggs.into_iter().map(|(n, f)| (n.to_ascii_lowercase(), f)));
        self
    }

    pub fn scalar(&self, name: &str) -> Option<&Arc<ScalarUDF>> {
        self.scalars.get(&name.to_ascii_lowercase())
    }

    pub fn is_aggregate(&self, name: &str) -> bool {
        self.aggregates.contains_key(&name.to_ascii_lowercase())
    }

    pub fn function_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .scalars
            .keys()
            .chain(self.higher_order.keys())
            .chain(self.aggregates.keys())
            .filter(|n| !n.starts_with(internal_udfs::PREFIX))
            .map(|n| n.to_ascii_uppercase())
            .collect();
        names.sort();
        names.dedup();
        names
    }
}

impl ContextProvider for KsqlContext {
    fn get_table_source(&self, name: TableReference) -> DfResult<Arc<dyn TableSource>> {
        Err(DataFusionError::Plan(format!("{name} is not a relation here")))
    }
    fn get_function_meta(&self, name: &str) -> Option<Arc<ScalarUDF>> {
        self.scalars.get(&name.to_ascii_lowercase()).cloned()
    }
    fn get_higher_order_meta(&self, name: &str) -> Option<Arc<HigherOrderUDF>> {
        self.higher_order.get(&name.to_ascii_lowercase()).cloned()
    }
    fn get_aggregate_meta(&self, name: &str) -> Option<Arc<AggregateUDF>> {
        self.aggregates.get(&name.to_ascii_lowercase()).cloned()
    }
    fn get_window_meta(&self, _name: &str) -> Option<Arc<WindowUDF>> {
        None
    }
    fn get_variable_type(&self, _variable_names: &[String]) -> Option<DataType> {
        None
    }
    fn options(&self) -> &ConfigOptions {
        &self.options
    }
    fn udf_names(&self) -> Vec<String> {
        self.scalars.keys().cloned().collect()
    }
    fn higher_order_function_names(&self) -> Vec<String> {
        self.higher_order.keys().cloned().collect()
    }
    fn udaf_names(&self) -> Vec<String> {
        self.aggregates.keys().cloned().collect()
    }
    fn udwf_names(&self) -> Vec<String> {
        Vec::new()
    }
}
