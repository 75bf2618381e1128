//! The payment provider's webhooks and the sandbox checkout page, over plain HTTP, with a
//! recording payment service behind the gateway: the webhook reaches payments byte for
//! byte with its signature, the answer tells the provider whether to send again, and the
//! card form pays through ConfirmSandboxPayment and nowhere else.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use gigmesh_auth::TokenVerifier;
use gigmesh_gateway::{Gateway, GatewayConfig, Upstream};
use gigmesh_proto::payments as proto;
use gigmesh_proto::payments::payment_service_server::{PaymentService, PaymentServiceServer};
use http_body_util::{BodyExt as _, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tonic::service::Routes;
use tonic::{Request, Response, Status};

const PAYMENT_SERVICE: &str = "gigmesh.payments.v1.PaymentService";

/// What the fake payment service was asked, and how it answers webhooks.
#[derive(Default)]
struct Recorded {
    webhooks: Vec<proto::ReceiveProviderWebhookRequest>,
    confirmations: Vec<proto::ConfirmSandboxPaymentRequest>,
    webhook_answer: Option<Status>,
}

#[derive(Clone, Default)]
struct FakePayments {
    recorded: Arc<Mutex<Recorded>>,
}

#[tonic::async_trait]
impl PaymentService for FakePayments {
    async fn receive_provider_webhook(
        &self,
        request: Request<proto::ReceiveProviderWebhookRequest>,
    ) -> Result<Response<proto::ReceiveProviderWebhookResponse>, Status> {
        let mut recorded = self.recorded.lock().unwrap();
        let duplicate = recorded
            .webhooks
            .iter()
            .any(|seen| seen.payload == request.get_ref().payload);
        recorded.webhooks.push(request.into_inner());
        if let Some(status) = recorded.webhook_answer.clone() {
            return Err(status);
        }
        Ok(Response::new(proto::ReceiveProviderWebhookResponse {
            duplicate,
        }))
    }

    async fn confirm_sandbox_payment(
        &self,
        request: Request<proto::ConfirmSandboxPaymentRequest>,
    ) -> Result<Response<proto::ConfirmSandboxPaymentResponse>, Status> {
        let request = request.into_inner();
        let status = match (request.card_number.as_str(), request.authenticate) {
            ("4242424242424242", _) | ("4000002500003155", true) => proto::PaymentStatus::Succeeded,
            ("4000002500003155", false) => proto::PaymentStatus::RequiresAction,
            _ => proto::PaymentStatus::RequiresPaymentMethod,
        };
        let declined = status == proto::PaymentStatus::RequiresPaymentMethod;
        self.recorded.lock().unwrap().confirmations.push(request);
        Ok(Response::new(proto::ConfirmSandboxPaymentResponse {
            status: status as i32,
            decline_message: if declined {
                "Your card was declined.".to_owned()
            } else {
                String::new()
            },
        }))
    }

    async fn get_order_payment(
        &self,
        _request: Request<proto::GetOrderPaymentRequest>,
    ) -> Result<Response<proto::OrderPayment>, Status> {
        Err(not_in_this_fake())
    }

    async fn get_my_balance(
        &self,
        _request: Request<proto::GetMyBalanceRequest>,
    ) -> Result<Response<proto::GetMyBalanceResponse>, Status> {
        Err(not_in_this_fake())
    }

    async fn list_my_earnings(
        &self,
        _request: Request<proto::ListMyEarningsRequest>,
    ) -> Result<Response<proto::ListMyEarningsResponse>, Status> {
        Err(not_in_this_fake())
    }

    async fn start_payout_onboarding(
        &self,
        _request: Request<proto::StartPayoutOnboardingRequest>,
    ) -> Result<Response<proto::StartPayoutOnboardingResponse>, Status> {
        Err(not_in_this_fake())
    }

    async fn withdraw(
        &self,
        _request: Request<proto::WithdrawRequest>,
    ) -> Result<Response<proto::Withdrawal>, Status> {
        Err(not_in_this_fake())
    }

    async fn list_my_withdrawals(
        &self,
        _request: Request<proto::ListMyWithdrawalsRequest>,
    ) -> Result<Response<proto::ListMyWithdrawalsResponse>, Status> {
        Err(not_in_this_fake())
    }

    async fn get_invoice(
        &self,
        _request: Request<proto::GetInvoiceRequest>,
    ) -> Result<Response<proto::Invoice>, Status> {
        Err(not_in_this_fake())
    }

    async fn download_invoice_pdf(
        &self,
        _request: Request<proto::DownloadInvoicePdfRequest>,
    ) -> Result<Response<proto::DownloadInvoicePdfResponse>, Status> {
        Err(not_in_this_fake())
    }

    async fn list_payments(
        &self,
        _request: Request<proto::ListPaymentsRequest>,
    ) -> Result<Response<proto::ListPaymentsResponse>, Status> {
        Err(not_in_this_fake())
    }

    async fn refund_payment(
        &self,
        _request: Request<proto::RefundPaymentRequest>,
    ) -> Result<Response<proto::Refund>, Status> {
        Err(not_in_this_fake())
    }

    async fn list_audit_log(
        &self,
        _request: Request<proto::ListAuditLogRequest>,
    ) -> Result<Response<proto::ListAuditLogResponse>, Status> {
        Err(not_in_this_fake())
    }

    async fn get_ledger_summary(
        &self,
        _request: Request<proto::GetLedgerSummaryRequest>,
    ) -> Result<Response<proto::LedgerSummary>, Status> {
        Err(not_in_this_fake())
    }
}

fn not_in_this_fake() -> Status {
    Status::unimplemented("not in this fake")
}

/// The fake payment service in process behind a gateway.
struct PaymentMesh {
    address: SocketAddr,
    payments: FakePayments,
    shutdown: CancellationToken,
}

impl Drop for PaymentMesh {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

impl PaymentMesh {
    async fn start() -> Self {
        let payments = FakePayments::default();
        let routes = Routes::new(PaymentServiceServer::new(payments.clone()));
        let gateway = Gateway::new(
            GatewayConfig::default(),
            TokenVerifier::from_jwks([]),
            vec![(PAYMENT_SERVICE.to_owned(), Upstream::in_process(routes))],
        )
        .unwrap();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let shutdown = CancellationToken::new();
        tokio::spawn(gateway.serve(listener, shutdown.clone()));
        Self {
            address,
            payments,
            shutdown,
        }
    }

    async fn send(&self, request: http::Request<Full<Bytes>>) -> (http::StatusCode, String) {
        let client = Client::builder(TokioExecutor::new()).build_http();
        let response = client.request(request).await.unwrap();
        let status = response.status();
        let body = response.into_body().collect().await.unwrap().to_bytes();
        (status, String::from_utf8_lossy(&body).into_owned())
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.address)
    }

    async fn post_webhook(&self, payload: &[u8], signature: &str) -> (http::StatusCode, String) {
        let request = http::Request::post(self.url("/webhooks/stripe"))
            .header("content-type", "application/json")
            .header("stripe-signature", signature)
            .body(Full::new(Bytes::copy_from_slice(payload)))
            .unwrap();
        self.send(request).await
    }

    async fn post_form(&self, path: &str, form: &str) -> (http::StatusCode, String) {
        let request = http::Request::post(self.url(path))
            .header("content-type", "application/x-www-form-urlencoded")
            .header("origin", format!("http://{}", self.address))
            .body(Full::new(Bytes::from(form.to_owned())))
            .unwrap();
        self.send(request).await
    }
}

#[tokio::test]
async fn a_webhook_reaches_payments_byte_for_byte_with_its_signature() {
    let mesh = PaymentMesh::start().await;
    // Not UTF-8 normalised, not re-serialised: the signature covers these exact bytes.
    let payload =
        b"{\"id\":\"evt_1\",  \"type\":\"payment_intent.succeeded\"}\n\xe2\x82\xac".to_vec();
    let (status, body) = mesh.post_webhook(&payload, "t=1,v1=abc").await;
    assert_eq!(status, http::StatusCode::OK, "{body}");
    assert_eq!(body, "{\"received\":true}");
    let (status, body) = mesh.post_webhook(&payload, "t=1,v1=abc").await;
    assert_eq!(status, http::StatusCode::OK);
    assert!(body.contains("\"duplicate\":true"), "{body}");

    let recorded = mesh.payments.recorded.lock().unwrap();
    assert_eq!(recorded.webhooks.len(), 2);
    assert_eq!(recorded.webhooks[0].payload, payload);
    assert_eq!(recorded.webhooks[0].signature, "t=1,v1=abc");
}

#[tokio::test]
async fn the_answer_tells_the_provider_whether_to_send_again() {
    let mesh = PaymentMesh::start().await;
    for (answer, expected) in [
        (
            Status::invalid_argument("the signature does not match"),
            http::StatusCode::BAD_REQUEST,
        ),
        (
            Status::unavailable("database down"),
            http::StatusCode::SERVICE_UNAVAILABLE,
        ),
        (
            Status::internal("bug"),
            http::StatusCode::INTERNAL_SERVER_ERROR,
        ),
    ] {
        mesh.payments.recorded.lock().unwrap().webhook_answer = Some(answer.clone());
        let (status, body) = mesh.post_webhook(b"{}", "t=1,v1=00").await;
        assert_eq!(status, expected, "{answer:?}: {body}");
        assert!(body.contains(answer.message()), "{body}");
    }
}

#[tokio::test]
async fn oversized_or_non_post_webhooks_never_reach_payments() {
    let mesh = PaymentMesh::start().await;
    let huge = vec![b'x'; 256 * 1024 + 1];
    let (status, _) = mesh.post_webhook(&huge, "t=1,v1=00").await;
    assert_eq!(status, http::StatusCode::PAYLOAD_TOO_LARGE);

    let request = http::Request::get(mesh.url("/webhooks/stripe"))
        .body(Full::new(Bytes::new()))
        .unwrap();
    let (status, _) = mesh.send(request).await;
    assert_eq!(status, http::StatusCode::METHOD_NOT_ALLOWED);
    assert!(mesh.payments.recorded.lock().unwrap().webhooks.is_empty());
}

#[tokio::test]
async fn the_checkout_page_pays_with_a_test_card_through_the_sandbox() {
    let mesh = PaymentMesh::start().await;
    let request =
        http::Request::get(mesh.url("/checkout/sandbox?payment=pi_1&secret=pi_1_secret_2"))
            .body(Full::new(Bytes::new()))
            .unwrap();
    let (status, form) = mesh.send(request).await;
    assert_eq!(status, http::StatusCode::OK);
    assert!(form.contains("value=\"pi_1_secret_2\""), "{form}");
    assert!(form.contains("4242424242424242"), "{form}");

    let (status, page) = mesh
        .post_form(
            "/checkout/sandbox",
            "payment=pi_1&secret=pi_1_secret_2&card_number=4000000000000002",
        )
        .await;
    assert_eq!(status, http::StatusCode::PAYMENT_REQUIRED);
    assert!(page.contains("Your card was declined."), "{page}");

    let (status, page) = mesh
        .post_form(
            "/checkout/sandbox",
            "payment=pi_1&secret=pi_1_secret_2&card_number=4000002500003155",
        )
        .await;
    assert_eq!(status, http::StatusCode::OK);
    assert!(
        page.contains("name=\"authenticate\" value=\"true\""),
        "{page}"
    );
    let (status, page) = mesh
        .post_form(
            "/checkout/sandbox",
            "payment=pi_1&secret=pi_1_secret_2&card_number=4000002500003155&authenticate=true",
        )
        .await;
    assert_eq!(status, http::StatusCode::OK);
    assert!(page.contains("Payment received"), "{page}");

    let recorded = mesh.payments.recorded.lock().unwrap();
    assert_eq!(recorded.confirmations.len(), 3);
    assert!(
        recorded
            .confirmations
            .iter()
            .all(|confirmation| confirmation.client_secret == "pi_1_secret_2")
    );
}

#[tokio::test]
async fn a_card_form_posted_from_another_site_is_refused() {
    let mesh = PaymentMesh::start().await;
    let request = http::Request::post(mesh.url("/checkout/sandbox"))
        .header("content-type", "application/x-www-form-urlencoded")
        .header("origin", "https://evil.example")
        .body(Full::new(Bytes::from_static(
            b"payment=pi_1&secret=pi_1_secret_2&card_number=4242424242424242",
        )))
        .unwrap();
    let (status, _) = mesh.send(request).await;
    assert_eq!(status, http::StatusCode::FORBIDDEN);
    let request = http::Request::get(mesh.url("/checkout/sandbox?payment=pi_1"))
        .body(Full::new(Bytes::new()))
        .unwrap();
    let (status, _) = mesh.send(request).await;
    assert_eq!(status, http::StatusCode::BAD_REQUEST);
    assert!(
        mesh.payments
            .recorded
            .lock()
            .unwrap()
            .confirmations
            .is_empty()
    );
}
