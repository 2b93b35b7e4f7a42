//! The HTTP side: one [`RestClient`] per server URL, speaking ksqlDB's REST API (`/info`,
//! `/ksql`, `/query`, `/close-query`, `/is_valid_property`) with its content type and optional
//! basic auth. Non-2xx answers become [`CliError::Server`] when the body is a ksqlDB error.

use std::time::Duration;

use serde_json::Value;

use crate::error::{CliError, ServerError};

/// ksqlDB's versioned JSON media type, sent and accepted on every call.
const KSQL_MEDIA_TYPE: &str = "application/vnd.ksql.v1+json";

/// How long to wait for a TCP connection before telling the user the server is unreachable.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, Clone)]
pub struct Credentials {
    pub user: String,
    pub password: String,
}

pub struct RestClient {
    http: reqwest::Client,
    /// The server URL without a trailing `/`.
    base: String,
    credentials: Option<Credentials>,
}

/// What `/info` says about the server.
#[derive(Debug, Clone, PartialEq)]
pub struct ServerInfo {
    pub version: String,
    pub service_id: String,
    pub status: String,
}

impl RestClient {
    pub fn new(url: &str, credentials: Option<Credentials>) -> Result<RestClient, CliError> {
        let mut base = url.trim().trim_end_matches('/').to_string();
        // `localhost:8088` means http, as in ksqlDB's CLI.
        if !base.contains("://") {
            base = format!("http://{base}");
        }
        let bad = |reason: &str| CliError::BadUrl { url: url.to_string(), reason: reason.to_string() };
        let parsed = reqwest::Url::parse(&base).map_err(|e| bad(&e.to_string()))?;
        match parsed.scheme() {
            "http" => {}
            "https" => return Err(bad("https is not supported by this build of the CLI; use http://")),
            other => return Err(bad(&format!("unsupported scheme '{other}' (expected http://)"))),
        }
        if parsed.host_str().is_none() {
            return Err(bad("the URL has no host"));
        }
        let http =
            reqwest::Client::builder().connect_timeout(CONNECT_TIMEOUT).build().map_err(|e| bad(&describe(&e)))?;
        Ok(RestClient { http, base, credentials })
    }

    pub fn url(&self) -> &str {
        &self.base
    }

    /// `GET /info`.
    pub async fn info(&self) -> Result<ServerInfo, CliError> {
        let body =
            self.read_json("/info", self.send("/info", self.request(reqwest::Method::GET, "/info")).await?).await?;
        let info = body.get("KsqlServerInfo").ok_or_else(|| CliError::BadResponse {
            path: "/info".into(),
            reason: format!("no KsqlServerInfo in {body}"),
        })?;
        let field = |name: &str| info.get(name).and_then(Value::as_str).unwrap_or("").to_string();
        Ok(ServerInfo { version: field("version"), service_id: field("ksqlServiceId"), status: field("serverStatus") })
    }

    /// `POST /ksql`: the entities, one per statement.
    pub async fn ksql(&self, request: &Value) -> Result<Vec<Value>, CliError> {
        let response = self.send("/ksql", self.request(reqwest::Method::POST, "/ksql").json_body(request)).await?;
        match self.read_json("/ksql", response).await? {
            Value::Array(entities) => Ok(entities),
            other => Err(CliError::BadResponse {
                path: "/ksql".into(),
                reason: format!("expected a JSON array, got {other}"),
            }),
        }
    }

    /// Starts a streamed query (`POST path`); the caller reads the body as it arrives.
    pub async fn open_query(&self, path: &str, request: &Value) -> Result<reqwest::Response, CliError> {
        let response = self.send(path, self.request(reqwest::Method::POST, path).json_body(request)).await?;
        if response.status().is_success() {
            Ok(response)
        } else {
            Err(self.error_from(path, response).await)
        }
    }

    /// `POST /close-query`.
    pub async fn close_query(&self, query_id: &str) -> Result<(), CliError> {
        let request = serde_json::json!({ "queryId": query_id });
        let response =
            self.send("/close-query", self.request(reqwest::Method::POST, "/close-query").json_body(&request)).await?;
        if response.status().is_success() {
            Ok(())
        } else {
            Err(self.error_from("/close-query", response).await)
        }
    }

    /// `GET /is_valid_property/{name}`: `Ok` when the server accepts the property (or does not
    /// offer the check), the server's error when it rejects it.
    pub async fn check_property(&self, name: &str) -> Result<(), CliError> {
        let path = format!("/is_valid_property/{}", path_segment(name));
        let response = self.send(&path, self.request(reqwest::Method::GET, &path)).await?;
        if response.status().is_success() || response.status() == reqwest::StatusCode::NOT_FOUND {
            return Ok(());
        }
        match self.error_from(&path, response).await {
            error @ CliError::Server(_) => Err(error),
            // Not a ksqlDB error body: the server does not implement the check.
            _ => Ok(()),
        }
    }

    fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        let builder =
            self.http.request(method, format!("{}{path}", self.base)).header(reqwest::header::ACCEPT, KSQL_MEDIA_TYPE);
        match &self.credentials {
            Some(c) => builder.basic_auth(&c.user, Some(&c.password)),
            None => builder,
        }
    }

    async fn send(&self, path: &str, request: reqwest::RequestBuilder) -> Result<reqwest::Response, CliError> {
        request.send().await.map_err(|e| CliError::Connect {
            url: self.base.clone(),
            path: path.into(),
            reason: root_cause(&e),
        })
    }

    async fn read_json(&self, path: &str, response: reqwest::Response) -> Result<Value, CliError> {
        if !response.status().is_success() {
            return Err(self.error_from(path, response).await);
        }
        let bytes = response.bytes().await.map_err(|e| CliError::Connect {
            url: self.base.clone(),
            path: path.into(),
            reason: describe(&e),
        })?;
        serde_json::from_slice(&bytes).map_err(|e| CliError::BadResponse {
            path: path.into(),
            reason: format!("{e}: {}", String::from_utf8_lossy(&bytes)),
        })
    }

    /// Turns a non-2xx response into the error to show.
    async fn error_from(&self, path: &str, response: reqwest::Response) -> CliError {
        let status = response.status();
        let body = response.bytes().await.unwrap_or_default();
        if let Some(error) = serde_json::from_slice::<Value>(&body).ok().as_ref().and_then(ServerError::from_json) {
            return CliError::Server(error);
        }
        let mut text = String::from_utf8_lossy(&body).trim().to_string();
        if text.is_empty() {
            text = status.canonical_reason().unwrap_or("no body").to_string();
        }
        if status == reqwest::StatusCode::UNAUTHORIZED {
            text = format!("{text} (check --user and --password)");
        }
        CliError::Http { url: self.base.clone(), path: path.into(), status: status.as_u16(), body: text }
    }
}

/// Sets the JSON body with ksqlDB's content type.
trait JsonBody {
    fn json_body(self, body: &Value) -> Self;
}

impl JsonBody for reqwest::RequestBuilder {
    fn json_body(self, body: &Value) -> Self {
        self.header(reqwest::header::CONTENT_TYPE, KSQL_MEDIA_TYPE).body(body.to_string())
    }
}

/// An error and its causes on one line ("error sending request: ... Connection refused").
fn describe(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

/// The innermost cause ("Connection refused (os error 111)"): what the user can act on,
/// without the layers of "error sending request ... client error (Connect)".
fn root_cause(error: &(dyn std::error::Error + 'static)) -> String {
    let mut cause = error;
    while let Some(next) = cause.source() {
        cause = next;
    }
    cause.to_string()
}

/// Percent-encodes a property name for use as one path segment.
fn path_segment(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'.' | b'-' | b'_' | b'~') {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_checked() {
        assert!(RestClient::new("http://localhost:8088/", None).is_ok());
        assert_eq!(
            RestClient::new("http://localhost:8088/", None).map(|c| c.url().to_string()).ok().as_deref(),
            Some("http://localhost:8088")
        );
        assert_eq!(
            RestClient::new("localhost:8088", None).map(|c| c.url().to_string()).ok().as_deref(),
            Some("http://localhost:8088")
        );
        for bad in ["ftp://x", "https://secure:8088", "http://a b"] {
            assert!(matches!(RestClient::new(bad, None), Err(CliError::BadUrl { .. })), "{bad}");
        }
    }

    #[test]
    fn property_names_are_path_encoded() {
        assert_eq!(path_segment("ksql.streams.auto.offset.reset"), "ksql.streams.auto.offset.reset");
        assert_eq!(path_segment("a b/c"), "a%20b%2Fc");
    }
}
