//! Who sees and changes an order: its buyer and seller, each only in their part; admins
//! read every order; for anyone else it does not exist.

use gigmesh_proto::orders::{DisputeResolution, OrderGroup, OrderRole};
use gigmesh_testing::Backend;
use tonic::Code;
use uuid::Uuid;

use crate::support::TestOrders;

gigmesh_testing::on_sqlite_and_postgres!(
    strangers_find_no_order_for_any_call,
    each_party_acts_only_in_its_part_and_admins_read,
);

async fn strangers_find_no_order_for_any_call(backend: Backend) {
    let mut orders = TestOrders::start(backend).await;
    let seller = orders.seller();
    let buyer = orders.buyer();
    let stranger = orders.seller();
    let order = orders.order_in_progress(&buyer, &seller).await;
    let id = order.id.as_str();
    let results = vec![
        orders.get(&stranger, id).await,
        orders.submit(&stranger, id, Vec::new()).await,
        orders.deliver(&stranger, id, "x", &[]).await,
        orders.accept(&stranger, id).await,
        orders.revise(&stranger, id, "x").await,
        orders.ask_extension(&stranger, id, 1, "x").await,
        orders.answer_extension(&stranger, id, true).await,
        orders.cancel(&stranger, id, "x").await,
        orders.ask_cancellation(&stranger, id, "x").await,
        orders.answer_cancellation(&stranger, id, true).await,
        orders.dispute(&stranger, id, "x").await,
    ];
    for (index, result) in results.into_iter().enumerate() {
        let status = result.expect_err("a stranger");
        assert_eq!(status.code(), Code::NotFound, "call {index}: {status:?}");
        assert_eq!(status.message(), format!("order {id} not found"));
    }
    let status = orders
        .get(&buyer, &Uuid::now_v7().to_string())
        .await
        .expect_err("unknown");
    assert_eq!(status.code(), Code::NotFound);
    let (listed, _) = orders
        .list(&stranger, OrderRole::Buyer, OrderGroup::Unspecified, 0, "")
        .await
        .expect("list");
    assert!(listed.is_empty());
    let status = orders
        .get(&buyer, "not-a-uuid")
        .await
        .expect_err("malformed");
    assert_eq!(status.code(), Code::InvalidArgument);
}

async fn each_party_acts_only_in_its_part_and_admins_read(backend: Backend) {
    let mut orders = TestOrders::start(backend).await;
    let seller = orders.seller();
    let buyer = orders.buyer();
    let admin = orders.admin();
    let order = orders.order_in_progress(&buyer, &seller).await;
    let id = order.id.as_str();

    for viewer in [&buyer, &seller, &admin] {
        let seen = orders.get(viewer, id).await.expect("visible");
        assert_eq!(seen.id, order.id);
        assert_eq!(seen.timeline.len(), 3);
    }
    let denied = [
        (
            orders.deliver(&buyer, id, "x", &[]).await,
            "only the order's seller may deliver it",
        ),
        (
            orders.ask_extension(&buyer, id, 1, "x").await,
            "only the order's seller may ask for an extension",
        ),
        (
            orders.cancel(&seller, id, "x").await,
            "only the order's buyer may cancel it",
        ),
        (
            orders.deliver(&admin, id, "x", &[]).await,
            "only the order's seller may deliver it",
        ),
        (
            orders.dispute(&admin, id, "x").await,
            "only the order's buyer or seller may open a dispute",
        ),
        (
            orders
                .resolve(&seller, id, DisputeResolution::Refund, None)
                .await,
            "admin role required",
        ),
    ];
    for (result, message) in denied {
        let status = result.expect_err("wrong party");
        assert_eq!(status.code(), Code::PermissionDenied, "{status:?}");
        assert_eq!(status.message(), message);
    }
    let status = orders
        .client
        .get_order(tonic::Request::new(
            gigmesh_proto::orders::GetOrderRequest {
                order_id: order.id.clone(),
            },
        ))
        .await
        .expect_err("anonymous");
    assert_eq!(status.code(), Code::Unauthenticated);
}
