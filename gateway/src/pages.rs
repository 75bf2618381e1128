//! What the gateway's HTML pages share: one inline stylesheet allowed by hash and nothing
//! else (no scripts, no framing, no referrer, no caching), the [`Page`] they answer with,
//! the refusal of forms posted from other sites, and [`PageCalls`], which sends a page's
//! RPCs through the gateway's own gRPC handling (policy, rate limit, metrics, routing) as
//! the browser's own calls.

use std::convert::Infallible;
use std::sync::LazyLock;
use std::task::{Context, Poll};

use base64::Engine as _;
use bytes::Bytes;
use futures::future::BoxFuture;
use gigmesh_types::escape_html;
use http::StatusCode;
use http::header::{self, HeaderName, HeaderValue};
use http_body_util::BodyExt as _;
use sha2::Digest as _;
use tonic::body::Body;
use tonic::transport::server::TcpConnectInfo;
use tonic::{Code, Status};
use tonic_types::StatusExt as _;
use tower::Service;

use crate::upstream::UpstreamService;

/// The media type of a posted HTML form.
pub(crate) const FORM_CONTENT_TYPE: &str = "application/x-www-form-urlencoded";

/// The one stylesheet, inline; the Content-Security-Policy allows exactly it by hash.
pub(crate) const STYLE: &str = "body{font-family:system-ui,sans-serif;max-width:32rem;margin:3rem auto;\
padding:0 1rem;line-height:1.5;color:#1f2933}h1{font-size:1.5rem}label{display:block;\
margin-top:1rem}input[type=password]{width:100%;padding:.4rem;box-sizing:border-box}\
button{margin-top:1.2rem;padding:.5rem 1.2rem}.problem{color:#b3261e}";

/// Pages may load nothing, be framed by no one, post only to the gateway, and style
/// themselves only with [`STYLE`].
pub(crate) static CONTENT_SECURITY_POLICY: LazyLock<HeaderValue> = LazyLock::new(|| {
    let hash = base64::engine::general_purpose::STANDARD.encode(sha2::Sha256::digest(STYLE));
    let policy = format!(
        "default-src 'none'; style-src 'sha256-{hash}'; form-action 'self'; \
         frame-ancestors 'none'; base-uri 'none'"
    );
    HeaderValue::from_str(&policy)
        .unwrap_or_else(|_| HeaderValue::from_static("default-src 'none'"))
});

/// Headers of the page request that the RPC it makes carries on.
const PASSED_ON_HEADERS: [HeaderName; 4] = [
    HeaderName::from_static("x-forwarded-for"),
    HeaderName::from_static("x-request-id"),
    HeaderName::from_static("traceparent"),
    header::USER_AGENT,
];

/// The gRPC calls of one page, into the gateway's gRPC handling.
#[derive(Clone)]
pub(crate) struct PageCalls {
    grpc: UpstreamService,
    connect_info: Option<TcpConnectInfo>,
    forwarded: Vec<(HeaderName, HeaderValue)>,
}

impl Service<http::Request<Body>> for PageCalls {
    type Response = http::Response<Body>;
    type Error = Infallible;
    type Future = BoxFuture<'static, Result<Self::Response, Self::Error>>;

    fn poll_ready(&mut self, _context: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, mut request: http::Request<Body>) -> Self::Future {
        if let Some(connect_info) = self.connect_info.clone() {
            request.extensions_mut().insert(connect_info);
        }
        for (name, value) in &self.forwarded {
            request.headers_mut().append(name.clone(), value.clone());
        }
        let grpc = self.grpc.clone();
        Box::pin(tower::ServiceExt::oneshot(grpc, request))
    }
}

impl PageCalls {
    /// The calls of the page that answers the request of `parts`: the same client address
    /// (rate limits) and request id.
    pub(crate) fn for_request(grpc: UpstreamService, parts: &http::request::Parts) -> Self {
        Self {
            grpc,
            connect_info: parts.extensions.get::<TcpConnectInfo>().cloned(),
            forwarded: PASSED_ON_HEADERS
                .iter()
                .flat_map(|name| {
                    parts
                        .headers
                        .get_all(name)
                        .iter()
                        .map(|value| (name.clone(), value.clone()))
                })
                .collect(),
        }
    }
}

/// Why a posted form could not be read.
pub(crate) enum FormProblem {
    /// Not `application/x-www-form-urlencoded`.
    NotAForm,
    /// Larger than the page's limit.
    TooLarge,
}

impl FormProblem {
    /// The page that says so.
    pub(crate) fn page(&self) -> Page {
        match self {
            FormProblem::NotAForm => Page::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "Unexpected form",
                "<p>Send the form as it is shown on this page.</p>".to_owned(),
            ),
            FormProblem::TooLarge => Page::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "Form too large",
                "<p>The form was larger than this page accepts.</p>".to_owned(),
            ),
        }
    }
}

/// The body of a posted HTML form, at most `max_bytes`.
pub(crate) async fn read_form<B>(
    parts: &http::request::Parts,
    body: B,
    max_bytes: usize,
) -> Result<Bytes, FormProblem>
where
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let is_form = parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.split(';').next())
        .is_some_and(|media_type| media_type.trim().eq_ignore_ascii_case(FORM_CONTENT_TYPE));
    if !is_form {
        return Err(FormProblem::NotAForm);
    }
    http_body_util::Limited::new(body, max_bytes)
        .collect()
        .await
        .map(|collected| collected.to_bytes())
        .map_err(|_| FormProblem::TooLarge)
}

/// The value of the query parameter `name`, when there is a non-empty one.
pub(crate) fn query_parameter(parts: &http::request::Parts, name: &str) -> Option<String> {
    let query = parts.uri.query()?;
    url::form_urlencoded::parse(query.as_bytes())
        .find(|(key, _)| key == name)
        .map(|(_, value)| value.into_owned())
        .filter(|value| !value.is_empty())
}

/// A 403 page when the browser says the post comes from another site: its
/// `Sec-Fetch-Site` is neither `same-origin` nor `none` (typed by the person), or its
/// `Origin` names another host than the one the page was asked from. `Origin: null` is let
/// through: browsers send it for the form's own post, as the pages send no referrer; the
/// token in the body and `Sec-Fetch-Site` still stand in a forged post's way.
pub(crate) fn cross_site_refusal(parts: &http::request::Parts) -> Option<Page> {
    let refused = || {
        Some(Page::new(
            StatusCode::FORBIDDEN,
            "Form refused",
            "<p>This form can only be sent from its own page. Open the link from the mail \
             again.</p>"
                .to_owned(),
        ))
    };
    if let Some(site) = parts.headers.get("sec-fetch-site") {
        let site = site.to_str().unwrap_or_default();
        if !(site.eq_ignore_ascii_case("same-origin") || site.eq_ignore_ascii_case("none")) {
            return refused();
        }
    }
    let origin = parts.headers.get(header::ORIGIN)?;
    let Ok(origin) = origin.to_str() else {
        return refused();
    };
    if origin == "null" {
        return None;
    }
    let origin_host = origin.parse::<http::Uri>().ok().and_then(|uri| {
        uri.authority()
            .map(|authority| authority.as_str().to_owned())
    });
    let own_host = parts
        .headers
        .get(header::HOST)
        .and_then(|host| host.to_str().ok())
        .map(str::to_owned)
        .or_else(|| {
            parts
                .uri
                .authority()
                .map(|authority| authority.as_str().to_owned())
        });
    match (origin_host, own_host) {
        (Some(origin_host), Some(own_host)) if origin_host.eq_ignore_ascii_case(&own_host) => None,
        _ => refused(),
    }
}

/// The description of the violation of `field` in an INVALID_ARGUMENT status.
pub(crate) fn field_problem(status: &Status, field: &str) -> Option<String> {
    if status.code() != Code::InvalidArgument {
        return None;
    }
    status
        .get_details_bad_request()?
        .field_violations
        .into_iter()
        .find(|violation| violation.field == field)
        .map(|violation| violation.description)
}

/// One HTML page to answer with.
pub(crate) struct Page {
    pub(crate) status: StatusCode,
    title: &'static str,
    /// Trusted HTML: everything from outside in it is escaped.
    body: String,
    allow: Option<&'static str>,
}

impl Page {
    /// The page's own HTML, for tests.
    #[cfg(test)]
    pub(crate) fn body_html(&self) -> &str {
        &self.body
    }

    pub(crate) fn new(status: StatusCode, title: &'static str, body: String) -> Self {
        Self {
            status,
            title,
            body,
            allow: None,
        }
    }

    pub(crate) fn method_not_allowed(allow: &'static str) -> Self {
        Self {
            allow: Some(allow),
            ..Self::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "Not here",
                "<p>Open the link from the mail.</p>".to_owned(),
            )
        }
    }

    pub(crate) fn incomplete_link(what: &str) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "Incomplete link",
            format!(
                "<p>This {} link has no token. Open the link from the mail as it is, or copy \
                 all of it into the address bar.</p>",
                escape_html(what)
            ),
        )
    }

    /// The page of a failed call: what the RPC said, with the HTTP status that matches it,
    /// and `hint` when the link's `token` is what failed.
    pub(crate) fn from_status(status: &Status, title: &'static str, hint: &str) -> Self {
        let http_status = match status.code() {
            Code::InvalidArgument | Code::FailedPrecondition | Code::OutOfRange => {
                StatusCode::BAD_REQUEST
            }
            Code::NotFound | Code::Unimplemented => StatusCode::NOT_FOUND,
            Code::Unauthenticated | Code::PermissionDenied => StatusCode::FORBIDDEN,
            Code::ResourceExhausted => StatusCode::TOO_MANY_REQUESTS,
            Code::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            Code::DeadlineExceeded => StatusCode::GATEWAY_TIMEOUT,
            _ => StatusCode::BAD_GATEWAY,
        };
        let explanation = match (status.code(), field_problem(status, "token")) {
            (Code::InvalidArgument, Some(problem)) => {
                format!(
                    "<p>The link {}.</p><p>{}</p>",
                    escape_html(&problem),
                    escape_html(hint)
                )
            }
            (Code::InvalidArgument | Code::FailedPrecondition | Code::ResourceExhausted, _) => {
                format!("<p>{}</p>", escape_html(status.message()))
            }
            (Code::Unavailable | Code::DeadlineExceeded, _) => {
                "<p>The service is busy or down right now. Try the link again in a minute.</p>"
                    .to_owned()
            }
            _ => {
                tracing::warn!(code = ?status.code(), message = status.message(), "page call failed");
                "<p>Something went wrong on our side. Try the link again later.</p>".to_owned()
            }
        };
        Self::new(http_status, title, explanation)
    }

    pub(crate) fn into_response(self) -> http::Response<Body> {
        let html = format!(
            "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
             <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
             <title>{title} · gigmesh</title><style>{STYLE}</style></head>\
             <body><main><h1>{title}</h1>{body}</main></body></html>",
            title = escape_html(self.title),
            body = self.body,
        );
        let mut response = http::Response::new(Body::new(html));
        *response.status_mut() = self.status;
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/html; charset=utf-8"),
        );
        headers.insert(
            header::CONTENT_SECURITY_POLICY,
            CONTENT_SECURITY_POLICY.clone(),
        );
        headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
        headers.insert(
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        );
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        headers.insert(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        );
        if let Some(allow) = self.allow {
            headers.insert(header::ALLOW, HeaderValue::from_static(allow));
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup_and_quotes() {
        assert_eq!(
            escape_html(r#"<a href="x">'&'</a>"#),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;"
        );
    }

    #[test]
    fn the_policy_allows_the_style_by_its_hash() {
        let policy = CONTENT_SECURITY_POLICY.to_str().expect("ascii");
        let hash = base64::engine::general_purpose::STANDARD.encode(sha2::Sha256::digest(STYLE));
        assert!(
            policy.contains(&format!("style-src 'sha256-{hash}'")),
            "{policy}"
        );
        assert!(policy.starts_with("default-src 'none';"), "{policy}");
    }

    fn post(headers: &[(&str, &str)]) -> http::request::Parts {
        let mut request =
            http::Request::post("/reset-password").header("host", "gateway.test:8080");
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        request.body(()).expect("request").into_parts().0
    }

    #[test]
    fn posts_from_other_sites_are_refused() {
        for allowed in [
            vec![],
            vec![("origin", "http://gateway.test:8080")],
            vec![("origin", "null"), ("sec-fetch-site", "same-origin")],
            vec![("sec-fetch-site", "none")],
        ] {
            assert!(cross_site_refusal(&post(&allowed)).is_none(), "{allowed:?}");
        }
        for refused in [
            vec![("origin", "https://evil.example")],
            vec![("origin", "http://gateway.test:9999")],
            vec![("sec-fetch-site", "cross-site")],
            vec![("sec-fetch-site", "same-site")],
            vec![("origin", "null"), ("sec-fetch-site", "cross-site")],
        ] {
            let page = cross_site_refusal(&post(&refused)).expect("refused");
            assert_eq!(page.status, StatusCode::FORBIDDEN, "{refused:?}");
        }
    }
}
