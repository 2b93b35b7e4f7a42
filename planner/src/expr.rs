//! ksql expressions -> DataFusion expressions.
//!
//! ksql syntax that DataFusion does not know is first rewritten on the sqlparser AST into calls
//! of internal functions (see [`crate::internal_udfs`]), identifiers are resolved the ksql way
//! (unquoted = upper case), and the result is planned by DataFusion's `SqlToRel`. A small
//! post-pass then gives literals ksql's types (integer literals are INT when they fit) and turns
//! cast placeholders into real casts.

use std::ops::ControlFlow;
use std::sync::Arc;

use arrow::datatypes::DataType;
use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::common::{DFSchema, ScalarValue};
use datafusion::logical_expr::expr::ScalarFunction;
use datafusion::logical_expr::{Cast, Expr, ExprSchemable, HigherOrderUDF, ScalarUDF, ScalarUDFImpl, Signature, Volatility};
use datafusion::sql::planner::{ParserOptions, PlannerContext, SqlToRel};
use runnel_parser::{SqlType, StructField};
use sqlparser::ast::{
    self as sql, AccessExpr, DataType as SqlDataType, FunctionArg, FunctionArgExpr, FunctionArguments, Ident,
    ObjectName, ObjectNamePart, Subscript, Value, ValueWithSpan,
};

use crate::context::KsqlContext;
use crate::error::{PlanError, Result};
use crate::internal_udfs::{MAKE_ARRAY, MAKE_MAP, NAMED_STRUCT, SUBSCRIPT};
use crate::types::{resolve_custom, to_arrow, TypeRegistry};

const CAST_PREFIX: &str = "__cast_";

/// The name ksql gives an identifier: upper case unless quoted.
pub fn ident_name(ident: &Ident) -> String {
    if ident.quote_style.is_some() {
        ident.value.clone()
    } else {
        ident.value.to_ascii_uppercase()
    }
}

/// Functions whose first argument is a time unit keyword (`TIMESTAMPADD(SECONDS, ...)`).
const UNIT_FIRST_FUNCTIONS: &[&str] = &["TIMESTAMPADD", "TIMESTAMPSUB", "DATEADD", "DATESUB", "TIMEADD", "TIMESUB"];

/// Plans ksql expressions against a schema.
pub struct ExprPlanner<'a> {
    context: &'a KsqlContext,
    types: &'a TypeRegistry,
}

impl<'a> ExprPlanner<'a> {
    pub fn new(context: &'a KsqlContext, types: &'a TypeRegistry) -> Self {
        ExprPlanner { context, types }
    }

    /// Plans one expression over `schema`.
    pub fn plan(&self, expr: &sql::Expr, schema: &DFSchema) -> Result<Expr> {
        let mut rewritten = expr.clone();
        let mut casts = Vec::new();
        self.rewrite(&mut rewritten, &mut casts)?;
        let provider = CastAwareContext { inner: self.context, casts: &casts };
        let options = ParserOptions { enable_ident_normalization: false, parse_float_as_decimal: true, ..ParserOptions::new() };
        let planner = SqlToRel::new_with_options(&provider, options);
        let planned = planner.sql_to_expr(rewritten, schema, &mut PlannerContext::new())?;
        finish(planned, &casts, schema)
    }

    /// Rewrites ksql-only syntax in place; cast targets are collected into `casts`.
    fn rewrite(&self, expr: &mut sql::Expr, casts: &mut Vec<DataType>) -> Result<()> {
        let flow = sql::visit_expressions_mut(expr, |e| match self.rewrite_one(e, casts) {
            Ok(()) => ControlFlow::Continue(()),
            Err(err) => ControlFlow::Break(err),
        });
        match flow {
            ControlFlow::Break(err) => Err(err),
            ControlFlow::Continue(()) => Ok(()),
        }
    }

    /// Called bottom-up on every node.
    fn rewrite_one(&self, e: &mut sql::Expr, casts: &mut Vec<DataType>) -> Result<()> {
        match e {
            sql::Expr::Identifier(ident) => {
                *ident = resolved_ident(ident);
            }
            sql::Expr::CompoundIdentifier(parts) => {
                for p in parts.iter_mut() {
                    *p = resolved_ident(p);
                }
            }
            sql::Expr::Value(ValueWithSpan { value: Value::Number(text, _), .. }) => {
                check_numeric_literal(text)?;
                // Exponent notation is a DOUBLE literal in ksql (others with a point are DECIMAL).
                if text.contains(['e', 'E']) {
                    casts.push(DataType::Float64);
                    let name = format!("{CAST_PREFIX}{}", casts.len() - 1);
                    let literal = string_lit(text);
                    *e = call(&name, vec![literal]);
                }
            }
            sql::Expr::BinaryOp { left, op: sql::BinaryOperator::Arrow, right } => {
                let field = match right.as_ref() {
                    sql::Expr::Identifier(id) => id.value.clone(),
                    other => return Err(PlanError::statement(format!("Expected a field name after '->', got {other}"))),
                };
                let base = std::mem::replace(left.as_mut(), sql::Expr::value(Value::Null));
                *e = call(crate::internal_udfs::GET_FIELD, vec![base, string_lit(&field)]);
            }
            sql::Expr::CompoundFieldAccess { root, access_chain } => {
                let mut acc = std::mem::replace(root.as_mut(), sql::Expr::value(Value::Null));
                for access in access_chain.drain(..) {
                    acc = match access {
                        AccessExpr::Subscript(Subscript::Index { index }) => call(SUBSCRIPT, vec![acc, index]),
                        AccessExpr::Dot(sql::Expr::Identifier(id)) => {
                            call(crate::internal_udfs::GET_FIELD, vec![acc, string_lit(&ident_name(&id))])
                        }
                        other => return Err(PlanError::unsupported(format!("Unsupported field access: {other}"))),
                    };
                }
                *e = acc;
            }
            sql::Expr::Array(array) => {
                let elems = std::mem::take(&mut array.elem);
                if !elems.is_empty() && elems.iter().all(is_null) {
                    return Err(PlanError::statement("Cannot construct an array with all NULL elements (see https://github.com/confluentinc/ksql/issues/4239). As a workaround, you may cast a NULL value to the desired type."));
                }
                *e = call(MAKE_ARRAY, elems);
            }
            sql::Expr::Cast { expr: inner, data_type, .. } => {
                let ksql = self.sql_data_type(data_type)?;
                casts.push(to_arrow(&ksql));
                let name = format!("{CAST_PREFIX}{}", casts.len() - 1);
                let inner = std::mem::replace(inner.as_mut(), sql::Expr::value(Value::Null));
                *e = call(&name, vec![inner]);
            }
            sql::Expr::Lambda(lambda) => {
                let params = match &mut lambda.params {
                    sql::OneOrManyWithParens::One(p) => std::slice::from_mut(p),
                    sql::OneOrManyWithParens::Many(ps) => ps.as_mut_slice(),
                };
                for p in params {
                    p.name = resolved_ident(&p.name);
                }
            }
            sql::Expr::Function(func) => self.rewrite_function(e_func_name(func), e)?,
            sql::Expr::BinaryOp { left, op, right } if is_comparison(op) => {
                if is_time_column(left) {
                    time_literal_to_millis(right)?;
                } else if is_time_column(right) {
                    time_literal_to_millis(left)?;
                }
            }
            sql::Expr::Between { expr: inner, low, high, .. } if is_time_column(inner) => {
                time_literal_to_millis(low)?;
                time_literal_to_millis(high)?;
            }
            _ => {}
        }
        Ok(())
    }

    fn rewrite_function(&self, name: String, e: &mut sql::Expr) -> Result<()> {
        let sql::Expr::Function(func) = e else { return Ok(()) };
        let FunctionArguments::List(list) = &mut func.args else { return Ok(()) };
        match name.as_str() {
            "STRUCT" => {
                let mut args = Vec::new();
                let mut seen = std::collections::HashSet::new();
                for arg in list.args.drain(..) {
                    let (field, value) = named_arg(arg, "STRUCT")?;
                    if !seen.insert(field.clone()) {
                        return Err(PlanError::statement(format!("Duplicate field names found in STRUCT: '{field}'")));
                    }
                    args.push(string_lit(&field));
                    args.push(value);
                }
                *e = call(NAMED_STRUCT, args);
            }
            "MAP" => {
                let mut keys = Vec::new();
                let mut values = Vec::new();
                for arg in list.args.drain(..) {
                    let (key, value) = match arg {
                        FunctionArg::ExprNamed { name, arg: FunctionArgExpr::Expr(v), .. } => (name, v),
                        FunctionArg::Named { name, arg: FunctionArgExpr::Expr(v), .. } => (string_lit(&name.value), v),
                        other => {
                            return Err(PlanError::statement(format!("MAP entries must be written key := value, got {other}")))
                        }
                    };
                    keys.push(key);
                    values.push(value);
                }
                if keys.is_empty() {
                    return Err(PlanError::statement("Map constructor cannot be empty. Please supply at least one key value pair (see https://github.com/confluentinc/ksql/issues/4239)."));
                }
                if keys.iter().all(is_null) {
                    return Err(PlanError::statement("Cannot construct a map with all NULL keys (see https://github.com/confluentinc/ksql/issues/4239). As a workaround, you may cast a NULL key to the desired type."));
                }
                if values.iter().all(is_null) {
                    return Err(PlanError::statement("Cannot construct a map with all NULL values (see https://github.com/confluentinc/ksql/issues/4239). As a workaround, you may cast a NULL value to the desired type."));
                }
                *e = call(MAKE_MAP, vec![call(MAKE_ARRAY, keys), call(MAKE_ARRAY, values)]);
            }
            n if UNIT_FIRST_FUNCTIONS.contains(&n) => {
                if let Some(FunctionArg::Unnamed(FunctionArgExpr::Expr(sql::Expr::Identifier(unit)))) = list.args.first_mut() {
                    let unit = unit.value.to_ascii_uppercase();
                    list.args[0] = FunctionArg::Unnamed(FunctionArgExpr::Expr(string_lit(&unit)));
                }
            }
            _ => {
                if self.context.scalar(&name).is_none()
                    && self.context.get_higher_order(&name).is_none()
                    && !self.context.is_aggregate(&name)
                {
                    return Err(PlanError::statement(format!("Can't find any functions with the name '{name}'")));
                }
            }
        }
        Ok(())
    }

    /// Converts a type written in an expression (CAST target) to a ksql type.
    pub fn sql_data_type(&self, dt: &SqlDataType) -> Result<SqlType> {
        let ty = sql_data_type_to_ksql(dt)?;
        resolve_custom(&ty, self.types)
    }
}

impl KsqlContext {
    fn get_higher_order(&self, name: &str) -> Option<Arc<HigherOrderUDF>> {
        datafusion::sql::planner::ContextProvider::get_higher_order_meta(self, name)
    }
}

fn e_func_name(func: &sql::Function) -> String {
    func.name
        .0
        .last()
        .and_then(|p| match p {
            ObjectNamePart::Identifier(id) => Some(id.value.to_ascii_uppercase()),
            _ => None,
        })
        .unwrap_or_default()
}

fn resolved_ident(ident: &Ident) -> Ident {
    Ident { value: ident_name(ident), quote_style: Some('"'), span: ident.span }
}

fn named_arg(arg: FunctionArg, what: &str) -> Result<(String, sql::Expr)> {
    match arg {
        FunctionArg::Named { name, arg: FunctionArgExpr::Expr(v), .. } => Ok((ident_name(&name), v)),
        FunctionArg::ExprNamed { name: sql::Expr::Identifier(name), arg: FunctionArgExpr::Expr(v), .. } => {
            Ok((ident_name(&name), v))
        }
        other => Err(PlanError::statement(format!("{what} fields must be written name := value, got {other}"))),
    }
}

fn call(name: &str, args: Vec<sql::Expr>) -> sql::Expr {
    sql::Expr::Function(sql::Function {
        name: ObjectName(vec![ObjectNamePart::Identifier(Ident::with_quote('"', name))]),
        uses_odbc_syntax: false,
        parameters: FunctionArguments::None,
        args: FunctionArguments::List(sql::FunctionArgumentList {
            duplicate_treatment: None,
            args: args.into_iter().map(|a| FunctionArg::Unnamed(FunctionArgExpr::Expr(a))).collect(),
            clauses: vec![],
        }),
        filter: None,
        null_treatment: None,
        over: None,
        within_group: vec![],
    })
}

fn is_comparison(op: &sql::BinaryOperator) -> bool {
    use sql::BinaryOperator as B;
    matches!(op, B::Eq | B::NotEq | B::Lt | B::LtEq | B::Gt | B::GtEq)
}

/// ROWTIME, WINDOWSTART and WINDOWEND compare with timestamp strings ("magic" conversion).
fn is_time_column(e: &sql::Expr) -> bool {
    let name = match e {
        sql::Expr::Identifier(id) => &id.value,
        sql::Expr::CompoundIdentifier(parts) => match parts.last() {
            Some(id) => &id.value,
            None => return false,
        },
        _ => return false,
    };
    matches!(name.as_str(), "ROWTIME" | "WINDOWSTART" | "WINDOWEND")
}

/// Replaces a string literal with its epoch milliseconds.
fn time_literal_to_millis(e: &mut sql::Expr) -> Result<()> {
    if let sql::Expr::Value(ValueWithSpan { value: Value::SingleQuotedString(text), .. }) = e {
        let ms = parse_partial_timestamp(text).ok_or_else(|| {
            PlanError::statement(format!("Failed to parse timestamp '{text}': expected yyyy-MM-dd'T'HH:mm:ss.SSS with optional parts and zone"))
        })?;
        *e = sql::Expr::value(Value::Number(ms.to_string(), false));
    }
    Ok(())
}

/// `yyyy[-MM[-dd[THH[:mm[:ss[.fff]]]]]][Z|+HHMM|+HH:MM]`, missing parts at their minimum, UTC by default.
pub fn parse_partial_timestamp(text: &str) -> Option<i64> {
    let text = text.trim();
    let (body, offset_secs) = split_zone(text)?;
    let (date, time) = match body.split_once('T') {
        Some((d, t)) => (d, t),
        None => (body, ""),
    };
    let mut d = date.split('-');
    let year: i32 = d.next()?.parse().ok()?;
    let month: u32 = d.next().map_or(Some(1), |m| m.parse().ok())?;
    let day: u32 = d.next().map_or(Some(1), |m| m.parse().ok())?;
    let (hms, frac) = match time.split_once('.') {
        Some((a, b)) => (a, b),
        None => (time, ""),
    };
    let mut t = hms.split(':').filter(|p| !p.is_empty());
    let hour: u32 = t.next().map_or(Some(0), |v| v.parse().ok())?;
    let minute: u32 = t.next().map_or(Some(0), |v| v.parse().ok())?;
    let second: u32 = t.next().map_or(Some(0), |v| v.parse().ok())?;
    let millis: i64 = if frac.is_empty() { 0 } else { format!("{frac:0<3}")[..3].parse().ok()? };
    // Hour 24 is midnight at the end of the day (ksqlDB's partial timestamps accept it).
    let (hour, extra_day) = if hour == 24 && minute == 0 && second == 0 && millis == 0 { (0, 1) } else { (hour, 0) };
    let dt = chrono::NaiveDate::from_ymd_opt(year, month, day)?.and_hms_opt(hour, minute, second)?;
    Some(dt.and_utc().timestamp_millis() + extra_day * 86_400_000 + millis - offset_secs * 1000)
}

fn split_zone(text: &str) -> Option<(&str, i64)> {
    if let Some(body) = text.strip_suffix('Z') {
        return Some((body, 0));
    }
    // A sign after the date part starts a zone offset.
    let search_from = text.find('T').unwrap_or(text.len());
    match text[search_from..].find(['+', '-']) {
        None => Some((text, 0)),
        Some(rel) => {
            let at = search_from + rel;
            let sign = if &text[at..at + 1] == "-" { -1 } else { 1 };
            let digits: String = text[at + 1..].chars().filter(|c| c.is_ascii_digit()).collect();
            if digits.len() != 4 && digits.len() != 2 {
                return None;
            }
            let hours: i64 = digits[..2].parse().ok()?;
            let minutes: i64 = if digits.len() == 4 { digits[2..].parse().ok()? } else { 0 };
            Some((&text[..at], sign * (hours * 3600 + minutes * 60)))
        }
    }
}

/// Whether `e` is the literal NULL.
pub fn is_null(e: &sql::Expr) -> bool {
    matches!(e, sql::Expr::Value(ValueWithSpan { value: Value::Null, .. }))
}

fn string_lit(s: &str) -> sql::Expr {
    sql::Expr::value(Value::SingleQuotedString(s.to_string()))
}

/// ksql rejects integer literals outside BIGINT and decimals outside DOUBLE.
fn check_numeric_literal(text: &str) -> Result<()> {
    let is_integer = text.bytes().all(|b| b.is_ascii_digit() || b == b'-' || b == b'+');
    if is_integer {
        if text.parse::<i64>().is_err() {
            return Err(PlanError::statement(format!("Invalid numeric literal: {text}")));
        }
    } else {
        match text.parse::<f64>() {
            Ok(v) if v.is_infinite() => {
                return Err(PlanError::statement(format!("Number overflows DOUBLE: {text}")));
            }
            Ok(_) => {}
            Err(_) => return Err(PlanError::statement(format!("Invalid numeric literal: {text}"))),
        }
    }
    Ok(())
}

/// sqlparser's type AST -> ksql type.
pub fn sql_data_type_to_ksql(dt: &SqlDataType) -> Result<SqlType> {
    use sqlparser::ast::{ArrayElemTypeDef, ExactNumberInfo};
    Ok(match dt {
        SqlDataType::Boolean | SqlDataType::Bool => SqlType::Boolean,
        SqlDataType::Int(_) | SqlDataType::Integer(_) | SqlDataType::Int32 => SqlType::Int,
        SqlDataType::BigInt(_) | SqlDataType::Int64 => SqlType::Bigint,
        SqlDataType::Double(_) | SqlDataType::DoublePrecision | SqlDataType::Float64 => SqlType::Double,
        SqlDataType::Decimal(info) | SqlDataType::Numeric(info) | SqlDataType::Dec(info) => match info {
            ExactNumberInfo::PrecisionAndScale(p, s) => SqlType::Decimal { precision: *p as u8, scale: *s as u8 },
            ExactNumberInfo::Precision(p) => SqlType::Decimal { precision: *p as u8, scale: 0 },
            ExactNumberInfo::None => return Err(PlanError::statement("DECIMAL requires a precision and scale")),
        },
        SqlDataType::String(_) | SqlDataType::Varchar(_) | SqlDataType::Text | SqlDataType::CharVarying(_) => SqlType::String,
        SqlDataType::Bytes(_) | SqlDataType::Bytea | SqlDataType::Varbinary(_) | SqlDataType::Blob(_) => SqlType::Bytes,
        SqlDataType::Timestamp(_, _) => SqlType::Timestamp,
        SqlDataType::Date => SqlType::Date,
        SqlDataType::Time(_, _) => SqlType::Time,
        SqlDataType::Array(ArrayElemTypeDef::AngleBracket(inner))
        | SqlDataType::Array(ArrayElemTypeDef::SquareBracket(inner, _))
        | SqlDataType::Array(ArrayElemTypeDef::Parenthesis(inner)) => SqlType::Array(Box::new(sql_data_type_to_ksql(inner)?)),
        SqlDataType::Map(k, v) => SqlType::Map(Box::new(sql_data_type_to_ksql(k)?), Box::new(sql_data_type_to_ksql(v)?)),
        SqlDataType::Struct(fields, _) => SqlType::Struct(
            fields
                .iter()
                .map(|f| {
                    let name = f.field_name.as_ref().map(ident_name).unwrap_or_default();
                    Ok(StructField { name, data_type: sql_data_type_to_ksql(&f.field_type)? })
                })
                .collect::<Result<_>>()?,
        ),
        SqlDataType::Custom(name, _) => {
            let n = name.0.last().map(|p| match p {
                ObjectNamePart::Identifier(id) => ident_name(id),
                other => other.to_string(),
            });
            let n = n.unwrap_or_default();
            match n.as_str() {
                "STRING" | "VARCHAR" => SqlType::String,
                "BYTES" => SqlType::Bytes,
                "INT" | "INTEGER" => SqlType::Int,
                "BIGINT" => SqlType::Bigint,
                "DOUBLE" => SqlType::Double,
                "BOOLEAN" => SqlType::Boolean,
                _ => SqlType::Custom(n),
            }
        }
        other => return Err(PlanError::statement(format!("Unknown type: {other}"))),
    })
}

/// Post-pass over a planned expression: cast placeholders -> casts; INT-sized literals -> INT.
fn finish(expr: Expr, casts: &[DataType], schema: &DFSchema) -> Result<Expr> {
    let out = expr.transform_up(|e| {
        Ok(match e {
            Expr::ScalarFunction(ScalarFunction { func, mut args }) if func.name().starts_with(CAST_PREFIX) => {
                let idx: usize = func.name()[CAST_PREFIX.len()..].parse().unwrap_or(usize::MAX);
                match (casts.get(idx), args.pop()) {
                    (Some(target), Some(arg)) => Transformed::yes(Expr::Cast(Cast::new(Box::new(arg), target.clone()))),
                    (_, arg) => {
                        let args = arg.into_iter().collect();
                        Transformed::no(Expr::ScalarFunction(ScalarFunction { func, args }))
                    }
                }
            }
            // ksql concatenates strings with `+` too.
            Expr::BinaryExpr(b)
                if b.op == datafusion::logical_expr::Operator::Plus
                    && [&b.left, &b.right].iter().any(|side| matches!(side.get_type(schema), Ok(DataType::Utf8 | DataType::Utf8View))) =>
            {
                Transformed::yes(Expr::BinaryExpr(datafusion::logical_expr::BinaryExpr::new(
                    b.left,
                    datafusion::logical_expr::Operator::StringConcat,
                    b.right,
                )))
            }
            Expr::Literal(ScalarValue::Int64(Some(v)), meta) if i32::try_from(v).is_ok() => {
                Transformed::yes(Expr::Literal(ScalarValue::Int32(Some(v as i32)), meta))
            }
            other => Transformed::no(other),
        })
    })?;
    Ok(out.data)
}

/// A [`KsqlContext`] that also resolves the cast placeholders of one expression.
struct CastAwareContext<'a> {
    inner: &'a KsqlContext,
    casts: &'a [DataType],
}

impl datafusion::sql::planner::ContextProvider for CastAwareContext<'_> {
    fn get_table_source(
        &self,
        name: datafusion::common::TableReference,
    ) -> datafusion::error::Result<Arc<dyn datafusion::logical_expr::TableSource>> {
        self.inner.get_table_source(name)
    }
    fn get_function_meta(&self, name: &str) -> Option<Arc<ScalarUDF>> {
        if let Some(idx) = name.strip_prefix(CAST_PREFIX) {
            let idx: usize = idx.parse().ok()?;
            let target = self.casts.get(idx)?.clone();
            return Some(Arc::new(ScalarUDF::new_from_impl(CastPlaceholder::new(name.to_string(), target))));
        }
        self.inner.get_function_meta(name)
    }
    fn get_higher_order_meta(&self, name: &str) -> Option<Arc<HigherOrderUDF>> {
        self.inner.get_higher_order_meta(name)
    }
    fn get_aggregate_meta(&self, name: &str) -> Option<Arc<datafusion::logical_expr::AggregateUDF>> {
        self.inner.get_aggregate_meta(name)
    }
    fn get_window_meta(&self, name: &str) -> Option<Arc<datafusion::logical_expr::WindowUDF>> {
        self.inner.get_window_meta(name)
    }
    fn get_variable_type(&self, names: &[String]) -> Option<DataType> {
        self.inner.get_variable_type(names)
    }
    fn options(&self) -> &datafusion::common::config::ConfigOptions {
        self.inner.options()
    }
    fn udf_names(&self) -> Vec<String> {
        self.inner.udf_names()
    }
    fn higher_order_function_names(&self) -> Vec<String> {
        self.inner.higher_order_function_names()
    }
    fn udaf_names(&self) -> Vec<String> {
        self.inner.udaf_names()
    }
    fn udwf_names(&self) -> Vec<String> {
        self.inner.udwf_names()
    }
}

/// Stands for `CAST(x AS target)` during SQL planning; replaced by a real cast in [`finish`].
#[derive(Debug, PartialEq, Eq, Hash)]
struct CastPlaceholder {
    name: String,
    target: DataType,
    signature: Signature,
}

impl CastPlaceholder {
    fn new(name: String, target: DataType) -> Self {
        CastPlaceholder { name, target, signature: Signature::any(1, Volatility::Immutable) }
    }
}

impl ScalarUDFImpl for CastPlaceholder {
    fn name(&self) -> &str {
        &self.name
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, _args: &[DataType]) -> datafusion::error::Result<DataType> {
        Ok(self.target.clone())
    }
    fn invoke_with_args(
        &self,
        _args: datafusion::logical_expr::ScalarFunctionArgs,
    ) -> datafusion::error::Result<datafusion::logical_expr::ColumnarValue> {
        datafusion::common::internal_err!("cast placeholder {} was not replaced", self.name)
    }
}

#[cfg(test)]
mod tests {
    use super::parse_partial_timestamp;

    #[test]
    fn partial_timestamps_fill_missing_parts_and_apply_zones() {
        assert_eq!(parse_partial_timestamp("2018"), Some(1_514_764_800_000));
        assert_eq!(parse_partial_timestamp("2018-01-01T00:00:00.001"), Some(1_514_764_800_001));
        assert_eq!(parse_partial_timestamp("2018-01-01T00:00:01"), Some(1_514_764_801_000));
        assert_eq!(parse_partial_timestamp("2020-02-10T08:31:44.011+0000"), Some(1_581_323_504_011));
        assert_eq!(parse_partial_timestamp("2019-01-01T00:00:00+0445"), Some(1_546_300_800_000 - 17_100_000));
        assert_eq!(parse_partial_timestamp("not a time"), None);
    }
}
