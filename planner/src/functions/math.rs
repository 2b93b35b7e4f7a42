//! ksqlDB numeric functions: ABS, CEIL, FLOOR, ROUND, TRUNC, SIGN, SQRT, CBRT, EXP, LN, LOG,
//! POWER, trigonometry, DEGREES, RADIANS, PI, RANDOM, GREATEST, LEAST, GEO_DISTANCE,
//! GENERATE_SERIES.
//!
//! Integral functions keep their input type (ABS(INT) -> INT); ROUND/TRUNC of a DOUBLE without
//! a scale return BIGINT; rounding is "half towards positive infinity" like Java's
//! `Math.round` and ksql's BigDecimal rounding (-1.5 -> -1), performed on the shortest decimal
//! representation of a double (as `BigDecimal.valueOf` does).

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, BooleanArray, Int64Builder, ListBuilder};
use arrow::compute::kernels::cmp;
use arrow::compute::kernels::zip::zip;
use arrow::datatypes::{DataType, Decimal128Type, Float64Type, Int32Type, Int64Type};
use datafusion::common::{exec_err, plan_err, Result};

use super::udf::*;

/// Registers the math family.
pub fn functions() -> Vec<Named> {
    let mut v = vec![
        integral(
            "abs",
            i32::wrapping_abs,
            i64::wrapping_abs,
            f64::abs,
            |v, _| v.abs(),
        ),
        integral("ceil", |x| x, |x| x, f64::ceil, dec_ceil),
        integral("floor", |x| x, |x| x, f64::floor, dec_floor),
        round(),
        trunc(),
        sign(),
        double_fn("sqrt", f64::sqrt),
        double_fn("cbrt", f64::cbrt),
        double_fn("exp", f64::exp),
        double_fn("ln", f64::ln),
        log(),
        power(),
        double_fn("sin", f64::sin),
        double_fn("cos", f64::cos),
        double_fn("tan", f64::tan),
        double_fn("asin", f64::asin),
        double_fn("acos", f64::acos),
        double_fn("atan", f64::atan),
        double_fn("cot", |x| 1.0 / x.tan()),
        double_fn("sinh", f64::sinh),
        double_fn("cosh", f64::cosh),
        double_fn("tanh", f64::tanh),
        double_fn("degrees", f64::to_degrees),
        double_fn("radians", f64::to_radians),
        atan2(),
        pi(),
        random(),
        geo_distance(),
        generate_series(),
    ];
    v.push(extreme("greatest", true));
    v.push(extreme("least", false));
    v
}

/// DOUBLE -> DOUBLE with null propagation (INT/BIGINT/DECIMAL widen to DOUBLE).
fn double_fn(name: &'static str, f: fn(f64) -> f64) -> Named {
    udf(name)
        .sig([DOUBLE], R::T(DataType::Float64))
        .invoke(move |c| {
            Ok(Arc::new(
                prim_arg::<Float64Type>(&c.args[0])?.unary::<_, Float64Type>(f),
            ))
        })
}

fn pow10(n: u32) -> Option<i128> {
    10i128.checked_pow(n)
}

fn dec_floor(v: i128, scale: i8) -> i128 {
    match pow10(scale.max(0) as u32) {
        Some(f) => v.div_euclid(f) * f,
        None => 0,
    }
}

fn dec_ceil(v: i128, scale: i8) -> i128 {
    -dec_floor(-v, scale)
}

/// Function keeping its numeric input type: INT, BIGINT, DOUBLE, DECIMAL (same precision/scale).
fn integral(
    name: &'static str,
    fi: fn(i32) -> i32,
    fl: fn(i64) -> i64,
    fd: fn(f64) -> f64,
    fdec: fn(i128, i8) -> i128,
) -> Named {
    udf(name)
        .sig([INT], R::Arg(0))
        .sig([BIGINT], R::Arg(0))
        .sig([DOUBLE], R::Arg(0))
        .sig([P::Decimal], R::Arg(0))
        .invoke(move |c| {
            let a = &c.args[0];
            Ok(match a.data_type() {
                DataType::Int32 => Arc::new(prim_arg::<Int32Type>(a)?.unary::<_, Int32Type>(fi)),
                DataType::Int64 => Arc::new(prim_arg::<Int64Type>(a)?.unary::<_, Int64Type>(fl)),
                DataType::Float64 => {
                    Arc::new(prim_arg::<Float64Type>(a)?.unary::<_, Float64Type>(fd))
                }
                DataType::Decimal128(p, s) => {
                    let s = *s;
                    Arc::new(
                        prim_arg::<Decimal128Type>(a)?
                            .unary::<_, Decimal128Type>(|v| fdec(v, s))
                            .with_precision_and_scale(*p, s)?,
                    )
                }
                other => return exec_err!("{name}: unsupported type {other}"),
            })
        })
}

/// Rounds the integer `m` (in units of 10^-from_scale) to `to_scale` decimals, returning units
/// of 10^-to_scale. `truncate` cuts toward zero, otherwise half goes towards +infinity.
fn rescale(m: i128, from_scale: i32, to_scale: i32, truncate: bool) -> i128 {
    let diff = i64::from(to_scale) - i64::from(from_scale);
    if diff >= 0 {
        return match u32::try_from(diff).ok().and_then(pow10) {
            Some(f) => m.saturating_mul(f),
            None if m == 0 => 0,
            None => {
                if m > 0 {
                    i128::MAX
                } else {
                    i128::MIN
                }
            }
        };
    }
    let Some(f) = u32::try_from(-diff).ok().and_then(pow10) else {
        return 0;
    };
    if truncate {
        m / f
    } else {
        let (q, r) = (m.div_euclid(f), m.rem_euclid(f));
        if r >= f - r {
            q + 1
        } else {
            q
        }
    }
}

/// ROUND/TRUNC of a double to `places` decimals via its shortest decimal representation.
pub fn round_double(v: f64, places: i32, truncate: bool) -> f64 {
    if !v.is_finite() {
        return v;
    }
    let sci = format!("{v:e}");
    let Some((mantissa, exp)) = sci.split_once('e') else {
        return v;
    };
    let Ok(exp) = exp.parse::<i32>() else {
        return v;
    };
    let negative = mantissa.starts_with('-');
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    let Ok(mut m) = digits.parse::<i128>() else {
        return v;
    };
    if negative {
        m = -m;
    }
    let scale = digits.len() as i32 - 1 - exp;
    if places >= scale {
        return v;
    }
    let q = rescale(m, scale, places, truncate);
    format!("{q}e{}", -places).parse().unwrap_or(v)
}

/// Java `Math.round`: half towards +infinity, NaN -> 0, saturating.
fn java_round(x: f64) -> i64 {
    let f = x.floor();
    (if x - f >= 0.5 { f + 1.0 } else { f }) as i64
}

fn decimal_places_arg<'a>(c: &Call<'a>) -> Result<Option<&'a arrow::array::Int32Array>> {
    c.args.get(1).map(prim_arg::<Int32Type>).transpose()
}

/// ROUND(DECIMAL(p,s)) -> DECIMAL(p-s+1, 0); TRUNC(DECIMAL(p,s)) -> DECIMAL(p-s, 0).
fn dec_zero_scale(types: &[DataType], extra: u8) -> Result<DataType> {
    match types.first() {
        Some(DataType::Decimal128(p, s)) => {
            let int_digits = (*p as i16 - *s as i16).max(0) as u8;
            Ok(DataType::Decimal128((int_digits + extra).clamp(1, 38), 0))
        }
        _ => plan_err!("expected DECIMAL"),
    }
}

fn round_like(name: &'static str, truncate: bool) -> Named {
    let zero_scale: fn(&[DataType]) -> Result<DataType> = if truncate {
        |t| dec_zero_scale(t, 0)
    } else {
        |t| dec_zero_scale(t, 1)
    };
    udf(name)
        .sig([INT], R::Arg(0))
        .sig([BIGINT], R::Arg(0))
        .sig([DOUBLE], R::T(DataType::Int64))
        .sig([DOUBLE, INT], R::T(DataType::Float64))
        .sig([P::Decimal], R::F(zero_scale))
        .sig([P::Decimal, INT], R::Arg(0))
        .invoke(move |c| {
            let a = &c.args[0];
            let places = decimal_places_arg(c)?;
            let places_at = |i: usize| places.map_or(Some(0), |p| get(p, i));
            match a.data_type() {
                DataType::Int32 | DataType::Int64 => Ok(Arc::clone(a)),
                DataType::Float64 => {
                    let v = prim_arg::<Float64Type>(a)?;
                    if places.is_none() {
                        let f = if truncate {
                            |x: f64| x.trunc() as i64
                        } else {
                            java_round
                        };
                        return Ok(Arc::new(v.unary::<_, Int64Type>(f)));
                    }
                    collect_prim::<Float64Type>(c.rows, c.ret, |i| {
                        Ok(get(v, i)
                            .zip(places_at(i))
                            .map(|(x, n)| round_double(x, n, truncate)))
                    })
                }
                DataType::Decimal128(_, s) => {
                    let s = i32::from(*s);
                    let v = prim_arg::<Decimal128Type>(a)?;
                    let out_scale = match c.ret {
                        DataType::Decimal128(_, os) => i32::from(*os),
                        _ => s,
                    };
                    collect_prim::<Decimal128Type>(c.rows, c.ret, |i| {
                        Ok(get(v, i).zip(places_at(i)).map(|(x, n)| {
                            // Rounding to at least the current scale changes nothing.
                            let r = if n >= s {
                                return rescale(x, s, out_scale, truncate);
                            } else {
                                rescale(x, s, n, truncate)
                            };
                            rescale(r, n, out_scale, true)
                        }))
                    })
                }
                other => exec_err!("{name}: unsupported type {other}"),
            }
        })
}

fn round() -> Named {
    round_like("round", false)
}

fn trunc() -> Named {
    round_like("trunc", true)
}

fn sign() -> Named {
    udf("sign")
        .sig([INT], R::T(DataType::Int32))
        .sig([BIGINT], R::T(DataType::Int32))
        .sig([DOUBLE], R::T(DataType::Int32))
        .sig([P::Decimal], R::T(DataType::Int32))
        .invoke(|c| {
            let a = &c.args[0];
            Ok(match a.data_type() {
                DataType::Int32 => {
                    Arc::new(prim_arg::<Int32Type>(a)?.unary::<_, Int32Type>(i32::signum))
                }
                DataType::Int64 => {
                    Arc::new(prim_arg::<Int64Type>(a)?.unary::<_, Int32Type>(|x| x.signum() as i32))
                }
                DataType::Decimal128(..) => Arc::new(
                    prim_arg::<Decimal128Type>(a)?.unary::<_, Int32Type>(|x| x.signum() as i32),
                ),
                _ => Arc::new(prim_arg::<Float64Type>(a)?.unary::<_, Int32Type>(|x| {
                    if x > 0.0 {
                        1
                    } else if x < 0.0 {
                        -1
                    } else {
                        0
                    }
                })),
            })
        })
}

fn binary_double(name: &'static str, f: fn(f64, f64) -> f64) -> Named {
    udf(name)
        .sig([DOUBLE, DOUBLE], R::T(DataType::Float64))
        .invoke(move |c| {
            let (a, b) = (
                prim_arg::<Float64Type>(&c.args[0])?,
                prim_arg::<Float64Type>(&c.args[1])?,
            );
            Ok(Arc::new(arrow::compute::binary::<_, _, _, Float64Type>(
                a, b, f,
            )?))
        })
}

fn log() -> Named {
    udf("log")
        .sig([DOUBLE], R::T(DataType::Float64))
        .sig([DOUBLE, DOUBLE], R::T(DataType::Float64))
        .invoke(|c| {
            let a = prim_arg::<Float64Type>(&c.args[0])?;
            match c.args.get(1) {
                None => Ok(Arc::new(a.unary::<_, Float64Type>(f64::log10))),
                Some(b) => {
                    let b = prim_arg::<Float64Type>(b)?;
                    // LOG(base, value)
                    Ok(Arc::new(arrow::compute::binary::<_, _, _, Float64Type>(
                        a,
                        b,
                        |base, v| v.ln() / base.ln(),
                    )?))
                }
            }
        })
}

fn power() -> Named {
    binary_double("power", f64::powf)
}

fn atan2() -> Named {
    binary_double("atan2", f64::atan2)
}

fn pi() -> Named {
    udf("pi")
        .sig([], R::T(DataType::Float64))
        .invoke(|c| collect_prim::<Float64Type>(c.rows, c.ret, |_| Ok(Some(std::f64::consts::PI))))
}

fn random() -> Named {
    udf("random")
        .sig([], R::T(DataType::Float64))
        .volatile()
        .invoke(|c| collect_prim::<Float64Type>(c.rows, c.ret, |_| Ok(Some(rand::random::<f64>()))))
}

fn geo_distance() -> Named {
    udf("geo_distance")
        .sig([DOUBLE, DOUBLE, DOUBLE, DOUBLE], R::T(DataType::Float64))
        .sig(
            [DOUBLE, DOUBLE, DOUBLE, DOUBLE, STR],
            R::T(DataType::Float64),
        )
        .invoke(|c| {
            let coords = c.args[..4]
                .iter()
                .map(prim_arg::<Float64Type>)
                .collect::<Result<Vec<_>>>()?;
            let unit = c.args.get(4).map(str_arg).transpose()?;
            collect_prim::<Float64Type>(c.rows, c.ret, |i| {
                let mut v = [0.0; 4];
                for (k, a) in coords.iter().enumerate() {
                    match get(*a, i) {
                        Some(x) => v[k] = x,
                        None => return Ok(None),
                    }
                }
                let radius = match unit.map(|u| get(u, i)) {
                    None => 6371.0,
                    Some(None) => return Ok(None),
                    Some(Some(u)) => match u.to_lowercase().as_str() {
                        "km" | "kilometers" | "kilometer" | "kms" => 6371.0,
                        "mi" | "miles" | "mile" => 3959.0,
                        other => return exec_err!("GEO_DISTANCE: unknown radius unit {other}"),
                    },
                };
                let [lat1, lon1, lat2, lon2] = v;
                if !(-90.0..=90.0).contains(&lat1) || !(-90.0..=90.0).contains(&lat2) {
                    return exec_err!(
                        "valid latitude values for GEO_DISTANCE are between -90 and 90"
                    );
                }
                if !(-180.0..=180.0).contains(&lon1) || !(-180.0..=180.0).contains(&lon2) {
                    return exec_err!(
                        "valid longitude values for GEO_DISTANCE are between -180 and 180"
                    );
                }
                let (dlat, dlon) = ((lat2 - lat1).to_radians(), (lon2 - lon1).to_radians());
                let a = (dlat / 2.0).sin().powi(2)
                    + (dlon / 2.0).sin().powi(2)
                        * lat1.to_radians().cos()
                        * lat2.to_radians().cos();
                Ok(Some(2.0 * radius * a.sqrt().asin()))
            })
        })
}

/// Guard against unbounded allocation (ksqlDB would exhaust the heap instead).
const MAX_SERIES_LEN: i128 = 1 << 24;

fn generate_series() -> Named {
    udf("generate_series")
        .sig([INT, INT], R::T(list_of(DataType::Int32)))
        .sig([INT, INT, INT], R::T(list_of(DataType::Int32)))
        .sig([BIGINT, BIGINT], R::T(list_of(DataType::Int64)))
        .sig([BIGINT, BIGINT, INT], R::T(list_of(DataType::Int64)))
        .invoke(|c| {
            let wide = c
                .args
                .iter()
                .take(2)
                .map(|a| cast_to(a, &DataType::Int64))
                .collect::<Result<Vec<_>>>()?;
            let (start, end) = (
                prim_arg::<Int64Type>(&wide[0])?,
                prim_arg::<Int64Type>(&wide[1])?,
            );
            let step = c.args.get(2).map(prim_arg::<Int32Type>).transpose()?;
            let mut b = ListBuilder::new(Int64Builder::new());
            for i in 0..c.rows {
                let st = match step {
                    Some(s) => get(s, i).map(i64::from),
                    None => Some(1),
                };
                let (Some(s), Some(e), Some(st)) = (get(start, i), get(end, i), st) else {
                    b.append(false);
                    continue;
                };
                if st == 0 {
                    return exec_err!("GENERATE_SERIES step cannot be zero");
                }
                let step = if step.is_none() && e < s { -1 } else { st };
                if (e > s && step < 0) || (e < s && step > 0) {
                    return exec_err!("GENERATE_SERIES has incorrect step direction");
                }
                let count = (i128::from(e) - i128::from(s)) / i128::from(step) + 1;
                if count > MAX_SERIES_LEN {
                    return exec_err!(
                        "GENERATE_SERIES would produce {count} elements (limit {MAX_SERIES_LEN})"
                    );
                }
                let mut x = s;
                while (step > 0 && x <= e) || (step < 0 && x >= e) {
                    b.values().append_value(x);
                    match x.checked_add(step) {
                        Some(n) => x = n,
                        None => break,
                    }
                }
                b.append(true);
            }
            cast_to(&(Arc::new(b.finish()) as ArrayRef), c.ret)
        })
}

/// GREATEST/LEAST argument typing: identical types, or mixed numerics containing a DOUBLE
/// (ksql reports the other mixes as ambiguous).
fn extreme_coerce(name: &str, types: &[DataType]) -> Result<Vec<DataType>> {
    let non_null: Vec<&DataType> = types.iter().filter(|t| **t != DataType::Null).collect();
    let Some(first) = non_null.first() else {
        return plan_err!(
            "Function '{name}' cannot be resolved due to ambiguous method parameters ({})",
            types.iter().map(|_| "null").collect::<Vec<_>>().join(", ")
        );
    };
    let target = if non_null.iter().all(|t| t == first) {
        (*first).clone()
    } else if non_null.contains(&&DataType::Float64) && non_null.iter().all(|t| t.is_numeric()) {
        DataType::Float64
    } else if non_null
        .iter()
        .all(|t| matches!(t, DataType::Decimal128(..)))
    {
        common_type(types)?
    } else {
        return plan_err!(
            "Function '{name}' cannot be resolved due to ambiguous method parameters"
        );
    };
    Ok(vec![target; types.len()])
}

fn extreme(name: &'static str, greatest: bool) -> Named {
    udf(name)
        .variadic([P::Any], R::Arg(0))
        .coerce(move |t| {
            if t.is_empty() {
                return plan_err!("Function '{name}' does not accept parameters ().");
            }
            extreme_coerce(name, t)
        })
        .invoke(move |c| {
            let mut acc = Arc::clone(&c.args[0]);
            for b in &c.args[1..] {
                let better = if greatest {
                    cmp::gt(b, &acc)?
                } else {
                    cmp::lt(b, &acc)?
                };
                let take_b: BooleanArray = (0..c.rows)
                    .map(|i| Some(b.is_valid(i) && (acc.is_null(i) || better.value(i))))
                    .collect();
                acc = zip(&take_b, b, &acc)?;
            }
            Ok(acc)
        })
}

#[cfg(test)]
mod tests {
    use crate::functions::test_util::*;

    #[test]
    fn round_qtt() {
        let v = f64s(&[
            Some(1.5),
            Some(-1.5),
            Some(-1.7),
            Some(12345.678),
            Some(-12345.678),
            None,
        ]);
        assert_eq!(
            call_i64("round", std::slice::from_ref(&v)),
            vec![Some(2), Some(-1), Some(-2), Some(12346), Some(-12346), None]
        );
        let r = call_f64("round", &[v.clone(), i32s(&[Some(2); 6])]);
        assert_eq!(
            r,
            vec![
                Some(1.5),
                Some(-1.5),
                Some(-1.7),
                Some(12345.68),
                Some(-12345.68),
                None
            ]
        );
        let r = call_f64("round", &[v.clone(), i32s(&[Some(-1); 6])]);
        assert_eq!(
            r,
            vec![
                Some(0.0),
                Some(0.0),
                Some(0.0),
                Some(12350.0),
                Some(-12350.0),
                None
            ]
        );
        let r = call_f64("round", &[v.clone(), i32s(&[Some(0); 6])]);
        assert_eq!(r[1], Some(-1.0));
        assert_eq!(
            call_i64("trunc", std::slice::from_ref(&v)),
            vec![Some(1), Some(-1), Some(-1), Some(12345), Some(-12345), None]
        );
        let r = call_f64("trunc", &[v, i32s(&[Some(-2); 6])]);
        assert_eq!(r[3], Some(12300.0));
        assert_eq!(call_i32("round", &[i32s(&[Some(3)])]), vec![Some(3)]);
    }

    #[test]
    fn floor_ceil_abs_sign() {
        let v = f64s(&[Some(-1.5), Some(1.1), None]);
        assert_eq!(
            call_f64("floor", std::slice::from_ref(&v)),
            vec![Some(-2.0), Some(1.0), None]
        );
        assert_eq!(
            call_f64("ceil", std::slice::from_ref(&v)),
            vec![Some(-1.0), Some(2.0), None]
        );
        assert_eq!(
            call_f64("abs", std::slice::from_ref(&v)),
            vec![Some(1.5), Some(1.1), None]
        );
        assert_eq!(call_i32("sign", &[v]), vec![Some(-1), Some(1), None]);
        assert_eq!(call_i32("abs", &[i32s(&[Some(-3)])]), vec![Some(3)]);
        let dec = std::sync::Arc::new(
            arrow::array::Decimal128Array::from(vec![Some(-11), Some(17)])
                .with_precision_and_scale(2, 1)
                .unwrap(),
        ) as arrow::array::ArrayRef;
        let out = call("floor", std::slice::from_ref(&dec));
        assert_eq!(
            out.data_type(),
            &arrow::datatypes::DataType::Decimal128(2, 1)
        );
        assert_eq!(
            call_json("floor", std::slice::from_ref(&dec)),
            vec![Some("-2.0".into()), Some("1.0".into())]
        );
        assert_eq!(
            call_json("round", &[dec]),
            vec![Some("-1".into()), Some("2".into())]
        );
    }

    #[test]
    #[allow(clippy::approx_constant)] // the QTT expectation is PI rounded to 13 places
    fn trig_log_power() {
        let r = call_f64(
            "round",
            &[
                std::sync::Arc::new(arrow::array::Float64Array::from(call_f64(
                    "acos",
                    &[i32s(&[Some(-1)])],
                ))),
                i32s(&[Some(13)]),
            ],
        );
        assert_eq!(r, vec![Some(3.1415926535898)]);
        assert_eq!(call_f64("log", &[f64s(&[Some(100.0)])]), vec![Some(2.0)]);
        assert_eq!(
            call_f64("power", &[i32s(&[Some(2)]), i32s(&[Some(10)])]),
            vec![Some(1024.0)]
        );
    }

    #[test]
    fn greatest_least_geo() {
        let r = call_i64(
            "greatest",
            &[i64s(&[Some(i64::MAX), None]), i64s(&[Some(i64::MIN), None])],
        );
        assert_eq!(r, vec![Some(i64::MAX), None]);
        let r = call_f64("least", &[i32s(&[Some(500000)]), f64s(&[Some(1.0)])]);
        assert_eq!(r, vec![Some(1.0)]);
        assert!(try_call("greatest", &[i32s(&[Some(1)]), i64s(&[Some(1)])]).is_err());
        let r = call_f64(
            "geo_distance",
            &[
                f64s(&[Some(37.4439)]),
                f64s(&[Some(-122.1663)]),
                f64s(&[Some(51.5257)]),
                f64s(&[Some(-0.1122)]),
                strs(&[Some("MI")]),
            ],
        );
        assert!((r[0].unwrap_or(0.0) - 5365.659729188262).abs() < 1e-6);
    }
}
