//! Tabular rendering of the entities `/ksql` returns (one per statement, tagged by `@type`), in
//! the layout of ksqlDB's CLI. Entities are read as JSON documents rather than typed structs so
//! that fields a server leaves out (or adds) never stop the rendering; an entity type this
//! client does not know is printed as pretty JSON.

use std::collections::BTreeMap;

use serde_json::Value;

use super::table::Table;
use super::{cell_text, pretty_json};

/// What the renderer needs to know about the client's session.
#[derive(Debug, Default)]
pub struct RenderContext<'a> {
    /// Properties set with `SET` in this session (shown as SESSION overrides).
    pub local_properties: Option<&'a BTreeMap<String, String>>,
}

/// Renders one entity, warnings included.
pub fn render_entity(entity: &Value, context: &RenderContext<'_>) -> String {
    let kind = str_of(entity, "@type");
    let mut out = match kind {
        "currentStatus" => message_table(str_of(&entity["commandStatus"], "message")),
        "streams" => render_sources(entity, "streams", "Stream Name"),
        "tables" => render_sources(entity, "tables", "Table Name"),
        "queries" => render_queries(entity),
        "properties" => render_properties(entity, context),
        "sourceDescription" => render_source_description(&entity["sourceDescription"]),
        "source_descriptions" => {
            join_blocks(array_of(entity, "sourceDescriptions").iter().map(render_source_description))
        }
        "queryDescription" => render_query_description(&entity["queryDescription"]),
        "query_descriptions" => join_blocks(array_of(entity, "queryDescriptions").iter().map(render_query_description)),
        "kafka_topics" => render_topics(entity, false),
        "kafka_topics_extended" => render_topics(entity, true),
        "type_list" => render_types(entity),
        "function_names" => render_function_names(entity),
        "describe_function" => render_function(entity),
        "variables" => {
            render_variables(array_of(entity, "variables").iter().map(|v| (str_of(v, "name"), cell_text(&v["value"]))))
        }
        "warning_entity" => format!("{}\n", str_of(entity, "message")),
        "terminate_query" => {
            let id = str_of(entity, "queryId");
            let message = if entity["wasTerminated"].as_bool().unwrap_or(true) {
                format!("Query {id} terminated.")
            } else {
                format!("Query {id} was not terminated.")
            };
            message_table(&message)
        }
        "executionPlan" => format!("Execution plan\n--------------\n{}\n", str_of(entity, "executionPlan").trim_end()),
        "topicDescription" => Table::new(["Table Name", "Kafka Topic", "Type", "Schema"])
            .row([
                str_of(entity, "name"),
                str_of(entity, "kafkaTopic"),
                str_of(entity, "format"),
                str_of(entity, "schemaString"),
            ])
            .render(),
        "connector_list" => {
            let mut table = Table::new(["Connector Name", "Type", "Class", "Status"]);
            for c in array_of(entity, "connectors") {
                table.push_row([str_of(c, "name"), str_of(c, "type"), str_of(c, "className"), str_of(c, "state")]);
            }
            table.render()
        }
        "connector_info" => message_table(&format!("Created connector {}", str_of(&entity["info"], "name"))),
        "drop_connector" => message_table(&format!("Dropped connector \"{}\"", str_of(entity, "connectorName"))),
        "assert_topic" => {
            let exists = entity["exists"].as_bool().unwrap_or(false);
            let topic = str_of(entity, "topicName");
            message_table(&if exists {
                format!("Topic {topic} exists")
            } else {
                format!("Topic {topic} does not exist")
            })
        }
        "assert_schema" => {
            let exists = entity["exists"].as_bool().unwrap_or(false);
            let what = match (entity.get("subject").and_then(Value::as_str), entity.get("id")) {
                (Some(subject), _) => format!("Schema with subject name {subject}"),
                (None, Some(id)) if !id.is_null() => format!("Schema with id {id}"),
                _ => "Schema".to_string(),
            };
            message_table(&format!("{what} {}", if exists { "exists" } else { "does not exist" }))
        }
        _ => format!("{}\n", pretty_json(entity)),
    };
    for warning in array_of(entity, "warnings") {
        out.push_str(&format!("WARNING: {}\n", str_of(warning, "message")));
    }
    out
}

/// The ` Message ` table ksqlDB prints for status results.
pub fn message_table(message: &str) -> String {
    Table::new(["Message"]).row([message]).render()
}

/// The `SHOW VARIABLES` listing (also used for client-side variables).
pub fn render_variables<'a>(variables: impl Iterator<Item = (&'a str, String)>) -> String {
    let mut table = Table::new(["Variable Name", "Value"]);
    for (name, value) in variables {
        table.push_row([name.to_string(), value]);
    }
    table.render()
}

fn render_sources(entity: &Value, key: &str, name_header: &str) -> String {
    let mut table = Table::new([name_header, "Kafka Topic", "Key Format", "Value Format", "Windowed"]);
    for source in array_of(entity, key) {
        // Old servers send one `format` for both.
        let value_format = source.get("valueFormat").or_else(|| source.get("format"));
        table.push_row([
            str_of(source, "name").to_string(),
            str_of(source, "topic").to_string(),
            source.get("keyFormat").map(cell_text).unwrap_or_else(|| "KAFKA".into()),
            value_format.map(cell_text).unwrap_or_default(),
            source.get("isWindowed").map(cell_text).unwrap_or_else(|| "false".into()),
        ]);
    }
    table.render()
}

fn render_queries(entity: &Value) -> String {
    let mut table = Table::new(["Query ID", "Query Type", "Status", "Sink Name", "Sink Kafka Topic", "Query String"]);
    for query in array_of(entity, "queries") {
        table.push_row([
            str_of(query, "id").to_string(),
            str_of(query, "queryType").to_string(),
            query_status(query),
            join_strings(&query["sinks"]),
            join_strings(&query["sinkKafkaTopics"]),
            single_line(str_of(query, "queryString")),
        ]);
    }
    table.footer("For detailed information on a Query run: EXPLAIN <Query ID>;").render()
}

/// `RUNNING:1` from `statusCount`, else the plain `state`.
fn query_status(query: &Value) -> String {
    match query.get("statusCount").and_then(Value::as_object) {
        Some(counts) if !counts.is_empty() => {
            counts.iter().map(|(state, count)| format!("{state}:{}", cell_text(count))).collect::<Vec<_>>().join(",")
        }
        _ => str_of(query, "state").to_string(),
    }
}

fn render_properties(entity: &Value, context: &RenderContext<'_>) -> String {
    let overwritten: Vec<&str> = array_of(entity, "overwrittenProperties").iter().filter_map(Value::as_str).collect();
    let mut rows: Vec<[String; 5]> = array_of(entity, "properties")
        .iter()
        .map(|property| {
            let name = str_of(property, "name");
            let session_value = context.local_properties.and_then(|local| local.get(name));
            let default_override = if session_value.is_some() {
                "SESSION"
            } else if overwritten.contains(&name) {
                "SERVER"
            } else {
                ""
            };
            let value = session_value.cloned().unwrap_or_else(|| cell_text(&property["value"]));
            [
                name.to_string(),
                str_of(property, "scope").to_string(),
                str_of(property, "level").to_string(),
                default_override.to_string(),
                value,
            ]
        })
        .collect();
    rows.sort_by(|a, b| a[0].cmp(&b[0]));
    let mut table = Table::new(["Property", "Scope", "Level", "Default override", "Effective Value"]);
    for row in rows {
        table.push_row(row);
    }
    table.render()
}

fn render_topics(entity: &Value, extended: bool) -> String {
    let mut headers = vec!["Kafka Topic", "Partitions", "Partition Replicas"];
    if extended {
        headers.extend(["Consumers", "ConsumerGroups"]);
    }
    let mut table = Table::new(headers);
    for topic in array_of(entity, "topics") {
        let replicas = array_of(topic, "replicaInfo");
        let mut row = vec![
            str_of(topic, "name").to_string(),
            replicas.len().to_string(),
            replicas.first().map(cell_text).unwrap_or_default(),
        ];
        if extended {
            row.push(cell_text(&topic["consumerCount"]));
            row.push(cell_text(&topic["consumerGroupCount"]));
        }
        table.push_row(row);
    }
    table.render()
}

fn render_types(entity: &Value) -> String {
    let mut table = Table::new(["Type Name", "Schema"]);
    if let Some(types) = entity.get("types").and_then(Value::as_object) {
        let mut names: Vec<&String> = types.keys().collect();
        names.sort();
        for name in names {
            table.push_row([name.clone(), schema_type(&types[name.as_str()])]);
        }
    }
    table.render()
}

fn render_function_names(entity: &Value) -> String {
    let mut functions: Vec<(&str, &str)> =
        array_of(entity, "functions").iter().map(|f| (str_of(f, "name"), str_of(f, "category"))).collect();
    functions.sort();
    let mut table = Table::new(["Function Name", "Category"]);
    for (name, category) in functions {
        table.push_row([name, category]);
    }
    table.footer("For detailed information on a function run: DESCRIBE FUNCTION <Function Name>;").render()
}

fn render_function(entity: &Value) -> String {
    let mut out = String::new();
    for (label, key) in [
        ("Name", "name"),
        ("Author", "author"),
        ("Version", "version"),
        ("Overview", "description"),
        ("Type", "type"),
        ("Jar", "path"),
    ] {
        let value = str_of(entity, key);
        if !value.is_empty() {
            out.push_str(&format!("{label:<12}: {value}\n"));
        }
    }
    out.push_str("Variations  : \n");
    for variation in array_of(entity, "functions") {
        let arguments: Vec<String> = array_of(variation, "arguments")
            .iter()
            .map(|a| {
                let name = str_of(a, "name");
                let ty = str_of(a, "type");
                if name.is_empty() {
                    ty.to_string()
                } else {
                    format!("{name} {ty}")
                }
            })
            .collect();
        out.push_str(&format!(
            "\n\tVariation   : {}({})\n\tReturns     : {}\n",
            str_of(entity, "name"),
            arguments.join(", "),
            str_of(variation, "returnType")
        ));
        let description = str_of(variation, "description");
        if !description.is_empty() {
            out.push_str(&format!("\tDescription : {description}\n"));
        }
    }
    out
}

fn render_source_description(source: &Value) -> String {
    let is_table = str_of(source, "type").eq_ignore_ascii_case("TABLE");
    let mut out = format!("{:<20} : {}\n", "Name", str_of(source, "name"));
    let extended = source["extended"].as_bool().unwrap_or(false);
    if !extended {
        out.push_str(&render_fields(source, is_table));
        out.push_str("For runtime statistics and query details run: DESCRIBE <Stream,Table> EXTENDED;\n");
        return out;
    }
    out.push_str(&format!("{:<20} : {}\n", "Type", str_of(source, "type")));
    let timestamp = match str_of(source, "timestamp") {
        "" => "Not set - using <ROWTIME>",
        t => t,
    };
    out.push_str(&format!("{:<20} : {timestamp}\n", "Timestamp field"));
    out.push_str(&format!("{:<20} : {}\n", "Key format", str_of(source, "keyFormat")));
    out.push_str(&format!("{:<20} : {}\n", "Value format", str_of(source, "valueFormat")));
    let topic = str_of(source, "topic");
    if !topic.is_empty() {
        out.push_str(&format!(
            "{:<20} : {topic} (partitions: {}, replication: {})\n",
            "Kafka topic",
            cell_text(&source["partitions"]),
            cell_text(&source["replication"])
        ));
    }
    out.push_str(&format!("{:<20} : {}\n\n", "Statement", str_of(source, "statement")));
    out.push_str(&render_fields(source, is_table));
    let constraints: Vec<&str> = array_of(source, "sourceConstraints").iter().filter_map(Value::as_str).collect();
    if !constraints.is_empty() {
        out.push_str("\nSources that have a DROP constraint on this source\n");
        out.push_str("--------------------------------------------------\n");
        for name in constraints {
            out.push_str(name);
            out.push('\n');
        }
    }
    let kind = str_of(source, "type").to_lowercase();
    for (key, action) in [("readQueries", "read"), ("writeQueries", "write")] {
        let queries = array_of(source, key);
        if queries.is_empty() {
            continue;
        }
        out.push_str(&format!("\nQueries that {action} from this {kind}\n-----------------------------------\n"));
        for query in queries {
            let state = match str_of(query, "state") {
                "" => "N/A",
                s => s,
            };
            out.push_str(&format!(
                "{} ({state}) : {}\n",
                str_of(query, "id"),
                single_line(str_of(query, "queryString"))
            ));
        }
        out.push_str("\nFor query topology and execution plan please run: EXPLAIN <QueryId>\n");
    }
    out.push_str("\nRuntime statistics by host\n-------------------------\n");
    for key in ["statistics", "errorStats"] {
        let stats = str_of(source, key).trim();
        if !stats.is_empty() {
            out.push_str(stats);
            out.push('\n');
        }
    }
    out.push_str(&format!("(Statistics of the local KSQL server interaction with the Kafka topic {topic})\n"));
    out
}

/// The ` Field | Type ` table of a source or query schema.
fn render_fields(described: &Value, is_table: bool) -> String {
    let fields = array_of(described, "fields");
    if fields.is_empty() {
        return String::new();
    }
    let window = match str_of(described, "windowType") {
        "" => String::new(),
        w => format!(" (Window type: {w})"),
    };
    let mut table = Table::new(["Field", "Type"]);
    for field in fields {
        let ty = schema_type(&field["schema"]);
        let ty = match str_of(field, "type") {
            "KEY" => {
                let key = if is_table { "(primary key)" } else { "(key)" };
                format!("{ty:<16} {key}{window}")
            }
            "HEADER" => match field.get("headerKey").and_then(Value::as_str) {
                Some(header) => format!("{ty:<16} (header('{header}'))"),
                None => format!("{ty:<16} (headers)"),
            },
            _ => ty,
        };
        table.push_row([str_of(field, "name").to_string(), ty]);
    }
    table.render()
}

fn render_query_description(query: &Value) -> String {
    let mut out = format!("{:<20} : {}\n", "ID", str_of(query, "id"));
    let query_type = str_of(query, "queryType");
    if !query_type.is_empty() {
        out.push_str(&format!("{:<20} : {query_type}\n", "Query Type"));
    }
    out.push_str(&format!("{:<20} : {}\n", "SQL", str_of(query, "statementText")));
    if let Some(statuses) = query.get("ksqlHostQueryStatus").and_then(Value::as_object) {
        let statuses: Vec<String> =
            statuses.iter().map(|(host, state)| format!("{host}={}", cell_text(state))).collect();
        out.push_str(&format!("{:<20} : {{{}}}\n", "Host Query Status", statuses.join(", ")));
    }
    out.push('\n');
    out.push_str(&render_fields(query, false));
    for (key, title, hint) in [
        (
            "sources",
            "Sources that this query reads from: ",
            "For source description please run: DESCRIBE [EXTENDED] <SourceId>",
        ),
        ("sinks", "Sinks that this query writes to: ", "For sink description please run: DESCRIBE [EXTENDED] <SinkId>"),
    ] {
        let names = array_of(query, key);
        if names.is_empty() {
            continue;
        }
        out.push_str(&format!("\n{title}\n-----------------------------------\n"));
        for name in names {
            out.push_str(&cell_text(name));
            out.push('\n');
        }
        out.push_str(&format!("\n{hint}\n"));
    }
    for (key, title) in [("executionPlan", "Execution plan"), ("topology", "Processing topology")] {
        let text = str_of(query, key).trim_end();
        if !text.is_empty() {
            out.push_str(&format!("\n{title}\n{}\n{text}\n", "-".repeat(title.len())));
        }
    }
    if let Some(props) = query.get("overriddenProperties").and_then(Value::as_object) {
        if !props.is_empty() {
            out.push_str("\nOverridden Properties\n---------------------\n");
            let mut table = Table::new(["Property", "Value"]);
            for (name, value) in props {
                table.push_row([name.clone(), cell_text(value)]);
            }
            out.push_str(&table.render());
        }
    }
    let errors = array_of(query, "queryErrors");
    if !errors.is_empty() {
        out.push_str("\nQuery errors\n------------\n");
        for error in errors {
            out.push_str(&format!("{}\n", str_of(error, "errorMessage")));
        }
    }
    out
}

/// ksqlDB's type text for a `schema` object (`{"type", "fields", "memberSchema", "parameters"}`).
pub fn schema_type(schema: &Value) -> String {
    let member = || schema.get("memberSchema").map(schema_type).unwrap_or_default();
    match str_of(schema, "type") {
        "STRING" => "VARCHAR(STRING)".to_string(),
        "ARRAY" => format!("ARRAY<{}>", member()),
        "MAP" => {
            let key = schema.get("keySchema").map(schema_type).unwrap_or_else(|| "VARCHAR(STRING)".into());
            format!("MAP<{key}, {}>", member())
        }
        "STRUCT" => {
            let fields: Vec<String> = array_of(schema, "fields")
                .iter()
                .map(|f| format!("{} {}", str_of(f, "name"), schema_type(&f["schema"])))
                .collect();
            format!("STRUCT<{}>", fields.join(", "))
        }
        "DECIMAL" => {
            let params = &schema["parameters"];
            format!("DECIMAL({}, {})", cell_text(&params["precision"]), cell_text(&params["scale"]))
        }
        other => other.to_string(),
    }
}

fn join_blocks(blocks: impl Iterator<Item = String>) -> String {
    blocks.collect::<Vec<_>>().join("\n")
}

fn join_strings(value: &Value) -> String {
    value.as_array().map(|items| items.iter().map(cell_text).collect::<Vec<_>>().join(",")).unwrap_or_default()
}

/// Query texts span lines; a listing cell keeps them on one.
fn single_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

pub(crate) fn str_of<'a>(value: &'a Value, key: &str) -> &'a str {
    value.get(key).and_then(Value::as_str).unwrap_or("")
}

pub(crate) fn array_of<'a>(value: &'a Value, key: &str) -> &'a [Value] {
    value.get(key).and_then(Value::as_array).map(Vec::as_slice).unwrap_or(&[])
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn render(entity: Value) -> String {
        render_entity(&entity, &RenderContext::default())
    }

    #[test]
    fn current_status_is_a_message_table() {
        let entity = json!({
            "@type": "currentStatus",
            "statementText": "CREATE STREAM S (A INT) WITH (kafka_topic='s', value_format='json');",
            "commandId": "stream/`S`/create",
            "commandStatus": {"status": "SUCCESS", "message": "Stream created", "queryId": null},
            "commandSequenceNumber": 2,
            "warnings": []
        });
        assert_eq!(render(entity), " Message\n----------------\n Stream created\n----------------\n");
    }

    #[test]
    fn warnings_follow_the_entity() {
        let entity = json!({
            "@type": "currentStatus",
            "commandStatus": {"status": "SUCCESS", "message": "Stream dropped"},
            "warnings": [{"message": "Topic s was not deleted"}]
        });
        assert!(render(entity).ends_with("WARNING: Topic s was not deleted\n"));
    }

    #[test]
    fn streams_listing() {
        let entity = json!({
            "@type": "streams",
            "statementText": "SHOW STREAMS;",
            "streams": [
                {"type": "STREAM", "name": "PAGEVIEWS", "topic": "pageviews", "keyFormat": "KAFKA",
                 "valueFormat": "JSON", "isWindowed": false},
                {"type": "STREAM", "name": "KSQL_PROCESSING_LOG", "topic": "default_ksql_processing_log",
                 "keyFormat": "KAFKA", "valueFormat": "JSON", "isWindowed": false}
            ],
            "warnings": []
        });
        let expected = concat!(
            " Stream Name         | Kafka Topic                 | Key Format | Value Format | Windowed\n",
            "------------------------------------------------------------------------------------------\n",
            " PAGEVIEWS           | pageviews                   | KAFKA      | JSON         | false\n",
            " KSQL_PROCESSING_LOG | default_ksql_processing_log | KAFKA      | JSON         | false\n",
            "------------------------------------------------------------------------------------------\n",
        );
        assert_eq!(render(entity), expected);
    }

    #[test]
    fn tables_listing_uses_table_header_and_legacy_format() {
        let entity = json!({
            "@type": "tables",
            "tables": [{"type": "TABLE", "name": "USERS", "topic": "users", "format": "AVRO", "isWindowed": true}]
        });
        let text = render(entity);
        assert!(text.starts_with(" Table Name | Kafka Topic | Key Format | Value Format | Windowed\n"), "{text}");
        assert!(text.contains(" USERS      | users       | KAFKA      | AVRO         | true\n"), "{text}");
    }

    #[test]
    fn queries_listing_shows_status_counts_and_sinks() {
        let entity = json!({
            "@type": "queries",
            "queries": [{
                "queryString": "CREATE STREAM S2 AS SELECT *\nFROM S EMIT CHANGES;",
                "sinks": ["S2"], "sinkKafkaTopics": ["S2"], "id": "CSAS_S2_1",
                "statusCount": {"RUNNING": 1}, "queryType": "PERSISTENT", "state": "RUNNING"
            }]
        });
        let text = render(entity);
        assert!(text.contains(
            " CSAS_S2_1 | PERSISTENT | RUNNING:1 | S2        | S2               | CREATE STREAM S2 AS SELECT * FROM S EMIT CHANGES;"
        ), "{text}");
        assert!(text.ends_with("For detailed information on a Query run: EXPLAIN <Query ID>;\n"));
    }

    #[test]
    fn properties_mark_server_and_session_overrides() {
        let entity = json!({
            "@type": "properties",
            "properties": [
                {"name": "ksql.streams.auto.offset.reset", "scope": "KSQL", "value": "latest", "level": "QUERY"},
                {"name": "ksql.service.id", "scope": "KSQL", "value": "default_", "level": "SERVER"}
            ],
            "overwrittenProperties": ["ksql.service.id"],
            "defaultProperties": []
        });
        let mut local = BTreeMap::new();
        local.insert("ksql.streams.auto.offset.reset".to_string(), "earliest".to_string());
        let text = render_entity(&entity, &RenderContext { local_properties: Some(&local) });
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], " Property                       | Scope | Level  | Default override | Effective Value");
        assert_eq!(lines[2], " ksql.service.id                | KSQL  | SERVER | SERVER           | default_");
        assert_eq!(lines[3], " ksql.streams.auto.offset.reset | KSQL  | QUERY  | SESSION          | earliest");
    }

    #[test]
    fn topics_listing() {
        let entity = json!({
            "@type": "kafka_topics",
            "topics": [{"name": "pageviews", "replicaInfo": [1, 1, 1]}]
        });
        assert!(render(entity).contains(" pageviews   | 3          | 1\n"));
    }

    #[test]
    fn type_list_renders_schemas() {
        let entity = json!({
            "@type": "type_list",
            "types": {
                "ADDRESS": {"type": "STRUCT", "fields": [
                    {"name": "STREET", "schema": {"type": "STRING"}},
                    {"name": "TAGS", "schema": {"type": "ARRAY", "memberSchema": {"type": "INTEGER"}}}
                ]},
                "MONEY": {"type": "DECIMAL", "parameters": {"precision": 10, "scale": 2}}
            }
        });
        let text = render(entity);
        assert!(text.contains(" ADDRESS   | STRUCT<STREET VARCHAR(STRING), TAGS ARRAY<INTEGER>>\n"), "{text}");
        assert!(text.contains(" MONEY     | DECIMAL(10, 2)\n"), "{text}");
    }

    #[test]
    fn describe_shows_fields_with_key_marker() {
        let entity = json!({
            "@type": "sourceDescription",
            "statementText": "DESCRIBE USERS;",
            "sourceDescription": {
                "name": "USERS", "windowType": null, "readQueries": [], "writeQueries": [],
                "fields": [
                    {"name": "ID", "schema": {"type": "STRING", "fields": null, "memberSchema": null}, "type": "KEY"},
                    {"name": "TAGS", "schema": {"type": "MAP", "fields": null, "memberSchema": {"type": "BIGINT"}}}
                ],
                "type": "TABLE", "timestamp": "", "statistics": "", "errorStats": "", "extended": false,
                "keyFormat": "KAFKA", "valueFormat": "JSON", "topic": "users", "partitions": 1,
                "replication": 1, "statement": "CREATE TABLE USERS ...", "queryOffsetSummaries": [],
                "sourceConstraints": []
            },
            "warnings": []
        });
        let expected = "\
Name                 : USERS
 Field | Type
----------------------------------------
 ID    | VARCHAR(STRING)  (primary key)
 TAGS  | MAP<VARCHAR(STRING), BIGINT>
----------------------------------------
For runtime statistics and query details run: DESCRIBE <Stream,Table> EXTENDED;
";
        assert_eq!(render(entity), expected);
    }

    #[test]
    fn describe_extended_shows_topic_and_queries() {
        let entity = json!({
            "@type": "sourceDescription",
            "sourceDescription": {
                "name": "S2", "type": "STREAM", "extended": true, "timestamp": "",
                "keyFormat": "KAFKA", "valueFormat": "JSON", "topic": "S2", "partitions": 2, "replication": 1,
                "statement": "CREATE STREAM S2 AS SELECT * FROM S;",
                "fields": [{"name": "A", "schema": {"type": "INTEGER"}}],
                "readQueries": [], "writeQueries": [{"id": "CSAS_S2_1", "queryString": "CREATE STREAM S2 AS SELECT * FROM S;", "state": "RUNNING"}],
                "statistics": "messages-per-sec: 0", "errorStats": ""
            }
        });
        let text = render(entity);
        for expected in [
            "Type                 : STREAM\n",
            "Timestamp field      : Not set - using <ROWTIME>\n",
            "Kafka topic          : S2 (partitions: 2, replication: 1)\n",
            "Queries that write from this stream\n",
            "CSAS_S2_1 (RUNNING) : CREATE STREAM S2 AS SELECT * FROM S;\n",
            "messages-per-sec: 0\n",
        ] {
            assert!(text.contains(expected), "missing {expected:?} in\n{text}");
        }
    }

    #[test]
    fn explain_shows_query_description() {
        let entity = json!({
            "@type": "queryDescription",
            "queryDescription": {
                "id": "CSAS_S2_1", "statementText": "CREATE STREAM S2 AS SELECT * FROM S;",
                "fields": [{"name": "A", "schema": {"type": "INTEGER"}}],
                "sources": ["S"], "sinks": ["S2"], "topology": "Topologies: ...",
                "executionPlan": " > [ SINK ] | Schema: A INT", "overriddenProperties": {},
                "ksqlHostQueryStatus": {"localhost:8088": "RUNNING"}, "queryType": "PERSISTENT",
                "queryErrors": [], "state": "RUNNING"
            }
        });
        let text = render(entity);
        for expected in [
            "ID                   : CSAS_S2_1\n",
            "Host Query Status    : {localhost:8088=RUNNING}\n",
            "Sources that this query reads from: \n-----------------------------------\nS\n",
            "Execution plan\n--------------\n > [ SINK ] | Schema: A INT\n",
        ] {
            assert!(text.contains(expected), "missing {expected:?} in\n{text}");
        }
    }

    #[test]
    fn function_listing_and_description() {
        let names = json!({"@type": "function_names", "functions": [
            {"name": "UCASE", "type": "SCALAR", "category": "STRING"},
            {"name": "ABS", "type": "SCALAR", "category": "MATHEMATICAL"}
        ]});
        let text = render(names);
        assert!(text.find("ABS").unwrap_or(usize::MAX) < text.find("UCASE").unwrap_or(0));
        let described = json!({"@type": "describe_function", "name": "ABS", "description": "absolute value",
            "type": "SCALAR", "path": "internal",
            "functions": [{"arguments": [{"name": "col1", "type": "INT"}], "returnType": "INT", "description": ""}]});
        let text = render(described);
        assert!(text.contains("Name        : ABS\n"), "{text}");
        assert!(text.contains("\tVariation   : ABS(col1 INT)\n\tReturns     : INT\n"), "{text}");
    }

    #[test]
    fn unknown_entities_print_as_json() {
        let text = render(json!({"@type": "something_new", "x": 1}));
        assert!(text.contains("\"@type\": \"something_new\""), "{text}");
    }

    #[test]
    fn variables_listing() {
        let text = render(json!({"@type": "variables", "variables": [{"name": "REPLICAS", "value": "3"}]}));
        assert_eq!(
            text,
            " Variable Name | Value\n-----------------------\n REPLICAS      | 3\n-----------------------\n"
        );
    }
}
