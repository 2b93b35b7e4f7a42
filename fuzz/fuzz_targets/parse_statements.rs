//! Fuzz target: `parse_statements` on arbitrary UTF-8 must never panic, and whatever parses
//! must display to text that parses again.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(sql) = std::str::from_utf8(data) else { return };
    if let Ok(statements) = runnel_parser::parse_statements(sql) {
        for parsed in statements {
            let _ = runnel_parser::parse_statement(&parsed.statement.to_string());
        }
    }
    let _ = runnel_parser::parse_expr(sql);
});
