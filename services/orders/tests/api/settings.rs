//! The service's settings: refused before anything is migrated when invalid, each problem
//! named; applied when valid (payment window, fees).

use gigmesh_orders::{App, Config};
use gigmesh_proto::gigs::PackageTier;
use gigmesh_testing::{Backend, TestDeps};

use crate::support::{TestOrders, usd};

gigmesh_testing::on_sqlite_and_postgres!(
    invalid_settings_are_refused_by_name,
    the_payment_window_and_fees_come_from_the_settings,
);

async fn invalid_settings_are_refused_by_name(backend: Backend) {
    let deps = TestDeps::new(backend).await;
    let config = Config {
        buyer_fee_basis_points: 20_000,
        timer_interval_seconds: 0,
        ..Config::default()
    };
    let error = App::build_with_clock(deps.service_deps(), config, gigmesh_types::Clock::system())
        .await
        .err()
        .expect("refused");
    let text = format!("{error:#}");
    assert!(
        text.contains("orders.settings.buyer_fee_basis_points"),
        "{text}"
    );
    assert!(
        text.contains("orders.settings.timer_interval_seconds"),
        "{text}"
    );
}

async fn the_payment_window_and_fees_come_from_the_settings(backend: Backend) {
    let config = Config {
        payment_window_seconds: 60,
        buyer_fee_basis_points: 1_000,
        small_order_threshold_minor: 0,
        seller_commission_basis_points: 1_500,
        ..Config::default()
    };
    let mut orders = TestOrders::start_with(backend, config).await;
    let seller = orders.seller();
    let buyer = orders.buyer();
    let gig = orders.gig_of(&seller, Vec::new()).await;
    let order = orders
        .place(&buyer, &gig.id, PackageTier::Basic, &[], "r")
        .await
        .expect("place");
    let price = order.price.clone().expect("price");
    assert_eq!(price.service_fee, usd(500));
    assert_eq!(price.total, usd(5_500));
    assert_eq!(price.seller_commission, usd(750));
    assert_eq!(price.seller_earnings, usd(4_250));
    let placed = order.create_time.expect("placed").seconds;
    assert_eq!(
        order.payment_deadline.expect("deadline").seconds - placed,
        60
    );
    assert_eq!(orders.advance_and_run_timers(60).await, 1);
}
