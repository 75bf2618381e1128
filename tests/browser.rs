//! gigmesh from a real browser: headless Chromium runs a page that uses connect-web's
//! grpc-web transport against `gigmesh dev`'s gateway from another origin (so through
//! CORS). A buyer and a seller each hold a StreamEvents server stream; the buyer asks about
//! a gig, the seller's stream gets it, the seller reads it (the buyer's stream gets the
//! receipt) and answers with a custom offer, which the buyer accepts; error details reach
//! the page. The test prepares the accounts and the gig over gRPC and checks afterwards
//! that the order awaits payment at the offer's price. The page and its driver are in
//! `tests/browser/` (`scripts/install-test-tools` installs their packages and Chromium).

// Not every flow that support re-exports runs here.
#[allow(unused_imports)]
mod support;

use std::time::Duration;

use gigmesh_proto::chat;
use gigmesh_proto::orders::OrderState;
use support::flows;
use support::flows::methods::LIST_MESSAGES;
use support::mesh::DevMesh;
use support::rpc::{Protocol, Rpc};

#[tokio::test]
async fn a_browser_talks_and_agrees_on_a_custom_offer_over_grpc_web() {
    let mesh = DevMesh::start().await;
    let rpc = Rpc::connect(mesh.address, Protocol::Grpc).await;
    let mail = mesh.mail_directory();
    let seller = flows::signed_up_seller(&rpc, &mail, &flows::NewAccount::unique("seller")).await;
    let buyer = flows::sign_up_and_verify(&rpc, &mail, &flows::NewAccount::unique("buyer"))
        .await
        .tokens
        .expect("tokens");
    flows::wait_for_profile(&rpc, &buyer.access_token).await;
    let gig =
        flows::create_and_publish_gig(&rpc, &seller.access_token, flows::sellable_gig()).await;
    // Chat has heard of the gig once an inquiry about it opens (the browser's opens the same).
    let conversation =
        flows::start_conversation(&rpc, &buyer.access_token, &gig.id, Duration::from_secs(5)).await;

    let output = tokio::process::Command::new("node")
        .arg("tests/browser/chat.mjs")
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("GIGMESH_GATEWAY", format!("http://{}", mesh.address))
        .env("BUYER_TOKEN", &buyer.access_token)
        .env("SELLER_TOKEN", &seller.access_token)
        .env("GIG_ID", &gig.id)
        .kill_on_drop(true)
        .output();
    let output = tokio::time::timeout(Duration::from_secs(120), output)
        .await
        .expect("the browser finishes in time")
        .expect("node runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let result: serde_json::Value = serde_json::from_str(stdout.trim()).expect("JSON result");
    assert_eq!(result["conversationId"], conversation.id.as_str());
    assert!(
        result["badField"]
            .as_str()
            .is_some_and(|message| message.contains("text")),
        "{result}"
    );
    assert_eq!(result["ownAccept"], "PermissionDenied");
    let seller_events: Vec<&str> = result["sellerEvents"]
        .as_array()
        .expect("events")
        .iter()
        .filter_map(serde_json::Value::as_str)
        .collect();
    for kind in [
        "heartbeat",
        "messageSent",
        "readReceipt",
        "customOfferChanged",
    ] {
        assert!(seller_events.contains(&kind), "{kind}: {seller_events:?}");
    }

    // What the browser did holds on the server.
    let order_id = result["orderId"].as_str().expect("order id");
    let order =
        flows::wait_for_order(&rpc, &buyer.access_token, order_id, Duration::from_secs(5)).await;
    assert_eq!(order.state(), OrderState::AwaitingPayment);
    assert_eq!(
        order
            .price
            .and_then(|price| price.subtotal)
            .map(|m| m.amount_minor),
        Some(17_500)
    );
    let page: chat::ListMessagesResponse = rpc
        .call(
            LIST_MESSAGES,
            chat::ListMessagesRequest {
                conversation_id: conversation.id.clone(),
                ..Default::default()
            },
            Some(&seller.access_token),
        )
        .await
        .expect("messages");
    let question = page.messages.last().expect("the question");
    assert_eq!(
        question.id,
        result["questionId"].as_str().unwrap_or_default()
    );
    assert_eq!(
        question.text, "<b>Hello</b> from a browser: can you start Monday?",
        "kept as text"
    );
    mesh.stop().await;
}
