//! placeholder
pub mod functions;
