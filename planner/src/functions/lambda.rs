//! ksqlDB higher-order (lambda) functions as DataFusion `HigherOrderUDF`s:
//! `TRANSFORM(array, x => ..)`, `TRANSFORM(map, (k, v) => .., (k, v) => ..)`,
//! `FILTER(array, x => ..)`, `FILTER(map, (k, v) => ..)`,
//! `REDUCE(array, init, (acc, x) => ..)`, `REDUCE(map, init, (acc, k, v) => ..)`.
//!
//! Lambdas are evaluated columnar over the flattened elements of the whole batch (captured
//! columns are spread to one value per element).  REDUCE evaluates one element position at a
//! time across all rows that still have elements, so it stays columnar too.
//! Null handling follows ksqlDB: a null collection gives null for TRANSFORM/FILTER and the
//! initial state for REDUCE; a null initial state gives null.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, ListArray, MapArray, StructArray, UInt32Array};
use arrow::buffer::OffsetBuffer;
use arrow::compute::{interleave, take, take_arrays};
use arrow::datatypes::{DataType, Field, FieldRef, Fields};
use datafusion::common::{exec_err, plan_err, Result};
use datafusion::logical_expr::{
    ColumnarValue, HigherOrderFunctionArgs, HigherOrderReturnFieldArgs, HigherOrderSignature,
    HigherOrderUDF, HigherOrderUDFImpl, LambdaArgument, LambdaParametersProgress, ValueOrLambda,
    Volatility,
};

use super::udf::{cast_to, list_of, map_kv, select_list};

/// Registers TRANSFORM, FILTER and REDUCE.
pub fn functions() -> Vec<(&'static str, Arc<HigherOrderUDF>)> {
    [
        ("transform", Kind::Transform),
        ("filter", Kind::Filter),
        ("reduce", Kind::Reduce),
    ]
    .into_iter()
    .map(|(name, kind)| {
        let f = KsqlLambdaFn {
            name: name.to_string(),
            kind,
            signature: HigherOrderSignature::user_defined(Volatility::Immutable),
        };
        (name, Arc::new(HigherOrderUDF::new_from_impl(f)))
    })
    .collect()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Kind {
    Transform,
    Filter,
    Reduce,
}

/// One of the ksql lambda functions.
#[derive(Debug, PartialEq, Eq, Hash)]
struct KsqlLambdaFn {
    name: String,
    kind: Kind,
    signature: HigherOrderSignature,
}

fn field(name: &str, t: &DataType) -> FieldRef {
    Arc::new(Field::new(name, t.clone(), true))
}

/// Flattened view of the collection argument: element row numbers and element columns
/// (one column for arrays; key and value columns for maps), limited to reachable elements.
struct Flat {
    /// Offsets rebased to start at 0.
    offsets: Vec<i32>,
    /// Per outer row: is the collection non-null.
    valid: Vec<bool>,
    /// Element columns (`[values]` or `[keys, values]`).
    columns: Vec<ArrayRef>,
}

impl Flat {
    fn new(collection: &ArrayRef) -> Result<Flat> {
        let (raw_offsets, columns): (&[i32], Vec<ArrayRef>) = match collection.data_type() {
            DataType::List(_) => {
                let l = collection.as_list::<i32>();
                (l.value_offsets(), vec![Arc::clone(l.values())])
            }
            DataType::Map(..) => {
                let m = collection.as_map();
                (
                    m.value_offsets(),
                    vec![Arc::clone(m.keys()), Arc::clone(m.values())],
                )
            }
            other => return exec_err!("expected ARRAY or MAP, got {other}"),
        };
        let start = raw_offsets.first().copied().unwrap_or(0);
        let end = raw_offsets.last().copied().unwrap_or(0);
        let columns = columns
            .iter()
            .map(|c| c.slice(start as usize, (end - start) as usize))
            .collect();
        Ok(Flat {
            offsets: raw_offsets.iter().map(|o| o - start).collect(),
            valid: (0..collection.len())
                .map(|i| collection.is_valid(i))
                .collect(),
            columns,
        })
    }
    fn rows(&self) -> usize {
        self.valid.len()
    }
    fn range(&self, row: usize) -> (usize, usize) {
        (self.offsets[row] as usize, self.offsets[row + 1] as usize)
    }
    /// Outer row number of every element.
    fn element_rows(&self) -> UInt32Array {
        (0..self.rows())
            .flat_map(|r| {
                let (s, e) = self.range(r);
                std::iter::repeat_n(r as u32, e - s)
            })
            .collect()
    }
}

/// Evaluates `lambda` over element columns `params`, spreading captures by `rows`.
fn eval_lambda(
    lambda: &LambdaArgument,
    params: &[ArrayRef],
    rows: &UInt32Array,
) -> Result<ArrayRef> {
    let n = params.first().map_or(rows.len(), |p| p.len());
    let thunks: Vec<Box<dyn Fn() -> Result<ArrayRef>>> = params
        .iter()
        .map(|p| {
            let p = Arc::clone(p);
            Box::new(move || Ok(Arc::clone(&p))) as Box<dyn Fn() -> Result<ArrayRef>>
        })
        .collect();
    let refs: Vec<&dyn Fn() -> Result<ArrayRef>> = thunks.iter().map(|b| b.as_ref()).collect();
    lambda
        .evaluate(&refs, |captures| Ok(take_arrays(captures, rows, None)?))?
        .into_array(n)
}

fn values_and_lambdas(
    args: &HigherOrderFunctionArgs,
) -> Result<(Vec<ArrayRef>, Vec<&LambdaArgument>)> {
    let mut values = vec![];
    let mut lambdas = vec![];
    for a in &args.args {
        match a {
            ValueOrLambda::Value(v) => values.push(v.to_array(args.number_rows)?),
            ValueOrLambda::Lambda(l) => lambdas.push(l),
        }
    }
    Ok((values, lambdas))
}

impl KsqlLambdaFn {
    fn transform(
        &self,
        coll: &ArrayRef,
        lambdas: &[&LambdaArgument],
        ret: &DataType,
    ) -> Result<ArrayRef> {
        let flat = Flat::new(coll)?;
        let rows = flat.element_rows();
        let offsets = OffsetBuffer::new(flat.offsets.clone().into());
        let nulls = Some(flat.valid.clone().into());
        match (ret, lambdas) {
            (DataType::List(item), [f]) => {
                let out = eval_lambda(f, &flat.columns, &rows)?;
                let out = cast_to(&out, item.data_type())?;
                Ok(Arc::new(ListArray::try_new(
                    Arc::clone(item),
                    offsets,
                    out,
                    nulls,
                )?))
            }
            (DataType::Map(entries, sorted), [fk, fv]) => {
                let (kf, vf) = map_kv(ret)?;
                let k = cast_to(&eval_lambda(fk, &flat.columns, &rows)?, kf.data_type())?;
                let v = cast_to(&eval_lambda(fv, &flat.columns, &rows)?, vf.data_type())?;
                if k.null_count() > 0 {
                    return exec_err!("TRANSFORM produced a null map key");
                }
                let s = StructArray::try_new(Fields::from(vec![kf, vf]), vec![k, v], None)?;
                Ok(Arc::new(MapArray::try_new(
                    Arc::clone(entries),
                    offsets,
                    s,
                    nulls,
                    *sorted,
                )?))
            }
            _ => exec_err!("TRANSFORM: unexpected arguments"),
        }
    }

    fn filter(&self, coll: &ArrayRef, lambda: &LambdaArgument, ret: &DataType) -> Result<ArrayRef> {
        let flat = Flat::new(coll)?;
        let rows = flat.element_rows();
        let keep = eval_lambda(lambda, &flat.columns, &rows)?;
        let Some(keep) = keep.as_boolean_opt() else {
            return exec_err!(
                "FILTER lambda must return BOOLEAN, got {}",
                keep.data_type()
            );
        };
        let picks: Vec<Option<Vec<u32>>> = (0..flat.rows())
            .map(|r| {
                let (s, e) = flat.range(r);
                flat.valid[r].then(|| {
                    (s..e)
                        .filter(|&k| keep.is_valid(k) && keep.value(k))
                        .map(|k| k as u32)
                        .collect()
                })
            })
            .collect();
        match ret {
            DataType::List(item) => select_list(Arc::clone(item), &flat.columns[0], picks),
            DataType::Map(entries, sorted) => {
                let (kf, vf) = map_kv(ret)?;
                let mut offsets = vec![0i32];
                let mut ix: Vec<u32> = vec![];
                for p in &picks {
                    ix.extend(p.iter().flatten());
                    offsets.push(ix.len() as i32);
                }
                let ix = UInt32Array::from(ix);
                let k = take(flat.columns[0].as_ref(), &ix, None)?;
                let v = take(flat.columns[1].as_ref(), &ix, None)?;
                let s = StructArray::try_new(Fields::from(vec![kf, vf]), vec![k, v], None)?;
                Ok(Arc::new(MapArray::try_new(
                    Arc::clone(entries),
                    OffsetBuffer::new(offsets.into()),
                    s,
                    Some(flat.valid.clone().into()),
                    *sorted,
                )?))
            }
            other => exec_err!("FILTER: unexpected return type {other}"),
        }
    }

    fn reduce(
        &self,
        coll: &ArrayRef,
        init: &ArrayRef,
        lambda: &LambdaArgument,
    ) -> Result<ArrayRef> {
        let flat = Flat::new(coll)?;
        let acc_type = init.data_type().clone();
        let mut acc = Arc::clone(init);
        let longest = (0..flat.rows())
            .map(|r| flat.range(r))
            .map(|(s, e)| e - s)
            .max()
            .unwrap_or(0);
        for step in 0..longest {
            // Rows that still have an element at this position (and a non-null state).
            let active: Vec<u32> = (0..flat.rows())
                .filter(|&r| {
                    let (s, e) = flat.range(r);
                    flat.valid[r] && e - s > step && acc.is_valid(r)
                })
                .map(|r| r as u32)
                .collect();
            if active.is_empty() {
                break;
            }
            let element_ix: UInt32Array = active
                .iter()
                .map(|&r| flat.offsets[r as usize] as u32 + step as u32)
                .collect();
            let active_rows = UInt32Array::from(active.clone());
            let mut params = vec![take(acc.as_ref(), &active_rows, None)?];
            for col in &flat.columns {
                params.push(take(col.as_ref(), &element_ix, None)?);
            }
            let next = cast_to(&eval_lambda(lambda, &params, &active_rows)?, &acc_type)?;
            let mut pos = 0usize;
            let picks: Vec<(usize, usize)> = (0..flat.rows())
                .map(|r| {
                    if active.get(pos) == Some(&(r as u32)) {
                        pos += 1;
                        (1, pos - 1)
                    } else {
                        (0, r)
                    }
                })
                .collect();
            acc = interleave(&[acc.as_ref(), next.as_ref()], &picks)?;
        }
        Ok(acc)
    }
}

impl HigherOrderUDFImpl for KsqlLambdaFn {
    fn name(&self) -> &str {
        &self.name
    }

    fn signature(&self) -> &HigherOrderSignature {
        &self.signature
    }

    fn coerce_value_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        let mut out = arg_types.to_vec();
        match out.first() {
            Some(DataType::Null) => out[0] = list_of(DataType::Null),
            Some(DataType::List(_) | DataType::Map(..)) => {}
            Some(other) => {
                return plan_err!(
                    "{} expects an ARRAY or MAP, got {other}",
                    self.name.to_uppercase()
                )
            }
            None => return plan_err!("{} expects a collection argument", self.name.to_uppercase()),
        }
        Ok(out)
    }

    fn lambda_parameters(
        &self,
        _step: usize,
        fields: &[ValueOrLambda<FieldRef, Option<FieldRef>>],
    ) -> Result<LambdaParametersProgress> {
        let values: Vec<&FieldRef> = fields
            .iter()
            .filter_map(|f| match f {
                ValueOrLambda::Value(v) => Some(v),
                ValueOrLambda::Lambda(_) => None,
            })
            .collect();
        let lambda_count = fields.len() - values.len();
        let Some(coll) = values.first() else {
            return plan_err!("{} expects a collection", self.name);
        };
        let element_params: Vec<FieldRef> = match coll.data_type() {
            DataType::List(item) => vec![field("x", item.data_type())],
            DataType::Map(..) => {
                let (k, v) = map_kv(coll.data_type())?;
                vec![field("k", k.data_type()), field("v", v.data_type())]
            }
            other => return plan_err!("{} expects an ARRAY or MAP, got {other}", self.name),
        };
        let is_map = element_params.len() == 2;
        let params = match self.kind {
            Kind::Transform => {
                let want = if is_map { 2 } else { 1 };
                if lambda_count != want || values.len() != 1 {
                    return plan_err!(
                        "TRANSFORM over {} expects {want} lambda(s)",
                        if is_map { "a MAP" } else { "an ARRAY" }
                    );
                }
                vec![element_params; want]
            }
            Kind::Filter => {
                if lambda_count != 1 || values.len() != 1 {
                    return plan_err!("FILTER expects a collection and one lambda");
                }
                vec![element_params]
            }
            Kind::Reduce => {
                if lambda_count != 1 || values.len() != 2 {
                    return plan_err!(
                        "REDUCE expects a collection, an initial state and one lambda"
                    );
                }
                let mut p = vec![field("acc", values[1].data_type())];
                p.extend(element_params);
                vec![p]
            }
        };
        Ok(LambdaParametersProgress::Complete(params))
    }

    fn return_field_from_args(&self, args: HigherOrderReturnFieldArgs) -> Result<FieldRef> {
        let mut values = vec![];
        let mut lambdas = vec![];
        for a in args.arg_fields {
            match a {
                ValueOrLambda::Value(v) => values.push(v),
                ValueOrLambda::Lambda(l) => lambdas.push(l),
            }
        }
        let Some(coll) = values.first() else {
            return plan_err!("{} expects a collection", self.name);
        };
        let t = match (self.kind, coll.data_type(), lambdas.as_slice()) {
            (Kind::Transform, DataType::List(_), [f]) => list_of(f.data_type().clone()),
            (Kind::Transform, DataType::Map(..), [fk, fv]) => {
                super::udf::map_of(fk.data_type().clone(), fv.data_type().clone())
            }
            (Kind::Filter, t, [_]) => t.clone(),
            (Kind::Reduce, _, [_]) => match values.get(1) {
                Some(init) => init.data_type().clone(),
                None => return plan_err!("REDUCE expects an initial state"),
            },
            _ => return plan_err!("{}: unsupported arguments", self.name.to_uppercase()),
        };
        Ok(field("", &t))
    }

    fn clear_null_values(&self) -> bool {
        false
    }

    fn invoke_with_args(&self, args: HigherOrderFunctionArgs) -> Result<ColumnarValue> {
        let (values, lambdas) = values_and_lambdas(&args)?;
        let ret = args.return_field.data_type();
        let Some(coll) = values.first() else {
            return exec_err!("{} expects a collection", self.name);
        };
        let out = match self.kind {
            Kind::Transform => self.transform(coll, &lambdas, ret)?,
            Kind::Filter => match lambdas.as_slice() {
                [f] => self.filter(coll, f, ret)?,
                _ => return exec_err!("FILTER expects one lambda"),
            },
            Kind::Reduce => match (values.get(1), lambdas.as_slice()) {
                (Some(init), [f]) => self.reduce(coll, &cast_to(init, ret)?, f)?,
                _ => return exec_err!("REDUCE expects an initial state and one lambda"),
            },
        };
        Ok(ColumnarValue::Array(out))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::array::{ArrayRef, Int32Array, ListArray};
    use arrow::datatypes::{DataType, Field, Int32Type, Schema};
    use datafusion::common::config::ConfigOptions;
    use datafusion::common::ScalarValue;
    use datafusion::logical_expr::Operator;
    use datafusion::logical_expr::{
        ColumnarValue, HigherOrderFunctionArgs, LambdaArgument, ValueOrLambda,
    };
    use datafusion::physical_expr::expressions::{BinaryExpr, Column, Literal};
    use datafusion::physical_expr::PhysicalExpr;

    use super::functions;
    use crate::functions::json::to_json_text;

    fn ints(rows: Vec<Option<Vec<Option<i32>>>>) -> ArrayRef {
        Arc::new(ListArray::from_iter_primitive::<Int32Type, _, _>(rows))
    }

    /// `col(idx) op literal` or `col(a) op col(b)` as a physical lambda body.
    fn bin(
        l: Arc<dyn PhysicalExpr>,
        op: Operator,
        r: Arc<dyn PhysicalExpr>,
    ) -> Arc<dyn PhysicalExpr> {
        Arc::new(BinaryExpr::new(l, op, r))
    }
    fn col(name: &str, i: usize) -> Arc<dyn PhysicalExpr> {
        Arc::new(Column::new(name, i))
    }
    fn lit(v: i32) -> Arc<dyn PhysicalExpr> {
        Arc::new(Literal::new(ScalarValue::Int32(Some(v))))
    }

    fn run(
        name: &str,
        values: Vec<ArrayRef>,
        params: Vec<Field>,
        body: Arc<dyn PhysicalExpr>,
        ret: DataType,
    ) -> Vec<String> {
        let f = functions()
            .into_iter()
            .find(|(n, _)| *n == name)
            .map(|(_, f)| f)
            .unwrap_or_else(|| panic!("{name}"));
        let rows = values[0].len();
        let params: Vec<_> = params.into_iter().map(Arc::new).collect();
        let used: Vec<usize> = (0..params.len()).collect();
        let _ = Schema::empty();
        let lambda = LambdaArgument::new(params, body, None, &used);
        let mut args: Vec<_> = values
            .into_iter()
            .map(|v| ValueOrLambda::Value(ColumnarValue::Array(v)))
            .collect();
        args.push(ValueOrLambda::Lambda(lambda));
        let out = f
            .inner()
            .invoke_with_args(HigherOrderFunctionArgs {
                args,
                arg_fields: vec![],
                number_rows: rows,
                return_field: Arc::new(Field::new("r", ret, true)),
                config_options: Arc::new(ConfigOptions::default()),
            })
            .unwrap_or_else(|e| panic!("{e}"))
            .to_array(rows)
            .unwrap_or_else(|e| panic!("{e}"));
        (0..rows).map(|i| to_json_text(&out, i)).collect()
    }

    #[test]
    fn filter_transform_reduce_arrays() {
        let nums = ints(vec![
            Some(vec![Some(3), Some(6), Some(2), Some(10)]),
            Some(vec![Some(5), None]),
            None,
        ]);
        let x = Field::new("x", DataType::Int32, true);
        let list_t = super::list_of(DataType::Int32);
        let r = run(
            "filter",
            vec![nums.clone()],
            vec![x.clone()],
            bin(col("x", 0), Operator::Gt, lit(5)),
            list_t.clone(),
        );
        assert_eq!(r, vec!["[6,10]", "[]", "null"]);
        let r = run(
            "transform",
            vec![nums.clone()],
            vec![x.clone()],
            bin(col("x", 0), Operator::Multiply, lit(2)),
            list_t,
        );
        assert_eq!(r, vec!["[6,12,4,20]", "[10,null]", "null"]);
        let init: ArrayRef = Arc::new(Int32Array::from(vec![Some(2), Some(2), Some(2)]));
        let acc = Field::new("s", DataType::Int32, true);
        let r = run(
            "reduce",
            vec![nums, init],
            vec![acc, x],
            bin(col("s", 0), Operator::Plus, col("x", 1)),
            DataType::Int32,
        );
        assert_eq!(r, vec!["23", "null", "2"]);
    }
}
