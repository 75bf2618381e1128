//! An in-process stand-in for an OpenSearch node: it expects a fixed sequence of requests,
//! checks each against its fixture (method, path, query string and JSON or NDJSON body,
//! compared as `serde_json::Value`s) and answers with the fixture's response.
//!
//! A fixture file `tests/fixtures/opensearch/<name>.json` holds one exchange:
//!
//! ```json
//! {
//!   "request": { "method": "POST", "path": "/gigmesh-gigs/_search", "query": "…",
//!                "body": { … } | "ndjson": [ … ] },
//!   "response": { "status": 200, "body": { … } }
//! }
//! ```
//!
//! `query`, `body` and `ndjson` are optional; without `body` or `ndjson` the request must
//! have no body.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http_body_util::{BodyExt as _, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use serde_json::Value;

/// The index name every fixture uses.
pub const INDEX: &str = "gigmesh-gigs";

/// One fixture: an expected request and its answer.
#[derive(Debug, Clone)]
pub struct Exchange {
    pub name: String,
    pub request: Value,
    pub response: Value,
}

/// Reads `tests/fixtures/opensearch/<name>.json`.
pub fn fixture(name: &str) -> Exchange {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/opensearch")
        .join(format!("{name}.json"));
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|error| panic!("read {}: {error}", path.display()));
    let value: Value = serde_json::from_str(&text)
        .unwrap_or_else(|error| panic!("parse {}: {error}", path.display()));
    Exchange {
        name: name.to_owned(),
        request: value["request"].clone(),
        response: value["response"].clone(),
    }
}

#[derive(Default)]
struct State {
    expected: VecDeque<Exchange>,
    problems: Vec<String>,
}

/// A running fake node.
pub struct FakeOpenSearch {
    pub url: String,
    state: Arc<Mutex<State>>,
    server: tokio::task::JoinHandle<()>,
}

impl FakeOpenSearch {
    /// A node on 127.0.0.1 (a free port) expecting the fixtures `names`, in order.
    pub async fn start(names: &[&str]) -> Self {
        Self::start_with(names.iter().map(|name| fixture(name)).collect()).await
    }

    /// A node expecting `exchanges`, in order.
    pub async fn start_with(exchanges: Vec<Exchange>) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the fake node");
        let address: SocketAddr = listener.local_addr().expect("local address");
        let state = Arc::new(Mutex::new(State {
            expected: exchanges.into(),
            problems: Vec::new(),
        }));
        let server_state = state.clone();
        let server = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let state = server_state.clone();
                tokio::spawn(async move {
                    let service = service_fn(move |request| {
                        let state = state.clone();
                        async move { Ok::<_, Infallible>(answer(&state, request).await) }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Self {
            url: format!("http://{address}"),
            state,
            server,
        }
    }

    /// Asserts that every expected request came, as expected.
    pub fn finish(self) {
        self.server.abort();
        let state = self.state.lock().expect("state");
        assert!(
            state.problems.is_empty(),
            "unexpected requests:\n{}",
            state.problems.join("\n")
        );
        let missing: Vec<&str> = state.expected.iter().map(|e| e.name.as_str()).collect();
        assert!(missing.is_empty(), "requests never sent: {missing:?}");
    }
}

async fn answer(state: &Mutex<State>, request: Request<Incoming>) -> Response<Full<Bytes>> {
    let method = request.method().as_str().to_owned();
    let path = request.uri().path().to_owned();
    let query = request.uri().query().unwrap_or_default().to_owned();
    let body = match request.into_body().collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(error) => return respond(599, &Value::String(error.to_string())),
    };
    let mut state = state.lock().expect("state");
    let Some(exchange) = state.expected.pop_front() else {
        state.problems.push(format!(
            "{method} {path}?{query}: no more requests expected"
        ));
        return respond(599, &Value::Null);
    };
    let mismatches = compare(&exchange.request, &method, &path, &query, &body);
    if !mismatches.is_empty() {
        state.problems.push(format!(
            "{}: {method} {path}?{query}:\n  {}",
            exchange.name,
            mismatches.join("\n  ")
        ));
        return respond(599, &Value::Null);
    }
    let status = exchange.response["status"].as_u64().unwrap_or(200);
    respond(
        u16::try_from(status).unwrap_or(200),
        &exchange.response["body"],
    )
}

fn compare(expected: &Value, method: &str, path: &str, query: &str, body: &[u8]) -> Vec<String> {
    let mut mismatches = Vec::new();
    if expected["method"].as_str() != Some(method) {
        mismatches.push(format!("method: expected {}", expected["method"]));
    }
    if expected["path"].as_str() != Some(path) {
        mismatches.push(format!("path: expected {}", expected["path"]));
    }
    if expected["query"].as_str().unwrap_or_default() != query {
        mismatches.push(format!("query: expected {}", expected["query"]));
    }
    let text = String::from_utf8_lossy(body);
    if let Some(expected_body) = expected.get("body") {
        match serde_json::from_str::<Value>(&text) {
            Ok(actual) if actual == *expected_body => {}
            Ok(actual) => mismatches.push(format!(
                "body:\n    expected {expected_body}\n    actual   {actual}"
            )),
            Err(error) => mismatches.push(format!("body is not JSON ({error}): {text}")),
        }
    } else if let Some(expected_lines) = expected.get("ndjson") {
        let actual: Result<Vec<Value>, _> = text
            .lines()
            .filter(|line| !line.trim().is_empty())
            .map(serde_json::from_str)
            .collect();
        match actual {
            Ok(actual) if Value::Array(actual.clone()) == *expected_lines => {}
            Ok(actual) => mismatches.push(format!(
                "ndjson:\n    expected {expected_lines}\n    actual   {}",
                Value::Array(actual)
            )),
            Err(error) => mismatches.push(format!("body is not NDJSON ({error}): {text}")),
        }
        if !text.ends_with('\n') {
            mismatches.push("an NDJSON body must end with a newline".to_owned());
        }
    } else if !body.is_empty() {
        mismatches.push(format!("expected no body, got {text}"));
    }
    mismatches
}

fn respond(status: u16, body: &Value) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body.to_string())));
    *response.status_mut() =
        hyper::StatusCode::from_u16(status).unwrap_or(hyper::StatusCode::INTERNAL_SERVER_ERROR);
    response.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("application/json; charset=UTF-8"),
    );
    response
}
