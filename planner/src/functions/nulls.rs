//! ksqlDB null-handling functions: COALESCE, IFNULL, NULLIF.

use arrow::array::{Array, ArrayRef, BooleanArray};
use arrow::compute::kernels::zip::zip;
use arrow::compute::nullif;
use arrow::datatypes::DataType;
use datafusion::common::{plan_err, Result};

use super::udf::*;

/// Registers the null-handling family.
pub fn functions() -> Vec<Named> {
    vec![coalesce("coalesce"), coalesce("ifnull"), nullif_fn(), as_value_fn()]
}

/// All arguments share one (widened) type.
fn same_type(name: &str, types: &[DataType]) -> Result<Vec<DataType>> {
    if types.is_empty() {
        return plan_err!("Function '{name}' does not accept parameters ().");
    }
    let t = common_type(types).or_else(|_| {
        // Nested types: identical non-null types only.
        let non_null: Vec<_> = types.iter().filter(|t| **t != DataType::Null).collect();
        match non_null.first() {
            Some(f) if non_null.iter().all(|t| t == f) => Ok((*f).clone()),
            _ => plan_err!("Function '{name}' cannot be resolved: mismatched argument types"),
        }
    })?;
    Ok(vec![t; types.len()])
}

/// First non-null argument.
fn first_non_null(args: &[ArrayRef]) -> Result<ArrayRef> {
    let mut acc = ArrayRef::clone(&args[0]);
    for b in &args[1..] {
        let keep: BooleanArray = (0..acc.len()).map(|i| Some(acc.is_valid(i))).collect();
        acc = zip(&keep, &acc, b)?;
    }
    Ok(acc)
}

fn coalesce(name: &'static str) -> Named {
    let b = udf(name).coerce(move |t| {
        if name == "ifnull" && t.len() != 2 {
            return plan_err!("Function 'IFNULL' requires 2 arguments");
        }
        same_type(name, t)
    });
    let b = if name == "ifnull" {
        b.sig([P::Any, P::Any], R::Arg(0))
    } else {
        b.variadic([P::Any], R::Arg(0))
    };
    b.invoke(|c| first_non_null(c.args))
}

fn nullif_fn() -> Named {
    udf("nullif")
        .sig([P::Any, P::Any], R::Arg(0))
        .coerce(|t| {
            if t.len() != 2 {
                return plan_err!("Function 'NULLIF' requires 2 arguments");
            }
            same_type("nullif", t)
        })
        .invoke(|c| {
            let rows = row_encode(&[&c.args[0], &c.args[1]])?;
            let equal: BooleanArray = (0..c.rows)
                .map(|i| {
                    Some(
                        c.args[0].is_valid(i)
                            && c.args[1].is_valid(i)
                            && rows[0].row(i) == rows[1].row(i),
                    )
                })
                .collect();
            Ok(nullif(&c.args[0], &equal)?)
        })
}

/// AS_VALUE(x): x itself; in a projection it copies a key column into the value.
fn as_value_fn() -> Named {
    udf("as_value").sig([P::Any], R::Arg(0)).invoke(|c| Ok(c.args[0].clone()))
}

#[cfg(test)]
mod tests {
    use crate::functions::test_util::*;

    #[test]
    fn coalesce_ifnull_nullif() {
        let r = call_i32(
            "coalesce",
            &[
                i32s(&[Some(1), None, None]),
                i32s(&[None, None, Some(3)]),
                i32s(&[Some(9), None, Some(4)]),
            ],
        );
        assert_eq!(r, vec![Some(1), None, Some(3)]);
        assert_eq!(
            call_str(
                "ifnull",
                &[strs(&[None, Some("a")]), strs(&[Some("x"), Some("y")])]
            ),
            vec![Some("x".into()), Some("a".into())]
        );
        assert_eq!(
            call_i64("coalesce", &[i32s(&[None]), i64s(&[Some(5)])]),
            vec![Some(5)]
        );
        assert_eq!(
            call_i32(
                "nullif",
                &[
                    i32s(&[Some(1), Some(2), None]),
                    i32s(&[Some(1), Some(3), Some(1)])
                ]
            ),
            vec![None, Some(2), None]
        );
    }
}
