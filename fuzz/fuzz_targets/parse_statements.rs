//! Fuzz target: `parse_statements` on arbitrary UTF-8 must never panic, and every statement
//! that parses must display to text that parses back to the same statement.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(sql) = std::str::from_utf8(data) else { return };
    if let Ok(statements) = runnel_parser::parse_statements(sql) {
        for parsed in statements {
            let displayed = parsed.statement.to_string();
            match runnel_parser::parse_statement(&displayed) {
                Ok(again) => assert_eq!(again, parsed.statement, "round trip via {displayed}"),
                Err(e) => panic!("display of {:?} does not parse: {displayed}\n{e}", parsed.text),
            }
        }
    }
    let _ = runnel_parser::parse_expr(sql);
});
