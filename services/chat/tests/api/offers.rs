//! Custom offers: the seller of a conversation offers one of their published gigs; the
//! buyer accepts (which names the order that orders places from the event) or declines;
//! the seller withdraws before an answer; an unanswered offer expires. Each wrong party,
//! state and field gets its own code.

use gigmesh_proto::chat::{CustomOfferChange, CustomOfferChanged, CustomOfferState};
use gigmesh_testing::{Backend, violated_fields};
use tonic::Code;
use uuid::Uuid;

use crate::support::TestChat;

gigmesh_testing::on_sqlite_and_postgres!(
    an_accepted_offer_names_the_order_placed_at_its_price,
    only_the_right_party_answers_an_offer,
    an_unanswered_offer_expires,
    offers_of_gigs_not_ones_own_or_in_another_currency_are_refused,
);

async fn an_accepted_offer_names_the_order_placed_at_its_price(backend: Backend) {
    let mut chat = TestChat::start(backend).await;
    let buyer = chat.buyer();
    let seller = chat.seller();
    let (gig, conversation) = chat.inquiry(&buyer, &seller).await;
    let message = chat
        .offer(&seller, &conversation.id, &gig.id, 12_345, 0)
        .await
        .expect("offer");
    let offer = message.custom_offer.expect("the offer's message");
    assert_eq!(offer.state(), CustomOfferState::Pending);
    assert_eq!(offer.buyer_id, buyer.user_id);
    assert_eq!(offer.price.as_ref().expect("price").amount_minor, 12_345);
    let created = offer.create_time.expect("created").seconds;
    assert_eq!(
        offer.expire_time.expect("expires").seconds - created,
        72 * 3_600
    );

    // The buyer sees it in the conversation, as its latest message.
    let seen = chat.get(&buyer, &conversation.id).await.expect("buyer");
    let last = seen.last_message.expect("last message");
    assert_eq!(last.custom_offer.expect("offer").id, offer.id);

    let accepted = chat.accept(&buyer, &offer.id).await.expect("accept");
    assert_eq!(accepted.state(), CustomOfferState::Accepted);
    assert!(Uuid::parse_str(&accepted.order_id).is_ok(), "{accepted:?}");
    assert!(accepted.close_time.is_some());
    let status = chat.accept(&buyer, &offer.id).await.expect_err("twice");
    assert_eq!(status.code(), Code::FailedPrecondition);
    assert_eq!(
        status.message(),
        "the custom offer is accepted, not pending"
    );

    let changes = chat.emitted_of::<CustomOfferChanged>().await;
    let kinds: Vec<CustomOfferChange> = changes.iter().map(|c| c.change()).collect();
    assert_eq!(
        kinds,
        [CustomOfferChange::Sent, CustomOfferChange::Accepted]
    );
    let accepted_event = changes[1].offer.as_ref().expect("offer");
    assert_eq!(accepted_event.order_id, accepted.order_id);
    assert_eq!(
        accepted_event.price.as_ref().expect("price").amount_minor,
        12_345
    );
    assert_eq!(accepted_event.gig_id, gig.id);
    assert_eq!(accepted_event.delivery_days, 4);
    assert_eq!(accepted_event.revisions, 2);
}

async fn only_the_right_party_answers_an_offer(backend: Backend) {
    let mut chat = TestChat::start(backend).await;
    let buyer = chat.buyer();
    let seller = chat.seller();
    let stranger = chat.seller();
    let (gig, conversation) = chat.inquiry(&buyer, &seller).await;

    // A buyer makes no offers.
    let status = chat
        .offer(&buyer, &conversation.id, &gig.id, 5_000, 24)
        .await
        .expect_err("a buyer's offer");
    assert_eq!(status.code(), Code::PermissionDenied);
    assert_eq!(
        status.message(),
        "only the conversation's seller may send a custom offer"
    );

    let offer = chat
        .offer(&seller, &conversation.id, &gig.id, 5_000, 24)
        .await
        .expect("offer")
        .custom_offer
        .expect("offer");
    let status = chat
        .accept(&seller, &offer.id)
        .await
        .expect_err("own offer");
    assert_eq!(status.code(), Code::PermissionDenied);
    assert_eq!(
        status.message(),
        "only the buyer the offer is for may accept it"
    );
    let status = chat
        .withdraw(&buyer, &offer.id)
        .await
        .expect_err("the buyer withdraws");
    assert_eq!(status.code(), Code::PermissionDenied);
    for status in [
        chat.accept(&stranger, &offer.id)
            .await
            .expect_err("stranger"),
        chat.decline(&stranger, &offer.id)
            .await
            .expect_err("stranger"),
        chat.withdraw(&stranger, &offer.id)
            .await
            .expect_err("stranger"),
        chat.accept(&buyer, &Uuid::now_v7().to_string())
            .await
            .expect_err("unknown"),
    ] {
        assert_eq!(status.code(), Code::NotFound, "{status:?}");
    }
    let status = chat.accept(&buyer, "nope").await.expect_err("malformed");
    assert_eq!(violated_fields(&status), ["offer_id"]);

    let withdrawn = chat.withdraw(&seller, &offer.id).await.expect("withdraw");
    assert_eq!(withdrawn.state(), CustomOfferState::Withdrawn);
    let status = chat.accept(&buyer, &offer.id).await.expect_err("withdrawn");
    assert_eq!(status.code(), Code::FailedPrecondition);
    assert_eq!(
        status.message(),
        "the custom offer is withdrawn, not pending"
    );

    let second = chat
        .offer(&seller, &conversation.id, &gig.id, 7_500, 24)
        .await
        .expect("offer")
        .custom_offer
        .expect("offer");
    let declined = chat.decline(&buyer, &second.id).await.expect("decline");
    assert_eq!(declined.state(), CustomOfferState::Declined);
    assert!(declined.order_id.is_empty());
}

async fn an_unanswered_offer_expires(backend: Backend) {
    let mut chat = TestChat::start(backend).await;
    let buyer = chat.buyer();
    let seller = chat.seller();
    let (gig, conversation) = chat.inquiry(&buyer, &seller).await;
    let offer = chat
        .offer(&seller, &conversation.id, &gig.id, 5_000, 1)
        .await
        .expect("offer")
        .custom_offer
        .expect("offer");
    assert_eq!(chat.advance_and_run_timers(3_599).await.expired_offers, 0);
    chat.clock.advance_seconds(1);
    // Past its expiry it cannot be accepted, even before the timer closes it.
    let status = chat.accept(&buyer, &offer.id).await.expect_err("expired");
    assert_eq!(status.message(), "the custom offer is expired, not pending");
    assert_eq!(chat.advance_and_run_timers(0).await.expired_offers, 1);
    assert_eq!(chat.advance_and_run_timers(60).await.expired_offers, 0);
    let changes = chat.emitted_of::<CustomOfferChanged>().await;
    let kinds: Vec<CustomOfferChange> = changes.iter().map(|c| c.change()).collect();
    assert_eq!(kinds, [CustomOfferChange::Sent, CustomOfferChange::Expired]);
    let page = chat
        .messages(&buyer, &conversation.id, 0, "")
        .await
        .expect("list");
    let shown = page.messages[0].custom_offer.as_ref().expect("offer");
    assert_eq!(shown.state(), CustomOfferState::Expired);
}

async fn offers_of_gigs_not_ones_own_or_in_another_currency_are_refused(backend: Backend) {
    let mut chat = TestChat::start(backend).await;
    let buyer = chat.buyer();
    let seller = chat.seller();
    let other_seller = chat.seller();
    let (_, conversation) = chat.inquiry(&buyer, &seller).await;
    let others_gig = chat.gig_of(&other_seller).await;
    let status = chat
        .offer(&seller, &conversation.id, &others_gig.id, 5_000, 24)
        .await
        .expect_err("another seller's gig");
    assert_eq!(status.code(), Code::NotFound);

    let mut euro_gig = crate::support::gig(&seller.user_id);
    for package in &mut euro_gig.packages {
        package.price.as_mut().expect("price").currency = "EUR".to_owned();
    }
    chat.publish_gig(&euro_gig, 1).await;
    let status = chat
        .offer(&seller, &conversation.id, &euro_gig.id, 5_000, 24)
        .await
        .expect_err("USD for a EUR gig");
    assert_eq!(violated_fields(&status), ["price.currency"]);

    let mut paused = crate::support::gig(&seller.user_id);
    paused.state = gigmesh_proto::gigs::GigState::Paused as i32;
    chat.publish_gig(&paused, 1).await;
    let status = chat
        .offer(&seller, &conversation.id, &paused.id, 5_000, 24)
        .await
        .expect_err("paused");
    assert_eq!(status.code(), Code::FailedPrecondition);

    let gig = chat.gig_of(&seller).await;
    let status = chat
        .offer(&seller, &conversation.id, &gig.id, 499, 721)
        .await
        .expect_err("too cheap, too long");
    assert_eq!(
        violated_fields(&status),
        ["price.amount_minor", "expire_after_hours"]
    );
}
