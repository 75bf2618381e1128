//! Domain values as the proto messages the search service answers with: gig summaries,
//! facets and suggestions. Counts beyond the proto's integer range saturate.

use gigmesh_proto::search as proto;
use gigmesh_proto::types::Money;
use gigmesh_types::timestamp_from_millis;

use crate::domain::{Facets, GigDocument, RangeCount, SearchResults, Suggestion};

/// A page of search results with the token of the next page (empty on the last).
pub fn search_response_to_proto(
    results: SearchResults,
    next_page_token: String,
) -> proto::SearchGigsResponse {
    proto::SearchGigsResponse {
        gigs: results
            .hits
            .iter()
            .map(|hit| summary_to_proto(&hit.document))
            .collect(),
        total_size: saturating_i64(results.total),
        facets: Some(facets_to_proto(results.facets)),
        next_page_token,
        corrected_query: results.corrected_text.unwrap_or_default(),
    }
}

/// Autocomplete suggestions, best first; a tag has no gig id.
pub fn suggestions_to_proto(suggestions: Vec<Suggestion>) -> proto::SuggestGigsResponse {
    proto::SuggestGigsResponse {
        suggestions: suggestions
            .into_iter()
            .map(|suggestion| proto::Suggestion {
                text: suggestion.text,
                gig_id: suggestion
                    .gig_id
                    .map(|gig_id| gig_id.to_string())
                    .unwrap_or_default(),
            })
            .collect(),
    }
}

/// Similar gigs, most similar first.
pub fn similar_gigs_to_proto(documents: &[GigDocument]) -> proto::ListSimilarGigsResponse {
    proto::ListSimilarGigsResponse {
        gigs: documents.iter().map(summary_to_proto).collect(),
    }
}

fn facets_to_proto(facets: Facets) -> proto::Facets {
    proto::Facets {
        categories: facets
            .categories
            .into_iter()
            .map(|facet| proto::FacetCount {
                value: facet.value,
                count: saturating_i64(facet.count),
            })
            .collect(),
        price_buckets: facets.price_buckets.iter().map(range_to_proto).collect(),
        delivery_day_buckets: facets
            .delivery_day_buckets
            .iter()
            .map(range_to_proto)
            .collect(),
    }
}

fn range_to_proto(range: &RangeCount) -> proto::RangeCount {
    proto::RangeCount {
        from: range.from,
        to: range.to,
        count: saturating_i64(range.count),
    }
}

fn summary_to_proto(document: &GigDocument) -> proto::GigSummary {
    proto::GigSummary {
        gig_id: document.gig_id.to_string(),
        slug: document.slug.clone(),
        title: document.title.clone(),
        category_id: document.category_id.clone(),
        subcategory_id: document.subcategory_id.clone(),
        tags: document.tags.clone(),
        starting_price: Some(Money {
            amount_minor: document.starting_price_minor,
            currency: document.currency.clone(),
        }),
        delivery_days: i32::try_from(document.delivery_days).unwrap_or(i32::MAX),
        rating: document.rating,
        rating_count: document.rating_count,
        cover_url: document.cover_url.clone(),
        seller_id: document.seller_id.clone(),
        seller_name: document.seller_name.clone(),
        seller_country: document.seller_country.clone(),
        publish_time: Some(timestamp_from_millis(document.publish_time_millis)),
    }
}

fn saturating_i64(count: u64) -> i64 {
    i64::try_from(count).unwrap_or(i64::MAX)
}
