//! `/checkout/sandbox`: the sandbox provider's card form, so that a person pays an order in
//! `gigmesh dev` with a test card and no account anywhere.
//!
//! `GET /checkout/sandbox?payment=<id>&secret=<client secret>` (the `checkout_url` that
//! payments' GetOrderPayment answers) shows the form; posting it calls payments'
//! ConfirmSandboxPayment with the client secret, as a provider's card form would, and shows
//! what the sandbox answered. The sandbox then delivers a signed webhook, and that — not
//! this page — makes the order paid. The client secret is a credential: it travels in the
//! form body, and the pages leak nothing (no referrer, no caching, no framing); posts from
//! other sites are refused.

use bytes::Bytes;
use gigmesh_proto::payments;
use gigmesh_proto::payments::PaymentStatus;
use gigmesh_proto::payments::payment_service_client::PaymentServiceClient;
use gigmesh_types::escape_html;
use http::{Method, StatusCode};
use tonic::body::Body;

use crate::pages::{Page, PageCalls, cross_site_refusal, query_parameter, read_form};
use crate::upstream::UpstreamService;

/// The path of the sandbox's card form.
pub(crate) const SANDBOX_CHECKOUT_PATH: &str = "/checkout/sandbox";
/// Largest form body read: an id, a secret and a card number fit many times over.
const MAX_FORM_BYTES: usize = 4 * 1024;
/// The sandbox's test cards, as the form offers them.
const TEST_CARDS: [(&str, &str); 3] = [
    ("4242424242424242", "4242 4242 4242 4242 — succeeds"),
    (
        "4000002500003155",
        "4000 0025 0000 3155 — asks for authentication",
    ),
    ("4000000000000002", "4000 0000 0000 0002 — declined"),
];

/// Answers the sandbox checkout, calling payments through `grpc`.
#[derive(Clone)]
pub(crate) struct CheckoutPage {
    grpc: UpstreamService,
}

impl CheckoutPage {
    pub(crate) fn new(grpc: UpstreamService) -> Self {
        Self { grpc }
    }

    /// Answers `request`, whose path is [`SANDBOX_CHECKOUT_PATH`].
    pub(crate) async fn answer<B>(self, request: http::Request<B>) -> http::Response<Body>
    where
        B: http_body::Body<Data = Bytes> + Send + 'static,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let (parts, body) = request.into_parts();
        let page = match parts.method {
            Method::GET => match (
                query_parameter(&parts, "payment"),
                query_parameter(&parts, "secret"),
            ) {
                (Some(payment_id), Some(client_secret)) => {
                    card_form(StatusCode::OK, &payment_id, &client_secret, None)
                }
                _ => Page::incomplete_link("checkout"),
            },
            Method::POST => self.pay(&parts, body).await,
            _ => Page::method_not_allowed("GET, POST"),
        };
        page.into_response()
    }

    async fn pay<B>(&self, parts: &http::request::Parts, body: B) -> Page
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
        let form = CardForm::parse(&body);
        if form.payment_id.is_empty() || form.client_secret.is_empty() {
            return Page::incomplete_link("checkout");
        }
        let mut payments =
            PaymentServiceClient::new(PageCalls::for_request(self.grpc.clone(), parts));
        let call = payments
            .confirm_sandbox_payment(payments::ConfirmSandboxPaymentRequest {
                payment_id: form.payment_id.clone(),
                client_secret: form.client_secret.clone(),
                card_number: form.card_number.clone(),
                authenticate: form.authenticate,
            })
            .await;
        let answer = match call {
            Ok(answer) => answer.into_inner(),
            Err(status) => {
                return Page::from_status(
                    &status,
                    "The payment did not go through",
                    "Open the checkout link from the order again.",
                );
            }
        };
        match answer.status() {
            PaymentStatus::Succeeded | PaymentStatus::Processing => Page::new(
                StatusCode::OK,
                "Payment received",
                "<p>Thank you: the sandbox accepted the card. The order starts as soon as the \
                 payment is confirmed, in a moment.</p>"
                    .to_owned(),
            ),
            PaymentStatus::RequiresAction => authentication_form(&form),
            _ => card_form(
                StatusCode::PAYMENT_REQUIRED,
                &form.payment_id,
                &form.client_secret,
                Some(if answer.decline_message.is_empty() {
                    "The card was declined."
                } else {
                    &answer.decline_message
                }),
            ),
        }
    }
}

/// The fields of a posted card form.
#[derive(Default)]
struct CardForm {
    payment_id: String,
    client_secret: String,
    card_number: String,
    authenticate: bool,
}

impl CardForm {
    fn parse(body: &[u8]) -> Self {
        let mut form = Self::default();
        for (name, value) in url::form_urlencoded::parse(body) {
            match name.as_ref() {
                "payment" => form.payment_id = value.into_owned(),
                "secret" => form.client_secret = value.into_owned(),
                "card_number" => {
                    form.card_number = value.chars().filter(|c| !c.is_whitespace()).collect()
                }
                "authenticate" => form.authenticate = value == "true",
                _ => {}
            }
        }
        form
    }
}

/// The hidden fields that name the payment in every form.
fn payment_fields(payment_id: &str, client_secret: &str) -> String {
    format!(
        "<input type=\"hidden\" name=\"payment\" value=\"{}\">\
         <input type=\"hidden\" name=\"secret\" value=\"{}\">",
        escape_html(payment_id),
        escape_html(client_secret)
    )
}

/// The card form of a payment, with `problem` above it.
fn card_form(
    status: StatusCode,
    payment_id: &str,
    client_secret: &str,
    problem: Option<&str>,
) -> Page {
    let problem = problem
        .map(|problem| {
            format!(
                "<p class=\"problem\" role=\"alert\">{}</p>",
                escape_html(problem)
            )
        })
        .unwrap_or_default();
    let options: String = TEST_CARDS
        .iter()
        .map(|(number, label)| {
            format!("<option value=\"{number}\">{}</option>", escape_html(label))
        })
        .collect();
    Page::new(
        status,
        "Pay with a test card",
        format!(
            "{problem}<p>This is the sandbox: no money moves. Pick a test card.</p>\
             <form method=\"post\" action=\"{SANDBOX_CHECKOUT_PATH}\">{fields}\
             <label for=\"card_number\">Card</label>\
             <select id=\"card_number\" name=\"card_number\">{options}</select>\
             <button type=\"submit\">Pay</button></form>",
            fields = payment_fields(payment_id, client_secret),
        ),
    )
}

/// The sandbox's stand-in for the bank's authentication step (3-D Secure).
fn authentication_form(form: &CardForm) -> Page {
    Page::new(
        StatusCode::OK,
        "Confirm the payment",
        format!(
            "<p>Your bank asks you to confirm this payment.</p>\
             <form method=\"post\" action=\"{SANDBOX_CHECKOUT_PATH}\">{fields}\
             <input type=\"hidden\" name=\"card_number\" value=\"{card}\">\
             <input type=\"hidden\" name=\"authenticate\" value=\"true\">\
             <button type=\"submit\">Confirm</button></form>",
            fields = payment_fields(&form.payment_id, &form.client_secret),
            card = escape_html(&form.card_number),
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_form_escapes_what_it_echoes_and_reads_back_its_fields() {
        let page = card_form(StatusCode::OK, "pi_1\"><script>", "s<", Some("<b>no</b>"));
        assert!(
            !page.body_html().contains("<script>"),
            "{}",
            page.body_html()
        );
        assert!(page.body_html().contains("&lt;b&gt;no&lt;/b&gt;"));
        let form = CardForm::parse(
            b"payment=pi_1&secret=pi_1_secret_x&card_number=4242+4242+4242+4242&authenticate=true",
        );
        assert_eq!(form.payment_id, "pi_1");
        assert_eq!(form.client_secret, "pi_1_secret_x");
        assert_eq!(form.card_number, "4242424242424242");
        assert!(form.authenticate);
    }
}
