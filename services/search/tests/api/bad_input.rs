//! Bad input: `INVALID_ARGUMENT` naming each bad field, page tokens only for their own
//! search, and page sizes defaulted and clamped.

use gigmesh_proto::search::{ListSimilarGigsRequest, SearchGigsRequest, SuggestGigsRequest};
use gigmesh_testing::Backend;

use crate::support::{TestSearch, assert_invalid, assert_status_invalid, gig};

gigmesh_testing::on_sqlite_and_postgres!(
    bad_input_is_invalid_argument_with_the_field,
    a_huge_currency_is_not_echoed_back_in_full,
);

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

async fn a_huge_currency_is_not_echoed_back_in_full(backend: Backend) {
    let mut search = TestSearch::start(backend).await;
    let request = SearchGigsRequest {
        currency: "c".repeat(1024 * 1024),
        ..SearchGigsRequest::default()
    };
    let status = search.search(request).await.expect_err("unknown currency");
    assert_eq!(gigmesh_testing::violated_fields(&status), ["currency"]);
    assert!(
        status.message().len() < 200,
        "{} bytes: {}…",
        status.message().len(),
        &status.message()[..100]
    );
    assert!(status.message().contains("cccc"), "{}", status.message());
}
