//! Filters (category, price, delivery, rating, seller country and language) and the facets
//! counted over every match.

use gigmesh_proto::gigs::SellerSummary;
use gigmesh_proto::search::SearchGigsRequest;
use gigmesh_testing::Backend;

use crate::support::{TestSearch, gig, titles, with_price};

gigmesh_testing::on_sqlite_and_postgres!(filters_combine_and_facets_match_the_results);

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
