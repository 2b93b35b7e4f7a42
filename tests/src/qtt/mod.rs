//! The QTT conformance harness: runs ksqlDB's query-validation tests through [`Engine`].
//!
//! * [`load`]: comment stripping, case expansion, SR-format skipping.
//! * [`records`]: test-side encoding of input records / decoding of outputs.
//! * [`compare`]: output comparison; [`post`]: post conditions; [`report`]: summaries.

pub mod compare;
pub mod load;
pub mod model;
pub mod post;
pub mod records;
pub mod report;

use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, HashMap};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, Once};

use base64::Engine as _;
use runnel_runtime::engine::{Engine, EngineError, ErrorKind, TopicRecord, WindowInfo, WindowType};
use serde_json::Value;

use load::{Case, CaseKind};
use model::{ExpectedException, RecordNode, TestCase};
use records::{append_window, b64, encode, is_session, TopicSerde};
use report::{CaseResult, Status};

fn kind_name(kind: ErrorKind) -> &'static str {
    match kind {
        ErrorKind::Parse => "Parse",
        ErrorKind::Statement => "Statement",
        ErrorKind::Engine => "Engine",
        ErrorKind::Processing => "Processing",
    }
}

/// The simple class name of an expected exception type (`a.b.KsqlException` -> `KsqlException`).
fn simple_type(exp: &ExpectedException) -> Option<&str> {
    exp.exception_type.as_deref().map(|t| t.rsplit(['.', '$']).next().unwrap_or(t))
}

fn is_streams_exception(exp: &ExpectedException) -> bool {
    simple_type(exp) == Some("StreamsException")
}

/// Whether an error of `kind` satisfies an expected exception class.
pub fn kind_matches(kind: ErrorKind, expected_type: Option<&str>) -> bool {
    let Some(t) = expected_type else { return true };
    match t {
        // ksqlDB raises some semantic checks while building its AST (reserved names, literal
        // ranges, WITH values) as parse failures; we raise them as statement errors.
        "ParseFailedException" => matches!(kind, ErrorKind::Parse | ErrorKind::Statement),
        "KsqlStatementException" => matches!(kind, ErrorKind::Parse | ErrorKind::Statement),
        "KsqlException" => true,
        "StreamsException" => kind == ErrorKind::Processing,
        // Classes we do not model: accept any error.
        _ => true,
    }
}

fn describe_expected(exp: &ExpectedException) -> &str {
    simple_type(exp).unwrap_or("any exception")
}

/// Suffix naming the expected message; [`report::normalize_reason`] cuts reasons at " | ".
fn expected_message_suffix(exp: &ExpectedException) -> String {
    match &exp.message {
        Some(m) => format!(" | expected message: {}", m.lines().next().unwrap_or("")),
        None => String::new(),
    }
}

/// Checks an actual error against `expectedException`. `statement` is the failing statement
/// (ksqlDB appends "\nStatement: <sql>" to some messages).
pub fn check_exception(exp: &ExpectedException, err: &EngineError, statement: Option<&str>) -> Result<(), String> {
    let type_ok = kind_matches(err.kind, simple_type(exp));
    // With a `causeMessage` (StreamsException wrapping e.g. "Numeric field overflow") the cause's
    // message must appear; the outer Kafka Streams boilerplate message is not required then.
    let message_ok = match (&exp.cause_message, &exp.message) {
        (Some(cause), _) => err.message.contains(cause.as_str()),
        (None, None) => true,
        (None, Some(m)) => {
            err.message.contains(m.as_str())
                || statement.is_some_and(|s| format!("{}\nStatement: {s}", err.message).contains(m.as_str()))
        }
    };
    if type_ok && message_ok {
        Ok(())
    } else {
        Err(format!(
            "expected exception {} but got {} error: {}{}",
            describe_expected(exp),
            kind_name(err.kind),
            err.message.lines().next().unwrap_or(""),
            expected_message_suffix(exp)
        ))
    }
}

fn properties(tc: &TestCase) -> BTreeMap<String, String> {
    // ksqlDB's test executor disables the record cache: every update is emitted.
    let defaults = [("ksql.streams.cache.max.bytes.buffering".to_string(), "0".to_string())];
    defaults
        .into_iter()
        .chain(tc.properties
        .iter()
        .map(|(k, v)| {
            let v = match v {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            (k.clone(), v)
        }))
        .collect()
}

pub fn serde_for(engine: &Engine, tc: &TestCase, topic: &str) -> TopicSerde {
    match engine.sources_for_topic(topic).first() {
        Some(src) => TopicSerde::from_source(src),
        None => TopicSerde::from_decl(tc.topics.iter().find(|t| t.name == topic)),
    }
}

/// Encodes one input record.
pub fn encode_input(rec: &RecordNode, serde: &TopicSerde) -> Result<TopicRecord, String> {
    let mut key = encode(&serde.key, &rec.key).map_err(|e| format!("key: {e}"))?;
    if let Some(w) = &rec.window {
        key = Some(append_window(key, w, is_session(serde.window.as_ref(), Some(w))));
    }
    let value = encode(&serde.value, &rec.value).map_err(|e| format!("value: {e}"))?;
    let mut headers = Vec::new();
    for h in rec.headers.iter().flatten() {
        let v = match &h.value {
            Some(s) => Some(b64().decode(s).map_err(|e| format!("header '{}': invalid base64: {e}", h.key))?),
            None => None,
        };
        headers.push((h.key.clone(), v));
    }
    Ok(TopicRecord { key, value, timestamp: rec.timestamp.unwrap_or(0), headers, partition: 0, offset: 0 })
}

/// Runs one expanded case; `Ok` means passed.
pub fn run_case(tc: &TestCase) -> Result<(), String> {
    let mut engine = Engine::new(properties(tc));
    for t in &tc.topics {
        engine.create_topic(&t.name, t.partitions.unwrap_or(1));
    }
    let expected = tc.expected_exception.as_ref();

    for (i, stmt) in tc.statements.iter().enumerate() {
        if let Err(e) = engine.execute_sql(stmt) {
            return match expected {
                Some(exp) => check_exception(exp, &e, Some(stmt)).map_err(|r| format!("statement {}: {r}", i + 1)),
                None => Err(format!(
                    "statement {} failed ({}): {}",
                    i + 1,
                    kind_name(e.kind),
                    e.message.lines().next().unwrap_or("")
                )),
            };
        }
    }
    if let Some(exp) = expected {
        if !is_streams_exception(exp) {
            return Err(format!(
                "expected exception {} but statements succeeded{}",
                describe_expected(exp),
                expected_message_suffix(exp)
            ));
        }
    }

    // Inputs.
    let mut serdes: HashMap<String, TopicSerde> = HashMap::new();
    for (i, rec) in tc.inputs.iter().enumerate() {
        let serde = serdes.entry(rec.topic.clone()).or_insert_with(|| serde_for(&engine, tc, &rec.topic));
        let record = encode_input(rec, serde).map_err(|e| format!("input {i} to '{}': cannot encode {e}", rec.topic))?;
        if let Err(e) = engine.produce(&rec.topic, record) {
            return match expected {
                Some(exp) => check_exception(exp, &e, None),
                None => Err(format!("produce to '{}' failed: {}", rec.topic, e.message.lines().next().unwrap_or(""))),
            };
        }
    }
    if let Err(e) = engine.process() {
        return match expected {
            Some(exp) => check_exception(exp, &e, None),
            None => Err(format!("process failed ({}): {}", kind_name(e.kind), e.message.lines().next().unwrap_or(""))),
        };
    }
    if let Some(exp) = expected {
        return Err(format!(
                "expected exception {} but statements and processing succeeded{}",
                describe_expected(exp),
                expected_message_suffix(exp)
            ));
    }

    // Outputs, per topic in order of first appearance.
    let mut topics: Vec<&str> = Vec::new();
    for r in &tc.outputs {
        if !topics.contains(&r.topic.as_str()) {
            topics.push(&r.topic);
        }
    }
    let check_zero_ts = !tc.inputs.is_empty();
    for topic in topics {
        let expected: Vec<&RecordNode> = tc.outputs.iter().filter(|r| r.topic == topic).collect();
        let actual = engine.records(topic);
        if expected.len() != actual.len() {
            // The first skipped record usually says why records are missing.
            let why = engine.processing_errors().first().map(|e| format!(" (first skipped record: {})", e.message)).unwrap_or_default();
            return Err(format!("topic '{topic}': expected {} records but got {}{why}", expected.len(), actual.len()));
        }
        let mut serde = serde_for(&engine, tc, topic);
        if serde.window.is_none() && engine.sources_for_topic(topic).is_empty() {
            // No source describes this topic: take the window kind from the expectations.
            if let Some(w) = expected.iter().find_map(|r| r.window.as_ref()) {
                let session = w.window_type.eq_ignore_ascii_case("session");
                serde.window = Some(WindowInfo {
                    window_type: if session { WindowType::Session } else { WindowType::Tumbling },
                    size_ms: (!session).then_some(w.end - w.start),
                });
            }
        }
        for (i, (e, a)) in expected.iter().zip(&actual).enumerate() {
            compare::compare_record(e, a, &serde, check_zero_ts)
                .map_err(|r| format!("topic '{topic}' record {i}: {r}"))?;
        }
    }

    if let Some(p) = &tc.post {
        post::check_post(&engine, p)?;
    }
    Ok(())
}

thread_local! {
    static IN_CASE: Cell<bool> = const { Cell::new(false) };
    static LAST_PANIC: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// Installs (once) a panic hook that records panics raised inside cases instead of printing them.
fn install_panic_hook() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if IN_CASE.with(Cell::get) {
                let payload = info.payload();
                let msg = payload
                    .downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| payload.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "(non-string panic payload)".into());
                let loc = info.location().map(|l| format!(" at {}:{}", l.file(), l.line())).unwrap_or_default();
                LAST_PANIC.with(|p| *p.borrow_mut() = Some(format!("{msg}{loc}")));
            } else {
                previous(info);
            }
        }));
    });
}

/// Runs one case with panic isolation.
pub fn run_one(case: &Case) -> CaseResult {
    let (status, reason) = match &case.kind {
        CaseKind::Skip(r) => (Status::Skipped, Some(r.clone())),
        CaseKind::Invalid(r) => (Status::Failed, Some(r.clone())),
        CaseKind::Run(tc) => {
            install_panic_hook();
            IN_CASE.with(|c| c.set(true));
            let outcome = catch_unwind(AssertUnwindSafe(|| run_case(tc)));
            IN_CASE.with(|c| c.set(false));
            match outcome {
                Ok(Ok(())) => (Status::Passed, None),
                Ok(Err(r)) => (Status::Failed, Some(r)),
                Err(_) => {
                    let msg = LAST_PANIC.with(|p| p.borrow_mut().take()).unwrap_or_else(|| "unknown".into());
                    (Status::Failed, Some(format!("panic: {msg}")))
                }
            }
        }
    };
    CaseResult { file: case.file.clone(), name: case.name.clone(), status, reason }
}

/// Runs cases on `jobs` worker threads; results are in input order.
pub fn run_cases(cases: &[Case], jobs: usize) -> Vec<CaseResult> {
    let jobs = jobs.clamp(1, cases.len().max(1));
    let next = AtomicUsize::new(0);
    let slots: Vec<Mutex<Option<CaseResult>>> = cases.iter().map(|_| Mutex::new(None)).collect();
    std::thread::scope(|s| {
        for w in 0..jobs {
            let (next, slots) = (&next, &slots);
            std::thread::Builder::new()
                .name(format!("qtt-{w}"))
                .stack_size(64 << 20)
                .spawn_scoped(s, move || loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(case) = cases.get(i) else { break };
                    let r = run_one(case);
                    *slots[i].lock().unwrap_or_else(|e| e.into_inner()) = Some(r);
                })
                .expect("spawn qtt worker");
        }
    });
    slots
        .into_iter()
        .zip(cases)
        .map(|(slot, case)| {
            slot.into_inner().unwrap_or_else(|e| e.into_inner()).unwrap_or_else(|| CaseResult {
                file: case.file.clone(),
                name: case.name.clone(),
                status: Status::Failed,
                reason: Some("panic: worker thread died".into()),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exp(t: &str, m: Option<&str>) -> ExpectedException {
        ExpectedException { exception_type: Some(t.into()), message: m.map(str::to_string), cause_message: None }
    }

    fn err(kind: ErrorKind, m: &str) -> EngineError {
        EngineError { kind, message: m.into() }
    }

    #[test]
    fn exception_matching() {
        let e = exp("io.confluent.ksql.util.KsqlStatementException", Some("bad column"));
        assert!(check_exception(&e, &err(ErrorKind::Statement, "a bad column here"), None).is_ok());
        assert!(check_exception(&e, &err(ErrorKind::Parse, "bad column"), None).is_ok());
        assert!(check_exception(&e, &err(ErrorKind::Engine, "bad column"), None).is_err());
        assert!(check_exception(&e, &err(ErrorKind::Statement, "other"), None).is_err());
        let e = exp("io.confluent.ksql.util.KsqlException", Some("x\nStatement: CREATE X;"));
        assert!(check_exception(&e, &err(ErrorKind::Engine, "x"), Some("CREATE X;")).is_ok());
        assert!(check_exception(&e, &err(ErrorKind::Engine, "x"), Some("CREATE Y;")).is_err());
        let e = exp("org.apache.kafka.streams.errors.StreamsException", None);
        assert!(check_exception(&e, &err(ErrorKind::Processing, "boom"), None).is_ok());
        assert!(check_exception(&e, &err(ErrorKind::Statement, "boom"), None).is_err());
        let mut e = exp("org.apache.kafka.streams.errors.StreamsException", Some("Exception caught in process"));
        e.cause_message = Some("Numeric field overflow".into());
        assert!(check_exception(&e, &err(ErrorKind::Processing, "Numeric field overflow, x"), None).is_ok());
        assert!(check_exception(&e, &err(ErrorKind::Processing, "Exception caught in process"), None).is_err());
        let e = exp("io.confluent.ksql.parser.exception.ParseFailedException", None);
        assert!(check_exception(&e, &err(ErrorKind::Parse, "boom"), None).is_ok());
        assert!(check_exception(&e, &err(ErrorKind::Statement, "boom"), None).is_ok());
        assert!(check_exception(&e, &err(ErrorKind::Engine, "boom"), None).is_err());
    }

    #[test]
    fn panics_are_caught() {
        let case = Case {
            file: "f.json".into(),
            name: "f - p".into(),
            kind: CaseKind::Invalid("invalid case: x".into()),
        };
        assert_eq!(run_one(&case).status, Status::Failed);
        install_panic_hook();
        IN_CASE.with(|c| c.set(true));
        let r = catch_unwind(|| panic!("boom {}", 1));
        IN_CASE.with(|c| c.set(false));
        assert!(r.is_err());
        assert!(LAST_PANIC.with(|p| p.borrow_mut().take()).unwrap().starts_with("boom 1 at "));
    }

    #[test]
    fn encodes_inputs() {
        let serde = TopicSerde::from_decl(None);
        let rec: RecordNode = serde_json::from_value(serde_json::json!({
            "topic": "t", "key": "k", "value": "1,a", "timestamp": 5,
            "window": {"start": 0, "end": 10, "type": "session"},
            "headers": [{"KEY": "h", "VALUE": "IQ=="}, {"KEY": "n", "VALUE": null}]
        }))
        .unwrap();
        let r = encode_input(&rec, &serde).unwrap();
        assert_eq!(r.key.as_ref().unwrap().len(), 1 + 16);
        assert_eq!(r.value.as_deref(), Some(&b"1,a"[..]));
        assert_eq!(r.timestamp, 5);
        assert_eq!(r.headers, vec![("h".to_string(), Some(vec![0x21])), ("n".to_string(), None)]);
    }
}
