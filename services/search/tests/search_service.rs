//! `gigmesh.search.v1.SearchService` through gRPC on a random port, on SQLite and
//! PostgreSQL. Gigs arrive the way they do in production: `GigChanged` snapshots are
//! published to an embedded bus and the service's consumer is stepped with `poll_once`.

use std::time::Duration;

use gigmesh_auth::TokenVerifier;
use gigmesh_events::{Consumer, Envelope, PollOutcome, SharedBus};
use gigmesh_proto::gigs::TOPIC as GIGS_TOPIC;
use gigmesh_proto::gigs::{
    Gig, GigChange, GigChanged, GigState, ModerationState, Package, PackageTier, SellerSummary,
};
use gigmesh_proto::search::search_service_client::SearchServiceClient;
use gigmesh_proto::search::{
    GigSummary, ListSimilarGigsRequest, SearchGigsRequest, SearchGigsResponse, SortOrder,
    SuggestGigsRequest,
};
use gigmesh_proto::types::Money;
use gigmesh_runtime::{Service as _, ServiceDeps};
use gigmesh_search::{App, Config};
use gigmesh_testing::{Backend, TestBus, TestDatabase, TestServer};
use gigmesh_types::timestamp_from_millis;
use tonic::transport::Channel;
use tonic::{Code, Status};
use tonic_types::StatusExt as _;
use uuid::Uuid;

/// How long one consumer step waits for a record.
const STEP_WAIT: Duration = Duration::from_millis(300);

/// A running search service with its database, bus and a client.
struct TestSearch {
    client: SearchServiceClient<Channel>,
    consumer: Consumer,
    app: App,
    bus: SharedBus,
    _server: TestServer,
    _database: TestDatabase,
    _bus: TestBus,
}

impl TestSearch {
    async fn start(backend: Backend) -> TestSearch {
        let database = TestDatabase::new(backend).await;
        let test_bus = TestBus::embedded().await;
        let bus = test_bus.bus();
        let deps = ServiceDeps::new(
            database.db().clone(),
            bus.clone(),
            TokenVerifier::from_jwks(Vec::<gigmesh_proto::auth::Jwk>::new()),
        );
        let app = App::build(deps, Config::default())
            .await
            .expect("build the search service");
        let consumer = app.gigs_events_consumer().await.expect("consumer");
        let server = TestServer::start(app.routes(), app.service_names()).await;
        let client = SearchServiceClient::new(server.channel().await);
        TestSearch {
            client,
            consumer,
            app,
            bus,
            _server: server,
            _database: database,
            _bus: test_bus,
        }
    }

    /// Publishes a snapshot as the gigs relay would and returns its envelope.
    async fn publish(&self, gig: &Gig, version: i64) -> Envelope {
        let event = GigChanged {
            change: GigChange::Updated as i32,
            gig: Some(gig.clone()),
            version,
        };
        gigmesh_testing::publish_event(&self.bus, &gig.id, &event).await
    }

    /// Publishes a snapshot and consumes it.
    async fn apply(&mut self, gig: &Gig, version: i64) {
        self.publish(gig, version).await;
        let outcomes = self.consume().await;
        assert!(
            matches!(outcomes.as_slice(), [PollOutcome::Handled { .. }]),
            "{outcomes:?}"
        );
    }

    async fn consume(&mut self) -> Vec<PollOutcome> {
        self.consumer.drain(STEP_WAIT).await.expect("poll")
    }

    async fn search(&mut self, request: SearchGigsRequest) -> Result<SearchGigsResponse, Status> {
        self.client
            .search_gigs(request)
            .await
            .map(tonic::Response::into_inner)
    }

    async fn titles(&mut self, query: &str) -> Vec<String> {
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

fn titles(gigs: &[GigSummary]) -> Vec<String> {
    gigs.iter().map(|gig| gig.title.clone()).collect()
}

/// An active, approved gig with a basic package.
fn gig(title: &str, category: &str, subcategory: &str) -> Gig {
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

fn with_price(mut gig: Gig, amount_minor: i64, delivery_days: i32) -> Gig {
    let basic = &mut gig.packages[0];
    basic.price = Some(Money {
        amount_minor,
        currency: "USD".to_owned(),
    });
    basic.delivery_days = delivery_days;
    gig
}

fn assert_invalid(result: Result<SearchGigsResponse, Status>, field: &str) {
    assert_status_invalid(result.map(|_| ()), field);
}

fn assert_status_invalid(result: Result<(), Status>, field: &str) {
    let status = result.expect_err("the request is invalid");
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    let details = status.get_error_details();
    let fields: Vec<String> = details
        .bad_request()
        .map(|bad_request| {
            bad_request
                .field_violations
                .iter()
                .map(|violation| violation.field.clone())
                .collect()
        })
        .unwrap_or_default();
    assert!(
        fields.iter().any(|name| name == field),
        "{field} not in {fields:?}"
    );
}

async fn keywords_find_gigs_even_with_a_typo(backend: Backend) {
    let mut search = TestSearch::start(backend).await;
    let mut logo = gig("I will design a minimalist logo", "design", "logo-design");
    logo.tags = vec!["branding".to_owned()];
    search.apply(&logo, 1).await;
    search
        .apply(&gig("I will build your website", "programming", "web"), 1)
        .await;

    assert_eq!(
        search.titles("logo").await,
        ["I will design a minimalist logo"]
    );
    assert_eq!(
        search.titles("Branding").await,
        ["I will design a minimalist logo"]
    );
    assert_eq!(
        search.titles("websiet").await,
        ["I will build your website"]
    );
    assert_eq!(
        search.titles("minimalst").await,
        ["I will design a minimalist logo"]
    );
    assert!(search.titles("bookkeeping").await.is_empty());
    let corrected = search
        .search(SearchGigsRequest {
            query: "minimalst logp".to_owned(),
            ..SearchGigsRequest::default()
        })
        .await
        .expect("the call succeeds");
    assert_eq!(corrected.corrected_query, "minimalist logo");
    let exact = search
        .search(SearchGigsRequest {
            query: "logo".to_owned(),
            ..SearchGigsRequest::default()
        })
        .await
        .expect("the call succeeds");
    assert_eq!(exact.corrected_query, "");
    let everything = search
        .search(SearchGigsRequest::default())
        .await
        .expect("the call succeeds");
    assert_eq!(everything.total_size, 2);
}

async fn filters_combine_and_facets_match_the_results(backend: Backend) {
    let mut search = TestSearch::start(backend).await;
    let cheap = with_price(gig("Quick logo sketch", "design", "logo-design"), 1_000, 1);
    let mut good = with_price(
        gig("Professional logo package", "design", "logo-design"),
        7_500,
        5,
    );
    good.rating = 4.9;
    let mut german = with_price(
        gig("Logo in German style", "design", "logo-design"),
        6_000,
        2,
    );
    german.seller = Some(SellerSummary {
        display_name: "Grete".to_owned(),
        country: "DE".to_owned(),
        languages: vec!["de".to_owned()],
        ..SellerSummary::default()
    });
    german.rating = 4.8;
    let video = with_price(gig("Logo animation", "video", "animation"), 30_000, 10);
    for gig in [&cheap, &good, &german, &video] {
        search.apply(gig, 1).await;
    }

    let request = SearchGigsRequest {
        query: "logo".to_owned(),
        category_id: "design".to_owned(),
        min_price_minor: Some(2_000),
        max_price_minor: Some(8_000),
        max_delivery_days: 7,
        min_rating: 4.7,
        ..SearchGigsRequest::default()
    };
    let response = search
        .search(request.clone())
        .await
        .expect("the call succeeds");
    let mut found = titles(&response.gigs);
    found.sort();
    assert_eq!(found, ["Logo in German style", "Professional logo package"]);
    assert_eq!(response.total_size, 2);
    let facets = response.facets.expect("facets");
    let design = facets
        .categories
        .iter()
        .find(|facet| facet.value == "design")
        .map(|facet| facet.count);
    assert_eq!(design, Some(2));
    let price_total: i64 = facets.price_buckets.iter().map(|bucket| bucket.count).sum();
    let delivery_total: i64 = facets
        .delivery_day_buckets
        .iter()
        .map(|bucket| bucket.count)
        .sum();
    assert_eq!(price_total, 2);
    assert_eq!(delivery_total, 2);
    let fifty_to_hundred = facets
        .price_buckets
        .iter()
        .find(|bucket| bucket.from == Some(5_000))
        .expect("a 50-100 bucket");
    assert_eq!(
        (fifty_to_hundred.to, fifty_to_hundred.count),
        (Some(10_000), 2)
    );

    // Categories are counted without the category filter.
    let without_filters = search
        .search(SearchGigsRequest {
            query: "logo".to_owned(),
            category_id: "design".to_owned(),
            ..SearchGigsRequest::default()
        })
        .await
        .expect("the call succeeds");
    let mut categories: Vec<(String, i64)> = without_filters
        .facets
        .expect("facets")
        .categories
        .into_iter()
        .map(|facet| (facet.value, facet.count))
        .collect();
    categories.sort();
    assert_eq!(
        categories,
        [("design".to_owned(), 3), ("video".to_owned(), 1)]
    );
    assert_eq!(without_filters.total_size, 3);

    let germans = search
        .search(SearchGigsRequest {
            seller_countries: vec!["de".to_owned()],
            seller_languages: vec!["de".to_owned(), "fr".to_owned()],
            ..SearchGigsRequest::default()
        })
        .await
        .expect("the call succeeds");
    assert_eq!(titles(&germans.gigs), ["Logo in German style"]);
}

async fn every_sort_orders_and_pages_completely(backend: Backend) {
    let mut search = TestSearch::start(backend).await;
    let mut all_ids = Vec::new();
    for number in 0..9_i64 {
        let mut gig = with_price(
            gig(&format!("Logo design offer {number}"), "design", "logo"),
            1_000 * (number % 4 + 1),
            3,
        );
        gig.rating = 3.0 + (number % 3) as f64 * 0.5;
        gig.publish_time = Some(timestamp_from_millis(1_700_000_000_000 + number * 60_000));
        all_ids.push(gig.id.clone());
        search.apply(&gig, 1).await;
    }
    all_ids.sort();

    for sort in [
        SortOrder::Unspecified,
        SortOrder::Relevance,
        SortOrder::PriceAscending,
        SortOrder::PriceDescending,
        SortOrder::Rating,
        SortOrder::Newest,
    ] {
        let mut request = SearchGigsRequest {
            query: "logo".to_owned(),
            sort: sort as i32,
            page_size: 4,
            ..SearchGigsRequest::default()
        };
        let mut pages = Vec::new();
        loop {
            let response = search
                .search(request.clone())
                .await
                .expect("the call succeeds");
            assert_eq!(response.total_size, 9);
            pages.extend(response.gigs);
            if response.next_page_token.is_empty() {
                break;
            }
            request.page_token = response.next_page_token;
        }
        let mut ids: Vec<String> = pages.iter().map(|gig| gig.gig_id.clone()).collect();
        let whole = search
            .search(SearchGigsRequest {
                query: "logo".to_owned(),
                sort: sort as i32,
                page_size: 100,
                ..SearchGigsRequest::default()
            })
            .await
            .expect("the call succeeds");
        let whole_ids: Vec<String> = whole.gigs.iter().map(|gig| gig.gig_id.clone()).collect();
        assert_eq!(ids, whole_ids, "{sort:?}");
        ids.sort();
        assert_eq!(ids, all_ids, "{sort:?}");

        let prices: Vec<i64> = pages
            .iter()
            .map(|gig| gig.starting_price.as_ref().map_or(0, |p| p.amount_minor))
            .collect();
        let ratings: Vec<f64> = pages.iter().map(|gig| gig.rating).collect();
        let times: Vec<i64> = pages
            .iter()
            .map(|gig| gig.publish_time.as_ref().map_or(0, |t| t.seconds))
            .collect();
        match sort {
            SortOrder::PriceAscending => assert!(prices.is_sorted(), "{prices:?}"),
            SortOrder::PriceDescending => {
                assert!(prices.iter().rev().is_sorted(), "{prices:?}");
            }
            SortOrder::Rating => assert!(ratings.iter().rev().is_sorted_by(|a, b| a <= b)),
            SortOrder::Newest => assert!(times.iter().rev().is_sorted(), "{times:?}"),
            _ => {}
        }
    }

    // Without keywords, relevance lists the newest first.
    let newest = search
        .search(SearchGigsRequest::default())
        .await
        .expect("the call succeeds");
    assert_eq!(newest.gigs[0].title, "Logo design offer 8");

    // A gig published between two pages does not shift the next page.
    let first = search
        .search(SearchGigsRequest {
            sort: SortOrder::PriceAscending as i32,
            page_size: 3,
            ..SearchGigsRequest::default()
        })
        .await
        .expect("the call succeeds");
    search
        .apply(
            &with_price(gig("Logo design bargain", "design", "logo"), 1, 1),
            1,
        )
        .await;
    let second = search
        .search(SearchGigsRequest {
            sort: SortOrder::PriceAscending as i32,
            page_size: 3,
            page_token: first.next_page_token.clone(),
            ..SearchGigsRequest::default()
        })
        .await
        .expect("the call succeeds");
    let first_ids: Vec<&str> = first.gigs.iter().map(|gig| gig.gig_id.as_str()).collect();
    assert!(
        second
            .gigs
            .iter()
            .all(|gig| !first_ids.contains(&gig.gig_id.as_str()))
    );
    assert!(
        second
            .gigs
            .iter()
            .all(|gig| gig.title != "Logo design bargain")
    );
}

async fn suggestions_and_similar_gigs(backend: Backend) {
    let mut search = TestSearch::start(backend).await;
    let mut logo = gig("Logo design for startups", "design", "logo");
    logo.tags = vec!["logo".to_owned(), "minimalist".to_owned()];
    let mut close = gig("Minimalist logo for your brand", "design", "logo");
    close.tags = vec!["logo".to_owned()];
    let website = gig("Landing page in a day", "programming", "web");
    for gig in [&logo, &close, &website] {
        search.apply(gig, 1).await;
    }

    let suggestions = search
        .client
        .suggest_gigs(SuggestGigsRequest {
            prefix: "Lo".to_owned(),
            page_size: 0,
        })
        .await
        .expect("the call succeeds")
        .into_inner()
        .suggestions;
    let texts: Vec<&str> = suggestions.iter().map(|s| s.text.as_str()).collect();
    assert_eq!(texts.first(), Some(&"Logo design for startups"));
    assert!(texts.contains(&"logo"), "{texts:?}");
    assert_eq!(suggestions[0].gig_id, logo.id);

    let similar = search
        .client
        .list_similar_gigs(ListSimilarGigsRequest {
            gig_id: logo.id.clone(),
            page_size: 0,
        })
        .await
        .expect("the call succeeds")
        .into_inner()
        .gigs;
    assert_eq!(titles(&similar), ["Minimalist logo for your brand"]);

    let unknown = search
        .client
        .list_similar_gigs(ListSimilarGigsRequest {
            gig_id: Uuid::now_v7().to_string(),
            page_size: 0,
        })
        .await
        .expect_err("unknown gig");
    assert_eq!(unknown.code(), Code::NotFound);
}

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
    gigmesh_testing::publish_envelope(&search.bus, GIGS_TOPIC, &envelope).await;
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

async fn bad_input_is_invalid_argument_with_the_field(backend: Backend) {
    let mut search = TestSearch::start(backend).await;
    search
        .apply(&gig("Some gig to find", "design", "logo"), 1)
        .await;
    let base = SearchGigsRequest::default();

    let long = SearchGigsRequest {
        query: "a".repeat(201),
        ..base.clone()
    };
    assert_invalid(search.search(long).await, "query");
    let punctuation = SearchGigsRequest {
        query: "?!.,".to_owned(),
        ..base.clone()
    };
    assert_invalid(search.search(punctuation).await, "query");
    for (min, max, field) in [
        (Some(-1), None, "min_price_minor"),
        (None, Some(-5), "max_price_minor"),
        (Some(500), Some(100), "max_price_minor"),
    ] {
        let request = SearchGigsRequest {
            min_price_minor: min,
            max_price_minor: max,
            ..base.clone()
        };
        assert_invalid(search.search(request).await, field);
    }
    for rating in [-0.5, 5.5, f64::NAN] {
        let request = SearchGigsRequest {
            min_rating: rating,
            ..base.clone()
        };
        assert_invalid(search.search(request).await, "min_rating");
    }
    let sort = SearchGigsRequest {
        sort: 42,
        ..base.clone()
    };
    assert_invalid(search.search(sort).await, "sort");
    let token = SearchGigsRequest {
        page_token: "not-a-token".to_owned(),
        ..base.clone()
    };
    assert_invalid(search.search(token).await, "page_token");
    let currency = SearchGigsRequest {
        currency: "dollars".to_owned(),
        ..base.clone()
    };
    assert_invalid(search.search(currency).await, "currency");
    let country = SearchGigsRequest {
        seller_countries: vec!["Germany".to_owned()],
        ..base.clone()
    };
    assert_invalid(search.search(country).await, "seller_countries[0]");
    let negative_days = SearchGigsRequest {
        max_delivery_days: -1,
        ..base.clone()
    };
    assert_invalid(search.search(negative_days).await, "max_delivery_days");

    // A token of one search does not continue another.
    for number in 0..3 {
        search
            .apply(&gig(&format!("Another gig {number}"), "design", "logo"), 1)
            .await;
    }
    let first = search
        .search(SearchGigsRequest {
            page_size: 1,
            ..base.clone()
        })
        .await
        .expect("the call succeeds");
    assert!(!first.next_page_token.is_empty());
    let other = SearchGigsRequest {
        query: "gig".to_owned(),
        page_size: 1,
        page_token: first.next_page_token,
        ..base.clone()
    };
    assert_invalid(search.search(other).await, "page_token");

    // Page sizes: 0 is the default, too large is clamped.
    let default = search
        .search(base.clone())
        .await
        .expect("the call succeeds");
    assert_eq!(default.gigs.len(), 4);
    let clamped = search
        .search(SearchGigsRequest {
            page_size: 10_000,
            ..base.clone()
        })
        .await
        .expect("the call succeeds");
    assert_eq!(clamped.gigs.len(), 4);
    assert!(clamped.next_page_token.is_empty());

    for prefix in [String::new(), "   ".to_owned(), "a".repeat(101)] {
        let result = search
            .client
            .suggest_gigs(SuggestGigsRequest {
                prefix,
                page_size: 0,
            })
            .await
            .map(|_| ());
        assert_status_invalid(result, "prefix");
    }
    let result = search
        .client
        .list_similar_gigs(ListSimilarGigsRequest {
            gig_id: "nope".to_owned(),
            page_size: 0,
        })
        .await
        .map(|_| ());
    assert_status_invalid(result, "gig_id");
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
    let deps = ServiceDeps::new(
        search._database.db().clone(),
        search.bus.clone(),
        TokenVerifier::from_jwks(Vec::<gigmesh_proto::auth::Jwk>::new()),
    );
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

gigmesh_testing::on_sqlite_and_postgres!(
    keywords_find_gigs_even_with_a_typo,
    filters_combine_and_facets_match_the_results,
    every_sort_orders_and_pages_completely,
    suggestions_and_similar_gigs,
    hidden_gigs_disappear_and_old_or_repeated_snapshots_do_nothing,
    a_rebuild_from_the_documents_table_gives_the_same_results,
    bad_input_is_invalid_argument_with_the_field,
    a_new_replica_builds_its_own_index_from_the_documents_table,
);
