//! TODO
use super::udf::Named;

pub fn functions() -> Vec<Named> {
    vec![]
}
