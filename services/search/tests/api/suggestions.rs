//! Autocomplete suggestions and similar gigs.

use gigmesh_proto::search::{ListSimilarGigsRequest, SuggestGigsRequest};
use gigmesh_testing::Backend;
use tonic::Code;
use uuid::Uuid;

use crate::support::{TestSearch, gig, titles};

gigmesh_testing::on_sqlite_and_postgres!(suggestions_and_similar_gigs);

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
