//! The CLI's own commands (`help`, `exit`, `output JSON`, ...): typed without `;`, handled by
//! the client, never sent to the server.

/// Command words, for completion.
pub const CLI_COMMANDS: &[&str] = &["clear", "exit", "help", "history", "output", "quit", "server", "version"];

#[derive(Debug, PartialEq, Eq)]
pub enum CliCommand {
    Help,
    Exit,
    Clear,
    History,
    Version,
    /// `output` shows the format, `output JSON|TABULAR` sets it.
    Output(Option<String>),
    /// `server` shows the URL, `server URL` switches to another server.
    Server(Option<String>),
}

/// Reads a CLI command; `None` when `input` is not one (so it is SQL).
pub fn parse_cli_command(input: &str) -> Option<CliCommand> {
    let trimmed = input.trim();
    let trimmed = trimmed.strip_suffix(';').unwrap_or(trimmed);
    let mut words = trimmed.split_whitespace();
    let command = words.next()?.to_ascii_lowercase();
    let argument = words.next().map(str::to_string);
    if words.next().is_some() {
        return None;
    }
    match (command.as_str(), argument) {
        ("help", None) => Some(CliCommand::Help),
        ("exit" | "quit", None) => Some(CliCommand::Exit),
        ("clear", None) => Some(CliCommand::Clear),
        ("history", None) => Some(CliCommand::History),
        ("version", None) => Some(CliCommand::Version),
        ("output", argument) => Some(CliCommand::Output(argument)),
        ("server", argument) => Some(CliCommand::Server(argument)),
        _ => None,
    }
}

pub fn is_cli_command(input: &str) -> bool {
    parse_cli_command(input).is_some()
}

pub const HELP_TEXT: &str = "\
Statements end with ';' and may span lines (Enter on an unfinished statement continues it).
Anything ksqlDB accepts can be typed; the client handles these itself:

  SET 'property' = 'value';    Set a property for the queries and statements of this session.
  UNSET 'property';            Undo a SET.
  DEFINE name = 'value';       Define a variable; ${name} in later statements is replaced by its value.
  UNDEFINE name;               Remove a variable.
  SHOW VARIABLES;              List the variables of this session.
  RUN SCRIPT 'file.sql';       Run the statements of a file (read by this client).

Queries stream their rows as they arrive:
  SELECT ... EMIT CHANGES [LIMIT n];   Push query: runs until LIMIT, or Ctrl-C closes it.
  SELECT ... ;                         Pull query: the current rows of a table.
  PRINT 'topic' [FROM BEGINNING];      Show a topic's records as they arrive (Ctrl-C stops).

Common statements:
  SHOW STREAMS | TABLES | QUERIES | TOPICS | PROPERTIES | TYPES | FUNCTIONS;
  DESCRIBE [EXTENDED] name;    EXPLAIN query_id;    TERMINATE query_id;
  CREATE STREAM | TABLE ... WITH (...);    CREATE STREAM | TABLE name AS SELECT ...;
  INSERT INTO name (cols) VALUES (...);    DROP STREAM | TABLE name [DELETE TOPIC];

CLI commands (no ';' needed):
  help                         Show this text.
  output [JSON|TABULAR]        Show or change how results are printed.
  server [url]                 Show the server URL, or connect to another server.
  history                      Show the statements typed so far.
  clear                        Clear the screen.
  version                      Show the CLI version.
  exit | quit                  Leave (Ctrl-D too).

Keys: Tab completes keywords and stream/table names; Up/Down and Ctrl-R search the history
(kept in ~/.runnel/history); Ctrl-C clears the line, or closes a running query.
";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_commands_without_semicolons() {
        assert_eq!(parse_cli_command("help"), Some(CliCommand::Help));
        assert_eq!(parse_cli_command("  EXIT; "), Some(CliCommand::Exit));
        assert_eq!(parse_cli_command("quit"), Some(CliCommand::Exit));
        assert_eq!(parse_cli_command("output json"), Some(CliCommand::Output(Some("json".into()))));
        assert_eq!(parse_cli_command("output"), Some(CliCommand::Output(None)));
        assert_eq!(parse_cli_command("server http://h:1"), Some(CliCommand::Server(Some("http://h:1".into()))));
    }

    #[test]
    fn statements_are_not_commands() {
        assert_eq!(parse_cli_command("SHOW STREAMS;"), None);
        assert_eq!(parse_cli_command("help me please"), None);
        assert_eq!(parse_cli_command(""), None);
    }
}
