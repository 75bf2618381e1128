//! `gigmesh.search.v1.SearchService`: parses requests into domain queries, asks the index,
//! and answers in proto types. No SQL and no engine types here.
//!
//! Pages continue after the last hit of the previous page: the page token carries that
//! hit's sort value and gig id (a keyset cursor) and a fingerprint of the search. Unlike an
//! offset, a cursor neither repeats nor skips gigs when others are added or removed between
//! pages, on any replica; only a gig whose own sort value changes in between (a new price,
//! a new rating, or, for relevance, scores shifting as the corpus changes) may move across
//! the page boundary.

use std::sync::Arc;

use gigmesh_errors::Violations;
use gigmesh_proto::search as proto;
use gigmesh_proto::search::search_service_server::SearchService;
use gigmesh_proto::types::Money;
use gigmesh_types::{PageSize, PageToken, timestamp_from_millis};
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};
use tonic::{Request, Response, Status};
use tracing::instrument;
use uuid::Uuid;

use crate::domain::{
    Cursor, Filters, GigDocument, MAX_PREFIX_CHARS, MAX_QUERY_CHARS, MAX_RATING, PriceRange,
    RangeCount, SearchQuery, Sort, SortValue,
};
use crate::error::SearchError;
use crate::index::SearchIndex;

/// Results per page unless asked otherwise, and at most.
const DEFAULT_PAGE_SIZE: u32 = 20;
const MAX_PAGE_SIZE: u32 = 100;
/// Suggestions and similar gigs per answer unless asked otherwise, and at most.
const DEFAULT_SHORT_LIST_SIZE: u32 = 8;
const MAX_SHORT_LIST_SIZE: u32 = 20;
/// Currency of price filters and facets when none is given.
const DEFAULT_CURRENCY: &str = "USD";
/// Most seller countries or languages one search may name.
const MAX_FILTER_VALUES: usize = 50;
/// Longest category or subcategory id accepted.
const MAX_ID_CHARS: usize = 100;

/// The search service over an index.
#[derive(Clone)]
pub struct SearchApi {
    index: Arc<dyn SearchIndex>,
}

impl SearchApi {
    /// The service over `index`.
    pub fn new(index: Arc<dyn SearchIndex>) -> Self {
        Self { index }
    }
}

/// What a page token holds.
#[derive(Debug, Serialize, Deserialize)]
struct PagePosition {
    /// Fingerprint of the search the token belongs to.
    search: String,
    /// The last hit of the previous page.
    after: Cursor,
}

#[tonic::async_trait]
impl SearchService for SearchApi {
    #[instrument(skip_all, fields(sort, page_size))]
    async fn search_gigs(
        &self,
        request: Request<proto::SearchGigsRequest>,
    ) -> Result<Response<proto::SearchGigsResponse>, Status> {
        let (mut query, fingerprint) = parse_search(request.into_inner())?;
        let page_size = query.limit;
        // One more than the page tells whether another page follows.
        query.limit = page_size + 1;
        let mut results = self.index.search(&query).await.map_err(SearchError::from)?;
        let has_more = results.hits.len() > page_size;
        results.hits.truncate(page_size);
        let next_page_token = match results.hits.last() {
            Some(last) if has_more => PageToken::encode(&PagePosition {
                search: fingerprint,
                after: last.cursor,
            }),
            _ => String::new(),
        };
        let facets = results.facets.clone();
        Ok(Response::new(proto::SearchGigsResponse {
            gigs: results
                .hits
                .iter()
                .map(|hit| summary_to_proto(&hit.document))
                .collect(),
            total_size: i64::try_from(results.total).unwrap_or(i64::MAX),
            facets: Some(proto::Facets {
                categories: facets
                    .categories
                    .into_iter()
                    .map(|facet| proto::FacetCount {
                        value: facet.value,
                        count: i64::try_from(facet.count).unwrap_or(i64::MAX),
                    })
                    .collect(),
                price_buckets: facets.price_buckets.iter().map(range_to_proto).collect(),
                delivery_day_buckets: facets
                    .delivery_day_buckets
                    .iter()
                    .map(range_to_proto)
                    .collect(),
            }),
            next_page_token,
            corrected_query: results.corrected_text.unwrap_or_default(),
        }))
    }

    #[instrument(skip_all)]
    async fn suggest_gigs(
        &self,
        request: Request<proto::SuggestGigsRequest>,
    ) -> Result<Response<proto::SuggestGigsResponse>, Status> {
        let request = request.into_inner();
        let mut violations = Violations::new();
        let prefix = violations.check(parse_prefix(&request.prefix));
        let limit = violations.check(PageSize::parse(
            "page_size",
            request.page_size,
            DEFAULT_SHORT_LIST_SIZE,
            MAX_SHORT_LIST_SIZE,
        ));
        violations.finish().map_err(SearchError::from)?;
        let (Some(prefix), Some(limit)) = (prefix, limit) else {
            return Err(Status::invalid_argument("invalid request"));
        };
        let suggestions = self
            .index
            .suggest(&prefix, limit as usize)
            .await
            .map_err(SearchError::from)?;
        Ok(Response::new(proto::SuggestGigsResponse {
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
        }))
    }

    #[instrument(skip_all, fields(gig_id))]
    async fn list_similar_gigs(
        &self,
        request: Request<proto::ListSimilarGigsRequest>,
    ) -> Result<Response<proto::ListSimilarGigsResponse>, Status> {
        let request = request.into_inner();
        let mut violations = Violations::new();
        let gig_id = violations.check(parse_gig_id("gig_id", &request.gig_id));
        let limit = violations.check(PageSize::parse(
            "page_size",
            request.page_size,
            DEFAULT_SHORT_LIST_SIZE,
            MAX_SHORT_LIST_SIZE,
        ));
        violations.finish().map_err(SearchError::from)?;
        let (Some(gig_id), Some(limit)) = (gig_id, limit) else {
            return Err(Status::invalid_argument("invalid request"));
        };
        tracing::Span::current().record("gig_id", tracing::field::display(gig_id));
        let similar = self
            .index
            .similar(gig_id, limit as usize)
            .await
            .map_err(SearchError::from)?
            .ok_or_else(|| SearchError::GigNotFound(gig_id.to_string()))?;
        Ok(Response::new(proto::ListSimilarGigsResponse {
            gigs: similar.iter().map(summary_to_proto).collect(),
        }))
    }
}

type Parsed<T> = Result<T, gigmesh_errors::ApiError>;

fn invalid(field: &str, description: &str) -> gigmesh_errors::ApiError {
    gigmesh_errors::ApiError::invalid(field, description)
}

fn parse_gig_id(field: &str, raw: &str) -> Parsed<Uuid> {
    if raw.trim().is_empty() {
        return Err(invalid(field, "is required"));
    }
    Uuid::parse_str(raw.trim()).map_err(|_| invalid(field, "must be a UUID"))
}

fn parse_query_text(raw: &str) -> Parsed<String> {
    let text = raw.trim();
    if text.chars().count() > MAX_QUERY_CHARS {
        return Err(invalid("query", "must be at most 200 characters"));
    }
    if !text.is_empty() && !text.chars().any(char::is_alphanumeric) {
        return Err(invalid("query", "must contain a letter or digit"));
    }
    Ok(text.to_owned())
}

fn parse_prefix(raw: &str) -> Parsed<String> {
    let prefix = raw.trim_start();
    if prefix.trim().is_empty() {
        return Err(invalid("prefix", "is required"));
    }
    if prefix.chars().count() > MAX_PREFIX_CHARS {
        return Err(invalid("prefix", "must be at most 100 characters"));
    }
    Ok(prefix.to_lowercase())
}

fn parse_optional_id(field: &str, raw: &str) -> Parsed<Option<String>> {
    let id = raw.trim();
    if id.chars().count() > MAX_ID_CHARS {
        return Err(invalid(field, "must be at most 100 characters"));
    }
    Ok((!id.is_empty()).then(|| id.to_owned()))
}

fn parse_currency(raw: &str) -> Parsed<String> {
    let currency = raw.trim();
    if currency.is_empty() {
        return Ok(DEFAULT_CURRENCY.to_owned());
    }
    if currency.len() != 3 || !currency.chars().all(|c| c.is_ascii_alphabetic()) {
        return Err(invalid("currency", "must be an ISO 4217 code such as USD"));
    }
    Ok(currency.to_ascii_uppercase())
}

fn parse_price(field: &str, raw: Option<i64>) -> Parsed<Option<i64>> {
    match raw {
        Some(negative) if negative < 0 => Err(invalid(field, "must not be negative")),
        other => Ok(other),
    }
}

fn parse_codes(
    field: &str,
    raw: &[String],
    upper_case: bool,
    violations: &mut Violations,
) -> Vec<String> {
    if raw.len() > MAX_FILTER_VALUES {
        violations.add(field, "names at most 50 values");
        return Vec::new();
    }
    let mut codes = Vec::with_capacity(raw.len());
    for (position, code) in raw.iter().enumerate() {
        let code = code.trim();
        if code.len() != 2 || !code.chars().all(|c| c.is_ascii_alphabetic()) {
            violations.add(
                format!("{field}[{position}]"),
                if upper_case {
                    "must be an ISO 3166-1 alpha-2 country code such as DE"
                } else {
                    "must be an ISO 639-1 language code such as en"
                },
            );
            continue;
        }
        codes.push(if upper_case {
            code.to_ascii_uppercase()
        } else {
            code.to_ascii_lowercase()
        });
    }
    codes.sort();
    codes.dedup();
    codes
}

fn parse_sort(raw: i32) -> Parsed<Sort> {
    match proto::SortOrder::try_from(raw) {
        Ok(proto::SortOrder::Unspecified | proto::SortOrder::Relevance) => Ok(Sort::Relevance),
        Ok(proto::SortOrder::PriceAscending) => Ok(Sort::PriceAscending),
        Ok(proto::SortOrder::PriceDescending) => Ok(Sort::PriceDescending),
        Ok(proto::SortOrder::Rating) => Ok(Sort::Rating),
        Ok(proto::SortOrder::Newest) => Ok(Sort::Newest),
        Err(_) => Err(invalid(
            "sort",
            "must be one of SORT_ORDER_RELEVANCE, SORT_ORDER_PRICE_ASCENDING, \
             SORT_ORDER_PRICE_DESCENDING, SORT_ORDER_RATING, SORT_ORDER_NEWEST",
        )),
    }
}

/// Whether a cursor's value is of the kind the search orders by.
fn cursor_fits(cursor: &Cursor, sort: Sort, has_text: bool) -> bool {
    matches!(
        (sort, cursor.value),
        (Sort::Relevance, SortValue::Score(_)) if has_text
    ) || matches!(
        (sort, cursor.value),
        (Sort::Relevance, SortValue::PublishTime(_)) if !has_text
    ) || matches!(
        (sort, cursor.value),
        (
            Sort::PriceAscending | Sort::PriceDescending,
            SortValue::Price(_)
        ) | (Sort::Rating, SortValue::Rating(_))
            | (Sort::Newest, SortValue::PublishTime(_))
    )
}

/// The domain query of a request and the fingerprint of the search (without the page).
fn parse_search(request: proto::SearchGigsRequest) -> Result<(SearchQuery, String), SearchError> {
    let mut violations = Violations::new();
    let text = violations.check(parse_query_text(&request.query));
    let category_id = violations.check(parse_optional_id("category_id", &request.category_id));
    let subcategory_id =
        violations.check(parse_optional_id("subcategory_id", &request.subcategory_id));
    let currency = violations.check(parse_currency(&request.currency));
    let min_price = violations.check(parse_price("min_price_minor", request.min_price_minor));
    let max_price = violations.check(parse_price("max_price_minor", request.max_price_minor));
    if let (Some(Some(min)), Some(Some(max))) = (min_price, max_price)
        && min > max
    {
        violations.add("max_price_minor", "must not be less than min_price_minor");
    }
    if request.max_delivery_days < 0 {
        violations.add("max_delivery_days", "must not be negative");
    }
    let min_rating = request.min_rating;
    if !min_rating.is_finite() || !(0.0..=MAX_RATING).contains(&min_rating) {
        violations.add("min_rating", "must be between 0 and 5");
    }
    let seller_countries = parse_codes(
        "seller_countries",
        &request.seller_countries,
        true,
        &mut violations,
    );
    let seller_languages = parse_codes(
        "seller_languages",
        &request.seller_languages,
        false,
        &mut violations,
    );
    let sort = violations.check(parse_sort(request.sort));
    let limit = violations.check(PageSize::parse(
        "page_size",
        request.page_size,
        DEFAULT_PAGE_SIZE,
        MAX_PAGE_SIZE,
    ));
    let position = violations.check(PageToken::decode::<PagePosition>(
        "page_token",
        &request.page_token,
    ));
    violations.finish()?;
    let (
        Some(text),
        Some(category_id),
        Some(subcategory_id),
        Some(currency),
        Some(min_price),
        Some(max_price),
        Some(sort),
        Some(limit),
        Some(position),
    ) = (
        text,
        category_id,
        subcategory_id,
        currency,
        min_price,
        max_price,
        sort,
        limit,
        position,
    )
    else {
        return Err(SearchError::InvalidArgument(Vec::new()));
    };
    let price = (min_price.is_some() || max_price.is_some()).then(|| PriceRange {
        currency: currency.clone(),
        min_minor: min_price,
        max_minor: max_price,
    });
    let filters = Filters {
        category_id,
        subcategory_id,
        price,
        max_delivery_days: u32::try_from(request.max_delivery_days)
            .ok()
            .filter(|days| *days > 0),
        min_rating: (min_rating > 0.0).then_some(min_rating),
        seller_countries,
        seller_languages,
    };
    let fingerprint = fingerprint(&text, &filters, &currency, sort);
    let has_text = text.chars().any(char::is_alphanumeric);
    let after = match position {
        None => None,
        Some(position)
            if position.search == fingerprint && cursor_fits(&position.after, sort, has_text) =>
        {
            Some(position.after)
        }
        Some(_) => {
            return Err(SearchError::InvalidArgument(vec![
                gigmesh_errors::FieldViolation::new(
                    "page_token",
                    "belongs to another search; send the same query, filters and sort as \
                     the first page",
                ),
            ]));
        }
    };
    Ok((
        SearchQuery {
            text,
            filters,
            facet_currency: currency,
            sort,
            limit: limit as usize,
            after,
        },
        fingerprint,
    ))
}

fn fingerprint(text: &str, filters: &Filters, currency: &str, sort: Sort) -> String {
    let canonical =
        serde_json::to_string(&(text.to_lowercase(), filters, currency, sort)).unwrap_or_default();
    let digest = Sha256::digest(canonical.as_bytes());
    digest
        .iter()
        .take(8)
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

fn range_to_proto(range: &RangeCount) -> proto::RangeCount {
    proto::RangeCount {
        from: range.from,
        to: range.to,
        count: i64::try_from(range.count).unwrap_or(i64::MAX),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries_need_a_letter_or_digit_and_at_most_200_characters() {
        assert!(parse_query_text("logo design").is_ok());
        assert!(parse_query_text("").is_ok());
        assert!(parse_query_text("?!…").is_err());
        assert!(parse_query_text(&"a".repeat(201)).is_err());
        assert!(parse_query_text(&"a".repeat(200)).is_ok());
    }

    #[test]
    fn a_token_of_one_search_is_refused_by_another() {
        let first = proto::SearchGigsRequest {
            query: "logo".to_owned(),
            ..proto::SearchGigsRequest::default()
        };
        let (_, fingerprint) = parse_search(first.clone()).unwrap();
        let token = PageToken::encode(&PagePosition {
            search: fingerprint,
            after: Cursor {
                value: SortValue::Score(1.5),
                gig_id: Uuid::now_v7(),
            },
        });
        let same = proto::SearchGigsRequest {
            page_token: token.clone(),
            ..first
        };
        assert!(parse_search(same).unwrap().0.after.is_some());
        let other = proto::SearchGigsRequest {
            query: "website".to_owned(),
            page_token: token,
            ..proto::SearchGigsRequest::default()
        };
        assert!(parse_search(other).is_err());
    }
}
