//! The interactive loop: read (rustyline, with history and completion), run, repeat until
//! `exit`, `quit` or Ctrl-D. Ctrl-C at the prompt drops the line being typed.

use std::path::PathBuf;

use rustyline::error::ReadlineError;
use rustyline::history::FileHistory;
use rustyline::{CompletionType, Config, Editor};

use crate::commands::{parse_cli_command, CliCommand, HELP_TEXT};
use crate::editor::ReplHelper;
use crate::render::OutputFormat;
use crate::scanner::split_statements;
use crate::session::Session;

const PROMPT: &str = "runnel> ";
const CONTINUATION_PROMPT: &str = "      > ";
const MAX_HISTORY: usize = 10_000;

pub fn run(session: &mut Session) {
    connect(session);
    // List completion, as in bash and ksqlDB's CLI: Tab completes the common prefix, a second
    // Tab lists the candidates.
    let config = Config::builder()
        .completion_type(CompletionType::List)
        .auto_add_history(false)
        .max_history_size(MAX_HISTORY)
        .and_then(|b| b.history_ignore_dups(true))
        .map(|b| b.build())
        .unwrap_or_default();
    let mut editor: Editor<ReplHelper, FileHistory> = match Editor::with_config(config) {
        Ok(editor) => editor,
        Err(error) => {
            session.print(&format!("Cannot start the line editor: {error}\n"));
            return;
        }
    };
    editor.set_helper(Some(ReplHelper::new(session.source_names())));
    let history_path = history_path();
    if let Some(path) = &history_path {
        if let Some(dir) = path.parent() {
            let _ = std::fs::create_dir_all(dir);
        }
        // A missing history file is the normal first run.
        let _ = editor.load_history(path);
    }

    // Lines of a statement not finished yet (only when input is not a terminal: there the
    // editor itself keeps reading until the statement ends).
    let mut pending = String::new();
    loop {
        if let Some((columns, _)) = editor.dimensions() {
            session.terminal_width = usize::from(columns);
        }
        let prompt = if pending.is_empty() { PROMPT } else { CONTINUATION_PROMPT };
        let line = match editor.readline(prompt) {
            Ok(line) => line,
            Err(ReadlineError::Interrupted) => {
                pending.clear();
                continue;
            }
            Err(ReadlineError::Eof) => break,
            Err(error) => {
                session.print(&format!("Cannot read input: {error}\n"));
                break;
            }
        };
        if pending.is_empty() {
            if let Some(command) = parse_cli_command(&line) {
                remember(&mut editor, &history_path, line.trim());
                if !run_command(session, &mut editor, command) {
                    break;
                }
                continue;
            }
        }
        pending.push_str(&line);
        pending.push('\n');
        let split = split_statements(&pending);
        if split.statements.is_empty() {
            if split.rest.is_none() {
                pending.clear();
            }
            continue;
        }
        remember(&mut editor, &history_path, pending.trim());
        pending = split.rest.map(|rest| format!("{rest}\n")).unwrap_or_default();
        session.execute(&split.statements.join("\n"));
    }
    session.print("Exiting runnel.\n");
}

/// `GET /info` and the banner, or a clear error naming the URL (the REPL keeps running so the
/// user can retry once the server is up).
pub fn connect(session: &mut Session) -> bool {
    match session.server_info() {
        Ok(info) => {
            let status =
                if info.status.is_empty() { String::new() } else { format!("Server Status: {}\n", info.status) };
            session.print(&format!(
                "runnel CLI v{}, Server v{} located at {}\n{status}\n\
                 Having trouble? Type 'help' (case-insensitive) for a rundown of how things work!\n\n",
                env!("CARGO_PKG_VERSION"),
                info.version,
                session.server_url(),
            ));
            session.refresh_source_names();
            true
        }
        Err(error) => {
            session.print(&format!(
                "**************** ERROR ********************\n\
                 Remote server at {} does not appear to be a valid server, or is not running.\n\
                 {error}\n\
                 *******************************************\n\n",
                session.server_url()
            ));
            false
        }
    }
}

/// Runs a CLI command; `false` means leave.
fn run_command(session: &mut Session, editor: &mut Editor<ReplHelper, FileHistory>, command: CliCommand) -> bool {
    match command {
        CliCommand::Exit => return false,
        CliCommand::Help => session.print(HELP_TEXT),
        CliCommand::Clear => {
            let _ = editor.clear_screen();
        }
        CliCommand::History => {
            let mut text = String::new();
            for (index, entry) in editor.history().iter().enumerate() {
                text.push_str(&format!("{:>5}  {}\n", index + 1, entry.replace('\n', "\n       ")));
            }
            session.print(&text);
        }
        CliCommand::Version => {
            let server = session.server_info().map(|i| i.version).unwrap_or_else(|_| "unreachable".into());
            session.print(&format!(
                "runnel CLI v{}, server {}: v{server}\n",
                env!("CARGO_PKG_VERSION"),
                session.server_url()
            ));
        }
        CliCommand::Output(None) => {
            let text = format!("Output format: {}\n", session.output.name());
            session.print(&text);
        }
        CliCommand::Output(Some(format)) => match OutputFormat::parse(&format) {
            Some(format) => {
                session.output = format;
                session.print(&format!("Output format set to {}\n", format.name()));
            }
            None => session.print(&format!("Unknown output format '{format}'; use JSON or TABULAR.\n")),
        },
        CliCommand::Server(None) => {
            let text = format!("Server: {}\n", session.server_url());
            session.print(&text);
        }
        CliCommand::Server(Some(url)) => match session.switch_server(&url) {
            Ok(()) => {
                connect(session);
            }
            Err(error) => session.print_error(&error),
        },
    }
    true
}

fn remember(editor: &mut Editor<ReplHelper, FileHistory>, path: &Option<PathBuf>, entry: &str) {
    if entry.is_empty() {
        return;
    }
    let _ = editor.add_history_entry(entry);
    if let Some(path) = path {
        // Saved after every entry so a killed terminal loses nothing.
        let _ = editor.save_history(path);
    }
}

/// `~/.runnel/history`, unless `RUNNEL_HISTORY_FILE` names another file.
fn history_path() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("RUNNEL_HISTORY_FILE") {
        return Some(PathBuf::from(path));
    }
    std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".runnel").join("history"))
}
