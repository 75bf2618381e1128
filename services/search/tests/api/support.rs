//! Starts the search service the way production does (same `App`, same serving) on
//! 127.0.0.1:0 with fresh [`TestDeps`], and feeds it gigs the way production does:
//! `GigChanged` snapshots published on the gigs topic, the service's consumer stepped until
//! the topic is drained, then the index changes committed as the service's flusher would
//! within `index_commit_interval_seconds`.

use std::time::Duration;

use gigmesh_events::{Consumer, Envelope, PollOutcome};
use gigmesh_proto::gigs::{
    Gig, GigChange, GigChanged, GigState, ModerationState, Package, PackageTier, SellerSummary,
};
use gigmesh_proto::search::search_service_client::SearchServiceClient;
use gigmesh_proto::search::{GigSummary, SearchGigsRequest, SearchGigsResponse};
use gigmesh_proto::types::Money;
use gigmesh_runtime::Service as _;
use gigmesh_search::{App, Config};
use gigmesh_testing::{Backend, TestDeps, TestServer, publish_event, violated_fields};
use gigmesh_types::timestamp_from_millis;
use tonic::Status;
use tonic::transport::Channel;
use uuid::Uuid;

/// How long one consumer step waits for a record.
pub const STEP_WAIT: Duration = Duration::from_millis(300);

/// A running search service with a client, its gigs consumer and its deps.
pub struct TestSearch {
    pub client: SearchServiceClient<Channel>,
    pub consumer: Consumer,
    pub app: App,
    _server: TestServer,
    pub deps: TestDeps,
}

impl TestSearch {
    /// Builds and serves the service with the default settings on fresh deps.
    pub async fn start(backend: Backend) -> TestSearch {
        Self::start_with(backend, Config::default()).await
    }

    /// Builds and serves the service with `config` on fresh deps.
    pub async fn start_with(backend: Backend, config: Config) -> TestSearch {
        let deps = TestDeps::new(backend).await;
        let app = App::build(deps.service_deps(), config)
            .await
            .expect("build the search service");
        let consumer = app.gigs_events_consumer().await.expect("consumer");
        let server = TestServer::start(app.routes(), app.service_names()).await;
        let client = SearchServiceClient::new(server.channel().await);
        TestSearch {
            client,
            consumer,
            app,
            _server: server,
            deps,
        }
    }

    /// Publishes a snapshot as the gigs relay would and returns its envelope.
    pub async fn publish(&self, gig: &Gig, version: i64) -> Envelope {
        let event = GigChanged {
            change: GigChange::Updated as i32,
            gig: Some(gig.clone()),
            version,
        };
        publish_event(&self.deps.bus(), &gig.id, &event).await
    }

    /// Publishes a snapshot, consumes it and commits the index.
    pub async fn apply(&mut self, gig: &Gig, version: i64) {
        self.publish(gig, version).await;
        let outcomes = self.consume().await;
        assert!(
            matches!(outcomes.as_slice(), [PollOutcome::Handled { .. }]),
            "{outcomes:?}"
        );
    }

    /// Steps the consumer until the topic is drained, then commits the index changes.
    pub async fn consume(&mut self) -> Vec<PollOutcome> {
        let outcomes = self.consume_uncommitted().await;
        self.app
            .commit_index_changes()
            .await
            .expect("commit the index changes");
        outcomes
    }

    /// Steps the consumer until the topic is drained, leaving the index commit to the
    /// service.
    pub async fn consume_uncommitted(&mut self) -> Vec<PollOutcome> {
        self.consumer.drain(STEP_WAIT).await.expect("poll")
    }

    /// Calls SearchGigs.
    pub async fn search(
        &mut self,
        request: SearchGigsRequest,
    ) -> Result<SearchGigsResponse, Status> {
        self.client
            .search_gigs(request)
            .await
            .map(tonic::Response::into_inner)
    }

    /// The titles found for `query`, in order.
    pub async fn titles(&mut self, query: &str) -> Vec<String> {
        titles(
            &self
                .search(SearchGigsRequest {
                    query: query.to_owned(),
                    ..SearchGigsRequest::default()
                })
                .await
                .expect("search")
                .gigs,
        )
    }
}

/// The titles of `gigs`, in order.
pub fn titles(gigs: &[GigSummary]) -> Vec<String> {
    gigs.iter().map(|gig| gig.title.clone()).collect()
}

/// An active, approved gig with a basic package.
pub fn gig(title: &str, category: &str, subcategory: &str) -> Gig {
    Gig {
        id: Uuid::now_v7().to_string(),
        seller_id: Uuid::now_v7().to_string(),
        slug: title.to_lowercase().replace(' ', "-"),
        title: title.to_owned(),
        description: format!("{title}. Fast, friendly and with unlimited questions."),
        category_id: category.to_owned(),
        subcategory_id: subcategory.to_owned(),
        tags: Vec::new(),
        packages: vec![Package {
            tier: PackageTier::Basic as i32,
            name: "Basic".to_owned(),
            price: Some(Money {
                amount_minor: 5_000,
                currency: "USD".to_owned(),
            }),
            delivery_days: 3,
            ..Package::default()
        }],
        state: GigState::Active as i32,
        moderation_state: ModerationState::Approved as i32,
        seller: Some(SellerSummary {
            username: "ada".to_owned(),
            display_name: "Ada Lovelace".to_owned(),
            country: "GB".to_owned(),
            languages: vec!["en".to_owned()],
            ..SellerSummary::default()
        }),
        rating: 4.5,
        rating_count: 12,
        publish_time: Some(timestamp_from_millis(1_700_000_000_000)),
        ..Gig::default()
    }
}

/// `gig` with the basic package at `amount_minor` USD, delivered in `delivery_days`.
pub fn with_price(mut gig: Gig, amount_minor: i64, delivery_days: i32) -> Gig {
    let basic = &mut gig.packages[0];
    basic.price = Some(Money {
        amount_minor,
        currency: "USD".to_owned(),
    });
    basic.delivery_days = delivery_days;
    gig
}

/// Asserts that a search failed with `INVALID_ARGUMENT` naming `field`.
#[track_caller]
pub fn assert_invalid(result: Result<SearchGigsResponse, Status>, field: &str) {
    assert_status_invalid(result.map(|_| ()), field);
}

/// Asserts that a call failed with `INVALID_ARGUMENT` naming `field`.
#[track_caller]
pub fn assert_status_invalid(result: Result<(), Status>, field: &str) {
    let status = result.expect_err("the request is invalid");
    let fields = violated_fields(&status);
    assert!(
        fields.iter().any(|name| name == field),
        "{field} not in {fields:?}"
    );
}
