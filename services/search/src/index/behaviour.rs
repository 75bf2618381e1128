//! What every [`SearchIndex`] adapter must do, written against the port only, so each
//! adapter runs the same suite: `behaviour::run_all(&adapter).await`.

use gigmesh_types::Currency;
use uuid::Uuid;

use super::SearchIndex;
use crate::domain::{Filters, GigDocument, PriceRange, SearchQuery, Sort};

/// A visible gig document with plausible defaults.
pub fn document(title: &str, category: &str, subcategory: &str) -> GigDocument {
    GigDocument {
        gig_id: Uuid::now_v7(),
        slug: title.to_lowercase().replace(' ', "-"),
        title: title.to_owned(),
        description: format!("{title}, done well and on time."),
        category_id: category.to_owned(),
        subcategory_id: subcategory.to_owned(),
        tags: Vec::new(),
        starting_price_minor: 5_000,
        currency: "USD".to_owned(),
        delivery_days: 3,
        rating: 4.0,
        rating_count: 10,
        cover_url: String::new(),
        seller_id: Uuid::now_v7().to_string(),
        seller_name: "Ada Lovelace".to_owned(),
        seller_country: "GB".to_owned(),
        seller_languages: vec!["en".to_owned()],
        publish_time_millis: 1_700_000_000_000,
    }
}

fn query(text: &str) -> SearchQuery {
    SearchQuery {
        text: text.to_owned(),
        filters: Filters::default(),
        facet_currency: Currency::USD,
        sort: Sort::Relevance,
        limit: 20,
        after: None,
    }
}

/// What `of` reads from each hit of `query`, in order.
async fn hit_values<T>(
    index: &dyn SearchIndex,
    query: &SearchQuery,
    of: impl Fn(GigDocument) -> T,
) -> Vec<T> {
    index
        .search(query)
        .await
        .expect("search")
        .hits
        .into_iter()
        .map(|hit| of(hit.document))
        .collect()
}

async fn titles(index: &dyn SearchIndex, query: &SearchQuery) -> Vec<String> {
    hit_values(index, query, |document| document.title).await
}

async fn reset(index: &dyn SearchIndex, documents: Vec<GigDocument>) {
    index.replace_all(documents).await.expect("replace all");
}

/// Runs every scenario on `index`, which it empties first.
pub async fn run_all(index: &dyn SearchIndex) {
    finds_by_keyword_with_stemming_and_typos(index).await;
    filters_combine_and_facets_count_every_match(index).await;
    sorts_and_pages_through_every_match_once(index).await;
    suggests_titles_and_tags_by_prefix(index).await;
    finds_similar_gigs_without_the_gig_itself(index).await;
    removes_replaces_and_clears(index).await;
}

async fn finds_by_keyword_with_stemming_and_typos(index: &dyn SearchIndex) {
    let mut logo = document(
        "I will design a modern minimalist logo",
        "design",
        "logo-design",
    );
    logo.tags = vec!["branding".to_owned()];
    let mut website = document("I will build your website in React", "programming", "web");
    website.seller_name = "Grace Hopper".to_owned();
    let logos = document("Logos drawn by hand", "design", "logo-design");
    reset(index, vec![logo, website, logos]).await;

    assert_eq!(
        titles(index, &query("designing")).await,
        ["I will design a modern minimalist logo"]
    );
    assert_eq!(
        titles(index, &query("hopper")).await,
        ["I will build your website in React"]
    );
    assert_eq!(
        titles(index, &query("BRANDING")).await,
        ["I will design a modern minimalist logo"]
    );
    // One wrong letter still finds it; the exact spelling ranks first.
    assert_eq!(
        titles(index, &query("websiet")).await,
        ["I will build your website in React"]
    );
    let minimalist = titles(index, &query("minimalst")).await;
    assert_eq!(minimalist, ["I will design a modern minimalist logo"]);
    // A query none of whose words is known comes back corrected; a known word is kept.
    let corrected = index
        .search(&query("minimalst logp"))
        .await
        .expect("search");
    assert_eq!(corrected.corrected_text.as_deref(), Some("minimalist logo"));
    let exact = index
        .search(&query("minimalist logp"))
        .await
        .expect("search");
    assert_eq!(exact.corrected_text, None);
    // Every word must match somewhere.
    assert!(titles(index, &query("logo react")).await.is_empty());
    assert_eq!(index.search(&query("")).await.expect("search").total, 3);
}

async fn filters_combine_and_facets_count_every_match(index: &dyn SearchIndex) {
    let mut cheap = document("Quick logo sketch", "design", "logo-design");
    cheap.starting_price_minor = 1_000;
    cheap.delivery_days = 1;
    cheap.seller_country = "DE".to_owned();
    let mut mid = document("Professional logo package", "design", "logo-design");
    mid.starting_price_minor = 7_500;
    mid.delivery_days = 5;
    mid.rating = 4.9;
    mid.seller_languages = vec!["de".to_owned(), "en".to_owned()];
    let mut dear = document("Logo animation for video intros", "video", "animation");
    dear.starting_price_minor = 30_000;
    dear.delivery_days = 10;
    dear.rating = 3.0;
    let mut euro = document("Logo redesign", "design", "logo-design");
    euro.currency = "EUR".to_owned();
    euro.starting_price_minor = 2_000;
    reset(index, vec![cheap, mid, dear, euro]).await;

    let all = index.search(&query("logo")).await.expect("search");
    assert_eq!(all.total, 4);
    let design = all
        .facets
        .categories
        .iter()
        .find(|facet| facet.value == "design")
        .map(|facet| facet.count);
    assert_eq!(design, Some(3));
    // Price buckets count the facet currency only.
    let price_counts: Vec<u64> = all.facets.price_buckets.iter().map(|b| b.count).collect();
    assert_eq!(price_counts, [1, 0, 1, 0, 1]);
    let delivery_counts: Vec<u64> = all
        .facets
        .delivery_day_buckets
        .iter()
        .map(|b| b.count)
        .collect();
    assert_eq!(delivery_counts, [1, 1, 1, 1]);

    let mut filtered = query("logo");
    filtered.filters = Filters {
        category_id: Some("design".to_owned()),
        price: Some(PriceRange {
            currency: Currency::USD,
            min_minor: Some(500),
            max_minor: Some(8_000),
        }),
        max_delivery_days: Some(7),
        min_rating: Some(4.5),
        ..Filters::default()
    };
    let results = index.search(&filtered).await.expect("search");
    assert_eq!(results.total, 1);
    assert_eq!(results.hits[0].document.title, "Professional logo package");
    // Categories ignore the category filter: the video gig fails the other filters too.
    let categories: Vec<(&str, u64)> = results
        .facets
        .categories
        .iter()
        .map(|facet| (facet.value.as_str(), facet.count))
        .collect();
    assert_eq!(categories, [("design", 1)]);

    let mut by_seller = query("");
    by_seller.filters.seller_countries = vec!["DE".to_owned(), "FR".to_owned()];
    assert_eq!(titles(index, &by_seller).await, ["Quick logo sketch"]);
    let mut by_language = query("");
    by_language.filters.seller_languages = vec!["de".to_owned()];
    assert_eq!(
        titles(index, &by_language).await,
        ["Professional logo package"]
    );
}

async fn sorts_and_pages_through_every_match_once(index: &dyn SearchIndex) {
    let mut documents = Vec::new();
    for number in 0..7_i64 {
        let mut gig = document(&format!("Logo design number {number}"), "design", "logo");
        // Prices repeat, so ties are broken by the gig id.
        gig.starting_price_minor = 1_000 * (number % 3 + 1);
        gig.rating = 3.0 + (number % 4) as f64 * 0.5;
        gig.publish_time_millis = 1_700_000_000_000 + number * 1_000;
        documents.push(gig);
    }
    reset(index, documents.clone()).await;

    for sort in [
        Sort::Relevance,
        Sort::PriceAscending,
        Sort::PriceDescending,
        Sort::Rating,
        Sort::Newest,
    ] {
        for text in ["logo", ""] {
            let mut search = query(text);
            search.sort = sort;
            let everything = index.search(&search).await.expect("search");
            assert_eq!(everything.hits.len(), 7);
            let mut paged = Vec::new();
            search.limit = 3;
            loop {
                let page = index.search(&search).await.expect("search");
                assert_eq!(page.total, 7);
                let Some(last) = page.hits.last() else { break };
                search.after = Some(last.cursor);
                paged.extend(page.hits.iter().map(|hit| hit.document.gig_id));
            }
            let whole: Vec<Uuid> = everything
                .hits
                .iter()
                .map(|hit| hit.document.gig_id)
                .collect();
            assert_eq!(paged, whole, "{sort:?} {text:?}");
        }
    }

    let mut by_price = query("");
    by_price.sort = Sort::PriceAscending;
    let prices = hit_values(index, &by_price, |document| document.starting_price_minor).await;
    assert!(
        prices.windows(2).all(|pair| pair[0] <= pair[1]),
        "{prices:?}"
    );
    by_price.sort = Sort::PriceDescending;
    let prices = hit_values(index, &by_price, |document| document.starting_price_minor).await;
    assert!(
        prices.windows(2).all(|pair| pair[0] >= pair[1]),
        "{prices:?}"
    );
    let mut by_rating = query("");
    by_rating.sort = Sort::Rating;
    let ratings = hit_values(index, &by_rating, |document| document.rating).await;
    assert!(
        ratings.windows(2).all(|pair| pair[0] >= pair[1]),
        "{ratings:?}"
    );
    let mut newest = query("");
    newest.sort = Sort::Newest;
    let first = index.search(&newest).await.expect("search").hits[0]
        .document
        .title
        .clone();
    assert_eq!(first, "Logo design number 6");

    // A gig added between pages does not repeat or hide the gigs after the cursor.
    let mut page_query = query("");
    page_query.sort = Sort::PriceAscending;
    page_query.limit = 3;
    let first_page = index.search(&page_query).await.expect("search");
    let mut newcomer = document("Logo design newcomer", "design", "logo");
    newcomer.starting_price_minor = 1;
    index.upsert(newcomer).await.expect("upsert");
    index.commit().await.expect("commit");
    page_query.after = first_page.hits.last().map(|hit| hit.cursor);
    let rest = index.search(&page_query).await.expect("search");
    let first_ids: Vec<Uuid> = first_page
        .hits
        .iter()
        .map(|hit| hit.document.gig_id)
        .collect();
    assert!(
        rest.hits
            .iter()
            .all(|hit| !first_ids.contains(&hit.document.gig_id))
    );
}

async fn suggests_titles_and_tags_by_prefix(index: &dyn SearchIndex) {
    let mut logo = document("Logo design for startups", "design", "logo");
    logo.tags = vec!["logo".to_owned(), "branding".to_owned()];
    logo.rating = 4.8;
    let mut other = document("Modern logo animation", "video", "animation");
    other.rating = 4.1;
    let website = document("Landing page in a day", "programming", "web");
    reset(index, vec![logo.clone(), other.clone(), website]).await;

    let suggestions = index.suggest("lo", 8).await.expect("suggest");
    let texts: Vec<&str> = suggestions.iter().map(|s| s.text.as_str()).collect();
    assert_eq!(
        texts,
        ["Logo design for startups", "logo", "Modern logo animation"]
    );
    assert_eq!(suggestions[0].gig_id, Some(logo.gig_id));
    assert_eq!(suggestions[1].gig_id, None);
    let limited = index.suggest("lo", 1).await.expect("suggest");
    assert_eq!(limited.len(), 1);
    let bran = index.suggest("bran", 8).await.expect("suggest");
    assert_eq!(bran.first().map(|s| s.text.as_str()), Some("branding"));
    assert!(index.suggest("zzz", 8).await.expect("suggest").is_empty());
}

async fn finds_similar_gigs_without_the_gig_itself(index: &dyn SearchIndex) {
    let mut logo = document("Minimalist logo design", "design", "logo");
    logo.tags = vec!["logo".to_owned(), "minimalist".to_owned()];
    let mut close = document("Minimalist logo for your brand", "design", "logo");
    close.tags = vec!["logo".to_owned()];
    let mut same_subcategory = document("Hand lettering", "design", "logo");
    same_subcategory.tags = vec!["lettering".to_owned()];
    let unrelated = document("Bookkeeping for small businesses", "finance", "accounting");
    reset(
        index,
        vec![
            logo.clone(),
            close.clone(),
            same_subcategory.clone(),
            unrelated,
        ],
    )
    .await;

    let similar = index
        .similar(logo.gig_id, 8)
        .await
        .expect("similar")
        .expect("the gig is indexed");
    let ids: Vec<Uuid> = similar.iter().map(|gig| gig.gig_id).collect();
    assert_eq!(ids, [close.gig_id, same_subcategory.gig_id]);
    assert!(
        index
            .similar(Uuid::now_v7(), 8)
            .await
            .expect("similar")
            .is_none()
    );
}

async fn removes_replaces_and_clears(index: &dyn SearchIndex) {
    let gig = document("Podcast editing", "audio", "editing");
    reset(index, vec![gig.clone()]).await;
    assert_eq!(titles(index, &query("podcast")).await, ["Podcast editing"]);

    let mut renamed = gig.clone();
    renamed.title = "Podcast mixing and mastering".to_owned();
    index.upsert(renamed).await.expect("upsert");
    index.commit().await.expect("commit");
    assert_eq!(
        titles(index, &query("podcast")).await,
        ["Podcast mixing and mastering"]
    );
    assert_eq!(index.count().await.expect("count"), 1);

    index.remove(gig.gig_id).await.expect("remove");
    index.commit().await.expect("commit");
    assert!(titles(index, &query("podcast")).await.is_empty());

    reset(index, vec![gig]).await;
    assert_eq!(index.count().await.expect("count"), 1);
    index.clear().await.expect("clear");
    index.commit().await.expect("commit");
    assert_eq!(index.count().await.expect("count"), 0);
}
