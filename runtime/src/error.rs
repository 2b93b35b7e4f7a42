//! The runtime's error type.

use runnel_planner::PlanError;

use crate::format::FormatError;

#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    #[error(transparent)]
    Plan(#[from] PlanError),
    #[error(transparent)]
    Format(#[from] FormatError),
    #[error("{0}")]
    Topic(String),
    /// Evaluating an expression over records failed.
    #[error("{0}")]
    Execution(String),
    #[error("internal error: {0}")]
    Internal(String),
}

impl From<datafusion::error::DataFusionError> for RuntimeError {
    fn from(e: datafusion::error::DataFusionError) -> Self {
        RuntimeError::Execution(e.to_string())
    }
}

impl From<arrow::error::ArrowError> for RuntimeError {
    fn from(e: arrow::error::ArrowError) -> Self {
        RuntimeError::Execution(e.to_string())
    }
}

pub type RuntimeResult<T> = Result<T, RuntimeError>;
