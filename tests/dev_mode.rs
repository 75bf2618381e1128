//! End to end in dev mode: `gigmesh dev` as a process, called through the gateway over native
//! gRPC and over grpc-web (HTTP/1.1).

// Not every flow that support re-exports runs here.
#[allow(unused_imports)]
mod support;

use std::path::{Path, PathBuf};
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

/// An ended session is refused by every service within a second on an idle machine (the
/// bound leaves room for a loaded test machine): a log-out reaches users, a suspended
/// admin's old token can no longer moderate gigs.
#[tokio::test]
async fn ended_sessions_are_refused_by_every_service_within_a_second() {
    let mesh = DevMesh::start().await;
    let rpc = Rpc::connect(mesh.address, Protocol::Grpc).await;
    let mail = mesh.mail_directory();
    let deputy = flows::NewAccount::unique("deputy");
    let signed_in = flows::sign_up_and_verify(&rpc, &mail, &deputy).await;
    mesh.grant_admin(&signed_in.account.expect("account").id)
        .await;
    flows::revocation(
        &rpc,
        &mail,
        ("admin", "admin-password-1"),
        &deputy,
        Duration::from_secs(3),
    )
    .await;
    mesh.stop().await;
}

/// The mailed token is sealed for the mailer on its way and only its digest is kept: it is
/// in the mail and in no file of the data directory (databases, their write-ahead logs, the
/// event log), neither while running nor after a clean stop.
#[tokio::test]
async fn a_mailed_token_is_found_only_in_the_mail() {
    let mesh = DevMesh::start().await;
    let rpc = Rpc::connect(mesh.address, Protocol::Grpc).await;
    let account = flows::NewAccount::unique("sealed");
    flows::sign_up_and_verify(&rpc, &mesh.mail_directory(), &account).await;
    let mail = support::mail::wait_for_mail(&mesh.mail_directory(), &account.email, "verify").await;
    let token = mail.token().expect("verification token in the mail");

    let mail_directory = mesh.mail_directory();
    let holding_the_token = || files_containing(mesh.data_dir.path(), &mail_directory, &token);
    assert_eq!(holding_the_token(), Vec::<PathBuf>::new());
    let data_dir = mesh.stop().await;
    assert_eq!(
        files_containing(data_dir.path(), &data_dir.path().join("mail"), &token),
        Vec::<PathBuf>::new()
    );
}

/// Every file under `directory`, except under `skipped`, whose bytes contain `needle`.
fn files_containing(directory: &Path, skipped: &Path, needle: &str) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut pending = vec![directory.to_path_buf()];
    while let Some(next) = pending.pop() {
        for entry in std::fs::read_dir(&next).expect("read the data directory") {
            let path = entry.expect("a directory entry").path();
            if path.starts_with(skipped) {
                continue;
            }
            if path.is_dir() {
                pending.push(path);
            } else if let Ok(bytes) = std::fs::read(&path)
                && bytes
                    .windows(needle.len())
                    .any(|window| window == needle.as_bytes())
            {
                found.push(path);
            }
        }
    }
    found
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
        // Dev mode: a paused gig leaves the results within a second on an idle machine; the
        // bound leaves room for a loaded test machine.
        flows::gigs_and_search_flow(&rpc, &mesh.mail_directory(), Duration::from_secs(3)).await;
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

/// The order and its money, end to end: a buyer orders with an extra and pays with the
/// sandbox's test card (through ConfirmSandboxPayment over gRPC, through the gateway's
/// checkout page under grpc-web), the order runs to completion with a revision, the seller's
/// earnings clear (a two-second clearance period stands in for fourteen days) and are
/// withdrawn; a mutual cancellation refunds, an admin splits a dispute. Every step mails
/// and the ledger balances after each order.
#[tokio::test]
async fn a_buyer_orders_and_pays_and_the_seller_is_paid() {
    let clearance = Duration::from_secs(2);
    let mesh = DevMesh::start_with(
        tempfile::tempdir().expect("temp dir"),
        &[
            ("GIGMESH__PAYMENTS__SETTINGS__CLEARANCE_PERIOD_SECONDS", "2"),
            (
                "GIGMESH__PAYMENTS__SETTINGS__CHECKOUT_BASE_URL",
                "http://{gateway}/checkout/sandbox",
            ),
        ],
    )
    .await;
    for (protocol, payer) in [
        (Protocol::Grpc, flows::Payer::Sandbox),
        (Protocol::GrpcWeb, flows::Payer::SandboxCheckoutPage),
    ] {
        let rpc = Rpc::connect(mesh.address, protocol).await;
        flows::orders_and_payments_flow(
            &rpc,
            &mesh.mail_directory(),
            &payer,
            ("admin", "admin-password-1"),
            Duration::from_secs(5),
            clearance,
        )
        .await;
    }
    mesh.stop().await;
}

/// Conversations end to end in dev mode, over native gRPC and over grpc-web: a buyer asks
/// about a gig while both hold streams, the seller answers with a custom offer, the buyer
/// accepts and the order awaits payment at the offer's price; read receipts arrive; a
/// dropped stream resumes from its last event id without gaps or repeats; messages left
/// unread are mailed once.
#[tokio::test]
async fn buyers_and_sellers_talk_and_agree_on_a_custom_offer() {
    // Unread messages are mailed after a second instead of ten minutes.
    let mesh = DevMesh::start_with(
        tempfile::tempdir().expect("temp dir"),
        &[
            (
                "GIGMESH__NOTIFICATIONS__SETTINGS__MESSAGE_DIGEST_DELAY_SECONDS",
                "1",
            ),
            (
                "GIGMESH__NOTIFICATIONS__SETTINGS__DIGEST_INTERVAL_SECONDS",
                "1",
            ),
        ],
    )
    .await;
    for protocol in [Protocol::Grpc, Protocol::GrpcWeb] {
        let rpc = Rpc::connect(mesh.address, protocol).await;
        let streams = flows::StreamChannels {
            buyer: rpc.channel(),
            seller: rpc.channel(),
        };
        flows::chat_flow(
            &rpc,
            &mesh.mail_directory(),
            streams,
            Duration::from_secs(5),
        )
        .await;
    }
    mesh.stop().await;
}
