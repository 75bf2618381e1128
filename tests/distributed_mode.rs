//! End to end in distributed mode, as production runs it: `gigmesh migrate`, then one
//! `gigmesh serve <service>` process per service and `gigmesh gateway`, each on its own port
//! and configured through environment variables only, on PostgreSQL (a database per
//! service), Kafka (tansu) and SMTP (aiosmtpd), behind Envoy with the deployed bootstrap
//! (k8s/envoy) and TLS; called through Envoy over native gRPC (HTTP/2) and over grpc-web
//! (HTTP/1.1), both over TLS. Payments runs on Stripe there (the fake of
//! `gigmesh_testing::stripe`), whose signed webhooks reach the gateway.

// Not every flow that support re-exports runs here.
#[allow(unused_imports)]
mod support;

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use gigmesh_proto::{auth, gigs, search};
use gigmesh_testing::TestStripe;
use support::edge::Envoy;
use support::flows;
use support::flows::methods::{LIST_CATEGORIES, LOG_IN, SEARCH_GIGS};
use support::mesh::DistributedMesh;
use support::rpc::{Protocol, Rpc};
use tonic::Code;

/// One mesh (a broker, an SMTP server, eight databases, ten processes, Envoy) for the whole
/// story, every call through Envoy over TLS: the identity flow and the rejections over both
/// protocols, gigs and search over both, gigs published and found through search, a
/// conversation with a custom offer whose streams are held by two chat replicas, an admin
/// (bootstrapped in auth's database, as an operator would) suspending an account, ended
/// sessions refused by users and gigs (a suspended admin's token no longer moderates), two
/// clients behind Envoy told apart by the gateway's rate limit, then SIGTERM to Envoy and
/// every process, each of which must exit successfully.
#[tokio::test]
async fn the_mesh_of_processes_serves_the_identity_flow_and_stops_gracefully() {
    // Unread messages are mailed after a second instead of ten minutes.
    let mut mesh = DistributedMesh::start_with(&[
        (
            "notifications",
            "GIGMESH__NOTIFICATIONS__SETTINGS__MESSAGE_DIGEST_DELAY_SECONDS",
            "1".to_owned(),
        ),
        (
            "notifications",
            "GIGMESH__NOTIFICATIONS__SETTINGS__DIGEST_INTERVAL_SECONDS",
            "1".to_owned(),
        ),
    ])
    .await;
    let mail = mesh.mail_directory();
    for protocol in [Protocol::Grpc, Protocol::GrpcWeb] {
        let rpc = Rpc::connect_tls(mesh.edge(), protocol, mesh.tls(), None).await;
        flows::identity_flow(&rpc, &mail).await;
        flows::rejections(&rpc, &mail).await;
        gigs_and_search_answer(&rpc).await;
    }
    // Gigs and search across processes and Kafka: a change reaches the results within a
    // few seconds.
    let rpc = Rpc::connect_tls(mesh.edge(), Protocol::Grpc, mesh.tls(), None).await;
    flows::gigs_and_search_flow(&rpc, &mail, Duration::from_secs(5)).await;
    // Conversations across two chat replicas: calls go through Envoy and the gateway to
    // the first; the seller's stream is held by the second, which hears of each change
    // through Kafka.
    let replica_b =
        tonic::transport::Channel::from_shared(format!("http://{}", mesh.chat_replica_b))
            .expect("url")
            .connect()
            .await
            .expect("chat's second replica accepts connections");
    let streams = flows::StreamChannels {
        buyer: rpc.channel(),
        seller: replica_b,
    };
    flows::chat_flow(&rpc, &mail, streams, Duration::from_secs(10)).await;

    let rpc = Rpc::connect_tls(mesh.edge(), Protocol::Grpc, mesh.tls(), None).await;
    let admin = flows::NewAccount::unique("admin");
    let signed_in = flows::sign_up_and_verify(&rpc, &mail, &admin).await;
    mesh.grant_admin(&signed_in.account.expect("account").id)
        .await;
    flows::suspension(&rpc, &mail, &admin.username, &admin.password).await;
    // Revocation across processes and Kafka: a second admin, suspended, can no longer
    // moderate with the token they hold.
    let deputy = flows::NewAccount::unique("deputy");
    let signed_in = flows::sign_up_and_verify(&rpc, &mail, &deputy).await;
    mesh.grant_admin(&signed_in.account.expect("account").id)
        .await;
    flows::revocation(
        &rpc,
        &mail,
        (&admin.username, &admin.password),
        &deputy,
        Duration::from_secs(5),
    )
    .await;

    envoy_shows_readiness_and_metrics_only(&mesh).await;
    clients_behind_envoy_are_told_apart(&mut mesh).await;

    mesh.stop().await;
}

/// The gigs and search services answer through Envoy (the identity flow covers auth and
/// users).
async fn gigs_and_search_answer(rpc: &Rpc) {
    let categories: gigs::ListCategoriesResponse = rpc
        .call(LIST_CATEGORIES, gigs::ListCategoriesRequest {}, None)
        .await
        .unwrap_or_else(|status| panic!("ListCategories over {:?}: {status}", rpc.protocol()));
    assert!(!categories.categories.is_empty(), "the taxonomy is seeded");
    let _: search::SearchGigsResponse = rpc
        .call(
            SEARCH_GIGS,
            search::SearchGigsRequest {
                query: "logo".to_owned(),
                ..Default::default()
            },
            None,
        )
        .await
        .unwrap_or_else(|status| panic!("SearchGigs over {:?}: {status}", rpc.protocol()));
}

/// Envoy's health and metrics listeners answer their one path each and nothing else of the
/// admin interface, which listens on 127.0.0.1 alone.
async fn envoy_shows_readiness_and_metrics_only(mesh: &DistributedMesh) {
    let envoy = mesh.envoy();
    let (status, body) = Envoy::get(envoy.health_address, "/ready").await;
    assert_eq!((status, body.trim()), (200, "LIVE"));
    let (status, body) = Envoy::get(envoy.metrics_address, "/metrics").await;
    assert_eq!(status, 200);
    assert!(
        body.contains("envoy_cluster_upstream_rq_total{envoy_cluster_name=\"gateway\"}"),
        "Prometheus statistics of the gateway cluster:\n{body}"
    );
    for (address, path) in [
        (envoy.health_address, "/config_dump"),
        (envoy.health_address, "/quitquitquit"),
        (envoy.metrics_address, "/stats"),
        (envoy.metrics_address, "/ready"),
    ] {
        let (status, _) = Envoy::get(address, path).await;
        assert_eq!(status, 404, "{path} on {address}");
    }
}

/// A gateway allowing one log-in attempt per client, behind an Envoy of its own: the client
/// at 127.0.0.1 is limited after its first attempt, also when it claims another address in
/// x-forwarded-for, while the client at 127.0.0.2 still gets its own. Envoy appends the
/// address it sees, and the gateway believes it from Envoy alone.
async fn clients_behind_envoy_are_told_apart(mesh: &mut DistributedMesh) {
    let edge = mesh
        .start_edge(
            "gateway-limited",
            &[
                ("GIGMESH__GATEWAY__RATE_LIMIT_PER_MINUTE", "1"),
                ("GIGMESH__GATEWAY__RATE_LIMIT_BURST", "1"),
            ],
        )
        .await;
    let log_in = || auth::LogInRequest {
        login: "nobody@example.com".to_owned(),
        password: "not a password".to_owned(),
    };
    let first_client = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 1));
    let second_client = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2));
    let first = Rpc::connect_tls(edge, Protocol::GrpcWeb, mesh.tls(), Some(first_client)).await;
    let second = Rpc::connect_tls(edge, Protocol::Grpc, mesh.tls(), Some(second_client)).await;

    let status = first
        .call::<_, auth::LogInResponse>(LOG_IN, log_in(), None)
        .await
        .expect_err("no such account");
    assert_eq!(status.code(), Code::Unauthenticated, "{status:?}");
    let status = first
        .call::<_, auth::LogInResponse>(LOG_IN, log_in(), None)
        .await
        .expect_err("limited");
    assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}");
    let forged = first.clone().with_header("x-forwarded-for", "203.0.113.7");
    let status = forged
        .call::<_, auth::LogInResponse>(LOG_IN, log_in(), None)
        .await
        .expect_err("still limited");
    assert_eq!(
        status.code(),
        Code::ResourceExhausted,
        "a client cannot leave its limit by claiming another address: {status:?}"
    );

    let status = second
        .call::<_, auth::LogInResponse>(LOG_IN, log_in(), None)
        .await
        .expect_err("no such account");
    assert_eq!(
        status.code(),
        Code::Unauthenticated,
        "the second client behind Envoy has a budget of its own: {status:?}"
    );
}

/// The webhook endpoint's signing secret, as Stripe's dashboard shows it once.
const STRIPE_WEBHOOK_SECRET: &str = "whsec_gigmesh_distributed";

/// Orders and their money across the processes with payments on Stripe: the buyer's client
/// confirms each PaymentIntent with a test card at Stripe (localstripe behind its proxy), the
/// order is paid only once Stripe's signed webhook reaches the gateway's `/webhooks/stripe`
/// (the one way in; nothing the client says pays it), refunds and transfers go to Stripe,
/// and the seller's payout account is connected by finishing Stripe's onboarding
/// (`account.updated`). Every call goes through Envoy, over gRPC and over grpc-web (at the
/// same time); each wait for Kafka is bounded by 15 s.
#[tokio::test]
async fn orders_are_paid_through_stripe_webhooks_and_sellers_are_paid_out() {
    let stripe = TestStripe::start().await;
    let clearance = Duration::from_secs(2);
    let environment = [
        (
            "payments",
            "GIGMESH__PAYMENTS__SETTINGS__PROVIDER",
            "stripe".to_owned(),
        ),
        (
            "payments",
            "GIGMESH__PAYMENTS__SETTINGS__STRIPE__API_KEY",
            stripe.api_key().to_owned(),
        ),
        (
            "payments",
            "GIGMESH__PAYMENTS__SETTINGS__STRIPE__WEBHOOK_SECRET",
            STRIPE_WEBHOOK_SECRET.to_owned(),
        ),
        (
            "payments",
            "GIGMESH__PAYMENTS__SETTINGS__STRIPE__API_BASE_URL",
            stripe.api_base_url(),
        ),
        (
            "payments",
            "GIGMESH__PAYMENTS__SETTINGS__CLEARANCE_PERIOD_SECONDS",
            clearance.as_secs().to_string(),
        ),
    ];
    let mesh = DistributedMesh::start_with(&environment).await;
    stripe
        .register_webhook_endpoint(
            &format!("http://{}/webhooks/stripe", mesh.address),
            STRIPE_WEBHOOK_SECRET,
        )
        .await
        .expect("Stripe sends its webhooks to the gateway");
    let mail = mesh.mail_directory();

    let admin = flows::NewAccount::unique("admin");
    {
        let rpc = Rpc::connect_tls(mesh.edge(), Protocol::Grpc, mesh.tls(), None).await;
        let signed_in = flows::sign_up_and_verify(&rpc, &mail, &admin).await;
        mesh.grant_admin(&signed_in.account.expect("account").id)
            .await;
    }
    // A buyer and a seller on each protocol at the same time: their orders, webhooks and
    // payouts cross the mesh side by side, and the shared ledger still balances.
    let payer = flows::Payer::Stripe(&stripe);
    let flow_over = async |protocol| {
        let rpc = Rpc::connect_tls(mesh.edge(), protocol, mesh.tls(), None).await;
        flows::orders_and_payments_flow(
            &rpc,
            &mail,
            &payer,
            (&admin.username, &admin.password),
            Duration::from_secs(15),
            clearance,
        )
        .await;
    };
    tokio::join!(flow_over(Protocol::Grpc), flow_over(Protocol::GrpcWeb));
    mesh.stop().await;
}

#[tokio::test]
async fn a_service_with_a_bad_configuration_exits_before_binding() {
    let port = support::mesh::free_port();
    let output = support::mesh::gigmesh(&["serve", "users"])
        .env("GIGMESH__USERS__LISTEN", format!("127.0.0.1:{port}"))
        .env("GIGMESH__USERS__DATABASE__URL", "mysql://x")
        .env("GIGMESH__BUS__KIND", "kafka")
        .env("GIGMESH__BUS__KAFKA_BROKERS", "127.0.0.1:9")
        .env("GIGMESH__UPSTREAMS__AUTH", "http://127.0.0.1:9")
        .output()
        .await
        .expect("runs");
    assert!(!output.status.success(), "exited with {}", output.status);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("users.database.url") && stderr.contains("GIGMESH__USERS__DATABASE__URL"),
        "the message names the key: {stderr}"
    );
    std::net::TcpListener::bind(("127.0.0.1", port)).expect("the port was never bound");
}
