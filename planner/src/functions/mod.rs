//! ksqlDB's built-in functions as DataFusion UDFs (being filled in on the `functions` branch).

use std::sync::Arc;

use datafusion::logical_expr::{HigherOrderUDF, ScalarUDF};

/// Every ksql scalar function, keyed by lower-case name.
pub fn scalar_functions() -> Vec<(&'static str, Arc<ScalarUDF>)> {
    Vec::new()
}

/// Higher-order (lambda) functions.
pub fn higher_order_functions() -> Vec<(&'static str, Arc<HigherOrderUDF>)> {
    Vec::new()
}
