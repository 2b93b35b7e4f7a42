//! Serialization formats: Kafka record payloads <-> Arrow arrays, byte-compatible with ksqlDB.
//!
//! Supported formats: `JSON`, `DELIMITED`, `KAFKA`, and `NONE` (keys only). Types follow the
//! shared ksql -> Arrow contract (BOOLEAN->Boolean, INT->Int32, BIGINT->Int64, DOUBLE->Float64,
//! DECIMAL(p,s)->Decimal128(p,s), STRING->Utf8, BYTES->Binary, TIMESTAMP->Timestamp(ms),
//! DATE->Date32, TIME->Time32(ms), ARRAY->List("item"), MAP->Map("entries"{key,value}),
//! STRUCT->Struct).
//!
//! * [`decode`] / [`Decoder`]: many payloads -> one set of columns. A payload that fails to
//!   decode becomes an all-null row and is reported in [`Decoded::errors`]; the caller drops it.
//! * [`encode`]: columns -> one payload per row.
//!
//! Nothing here panics on input: malformed payloads and unsupported values are [`FormatError`]s.
//!
//! ksqlDB behaviours matched (see the tests for each):
//! * JSON decode: top-level object with case-insensitive field names, missing fields null,
//!   extra fields ignored, last duplicate wins; a top-level `null` is a null record. Coercions:
//!   numbers/booleans into STRING become their text (objects compact JSON, arrays `[a, b]`),
//!   numeric strings into INT/BIGINT/DOUBLE/DECIMAL/TIMESTAMP/DATE/TIME, fractional numbers into
//!   integer columns truncate toward zero (Jackson `intValue()`), integer overflow is an error,
//!   DECIMAL is exact (scale padded, never rounded; too many digits is an error), BYTES from
//!   base64. Unwrapped single columns read the bare value.
//! * JSON encode: `{"COL":value,...}` in schema order, compact like Jackson; DOUBLE as Java's
//!   `Double.toString` (`1.0`, `1.5E10`, non-finite quoted), DECIMAL plain with its scale,
//!   TIMESTAMP/TIME as ms, DATE as days, BYTES base64.
//! * DELIMITED: Commons CSV 1.4 parsing/printing (`QuoteMode.MINIMAL`, incl. its quoting of a
//!   first field that does not start with a letter or digit, e.g. `"-10"`), empty field = null,
//!   field count must match, BOOLEAN parsed like `Boolean.parseBoolean`.
//! * KAFKA: big-endian INT/BIGINT/DOUBLE, UTF-8 STRING, raw BYTES; wrong sizes are errors.

mod builder;
mod delimited;
mod json;
mod kafka;
mod text;

#[cfg(test)]
mod tests;

use std::collections::HashMap;

use arrow::array::{new_null_array, ArrayRef};
use arrow::datatypes::{DataType, Fields, SchemaRef};

pub use builder::{list_type, map_type};
pub use json::write_int;

use builder::ColumnBuilder;

/// A serialization format of a key or a value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// JSON objects (or bare values when unwrapped).
    Json,
    /// CSV-like text, one record per payload, fields separated by `delimiter`.
    Delimited { delimiter: u8 },
    /// Kafka's primitive serdes: a single INT/BIGINT/DOUBLE/STRING/BYTES column.
    Kafka,
    /// No data (key-less streams): no columns, payload ignored.
    None,
}

/// Whether a single-column schema is serialized inside an object/record (`Wrapped`) or as the
/// bare value (`Unwrapped`). Keys with exactly one column are always unwrapped; values are
/// wrapped by default (`WRAP_SINGLE_VALUE`). Multi-column schemas are always treated as wrapped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Wrapping {
    #[default]
    Wrapped,
    Unwrapped,
}

/// The result of decoding a batch of payloads.
#[derive(Debug)]
pub struct Decoded {
    /// One array per schema field, each with one slot per payload.
    pub columns: Vec<ArrayRef>,
    /// Rows that failed to decode (their slots are null in every column), in row order.
    pub errors: Vec<(usize, FormatError)>,
    /// Rows whose payload was a null record: a missing payload (tombstone / null key) or a JSON
    /// `null` literal. All their slots are null; they are not errors.
    pub null_records: Vec<usize>,
}

/// The result of [`encode`]: one entry per row, `Ok(None)` for a null payload.
pub type EncodedRows = Vec<Result<Option<Vec<u8>>, FormatError>>;

/// What went wrong while decoding or encoding, and where.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum FormatError {
    /// The payload is not well-formed for the format (JSON syntax, CSV quoting, UTF-8).
    #[error("malformed {format} payload at byte {offset}: {message} (payload: `{snippet}`)")]
    Malformed { format: &'static str, offset: usize, message: String, snippet: String },
    /// A value of the wrong kind for its column (e.g. a JSON object for an INT column).
    #[error("column `{column}`: cannot convert {found} to {expected}")]
    TypeMismatch { column: String, expected: String, found: String },
    /// Text that should be a value of `expected` but does not parse.
    #[error("column `{column}`: cannot parse `{text}` as {expected}")]
    Parse { column: String, expected: String, text: String },
    /// A number outside the range of its column type.
    #[error("column `{column}`: value `{text}` is out of range for {expected}")]
    OutOfRange { column: String, expected: String, text: String },
    /// A decimal that does not fit DECIMAL(precision, scale) exactly.
    #[error("column `{column}`: cannot fit decimal `{text}` into DECIMAL({precision}, {scale}){reason}")]
    Decimal { column: String, precision: u8, scale: i8, text: String, reason: &'static str },
    /// A DELIMITED record with the wrong number of fields.
    #[error("column count mismatch: expected {expected} columns, got {actual}")]
    ColumnCount { expected: usize, actual: usize },
    /// A KAFKA payload of the wrong size for its type.
    #[error("column `{column}`: KAFKA {expected} needs a payload of {size} bytes, got {actual}")]
    PayloadSize { column: String, expected: &'static str, size: usize, actual: usize },
    /// A column type the format cannot carry.
    #[error("format {format} does not support type {data_type} (column `{column}`)")]
    UnsupportedType { format: &'static str, column: String, data_type: String },
    /// A schema the format cannot carry as a whole (e.g. KAFKA with two columns).
    #[error("format {format}: {message}")]
    UnsupportedSchema { format: &'static str, message: String },
    /// A bad format name or format property.
    #[error("invalid format configuration: {0}")]
    Config(String),
    /// A bug-like inconsistency (e.g. an Arrow array of an unexpected shape).
    #[error("internal format error: {0}")]
    Internal(String),
}

impl Format {
    /// Builds a format from its ksql name (`JSON`, `DELIMITED`, `KAFKA`, `NONE`; any case) and
    /// the WITH properties of the statement (keys any case). `for_key` selects
    /// `KEY_DELIMITER` rather than `VALUE_DELIMITER`. A delimiter is a single character, or
    /// `SPACE` / `TAB`; empty, a literal space or tab are rejected as ksqlDB does.
    pub fn from_props(
        name: &str,
        props: &HashMap<String, String>,
        for_key: bool,
    ) -> Result<Format, FormatError> {
        match name.to_ascii_uppercase().as_str() {
            "JSON" => Ok(Format::Json),
            "KAFKA" => Ok(Format::Kafka),
            "NONE" => Ok(Format::None),
            "DELIMITED" => {
                let wanted = if for_key { "KEY_DELIMITER" } else { "VALUE_DELIMITER" };
                let value = props.iter().find(|(k, _)| k.eq_ignore_ascii_case(wanted)).map(|(_, v)| v);
                match value {
                    None => Ok(Format::Delimited { delimiter: b',' }),
                    Some(v) => Ok(Format::Delimited { delimiter: parse_delimiter(wanted, v)? }),
                }
            }
            other => Err(FormatError::Config(format!("unsupported format '{other}'"))),
        }
    }

    /// The ksql name of the format.
    pub fn name(&self) -> &'static str {
        match self {
            Format::Json => "JSON",
            Format::Delimited { .. } => "DELIMITED",
            Format::Kafka => "KAFKA",
            Format::None => "NONE",
        }
    }
}

/// Parses a `KEY_DELIMITER`/`VALUE_DELIMITER` value (`property` names it in the error).
pub fn parse_delimiter(property: &str, value: &str) -> Result<u8, FormatError> {
    let invalid = |why: &str| {
        FormatError::Config(format!(
            "Configuration {property} is invalid: {why}, if you meant to have a tab or space for \
             delimiter, please use the special values 'TAB' or 'SPACE'\nExample valid value: ';'"
        ))
    };
    match value {
        "SPACE" => Ok(b' '),
        "TAB" => Ok(b'\t'),
        "" | " " | "\t" => Err(invalid("Delimiter cannot be empty")),
        v if v.len() == 1 && v.is_ascii() => Ok(v.as_bytes()[0]),
        _ => Err(FormatError::Config(format!(
            "Configuration {property} is invalid: Invalid delimiter value: '{value}'. Delimiter \
             must be a single character or TAB or SPACE"
        ))),
    }
}

/// Checks that `format` can carry every field of `fields` (and their number).
pub fn validate(format: &Format, fields: &Fields) -> Result<(), FormatError> {
    match format {
        Format::Json | Format::None => Ok(()),
        Format::Kafka => kafka::validate(fields),
        Format::Delimited { .. } => delimited::validate(fields),
    }
}

/// A reusable decoder for one (format, schema, wrapping): keeps its builders and scratch
/// buffers between calls to [`Decoder::decode`].
#[derive(Debug)]
pub struct Decoder {
    format: Format,
    schema: SchemaRef,
    wrapping: Wrapping,
    columns: Vec<ColumnBuilder>,
    /// Upper-cased column names for case-insensitive JSON field matching.
    upper_names: Vec<String>,
    scratch: Vec<u8>,
    spans: Vec<(usize, usize)>,
}

impl Decoder {
    /// Creates a decoder; fails if the format cannot carry the schema.
    pub fn new(format: Format, schema: SchemaRef, wrapping: Wrapping) -> Result<Self, FormatError> {
        validate(&format, schema.fields())?;
        let columns = schema
            .fields()
            .iter()
            .map(|f| ColumnBuilder::new(f.name(), f.data_type()))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| match e {
                FormatError::UnsupportedType { column, data_type, .. } => {
                    FormatError::UnsupportedType { format: format.name(), column, data_type }
                }
                other => other,
            })?;
        let upper_names = schema.fields().iter().map(|f| f.name().to_uppercase()).collect();
        Ok(Self { format, schema, wrapping, columns, upper_names, scratch: Vec::new(), spans: Vec::new() })
    }

    /// Whether a single-column schema is decoded as a bare value.
    fn unwrapped(&self) -> bool {
        self.columns.len() == 1
            && (self.wrapping == Wrapping::Unwrapped
                || matches!(self.format, Format::Kafka | Format::Delimited { .. }))
    }

    /// Decodes `payloads` (one row each; `None` = null record) into one set of columns.
    pub fn decode(&mut self, payloads: &[Option<&[u8]>]) -> Result<Decoded, FormatError> {
        let mut errors = Vec::new();
        let mut null_records = Vec::new();
        if self.format == Format::None {
            let columns = self
                .schema
                .fields()
                .iter()
                .map(|f| new_null_array(f.data_type(), payloads.len()))
                .collect();
            return Ok(Decoded { columns, errors, null_records });
        }
        let unwrapped = self.unwrapped();
        for (row, payload) in payloads.iter().enumerate() {
            let outcome = match payload {
                None => Ok(false),
                Some(bytes) => match self.format {
                    Format::Json => json::decode_row(
                        bytes,
                        &mut self.columns,
                        &self.upper_names,
                        self.schema.fields(),
                        unwrapped,
                        row,
                        &mut self.scratch,
                    ),
                    Format::Delimited { delimiter } => delimited::decode_row(
                        bytes,
                        delimiter,
                        &mut self.columns,
                        self.schema.fields(),
                        &mut self.scratch,
                        &mut self.spans,
                    )
                    .map(|()| true),
                    Format::Kafka => {
                        kafka::decode_row(bytes, &mut self.columns[0], self.schema.field(0).name())
                            .map(|()| true)
                    }
                    Format::None => Ok(false),
                },
            };
            match outcome {
                Ok(true) => {}
                Ok(false) => {
                    null_records.push(row);
                    self.null_row(row);
                }
                Err(e) => {
                    errors.push((row, e));
                    self.null_row(row);
                }
            }
            debug_assert!(self.columns.iter().all(|c| c.len() == row + 1));
        }
        let columns = self.columns.iter_mut().map(ColumnBuilder::finish).collect::<Result<_, _>>()?;
        Ok(Decoded { columns, errors, null_records })
    }

    /// Makes `row` null in every column, dropping anything a failed decode appended.
    fn null_row(&mut self, row: usize) {
        for c in &mut self.columns {
            c.truncate(row);
            c.push_null();
        }
    }
}

/// Decodes many payloads into one batch of `schema` (see [`Decoder`] to reuse buffers).
pub fn decode(
    format: &Format,
    schema: &SchemaRef,
    wrapping: Wrapping,
    payloads: &[Option<&[u8]>],
) -> Result<Decoded, FormatError> {
    Decoder::new(*format, schema.clone(), wrapping)?.decode(payloads)
}

/// Encodes each row of `columns` (described by `fields`) into one payload. The outer error is
/// for schema problems (wrong column count, unsupported types); the inner one per row (e.g. a
/// value a format cannot represent). A row whose single unwrapped value is null encodes to
/// `None` (ksqlDB writes a null payload); `Format::None` always yields `None`.
pub fn encode(
    format: &Format,
    columns: &[ArrayRef],
    fields: &Fields,
    wrapping: Wrapping,
) -> Result<EncodedRows, FormatError> {
    if columns.len() != fields.len() {
        return Err(FormatError::ColumnCount { expected: fields.len(), actual: columns.len() });
    }
    let rows = columns.first().map_or(0, |c| c.len());
    if columns.iter().any(|c| c.len() != rows) {
        return Err(FormatError::Internal("columns of different lengths".into()));
    }
    validate(format, fields)?;
    // Bring arrays to the contract types (e.g. Utf8View or Int16 produced by the planner).
    let columns = columns
        .iter()
        .zip(fields.iter())
        .map(|(c, f)| conform(c, f.data_type(), f.name()))
        .collect::<Result<Vec<_>, _>>()?;
    let unwrapped = fields.len() == 1
        && (wrapping == Wrapping::Unwrapped || matches!(format, Format::Kafka | Format::Delimited { .. }));
    match format {
        Format::None => Ok(vec![Ok(None); rows]),
        Format::Json => json::encode(&columns, fields, unwrapped, rows),
        Format::Delimited { delimiter } => delimited::encode(&columns, fields, *delimiter, rows),
        Format::Kafka => kafka::encode(&columns[0], &fields[0], rows),
    }
}

fn conform(array: &ArrayRef, target: &DataType, column: &str) -> Result<ArrayRef, FormatError> {
    if array.data_type() == target {
        return Ok(array.clone());
    }
    arrow::compute::cast(array, target).map_err(|e| FormatError::TypeMismatch {
        column: column.to_string(),
        expected: target.to_string(),
        found: format!("array of {} ({e})", array.data_type()),
    })
}

/// Describes a type for error messages with its ksql name.
pub(crate) fn ksql_type_name(dt: &DataType) -> String {
    match dt {
        DataType::Boolean => "BOOLEAN".into(),
        DataType::Int32 => "INT".into(),
        DataType::Int64 => "BIGINT".into(),
        DataType::Float64 => "DOUBLE".into(),
        DataType::Decimal128(p, s) => format!("DECIMAL({p}, {s})"),
        DataType::Utf8 => "STRING".into(),
        DataType::Binary => "BYTES".into(),
        DataType::Timestamp(_, _) => "TIMESTAMP".into(),
        DataType::Date32 => "DATE".into(),
        DataType::Time32(_) => "TIME".into(),
        DataType::List(f) => format!("ARRAY<{}>", ksql_type_name(f.data_type())),
        DataType::Map(e, _) => match e.data_type() {
            DataType::Struct(kv) if kv.len() == 2 => {
                format!("MAP<{}, {}>", ksql_type_name(kv[0].data_type()), ksql_type_name(kv[1].data_type()))
            }
            _ => "MAP".into(),
        },
        DataType::Struct(fs) => format!(
            "STRUCT<{}>",
            fs.iter().map(|f| format!("{} {}", f.name(), ksql_type_name(f.data_type()))).collect::<Vec<_>>().join(", ")
        ),
        other => other.to_string(),
    }
}
