//! ksqlDB ARRAY and MAP functions: ARRAY_CONTAINS, ARRAY_DISTINCT, ARRAY_EXCEPT,
//! ARRAY_INTERSECT, ARRAY_UNION, ARRAY_JOIN, ARRAY_LENGTH, ARRAY_MAX, ARRAY_MIN, ARRAY_REMOVE,
//! ARRAY_SORT, ARRAY_CONCAT, SLICE, AS_MAP, MAP_KEYS, MAP_VALUES, MAP_UNION, ENTRIES.
//!
//! Element-generic functions never look at element values directly: elements are row-encoded
//! (`arrow::row`) for equality/ordering and results are built by selecting element indices
//! ([`select_list`]), so they work for any element type, nested ones included.

use std::borrow::Cow;
use std::collections::HashSet;
use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, Int32Array, ListArray, MapArray, StructArray,
};
use arrow::buffer::{NullBuffer, OffsetBuffer};
use arrow::compute::SortOptions;
use arrow::datatypes::{DataType, Field, Fields, Int32Type};
use arrow::row::{RowConverter, SortField};
use datafusion::common::{exec_err, plan_err, Result};

use super::json::to_json_text;
use super::udf::*;

/// Registers the collection family.
pub fn functions() -> Vec<Named> {
    vec![
        array_contains(),
        array_distinct(),
        set_op("array_except", SetOp::Except),
        set_op("array_intersect", SetOp::Intersect),
        set_op("array_union", SetOp::Union),
        array_join(),
        array_length(),
        array_extreme("array_max", true),
        array_extreme("array_min", false),
        array_remove(),
        array_sort(),
        array_concat(),
        slice(),
        as_map(),
        map_keys(),
        map_values(),
        map_union(),
        entries(),
    ]
}

/// Element ranges `[start, end)` of each row of a list.
fn ranges(l: &ListArray) -> impl Iterator<Item = Option<(usize, usize)>> + '_ {
    let o = l.value_offsets();
    (0..l.len()).map(move |i| l.is_valid(i).then(|| (o[i] as usize, o[i + 1] as usize)))
}

fn item_field(l: &ListArray) -> Arc<Field> {
    match l.data_type() {
        DataType::List(f) => Arc::clone(f),
        _ => Arc::new(Field::new("item", l.values().data_type().clone(), true)),
    }
}

/// `(ARRAY<T>, T)`: the second argument takes the element type (or the array adopts it).
fn coerce_array_and_item(t: &[DataType]) -> Result<Vec<DataType>> {
    match t {
        [DataType::Null, DataType::Null] => Ok(vec![list_of(DataType::Null), DataType::Null]),
        [DataType::Null, x] => Ok(vec![list_of(x.clone()), x.clone()]),
        [l @ DataType::List(f), x] => {
            let item = f.data_type();
            if x == item || *x == DataType::Null {
                Ok(vec![l.clone(), item.clone()])
            } else {
                let common = common_type(&[item.clone(), x.clone()])?;
                Ok(vec![list_of(common.clone()), common])
            }
        }
        _ => plan_err!("expected (ARRAY, element) arguments, got {t:?}"),
    }
}

/// Two arrays of one common element type.
fn coerce_arrays(t: &[DataType]) -> Result<Vec<DataType>> {
    if t.len() != 2 {
        return plan_err!("expected 2 ARRAY arguments, got {}", t.len());
    }
    let items = t.iter().map(item_type).collect::<Result<Vec<_>>>()?;
    let common = common_type(&items).or_else(|e| {
        let non_null: Vec<_> = items.iter().filter(|x| **x != DataType::Null).collect();
        match non_null.first() {
            Some(f) if non_null.iter().all(|x| x == f) => Ok((*f).clone()),
            _ => Err(e),
        }
    })?;
    Ok(vec![list_of(common); t.len()])
}

fn array_contains() -> Named {
    udf("array_contains")
        .sig([P::List, P::Any], R::T(DataType::Boolean))
        .coerce(coerce_array_and_item)
        .invoke(|c| {
            let l = list_arg(&c.args[0])?;
            let needle = cast_to(&c.args[1], l.values().data_type())?;
            let rows = row_encode(&[l.values(), &needle])?;
            let out: BooleanArray = ranges(l)
                .enumerate()
                .map(|(i, r)| {
                    Some(r.is_some_and(|(s, e)| {
                        (s..e).any(|k| {
                            (needle.is_null(i) && l.values().is_null(k))
                                || (needle.is_valid(i)
                                    && l.values().is_valid(k)
                                    && rows[0].row(k) == rows[1].row(i))
                        })
                    }))
                })
                .collect();
            Ok(Arc::new(out))
        })
}

fn array_distinct() -> Named {
    udf("array_distinct").sig([P::List], R::Arg(0)).invoke(|c| {
        let l = list_arg(&c.args[0])?;
        let rows = row_encode(&[l.values()])?;
        let picks = ranges(l).map(|r| {
            r.map(|(s, e)| {
                let mut seen = HashSet::new();
                (s..e)
                    .filter(|&k| seen.insert(rows[0].row(k)))
                    .map(|k| k as u32)
                    .collect()
            })
        });
        select_list(item_field(l), l.values(), picks.collect::<Vec<_>>())
    })
}

#[derive(Clone, Copy)]
enum SetOp {
    Except,
    Intersect,
    Union,
}

fn set_op(name: &'static str, op: SetOp) -> Named {
    udf(name)
        .sig([P::List, P::List], R::Arg(0))
        .coerce(coerce_arrays)
        .invoke(move |c| {
            let (a, b) = (list_arg(&c.args[0])?, list_arg(&c.args[1])?);
            // Concatenate both value arrays so one row encoding and one `take` serve both.
            let values = arrow::compute::concat(&[a.values().as_ref(), b.values().as_ref()])?;
            let rows = row_encode(&[&values])?;
            let off = a.values().len();
            let picks: Vec<Option<Vec<u32>>> = ranges(a)
                .zip(ranges(b))
                .map(|(ra, rb)| {
                    let ((sa, ea), (sb, eb)) = (ra?, rb?);
                    let in_b: HashSet<_> = (sb + off..eb + off).map(|k| rows[0].row(k)).collect();
                    let mut seen = HashSet::new();
                    let mut out = vec![];
                    for k in sa..ea {
                        let r = rows[0].row(k);
                        let keep = match op {
                            SetOp::Except => !in_b.contains(&r),
                            SetOp::Intersect => in_b.contains(&r),
                            SetOp::Union => true,
                        };
                        if keep && seen.insert(r) {
                            out.push(k as u32);
                        }
                    }
                    if let SetOp::Union = op {
                        for k in sb + off..eb + off {
                            if seen.insert(rows[0].row(k)) {
                                out.push(k as u32);
                            }
                        }
                    }
                    Some(out)
                })
                .collect();
            select_list(item_field(a), &values, picks)
        })
}

/// Element text for ARRAY_JOIN: strings raw, everything else as JSON-ish text, null "null".
fn element_text(a: &ArrayRef, k: usize) -> String {
    match a.data_type() {
        DataType::Utf8 if a.is_valid(k) => a.as_string::<i32>().value(k).to_string(),
        _ => to_json_text(a, k),
    }
}

fn array_join() -> Named {
    udf("array_join")
        .sig([P::List], R::T(DataType::Utf8))
        .sig([P::List, STR], R::T(DataType::Utf8))
        .invoke(|c| {
            let l = list_arg(&c.args[0])?;
            if matches!(
                l.values().data_type(),
                DataType::List(_) | DataType::Map(..) | DataType::Struct(_)
            ) {
                return exec_err!("ARRAY_JOIN only supports arrays of primitive types");
            }
            let delim = c.args.get(1).map(str_arg).transpose()?;
            let rs: Vec<_> = ranges(l).collect();
            collect_str(c.rows, |i| {
                let Some((s, e)) = rs[i] else { return Ok(None) };
                let d = match delim {
                    None => ",",
                    Some(d) => get(d, i).unwrap_or(""),
                };
                let parts: Vec<String> = (s..e).map(|k| element_text(l.values(), k)).collect();
                Ok(Some(Cow::Owned(parts.join(d))))
            })
        })
}

fn array_length() -> Named {
    udf("array_length")
        .sig([P::List], R::T(DataType::Int32))
        .invoke(|c| {
            let l = list_arg(&c.args[0])?;
            Ok(Arc::new(
                ranges(l)
                    .map(|r| r.map(|(s, e)| (e - s) as i32))
                    .collect::<Int32Array>(),
            ))
        })
}

fn array_extreme(name: &'static str, max: bool) -> Named {
    udf(name)
        .sig([P::List], R::F(|t| item_type(&t[0])))
        .invoke(move |c| {
            let l = list_arg(&c.args[0])?;
            let rows = row_encode(&[l.values()])?;
            let vals = l.values();
            let idx: Vec<Option<u32>> = ranges(l)
                .map(|r| {
                    let (s, e) = r?;
                    let valid = (s..e).filter(|&k| vals.is_valid(k));
                    let best = if max {
                        valid.max_by(|&x, &y| rows[0].row(x).cmp(&rows[0].row(y)))
                    } else {
                        valid.min_by(|&x, &y| rows[0].row(x).cmp(&rows[0].row(y)))
                    };
                    best.map(|k| k as u32)
                })
                .collect();
            Ok(arrow::compute::take(
                vals.as_ref(),
                &arrow::array::UInt32Array::from(idx),
                None,
            )?)
        })
}

fn array_remove() -> Named {
    udf("array_remove")
        .sig([P::List, P::Any], R::Arg(0))
        .coerce(coerce_array_and_item)
        .invoke(|c| {
            let l = list_arg(&c.args[0])?;
            let victim = cast_to(&c.args[1], l.values().data_type())?;
            let rows = row_encode(&[l.values(), &victim])?;
            let vals = l.values();
            let picks: Vec<_> = ranges(l)
                .enumerate()
                .map(|(i, r)| {
                    r.map(|(s, e)| {
                        (s..e)
                            .filter(|&k| {
                                let equal = if victim.is_null(i) {
                                    vals.is_null(k)
                                } else {
                                    vals.is_valid(k) && rows[0].row(k) == rows[1].row(i)
                                };
                                !equal
                            })
                            .map(|k| k as u32)
                            .collect()
                    })
                })
                .collect();
            select_list(item_field(l), vals, picks)
        })
}

fn array_sort() -> Named {
    udf("array_sort")
        .sig([P::List], R::Arg(0))
        .sig([P::List, STR], R::Arg(0))
        .invoke(|c| {
            let l = list_arg(&c.args[0])?;
            let dir = c.args.get(1).map(str_arg).transpose()?;
            let vals = l.values();
            let sort_rows = |descending: bool| -> Result<arrow::row::Rows> {
                let conv = RowConverter::new(vec![SortField::new_with_options(
                    vals.data_type().clone(),
                    SortOptions {
                        descending,
                        nulls_first: false,
                    },
                )])?;
                Ok(conv.convert_columns(&[Arc::clone(vals)])?)
            };
            let (asc, desc) = (sort_rows(false)?, sort_rows(true)?);
            let mut picks = Vec::with_capacity(c.rows);
            for (i, r) in ranges(l).enumerate() {
                let descending = match dir.map(|d| get(d, i)) {
                    None => false,
                    Some(None) => {
                        picks.push(None);
                        continue;
                    }
                    Some(Some(d)) => match d.to_ascii_uppercase().as_str() {
                        "ASC" => false,
                        "DESC" => true,
                        _ => {
                            picks.push(None);
                            continue;
                        }
                    },
                };
                let rows = if descending { &desc } else { &asc };
                picks.push(r.map(|(s, e)| {
                    let mut ix: Vec<u32> = (s as u32..e as u32).collect();
                    ix.sort_by(|&x, &y| rows.row(x as usize).cmp(&rows.row(y as usize)));
                    ix
                }));
            }
            select_list(item_field(l), vals, picks)
        })
}

fn array_concat() -> Named {
    udf("array_concat")
        .sig([P::List, P::List], R::Arg(0))
        .coerce(coerce_arrays)
        .invoke(|c| {
            let (a, b) = (list_arg(&c.args[0])?, list_arg(&c.args[1])?);
            let values = arrow::compute::concat(&[a.values().as_ref(), b.values().as_ref()])?;
            let off = a.values().len() as u32;
            let picks: Vec<_> = ranges(a)
                .zip(ranges(b))
                .map(|(ra, rb)| {
                    if ra.is_none() && rb.is_none() {
                        return None;
                    }
                    let mut out: Vec<u32> = ra
                        .map(|(s, e)| (s as u32..e as u32).collect())
                        .unwrap_or_default();
                    if let Some((s, e)) = rb {
                        out.extend(s as u32 + off..e as u32 + off);
                    }
                    Some(out)
                })
                .collect();
            select_list(item_field(a), &values, picks)
        })
}

fn slice() -> Named {
    udf("slice")
        .sig([P::List, INT, INT], R::Arg(0))
        .invoke(|c| {
            let l = list_arg(&c.args[0])?;
            let (from, to) = (
                prim_arg::<Int32Type>(&c.args[1])?,
                prim_arg::<Int32Type>(&c.args[2])?,
            );
            let picks: Vec<_> = ranges(l)
                .enumerate()
                .map(|(i, r)| {
                    let (s, e) = r?;
                    let (f, t) = (get(from, i)?, get(to, i)?);
                    let len = (e - s) as i64;
                    let start = (i64::from(f) - 1).max(0);
                    let end = i64::from(t).min(len);
                    Some(
                        (start..end.max(start))
                            .map(|k| (s as i64 + k) as u32)
                            .collect(),
                    )
                })
                .collect();
            select_list(item_field(l), l.values(), picks)
        })
}

/// Builds a MAP column from per-row `(key index, value index)` entry lists.
fn build_map(
    ret: &DataType,
    keys: &ArrayRef,
    values: &ArrayRef,
    per_row: Vec<Option<Vec<(u32, u32)>>>,
) -> Result<ArrayRef> {
    let (kf, vf) = map_kv(ret)?;
    let mut offsets = vec![0i32];
    let (mut kix, mut vix) = (vec![], vec![]);
    let mut valid = vec![];
    for r in per_row {
        valid.push(r.is_some());
        for (k, v) in r.unwrap_or_default() {
            kix.push(k);
            vix.push(v);
        }
        offsets.push(kix.len() as i32);
    }
    let take = |a: &ArrayRef, ix: Vec<u32>| {
        arrow::compute::take(a.as_ref(), &arrow::array::UInt32Array::from(ix), None)
    };
    let k = cast_to(&take(keys, kix)?, kf.data_type())?;
    let v = cast_to(&take(values, vix)?, vf.data_type())?;
    let entries = StructArray::try_new(Fields::from(vec![kf, vf]), vec![k, v], None)?;
    let DataType::Map(ef, sorted) = ret else {
        return exec_err!("expected MAP return type");
    };
    Ok(Arc::new(MapArray::try_new(
        Arc::clone(ef),
        OffsetBuffer::new(offsets.into()),
        entries,
        Some(NullBuffer::from(valid)),
        *sorted,
    )?))
}

/// Per-row entries of `keys` (with the last occurrence of a duplicate key winning).
fn dedup_keys_last_wins(key_rows: &arrow::row::Rows, keys: &ArrayRef, ix: Vec<u32>) -> Vec<u32> {
    let mut out: Vec<u32> = vec![];
    for k in ix {
        if keys.is_null(k as usize) {
            continue;
        }
        let r = key_rows.row(k as usize);
        match out.iter().position(|&o| key_rows.row(o as usize) == r) {
            Some(p) => out[p] = k,
            None => out.push(k),
        }
    }
    out
}

fn as_map() -> Named {
    udf("as_map")
        .sig(
            [P::List, P::List],
            R::F(|t| Ok(map_of(DataType::Utf8, item_type(&t[1])?))),
        )
        .coerce(|t| match t {
            [k, v] => Ok(vec![
                list_of(DataType::Utf8),
                if *v == DataType::Null {
                    list_of(DataType::Null)
                } else {
                    v.clone()
                },
            ])
            .and_then(|x| {
                item_type(k)?;
                Ok(x)
            }),
            _ => plan_err!("AS_MAP expects 2 arrays"),
        })
        .invoke(|c| {
            let (k, v) = (list_arg(&c.args[0])?, list_arg(&c.args[1])?);
            let rows = row_encode(&[k.values()])?;
            let per_row: Vec<_> = ranges(k)
                .zip(ranges(v))
                .map(|(rk, rv)| {
                    let ((ks, ke), (vs, ve)) = (rk?, rv?);
                    let n = (ke - ks).min(ve - vs) as u32;
                    let chosen = dedup_keys_last_wins(
                        &rows[0],
                        k.values(),
                        (ks as u32..ks as u32 + n).collect(),
                    );
                    Some(
                        chosen
                            .into_iter()
                            .map(|x| (x, x - ks as u32 + vs as u32))
                            .collect(),
                    )
                })
                .collect();
            build_map(c.ret, k.values(), v.values(), per_row)
        })
}

/// Entry ranges of a map column.
fn map_ranges(m: &MapArray) -> impl Iterator<Item = Option<(usize, usize)>> + '_ {
    let o = m.value_offsets();
    (0..m.len()).map(move |i| m.is_valid(i).then(|| (o[i] as usize, o[i + 1] as usize)))
}

fn map_part(name: &'static str, keys: bool) -> Named {
    udf(name)
        .sig(
            [P::Map],
            R::F(if keys {
                |t| Ok(list_of(map_kv(&t[0])?.0.data_type().clone()))
            } else {
                |t| Ok(list_of(map_kv(&t[0])?.1.data_type().clone()))
            }),
        )
        .invoke(move |c| {
            let m = map_arg(&c.args[0])?;
            let part = if keys { m.keys() } else { m.values() };
            let picks: Vec<_> = map_ranges(m)
                .map(|r| r.map(|(s, e)| (s as u32..e as u32).collect()))
                .collect();
            select_list(
                Arc::new(Field::new("item", part.data_type().clone(), true)),
                part,
                picks,
            )
        })
}

fn map_keys() -> Named {
    map_part("map_keys", true)
}

fn map_values() -> Named {
    map_part("map_values", false)
}

fn map_union() -> Named {
    udf("map_union")
        .sig([P::Map, P::Map], R::Arg(0))
        .coerce(|t| match t {
            [DataType::Null, m] | [m, DataType::Null] => Ok(vec![m.clone(), m.clone()]),
            [a, b] if a == b => Ok(vec![a.clone(), b.clone()]),
            [a, b] => {
                let ((ka, va), (kb, vb)) = (map_kv(a)?, map_kv(b)?);
                let k = common_type(&[ka.data_type().clone(), kb.data_type().clone()])?;
                let v = common_type(&[va.data_type().clone(), vb.data_type().clone()])?;
                Ok(vec![map_of(k.clone(), v.clone()), map_of(k, v)])
            }
            _ => plan_err!("MAP_UNION expects 2 maps"),
        })
        .invoke(|c| {
            let (a, b) = (map_arg(&c.args[0])?, map_arg(&c.args[1])?);
            let keys = arrow::compute::concat(&[a.keys().as_ref(), b.keys().as_ref()])?;
            let values = arrow::compute::concat(&[a.values().as_ref(), b.values().as_ref()])?;
            let rows = row_encode(&[&keys])?;
            let off = a.keys().len() as u32;
            let per_row: Vec<_> = map_ranges(a)
                .zip(map_ranges(b))
                .map(|(ra, rb)| {
                    if ra.is_none() && rb.is_none() {
                        return None;
                    }
                    let mut ix: Vec<u32> = ra
                        .map(|(s, e)| (s as u32..e as u32).collect())
                        .unwrap_or_default();
                    if let Some((s, e)) = rb {
                        ix.extend(s as u32 + off..e as u32 + off);
                    }
                    Some(
                        dedup_keys_last_wins(&rows[0], &keys, ix)
                            .into_iter()
                            .map(|x| (x, x))
                            .collect(),
                    )
                })
                .collect();
            build_map(c.ret, &keys, &values, per_row)
        })
}

fn entries_type(t: &[DataType]) -> Result<DataType> {
    let (_, v) = map_kv(&t[0])?;
    Ok(list_of(DataType::Struct(Fields::from(vec![
        Field::new("K", DataType::Utf8, true),
        Field::new("V", v.data_type().clone(), true),
    ]))))
}

fn entries() -> Named {
    udf("entries")
        .sig([P::Map, BOOL], R::F(entries_type))
        .invoke(|c| {
            let m = map_arg(&c.args[0])?;
            let sorted = c.args[1].as_boolean();
            let keys = cast_to(m.keys(), &DataType::Utf8)?;
            let key_strs = keys.as_string::<i32>();
            let DataType::List(item) = c.ret else {
                return exec_err!("ENTRIES return type");
            };
            let DataType::Struct(fields) = item.data_type() else {
                return exec_err!("ENTRIES item type");
            };
            let per_row: Vec<_> = map_ranges(m)
                .enumerate()
                .map(|(i, r)| {
                    r.map(|(s, e)| {
                        let mut ix: Vec<u32> = (s as u32..e as u32).collect();
                        if get(sorted, i) == Some(true) {
                            ix.sort_by(|&x, &y| {
                                key_strs.value(x as usize).cmp(key_strs.value(y as usize))
                            });
                        }
                        ix
                    })
                })
                .collect();
            let values = cast_to(m.values(), fields[1].data_type())?;
            let structs: ArrayRef = Arc::new(StructArray::try_new(
                fields.clone(),
                vec![keys.clone(), values],
                None,
            )?);
            select_list(Arc::clone(item), &structs, per_row)
        })
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::array::{ArrayRef, ListArray};
    use arrow::datatypes::Int32Type;

    use crate::functions::test_util::*;

    fn ints(rows: Vec<Option<Vec<Option<i32>>>>) -> ArrayRef {
        Arc::new(ListArray::from_iter_primitive::<Int32Type, _, _>(rows))
    }

    #[test]
    fn distinct_sort_minmax_qtt() {
        let a = ints(vec![
            Some(vec![Some(0), None, Some(1), Some(0), Some(-1)]),
            Some(vec![]),
            None,
        ]);
        assert_eq!(
            call_json("array_distinct", std::slice::from_ref(&a)),
            vec![Some("[0,null,1,-1]".into()), Some("[]".into()), None]
        );
        assert_eq!(
            call_json("array_sort", std::slice::from_ref(&a)),
            vec![Some("[-1,0,0,1,null]".into()), Some("[]".into()), None]
        );
        assert_eq!(
            call_json("array_sort", &[a.clone(), strs(&[Some("desc"); 3])])[0],
            Some("[1,0,0,-1,null]".into())
        );
        assert_eq!(
            call_i32("array_min", std::slice::from_ref(&a)),
            vec![Some(-1), None, None]
        );
        assert_eq!(
            call_i32("array_max", std::slice::from_ref(&a)),
            vec![Some(1), None, None]
        );
        assert_eq!(
            call_i32("array_length", std::slice::from_ref(&a)),
            vec![Some(5), Some(0), None]
        );
        assert_eq!(
            call_bool(
                "array_contains",
                &[a.clone(), i32s(&[Some(1), Some(1), Some(1)])]
            ),
            vec![Some(true), Some(false), Some(false)]
        );
        assert_eq!(
            call_json(
                "array_remove",
                &[a.clone(), i32s(&[Some(0), Some(0), Some(0)])]
            )[0],
            Some("[null,1,-1]".into())
        );
        let s = call_list_str(
            "array_sort",
            &[call(
                "split",
                &[strs(&[Some("foo,fo,Food,F,food")]), strs(&[Some(",")])],
            )],
        );
        assert_eq!(s[0].as_ref().map(|v| v.len()), Some(5));
        assert_eq!(s[0].as_ref().and_then(|v| v[0].clone()), Some("F".into()));
    }

    #[test]
    fn set_ops_concat_slice_join() {
        let a = ints(vec![Some(vec![Some(1), Some(2), Some(2), Some(3)]), None]);
        let b = ints(vec![Some(vec![Some(3), Some(4)]), Some(vec![Some(1)])]);
        assert_eq!(
            call_json("array_union", &[a.clone(), b.clone()]),
            vec![Some("[1,2,3,4]".into()), None]
        );
        assert_eq!(
            call_json("array_intersect", &[a.clone(), b.clone()])[0],
            Some("[3]".into())
        );
        assert_eq!(
            call_json("array_except", &[a.clone(), b.clone()])[0],
            Some("[1,2]".into())
        );
        assert_eq!(
            call_json("array_concat", &[a.clone(), b.clone()]),
            vec![Some("[1,2,2,3,3,4]".into()), Some("[1]".into())]
        );
        assert_eq!(
            call_json(
                "slice",
                &[a.clone(), i32s(&[Some(2); 2]), i32s(&[Some(3); 2])]
            )[0],
            Some("[2,2]".into())
        );
        assert_eq!(
            call_str("array_join", std::slice::from_ref(&a)),
            vec![Some("1,2,2,3".into()), None]
        );
        assert_eq!(
            call_str("array_join", &[a, strs(&[None, None])])[0],
            Some("1223".into())
        );
    }

    #[test]
    fn array_join_primitives_qtt() {
        use arrow::array::{BooleanBuilder, Decimal128Builder, Float64Builder, ListBuilder};
        let mut b = ListBuilder::new(BooleanBuilder::new());
        b.values().append_value(true);
        b.values().append_null();
        b.values().append_value(false);
        b.append(true);
        let bools: ArrayRef = Arc::new(b.finish());
        assert_eq!(
            call_str("array_join", &[bools]),
            vec![Some("true,null,false".into())]
        );
        let mut d = ListBuilder::new(Float64Builder::new());
        for v in [1.23, -23.42, 0.0] {
            d.values().append_value(v);
        }
        d.append(true);
        let doubles: ArrayRef = Arc::new(d.finish());
        assert_eq!(
            call_str("array_join", &[doubles, strs(&[Some(" ")])]),
            vec![Some("1.23 -23.42 0.0".into())]
        );
        let mut m = ListBuilder::new(
            Decimal128Builder::new().with_data_type(arrow::datatypes::DataType::Decimal128(5, 2)),
        );
        m.values().append_value(12345);
        m.values().append_value(98765);
        m.append(true);
        let decimals: ArrayRef = Arc::new(m.finish());
        assert_eq!(
            call_str("array_join", &[decimals, strs(&[Some("#")])]),
            vec![Some("123.45#987.65".into())]
        );
    }

    #[test]
    fn maps() {
        let keys = call(
            "split",
            &[strs(&[Some("a,b,a"), None]), strs(&[Some(","); 2])],
        );
        let vals = ints(vec![Some(vec![Some(1), Some(2), Some(3)]), Some(vec![])]);
        let m = call("as_map", &[keys, vals]);
        assert_eq!(
            call_json("to_json_string", std::slice::from_ref(&m)),
            vec![
                Some("\"{\\\"a\\\":3,\\\"b\\\":2}\"".into()),
                Some("\"null\"".into())
            ]
        );
        assert_eq!(
            call_list_str("map_keys", std::slice::from_ref(&m))[0],
            Some(vec![Some("a".into()), Some("b".into())])
        );
        assert_eq!(
            call_json("map_values", std::slice::from_ref(&m))[0],
            Some("[3,2]".into())
        );
        // Maps are compared through their JSON text (the row format cannot encode them).
        let mut b = arrow::array::ListBuilder::new(arrow::array::MapBuilder::new(
            None,
            arrow::array::StringBuilder::new(),
            arrow::array::Int32Builder::new(),
        ));
        for (k, v) in [("apple", 1), ("apple", 3), ("apple", 1)] {
            b.values().keys().append_value(k);
            b.values().values().append_value(v);
            b.values().append(true).unwrap_or_else(|e| panic!("{e}"));
        }
        b.append(true);
        let maps: ArrayRef = Arc::new(b.finish());
        assert_eq!(
            call_json("array_distinct", &[maps]),
            vec![Some("[{\"apple\":1},{\"apple\":3}]".into())]
        );
        let m2 = call(
            "split_to_map",
            &[
                strs(&[Some("b:x,c:y"), Some("z:1")]),
                strs(&[Some(","); 2]),
                strs(&[Some(":"); 2]),
            ],
        );
        assert_eq!(
            call_json("map_union", &[m2.clone(), m2.clone()])[0],
            Some("{\"b\":\"x\",\"c\":\"y\"}".into())
        );
        assert_eq!(
            call_json("entries", &[m2, bools(&[Some(true); 2])])[0],
            Some("[{\"K\":\"b\",\"V\":\"x\"},{\"K\":\"c\",\"V\":\"y\"}]".into())
        );
    }
}
