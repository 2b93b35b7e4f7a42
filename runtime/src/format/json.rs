//! The JSON format, decoded straight into column builders by a small hand-written scanner (no
//! `serde_json::Value` per record) and encoded straight from Arrow arrays.
//!
//! Decoding follows ksqlDB's `KsqlJsonDeserializer`: field names match case-insensitively,
//! missing fields are null, extra fields are ignored, the last of duplicate fields wins, and
//! values are coerced: numbers/booleans into STRING become their text (objects their compact
//! JSON, arrays `[a, b]`), numeric strings into numeric/temporal/DECIMAL columns parse, BYTES
//! come from base64 strings.

use arrow::array::{Array, ArrayRef, AsArray, GenericListArray, MapArray, StructArray};
use arrow::datatypes::{
    DataType, Date32Type, Decimal128Type, Fields, Float64Type, Int32Type, Int64Type, Time32MillisecondType, TimeUnit,
    TimestampMillisecondType,
};
use base64::Engine;

use super::builder::{ColumnBuilder, Store};
use super::delimited::{decimal_error, push_text};
use super::text::{self, parse_decimal, snippet, BASE64};
use super::{ksql_type_name, EncodedRows, FormatError};

/// Nesting limit, so hostile payloads cannot overflow the stack.
const MAX_DEPTH: usize = 128;

struct Parser<'a> {
    s: &'a str,
    b: &'a [u8],
    i: usize,
    depth: usize,
    scratch: &'a mut Vec<u8>,
}

/// Where a parsed string lives.
enum Str {
    Input(usize, usize),
    Scratch,
}

impl<'a> Parser<'a> {
    fn err(&self, message: impl Into<String>) -> FormatError {
        FormatError::Malformed {
            format: "JSON",
            offset: self.i,
            message: message.into(),
            snippet: snippet(self.s),
        }
    }

    #[inline]
    fn ws(&mut self) {
        while self.i < self.b.len() && matches!(self.b[self.i], b' ' | b'\n' | b'\r' | b'\t') {
            self.i += 1;
        }
    }

    #[inline]
    fn peek(&mut self) -> Option<u8> {
        self.ws();
        self.b.get(self.i).copied()
    }

    fn literal(&mut self, lit: &[u8]) -> Result<(), FormatError> {
        if self.b[self.i..].starts_with(lit) {
            self.i += lit.len();
            Ok(())
        } else {
            Err(self.err("unexpected token"))
        }
    }

    fn enter(&mut self) -> Result<(), FormatError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(self.err("nesting too deep"));
        }
        Ok(())
    }

    /// Parses a string starting at the opening quote.
    fn string(&mut self) -> Result<Str, FormatError> {
        self.i += 1;
        let start = self.i;
        // Fast path: no escapes. Skip 8 bytes at a time while none is special.
        while let Some(chunk) = self.b.get(self.i..self.i + 8) {
            let mut word = [0u8; 8];
            word.copy_from_slice(chunk);
            if has_special_byte(u64::from_le_bytes(word)) {
                break;
            }
            self.i += 8;
        }
        while self.i < self.b.len() {
            match self.b[self.i] {
                b'"' => {
                    self.i += 1;
                    return Ok(Str::Input(start, self.i - 1));
                }
                b'\\' => break,
                c if c < 0x20 => return Err(self.err("unescaped control character in string")),
                _ => self.i += 1,
            }
        }
        self.scratch.clear();
        self.scratch.extend_from_slice(&self.b[start..self.i]);
        loop {
            let Some(&c) = self.b.get(self.i) else {
                return Err(self.err("unterminated string"));
            };
            self.i += 1;
            match c {
                b'"' => return Ok(Str::Scratch),
                b'\\' => {
                    let Some(&e) = self.b.get(self.i) else {
                        return Err(self.err("unterminated escape"));
                    };
                    self.i += 1;
                    let ch = match e {
                        b'"' => '"',
                        b'\\' => '\\',
                        b'/' => '/',
                        b'b' => '\u{8}',
                        b'f' => '\u{c}',
                        b'n' => '\n',
                        b'r' => '\r',
                        b't' => '\t',
                        b'u' => {
                            let hi = self.hex4()?;
                            if (0xD800..0xDC00).contains(&hi) && self.b[self.i..].starts_with(b"\\u") {
                                let save = self.i;
                                self.i += 2;
                                let lo = self.hex4()?;
                                if (0xDC00..0xE000).contains(&lo) {
                                    char::from_u32(0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00))
                                        .unwrap_or('\u{FFFD}')
                                } else {
                                    self.i = save;
                                    '\u{FFFD}'
                                }
                            } else {
                                char::from_u32(hi).unwrap_or('\u{FFFD}')
                            }
                        }
                        _ => return Err(self.err("invalid escape")),
                    };
                    let mut buf = [0u8; 4];
                    self.scratch.extend_from_slice(ch.encode_utf8(&mut buf).as_bytes());
                }
                c if c < 0x20 => return Err(self.err("unescaped control character in string")),
                c => self.scratch.push(c),
            }
        }
    }

    fn hex4(&mut self) -> Result<u32, FormatError> {
        let Some(h) = self.b.get(self.i..self.i + 4) else {
            return Err(self.err("truncated \\u escape"));
        };
        let mut v = 0u32;
        for &c in h {
            let d = (c as char).to_digit(16).ok_or_else(|| self.err("invalid \\u escape"))?;
            v = v * 16 + d;
        }
        self.i += 4;
        Ok(v)
    }

    fn str_of(&self, s: &Str) -> Result<&str, FormatError> {
        match *s {
            Str::Input(a, b) => Ok(&self.s[a..b]),
            Str::Scratch => std::str::from_utf8(self.scratch).map_err(|_| self.err("invalid UTF-8")),
        }
    }

    /// Scans a number; returns its text range and whether it is an integer literal.
    fn number(&mut self) -> Result<(usize, usize, bool), FormatError> {
        let start = self.i;
        let b = self.b;
        let mut i = self.i;
        if b.get(i) == Some(&b'-') {
            i += 1;
        }
        let int_start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        if i == int_start || (b[int_start] == b'0' && i - int_start > 1) {
            self.i = i;
            return Err(self.err("invalid number"));
        }
        let mut integer = true;
        if b.get(i) == Some(&b'.') {
            integer = false;
            i += 1;
            let f = i;
            while i < b.len() && b[i].is_ascii_digit() {
                i += 1;
            }
            if i == f {
                self.i = i;
                return Err(self.err("invalid number"));
            }
        }
        if matches!(b.get(i), Some(b'e' | b'E')) {
            integer = false;
            i += 1;
            if matches!(b.get(i), Some(b'+' | b'-')) {
                i += 1;
            }
            let f = i;
            while i < b.len() && b[i].is_ascii_digit() {
                i += 1;
            }
            if i == f {
                self.i = i;
                return Err(self.err("invalid number"));
            }
        }
        self.i = i;
        Ok((start, i, integer))
    }

    /// Describes the value at the cursor for a type-mismatch error (does not consume it).
    fn describe(&self) -> String {
        match self.b.get(self.i) {
            Some(b'{') => "a JSON object".into(),
            Some(b'[') => "a JSON array".into(),
            _ => "a JSON value".into(),
        }
    }

    /// Parses one value into `col`.
    fn value_into(&mut self, col: &mut ColumnBuilder, column: &str) -> Result<(), FormatError> {
        match self.peek() {
            Some(b'n') => {
                self.literal(b"null")?;
                col.push_null();
                Ok(())
            }
            Some(b't') => {
                self.literal(b"true")?;
                push_bool(col, true, column)
            }
            Some(b'f') => {
                self.literal(b"false")?;
                push_bool(col, false, column)
            }
            Some(b'"') => {
                let s = self.string()?;
                let text = self.str_of(&s)?;
                match &mut col.store {
                    Store::Bytes { data, offsets } if col.data_type == DataType::Utf8 => {
                        data.extend_from_slice(text.as_bytes());
                        offsets.push(data.len() as i32);
                        col.valid.push(true);
                        Ok(())
                    }
                    _ => push_text(col, text, column, false),
                }
            }
            Some(b'-' | b'0'..=b'9') => {
                let (a, b, integer) = self.number()?;
                push_number(col, &self.s[a..b], integer, column)
            }
            Some(b'[') => {
                self.enter()?;
                match &mut col.store {
                    Store::List { offsets, child } => {
                        self.i += 1;
                        if self.peek() == Some(b']') {
                            self.i += 1;
                        } else {
                            loop {
                                self.value_into(child, column)?;
                                match self.peek() {
                                    Some(b',') => self.i += 1,
                                    Some(b']') => {
                                        self.i += 1;
                                        break;
                                    }
                                    _ => return Err(self.err("expected ',' or ']' in array")),
                                }
                            }
                        }
                        offsets.push(child.len() as i32);
                        col.valid.push(true);
                    }
                    Store::Bytes { data, offsets } if col.data_type == DataType::Utf8 => {
                        self.array_as_string(data)?;
                        offsets.push(data.len() as i32);
                        col.valid.push(true);
                    }
                    _ => return Err(mismatch(col, column, self.describe())),
                }
                self.depth -= 1;
                Ok(())
            }
            Some(b'{') => {
                self.enter()?;
                let base = col.len();
                match &mut col.store {
                    Store::Struct { children } => {
                        let DataType::Struct(fields) = &col.data_type else {
                            return Err(FormatError::Internal("struct store without struct type".into()));
                        };
                        self.object_into_fields(children, &col.upper_names, fields, base)?;
                        col.valid.push(true);
                    }
                    Store::Map { offsets, keys, values } => {
                        self.object_into_map(keys, values, column)?;
                        offsets.push(keys.len() as i32);
                        col.valid.push(true);
                    }
                    Store::Bytes { data, offsets } if col.data_type == DataType::Utf8 => {
                        self.walk(Some(data))?;
                        offsets.push(data.len() as i32);
                        col.valid.push(true);
                    }
                    _ => return Err(mismatch(col, column, self.describe())),
                }
                self.depth -= 1;
                Ok(())
            }
            Some(_) => Err(self.err("unexpected character")),
            None => Err(self.err("unexpected end of input")),
        }
    }

    /// Parses an object whose keys select among `children` (struct fields or top-level
    /// columns); every child ends up with exactly `base + 1` slots.
    fn object_into_fields(
        &mut self,
        children: &mut [ColumnBuilder],
        upper: &[String],
        fields: &Fields,
        base: usize,
    ) -> Result<(), FormatError> {
        self.i += 1; // '{'
        let mut next_guess = 0usize;
        if self.peek() == Some(b'}') {
            self.i += 1;
        } else {
            loop {
                if self.peek() != Some(b'"') {
                    return Err(self.err("expected a field name"));
                }
                let key = self.string()?;
                let idx = {
                    let k = self.str_of(&key)?;
                    find_field(k, upper, next_guess)
                };
                if self.peek() != Some(b':') {
                    return Err(self.err("expected ':' after field name"));
                }
                self.i += 1;
                match idx {
                    Some(ix) => {
                        let child = &mut children[ix];
                        if child.len() > base {
                            child.truncate(base); // duplicate field: last one wins
                        }
                        self.value_into(child, fields[ix].name())?;
                        next_guess = ix + 1;
                    }
                    None => self.walk(None)?,
                }
                match self.peek() {
                    Some(b',') => self.i += 1,
                    Some(b'}') => {
                        self.i += 1;
                        break;
                    }
                    _ => return Err(self.err("expected ',' or '}' in object")),
                }
            }
        }
        for c in children.iter_mut() {
            if c.len() == base {
                c.push_null();
            }
        }
        Ok(())
    }

    fn object_into_map(
        &mut self,
        keys: &mut ColumnBuilder,
        values: &mut ColumnBuilder,
        column: &str,
    ) -> Result<(), FormatError> {
        self.i += 1; // '{'
        if self.peek() == Some(b'}') {
            self.i += 1;
            return Ok(());
        }
        loop {
            if self.peek() != Some(b'"') {
                return Err(self.err("expected a map key"));
            }
            let key = self.string()?;
            let k = self.str_of(&key)?;
            if let Store::Bytes { data, offsets } = &mut keys.store {
                data.extend_from_slice(k.as_bytes());
                offsets.push(data.len() as i32);
                keys.valid.push(true);
            }
            if self.peek() != Some(b':') {
                return Err(self.err("expected ':' after map key"));
            }
            self.i += 1;
            self.value_into(values, column)?;
            match self.peek() {
                Some(b',') => self.i += 1,
                Some(b'}') => {
                    self.i += 1;
                    return Ok(());
                }
                _ => return Err(self.err("expected ',' or '}' in object")),
            }
        }
    }

    /// Validates and skips one value; with `out`, also appends it as compact JSON.
    fn walk(&mut self, mut out: Option<&mut Vec<u8>>) -> Result<(), FormatError> {
        let start;
        match self.peek() {
            Some(b'n') => {
                start = self.i;
                self.literal(b"null")?
            }
            Some(b't') => {
                start = self.i;
                self.literal(b"true")?
            }
            Some(b'f') => {
                start = self.i;
                self.literal(b"false")?
            }
            Some(b'"') => {
                start = self.i;
                self.string()?;
            }
            Some(b'-' | b'0'..=b'9') => {
                start = self.i;
                self.number()?;
            }
            Some(open @ (b'[' | b'{')) => {
                self.enter()?;
                let close = if open == b'[' { b']' } else { b'}' };
                self.i += 1;
                if let Some(o) = out.as_deref_mut() {
                    o.push(open);
                }
                if self.peek() == Some(close) {
                    self.i += 1;
                } else {
                    loop {
                        if open == b'{' {
                            if self.peek() != Some(b'"') {
                                return Err(self.err("expected a field name"));
                            }
                            self.walk(out.as_deref_mut())?;
                            if self.peek() != Some(b':') {
                                return Err(self.err("expected ':' after field name"));
                            }
                            self.i += 1;
                            if let Some(o) = out.as_deref_mut() {
                                o.push(b':');
                            }
                        }
                        self.walk(out.as_deref_mut())?;
                        match self.peek() {
                            Some(b',') => {
                                self.i += 1;
                                if let Some(o) = out.as_deref_mut() {
                                    o.push(b',');
                                }
                            }
                            Some(c) if c == close => {
                                self.i += 1;
                                break;
                            }
                            _ => return Err(self.err("expected ',' or a closing bracket")),
                        }
                    }
                }
                if let Some(o) = out {
                    o.push(close);
                }
                self.depth -= 1;
                return Ok(());
            }
            Some(_) => return Err(self.err("unexpected character")),
            None => return Err(self.err("unexpected end of input")),
        }
        if let Some(o) = out {
            o.extend_from_slice(&self.b[start..self.i]);
        }
        Ok(())
    }

    /// ksqlDB's text for an array read into a STRING column: elements joined by ", " in
    /// brackets, strings unquoted, objects as compact JSON.
    fn array_as_string(&mut self, out: &mut Vec<u8>) -> Result<(), FormatError> {
        self.i += 1; // '['
        out.push(b'[');
        if self.peek() == Some(b']') {
            self.i += 1;
            out.push(b']');
            return Ok(());
        }
        let mut first = true;
        loop {
            if !first {
                out.extend_from_slice(b", ");
            }
            first = false;
            match self.peek() {
                Some(b'"') => {
                    let s = self.string()?;
                    let t = self.str_of(&s)?;
                    out.extend_from_slice(t.as_bytes());
                }
                Some(b'[') => {
                    self.enter()?;
                    self.array_as_string(out)?;
                    self.depth -= 1;
                }
                _ => self.walk(Some(out))?,
            }
            match self.peek() {
                Some(b',') => self.i += 1,
                Some(b']') => {
                    self.i += 1;
                    out.push(b']');
                    return Ok(());
                }
                _ => return Err(self.err("expected ',' or ']' in array")),
            }
        }
    }
}

/// Whether any byte of `x` is `"`, `\\` or a control character (< 0x20) (SWAR test).
#[inline]
fn has_special_byte(x: u64) -> bool {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let zero_byte = |v: u64| v.wrapping_sub(ONES) & !v & HIGH;
    let quote = zero_byte(x ^ (ONES * b'"' as u64));
    let backslash = zero_byte(x ^ (ONES * b'\\' as u64));
    let control = x.wrapping_sub(ONES * 0x20) & !x & HIGH;
    (quote | backslash | control) != 0
}

/// Finds the schema field matching `key` case-insensitively, trying `guess` first.
fn find_field(key: &str, upper: &[String], guess: usize) -> Option<usize> {
    if key.is_ascii() {
        if let Some(u) = upper.get(guess) {
            if u.eq_ignore_ascii_case(key) {
                return Some(guess);
            }
        }
        upper.iter().position(|u| u.eq_ignore_ascii_case(key))
    } else {
        let k = key.to_uppercase();
        upper.iter().position(|u| *u == k)
    }
}

fn mismatch(col: &ColumnBuilder, column: &str, found: String) -> FormatError {
    FormatError::TypeMismatch { column: column.to_string(), expected: ksql_type_name(&col.data_type), found }
}

fn push_bool(col: &mut ColumnBuilder, b: bool, column: &str) -> Result<(), FormatError> {
    match &mut col.store {
        Store::Bool(v) => v.push(b),
        Store::Bytes { data, offsets } if col.data_type == DataType::Utf8 => {
            data.extend_from_slice(if b { b"true" } else { b"false" });
            offsets.push(data.len() as i32);
        }
        _ => return Err(mismatch(col, column, format!("boolean `{b}`"))),
    }
    col.valid.push(true);
    Ok(())
}

fn push_number(col: &mut ColumnBuilder, text: &str, integer: bool, column: &str) -> Result<(), FormatError> {
    let range_err = |dt: &DataType| FormatError::OutOfRange {
        column: column.to_string(),
        expected: ksql_type_name(dt),
        text: snippet(text),
    };
    // Integral value of the number: exact for integer literals, truncated toward zero (as
    // Jackson's `longValue()`) for fractional ones.
    let as_long = |dt: &DataType| -> Result<i64, FormatError> {
        if integer {
            text.parse::<i64>().map_err(|_| range_err(dt))
        } else {
            let f: f64 = text.parse().map_err(|_| range_err(dt))?;
            let t = f.trunc();
            if (-9.223_372_036_854_776e18..9.223_372_036_854_776e18).contains(&t) {
                Ok(t as i64)
            } else {
                Err(range_err(dt))
            }
        }
    };
    match (&col.data_type, &mut col.store) {
        (dt, Store::I32(v)) => {
            let x = as_long(dt)?;
            v.push(i32::try_from(x).map_err(|_| range_err(dt))?);
        }
        (dt, Store::I64(v)) => v.push(as_long(dt)?),
        (dt, Store::F64(v)) => v.push(text.parse::<f64>().map_err(|_| range_err(dt))?),
        (DataType::Decimal128(p, s), Store::I128(v)) => {
            v.push(parse_decimal(text, *p, *s).map_err(|e| decimal_error(column, *p, *s, text, e))?)
        }
        (DataType::Utf8, Store::Bytes { data, offsets }) => {
            data.extend_from_slice(text.as_bytes());
            offsets.push(data.len() as i32);
        }
        _ => return Err(mismatch(col, column, format!("number `{}`", snippet(text)))),
    }
    col.valid.push(true);
    Ok(())
}

/// Decodes one JSON payload into `columns` (row index `row`). Returns `Ok(false)` for a
/// top-level `null` (a null record; nothing appended), `Ok(true)` when a row was appended.
pub(crate) fn decode_row(
    bytes: &[u8],
    columns: &mut [ColumnBuilder],
    upper: &[String],
    fields: &Fields,
    unwrapped: bool,
    row: usize,
    scratch: &mut Vec<u8>,
) -> Result<bool, FormatError> {
    let s = std::str::from_utf8(bytes).map_err(|e| FormatError::Malformed {
        format: "JSON",
        offset: e.valid_up_to(),
        message: "invalid UTF-8".into(),
        snippet: text::snippet_bytes(bytes),
    })?;
    let mut p = Parser { s, b: bytes, i: 0, depth: 0, scratch };
    match p.peek() {
        None => return Err(p.err("empty payload")),
        Some(b'n') => {
            p.literal(b"null")?;
            p.ws();
            if p.i != p.b.len() {
                return Err(p.err("trailing characters after the value"));
            }
            return Ok(false);
        }
        Some(b'{') if !unwrapped => p.object_into_fields(columns, upper, fields, row)?,
        Some(_) if !unwrapped => {
            let found = match p.b[p.i] {
                b'[' => "a JSON array".to_string(),
                b'"' => "a JSON string".to_string(),
                b't' | b'f' => "a JSON boolean".to_string(),
                _ => format!("`{}`", snippet(s.trim())),
            };
            return Err(FormatError::TypeMismatch {
                column: "<value>".into(),
                expected: format!(
                    "a JSON object with fields {}",
                    fields.iter().map(|f| f.name().as_str()).collect::<Vec<_>>().join(", ")
                ),
                found,
            });
        }
        Some(_) => {
            let name = fields[0].name();
            p.value_into(&mut columns[0], name)?;
        }
    }
    p.ws();
    if p.i != p.b.len() {
        return Err(p.err("trailing characters after the value"));
    }
    Ok(true)
}

// ---------------------------------------------------------------------------------------------
// Encoding

/// A typed view of an array, resolved once per column rather than per value.
enum Writer<'a> {
    Bool(&'a arrow::array::BooleanArray),
    I32(&'a arrow::array::PrimitiveArray<Int32Type>),
    I64(&'a arrow::array::PrimitiveArray<Int64Type>),
    F64(&'a arrow::array::PrimitiveArray<Float64Type>),
    Dec(&'a arrow::array::PrimitiveArray<Decimal128Type>, i8),
    Str(&'a arrow::array::StringArray),
    Bin(&'a arrow::array::BinaryArray),
    Ts(&'a arrow::array::PrimitiveArray<TimestampMillisecondType>),
    Date(&'a arrow::array::PrimitiveArray<Date32Type>),
    Time(&'a arrow::array::PrimitiveArray<Time32MillisecondType>),
    List(&'a GenericListArray<i32>, Box<Writer<'a>>),
    Map(&'a MapArray, Box<Writer<'a>>, Box<Writer<'a>>),
    Struct(&'a StructArray, Vec<(Vec<u8>, Writer<'a>)>),
}

impl<'a> Writer<'a> {
    fn new(array: &'a dyn Array, column: &str) -> Result<Self, FormatError> {
        Ok(match array.data_type() {
            DataType::Boolean => Writer::Bool(array.as_boolean()),
            DataType::Int32 => Writer::I32(array.as_primitive()),
            DataType::Int64 => Writer::I64(array.as_primitive()),
            DataType::Float64 => Writer::F64(array.as_primitive()),
            DataType::Decimal128(_, s) => Writer::Dec(array.as_primitive(), *s),
            DataType::Utf8 => Writer::Str(array.as_string()),
            DataType::Binary => Writer::Bin(array.as_binary()),
            DataType::Timestamp(TimeUnit::Millisecond, None) => Writer::Ts(array.as_primitive()),
            DataType::Date32 => Writer::Date(array.as_primitive()),
            DataType::Time32(TimeUnit::Millisecond) => Writer::Time(array.as_primitive()),
            DataType::List(_) => {
                let l = array.as_list::<i32>();
                Writer::List(l, Box::new(Writer::new(l.values().as_ref(), column)?))
            }
            DataType::Map(_, _) => {
                let m = array.as_map();
                Writer::Map(
                    m,
                    Box::new(Writer::new(m.keys().as_ref(), column)?),
                    Box::new(Writer::new(m.values().as_ref(), column)?),
                )
            }
            DataType::Struct(fields) => {
                let s = array.as_struct();
                let mut children = Vec::with_capacity(fields.len());
                for (f, c) in fields.iter().zip(s.columns()) {
                    let mut key = Vec::new();
                    write_json_string(&mut key, f.name());
                    children.push((key, Writer::new(c.as_ref(), column)?));
                }
                Writer::Struct(s, children)
            }
            other => {
                return Err(FormatError::UnsupportedType {
                    format: "JSON",
                    column: column.to_string(),
                    data_type: other.to_string(),
                })
            }
        })
    }

    fn is_null(&self, row: usize) -> bool {
        match self {
            Writer::Bool(a) => a.is_null(row),
            Writer::I32(a) => a.is_null(row),
            Writer::I64(a) => a.is_null(row),
            Writer::F64(a) => a.is_null(row),
            Writer::Dec(a, _) => a.is_null(row),
            Writer::Str(a) => a.is_null(row),
            Writer::Bin(a) => a.is_null(row),
            Writer::Ts(a) => a.is_null(row),
            Writer::Date(a) => a.is_null(row),
            Writer::Time(a) => a.is_null(row),
            Writer::List(a, _) => a.is_null(row),
            Writer::Map(a, _, _) => a.is_null(row),
            Writer::Struct(a, _) => a.is_null(row),
        }
    }

    fn write(&self, out: &mut Vec<u8>, row: usize) {
        if self.is_null(row) {
            out.extend_from_slice(b"null");
            return;
        }
        match self {
            Writer::Bool(a) => out.extend_from_slice(if a.value(row) { b"true" } else { b"false" }),
            Writer::I32(a) => write_int(out, a.value(row) as i64),
            Writer::I64(a) => write_int(out, a.value(row)),
            Writer::F64(a) => {
                let d = a.value(row);
                if d.is_finite() {
                    text::write_java_double(out, d);
                } else {
                    // Jackson quotes non-numeric numbers by default.
                    out.push(b'"');
                    text::write_java_double(out, d);
                    out.push(b'"');
                }
            }
            Writer::Dec(a, s) => text::write_decimal(out, a.value(row), *s),
            Writer::Str(a) => write_json_string(out, a.value(row)),
            Writer::Bin(a) => {
                out.push(b'"');
                out.extend_from_slice(BASE64.encode(a.value(row)).as_bytes());
                out.push(b'"');
            }
            Writer::Ts(a) => write_int(out, a.value(row)),
            Writer::Date(a) => write_int(out, a.value(row) as i64),
            Writer::Time(a) => write_int(out, a.value(row) as i64),
            Writer::List(a, child) => {
                let offsets = a.value_offsets();
                out.push(b'[');
                for (n, i) in (offsets[row] as usize..offsets[row + 1] as usize).enumerate() {
                    if n > 0 {
                        out.push(b',');
                    }
                    child.write(out, i);
                }
                out.push(b']');
            }
            Writer::Map(a, keys, values) => {
                let offsets = a.value_offsets();
                out.push(b'{');
                for (n, i) in (offsets[row] as usize..offsets[row + 1] as usize).enumerate() {
                    if n > 0 {
                        out.push(b',');
                    }
                    match keys.as_ref() {
                        Writer::Str(k) => write_json_string(out, k.value(i)),
                        other => {
                            // Non-string keys: write their JSON text as a string.
                            let mut tmp = Vec::new();
                            other.write(&mut tmp, i);
                            write_json_string(out, &String::from_utf8_lossy(&tmp));
                        }
                    }
                    out.push(b':');
                    values.write(out, i);
                }
                out.push(b'}');
            }
            Writer::Struct(_, children) => {
                out.push(b'{');
                for (n, (key, child)) in children.iter().enumerate() {
                    if n > 0 {
                        out.push(b',');
                    }
                    out.extend_from_slice(key);
                    out.push(b':');
                    child.write(out, row);
                }
                out.push(b'}');
            }
        }
    }
}

/// Appends the decimal text of `v` without allocating.
pub fn write_int(out: &mut Vec<u8>, v: i64) {
    let mut tmp = [0u8; 20];
    let i = text::digits_before_end(&mut tmp, v.unsigned_abs());
    if v < 0 {
        out.push(b'-');
    }
    out.extend_from_slice(&tmp[i..]);
}

/// Writes a JSON string the way Jackson escapes it: `"` `\` and control characters only.
pub(crate) fn write_json_string(out: &mut Vec<u8>, s: &str) {
    out.push(b'"');
    let bytes = s.as_bytes();
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let esc: &[u8] = match b {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            0x08 => b"\\b",
            0x0c => b"\\f",
            c if c < 0x20 => {
                out.extend_from_slice(&bytes[start..i]);
                out.extend_from_slice(format!("\\u{:04X}", c).as_bytes());
                start = i + 1;
                continue;
            }
            _ => continue,
        };
        out.extend_from_slice(&bytes[start..i]);
        out.extend_from_slice(esc);
        start = i + 1;
    }
    out.extend_from_slice(&bytes[start..]);
    out.push(b'"');
}

pub(crate) fn encode(
    columns: &[ArrayRef],
    fields: &Fields,
    unwrapped: bool,
    rows: usize,
) -> Result<EncodedRows, FormatError> {
    let writers = columns
        .iter()
        .zip(fields.iter())
        .map(|(c, f)| Writer::new(c.as_ref(), f.name()))
        .collect::<Result<Vec<_>, _>>()?;
    let keys: Vec<Vec<u8>> = fields
        .iter()
        .map(|f| {
            let mut k = Vec::new();
            write_json_string(&mut k, f.name());
            k
        })
        .collect();
    let mut out = Vec::with_capacity(rows);
    // Size each payload like the previous one, so long rows do not regrow their buffer.
    let mut capacity = 16 * writers.len() + 2;
    for row in 0..rows {
        if unwrapped {
            if writers[0].is_null(row) {
                out.push(Ok(None));
            } else {
                let mut buf = Vec::with_capacity(16);
                writers[0].write(&mut buf, row);
                out.push(Ok(Some(buf)));
            }
            continue;
        }
        let mut buf = Vec::with_capacity(capacity);
        buf.push(b'{');
        for (n, (w, k)) in writers.iter().zip(&keys).enumerate() {
            if n > 0 {
                buf.push(b',');
            }
            buf.extend_from_slice(k);
            buf.push(b':');
            w.write(&mut buf, row);
        }
        buf.push(b'}');
        capacity = buf.len() + 16;
        out.push(Ok(Some(buf)));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::has_special_byte;

    fn naive(word: &[u8; 8]) -> bool {
        word.iter().any(|&b| b == b'"' || b == b'\\' || b < 0x20)
    }

    #[test]
    fn swar_special_byte_matches_naive_scan() {
        for fill in [b'a', 0x7f, 0xff, 0x80, 0x21, 0x5d] {
            for b in 0..=255u8 {
                for pos in 0..8 {
                    let mut w = [fill; 8];
                    w[pos] = b;
                    assert_eq!(has_special_byte(u64::from_le_bytes(w)), naive(&w), "{w:?}");
                }
            }
        }
        let mut x: u64 = 0x1234_5678_9abc_def0;
        for _ in 0..100_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            assert_eq!(has_special_byte(x), naive(&x.to_le_bytes()), "{x:#x}");
        }
    }
}
