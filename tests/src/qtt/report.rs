//! Results, the console summary and the `--report` JSON-lines file.

use std::collections::HashMap;
use std::io::Write;
use std::sync::OnceLock;

use regex::Regex;
use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Passed,
    Failed,
    Skipped,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CaseResult {
    pub file: String,
    pub name: String,
    pub status: Status,
    pub reason: Option<String>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    pub passed: usize,
    pub failed: usize,
    pub skipped: usize,
}

impl Counts {
    pub fn add(&mut self, s: Status) {
        match s {
            Status::Passed => self.passed += 1,
            Status::Failed => self.failed += 1,
            Status::Skipped => self.skipped += 1,
        }
    }
}

impl std::fmt::Display for Counts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} passed, {} failed, {} skipped", self.passed, self.failed, self.skipped)
    }
}

/// Reduces a failure reason to a short class: first line, quoted text and numbers replaced.
pub fn normalize_reason(reason: &str) -> String {
    static RES: OnceLock<Vec<(Regex, &'static str)>> = OnceLock::new();
    let res = RES.get_or_init(|| {
        vec![
            (Regex::new(r#""(?:[^"\\]|\\.)*""#).expect("regex"), "\"_\""),
            (Regex::new(r"'[^']*'").expect("regex"), "'_'"),
            (Regex::new(r"`[^`]*`").expect("regex"), "`_`"),
            (Regex::new(r"\[[^\]]*\]").expect("regex"), "[_]"),
            (Regex::new(r"\d+").expect("regex"), "N"),
        ]
    });
    let first = reason.lines().next().unwrap_or("");
    let mut s = first.split(" | ").next().unwrap_or(first).trim().to_string();
    for (re, rep) in res {
        s = re.replace_all(&s, *rep).into_owned();
    }
    if s.chars().count() > 120 {
        s = format!("{}...", s.chars().take(120).collect::<String>());
    }
    s
}

/// The console summary: one line per file, the top failure classes, and the totals line last.
pub fn summary(results: &[CaseResult]) -> String {
    summary_with_files(&[], results)
}

/// Like [`summary`], but also lists `files` that have no results (e.g. all cases disabled),
/// in the given order; files only present in `results` follow.
pub fn summary_with_files(all_files: &[String], results: &[CaseResult]) -> String {
    let mut out = String::new();
    let mut files: Vec<(&str, Counts)> = all_files.iter().map(|f| (f.as_str(), Counts::default())).collect();
    let mut total = Counts::default();
    let mut reasons: HashMap<String, usize> = HashMap::new();
    for r in results {
        match files.iter_mut().find(|(f, _)| *f == r.file) {
            Some((_, c)) => c.add(r.status),
            None => {
                let mut c = Counts::default();
                c.add(r.status);
                files.push((&r.file, c));
            }
        }
        total.add(r.status);
        if r.status == Status::Failed {
            *reasons.entry(normalize_reason(r.reason.as_deref().unwrap_or(""))).or_default() += 1;
        }
    }
    for (f, c) in &files {
        out.push_str(&format!("{f}: {c}\n"));
    }
    if !reasons.is_empty() {
        let mut top: Vec<(String, usize)> = reasons.into_iter().collect();
        top.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        out.push_str("\nMost common failure reasons:\n");
        for (reason, n) in top.iter().take(10) {
            out.push_str(&format!("{n:>6}  {reason}\n"));
        }
        out.push('\n');
    }
    out.push_str(&total.to_string());
    out
}

pub fn totals(results: &[CaseResult]) -> Counts {
    let mut c = Counts::default();
    for r in results {
        c.add(r.status);
    }
    c
}

/// Writes one JSON object per line per case.
pub fn write_report(mut w: impl Write, results: &[CaseResult]) -> std::io::Result<()> {
    for r in results {
        serde_json::to_writer(&mut w, r)?;
        w.write_all(b"\n")?;
    }
    w.flush()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn res(file: &str, status: Status, reason: Option<&str>) -> CaseResult {
        CaseResult { file: file.into(), name: "n".into(), status, reason: reason.map(str::to_string) }
    }

    #[test]
    fn normalizes_reasons() {
        assert_eq!(
            normalize_reason("statement 2 failed: Column 'FOO' not found in \"x\"\nStatement: CREATE"),
            "statement N failed: Column '_' not found in \"_\""
        );
        assert_eq!(normalize_reason("topic 'S1': expected 3 records, got 0"), "topic '_': expected N records, got N");
        assert_eq!(
            normalize_reason("expected exception KsqlException but got Engine error: x | expected message: 'a' b"),
            "expected exception KsqlException but got Engine error: x"
        );
    }

    #[test]
    fn summary_lines() {
        let results = vec![
            res("a.json", Status::Passed, None),
            res("a.json", Status::Failed, Some("x 1")),
            res("b.json", Status::Skipped, Some("unsupported format AVRO")),
            res("b.json", Status::Failed, Some("x 2")),
        ];
        let s = summary(&results);
        let lines: Vec<&str> = s.lines().collect();
        assert_eq!(lines[0], "a.json: 1 passed, 1 failed, 0 skipped");
        assert_eq!(lines[1], "b.json: 0 passed, 1 failed, 1 skipped");
        assert!(s.contains("     2  x N"));
        assert_eq!(*lines.last().unwrap(), "1 passed, 2 failed, 1 skipped");
        let s = summary_with_files(&["z.json".to_string(), "b.json".to_string()], &results);
        let lines: Vec<&str> = s.lines().collect();
        assert_eq!(lines[0], "z.json: 0 passed, 0 failed, 0 skipped");
        assert_eq!(lines[1], "b.json: 0 passed, 1 failed, 1 skipped");
        assert_eq!(lines[2], "a.json: 1 passed, 1 failed, 0 skipped");
        let mut buf = Vec::new();
        write_report(&mut buf, &results).unwrap();
        let first: serde_json::Value = serde_json::from_str(std::str::from_utf8(&buf).unwrap().lines().nth(2).unwrap()).unwrap();
        assert_eq!(first["status"], "skipped");
        assert_eq!(first["file"], "b.json");
    }
}
