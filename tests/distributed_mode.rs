//! End to end in distributed mode, as production runs it: `gigmesh migrate`, then one
//! `gigmesh serve <service>` process per service and `gigmesh gateway`, each on its own port
//! and configured through environment variables only, on PostgreSQL (a database per
//! service), Kafka (tansu) and SMTP (aiosmtpd); called through the gateway over native gRPC
//! and over grpc-web.

mod support;

use std::time::Duration;

use support::flows;
use support::mesh::DistributedMesh;
use support::rpc::{Protocol, Rpc};

/// One mesh (a broker, an SMTP server, five databases, seven processes) for the whole
/// story: the identity flow and the rejections over both protocols, gigs published and
/// found through search, an admin (bootstrapped in
/// auth's database, as an operator would) suspending an account, then SIGTERM to every
/// process, each of which must exit successfully.
#[tokio::test]
async fn the_mesh_of_processes_serves_the_identity_flow_and_stops_gracefully() {
    let mesh = DistributedMesh::start().await;
    let mail = mesh.mail_directory();
    for protocol in [Protocol::Grpc, Protocol::GrpcWeb] {
        let rpc = Rpc::connect(mesh.address, protocol).await;
        flows::identity_flow(&rpc, &mail).await;
        flows::rejections(&rpc, &mail).await;
    }
    // Gigs and search across processes and Kafka: a change reaches the results within a
    // few seconds.
    let rpc = Rpc::connect(mesh.address, Protocol::Grpc).await;
    flows::gigs_and_search_flow(&rpc, &mail, Duration::from_secs(5)).await;

    let rpc = Rpc::connect(mesh.address, Protocol::Grpc).await;
    let admin = flows::NewAccount::unique("admin");
    let signed_in = flows::sign_up_and_verify(&rpc, &mail, &admin).await;
    mesh.grant_admin(&signed_in.account.expect("account").id)
        .await;
    flows::suspension(&rpc, &mail, &admin.username, &admin.password).await;

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
