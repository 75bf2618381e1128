//! The distributed [`SearchIndex`] adapter: one OpenSearch 2.x index shared by every
//! search replica, reached over its REST API with the `opensearch` crate.
//!
//! The index is created on first use with explicit mappings (`dynamic: strict`): the
//! ranked text fields (title, tags, description, seller name) use the built-in `english`
//! analyzer; ids, currency, country and languages are `keyword`s; price, delivery days
//! and rating are numbers; the publish time is a `date` in epoch milliseconds; `suggest`
//! (the title and the tags) is a `search_as_you_type` field for autocomplete.
//!
//! A search is one request: every keyword must match one of the text fields
//! (`multi_match`, title boosted, `fuzziness: "AUTO:4,8"`, the same typo distances as the
//! embedded adapter), every filter is a non-scoring `bool` filter except the category,
//! which is a `post_filter` so the category facet (a `terms` aggregation) counts every
//! category; the price and delivery facets are `range` aggregations over the
//! [`PRICE_BUCKET_BOUNDS`] and [`DELIVERY_BUCKET_BOUNDS`] inside a `filter` aggregation
//! that applies the category filter again. Hits are sorted by the sort field, then by
//! `gig_id`, and pages continue with `search_after`, which is exactly the port's
//! [`Cursor`]. A `term` suggester on the unstemmed `suggest` field proposes corrections
//! for keywords missing from the index.
//!
//! Writes are visible to searches after [`SearchIndex::commit`], which refreshes the
//! index. A connection failure, a timeout or a 5xx/429 answer becomes an
//! [`IndexError::unavailable`] error, which the service answers with `UNAVAILABLE`.
//!
//! The port's behaviour suite (`behaviour::run_all`) needs a live engine, which unit tests
//! do not have; `tests/opensearch_adapter.rs` instead replays request/response fixtures
//! (`tests/fixtures/opensearch/`) written from the OpenSearch 2.x REST API: they prove
//! that every method sends exactly the documented request (method, path, query string
//! and JSON body) and reads the documented answers, including errors, into the port's
//! values. Whether OpenSearch then ranks like the embedded adapter is what the behaviour
//! suite would prove against a real cluster.

use std::time::Duration;

use anyhow::Context as _;
use async_trait::async_trait;
use opensearch::http::request::JsonBody;
use opensearch::http::response::Response;
use opensearch::http::transport::{SingleNodeConnectionPool, TransportBuilder};
use opensearch::indices::{IndicesCreateParts, IndicesRefreshParts};
use opensearch::params::Conflicts;
use opensearch::{
    BulkParts, CountParts, DeleteByQueryParts, DeleteParts, GetParts, IndexParts, OpenSearch,
    SearchParts,
};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokio::sync::OnceCell;
use uuid::Uuid;

use super::{IndexError, SearchIndex, by_rating, plain_words, rank_suggestions};
use crate::domain::{
    Cursor, DELIVERY_BUCKET_BOUNDS, Facets, Filters, GigDocument, Order, PRICE_BUCKET_BOUNDS,
    SearchHit, SearchQuery, SearchResults, SortValue, Suggestion, ValueCount, range_buckets,
};

/// Candidates read for autocomplete before ranking them.
const SUGGEST_CANDIDATES: usize = 200;
/// Most categories the category facet returns.
const MAX_CATEGORIES: usize = 100;
/// Documents per bulk request when the whole content is replaced.
const BULK_BATCH: usize = 500;
/// How long one request may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// Typo tolerance: no edit below 4 characters, one up to 7, two from 8.
const FUZZINESS: &str = "AUTO:4,8";
/// Text fields a keyword may match, with their boosts.
const KEYWORD_FIELDS: [&str; 4] = ["title^3", "tags^2", "seller_name", "description"];

/// An OpenSearch index of gig documents.
#[derive(Clone)]
pub struct OpenSearchIndex {
    client: OpenSearch,
    index: String,
    created: std::sync::Arc<OnceCell<()>>,
}

impl std::fmt::Debug for OpenSearchIndex {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("OpenSearchIndex")
            .field("index", &self.index)
            .finish_non_exhaustive()
    }
}

/// The settings and mappings the index is created with.
pub fn index_definition() -> Value {
    let english = json!({ "type": "text", "analyzer": "english" });
    let keyword = json!({ "type": "keyword" });
    let stored_only = json!({ "type": "keyword", "index": false, "doc_values": false });
    json!({
        "settings": {
            "index": { "number_of_shards": 1, "max_result_window": 10000 }
        },
        "mappings": {
            "dynamic": "strict",
            "properties": {
                "gig_id": keyword,
                "slug": stored_only,
                "title": english,
                "description": english,
                "tags": english,
                "seller_name": english,
                "category": keyword,
                "subcategory": keyword,
                "currency": keyword,
                "seller_country": keyword,
                "seller_languages": keyword,
                "seller_id": keyword,
                "cover_url": stored_only,
                "price_minor": { "type": "long" },
                "delivery_days": { "type": "integer" },
                "rating": { "type": "double" },
                "rating_count": { "type": "integer" },
                "publish_time": { "type": "date", "format": "epoch_millis" },
                "suggest": { "type": "search_as_you_type", "max_shingle_size": 3 }
            }
        }
    })
}

/// A gig document as the index stores it (`_source`).
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Source {
    gig_id: Uuid,
    slug: String,
    title: String,
    description: String,
    category: String,
    subcategory: String,
    tags: Vec<String>,
    price_minor: i64,
    currency: String,
    delivery_days: u32,
    rating: f64,
    rating_count: i32,
    cover_url: String,
    seller_id: String,
    seller_name: String,
    seller_country: String,
    seller_languages: Vec<String>,
    publish_time: i64,
    #[serde(default)]
    suggest: Vec<String>,
}

impl From<GigDocument> for Source {
    fn from(document: GigDocument) -> Self {
        let suggest = std::iter::once(document.title.clone())
            .chain(document.tags.iter().cloned())
            .collect();
        Self {
            gig_id: document.gig_id,
            slug: document.slug,
            title: document.title,
            description: document.description,
            category: document.category_id,
            subcategory: document.subcategory_id,
            tags: document.tags,
            price_minor: document.starting_price_minor,
            currency: document.currency,
            delivery_days: document.delivery_days,
            rating: document.rating,
            rating_count: document.rating_count,
            cover_url: document.cover_url,
            seller_id: document.seller_id,
            seller_name: document.seller_name,
            seller_country: document.seller_country,
            seller_languages: document.seller_languages,
            publish_time: document.publish_time_millis,
            suggest,
        }
    }
}

impl From<Source> for GigDocument {
    fn from(source: Source) -> Self {
        Self {
            gig_id: source.gig_id,
            slug: source.slug,
            title: source.title,
            description: source.description,
            category_id: source.category,
            subcategory_id: source.subcategory,
            tags: source.tags,
            starting_price_minor: source.price_minor,
            currency: source.currency,
            delivery_days: source.delivery_days,
            rating: source.rating,
            rating_count: source.rating_count,
            cover_url: source.cover_url,
            seller_id: source.seller_id,
            seller_name: source.seller_name,
            seller_country: source.seller_country,
            seller_languages: source.seller_languages,
            publish_time_millis: source.publish_time,
        }
    }
}

impl OpenSearchIndex {
    /// The index named `index` on the cluster at `url` (e.g. `http://opensearch:9200`).
    /// Nothing is sent until the first use, which creates the index when missing. The node
    /// is reached directly, never through a proxy named in the environment.
    pub fn connect(url: &str, index: &str) -> Result<Self, IndexError> {
        let url = url::Url::parse(url).with_context(|| format!("OpenSearch URL {url:?}"))?;
        let transport = TransportBuilder::new(SingleNodeConnectionPool::new(url))
            .disable_proxy()
            .timeout(REQUEST_TIMEOUT)
            .build()
            .context("build the OpenSearch transport")?;
        Ok(Self {
            client: OpenSearch::new(transport),
            index: index.to_owned(),
            created: std::sync::Arc::new(OnceCell::new()),
        })
    }

    /// Name of the index.
    pub fn index_name(&self) -> &str {
        &self.index
    }

    /// Creates the index with its mappings unless it exists; once per process.
    async fn ensure_index(&self) -> Result<(), IndexError> {
        self.created
            .get_or_try_init(|| async {
                let response = self
                    .client
                    .indices()
                    .create(IndicesCreateParts::Index(&self.index))
                    .body(index_definition())
                    .send()
                    .await;
                match read(response, "create the index").await {
                    Ok(_) => Ok(()),
                    Err(Failure::Status { error_type, .. })
                        if error_type == "resource_already_exists_exception" =>
                    {
                        Ok(())
                    }
                    Err(failure) => Err(failure.into_index_error()),
                }
            })
            .await
            .map(|_| ())
    }

    async fn search_body(&self, body: Value, what: &str) -> Result<SearchResponse, IndexError> {
        let response = self
            .client
            .search(SearchParts::Index(&[&self.index]))
            .body(body)
            .send()
            .await;
        let value = read(response, what)
            .await
            .map_err(Failure::into_index_error)?;
        serde_json::from_value(value)
            .with_context(|| format!("{what}: decode the answer"))
            .map_err(IndexError)
    }
}

#[async_trait]
impl SearchIndex for OpenSearchIndex {
    async fn upsert(&self, document: GigDocument) -> Result<(), IndexError> {
        self.ensure_index().await?;
        let id = document.gig_id.to_string();
        let response = self
            .client
            .index(IndexParts::IndexId(&self.index, &id))
            .body(Source::from(document))
            .send()
            .await;
        read(response, "index a gig")
            .await
            .map_err(Failure::into_index_error)?;
        Ok(())
    }

    async fn remove(&self, gig_id: Uuid) -> Result<(), IndexError> {
        self.ensure_index().await?;
        let id = gig_id.to_string();
        let response = self
            .client
            .delete(DeleteParts::IndexId(&self.index, &id))
            .send()
            .await;
        match read(response, "delete a gig").await {
            Ok(_) | Err(Failure::Status { status: 404, .. }) => Ok(()),
            Err(failure) => Err(failure.into_index_error()),
        }
    }

    async fn clear(&self) -> Result<(), IndexError> {
        self.ensure_index().await?;
        let response = self
            .client
            .delete_by_query(DeleteByQueryParts::Index(&[&self.index]))
            .conflicts(Conflicts::Proceed)
            .body(json!({ "query": { "match_all": {} } }))
            .send()
            .await;
        let answer = read(response, "clear the index")
            .await
            .map_err(Failure::into_index_error)?;
        let failures = answer["failures"].as_array().map_or(0, Vec::len);
        if failures > 0 {
            return Err(IndexError(anyhow::anyhow!(
                "clear the index: {failures} documents could not be deleted: {}",
                answer["failures"]
            )));
        }
        Ok(())
    }

    async fn commit(&self) -> Result<(), IndexError> {
        self.ensure_index().await?;
        let response = self
            .client
            .indices()
            .refresh(IndicesRefreshParts::Index(&[&self.index]))
            .send()
            .await;
        read(response, "refresh the index")
            .await
            .map_err(Failure::into_index_error)?;
        Ok(())
    }

    async fn count(&self) -> Result<u64, IndexError> {
        self.ensure_index().await?;
        let response = self
            .client
            .count(CountParts::Index(&[&self.index]))
            .send()
            .await;
        let answer = read(response, "count the gigs")
            .await
            .map_err(Failure::into_index_error)?;
        answer["count"]
            .as_u64()
            .context("count the gigs: the answer has no count")
            .map_err(IndexError)
    }

    async fn search(&self, query: &SearchQuery) -> Result<SearchResults, IndexError> {
        self.ensure_index().await?;
        let order = order_of(query);
        let answer = self
            .search_body(search_request(query, order), "search the index")
            .await?;
        search_results(query, order, answer).map_err(IndexError)
    }

    async fn suggest(&self, prefix: &str, limit: usize) -> Result<Vec<Suggestion>, IndexError> {
        let prefix = prefix.to_lowercase();
        if limit == 0 || prefix.trim().is_empty() {
            return Ok(Vec::new());
        }
        self.ensure_index().await?;
        let answer = self
            .search_body(suggest_request(&prefix), "search suggestions")
            .await?;
        let mut documents = answer.documents().map_err(IndexError)?;
        documents.sort_by(by_rating);
        Ok(rank_suggestions(&prefix, &documents, limit))
    }

    async fn similar(
        &self,
        gig_id: Uuid,
        limit: usize,
    ) -> Result<Option<Vec<GigDocument>>, IndexError> {
        self.ensure_index().await?;
        let id = gig_id.to_string();
        let response = self
            .client
            .get(GetParts::IndexId(&self.index, &id))
            .send()
            .await;
        let found = match read(response, "read the gig").await {
            Ok(answer) => answer,
            Err(Failure::Status { status: 404, .. }) => return Ok(None),
            Err(failure) => return Err(failure.into_index_error()),
        };
        if found["found"].as_bool() != Some(true) {
            return Ok(None);
        }
        let gig: Source = serde_json::from_value(found["_source"].clone())
            .context("read the gig: decode its source")?;
        if limit == 0 {
            return Ok(Some(Vec::new()));
        }
        let answer = self
            .search_body(
                similar_request(&self.index, &gig, limit),
                "search similar gigs",
            )
            .await?;
        Ok(Some(answer.documents().map_err(IndexError)?))
    }

    async fn replace_all(&self, documents: Vec<GigDocument>) -> Result<(), IndexError> {
        self.clear().await?;
        let mut documents = documents.into_iter().peekable();
        while documents.peek().is_some() {
            let mut lines: Vec<JsonBody<Value>> = Vec::with_capacity(2 * BULK_BATCH);
            for document in documents.by_ref().take(BULK_BATCH) {
                lines.push(json!({ "index": { "_id": document.gig_id.to_string() } }).into());
                let source = serde_json::to_value(Source::from(document))
                    .context("encode a gig document")?;
                lines.push(source.into());
            }
            let response = self
                .client
                .bulk(BulkParts::Index(&self.index))
                .body(lines)
                .send()
                .await;
            let answer = read(response, "index gigs in bulk")
                .await
                .map_err(Failure::into_index_error)?;
            bulk_errors(&answer)?;
        }
        self.commit().await
    }
}

/// The first failed item of a bulk answer, as an error.
fn bulk_errors(answer: &Value) -> Result<(), IndexError> {
    if answer["errors"].as_bool() != Some(true) {
        return Ok(());
    }
    let items = answer["items"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default();
    let failed: Vec<&Value> = items
        .iter()
        .filter_map(|item| item.as_object().and_then(|item| item.values().next()))
        .filter(|result| result.get("error").is_some())
        .collect();
    let unavailable = failed
        .iter()
        .any(|result| result["status"].as_u64().is_some_and(is_retryable));
    let first = failed.first().map(|result| result["error"].to_string());
    let message = format!(
        "index gigs in bulk: {} of {} failed, the first with {}",
        failed.len(),
        items.len(),
        first.unwrap_or_default()
    );
    Err(if unavailable {
        IndexError::unavailable(message)
    } else {
        IndexError(anyhow::anyhow!(message))
    })
}

/// Why a request failed.
#[derive(Debug)]
enum Failure {
    /// No answer: connection refused or reset, timeout.
    Transport(String),
    /// An answer with an error status.
    Status {
        status: u16,
        error_type: String,
        message: String,
    },
    /// An answer that is not the expected JSON.
    Decode(String),
}

impl Failure {
    fn into_index_error(self) -> IndexError {
        match self {
            Failure::Transport(message) => IndexError::unavailable(message),
            Failure::Status {
                status, message, ..
            } if is_retryable(u64::from(status)) => IndexError::unavailable(message),
            Failure::Status { message, .. } | Failure::Decode(message) => {
                IndexError(anyhow::anyhow!(message))
            }
        }
    }
}

/// Whether an HTTP status says the engine is down or overloaded rather than the request
/// wrong.
fn is_retryable(status: u64) -> bool {
    status == 429 || (500..600).contains(&status)
}

/// The JSON answer of a successful request, or why it failed.
async fn read(response: Result<Response, opensearch::Error>, what: &str) -> Result<Value, Failure> {
    let response = response.map_err(|error| Failure::Transport(format!("{what}: {error}")))?;
    let status = response.status_code().as_u16();
    let text = response
        .text()
        .await
        .map_err(|error| Failure::Transport(format!("{what}: read the answer: {error}")))?;
    if (200..300).contains(&status) {
        return serde_json::from_str(&text)
            .map_err(|error| Failure::Decode(format!("{what}: decode the answer: {error}")));
    }
    let body: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
    let error_type = body["error"]["type"]
        .as_str()
        .or_else(|| body["result"].as_str())
        .unwrap_or_default()
        .to_owned();
    let reason = body["error"]["reason"].as_str().unwrap_or_default();
    Err(Failure::Status {
        status,
        message: format!("{what}: OpenSearch answered {status} {error_type}: {reason}"),
        error_type,
    })
}

/// What a search's hits are sorted by (then by gig id, ascending): relevance needs keywords
/// that rank.
fn order_of(query: &SearchQuery) -> Order {
    Order::of(query.sort, !plain_words(&query.text).is_empty())
}

/// The `sort` clause of `order`: the sort field, then the gig id.
fn sort_clause(order: Order) -> Value {
    let primary = match order {
        Order::Score => json!({ "_score": { "order": "desc" } }),
        Order::Newest => json!({ "publish_time": { "order": "desc" } }),
        Order::PriceAscending => json!({ "price_minor": { "order": "asc" } }),
        Order::PriceDescending => json!({ "price_minor": { "order": "desc" } }),
        Order::Rating => json!({ "rating": { "order": "desc" } }),
    };
    json!([primary, { "gig_id": { "order": "asc" } }])
}

/// The sort value of a hit in `order`, from the first value of its `sort` array.
fn sort_value(order: Order, raw: &Value) -> anyhow::Result<SortValue> {
    let number = || {
        raw.as_f64()
            .with_context(|| format!("the sort value {raw} is not a number"))
    };
    let integer = || {
        raw.as_i64()
            .with_context(|| format!("the sort value {raw} is not an integer"))
    };
    Ok(match order {
        Order::Score => SortValue::Score(number()? as f32),
        Order::Newest => SortValue::PublishTime(integer()?),
        Order::PriceAscending | Order::PriceDescending => SortValue::Price(integer()?),
        Order::Rating => SortValue::Rating(number()?),
    })
}

/// The `search_after` values continuing after `cursor`.
fn search_after(cursor: &Cursor) -> Value {
    let value = match cursor.value {
        SortValue::Score(score) => json!(score),
        SortValue::Price(price) => json!(price),
        SortValue::Rating(rating) => json!(rating),
        SortValue::PublishTime(millis) => json!(millis),
    };
    json!([value, cursor.gig_id.to_string()])
}

/// One clause per keyword: it must match one of the text fields, allowing typos.
fn keyword_clauses(text: &str) -> Vec<Value> {
    plain_words(text)
        .into_iter()
        .map(|word| {
            json!({
                "multi_match": {
                    "query": word,
                    "fields": KEYWORD_FIELDS,
                    "type": "best_fields",
                    "fuzziness": FUZZINESS,
                    "zero_terms_query": "all"
                }
            })
        })
        .collect()
}

/// The filters but the category, each a non-scoring clause.
fn filter_clauses(filters: &Filters) -> Vec<Value> {
    let mut clauses = Vec::new();
    if let Some(subcategory) = &filters.subcategory_id {
        clauses.push(json!({ "term": { "subcategory": subcategory } }));
    }
    if let Some(price) = &filters.price {
        clauses.push(json!({ "term": { "currency": price.currency } }));
        let mut range = serde_json::Map::new();
        if let Some(min) = price.min_minor {
            range.insert("gte".to_owned(), json!(min));
        }
        if let Some(max) = price.max_minor {
            range.insert("lte".to_owned(), json!(max));
        }
        if !range.is_empty() {
            clauses.push(json!({ "range": { "price_minor": range } }));
        }
    }
    if let Some(max_days) = filters.max_delivery_days {
        clauses.push(json!({ "range": { "delivery_days": { "lte": max_days } } }));
    }
    if let Some(min_rating) = filters.min_rating {
        clauses.push(json!({ "range": { "rating": { "gte": min_rating } } }));
    }
    if !filters.seller_countries.is_empty() {
        clauses.push(json!({ "terms": { "seller_country": filters.seller_countries } }));
    }
    if !filters.seller_languages.is_empty() {
        clauses.push(json!({ "terms": { "seller_languages": filters.seller_languages } }));
    }
    clauses
}

/// `range` aggregation ranges for half-open buckets with exclusive upper `bounds`.
fn ranges(bounds: &[i64]) -> Value {
    range_buckets(bounds, &[])
        .into_iter()
        .map(|bucket| {
            let mut range = serde_json::Map::new();
            if let Some(from) = bucket.from {
                range.insert("from".to_owned(), json!(from));
            }
            if let Some(to) = bucket.to {
                range.insert("to".to_owned(), json!(to));
            }
            Value::Object(range)
        })
        .collect()
}

/// The search request of `query`.
fn search_request(query: &SearchQuery, order: Order) -> Value {
    let category = query
        .filters
        .category_id
        .as_ref()
        .map(|category| json!({ "term": { "category": category } }));
    let words = plain_words(&query.text);
    let mut body = json!({
        "size": query.limit,
        "track_total_hits": true,
        "query": {
            "bool": {
                "must": keyword_clauses(&query.text),
                "filter": filter_clauses(&query.filters)
            }
        },
        "sort": sort_clause(order),
        "aggs": {
            "categories": {
                "terms": { "field": "category", "size": MAX_CATEGORIES }
            },
            "matching": {
                "filter": category.clone().unwrap_or_else(|| json!({ "match_all": {} })),
                "aggs": {
                    "delivery_days": {
                        "range": {
                            "field": "delivery_days",
                            "ranges": ranges(&DELIVERY_BUCKET_BOUNDS)
                        }
                    },
                    "facet_currency": {
                        "filter": { "term": { "currency": query.facet_currency } },
                        "aggs": {
                            "price": {
                                "range": {
                                    "field": "price_minor",
                                    "ranges": ranges(&PRICE_BUCKET_BOUNDS)
                                }
                            }
                        }
                    }
                }
            }
        }
    });
    if let Some(category) = category {
        body["post_filter"] = category;
    }
    if let Some(cursor) = &query.after {
        body["search_after"] = search_after(cursor);
    }
    if !words.is_empty() {
        body["suggest"] = json!({
            "text": words.join(" "),
            "corrections": {
                "term": {
                    "field": "suggest",
                    "suggest_mode": "missing",
                    "sort": "score",
                    "max_edits": 2,
                    "size": 1
                }
            }
        });
    }
    body
}

/// The autocomplete request: titles and tags with a word starting with `prefix`.
fn suggest_request(prefix: &str) -> Value {
    json!({
        "size": SUGGEST_CANDIDATES,
        "query": {
            "match_phrase_prefix": {
                "suggest": { "query": prefix, "max_expansions": 50 }
            }
        },
        "sort": [
            { "rating": { "order": "desc" } },
            { "rating_count": { "order": "desc" } },
            { "gig_id": { "order": "asc" } }
        ]
    })
}

/// Gigs like `gig`: same subcategory, shared tags and title words; without `gig`.
fn similar_request(index: &str, gig: &Source, limit: usize) -> Value {
    json!({
        "size": limit,
        "query": {
            "bool": {
                "should": [
                    { "term": { "subcategory": { "value": gig.subcategory, "boost": 3.0 } } },
                    {
                        "more_like_this": {
                            "fields": ["title", "tags"],
                            "like": [{ "_index": index, "_id": gig.gig_id.to_string() }],
                            "min_term_freq": 1,
                            "min_doc_freq": 1,
                            "max_query_terms": 25,
                            "minimum_should_match": "1"
                        }
                    }
                ],
                "minimum_should_match": 1,
                "must_not": [{ "ids": { "values": [gig.gig_id.to_string()] } }]
            }
        },
        "sort": [{ "_score": { "order": "desc" } }, { "gig_id": { "order": "asc" } }]
    })
}

/// The parts of a search answer the adapter reads.
#[derive(Debug, Deserialize)]
struct SearchResponse {
    hits: Hits,
    #[serde(default)]
    aggregations: Option<Aggregations>,
    #[serde(default)]
    suggest: Option<SuggestAnswer>,
}

#[derive(Debug, Deserialize)]
struct Hits {
    #[serde(default)]
    total: Option<Total>,
    hits: Vec<Hit>,
}

#[derive(Debug, Deserialize)]
struct Total {
    value: u64,
}

#[derive(Debug, Deserialize)]
struct Hit {
    #[serde(rename = "_source")]
    source: Source,
    #[serde(default)]
    sort: Vec<Value>,
}

#[derive(Debug, Deserialize)]
struct Aggregations {
    categories: Buckets,
    matching: Matching,
}

#[derive(Debug, Deserialize)]
struct Matching {
    delivery_days: Buckets,
    facet_currency: FacetCurrency,
}

#[derive(Debug, Deserialize)]
struct FacetCurrency {
    price: Buckets,
}

#[derive(Debug, Deserialize)]
struct Buckets {
    buckets: Vec<Bucket>,
}

#[derive(Debug, Deserialize)]
struct Bucket {
    key: Value,
    doc_count: u64,
    #[serde(default)]
    from: Option<f64>,
    #[serde(default)]
    to: Option<f64>,
}

#[derive(Debug, Deserialize)]
struct SuggestAnswer {
    #[serde(default)]
    corrections: Vec<SuggestEntry>,
}

#[derive(Debug, Deserialize)]
struct SuggestEntry {
    options: Vec<SuggestOption>,
}

#[derive(Debug, Deserialize)]
struct SuggestOption {
    text: String,
}

impl SearchResponse {
    fn documents(self) -> anyhow::Result<Vec<GigDocument>> {
        Ok(self
            .hits
            .hits
            .into_iter()
            .map(|hit| GigDocument::from(hit.source))
            .collect())
    }
}

/// The counts of range buckets, in the order of the requested ranges.
fn bucket_counts(buckets: &Buckets, bounds: &[i64]) -> anyhow::Result<Vec<u64>> {
    anyhow::ensure!(
        buckets.buckets.len() == bounds.len() + 1,
        "expected {} range buckets, got {}",
        bounds.len() + 1,
        buckets.buckets.len()
    );
    for (bucket, expected) in buckets.buckets.iter().zip(range_buckets(bounds, &[])) {
        anyhow::ensure!(
            bucket.from == expected.from.map(|from| from as f64)
                && bucket.to == expected.to.map(|to| to as f64),
            "the range bucket {} is not [{:?}, {:?})",
            bucket.key,
            expected.from,
            expected.to
        );
    }
    Ok(buckets
        .buckets
        .iter()
        .map(|bucket| bucket.doc_count)
        .collect())
}

/// The port's results from a search answer.
fn search_results(
    query: &SearchQuery,
    order: Order,
    answer: SearchResponse,
) -> anyhow::Result<SearchResults> {
    let total = answer
        .hits
        .total
        .as_ref()
        .map(|total| total.value)
        .context("the answer has no total")?;
    let mut hits = Vec::with_capacity(answer.hits.hits.len());
    for hit in answer.hits.hits {
        let raw = hit
            .sort
            .first()
            .with_context(|| format!("the hit {} has no sort values", hit.source.gig_id))?;
        let value = sort_value(order, raw)?;
        let document = GigDocument::from(hit.source);
        hits.push(SearchHit {
            cursor: Cursor {
                value,
                gig_id: document.gig_id,
            },
            document,
        });
    }
    let aggregations = answer
        .aggregations
        .context("the answer has no aggregations")?;
    let mut categories: Vec<ValueCount> = aggregations
        .categories
        .buckets
        .iter()
        .filter_map(|bucket| {
            let value = bucket.key.as_str()?.to_owned();
            (!value.is_empty()).then_some(ValueCount {
                value,
                count: bucket.doc_count,
            })
        })
        .collect();
    categories.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.value.cmp(&b.value)));
    let price_counts = bucket_counts(
        &aggregations.matching.facet_currency.price,
        &PRICE_BUCKET_BOUNDS,
    )?;
    let delivery_counts = bucket_counts(
        &aggregations.matching.delivery_days,
        &DELIVERY_BUCKET_BOUNDS,
    )?;
    let corrected_text = corrected_text(&query.text, answer.suggest, !hits.is_empty());
    Ok(SearchResults {
        hits,
        total,
        facets: Facets {
            categories,
            price_buckets: range_buckets(&PRICE_BUCKET_BOUNDS, &price_counts),
            delivery_day_buckets: range_buckets(&DELIVERY_BUCKET_BOUNDS, &delivery_counts),
        },
        corrected_text,
    })
}

/// When there are hits and no keyword is in the index as typed (the suggester, in
/// `missing` mode, proposes a correction for every one), the keywords corrected.
fn corrected_text(text: &str, suggest: Option<SuggestAnswer>, has_hits: bool) -> Option<String> {
    let entries = suggest?.corrections;
    if !has_hits || entries.is_empty() {
        return None;
    }
    let mut corrected = Vec::with_capacity(entries.len());
    for entry in entries {
        corrected.push(entry.options.into_iter().next()?.text);
    }
    let corrected = corrected.join(" ");
    (corrected != plain_words(text).join(" ")).then_some(corrected)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{PriceRange, Sort};
    use gigmesh_types::Currency;

    fn query() -> SearchQuery {
        SearchQuery {
            text: "logo".to_owned(),
            filters: Filters::default(),
            facet_currency: Currency::USD,
            sort: Sort::Relevance,
            limit: 10,
            after: None,
        }
    }

    #[test]
    fn range_aggregations_use_the_crate_bucket_bounds() {
        assert_eq!(
            ranges(&DELIVERY_BUCKET_BOUNDS),
            json!([{ "to": 2 }, { "from": 2, "to": 4 }, { "from": 4, "to": 8 }, { "from": 8 }])
        );
        assert_eq!(
            ranges(&PRICE_BUCKET_BOUNDS).as_array().map(Vec::len),
            Some(PRICE_BUCKET_BOUNDS.len() + 1)
        );
    }

    #[test]
    fn relevance_without_words_sorts_by_newest() {
        let mut empty = query();
        empty.text = " - ".to_owned();
        assert_eq!(order_of(&empty), Order::Newest);
        assert_eq!(order_of(&query()), Order::Score);
    }

    #[test]
    fn the_category_filter_is_a_post_filter_and_other_filters_are_bool_filters() {
        let mut search = query();
        search.filters.category_id = Some("design".to_owned());
        search.filters.price = Some(PriceRange {
            currency: Currency::USD,
            min_minor: None,
            max_minor: None,
        });
        let body = search_request(&search, order_of(&search));
        assert_eq!(
            body["post_filter"],
            json!({ "term": { "category": "design" } })
        );
        assert_eq!(
            body["query"]["bool"]["filter"],
            json!([{ "term": { "currency": "USD" } }])
        );
    }

    #[test]
    fn a_correction_needs_hits_and_an_option_for_every_word() {
        let answer = |options: &[&str]| SuggestAnswer {
            corrections: options
                .iter()
                .map(|option| SuggestEntry {
                    options: if option.is_empty() {
                        Vec::new()
                    } else {
                        vec![SuggestOption {
                            text: (*option).to_owned(),
                        }]
                    },
                })
                .collect(),
        };
        assert_eq!(
            corrected_text("lgo desing", Some(answer(&["logo", "design"])), true),
            Some("logo design".to_owned())
        );
        assert_eq!(
            corrected_text("lgo desing", Some(answer(&["logo", ""])), true),
            None
        );
        assert_eq!(corrected_text("lgo", Some(answer(&["logo"])), false), None);
        assert_eq!(corrected_text("logo", None, true), None);
    }
}
