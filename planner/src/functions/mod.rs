//! ksqlDB's built-in scalar and higher-order (lambda) functions as DataFusion UDFs.
//!
//! The planner resolves ksql function names only through [`scalar_functions`] and
//! [`higher_order_functions`].  Each family lives in its own file; [`udf`] holds the shared
//! overload-resolution and columnar helpers, [`java_format`] the Java date-pattern translator
//! (reusable for `timestamp_format` etc.).
//!
//! Conventions: UDFs use `Signature::user_defined` and pick a ksql overload in `coerce_types`
//! (exact match, else cheapest `INT -> BIGINT -> DECIMAL -> DOUBLE` widening; untyped NULL
//! matches anything).  A ksql exception is an `Err` from `invoke` (never a panic).  Time units
//! for DATEADD & co. are passed as string literals (`'DAYS'`).
//!
//! Known deviations from ksqlDB:
//! - String positions (SUBSTRING, INSTR, LPAD...) count Unicode chars, Java counts UTF-16
//!   units (differs only for non-BMP characters; LEN does count UTF-16 units).
//! - Java regex and date patterns are approximated by Rust `regex` / chrono (`S`, `SS` format
//!   as 3 digits; `zzzz` prints the abbreviation; `VV` is not printed).
//! - EXTRACTJSONFIELD / JSON_* normalise number text (`1.23450` -> `1.2345`).
//! - BIGINT arguments are accepted for INT parameters as a last resort (DataFusion types
//!   integer literals as BIGINT); ksqlDB would reject a BIGINT column there.
//! - GREATEST/LEAST reject mixed numeric types unless one is DOUBLE (as ksql's "ambiguous"
//!   error), but do not reproduce the exact message.
//! - GENERATE_SERIES and LPAD/RPAD fail above 2^24 elements / 2^26 characters instead of
//!   exhausting memory.

use std::sync::Arc;

use datafusion::logical_expr::{HigherOrderUDF, ScalarUDF};

pub mod aggregates;
pub mod bytes;
pub mod collections;
pub mod datetime;
pub mod java_format;
pub mod json;
pub mod lambda;
pub mod math;
pub mod nulls;
pub mod regex;
pub mod string;
pub mod udf;
pub mod url;

/// Every ksql scalar function, keyed by lower-case ksql name.
pub fn scalar_functions() -> Vec<(&'static str, Arc<ScalarUDF>)> {
    let mut all = Vec::new();
    all.extend(string::functions());
    all.extend(bytes::functions());
    all.extend(regex::functions());
    all.extend(nulls::functions());
    all.extend(math::functions());
    all.extend(collections::functions());
    all.extend(json::functions());
    all.extend(datetime::functions());
    all.extend(url::functions());
    all
}

/// Higher-order (lambda) functions: TRANSFORM, FILTER, REDUCE over ARRAY and MAP.
pub fn higher_order_functions() -> Vec<(&'static str, Arc<HigherOrderUDF>)> {
    lambda::functions()
}

#[cfg(test)]
pub(crate) mod test_util {
    //! Calls registered functions on Arrow arrays the way DataFusion would: coerce, cast,
    //! compute the return type, invoke.
    use std::sync::Arc;

    use arrow::array::{
        Array, ArrayRef, AsArray, BooleanArray, Float64Array, Int32Array, Int64Array, StringArray,
    };
    use arrow::datatypes::{Field, Float64Type, Int32Type, Int64Type};
    use datafusion::common::config::ConfigOptions;
    use datafusion::common::Result;
    use datafusion::logical_expr::{ColumnarValue, ScalarFunctionArgs};

    pub fn strs(v: &[Option<&str>]) -> ArrayRef {
        Arc::new(StringArray::from(v.to_vec()))
    }
    pub fn i32s(v: &[Option<i32>]) -> ArrayRef {
        Arc::new(Int32Array::from(v.to_vec()))
    }
    pub fn i64s(v: &[Option<i64>]) -> ArrayRef {
        Arc::new(Int64Array::from(v.to_vec()))
    }
    pub fn f64s(v: &[Option<f64>]) -> ArrayRef {
        Arc::new(Float64Array::from(v.to_vec()))
    }
    pub fn bools(v: &[Option<bool>]) -> ArrayRef {
        Arc::new(BooleanArray::from(v.to_vec()))
    }

    /// Invokes ksql function `name` on `args`.
    pub fn try_call(name: &str, args: &[ArrayRef]) -> Result<ArrayRef> {
        static REGISTRY: std::sync::LazyLock<
            Vec<(&'static str, Arc<datafusion::logical_expr::ScalarUDF>)>,
        > = std::sync::LazyLock::new(super::scalar_functions);
        let f = &REGISTRY
            .iter()
            .find(|(n, _)| *n == name)
            .unwrap_or_else(|| panic!("no function {name}"))
            .1;
        let types: Vec<_> = args.iter().map(|a| a.data_type().clone()).collect();
        let coerced = if types.is_empty() {
            vec![]
        } else {
            f.inner().coerce_types(&types)?
        };
        let args: Vec<ArrayRef> = args
            .iter()
            .zip(&coerced)
            .map(|(a, t)| super::udf::cast_to(a, t))
            .collect::<Result<_>>()?;
        let ret = f.return_type(&coerced)?;
        let rows = args.first().map_or(1, |a| a.len());
        let out = f.invoke_with_args(ScalarFunctionArgs {
            arg_fields: coerced
                .iter()
                .map(|t| Arc::new(Field::new("a", t.clone(), true)))
                .collect(),
            args: args.into_iter().map(ColumnarValue::Array).collect(),
            number_rows: rows,
            return_field: Arc::new(Field::new("r", ret.clone(), true)),
            config_options: Arc::new(ConfigOptions::default()),
        })?;
        let arr = out.to_array(rows)?;
        assert_eq!(
            arr.data_type(),
            &ret,
            "{name}: declared return type differs from result"
        );
        Ok(arr)
    }
    pub fn call(name: &str, args: &[ArrayRef]) -> ArrayRef {
        try_call(name, args).unwrap_or_else(|e| panic!("{name}: {e}"))
    }
    pub fn call_str(name: &str, args: &[ArrayRef]) -> Vec<Option<String>> {
        call(name, args)
            .as_string::<i32>()
            .iter()
            .map(|o| o.map(str::to_string))
            .collect()
    }
    pub fn call_i32(name: &str, args: &[ArrayRef]) -> Vec<Option<i32>> {
        call(name, args)
            .as_primitive::<Int32Type>()
            .iter()
            .collect()
    }
    pub fn call_i64(name: &str, args: &[ArrayRef]) -> Vec<Option<i64>> {
        call(name, args)
            .as_primitive::<Int64Type>()
            .iter()
            .collect()
    }
    pub fn call_f64(name: &str, args: &[ArrayRef]) -> Vec<Option<f64>> {
        call(name, args)
            .as_primitive::<Float64Type>()
            .iter()
            .collect()
    }
    pub fn call_bool(name: &str, args: &[ArrayRef]) -> Vec<Option<bool>> {
        call(name, args).as_boolean().iter().collect()
    }
    pub fn call_list_str(name: &str, args: &[ArrayRef]) -> Vec<Option<Vec<Option<String>>>> {
        let out = call(name, args);
        let l = out.as_list::<i32>();
        (0..l.len())
            .map(|i| {
                l.is_valid(i).then(|| {
                    let v = arrow::compute::cast(&l.value(i), &arrow::datatypes::DataType::Utf8)
                        .unwrap_or_else(|e| panic!("{e}"));
                    v.as_string::<i32>()
                        .iter()
                        .map(|o| o.map(str::to_string))
                        .collect()
                })
            })
            .collect()
    }
    /// Renders a result column through TO_JSON_STRING-style text for compact assertions.
    pub fn call_json(name: &str, args: &[ArrayRef]) -> Vec<Option<String>> {
        let out = call(name, args);
        (0..out.len())
            .map(|i| out.is_valid(i).then(|| super::json::to_json_text(&out, i)))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    /// Every built-in scalar function of ksqlDB's reference list is registered, once.
    #[test]
    fn registry_covers_ksql_builtins() {
        let names: Vec<&str> = super::scalar_functions().iter().map(|(n, _)| *n).collect();
        let unique: HashSet<&str> = names.iter().copied().collect();
        assert_eq!(unique.len(), names.len(), "duplicate registrations");
        assert!(names.iter().all(|n| *n == n.to_lowercase()));
        let expected = "abs acos asin atan atan2 cbrt ceil cos cosh cot degrees exp floor generate_series \
            geo_distance greatest least ln log pi power radians random round sign sin sinh sqrt tan tanh trunc \
            array_concat array_contains array_distinct array_except array_intersect array_join array_length \
            array_max array_min array_remove array_sort array_union as_map elt entries field json_array_contains \
            map_keys map_values map_union slice chr concat concat_ws encode extractjsonfield from_bytes initcap \
            instr is_json_string json_array_length json_concat json_items json_keys json_records to_json_string \
            lcase len lpad mask mask_keep_left mask_keep_right mask_left mask_right md5 replace regexp_extract \
            regexp_extract_all regexp_replace regexp_split_to_array rpad split split_to_map substring to_bytes \
            trim ucase uuid bigint_from_bytes double_from_bytes int_from_bytes coalesce ifnull nullif convert_tz \
            dateadd datesub format_date format_time format_timestamp from_days from_unixtime parse_date parse_time \
            parse_timestamp timeadd timesub timestampadd timestampsub unix_date unix_timestamp url_decode_param \
            url_encode_param url_extract_fragment url_extract_host url_extract_parameter url_extract_path \
            url_extract_port url_extract_protocol url_extract_query datetostring stringtodate stringtotimestamp \
            timestamptostring";
        let missing: Vec<&str> = expected
            .split_whitespace()
            .filter(|n| !unique.contains(n))
            .collect();
        assert!(missing.is_empty(), "missing: {missing:?}");
        let hof: Vec<&str> = super::higher_order_functions()
            .iter()
            .map(|(n, _)| *n)
            .collect();
        assert_eq!(hof, vec!["transform", "filter", "reduce"]);
    }
}

#[cfg(test)]
mod robustness {
    //! Every function, with every argument-type combination it accepts (up to 3 arguments),
    //! on edge-case values: errors are fine, panics are not.
    use std::panic::{catch_unwind, AssertUnwindSafe};
    use std::sync::Arc;

    use arrow::array::{
        new_null_array, ArrayRef, BinaryArray, BooleanArray, Date32Array, Decimal128Array,
        Float64Array, Int32Array, Int64Array, ListArray, StringArray, Time32MillisecondArray,
        TimestampMillisecondArray,
    };
    use arrow::datatypes::{DataType, Int32Type};

    use super::test_util::try_call;

    fn samples() -> Vec<ArrayRef> {
        let text = [
            Some(""),
            Some("a,b:c"),
            Some("\u{1F600}x"),
            None,
            Some("%zz+"),
            Some("[1,{\"a\":2}]"),
            Some("$.a[0]"),
            Some("DAYS"),
        ];
        let dec = Decimal128Array::from(vec![
            Some(0),
            Some(-99999999),
            Some(99999999),
            None,
            Some(1),
            Some(-1),
            Some(5),
            Some(50),
        ])
        .with_precision_and_scale(10, 2)
        .unwrap_or_else(|e| panic!("{e}"));
        vec![
            Arc::new(StringArray::from(text.to_vec())),
            Arc::new(Int32Array::from(vec![
                Some(0),
                Some(-1),
                Some(i32::MIN),
                Some(i32::MAX),
                None,
                Some(1),
                Some(4),
                Some(-40),
            ])),
            Arc::new(Int64Array::from(vec![
                Some(0),
                Some(-1),
                Some(i64::MIN),
                Some(i64::MAX),
                None,
                Some(1),
                Some(8),
                Some(-80),
            ])),
            Arc::new(Float64Array::from(vec![
                Some(0.0),
                Some(-1.5),
                Some(f64::NAN),
                Some(f64::INFINITY),
                None,
                Some(1e300),
                Some(-1e-300),
                Some(2.5),
            ])),
            Arc::new(BinaryArray::from(vec![
                Some(&b""[..]),
                Some(&[1, 2, 3, 4][..]),
                Some(&[0xff; 8][..]),
                None,
                Some(&b","[..]),
                Some(&[0; 16][..]),
                Some(&b"ab"[..]),
                Some(&[7][..]),
            ])),
            Arc::new(BooleanArray::from(vec![
                Some(true),
                Some(false),
                None,
                Some(true),
                Some(false),
                None,
                Some(true),
                Some(false),
            ])),
            Arc::new(Date32Array::from(vec![
                Some(0),
                Some(-1),
                Some(i32::MAX),
                None,
                Some(18993),
                Some(i32::MIN),
                Some(1),
                Some(2),
            ])),
            Arc::new(TimestampMillisecondArray::from(vec![
                Some(0),
                Some(-1),
                Some(i64::MAX),
                None,
                Some(i64::MIN),
                Some(1),
                Some(2),
                Some(3),
            ])),
            Arc::new(Time32MillisecondArray::from(vec![
                Some(0),
                Some(86_399_999),
                Some(1),
                None,
                Some(5),
                Some(6),
                Some(7),
                Some(8),
            ])),
            Arc::new(dec),
            Arc::new(ListArray::from_iter_primitive::<Int32Type, _, _>(vec![
                Some(vec![Some(1), None, Some(1)]),
                Some(vec![]),
                None,
                Some(vec![Some(i32::MAX), Some(i32::MIN)]),
                Some(vec![Some(3)]),
                None,
                Some(vec![None]),
                Some(vec![Some(2), Some(1)]),
            ])),
            new_null_array(&DataType::Null, 8),
        ]
    }

    #[test]
    fn no_function_panics_on_edge_values() {
        let samples = samples();
        let mut map = None;
        // Build a MAP<STRING, STRING> sample through SPLIT_TO_MAP.
        let delim = |d: &str| -> ArrayRef { Arc::new(StringArray::from(vec![Some(d); 8])) };
        if let Ok(m) = try_call(
            "split_to_map",
            &[samples[0].clone(), delim(","), delim(":")],
        ) {
            map = Some(m);
        }
        let mut all = samples.clone();
        if let Some(m) = map.filter(|m| m.len() == 8) {
            all.push(m);
        }
        let mut combos: Vec<Vec<ArrayRef>> = vec![vec![]];
        for a in &all {
            combos.push(vec![a.clone()]);
            for b in &all {
                combos.push(vec![a.clone(), b.clone()]);
                for c in &all {
                    combos.push(vec![a.clone(), b.clone(), c.clone()]);
                }
            }
        }
        let mut invoked = 0;
        for (name, _) in super::scalar_functions() {
            for args in &combos {
                let result = catch_unwind(AssertUnwindSafe(|| try_call(name, args)));
                match result {
                    Ok(Ok(_)) => invoked += 1,
                    Ok(Err(_)) => {}
                    Err(_) => panic!(
                        "{name} panicked on ({})",
                        args.iter()
                            .map(|a| a.data_type().to_string())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                }
            }
        }
        assert!(invoked > 500, "only {invoked} successful invocations");
    }
}
