//! What search knows about a gig and what a search asks for: plain values and the pure
//! rules over them (the order a sort means, typo distance, facet buckets); no IO, no proto.

use gigmesh_types::Currency;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Longest query accepted, in characters.
pub const MAX_QUERY_CHARS: usize = 200;
/// Longest autocomplete prefix accepted, in characters.
pub const MAX_PREFIX_CHARS: usize = 100;
/// Highest rating a gig can have.
pub const MAX_RATING: f64 = 5.0;

/// Upper bounds (exclusive, minor units) of the starting-price facet buckets: under 25,
/// 25 to 50, 50 to 100, 100 to 250 and 250 and more (in major units).
pub const PRICE_BUCKET_BOUNDS: [i64; 4] = [2_500, 5_000, 10_000, 25_000];
/// Upper bounds (exclusive) of the delivery-days facet buckets: within 1 day, 2 to 3,
/// 4 to 7 and more than 7 days.
pub const DELIVERY_BUCKET_BOUNDS: [i64; 3] = [2, 4, 8];

/// A visible gig as the index holds it: the denormalised summary search results show.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GigDocument {
    /// Id of the gig.
    pub gig_id: Uuid,
    /// URL slug.
    pub slug: String,
    /// Title.
    pub title: String,
    /// Description (Markdown).
    pub description: String,
    /// Category id.
    pub category_id: String,
    /// Subcategory id.
    pub subcategory_id: String,
    /// Tags, as the seller wrote them.
    pub tags: Vec<String>,
    /// Price of the basic package, in minor units.
    pub starting_price_minor: i64,
    /// Currency of the gig (ISO 4217).
    pub currency: String,
    /// Delivery days of the basic package.
    pub delivery_days: u32,
    /// Average rating, 0 to 5.
    pub rating: f64,
    /// Number of ratings.
    pub rating_count: i32,
    /// Cover image URL, empty without a gallery.
    pub cover_url: String,
    /// Id of the seller.
    pub seller_id: String,
    /// Seller's display name.
    pub seller_name: String,
    /// Seller's country (ISO 3166-1 alpha-2, upper case), empty when unknown.
    pub seller_country: String,
    /// Languages the seller speaks (ISO 639-1, lower case).
    pub seller_languages: Vec<String>,
    /// When the gig was first published, in milliseconds since the epoch.
    pub publish_time_millis: i64,
}

/// How results are ordered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Sort {
    /// Best keyword match first (newest first when there are no keywords).
    Relevance,
    /// Cheapest starting price first.
    PriceAscending,
    /// Most expensive starting price first.
    PriceDescending,
    /// Best rated first.
    Rating,
    /// Most recently published first.
    Newest,
}

/// What hits are ordered by once it is known whether the keywords rank: relevance without
/// ranking keywords lists the newest first. Ties are broken by gig id ascending.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Order {
    /// Best keyword match first.
    Score,
    /// Most recently published first.
    Newest,
    /// Cheapest starting price first.
    PriceAscending,
    /// Most expensive starting price first.
    PriceDescending,
    /// Best rated first.
    Rating,
}

impl Order {
    /// The order of a search sorted by `sort` whose keywords rank (`has_words`) or not.
    pub fn of(sort: Sort, has_words: bool) -> Self {
        match sort {
            Sort::Relevance if has_words => Order::Score,
            Sort::Relevance | Sort::Newest => Order::Newest,
            Sort::PriceAscending => Order::PriceAscending,
            Sort::PriceDescending => Order::PriceDescending,
            Sort::Rating => Order::Rating,
        }
    }

    /// Whether `value` is of the kind this order sorts by, as the cursors of its hits are.
    pub fn sorts_by(self, value: SortValue) -> bool {
        matches!(
            (self, value),
            (Order::Score, SortValue::Score(_))
                | (Order::Newest, SortValue::PublishTime(_))
                | (
                    Order::PriceAscending | Order::PriceDescending,
                    SortValue::Price(_)
                )
                | (Order::Rating, SortValue::Rating(_))
        )
    }
}

/// A starting-price range in one currency, in minor units.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PriceRange {
    /// Only gigs in this currency match.
    pub currency: Currency,
    /// Inclusive lower bound.
    pub min_minor: Option<i64>,
    /// Inclusive upper bound.
    pub max_minor: Option<i64>,
}

/// Conditions every result meets; empty fields do not filter.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Filters {
    /// Only this category.
    pub category_id: Option<String>,
    /// Only this subcategory.
    pub subcategory_id: Option<String>,
    /// Starting price within this range.
    pub price: Option<PriceRange>,
    /// Basic package delivered within this many days.
    pub max_delivery_days: Option<u32>,
    /// Rating at least this.
    pub min_rating: Option<f64>,
    /// Seller lives in one of these countries (upper case).
    pub seller_countries: Vec<String>,
    /// Seller speaks one of these languages (lower case).
    pub seller_languages: Vec<String>,
}

/// The value a hit was ordered by, kept in page tokens to continue after it.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub enum SortValue {
    /// Relevance score (higher first).
    Score(f32),
    /// Starting price in minor units.
    Price(i64),
    /// Rating (higher first).
    Rating(f64),
    /// Publish time in milliseconds (later first).
    PublishTime(i64),
}

/// The position of a hit in its order: its sort value, ties broken by gig id ascending.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Cursor {
    /// What the hit was ordered by.
    pub value: SortValue,
    /// The hit's gig.
    pub gig_id: Uuid,
}

/// One search.
#[derive(Debug, Clone, PartialEq)]
pub struct SearchQuery {
    /// Keywords as typed (validated); empty matches everything.
    pub text: String,
    /// Conditions on the results.
    pub filters: Filters,
    /// Currency whose prices the price facet counts.
    pub facet_currency: Currency,
    /// Order.
    pub sort: Sort,
    /// How many hits to return.
    pub limit: usize,
    /// Continue after this hit (from the previous page).
    pub after: Option<Cursor>,
}

/// A hit with its position, to continue after it.
#[derive(Debug, Clone, PartialEq)]
pub struct SearchHit {
    /// The gig.
    pub document: GigDocument,
    /// Where it stands in the order.
    pub cursor: Cursor,
}

/// Matches under one value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValueCount {
    /// The value, e.g. a category id.
    pub value: String,
    /// Number of matches.
    pub count: u64,
}

/// Matches in `[from, to)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RangeCount {
    /// Inclusive lower bound; `None` for an open start.
    pub from: Option<i64>,
    /// Exclusive upper bound; `None` for an open end.
    pub to: Option<i64>,
    /// Number of matches.
    pub count: u64,
}

/// Counts over every match of a search.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Facets {
    /// Matches per category, ignoring the category filter; most first, then by id.
    pub categories: Vec<ValueCount>,
    /// Matches per starting-price bucket ([`PRICE_BUCKET_BOUNDS`]), in the facet currency.
    pub price_buckets: Vec<RangeCount>,
    /// Matches per delivery-days bucket ([`DELIVERY_BUCKET_BOUNDS`]).
    pub delivery_day_buckets: Vec<RangeCount>,
}

/// The answer to a search.
#[derive(Debug, Clone, PartialEq)]
pub struct SearchResults {
    /// The hits of the page, in order.
    pub hits: Vec<SearchHit>,
    /// Number of matches in all.
    pub total: u64,
    /// Facets over every match.
    pub facets: Facets,
    /// The keywords with typos corrected, when none of them is in the index as typed but
    /// the search found gigs anyway (through typo tolerance).
    pub corrected_text: Option<String>,
}

/// An autocomplete suggestion.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Suggestion {
    /// Text to show and search for.
    pub text: String,
    /// The gig whose title it is; `None` for a tag.
    pub gig_id: Option<Uuid>,
}

/// Levenshtein distance between two words, with a swap of neighbours counting as one
/// edit (optimal string alignment).
pub fn edit_distance(left: &str, right: &str) -> usize {
    let left: Vec<char> = left.chars().collect();
    let right: Vec<char> = right.chars().collect();
    let columns = right.len() + 1;
    let mut table = vec![0_usize; (left.len() + 1) * columns];
    for (row, cell) in table.iter_mut().step_by(columns).enumerate() {
        *cell = row;
    }
    for (column, cell) in table.iter_mut().take(columns).enumerate() {
        *cell = column;
    }
    for row in 1..=left.len() {
        for column in 1..=right.len() {
            let cost = usize::from(left[row - 1] != right[column - 1]);
            let mut best = (table[(row - 1) * columns + column] + 1)
                .min(table[row * columns + column - 1] + 1)
                .min(table[(row - 1) * columns + column - 1] + cost);
            if row > 1
                && column > 1
                && left[row - 1] == right[column - 2]
                && left[row - 2] == right[column - 1]
            {
                best = best.min(table[(row - 2) * columns + column - 2] + 1);
            }
            table[row * columns + column] = best;
        }
    }
    table[left.len() * columns + right.len()]
}

/// Range buckets from exclusive upper `bounds`, holding `counts` in bucket order (a missing
/// count is 0).
pub fn range_buckets(bounds: &[i64], counts: &[u64]) -> Vec<RangeCount> {
    (0..=bounds.len())
        .map(|index| RangeCount {
            from: index.checked_sub(1).map(|previous| bounds[previous]),
            to: bounds.get(index).copied(),
            count: counts.get(index).copied().unwrap_or_default(),
        })
        .collect()
}

/// Which bucket of `bounds` a value falls in.
pub fn bucket_of(bounds: &[i64], value: i64) -> usize {
    bounds
        .iter()
        .position(|bound| value < *bound)
        .unwrap_or(bounds.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relevance_without_ranking_words_is_newest_first() {
        assert_eq!(Order::of(Sort::Relevance, true), Order::Score);
        assert_eq!(Order::of(Sort::Relevance, false), Order::Newest);
        assert_eq!(
            Order::of(Sort::PriceDescending, true),
            Order::PriceDescending
        );
        assert!(Order::Newest.sorts_by(SortValue::PublishTime(1)));
        assert!(Order::PriceDescending.sorts_by(SortValue::Price(1)));
        assert!(!Order::Score.sorts_by(SortValue::PublishTime(1)));
        assert!(!Order::Rating.sorts_by(SortValue::Price(1)));
    }

    #[test]
    fn edit_distance_counts_swaps_as_one_edit() {
        assert_eq!(edit_distance("logo", "logo"), 0);
        assert_eq!(edit_distance("logp", "logo"), 1);
        assert_eq!(edit_distance("websiet", "website"), 1);
        assert_eq!(edit_distance("brand", "hand"), 2);
        assert_eq!(edit_distance("", "abc"), 3);
    }

    #[test]
    fn buckets_are_half_open_ranges() {
        assert_eq!(bucket_of(&PRICE_BUCKET_BOUNDS, 2_499), 0);
        assert_eq!(bucket_of(&PRICE_BUCKET_BOUNDS, 2_500), 1);
        assert_eq!(bucket_of(&PRICE_BUCKET_BOUNDS, 25_000), 4);
        assert_eq!(bucket_of(&DELIVERY_BUCKET_BOUNDS, 1), 0);
        assert_eq!(bucket_of(&DELIVERY_BUCKET_BOUNDS, 3), 1);
        assert_eq!(bucket_of(&DELIVERY_BUCKET_BOUNDS, 7), 2);
        assert_eq!(bucket_of(&DELIVERY_BUCKET_BOUNDS, 8), 3);
        let buckets = range_buckets(&DELIVERY_BUCKET_BOUNDS, &[1, 2, 3, 4]);
        assert_eq!(buckets.first().unwrap().from, None);
        assert_eq!(buckets.first().unwrap().to, Some(2));
        assert_eq!(buckets.last().unwrap().from, Some(8));
        assert_eq!(buckets.last().unwrap().to, None);
        assert_eq!(buckets.last().unwrap().count, 4);
    }
}
