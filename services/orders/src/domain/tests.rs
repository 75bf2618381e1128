//! The state machine as a table: every action in every state, by the party it is for,
//! either changes the order as the proto documents or is refused naming the state; wrong
//! parties are refused first; timers and payments in each state.

use gigmesh_types::{Currency, GigId, HttpsUrl, Money, UserId};

use super::*;

const NOW: i64 = 1_700_000_000_000;
const HOUR: i64 = 3_600_000;

const FEES: FeeSchedule = FeeSchedule {
    buyer_fee_basis_points: 550,
    small_order_fee_minor: 250,
    small_order_threshold_minor: 4_000,
    seller_commission_basis_points: 2_000,
};

const RULES: Rules = Rules {
    auto_complete_after_millis: 3 * DAY_MILLIS,
    late_cancel_after_millis: DAY_MILLIS,
    request_answer_window_millis: 2 * DAY_MILLIS,
    seller_commission_basis_points: 2_000,
};

fn usd(amount: i64) -> Money {
    Money::new(amount, Currency::USD)
}

fn gig(seller_id: UserId, with_questions: bool) -> GigSnapshot {
    GigSnapshot {
        id: GigId::new(),
        seller_id,
        title: "I will design your logo".to_owned(),
        state: GigState::Active,
        moderation: Moderation::Approved,
        packages: vec![GigPackage {
            tier: Tier::Basic,
            name: "Starter".to_owned(),
            price: usd(5_000),
            delivery_days: 3,
            revisions: 1,
        }],
        extras: vec![GigExtra {
            id: "fast".to_owned(),
            title: "Source files".to_owned(),
            price: usd(1_000),
            extra_days: 1,
        }],
        requirements: if with_questions {
            vec![Question {
                question: "Your brand?".to_owned(),
                kind: QuestionKind::Text,
                options: Vec::new(),
                required: true,
            }]
        } else {
            Vec::new()
        },
    }
}

fn placed(with_questions: bool) -> Order {
    let seller = UserId::new();
    let choice = OrderChoice {
        tier: Tier::Basic,
        extras: vec![ExtraChoice {
            extra_id: "fast".to_owned(),
            quantity: 2,
        }],
        request_id: "r1".to_owned(),
    };
    place_order(
        &gig(seller, with_questions),
        UserId::new(),
        &choice,
        &FEES,
        NOW,
        1_800_000,
    )
    .expect("placed")
    .order
}

fn acting(order: &Order, actor: Actor, now: i64) -> Acting {
    let user_id = match actor {
        Actor::Buyer => Some(order.buyer_id),
        Actor::Seller => Some(order.seller_id),
        Actor::Admin => Some(UserId::new()),
        Actor::System => None,
    };
    Acting {
        actor,
        user_id,
        now,
    }
}

fn last(changes: Vec<Change>) -> Order {
    changes.last().expect("a change").order.clone()
}

fn act(
    order: &Order,
    actor: Actor,
    action: Action,
) -> Result<Vec<Change>, crate::error::OrdersError> {
    apply(order, acting(order, actor, NOW), action, &RULES)
}

fn paid(order: &Order) -> Order {
    last(receive_payment(
        order,
        "pay-1",
        order.terms.price.total,
        NOW,
    ))
}

/// An order in `state`, reached through the transitions themselves.
fn order_in(state: OrderState) -> Order {
    let awaiting = placed(false);
    let in_progress = paid(&awaiting);
    let delivered = || {
        last(
            act(
                &in_progress,
                Actor::Seller,
                Action::Deliver {
                    message: "Here it is".to_owned(),
                    attachment_urls: Vec::new(),
                },
            )
            .expect("deliver"),
        )
    };
    match state {
        OrderState::AwaitingPayment => awaiting,
        OrderState::RequirementsPending => paid(&placed(true)),
        OrderState::InProgress => in_progress,
        OrderState::Delivered => delivered(),
        OrderState::Completed => {
            last(act(&delivered(), Actor::Buyer, Action::Accept).expect("accept"))
        }
        OrderState::Cancelled => last(
            act(
                &awaiting,
                Actor::Buyer,
                Action::Cancel {
                    reason: String::new(),
                },
            )
            .expect("cancel"),
        ),
        OrderState::Expired => last(apply_due_timers(&awaiting, NOW + 1_800_000)),
        OrderState::Disputed => last(
            act(
                &in_progress,
                Actor::Buyer,
                Action::OpenDispute {
                    reason: "silence".to_owned(),
                },
            )
            .expect("dispute"),
        ),
    }
}

/// Every action once, with the party it is for and valid input for an order made by
/// `order_in`.
fn actions() -> Vec<(Actor, Action)> {
    vec![
        (
            Actor::Buyer,
            Action::SubmitRequirements(vec![RawAnswer {
                question_index: 0,
                text: "Acme".to_owned(),
                ..RawAnswer::default()
            }]),
        ),
        (
            Actor::Seller,
            Action::Deliver {
                message: "Done".to_owned(),
                attachment_urls: vec![
                    HttpsUrl::parse("url", "https://cdn.example.com/a.zip").expect("url"),
                ],
            },
        ),
        (Actor::Buyer, Action::Accept),
        (
            Actor::Buyer,
            Action::RequestRevision {
                message: "Bigger".to_owned(),
            },
        ),
        (
            Actor::Seller,
            Action::RequestExtension {
                days: 2,
                reason: "Sick".to_owned(),
            },
        ),
        (
            Actor::Seller,
            Action::RequestCancellation {
                reason: "Busy".to_owned(),
            },
        ),
        (
            Actor::Buyer,
            Action::OpenDispute {
                reason: "Bad".to_owned(),
            },
        ),
        (
            Actor::Admin,
            Action::ResolveDispute {
                decision: Decision::Release,
                note: "Fine".to_owned(),
            },
        ),
        (
            Actor::Buyer,
            Action::Cancel {
                reason: String::new(),
            },
        ),
    ]
}

/// The states each action is allowed in (the buyer's CancelOrder in progress needs the
/// order to be late, tested on its own).
fn allowed_states(action: &Action) -> Vec<OrderState> {
    use OrderState::*;
    match action {
        Action::SubmitRequirements(_) => vec![RequirementsPending],
        Action::Deliver { .. } | Action::RequestExtension { .. } => vec![InProgress],
        Action::Accept | Action::RequestRevision { .. } => vec![Delivered],
        Action::RequestCancellation { .. } => vec![RequirementsPending, InProgress, Delivered],
        Action::OpenDispute { .. } => vec![InProgress, Delivered],
        Action::ResolveDispute { .. } => vec![Disputed],
        Action::Cancel { .. } => vec![AwaitingPayment],
        Action::AnswerExtension { .. } | Action::AnswerCancellation { .. } => Vec::new(),
    }
}

#[test]
fn every_action_is_allowed_exactly_in_its_states() {
    for state in OrderState::ALL {
        let order = order_in(state);
        assert_eq!(order.state(), state);
        for (actor, action) in actions() {
            let name = action.name();
            let allowed = allowed_states(&action).contains(&state);
            let result = act(&order, actor, action);
            if allowed {
                let changes = result.unwrap_or_else(|error| panic!("{name} in {state:?}: {error}"));
                assert!(!changes.is_empty());
                let mut sequence = order.progress.timeline_length;
                for change in &changes {
                    sequence += 1;
                    assert_eq!(change.entry.sequence, sequence, "{name}");
                }
                assert_eq!(changes[0].entry.from_state, state, "{name}");
            } else {
                match result {
                    Err(crate::error::OrdersError::WrongState { state: named, .. }) => {
                        assert_eq!(named, state, "{name}");
                    }
                    Err(crate::error::OrdersError::NotLateEnough { .. })
                        if name == "cancel" && state == OrderState::InProgress => {}
                    other => panic!("{name} in {state:?}: {other:?}"),
                }
            }
        }
    }
}

#[test]
fn refusals_name_the_current_state() {
    let order = order_in(OrderState::InProgress);
    let error = act(&order, Actor::Buyer, Action::Accept).expect_err("refused");
    assert_eq!(
        error.to_string(),
        "cannot accept the delivery of an order in state in_progress"
    );
    let completed = order_in(OrderState::Completed);
    let error = act(&completed, Actor::Buyer, Action::Accept).expect_err("twice");
    assert_eq!(
        error.to_string(),
        "cannot accept the delivery of an order in state completed"
    );
}

#[test]
fn wrong_parties_are_refused_before_the_state_is_looked_at() {
    for state in OrderState::ALL {
        let order = order_in(state);
        for (actor, action) in actions() {
            let wrong_actors: Vec<Actor> = match actor {
                Actor::Buyer if matches!(action, Action::OpenDispute { .. }) => vec![Actor::Admin],
                Actor::Seller if matches!(action, Action::RequestCancellation { .. }) => {
                    vec![Actor::Admin]
                }
                Actor::Buyer => vec![Actor::Seller, Actor::Admin],
                Actor::Seller => vec![Actor::Buyer, Actor::Admin],
                Actor::Admin => vec![Actor::Buyer, Actor::Seller],
                Actor::System => Vec::new(),
            };
            for wrong in wrong_actors {
                let error = act(&order, wrong, action.clone()).expect_err("wrong party");
                assert!(
                    matches!(
                        error,
                        crate::error::OrdersError::WrongParty(_)
                            | crate::error::OrdersError::AdminRequired
                    ),
                    "{} by {wrong:?} in {state:?}: {error:?}",
                    action.name()
                );
            }
        }
    }
    let order = order_in(OrderState::InProgress);
    let error = act(
        &order,
        Actor::Buyer,
        Action::Deliver {
            message: "x".to_owned(),
            attachment_urls: Vec::new(),
        },
    )
    .expect_err("buyer delivering");
    assert_eq!(error.to_string(), "only the order's seller may deliver it");
}

#[test]
fn parties_are_told_apart_and_strangers_see_nothing() {
    let order = placed(false);
    assert_eq!(order.party_of(order.buyer_id, false), Some(Actor::Buyer));
    assert_eq!(order.party_of(order.seller_id, true), Some(Actor::Seller));
    assert_eq!(order.party_of(UserId::new(), true), Some(Actor::Admin));
    assert_eq!(order.party_of(UserId::new(), false), None);
}

#[test]
fn placing_prices_from_the_gig_and_refuses_what_it_does_not_offer() {
    let order = placed(false);
    assert_eq!(order.state(), OrderState::AwaitingPayment);
    assert_eq!(order.terms.line_items.len(), 2);
    assert_eq!(order.terms.line_items[1].amount, usd(2_000));
    assert_eq!(order.terms.price.subtotal, usd(7_000));
    assert_eq!(order.terms.price.service_fee, usd(385));
    assert_eq!(order.terms.price.total, usd(7_385));
    assert_eq!(order.progress.delivery_days, 3 + 2);
    assert_eq!(order.progress.payment_deadline, Some(NOW + 1_800_000));
    assert_eq!(order.next_timer_time(), Some(NOW + 1_800_000));

    let seller = UserId::new();
    let mut snapshot = gig(seller, false);
    let choice = OrderChoice {
        tier: Tier::Premium,
        extras: vec![ExtraChoice {
            extra_id: "nope".to_owned(),
            quantity: 1,
        }],
        request_id: "r".to_owned(),
    };
    let error = place_order(&snapshot, UserId::new(), &choice, &FEES, NOW, 1).expect_err("unknown");
    let text = error.to_string();
    assert!(
        text.contains("tier: the gig has no premium package"),
        "{text}"
    );
    assert!(text.contains("extras[0].extra_id"), "{text}");
    let basic = OrderChoice {
        tier: Tier::Basic,
        extras: Vec::new(),
        request_id: "r".to_owned(),
    };
    let error = place_order(&snapshot, seller, &basic, &FEES, NOW, 1).expect_err("own");
    assert_eq!(error.to_string(), "you cannot order your own gig");
    snapshot.state = GigState::Paused;
    let error = place_order(&snapshot, UserId::new(), &basic, &FEES, NOW, 1).expect_err("paused");
    assert!(error.to_string().contains("paused"), "{error}");
    snapshot.state = GigState::Active;
    snapshot.moderation = Moderation::Pending;
    let error = place_order(&snapshot, UserId::new(), &basic, &FEES, NOW, 1).expect_err("pending");
    assert!(error.to_string().contains("approval"), "{error}");
}

#[test]
fn a_payment_of_the_total_starts_the_order_or_asks_for_requirements() {
    let order = placed(false);
    let changes = receive_payment(&order, "pay-1", order.terms.price.total, NOW + 5);
    let kinds: Vec<TimelineKind> = changes.iter().map(|change| change.entry.kind).collect();
    assert_eq!(kinds, [TimelineKind::Paid, TimelineKind::Started]);
    let started = last(changes);
    assert_eq!(started.state(), OrderState::InProgress);
    assert_eq!(started.progress.start_time, Some(NOW + 5));
    assert_eq!(started.progress.due_time, Some(NOW + 5 + 5 * DAY_MILLIS));
    assert_eq!(started.progress.payment_deadline, None);

    let with_questions = placed(true);
    let changes = receive_payment(
        &with_questions,
        "pay-1",
        with_questions.terms.price.total,
        NOW,
    );
    assert_eq!(changes.len(), 1);
    assert_eq!(last(changes).state(), OrderState::RequirementsPending);

    // The same payment again changes nothing.
    assert!(receive_payment(&started, "pay-1", started.terms.price.total, NOW).is_empty());
}

#[test]
fn other_payments_are_refused_and_refunded_once() {
    let order = placed(false);
    let wrong_amount = receive_payment(&order, "pay-x", usd(100), NOW);
    assert_eq!(wrong_amount.len(), 1);
    let change = &wrong_amount[0];
    assert_eq!(change.entry.kind, TimelineKind::PaymentRefused);
    assert_eq!(change.order.state(), OrderState::AwaitingPayment);
    assert_eq!(change.settlement, Some(Settlement::refund_only(usd(100))));
    let refused = change.order.clone();
    assert!(receive_payment(&refused, "pay-x", usd(100), NOW).is_empty());

    for state in [
        OrderState::InProgress,
        OrderState::Cancelled,
        OrderState::Expired,
        OrderState::Completed,
    ] {
        let order = order_in(state);
        let total = order.terms.price.total;
        let changes = receive_payment(&order, "pay-2", total, NOW);
        assert_eq!(changes.len(), 1, "{state:?}");
        assert_eq!(changes[0].entry.kind, TimelineKind::PaymentRefused);
        assert_eq!(changes[0].order.state(), state);
        assert_eq!(
            changes[0].settlement.expect("settlement").sum_minor(),
            i128::from(total.amount_minor)
        );
    }
}

#[test]
fn revisions_are_bounded_by_the_package_and_keep_the_due_time() {
    let delivered = order_in(OrderState::Delivered);
    let due = delivered.progress.due_time;
    let revised = last(
        act(
            &delivered,
            Actor::Buyer,
            Action::RequestRevision {
                message: "More".to_owned(),
            },
        )
        .expect("first revision"),
    );
    assert_eq!(revised.state(), OrderState::InProgress);
    assert_eq!(revised.progress.revisions_used, 1);
    assert_eq!(revised.progress.due_time, due);
    assert_eq!(revised.progress.auto_complete_time, None);
    let again = last(
        act(
            &revised,
            Actor::Seller,
            Action::Deliver {
                message: "v2".to_owned(),
                attachment_urls: Vec::new(),
            },
        )
        .expect("deliver again"),
    );
    let error = act(
        &again,
        Actor::Buyer,
        Action::RequestRevision {
            message: "More".to_owned(),
        },
    )
    .expect_err("used up");
    assert!(
        error
            .to_string()
            .starts_with("the package's 1 revisions are used up"),
        "{error}"
    );

    let mut unlimited = again.clone();
    unlimited.terms.revisions_included = UNLIMITED_REVISIONS;
    assert!(
        act(
            &unlimited,
            Actor::Buyer,
            Action::RequestRevision {
                message: "m".to_owned()
            }
        )
        .is_ok()
    );
}

#[test]
fn accepting_completes_with_the_completion_settlement() {
    let delivered = order_in(OrderState::Delivered);
    let changes = act(&delivered, Actor::Buyer, Action::Accept).expect("accept");
    let kinds: Vec<TimelineKind> = changes.iter().map(|change| change.entry.kind).collect();
    assert_eq!(kinds, [TimelineKind::Accepted, TimelineKind::Completed]);
    assert!(changes[0].settlement.is_none());
    let settlement = changes[1].settlement.expect("settlement");
    assert_eq!(settlement, delivered.terms.price.completion_settlement());
    let completed = last(changes);
    assert_eq!(completed.progress.seller_paid, Some(usd(5_600)));
    assert_eq!(completed.progress.refunded, Some(usd(0)));
    assert_eq!(completed.next_timer_time(), None);
}

#[test]
fn extensions_are_one_at_a_time_and_move_the_due_time() {
    let order = order_in(OrderState::InProgress);
    let due = order.progress.due_time.expect("due");
    let asked = last(
        act(
            &order,
            Actor::Seller,
            Action::RequestExtension {
                days: 3,
                reason: "Scope".to_owned(),
            },
        )
        .expect("ask"),
    );
    let error = act(
        &asked,
        Actor::Seller,
        Action::RequestExtension {
            days: 1,
            reason: "More".to_owned(),
        },
    )
    .expect_err("one pending");
    assert!(matches!(
        error,
        crate::error::OrdersError::RequestPending(_)
    ));
    let accepted = last(
        act(
            &asked,
            Actor::Buyer,
            Action::AnswerExtension { accept: true },
        )
        .expect("accept"),
    );
    assert_eq!(accepted.progress.due_time, Some(due + 3 * DAY_MILLIS));
    assert_eq!(
        accepted.progress.delivery_days,
        order.progress.delivery_days + 3
    );
    assert_eq!(accepted.progress.pending_extension, None);
    let declined = last(
        act(
            &asked,
            Actor::Buyer,
            Action::AnswerExtension { accept: false },
        )
        .expect("decline"),
    );
    assert_eq!(declined.progress.due_time, Some(due));
    let error = act(
        &declined,
        Actor::Buyer,
        Action::AnswerExtension { accept: true },
    )
    .expect_err("none");
    assert!(matches!(
        error,
        crate::error::OrdersError::NoPendingRequest(_)
    ));
    let error = act(
        &asked,
        Actor::Seller,
        Action::AnswerExtension { accept: true },
    )
    .expect_err("seller");
    assert!(matches!(error, crate::error::OrdersError::WrongParty(_)));
}

#[test]
fn mutual_cancellations_are_answered_by_the_other_side() {
    let order = order_in(OrderState::Delivered);
    let asked = last(
        act(
            &order,
            Actor::Buyer,
            Action::RequestCancellation {
                reason: "Changed my mind".to_owned(),
            },
        )
        .expect("ask"),
    );
    let error = act(
        &asked,
        Actor::Buyer,
        Action::AnswerCancellation { accept: true },
    )
    .expect_err("own");
    assert_eq!(
        error.to_string(),
        "you asked for this cancellation: the other side answers it"
    );
    let error = act(
        &asked,
        Actor::Seller,
        Action::RequestCancellation {
            reason: "x".to_owned(),
        },
    )
    .expect_err("one pending");
    assert!(matches!(
        error,
        crate::error::OrdersError::RequestPending(_)
    ));
    let changes = act(
        &asked,
        Actor::Seller,
        Action::AnswerCancellation { accept: true },
    )
    .expect("accept");
    let cancelled = changes.last().expect("change");
    assert_eq!(cancelled.order.state(), OrderState::Cancelled);
    assert_eq!(
        cancelled.settlement,
        Some(order.terms.price.full_refund_settlement())
    );
    assert_eq!(cancelled.entry.refund, Some(order.terms.price.total));
    let declined = last(
        act(
            &asked,
            Actor::Seller,
            Action::AnswerCancellation { accept: false },
        )
        .expect("decline"),
    );
    assert_eq!(declined.state(), OrderState::Delivered);
    assert_eq!(declined.progress.pending_cancellation, None);
}

#[test]
fn the_buyer_cancels_an_order_in_progress_alone_only_a_day_past_its_due_time() {
    let order = order_in(OrderState::InProgress);
    let due = order.progress.due_time.expect("due");
    let cancel = || Action::Cancel {
        reason: "Too late".to_owned(),
    };
    let early = apply(
        &order,
        acting(&order, Actor::Buyer, due + DAY_MILLIS - 1),
        cancel(),
        &RULES,
    );
    assert!(matches!(
        early,
        Err(crate::error::OrdersError::NotLateEnough { after_hours: 24 })
    ));
    let changes = apply(
        &order,
        acting(&order, Actor::Buyer, due + DAY_MILLIS),
        cancel(),
        &RULES,
    )
    .expect("late cancel");
    let change = changes.last().expect("change");
    assert_eq!(change.order.state(), OrderState::Cancelled);
    assert_eq!(
        change.settlement,
        Some(order.terms.price.full_refund_settlement())
    );
    // Before payment there is nothing to settle.
    let unpaid = placed(false);
    let change = act(&unpaid, Actor::Buyer, cancel())
        .expect("cancel")
        .pop()
        .expect("change");
    assert_eq!(change.settlement, None);
    assert_eq!(change.order.progress.refunded, None);
}

#[test]
fn disputes_drop_pending_requests_and_admins_settle_them() {
    let order = order_in(OrderState::InProgress);
    let asked = last(
        act(
            &order,
            Actor::Seller,
            Action::RequestExtension {
                days: 2,
                reason: "x".to_owned(),
            },
        )
        .expect("ask"),
    );
    let disputed = last(
        act(
            &asked,
            Actor::Seller,
            Action::OpenDispute {
                reason: "y".to_owned(),
            },
        )
        .expect("dispute"),
    );
    assert_eq!(disputed.progress.pending_extension, None);
    assert!(disputed.progress.disputed);
    assert_eq!(disputed.next_timer_time(), None);
    let price = order.terms.price;
    let resolve = |decision| Action::ResolveDispute {
        decision,
        note: "Decided".to_owned(),
    };
    let released = act(&disputed, Actor::Admin, resolve(Decision::Release))
        .expect("release")
        .pop()
        .expect("change");
    assert_eq!(released.order.state(), OrderState::Completed);
    assert_eq!(released.settlement, Some(price.completion_settlement()));
    let refunded = act(&disputed, Actor::Admin, resolve(Decision::Refund))
        .expect("refund")
        .pop()
        .expect("change");
    assert_eq!(refunded.order.state(), OrderState::Cancelled);
    assert_eq!(refunded.settlement, Some(price.full_refund_settlement()));
    let split = act(
        &disputed,
        Actor::Admin,
        resolve(Decision::Split(usd(3_000))),
    )
    .expect("split")
    .pop()
    .expect("change");
    assert_eq!(split.order.state(), OrderState::Completed);
    assert_eq!(split.entry.resolution, Some(Resolution::Split));
    let settlement = split.settlement.expect("settlement");
    assert_eq!(settlement.refund, usd(3_000));
    assert_eq!(settlement.sum_minor(), i128::from(price.total.amount_minor));
    for refund in [
        usd(0),
        usd(7_000),
        usd(9_000),
        Money::new(100, Currency::from_code("EUR").expect("EUR")),
    ] {
        let error =
            act(&disputed, Actor::Admin, resolve(Decision::Split(refund))).expect_err("bad split");
        assert!(
            error
                .to_string()
                .contains("refund: must be more than 0 and less than the subtotal"),
            "{error}"
        );
    }
}

#[test]
fn timers_apply_in_the_order_they_fell_due() {
    // Expiry.
    let awaiting = placed(false);
    assert!(apply_due_timers(&awaiting, NOW + 1_800_000 - 1).is_empty());
    let expired = apply_due_timers(&awaiting, NOW + 1_800_000);
    assert_eq!(expired[0].entry.kind, TimelineKind::Expired);
    assert_eq!(expired[0].entry.actor, Actor::System);
    assert_eq!(expired[0].settlement, None);

    // Late once, then nothing more.
    let order = order_in(OrderState::InProgress);
    let due = order.progress.due_time.expect("due");
    let late = last(apply_due_timers(&order, due));
    assert!(late.progress.late);
    assert_eq!(late.state(), OrderState::InProgress);
    assert!(apply_due_timers(&late, due + HOUR).is_empty());

    // An extension left unanswered accepts itself before the due time it moves is looked at.
    let asked = last(
        act(
            &order,
            Actor::Seller,
            Action::RequestExtension {
                days: 5,
                reason: "x".to_owned(),
            },
        )
        .expect("ask"),
    );
    let changes = apply_due_timers(&asked, due + HOUR);
    let kinds: Vec<TimelineKind> = changes.iter().map(|change| change.entry.kind).collect();
    assert_eq!(kinds, [TimelineKind::ExtensionAccepted]);
    assert_eq!(
        changes[0].order.progress.due_time,
        Some(due + 5 * DAY_MILLIS)
    );

    // Auto-completion.
    let delivered = order_in(OrderState::Delivered);
    let at = delivered
        .progress
        .auto_complete_time
        .expect("auto-complete");
    assert!(apply_due_timers(&delivered, at - 1).is_empty());
    let completed = apply_due_timers(&delivered, at);
    assert_eq!(completed[0].entry.kind, TimelineKind::Completed);
    assert_eq!(
        completed[0].settlement,
        Some(delivered.terms.price.completion_settlement())
    );

    // A cancellation left unanswered accepts itself.
    let asked = last(
        act(
            &delivered,
            Actor::Seller,
            Action::RequestCancellation {
                reason: "Cannot finish".to_owned(),
            },
        )
        .expect("ask"),
    );
    let deadline = asked
        .progress
        .pending_cancellation
        .as_ref()
        .expect("pending")
        .answer_deadline;
    let changes = apply_due_timers(&asked, deadline);
    assert_eq!(changes[0].entry.kind, TimelineKind::Cancelled);
    assert_eq!(
        changes[0].settlement,
        Some(delivered.terms.price.full_refund_settlement())
    );

    // A disputed order has no timer.
    let disputed = order_in(OrderState::Disputed);
    assert!(apply_due_timers(&disputed, NOW + 100 * DAY_MILLIS).is_empty());
}

#[test]
fn answers_are_allowed_only_where_their_request_can_be_pending() {
    use crate::error::OrdersError;
    for state in OrderState::ALL {
        let order = order_in(state);
        let extension = act(
            &order,
            Actor::Buyer,
            Action::AnswerExtension { accept: true },
        );
        match (state, extension) {
            (OrderState::InProgress, Err(OrdersError::NoPendingRequest(_))) => {}
            (_, Err(OrdersError::WrongState { state: named, .. })) => assert_eq!(named, state),
            (_, other) => panic!("answer extension in {state:?}: {other:?}"),
        }
        let cancellation = act(
            &order,
            Actor::Seller,
            Action::AnswerCancellation { accept: true },
        );
        match (state.is_paid_and_open(), cancellation) {
            (true, Err(OrdersError::NoPendingRequest(_))) => {}
            (false, Err(OrdersError::WrongState { state: named, .. })) => {
                assert_eq!(named, state);
            }
            (_, other) => panic!("answer cancellation in {state:?}: {other:?}"),
        }
    }
}
