//! Opening conversations and reading them: an inquiry is opened once per buyer and seller,
//! a placed order opens its own, only the two participants see one (for anyone else it
//! does not exist), and lists go by the latest activity with unread counts.

use gigmesh_proto::orders::{Order, OrderChanged, TimelineKind};
use gigmesh_testing::{Backend, violated_fields};
use tonic::Code;
use uuid::Uuid;

use crate::support::{TestChat, gig};

gigmesh_testing::on_sqlite_and_postgres!(
    an_inquiry_is_opened_once_and_only_its_participants_see_it,
    bad_starts_are_refused_with_the_reason,
    a_placed_order_opens_its_own_conversation_once,
    lists_go_by_latest_activity_with_unread_counts,
);

async fn an_inquiry_is_opened_once_and_only_its_participants_see_it(backend: Backend) {
    let mut chat = TestChat::start(backend).await;
    let buyer = chat.buyer();
    let seller = chat.seller();
    let stranger = chat.seller();
    let (gig, conversation) = chat.inquiry(&buyer, &seller).await;
    assert_eq!(conversation.buyer_id, buyer.user_id);
    assert_eq!(conversation.seller_id, seller.user_id);
    assert_eq!(conversation.gig_id, gig.id);
    assert!(conversation.order_id.is_empty());

    // A second start, about the gig or the seller, finds the same conversation.
    let again = chat.open(&buyer, "", &gig.id).await.expect("again");
    assert_eq!(again.id, conversation.id);
    let by_seller = chat
        .open(&buyer, &seller.user_id, "")
        .await
        .expect("by seller");
    assert_eq!(by_seller.id, conversation.id);
    let seen_by_seller = chat.get(&seller, &conversation.id).await.expect("seller");
    assert_eq!(seen_by_seller.id, conversation.id);

    let id = conversation.id.as_str();
    let refused = vec![
        chat.get(&stranger, id).await.map(|_| ()),
        chat.send(&stranger, id, "hello").await.map(|_| ()),
        chat.messages(&stranger, id, 0, "").await.map(|_| ()),
        chat.mark_read(&stranger, id, &Uuid::now_v7().to_string())
            .await
            .map(|_| ()),
        chat.get(&buyer, &Uuid::now_v7().to_string())
            .await
            .map(|_| ()),
    ];
    for (index, result) in refused.into_iter().enumerate() {
        let status = result.expect_err("not a participant");
        assert_eq!(status.code(), Code::NotFound, "call {index}: {status:?}");
    }
    let listed = chat.list(&stranger, 0, "").await.expect("list");
    assert!(listed.conversations.is_empty());
    // An admin reads a conversation only once it was reported.
    let admin = chat.admin();
    let status = chat.get(&admin, id).await.expect_err("not reported");
    assert_eq!(status.code(), Code::NotFound);
}

async fn bad_starts_are_refused_with_the_reason(backend: Backend) {
    let mut chat = TestChat::start(backend).await;
    let buyer = chat.buyer();
    let seller = chat.seller();
    let own_gig = chat.gig_of(&seller).await;

    let status = chat.open(&seller, "", &own_gig.id).await.expect_err("own");
    assert_eq!(status.code(), Code::FailedPrecondition);
    assert_eq!(
        status.message(),
        "you cannot start a conversation with yourself"
    );

    let status = chat
        .open(&buyer, "", &Uuid::now_v7().to_string())
        .await
        .expect_err("unknown gig");
    assert_eq!(status.code(), Code::NotFound);

    let mut draft = gig(&seller.user_id);
    draft.state = gigmesh_proto::gigs::GigState::Draft as i32;
    chat.publish_gig(&draft, 1).await;
    let status = chat.open(&buyer, "", &draft.id).await.expect_err("draft");
    assert_eq!(
        status.code(),
        Code::NotFound,
        "a draft is not shown: {status:?}"
    );

    let status = chat.open(&buyer, "", "").await.expect_err("nobody");
    assert_eq!(violated_fields(&status), ["seller_id"]);
    let status = chat
        .open(&buyer, "not-a-uuid", "nope")
        .await
        .expect_err("bad ids");
    assert_eq!(violated_fields(&status), ["seller_id", "gig_id"]);
    let other = chat.seller();
    let status = chat
        .open(&buyer, &other.user_id, &own_gig.id)
        .await
        .expect_err("not the gig's seller");
    assert_eq!(violated_fields(&status), ["seller_id"]);
    let status = chat
        .open(&buyer, &Uuid::now_v7().to_string(), "")
        .await
        .expect_err("unknown seller");
    assert_eq!(status.code(), Code::NotFound);
}

async fn a_placed_order_opens_its_own_conversation_once(backend: Backend) {
    let mut chat = TestChat::start(backend).await;
    let buyer = chat.buyer();
    let seller = chat.seller();
    let (gig, inquiry) = chat.inquiry(&buyer, &seller).await;
    let order = Order {
        id: Uuid::now_v7().to_string(),
        buyer_id: buyer.user_id.clone(),
        seller_id: seller.user_id.clone(),
        gig_id: gig.id.clone(),
        ..Order::default()
    };
    let placed = OrderChanged {
        change: TimelineKind::Placed as i32,
        order: Some(order.clone()),
        version: 1,
        ..OrderChanged::default()
    };
    let paid = OrderChanged {
        change: TimelineKind::Paid as i32,
        order: Some(order.clone()),
        version: 2,
        ..OrderChanged::default()
    };
    for event in [&placed, &placed, &paid] {
        gigmesh_testing::publish_event(&chat.bus, &order.id, event).await;
    }
    chat.consume().await;

    for user in [&buyer, &seller] {
        let listed = chat.list(user, 0, "").await.expect("list");
        let ids: Vec<&str> = listed
            .conversations
            .iter()
            .map(|c| c.order_id.as_str())
            .collect();
        assert_eq!(
            ids,
            [order.id.as_str(), ""],
            "the order's, then the inquiry"
        );
    }
    let order_conversation = chat.list(&buyer, 1, "").await.expect("list").conversations[0].clone();
    assert_ne!(order_conversation.id, inquiry.id);
    assert_eq!(order_conversation.gig_id, gig.id);
    chat.send(&seller, &order_conversation.id, "Thanks for your order!")
        .await
        .expect("the seller writes in the order's conversation");
}

async fn lists_go_by_latest_activity_with_unread_counts(backend: Backend) {
    let mut chat = TestChat::start(backend).await;
    let buyer = chat.buyer();
    let first_seller = chat.seller();
    let second_seller = chat.seller();
    let (_, first) = chat.inquiry(&buyer, &first_seller).await;
    chat.clock.advance_seconds(1);
    let (_, second) = chat.inquiry(&buyer, &second_seller).await;

    chat.clock.advance_seconds(1);
    chat.send(&buyer, &first.id, "Is this still available?")
        .await
        .expect("send");
    chat.clock.advance_seconds(1);
    let reply = chat
        .send(&first_seller, &first.id, "Yes!")
        .await
        .expect("reply");
    chat.clock.advance_seconds(1);
    let last = chat
        .send(&first_seller, &first.id, "When do you need it?")
        .await
        .expect("reply");

    let listed = chat.list(&buyer, 0, "").await.expect("list");
    let ids: Vec<&str> = listed.conversations.iter().map(|c| c.id.as_str()).collect();
    assert_eq!(ids, [first.id.as_str(), second.id.as_str()]);
    assert_eq!(listed.conversations[0].unread_count, 2);
    assert_eq!(
        listed.conversations[0]
            .last_message
            .as_ref()
            .expect("last")
            .id,
        last.id
    );
    assert_eq!(listed.total_unread_count, 2);
    // Paged, one at a time.
    let page = chat.list(&buyer, 1, "").await.expect("page 1");
    assert_eq!(page.conversations[0].id, first.id);
    let page = chat
        .list(&buyer, 1, &page.next_page_token)
        .await
        .expect("page 2");
    assert_eq!(page.conversations[0].id, second.id);
    assert!(page.next_page_token.is_empty());

    // Reading up to the reply leaves one unread; the read position never moves back.
    let read = chat
        .mark_read(&buyer, &first.id, &reply.id)
        .await
        .expect("read");
    assert_eq!(read.unread_count, 1);
    assert_eq!(read.read_message_id, reply.id);
    let read = chat
        .mark_read(&buyer, &first.id, &last.id)
        .await
        .expect("read");
    assert_eq!(read.unread_count, 0);
    let read = chat
        .mark_read(&buyer, &first.id, &reply.id)
        .await
        .expect("not back");
    assert_eq!(read.read_message_id, last.id);
    let seller_view = chat.get(&first_seller, &first.id).await.expect("seller");
    assert_eq!(seller_view.other_read_message_id, last.id);
    assert_eq!(seller_view.unread_count, 1, "the buyer's question");
    assert_eq!(
        chat.list(&buyer, 0, "")
            .await
            .expect("list")
            .total_unread_count,
        0
    );

    // A message of another conversation cannot be marked read here.
    let elsewhere = chat.send(&buyer, &second.id, "Hi").await.expect("send");
    let status = chat
        .mark_read(&first_seller, &first.id, &elsewhere.id)
        .await
        .expect_err("another conversation's message");
    assert_eq!(status.code(), Code::NotFound);
    let status = chat.list(&buyer, -1, "x").await.expect_err("bad page");
    assert_eq!(violated_fields(&status), ["page_size", "page_token"]);
}
