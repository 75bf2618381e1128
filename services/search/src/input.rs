//! Requests as domain values: every field of a search, an autocomplete or a similar-gigs
//! request is parsed here, with the name of the field in each violation, so a caller learns
//! about every bad field at once. Nothing deeper sees a proto type or a raw string id.
//!
//! Pages continue after the last hit of the previous page: the page token carries that
//! hit's sort value and gig id (a keyset cursor) and a fingerprint of the search. Unlike an
//! offset, a cursor neither repeats nor skips gigs when others are added or removed between
//! pages, on any replica; only a gig whose own sort value changes in between (a new price,
//! a new rating, or, for relevance, scores shifting as the corpus changes) may move across
//! the page boundary.

use gigmesh_errors::{ApiError, Violations};
use gigmesh_proto::search as proto;
use gigmesh_types::{Currency, GigId, PageSize, PageToken};
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use crate::domain::{
    Cursor, Filters, MAX_PREFIX_CHARS, MAX_QUERY_CHARS, MAX_RATING, Order, PriceRange, SearchQuery,
    Sort,
};

/// Results per page unless asked otherwise, and at most.
const DEFAULT_PAGE_SIZE: u32 = 20;
const MAX_PAGE_SIZE: u32 = 100;
/// Suggestions and similar gigs per answer unless asked otherwise, and at most.
const DEFAULT_SHORT_LIST_SIZE: u32 = 8;
const MAX_SHORT_LIST_SIZE: u32 = 20;
/// Currency of price filters and facets when none is given.
const DEFAULT_CURRENCY: Currency = Currency::USD;
/// Most seller countries or languages one search may name.
const MAX_FILTER_VALUES: usize = 50;
/// Longest category or subcategory id accepted.
const MAX_ID_CHARS: usize = 100;

/// The value of a parse step, or the violations of its field.
type Parsed<T> = Result<T, ApiError>;

/// A search as the index runs it, with what its page tokens are checked against.
#[derive(Debug, Clone, PartialEq)]
pub struct PagedSearch {
    /// The search; its `limit` is the page size.
    pub query: SearchQuery,
    /// Identifies the search without its page: keywords, filters, currency and sort.
    fingerprint: String,
}

impl PagedSearch {
    /// The token of the page that continues after `last`, the last hit of this page.
    pub fn next_page_token(&self, last: Cursor) -> String {
        PageToken::encode(&PagePosition {
            search: self.fingerprint.clone(),
            after: last,
        })
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

/// The search of SearchGigs; a page token is accepted only from the same search.
pub fn parse_search(request: proto::SearchGigsRequest) -> Parsed<PagedSearch> {
    let mut violations = Violations::new();
    let text = violations
        .check(parse_query_text(&request.query))
        .unwrap_or_default();
    let category_id = violations
        .check(parse_optional_id("category_id", &request.category_id))
        .flatten();
    let subcategory_id = violations
        .check(parse_optional_id("subcategory_id", &request.subcategory_id))
        .flatten();
    let currency = violations
        .check(parse_currency(&request.currency))
        .unwrap_or(DEFAULT_CURRENCY);
    let min_price = violations
        .check(parse_price("min_price_minor", request.min_price_minor))
        .flatten();
    let max_price = violations
        .check(parse_price("max_price_minor", request.max_price_minor))
        .flatten();
    if let (Some(min), Some(max)) = (min_price, max_price)
        && min > max
    {
        violations.add("max_price_minor", "must not be less than min_price_minor");
    }
    let max_delivery_days = violations
        .check(parse_max_delivery_days(request.max_delivery_days))
        .flatten();
    let min_rating = violations
        .check(parse_min_rating(request.min_rating))
        .flatten();
    let seller_countries = parse_codes(
        "seller_countries",
        &request.seller_countries,
        CodeKind::Country,
        &mut violations,
    );
    let seller_languages = parse_codes(
        "seller_languages",
        &request.seller_languages,
        CodeKind::Language,
        &mut violations,
    );
    let sort = violations
        .check(parse_sort(request.sort))
        .unwrap_or(Sort::Relevance);
    let page_size = violations
        .check(PageSize::parse(
            "page_size",
            request.page_size,
            DEFAULT_PAGE_SIZE,
            MAX_PAGE_SIZE,
        ))
        .unwrap_or(DEFAULT_PAGE_SIZE);
    let position = violations
        .check(PageToken::decode::<PagePosition>(
            "page_token",
            &request.page_token,
        ))
        .flatten();
    violations.finish()?;

    let price = (min_price.is_some() || max_price.is_some()).then_some(PriceRange {
        currency,
        min_minor: min_price,
        max_minor: max_price,
    });
    let filters = Filters {
        category_id,
        subcategory_id,
        price,
        max_delivery_days,
        min_rating,
        seller_countries,
        seller_languages,
    };
    let fingerprint = fingerprint(&text, &filters, currency, sort);
    let order = Order::of(sort, text.chars().any(char::is_alphanumeric));
    let after = match position {
        None => None,
        Some(position)
            if position.search == fingerprint && order.sorts_by(position.after.value) =>
        {
            Some(position.after)
        }
        Some(_) => {
            return Err(ApiError::invalid(
                "page_token",
                "belongs to another search; send the same query, filters and sort as the \
                 first page",
            ));
        }
    };
    Ok(PagedSearch {
        query: SearchQuery {
            text,
            filters,
            facet_currency: currency,
            sort,
            limit: page_size as usize,
            after,
        },
        fingerprint,
    })
}

/// The prefix (lower case) and the number of suggestions of SuggestGigs.
pub fn parse_suggestion(request: &proto::SuggestGigsRequest) -> Parsed<(String, usize)> {
    let mut violations = Violations::new();
    let prefix = violations
        .check(parse_prefix(&request.prefix))
        .unwrap_or_default();
    let limit = violations
        .check(parse_short_list_size(request.page_size))
        .unwrap_or_default();
    violations.finish()?;
    Ok((prefix, limit))
}

/// The gig and the number of similar gigs of ListSimilarGigs.
pub fn parse_similar(request: &proto::ListSimilarGigsRequest) -> Parsed<(GigId, usize)> {
    let mut violations = Violations::new();
    let gig_id = violations.check(parse_gig_id("gig_id", &request.gig_id));
    let limit = violations
        .check(parse_short_list_size(request.page_size))
        .unwrap_or_default();
    violations.finish()?;
    let gig_id = gig_id.ok_or_else(|| ApiError::invalid("gig_id", "is required"))?;
    Ok((gig_id, limit))
}

fn parse_gig_id(field: &str, raw: &str) -> Parsed<GigId> {
    GigId::parse(field, raw.trim())
}

fn parse_short_list_size(raw: i32) -> Parsed<usize> {
    PageSize::parse(
        "page_size",
        raw,
        DEFAULT_SHORT_LIST_SIZE,
        MAX_SHORT_LIST_SIZE,
    )
    .map(|size| size as usize)
}

fn parse_query_text(raw: &str) -> Parsed<String> {
    let text = raw.trim();
    if text.chars().count() > MAX_QUERY_CHARS {
        return Err(ApiError::invalid("query", "must be at most 200 characters"));
    }
    if !text.is_empty() && !text.chars().any(char::is_alphanumeric) {
        return Err(ApiError::invalid("query", "must contain a letter or digit"));
    }
    Ok(text.to_owned())
}

fn parse_prefix(raw: &str) -> Parsed<String> {
    let prefix = raw.trim_start();
    if prefix.trim().is_empty() {
        return Err(ApiError::invalid("prefix", "is required"));
    }
    if prefix.chars().count() > MAX_PREFIX_CHARS {
        return Err(ApiError::invalid(
            "prefix",
            "must be at most 100 characters",
        ));
    }
    Ok(prefix.to_lowercase())
}

fn parse_optional_id(field: &str, raw: &str) -> Parsed<Option<String>> {
    let id = raw.trim();
    if id.chars().count() > MAX_ID_CHARS {
        return Err(ApiError::invalid(field, "must be at most 100 characters"));
    }
    Ok((!id.is_empty()).then(|| id.to_owned()))
}

/// The currency of the price filter and facet: an ISO 4217 code, USD when empty.
fn parse_currency(raw: &str) -> Parsed<Currency> {
    if raw.trim().is_empty() {
        return Ok(DEFAULT_CURRENCY);
    }
    Currency::parse("currency", raw)
}

fn parse_price(field: &str, raw: Option<i64>) -> Parsed<Option<i64>> {
    match raw {
        Some(negative) if negative < 0 => Err(ApiError::invalid(field, "must not be negative")),
        other => Ok(other),
    }
}

/// The delivery-time filter; 0 does not filter.
fn parse_max_delivery_days(raw: i32) -> Parsed<Option<u32>> {
    match u32::try_from(raw) {
        Err(_) => Err(ApiError::invalid(
            "max_delivery_days",
            "must not be negative",
        )),
        Ok(0) => Ok(None),
        Ok(days) => Ok(Some(days)),
    }
}

/// The rating filter; 0 does not filter.
fn parse_min_rating(raw: f64) -> Parsed<Option<f64>> {
    if !raw.is_finite() || !(0.0..=MAX_RATING).contains(&raw) {
        return Err(ApiError::invalid("min_rating", "must be between 0 and 5"));
    }
    Ok((raw > 0.0).then_some(raw))
}

/// Which two-letter codes a filter lists.
#[derive(Debug, Clone, Copy)]
enum CodeKind {
    /// ISO 3166-1 alpha-2, upper case.
    Country,
    /// ISO 639-1, lower case.
    Language,
}

/// The two-letter codes of a filter, in their letter case, sorted and without repeats.
fn parse_codes(
    field: &str,
    raw: &[String],
    kind: CodeKind,
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
                match kind {
                    CodeKind::Country => "must be an ISO 3166-1 alpha-2 country code such as DE",
                    CodeKind::Language => "must be an ISO 639-1 language code such as en",
                },
            );
            continue;
        }
        codes.push(match kind {
            CodeKind::Country => code.to_ascii_uppercase(),
            CodeKind::Language => code.to_ascii_lowercase(),
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
        Err(_) => Err(ApiError::invalid(
            "sort",
            "must be one of SORT_ORDER_RELEVANCE, SORT_ORDER_PRICE_ASCENDING, \
             SORT_ORDER_PRICE_DESCENDING, SORT_ORDER_RATING, SORT_ORDER_NEWEST",
        )),
    }
}

/// A short digest of what makes a search (keywords in any case, filters, currency, sort).
fn fingerprint(text: &str, filters: &Filters, currency: Currency, sort: Sort) -> String {
    let canonical =
        serde_json::to_string(&(text.to_lowercase(), filters, currency, sort)).unwrap_or_default();
    let digest = Sha256::digest(canonical.as_bytes());
    digest
        .iter()
        .take(8)
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::SortValue;

    #[test]
    fn queries_need_a_letter_or_digit_and_at_most_200_characters() {
        assert!(parse_query_text("logo design").is_ok());
        assert!(parse_query_text("").is_ok());
        assert!(parse_query_text("?!…").is_err());
        assert!(parse_query_text(&"a".repeat(201)).is_err());
        assert!(parse_query_text(&"a".repeat(200)).is_ok());
    }

    #[test]
    fn the_currency_is_an_iso_4217_code_and_usd_when_empty() {
        assert_eq!(parse_currency("").unwrap(), Currency::USD);
        assert_eq!(parse_currency("  ").unwrap(), Currency::USD);
        assert_eq!(parse_currency(" eur ").unwrap().code(), "EUR");
        for raw in ["dollars", "XYZ", "US"] {
            let error = parse_currency(raw).unwrap_err();
            assert!(error.to_string().contains("currency: "), "{error}");
        }
        let search = parse_search(proto::SearchGigsRequest {
            currency: "gbp".to_owned(),
            min_price_minor: Some(100),
            ..proto::SearchGigsRequest::default()
        })
        .unwrap();
        assert_eq!(search.query.facet_currency.code(), "GBP");
        let price = search.query.filters.price.expect("a price range");
        assert_eq!(price.currency.code(), "GBP");
    }

    #[test]
    fn every_bad_field_is_reported_at_once() {
        let error = parse_search(proto::SearchGigsRequest {
            query: "?!".to_owned(),
            currency: "dollars".to_owned(),
            max_delivery_days: -1,
            min_rating: 7.0,
            sort: 42,
            ..proto::SearchGigsRequest::default()
        })
        .unwrap_err();
        let ApiError::InvalidArgument(violations) = error else {
            panic!("not invalid: {error}");
        };
        let fields: Vec<&str> = violations
            .iter()
            .map(|violation| violation.field.as_str())
            .collect();
        assert_eq!(
            fields,
            [
                "query",
                "currency",
                "max_delivery_days",
                "min_rating",
                "sort"
            ]
        );
    }

    #[test]
    fn a_token_of_one_search_is_refused_by_another() {
        let first = proto::SearchGigsRequest {
            query: "logo".to_owned(),
            ..proto::SearchGigsRequest::default()
        };
        let search = parse_search(first.clone()).unwrap();
        let token = search.next_page_token(Cursor {
            value: SortValue::Score(1.5),
            gig_id: GigId::new().as_uuid(),
        });
        let same = proto::SearchGigsRequest {
            page_token: token.clone(),
            ..first
        };
        assert!(parse_search(same).unwrap().query.after.is_some());
        let other = proto::SearchGigsRequest {
            query: "website".to_owned(),
            page_token: token,
            ..proto::SearchGigsRequest::default()
        };
        assert!(parse_search(other).is_err());
    }

    #[test]
    fn similar_gigs_need_a_gig_id() {
        let gig_id = GigId::new();
        let (parsed, limit) = parse_similar(&proto::ListSimilarGigsRequest {
            gig_id: format!(" {gig_id} "),
            page_size: 0,
        })
        .unwrap();
        assert_eq!((parsed, limit), (gig_id, DEFAULT_SHORT_LIST_SIZE as usize));
        for raw in ["", "nope"] {
            let request = proto::ListSimilarGigsRequest {
                gig_id: raw.to_owned(),
                page_size: 0,
            };
            assert!(parse_similar(&request).is_err(), "{raw:?}");
        }
    }
}
