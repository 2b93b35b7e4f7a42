//! TODO
use std::sync::Arc;
use datafusion::logical_expr::HigherOrderUDF;
pub fn functions() -> Vec<(&'static str, Arc<HigherOrderUDF>)> {
    vec![]
}
