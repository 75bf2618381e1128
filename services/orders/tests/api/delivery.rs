//! Delivering, asking for revisions within the package's, and accepting: the order
//! completes once, with the completion settlement.

use gigmesh_proto::orders::{OrderState, TimelineKind};
use gigmesh_testing::{Backend, violated_fields};
use tonic::Code;

use crate::support::{TestOrders, kinds, settlement_parts, state, timeline_kinds, total_of, usd};

gigmesh_testing::on_sqlite_and_postgres!(
    deliver_revise_and_accept,
    revisions_run_out_and_accepting_twice_is_refused,
    deliveries_are_checked,
);

async fn deliver_revise_and_accept(backend: Backend) {
    let mut orders = TestOrders::start(backend).await;
    let seller = orders.seller();
    let buyer = orders.buyer();
    let order = orders.order_in_progress(&buyer, &seller).await;
    let due = order.due_time.expect("due");
    orders.emitted().await;

    let delivered = orders
        .deliver(
            &seller,
            &order.id,
            "Here it is",
            &["https://cdn.example.com/logo.zip"],
        )
        .await
        .expect("deliver");
    assert_eq!(state(&delivered), OrderState::Delivered);
    let auto = delivered.auto_complete_time.expect("auto-complete");
    assert_eq!(
        auto.seconds - delivered.delivered_time.expect("delivered").seconds,
        3 * 86_400
    );

    let revised = orders
        .revise(&buyer, &order.id, "Make it blue")
        .await
        .expect("revise");
    assert_eq!(state(&revised), OrderState::InProgress);
    assert_eq!(revised.revisions_used, 1);
    assert_eq!(revised.due_time, Some(due), "a revision keeps the due time");
    assert!(revised.auto_complete_time.is_none());

    orders
        .deliver(&seller, &order.id, "Blue now", &[])
        .await
        .expect("deliver again");
    let completed = orders.accept(&buyer, &order.id).await.expect("accept");
    assert_eq!(state(&completed), OrderState::Completed);
    assert_eq!(completed.seller_paid, usd(4_000));
    assert_eq!(completed.refunded, usd(0));
    assert!(completed.close_time.is_some());

    let full = orders.get(&buyer, &order.id).await.expect("get");
    assert_eq!(
        timeline_kinds(&full),
        [
            TimelineKind::Placed,
            TimelineKind::Paid,
            TimelineKind::Started,
            TimelineKind::Delivered,
            TimelineKind::RevisionRequested,
            TimelineKind::Delivered,
            TimelineKind::Accepted,
            TimelineKind::Completed,
        ]
    );
    let first_delivery = &full.timeline[3];
    assert_eq!(first_delivery.message, "Here it is");
    assert_eq!(
        first_delivery.attachment_urls,
        ["https://cdn.example.com/logo.zip"]
    );
    assert_eq!(first_delivery.actor_user_id, seller.user_id);
    let sequences: Vec<i64> = full.timeline.iter().map(|entry| entry.sequence).collect();
    assert_eq!(sequences, (1..=8).collect::<Vec<_>>());

    let emitted = orders.emitted().await;
    assert_eq!(
        kinds(&emitted),
        [
            TimelineKind::Delivered,
            TimelineKind::RevisionRequested,
            TimelineKind::Delivered,
            TimelineKind::Accepted,
            TimelineKind::Completed,
        ]
    );
    let versions: Vec<i64> = emitted.iter().map(|event| event.version).collect();
    assert_eq!(versions, [4, 5, 6, 7, 8]);
    let completion = emitted.last().expect("completed");
    let (refund, platform_fee, seller_earnings) = settlement_parts(completion);
    assert_eq!(
        (refund, platform_fee, seller_earnings),
        (0, 275 + 1_000, 4_000)
    );
    assert_eq!(refund + platform_fee + seller_earnings, total_of(&order));
    assert!(emitted[..4].iter().all(|event| event.settlement.is_none()));
}

async fn revisions_run_out_and_accepting_twice_is_refused(backend: Backend) {
    let mut orders = TestOrders::start(backend).await;
    let seller = orders.seller();
    let buyer = orders.buyer();
    let order = orders.delivered_order(&buyer, &seller).await;
    orders
        .revise(&buyer, &order.id, "Once")
        .await
        .expect("first revision");
    orders
        .deliver(&seller, &order.id, "Again", &[])
        .await
        .expect("deliver");
    let status = orders
        .revise(&buyer, &order.id, "Twice")
        .await
        .expect_err("used up");
    assert_eq!(status.code(), Code::FailedPrecondition);
    assert!(
        status
            .message()
            .starts_with("the package's 1 revisions are used up"),
        "{status:?}"
    );

    let status = orders
        .accept(&seller, &order.id)
        .await
        .expect_err("seller accepting");
    assert_eq!(status.code(), Code::PermissionDenied);
    assert_eq!(
        status.message(),
        "only the order's buyer may accept the delivery"
    );
    orders.accept(&buyer, &order.id).await.expect("accept");
    let status = orders.accept(&buyer, &order.id).await.expect_err("twice");
    assert_eq!(status.code(), Code::FailedPrecondition);
    assert_eq!(
        status.message(),
        "cannot accept the delivery of an order in state completed"
    );
    let status = orders
        .deliver(&seller, &order.id, "More", &[])
        .await
        .expect_err("closed");
    assert_eq!(
        status.message(),
        "cannot deliver an order in state completed"
    );
}

async fn deliveries_are_checked(backend: Backend) {
    let mut orders = TestOrders::start(backend).await;
    let seller = orders.seller();
    let buyer = orders.buyer();
    let order = orders.order_in_progress(&buyer, &seller).await;
    let status = orders
        .deliver(
            &seller,
            &order.id,
            "  ",
            &["http://insecure.example.com/a.zip"],
        )
        .await
        .expect_err("invalid");
    assert_eq!(violated_fields(&status), ["message", "attachment_urls[0]"]);
    let eleven: Vec<&str> = std::iter::repeat_n("https://cdn.example.com/a.zip", 11).collect();
    let status = orders
        .deliver(&seller, &order.id, "Files", &eleven)
        .await
        .expect_err("too many");
    assert_eq!(violated_fields(&status), ["attachment_urls"]);
    let status = orders
        .deliver(&buyer, &order.id, "Mine", &[])
        .await
        .expect_err("buyer delivering");
    assert_eq!(status.code(), Code::PermissionDenied);
    assert_eq!(status.message(), "only the order's seller may deliver it");
    let status = orders
        .revise(&buyer, &order.id, "")
        .await
        .expect_err("empty");
    assert_eq!(violated_fields(&status), ["message"]);
    let status = orders
        .revise(&buyer, &order.id, "Bigger")
        .await
        .expect_err("not delivered");
    assert_eq!(
        status.message(),
        "cannot ask for a revision of an order in state in_progress"
    );
}
