//! One live stream per client: both participants' streams get messages, read receipts and
//! offers; a stream starts with a heartbeat carrying its position and resumes from any
//! event id without gaps or repeats; another user's token is refused; a stream never shows
//! another user's events; it ends cleanly at shutdown and at once when its session is
//! revoked; open streams make their users "online now".

use std::time::Duration;

use gigmesh_chat::Config;
use gigmesh_proto::chat::chat_event::Kind;
use gigmesh_proto::chat::{CustomOfferState, GetPresenceRequest};
use gigmesh_testing::{Backend, signed_in, violated_fields};
use tonic::Code;

use crate::support::{STREAM_WAIT, TestChat, is_heartbeat, next_any, next_event};

gigmesh_testing::on_sqlite_and_postgres!(
    both_streams_get_messages_receipts_and_offers,
    a_resumed_stream_loses_nothing_and_repeats_nothing,
    resume_tokens_of_others_or_too_old_are_refused,
    an_idle_stream_gets_heartbeats_and_never_another_users_events,
    a_revoked_session_ends_its_stream_at_once,
    shutdown_ends_streams_cleanly,
    open_streams_make_their_users_online,
    presence_holds_many_users_at_once,
);

async fn both_streams_get_messages_receipts_and_offers(backend: Backend) {
    let mut chat = TestChat::start(backend).await;
    let buyer = chat.buyer();
    let seller = chat.seller();
    let mut buyer_stream = chat.stream(&buyer, "").await.expect("buyer stream");
    let mut seller_stream = chat.stream(&seller, "").await.expect("seller stream");
    let first = next_any(&mut buyer_stream).await;
    assert!(
        is_heartbeat(&first) && !first.event_id.is_empty(),
        "{first:?}"
    );

    let (gig, conversation) = chat.inquiry(&buyer, &seller).await;
    for stream in [&mut buyer_stream, &mut seller_stream] {
        match next_event(stream).await.kind {
            Some(Kind::ConversationStarted(started)) => assert_eq!(started.id, conversation.id),
            other => panic!("expected the conversation, got {other:?}"),
        }
    }
    let sent = chat
        .send(
            &buyer,
            &conversation.id,
            "Can you do it by Friday? mail: a@b.co",
        )
        .await
        .expect("send");
    for (stream, warned) in [(&mut seller_stream, true), (&mut buyer_stream, false)] {
        match next_event(stream).await.kind {
            Some(Kind::MessageSent(message)) => {
                assert_eq!(message.id, sent.id);
                assert_eq!(!message.warning.is_empty(), warned, "{message:?}");
            }
            other => panic!("expected the message, got {other:?}"),
        }
    }
    chat.mark_read(&seller, &conversation.id, &sent.id)
        .await
        .expect("read");
    match next_event(&mut buyer_stream).await.kind {
        Some(Kind::ReadReceipt(receipt)) => {
            assert_eq!(receipt.reader_id, seller.user_id);
            assert_eq!(receipt.message_id, sent.id);
        }
        other => panic!("expected a read receipt, got {other:?}"),
    }
    next_event(&mut seller_stream).await;

    let offer = chat
        .offer(&seller, &conversation.id, &gig.id, 9_900, 24)
        .await
        .expect("offer")
        .custom_offer
        .expect("offer");
    match next_event(&mut buyer_stream).await.kind {
        Some(Kind::MessageSent(message)) => {
            assert_eq!(message.custom_offer.expect("offer").id, offer.id);
        }
        other => panic!("expected the offer's message, got {other:?}"),
    }
    chat.accept(&buyer, &offer.id).await.expect("accept");
    next_event(&mut seller_stream).await;
    match next_event(&mut seller_stream).await.kind {
        Some(Kind::CustomOfferChanged(changed)) => {
            assert_eq!(changed.state(), CustomOfferState::Accepted);
            assert!(!changed.order_id.is_empty());
        }
        other => panic!("expected the accepted offer, got {other:?}"),
    }
}

async fn a_resumed_stream_loses_nothing_and_repeats_nothing(backend: Backend) {
    let mut chat = TestChat::start(backend).await;
    let buyer = chat.buyer();
    let seller = chat.seller();
    let (_, conversation) = chat.inquiry(&buyer, &seller).await;
    let mut stream = chat.stream(&seller, "").await.expect("stream");
    let start = next_any(&mut stream).await;
    let mut sent = Vec::new();
    for n in 0..3 {
        sent.push(
            chat.send(&buyer, &conversation.id, &format!("before {n}"))
                .await
                .expect("send")
                .id,
        );
    }
    let mut received = Vec::new();
    let mut last_event_id = String::new();
    for _ in 0..2 {
        let event = next_event(&mut stream).await;
        last_event_id = event.event_id.clone();
        if let Some(Kind::MessageSent(message)) = event.kind {
            received.push(message.id);
        }
    }
    drop(stream);
    for n in 0..3 {
        sent.push(
            chat.send(&buyer, &conversation.id, &format!("while away {n}"))
                .await
                .expect("send")
                .id,
        );
    }

    let mut resumed = chat.stream(&seller, &last_event_id).await.expect("resume");
    let heartbeat = next_any(&mut resumed).await;
    assert!(is_heartbeat(&heartbeat));
    assert_eq!(heartbeat.event_id, last_event_id, "it starts where it was");
    while received.len() < sent.len() {
        match next_event(&mut resumed).await.kind {
            Some(Kind::MessageSent(message)) => received.push(message.id),
            other => panic!("expected a message, got {other:?}"),
        }
    }
    assert_eq!(received, sent, "in order, each once");

    // Resuming from the first heartbeat's position sends everything since.
    let mut replay = chat
        .stream(&seller, &start.event_id)
        .await
        .expect("from the start");
    next_any(&mut replay).await;
    let mut replayed = Vec::new();
    while replayed.len() < sent.len() {
        if let Some(Kind::MessageSent(message)) = next_event(&mut replay).await.kind {
            replayed.push(message.id);
        }
    }
    assert_eq!(replayed, sent);
}

async fn resume_tokens_of_others_or_too_old_are_refused(backend: Backend) {
    let mut chat = TestChat::start(backend).await;
    let buyer = chat.buyer();
    let seller = chat.seller();
    let (_, conversation) = chat.inquiry(&buyer, &seller).await;
    let mut stream = chat.stream(&seller, "").await.expect("stream");
    let position = next_any(&mut stream).await.event_id;
    let status = chat
        .stream(&buyer, &position)
        .await
        .expect_err("another user's");
    assert_eq!(violated_fields(&status), ["resume_token"]);
    let status = chat
        .stream(&seller, "garbage")
        .await
        .expect_err("malformed");
    assert_eq!(violated_fields(&status), ["resume_token"]);

    chat.send(&buyer, &conversation.id, "hello")
        .await
        .expect("send");
    next_event(&mut stream).await;
    // The retention task deletes what is past its horizon.
    sqlx::query("DELETE FROM stream_events")
        .execute(chat.service_deps.db.pool())
        .await
        .expect("delete");
    let status = chat.stream(&seller, &position).await.expect_err("too old");
    assert_eq!(status.code(), Code::FailedPrecondition);
    assert!(status.message().contains("no longer kept"), "{status:?}");
}

async fn an_idle_stream_gets_heartbeats_and_never_another_users_events(backend: Backend) {
    let config = Config {
        heartbeat_interval_seconds: 1,
        ..Config::default()
    };
    let mut chat = TestChat::start_with(backend, config).await;
    let buyer = chat.buyer();
    let seller = chat.seller();
    let bystander = chat.buyer();
    let mut stream = chat.stream(&bystander, "").await.expect("stream");
    let first = next_any(&mut stream).await;
    let (_, conversation) = chat.inquiry(&buyer, &seller).await;
    chat.send(&buyer, &conversation.id, "private")
        .await
        .expect("send");
    for _ in 0..2 {
        let event = next_any(&mut stream).await;
        assert!(
            is_heartbeat(&event),
            "only heartbeats for a bystander: {event:?}"
        );
        assert_eq!(event.event_id, first.event_id, "the position has not moved");
    }
}

async fn a_revoked_session_ends_its_stream_at_once(backend: Backend) {
    let mut chat = TestChat::start(backend).await;
    let buyer = chat.buyer();
    let mut stream = chat.stream(&buyer, "").await.expect("stream");
    next_any(&mut stream).await;
    chat.service_deps
        .revoked_sessions
        .insert_all([(buyer.session_id.as_str(), i64::MAX)]);
    let status = tokio::time::timeout(Duration::from_secs(2), stream.message())
        .await
        .expect("ends at once")
        .expect_err("with a status");
    assert_eq!(status.code(), Code::Unauthenticated);
    let status = chat
        .stream(&buyer, "")
        .await
        .expect_err("no new stream either");
    assert_eq!(status.code(), Code::Unauthenticated);
}

async fn shutdown_ends_streams_cleanly(backend: Backend) {
    let mut chat = TestChat::start(backend).await;
    let buyer = chat.buyer();
    let mut stream = chat.stream(&buyer, "").await.expect("stream");
    next_any(&mut stream).await;
    chat.app().hub().close_all();
    let end = tokio::time::timeout(STREAM_WAIT, stream.message())
        .await
        .expect("ends");
    assert!(matches!(end, Ok(None)), "a clean end, status OK: {end:?}");
    chat.shut_down().await;
}

async fn open_streams_make_their_users_online(backend: Backend) {
    let mut chat = TestChat::start(backend).await;
    let buyer = chat.buyer();
    let seller = chat.seller();
    let presence = chat.app().presence();
    let ask =
        |token: &str, ids: Vec<String>| signed_in(token, GetPresenceRequest { user_ids: ids });
    let both = vec![buyer.user_id.clone(), seller.user_id.clone()];
    let mut stream = chat.stream(&seller, "").await.expect("stream");
    next_any(&mut stream).await;
    assert_eq!(presence.run_once().await.expect("presence"), 1);
    let online = chat
        .client
        .get_presence(ask(&buyer.token, both.clone()))
        .await
        .expect("presence")
        .into_inner()
        .online_user_ids;
    assert_eq!(online, [seller.user_id.as_str()]);
    let (_, conversation) = chat.inquiry(&buyer, &seller).await;
    assert!(conversation.other_online, "{conversation:?}");

    drop(stream);
    // The stream's task notices the client left, then presence forgets it.
    tokio::time::timeout(STREAM_WAIT, async {
        while chat.app().hub().open_streams() > 0 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("the stream closes");
    presence.run_once().await.expect("presence");
    let online = chat
        .client
        .get_presence(ask(&buyer.token, both))
        .await
        .expect("presence")
        .into_inner()
        .online_user_ids;
    assert!(online.is_empty(), "{online:?}");
    let too_many = (0..101).map(|_| uuid::Uuid::now_v7().to_string()).collect();
    let status = chat
        .client
        .get_presence(ask(&buyer.token, too_many))
        .await
        .expect_err("too many");
    assert_eq!(violated_fields(&status), ["user_ids"]);
}

async fn presence_holds_many_users_at_once(backend: Backend) {
    let mut chat = TestChat::start(backend).await;
    let asker = chat.buyer();
    let hub = chat.app().hub();
    let presence = chat.app().presence();
    // More users than one statement of a refresh writes.
    let users: Vec<gigmesh_types::UserId> =
        (0..1_234).map(|_| gigmesh_types::UserId::new()).collect();
    let registrations: Vec<_> = users.iter().map(|user| hub.register(*user)).collect();
    assert_eq!(presence.run_once().await.expect("presence"), users.len());
    let asked: Vec<String> = users
        .iter()
        .rev()
        .take(100)
        .map(ToString::to_string)
        .collect();
    let online = chat
        .client
        .get_presence(signed_in(
            &asker.token,
            GetPresenceRequest {
                user_ids: asked.clone(),
            },
        ))
        .await
        .expect("presence")
        .into_inner()
        .online_user_ids;
    assert_eq!(online.len(), 100);
    drop(registrations);
    assert_eq!(presence.run_once().await.expect("presence"), 0);
    let online = chat
        .client
        .get_presence(signed_in(
            &asker.token,
            GetPresenceRequest { user_ids: asked },
        ))
        .await
        .expect("presence")
        .into_inner()
        .online_user_ids;
    assert!(online.is_empty(), "{online:?}");
}
