//! Every sort order, and pages that continue after a cursor without repeats or gaps.

use gigmesh_proto::search::{SearchGigsRequest, SortOrder};
use gigmesh_testing::Backend;
use gigmesh_types::timestamp_from_millis;

use crate::support::{TestSearch, gig, with_price};

gigmesh_testing::on_sqlite_and_postgres!(every_sort_orders_and_pages_completely);

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
