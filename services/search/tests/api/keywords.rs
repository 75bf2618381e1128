//! Keywords: matching titles and tags in any case, typo tolerance, and the corrected query.

use gigmesh_proto::search::SearchGigsRequest;
use gigmesh_testing::Backend;

use crate::support::{TestSearch, gig};

gigmesh_testing::on_sqlite_and_postgres!(keywords_find_gigs_even_with_a_typo);

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
