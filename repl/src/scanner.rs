//! A small lexical scanner for what the user types: cuts input into `;`-terminated statements
//! (quotes, backticks, double-quoted identifiers and comments respected) and tells whether the
//! input typed so far is complete. It works on partial input, where a full tokenizer would
//! report an unterminated string as an error rather than "keep reading".
//!
//! runnel-parser's own splitter is crate-private and refuses incomplete text, so the REPL keeps
//! this one; the server does the real parsing.

/// Statements cut from a piece of input.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Split {
    /// Complete statements, each from its first token through its `;` (leading comments and
    /// whitespace dropped).
    pub statements: Vec<String>,
    /// Text after the last `;` that holds a token (not only whitespace and comments); the
    /// statement the user has not finished yet.
    pub rest: Option<String>,
}

/// One lexical unit of a statement, used to recognise statements the client handles itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lexeme {
    /// A bare word, as written.
    Word(String),
    /// A `'single-quoted'` string literal, unescaped (`''` is one `'`).
    Str(String),
    /// A `` `backticked` `` or `"double-quoted"` identifier, without its quotes.
    Quoted(String),
    /// Any other character (`=`, `(`, `;`, ...).
    Symbol(char),
}

impl Lexeme {
    /// True when this is the bare word `keyword`, ignoring case.
    pub fn is_word(&self, keyword: &str) -> bool {
        matches!(self, Lexeme::Word(w) if w.eq_ignore_ascii_case(keyword))
    }
}

/// Where the scanner stands between characters.
#[derive(Clone, Copy, PartialEq, Eq)]
enum State {
    Code,
    /// Inside a quoted region closed by this character (`'`, `` ` `` or `"`).
    Quoted(char),
    LineComment,
    BlockComment,
}

/// Cuts `input` into complete statements and the unfinished rest.
pub fn split_statements(input: &str) -> Split {
    let mut split = Split::default();
    let mut state = State::Code;
    // Byte offset where the current statement's first token starts.
    let mut start: Option<usize> = None;
    let mut chars = input.char_indices().peekable();
    while let Some((at, c)) = chars.next() {
        match state {
            State::Code => match c {
                '-' if chars.peek().is_some_and(|&(_, n)| n == '-') => {
                    chars.next();
                    state = State::LineComment;
                }
                '/' if chars.peek().is_some_and(|&(_, n)| n == '*') => {
                    chars.next();
                    state = State::BlockComment;
                }
                ';' => {
                    // A lone `;` is an empty statement: nothing to send.
                    if let Some(from) = start.take() {
                        split.statements.push(input[from..=at].to_string());
                    }
                }
                c if c.is_whitespace() => {}
                c => {
                    start.get_or_insert(at);
                    if matches!(c, '\'' | '`' | '"') {
                        state = State::Quoted(c);
                    }
                }
            },
            State::Quoted(close) => {
                if c == close {
                    // A doubled quote character is an escaped one, not the end.
                    if chars.peek().is_some_and(|&(_, n)| n == close) {
                        chars.next();
                    } else {
                        state = State::Code;
                    }
                }
            }
            State::LineComment => {
                if c == '\n' {
                    state = State::Code;
                }
            }
            State::BlockComment => {
                if c == '*' && chars.peek().is_some_and(|&(_, n)| n == '/') {
                    chars.next();
                    state = State::Code;
                }
            }
        }
    }
    split.rest = start.map(|from| input[from..].to_string());
    split
}

/// True when `input` holds no unfinished statement: everything typed is either terminated by
/// `;` or only whitespace and comments.
pub fn is_complete(input: &str) -> bool {
    split_statements(input).rest.is_none()
}

/// Lexes one statement into [`Lexeme`]s, dropping whitespace and comments. Unterminated
/// quotes run to the end of the text.
pub fn lex(statement: &str) -> Vec<Lexeme> {
    let mut out = Vec::new();
    let mut chars = statement.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            c if c.is_whitespace() => {}
            '-' if chars.peek() == Some(&'-') => {
                for c in chars.by_ref() {
                    if c == '\n' {
                        break;
                    }
                }
            }
            '/' if chars.peek() == Some(&'*') => {
                chars.next();
                let mut previous = ' ';
                for c in chars.by_ref() {
                    if previous == '*' && c == '/' {
                        break;
                    }
                    previous = c;
                }
            }
            '\'' | '`' | '"' => {
                let mut text = String::new();
                while let Some(n) = chars.next() {
                    if n == c {
                        if chars.peek() == Some(&c) {
                            chars.next();
                        } else {
                            break;
                        }
                    }
                    text.push(n);
                }
                out.push(if c == '\'' { Lexeme::Str(text) } else { Lexeme::Quoted(text) });
            }
            c if is_word_char(c) => {
                let mut word = String::from(c);
                while let Some(&n) = chars.peek() {
                    if !is_word_char(n) {
                        break;
                    }
                    word.push(n);
                    chars.next();
                }
                out.push(Lexeme::Word(word));
            }
            c => out.push(Lexeme::Symbol(c)),
        }
    }
    out
}

/// Characters of a bare word (identifiers, keywords, numbers, `${var}` pieces excluded).
pub fn is_word_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

#[cfg(test)]
mod tests {
    use super::*;

    fn statements(input: &str) -> Vec<String> {
        split_statements(input).statements
    }

    #[test]
    fn splits_at_top_level_semicolons() {
        assert_eq!(
            statements("SHOW STREAMS; SHOW TABLES;\nLIST QUERIES;"),
            vec!["SHOW STREAMS;", "SHOW TABLES;", "LIST QUERIES;"]
        );
    }

    #[test]
    fn semicolons_inside_quotes_backticks_and_comments_do_not_split() {
        let input = "INSERT INTO s (a, `b;c`, \"d;e\") VALUES ('x;y', 'it''s;', 1); -- a; b\n\
                     /* c; d */ SHOW TOPICS;";
        assert_eq!(
            statements(input),
            vec!["INSERT INTO s (a, `b;c`, \"d;e\") VALUES ('x;y', 'it''s;', 1);", "SHOW TOPICS;"]
        );
    }

    #[test]
    fn unfinished_statement_is_the_rest() {
        let split = split_statements("SHOW STREAMS; SELECT * FROM s\n  WHERE a = 'x;");
        assert_eq!(split.statements, vec!["SHOW STREAMS;"]);
        assert_eq!(split.rest.as_deref(), Some("SELECT * FROM s\n  WHERE a = 'x;"));
    }

    #[test]
    fn completeness_ignores_trailing_comments_and_blank_input() {
        assert!(is_complete(""));
        assert!(is_complete("   \n"));
        assert!(is_complete("-- only a comment"));
        assert!(is_complete("SHOW STREAMS; -- trailing comment"));
        assert!(is_complete("SHOW STREAMS /* ; */ ;"));
        assert!(!is_complete("SHOW STREAMS"));
        assert!(!is_complete("SHOW STREAMS /* ; "));
        assert!(!is_complete("SELECT 'a;"));
        assert!(!is_complete("SHOW STREAMS; SHOW"));
    }

    #[test]
    fn lone_semicolons_are_no_statements() {
        assert_eq!(statements(";;  ;"), Vec::<String>::new());
    }

    #[test]
    fn lexes_words_strings_identifiers_and_symbols() {
        assert_eq!(
            lex("SET 'auto.offset.reset' = 'it''s'; -- done\n DEFINE `x`"),
            vec![
                Lexeme::Word("SET".into()),
                Lexeme::Str("auto.offset.reset".into()),
                Lexeme::Symbol('='),
                Lexeme::Str("it's".into()),
                Lexeme::Symbol(';'),
                Lexeme::Word("DEFINE".into()),
                Lexeme::Quoted("x".into()),
            ]
        );
        assert!(Lexeme::Word("select".into()).is_word("SELECT"));
    }
}
