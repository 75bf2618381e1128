//! Index commits are batched: a consumed change becomes searchable when the service's
//! flusher commits it, within `index_commit_interval_seconds`, without anyone committing
//! by hand.

use std::time::Duration;

use gigmesh_events::{BackgroundTask as _, PollOutcome};
use gigmesh_proto::gigs::GigState;
use gigmesh_search::Config;
use gigmesh_testing::Backend;
use tokio_util::sync::CancellationToken;

use crate::support::{TestSearch, gig};

/// The commit interval of these tests.
const INTERVAL_SECONDS: f64 = 0.05;
/// Longest wait for a change to show in search: the promise of dev mode.
const VISIBLE_WITHIN: Duration = Duration::from_secs(1);
/// Pause between searches while waiting.
const SEARCH_PAUSE: Duration = Duration::from_millis(10);

gigmesh_testing::on_sqlite_and_postgres!(a_change_applied_alone_is_searchable_within_the_interval);

async fn a_change_applied_alone_is_searchable_within_the_interval(backend: Backend) {
    let config = Config {
        index_commit_interval_seconds: INTERVAL_SECONDS,
        ..Config::default()
    };
    let mut search = TestSearch::start_with(backend, config).await;
    let shutdown = CancellationToken::new();
    let flusher = tokio::spawn(Box::new(search.app.index_flusher()).run(shutdown.clone()));

    let mut paused = gig("Drone footage editing", "video", "editing");
    search.publish(&paused, 1).await;
    let outcomes = search.consume_uncommitted().await;
    assert!(
        matches!(outcomes.as_slice(), [PollOutcome::Handled { .. }]),
        "{outcomes:?}"
    );
    wait_for_titles(&mut search, "drone", &["Drone footage editing"]).await;

    paused.state = GigState::Paused as i32;
    search.publish(&paused, 2).await;
    assert_eq!(search.consume_uncommitted().await.len(), 1);
    wait_for_titles(&mut search, "drone", &[]).await;

    shutdown.cancel();
    flusher.await.expect("the flusher stops");
}

/// Searches `query` until the titles are `expected`, failing after [`VISIBLE_WITHIN`].
async fn wait_for_titles(search: &mut TestSearch, query: &str, expected: &[&str]) {
    let deadline = tokio::time::Instant::now() + VISIBLE_WITHIN;
    loop {
        let titles = search.titles(query).await;
        if titles == expected {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "after {VISIBLE_WITHIN:?} {query:?} finds {titles:?}, not {expected:?}"
        );
        tokio::time::sleep(SEARCH_PAUSE).await;
    }
}
