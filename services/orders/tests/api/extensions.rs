//! The seller asks for more days; the buyer accepts (the due time moves) or declines; one
//! request at a time.

use gigmesh_proto::orders::{Actor, TimelineKind};
use gigmesh_testing::{Backend, violated_fields};
use tonic::Code;

use crate::support::{DAY, TestOrders, kinds};

gigmesh_testing::on_sqlite_and_postgres!(
    extensions_are_accepted_or_declined_one_at_a_time,
    extension_requests_are_checked,
);

async fn extensions_are_accepted_or_declined_one_at_a_time(backend: Backend) {
    let mut orders = TestOrders::start(backend).await;
    let seller = orders.seller();
    let buyer = orders.buyer();
    let order = orders.order_in_progress(&buyer, &seller).await;
    let due = order.due_time.expect("due").seconds;
    orders.emitted().await;

    let asked = orders
        .ask_extension(&seller, &order.id, 3, "More screens")
        .await
        .expect("ask");
    let pending = asked.pending_extension.expect("pending");
    assert_eq!(pending.days, 3);
    assert_eq!(pending.requested_by, Actor::Seller as i32);
    assert_eq!(
        pending.answer_deadline.expect("deadline").seconds
            - pending.request_time.expect("asked").seconds,
        2 * DAY
    );
    let status = orders
        .ask_extension(&seller, &order.id, 1, "And more")
        .await
        .expect_err("one pending");
    assert_eq!(status.code(), Code::FailedPrecondition);
    let status = orders
        .answer_extension(&seller, &order.id, true)
        .await
        .expect_err("seller answering");
    assert_eq!(status.code(), Code::PermissionDenied);
    let declined = orders
        .answer_extension(&buyer, &order.id, false)
        .await
        .expect("decline");
    assert!(declined.pending_extension.is_none());
    assert_eq!(declined.due_time.expect("due").seconds, due);
    let status = orders
        .answer_extension(&buyer, &order.id, true)
        .await
        .expect_err("nothing pending");
    assert_eq!(status.code(), Code::FailedPrecondition);
    assert_eq!(status.message(), "no extension request is pending");

    orders
        .ask_extension(&seller, &order.id, 4, "Really")
        .await
        .expect("ask again");
    let accepted = orders
        .answer_extension(&buyer, &order.id, true)
        .await
        .expect("accept");
    assert_eq!(accepted.due_time.expect("due").seconds, due + 4 * DAY);
    assert_eq!(accepted.delivery_days, order.delivery_days + 4);
    let emitted = orders.emitted().await;
    assert_eq!(
        kinds(&emitted),
        [
            TimelineKind::ExtensionRequested,
            TimelineKind::ExtensionDeclined,
            TimelineKind::ExtensionRequested,
            TimelineKind::ExtensionAccepted,
        ]
    );
    assert_eq!(emitted[3].entry.as_ref().expect("entry").days, 4);
}

async fn extension_requests_are_checked(backend: Backend) {
    let mut orders = TestOrders::start(backend).await;
    let seller = orders.seller();
    let buyer = orders.buyer();
    let order = orders.order_in_progress(&buyer, &seller).await;
    let status = orders
        .ask_extension(&seller, &order.id, 31, "")
        .await
        .expect_err("invalid");
    assert_eq!(violated_fields(&status), ["days", "reason"]);
    let status = orders
        .ask_extension(&seller, &order.id, 0, "Why")
        .await
        .expect_err("invalid");
    assert_eq!(violated_fields(&status), ["days"]);
    let status = orders
        .ask_extension(&buyer, &order.id, 2, "Why")
        .await
        .expect_err("buyer");
    assert_eq!(status.code(), Code::PermissionDenied);
    assert_eq!(
        status.message(),
        "only the order's seller may ask for an extension"
    );
    orders
        .deliver(&seller, &order.id, "Done", &[])
        .await
        .expect("deliver");
    let status = orders
        .ask_extension(&seller, &order.id, 2, "Why")
        .await
        .expect_err("delivered");
    assert_eq!(
        status.message(),
        "cannot ask for an extension of an order in state delivered"
    );
}
