//! A gig's lifecycle: draft, publish, pause, resume, edit and delete, each change one
//! version and one GigChanged event; completeness for publishing, slugs, and concurrent edits.

use gigmesh_proto::gigs::get_gig_request::Gig as GigKey;
use gigmesh_proto::gigs::{Extra, Gig, GigChange, GigState, ModerationState, UpdateGigRequest};
use gigmesh_testing::{Backend, signed_in};
use prost_types::FieldMask;
use tonic::Code;
use uuid::Uuid;

use crate::support::{TestGigs, changes, complete_gig, moderation, state, usd};

gigmesh_testing::on_sqlite_and_postgres!(
    a_gig_goes_through_its_lifecycle_with_increasing_versions,
    publishing_needs_a_complete_gig,
    slugs_are_unique_and_follow_the_title_until_published,
    concurrent_changes_get_one_version_each,
);

async fn a_gig_goes_through_its_lifecycle_with_increasing_versions(backend: Backend) {
    let mut gigs = TestGigs::start(backend).await;
    let seller = gigs.seller();

    let draft = gigs
        .create(&seller, complete_gig("I will build your Rust backend"))
        .await
        .expect("create");
    assert_eq!(state(&draft), GigState::Draft);
    assert_eq!(moderation(&draft), ModerationState::Pending);
    assert_eq!(draft.seller_id, seller.user_id);
    assert_eq!(draft.slug, "i-will-build-your-rust-backend");
    assert_eq!(draft.tags, ["rust", "grpc"]);
    assert!(Uuid::parse_str(&draft.extras[0].id).is_ok());
    assert!(draft.publish_time.is_none());

    let published = gigs.publish(&seller, &draft.id).await.expect("publish");
    assert_eq!(state(&published), GigState::Active);
    assert_eq!(moderation(&published), ModerationState::Approved);
    assert!(published.publish_time.is_some());

    let paused = gigs.pause(&seller, &draft.id).await.expect("pause");
    assert_eq!(state(&paused), GigState::Paused);
    let status = gigs.pause(&seller, &draft.id).await.expect_err("twice");
    assert_eq!(status.code(), Code::FailedPrecondition);
    assert!(status.message().contains("paused"), "{status:?}");

    let resumed = gigs.resume(&seller, &draft.id).await.expect("resume");
    assert_eq!(state(&resumed), GigState::Active);

    let mut edit = Gig {
        id: draft.id.clone(),
        title: "I will build your Rust backend and API".to_owned(),
        ..complete_gig("ignored")
    };
    edit.extras.push(Extra {
        id: String::new(),
        title: "Deployment".to_owned(),
        price: usd(4_000),
        extra_days: 2,
    });
    let edited = gigs
        .update(&seller, edit, &["title", "extras"])
        .await
        .expect("update");
    assert_eq!(edited.title, "I will build your Rust backend and API");
    // A published gig keeps its slug, so shared links keep working.
    assert_eq!(edited.slug, draft.slug);
    // Extras keep their id by title.
    assert_eq!(edited.extras[0].id, draft.extras[0].id);
    assert_eq!(edited.extras.len(), 2);

    gigs.delete(&seller, &draft.id).await.expect("delete");
    let status = gigs.delete(&seller, &draft.id).await.expect_err("gone");
    assert_eq!(status.code(), Code::NotFound);
    let (mine, _) = gigs.my_gigs(&seller, 0, "").await.expect("list");
    assert!(mine.is_empty());

    let emitted = gigs.emitted().await;
    assert_eq!(
        changes(&emitted),
        [
            GigChange::Created,
            GigChange::Published,
            GigChange::Paused,
            GigChange::Resumed,
            GigChange::Updated,
            GigChange::Deleted,
        ]
    );
    let versions: Vec<i64> = emitted.iter().map(|(_, event)| event.version).collect();
    assert_eq!(versions, [1, 2, 3, 4, 5, 6]);
    assert!(emitted.iter().all(|(key, _)| *key == draft.id));
    let (_, last) = emitted.last().expect("deleted event");
    let snapshot = last.gig.as_ref().expect("snapshot");
    assert_eq!(state(snapshot), GigState::Deleted);
    assert_eq!(snapshot.title, "I will build your Rust backend and API");
    assert_eq!(
        snapshot.seller.as_ref().expect("seller").user_id,
        seller.user_id
    );

    // A change that changes nothing emits nothing.
    let other = gigs
        .create(&seller, complete_gig("Another gig about Rust services"))
        .await
        .expect("create");
    gigs.emitted().await;
    let same = Gig {
        id: other.id.clone(),
        ..complete_gig("Another gig about Rust services")
    };
    gigs.update(&seller, same, &[]).await.expect("no-op update");
    assert!(gigs.emitted().await.is_empty());
}

async fn publishing_needs_a_complete_gig(backend: Backend) {
    let mut gigs = TestGigs::start(backend).await;
    let seller = gigs.seller();
    let draft = gigs
        .create(
            &seller,
            Gig {
                title: "I will make a podcast intro".to_owned(),
                ..Gig::default()
            },
        )
        .await
        .expect("a draft may be incomplete");
    let status = gigs
        .publish(&seller, &draft.id)
        .await
        .expect_err("incomplete");
    assert_eq!(status.code(), Code::FailedPrecondition);
    for missing in [
        "description",
        "category_id",
        "subcategory_id",
        "packages",
        "gallery",
    ] {
        assert!(status.message().contains(missing), "{missing}: {status:?}");
    }

    let completed = Gig {
        id: draft.id.clone(),
        ..complete_gig("I will make a podcast intro")
    };
    gigs.update(&seller, completed, &[])
        .await
        .expect("complete it");
    let published = gigs.publish(&seller, &draft.id).await.expect("publish");

    // A published gig must stay complete.
    let without_gallery = Gig {
        id: published.id.clone(),
        ..Gig::default()
    };
    let status = gigs
        .update(&seller, without_gallery, &["gallery"])
        .await
        .expect_err("must stay complete");
    assert_eq!(status.code(), Code::FailedPrecondition);
    assert!(status.message().contains("gallery"), "{status:?}");
}

async fn slugs_are_unique_and_follow_the_title_until_published(backend: Backend) {
    let mut gigs = TestGigs::start(backend).await;
    let seller = gigs.seller();
    let first = gigs
        .create(&seller, complete_gig("I will set up your CI pipeline"))
        .await
        .expect("first");
    let second = gigs
        .create(&seller, complete_gig("I will set up your CI pipeline!"))
        .await
        .expect("second");
    let third = gigs
        .create(
            &gigs.seller(),
            complete_gig("I will set up your CI pipeline"),
        )
        .await
        .expect("third");
    assert_eq!(first.slug, "i-will-set-up-your-ci-pipeline");
    assert_eq!(second.slug, "i-will-set-up-your-ci-pipeline-2");
    assert_eq!(third.slug, "i-will-set-up-your-ci-pipeline-3");

    let renamed = gigs
        .update(
            &seller,
            Gig {
                id: second.id.clone(),
                title: "I will set up GitHub Actions for you".to_owned(),
                ..Gig::default()
            },
            &["title"],
        )
        .await
        .expect("rename the draft");
    assert_eq!(renamed.slug, "i-will-set-up-github-actions-for-you");
    let found = gigs
        .get(Some(&seller), GigKey::Slug(renamed.slug.clone()))
        .await
        .expect("by slug");
    assert_eq!(found.id, second.id);
}

async fn concurrent_changes_get_one_version_each(backend: Backend) {
    let mut gigs = TestGigs::start(backend).await;
    let seller = gigs.seller();
    let gig = gigs
        .published_gig(&seller, "I will localise your mobile app")
        .await;
    gigs.emitted().await;

    let mut edits = tokio::task::JoinSet::new();
    for n in 0..4 {
        let mut client = gigs.client.clone();
        let request = signed_in(
            &seller.token,
            UpdateGigRequest {
                gig: Some(Gig {
                    id: gig.id.clone(),
                    description: format!("Edition number {n} of the description."),
                    ..Gig::default()
                }),
                update_mask: Some(FieldMask {
                    paths: vec!["description".to_owned()],
                }),
            },
        );
        edits.spawn(async move { client.update_gig(request).await });
    }
    let mut applied = 0;
    while let Some(result) = edits.join_next().await {
        match result.expect("task") {
            Ok(_) => applied += 1,
            // A writer that lost every retry is told to retry; nothing was written for it.
            Err(status) => assert_eq!(status.code(), Code::Aborted, "{status:?}"),
        }
    }
    assert!(applied >= 1);
    let versions: Vec<i64> = gigs
        .emitted()
        .await
        .iter()
        .map(|(_, event)| event.version)
        .collect();
    let expected: Vec<i64> = (3..3 + applied).collect();
    assert_eq!(versions, expected);
}
