//! Blocks and reports: a blocked user's messages are refused (and a blocker's to the
//! blocked), a report sends the conversation to the admins, who may then read it.

use gigmesh_proto::chat::{
    BlockUserRequest, ListBlockedUsersRequest, ListConversationReportsRequest,
    ReportConversationRequest, UnblockUserRequest,
};
use gigmesh_testing::{Backend, TestUser, signed_in, violated_fields};
use tonic::Code;

use crate::support::TestChat;

gigmesh_testing::on_sqlite_and_postgres!(
    a_block_stops_new_messages_until_it_is_lifted,
    a_report_lets_the_admins_read_the_conversation,
);

async fn block(chat: &mut TestChat, user: &TestUser, other: &str) -> Result<(), tonic::Status> {
    let request = BlockUserRequest {
        user_id: other.to_owned(),
    };
    chat.client
        .block_user(signed_in(&user.token, request))
        .await?;
    Ok(())
}

async fn a_block_stops_new_messages_until_it_is_lifted(backend: Backend) {
    let mut chat = TestChat::start(backend).await;
    let buyer = chat.buyer();
    let seller = chat.seller();
    let (gig, conversation) = chat.inquiry(&buyer, &seller).await;
    chat.send(&buyer, &conversation.id, "Hello")
        .await
        .expect("before the block");
    block(&mut chat, &seller, &buyer.user_id)
        .await
        .expect("block");
    block(&mut chat, &seller, &buyer.user_id)
        .await
        .expect("again: nothing changes");

    let status = chat
        .send(&buyer, &conversation.id, "Hello?")
        .await
        .expect_err("blocked");
    assert_eq!(status.code(), Code::FailedPrecondition);
    assert_eq!(status.message(), "this user does not accept your messages");
    let status = chat
        .send(&seller, &conversation.id, "Go away")
        .await
        .expect_err("blocker");
    assert_eq!(
        status.message(),
        "you block this user: unblock them to write to them"
    );
    let status = chat
        .offer(&seller, &conversation.id, &gig.id, 5_000, 24)
        .await
        .expect_err("no offers either");
    assert_eq!(status.code(), Code::FailedPrecondition);
    let seen = chat
        .get(&seller, &conversation.id)
        .await
        .expect("still readable");
    assert!(seen.other_blocked);

    let listed = chat
        .client
        .list_blocked_users(signed_in(&seller.token, ListBlockedUsersRequest::default()))
        .await
        .expect("list")
        .into_inner();
    assert_eq!(listed.user_ids, [buyer.user_id.as_str()]);

    let status = block(&mut chat, &seller, &seller.user_id)
        .await
        .expect_err("self");
    assert_eq!(violated_fields(&status), ["user_id"]);
    let status = block(&mut chat, &seller, "nope")
        .await
        .expect_err("malformed");
    assert_eq!(violated_fields(&status), ["user_id"]);

    let request = UnblockUserRequest {
        user_id: buyer.user_id.clone(),
    };
    chat.client
        .unblock_user(signed_in(&seller.token, request))
        .await
        .expect("unblock");
    chat.send(&buyer, &conversation.id, "Hello again")
        .await
        .expect("after the unblock");
}

async fn a_report_lets_the_admins_read_the_conversation(backend: Backend) {
    let mut chat = TestChat::start(backend).await;
    let buyer = chat.buyer();
    let seller = chat.seller();
    let stranger = chat.buyer();
    let admin = chat.admin();
    let (_, conversation) = chat.inquiry(&buyer, &seller).await;
    chat.send(&seller, &conversation.id, "Something rude")
        .await
        .expect("send");

    let report = |user: &TestUser, reason: &str| {
        signed_in(
            &user.token,
            ReportConversationRequest {
                conversation_id: conversation.id.clone(),
                reason: reason.to_owned(),
            },
        )
    };
    let status = chat
        .client
        .report_conversation(report(&stranger, "spam"))
        .await
        .expect_err("a stranger");
    assert_eq!(status.code(), Code::NotFound);
    let status = chat
        .client
        .report_conversation(report(&buyer, " "))
        .await
        .expect_err("no reason");
    assert_eq!(violated_fields(&status), ["reason"]);
    chat.client
        .report_conversation(report(&buyer, "The seller insulted me"))
        .await
        .expect("report");

    let listed = chat
        .client
        .list_conversation_reports(signed_in(
            &admin.token,
            ListConversationReportsRequest::default(),
        ))
        .await
        .expect("admin")
        .into_inner();
    assert_eq!(listed.reports.len(), 1);
    assert_eq!(listed.reports[0].reporter_id, buyer.user_id);
    assert_eq!(listed.reports[0].reason, "The seller insulted me");
    assert_eq!(
        listed.reports[0]
            .conversation
            .as_ref()
            .expect("conversation")
            .id,
        conversation.id
    );
    let status = chat
        .client
        .list_conversation_reports(signed_in(
            &buyer.token,
            ListConversationReportsRequest::default(),
        ))
        .await
        .expect_err("not an admin");
    assert_eq!(status.code(), Code::PermissionDenied);

    let read = chat
        .get(&admin, &conversation.id)
        .await
        .expect("admin reads it");
    assert_eq!(read.id, conversation.id);
    let page = chat
        .messages(&admin, &conversation.id, 0, "")
        .await
        .expect("messages");
    assert_eq!(page.messages[0].text, "Something rude");
    let status = chat
        .send(&admin, &conversation.id, "hi")
        .await
        .expect_err("admins only read");
    assert_eq!(status.code(), Code::NotFound);
}
