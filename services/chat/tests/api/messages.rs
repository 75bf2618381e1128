//! Sending and reading messages: text and attachments kept as sent, every bad field named,
//! retries answered with the first message, a rate limit per sender, warnings for messages
//! that take contact or payment off the marketplace, backward paging that new messages do
//! not disturb, and the seller's response time measured from the replies.

use std::time::Duration;

use gigmesh_chat::Config;
use gigmesh_proto::chat::{
    Attachment, ListFlaggedSendersRequest, MessageSent, SellerResponseTimeChanged,
};
use gigmesh_testing::{Backend, signed_in, violated_fields};
use tonic::Code;
use tonic_types::StatusExt as _;

use crate::support::{TestChat, new_request_id};

gigmesh_testing::on_sqlite_and_postgres!(
    messages_keep_text_and_attachments_as_sent,
    bad_messages_name_every_field,
    a_retried_send_returns_the_first_message,
    messages_page_backward_undisturbed_by_new_ones,
    the_rate_limit_refuses_with_the_wait,
    off_platform_contact_is_flagged_for_the_recipient_and_counted,
    the_sellers_response_time_is_measured_from_replies,
);

fn attachment(url: &str) -> Attachment {
    Attachment {
        url: url.to_owned(),
        name: "brief.pdf".to_owned(),
        size_bytes: 120_000,
        content_type: "application/pdf".to_owned(),
    }
}

async fn messages_keep_text_and_attachments_as_sent(backend: Backend) {
    let mut chat = TestChat::start(backend).await;
    let buyer = chat.buyer();
    let seller = chat.seller();
    let (_, conversation) = chat.inquiry(&buyer, &seller).await;
    let html = "<script>alert('x')</script> & <b>bold</b>\nsecond line";
    let sent = chat
        .send_with(
            &buyer,
            &conversation.id,
            html,
            vec![attachment("https://files.example.com/brief.pdf")],
            &new_request_id(),
        )
        .await
        .expect("send");
    assert_eq!(sent.text, html, "stored as text, not escaped or stripped");
    let only_files = chat
        .send_with(
            &buyer,
            &conversation.id,
            "",
            vec![attachment("https://files.example.com/logo.png")],
            &new_request_id(),
        )
        .await
        .expect("attachments alone");
    assert!(only_files.text.is_empty());
    let page = chat
        .messages(&seller, &conversation.id, 0, "")
        .await
        .expect("list");
    assert_eq!(page.messages.len(), 2);
    assert_eq!(page.messages[1].text, html);
    assert_eq!(page.messages[1].attachments[0].name, "brief.pdf");
    assert_eq!(page.messages[1].attachments[0].size_bytes, 120_000);
    assert!(page.messages[1].warning.is_empty());

    let emitted = chat.emitted_of::<MessageSent>().await;
    assert_eq!(emitted.len(), 2);
    assert_eq!(emitted[0].recipient_id, seller.user_id);
    assert_eq!(emitted[0].buyer_id, buyer.user_id);
}

async fn bad_messages_name_every_field(backend: Backend) {
    let mut chat = TestChat::start(backend).await;
    let buyer = chat.buyer();
    let seller = chat.seller();
    let (_, conversation) = chat.inquiry(&buyer, &seller).await;
    let status = chat
        .send(&buyer, &conversation.id, "   ")
        .await
        .expect_err("empty");
    assert_eq!(violated_fields(&status), ["text"]);
    let status = chat
        .send(&buyer, &conversation.id, &"a".repeat(5_001))
        .await
        .expect_err("too long");
    assert_eq!(violated_fields(&status), ["text"]);
    chat.send(&buyer, &conversation.id, &"a".repeat(5_000))
        .await
        .expect("at the limit");
    let status = chat
        .send_with(
            &buyer,
            "nope",
            "hi",
            vec![attachment("http://insecure.example.com/x"), attachment("")],
            "",
        )
        .await
        .expect_err("bad fields");
    assert_eq!(
        violated_fields(&status),
        [
            "conversation_id",
            "attachments[0].url",
            "attachments[1].url",
            "request_id"
        ]
    );
}

async fn a_retried_send_returns_the_first_message(backend: Backend) {
    let mut chat = TestChat::start(backend).await;
    let buyer = chat.buyer();
    let seller = chat.seller();
    let (_, conversation) = chat.inquiry(&buyer, &seller).await;
    let request_id = new_request_id();
    let first = chat
        .send_with(&buyer, &conversation.id, "Hello", Vec::new(), &request_id)
        .await
        .expect("first");
    let retry = chat
        .send_with(&buyer, &conversation.id, "Hello", Vec::new(), &request_id)
        .await
        .expect("retry");
    assert_eq!(retry.id, first.id);
    let page = chat
        .messages(&buyer, &conversation.id, 0, "")
        .await
        .expect("list");
    assert_eq!(page.messages.len(), 1);
    let seller_view = chat.get(&seller, &conversation.id).await.expect("seller");
    assert_eq!(seller_view.unread_count, 1);
}

async fn messages_page_backward_undisturbed_by_new_ones(backend: Backend) {
    let mut chat = TestChat::start(backend).await;
    let buyer = chat.buyer();
    let seller = chat.seller();
    let (_, conversation) = chat.inquiry(&buyer, &seller).await;
    let mut sent = Vec::new();
    for n in 0..5 {
        let author = if n % 2 == 0 { &buyer } else { &seller };
        sent.push(
            chat.send(author, &conversation.id, &format!("message {n}"))
                .await
                .expect("send")
                .id,
        );
    }
    let mut seen = Vec::new();
    let mut token = String::new();
    loop {
        let page = chat
            .messages(&buyer, &conversation.id, 2, &token)
            .await
            .expect("page");
        seen.extend(page.messages.iter().map(|message| message.id.clone()));
        // New messages arrive while the client pages back: they are not on older pages.
        chat.send(&seller, &conversation.id, "meanwhile")
            .await
            .expect("send");
        if page.next_page_token.is_empty() {
            break;
        }
        token = page.next_page_token;
    }
    sent.reverse();
    assert_eq!(seen, sent, "newest first, each once");
    let status = chat
        .messages(&buyer, &conversation.id, 2, "garbage")
        .await
        .expect_err("token");
    assert_eq!(violated_fields(&status), ["page_token"]);
}

async fn the_rate_limit_refuses_with_the_wait(backend: Backend) {
    let config = Config {
        max_messages_per_minute: 3,
        ..Config::default()
    };
    let mut chat = TestChat::start_with(backend, config).await;
    let buyer = chat.buyer();
    let seller = chat.seller();
    let (_, conversation) = chat.inquiry(&buyer, &seller).await;
    for n in 0..3 {
        chat.send(&buyer, &conversation.id, &format!("{n}"))
            .await
            .expect("within the limit");
        chat.clock.advance_seconds(10);
    }
    let status = chat
        .send(&buyer, &conversation.id, "one more")
        .await
        .expect_err("limited");
    assert_eq!(status.code(), Code::ResourceExhausted);
    assert_eq!(
        status.message(),
        "you sent 3 messages in the last minute: wait 30 s"
    );
    let retry = status.get_details_retry_info().expect("retry info");
    assert_eq!(retry.retry_delay, Some(Duration::from_secs(30)));
    // The other participant is not limited by it.
    chat.send(&seller, &conversation.id, "take your time")
        .await
        .expect("seller");
    chat.clock.advance_seconds(31);
    chat.send(&buyer, &conversation.id, "one more")
        .await
        .expect("after the wait");
}

async fn off_platform_contact_is_flagged_for_the_recipient_and_counted(backend: Backend) {
    let mut chat = TestChat::start(backend).await;
    let buyer = chat.buyer();
    let seller = chat.seller();
    let admin = chat.admin();
    let (_, conversation) = chat.inquiry(&buyer, &seller).await;
    let sent = chat
        .send(
            &seller,
            &conversation.id,
            "Write to jane.doe (at) example dot com, I take wire transfer",
        )
        .await
        .expect("delivered");
    assert!(sent.warning.is_empty(), "the sender sees no warning");
    let seen = chat
        .messages(&buyer, &conversation.id, 0, "")
        .await
        .expect("list");
    assert!(
        !seen.messages[0].warning.is_empty(),
        "{:?}",
        seen.messages[0]
    );
    chat.send(&buyer, &conversation.id, "Sure, call me on +1 415 555 0100")
        .await
        .expect("delivered");
    chat.send(&buyer, &conversation.id, "Thanks")
        .await
        .expect("not flagged");

    let request = ListFlaggedSendersRequest::default();
    let listed = chat
        .client
        .list_flagged_senders(signed_in(&admin.token, request.clone()))
        .await
        .expect("admin")
        .into_inner();
    let senders: Vec<(&str, i64, i64, i64)> = listed
        .senders
        .iter()
        .map(|s| {
            (
                s.user_id.as_str(),
                s.email_addresses,
                s.phone_numbers,
                s.off_platform_payments,
            )
        })
        .collect();
    assert_eq!(senders.len(), 2);
    assert!(
        senders.contains(&(seller.user_id.as_str(), 1, 0, 1)),
        "{senders:?}"
    );
    assert!(
        senders.contains(&(buyer.user_id.as_str(), 0, 1, 0)),
        "{senders:?}"
    );
    let status = chat
        .client
        .list_flagged_senders(signed_in(&buyer.token, request))
        .await
        .expect_err("not an admin");
    assert_eq!(status.code(), Code::PermissionDenied);
}

async fn the_sellers_response_time_is_measured_from_replies(backend: Backend) {
    let mut chat = TestChat::start(backend).await;
    let seller = chat.seller();
    let first_buyer = chat.buyer();
    let second_buyer = chat.buyer();
    let (_, first) = chat.inquiry(&first_buyer, &seller).await;
    chat.send(&first_buyer, &first.id, "Hi, a question")
        .await
        .expect("send");
    chat.send(&first_buyer, &first.id, "And another")
        .await
        .expect("send");
    chat.clock.advance_seconds(1_800);
    chat.send(&seller, &first.id, "Hello!")
        .await
        .expect("reply");
    chat.clock.advance_seconds(60);
    chat.send(&seller, &first.id, "Anything else?")
        .await
        .expect("second reply counts not");

    let (_, second) = chat.inquiry(&second_buyer, &seller).await;
    chat.send(&second_buyer, &second.id, "Hello")
        .await
        .expect("send");
    chat.clock.advance_seconds(600);
    chat.send(&seller, &second.id, "Hi").await.expect("reply");

    let changes = chat.emitted_of::<SellerResponseTimeChanged>().await;
    let medians: Vec<(i64, i32)> = changes
        .iter()
        .map(|change| (change.median_response_seconds, change.conversations))
        .collect();
    assert_eq!(medians, [(1_800, 1), (1_200, 2)]);
    assert!(
        changes
            .iter()
            .all(|change| change.seller_id == seller.user_id)
    );
}
