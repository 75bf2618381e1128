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

use bytes::Bytes;
use gigmesh_proto::auth;
use gigmesh_proto::auth::auth_service_client::AuthServiceClient;
use gigmesh_types::escape_html;
use http::{Method, StatusCode};
use tonic::body::Body;

use crate::pages::{
    Page, PageCalls, cross_site_refusal, field_problem, query_parameter, read_form,
};
use crate::upstream::UpstreamService;

/// The path of the verification mail's link.
const VERIFY_EMAIL_PATH: &str = "/verify-email";
/// The path of the reset mail's link, and of the form it shows.
const RESET_PASSWORD_PATH: &str = "/reset-password";
/// Largest reset form body read: two passwords of at most 128 characters and a token, all
/// percent-encoded, fit many times over.
const MAX_FORM_BYTES: usize = 8 * 1024;

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
        let body = match read_form(parts, body, MAX_FORM_BYTES).await {
            Ok(body) => body,
            Err(problem) => return problem.page(),
        };
        let form = ResetForm::parse(&body);
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
        AuthServiceClient::new(PageCalls::for_request(self.grpc.clone(), parts))
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
    query_parameter(parts, "token")
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
