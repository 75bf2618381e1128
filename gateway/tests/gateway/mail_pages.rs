//! The pages behind the mails' links, over plain HTTP with a real auth service behind the
//! gateway: verifying an address, resetting a password, and what keeps them safe.

use std::net::SocketAddr;

use bytes::Bytes;
use gigmesh_auth::TokenVerifier;
use gigmesh_auth_service::{App, Argon2Config, Config, MailTokenPublicKeyConfig};
use gigmesh_events::Relay;
use gigmesh_gateway::{Gateway, GatewayConfig, Upstream};
use gigmesh_proto::EventMessage;
use gigmesh_proto::auth::{
    self, EmailVerificationRequested, LogInRequest, PasswordResetRequested,
    RequestPasswordResetRequest, SignUpRequest,
};
use gigmesh_runtime::Service as _;
use gigmesh_testing::{Backend, EmittedEvents, TestDeps, TestMailTokenKeys};
use http_body_util::{BodyExt as _, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tonic::Code;

use crate::support::{AUTH_SERVICE, AuthServiceClient};

const EMAIL: &str = "ada@example.com";
const PASSWORD: &str = "correct horse battery staple";
const NEW_PASSWORD: &str = "a brand new passphrase";

/// The real auth service in process behind a gateway, and what it mailed.
struct MailMesh {
    address: SocketAddr,
    relay: Relay,
    emitted: EmittedEvents,
    mail_token_keys: TestMailTokenKeys,
    shutdown: CancellationToken,
    _deps: TestDeps,
    _app: App,
}

impl Drop for MailMesh {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

impl MailMesh {
    async fn start() -> Self {
        let deps = TestDeps::new(Backend::Sqlite).await;
        let mail_token_keys = TestMailTokenKeys::generate("test");
        let config = Config {
            mail_token_public_key: MailTokenPublicKeyConfig {
                key_id: mail_token_keys.key_id.clone(),
                public_key: mail_token_keys.public_key_base64(),
                ..MailTokenPublicKeyConfig::default()
            },
            argon2: Argon2Config {
                memory_kib: 64,
                iterations: 1,
                parallelism: 1,
                ..Argon2Config::default()
            },
            ..Config::default()
        };
        let app = App::build(deps.service_deps(), config).await.unwrap();
        let relay = app.relay();
        let emitted = EmittedEvents::observe(&deps.bus(), auth::TOPIC).await;
        let gateway = Gateway::new(
            GatewayConfig::default(),
            TokenVerifier::from_jwks([]),
            vec![(AUTH_SERVICE.to_owned(), Upstream::in_process(app.routes()))],
        )
        .unwrap();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let shutdown = CancellationToken::new();
        tokio::spawn(gateway.serve(listener, shutdown.clone()));
        Self {
            address,
            relay,
            emitted,
            mail_token_keys,
            shutdown,
            _deps: deps,
            _app: app,
        }
    }

    async fn auth(&self) -> AuthServiceClient<tonic::transport::Channel> {
        AuthServiceClient::connect(format!("http://{}", self.address))
            .await
            .unwrap()
    }

    async fn sign_up(&self) {
        self.auth()
            .await
            .sign_up(SignUpRequest {
                email: EMAIL.to_owned(),
                username: "ada".to_owned(),
                password: PASSWORD.to_owned(),
            })
            .await
            .unwrap();
    }

    /// The newest mailed event of type `E`.
    async fn newest<E: EventMessage>(&mut self) -> E {
        self.emitted
            .relay_and_read(&self.relay)
            .await
            .iter()
            .filter_map(|envelope| gigmesh_events::decode::<E>(envelope))
            .map(Result::unwrap)
            .next_back()
            .expect("a mail")
    }

    async fn verification_token(&mut self) -> String {
        let sealed = self
            .newest::<EmailVerificationRequested>()
            .await
            .sealed_token;
        self.mail_token_keys
            .open(&sealed)
            .expect("a token sealed to the test key")
    }

    async fn reset_token(&mut self) -> String {
        self.auth()
            .await
            .request_password_reset(RequestPasswordResetRequest {
                email: EMAIL.to_owned(),
            })
            .await
            .unwrap();
        let sealed = self.newest::<PasswordResetRequested>().await.sealed_token;
        self.mail_token_keys
            .open(&sealed)
            .expect("a token sealed to the test key")
    }

    async fn log_in(&self, password: &str) -> Result<(), tonic::Status> {
        self.auth()
            .await
            .log_in(LogInRequest {
                login: "ada".to_owned(),
                password: password.to_owned(),
            })
            .await
            .map(|_| ())
    }

    async fn get(&self, path_and_query: &str) -> Reply {
        self.request(http::Method::GET, path_and_query, &[], "")
            .await
    }

    /// Posts the reset form with `fields` (percent-encoded here) and extra `headers`.
    async fn post_reset(&self, fields: &[(&str, &str)], headers: &[(&str, &str)]) -> Reply {
        let body = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(fields)
            .finish();
        let mut headers = headers.to_vec();
        headers.push(("content-type", "application/x-www-form-urlencoded"));
        self.request(http::Method::POST, "/reset-password", &headers, &body)
            .await
    }

    async fn request(
        &self,
        method: http::Method,
        path_and_query: &str,
        headers: &[(&str, &str)],
        body: &str,
    ) -> Reply {
        let mut request = http::Request::builder()
            .method(method)
            .uri(format!("http://{}{path_and_query}", self.address));
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let request = request
            .body(Full::new(Bytes::from(body.to_owned())))
            .unwrap();
        let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
        let response = client.request(request).await.unwrap();
        let (parts, body) = response.into_parts();
        Reply {
            status: parts.status,
            headers: parts.headers,
            html: String::from_utf8(body.collect().await.unwrap().to_bytes().to_vec()).unwrap(),
        }
    }
}

#[derive(Debug)]
struct Reply {
    status: http::StatusCode,
    headers: http::HeaderMap,
    html: String,
}

impl Reply {
    #[track_caller]
    fn assert_safe(&self) {
        let header = |name: &str| self.headers.get(name).map(|value| value.to_str().unwrap());
        assert_eq!(header("content-type"), Some("text/html; charset=utf-8"));
        let policy = header("content-security-policy").unwrap();
        for directive in [
            "default-src 'none'",
            "form-action 'self'",
            "frame-ancestors 'none'",
            "style-src 'sha256-",
        ] {
            assert!(
                policy.contains(directive),
                "{directive} missing from {policy}"
            );
        }
        assert_eq!(header("x-frame-options"), Some("DENY"));
        assert_eq!(header("referrer-policy"), Some("no-referrer"));
        assert_eq!(header("cache-control"), Some("no-store"));
        assert_eq!(header("x-content-type-options"), Some("nosniff"));
        assert!(!self.html.contains("<script"), "{}", self.html);
    }

    /// The value of the form's hidden token field.
    fn form_token(&self) -> &str {
        let start = self.html.find("name=\"token\" value=\"").unwrap() + 20;
        let length = self.html[start..].find('"').unwrap();
        &self.html[start..start + length]
    }
}

#[tokio::test]
async fn the_verification_link_verifies_once() {
    let mut mesh = MailMesh::start().await;
    mesh.sign_up().await;
    let token = mesh.verification_token().await;
    let status = mesh.log_in(PASSWORD).await.unwrap_err();
    assert_eq!(status.code(), Code::FailedPrecondition, "not verified yet");

    let page = mesh.get(&format!("/verify-email?token={token}")).await;
    assert_eq!(page.status, http::StatusCode::OK, "{}", page.html);
    page.assert_safe();
    assert!(
        page.html.contains("Email address verified"),
        "{}",
        page.html
    );
    assert!(page.html.contains(EMAIL), "{}", page.html);
    mesh.log_in(PASSWORD).await.unwrap();

    // The same link again: spent, which the page says without an error of its own.
    let again = mesh.get(&format!("/verify-email?token={token}")).await;
    assert_eq!(
        again.status,
        http::StatusCode::BAD_REQUEST,
        "{}",
        again.html
    );
    again.assert_safe();
    assert!(
        again.html.contains("expired or already used"),
        "{}",
        again.html
    );
}

#[tokio::test]
async fn broken_verification_links_get_a_page_that_says_why() {
    let mesh = MailMesh::start().await;
    for (path, expected) in [
        ("/verify-email?token=nonsense", "expired or already used"),
        ("/verify-email", "has no token"),
        ("/verify-email?token=", "has no token"),
    ] {
        let page = mesh.get(path).await;
        assert_eq!(
            page.status,
            http::StatusCode::BAD_REQUEST,
            "{path}: {}",
            page.html
        );
        page.assert_safe();
        assert!(page.html.contains(expected), "{path}: {}", page.html);
    }
    let post = mesh
        .request(http::Method::POST, "/verify-email?token=x", &[], "")
        .await;
    assert_eq!(post.status, http::StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(post.headers["allow"], "GET");
    post.assert_safe();
}

#[tokio::test]
async fn the_reset_link_sets_a_new_password() {
    let mut mesh = MailMesh::start().await;
    mesh.sign_up().await;
    let token = mesh.verification_token().await;
    mesh.get(&format!("/verify-email?token={token}")).await;
    let token = mesh.reset_token().await;

    let form = mesh.get(&format!("/reset-password?token={token}")).await;
    assert_eq!(form.status, http::StatusCode::OK, "{}", form.html);
    form.assert_safe();
    assert!(
        form.html
            .contains("<form method=\"post\" action=\"/reset-password\">")
    );
    assert_eq!(form.form_token(), token);

    // Too short: the RPC's own words, and the form again with the token in it.
    let short = mesh
        .post_reset(
            &[
                ("token", &token),
                ("new_password", "short"),
                ("confirm_password", "short"),
            ],
            &[],
        )
        .await;
    assert_eq!(
        short.status,
        http::StatusCode::BAD_REQUEST,
        "{}",
        short.html
    );
    short.assert_safe();
    assert!(
        short.html.contains("The new password must be"),
        "{}",
        short.html
    );
    assert_eq!(short.form_token(), token);

    let differing = mesh
        .post_reset(
            &[
                ("token", &token),
                ("new_password", NEW_PASSWORD),
                ("confirm_password", "other"),
            ],
            &[],
        )
        .await;
    assert_eq!(differing.status, http::StatusCode::BAD_REQUEST);
    assert!(
        differing.html.contains("The two passwords differ"),
        "{}",
        differing.html
    );

    // A browser's own post: same-origin, and Origin null since the page sends no referrer.
    let done = mesh
        .post_reset(
            &[
                ("token", &token),
                ("new_password", NEW_PASSWORD),
                ("confirm_password", NEW_PASSWORD),
            ],
            &[("origin", "null"), ("sec-fetch-site", "same-origin")],
        )
        .await;
    assert_eq!(done.status, http::StatusCode::OK, "{}", done.html);
    done.assert_safe();
    assert!(done.html.contains("Password changed"), "{}", done.html);
    assert_eq!(
        mesh.log_in(PASSWORD).await.unwrap_err().code(),
        Code::Unauthenticated
    );
    mesh.log_in(NEW_PASSWORD).await.unwrap();

    // The link is spent.
    let again = mesh
        .post_reset(
            &[
                ("token", &token),
                ("new_password", "yet another passphrase"),
                ("confirm_password", "yet another passphrase"),
            ],
            &[],
        )
        .await;
    assert_eq!(
        again.status,
        http::StatusCode::BAD_REQUEST,
        "{}",
        again.html
    );
    assert!(
        again.html.contains("expired or already used"),
        "{}",
        again.html
    );
    assert!(!again.html.contains("<form"), "{}", again.html);
}

#[tokio::test]
async fn forged_posts_are_refused() {
    let mut mesh = MailMesh::start().await;
    mesh.sign_up().await;
    let token = mesh.reset_token().await;
    let fields = [
        ("token", token.as_str()),
        ("new_password", NEW_PASSWORD),
        ("confirm_password", NEW_PASSWORD),
    ];
    for headers in [
        vec![("origin", "https://evil.example")],
        vec![("sec-fetch-site", "cross-site")],
        vec![("origin", "null"), ("sec-fetch-site", "cross-site")],
    ] {
        let refused = mesh.post_reset(&fields, &headers).await;
        assert_eq!(refused.status, http::StatusCode::FORBIDDEN, "{headers:?}");
        refused.assert_safe();
    }
    // Without the token, nothing can be reset.
    let tokenless = mesh
        .post_reset(
            &[
                ("new_password", NEW_PASSWORD),
                ("confirm_password", NEW_PASSWORD),
            ],
            &[],
        )
        .await;
    assert_eq!(tokenless.status, http::StatusCode::BAD_REQUEST);
    // Not a form, or too large a one.
    let json = mesh
        .request(
            http::Method::POST,
            "/reset-password",
            &[("content-type", "application/json")],
            "{}",
        )
        .await;
    assert_eq!(json.status, http::StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let huge = "x".repeat(64 * 1024);
    let oversized = mesh
        .post_reset(
            &[
                ("token", &token),
                ("new_password", &huge),
                ("confirm_password", &huge),
            ],
            &[],
        )
        .await;
    assert_eq!(oversized.status, http::StatusCode::PAYLOAD_TOO_LARGE);
    oversized.assert_safe();
    // The password is still the old one.
    assert_eq!(
        mesh.log_in(PASSWORD).await.unwrap_err().code(),
        Code::FailedPrecondition,
        "the right password of an unverified account"
    );
}

#[tokio::test]
async fn what_the_link_carries_is_escaped() {
    let mesh = MailMesh::start().await;
    let hostile = "\"><script>alert(1)</script>";
    let encoded: String = url::form_urlencoded::byte_serialize(hostile.as_bytes()).collect();
    let form = mesh.get(&format!("/reset-password?token={encoded}")).await;
    assert_eq!(form.status, http::StatusCode::OK);
    form.assert_safe();
    assert!(!form.html.contains(hostile), "{}", form.html);
    assert!(
        form.html
            .contains("value=\"&quot;&gt;&lt;script&gt;alert(1)&lt;/script&gt;\""),
        "{}",
        form.html
    );
    let posted = mesh
        .post_reset(
            &[
                ("token", hostile),
                ("new_password", "x"),
                ("confirm_password", "y"),
            ],
            &[],
        )
        .await;
    assert_eq!(posted.status, http::StatusCode::BAD_REQUEST);
    assert!(!posted.html.contains(hostile), "{}", posted.html);
}
