//! `post` conditions: sources (schema, formats, window, features) and topics.

use regex::Regex;
use runnel_parser::{SourceKind, SqlType, StructField};
use runnel_runtime::engine::{ColumnRole, Engine, SourceDescription, WindowType};

use super::model::{FormatNode, PostConditions, PostTopicNode, SourceNode};

/// Renders a type the way ksqlDB prints schemas.
pub use runnel_planner::types::display_type as render_type;

/// One column of an expected schema string.
#[derive(Debug, Clone, PartialEq)]
pub struct SchemaColumn {
    pub name: String,
    pub data_type: SqlType,
    pub role: ColumnRole,
    pub header_key: Option<String>,
}

impl SchemaColumn {
    fn render(&self) -> String {
        let role = match (self.role, &self.header_key) {
            (ColumnRole::Key, _) => " KEY".to_string(),
            (ColumnRole::Value, _) => String::new(),
            (ColumnRole::Header, None) => " HEADERS".to_string(),
            (ColumnRole::Header, Some(k)) => format!(" HEADER('{k}')"),
        };
        format!("`{}` {}{role}", self.name, render_type(&self.data_type))
    }
}

/// Renders a schema in a normalized form: key columns first, then the others, in order.
pub fn render_schema(cols: &[SchemaColumn]) -> String {
    let keys = cols.iter().filter(|c| c.role == ColumnRole::Key);
    let rest = cols.iter().filter(|c| c.role != ColumnRole::Key);
    keys.chain(rest).map(SchemaColumn::render).collect::<Vec<_>>().join(", ")
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    /// Identifier; `true` if it was back-ticked or double-quoted.
    Ident(String, bool),
    Num(u64),
    Str(String),
    Sym(char),
}

fn tokenize(s: &str) -> Result<Vec<Tok>, String> {
    let mut out = Vec::new();
    let chars: Vec<char> = s.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() {
            i += 1;
        } else if c == '`' || c == '"' || c == '\'' {
            let mut j = i + 1;
            let mut text = String::new();
            loop {
                match chars.get(j) {
                    None => return Err(format!("unterminated quote in schema: {s}")),
                    Some(&q) if q == c => {
                        if chars.get(j + 1) == Some(&c) {
                            text.push(c);
                            j += 2;
                        } else {
                            break;
                        }
                    }
                    Some(&ch) => {
                        text.push(ch);
                        j += 1;
                    }
                }
            }
            out.push(if c == '\'' { Tok::Str(text) } else { Tok::Ident(text, true) });
            i = j + 1;
        } else if c.is_ascii_digit() {
            let start = i;
            while i < chars.len() && chars[i].is_ascii_digit() {
                i += 1;
            }
            let n: String = chars[start..i].iter().collect();
            out.push(Tok::Num(n.parse().map_err(|e| format!("bad number {n}: {e}"))?));
        } else if c.is_alphanumeric() || c == '_' || c == '$' || c == '@' {
            let start = i;
            while i < chars.len() && (chars[i].is_alphanumeric() || matches!(chars[i], '_' | '$' | '@' | '.')) {
                i += 1;
            }
            out.push(Tok::Ident(chars[start..i].iter().collect(), false));
        } else if "<>(),".contains(c) {
            out.push(Tok::Sym(c));
            i += 1;
        } else {
            return Err(format!("unexpected '{c}' in schema: {s}"));
        }
    }
    Ok(out)
}

struct Parser {
    toks: Vec<Tok>,
    pos: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos)
    }
    fn next(&mut self) -> Option<Tok> {
        let t = self.toks.get(self.pos).cloned();
        self.pos += 1;
        t
    }
    fn expect(&mut self, c: char) -> Result<(), String> {
        match self.next() {
            Some(Tok::Sym(x)) if x == c => Ok(()),
            other => Err(format!("expected '{c}' but found {other:?}")),
        }
    }
    fn peek_keyword(&self, kw: &str) -> bool {
        matches!(self.peek(), Some(Tok::Ident(s, false)) if s.eq_ignore_ascii_case(kw))
    }
    /// A column or field name: unquoted names are upper-cased, quoted ones kept.
    fn name(&mut self) -> Result<String, String> {
        match self.next() {
            Some(Tok::Ident(s, true)) => Ok(s),
            Some(Tok::Ident(s, false)) => Ok(s.to_ascii_uppercase()),
            other => Err(format!("expected a name but found {other:?}")),
        }
    }
    fn num(&mut self) -> Result<u64, String> {
        match self.next() {
            Some(Tok::Num(n)) => Ok(n),
            other => Err(format!("expected a number but found {other:?}")),
        }
    }

    fn data_type(&mut self) -> Result<SqlType, String> {
        let word = match self.next() {
            Some(Tok::Ident(s, false)) => s.to_ascii_uppercase(),
            Some(Tok::Ident(s, true)) => return Ok(SqlType::Custom(s)),
            other => return Err(format!("expected a type but found {other:?}")),
        };
        Ok(match word.as_str() {
            "BOOLEAN" => SqlType::Boolean,
            "INT" | "INTEGER" => SqlType::Int,
            "BIGINT" => SqlType::Bigint,
            "DOUBLE" => SqlType::Double,
            "STRING" | "VARCHAR" => {
                if self.peek() == Some(&Tok::Sym('(')) {
                    self.next();
                    self.num()?;
                    self.expect(')')?;
                }
                SqlType::String
            }
            "BYTES" => SqlType::Bytes,
            "TIMESTAMP" => SqlType::Timestamp,
            "DATE" => SqlType::Date,
            "TIME" => SqlType::Time,
            "DECIMAL" => {
                self.expect('(')?;
                let p = self.num()?;
                self.expect(',')?;
                let s = self.num()?;
                self.expect(')')?;
                SqlType::Decimal {
                    precision: u8::try_from(p).map_err(|_| "precision too large")?,
                    scale: u8::try_from(s).map_err(|_| "scale too large")?,
                }
            }
            "ARRAY" => {
                self.expect('<')?;
                let t = self.data_type()?;
                self.expect('>')?;
                SqlType::Array(Box::new(t))
            }
            "MAP" => {
                self.expect('<')?;
                let k = self.data_type()?;
                self.expect(',')?;
                let v = self.data_type()?;
                self.expect('>')?;
                SqlType::Map(Box::new(k), Box::new(v))
            }
            "STRUCT" => {
                self.expect('<')?;
                let mut fields = Vec::new();
                if self.peek() != Some(&Tok::Sym('>')) {
                    loop {
                        let name = self.name()?;
                        let data_type = self.data_type()?;
                        fields.push(StructField { name, data_type });
                        match self.next() {
                            Some(Tok::Sym(',')) => continue,
                            Some(Tok::Sym('>')) => break,
                            other => return Err(format!("expected ',' or '>' in STRUCT but found {other:?}")),
                        }
                    }
                } else {
                    self.next();
                }
                SqlType::Struct(fields)
            }
            _ => SqlType::Custom(word),
        })
    }

    fn column(&mut self) -> Result<SchemaColumn, String> {
        let name = self.name()?;
        let data_type = self.data_type()?;
        let (mut role, mut header_key) = (ColumnRole::Value, None);
        if self.peek_keyword("KEY") {
            self.next();
            role = ColumnRole::Key;
        } else if self.peek_keyword("PRIMARY") {
            self.next();
            if !self.peek_keyword("KEY") {
                return Err("expected KEY after PRIMARY".into());
            }
            self.next();
            role = ColumnRole::Key;
        } else if self.peek_keyword("HEADERS") {
            self.next();
            role = ColumnRole::Header;
        } else if self.peek_keyword("HEADER") {
            self.next();
            self.expect('(')?;
            match self.next() {
                Some(Tok::Str(k)) => header_key = Some(k),
                other => return Err(format!("expected a header key but found {other:?}")),
            }
            self.expect(')')?;
            role = ColumnRole::Header;
        }
        Ok(SchemaColumn { name, data_type, role, header_key })
    }
}

/// Parses a post-condition schema string like "`K` STRING KEY, `V` INT" or
/// "K STRING PRIMARY KEY, H ARRAY<STRUCT<KEY STRING, VALUE BYTES>> HEADERS".
pub fn parse_schema(s: &str) -> Result<Vec<SchemaColumn>, String> {
    let mut p = Parser { toks: tokenize(s)?, pos: 0 };
    let mut cols = Vec::new();
    if p.peek().is_none() {
        return Ok(cols);
    }
    loop {
        cols.push(p.column()?);
        match p.next() {
            None => break,
            Some(Tok::Sym(',')) => continue,
            other => return Err(format!("expected ',' but found {other:?} in schema: {s}")),
        }
    }
    Ok(cols)
}

fn actual_schema(src: &SourceDescription) -> Vec<SchemaColumn> {
    src.columns
        .iter()
        .map(|c| SchemaColumn {
            name: c.name.clone(),
            data_type: c.data_type.clone(),
            role: c.role,
            header_key: c.header_key.clone(),
        })
        .collect()
}

fn upper_set(v: &[String]) -> Vec<String> {
    let mut out: Vec<String> = v.iter().map(|s| s.to_ascii_uppercase()).collect();
    out.sort();
    out.dedup();
    out
}

fn window_name(w: WindowType) -> &'static str {
    match w {
        WindowType::Tumbling => "TUMBLING",
        WindowType::Hopping => "HOPPING",
        WindowType::Session => "SESSION",
    }
}

fn check_source(engine: &Engine, node: &SourceNode) -> Result<(), String> {
    let name = &node.name;
    let src = engine.source(name).ok_or_else(|| format!("post: source '{name}' does not exist"))?;
    if let Some(t) = &node.source_type {
        let actual = match src.kind {
            SourceKind::Stream => "stream",
            SourceKind::Table => "table",
        };
        if !t.eq_ignore_ascii_case(actual) {
            return Err(format!("post: source '{name}': expected type {t} but was {actual}"));
        }
    }
    if let Some(schema) = &node.schema {
        let expected = parse_schema(schema).map_err(|e| format!("post: bad expected schema for '{name}': {e}"))?;
        let (e, a) = (render_schema(&expected), render_schema(&actual_schema(&src)));
        if e != a {
            return Err(format!("post: source '{name}' schema: expected [{e}] but was [{a}]"));
        }
    }
    if let Some(kf) = &node.key_format {
        if let Some(f) = &kf.format {
            if !f.eq_ignore_ascii_case(&src.key_format) {
                return Err(format!("post: source '{name}': expected key format {f} but was {}", src.key_format));
            }
        }
        if let Some(wt) = &kf.window_type {
            let actual = src.window.map(|w| window_name(w.window_type)).unwrap_or("none");
            if !wt.eq_ignore_ascii_case(actual) {
                return Err(format!("post: source '{name}': expected window type {wt} but was {actual}"));
            }
            if let Some(size) = kf.window_size {
                let actual = src.window.and_then(|w| w.size_ms);
                if actual != Some(size) {
                    return Err(format!("post: source '{name}': expected window size {size} but was {actual:?}"));
                }
            }
        }
        if let Some(features) = &kf.features {
            compare_features(name, "key", features, &src.key_features)?;
        }
    }
    if let Some(f) = &node.value_format {
        if !f.eq_ignore_ascii_case(&src.value_format) {
            return Err(format!("post: source '{name}': expected value format {f} but was {}", src.value_format));
        }
    }
    if let Some(features) = &node.key_features {
        compare_features(name, "key", features, &src.key_features)?;
    }
    if let Some(features) = &node.value_features {
        compare_features(name, "value", features, &src.value_features)?;
    }
    if let Some(is_source) = node.is_source {
        if is_source != src.is_source {
            return Err(format!("post: source '{name}': expected isSource={is_source} but was {}", src.is_source));
        }
    }
    Ok(())
}

fn compare_features(name: &str, side: &str, expected: &[String], actual: &[String]) -> Result<(), String> {
    let (e, a) = (upper_set(expected), upper_set(actual));
    if e != a {
        return Err(format!("post: source '{name}': expected {side} features {e:?} but was {a:?}"));
    }
    Ok(())
}

fn check_topic_format(
    topic: &str,
    side: &str,
    expected: &FormatNode,
    actual_format: &str,
    actual_features: &[String],
) -> Result<(), String> {
    if let Some(f) = &expected.format {
        if !f.eq_ignore_ascii_case(actual_format) {
            return Err(format!("post: topic '{topic}': expected {side} format {f} but was {actual_format}"));
        }
    }
    if let Some(features) = &expected.features {
        let (e, a) = (upper_set(features), upper_set(actual_features));
        if e != a {
            return Err(format!("post: topic '{topic}': expected {side} features {e:?} but was {a:?}"));
        }
    }
    Ok(())
}

fn check_topic(engine: &Engine, node: &PostTopicNode, names: &[String]) -> Result<(), String> {
    let name = &node.name;
    if !names.iter().any(|n| n == name) {
        return Err(format!("post: topic '{name}' does not exist"));
    }
    if let Some(src) = engine.sources_for_topic(name).first() {
        if let Some(kf) = &node.key_format {
            check_topic_format(name, "key", kf, &src.key_format, &src.key_features)?;
        }
        if let Some(vf) = &node.value_format {
            check_topic_format(name, "value", vf, &src.value_format, &src.value_features)?;
        }
    }
    if let Some(p) = node.partitions {
        let actual = engine.topic_partitions(name);
        if actual != Some(p) {
            return Err(format!("post: topic '{name}': expected {p} partitions but was {actual:?}"));
        }
    }
    Ok(())
}

/// Checks all post conditions; the first failure is returned.
pub fn check_post(engine: &Engine, post: &PostConditions) -> Result<(), String> {
    for s in &post.sources {
        check_source(engine, s)?;
    }
    if let Some(topics) = &post.topics {
        let names = engine.topic_names();
        for t in &topics.topics {
            check_topic(engine, t, &names)?;
        }
        if let Some(bl) = &topics.blacklist {
            let re = Regex::new(&format!("^(?:{bl})$")).map_err(|e| format!("post: bad blacklist regex: {e}"))?;
            if let Some(n) = names.iter().find(|n| re.is_match(n)) {
                return Err(format!("post: topic '{n}' matches blacklist '{bl}'"));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn col(name: &str, t: SqlType, role: ColumnRole) -> SchemaColumn {
        SchemaColumn { name: name.into(), data_type: t, role, header_key: None }
    }

    #[test]
    fn parses_simple_schemas() {
        let a = parse_schema("`K` STRING KEY, `V` INT").unwrap();
        let b = parse_schema("K STRING KEY,V  INTEGER").unwrap();
        assert_eq!(a, b);
        assert_eq!(a, vec![col("K", SqlType::String, ColumnRole::Key), col("V", SqlType::Int, ColumnRole::Value)]);
        let t = parse_schema("ID BIGINT PRIMARY KEY, name VARCHAR, `lower` DOUBLE").unwrap();
        assert_eq!(t[0].role, ColumnRole::Key);
        assert_eq!(t[1].name, "NAME");
        assert_eq!(t[2].name, "lower");
        assert!(parse_schema("").unwrap().is_empty());
    }

    #[test]
    fn parses_nested_types() {
        let s = parse_schema(
            "K1 STRUCT<A INT, `b` ARRAY<MAP<STRING, DECIMAL(4,2)>>> KEY, H ARRAY<STRUCT<KEY STRING, VALUE BYTES>> HEADERS, X BYTES HEADER('abc')",
        )
        .unwrap();
        assert_eq!(
            render_schema(&s),
            "`K1` STRUCT<`A` INTEGER, `b` ARRAY<MAP<STRING, DECIMAL(4, 2)>>> KEY, \
             `H` ARRAY<STRUCT<`KEY` STRING, `VALUE` BYTES>> HEADERS, `X` BYTES HEADER('abc')"
        );
        assert_eq!(s[2].header_key.as_deref(), Some("abc"));
    }

    #[test]
    fn key_columns_render_first() {
        let a = parse_schema("V INT, K STRING KEY").unwrap();
        let b = parse_schema("K STRING PRIMARY KEY, V INT").unwrap();
        assert_eq!(render_schema(&a), render_schema(&b));
    }

    #[test]
    fn schema_errors() {
        assert!(parse_schema("K STRING KEY V INT").is_err());
        assert!(parse_schema("K DECIMAL(4 2)").is_err());
        assert!(parse_schema("K STRUCT<A INT").is_err());
    }

    #[test]
    fn renders_types() {
        assert_eq!(render_type(&SqlType::Map(Box::new(SqlType::String), Box::new(SqlType::Bigint))), "MAP<STRING, BIGINT>");
        assert_eq!(render_type(&SqlType::Decimal { precision: 10, scale: 3 }), "DECIMAL(10, 3)");
    }
}
