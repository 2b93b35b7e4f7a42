//! Tests for the formats: behaviour checked against ksqlDB's QTT expectations where known.

use std::collections::HashMap;
use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, AsArray, BinaryArray, BooleanArray, Date32Array, Decimal128Array, Float64Array, Int32Array,
    Int64Array, ListArray, StringArray, StructArray, Time32MillisecondArray, TimestampMillisecondArray,
};
use arrow::datatypes::{
    DataType, Field, Fields, Float64Type, Int32Type, Int64Type, Schema, SchemaRef, TimeUnit,
};

use super::*;

fn schema(cols: &[(&str, DataType)]) -> SchemaRef {
    Arc::new(Schema::new(cols.iter().map(|(n, t)| Field::new(*n, t.clone(), true)).collect::<Vec<_>>()))
}

fn dec(format: Format, schema: &SchemaRef, wrapping: Wrapping, payloads: &[Option<&str>]) -> Decoded {
    let p: Vec<Option<&[u8]>> = payloads.iter().map(|p| p.map(str::as_bytes)).collect();
    decode(&format, schema, wrapping, &p).expect("decode")
}

fn enc(format: Format, schema: &SchemaRef, wrapping: Wrapping, cols: Vec<ArrayRef>) -> Vec<Option<String>> {
    encode(&format, &cols, schema.fields(), wrapping)
        .expect("encode")
        .into_iter()
        .map(|r| r.expect("row").map(|b| String::from_utf8(b).expect("utf8")))
        .collect()
}

fn strs(a: &ArrayRef) -> Vec<Option<String>> {
    a.as_string::<i32>().iter().map(|s| s.map(str::to_string)).collect()
}

fn i64s(a: &ArrayRef) -> Vec<Option<i64>> {
    a.as_primitive::<Int64Type>().iter().collect()
}

fn i32s(a: &ArrayRef) -> Vec<Option<i32>> {
    a.as_primitive::<Int32Type>().iter().collect()
}

fn f64s(a: &ArrayRef) -> Vec<Option<f64>> {
    a.as_primitive::<Float64Type>().iter().collect()
}

const CSV: Format = Format::Delimited { delimiter: b',' };

// ------------------------------------------------------------------------------------------
// JSON decode

#[test]
fn json_object_fields_case_insensitive_missing_extra_null() {
    let s = schema(&[("ID", DataType::Int64), ("NAME", DataType::Utf8), ("@TIMESTAMP", DataType::Int64)]);
    let d = dec(
        Format::Json,
        &s,
        Wrapping::Wrapped,
        &[
            Some(r#"{"id": 1, "name": "a", "@timestamp": 4}"#),
            Some(r#"{"Name": "b", "extra": {"x": [1, 2, {"y": null}]}, "ID": -2}"#),
            Some(r#"{"id": null}"#),
            Some("{}"),
        ],
    );
    assert!(d.errors.is_empty(), "{:?}", d.errors);
    assert_eq!(i64s(&d.columns[0]), vec![Some(1), Some(-2), None, None]);
    assert_eq!(strs(&d.columns[1]), vec![Some("a".into()), Some("b".into()), None, None]);
    assert_eq!(i64s(&d.columns[2]), vec![Some(4), None, None, None]);
}

#[test]
fn json_coercions_into_string() {
    let s = schema(&[("V", DataType::Utf8)]);
    let d = dec(
        Format::Json,
        &s,
        Wrapping::Wrapped,
        &[
            Some(r#"{"V": false}"#),
            Some(r#"{"V": 11}"#),
            Some(r#"{"V": 1.5}"#),
            Some(r#"{"V": {"a": 1, "b": [true, "x"]}}"#),
            Some(r#"{"V": ["a", 1, null, {"k": "v"}]}"#),
            Some(r#"{"V": ""}"#),
            Some(r#"{"V": null}"#),
        ],
    );
    assert!(d.errors.is_empty(), "{:?}", d.errors);
    assert_eq!(
        strs(&d.columns[0]),
        vec![
            Some("false".into()),
            Some("11".into()),
            Some("1.5".into()),
            Some(r#"{"a":1,"b":[true,"x"]}"#.into()),
            Some(r#"[a, 1, null, {"k":"v"}]"#.into()),
            Some(String::new()),
            None,
        ]
    );
}

#[test]
fn json_map_of_strings_coerces_values() {
    // project-filter.json "Json Map filter": MAP<VARCHAR, VARCHAR> from {"other": 11, "status": false}
    let s = schema(&[("ID", DataType::Int64), ("THING", map_type(DataType::Utf8))]);
    let d = dec(Format::Json, &s, Wrapping::Wrapped, &[Some(r#"{"id": 1, "thing": {"other": 11, "status": false}}"#)]);
    assert!(d.errors.is_empty());
    let m = d.columns[1].as_map();
    let keys: Vec<_> = m.keys().as_string::<i32>().iter().flatten().collect();
    let vals: Vec<_> = m.values().as_string::<i32>().iter().flatten().collect();
    assert_eq!(keys, vec!["other", "status"]);
    assert_eq!(vals, vec!["11", "false"]);
}

#[test]
fn json_numeric_strings_parse() {
    let s = schema(&[("I", DataType::Int32), ("L", DataType::Int64), ("D", DataType::Float64)]);
    let d = dec(Format::Json, &s, Wrapping::Wrapped, &[Some(r#"{"I": "10", "L": "-9223372036854775808", "D": "1.25"}"#)]);
    assert!(d.errors.is_empty(), "{:?}", d.errors);
    assert_eq!(i32s(&d.columns[0]), vec![Some(10)]);
    assert_eq!(i64s(&d.columns[1]), vec![Some(i64::MIN)]);
    assert_eq!(f64s(&d.columns[2]), vec![Some(1.25)]);
}

#[test]
fn json_integer_ranges_and_errors() {
    let s = schema(&[("I", DataType::Int32), ("L", DataType::Int64)]);
    let d = dec(
        Format::Json,
        &s,
        Wrapping::Wrapped,
        &[
            Some(r#"{"I": 2147483647, "L": 998877665544332211}"#),
            Some(r#"{"I": 2147483648}"#),
            Some(r#"{"L": 9223372036854775808}"#),
            Some(r#"{"I": "abc"}"#),
            Some(r#"{"I": -2147483648, "L": -1}"#),
            Some(r#"{"I": 1.9, "L": -2.5}"#),
            Some(r#"{"I": true}"#),
            Some(r#"{"L": 1e30}"#),
        ],
    );
    assert_eq!(i32s(&d.columns[0]), vec![Some(i32::MAX), None, None, None, Some(i32::MIN), Some(1), None, None]);
    assert_eq!(i64s(&d.columns[1]), vec![Some(998877665544332211), None, None, None, Some(-1), Some(-2), None, None]);
    let rows: Vec<usize> = d.errors.iter().map(|(r, _)| *r).collect();
    assert_eq!(rows, vec![1, 2, 3, 6, 7]);
    assert!(matches!(&d.errors[0].1, FormatError::OutOfRange { column, expected, text }
        if column == "I" && expected == "INT" && text == "2147483648"));
    assert!(matches!(&d.errors[1].1, FormatError::OutOfRange { column, expected, .. } if column == "L" && expected == "BIGINT"));
    assert!(matches!(&d.errors[2].1, FormatError::Parse { column, text, .. } if column == "I" && text == "abc"));
    assert!(matches!(&d.errors[3].1, FormatError::TypeMismatch { column, found, .. } if column == "I" && found == "boolean `true`"));
    let msg = d.errors[0].1.to_string();
    assert!(msg.contains("`I`") && msg.contains("INT") && msg.contains("2147483648"), "{msg}");
}

#[test]
fn json_booleans() {
    let s = schema(&[("B", DataType::Boolean)]);
    let d = dec(
        Format::Json,
        &s,
        Wrapping::Wrapped,
        &[Some(r#"{"B": true}"#), Some(r#"{"B": false}"#), Some(r#"{"B": "TRUE"}"#), Some(r#"{"B": 1}"#), Some(r#"{"B": "yes"}"#)],
    );
    let b: Vec<_> = d.columns[0].as_boolean().iter().collect();
    assert_eq!(b, vec![Some(true), Some(false), Some(true), None, None]);
    assert_eq!(d.errors.iter().map(|e| e.0).collect::<Vec<_>>(), vec![3, 4]);
}

#[test]
fn json_decimals() {
    let s = schema(&[("DEC", DataType::Decimal128(6, 4))]);
    let d = dec(
        Format::Json,
        &s,
        Wrapping::Wrapped,
        &[
            Some(r#"{"DEC": 10}"#),
            Some(r#"{"DEC": 0.0001}"#),
            Some(r#"{"dec": "12.365"}"#),
            Some(r#"{"DEC": -1.5}"#),
            Some(r#"{"DEC": 100}"#),
            Some(r#"{"DEC": 1.00001}"#),
            Some(r#"{"DEC": "x"}"#),
            Some(r#"{"DEC": 1.2e1}"#),
        ],
    );
    let v: Vec<_> = d.columns[0].as_primitive::<arrow::datatypes::Decimal128Type>().iter().collect();
    assert_eq!(v, vec![Some(100000), Some(1), Some(123650), Some(-15000), None, None, None, Some(120000)]);
    assert_eq!(d.errors.iter().map(|e| e.0).collect::<Vec<_>>(), vec![4, 5, 6]);
    assert!(matches!(&d.errors[0].1, FormatError::Decimal { precision: 6, scale: 4, reason, .. } if reason.contains("overflow")));
    assert!(matches!(&d.errors[1].1, FormatError::Decimal { reason, .. } if reason.contains("rounding")));
    assert_eq!(d.columns[0].data_type(), &DataType::Decimal128(6, 4));
}

#[test]
fn json_wide_decimal_exact() {
    let s = schema(&[("DEC", DataType::Decimal128(21, 19))]);
    let d = dec(Format::Json, &s, Wrapping::Wrapped, &[Some(r#"{"DEC": 10.1234512345123451234}"#)]);
    let v = d.columns[0].as_primitive::<arrow::datatypes::Decimal128Type>().value(0);
    assert_eq!(v, 101_234_512_345_123_451_234);
    let out = enc(Format::Json, &s, Wrapping::Wrapped, d.columns.clone());
    assert_eq!(out, vec![Some(r#"{"DEC":10.1234512345123451234}"#.into())]);
}

#[test]
fn json_temporal_and_bytes() {
    let s = schema(&[
        ("TS", DataType::Timestamp(TimeUnit::Millisecond, None)),
        ("D", DataType::Date32),
        ("T", DataType::Time32(TimeUnit::Millisecond)),
        ("B", DataType::Binary),
    ]);
    let d = dec(
        Format::Json,
        &s,
        Wrapping::Wrapped,
        &[
            Some(r#"{"ts": 10, "d": -10, "t": 1000, "b": "dmFyaWF0aW9ucw=="}"#),
            Some(r#"{"ts": "6", "d": "5", "t": "4", "b": "ew"}"#),
            Some(r#"{"b": "not base64!"}"#),
            Some(r#"{"b": 12}"#),
        ],
    );
    assert_eq!(d.errors.iter().map(|e| e.0).collect::<Vec<_>>(), vec![2, 3]);
    let ts = d.columns[0].as_any().downcast_ref::<TimestampMillisecondArray>().unwrap();
    assert_eq!(ts.iter().collect::<Vec<_>>(), vec![Some(10), Some(6), None, None]);
    let dd = d.columns[1].as_any().downcast_ref::<Date32Array>().unwrap();
    assert_eq!(dd.iter().collect::<Vec<_>>(), vec![Some(-10), Some(5), None, None]);
    let t = d.columns[2].as_any().downcast_ref::<Time32MillisecondArray>().unwrap();
    assert_eq!(t.iter().collect::<Vec<_>>(), vec![Some(1000), Some(4), None, None]);
    let b = d.columns[3].as_any().downcast_ref::<BinaryArray>().unwrap();
    assert_eq!(b.value(0), b"variations");
    assert_eq!(b.value(1), b"{");
    assert!(matches!(&d.errors[0].1, FormatError::Parse { column, expected, .. } if column == "B" && expected == "BYTES"));
}

#[test]
fn json_nested_types() {
    let inner = DataType::Struct(Fields::from(vec![
        Field::new("F0", DataType::Utf8, true),
        Field::new("F1", DataType::Int32, true),
    ]));
    let s = schema(&[
        ("A", list_type(list_type(DataType::Utf8))),
        ("M", map_type(DataType::Int32)),
        ("S", inner),
    ]);
    let d = dec(
        Format::Json,
        &s,
        Wrapping::Wrapped,
        &[
            Some(r#"{"a": [["x", "y"], [], null, ["z", null]], "m": {"a": 1, "c": null}, "s": {"f0": "bob", "F1": 1}}"#),
            Some(r#"{"a": [], "m": {}, "s": {"f1": 2, "other": 3}}"#),
            Some(r#"{"a": null, "m": null, "s": null}"#),
        ],
    );
    assert!(d.errors.is_empty(), "{:?}", d.errors);
    let a = d.columns[0].as_list::<i32>();
    assert_eq!(a.value_length(0), 4);
    let first = a.value(0);
    let inner0 = first.as_list::<i32>();
    assert_eq!(strs(&inner0.value(0)), vec![Some("x".into()), Some("y".into())]);
    assert_eq!(inner0.value_length(1), 0);
    assert!(inner0.is_null(2));
    assert_eq!(strs(&inner0.value(3)), vec![Some("z".into()), None]);
    assert_eq!(a.value_length(1), 0);
    assert!(!a.is_null(1));
    assert!(a.is_null(2));

    let m = d.columns[1].as_map();
    assert_eq!(m.value_length(0), 2);
    assert_eq!(i32s(m.values()), vec![Some(1), None]);
    assert_eq!(m.value_length(1), 0);
    assert!(m.is_null(2));

    let st = d.columns[2].as_struct();
    assert_eq!(strs(st.column(0)), vec![Some("bob".into()), None, None]);
    assert_eq!(i32s(st.column(1)), vec![Some(1), Some(2), None]);
    assert!(st.is_null(2) && !st.is_null(1));
}

#[test]
fn json_unwrapped_single_values() {
    let cases: Vec<(DataType, &str)> = vec![
        (DataType::Boolean, "true"),
        (DataType::Int32, "10"),
        (DataType::Int64, "1234567890"),
        (DataType::Float64, "1234.589"),
        (DataType::Utf8, r#""hello""#),
        (DataType::Decimal128(4, 2), "10.1"),
        (list_type(DataType::Float64), "[10.1]"),
        (map_type(DataType::Float64), r#"{"a": 45.67}"#),
    ];
    for (dt, payload) in cases {
        let s = schema(&[("V", dt.clone())]);
        let d = dec(Format::Json, &s, Wrapping::Unwrapped, &[Some(payload), Some("null"), None]);
        assert!(d.errors.is_empty(), "{dt}: {:?}", d.errors);
        assert!(d.columns[0].is_valid(0), "{dt}");
        assert!(d.columns[0].is_null(1) && d.columns[0].is_null(2));
        assert_eq!(d.null_records, vec![1, 2]);
    }
    // Unwrapped struct: the object is the struct itself, fields case-insensitive.
    let st = DataType::Struct(Fields::from(vec![Field::new("A", DataType::Float64, true)]));
    let s = schema(&[("V", st)]);
    let d = dec(Format::Json, &s, Wrapping::Unwrapped, &[Some(r#"{"a": 45.67}"#)]);
    assert_eq!(f64s(d.columns[0].as_struct().column(0)), vec![Some(45.67)]);
}

#[test]
fn json_wrapped_requires_object() {
    let s = schema(&[("A", DataType::Int32), ("B", DataType::Int32)]);
    let d = dec(Format::Json, &s, Wrapping::Wrapped, &[Some("10"), Some("[1]"), Some(r#""x""#), Some("null"), None]);
    assert_eq!(d.errors.iter().map(|e| e.0).collect::<Vec<_>>(), vec![0, 1, 2]);
    assert!(matches!(&d.errors[1].1, FormatError::TypeMismatch { found, expected, .. }
        if found == "a JSON array" && expected.contains("A, B")));
    assert_eq!(d.null_records, vec![3, 4]);
    // A wrapped single column also needs the object.
    let s1 = schema(&[("V", DataType::Int32)]);
    let d1 = dec(Format::Json, &s1, Wrapping::Wrapped, &[Some("10"), Some(r#"{"v": 10}"#)]);
    assert_eq!(d1.errors.len(), 1);
    assert_eq!(i32s(&d1.columns[0]), vec![None, Some(10)]);
}

#[test]
fn json_failed_rows_leave_no_partial_values() {
    let s = schema(&[("A", list_type(DataType::Int64)), ("S", DataType::Struct(Fields::from(vec![
        Field::new("X", DataType::Utf8, true),
    ]))), ("B", DataType::Int32)]);
    let d = dec(
        Format::Json,
        &s,
        Wrapping::Wrapped,
        &[
            Some(r#"{"A": [1, 2, 3], "S": {"X": "bad"}, "B": "notanint"}"#),
            Some(r#"{"A": [4], "S": {"X": "ok"}, "B": 5}"#),
            Some(r#"{"A": [7, 8, "x"], "B": 1}"#),
            Some(r#"{"A": [9"#),
        ],
    );
    assert_eq!(d.errors.iter().map(|e| e.0).collect::<Vec<_>>(), vec![0, 2, 3]);
    let a = d.columns[0].as_list::<i32>();
    assert_eq!(a.values().len(), 1, "only the good row's element survives");
    assert!(a.is_null(0) && a.is_null(2) && a.is_null(3));
    assert_eq!(i64s(&a.value(1)), vec![Some(4)]);
    let st = d.columns[1].as_struct();
    assert_eq!(strs(st.column(0)), vec![None, Some("ok".into()), None, None]);
    assert_eq!(i32s(&d.columns[2]), vec![None, Some(5), None, None]);
    assert!(matches!(&d.errors[2].1, FormatError::Malformed { format: "JSON", .. }));
}

#[test]
fn json_malformed_payloads_are_errors() {
    let s = schema(&[("A", DataType::Utf8)]);
    let bad = [
        "", "{", r#"{"A": "x""#, r#"{"A": "x"} trailing"#, r#"{"A" "x"}"#, r#"{"A": "\q"}"#, r#"{"A": 01}"#,
        r#"{"A": -}"#, r#"{"A": 1.}"#, r#"{"A": tru}"#, "{\"A\": \"a\u{1}b\"}", r#"{"A": "\u12"}"#, r#"{A: 1}"#,
        r#"{"A": [1,]}"#, r#"{"A": "x",}"#,
    ];
    let payloads: Vec<Option<&str>> = bad.iter().map(|b| Some(*b)).collect();
    let d = dec(Format::Json, &s, Wrapping::Wrapped, &payloads);
    assert_eq!(d.errors.len(), bad.len(), "{:?}", d.errors);
    assert_eq!(d.columns[0].null_count(), bad.len());
    // Invalid UTF-8 and very deep nesting.
    let deep = format!("{{\"A\": {}{}}}", "[".repeat(10_000), "]".repeat(10_000));
    let raw: Vec<Option<&[u8]>> = vec![Some(b"{\"A\": \"\xff\"}"), Some(deep.as_bytes())];
    let d = decode(&Format::Json, &s, Wrapping::Wrapped, &raw).unwrap();
    assert_eq!(d.errors.len(), 2);
    assert!(d.errors[1].1.to_string().contains("nesting"));
}

#[test]
fn json_unicode_and_escapes() {
    let s = schema(&[("A", DataType::Utf8), ("ÉTÉ", DataType::Int32)]);
    let d = dec(
        Format::Json,
        &s,
        Wrapping::Wrapped,
        &[
            Some(r#"{"A": "caf\u00e9 \ud83d\ude00 \"q\" \\ \/ \n\t", "été": 3}"#),
            Some(r#"{"A": "naïve 日本語 😀"}"#),
            Some(r#"{"A": "\ud83d alone"}"#),
        ],
    );
    assert!(d.errors.is_empty(), "{:?}", d.errors);
    assert_eq!(
        strs(&d.columns[0]),
        vec![
            Some("café 😀 \"q\" \\ / \n\t".into()),
            Some("naïve 日本語 😀".into()),
            Some("\u{FFFD} alone".into())
        ]
    );
    assert_eq!(i32s(&d.columns[1]), vec![Some(3), None, None]);
}

#[test]
fn json_duplicate_fields_last_wins() {
    let s = schema(&[("A", list_type(DataType::Int32)), ("B", DataType::Int32)]);
    let d = dec(Format::Json, &s, Wrapping::Wrapped, &[Some(r#"{"A": [1, 2], "b": 1, "a": [3], "B": 2}"#)]);
    assert!(d.errors.is_empty());
    let a = d.columns[0].as_list::<i32>();
    assert_eq!(i32s(&a.value(0)), vec![Some(3)]);
    assert_eq!(a.values().len(), 1);
    assert_eq!(i32s(&d.columns[1]), vec![Some(2)]);
}

#[test]
fn decoder_is_reusable() {
    let s = schema(&[("A", list_type(DataType::Utf8)), ("B", DataType::Int64)]);
    let mut decoder = Decoder::new(Format::Json, s, Wrapping::Wrapped).unwrap();
    let a = decoder.decode(&[Some(br#"{"A": ["x"], "B": 1}"#.as_slice())]).unwrap();
    let b = decoder.decode(&[Some(br#"{"A": ["y", "z"], "B": 2}"#.as_slice()), None]).unwrap();
    assert_eq!(a.columns[0].len(), 1);
    assert_eq!(b.columns[0].len(), 2);
    assert_eq!(strs(&b.columns[0].as_list::<i32>().value(0)), vec![Some("y".into()), Some("z".into())]);
    assert_eq!(i64s(&b.columns[1]), vec![Some(2), None]);
    assert_eq!(b.null_records, vec![1]);
}

// ------------------------------------------------------------------------------------------
// JSON encode

#[test]
fn json_encode_primitives() {
    let s = schema(&[
        ("B", DataType::Boolean),
        ("I", DataType::Int32),
        ("L", DataType::Int64),
        ("D", DataType::Float64),
        ("DEC", DataType::Decimal128(4, 2)),
        ("S", DataType::Utf8),
        ("BY", DataType::Binary),
        ("TS", DataType::Timestamp(TimeUnit::Millisecond, None)),
        ("DT", DataType::Date32),
        ("T", DataType::Time32(TimeUnit::Millisecond)),
    ]);
    let cols: Vec<ArrayRef> = vec![
        Arc::new(BooleanArray::from(vec![Some(true), None])),
        Arc::new(Int32Array::from(vec![Some(-7), None])),
        Arc::new(Int64Array::from(vec![Some(i64::MAX), None])),
        Arc::new(Float64Array::from(vec![Some(1.0), Some(1.5e10)])),
        Arc::new(Decimal128Array::from(vec![Some(110), Some(-5)]).with_precision_and_scale(4, 2).unwrap()),
        Arc::new(StringArray::from(vec![Some("a\"b\\c\n\u{1}é"), Some("")])),
        Arc::new(BinaryArray::from(vec![Some(b"variations".as_slice()), None])),
        Arc::new(TimestampMillisecondArray::from(vec![Some(10), None])),
        Arc::new(Date32Array::from(vec![Some(-10), None])),
        Arc::new(Time32MillisecondArray::from(vec![Some(1000), None])),
    ];
    let out = enc(Format::Json, &s, Wrapping::Wrapped, cols);
    assert_eq!(
        out[0].as_deref(),
        Some(r#"{"B":true,"I":-7,"L":9223372036854775807,"D":1.0,"DEC":1.10,"S":"a\"b\\c\n\u0001é","BY":"dmFyaWF0aW9ucw==","TS":10,"DT":-10,"T":1000}"#)
    );
    assert_eq!(
        out[1].as_deref(),
        Some(r#"{"B":null,"I":null,"L":null,"D":1.5E10,"DEC":-0.05,"S":"","BY":null,"TS":null,"DT":null,"T":null}"#)
    );
}

#[test]
fn json_encode_doubles_like_jackson() {
    let s = schema(&[("V", DataType::Float64)]);
    let vals = vec![0.0, 9876.54321, 1.0e-4, 1.0e7, 123456.0, -2.5, f64::NAN];
    let out = enc(Format::Json, &s, Wrapping::Unwrapped, vec![Arc::new(Float64Array::from(vals))]);
    let out: Vec<_> = out.into_iter().map(Option::unwrap).collect();
    assert_eq!(out, vec!["0.0", "9876.54321", "1.0E-4", "1.0E7", "123456.0", "-2.5", "\"NaN\""]);
}

#[test]
fn json_encode_nested_and_unwrapped() {
    let st = DataType::Struct(Fields::from(vec![Field::new("F0", DataType::Int32, true)]));
    let s = schema(&[("FOO", st.clone())]);
    let payloads = [Some(r#"{"FOO": {"F0": 1}}"#), Some(r#"{"FOO": {"F0": null}}"#), Some(r#"{"FOO": null}"#)];
    let d = dec(Format::Json, &s, Wrapping::Wrapped, &payloads);
    let unwrapped = enc(Format::Json, &s, Wrapping::Unwrapped, d.columns.clone());
    assert_eq!(unwrapped, vec![Some(r#"{"F0":1}"#.into()), Some(r#"{"F0":null}"#.into()), None]);
    let wrapped = enc(Format::Json, &s, Wrapping::Wrapped, d.columns.clone());
    assert_eq!(
        wrapped,
        vec![Some(r#"{"FOO":{"F0":1}}"#.into()), Some(r#"{"FOO":{"F0":null}}"#.into()), Some(r#"{"FOO":null}"#.into())]
    );

    let s = schema(&[("FOO", list_type(DataType::Int64)), ("M", map_type(DataType::Float64))]);
    let d = dec(
        Format::Json,
        &s,
        Wrapping::Wrapped,
        &[Some(r#"{"FOO": [12, 34, null], "M": {"a": 1.1, "c": null}}"#), Some(r#"{"FOO": null, "M": {}}"#)],
    );
    let out = enc(Format::Json, &s, Wrapping::Wrapped, d.columns);
    assert_eq!(out[0].as_deref(), Some(r#"{"FOO":[12,34,null],"M":{"a":1.1,"c":null}}"#));
    assert_eq!(out[1].as_deref(), Some(r#"{"FOO":null,"M":{}}"#));
}

#[test]
fn json_round_trip() {
    let st = DataType::Struct(Fields::from(vec![
        Field::new("X", DataType::Decimal128(10, 3), true),
        Field::new("Y", list_type(DataType::Binary), true),
    ]));
    let s = schema(&[("K", DataType::Utf8), ("V", st), ("M", map_type(list_type(DataType::Boolean))), ("D", DataType::Float64)]);
    let original = r#"{"K":"ü \"x\"","V":{"X":-12.340,"Y":["AAE=",null]},"M":{"k":[true,null,false]},"D":-1.0E-5}"#;
    let d = dec(Format::Json, &s, Wrapping::Wrapped, &[Some(original)]);
    assert!(d.errors.is_empty(), "{:?}", d.errors);
    let out = enc(Format::Json, &s, Wrapping::Wrapped, d.columns);
    assert_eq!(out, vec![Some(original.to_string())]);
}

#[test]
fn encode_casts_non_contract_arrays() {
    let s = schema(&[("V", DataType::Int64)]);
    let cols: Vec<ArrayRef> = vec![Arc::new(Int32Array::from(vec![1, 2]))];
    assert_eq!(enc(Format::Json, &s, Wrapping::Unwrapped, cols), vec![Some("1".into()), Some("2".into())]);
    let bad = encode(&Format::Json, &[], s.fields(), Wrapping::Wrapped);
    assert!(matches!(bad, Err(FormatError::ColumnCount { expected: 1, actual: 0 })));
}

// ------------------------------------------------------------------------------------------
// DELIMITED

#[test]
fn delimited_decode_basic() {
    let s = schema(&[("ID", DataType::Int64), ("NAME", DataType::Utf8), ("VALUE", DataType::Int32)]);
    let d = dec(
        CSV,
        &s,
        Wrapping::Unwrapped,
        &[
            Some("0,zero,0"),
            Some("-101,101,500"),
            Some(",,"),
            Some(r#""1","a,""b""",2"#),
            Some("1,\"\",2\r\n"),
            Some("1,2"),
            Some("1,2,3,4"),
            Some("4294967296,x,1"),
        ],
    );
    assert_eq!(i64s(&d.columns[0]), vec![Some(0), Some(-101), None, Some(1), Some(1), None, None, Some(4294967296)]);
    assert_eq!(
        strs(&d.columns[1]),
        vec![Some("zero".into()), Some("101".into()), None, Some("a,\"b\"".into()), None, None, None, Some("x".into())]
    );
    assert_eq!(d.errors.iter().map(|e| e.0).collect::<Vec<_>>(), vec![5, 6]);
    assert_eq!(d.errors[0].1, FormatError::ColumnCount { expected: 3, actual: 2 });
    assert!(d.errors[1].1.to_string().contains("expected 3 columns, got 4"));
}

#[test]
fn delimited_custom_delimiters() {
    let s = schema(&[("ID", DataType::Int64), ("NAME", DataType::Utf8)]);
    for (delim, payload) in [(b'|', "0|zero"), (b'\t', "0\tzero"), (b' ', "0 zero"), (b'$', "0$zero")] {
        let f = Format::Delimited { delimiter: delim };
        let d = dec(f, &s, Wrapping::Unwrapped, &[Some(payload)]);
        assert!(d.errors.is_empty());
        assert_eq!(strs(&d.columns[1]), vec![Some("zero".into())]);
        assert_eq!(enc(f, &s, Wrapping::Unwrapped, d.columns), vec![Some(payload.to_string())]);
    }
    // multi-column key with a different delimiter: the comma is data.
    let k = schema(&[("K1", DataType::Utf8), ("K2", DataType::Utf8)]);
    let d = dec(Format::Delimited { delimiter: b';' }, &k, Wrapping::Unwrapped, &[Some("foo,bar;baz")]);
    assert_eq!(strs(&d.columns[0]), vec![Some("foo,bar".into())]);
}

#[test]
fn delimited_types() {
    let s = schema(&[
        ("B", DataType::Boolean),
        ("D", DataType::Float64),
        ("DEC", DataType::Decimal128(6, 4)),
        ("BY", DataType::Binary),
        ("TS", DataType::Timestamp(TimeUnit::Millisecond, None)),
        ("DT", DataType::Date32),
        ("T", DataType::Time32(TimeUnit::Millisecond)),
    ]);
    let d = dec(
        CSV,
        &s,
        Wrapping::Unwrapped,
        &[
            Some("true,10.1,12.0,dmFyaWF0aW9ucw==,10,-10,1000"),
            Some("\"true\",1e3,\"12.3650\",,,,"),
            Some("nope,,,,,,"),
            Some(",abc,,,,,"),
            Some(",,123.0,,,,"),
            Some(",,,,1.5,,"),
            Some(",,,,,2147483648,"),
        ],
    );
    let b: Vec<_> = d.columns[0].as_boolean().iter().collect();
    // Java's Boolean.parseBoolean: anything but "true" is false.
    assert_eq!(b[..3], [Some(true), Some(true), Some(false)]);
    assert_eq!(f64s(&d.columns[1])[..2], [Some(10.1), Some(1000.0)]);
    let dec_vals: Vec<_> = d.columns[2].as_primitive::<arrow::datatypes::Decimal128Type>().iter().collect();
    assert_eq!(dec_vals[..2], [Some(120000), Some(123650)]);
    assert_eq!(d.columns[3].as_binary::<i32>().value(0), b"variations");
    assert_eq!(d.errors.iter().map(|e| e.0).collect::<Vec<_>>(), vec![3, 4, 5, 6]);
    assert!(matches!(&d.errors[0].1, FormatError::Parse { column, expected, text } if column == "D" && expected == "DOUBLE" && text == "abc"));
    assert!(matches!(&d.errors[1].1, FormatError::Decimal { column, .. } if column == "DEC"));
    assert!(matches!(&d.errors[2].1, FormatError::Parse { column, .. } if column == "TS"));
    assert!(matches!(&d.errors[3].1, FormatError::OutOfRange { column, expected, .. } if column == "DT" && expected == "DATE"));
    // Round trip of the first row, decimal keeps its scale.
    let first: Vec<ArrayRef> = d.columns.iter().map(|c| c.slice(0, 1)).collect();
    assert_eq!(enc(CSV, &s, Wrapping::Unwrapped, first), vec![Some("true,10.1,12.0000,dmFyaWF0aW9ucw==,10,-10,1000".into())]);
}

#[test]
fn delimited_malformed() {
    let s = schema(&[("A", DataType::Utf8), ("B", DataType::Utf8)]);
    let d = dec(CSV, &s, Wrapping::Unwrapped, &[Some("\"abc,d"), Some("\"a\"x,b"), Some("a,b\nc,d")]);
    assert_eq!(d.errors.len(), 3);
    assert!(d.errors.iter().all(|(_, e)| matches!(e, FormatError::Malformed { format: "DELIMITED", .. })));
    let raw: Vec<Option<&[u8]>> = vec![Some(b"\xff,a")];
    let d = decode(&CSV, &s, Wrapping::Unwrapped, &raw).unwrap();
    assert_eq!(d.errors.len(), 1);
}

#[test]
fn delimited_encode_quoting_like_commons_csv() {
    let s = schema(&[("A", DataType::Utf8), ("B", DataType::Utf8), ("C", DataType::Int32)]);
    let cols: Vec<ArrayRef> = vec![
        Arc::new(StringArray::from(vec![
            Some("plain"),
            Some("-10"),
            Some(""),
            None,
            Some(" \t with white space \t"),
            Some("!"),
            Some("été"),
        ])),
        Arc::new(StringArray::from(vec![
            Some("a,b"),
            Some("-101"),
            Some(""),
            None,
            Some("with white space"),
            Some("\t wit"),
            Some("say \"hi\""),
        ])),
        Arc::new(Int32Array::from(vec![Some(1), Some(-5), None, None, Some(0), Some(2), Some(3)])),
    ];
    let out = enc(CSV, &s, Wrapping::Unwrapped, cols);
    let out: Vec<_> = out.into_iter().map(Option::unwrap).collect();
    assert_eq!(
        out,
        vec![
            "plain,\"a,b\",1",
            "\"-10\",-101,-5",
            "\"\",,",
            ",,",
            "\" \t with white space \t\",with white space,0",
            "\"!\",\"\t wit\",2",
            "\"été\",\"say \"\"hi\"\"\",3",
        ]
    );
}

#[test]
fn delimited_encode_single_column_and_doubles() {
    let s = schema(&[("D", DataType::Float64)]);
    let out = enc(CSV, &s, Wrapping::Wrapped, vec![Arc::new(Float64Array::from(vec![Some(0.0), Some(1.0e10), Some(-1.5), None]))]);
    assert_eq!(out, vec![Some("0.0".into()), Some("1.0E10".into()), Some("\"-1.5\"".into()), None]);
    // Date -10 as the only field is quoted, as in ksqlDB's date.json.
    let s = schema(&[("DT", DataType::Date32)]);
    let d = dec(CSV, &s, Wrapping::Unwrapped, &[Some("10"), Some("-10")]);
    assert_eq!(enc(CSV, &s, Wrapping::Unwrapped, d.columns), vec![Some("10".into()), Some("\"-10\"".into())]);
}

#[test]
fn delimited_rejects_nested_types() {
    let s = schema(&[("A", list_type(DataType::Int32))]);
    let err = Decoder::new(CSV, s.clone(), Wrapping::Unwrapped).unwrap_err();
    assert!(matches!(&err, FormatError::UnsupportedType { format: "DELIMITED", column, data_type } if column == "A" && data_type == "ARRAY<INT>"));
    let cols: Vec<ArrayRef> = vec![arrow::array::new_null_array(&list_type(DataType::Int32), 1)];
    assert!(encode(&CSV, &cols, s.fields(), Wrapping::Unwrapped).is_err());
}

// ------------------------------------------------------------------------------------------
// KAFKA

#[test]
fn kafka_round_trips() {
    let cases: Vec<(DataType, Vec<u8>)> = vec![
        (DataType::Int32, (-2i32).to_be_bytes().to_vec()),
        (DataType::Int64, 10_000_000_000i64.to_be_bytes().to_vec()),
        (DataType::Float64, 2.2f64.to_be_bytes().to_vec()),
        (DataType::Utf8, "bär".as_bytes().to_vec()),
        (DataType::Utf8, Vec::new()),
        (DataType::Binary, vec![0, 255, 1]),
    ];
    for (dt, bytes) in cases {
        let s = schema(&[("V", dt.clone())]);
        let d = decode(&Format::Kafka, &s, Wrapping::Wrapped, &[Some(&bytes), None]).unwrap();
        assert!(d.errors.is_empty(), "{dt}");
        assert!(d.columns[0].is_valid(0) && d.columns[0].is_null(1));
        let out = encode(&Format::Kafka, &d.columns, s.fields(), Wrapping::Wrapped).unwrap();
        assert_eq!(out[0], Ok(Some(bytes.clone())), "{dt}");
        assert_eq!(out[1], Ok(None));
    }
    let s = schema(&[("V", DataType::Int64)]);
    let d = decode(&Format::Kafka, &s, Wrapping::Wrapped, &[Some(&1i64.to_be_bytes())]).unwrap();
    assert_eq!(i64s(&d.columns[0]), vec![Some(1)]);
}

#[test]
fn kafka_errors() {
    let s = schema(&[("V", DataType::Int32)]);
    let d = decode(&Format::Kafka, &s, Wrapping::Wrapped, &[Some(&[0, 0, 1]), Some(&[0, 0, 0, 1])]).unwrap();
    assert_eq!(d.errors.len(), 1);
    assert_eq!(
        d.errors[0].1,
        FormatError::PayloadSize { column: "V".into(), expected: "INT", size: 4, actual: 3 }
    );
    assert_eq!(i32s(&d.columns[0]), vec![None, Some(1)]);
    let s = schema(&[("V", DataType::Utf8)]);
    let d = decode(&Format::Kafka, &s, Wrapping::Wrapped, &[Some(b"\xc3")]).unwrap();
    assert_eq!(d.errors.len(), 1);

    let b = schema(&[("V", DataType::Boolean)]);
    let err = Decoder::new(Format::Kafka, b, Wrapping::Wrapped).unwrap_err();
    assert!(err.to_string().contains("BOOLEAN"), "{err}");
    let two = schema(&[("V0", DataType::Int32), ("V1", DataType::Utf8)]);
    let err = Decoder::new(Format::Kafka, two, Wrapping::Wrapped).unwrap_err();
    assert_eq!(
        err.to_string(),
        "format KAFKA: The 'KAFKA' format only supports a single field. Got: [`V0` INT, `V1` STRING]"
    );
}

// ------------------------------------------------------------------------------------------
// NONE and format configuration

#[test]
fn none_format() {
    let s = schema(&[]);
    let d = decode(&Format::None, &s, Wrapping::Unwrapped, &[Some(b"whatever"), None]).unwrap();
    assert!(d.columns.is_empty() && d.errors.is_empty());
    let out = encode(&Format::None, &[], s.fields(), Wrapping::Unwrapped).unwrap();
    assert!(out.is_empty());
}

#[test]
fn format_from_props() {
    let mut props = HashMap::new();
    assert_eq!(Format::from_props("json", &props, false), Ok(Format::Json));
    assert_eq!(Format::from_props("Kafka", &props, true), Ok(Format::Kafka));
    assert_eq!(Format::from_props("NONE", &props, true), Ok(Format::None));
    assert_eq!(Format::from_props("delimited", &props, false), Ok(Format::Delimited { delimiter: b',' }));
    props.insert("value_delimiter".to_string(), "|".to_string());
    props.insert("KEY_DELIMITER".to_string(), "TAB".to_string());
    assert_eq!(Format::from_props("DELIMITED", &props, false), Ok(Format::Delimited { delimiter: b'|' }));
    assert_eq!(Format::from_props("DELIMITED", &props, true), Ok(Format::Delimited { delimiter: b'\t' }));
    assert_eq!(parse_delimiter("VALUE_DELIMITER", "SPACE"), Ok(b' '));
    for bad in ["", " ", "\t"] {
        let e = parse_delimiter("VALUE_DELIMITER", bad).unwrap_err();
        assert!(e.to_string().contains("Delimiter cannot be empty"), "{e}");
    }
    assert!(parse_delimiter("VALUE_DELIMITER", "ab").is_err());
    assert!(Format::from_props("AVRO", &props, false).is_err());
}

#[test]
fn struct_array_helpers_match_contract() {
    // map_type/list_type produce the field names of the shared contract.
    let DataType::Map(entries, sorted) = map_type(DataType::Int32) else { panic!() };
    assert!(!sorted);
    assert_eq!(entries.name(), "entries");
    let DataType::Struct(kv) = entries.data_type() else { panic!() };
    assert_eq!((kv[0].name().as_str(), kv[0].is_nullable()), ("key", false));
    assert_eq!((kv[1].name().as_str(), kv[1].is_nullable()), ("value", true));
    let DataType::List(item) = list_type(DataType::Utf8) else { panic!() };
    assert_eq!(item.name(), "item");
    // Decoded struct arrays carry the schema's field names.
    let st = DataType::Struct(Fields::from(vec![Field::new("F", DataType::Int32, true)]));
    let s = schema(&[("S", st.clone())]);
    let d = dec(Format::Json, &s, Wrapping::Wrapped, &[Some(r#"{"S": {"f": 1}}"#)]);
    let sa = d.columns[0].as_any().downcast_ref::<StructArray>().unwrap();
    assert_eq!(sa.data_type(), &st);
    let _: Option<&ListArray> = None;
}

/// A small deterministic generator for the round-trip tests.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn string(&mut self) -> String {
        const ALPHABET: [char; 16] = ['a', 'Z', '0', ',', '"', '\n', '\r', '\t', ' ', '#', '-', '|', 'é', '😀', '\\', '\u{1}'];
        let len = (self.next() % 8) as usize;
        (0..len).map(|_| ALPHABET[(self.next() % 16) as usize]).collect()
    }
}

#[test]
fn delimited_string_round_trip_random() {
    let s = schema(&[("A", DataType::Utf8), ("B", DataType::Utf8), ("C", DataType::Int64)]);
    let mut rng = Rng(42);
    for delimiter in [b',', b'|', b'\t'] {
        let f = Format::Delimited { delimiter };
        let a: Vec<String> = (0..300).map(|_| rng.string()).collect();
        let b: Vec<String> = (0..300).map(|_| rng.string()).collect();
        let c: Vec<i64> = (0..300).map(|_| rng.next() as i64).collect();
        let cols: Vec<ArrayRef> = vec![
            Arc::new(StringArray::from(a.clone())),
            Arc::new(StringArray::from(b.clone())),
            Arc::new(Int64Array::from(c.clone())),
        ];
        let payloads = enc(f, &s, Wrapping::Unwrapped, cols);
        let d = dec(f, &s, Wrapping::Unwrapped, &payloads.iter().map(|p| p.as_deref()).collect::<Vec<_>>());
        assert!(d.errors.is_empty(), "{:?}", d.errors.first());
        // Empty strings come back as null: DELIMITED cannot tell them apart.
        let expect = |v: &Vec<String>| v.iter().map(|x| (!x.is_empty()).then(|| x.clone())).collect::<Vec<_>>();
        assert_eq!(strs(&d.columns[0]), expect(&a));
        assert_eq!(strs(&d.columns[1]), expect(&b));
        assert_eq!(i64s(&d.columns[2]), c.into_iter().map(Some).collect::<Vec<_>>());
    }
}

#[test]
fn json_string_and_double_round_trip_random() {
    let s = schema(&[("S", DataType::Utf8), ("D", DataType::Float64), ("L", DataType::Int64)]);
    let mut rng = Rng(7);
    let strings: Vec<String> = (0..500).map(|_| rng.string()).collect();
    let doubles: Vec<f64> = (0..500)
        .map(|_| {
            let bits = rng.next();
            let d = f64::from_bits(bits);
            if d.is_finite() { d } else { (bits % 1000) as f64 / 7.0 }
        })
        .collect();
    let longs: Vec<i64> = (0..500).map(|_| rng.next() as i64).collect();
    let cols: Vec<ArrayRef> = vec![
        Arc::new(StringArray::from(strings.clone())),
        Arc::new(Float64Array::from(doubles.clone())),
        Arc::new(Int64Array::from(longs.clone())),
    ];
    let payloads = enc(Format::Json, &s, Wrapping::Wrapped, cols);
    for p in &payloads {
        // Every payload is valid JSON by serde_json's reading too.
        serde_json::from_str::<serde_json::Value>(p.as_deref().unwrap()).expect("valid JSON");
    }
    let d = dec(Format::Json, &s, Wrapping::Wrapped, &payloads.iter().map(|p| p.as_deref()).collect::<Vec<_>>());
    assert!(d.errors.is_empty(), "{:?}", d.errors.first());
    assert_eq!(strs(&d.columns[0]), strings.into_iter().map(Some).collect::<Vec<_>>());
    assert_eq!(f64s(&d.columns[1]), doubles.into_iter().map(Some).collect::<Vec<_>>());
    assert_eq!(i64s(&d.columns[2]), longs.into_iter().map(Some).collect::<Vec<_>>());
}

#[test]
fn json_temporal_string_errors_name_column() {
    let s = schema(&[("TS", DataType::Timestamp(TimeUnit::Millisecond, None)), ("T", DataType::Time32(TimeUnit::Millisecond))]);
    let d = dec(
        Format::Json,
        &s,
        Wrapping::Wrapped,
        &[Some(r#"{"TS": "1970-01-01T00:00:00"}"#), Some(r#"{"T": 99999999999}"#), Some(r#"{"TS": [1]}"#)],
    );
    assert_eq!(d.errors.len(), 3);
    assert!(matches!(&d.errors[0].1, FormatError::Parse { column, expected, .. } if column == "TS" && expected == "TIMESTAMP"));
    assert!(matches!(&d.errors[1].1, FormatError::OutOfRange { column, expected, .. } if column == "T" && expected == "TIME"));
    assert!(matches!(&d.errors[2].1, FormatError::TypeMismatch { column, found, .. } if column == "TS" && found == "a JSON array"));
}

#[test]
fn long_error_text_is_truncated() {
    let s = schema(&[("I", DataType::Int32)]);
    let long = format!(r#"{{"I": "{}"}}"#, "9".repeat(500));
    let d = dec(Format::Json, &s, Wrapping::Wrapped, &[Some(&long)]);
    let FormatError::OutOfRange { text, .. } = &d.errors[0].1 else { panic!("{:?}", d.errors) };
    assert!(text.chars().count() <= 65 && text.ends_with('…'));
    assert_eq!(Format::Delimited { delimiter: b',' }.name(), "DELIMITED");
}

#[test]
fn json_rejects_types_outside_the_contract() {
    let s = schema(&[("X", DataType::Int16)]);
    let err = Decoder::new(Format::Json, s, Wrapping::Wrapped).unwrap_err();
    assert_eq!(
        err,
        FormatError::UnsupportedType { format: "JSON", column: "X".into(), data_type: "Int16".into() }
    );
}
