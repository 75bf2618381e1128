//! Requests as domain values: every proto field a caller sends is parsed here, with the
//! path of the field in each violation (`attachments[1].url`), so a caller learns about
//! every bad field at once. Nothing deeper sees a proto type or a raw string id.

use gigmesh_errors::{ApiError, Violations};
use gigmesh_proto::chat as proto;
use gigmesh_types::{
    ConversationId, GigId, HttpsUrl, Lines, MessageId, Money, OfferId, PageSize, PageToken, UserId,
    parse_text,
};

use crate::domain::message::{
    Attachment, DEFAULT_OFFER_EXPIRY_HOURS, MAX_ATTACHMENT_BYTES, MAX_ATTACHMENT_NAME_CHARS,
    MAX_ATTACHMENTS, MAX_CONTENT_TYPE_CHARS, MAX_MESSAGE_CHARS, MAX_OFFER_DELIVERY_DAYS,
    MAX_OFFER_DESCRIPTION_CHARS, MAX_OFFER_EXPIRY_HOURS, MAX_OFFER_REVISIONS, MAX_REQUEST_ID_CHARS,
    MIN_OFFER_PRICE_MINOR, NewMessage, NewOffer,
};
use crate::store::conversations::ConversationPosition;
use crate::store::moderation::Position;
use crate::use_cases::Page;

/// A conversation id field (surrounding whitespace ignored).
pub fn parse_conversation_id(field: &str, raw: &str) -> Result<ConversationId, ApiError> {
    ConversationId::parse(field, raw.trim())
}

/// SendMessage: the conversation and the message.
pub fn parse_send_message(
    request: &proto::SendMessageRequest,
) -> Result<(ConversationId, NewMessage), ApiError> {
    let mut violations = Violations::new();
    let conversation_id = violations.check(parse_conversation_id(
        "conversation_id",
        &request.conversation_id,
    ));
    let attachments = violations.parse_list(
        "attachments",
        &request.attachments,
        MAX_ATTACHMENTS,
        parse_attachment,
    );
    let min_text_chars = usize::from(request.attachments.is_empty());
    let text = match parse_text(
        "text",
        &request.text,
        min_text_chars,
        MAX_MESSAGE_CHARS,
        Lines::Multiple,
    ) {
        Ok(text) => Some(text),
        Err(_) if request.attachments.is_empty() && request.text.trim().is_empty() => {
            violations.add("text", "is required when the message has no attachments");
            None
        }
        Err(violation) => violations.check(Err::<String, _>(violation)),
    };
    let request_id = violations.check(parse_request_id(&request.request_id));
    violations.finish()?;
    match (conversation_id, text, attachments, request_id) {
        (Some(conversation_id), Some(text), Some(attachments), Some(request_id)) => Ok((
            conversation_id,
            NewMessage {
                text,
                attachments,
                request_id,
            },
        )),
        _ => Err(ApiError::parsed_field_missing()),
    }
}

/// SendCustomOffer: the conversation and the offer.
pub fn parse_send_custom_offer(
    request: &proto::SendCustomOfferRequest,
) -> Result<(ConversationId, NewOffer), ApiError> {
    let mut violations = Violations::new();
    let conversation_id = violations.check(parse_conversation_id(
        "conversation_id",
        &request.conversation_id,
    ));
    let gig_id = violations.check(GigId::parse("gig_id", request.gig_id.trim()));
    let description = violations.check(parse_text(
        "description",
        &request.description,
        1,
        MAX_OFFER_DESCRIPTION_CHARS,
        Lines::Multiple,
    ));
    let price = match &request.price {
        None => {
            violations.add("price", "is required");
            None
        }
        Some(price) => Money::parse_positive(
            "price",
            price.amount_minor,
            &price.currency,
            &mut violations,
        )
        .filter(|price| {
            let enough = price.amount_minor >= MIN_OFFER_PRICE_MINOR;
            if !enough {
                violations.add(
                    "price.amount_minor",
                    format!("must be at least {MIN_OFFER_PRICE_MINOR} (5.00 in minor units)"),
                );
            }
            enough
        }),
    };
    let delivery_days = in_range(
        &mut violations,
        "delivery_days",
        request.delivery_days,
        1,
        MAX_OFFER_DELIVERY_DAYS,
    );
    let revisions = in_range(
        &mut violations,
        "revisions",
        request.revisions,
        0,
        MAX_OFFER_REVISIONS,
    );
    let expire_after_hours = if request.expire_after_hours == 0 {
        Some(DEFAULT_OFFER_EXPIRY_HOURS)
    } else {
        in_range(
            &mut violations,
            "expire_after_hours",
            request.expire_after_hours,
            1,
            MAX_OFFER_EXPIRY_HOURS,
        )
    };
    let request_id = violations.check(parse_request_id(&request.request_id));
    violations.finish()?;
    match (
        conversation_id,
        gig_id,
        description,
        price,
        delivery_days,
        revisions,
        expire_after_hours,
        request_id,
    ) {
        (
            Some(conversation_id),
            Some(gig_id),
            Some(description),
            Some(price),
            Some(delivery_days),
            Some(revisions),
            Some(expire_after_hours),
            Some(request_id),
        ) => Ok((
            conversation_id,
            NewOffer {
                gig_id,
                description,
                price,
                delivery_days,
                revisions,
                expire_after_hours,
                request_id,
            },
        )),
        _ => Err(ApiError::parsed_field_missing()),
    }
}

/// Longest report reason, in characters.
const MAX_REPORT_REASON_CHARS: usize = 1_000;
/// Most users one presence question may ask about.
const MAX_PRESENCE_USERS: usize = 100;

/// An offer id field.
pub fn parse_offer_id(field: &str, raw: &str) -> Result<OfferId, ApiError> {
    OfferId::parse(field, raw.trim())
}

/// A user id field.
pub fn parse_user_id(field: &str, raw: &str) -> Result<UserId, ApiError> {
    UserId::parse(field, raw.trim())
}

/// StartConversation: the seller (optional with a gig) and the gig (optional).
pub fn parse_start_conversation(
    request: &proto::StartConversationRequest,
) -> Result<(Option<UserId>, Option<GigId>), ApiError> {
    let mut violations = Violations::new();
    let optional = |raw: &str| (!raw.trim().is_empty()).then(|| raw.trim().to_owned());
    let seller_id = optional(&request.seller_id)
        .and_then(|raw| violations.check(UserId::parse("seller_id", &raw)));
    let gig_id =
        optional(&request.gig_id).and_then(|raw| violations.check(GigId::parse("gig_id", &raw)));
    if request.seller_id.trim().is_empty() && request.gig_id.trim().is_empty() {
        violations.add("seller_id", "is required when gig_id is empty");
    }
    violations.finish()?;
    Ok((seller_id, gig_id))
}

/// A page of conversations.
pub fn parse_conversation_page(
    page_size: i32,
    page_token: &str,
) -> Result<Page<ConversationPosition>, ApiError> {
    parse_page(page_size, page_token, 20)
}

/// A page of messages, backward from the token's message.
pub fn parse_message_page(page_size: i32, page_token: &str) -> Result<Page<MessageId>, ApiError> {
    let page: Page<String> = parse_page(page_size, page_token, 50)?;
    let after = page
        .after
        .map(|raw| MessageId::parse("page_token", &raw))
        .transpose()
        .map_err(|_| ApiError::invalid("page_token", "is not a page token this server issued"))?;
    Ok(Page {
        after,
        size: page.size,
    })
}

/// A page of blocks, reports or flagged senders.
pub fn parse_position_page(page_size: i32, page_token: &str) -> Result<Page<Position>, ApiError> {
    parse_page(page_size, page_token, 20)
}

fn parse_page<P: serde::de::DeserializeOwned>(
    page_size: i32,
    page_token: &str,
    default_size: u32,
) -> Result<Page<P>, ApiError> {
    let mut violations = Violations::new();
    let size = violations.check(PageSize::parse("page_size", page_size, default_size, 100));
    let after = violations.check(PageToken::decode("page_token", page_token));
    violations.finish()?;
    match (size, after) {
        (Some(size), Some(after)) => Ok(Page { after, size }),
        _ => Err(ApiError::parsed_field_missing()),
    }
}

/// MarkConversationRead: the conversation and the newest message read.
pub fn parse_mark_read(
    request: &proto::MarkConversationReadRequest,
) -> Result<(ConversationId, MessageId), ApiError> {
    let mut violations = Violations::new();
    let conversation_id = violations.check(parse_conversation_id(
        "conversation_id",
        &request.conversation_id,
    ));
    let message_id = violations.check(MessageId::parse("message_id", request.message_id.trim()));
    violations.finish()?;
    match (conversation_id, message_id) {
        (Some(conversation_id), Some(message_id)) => Ok((conversation_id, message_id)),
        _ => Err(ApiError::parsed_field_missing()),
    }
}

/// ReportConversation: the conversation and the reason.
pub fn parse_report(
    request: &proto::ReportConversationRequest,
) -> Result<(ConversationId, String), ApiError> {
    let mut violations = Violations::new();
    let conversation_id = violations.check(parse_conversation_id(
        "conversation_id",
        &request.conversation_id,
    ));
    let reason = violations.check(parse_text(
        "reason",
        &request.reason,
        1,
        MAX_REPORT_REASON_CHARS,
        Lines::Multiple,
    ));
    violations.finish()?;
    match (conversation_id, reason) {
        (Some(conversation_id), Some(reason)) => Ok((conversation_id, reason)),
        _ => Err(ApiError::parsed_field_missing()),
    }
}

/// GetPresence: at most 100 user ids, each once.
pub fn parse_presence(request: &proto::GetPresenceRequest) -> Result<Vec<UserId>, ApiError> {
    let mut violations = Violations::new();
    let mut user_ids = violations
        .parse_list(
            "user_ids",
            &request.user_ids,
            MAX_PRESENCE_USERS,
            |field, raw, violations| violations.check(UserId::parse(field, raw.trim())),
        )
        .unwrap_or_default();
    violations.finish()?;
    user_ids.sort();
    user_ids.dedup();
    Ok(user_ids)
}

fn parse_attachment(
    field: &str,
    attachment: &proto::Attachment,
    violations: &mut Violations,
) -> Option<Attachment> {
    let url = violations.check(HttpsUrl::parse(&format!("{field}.url"), &attachment.url));
    let name = violations.check(parse_text(
        &format!("{field}.name"),
        &attachment.name,
        1,
        MAX_ATTACHMENT_NAME_CHARS,
        Lines::Single,
    ));
    let size_bytes = if (1..=MAX_ATTACHMENT_BYTES).contains(&attachment.size_bytes) {
        Some(attachment.size_bytes)
    } else {
        violations.add(
            format!("{field}.size_bytes"),
            format!("must be between 1 and {MAX_ATTACHMENT_BYTES}"),
        );
        None
    };
    let content_type = parse_content_type(&attachment.content_type);
    if content_type.is_none() {
        violations.add(
            format!("{field}.content_type"),
            "must be a media type such as \"image/png\"",
        );
    }
    Some(Attachment {
        url: url?,
        name: name?,
        size_bytes: size_bytes?,
        content_type: content_type?,
    })
}

/// A media type `type/subtype` (RFC 6838 characters, no parameters), lowercased.
fn parse_content_type(raw: &str) -> Option<String> {
    let content_type = raw.trim().to_ascii_lowercase();
    let (kind, subtype) = content_type.split_once('/')?;
    let valid_part = |part: &str| {
        !part.is_empty()
            && part.starts_with(|c: char| c.is_ascii_alphanumeric())
            && part
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "!#$&-^_.+".contains(c))
    };
    (content_type.len() <= MAX_CONTENT_TYPE_CHARS && valid_part(kind) && valid_part(subtype))
        .then_some(content_type)
}

fn parse_request_id(raw: &str) -> Result<String, gigmesh_errors::FieldViolation> {
    parse_text("request_id", raw, 1, MAX_REQUEST_ID_CHARS, Lines::Single)
}

fn in_range(
    violations: &mut Violations,
    field: &str,
    value: i32,
    min: i32,
    max: i32,
) -> Option<i32> {
    if (min..=max).contains(&value) {
        Some(value)
    } else {
        violations.add(field, format!("must be between {min} and {max}"));
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(error: ApiError) -> Vec<String> {
        match error {
            ApiError::InvalidArgument(violations) => violations
                .into_iter()
                .map(|violation| violation.field)
                .collect(),
            other => panic!("not invalid input: {other}"),
        }
    }

    fn attachment(url: &str, name: &str, size_bytes: i64, content_type: &str) -> proto::Attachment {
        proto::Attachment {
            url: url.to_owned(),
            name: name.to_owned(),
            size_bytes,
            content_type: content_type.to_owned(),
        }
    }

    fn conversation_id() -> String {
        uuid::Uuid::now_v7().to_string()
    }

    #[test]
    fn a_message_is_text_attachments_or_both() {
        let (_, message) = parse_send_message(&proto::SendMessageRequest {
            conversation_id: conversation_id(),
            text: "  <b>hi</b> there\nsecond line ".to_owned(),
            attachments: Vec::new(),
            request_id: "m1".to_owned(),
        })
        .unwrap();
        // Stored as sent (trimmed), never as HTML.
        assert_eq!(message.text, "<b>hi</b> there\nsecond line");

        let (_, message) = parse_send_message(&proto::SendMessageRequest {
            conversation_id: conversation_id(),
            text: String::new(),
            attachments: vec![attachment(
                "https://files.example.com/brief.pdf",
                "brief.pdf",
                20_480,
                "Application/PDF",
            )],
            request_id: "m2".to_owned(),
        })
        .unwrap();
        assert_eq!(message.text, "");
        assert_eq!(message.attachments[0].content_type, "application/pdf");

        let error = parse_send_message(&proto::SendMessageRequest {
            conversation_id: conversation_id(),
            text: "   ".to_owned(),
            attachments: Vec::new(),
            request_id: "m3".to_owned(),
        })
        .unwrap_err();
        assert_eq!(fields(error), ["text"]);
    }

    #[test]
    fn every_bad_field_of_a_message_is_named() {
        let error = parse_send_message(&proto::SendMessageRequest {
            conversation_id: "nope".to_owned(),
            text: "x".repeat(MAX_MESSAGE_CHARS + 1),
            attachments: vec![
                attachment("https://files.example.com/a.png", "a.png", 10, "image/png"),
                attachment("http://files.example.com/b.png", "", 0, "png"),
            ],
            request_id: String::new(),
        })
        .unwrap_err();
        assert_eq!(
            fields(error),
            [
                "conversation_id",
                "attachments[1].url",
                "attachments[1].name",
                "attachments[1].size_bytes",
                "attachments[1].content_type",
                "text",
                "request_id",
            ]
        );

        let too_many = vec![
            attachment("https://files.example.com/a.png", "a.png", 10, "image/png");
            MAX_ATTACHMENTS + 1
        ];
        let error = parse_send_message(&proto::SendMessageRequest {
            conversation_id: conversation_id(),
            text: String::new(),
            attachments: too_many,
            request_id: "m".to_owned(),
        })
        .unwrap_err();
        assert_eq!(fields(error), ["attachments"]);
    }

    fn offer() -> proto::SendCustomOfferRequest {
        proto::SendCustomOfferRequest {
            conversation_id: conversation_id(),
            gig_id: uuid::Uuid::now_v7().to_string(),
            description: "A logo in three styles, with the source files.".to_owned(),
            price: Some(gigmesh_proto::types::Money {
                amount_minor: 12_000,
                currency: "USD".to_owned(),
            }),
            delivery_days: 5,
            revisions: 2,
            expire_after_hours: 0,
            request_id: "o1".to_owned(),
        }
    }

    #[test]
    fn an_offer_takes_its_terms_and_a_default_expiry() {
        let (_, offer) = parse_send_custom_offer(&offer()).unwrap();
        assert_eq!(offer.price.amount_minor, 12_000);
        assert_eq!(offer.price.currency.code(), "USD");
        assert_eq!((offer.delivery_days, offer.revisions), (5, 2));
        assert_eq!(offer.expire_after_hours, DEFAULT_OFFER_EXPIRY_HOURS);
    }

    #[test]
    fn every_bad_field_of_an_offer_is_named() {
        let error = parse_send_custom_offer(&proto::SendCustomOfferRequest {
            conversation_id: String::new(),
            gig_id: "gig".to_owned(),
            description: String::new(),
            price: Some(gigmesh_proto::types::Money {
                amount_minor: 499,
                currency: "usd".to_owned(),
            }),
            delivery_days: 0,
            revisions: 21,
            expire_after_hours: 721,
            request_id: String::new(),
        })
        .unwrap_err();
        assert_eq!(
            fields(error),
            [
                "conversation_id",
                "gig_id",
                "description",
                "price.amount_minor",
                "delivery_days",
                "revisions",
                "expire_after_hours",
                "request_id",
            ]
        );

        let mut request = offer();
        request.price = None;
        assert_eq!(
            fields(parse_send_custom_offer(&request).unwrap_err()),
            ["price"]
        );
        request.price = Some(gigmesh_proto::types::Money {
            amount_minor: -5,
            currency: "XYZ".to_owned(),
        });
        assert_eq!(
            fields(parse_send_custom_offer(&request).unwrap_err()),
            ["price.amount_minor", "price.currency"]
        );
    }

    #[test]
    fn content_types_are_media_types() {
        for (raw, parsed) in [
            ("image/png", Some("image/png")),
            (" Image/SVG+XML ", Some("image/svg+xml")),
            ("application/vnd.ms-excel", Some("application/vnd.ms-excel")),
            ("png", None),
            ("image/", None),
            ("/png", None),
            ("text/html; charset=utf-8", None),
            ("image/<script>", None),
        ] {
            assert_eq!(parse_content_type(raw).as_deref(), parsed, "{raw}");
        }
    }
}
