//! Requests as domain values: every proto field a caller sends is parsed here, with the
//! path of the field in each violation (`extras[1].quantity`), so a caller learns about
//! every bad field at once. What needs the order itself (answers against its questions, a
//! split against its subtotal) is checked by the domain. Nothing deeper sees a proto type
//! or a raw string id.

use gigmesh_errors::{ApiError, Violations, echoed_prefix};
use gigmesh_proto::gigs::PackageTier;
use gigmesh_proto::orders as proto;
use gigmesh_types::{
    Currency, GigId, HttpsUrl, Lines, Money, OrderId, PageSize, PageToken, parse_text,
};
use serde::{Deserialize, Serialize};

use crate::domain::{
    Action, Decision, ExtraChoice, Group, MAX_EXTENSION_DAYS, MAX_EXTRA_QUANTITY, MAX_EXTRAS,
    MAX_REQUEST_ID_CHARS, OrderChoice, OrderPosition, Page, RawAnswer, Role, Tier,
};

/// Orders per page when the request does not say.
pub const DEFAULT_PAGE_SIZE: u32 = 20;
/// Most orders per page.
pub const MAX_PAGE_SIZE: u32 = 100;
/// Longest delivery message.
pub const MAX_DELIVERY_MESSAGE_CHARS: usize = 5_000;
/// Most attachments of a delivery.
pub const MAX_DELIVERY_ATTACHMENTS: usize = 10;
/// Longest revision request, dispute reason or admin's note.
pub const MAX_NOTE_CHARS: usize = 2_000;
/// Longest reason of a cancellation or an extension.
pub const MAX_REASON_CHARS: usize = 1_000;

/// An order id field (surrounding whitespace ignored).
pub fn parse_order_id(field: &str, raw: &str) -> Result<OrderId, ApiError> {
    OrderId::parse(field, raw.trim())
}

/// The gig and the choice of PlaceOrder.
pub fn parse_place_order(
    request: &proto::PlaceOrderRequest,
) -> Result<(GigId, OrderChoice), ApiError> {
    let mut violations = Violations::new();
    let gig_id = violations.check(GigId::parse("gig_id", request.gig_id.trim()));
    let tier = match PackageTier::try_from(request.tier) {
        Ok(PackageTier::Basic) => Some(Tier::Basic),
        Ok(PackageTier::Standard) => Some(Tier::Standard),
        Ok(PackageTier::Premium) => Some(Tier::Premium),
        Ok(PackageTier::Unspecified) | Err(_) => {
            violations.add(
                "tier",
                "must be one of PACKAGE_TIER_BASIC, PACKAGE_TIER_STANDARD, PACKAGE_TIER_PREMIUM",
            );
            None
        }
    };
    let mut seen: Vec<String> = Vec::new();
    let extras = violations.parse_list(
        "extras",
        &request.extras,
        MAX_EXTRAS,
        |field, extra, violations| {
            let extra_id = extra.extra_id.trim().to_owned();
            let mut valid = true;
            if extra_id.is_empty() {
                violations.add(format!("{field}.extra_id"), "is required");
                valid = false;
            } else if seen.contains(&extra_id) {
                violations.add(
                    format!("{field}.extra_id"),
                    format!(
                        "{:?} is chosen twice: give each extra once with its quantity",
                        echoed_prefix(&extra_id)
                    ),
                );
                valid = false;
            }
            seen.push(extra_id.clone());
            let quantity = if extra.quantity == 0 {
                1
            } else {
                extra.quantity
            };
            if !(1..=MAX_EXTRA_QUANTITY).contains(&quantity) {
                violations.add(
                    format!("{field}.quantity"),
                    format!("must be between 1 and {MAX_EXTRA_QUANTITY} (0 means 1)"),
                );
                valid = false;
            }
            valid.then_some(ExtraChoice { extra_id, quantity })
        },
    );
    let request_id = violations.check(parse_text(
        "request_id",
        &request.request_id,
        1,
        MAX_REQUEST_ID_CHARS,
        Lines::Single,
    ));
    violations.finish()?;
    match (gig_id, tier, extras, request_id) {
        (Some(gig_id), Some(tier), Some(extras), Some(request_id)) => Ok((
            gig_id,
            OrderChoice {
                tier,
                extras,
                request_id,
            },
        )),
        _ => Err(ApiError::parsed_field_missing()),
    }
}

/// A position in a list of orders: newest first by create time, then id. The role and
/// group are kept so a token cannot continue another list.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct OrderCursor {
    role: Role,
    group: Group,
    create_time: i64,
    order_id: String,
}

/// Role, group and page of ListMyOrders.
pub fn parse_list_request(
    request: &proto::ListMyOrdersRequest,
) -> Result<(Role, Group, Page<OrderPosition>), ApiError> {
    let mut violations = Violations::new();
    let role = match proto::OrderRole::try_from(request.role) {
        Ok(proto::OrderRole::Buyer) => Some(Role::Buyer),
        Ok(proto::OrderRole::Seller) => Some(Role::Seller),
        Ok(proto::OrderRole::Unspecified) | Err(_) => {
            violations.add("role", "must be ORDER_ROLE_BUYER or ORDER_ROLE_SELLER");
            None
        }
    };
    let group = match proto::OrderGroup::try_from(request.group) {
        Ok(proto::OrderGroup::Unspecified) => Some(Group::All),
        Ok(proto::OrderGroup::Active) => Some(Group::Active),
        Ok(proto::OrderGroup::Late) => Some(Group::Late),
        Ok(proto::OrderGroup::Delivered) => Some(Group::Delivered),
        Ok(proto::OrderGroup::Completed) => Some(Group::Completed),
        Ok(proto::OrderGroup::Cancelled) => Some(Group::Cancelled),
        Ok(proto::OrderGroup::Disputed) => Some(Group::Disputed),
        Err(_) => {
            violations.add("group", "is not a known ORDER_GROUP_ value");
            None
        }
    };
    let size = violations.check(PageSize::parse(
        "page_size",
        request.page_size,
        DEFAULT_PAGE_SIZE,
        MAX_PAGE_SIZE,
    ));
    let cursor = violations
        .check(PageToken::decode::<OrderCursor>(
            "page_token",
            &request.page_token,
        ))
        .flatten();
    let mut after = None;
    if let (Some(cursor), Some(role), Some(group)) = (cursor, role, group) {
        let order_id = OrderId::parse("page_token", &cursor.order_id).ok();
        match order_id {
            Some(order_id) if cursor.role == role && cursor.group == group => {
                after = Some((cursor.create_time, order_id));
            }
            Some(_) => violations.add(
                "page_token",
                "belongs to a list of another role or group: ask again without it",
            ),
            None => violations.add("page_token", "is not a page token this server issued"),
        }
    }
    violations.finish()?;
    match (role, group) {
        (Some(role), Some(group)) => Ok((
            role,
            group,
            Page {
                size: size.unwrap_or(DEFAULT_PAGE_SIZE),
                after,
            },
        )),
        _ => Err(ApiError::parsed_field_missing()),
    }
}

/// The `next_page_token` after a page ending with the order placed at `create_time`.
pub fn order_page_token(role: Role, group: Group, create_time: i64, order_id: OrderId) -> String {
    PageToken::encode(&OrderCursor {
        role,
        group,
        create_time,
        order_id: order_id.to_string(),
    })
}

/// SubmitRequirements: the order and the answers (checked against the order's questions by
/// the domain).
pub fn parse_submit_requirements(
    request: &proto::SubmitRequirementsRequest,
) -> Result<(OrderId, Action), ApiError> {
    let order_id = parse_order_id("order_id", &request.order_id)?;
    let answers = request
        .answers
        .iter()
        .map(|answer| RawAnswer {
            question_index: answer.question_index,
            text: answer.text.clone(),
            choice: answer.choice.clone(),
            attachment_url: answer.attachment_url.clone(),
        })
        .collect();
    Ok((order_id, Action::SubmitRequirements(answers)))
}

/// DeliverOrder: a message of 1 to 5,000 characters and at most 10 https URLs.
pub fn parse_deliver(request: &proto::DeliverOrderRequest) -> Result<(OrderId, Action), ApiError> {
    let mut violations = Violations::new();
    let order_id = violations.check(parse_order_id("order_id", &request.order_id));
    let message = violations.check(parse_text(
        "message",
        &request.message,
        1,
        MAX_DELIVERY_MESSAGE_CHARS,
        Lines::Multiple,
    ));
    let attachment_urls = violations.parse_list(
        "attachment_urls",
        &request.attachment_urls,
        MAX_DELIVERY_ATTACHMENTS,
        |field, raw, violations| violations.check(HttpsUrl::parse(field, raw)),
    );
    violations.finish()?;
    match (order_id, message, attachment_urls) {
        (Some(order_id), Some(message), Some(attachment_urls)) => Ok((
            order_id,
            Action::Deliver {
                message,
                attachment_urls,
            },
        )),
        _ => Err(ApiError::parsed_field_missing()),
    }
}

/// RequestRevision: what to change, 1 to 2,000 characters.
pub fn parse_revision(
    request: &proto::RequestRevisionRequest,
) -> Result<(OrderId, Action), ApiError> {
    with_text(
        &request.order_id,
        "message",
        &request.message,
        1,
        MAX_NOTE_CHARS,
        |message| Action::RequestRevision { message },
    )
}

/// RequestExtension: 1 to 30 days and a reason of 1 to 1,000 characters.
pub fn parse_extension(
    request: &proto::RequestExtensionRequest,
) -> Result<(OrderId, Action), ApiError> {
    let mut violations = Violations::new();
    let order_id = violations.check(parse_order_id("order_id", &request.order_id));
    if !(1..=MAX_EXTENSION_DAYS).contains(&request.days) {
        violations.add(
            "days",
            format!("must be between 1 and {MAX_EXTENSION_DAYS}"),
        );
    }
    let reason = violations.check(parse_text(
        "reason",
        &request.reason,
        1,
        MAX_REASON_CHARS,
        Lines::Multiple,
    ));
    violations.finish()?;
    match (order_id, reason) {
        (Some(order_id), Some(reason)) => Ok((
            order_id,
            Action::RequestExtension {
                days: request.days,
                reason,
            },
        )),
        _ => Err(ApiError::parsed_field_missing()),
    }
}

/// CancelOrder: a reason of at most 1,000 characters (may be empty).
pub fn parse_cancel(request: &proto::CancelOrderRequest) -> Result<(OrderId, Action), ApiError> {
    with_text(
        &request.order_id,
        "reason",
        &request.reason,
        0,
        MAX_REASON_CHARS,
        |reason| Action::Cancel { reason },
    )
}

/// RequestCancellation: a reason of 1 to 1,000 characters.
pub fn parse_cancellation(
    request: &proto::RequestCancellationRequest,
) -> Result<(OrderId, Action), ApiError> {
    with_text(
        &request.order_id,
        "reason",
        &request.reason,
        1,
        MAX_REASON_CHARS,
        |reason| Action::RequestCancellation { reason },
    )
}

/// OpenDispute: what went wrong, 1 to 2,000 characters.
pub fn parse_dispute(request: &proto::OpenDisputeRequest) -> Result<(OrderId, Action), ApiError> {
    with_text(
        &request.order_id,
        "reason",
        &request.reason,
        1,
        MAX_NOTE_CHARS,
        |reason| Action::OpenDispute { reason },
    )
}

/// ResolveDispute: a resolution, a refund for (and only for) a split, and a note of 1 to
/// 2,000 characters. Whether the refund fits the order's subtotal is the domain's check.
pub fn parse_resolution(
    request: &proto::ResolveDisputeRequest,
) -> Result<(OrderId, Action), ApiError> {
    let mut violations = Violations::new();
    let order_id = violations.check(parse_order_id("order_id", &request.order_id));
    let refund = match &request.refund {
        None => None,
        Some(money) => violations
            .check(Currency::parse("refund.currency", &money.currency))
            .map(|currency| Money::new(money.amount_minor, currency)),
    };
    let decision = match proto::DisputeResolution::try_from(request.resolution) {
        Ok(proto::DisputeResolution::Release) => Some(Decision::Release),
        Ok(proto::DisputeResolution::Refund) => Some(Decision::Refund),
        Ok(proto::DisputeResolution::Split) => match (refund, &request.refund) {
            (Some(refund), _) => Some(Decision::Split(refund)),
            (None, None) => {
                violations.add(
                    "refund",
                    "is required for a split: what of the subtotal goes back to the buyer",
                );
                None
            }
            (None, Some(_)) => None,
        },
        Ok(proto::DisputeResolution::Unspecified) | Err(_) => {
            violations.add(
                "resolution",
                "must be one of DISPUTE_RESOLUTION_RELEASE, DISPUTE_RESOLUTION_REFUND, DISPUTE_RESOLUTION_SPLIT",
            );
            None
        }
    };
    if matches!(decision, Some(Decision::Release | Decision::Refund)) && request.refund.is_some() {
        violations.add("refund", "is only given for a split");
    }
    let note = violations.check(parse_text(
        "note",
        &request.note,
        1,
        MAX_NOTE_CHARS,
        Lines::Multiple,
    ));
    violations.finish()?;
    match (order_id, decision, note) {
        (Some(order_id), Some(decision), Some(note)) => {
            Ok((order_id, Action::ResolveDispute { decision, note }))
        }
        _ => Err(ApiError::parsed_field_missing()),
    }
}

/// An order id and one text field of `min..=max` characters, made into an action.
fn with_text(
    raw_order_id: &str,
    field: &str,
    raw: &str,
    min_chars: usize,
    max_chars: usize,
    action: impl FnOnce(String) -> Action,
) -> Result<(OrderId, Action), ApiError> {
    let mut violations = Violations::new();
    let order_id = violations.check(parse_order_id("order_id", raw_order_id));
    let text = violations.check(parse_text(
        field,
        raw,
        min_chars,
        max_chars,
        Lines::Multiple,
    ));
    violations.finish()?;
    order_id
        .zip(text)
        .map(|(order_id, text)| (order_id, action(text)))
        .ok_or_else(ApiError::parsed_field_missing)
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

    #[test]
    fn place_order_names_every_bad_field() {
        let request = proto::PlaceOrderRequest {
            gig_id: "nope".to_owned(),
            tier: 0,
            extras: vec![
                proto::ExtraChoice {
                    extra_id: "a".to_owned(),
                    quantity: 11,
                },
                proto::ExtraChoice {
                    extra_id: "a".to_owned(),
                    quantity: 0,
                },
                proto::ExtraChoice {
                    extra_id: "b".to_owned(),
                    quantity: -1,
                },
            ],
            request_id: "x".repeat(65),
        };
        let error = parse_place_order(&request).expect_err("invalid");
        assert_eq!(
            fields(error),
            [
                "gig_id",
                "tier",
                "extras[0].quantity",
                "extras[1].extra_id",
                "extras[2].quantity",
                "request_id"
            ]
        );
        let fine = proto::PlaceOrderRequest {
            gig_id: GigId::new().to_string(),
            tier: PackageTier::Standard as i32,
            extras: vec![proto::ExtraChoice {
                extra_id: " a ".to_owned(),
                quantity: 0,
            }],
            request_id: "retry-1".to_owned(),
        };
        let (_, choice) = parse_place_order(&fine).expect("valid");
        assert_eq!(choice.tier, Tier::Standard);
        assert_eq!(
            choice.extras,
            [ExtraChoice {
                extra_id: "a".to_owned(),
                quantity: 1
            }]
        );
    }

    #[test]
    fn page_tokens_round_trip_and_stay_with_their_list() {
        let order_id = OrderId::new();
        let token = order_page_token(Role::Buyer, Group::Active, 42, order_id);
        let request = proto::ListMyOrdersRequest {
            role: proto::OrderRole::Buyer as i32,
            group: proto::OrderGroup::Active as i32,
            page_size: 0,
            page_token: token.clone(),
        };
        let (_, _, page) = parse_list_request(&request).expect("valid");
        assert_eq!(page.size, DEFAULT_PAGE_SIZE);
        assert_eq!(page.after, Some((42, order_id)));
        let other_group = proto::ListMyOrdersRequest {
            group: proto::OrderGroup::Late as i32,
            ..request.clone()
        };
        assert_eq!(
            fields(parse_list_request(&other_group).expect_err("other list")),
            ["page_token"]
        );
        let no_role = proto::ListMyOrdersRequest {
            role: 0,
            page_token: "garbage".to_owned(),
            ..request
        };
        assert_eq!(
            fields(parse_list_request(&no_role).expect_err("invalid")),
            ["role", "page_token"]
        );
    }

    #[test]
    fn splits_need_a_refund_and_only_splits_take_one() {
        let order_id = OrderId::new().to_string();
        let request = |resolution: proto::DisputeResolution, refund: Option<i64>| {
            proto::ResolveDisputeRequest {
                order_id: order_id.clone(),
                resolution: resolution as i32,
                refund: refund.map(|amount_minor| gigmesh_proto::types::Money {
                    amount_minor,
                    currency: "usd".to_owned(),
                }),
                note: "Decided".to_owned(),
            }
        };
        assert!(parse_resolution(&request(proto::DisputeResolution::Split, Some(500))).is_ok());
        assert_eq!(
            fields(
                parse_resolution(&request(proto::DisputeResolution::Split, None))
                    .expect_err("no refund")
            ),
            ["refund"]
        );
        assert_eq!(
            fields(
                parse_resolution(&request(proto::DisputeResolution::Release, Some(1)))
                    .expect_err("refund")
            ),
            ["refund"]
        );
        assert_eq!(
            fields(
                parse_resolution(&request(proto::DisputeResolution::Unspecified, None))
                    .expect_err("none")
            ),
            ["resolution"]
        );
    }
}
