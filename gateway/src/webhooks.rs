//! `POST /webhooks/stripe`: the payment provider's webhooks, handed to payments as received.
//!
//! The body is read raw (the signature covers its exact bytes) and capped, and passed with
//! its `Stripe-Signature` header to payments' `ReceiveProviderWebhook` through the gateway's
//! own gRPC handling. The signature is the only credential: payments verifies it and
//! deduplicates the event. The HTTP answer tells the provider whether to send again: 2xx
//! for a handled (or already seen) event, 400 for one that will never verify, 413 for one
//! too large, 5xx for a failure worth retrying.

use bytes::Bytes;
use gigmesh_proto::payments;
use gigmesh_proto::payments::payment_service_client::PaymentServiceClient;
use http::header::{self, HeaderValue};
use http::{Method, StatusCode};
use http_body_util::BodyExt as _;
use tonic::Code;
use tonic::body::Body;

use crate::pages::PageCalls;
use crate::upstream::UpstreamService;

/// The path Stripe is configured to send webhooks to.
pub(crate) const STRIPE_WEBHOOK_PATH: &str = "/webhooks/stripe";
/// Largest webhook body read. Stripe's events are a few kilobytes; a payment intent with
/// its charges and metadata stays far below this.
pub(crate) const MAX_WEBHOOK_BYTES: usize = 256 * 1024;
/// The header that carries the signature.
const SIGNATURE_HEADER: &str = "stripe-signature";

/// Answers the provider's webhooks, calling payments through `grpc`.
#[derive(Clone)]
pub(crate) struct Webhooks {
    grpc: UpstreamService,
}

impl Webhooks {
    pub(crate) fn new(grpc: UpstreamService) -> Self {
        Self { grpc }
    }

    /// Answers `request`, whose path is [`STRIPE_WEBHOOK_PATH`].
    pub(crate) async fn answer<B>(self, request: http::Request<B>) -> http::Response<Body>
    where
        B: http_body::Body<Data = Bytes> + Send + 'static,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let (parts, body) = request.into_parts();
        if parts.method != Method::POST {
            let mut response = reply(StatusCode::METHOD_NOT_ALLOWED, "{\"error\":\"POST only\"}");
            response
                .headers_mut()
                .insert(header::ALLOW, HeaderValue::from_static("POST"));
            return response;
        }
        let declared_too_large = parts
            .headers
            .get(header::CONTENT_LENGTH)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.parse::<usize>().ok())
            .is_some_and(|length| length > MAX_WEBHOOK_BYTES);
        if declared_too_large {
            return reply(
                StatusCode::PAYLOAD_TOO_LARGE,
                "{\"error\":\"webhook body too large\"}",
            );
        }
        let Ok(collected) = http_body_util::Limited::new(body, MAX_WEBHOOK_BYTES)
            .collect()
            .await
        else {
            return reply(
                StatusCode::PAYLOAD_TOO_LARGE,
                "{\"error\":\"webhook body too large\"}",
            );
        };
        let signature = parts
            .headers
            .get(SIGNATURE_HEADER)
            .and_then(|value| value.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let mut payments = PaymentServiceClient::new(PageCalls::for_request(self.grpc, &parts));
        let call = payments
            .receive_provider_webhook(payments::ReceiveProviderWebhookRequest {
                payload: collected.to_bytes().to_vec(),
                signature,
            })
            .await;
        match call {
            Ok(response) if response.get_ref().duplicate => {
                reply(StatusCode::OK, "{\"received\":true,\"duplicate\":true}")
            }
            Ok(_) => reply(StatusCode::OK, "{\"received\":true}"),
            Err(status) => {
                let http_status = match status.code() {
                    Code::InvalidArgument | Code::FailedPrecondition => StatusCode::BAD_REQUEST,
                    Code::Unavailable | Code::ResourceExhausted | Code::Aborted => {
                        StatusCode::SERVICE_UNAVAILABLE
                    }
                    _ => StatusCode::INTERNAL_SERVER_ERROR,
                };
                if http_status == StatusCode::INTERNAL_SERVER_ERROR {
                    tracing::warn!(code = ?status.code(), message = status.message(), "webhook failed");
                }
                let body = serde_json::json!({ "error": status.message() }).to_string();
                reply(http_status, &body)
            }
        }
    }
}

fn reply(status: StatusCode, body: &str) -> http::Response<Body> {
    let mut response = http::Response::new(Body::new(body.to_owned()));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}
