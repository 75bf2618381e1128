//! Domain values as the proto messages the API answers with and the events carry.

use gigmesh_proto::gigs as gigs_proto;
use gigmesh_proto::orders as proto;
use gigmesh_proto::types::Money as ProtoMoney;
use gigmesh_types::timestamp_from_millis;

use crate::domain::{
    Actor, AnswerValue, Change, LineItem, Order, OrderState, PendingRequest, Price, QuestionKind,
    Resolution, Settlement, Tier, TimelineEntry, TimelineKind,
};

/// The order at `version`, with its timeline when given (GetOrder) or without (lists and
/// events).
pub fn order_to_proto(
    order: &Order,
    version: i64,
    timeline: Option<&[TimelineEntry]>,
) -> proto::Order {
    let terms = &order.terms;
    let progress = &order.progress;
    proto::Order {
        id: order.id.to_string(),
        buyer_id: order.buyer_id.to_string(),
        seller_id: order.seller_id.to_string(),
        gig_id: order.gig_id.to_string(),
        gig_title: terms.gig_title.clone(),
        tier: terms
            .tier
            .map_or(gigs_proto::PackageTier::Unspecified, tier_to_proto) as i32,
        custom_offer_id: terms.custom_offer_id.clone().unwrap_or_default(),
        package_name: terms.package_name.clone(),
        line_items: terms.line_items.iter().map(line_item_to_proto).collect(),
        price: Some(price_to_proto(&terms.price)),
        delivery_days: progress.delivery_days,
        revisions_included: terms.revisions_included,
        revisions_used: progress.revisions_used,
        state: state_to_proto(progress.state) as i32,
        late: progress.late,
        requirements: terms
            .requirements
            .iter()
            .map(|question| proto::RequirementQuestion {
                question: question.question.clone(),
                kind: match question.kind {
                    QuestionKind::Text => gigs_proto::RequirementKind::Text,
                    QuestionKind::MultipleChoice => gigs_proto::RequirementKind::MultipleChoice,
                    QuestionKind::Attachment => gigs_proto::RequirementKind::Attachment,
                } as i32,
                options: question.options.clone(),
                required: question.required,
            })
            .collect(),
        answers: progress
            .answers
            .iter()
            .map(|answer| {
                let mut proto_answer = proto::RequirementAnswer {
                    question_index: i32::try_from(answer.question_index).unwrap_or(i32::MAX),
                    ..proto::RequirementAnswer::default()
                };
                match &answer.value {
                    AnswerValue::Text(text) => proto_answer.text = text.clone(),
                    AnswerValue::Choice(choice) => proto_answer.choice = choice.clone(),
                    AnswerValue::Attachment(url) => {
                        proto_answer.attachment_url = url.as_str().to_owned();
                    }
                }
                proto_answer
            })
            .collect(),
        create_time: Some(timestamp_from_millis(order.create_time)),
        payment_deadline: progress.payment_deadline.map(timestamp_from_millis),
        paid_time: progress.paid_time.map(timestamp_from_millis),
        start_time: progress.start_time.map(timestamp_from_millis),
        due_time: progress.due_time.map(timestamp_from_millis),
        delivered_time: progress.delivered_time.map(timestamp_from_millis),
        auto_complete_time: progress.auto_complete_time.map(timestamp_from_millis),
        close_time: progress.close_time.map(timestamp_from_millis),
        pending_extension: progress.pending_extension.as_ref().map(pending_to_proto),
        pending_cancellation: progress.pending_cancellation.as_ref().map(pending_to_proto),
        refunded: progress.refunded.map(ProtoMoney::from),
        seller_paid: progress.seller_paid.map(ProtoMoney::from),
        timeline: timeline
            .map(|entries| entries.iter().map(entry_to_proto).collect())
            .unwrap_or_default(),
        version,
    }
}

/// A change as the `OrderChanged` event that announces it: the order right after it, at
/// the version of its entry.
pub fn order_changed(version: i64, change: &Change) -> proto::OrderChanged {
    proto::OrderChanged {
        change: kind_to_proto(change.entry.kind) as i32,
        order: Some(order_to_proto(&change.order, version, None)),
        entry: Some(entry_to_proto(&change.entry)),
        version,
        settlement: change.settlement.as_ref().map(settlement_to_proto),
    }
}

/// One timeline entry.
pub fn entry_to_proto(entry: &TimelineEntry) -> proto::TimelineEntry {
    proto::TimelineEntry {
        sequence: entry.sequence,
        kind: kind_to_proto(entry.kind) as i32,
        actor: actor_to_proto(entry.actor) as i32,
        actor_user_id: entry
            .actor_user_id
            .map(|user_id| user_id.to_string())
            .unwrap_or_default(),
        time: Some(timestamp_from_millis(entry.time)),
        message: entry.message.clone(),
        attachment_urls: entry
            .attachment_urls
            .iter()
            .map(|url| url.as_str().to_owned())
            .collect(),
        days: entry.days,
        from_state: state_to_proto(entry.from_state) as i32,
        to_state: state_to_proto(entry.to_state) as i32,
        resolution: entry
            .resolution
            .map(|resolution| match resolution {
                Resolution::Release => proto::DisputeResolution::Release,
                Resolution::Refund => proto::DisputeResolution::Refund,
                Resolution::Split => proto::DisputeResolution::Split,
            } as i32)
            .unwrap_or_default(),
        refund: entry.refund.map(ProtoMoney::from),
    }
}

fn line_item_to_proto(item: &LineItem) -> proto::LineItem {
    proto::LineItem {
        description: item.description.clone(),
        extra_id: item.extra_id.clone().unwrap_or_default(),
        quantity: item.quantity,
        unit_price: Some(ProtoMoney::from(item.unit_price)),
        amount: Some(ProtoMoney::from(item.amount)),
        extra_days: item.extra_days,
    }
}

fn price_to_proto(price: &Price) -> proto::Price {
    proto::Price {
        subtotal: Some(ProtoMoney::from(price.subtotal)),
        service_fee: Some(ProtoMoney::from(price.service_fee)),
        total: Some(ProtoMoney::from(price.total)),
        seller_commission: Some(ProtoMoney::from(price.seller_commission)),
        seller_earnings: Some(ProtoMoney::from(price.seller_earnings)),
    }
}

fn settlement_to_proto(settlement: &Settlement) -> proto::Settlement {
    proto::Settlement {
        refund: Some(ProtoMoney::from(settlement.refund)),
        platform_fee: Some(ProtoMoney::from(settlement.platform_fee)),
        seller_earnings: Some(ProtoMoney::from(settlement.seller_earnings)),
    }
}

fn pending_to_proto(request: &PendingRequest) -> proto::PendingRequest {
    proto::PendingRequest {
        requested_by: actor_to_proto(request.requested_by) as i32,
        reason: request.reason.clone(),
        days: request.days,
        request_time: Some(timestamp_from_millis(request.request_time)),
        answer_deadline: Some(timestamp_from_millis(request.answer_deadline)),
    }
}

fn tier_to_proto(tier: Tier) -> gigs_proto::PackageTier {
    match tier {
        Tier::Basic => gigs_proto::PackageTier::Basic,
        Tier::Standard => gigs_proto::PackageTier::Standard,
        Tier::Premium => gigs_proto::PackageTier::Premium,
    }
}

fn state_to_proto(state: OrderState) -> proto::OrderState {
    match state {
        OrderState::AwaitingPayment => proto::OrderState::AwaitingPayment,
        OrderState::RequirementsPending => proto::OrderState::RequirementsPending,
        OrderState::InProgress => proto::OrderState::InProgress,
        OrderState::Delivered => proto::OrderState::Delivered,
        OrderState::Completed => proto::OrderState::Completed,
        OrderState::Cancelled => proto::OrderState::Cancelled,
        OrderState::Expired => proto::OrderState::Expired,
        OrderState::Disputed => proto::OrderState::Disputed,
    }
}

fn actor_to_proto(actor: Actor) -> proto::Actor {
    match actor {
        Actor::Buyer => proto::Actor::Buyer,
        Actor::Seller => proto::Actor::Seller,
        Actor::Admin => proto::Actor::Admin,
        Actor::System => proto::Actor::System,
    }
}

fn kind_to_proto(kind: TimelineKind) -> proto::TimelineKind {
    match kind {
        TimelineKind::Placed => proto::TimelineKind::Placed,
        TimelineKind::Paid => proto::TimelineKind::Paid,
        TimelineKind::RequirementsSubmitted => proto::TimelineKind::RequirementsSubmitted,
        TimelineKind::Started => proto::TimelineKind::Started,
        TimelineKind::Delivered => proto::TimelineKind::Delivered,
        TimelineKind::RevisionRequested => proto::TimelineKind::RevisionRequested,
        TimelineKind::Accepted => proto::TimelineKind::Accepted,
        TimelineKind::Completed => proto::TimelineKind::Completed,
        TimelineKind::Late => proto::TimelineKind::Late,
        TimelineKind::ExtensionRequested => proto::TimelineKind::ExtensionRequested,
        TimelineKind::ExtensionAccepted => proto::TimelineKind::ExtensionAccepted,
        TimelineKind::ExtensionDeclined => proto::TimelineKind::ExtensionDeclined,
        TimelineKind::CancellationRequested => proto::TimelineKind::CancellationRequested,
        TimelineKind::CancellationDeclined => proto::TimelineKind::CancellationDeclined,
        TimelineKind::Cancelled => proto::TimelineKind::Cancelled,
        TimelineKind::Expired => proto::TimelineKind::Expired,
        TimelineKind::DisputeOpened => proto::TimelineKind::DisputeOpened,
        TimelineKind::DisputeResolved => proto::TimelineKind::DisputeResolved,
        TimelineKind::PaymentRefused => proto::TimelineKind::PaymentRefused,
    }
}
