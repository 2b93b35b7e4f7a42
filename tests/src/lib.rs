//! runnel-tests: conformance harnesses (QTT), end-to-end tests and benches.

pub mod nexmark;
pub mod qtt;
