//! The little HTTP the Stripe fake needs: a 127.0.0.1 server running a handler per
//! request (the proxy, webhook inboxes), and a plain client for form posts.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

/// A request as a handler sees it: read whole.
pub struct ReceivedRequest {
    pub method: Method,
    /// The path and query, e.g. `/v1/payment_intents/pi_1?expand[]=x`.
    pub path_and_query: String,
    pub headers: hyper::HeaderMap,
    pub body: Bytes,
}

impl ReceivedRequest {
    /// The path without its query.
    pub fn path(&self) -> &str {
        self.path_and_query
            .split_once('?')
            .map_or(self.path_and_query.as_str(), |(path, _)| path)
    }

    /// A header's value, if present and text.
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .and_then(|value| value.to_str().ok())
            .map(str::to_owned)
    }
}

/// A whole response.
#[derive(Clone)]
pub struct WholeResponse {
    pub status: StatusCode,
    pub content_type: Option<String>,
    pub body: Bytes,
}

impl WholeResponse {
    pub fn json(status: StatusCode, value: &serde_json::Value) -> Self {
        Self {
            status,
            content_type: Some("application/json".to_owned()),
            body: Bytes::from(serde_json::to_vec(value).expect("JSON serialises")),
        }
    }

    /// The body as JSON, when it is.
    pub fn body_json(&self) -> Option<serde_json::Value> {
        serde_json::from_slice(&self.body).ok()
    }
}

pub type Handler = Arc<
    dyn Fn(ReceivedRequest) -> Pin<Box<dyn Future<Output = WholeResponse> + Send>> + Send + Sync,
>;

/// Serves `handler` on a fresh 127.0.0.1 port until the returned task is aborted.
pub async fn serve(handler: Handler) -> (u16, JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind a 127.0.0.1 port");
    let port = listener.local_addr().expect("local address").port();
    let task = tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let handler = handler.clone();
            tokio::spawn(async move {
                let service = service_fn(move |request: Request<Incoming>| {
                    let handler = handler.clone();
                    async move {
                        let (parts, body) = request.into_parts();
                        let body = body
                            .collect()
                            .await
                            .map(|collected| collected.to_bytes())
                            .unwrap_or_default();
                        let received = ReceivedRequest {
                            method: parts.method,
                            path_and_query: parts
                                .uri
                                .path_and_query()
                                .map_or_else(|| "/".to_owned(), |value| value.as_str().to_owned()),
                            headers: parts.headers,
                            body,
                        };
                        let answer = handler(received).await;
                        let mut response = Response::builder().status(answer.status);
                        if let Some(content_type) = answer.content_type {
                            response = response.header("content-type", content_type);
                        }
                        Ok::<_, Infallible>(
                            response
                                .body(Full::new(answer.body))
                                .expect("a valid response"),
                        )
                    }
                });
                let _ = http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    (port, task)
}

/// A plain HTTP/1 client.
pub type PlainClient = Client<HttpConnector, Full<Bytes>>;

/// A plain HTTP/1 client.
pub fn client() -> PlainClient {
    Client::builder(TokioExecutor::new()).build_http()
}

/// Sends a request and reads the whole answer.
pub async fn send(
    client: &PlainClient,
    method: Method,
    url: &str,
    headers: &[(&str, String)],
    body: Bytes,
) -> anyhow::Result<WholeResponse> {
    let mut request = Request::builder().method(method).uri(url);
    for (name, value) in headers {
        request = request.header(*name, value);
    }
    let response = client.request(request.body(Full::new(body))?).await?;
    let status = response.status();
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|value| value.to_str().ok())
        .map(str::to_owned);
    let body = response.into_body().collect().await?.to_bytes();
    Ok(WholeResponse {
        status,
        content_type,
        body,
    })
}

/// Form-encodes `pairs` (Stripe's request bodies).
pub fn form(pairs: &[(&str, &str)]) -> Bytes {
    let mut serializer = url::form_urlencoded::Serializer::new(String::new());
    for (name, value) in pairs {
        serializer.append_pair(name, value);
    }
    Bytes::from(serializer.finish())
}

/// The pairs of a form-encoded body, in order.
pub fn parse_form(body: &[u8]) -> Vec<(String, String)> {
    url::form_urlencoded::parse(body)
        .map(|(name, value)| (name.into_owned(), value.into_owned()))
        .collect()
}
