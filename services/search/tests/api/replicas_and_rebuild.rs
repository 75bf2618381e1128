//! The index as derived state: rebuilt from the `gig_documents` table, and built by a new
//! replica (with its own consumer group and index directory) from the same table.

use gigmesh_proto::gigs::GigState;
use gigmesh_proto::search::search_service_client::SearchServiceClient;
use gigmesh_proto::search::{SearchGigsRequest, SortOrder};
use gigmesh_runtime::Service as _;
use gigmesh_search::{App, Config};
use gigmesh_testing::{Backend, TestServer};

use crate::support::{STEP_WAIT, TestSearch, gig, titles, with_price};

gigmesh_testing::on_sqlite_and_postgres!(
    a_rebuild_from_the_documents_table_gives_the_same_results,
    a_new_replica_builds_its_own_index_from_the_documents_table,
);

async fn a_rebuild_from_the_documents_table_gives_the_same_results(backend: Backend) {
    let mut search = TestSearch::start(backend).await;
    for number in 0..5 {
        let gig = with_price(
            gig(
                &format!("Rust service number {number}"),
                "programming",
                "backend",
            ),
            2_000 * (number + 1),
            number as i32 + 1,
        );
        search.apply(&gig, 1).await;
    }
    let mut hidden = gig("Rust service paused", "programming", "backend");
    hidden.state = GigState::Paused as i32;
    search.apply(&hidden, 1).await;

    let request = SearchGigsRequest {
        query: "rust".to_owned(),
        sort: SortOrder::PriceDescending as i32,
        ..SearchGigsRequest::default()
    };
    let before = search
        .search(request.clone())
        .await
        .expect("the call succeeds");
    search.app.index().clear().await.expect("the call succeeds");
    search
        .app
        .index()
        .commit()
        .await
        .expect("the call succeeds");
    assert_eq!(
        search
            .search(request.clone())
            .await
            .expect("the call succeeds")
            .total_size,
        0
    );

    assert_eq!(
        search.app.rebuild_index().await.expect("the call succeeds"),
        5
    );
    let after = search.search(request).await.expect("the call succeeds");
    assert_eq!(after, before);
}

async fn a_new_replica_builds_its_own_index_from_the_documents_table(backend: Backend) {
    let mut search = TestSearch::start(backend).await;
    search
        .apply(
            &gig("Wedding photo retouching", "photography", "retouching"),
            1,
        )
        .await;

    let index_dir = tempfile::tempdir().expect("index directory");
    let config = Config {
        replica_id: "replica-b".to_owned(),
        index_dir: index_dir.path().display().to_string(),
        ..Config::default()
    };
    let deps = search.deps.service_deps();
    let replica = App::build(deps.clone(), config.clone())
        .await
        .expect("build the second replica");
    let mut consumer = replica
        .gigs_events_consumer()
        .await
        .expect("consumer of the second replica");
    assert_eq!(consumer.name(), "search.gigs-events.replica-b");
    let server = TestServer::start(replica.routes(), replica.service_names()).await;
    let mut client = SearchServiceClient::new(server.channel().await);
    let request = SearchGigsRequest {
        query: "retouching".to_owned(),
        ..SearchGigsRequest::default()
    };
    let found = client
        .search_gigs(request.clone())
        .await
        .expect("the call succeeds")
        .into_inner();
    assert_eq!(titles(&found.gigs), ["Wedding photo retouching"]);

    // Its own consumer group reads every event again: the snapshot already stored by the
    // first replica leaves the table alone and still reaches this replica's index.
    let later = gig("Product photo retouching", "photography", "retouching");
    search.apply(&later, 1).await;
    let outcomes = consumer.drain(STEP_WAIT).await.expect("poll");
    assert_eq!(outcomes.len(), 2, "{outcomes:?}");
    replica
        .commit_index_changes()
        .await
        .expect("commit the index changes");
    let found = client
        .search_gigs(request.clone())
        .await
        .expect("the call succeeds")
        .into_inner();
    assert_eq!(found.total_size, 2);

    // The index directory survives a restart of the replica.
    server.stop().await;
    drop(consumer);
    drop(replica);
    let restarted = App::build(deps, config).await.expect("restart the replica");
    assert_eq!(restarted.index().count().await.expect("count"), 2);
}
