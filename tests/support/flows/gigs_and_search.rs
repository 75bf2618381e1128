//! Gigs and search: sellers publish gigs, buyers find them by keyword, typo, filters,
//! facets and suggestions, pausing and resuming reach the results, and only the owner edits.

use std::path::Path;
use std::time::{Duration, Instant};

use gigmesh_proto::auth;
use gigmesh_proto::users;
use tonic::Code;

use super::methods::{
    BECOME_SELLER, CREATE_GIG, LIST_CATEGORIES, PAUSE_GIG, PUBLISH_GIG, RESUME_GIG, SEARCH_GIGS,
    SUGGEST_GIGS, UPDATE_GIG,
};
use super::{NewAccount, refresh_until_role, sign_up_and_verify, wait_for_profile};
use crate::support::rpc::Rpc;

/// A signed-in seller: signs up, verifies, becomes a seller and refreshes until the token
/// carries the role.
async fn new_seller(rpc: &Rpc, mail_directory: &Path, prefix: &str) -> auth::Tokens {
    signed_up_seller(rpc, mail_directory, &NewAccount::unique(prefix)).await
}

/// `account` signed up, verified, made a seller and signed in with a token that carries the
/// role.
pub async fn signed_up_seller(
    rpc: &Rpc,
    mail_directory: &Path,
    account: &NewAccount,
) -> auth::Tokens {
    let tokens = sign_up_and_verify(rpc, mail_directory, account)
        .await
        .tokens
        .expect("tokens");
    wait_for_profile(rpc, &tokens.access_token).await;
    let _: users::Profile = rpc
        .call(
            BECOME_SELLER,
            users::BecomeSellerRequest {
                seller: Some(users::SellerProfile {
                    description: "Design and code, delivered on time.".to_owned(),
                    skills: vec!["design".to_owned()],
                    ..Default::default()
                }),
            },
            Some(&tokens.access_token),
        )
        .await
        .expect("become seller");
    refresh_until_role(rpc, tokens.refresh_token, "seller").await
}

/// Creates `gig` as the seller of `seller_token` and publishes it; returns it as published.
pub async fn create_and_publish_gig(
    rpc: &Rpc,
    seller_token: &str,
    gig: gigmesh_proto::gigs::Gig,
) -> gigmesh_proto::gigs::Gig {
    use gigmesh_proto::gigs;
    let created: gigs::Gig = rpc
        .call(
            CREATE_GIG,
            gigs::CreateGigRequest { gig: Some(gig) },
            Some(seller_token),
        )
        .await
        .expect("create the gig");
    rpc.call(
        PUBLISH_GIG,
        gigs::PublishGigRequest { gig_id: created.id },
        Some(seller_token),
    )
    .await
    .expect("publish the gig")
}

pub fn usd(amount_minor: i64) -> Option<gigmesh_proto::types::Money> {
    Some(gigmesh_proto::types::Money {
        amount_minor,
        currency: "USD".to_owned(),
    })
}

/// A complete gig in `category`/`subcategory` with a basic package.
fn complete_gig(
    title: &str,
    tags: &[&str],
    category: &str,
    subcategory: &str,
    price_minor: i64,
    delivery_days: i32,
) -> gigmesh_proto::gigs::Gig {
    use gigmesh_proto::gigs;
    gigs::Gig {
        title: title.to_owned(),
        description: format!("{title}. Clear communication, fast delivery, unlimited care."),
        category_id: category.to_owned(),
        subcategory_id: subcategory.to_owned(),
        tags: tags.iter().map(|tag| (*tag).to_owned()).collect(),
        packages: vec![gigs::Package {
            tier: gigs::PackageTier::Basic as i32,
            name: "Basic".to_owned(),
            description: "The essentials".to_owned(),
            price: usd(price_minor),
            delivery_days,
            revisions: 2,
            features: vec!["source files".to_owned()],
        }],
        gallery: vec![gigs::GalleryItem {
            kind: gigs::MediaKind::Image as i32,
            url: "https://cdn.example.com/cover.png".to_owned(),
            cover: true,
        }],
        ..Default::default()
    }
}

/// Searches until `accept` holds for the answer, for at most `within`.
async fn search_until(
    rpc: &Rpc,
    request: gigmesh_proto::search::SearchGigsRequest,
    within: Duration,
    accept: impl Fn(&gigmesh_proto::search::SearchGigsResponse) -> bool,
) -> gigmesh_proto::search::SearchGigsResponse {
    let deadline = Instant::now() + within;
    loop {
        let response: gigmesh_proto::search::SearchGigsResponse = rpc
            .call(SEARCH_GIGS, request.clone(), None)
            .await
            .expect("search");
        if accept(&response) {
            return response;
        }
        assert!(
            Instant::now() < deadline,
            "search {:?} never gave the expected answer; last: {response:?}",
            request.query
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn finds(response: &gigmesh_proto::search::SearchGigsResponse, gig_id: &str) -> bool {
    response.gigs.iter().any(|gig| gig.gig_id == gig_id)
}

/// The marketplace's shop window through the gateway: a seller publishes three gigs; a
/// buyer finds each by keyword and with a typo; filters combine and facets match; the
/// typed prefix is suggested; pausing hides a gig within a second and resuming brings it
/// back; another seller cannot edit it.
pub async fn gigs_and_search_flow(rpc: &Rpc, mail_directory: &Path, visibility: Duration) {
    use gigmesh_proto::{gigs, search};

    let categories: gigs::ListCategoriesResponse = rpc
        .call(LIST_CATEGORIES, gigs::ListCategoriesRequest {}, None)
        .await
        .expect("categories");
    let category = categories.categories.first().expect("a taxonomy").clone();
    let subcategory = category
        .subcategories
        .first()
        .expect("subcategories")
        .id
        .clone();
    let other = categories
        .categories
        .get(1)
        .expect("a second category")
        .clone();
    let other_subcategory = other
        .subcategories
        .first()
        .expect("subcategories")
        .id
        .clone();

    let seller = new_seller(rpc, mail_directory, "seller").await;
    let marker = &uuid::Uuid::now_v7().simple().to_string()[24..];
    let drafts = [
        complete_gig(
            &format!("Minimalist logo design {marker}"),
            &["logo", "branding"],
            &category.id,
            &subcategory,
            4_000,
            3,
        ),
        complete_gig(
            &format!("Wordpress website repair {marker}"),
            &["wordpress", "website"],
            &category.id,
            &subcategory,
            12_000,
            7,
        ),
        complete_gig(
            &format!("Podcast audio mastering {marker}"),
            &["podcast", "audio"],
            &other.id,
            &other_subcategory,
            2_500,
            1,
        ),
    ];
    let mut published = Vec::new();
    for draft in drafts {
        let live = create_and_publish_gig(rpc, &seller.access_token, draft).await;
        assert_eq!(live.state, gigs::GigState::Active as i32);
        published.push(live);
    }

    // Each is found by keyword, and with a one-letter typo.
    for (gig, typo) in published.iter().zip(["minimalst", "wordpres", "podcsat"]) {
        for query in [gig.title.clone(), format!("{typo} {marker}")] {
            let request = search::SearchGigsRequest {
                query: query.clone(),
                ..Default::default()
            };
            search_until(rpc, request, Duration::from_secs(10), |response| {
                finds(response, &gig.id)
            })
            .await;
        }
    }

    // Filters combine and the facets match the results.
    let filtered = search::SearchGigsRequest {
        query: marker.to_owned(),
        category_id: category.id.clone(),
        min_price_minor: Some(3_000),
        max_price_minor: Some(20_000),
        currency: "USD".to_owned(),
        max_delivery_days: 5,
        min_rating: 0.0,
        ..Default::default()
    };
    let response = search_until(rpc, filtered, Duration::from_secs(5), |response| {
        response.total_size == 1
    })
    .await;
    assert_eq!(response.gigs[0].gig_id, published[0].id);
    let facets = response.facets.expect("facets");
    let in_category: i64 = facets
        .categories
        .iter()
        .filter(|facet| facet.value == category.id)
        .map(|facet| facet.count)
        .sum();
    assert_eq!(in_category, 1, "{facets:?}");
    let priced: i64 = facets.price_buckets.iter().map(|bucket| bucket.count).sum();
    assert_eq!(priced, response.total_size, "{facets:?}");
    let strict = search::SearchGigsRequest {
        query: marker.to_owned(),
        min_rating: 4.0,
        ..Default::default()
    };
    let unrated: search::SearchGigsResponse =
        rpc.call(SEARCH_GIGS, strict, None).await.expect("search");
    assert_eq!(unrated.total_size, 0, "no gig is rated yet");

    // Autocomplete from the first letters.
    let suggestions: search::SuggestGigsResponse = rpc
        .call(
            SUGGEST_GIGS,
            search::SuggestGigsRequest {
                prefix: "minimalist lo".to_owned(),
                page_size: 20,
            },
            None,
        )
        .await
        .expect("suggest");
    assert!(
        suggestions
            .suggestions
            .iter()
            .any(|suggestion| suggestion.gig_id == published[0].id),
        "{suggestions:?}"
    );

    // Pausing hides the gig promptly; resuming brings it back.
    let by_title = search::SearchGigsRequest {
        query: published[1].title.clone(),
        ..Default::default()
    };
    let _: gigs::Gig = rpc
        .call(
            PAUSE_GIG,
            gigs::PauseGigRequest {
                gig_id: published[1].id.clone(),
            },
            Some(&seller.access_token),
        )
        .await
        .expect("pause");
    search_until(rpc, by_title.clone(), visibility, |response| {
        !finds(response, &published[1].id)
    })
    .await;
    let _: gigs::Gig = rpc
        .call(
            RESUME_GIG,
            gigs::ResumeGigRequest {
                gig_id: published[1].id.clone(),
            },
            Some(&seller.access_token),
        )
        .await
        .expect("resume");
    search_until(rpc, by_title, visibility, |response| {
        finds(response, &published[1].id)
    })
    .await;

    // Another seller cannot edit it.
    let intruder = new_seller(rpc, mail_directory, "intruder").await;
    let mut changed = published[0].clone();
    changed.title = "A title that is not mine to set".to_owned();
    let denied = rpc
        .call::<_, gigs::Gig>(
            UPDATE_GIG,
            gigs::UpdateGigRequest {
                gig: Some(changed),
                update_mask: Some(prost_types::FieldMask {
                    paths: vec!["title".to_owned()],
                }),
            },
            Some(&intruder.access_token),
        )
        .await
        .expect_err("not the owner");
    assert_eq!(denied.code(), Code::PermissionDenied, "{denied:?}");
}
