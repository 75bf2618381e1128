//! Webhook signatures and events, the way Stripe makes them, for every adapter: the
//! `Stripe-Signature` header (`t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<payload>">`,
//! more `v1` entries while a secret is being rolled, other schemes ignored), checked in
//! constant time and within [`SIGNATURE_TOLERANCE_SECONDS`] of now in both directions, and
//! the event JSON (`{"id","type","created","data":{"object":{..}}}`) read into the few
//! kinds the payment service acts on. The sandbox signs with [`sign`]; Stripe signs the
//! same way, so one [`verify`] and one [`parse_event`] serve both.

use hmac::{Hmac, Mac};
use serde_json::Value;
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// How far a signature's timestamp may be from now, either way, before it is stale.
pub const SIGNATURE_TOLERANCE_SECONDS: i64 = 300;

/// A verified provider event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookEvent {
    /// The provider's event id (`evt_…`): the same event delivered twice has the same id.
    pub id: String,
    /// When the provider created the event, in unix seconds.
    pub created: i64,
    /// What happened.
    pub kind: WebhookKind,
}

/// What an event says happened, for the events the payment service acts on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WebhookKind {
    /// `payment_intent.succeeded`: the payment was paid and captured.
    PaymentSucceeded {
        /// The payment (`pi_…`).
        payment_id: String,
    },
    /// `payment_intent.payment_failed`: an attempt to pay was declined or failed.
    PaymentFailed {
        /// The payment (`pi_…`).
        payment_id: String,
        /// Why (`last_payment_error.message`), for the buyer.
        message: String,
    },
    /// `payment_intent.requires_action`: the buyer has to authenticate.
    PaymentRequiresAction {
        /// The payment (`pi_…`).
        payment_id: String,
    },
    /// `payment_intent.processing`: the payment is being processed.
    PaymentProcessing {
        /// The payment (`pi_…`).
        payment_id: String,
    },
    /// `payment_intent.canceled`: the payment was given up.
    PaymentCanceled {
        /// The payment (`pi_…`).
        payment_id: String,
    },
    /// `charge.refunded`: (part of) a payment's charge was refunded.
    ChargeRefunded {
        /// The payment the charge belongs to (`data.object.payment_intent`).
        payment_id: String,
    },
    /// `account.updated`: a connected account changed (e.g. its onboarding finished).
    AccountUpdated {
        /// The account (`acct_…`).
        account_id: String,
    },
    /// Any other event type, which the payment service ignores.
    Other {
        /// The event's `type`.
        event_type: String,
    },
}

/// Why a webhook was not believed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WebhookError {
    /// The header is empty or carries no `v1` signature.
    #[error("the webhook carries no v1 signature")]
    MissingSignature,
    /// No `v1` signature matches the payload under the webhook secret.
    #[error("no webhook signature matches the payload")]
    BadSignature,
    /// The signature's timestamp is too far from now (positive: in the past; negative: in
    /// the future).
    #[error(
        "the webhook signature is {age_seconds} s old, beyond the tolerance of \
         {SIGNATURE_TOLERANCE_SECONDS} s"
    )]
    Stale {
        /// Now minus the signature's timestamp.
        age_seconds: i64,
    },
    /// The header or the event does not have the expected shape.
    #[error("malformed webhook: {0}")]
    Malformed(String),
}

/// Stripe-Signature header value "t=<ts>,v1=<hex hmac-sha256(secret, "<ts>.<payload>")>".
pub fn sign(secret: &str, payload: &[u8], timestamp_seconds: i64) -> String {
    let signature = signed_payload_mac(secret, payload, timestamp_seconds).finalize();
    format!(
        "t={timestamp_seconds},v1={}",
        hex::encode(signature.into_bytes())
    )
}

/// Checks header against payload (any v1 matching; tolerance 300 s both ways).
pub fn verify(
    secret: &str,
    payload: &[u8],
    header: &str,
    now_seconds: i64,
) -> Result<(), WebhookError> {
    let parsed = SignatureHeader::parse(header)?;
    let expected = signed_payload_mac(secret, payload, parsed.timestamp_seconds);
    let any_matches = parsed.signatures.iter().any(|candidate| {
        hex::decode(candidate)
            .map(|bytes| expected.clone().verify_slice(&bytes).is_ok())
            .unwrap_or(false)
    });
    if !any_matches {
        return Err(WebhookError::BadSignature);
    }
    let age_seconds = now_seconds.saturating_sub(parsed.timestamp_seconds);
    if age_seconds.abs() > SIGNATURE_TOLERANCE_SECONDS {
        return Err(WebhookError::Stale { age_seconds });
    }
    Ok(())
}

/// Reads a Stripe event JSON ({"id","type","created","data":{"object":{..}}}).
pub fn parse_event(payload: &[u8]) -> Result<WebhookEvent, WebhookError> {
    let event: Value = serde_json::from_slice(payload)
        .map_err(|error| WebhookError::Malformed(format!("the event is not JSON: {error}")))?;
    let id = required_str(&event, "id")?.to_owned();
    let event_type = required_str(&event, "type")?;
    let created = event
        .get("created")
        .and_then(Value::as_i64)
        .ok_or_else(|| WebhookError::Malformed("the event has no integer \"created\"".into()))?;
    let object = event
        .get("data")
        .and_then(|data| data.get("object"))
        .filter(|object| object.is_object())
        .ok_or_else(|| WebhookError::Malformed("the event has no \"data.object\"".into()))?;
    let object_id = || required_str(object, "id").map(str::to_owned);
    let kind = match event_type {
        "payment_intent.succeeded" => WebhookKind::PaymentSucceeded {
            payment_id: object_id()?,
        },
        "payment_intent.payment_failed" => WebhookKind::PaymentFailed {
            payment_id: object_id()?,
            message: object
                .get("last_payment_error")
                .and_then(|error| error.get("message"))
                .and_then(Value::as_str)
                .unwrap_or("the payment failed")
                .to_owned(),
        },
        "payment_intent.requires_action" => WebhookKind::PaymentRequiresAction {
            payment_id: object_id()?,
        },
        "payment_intent.processing" => WebhookKind::PaymentProcessing {
            payment_id: object_id()?,
        },
        "payment_intent.canceled" => WebhookKind::PaymentCanceled {
            payment_id: object_id()?,
        },
        "charge.refunded" => WebhookKind::ChargeRefunded {
            payment_id: required_str(object, "payment_intent")
                .map_err(|_| {
                    WebhookError::Malformed(
                        "the refunded charge names no \"payment_intent\"".into(),
                    )
                })?
                .to_owned(),
        },
        "account.updated" => WebhookKind::AccountUpdated {
            account_id: object_id()?,
        },
        other => WebhookKind::Other {
            event_type: other.to_owned(),
        },
    };
    Ok(WebhookEvent { id, created, kind })
}

/// The MAC over Stripe's signed payload, `"<timestamp>.<payload>"`.
fn signed_payload_mac(secret: &str, payload: &[u8], timestamp_seconds: i64) -> HmacSha256 {
    let mut mac = HmacSha256::new_from_slice(secret.as_bytes())
        .expect("HMAC-SHA256 takes a key of any length");
    mac.update(timestamp_seconds.to_string().as_bytes());
    mac.update(b".");
    mac.update(payload);
    mac
}

/// A string field of a JSON object, or `Malformed` naming it.
fn required_str<'a>(object: &'a Value, field: &str) -> Result<&'a str, WebhookError> {
    object
        .get(field)
        .and_then(Value::as_str)
        .ok_or_else(|| WebhookError::Malformed(format!("the event has no string {field:?}")))
}

/// The parts of a `Stripe-Signature` header that matter: its timestamp and `v1` entries.
struct SignatureHeader<'a> {
    timestamp_seconds: i64,
    signatures: Vec<&'a str>,
}

impl<'a> SignatureHeader<'a> {
    fn parse(header: &'a str) -> Result<Self, WebhookError> {
        if header.trim().is_empty() {
            return Err(WebhookError::MissingSignature);
        }
        let mut timestamp_seconds = None;
        let mut signatures = Vec::new();
        for item in header.split(',') {
            let (scheme, value) = item.trim().split_once('=').ok_or_else(|| {
                WebhookError::Malformed(format!("signature header item {item:?} has no '='"))
            })?;
            match scheme.trim() {
                "t" => {
                    let parsed = value.trim().parse::<i64>().map_err(|_| {
                        WebhookError::Malformed(format!(
                            "signature timestamp {value:?} is not an integer"
                        ))
                    })?;
                    timestamp_seconds = Some(parsed);
                }
                "v1" => signatures.push(value.trim()),
                _ => {} // other schemes (v0, future ones) are ignored, as Stripe's libraries do
            }
        }
        let timestamp_seconds = timestamp_seconds.ok_or_else(|| {
            WebhookError::Malformed("the signature header has no timestamp (t=…)".into())
        })?;
        if signatures.is_empty() {
            return Err(WebhookError::MissingSignature);
        }
        Ok(Self {
            timestamp_seconds,
            signatures,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "whsec_test_secret";
    const NOW: i64 = 1_700_000_000;
    const PAYLOAD: &[u8] = br#"{"id":"evt_1","type":"payment_intent.succeeded"}"#;

    fn hmac_hex(key: &[u8], message: &[u8]) -> String {
        let mut mac = HmacSha256::new_from_slice(key).expect("any key length");
        mac.update(message);
        hex::encode(mac.finalize().into_bytes())
    }

    #[test]
    fn hmac_matches_the_rfc_4231_vectors() {
        assert_eq!(
            hmac_hex(&[0x0b; 20], b"Hi There"),
            "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"
        );
        assert_eq!(
            hmac_hex(b"Jefe", b"what do ya want for nothing?"),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn sign_makes_the_stripe_header_over_timestamp_dot_payload() {
        // Computed independently: HMAC-SHA256("whsec_test_secret", "1700000000.<payload>").
        assert_eq!(
            sign(SECRET, PAYLOAD, NOW),
            "t=1700000000,v1=22d8dc182f5c588077683bd378368e29765bfe5df2560112b4f28fef120f0e31"
        );
    }

    #[test]
    fn verify_accepts_what_sign_made() {
        let header = sign(SECRET, PAYLOAD, NOW);
        assert_eq!(verify(SECRET, PAYLOAD, &header, NOW), Ok(()));
        assert_eq!(verify(SECRET, PAYLOAD, &header, NOW + 300), Ok(()));
        assert_eq!(verify(SECRET, PAYLOAD, &header, NOW - 300), Ok(()));
    }

    #[test]
    fn a_tampered_payload_is_refused() {
        let header = sign(SECRET, PAYLOAD, NOW);
        let tampered = br#"{"id":"evt_1","type":"payment_intent.succeedeD"}"#;
        assert_eq!(
            verify(SECRET, tampered, &header, NOW),
            Err(WebhookError::BadSignature)
        );
    }

    #[test]
    fn a_signature_made_with_another_secret_is_refused() {
        let header = sign("whsec_someone_else", PAYLOAD, NOW);
        assert_eq!(
            verify(SECRET, PAYLOAD, &header, NOW),
            Err(WebhookError::BadSignature)
        );
    }

    #[test]
    fn a_changed_timestamp_breaks_the_signature() {
        let header = sign(SECRET, PAYLOAD, NOW).replace("t=1700000000", "t=1700000001");
        assert_eq!(
            verify(SECRET, PAYLOAD, &header, NOW),
            Err(WebhookError::BadSignature)
        );
    }

    #[test]
    fn stale_signatures_are_refused_both_ways() {
        let header = sign(SECRET, PAYLOAD, NOW);
        assert_eq!(
            verify(SECRET, PAYLOAD, &header, NOW + 301),
            Err(WebhookError::Stale { age_seconds: 301 })
        );
        assert_eq!(
            verify(SECRET, PAYLOAD, &header, NOW - 301),
            Err(WebhookError::Stale { age_seconds: -301 })
        );
    }

    #[test]
    fn any_matching_v1_is_enough_and_other_schemes_are_ignored() {
        let good = sign(SECRET, PAYLOAD, NOW);
        let good_signature = good.split_once(",v1=").expect("v1").1;
        let other = sign("whsec_old_secret", PAYLOAD, NOW);
        let other_signature = other.split_once(",v1=").expect("v1").1;
        let rolled =
            format!("t={NOW},v0=deadbeef,v1={other_signature},v1={good_signature},x9=whatever");
        assert_eq!(verify(SECRET, PAYLOAD, &rolled, NOW), Ok(()));
        let spaced = format!("t={NOW}, v1={other_signature}, v1={good_signature}");
        assert_eq!(verify(SECRET, PAYLOAD, &spaced, NOW), Ok(()));
        let only_wrong = format!("t={NOW},v1={other_signature},v1=not-hex");
        assert_eq!(
            verify(SECRET, PAYLOAD, &only_wrong, NOW),
            Err(WebhookError::BadSignature)
        );
        let only_v0 = format!("t={NOW},v0={good_signature}");
        assert_eq!(
            verify(SECRET, PAYLOAD, &only_v0, NOW),
            Err(WebhookError::MissingSignature)
        );
    }

    #[test]
    fn malformed_headers_are_refused() {
        let good = sign(SECRET, PAYLOAD, NOW);
        let signature = good.split_once(",v1=").expect("v1").1;
        assert_eq!(
            verify(SECRET, PAYLOAD, "", NOW),
            Err(WebhookError::MissingSignature)
        );
        assert_eq!(
            verify(SECRET, PAYLOAD, &format!("t={NOW}"), NOW),
            Err(WebhookError::MissingSignature)
        );
        for header in [
            format!("v1={signature}"),
            format!("t=yesterday,v1={signature}"),
            format!("t={NOW},v1{signature}"),
            "garbage".to_owned(),
        ] {
            assert!(
                matches!(
                    verify(SECRET, PAYLOAD, &header, NOW),
                    Err(WebhookError::Malformed(_))
                ),
                "{header:?} is malformed"
            );
        }
    }

    fn event(event_type: &str, object: &str) -> Vec<u8> {
        format!(
            r#"{{
  "id": "evt_3OoLm2Kp9sQz1aBc0xYz1234",
  "object": "event",
  "api_version": "2024-06-20",
  "created": 1700000123,
  "data": {{ "object": {object} }},
  "livemode": false,
  "pending_webhooks": 1,
  "request": {{ "id": "req_8Hx2Kd9", "idempotency_key": "order-1" }},
  "type": "{event_type}"
}}"#
        )
        .into_bytes()
    }

    fn payment_intent(status: &str, last_payment_error: &str) -> String {
        format!(
            r#"{{
    "id": "pi_3OoLm2Kp9sQz1aBc0abc",
    "object": "payment_intent",
    "amount": 5275,
    "amount_received": 0,
    "capture_method": "automatic",
    "client_secret": "pi_3OoLm2Kp9sQz1aBc0abc_secret_Xy12",
    "currency": "usd",
    "latest_charge": null,
    "last_payment_error": {last_payment_error},
    "metadata": {{ "order_id": "0190f0a1-0000-7000-8000-000000000001" }},
    "status": "{status}",
    "transfer_group": "0190f0a1-0000-7000-8000-000000000001"
  }}"#
        )
    }

    fn parsed_kind(event_type: &str, object: &str) -> WebhookKind {
        let parsed = parse_event(&event(event_type, object)).expect("parses");
        assert_eq!(parsed.id, "evt_3OoLm2Kp9sQz1aBc0xYz1234");
        assert_eq!(parsed.created, 1_700_000_123);
        parsed.kind
    }

    #[test]
    fn payment_intent_events_are_read() {
        let payment_id = "pi_3OoLm2Kp9sQz1aBc0abc".to_owned();
        assert_eq!(
            parsed_kind(
                "payment_intent.succeeded",
                &payment_intent("succeeded", "null")
            ),
            WebhookKind::PaymentSucceeded {
                payment_id: payment_id.clone()
            }
        );
        let declined = r#"{
      "code": "card_declined",
      "decline_code": "generic_decline",
      "message": "Your card was declined.",
      "type": "card_error"
    }"#;
        assert_eq!(
            parsed_kind(
                "payment_intent.payment_failed",
                &payment_intent("requires_payment_method", declined)
            ),
            WebhookKind::PaymentFailed {
                payment_id: payment_id.clone(),
                message: "Your card was declined.".to_owned()
            }
        );
        assert_eq!(
            parsed_kind(
                "payment_intent.requires_action",
                &payment_intent("requires_action", "null")
            ),
            WebhookKind::PaymentRequiresAction {
                payment_id: payment_id.clone()
            }
        );
        assert_eq!(
            parsed_kind(
                "payment_intent.processing",
                &payment_intent("processing", "null")
            ),
            WebhookKind::PaymentProcessing {
                payment_id: payment_id.clone()
            }
        );
        assert_eq!(
            parsed_kind(
                "payment_intent.canceled",
                &payment_intent("canceled", "null")
            ),
            WebhookKind::PaymentCanceled { payment_id }
        );
    }

    #[test]
    fn a_failed_payment_without_an_error_message_still_says_it_failed() {
        assert_eq!(
            parsed_kind(
                "payment_intent.payment_failed",
                &payment_intent("requires_payment_method", "null")
            ),
            WebhookKind::PaymentFailed {
                payment_id: "pi_3OoLm2Kp9sQz1aBc0abc".to_owned(),
                message: "the payment failed".to_owned()
            }
        );
    }

    #[test]
    fn charge_refunded_names_the_payment_of_the_charge() {
        let charge = r#"{
    "id": "ch_3OoLm2Kp9sQz1aBc0def",
    "object": "charge",
    "amount": 5275,
    "amount_refunded": 2000,
    "currency": "usd",
    "paid": true,
    "payment_intent": "pi_3OoLm2Kp9sQz1aBc0abc",
    "refunded": false,
    "status": "succeeded"
  }"#;
        assert_eq!(
            parsed_kind("charge.refunded", charge),
            WebhookKind::ChargeRefunded {
                payment_id: "pi_3OoLm2Kp9sQz1aBc0abc".to_owned()
            }
        );
        let without_payment = r#"{ "id": "ch_1", "object": "charge", "payment_intent": null }"#;
        assert!(matches!(
            parse_event(&event("charge.refunded", without_payment)),
            Err(WebhookError::Malformed(_))
        ));
    }

    #[test]
    fn account_updated_names_the_account() {
        let account = r#"{
    "id": "acct_1OoLm2Kp9sQz1aBc",
    "object": "account",
    "capabilities": { "transfers": "active" },
    "charges_enabled": false,
    "country": "US",
    "details_submitted": true,
    "payouts_enabled": true,
    "type": "express"
  }"#;
        assert_eq!(
            parsed_kind("account.updated", account),
            WebhookKind::AccountUpdated {
                account_id: "acct_1OoLm2Kp9sQz1aBc".to_owned()
            }
        );
    }

    #[test]
    fn other_event_types_are_named() {
        let customer = r#"{ "id": "cus_PdQ1", "object": "customer" }"#;
        assert_eq!(
            parsed_kind("customer.created", customer),
            WebhookKind::Other {
                event_type: "customer.created".to_owned()
            }
        );
    }

    #[test]
    fn malformed_events_are_refused() {
        for payload in [
            &b"not json"[..],
            br#"{"type":"payment_intent.succeeded","created":1,"data":{"object":{"id":"pi_1"}}}"#,
            br#"{"id":"evt_1","created":1,"data":{"object":{"id":"pi_1"}}}"#,
            br#"{"id":"evt_1","type":"payment_intent.succeeded","data":{"object":{"id":"pi_1"}}}"#,
            br#"{"id":"evt_1","type":"payment_intent.succeeded","created":1,"data":{}}"#,
            br#"{"id":"evt_1","type":"payment_intent.succeeded","created":1,"data":{"object":{}}}"#,
        ] {
            assert!(
                matches!(parse_event(payload), Err(WebhookError::Malformed(_))),
                "{} is malformed",
                String::from_utf8_lossy(payload)
            );
        }
    }
}
