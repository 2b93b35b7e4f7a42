//! runnel-tests: conformance harnesses (QTT, RQTT), end-to-end tests and benches.

pub mod nexmark;
pub mod qtt;
pub mod rqtt;
