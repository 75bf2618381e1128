//! Admins approve, reject and suspend published gigs, with a reason; with required
//! reviews a published gig waits for approval.

use gigmesh_gigs::Config;
use gigmesh_proto::gigs::get_gig_request::Gig as GigKey;
use gigmesh_proto::gigs::{Gig, GigChange, GigState, ModerationAction, ModerationState};
use gigmesh_testing::{Backend, violated_fields};
use tonic::Code;

use crate::support::{TestGigs, changes, moderation, state};

gigmesh_testing::on_sqlite_and_postgres!(
    admins_moderate_with_a_reason,
    with_required_reviews_a_published_gig_waits_for_approval,
);

async fn admins_moderate_with_a_reason(backend: Backend) {
    let mut gigs = TestGigs::start(backend).await;
    let seller = gigs.seller();
    let admin = gigs.admin();
    let gig = gigs
        .published_gig(&seller, "I will translate your app to German")
        .await;

    let status = gigs
        .moderate(&seller, &gig.id, ModerationAction::Suspend, "no")
        .await
        .expect_err("not an admin");
    assert_eq!(status.code(), Code::PermissionDenied);
    for action in [ModerationAction::Reject, ModerationAction::Suspend] {
        let status = gigs
            .moderate(&admin, &gig.id, action, "  ")
            .await
            .expect_err("no reason");
        assert_eq!(violated_fields(&status), ["reason"]);
    }
    let status = gigs
        .moderate(&admin, &gig.id, ModerationAction::Unspecified, "")
        .await
        .expect_err("no action");
    assert_eq!(violated_fields(&status), ["action"]);
    let status = gigs
        .moderate(&admin, &gig.id, ModerationAction::Reject, &"x".repeat(501))
        .await
        .expect_err("long reason");
    assert_eq!(violated_fields(&status), ["reason"]);

    let rejected = gigs
        .moderate(
            &admin,
            &gig.id,
            ModerationAction::Reject,
            "machine translation",
        )
        .await
        .expect("reject");
    assert_eq!(moderation(&rejected), ModerationState::Rejected);
    assert_eq!(state(&rejected), GigState::Draft);
    assert_eq!(rejected.moderation_reason, "machine translation");
    let status = gigs
        .moderate(&admin, &gig.id, ModerationAction::Approve, "")
        .await
        .expect_err("drafts are not moderated");
    assert_eq!(status.code(), Code::FailedPrecondition);

    // The owner fixes it and publishes again.
    let fixed = Gig {
        id: gig.id.clone(),
        description: "Human translation by a native speaker.".to_owned(),
        ..Gig::default()
    };
    gigs.update(&seller, fixed, &["description"])
        .await
        .expect("edit the rejected gig");
    let republished = gigs.publish(&seller, &gig.id).await.expect("publish again");
    assert_eq!(moderation(&republished), ModerationState::Approved);
    assert_eq!(republished.moderation_reason, "");
    gigs.get(None, GigKey::GigId(gig.id.clone()))
        .await
        .expect("visible again");

    let suspended = gigs
        .moderate(&admin, &gig.id, ModerationAction::Suspend, "complaints")
        .await
        .expect("suspend");
    assert_eq!(moderation(&suspended), ModerationState::Suspended);
    assert_eq!(state(&suspended), GigState::Active);
    // Resuming and pausing does not lift a suspension.
    gigs.pause(&seller, &gig.id).await.expect("pause");
    gigs.resume(&seller, &gig.id).await.expect("resume");
    let status = gigs
        .get(None, GigKey::GigId(gig.id.clone()))
        .await
        .expect_err("still suspended");
    assert_eq!(status.code(), Code::NotFound);
    let approved = gigs
        .moderate(&admin, &gig.id, ModerationAction::Approve, "")
        .await
        .expect("approve");
    assert_eq!(moderation(&approved), ModerationState::Approved);
    gigs.get(None, GigKey::GigId(gig.id.clone()))
        .await
        .expect("visible");

    let emitted = gigs.emitted().await;
    assert!(changes(&emitted).contains(&GigChange::Moderated));
    let versions: Vec<i64> = emitted.iter().map(|(_, event)| event.version).collect();
    assert!(
        versions.windows(2).all(|pair| pair[1] == pair[0] + 1),
        "{versions:?}"
    );
}

async fn with_required_reviews_a_published_gig_waits_for_approval(backend: Backend) {
    let config = Config {
        require_review: true,
        ..Config::default()
    };
    let mut gigs = TestGigs::start_with(backend, config).await;
    let seller = gigs.seller();
    let admin = gigs.admin();
    let gig = gigs
        .published_gig(&seller, "I will mix and master your song")
        .await;
    assert_eq!(state(&gig), GigState::Active);
    assert_eq!(moderation(&gig), ModerationState::Pending);
    let status = gigs
        .get(None, GigKey::GigId(gig.id.clone()))
        .await
        .expect_err("waiting for review");
    assert_eq!(status.code(), Code::NotFound);
    let (listed, _) = gigs
        .seller_gigs(&seller.user_id, 0, "")
        .await
        .expect("list");
    assert!(listed.is_empty());

    gigs.moderate(&admin, &gig.id, ModerationAction::Approve, "")
        .await
        .expect("approve");
    gigs.get(None, GigKey::GigId(gig.id.clone()))
        .await
        .expect("visible once approved");
}
