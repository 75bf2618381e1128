//! The cap on a seller's gigs (`max_gigs_per_seller`): creating beyond it is refused, naming
//! the limit; deleting a gig frees a place; concurrent creates at the edge never exceed it.

use gigmesh_gigs::{App, Config};
use gigmesh_proto::gigs::CreateGigRequest;
use gigmesh_runtime::Service as _;
use gigmesh_testing::{Backend, TestDeps, signed_in};
use tonic::Code;

use crate::support::{TestGigs, complete_gig};

gigmesh_testing::on_sqlite_and_postgres!(
    creating_beyond_the_cap_is_refused_until_a_gig_is_deleted,
    concurrent_creates_at_the_cap_do_not_exceed_it,
    a_zero_cap_is_refused_before_the_service_is_built,
);

/// The test config: a cap of 3 gigs per seller.
pub fn capped_at_three() -> Config {
    Config {
        max_gigs_per_seller: 3,
        ..Config::default()
    }
}

async fn creating_beyond_the_cap_is_refused_until_a_gig_is_deleted(backend: Backend) {
    let mut gigs = TestGigs::start_with(backend, capped_at_three()).await;
    let seller = gigs.seller();
    let published = gigs
        .published_gig(&seller, "I will write your API docs")
        .await;
    for title in ["I will review your schema", "I will profile your queries"] {
        gigs.create(&seller, complete_gig(title))
            .await
            .expect("below the cap");
    }

    let status = gigs
        .create(&seller, complete_gig("I will be one too many"))
        .await
        .expect_err("the fourth gig is over the cap");
    assert_eq!(status.code(), Code::FailedPrecondition, "{status:?}");
    assert!(
        status.message().contains("at most 3 gigs"),
        "the message names the limit: {status:?}"
    );

    // The cap is per seller.
    let other_seller = gigs.seller();
    gigs.create(&other_seller, complete_gig("I will paint your portrait"))
        .await
        .expect("another seller has places of their own");

    // A deleted gig no longer counts.
    gigs.delete(&seller, &published.id).await.expect("delete");
    gigs.create(&seller, complete_gig("I will take the freed place"))
        .await
        .expect("deleting freed a place");
    let status = gigs
        .create(&seller, complete_gig("I will be one too many again"))
        .await
        .expect_err("full again");
    assert_eq!(status.code(), Code::FailedPrecondition, "{status:?}");
    let (mine, _) = gigs.my_gigs(&seller, 0, "").await.expect("my gigs");
    assert_eq!(mine.len(), 3);
}

async fn concurrent_creates_at_the_cap_do_not_exceed_it(backend: Backend) {
    let mut gigs = TestGigs::start_with(backend, capped_at_three()).await;
    let seller = gigs.seller();
    for title in ["I will tune your cache", "I will shard your tables"] {
        gigs.create(&seller, complete_gig(title))
            .await
            .expect("below the cap");
    }

    let mut creates = tokio::task::JoinSet::new();
    for n in 0..6 {
        let mut client = gigs.client.clone();
        let request = signed_in(
            &seller.token,
            CreateGigRequest {
                gig: Some(complete_gig(&format!("I will race for the last place {n}"))),
            },
        );
        creates.spawn(async move { client.create_gig(request).await });
    }
    let mut created = 0;
    while let Some(result) = creates.join_next().await {
        match result.expect("task") {
            Ok(_) => created += 1,
            Err(status) => assert_eq!(status.code(), Code::FailedPrecondition, "{status:?}"),
        }
    }
    assert_eq!(created, 1, "exactly one create takes the last place");
    let (mine, _) = gigs.my_gigs(&seller, 0, "").await.expect("my gigs");
    assert_eq!(mine.len(), 3);
}

/// `Service::build` checks the settings before it migrates or assembles anything, and names
/// the key and its variable.
async fn a_zero_cap_is_refused_before_the_service_is_built(backend: Backend) {
    let deps = TestDeps::new(backend).await;
    let config = Config {
        max_gigs_per_seller: 0,
        ..Config::default()
    };
    let Err(error) = App::build(deps.service_deps(), config).await else {
        panic!("a zero cap was accepted");
    };
    let message = format!("{error:#}");
    assert!(
        message.contains(
            "gigs.settings.max_gigs_per_seller (GIGMESH__GIGS__SETTINGS__MAX_GIGS_PER_SELLER)"
        ),
        "{message}"
    );
    let migrated: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM _sqlx_migrations")
        .fetch_one(deps.db().pool())
        .await
        .unwrap_or(0);
    assert_eq!(
        migrated, 0,
        "nothing is migrated before the settings are valid"
    );
}
