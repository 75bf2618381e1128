//! The pages behind the links of gigmesh's mails: `/verify-email?token=…` and
//! `/reset-password?token=…`, small server-rendered HTML answered by the gateway itself.
//!
//! The mails link to `<web_app_url>/…`; where no web app takes the links over,
//! `web_app_url` is the gateway, and these pages let a person finish what the mail asks
//! without any client. They call auth's VerifyEmail and ResetPassword through the gateway's
//! own gRPC handling (policy, rate limit, metrics, routing to wherever auth runs), so they
//! answer exactly what the RPCs answer, in words.
//!
//! The token in the URL is a secret: no page may leak it (no referrer, no caching, no
//! framing, nothing loaded from elsewhere), and the reset form is protected against forged
//! cross-site posts twice: the token travels in the form body, which another site cannot
//! know, and posts that the browser marks as coming from another site are refused.

use std::convert::Infallible;
use std::sync::LazyLock;
use std::task::{Context, Poll};

use base64::Engine as _;
use bytes::Bytes;
use futures::future::BoxFuture;
use gigmesh_proto::auth;
use gigmesh_proto::auth::auth_service_client::AuthServiceClient;
use gigmesh_types::escape_html;
use http::header::{self, HeaderName, HeaderValue};
use http::{Method, StatusCode};
use http_body_util::BodyExt as _;
use sha2::Digest as _;
use tonic::body::Body;
use tonic::transport::server::TcpConnectInfo;
use tonic::{Code, Status};
use tonic_types::StatusExt as _;
use tower::Service;

use crate::upstream::UpstreamService;

/// The path of the verification mail's link.
const VERIFY_EMAIL_PATH: &str = "/verify-email";
/// The path of the reset mail's link, and of the form it shows.
const RESET_PASSWORD_PATH: &str = "/reset-password";
/// Largest reset form body read: two passwords of at most 128 characters and a token, all
/// percent-encoded, fit many times over.
const MAX_FORM_BYTES: usize = 8 * 1024;
/// The media type of a posted HTML form.
const FORM_CONTENT_TYPE: &str = "application/x-www-form-urlencoded";
/// The one stylesheet, inline; the Content-Security-Policy allows exactly it by hash.
const STYLE: &str = "body{font-family:system-ui,sans-serif;max-width:32rem;margin:3rem auto;\
padding:0 1rem;line-height:1.5;color:#1f2933}h1{font-size:1.5rem}label{display:block;\
margin-top:1rem}input[type=password]{width:100%;padding:.4rem;box-sizing:border-box}\
button{margin-top:1.2rem;padding:.5rem 1.2rem}.problem{color:#b3261e}";

/// Pages may load nothing, be framed by no one, post only to the gateway, and style
/// themselves only with [`STYLE`].
static CONTENT_SECURITY_POLICY: LazyLock<HeaderValue> = LazyLock::new(|| {
    let hash = base64::engine::general_purpose::STANDARD.encode(sha2::Sha256::digest(STYLE));
    let policy = format!(
        "default-src 'none'; style-src 'sha256-{hash}'; form-action 'self'; \
         frame-ancestors 'none'; base-uri 'none'"
    );
    HeaderValue::from_str(&policy)
        .unwrap_or_else(|_| HeaderValue::from_static("default-src 'none'"))
});

/// Whether `request` asks for one of the mail pages (rather than a gRPC method).
pub(crate) fn is_mail_page(path: &str) -> bool {
    path == VERIFY_EMAIL_PATH || path == RESET_PASSWORD_PATH
}

/// Answers the mail pages, calling auth through `grpc` (the gateway's gRPC handling).
#[derive(Clone)]
pub(crate) struct MailPages {
    grpc: UpstreamService,
}

impl MailPages {
    pub(crate) fn new(grpc: UpstreamService) -> Self {
        Self { grpc }
    }

    /// Answers `request`, whose path [`is_mail_page`].
    pub(crate) async fn answer<B>(self, request: http::Request<B>) -> http::Response<Body>
    where
        B: http_body::Body<Data = Bytes> + Send + 'static,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let (parts, body) = request.into_parts();
        let page = match (parts.uri.path(), &parts.method) {
            (VERIFY_EMAIL_PATH, &Method::GET) => self.verify_email(&parts).await,
            (RESET_PASSWORD_PATH, &Method::GET) => reset_form(&parts),
            (RESET_PASSWORD_PATH, &Method::POST) => self.reset_password(&parts, body).await,
            (VERIFY_EMAIL_PATH, _) => Page::method_not_allowed("GET"),
            _ => Page::method_not_allowed("GET, POST"),
        };
        page.into_response()
    }

    async fn verify_email(&self, parts: &http::request::Parts) -> Page {
        let Some(token) = query_token(parts) else {
            return Page::incomplete_link("verification");
        };
        let call = self
            .auth(parts)
            .verify_email(auth::VerifyEmailRequest { token })
            .await;
        match call {
            Ok(response) => {
                let email = response
                    .into_inner()
                    .account
                    .map(|account| account.email)
                    .unwrap_or_default();
                Page::new(
                    StatusCode::OK,
                    "Email address verified",
                    format!(
                        "<p>Thank you: <strong>{}</strong> is verified. You can sign in now.</p>",
                        escape_html(&email)
                    ),
                )
            }
            Err(status) => Page::from_status(
                &status,
                "This verification link does not work",
                "Ask the app for a new verification mail (ResendVerificationEmail); only the newest \
                 link works.",
            ),
        }
    }

    async fn reset_password<B>(&self, parts: &http::request::Parts, body: B) -> Page
    where
        B: http_body::Body<Data = Bytes> + Send + 'static,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        if let Some(refusal) = cross_site_refusal(parts) {
            return refusal;
        }
        let is_form = parts
            .headers
            .get(header::CONTENT_TYPE)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.split(';').next())
            .is_some_and(|media_type| media_type.trim().eq_ignore_ascii_case(FORM_CONTENT_TYPE));
        if !is_form {
            return Page::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "Unexpected form",
                "<p>Send the form as it is shown on this page.</p>".to_owned(),
            );
        }
        let Ok(collected) = http_body_util::Limited::new(body, MAX_FORM_BYTES)
            .collect()
            .await
        else {
            return Page::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "Form too large",
                "<p>The form was larger than any password allows.</p>".to_owned(),
            );
        };
        let form = ResetForm::parse(&collected.to_bytes());
        let Some(token) = form.token.filter(|token| !token.is_empty()) else {
            return Page::incomplete_link("password reset");
        };
        if form.new_password != form.confirm_password {
            return reset_form_page(
                StatusCode::BAD_REQUEST,
                &token,
                Some("The two passwords differ: type the same new password twice."),
            );
        }
        let call = self
            .auth(parts)
            .reset_password(auth::ResetPasswordRequest {
                token: token.clone(),
                new_password: form.new_password,
            })
            .await;
        match call {
            Ok(_) => Page::new(
                StatusCode::OK,
                "Password changed",
                "<p>Your password is changed, and every session signed out. Sign in with the \
                 new password.</p>"
                    .to_owned(),
            ),
            Err(status) => {
                // A bad link ends here; a refused password gets the form again.
                let token_refused = field_problem(&status, "token").is_some();
                if !token_refused && let Some(problem) = field_problem(&status, "new_password") {
                    return reset_form_page(
                        StatusCode::BAD_REQUEST,
                        &token,
                        Some(&format!("The new password {problem}.")),
                    );
                }
                Page::from_status(
                    &status,
                    "This reset link does not work",
                    "Ask the app for a new reset mail (RequestPasswordReset); only the newest link \
                     works.",
                )
            }
        }
    }

    /// An auth client whose calls go through the gateway's gRPC handling as the browser's
    /// own: the same client address (rate limits) and request id.
    fn auth(&self, parts: &http::request::Parts) -> AuthServiceClient<PageCalls> {
        AuthServiceClient::new(PageCalls {
            grpc: self.grpc.clone(),
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
        })
    }
}

/// Headers of the page request that the RPC it makes carries on.
const PASSED_ON_HEADERS: [HeaderName; 4] = [
    HeaderName::from_static("x-forwarded-for"),
    HeaderName::from_static("x-request-id"),
    HeaderName::from_static("traceparent"),
    header::USER_AGENT,
];

/// The gRPC calls of one page, into the gateway's gRPC handling.
#[derive(Clone)]
struct PageCalls {
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

/// The fields of a posted reset form.
#[derive(Default)]
struct ResetForm {
    token: Option<String>,
    new_password: String,
    confirm_password: String,
}

impl ResetForm {
    fn parse(body: &[u8]) -> Self {
        let mut form = Self::default();
        for (name, value) in url::form_urlencoded::parse(body) {
            match name.as_ref() {
                "token" => form.token = Some(value.into_owned()),
                "new_password" => form.new_password = value.into_owned(),
                "confirm_password" => form.confirm_password = value.into_owned(),
                _ => {}
            }
        }
        form
    }
}

/// The `token` of the query string, when there is a non-empty one.
fn query_token(parts: &http::request::Parts) -> Option<String> {
    let query = parts.uri.query()?;
    url::form_urlencoded::parse(query.as_bytes())
        .find(|(name, _)| name == "token")
        .map(|(_, value)| value.into_owned())
        .filter(|token| !token.is_empty())
}

fn reset_form(parts: &http::request::Parts) -> Page {
    match query_token(parts) {
        Some(token) => reset_form_page(StatusCode::OK, &token, None),
        None => Page::incomplete_link("password reset"),
    }
}

/// The form that sets a new password with `token`, with `problem` above it.
fn reset_form_page(status: StatusCode, token: &str, problem: Option<&str>) -> Page {
    let problem = problem
        .map(|problem| {
            format!(
                "<p class=\"problem\" role=\"alert\">{}</p>",
                escape_html(problem)
            )
        })
        .unwrap_or_default();
    Page::new(
        status,
        "Choose a new password",
        format!(
            "{problem}<form method=\"post\" action=\"{RESET_PASSWORD_PATH}\">\
             <input type=\"hidden\" name=\"token\" value=\"{token}\">\
             <label for=\"new_password\">New password</label>\
             <input type=\"password\" id=\"new_password\" name=\"new_password\" \
             autocomplete=\"new-password\" required>\
             <label for=\"confirm_password\">The same password again</label>\
             <input type=\"password\" id=\"confirm_password\" name=\"confirm_password\" \
             autocomplete=\"new-password\" required>\
             <button type=\"submit\">Set the new password</button></form>",
            token = escape_html(token),
        ),
    )
}

/// A 403 page when the browser says the post comes from another site: its
/// `Sec-Fetch-Site` is neither `same-origin` nor `none` (typed by the person), or its
/// `Origin` names another host than the one the page was asked from. `Origin: null` is let
/// through: browsers send it for the form's own post, as the pages send no referrer; the
/// token in the body and `Sec-Fetch-Site` still stand in a forged post's way.
fn cross_site_refusal(parts: &http::request::Parts) -> Option<Page> {
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
fn field_problem(status: &Status, field: &str) -> Option<String> {
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
struct Page {
    status: StatusCode,
    title: &'static str,
    /// Trusted HTML: everything from outside in it is escaped.
    body: String,
    allow: Option<&'static str>,
}

impl Page {
    fn new(status: StatusCode, title: &'static str, body: String) -> Self {
        Self {
            status,
            title,
            body,
            allow: None,
        }
    }

    fn method_not_allowed(allow: &'static str) -> Self {
        Self {
            allow: Some(allow),
            ..Self::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "Not here",
                "<p>Open the link from the mail.</p>".to_owned(),
            )
        }
    }

    fn incomplete_link(what: &str) -> Self {
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
    /// and `hint` when the token is what failed.
    fn from_status(status: &Status, title: &'static str, hint: &str) -> Self {
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
                tracing::warn!(code = ?status.code(), message = status.message(), "mail page call failed");
                "<p>Something went wrong on our side. Try the link again later.</p>".to_owned()
            }
        };
        Self::new(http_status, title, explanation)
    }

    fn into_response(self) -> http::Response<Body> {
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
            http::Request::post(RESET_PASSWORD_PATH).header("host", "gateway.test:8080");
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
