//! The OpenSearch adapter against request/response fixtures written from the OpenSearch 2.x
//! REST API (`tests/fixtures/opensearch/`), served by an in-process fake node.
//!
//! The port's behaviour suite cannot run here: it needs a real engine to analyze, match and
//! rank. What these tests prove instead is the adapter's half of the contract: every port
//! method sends exactly the documented request (the fake node compares method, path,
//! query string and JSON body with the fixture) and turns the documented answers, errors
//! included, into the port's values: hits in order with their cursors, totals, facets,
//! corrected text, suggestions, similar gigs and "not found".

#[path = "opensearch/fake.rs"]
mod fake;

use fake::{FakeOpenSearch, INDEX, fixture};
use gigmesh_search::{
    Currency, Cursor, Filters, OpenSearchIndex, PriceRange, RangeCount, SearchIndex, SearchQuery,
    Sort, SortValue, Suggestion, ValueCount,
};
use uuid::Uuid;

const A: &str = "0190a1b2-0000-7000-8000-00000000000a";
const B: &str = "0190a1b2-0000-7000-8000-00000000000b";
const C: &str = "0190a1b2-0000-7000-8000-00000000000c";
const UNKNOWN: &str = "0190a1b2-0000-7000-8000-0000000000ff";

fn id(raw: &str) -> Uuid {
    Uuid::parse_str(raw).expect("fixture")
}

fn index(node: &FakeOpenSearch) -> OpenSearchIndex {
    OpenSearchIndex::connect(&node.url, INDEX).expect("fixture")
}

/// The document the fixtures hold under `_source` for gig `raw_id`.
fn document(raw_id: &str) -> gigmesh_search::GigDocument {
    let exchange = fixture("search_sort_rating");
    let source = exchange.response["body"]["hits"]["hits"]
        .as_array()
        .expect("fixture")
        .iter()
        .map(|hit| hit["_source"].clone())
        .find(|source| source["gig_id"] == raw_id)
        .unwrap_or_else(|| panic!("no fixture document {raw_id}"));
    gigmesh_search::GigDocument {
        gig_id: id(source["gig_id"].as_str().expect("fixture")),
        slug: source["slug"].as_str().expect("fixture").to_owned(),
        title: source["title"].as_str().expect("fixture").to_owned(),
        description: source["description"].as_str().expect("fixture").to_owned(),
        category_id: source["category"].as_str().expect("fixture").to_owned(),
        subcategory_id: source["subcategory"].as_str().expect("fixture").to_owned(),
        tags: serde_json::from_value(source["tags"].clone()).expect("fixture"),
        starting_price_minor: source["price_minor"].as_i64().expect("fixture"),
        currency: source["currency"].as_str().expect("fixture").to_owned(),
        delivery_days: u32::try_from(source["delivery_days"].as_u64().expect("fixture"))
            .expect("fixture"),
        rating: source["rating"].as_f64().expect("fixture"),
        rating_count: i32::try_from(source["rating_count"].as_i64().expect("fixture"))
            .expect("fixture"),
        cover_url: source["cover_url"].as_str().expect("fixture").to_owned(),
        seller_id: source["seller_id"].as_str().expect("fixture").to_owned(),
        seller_name: source["seller_name"].as_str().expect("fixture").to_owned(),
        seller_country: source["seller_country"]
            .as_str()
            .expect("fixture")
            .to_owned(),
        seller_languages: serde_json::from_value(source["seller_languages"].clone())
            .expect("fixture"),
        publish_time_millis: source["publish_time"].as_i64().expect("fixture"),
    }
}

fn query(text: &str, sort: Sort) -> SearchQuery {
    SearchQuery {
        text: text.to_owned(),
        filters: Filters::default(),
        facet_currency: Currency::USD,
        sort,
        limit: 20,
        after: None,
    }
}

fn ids(results: &gigmesh_search::SearchResults) -> Vec<Uuid> {
    results.hits.iter().map(|hit| hit.document.gig_id).collect()
}

fn buckets(bounds: &[(Option<i64>, Option<i64>, u64)]) -> Vec<RangeCount> {
    bounds
        .iter()
        .map(|(from, to, count)| RangeCount {
            from: *from,
            to: *to,
            count: *count,
        })
        .collect()
}

#[tokio::test]
async fn the_index_is_created_with_its_mappings_on_first_use_then_written_and_refreshed() {
    let node = FakeOpenSearch::start(&["create_index", "index_gig", "refresh", "count"]).await;
    let index = index(&node);
    index.upsert(document(A)).await.unwrap();
    index.commit().await.unwrap();
    assert_eq!(index.count().await.unwrap(), 3);
    node.finish();
}

#[tokio::test]
async fn an_existing_index_is_used_and_removing_a_missing_gig_is_no_error() {
    let node = FakeOpenSearch::start(&[
        "create_index_already_exists",
        "delete_gig",
        "delete_gig_not_found",
        "refresh",
    ])
    .await;
    let index = index(&node);
    index.remove(id(A)).await.unwrap();
    index.remove(id(UNKNOWN)).await.unwrap();
    index.commit().await.unwrap();
    node.finish();
}

#[tokio::test]
async fn clear_deletes_every_document_by_query() {
    let node = FakeOpenSearch::start(&["create_index", "delete_by_query_all", "refresh"]).await;
    let index = index(&node);
    index.clear().await.unwrap();
    index.commit().await.unwrap();
    node.finish();
}

#[tokio::test]
async fn replace_all_clears_indexes_in_bulk_and_refreshes() {
    let node = FakeOpenSearch::start(&[
        "create_index",
        "delete_by_query_all",
        "bulk_index",
        "refresh",
    ])
    .await;
    index(&node)
        .replace_all(vec![document(A), document(B)])
        .await
        .unwrap();
    node.finish();
}

#[tokio::test]
async fn a_bulk_answer_with_a_failed_item_is_an_error() {
    let node = FakeOpenSearch::start(&[
        "create_index",
        "delete_by_query_all",
        "bulk_index_partly_failed",
    ])
    .await;
    let error = index(&node)
        .replace_all(vec![document(A), document(B)])
        .await
        .unwrap_err();
    assert!(!error.is_unavailable());
    assert!(
        error.to_string().contains("mapper_parsing_exception"),
        "{error}"
    );
    node.finish();
}

#[tokio::test]
async fn a_keyword_search_with_every_filter_reads_hits_cursors_total_facets_and_corrections() {
    let node = FakeOpenSearch::start(&["create_index", "search_keyword_filters_facets"]).await;
    let mut search = query("minimalst lgoo", Sort::Relevance);
    search.filters = Filters {
        category_id: Some("design".to_owned()),
        subcategory_id: None,
        price: Some(PriceRange {
            currency: Currency::USD,
            min_minor: Some(1_000),
            max_minor: Some(10_000),
        }),
        max_delivery_days: Some(5),
        min_rating: Some(4.0),
        seller_countries: vec!["GB".to_owned(), "IE".to_owned()],
        seller_languages: vec!["en".to_owned()],
    };
    let results = index(&node).search(&search).await.unwrap();
    assert_eq!(ids(&results), [id(A), id(C)]);
    assert_eq!(results.hits[0].document, document(A));
    assert_eq!(
        results.hits[0].cursor,
        Cursor {
            value: SortValue::Score(3.25),
            gig_id: id(A)
        }
    );
    assert_eq!(results.hits[1].cursor.value, SortValue::Score(1.5));
    assert_eq!(results.total, 2);
    assert_eq!(
        results.facets.categories,
        [
            ValueCount {
                value: "design".to_owned(),
                count: 2
            },
            ValueCount {
                value: "programming".to_owned(),
                count: 1
            },
        ]
    );
    assert_eq!(
        results.facets.price_buckets,
        buckets(&[
            (None, Some(2_500), 1),
            (Some(2_500), Some(5_000), 1),
            (Some(5_000), Some(10_000), 0),
            (Some(10_000), Some(25_000), 0),
            (Some(25_000), None, 0),
        ])
    );
    assert_eq!(
        results.facets.delivery_day_buckets,
        buckets(&[
            (None, Some(2), 1),
            (Some(2), Some(4), 1),
            (Some(4), Some(8), 0),
            (Some(8), None, 0),
        ])
    );
    assert_eq!(results.corrected_text.as_deref(), Some("minimalist logo"));
    node.finish();
}

#[tokio::test]
async fn keywords_found_as_typed_are_not_corrected() {
    let node = FakeOpenSearch::start(&["create_index", "search_keyword_exact"]).await;
    let results = index(&node)
        .search(&query("Logo", Sort::Relevance))
        .await
        .unwrap();
    assert_eq!(ids(&results), [id(A), id(C)]);
    assert_eq!(results.hits[1].cursor.value, SortValue::Score(1.25));
    assert_eq!(results.corrected_text, None);
    node.finish();
}

#[tokio::test]
async fn a_page_continues_with_search_after_the_cursor() {
    let node = FakeOpenSearch::start(&["create_index", "search_page_after_price_ascending"]).await;
    let mut page = query("", Sort::PriceAscending);
    page.limit = 2;
    page.after = Some(Cursor {
        value: SortValue::Price(2_000),
        gig_id: id(C),
    });
    let results = index(&node).search(&page).await.unwrap();
    assert_eq!(ids(&results), [id(A), id(B)]);
    assert_eq!(results.total, 3);
    assert_eq!(
        results.hits.last().map(|hit| hit.cursor),
        Some(Cursor {
            value: SortValue::Price(12_000),
            gig_id: id(B)
        })
    );
    assert_eq!(results.corrected_text, None);
    node.finish();
}

#[tokio::test]
async fn every_sort_orders_by_its_field_then_the_gig_id() {
    let cases = [
        (
            Sort::Newest,
            "search_sort_newest",
            [B, C, A],
            SortValue::PublishTime(1_700_000_300_000),
        ),
        // Relevance without keywords is newest first.
        (
            Sort::Relevance,
            "search_sort_newest",
            [B, C, A],
            SortValue::PublishTime(1_700_000_300_000),
        ),
        (
            Sort::PriceAscending,
            "search_sort_price_ascending",
            [C, A, B],
            SortValue::Price(2_000),
        ),
        (
            Sort::PriceDescending,
            "search_sort_price_descending",
            [B, A, C],
            SortValue::Price(12_000),
        ),
        (
            Sort::Rating,
            "search_sort_rating",
            [C, A, B],
            SortValue::Rating(4.9),
        ),
    ];
    for (sort, name, expected, first_value) in cases {
        let node = FakeOpenSearch::start(&["create_index", name]).await;
        let results = index(&node).search(&query("", sort)).await.unwrap();
        assert_eq!(ids(&results), expected.map(id), "{sort:?}");
        assert_eq!(results.hits[0].cursor.value, first_value, "{sort:?}");
        assert_eq!(results.total, 3);
        node.finish();
    }
}

#[tokio::test]
async fn suggestions_rank_titles_then_tags_then_title_words() {
    let node = FakeOpenSearch::start(&["create_index", "suggest_prefix"]).await;
    let suggestions = index(&node).suggest("Log", 3).await.unwrap();
    assert_eq!(
        suggestions,
        [
            Suggestion {
                text: "Logos drawn by hand".to_owned(),
                gig_id: Some(id(C))
            },
            Suggestion {
                text: "logo".to_owned(),
                gig_id: None
            },
            Suggestion {
                text: "I will design a modern minimalist logo".to_owned(),
                gig_id: Some(id(A))
            },
        ]
    );
    node.finish();
}

#[tokio::test]
async fn similar_gigs_come_from_more_like_this_and_an_unknown_gig_is_none() {
    let node = FakeOpenSearch::start(&[
        "create_index",
        "get_gig",
        "search_similar",
        "get_gig_not_found",
    ])
    .await;
    let index = index(&node);
    let similar = index.similar(id(A), 5).await.unwrap().unwrap();
    assert_eq!(similar, [document(C)]);
    assert_eq!(index.similar(id(UNKNOWN), 5).await.unwrap(), None);
    node.finish();
}

#[tokio::test]
async fn a_5xx_or_429_answer_is_unavailable_and_a_4xx_is_not() {
    let node = FakeOpenSearch::start(&[
        "create_index",
        "search_unavailable",
        "search_bad_request",
        "index_gig_rejected",
        "count_index_not_found",
    ])
    .await;
    let index = index(&node);
    let search = query("logo", Sort::Relevance);
    let unavailable = index.search(&search).await.unwrap_err();
    assert!(unavailable.is_unavailable(), "{unavailable}");
    let bad_request = index.search(&search).await.unwrap_err();
    assert!(!bad_request.is_unavailable(), "{bad_request}");
    assert!(
        bad_request.to_string().contains("parsing_exception"),
        "{bad_request}"
    );
    let rejected = index.upsert(document(A)).await.unwrap_err();
    assert!(rejected.is_unavailable(), "{rejected}");
    let missing_index = index.count().await.unwrap_err();
    assert!(!missing_index.is_unavailable(), "{missing_index}");
    assert!(
        missing_index
            .to_string()
            .contains("index_not_found_exception"),
        "{missing_index}"
    );
    node.finish();
}

#[tokio::test]
async fn an_unreachable_node_is_unavailable() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    drop(listener);
    let index = OpenSearchIndex::connect(&format!("http://{address}"), INDEX).unwrap();
    let error = index.count().await.unwrap_err();
    assert!(error.is_unavailable(), "{error}");
}

#[tokio::test]
async fn the_service_built_for_opensearch_answers_unavailable_when_the_cluster_is() {
    use gigmesh_auth::TokenVerifier;
    use gigmesh_proto::search::SearchGigsRequest;
    use gigmesh_proto::search::search_service_client::SearchServiceClient;
    use gigmesh_runtime::{Service as _, ServiceDeps};
    use gigmesh_search::{App, Config, IndexKind};
    use gigmesh_testing::{Backend, TestBus, TestDatabase, TestServer};

    // Building creates the index, finds it empty and rebuilds it from the (empty) table;
    // then a search (a page of 20 asks for 21 hits, to know whether more follow) meets a
    // cluster that cannot answer.
    let node = FakeOpenSearch::start(&[
        "create_index",
        "count_empty",
        "delete_by_query_all",
        "refresh",
        "search_unavailable_through_the_service",
    ])
    .await;
    let database = TestDatabase::new(Backend::Sqlite).await;
    let bus = TestBus::embedded().await;
    let deps = ServiceDeps::new(
        database.db().clone(),
        bus.bus(),
        TokenVerifier::from_jwks(Vec::<gigmesh_proto::auth::Jwk>::new()),
    );
    let config = Config {
        index_kind: IndexKind::Opensearch,
        opensearch_url: node.url.clone(),
        ..Config::default()
    };
    let app = App::build(deps, config).await.unwrap();
    let server = TestServer::start(app.routes(), app.service_names()).await;
    let mut client = SearchServiceClient::new(server.channel().await);
    let status = client
        .search_gigs(SearchGigsRequest {
            query: "logo".to_owned(),
            ..SearchGigsRequest::default()
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), tonic::Code::Unavailable, "{status:?}");
    node.finish();
}
