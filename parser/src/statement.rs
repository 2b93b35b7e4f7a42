//! Statement parsing: peeks at the leading keywords and descends into one function per
//! statement form, delegating expressions, select items and types to sqlparser + our dialect.

use sqlparser::tokenizer::Token;

use crate::ast::{
    ColumnConstraint, ColumnDef, ConnectorKind, DescribeTarget, ExplainTarget, QueryTarget,
    ShowTarget, SourceKind, Statement,
};
use crate::cursor::{Cursor, Result};
use crate::error::ParseError;

impl Cursor<'_> {
    /// Parses one whole statement (all tokens must be consumed).
    pub fn statement(&mut self) -> Result<Statement> {
        let statement = self.statement_body()?;
        self.expect_end()?;
        Ok(statement)
    }

    fn statement_body(&mut self) -> Result<Statement> {
        let leading = match &self.peek().token {
            Token::Word(w) if w.quote_style.is_none() => w.value.to_uppercase(),
            _ => return Err(self.expected("a statement")),
        };
        match leading.as_str() {
            "SELECT" => Ok(Statement::Query(Box::new(self.query()?))),
            "CREATE" => self.create(),
            "INSERT" => self.insert(),
            "ALTER" => self.alter(),
            "DROP" => self.drop(),
            "SHOW" | "LIST" => self.show(),
            "DESCRIBE" => self.describe(),
            "EXPLAIN" => self.explain(),
            "TERMINATE" => {
                self.parser.next_token();
                Ok(Statement::Terminate(self.query_target()?))
            }
            "PAUSE" => {
                self.parser.next_token();
                Ok(Statement::Pause(self.query_target()?))
            }
            "RESUME" => {
                self.parser.next_token();
                Ok(Statement::Resume(self.query_target()?))
            }
            "PRINT" => self.print(),
            "SET" => {
                self.parser.next_token();
                let (property, value) = self.property_assignment()?;
                Ok(Statement::Set { property, value })
            }
            "UNSET" => {
                self.parser.next_token();
                Ok(Statement::Unset { property: self.string("a property name string")? })
            }
            "DEFINE" => {
                self.parser.next_token();
                let name = self.variable_name()?;
                self.expect(&Token::Eq)?;
                Ok(Statement::Define { name, value: self.string("a string value")? })
            }
            "UNDEFINE" => {
                self.parser.next_token();
                Ok(Statement::Undefine { name: self.variable_name()? })
            }
            "RUN" => {
                self.parser.next_token();
                self.expect_keyword("SCRIPT")?;
                Ok(Statement::RunScript { path: self.string("a script path string")? })
            }
            "ASSERT" => self.assert(),
            _ => Err(ParseError::new(format!("Unknown statement '{leading}'"), self.location())),
        }
    }

    fn create(&mut self) -> Result<Statement> {
        self.expect_keyword("CREATE")?;
        let or_replace = self.keywords(&["OR", "REPLACE"]);
        if !or_replace && self.keyword("TYPE") {
            let if_not_exists = self.if_not_exists();
            let name = self.name("a type name")?;
            self.expect_keyword("AS")?;
            let data_type = self.sql_type()?;
            return Ok(Statement::CreateType { if_not_exists, name, data_type });
        }
        if !or_replace && self.peek_keyword_at(1, "CONNECTOR") {
            let kind = if self.keyword("SOURCE") {
                ConnectorKind::Source
            } else if self.keyword("SINK") {
                ConnectorKind::Sink
            } else {
                return Err(self.expected("SOURCE or SINK"));
            };
            self.expect_keyword("CONNECTOR")?;
            let if_not_exists = self.if_not_exists();
            let name = self.name("a connector name")?;
            let properties = self.with_properties(false)?;
            return Ok(Statement::CreateConnector { kind, if_not_exists, name, properties });
        }
        let is_source = self.keyword("SOURCE");
        let kind = self.source_kind()?;
        let if_not_exists = self.if_not_exists();
        let name = self.name("a stream or table name")?;
        let columns = if self.peek().token == Token::LParen {
            self.column_defs()?
        } else {
            Vec::new()
        };
        let properties = self.with_properties(true)?;
        if self.peek_keyword("AS") && columns.is_empty() && !is_source {
            self.parser.next_token();
            let query = Box::new(self.query()?);
            return Ok(Statement::CreateAsSelect {
                or_replace,
                kind,
                if_not_exists,
                name,
                properties,
                query,
            });
        }
        Ok(Statement::CreateSource {
            or_replace,
            is_source,
            kind,
            if_not_exists,
            name,
            columns,
            properties,
        })
    }

    fn source_kind(&mut self) -> Result<SourceKind> {
        if self.keyword("STREAM") {
            Ok(SourceKind::Stream)
        } else if self.keyword("TABLE") {
            Ok(SourceKind::Table)
        } else {
            Err(self.expected("STREAM or TABLE"))
        }
    }

    fn if_not_exists(&mut self) -> bool {
        self.keywords(&["IF", "NOT", "EXISTS"])
    }

    fn if_exists(&mut self) -> bool {
        self.keywords(&["IF", "EXISTS"])
    }

    /// `(col type [constraint], ...)`.
    fn column_defs(&mut self) -> Result<Vec<ColumnDef>> {
        self.expect(&Token::LParen)?;
        let mut columns = vec![self.column_def()?];
        while self.consume(&Token::Comma) {
            columns.push(self.column_def()?);
        }
        if !self.consume(&Token::RParen) {
            // ksqlDB's wording, e.g. for `(K VARCHAR(STRING) (KEY))`.
            let found = self.expected("',' or ')'");
            return Err(ParseError::new("Expecting {',', ')'}", found.location));
        }
        Ok(columns)
    }

    fn column_def(&mut self) -> Result<ColumnDef> {
        let name = self.name("a column name")?;
        let data_type = self.sql_type()?;
        let constraint = if self.keyword("KEY") {
            ColumnConstraint::Key
        } else if self.keywords(&["PRIMARY", "KEY"]) {
            ColumnConstraint::PrimaryKey
        } else if self.keyword("HEADERS") {
            ColumnConstraint::Headers
        } else if self.keyword("HEADER") {
            self.expect(&Token::LParen)?;
            let key = self.string("a header key string")?;
            self.expect(&Token::RParen)?;
            ColumnConstraint::Header(key)
        } else {
            ColumnConstraint::None
        };
        Ok(ColumnDef { name, data_type, constraint })
    }

    fn insert(&mut self) -> Result<Statement> {
        self.expect_keyword("INSERT")?;
        self.expect_keyword("INTO")?;
        let target = self.name("a stream or table name")?;
        if self.peek().token == Token::LParen || self.peek_keyword("VALUES") {
            let columns = if self.consume(&Token::LParen) {
                let mut columns = vec![self.name("a column name")?];
                while self.consume(&Token::Comma) {
                    columns.push(self.name("a column name")?);
                }
                self.expect(&Token::RParen)?;
                Some(columns)
            } else {
                None
            };
            self.expect_keyword("VALUES")?;
            self.expect(&Token::LParen)?;
            let values =
                if self.peek().token == Token::RParen { Vec::new() } else { self.comma_separated_exprs()? };
            self.expect(&Token::RParen)?;
            return Ok(Statement::InsertValues { target, columns, values });
        }
        let properties = self.with_properties(true)?;
        let query = Box::new(self.query()?);
        Ok(Statement::InsertInto { target, properties, query })
    }

    fn alter(&mut self) -> Result<Statement> {
        self.expect_keyword("ALTER")?;
        if self.keyword("SYSTEM") {
            let (property, value) = self.property_assignment()?;
            return Ok(Statement::AlterSystem { property, value });
        }
        let kind = self.source_kind()?;
        let name = self.name("a stream or table name")?;
        let mut add_columns = Vec::new();
        loop {
            self.expect_keyword("ADD")?;
            self.keyword("COLUMN");
            add_columns.push(self.column_def()?);
            if !self.consume(&Token::Comma) {
                break;
            }
        }
        Ok(Statement::AlterSource { kind, name, add_columns })
    }

    fn drop(&mut self) -> Result<Statement> {
        self.expect_keyword("DROP")?;
        if self.keyword("TYPE") {
            let if_exists = self.if_exists();
            return Ok(Statement::DropType { if_exists, name: self.name("a type name")? });
        }
        if self.keyword("CONNECTOR") {
            let if_exists = self.if_exists();
            return Ok(Statement::DropConnector { if_exists, name: self.name("a connector name")? });
        }
        let kind = self.source_kind()?;
        let if_exists = self.if_exists();
        let name = self.name("a stream or table name")?;
        let delete_topic = self.keywords(&["DELETE", "TOPIC"]);
        Ok(Statement::Drop { kind, if_exists, name, delete_topic })
    }

    fn show(&mut self) -> Result<Statement> {
        self.parser.next_token(); // SHOW | LIST
        let target = if self.keyword("STREAMS") {
            ShowTarget::Streams { extended: self.keyword("EXTENDED") }
        } else if self.keyword("TABLES") {
            ShowTarget::Tables { extended: self.keyword("EXTENDED") }
        } else if self.keywords(&["ALL", "TOPICS"]) {
            ShowTarget::Topics { all: true, extended: self.keyword("EXTENDED") }
        } else if self.keyword("TOPICS") {
            ShowTarget::Topics { all: false, extended: self.keyword("EXTENDED") }
        } else if self.keyword("QUERIES") {
            ShowTarget::Queries { extended: self.keyword("EXTENDED") }
        } else if self.keyword("PROPERTIES") {
            ShowTarget::Properties
        } else if self.keyword("FUNCTIONS") {
            ShowTarget::Functions
        } else if self.keyword("TYPES") {
            ShowTarget::Types
        } else if self.keyword("VARIABLES") {
            ShowTarget::Variables
        } else if self.keywords(&["SOURCE", "CONNECTORS"]) {
            ShowTarget::Connectors { kind: Some(ConnectorKind::Source) }
        } else if self.keywords(&["SINK", "CONNECTORS"]) {
            ShowTarget::Connectors { kind: Some(ConnectorKind::Sink) }
        } else if self.keyword("CONNECTORS") {
            ShowTarget::Connectors { kind: None }
        } else if self.keywords(&["CONNECTOR", "PLUGINS"]) {
            ShowTarget::ConnectorPlugins
        } else {
            return Err(self.expected(
                "STREAMS, TABLES, TOPICS, QUERIES, PROPERTIES, FUNCTIONS, TYPES, VARIABLES, CONNECTORS or CONNECTOR PLUGINS",
            ));
        };
        Ok(Statement::Show(target))
    }

    fn describe(&mut self) -> Result<Statement> {
        self.expect_keyword("DESCRIBE")?;
        let ends_after = |c: &Self, n: usize| matches!(c.peek_nth(n).token, Token::EOF);
        let at_list = |c: &Self| {
            ends_after(c, 1) || (c.peek_keyword_at(1, "EXTENDED") && ends_after(c, 2))
        };
        let target = if self.peek_keyword("STREAMS") && at_list(self) {
            self.parser.next_token();
            DescribeTarget::Streams { extended: self.keyword("EXTENDED") }
        } else if self.peek_keyword("TABLES") && at_list(self) {
            self.parser.next_token();
            DescribeTarget::Tables { extended: self.keyword("EXTENDED") }
        } else if self.peek_keyword("FUNCTION") && !ends_after(self, 1) {
            self.parser.next_token();
            DescribeTarget::Function { name: self.name("a function name")? }
        } else if self.peek_keyword("CONNECTOR") && !ends_after(self, 1) {
            self.parser.next_token();
            DescribeTarget::Connector { name: self.name("a connector name")? }
        } else if self.peek_keyword("EXTENDED") && !ends_after(self, 1) {
            self.parser.next_token();
            DescribeTarget::Source { name: self.name("a stream or table name")?, extended: true }
        } else {
            let name = self.name("a stream or table name")?;
            DescribeTarget::Source { name, extended: self.keyword("EXTENDED") }
        };
        Ok(Statement::Describe(target))
    }

    fn explain(&mut self) -> Result<Statement> {
        self.expect_keyword("EXPLAIN")?;
        let is_query_id = matches!(self.peek_nth(1).token, Token::EOF)
            && !self.peek_keyword("SELECT");
        if is_query_id {
            return Ok(Statement::Explain(ExplainTarget::QueryId(self.name("a query id")?)));
        }
        Ok(Statement::Explain(ExplainTarget::Statement(Box::new(self.statement_body()?))))
    }

    fn query_target(&mut self) -> Result<QueryTarget> {
        if self.peek_keyword("ALL") && matches!(self.peek_nth(1).token, Token::EOF) {
            self.parser.next_token();
            return Ok(QueryTarget::All);
        }
        Ok(QueryTarget::Id(self.name("a query id or ALL")?))
    }

    fn print(&mut self) -> Result<Statement> {
        self.expect_keyword("PRINT")?;
        let topic = self.word_or_string("a topic name")?;
        let from_beginning = self.keywords(&["FROM", "BEGINNING"]);
        let interval = if self.keyword("INTERVAL") || self.keyword("SAMPLE") {
            Some(self.unsigned("an interval")?)
        } else {
            None
        };
        let limit = if self.keyword("LIMIT") { Some(self.unsigned("a row count")?) } else { None };
        Ok(Statement::Print { topic, from_beginning, interval, limit })
    }

    /// `'property' = 'value'`.
    fn property_assignment(&mut self) -> Result<(String, String)> {
        let property = self.string("a property name string")?;
        self.expect(&Token::Eq)?;
        let value = self.string("a property value string")?;
        Ok((property, value))
    }

    /// A variable name as written (variables are matched case-insensitively).
    fn variable_name(&mut self) -> Result<String> {
        match &self.peek().token {
            Token::Word(w) => {
                let name = w.value.clone();
                self.parser.next_token();
                Ok(name)
            }
            _ => Err(self.expected("a variable name")),
        }
    }

    fn assert(&mut self) -> Result<Statement> {
        self.expect_keyword("ASSERT")?;
        let exists = !self.keywords(&["NOT", "EXISTS"]);
        if self.keyword("TOPIC") {
            let name = self.word_or_string("a topic name")?;
            let properties = self.with_properties(true)?;
            let timeout = self.timeout()?;
            return Ok(Statement::AssertTopic { exists, name, properties, timeout });
        }
        self.expect_keyword("SCHEMA")?;
        let subject =
            if self.keyword("SUBJECT") { Some(self.word_or_string("a subject name")?) } else { None };
        let id = if self.keyword("ID") { Some(self.unsigned("a schema id")?) } else { None };
        let timeout = self.timeout()?;
        Ok(Statement::AssertSchema { exists, subject, id, timeout })
    }

    fn timeout(&mut self) -> Result<Option<crate::ast::Duration>> {
        if self.keyword("TIMEOUT") {
            Ok(Some(self.duration()?))
        } else {
            Ok(None)
        }
    }
}
