//! The category taxonomy, and the lists of a seller's gigs paged by keyset.

use gigmesh_proto::gigs::ListCategoriesRequest;
use gigmesh_testing::{Backend, violated_fields};

use crate::support::{TestGigs, complete_gig, ids};

gigmesh_testing::on_sqlite_and_postgres!(the_taxonomy_is_served, lists_are_paged_by_keyset,);

async fn the_taxonomy_is_served(backend: Backend) {
    let mut gigs = TestGigs::start(backend).await;
    let categories = gigs
        .client
        .list_categories(ListCategoriesRequest {})
        .await
        .expect("categories")
        .into_inner()
        .categories;
    assert_eq!(categories.len(), 8);
    let programming = categories
        .iter()
        .find(|category| category.id == "programming-tech")
        .expect("programming & tech");
    assert!(
        programming
            .subcategories
            .iter()
            .any(|subcategory| subcategory.id == "web-development")
    );
    assert!(
        categories
            .iter()
            .all(|category| (4..=8).contains(&category.subcategories.len()))
    );
}

async fn lists_are_paged_by_keyset(backend: Backend) {
    let mut gigs = TestGigs::start(backend).await;
    let seller = gigs.seller();
    let mut created = Vec::new();
    for n in 0..5 {
        let gig = gigs
            .published_gig(&seller, &format!("I will build landing page number {n}"))
            .await;
        created.push(gig.id);
    }
    let hidden = gigs
        .create(&seller, complete_gig("A draft nobody else sees"))
        .await
        .expect("draft");
    gigs.pause(&seller, &created[1]).await.expect("pause");
    let newest_first: Vec<String> = created.iter().rev().cloned().collect();

    let mut seen = Vec::new();
    let mut token = String::new();
    let mut pages = 0;
    loop {
        let (page, next) = gigs.my_gigs(&seller, 2, &token).await.expect("page");
        assert!(page.len() <= 2);
        seen.extend(ids(&page));
        pages += 1;
        if next.is_empty() {
            break;
        }
        token = next;
    }
    assert_eq!(pages, 3);
    let mut expected = vec![hidden.id.clone()];
    expected.extend(newest_first.iter().cloned());
    assert_eq!(seen, expected);

    // A gig created between pages does not shift the next page (keyset, not offset).
    let (first, token) = gigs.my_gigs(&seller, 3, "").await.expect("first page");
    gigs.create(&seller, complete_gig("Created while paging through"))
        .await
        .expect("new draft");
    let (second, _) = gigs.my_gigs(&seller, 3, &token).await.expect("second page");
    let mut both = ids(&first);
    both.extend(ids(&second));
    assert_eq!(both, expected);

    let (all, next) = gigs.my_gigs(&seller, 0, "").await.expect("default size");
    assert_eq!(all.len(), 7);
    assert!(next.is_empty());
    let (all, next) = gigs
        .my_gigs(&seller, 10_000, "")
        .await
        .expect("clamped size");
    assert_eq!(all.len(), 7);
    assert!(next.is_empty());
    let status = gigs.my_gigs(&seller, -1, "").await.expect_err("negative");
    assert_eq!(violated_fields(&status), ["page_size"]);
    let status = gigs
        .my_gigs(&seller, 2, "not-a-token")
        .await
        .expect_err("bad token");
    assert_eq!(violated_fields(&status), ["page_token"]);

    // Buyers see only the visible gigs of a seller.
    let (public, next) = gigs
        .seller_gigs(&seller.user_id, 2, "")
        .await
        .expect("public");
    assert_eq!(
        ids(&public),
        [newest_first[0].clone(), newest_first[1].clone()]
    );
    let (rest, last) = gigs
        .seller_gigs(&seller.user_id, 2, &next)
        .await
        .expect("public page 2");
    assert_eq!(
        ids(&rest),
        [newest_first[2].clone(), newest_first[4].clone()]
    );
    assert!(last.is_empty());
    let status = gigs
        .seller_gigs("nope", 0, "%%%")
        .await
        .expect_err("bad seller and token");
    assert_eq!(violated_fields(&status), ["seller_id", "page_token"]);
}
