//! End to end in dev mode: `gigmesh dev` as a process, called through the gateway over native
//! gRPC and over grpc-web (HTTP/1.1).

mod support;

use std::time::Duration;

use support::flows;
use support::mesh::DevMesh;
use support::rpc::{Protocol, Rpc};

#[tokio::test]
async fn identity_flow_over_grpc_and_grpc_web() {
    let mesh = DevMesh::start().await;
    for protocol in [Protocol::Grpc, Protocol::GrpcWeb] {
        let rpc = Rpc::connect(mesh.address, protocol).await;
        flows::identity_flow(&rpc, &mesh.mail_directory()).await;
    }
    mesh.stop().await;
}

#[tokio::test]
async fn bad_input_and_bad_tokens_get_clear_codes() {
    let mesh = DevMesh::start().await;
    for protocol in [Protocol::Grpc, Protocol::GrpcWeb] {
        let rpc = Rpc::connect(mesh.address, protocol).await;
        flows::rejections(&rpc, &mesh.mail_directory()).await;
    }
    mesh.stop().await;
}

#[tokio::test]
async fn admin_suspends_and_unsuspends_with_the_demo_admin() {
    let mesh = DevMesh::start().await;
    let rpc = Rpc::connect(mesh.address, Protocol::Grpc).await;
    flows::suspension(&rpc, &mesh.mail_directory(), "admin", "admin-password-1").await;
    mesh.stop().await;
}

#[tokio::test]
async fn a_restart_keeps_the_data() {
    let mesh = DevMesh::start().await;
    let rpc = Rpc::connect(mesh.address, Protocol::Grpc).await;
    let account = flows::NewAccount::unique("restart");
    flows::sign_up_and_verify(&rpc, &mesh.mail_directory(), &account).await;
    let data_dir = mesh.stop().await;

    let mesh = DevMesh::start_in(data_dir).await;
    let rpc = Rpc::connect(mesh.address, Protocol::Grpc).await;
    let login = flows::log_in(&rpc, &account.username, &account.password).await;
    let tokens = login.tokens.expect("tokens");
    // Tokens issued before the restart are signed by the same, persisted key.
    flows::wait_for_profile(&rpc, &tokens.access_token).await;
    mesh.stop().await;
}

#[tokio::test]
async fn a_bad_configuration_exits_before_binding() {
    let port = support::mesh::free_port();
    let output = support::mesh::gigmesh(&["dev", "--listen", &format!("127.0.0.1:{port}")])
        .env("GIGMESH__BUS__KIND", "carrier-pigeon")
        .output()
        .await
        .expect("runs");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr).to_lowercase();
    assert!(
        stderr.contains("bus.kind") && stderr.contains("carrier-pigeon"),
        "{stderr}"
    );
    // The port was never bound.
    std::net::TcpListener::bind(("127.0.0.1", port)).expect("port still free");

    let output = support::mesh::gigmesh(&["serve", "users"])
        .env("GIGMESH__USERS__DATABASE__URL", "mysql://nope")
        .output()
        .await
        .expect("runs");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("users.database.url"), "{stderr}");
}

#[tokio::test]
async fn sellers_publish_gigs_and_buyers_find_them() {
    let mesh = DevMesh::start().await;
    for protocol in [Protocol::Grpc, Protocol::GrpcWeb] {
        let rpc = Rpc::connect(mesh.address, protocol).await;
        // Dev mode: a paused gig leaves the results within a second.
        flows::gigs_and_search_flow(&rpc, &mesh.mail_directory(), Duration::from_secs(1)).await;
    }
    let data_dir = mesh.stop().await;

    // The index is derived: the command rebuilds it from the search service's database.
    let output = support::mesh::gigmesh(&["rebuild-search-index", "--dev"])
        .env("GIGMESH__DATA_DIR", data_dir.path())
        .output()
        .await
        .expect("runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let indexed: u64 = stdout
        .trim()
        .strip_prefix("search index rebuilt: ")
        .and_then(|rest| rest.strip_suffix(" gigs"))
        .and_then(|count| count.parse().ok())
        .unwrap_or_else(|| panic!("unexpected output: {stdout}"));
    // Three gigs per protocol, all active again after the pause and resume.
    assert_eq!(indexed, 6, "{stdout}");
}
