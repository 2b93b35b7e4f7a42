//! The planner's error type.

use datafusion::error::DataFusionError;

/// Errors raised while validating and planning statements.
#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    /// The SQL text is not well-formed.
    #[error(transparent)]
    Parse(#[from] runnel_parser::ParseError),
    /// A well-formed statement that cannot be accepted (unknown names, bad types, bad props).
    #[error("{0}")]
    Statement(String),
    /// The statement is valid but not supported (yet).
    #[error("{0}")]
    Unsupported(String),
    /// A bug: an invariant of ours did not hold.
    #[error("internal error: {0}")]
    Internal(String),
}

impl PlanError {
    pub fn statement(msg: impl Into<String>) -> Self {
        PlanError::Statement(msg.into())
    }
    pub fn unsupported(msg: impl Into<String>) -> Self {
        PlanError::Unsupported(msg.into())
    }
    pub fn internal(msg: impl Into<String>) -> Self {
        PlanError::Internal(msg.into())
    }
}

impl From<DataFusionError> for PlanError {
    fn from(e: DataFusionError) -> Self {
        // DataFusion reports planning problems (unknown column, type mismatch) as Plan/Schema
        // errors: those are the user's statement being wrong.
        match e {
            DataFusionError::Plan(m) => PlanError::Statement(m),
            DataFusionError::SchemaError(e, _) => PlanError::Statement(e.to_string()),
            DataFusionError::NotImplemented(m) => PlanError::Unsupported(m),
            DataFusionError::Context(ctx, inner) => match PlanError::from(*inner) {
                PlanError::Statement(m) => PlanError::Statement(format!("{ctx}: {m}")),
                other => other,
            },
            other => PlanError::Statement(other.to_string()),
        }
    }
}

pub type Result<T, E = PlanError> = std::result::Result<T, E>;
