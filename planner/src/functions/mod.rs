//! ksqlDB's built-in scalar and higher-order (lambda) functions as DataFusion UDFs.
//!
//! The planner resolves ksql function names only through [`scalar_functions`] and
//! [`higher_order_functions`].  Each family lives in its own file; [`udf`] holds the shared
//! overload-resolution and columnar helpers.

use std::sync::Arc;

use datafusion::logical_expr::{HigherOrderUDF, ScalarUDF};

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
        let all = super::scalar_functions();
        let f = &all
            .iter()
            .find(|(n, _)| *n == name)
            .unwrap_or_else(|| panic!("no function {name}"))
            .1;
        let types: Vec<_> = args.iter().map(|a| a.data_type().clone()).collect();
        let coerced = if types.is_empty() { vec![] } else { f.inner().coerce_types(&types)? };
        let args: Vec<ArrayRef> = args
            .iter()
            .zip(&coerced)
            .map(|(a, t)| super::udf::cast_to(a, t))
            .collect::<Result<_>>()?;
        let ret = f.return_type(&coerced)?;
        let rows = args.first().map_or(1, |a| a.len());
        let out = f.invoke_with_args(ScalarFunctionArgs {
            arg_fields: coerced.iter().map(|t| Arc::new(Field::new("a", t.clone(), true))).collect(),
            args: args.into_iter().map(ColumnarValue::Array).collect(),
            number_rows: rows,
            return_field: Arc::new(Field::new("r", ret.clone(), true)),
            config_options: Arc::new(ConfigOptions::default()),
        })?;
        let arr = out.to_array(rows)?;
        assert_eq!(arr.data_type(), &ret, "{name}: declared return type differs from result");
        Ok(arr)
    }
    pub fn call(name: &str, args: &[ArrayRef]) -> ArrayRef {
        try_call(name, args).unwrap_or_else(|e| panic!("{name}: {e}"))
    }
    pub fn call_str(name: &str, args: &[ArrayRef]) -> Vec<Option<String>> {
        call(name, args).as_string::<i32>().iter().map(|o| o.map(str::to_string)).collect()
    }
    pub fn call_i32(name: &str, args: &[ArrayRef]) -> Vec<Option<i32>> {
        call(name, args).as_primitive::<Int32Type>().iter().collect()
    }
    pub fn call_i64(name: &str, args: &[ArrayRef]) -> Vec<Option<i64>> {
        call(name, args).as_primitive::<Int64Type>().iter().collect()
    }
    pub fn call_f64(name: &str, args: &[ArrayRef]) -> Vec<Option<f64>> {
        call(name, args).as_primitive::<Float64Type>().iter().collect()
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
                    v.as_string::<i32>().iter().map(|o| o.map(str::to_string)).collect()
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
        let missing: Vec<&str> = expected.split_whitespace().filter(|n| !unique.contains(n)).collect();
        assert!(missing.is_empty(), "missing: {missing:?}");
        let hof: Vec<&str> = super::higher_order_functions().iter().map(|(n, _)| *n).collect();
        assert_eq!(hof, vec!["transform", "filter", "reduce"]);
    }
}
