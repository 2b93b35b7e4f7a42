//! The bordered listing ksqlDB's CLI prints for entities (`SHOW STREAMS`, status messages, ...):
//!
//! ```text
//!  Stream Name | Kafka Topic | Key Format | Value Format | Windowed
//! -----------------------------------------------------------------
//!  PAGEVIEWS   | pageviews   | KAFKA      | JSON         | false
//! -----------------------------------------------------------------
//! ```
//!
//! Columns are as wide as their widest cell; trailing spaces are trimmed.

use unicode_width::UnicodeWidthStr;

#[derive(Debug, Default)]
pub struct Table {
    headers: Vec<String>,
    rows: Vec<Vec<String>>,
    footer: Vec<String>,
}

impl Table {
    pub fn new<I, S>(headers: I) -> Table
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Table { headers: headers.into_iter().map(Into::into).collect(), ..Table::default() }
    }

    pub fn row<I, S>(mut self, cells: I) -> Table
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.push_row(cells);
        self
    }

    pub fn push_row<I, S>(&mut self, cells: I)
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.rows.push(cells.into_iter().map(Into::into).collect());
    }

    /// A line printed after the closing separator.
    pub fn footer(mut self, line: impl Into<String>) -> Table {
        self.footer.push(line.into());
        self
    }

    pub fn render(&self) -> String {
        let columns = self.headers.len();
        let mut widths: Vec<usize> = self.headers.iter().map(|h| h.width()).collect();
        for row in &self.rows {
            for (i, cell) in row.iter().enumerate().take(columns) {
                // A multi-line cell is as wide as its widest line.
                let width = cell.lines().map(UnicodeWidthStr::width).max().unwrap_or(0);
                widths[i] = widths[i].max(width);
            }
        }
        let line_width = widths.iter().sum::<usize>() + 3 * columns.saturating_sub(1) + 2;
        let separator = "-".repeat(line_width);
        let mut out = String::new();
        push_line(&mut out, &format_row(&self.headers, &widths));
        push_line(&mut out, &separator);
        for row in &self.rows {
            push_line(&mut out, &format_row(row, &widths));
        }
        push_line(&mut out, &separator);
        for line in &self.footer {
            push_line(&mut out, line);
        }
        out
    }
}

fn push_line(out: &mut String, line: &str) {
    out.push_str(line.trim_end());
    out.push('\n');
}

/// One row; a cell holding several lines makes the row several lines tall.
fn format_row(cells: &[String], widths: &[usize]) -> String {
    let height = cells.iter().map(|c| c.lines().count().max(1)).max().unwrap_or(1);
    let mut lines = Vec::with_capacity(height);
    for line_index in 0..height {
        let mut line = String::from(" ");
        for (i, width) in widths.iter().enumerate() {
            if i > 0 {
                line.push_str(" | ");
            }
            let text = cells.get(i).and_then(|c| c.lines().nth(line_index)).unwrap_or("");
            line.push_str(text);
            line.push_str(&" ".repeat(width.saturating_sub(text.width())));
        }
        lines.push(line.trim_end().to_string());
    }
    lines.join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_ksqldb_style_listing() {
        let table = Table::new(["Name", "Topic"]).row(["PAGEVIEWS", "pv"]).row(["U", "users_topic"]);
        assert_eq!(
            table.render(),
            " Name      | Topic\n\
             -------------------------\n \
             PAGEVIEWS | pv\n \
             U         | users_topic\n\
             -------------------------\n"
        );
    }

    #[test]
    fn empty_listing_keeps_header_and_separators() {
        assert_eq!(Table::new(["Message"]).render(), " Message\n---------\n---------\n");
    }

    #[test]
    fn multi_line_cells_span_lines() {
        let table = Table::new(["A", "B"]).row(["x\ny", "z"]).footer("done");
        assert_eq!(table.render(), " A | B\n-------\n x | z\n y |\n-------\ndone\n");
    }
}
