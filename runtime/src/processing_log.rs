//! The processing log: records a query skips are reported as entries in ksqlDB's shape to the
//! topic `<service id>ksql_processing_log`, readable as the stream `KSQL_PROCESSING_LOG`.

use base64::Engine as _;
use serde_json::{json, Value};

use crate::source::{RecordError, RecordErrorKind};

/// The stream over the processing log topic.
pub const PROCESSING_LOG_STREAM: &str = "KSQL_PROCESSING_LOG";

/// `ksql.logging.processing.topic.auto.create` / `.stream.auto.create` (default on here).
pub const TOPIC_AUTO_CREATE: &str = "ksql.logging.processing.topic.auto.create";
pub const STREAM_AUTO_CREATE: &str = "ksql.logging.processing.stream.auto.create";

/// The processing log topic of a service (ksqlDB: `<service id>ksql_processing_log`).
pub fn processing_log_topic(service_id: &str) -> String {
    format!("{service_id}ksql_processing_log")
}

/// `CREATE STREAM KSQL_PROCESSING_LOG ...` over `topic`, with ksqlDB's schema.
pub fn processing_log_ddl(topic: &str) -> String {
    format!(
        "CREATE STREAM {PROCESSING_LOG_STREAM} (LOGGER STRING, LEVEL STRING, TIME BIGINT, MESSAGE STRUCT<\
         TYPE INT, \
         DESERIALIZATIONERROR STRUCT<TARGET STRING, ERRORMESSAGE STRING, RECORDB64 STRING, CAUSE ARRAY<STRING>, `TOPIC` STRING>, \
         RECORDPROCESSINGERROR STRUCT<ERRORMESSAGE STRING, RECORD STRING, CAUSE ARRAY<STRING>>, \
         PRODUCTIONERROR STRUCT<ERRORMESSAGE STRING>, \
         SERIALIZATIONERROR STRUCT<TARGET STRING, ERRORMESSAGE STRING, RECORD STRING, CAUSE ARRAY<STRING>, `TOPIC` STRING>, \
         KAFKASTREAMSTHREADERROR STRUCT<ERRORMESSAGE STRING, THREADNAME STRING, CAUSE ARRAY<STRING>>>) \
         WITH (KAFKA_TOPIC='{topic}', VALUE_FORMAT='JSON');"
    )
}

/// One processing log entry (JSON value) for an error of query `query_id` at `time_ms`.
pub fn entry(query_id: &str, error: &RecordError, time_ms: i64) -> Vec<u8> {
    let target = |key: bool| if key { "key" } else { "value" };
    let (type_code, field, detail): (i32, &str, Value) = match error.kind {
        RecordErrorKind::Deserialization { key } => (
            0,
            "deserializationError",
            json!({
                "target": target(key),
                "errorMessage": error.message,
                "recordB64": error.record.as_ref().map(|r| base64::engine::general_purpose::STANDARD.encode(r)),
                "cause": [],
                "topic": error.topic,
            }),
        ),
        RecordErrorKind::Processing => {
            (1, "recordProcessingError", json!({ "errorMessage": error.message, "record": null, "cause": [] }))
        }
        RecordErrorKind::Serialization { key } => (
            3,
            "serializationError",
            json!({ "target": target(key), "errorMessage": error.message, "record": null, "cause": [], "topic": error.topic }),
        ),
    };
    let mut message = json!({
        "type": type_code,
        "deserializationError": null,
        "recordProcessingError": null,
        "productionError": null,
        "serializationError": null,
        "kafkaStreamsThreadError": null,
    });
    message[field] = detail;
    json!({ "logger": format!("processing.{query_id}"), "level": "ERROR", "time": time_ms, "message": message })
        .to_string()
        .into_bytes()
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::{Engine, TopicRecord};

    #[test]
    fn deserialization_entries_carry_the_record_and_are_readable_as_the_stream() {
        let error = RecordError {
            topic: "t".into(),
            offset: 4,
            message: "Failed to deserialize value from topic: t. bad".into(),
            kind: RecordErrorKind::Deserialization { key: false },
            record: Some(b"{oops".to_vec()),
        };
        let bytes = entry("CSAS_X_1", &error, 99);
        let value: Value = serde_json::from_slice(&bytes).expect("json");
        assert_eq!(value["logger"], "processing.CSAS_X_1");
        assert_eq!(value["message"]["type"], 0);
        assert_eq!(value["message"]["deserializationError"]["recordB64"], "e29vcHM=");
        assert_eq!(value["message"]["recordProcessingError"], Value::Null);

        // The entry reads back through the stream's schema.
        let mut engine = Engine::new(BTreeMap::new());
        engine.execute_sql(&processing_log_ddl("plog")).expect("ddl");
        engine
            .execute_sql("CREATE STREAM ERRS AS SELECT MESSAGE->DESERIALIZATIONERROR->ERRORMESSAGE AS M, MESSAGE->TYPE AS T FROM KSQL_PROCESSING_LOG;")
            .expect("csas");
        engine.produce("plog", TopicRecord { value: Some(bytes), timestamp: 99, ..Default::default() }).expect("produce");
        engine.process().expect("process");
        let out = engine.records("ERRS");
        assert_eq!(out.len(), 1);
        let row: Value = serde_json::from_slice(out[0].value.as_deref().expect("value")).expect("json");
        assert_eq!(row, json!({"M": "Failed to deserialize value from topic: t. bad", "T": 0}));
    }
}
