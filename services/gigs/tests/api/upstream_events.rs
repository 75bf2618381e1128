//! Seller summaries, suspensions and ratings kept from the users and reviews services'
//! events, each change emitting the affected gigs again.

use gigmesh_events::PollOutcome;
use gigmesh_gigs::Config;
use gigmesh_proto::gigs::GigChange;
use gigmesh_proto::gigs::get_gig_request::Gig as GigKey;
use gigmesh_proto::reviews::RatingsChanged;
use gigmesh_proto::reviews::TOPIC as REVIEWS_TOPIC;
use gigmesh_proto::users::TOPIC as USERS_TOPIC;
use gigmesh_proto::users::{Language, Proficiency, ProfileChanged, PublicProfile};
use gigmesh_testing::Backend;
use tonic::Code;
use uuid::Uuid;

use crate::gigs_per_seller::capped_at_three;
use crate::support::{TestGigs, changes, complete_gig, ids};

gigmesh_testing::on_sqlite_and_postgres!(
    seller_summaries_come_from_profile_events,
    a_suspended_sellers_gigs_are_hidden_from_buyers,
    ratings_come_from_review_events,
    re_emissions_skip_deleted_gigs_and_unchanged_snapshots,
    re_emissions_never_exceed_the_cap,
);

fn profile_changed(user_id: &str, display_name: &str) -> ProfileChanged {
    ProfileChanged {
        profile: Some(PublicProfile {
            user_id: user_id.to_owned(),
            username: "ada".to_owned(),
            display_name: display_name.to_owned(),
            bio: "Builds engines.".to_owned(),
            country: "GB".to_owned(),
            languages: vec![
                Language {
                    code: "en".to_owned(),
                    proficiency: Proficiency::Native as i32,
                },
                Language {
                    code: "fr".to_owned(),
                    proficiency: Proficiency::Fluent as i32,
                },
            ],
            avatar_url: "https://cdn.example.com/ada.png".to_owned(),
            is_seller: true,
            seller: None,
            create_time: None,
        }),
        suspended: false,
    }
}

async fn seller_summaries_come_from_profile_events(backend: Backend) {
    let mut gigs = TestGigs::start(backend).await;
    let seller = gigs.seller();
    let first = gigs
        .published_gig(&seller, "I will tune your PostgreSQL")
        .await;
    let second = gigs
        .create(&seller, complete_gig("I will migrate your database"))
        .await
        .expect("draft");
    let deleted = gigs.published_gig(&seller, "I will be deleted soon").await;
    gigs.delete(&seller, &deleted.id).await.expect("delete");
    gigs.emitted().await;

    let envelope = gigmesh_testing::publish_event(
        &gigs.bus,
        &seller.user_id,
        &profile_changed(&seller.user_id, "Ada Lovelace"),
    )
    .await;
    gigmesh_testing::publish_envelope(&gigs.bus, USERS_TOPIC, &envelope).await;
    let outcomes = gigs.consume().await;
    assert!(
        matches!(
            outcomes.as_slice(),
            [PollOutcome::Handled { .. }, PollOutcome::Duplicate { .. }]
        ),
        "{outcomes:?}"
    );

    let page = gigs
        .get(None, GigKey::GigId(first.id.clone()))
        .await
        .expect("public gig");
    let summary = page.seller.expect("seller summary");
    assert_eq!(summary.user_id, seller.user_id);
    assert_eq!(summary.display_name, "Ada Lovelace");
    assert_eq!(summary.username, "ada");
    assert_eq!(summary.country, "GB");
    assert_eq!(summary.languages, ["en", "fr"]);
    assert_eq!(summary.avatar_url, "https://cdn.example.com/ada.png");

    // Every live gig is emitted again, once, with the summary; the deleted one is not.
    let emitted = gigs.emitted().await;
    assert_eq!(
        changes(&emitted),
        [GigChange::SellerUpdated, GigChange::SellerUpdated]
    );
    let mut keys: Vec<String> = emitted.iter().map(|(key, _)| key.clone()).collect();
    keys.sort();
    let mut expected = vec![first.id.clone(), second.id.clone()];
    expected.sort();
    assert_eq!(keys, expected);
    for (key, event) in &emitted {
        let snapshot = event.gig.as_ref().expect("snapshot");
        assert_eq!(
            snapshot.seller.as_ref().expect("seller").display_name,
            "Ada Lovelace"
        );
        let previous_version = if *key == first.id { 2 } else { 1 };
        assert_eq!(event.version, previous_version + 1, "{key}");
    }

    // The same profile again (a new event id) changes nothing and emits nothing.
    gigmesh_testing::publish_event(
        &gigs.bus,
        &seller.user_id,
        &profile_changed(&seller.user_id, "Ada Lovelace"),
    )
    .await;
    gigs.consume().await;
    assert!(gigs.emitted().await.is_empty());

    // Profiles of users who are not sellers are not kept.
    let buyer_id = Uuid::now_v7().to_string();
    let mut buyer_profile = profile_changed(&buyer_id, "Just Buying");
    if let Some(profile) = buyer_profile.profile.as_mut() {
        profile.is_seller = false;
    }
    gigmesh_testing::publish_event(&gigs.bus, &buyer_id, &buyer_profile).await;
    let outcomes = gigs.consume().await;
    assert!(
        matches!(outcomes.as_slice(), [PollOutcome::Handled { .. }]),
        "{outcomes:?}"
    );

    // Gigs created later carry the summary from the start.
    let later = gigs
        .create(&seller, complete_gig("I will index your slow queries"))
        .await
        .expect("create");
    assert_eq!(later.seller.expect("seller").display_name, "Ada Lovelace");
}

async fn a_suspended_sellers_gigs_are_hidden_from_buyers(backend: Backend) {
    let mut gigs = TestGigs::start(backend).await;
    let seller = gigs.seller();
    let buyer = gigs.buyer();
    let admin = gigs.admin();
    let gig = gigs
        .published_gig(&seller, "I will shoot your product photos")
        .await;
    gigs.save(&buyer, &gig.id).await.expect("save");

    let mut suspension = profile_changed(&seller.user_id, "Ada");
    suspension.suspended = true;
    gigmesh_testing::publish_event(&gigs.bus, &seller.user_id, &suspension).await;
    gigs.consume().await;

    let status = gigs
        .get(Some(&buyer), GigKey::GigId(gig.id.clone()))
        .await
        .expect_err("hidden");
    assert_eq!(status.code(), Code::NotFound);
    for viewer in [&seller, &admin] {
        gigs.get(Some(viewer), GigKey::GigId(gig.id.clone()))
            .await
            .expect("owner and admins still see it");
    }
    let (listed, _) = gigs
        .seller_gigs(&seller.user_id, 0, "")
        .await
        .expect("list");
    assert!(listed.is_empty());
    let (saved, _) = gigs.saved(&buyer, 0, "").await.expect("saved");
    assert!(saved.is_empty());
    let status = gigs.save(&gigs.buyer(), &gig.id).await.expect_err("hidden");
    assert_eq!(status.code(), Code::NotFound);

    let lifted = profile_changed(&seller.user_id, "Ada");
    gigmesh_testing::publish_event(&gigs.bus, &seller.user_id, &lifted).await;
    gigs.consume().await;
    gigs.get(Some(&buyer), GigKey::GigId(gig.id.clone()))
        .await
        .expect("visible again");
    let (saved, _) = gigs.saved(&buyer, 0, "").await.expect("saved");
    assert_eq!(ids(&saved), [gig.id.as_str()]);
}

async fn ratings_come_from_review_events(backend: Backend) {
    let mut gigs = TestGigs::start(backend).await;
    let seller = gigs.seller();
    let rated = gigs
        .published_gig(&seller, "I will animate your logo")
        .await;
    let other = gigs
        .published_gig(&seller, "I will design your banner")
        .await;
    gigs.emitted().await;

    let event = RatingsChanged {
        gig_id: rated.id.clone(),
        gig_rating: 4.5,
        gig_rating_count: 2,
        seller_id: seller.user_id.clone(),
        seller_rating: 4.75,
        seller_rating_count: 4,
    };
    let envelope = gigmesh_testing::publish_event(&gigs.bus, &rated.id, &event).await;
    gigmesh_testing::publish_envelope(&gigs.bus, REVIEWS_TOPIC, &envelope).await;
    let outcomes = gigs.consume().await;
    assert!(
        matches!(
            outcomes.as_slice(),
            [PollOutcome::Handled { .. }, PollOutcome::Duplicate { .. }]
        ),
        "{outcomes:?}"
    );

    let page = gigs
        .get(None, GigKey::GigId(rated.id.clone()))
        .await
        .expect("rated gig");
    assert_eq!(page.rating, 4.5);
    assert_eq!(page.rating_count, 2);
    let summary = page.seller.expect("seller");
    assert_eq!(summary.rating, 4.75);
    assert_eq!(summary.rating_count, 4);
    let page = gigs
        .get(None, GigKey::GigId(other.id.clone()))
        .await
        .expect("other gig");
    assert_eq!(page.rating, 0.0);
    assert_eq!(page.seller.expect("seller").rating, 4.75);

    let emitted = gigs.emitted().await;
    let by_gig: Vec<(String, GigChange, i64)> = emitted
        .iter()
        .map(|(key, event)| {
            (
                key.clone(),
                GigChange::try_from(event.change).expect("change"),
                event.version,
            )
        })
        .collect();
    assert_eq!(
        by_gig,
        [
            (rated.id.clone(), GigChange::Updated, 3),
            (other.id.clone(), GigChange::SellerUpdated, 3),
        ]
    );
    let snapshot = emitted[0].1.gig.as_ref().expect("snapshot");
    assert_eq!(snapshot.rating, 4.5);
    assert_eq!(snapshot.seller.as_ref().expect("seller").rating, 4.75);

    // A profile arriving after the ratings keeps them.
    gigmesh_testing::publish_event(
        &gigs.bus,
        &seller.user_id,
        &profile_changed(&seller.user_id, "Ada"),
    )
    .await;
    gigs.consume().await;
    let page = gigs
        .get(None, GigKey::GigId(other.id.clone()))
        .await
        .expect("other gig");
    let summary = page.seller.expect("seller");
    assert_eq!(summary.display_name, "Ada");
    assert_eq!(summary.rating, 4.75);

    // A malformed event is dead-lettered and the consumer moves on.
    let broken = RatingsChanged {
        gig_id: "not-a-uuid".to_owned(),
        ..RatingsChanged::default()
    };
    gigmesh_testing::publish_event(&gigs.bus, "not-a-uuid", &broken).await;
    let outcomes = gigs.consume().await;
    assert!(
        matches!(outcomes.as_slice(), [PollOutcome::DeadLettered { .. }]),
        "{outcomes:?}"
    );
}

/// The ids of the emitted gigs, sorted.
fn sorted_keys(emitted: &[(String, gigmesh_proto::gigs::GigChanged)]) -> Vec<String> {
    let mut keys: Vec<String> = emitted.iter().map(|(key, _)| key.clone()).collect();
    keys.sort();
    keys
}

async fn re_emissions_skip_deleted_gigs_and_unchanged_snapshots(backend: Backend) {
    let mut gigs = TestGigs::start_with(backend, capped_at_three()).await;
    let seller = gigs.seller();
    let published = gigs
        .published_gig(&seller, "I will edit your podcast")
        .await;
    let paused = gigs.published_gig(&seller, "I will score your film").await;
    gigs.pause(&seller, &paused.id).await.expect("pause");
    let deleted = gigs.published_gig(&seller, "I will be gone").await;
    gigs.delete(&seller, &deleted.id).await.expect("delete");
    let draft = gigs
        .create(&seller, complete_gig("I will narrate your audiobook"))
        .await
        .expect("draft");
    gigs.emitted().await;

    // A new display name changes every live snapshot: the active, paused and draft gigs are
    // emitted once each (a draft's snapshot is what it is published with later), the
    // deleted one is not.
    gigmesh_testing::publish_event(
        &gigs.bus,
        &seller.user_id,
        &profile_changed(&seller.user_id, "Ada Lovelace"),
    )
    .await;
    gigs.consume().await;
    let emitted = gigs.emitted().await;
    assert_eq!(changes(&emitted), [GigChange::SellerUpdated; 3]);
    let mut expected = vec![published.id.clone(), paused.id.clone(), draft.id.clone()];
    expected.sort();
    assert_eq!(sorted_keys(&emitted), expected);

    // A suspension changes what buyers are answered but nothing a snapshot carries: nothing
    // is emitted, and the gigs are hidden all the same.
    let mut suspension = profile_changed(&seller.user_id, "Ada Lovelace");
    suspension.suspended = true;
    gigmesh_testing::publish_event(&gigs.bus, &seller.user_id, &suspension).await;
    gigs.consume().await;
    assert!(gigs.emitted().await.is_empty());
    let status = gigs
        .get(None, GigKey::GigId(published.id.clone()))
        .await
        .expect_err("hidden");
    assert_eq!(status.code(), Code::NotFound);

    // Lifting it, or changing what gig pages do not show (the bio), emits nothing either.
    let mut lifted = profile_changed(&seller.user_id, "Ada Lovelace");
    if let Some(profile) = lifted.profile.as_mut() {
        profile.bio = "Builds analytical engines.".to_owned();
    }
    gigmesh_testing::publish_event(&gigs.bus, &seller.user_id, &lifted).await;
    gigs.consume().await;
    assert!(gigs.emitted().await.is_empty());
    gigs.get(None, GigKey::GigId(published.id.clone()))
        .await
        .expect("visible again");
}

async fn re_emissions_never_exceed_the_cap(backend: Backend) {
    let mut gigs = TestGigs::start(backend).await;
    let seller = gigs.seller();
    let draft = gigs
        .create(&seller, complete_gig("I will draft your contract"))
        .await
        .expect("draft");
    let older = gigs
        .published_gig(&seller, "I will proofread your thesis")
        .await;
    let newer = gigs
        .published_gig(&seller, "I will translate your thesis")
        .await;
    gigs.emitted().await;

    // The cap is lowered below what the seller already has: their gigs stay, new ones are
    // refused, and a re-emission stops at the cap, public gigs first.
    let config = Config {
        max_gigs_per_seller: 2,
        ..Config::default()
    };
    let mut gigs = gigs.restart_with(config).await;

    gigmesh_testing::publish_event(
        &gigs.bus,
        &seller.user_id,
        &profile_changed(&seller.user_id, "Ada Lovelace"),
    )
    .await;
    gigs.consume().await;
    let emitted = gigs.emitted().await;
    assert_eq!(changes(&emitted), [GigChange::SellerUpdated; 2]);
    let mut expected = vec![older.id.clone(), newer.id.clone()];
    expected.sort();
    assert_eq!(
        sorted_keys(&emitted),
        expected,
        "not the draft {}",
        draft.id
    );

    // A rating that changes the seller's rating: the rated gig and the others, together at
    // most the cap.
    let event = RatingsChanged {
        gig_id: older.id.clone(),
        gig_rating: 5.0,
        gig_rating_count: 1,
        seller_id: seller.user_id.clone(),
        seller_rating: 5.0,
        seller_rating_count: 1,
    };
    gigmesh_testing::publish_event(&gigs.bus, &older.id, &event).await;
    gigs.consume().await;
    let emitted = gigs.emitted().await;
    let by_gig: Vec<(String, GigChange)> = emitted
        .iter()
        .map(|(key, event)| {
            (
                key.clone(),
                GigChange::try_from(event.change).expect("change"),
            )
        })
        .collect();
    assert_eq!(
        by_gig,
        [
            (older.id.clone(), GigChange::Updated),
            (newer.id.clone(), GigChange::SellerUpdated),
        ]
    );

    let status = gigs
        .create(&seller, complete_gig("I will not fit"))
        .await
        .expect_err("over the lowered cap");
    assert_eq!(status.code(), Code::FailedPrecondition, "{status:?}");
}
