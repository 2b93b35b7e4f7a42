//! Query results printed frame by frame as they stream in, in ksqlDB's CLI layout:
//!
//! ```text
//! +----------+----------+
//! |ID        |NAME      |
//! +----------+----------+
//! |1         |alice     |
//! ```
//!
//! Column widths cannot come from the data (rows arrive one at a time), so like ksqlDB each
//! column gets an equal share of the terminal width and longer values wrap onto more lines.
//! Understands both `/query` frames (`header`, `row`, `finalMessage`, `errorMessage`) and
//! `/query-stream` ones (a metadata object with `columnNames`, then one array per row).

use serde_json::Value;
use unicode_width::UnicodeWidthChar;

use super::{cell_text, OutputFormat};
use crate::error::ServerError;

/// Narrowest a result column gets, however many columns there are.
const MIN_COLUMN_WIDTH: usize = 4;

/// What one frame was.
#[derive(Debug, PartialEq)]
pub enum FrameKind {
    Header {
        query_id: Option<String>,
    },
    Row,
    /// The server's closing message (`Query Completed`, `Limit Reached`).
    Final(String),
    Error(ServerError),
    /// Frames the CLI does not show (consistency tokens, ...).
    Other,
}

pub struct RowPrinter {
    format: OutputFormat,
    terminal_width: usize,
    column_width: usize,
    columns: usize,
    header_printed: bool,
}

impl RowPrinter {
    pub fn new(format: OutputFormat, terminal_width: usize) -> RowPrinter {
        RowPrinter { format, terminal_width, column_width: MIN_COLUMN_WIDTH, columns: 0, header_printed: false }
    }

    /// Classifies a frame and returns the text to print for it.
    pub fn frame(&mut self, frame: &Value) -> (FrameKind, String) {
        if let Some(header) = frame.get("header") {
            let names = header.get("schema").and_then(Value::as_str).map(column_names).unwrap_or_default();
            let id = header.get("queryId").and_then(Value::as_str).map(str::to_string);
            return (FrameKind::Header { query_id: id }, self.header(&names, frame));
        }
        if let Some(names) = frame.get("columnNames").and_then(Value::as_array) {
            let names: Vec<String> = names.iter().map(cell_text).collect();
            let id = frame.get("queryId").and_then(Value::as_str).map(str::to_string);
            return (FrameKind::Header { query_id: id }, self.header(&names, frame));
        }
        if let Some(row) = frame.get("row") {
            let tombstone = row.get("tombstone").and_then(Value::as_bool).unwrap_or(false);
            let columns = row.get("columns").and_then(Value::as_array).map(Vec::as_slice).unwrap_or(&[]);
            return (FrameKind::Row, self.row(columns, tombstone, frame));
        }
        if let Some(columns) = frame.as_array() {
            return (FrameKind::Row, self.row(columns, false, frame));
        }
        if let Some(message) = frame.get("finalMessage").and_then(Value::as_str) {
            return (FrameKind::Final(message.to_string()), self.json_or(frame, String::new()));
        }
        let error = frame.get("errorMessage").or_else(|| frame.get("error_code").map(|_| frame));
        if let Some(error) = error.and_then(ServerError::from_json) {
            return (FrameKind::Error(error), self.json_or(frame, String::new()));
        }
        (FrameKind::Other, self.json_or(frame, String::new()))
    }

    /// Text to print once the query has ended (the closing border).
    pub fn finish(&self) -> String {
        if self.format == OutputFormat::Tabular && self.header_printed {
            format!("{}\n", self.border())
        } else {
            String::new()
        }
    }

    fn header(&mut self, names: &[String], frame: &Value) -> String {
        self.columns = names.len().max(1);
        let share = self.terminal_width.saturating_sub(self.columns + 1) / self.columns;
        self.column_width = share.max(MIN_COLUMN_WIDTH);
        self.header_printed = true;
        if self.format == OutputFormat::Json {
            return format!("{frame}\n");
        }
        let border = self.border();
        format!("{border}\n{}{border}\n", self.line(names))
    }

    fn row(&mut self, columns: &[Value], tombstone: bool, frame: &Value) -> String {
        if self.format == OutputFormat::Json {
            return format!("{frame}\n");
        }
        let mut out = String::new();
        if !self.header_printed {
            // A server that sent no header: name and size the columns from the first row.
            let names: Vec<String> = (1..=columns.len()).map(|i| format!("COL{i}")).collect();
            out.push_str(&self.header(&names, frame));
        }
        let cells: Vec<String> = columns
            .iter()
            .map(|value| if tombstone && value.is_null() { "<TOMBSTONE>".to_string() } else { cell_text(value) })
            .collect();
        out.push_str(&self.line(&cells));
        out
    }

    fn json_or(&self, frame: &Value, tabular: String) -> String {
        match self.format {
            OutputFormat::Json => format!("{frame}\n"),
            OutputFormat::Tabular => tabular,
        }
    }

    fn border(&self) -> String {
        let segment = "-".repeat(self.column_width);
        let mut border = String::from("+");
        for _ in 0..self.columns {
            border.push_str(&segment);
            border.push('+');
        }
        border
    }

    /// One logical row: cells wrapped at the column width, padded, `|`-separated.
    fn line(&self, cells: &[String]) -> String {
        let wrapped: Vec<Vec<String>> = (0..self.columns)
            .map(|i| wrap(cells.get(i).map(String::as_str).unwrap_or(""), self.column_width))
            .collect();
        let height = wrapped.iter().map(Vec::len).max().unwrap_or(1);
        let mut out = String::new();
        for line_index in 0..height {
            out.push('|');
            for cell in &wrapped {
                let piece = cell.get(line_index).map(String::as_str).unwrap_or("");
                out.push_str(piece);
                let used: usize = piece.chars().map(|c| c.width().unwrap_or(0)).sum();
                out.push_str(&" ".repeat(self.column_width.saturating_sub(used)));
                out.push('|');
            }
            out.push('\n');
        }
        out
    }
}

/// Cuts `text` into pieces at most `width` columns wide (line breaks in the value start new
/// pieces).
fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut pieces = Vec::new();
    for line in text.split('\n') {
        let mut piece = String::new();
        let mut used = 0;
        for c in line.chars() {
            let w = c.width().unwrap_or(0);
            if used + w > width && !piece.is_empty() {
                pieces.push(std::mem::take(&mut piece));
                used = 0;
            }
            piece.push(c);
            used += w;
        }
        pieces.push(piece);
    }
    pieces
}

/// Column names from a `/query` header schema such as "`ID` STRING KEY, `V` STRUCT<`A` INT>".
pub fn column_names(schema: &str) -> Vec<String> {
    split_top_level(schema).into_iter().filter_map(|column| column_name(column.trim())).collect()
}

/// Splits at commas outside `<>`, `()` and backticks.
fn split_top_level(text: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let (mut depth, mut in_backticks, mut start) = (0i32, false, 0);
    for (at, c) in text.char_indices() {
        match c {
            '`' => in_backticks = !in_backticks,
            '<' | '(' if !in_backticks => depth += 1,
            '>' | ')' if !in_backticks => depth -= 1,
            ',' if !in_backticks && depth == 0 => {
                parts.push(&text[start..at]);
                start = at + 1;
            }
            _ => {}
        }
    }
    parts.push(&text[start..]);
    parts
}

fn column_name(column: &str) -> Option<String> {
    if column.is_empty() {
        return None;
    }
    if let Some(rest) = column.strip_prefix('`') {
        // `` inside a quoted name is one backtick.
        let mut name = String::new();
        let mut chars = rest.chars().peekable();
        while let Some(c) = chars.next() {
            if c == '`' {
                if chars.peek() == Some(&'`') {
                    chars.next();
                } else {
                    break;
                }
            }
            name.push(c);
        }
        return Some(name);
    }
    column.split_whitespace().next().map(str::to_string)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn column_names_from_header_schema() {
        assert_eq!(
            column_names("`ID` STRING KEY, `A``B` STRUCT<`X` INT, `Y` DECIMAL(4, 2)>, `M` MAP<STRING, INT>"),
            vec!["ID", "A`B", "M"]
        );
        assert_eq!(column_names("ID STRING, V INT"), vec!["ID", "V"]);
        assert_eq!(column_names(""), Vec::<String>::new());
    }

    #[test]
    fn prints_header_rows_and_closing_border() {
        let mut printer = RowPrinter::new(OutputFormat::Tabular, 23);
        let (kind, text) = printer.frame(&json!({"header": {"queryId": "q1", "schema": "`ID` STRING KEY, `N` INT"}}));
        assert_eq!(kind, FrameKind::Header { query_id: Some("q1".into()) });
        assert_eq!(text, "+----------+----------+\n|ID        |N         |\n+----------+----------+\n");
        let (kind, text) = printer.frame(&json!({"row": {"columns": ["alice", 7]}}));
        assert_eq!(kind, FrameKind::Row);
        assert_eq!(text, "|alice     |7         |\n");
        let (kind, text) = printer.frame(&json!({"finalMessage": "Limit Reached"}));
        assert_eq!(kind, FrameKind::Final("Limit Reached".into()));
        assert_eq!(text, "");
        assert_eq!(printer.finish(), "+----------+----------+\n");
    }

    #[test]
    fn long_values_wrap_and_nested_values_print_as_json() {
        let mut printer = RowPrinter::new(OutputFormat::Tabular, 15);
        printer.frame(&json!({"header": {"schema": "`A` STRING, `B` STRUCT<`X` INT>"}}));
        let (_, text) = printer.frame(&json!({"row": {"columns": ["abcdefghij", {"X": 1}]}}));
        assert_eq!(text, "|abcdef|{\"X\":1|\n|ghij  |}     |\n");
    }

    #[test]
    fn tombstones_and_query_stream_frames() {
        let mut printer = RowPrinter::new(OutputFormat::Tabular, 13);
        let (kind, _) =
            printer.frame(&json!({"queryId": "abc", "columnNames": ["K", "V"], "columnTypes": ["STRING", "INT"]}));
        assert_eq!(kind, FrameKind::Header { query_id: Some("abc".into()) });
        let (_, text) = printer.frame(&json!(["k1", 3]));
        assert_eq!(text, "|k1   |3    |\n");
        let (_, text) = printer.frame(&json!({"row": {"columns": ["k1", null], "tombstone": true}}));
        assert_eq!(text, "|k1   |<TOMB|\n|     |STONE|\n|     |>    |\n");
    }

    #[test]
    fn errors_in_the_stream_are_reported() {
        let mut printer = RowPrinter::new(OutputFormat::Tabular, 80);
        let (kind, _) =
            printer.frame(&json!({"errorMessage": {"@type": "generic_error", "error_code": 50000, "message": "boom"}}));
        match kind {
            FrameKind::Error(error) => {
                assert_eq!(error.error_code, Some(50000));
                assert_eq!(error.message, "boom");
            }
            other => panic!("expected an error frame, got {other:?}"),
        }
    }

    #[test]
    fn json_output_prints_frames_one_per_line() {
        let mut printer = RowPrinter::new(OutputFormat::Json, 80);
        let (_, text) = printer.frame(&json!({"row": {"columns": [1]}}));
        assert_eq!(text, "{\"row\":{\"columns\":[1]}}\n");
        assert_eq!(printer.finish(), "");
    }
}
