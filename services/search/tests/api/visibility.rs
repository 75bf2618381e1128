//! Which snapshots the index follows: hidden gigs disappear, older and repeated snapshots
//! change nothing, and an unreadable one is dead-lettered.

use gigmesh_events::PollOutcome;
use gigmesh_proto::gigs::TOPIC as GIGS_TOPIC;
use gigmesh_proto::gigs::{GigState, ModerationState};
use gigmesh_testing::{Backend, publish_envelope};

use crate::support::{TestSearch, gig};

gigmesh_testing::on_sqlite_and_postgres!(
    hidden_gigs_disappear_and_old_or_repeated_snapshots_do_nothing
);

async fn hidden_gigs_disappear_and_old_or_repeated_snapshots_do_nothing(backend: Backend) {
    let mut search = TestSearch::start(backend).await;
    let mut paused = gig("Podcast editing", "audio", "editing");
    let mut deleted = gig("Podcast intro music", "audio", "music");
    let mut suspended = gig("Podcast cover art", "design", "covers");
    for gig in [&paused, &deleted, &suspended] {
        search.apply(gig, 1).await;
    }
    assert_eq!(search.titles("podcast").await.len(), 3);

    paused.state = GigState::Paused as i32;
    deleted.state = GigState::Deleted as i32;
    suspended.moderation_state = ModerationState::Suspended as i32;
    search.apply(&paused, 2).await;
    assert_eq!(search.titles("podcast").await.len(), 2);
    search.apply(&deleted, 2).await;
    search.apply(&suspended, 2).await;
    assert!(search.titles("podcast").await.is_empty());

    // An older snapshot (the active version 1) arriving late is ignored.
    let mut stale = paused.clone();
    stale.state = GigState::Active as i32;
    search.apply(&stale, 1).await;
    assert!(search.titles("podcast").await.is_empty());

    // Resumed with a newer version, renamed.
    let mut resumed = stale.clone();
    resumed.title = "Podcast editing and mixing".to_owned();
    search.apply(&resumed, 3).await;
    assert_eq!(
        search.titles("podcast").await,
        ["Podcast editing and mixing"]
    );

    // The same event delivered twice is applied once.
    let mut renamed = resumed.clone();
    renamed.title = "Podcast mastering".to_owned();
    let envelope = search.publish(&renamed, 4).await;
    publish_envelope(&search.deps.bus(), GIGS_TOPIC, &envelope).await;
    let outcomes = search.consume().await;
    assert!(
        matches!(
            outcomes.as_slice(),
            [PollOutcome::Handled { .. }, PollOutcome::Duplicate { .. }]
        ),
        "{outcomes:?}"
    );
    assert_eq!(search.titles("podcast").await, ["Podcast mastering"]);

    // A snapshot without a valid gig id is dead-lettered; the consumer moves on.
    let mut broken = gig("Broken", "audio", "editing");
    broken.id = "not-a-uuid".to_owned();
    search.publish(&broken, 1).await;
    let outcomes = search.consume().await;
    assert!(
        matches!(outcomes.as_slice(), [PollOutcome::DeadLettered { .. }]),
        "{outcomes:?}"
    );
}
