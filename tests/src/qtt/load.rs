//! Loading QTT files: comment stripping, parsing, `format`/`config` expansion and
//! detection of cases that need a schema-registry format (skipped for now).

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use regex::Regex;
use serde_json::Value;

use super::model::{QttFile, TestCase};

/// Formats that need a schema registry; cases using them are reported as skipped.
pub const UNSUPPORTED_FORMATS: &[&str] = &["AVRO", "PROTOBUF", "JSON_SR", "PROTOBUF_NOSR"];

/// One expanded case, ready to run (or to report as skipped / invalid).
#[derive(Debug, Clone)]
pub struct Case {
    /// File display name, e.g. `project-filter.json`.
    pub file: String,
    /// Full test name: `<file stem> - <name>[ - <format>][ - <prop>=<config>]`.
    pub name: String,
    pub kind: CaseKind,
}

#[derive(Debug, Clone)]
pub enum CaseKind {
    Run(Box<TestCase>),
    Skip(String),
    /// The case JSON could not be understood; counted as failed.
    Invalid(String),
}

/// Removes `//` line comments and `/* */` block comments, leaving string literals intact.
/// Newlines inside removed comments are kept so serde_json error positions stay meaningful.
pub fn strip_comments(src: &str) -> String {
    let mut out = String::with_capacity(src.len());
    let mut chars = src.chars().peekable();
    let mut in_string = false;
    while let Some(c) = chars.next() {
        if in_string {
            out.push(c);
            match c {
                '\\' => {
                    if let Some(n) = chars.next() {
                        out.push(n);
                    }
                }
                '"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match c {
            '"' => {
                in_string = true;
                out.push(c);
            }
            '/' if chars.peek() == Some(&'/') => {
                for n in chars.by_ref() {
                    if n == '\n' {
                        out.push('\n');
                        break;
                    }
                }
            }
            '/' if chars.peek() == Some(&'*') => {
                chars.next();
                let mut prev = '\0';
                for n in chars.by_ref() {
                    if n == '\n' {
                        out.push('\n');
                    }
                    if prev == '*' && n == '/' {
                        break;
                    }
                    prev = n;
                }
                out.push(' ');
            }
            _ => out.push(c),
        }
    }
    out
}

/// Collects QTT files from files/folders (folders recursively, `*.json`, sorted).
/// Returns `(path, display name)` pairs.
pub fn collect_files(paths: &[PathBuf]) -> std::io::Result<Vec<(PathBuf, String)>> {
    let mut out = Vec::new();
    for p in paths {
        let with_path = |e: std::io::Error| std::io::Error::new(e.kind(), format!("{}: {e}", p.display()));
        let meta = std::fs::metadata(p).map_err(with_path)?;
        if meta.is_dir() {
            let mut found = Vec::new();
            walk(p, &mut found).map_err(with_path)?;
            found.sort();
            for f in found {
                let display = f.strip_prefix(p).unwrap_or(&f).to_string_lossy().replace('\\', "/");
                out.push((f, display));
            }
        } else {
            let display = p.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            out.push((p.clone(), display));
        }
    }
    Ok(out)
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            walk(&path, out)?;
        } else if path.extension().is_some_and(|e| e.eq_ignore_ascii_case("json")) {
            out.push(path);
        }
    }
    Ok(())
}

/// Parses the text of one QTT file into expanded cases. `display` is the file's display
/// name (used for `Case::file`); its stem prefixes every test name.
pub fn parse_file(display: &str, text: &str) -> Result<Vec<Case>, String> {
    let stripped = strip_comments(text);
    let file: QttFile = serde_json::from_str(&stripped).map_err(|e| format!("invalid QTT file: {e}"))?;
    let stem = Path::new(display)
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| display.to_string());
    let mut cases = Vec::new();
    for (idx, raw) in file.tests.into_iter().enumerate() {
        if raw.get("enabled") == Some(&Value::Bool(false)) {
            continue;
        }
        let raw_name = raw.get("name").and_then(Value::as_str).map(str::to_string);
        match serde_json::from_value::<TestCase>(raw) {
            Ok(tc) => cases.extend(expand(display, &stem, tc)),
            Err(e) => cases.push(Case {
                file: display.to_string(),
                name: format!("{stem} - {}", raw_name.unwrap_or_else(|| format!("#{idx}"))),
                kind: CaseKind::Invalid(format!("invalid case: {e}")),
            }),
        }
    }
    Ok(cases)
}

/// Expands a case once per `format` entry and once per `config` entry.
pub fn expand(file: &str, stem: &str, tc: TestCase) -> Vec<Case> {
    if !tc.enabled {
        return Vec::new();
    }
    let formats: Vec<Option<String>> =
        if tc.format.is_empty() { vec![None] } else { tc.format.iter().cloned().map(Some).collect() };
    let config_prop = tc.properties.iter().find(|(_, v)| v.as_str() == Some("{CONFIG}")).map(|(k, _)| k.clone());
    let configs: Vec<Option<String>> = match &config_prop {
        Some(_) if !tc.config.is_empty() => tc.config.iter().cloned().map(Some).collect(),
        _ => vec![None],
    };
    let mut out = Vec::new();
    for format in &formats {
        for config in &configs {
            let mut c = tc.clone();
            c.format.clear();
            c.config.clear();
            let mut name = format!("{stem} - {}", tc.name);
            if let Some(f) = format {
                name.push_str(&format!(" - {f}"));
                for s in &mut c.statements {
                    *s = s.replace("{FORMAT}", f);
                }
            }
            if let (Some(cfg), Some(prop)) = (config, &config_prop) {
                name.push_str(&format!(" - {prop}={cfg}"));
                c.properties.insert(prop.clone(), Value::String(cfg.clone()));
            }
            let kind = match unsupported_format(&c) {
                Some(f) => CaseKind::Skip(format!("unsupported format {f}")),
                None => CaseKind::Run(Box::new(c)),
            };
            out.push(Case { file: file.to_string(), name, kind });
        }
    }
    out
}

fn format_prop_regex() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| {
        Regex::new(r#"(?i)\b(?:KEY_FORMAT|VALUE_FORMAT|FORMAT)\s*=\s*['"]?([A-Za-z_]+)"#).expect("valid regex")
    })
}

fn is_unsupported(format: &str) -> Option<String> {
    let f = format.trim().to_ascii_uppercase();
    UNSUPPORTED_FORMATS.contains(&f.as_str()).then_some(f)
}

/// The first schema-registry format the (expanded) case needs, if any.
pub fn unsupported_format(tc: &TestCase) -> Option<String> {
    for stmt in &tc.statements {
        for cap in format_prop_regex().captures_iter(stmt) {
            if let Some(f) = is_unsupported(&cap[1]) {
                return Some(f);
            }
        }
    }
    for t in &tc.topics {
        for f in [&t.key_format, &t.value_format, &t.format].into_iter().flatten() {
            if let Some(f) = is_unsupported(f) {
                return Some(f);
            }
        }
    }
    for (k, v) in &tc.properties {
        if k.starts_with("ksql.persistence.default.format.") {
            if let Some(f) = v.as_str().and_then(is_unsupported) {
                return Some(f);
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strips_line_and_block_comments() {
        let src = "{\n // a comment\n \"a\": 1, /* block\n comment */ \"b\": \"x\" // trailing\n}";
        let v: Value = serde_json::from_str(&strip_comments(src)).unwrap();
        assert_eq!(v, serde_json::json!({"a": 1, "b": "x"}));
    }

    #[test]
    fn keeps_comment_markers_inside_strings() {
        let src = r#"{"url": "http://x/*y*/", "s": "a \" // b", "t": "/* c */"} // end"#;
        let v: Value = serde_json::from_str(&strip_comments(src)).unwrap();
        assert_eq!(v, serde_json::json!({"url": "http://x/*y*/", "s": "a \" // b", "t": "/* c */"}));
    }

    #[test]
    fn block_comment_with_stars() {
        let src = "[1, /** doc **/ 2]";
        let v: Value = serde_json::from_str(&strip_comments(src)).unwrap();
        assert_eq!(v, serde_json::json!([1, 2]));
    }

    fn names(cases: &[Case]) -> Vec<&str> {
        cases.iter().map(|c| c.name.as_str()).collect()
    }

    #[test]
    fn expands_formats_and_configs() {
        let text = r#"{"tests": [
          {"name": "a", "format": ["JSON", "AVRO"], "config": ["true", "false"],
           "properties": {"ksql.new.query.planner.enabled": "{CONFIG}", "other": 1},
           "statements": ["CREATE STREAM S (K INT KEY, V INT) WITH (kafka_topic='t', value_format='{FORMAT}');"],
           "inputs": [], "outputs": []},
          {"name": "b", "enabled": false, "statements": ["x"]},
          {"name": "c", "statements": ["SELECT 1;"], "outputs": []}
        ]}"#;
        let cases = parse_file("my-file.json", text).unwrap();
        assert_eq!(
            names(&cases),
            vec![
                "my-file - a - JSON - ksql.new.query.planner.enabled=true",
                "my-file - a - JSON - ksql.new.query.planner.enabled=false",
                "my-file - a - AVRO - ksql.new.query.planner.enabled=true",
                "my-file - a - AVRO - ksql.new.query.planner.enabled=false",
                "my-file - c",
            ]
        );
        match &cases[1].kind {
            CaseKind::Run(tc) => {
                assert!(tc.statements[0].contains("value_format='JSON'"));
                assert_eq!(tc.properties["ksql.new.query.planner.enabled"], Value::String("false".into()));
                assert_eq!(tc.properties["other"], serde_json::json!(1));
            }
            other => panic!("unexpected {other:?}"),
        }
        assert!(matches!(&cases[2].kind, CaseKind::Skip(r) if r.contains("AVRO")));
        assert_eq!(cases[0].file, "my-file.json");
    }

    #[test]
    fn detects_unsupported_formats() {
        let mk = |json: &str| -> TestCase { serde_json::from_str(json).unwrap() };
        let t = mk(r#"{"name":"x","statements":["CREATE STREAM S (A INT) WITH (kafka_topic='t', format = 'protobuf_nosr');"]}"#);
        assert_eq!(unsupported_format(&t).as_deref(), Some("PROTOBUF_NOSR"));
        let t = mk(r#"{"name":"x","statements":["CREATE STREAM S (A INT) WITH (KEY_FORMAT='KAFKA', VALUE_FORMAT='JSON');"]}"#);
        assert_eq!(unsupported_format(&t), None);
        let t = mk(r#"{"name":"x","statements":["x"],"topics":[{"name":"t","valueFormat":"JSON_SR"}]}"#);
        assert_eq!(unsupported_format(&t).as_deref(), Some("JSON_SR"));
        let t = mk(r#"{"name":"x","statements":["x"],"properties":{"ksql.persistence.default.format.value":"AVRO"}}"#);
        assert_eq!(unsupported_format(&t).as_deref(), Some("AVRO"));
    }

    #[test]
    fn invalid_case_is_reported_not_fatal() {
        let cases = parse_file("f.json", r#"{"tests": [{"name": "bad"}, {"name": "ok", "statements": ["x"]}]}"#).unwrap();
        assert_eq!(cases.len(), 2);
        assert!(matches!(cases[0].kind, CaseKind::Invalid(_)));
        assert!(matches!(cases[1].kind, CaseKind::Run(_)));
    }
}
