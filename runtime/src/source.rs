//! Decoding a slice of Kafka records into one Arrow batch in a source's scan schema
//! (columns, then ROWTIME, ROWPARTITION, ROWOFFSET, WINDOWSTART/WINDOWEND).

use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, AsArray, BinaryBuilder, Int32Array, Int64Array, ListBuilder, StringBuilder, StructBuilder,
};
use arrow::compute::{cast, filter_record_batch};
use arrow::datatypes::{DataType, Field, Fields, Schema, SchemaRef, TimeUnit};
use arrow::record_batch::RecordBatch;
use runnel_planner::catalog::{ColumnRole, SourceDef, WindowType};
use runnel_planner::formats::{FormatName, FormatSpec};
use runnel_planner::nodes::source_scan_schema;
use runnel_planner::types::to_arrow;

use crate::error::{RuntimeError, RuntimeResult};
use crate::format::{Decoder, Format, Wrapping};
use runnel_planner::functions::java_format::{JavaFormat, Zone};
use crate::topic::TopicRecord;

/// A problem with one record (it is skipped and reported to the processing log).
#[derive(Debug, Clone, PartialEq)]
pub struct RecordError {
    pub topic: String,
    /// The input record's offset; -1 for output records.
    pub offset: i64,
    pub message: String,
    pub kind: RecordErrorKind,
    /// The bytes that failed to deserialize (key or value), for the processing log.
    pub record: Option<Vec<u8>>,
}

/// The processing-log categories of ksqlDB.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordErrorKind {
    /// Reading the key (`key == true`) or value of an input record.
    Deserialization { key: bool },
    /// Evaluating the query over a decoded record (e.g. its timestamp).
    Processing,
    /// Writing the key or value of an output record.
    Serialization { key: bool },
}

/// The runtime codec of a catalog format.
pub fn runtime_format(spec: &FormatSpec) -> RuntimeResult<Format> {
    Ok(match spec.format {
        FormatName::Json => Format::Json,
        FormatName::Delimited => Format::Delimited { delimiter: spec.delimiter.map_or(b',', |c| c as u8) },
        FormatName::Kafka => Format::Kafka,
        FormatName::None => Format::None,
        other => return Err(RuntimeError::Execution(format!("The {other} format is not supported yet"))),
    })
}

pub fn wrapping(spec: &FormatSpec) -> Wrapping {
    if spec.unwrapped() {
        Wrapping::Unwrapped
    } else {
        Wrapping::Wrapped
    }
}

/// Decodes records of one source. Reuses its decoders across batches.
pub struct SourceDecoder {
    def: SourceDef,
    schema: SchemaRef,
    key_decoder: Decoder,
    value_decoder: Decoder,
}

/// A decoded batch: rows in record order; `tombstone[i]` marks records with a null value and
/// `rows[i]` is the index of the record row `i` came from.
pub struct DecodedBatch {
    pub batch: RecordBatch,
    pub tombstone: Vec<bool>,
    pub rows: Vec<usize>,
}

impl SourceDecoder {
    pub fn new(def: SourceDef) -> RuntimeResult<Self> {
        let schema = source_scan_schema(&def);
        let key_fields: Fields = def
            .columns
            .iter()
            .filter(|c| c.role == ColumnRole::Key)
            .map(|c| Field::new(&c.name, to_arrow(&c.data_type), true))
            .collect();
        let value_fields: Fields = def
            .columns
            .iter()
            .filter(|c| c.role == ColumnRole::Value)
            .map(|c| Field::new(&c.name, to_arrow(&c.data_type), true))
            .collect();
        let key_decoder =
            Decoder::new(runtime_format(&def.key_format)?, Arc::new(Schema::new(key_fields)), Wrapping::Unwrapped)?;
        let value_decoder = Decoder::new(
            runtime_format(&def.value_format)?,
            Arc::new(Schema::new(value_fields)),
            wrapping(&def.value_format),
        )?;
        Ok(SourceDecoder { def, schema, key_decoder, value_decoder })
    }

    pub fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    /// Decodes `records`; undecodable records are dropped and reported in `errors`.
    pub fn decode(&mut self, topic: &str, records: &[TopicRecord], errors: &mut Vec<RecordError>) -> RuntimeResult<DecodedBatch> {
        let rows = records.len();
        let mut valid = vec![true; rows];
        let mut report = |row: usize, kind: RecordErrorKind, message: String, valid: &mut Vec<bool>| {
            if valid[row] {
                valid[row] = false;
                let record = match kind {
                    RecordErrorKind::Deserialization { key: true } => records[row].key.clone(),
                    RecordErrorKind::Deserialization { key: false } => records[row].value.clone(),
                    _ => None,
                };
                errors.push(RecordError { topic: topic.to_string(), offset: records[row].offset, message, kind, record });
            }
        };
        let key_error = RecordErrorKind::Deserialization { key: true };
        let value_error = RecordErrorKind::Deserialization { key: false };

        // Windowed keys carry the window after the key bytes.
        let mut window_start = Vec::with_capacity(rows);
        let mut window_end = Vec::with_capacity(rows);
        let mut keys: Vec<Option<&[u8]>> = Vec::with_capacity(rows);
        for (row, r) in records.iter().enumerate() {
            match (self.def.window, r.key.as_deref()) {
                (Some(w), Some(k)) => {
                    let suffix = if w.window_type == WindowType::Session { 16 } else { 8 };
                    if k.len() < suffix {
                        report(row, key_error, format!("windowed key too short: {} bytes", k.len()), &mut valid);
                        keys.push(None);
                        window_start.push(None);
                        window_end.push(None);
                        continue;
                    }
                    let (inner, win) = k.split_at(k.len() - suffix);
                    let read = |b: &[u8]| i64::from_be_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]);
                    let (start, end) = if w.window_type == WindowType::Session {
                        (read(&win[8..16]), read(&win[0..8]))
                    } else {
                        let start = read(&win[0..8]);
                        (start, start + w.size_ms.unwrap_or(0))
                    };
                    keys.push(Some(inner));
                    window_start.push(Some(start));
                    window_end.push(Some(end));
                }
                (_, k) => {
                    keys.push(k);
                    window_start.push(None);
                    window_end.push(None);
                }
            }
        }
        let key_decoded = self.key_decoder.decode(&keys)?;
        for (row, e) in &key_decoded.errors {
            report(*row, key_error, format!("Failed to deserialize key from topic: {topic}. {e}"), &mut valid);
        }
        let values: Vec<Option<&[u8]>> = records.iter().map(|r| r.value.as_deref()).collect();
        let value_decoded = self.value_decoder.decode(&values)?;
        for (row, e) in &value_decoded.errors {
            report(*row, value_error, format!("Failed to deserialize value from topic: {topic}. {e}"), &mut valid);
        }
        let tombstone: Vec<bool> = records.iter().map(|r| r.value.is_none()).collect();

        let mut key_iter = key_decoded.columns.into_iter();
        let mut value_iter = value_decoded.columns.into_iter();
        let mut columns: Vec<ArrayRef> = Vec::with_capacity(self.schema.fields().len());
        for c in &self.def.columns {
            let array = match c.role {
                ColumnRole::Key => key_iter.next(),
                ColumnRole::Value => value_iter.next(),
                ColumnRole::Header => Some(header_column(records, c.header_key.as_deref())),
            };
            columns.push(array.ok_or_else(|| RuntimeError::Internal("decoder returned too few columns".into()))?);
        }
        let mut rowtime: Vec<Option<i64>> = records.iter().map(|r| Some(r.timestamp)).collect();
        if let Some(ts) = &self.def.timestamp {
            let idx = self.def.columns.iter().position(|c| c.name == ts.column);
            if let Some(idx) = idx {
                let extracted = extract_timestamps(&columns[idx], ts.format.as_deref());
                for (row, t) in extracted.into_iter().enumerate() {
                    match t {
                        Ok(v) => rowtime[row] = v,
                        Err(message) if !tombstone[row] => report(row, RecordErrorKind::Processing, message, &mut valid),
                        Err(_) => {}
                    }
                }
            }
        }
        // Kafka Streams drops records whose timestamp is negative or missing.
        for row in 0..rows {
            if !tombstone[row] && rowtime[row].is_none_or(|t| t < 0) {
                report(row, RecordErrorKind::Processing, format!("Invalid timestamp {:?}: records need a non-negative timestamp", rowtime[row]), &mut valid);
            }
        }
        columns.push(Arc::new(Int64Array::from(rowtime)));
        columns.push(Arc::new(Int32Array::from(records.iter().map(|r| r.partition).collect::<Vec<_>>())));
        columns.push(Arc::new(Int64Array::from(records.iter().map(|r| r.offset).collect::<Vec<_>>())));
        if self.def.window.is_some() {
            columns.push(Arc::new(Int64Array::from(window_start)));
            columns.push(Arc::new(Int64Array::from(window_end)));
        }
        let batch = RecordBatch::try_new(self.schema.clone(), columns)?;
        if valid.iter().all(|v| *v) {
            return Ok(DecodedBatch { batch, tombstone, rows: (0..rows).collect() });
        }
        let mask = arrow::array::BooleanArray::from(valid.clone());
        let batch = filter_record_batch(&batch, &mask)?;
        let kept: Vec<usize> = (0..rows).filter(|&r| valid[r]).collect();
        let tombstone = kept.iter().map(|&r| tombstone[r]).collect();
        Ok(DecodedBatch { batch, tombstone, rows: kept })
    }
}

/// `HEADERS` (all, as ARRAY<STRUCT<KEY, VALUE>>) or `HEADER('k')` (last match, BYTES).
fn header_column(records: &[TopicRecord], key: Option<&str>) -> ArrayRef {
    match key {
        Some(k) => {
            let mut b = BinaryBuilder::new();
            for r in records {
                match r.headers.iter().rev().find(|(hk, _)| hk == k) {
                    Some((_, Some(v))) => b.append_value(v),
                    _ => b.append_null(),
                }
            }
            Arc::new(b.finish())
        }
        None => {
            let fields = Fields::from(vec![Field::new("KEY", DataType::Utf8, true), Field::new("VALUE", DataType::Binary, true)]);
            let entry = StructBuilder::new(
                fields,
                vec![Box::new(StringBuilder::new()), Box::new(BinaryBuilder::new())],
            );
            let mut list = ListBuilder::new(entry);
            for r in records {
                for (k, v) in &r.headers {
                    let s = list.values();
                    if let Some(kb) = s.field_builder::<StringBuilder>(0) {
                        kb.append_value(k);
                    }
                    if let Some(vb) = s.field_builder::<BinaryBuilder>(1) {
                        match v {
                            Some(v) => vb.append_value(v),
                            None => vb.append_null(),
                        }
                    }
                    s.append(true);
                }
                list.append(true);
            }
            Arc::new(list.finish())
        }
    }
}

/// Event times from the TIMESTAMP column: BIGINT/TIMESTAMP as ms, or STRING parsed with the format.
fn extract_timestamps(column: &ArrayRef, format: Option<&str>) -> Vec<Result<Option<i64>, String>> {
    match (column.data_type(), format) {
        (DataType::Utf8, Some(pattern)) => {
            let strings = column.as_string::<i32>();
            let format = match JavaFormat::new(pattern) {
                Ok(f) => f,
                Err(e) => return vec![Err(format!("Invalid TIMESTAMP_FORMAT '{pattern}': {e}")); column.len()],
            };
            let utc = Zone::Fixed(chrono::FixedOffset::east_opt(0).expect("zero offset is valid"));
            (0..strings.len())
                .map(|i| {
                    if strings.is_null(i) {
                        return Ok(None);
                    }
                    format.parse_millis(strings.value(i), &utc).map(Some).map_err(|e| {
                        format!("Failed to parse timestamp '{}' with formatter '{pattern}': {e}", strings.value(i))
                    })
                })
                .collect()
        }
        _ => match cast(column, &DataType::Timestamp(TimeUnit::Millisecond, None))
            .and_then(|c| cast(&c, &DataType::Int64))
        {
            Ok(ms) => {
                let ms = ms.as_primitive::<arrow::datatypes::Int64Type>();
                (0..ms.len()).map(|i| Ok(if ms.is_null(i) { None } else { Some(ms.value(i)) })).collect()
            }
            Err(e) => vec![Err(e.to_string()); column.len()],
        },
    }
}
