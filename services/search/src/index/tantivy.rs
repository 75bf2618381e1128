//! The embedded [`SearchIndex`] adapter: a tantivy index in a directory or in memory.
//!
//! Text fields (title, tags, description, seller name) use an English analyzer (lower
//! case, stop words removed, Porter stemming) and are ranked with BM25, the title counting
//! most. Every query word also matches fuzzily (one edit from 4 characters, two from 8),
//! with a constant low score, so an exact match always ranks above a typo match. Filters,
//! sort keys and facets read fast (columnar) fields. Hits are ordered by a sort key with
//! the gig id (as two `u64` halves) as a total tie-breaker, which makes "continue after
//! this hit" exact for every sort.
//!
//! Writes go through one `IndexWriter`; after each commit the reader is reloaded at once
//! (manual reload policy), so a committed change is visible to the next search.

use std::cmp::Ordering;
use std::collections::{BinaryHeap, HashMap};
use std::ops::Bound;
use std::path::Path;
use std::sync::{Arc, Mutex};

use anyhow::Context as _;
use async_trait::async_trait;
use gigmesh_types::Currency;
use tantivy::collector::{Collector, SegmentCollector, TopDocs};
use tantivy::columnar::{Column, StrColumn};
use tantivy::query::{
    AllQuery, BooleanQuery, BoostQuery, ConstScoreQuery, FuzzyTermQuery, Occur, Query, RangeQuery,
    TermQuery,
};
use tantivy::schema::{
    FAST, Field, INDEXED, IndexRecordOption, STORED, STRING, Schema, TextFieldIndexing,
    TextOptions, Value as _,
};
use tantivy::tokenizer::{
    Language, LowerCaser, RawTokenizer, RemoveLongFilter, SimpleTokenizer, Stemmer, StopWordFilter,
    TextAnalyzer, TokenStream as _,
};
use tantivy::{
    DocAddress, DocId, Index, IndexReader, IndexWriter, ReloadPolicy, Score, SegmentOrdinal,
    SegmentReader, TantivyDocument, Term,
};
use uuid::Uuid;

use super::{IndexError, SearchIndex, by_rating, plain_words, rank_suggestions};
use crate::domain::{
    Cursor, DELIVERY_BUCKET_BOUNDS, Facets, Filters, GigDocument, Order, PRICE_BUCKET_BOUNDS,
    SearchHit, SearchQuery, SearchResults, SortValue, Suggestion, ValueCount, bucket_of,
    edit_distance, range_buckets,
};

/// Analyzer of the ranked text fields.
const TEXT_ANALYZER: &str = "gig_text";

/// One word of a query.
struct QueryWord {
    /// As the text analyzer makes it (lower case, stemmed): matched exactly.
    analyzed: String,
    /// As typed, in lower case: matched within the typo distance.
    typed: String,
    /// The length that sets the typo distance.
    typo_chars: usize,
}
/// Analyzer of the title words for autocomplete: lower case, no stemming.
const WORDS_ANALYZER: &str = "gig_words";
/// Analyzer of whole titles and tags for autocomplete: one lower-case term each.
const KEYWORD_ANALYZER: &str = "gig_keyword";
/// Memory the writer may use before it flushes a segment.
const WRITER_MEMORY_BYTES: usize = 32 * 1024 * 1024;
/// Weight of a fuzzy (typo) match relative to an exact match's field boost.
const FUZZY_WEIGHT: f32 = 0.1;
/// Candidates read for autocomplete before ranking them.
const SUGGEST_CANDIDATES: usize = 200;

/// Fields of the schema.
#[derive(Clone, Copy)]
struct Fields {
    gig_id: Field,
    id_high: Field,
    id_low: Field,
    document: Field,
    title: Field,
    tags: Field,
    description: Field,
    seller_name: Field,
    title_words: Field,
    title_keyword: Field,
    tag_keyword: Field,
    category: Field,
    subcategory: Field,
    currency: Field,
    seller_country: Field,
    seller_languages: Field,
    price: Field,
    delivery_days: Field,
    rating: Field,
    publish_time: Field,
}

fn schema() -> (Schema, Fields) {
    let mut builder = Schema::builder();
    let text = |analyzer: &str, record: IndexRecordOption| {
        TextOptions::default().set_indexing_options(
            TextFieldIndexing::default()
                .set_tokenizer(analyzer)
                .set_index_option(record),
        )
    };
    let ranked = text(TEXT_ANALYZER, IndexRecordOption::WithFreqsAndPositions);
    let fields = Fields {
        gig_id: builder.add_text_field("gig_id", STRING),
        id_high: builder.add_u64_field("id_high", FAST),
        id_low: builder.add_u64_field("id_low", FAST),
        document: builder.add_text_field("document", STORED),
        title: builder.add_text_field("title", ranked.clone()),
        tags: builder.add_text_field("tags", ranked.clone()),
        description: builder.add_text_field("description", ranked.clone()),
        seller_name: builder.add_text_field("seller_name", ranked),
        title_words: builder.add_text_field(
            "title_words",
            text(WORDS_ANALYZER, IndexRecordOption::Basic),
        ),
        title_keyword: builder.add_text_field(
            "title_keyword",
            text(KEYWORD_ANALYZER, IndexRecordOption::Basic),
        ),
        tag_keyword: builder.add_text_field(
            "tag_keyword",
            text(KEYWORD_ANALYZER, IndexRecordOption::Basic),
        ),
        category: builder.add_text_field("category", STRING | FAST),
        subcategory: builder.add_text_field("subcategory", STRING | FAST),
        currency: builder.add_text_field("currency", STRING | FAST),
        seller_country: builder.add_text_field("seller_country", STRING),
        seller_languages: builder.add_text_field("seller_languages", STRING),
        price: builder.add_i64_field("price", INDEXED | FAST),
        delivery_days: builder.add_u64_field("delivery_days", INDEXED | FAST),
        rating: builder.add_f64_field("rating", INDEXED | FAST),
        publish_time: builder.add_i64_field("publish_time", INDEXED | FAST),
    };
    (builder.build(), fields)
}

fn text_analyzer() -> TextAnalyzer {
    let builder = TextAnalyzer::builder(SimpleTokenizer::default())
        .filter(RemoveLongFilter::limit(40))
        .filter(LowerCaser);
    match StopWordFilter::new(Language::English) {
        Some(stop_words) => builder
            .filter(stop_words)
            .filter(Stemmer::new(Language::English))
            .build(),
        None => builder.filter(Stemmer::new(Language::English)).build(),
    }
}

fn register_analyzers(index: &Index) {
    let tokenizers = index.tokenizers();
    tokenizers.register(TEXT_ANALYZER, text_analyzer());
    tokenizers.register(
        WORDS_ANALYZER,
        TextAnalyzer::builder(SimpleTokenizer::default())
            .filter(RemoveLongFilter::limit(40))
            .filter(LowerCaser)
            .build(),
    );
    tokenizers.register(
        KEYWORD_ANALYZER,
        TextAnalyzer::builder(RawTokenizer::default())
            .filter(LowerCaser)
            .build(),
    );
}

/// A tantivy index of gig documents.
#[derive(Clone)]
pub struct TantivyIndex {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for TantivyIndex {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("TantivyIndex")
            .finish_non_exhaustive()
    }
}

struct Inner {
    fields: Fields,
    reader: IndexReader,
    writer: Mutex<IndexWriter>,
    analyzer: TextAnalyzer,
}

impl TantivyIndex {
    /// An index held in memory only (tests, throw-away replicas).
    pub fn in_memory() -> Result<Self, IndexError> {
        let (schema, fields) = schema();
        Self::from_index(Index::create_in_ram(schema), fields)
    }

    /// The index in `directory`, created when missing. An index written with another
    /// schema is discarded and created anew (it is rebuilt from the database).
    pub fn open(directory: &Path) -> Result<Self, IndexError> {
        let (schema, fields) = schema();
        std::fs::create_dir_all(directory)
            .with_context(|| format!("create the index directory {}", directory.display()))?;
        let index = if directory.join("meta.json").exists() {
            match Index::open_in_dir(directory) {
                Ok(index) if index.schema() == schema => index,
                Ok(_) | Err(_) => {
                    tracing::warn!(
                        directory = %directory.display(),
                        "the search index has another schema; creating it anew"
                    );
                    std::fs::remove_dir_all(directory)
                        .and_then(|()| std::fs::create_dir_all(directory))
                        .context("clear the outdated search index")?;
                    Index::create_in_dir(directory, schema).context("create the search index")?
                }
            }
        } else {
            Index::create_in_dir(directory, schema).context("create the search index")?
        };
        Self::from_index(index, fields)
    }

    fn from_index(index: Index, fields: Fields) -> Result<Self, IndexError> {
        register_analyzers(&index);
        let writer = index
            .writer_with_num_threads(1, WRITER_MEMORY_BYTES)
            .context("open the index writer")?;
        let reader = index
            .reader_builder()
            .reload_policy(ReloadPolicy::Manual)
            .try_into()
            .context("open the index reader")?;
        Ok(Self {
            inner: Arc::new(Inner {
                fields,
                reader,
                writer: Mutex::new(writer),
                analyzer: text_analyzer(),
            }),
        })
    }

    /// Runs `work` on a blocking thread: tantivy does synchronous IO and CPU work.
    async fn blocking<T, F>(&self, work: F) -> Result<T, IndexError>
    where
        T: Send + 'static,
        F: FnOnce(&Inner) -> anyhow::Result<T> + Send + 'static,
    {
        let inner = self.inner.clone();
        tokio::task::spawn_blocking(move || work(&inner))
            .await
            .context("the index task panicked")?
            .map_err(IndexError)
    }
}

#[async_trait]
impl SearchIndex for TantivyIndex {
    async fn upsert(&self, document: GigDocument) -> Result<(), IndexError> {
        self.blocking(move |inner| inner.upsert(&document)).await
    }

    async fn remove(&self, gig_id: Uuid) -> Result<(), IndexError> {
        self.blocking(move |inner| {
            let writer = inner.lock_writer()?;
            writer.delete_term(inner.gig_id_term(gig_id));
            Ok(())
        })
        .await
    }

    async fn clear(&self) -> Result<(), IndexError> {
        self.blocking(|inner| {
            inner
                .lock_writer()?
                .delete_all_documents()
                .context("clear the index")?;
            Ok(())
        })
        .await
    }

    async fn commit(&self) -> Result<(), IndexError> {
        self.blocking(|inner| {
            inner.lock_writer()?.commit().context("commit the index")?;
            inner.reader.reload().context("reload the index reader")?;
            Ok(())
        })
        .await
    }

    async fn count(&self) -> Result<u64, IndexError> {
        self.blocking(|inner| Ok(inner.reader.searcher().num_docs()))
            .await
    }

    async fn search(&self, query: &SearchQuery) -> Result<SearchResults, IndexError> {
        let query = query.clone();
        self.blocking(move |inner| inner.search(&query)).await
    }

    async fn suggest(&self, prefix: &str, limit: usize) -> Result<Vec<Suggestion>, IndexError> {
        let prefix = prefix.to_lowercase();
        self.blocking(move |inner| inner.suggest(&prefix, limit))
            .await
    }

    async fn similar(
        &self,
        gig_id: Uuid,
        limit: usize,
    ) -> Result<Option<Vec<GigDocument>>, IndexError> {
        self.blocking(move |inner| inner.similar(gig_id, limit))
            .await
    }
}

impl Inner {
    fn lock_writer(&self) -> anyhow::Result<std::sync::MutexGuard<'_, IndexWriter>> {
        self.writer
            .lock()
            .map_err(|_| anyhow::anyhow!("the index writer is poisoned"))
    }

    fn gig_id_term(&self, gig_id: Uuid) -> Term {
        Term::from_field_text(self.fields.gig_id, &gig_id.to_string())
    }

    fn upsert(&self, document: &GigDocument) -> anyhow::Result<()> {
        let fields = &self.fields;
        let (id_high, id_low) = id_halves(document.gig_id);
        let mut indexed = TantivyDocument::default();
        indexed.add_text(fields.gig_id, document.gig_id.to_string());
        indexed.add_u64(fields.id_high, id_high);
        indexed.add_u64(fields.id_low, id_low);
        indexed.add_text(
            fields.document,
            serde_json::to_string(document).context("encode the gig document")?,
        );
        indexed.add_text(fields.title, &document.title);
        indexed.add_text(fields.title_words, &document.title);
        indexed.add_text(fields.title_keyword, &document.title);
        for tag in &document.tags {
            indexed.add_text(fields.tags, tag);
            indexed.add_text(fields.tag_keyword, tag);
        }
        indexed.add_text(fields.description, &document.description);
        indexed.add_text(fields.seller_name, &document.seller_name);
        indexed.add_text(fields.category, &document.category_id);
        indexed.add_text(fields.subcategory, &document.subcategory_id);
        indexed.add_text(fields.currency, &document.currency);
        indexed.add_text(fields.seller_country, &document.seller_country);
        for language in &document.seller_languages {
            indexed.add_text(fields.seller_languages, language);
        }
        indexed.add_i64(fields.price, document.starting_price_minor);
        indexed.add_u64(fields.delivery_days, u64::from(document.delivery_days));
        indexed.add_f64(fields.rating, document.rating);
        indexed.add_i64(fields.publish_time, document.publish_time_millis);

        let writer = self.lock_writer()?;
        writer.delete_term(self.gig_id_term(document.gig_id));
        writer
            .add_document(indexed)
            .context("add the gig document")?;
        Ok(())
    }

    /// The documents of the `limit` best scored matches of `query`, best first.
    fn best_scored(
        &self,
        searcher: &tantivy::Searcher,
        query: &dyn Query,
        limit: usize,
    ) -> anyhow::Result<Vec<GigDocument>> {
        let matches = searcher.search(query, &TopDocs::with_limit(limit).order_by_score())?;
        matches
            .into_iter()
            .map(|(_, address)| self.load(searcher, address))
            .collect()
    }

    fn load(
        &self,
        searcher: &tantivy::Searcher,
        address: DocAddress,
    ) -> anyhow::Result<GigDocument> {
        let stored: TantivyDocument = searcher.doc(address).context("read a stored document")?;
        let json = stored
            .get_first(self.fields.document)
            .and_then(|value| value.as_str())
            .context("a hit has no stored document")?;
        serde_json::from_str(json).context("decode a stored gig document")
    }

    /// The analyzed words of `text`, each with the length that sets its typo distance.
    fn words(&self, text: &str) -> Vec<(String, usize)> {
        self.query_words(text)
            .into_iter()
            .map(|word| (word.analyzed, word.typo_chars))
            .collect()
    }

    /// The words of a query: analyzed (stemmed) for the exact match, as typed (lower case)
    /// for the typo match, and the length that sets the typo distance.
    fn query_words(&self, text: &str) -> Vec<QueryWord> {
        let mut analyzer = self.analyzer.clone();
        let mut stream = analyzer.token_stream(text);
        let mut words = Vec::new();
        while stream.advance() {
            let token = stream.token();
            let analyzed_chars = token.text.chars().count();
            let typed = text
                .get(token.offset_from..token.offset_to)
                .map(str::to_lowercase)
                .unwrap_or_else(|| token.text.clone());
            // Stemming shortens words ("branding" -> "brand"); the typo distance follows
            // the shorter of what was typed and the term compared, so short stems stay
            // strict.
            let typo_chars = typed.chars().count().min(analyzed_chars);
            words.push(QueryWord {
                analyzed: token.text.clone(),
                typed,
                typo_chars,
            });
        }
        words
    }

    /// Every word must match one of the text fields, exactly (BM25) or within the typo
    /// distance its length allows (constant, lower score).
    fn keyword_query(&self, text: &str) -> Option<Box<dyn Query>> {
        let fields = &self.fields;
        let weighted = [
            (fields.title, 3.0_f32),
            (fields.tags, 2.0),
            (fields.seller_name, 1.0),
            (fields.description, 1.0),
        ];
        let word_queries: Vec<(Occur, Box<dyn Query>)> = self
            .query_words(text)
            .into_iter()
            .map(
                |QueryWord {
                     analyzed: word,
                     typed,
                     typo_chars,
                 }| {
                    let distance = typo_distance(typo_chars);
                    let mut alternatives: Vec<(Occur, Box<dyn Query>)> = Vec::new();
                    // A typo often changes what the stemmer makes of a word ("wordpres" stems
                    // to "wordpr", three edits from "wordpress"), so typos are also matched as
                    // typed against the unstemmed title words.
                    if distance > 0 {
                        let typed_term = Term::from_field_text(fields.title_words, &typed);
                        alternatives.push((
                            Occur::Should,
                            Box::new(BoostQuery::new(
                                Box::new(FuzzyTermQuery::new(typed_term, distance, true)),
                                weighted[0].1 * FUZZY_WEIGHT,
                            )),
                        ));
                    }
                    for (field, boost) in weighted {
                        let term = Term::from_field_text(field, &word);
                        alternatives.push((
                            Occur::Should,
                            Box::new(BoostQuery::new(
                                Box::new(TermQuery::new(
                                    term.clone(),
                                    IndexRecordOption::WithFreqs,
                                )),
                                boost,
                            )),
                        ));
                        if distance > 0 {
                            alternatives.push((
                                Occur::Should,
                                Box::new(BoostQuery::new(
                                    Box::new(FuzzyTermQuery::new(term, distance, true)),
                                    boost * FUZZY_WEIGHT,
                                )),
                            ));
                        }
                    }
                    (
                        Occur::Must,
                        Box::new(BooleanQuery::new(alternatives)) as Box<dyn Query>,
                    )
                },
            )
            .collect();
        if word_queries.is_empty() {
            return None;
        }
        Some(Box::new(BooleanQuery::new(word_queries)))
    }

    fn filter_queries(&self, filters: &Filters, with_category: bool) -> Vec<Box<dyn Query>> {
        let fields = &self.fields;
        let mut queries: Vec<Box<dyn Query>> = Vec::new();
        let term = |field: Field, value: &str| -> Box<dyn Query> {
            Box::new(TermQuery::new(
                Term::from_field_text(field, value),
                IndexRecordOption::Basic,
            ))
        };
        if with_category && let Some(category) = &filters.category_id {
            queries.push(term(fields.category, category));
        }
        if let Some(subcategory) = &filters.subcategory_id {
            queries.push(term(fields.subcategory, subcategory));
        }
        if let Some(price) = &filters.price {
            queries.push(term(fields.currency, price.currency.code()));
            let lower = price.min_minor.map_or(Bound::Unbounded, |min| {
                Bound::Included(Term::from_field_i64(fields.price, min))
            });
            let upper = price.max_minor.map_or(Bound::Unbounded, |max| {
                Bound::Included(Term::from_field_i64(fields.price, max))
            });
            if !matches!((&lower, &upper), (Bound::Unbounded, Bound::Unbounded)) {
                queries.push(Box::new(RangeQuery::new(lower, upper)));
            }
        }
        if let Some(max_days) = filters.max_delivery_days {
            queries.push(Box::new(RangeQuery::new(
                Bound::Unbounded,
                Bound::Included(Term::from_field_u64(
                    fields.delivery_days,
                    u64::from(max_days),
                )),
            )));
        }
        if let Some(min_rating) = filters.min_rating {
            queries.push(Box::new(RangeQuery::new(
                Bound::Included(Term::from_field_f64(fields.rating, min_rating)),
                Bound::Unbounded,
            )));
        }
        for (field, values) in [
            (fields.seller_country, &filters.seller_countries),
            (fields.seller_languages, &filters.seller_languages),
        ] {
            if values.is_empty() {
                continue;
            }
            let any_of = values
                .iter()
                .map(|value| (Occur::Should, term(field, value)))
                .collect();
            queries.push(Box::new(BooleanQuery::new(any_of)));
        }
        queries
    }

    /// The keywords (scored) and the filters (not scored), all required.
    fn matching_query(&self, query: &SearchQuery, with_category: bool) -> Box<dyn Query> {
        let mut clauses: Vec<(Occur, Box<dyn Query>)> = Vec::new();
        if let Some(keywords) = self.keyword_query(&query.text) {
            clauses.push((Occur::Must, keywords));
        }
        for filter in self.filter_queries(&query.filters, with_category) {
            clauses.push((Occur::Must, Box::new(ConstScoreQuery::new(filter, 0.0))));
        }
        if clauses.is_empty() {
            Box::new(AllQuery)
        } else {
            Box::new(BooleanQuery::new(clauses))
        }
    }

    fn search(&self, query: &SearchQuery) -> anyhow::Result<SearchResults> {
        let searcher = self.reader.searcher();
        let order = Order::of(query.sort, !self.words(&query.text).is_empty());
        let collector = HitsCollector {
            order,
            limit: query.limit,
            after: query.after.map(|cursor| rank_of_cursor(&cursor)),
            facet_currency: query.facet_currency,
        };
        let matching = self.matching_query(query, true);
        let collected = searcher
            .search(matching.as_ref(), &collector)
            .context("search the index")?;
        let without_category = self.matching_query(query, false);
        let categories = searcher
            .search(without_category.as_ref(), &CategoryCollector)
            .context("count categories")?;

        let mut hits = Vec::with_capacity(collected.candidates.len());
        for candidate in collected.candidates {
            let document = self.load(&searcher, candidate.address)?;
            hits.push(SearchHit {
                cursor: Cursor {
                    value: candidate.value,
                    gig_id: document.gig_id,
                },
                document,
            });
        }
        let mut categories: Vec<ValueCount> = categories
            .into_iter()
            .map(|(value, count)| ValueCount { value, count })
            .collect();
        categories.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.value.cmp(&b.value)));
        let corrected_text = self.corrected_text(&searcher, &query.text, &hits)?;
        Ok(SearchResults {
            corrected_text,
            hits,
            total: collected.total,
            facets: Facets {
                categories,
                price_buckets: range_buckets(&PRICE_BUCKET_BOUNDS, &collected.price_counts),
                delivery_day_buckets: range_buckets(
                    &DELIVERY_BUCKET_BOUNDS,
                    &collected.delivery_counts,
                ),
            },
        })
    }

    /// When no keyword is in the index as typed but there are hits, each keyword replaced
    /// by the closest word of the hits' titles and tags within its typo distance.
    fn corrected_text(
        &self,
        searcher: &tantivy::Searcher,
        text: &str,
        hits: &[SearchHit],
    ) -> anyhow::Result<Option<String>> {
        let analyzed = self.words(text);
        if analyzed.is_empty() || hits.is_empty() {
            return Ok(None);
        }
        let fields = &self.fields;
        for (word, _) in &analyzed {
            for field in [
                fields.title,
                fields.tags,
                fields.description,
                fields.seller_name,
            ] {
                if searcher.doc_freq(&Term::from_field_text(field, word))? > 0 {
                    return Ok(None);
                }
            }
        }
        let mut known: HashMap<String, usize> = HashMap::new();
        for hit in hits {
            let document = &hit.document;
            let texts = std::iter::once(&document.title).chain(document.tags.iter());
            for text in texts {
                for word in plain_words(text) {
                    *known.entry(word).or_insert(0) += 1;
                }
            }
        }
        let mut corrected = Vec::new();
        for typed in plain_words(text) {
            let allowed = usize::from(typo_distance(typed.chars().count()));
            let closest = known
                .iter()
                .map(|(word, count)| (edit_distance(&typed, word), std::cmp::Reverse(*count), word))
                .filter(|(distance, _, _)| *distance <= allowed)
                .min();
            corrected.push(closest.map_or(typed.clone(), |(_, _, word)| word.clone()));
        }
        let corrected = corrected.join(" ");
        Ok((corrected != text.trim().to_lowercase()).then_some(corrected))
    }

    fn suggest(&self, prefix: &str, limit: usize) -> anyhow::Result<Vec<Suggestion>> {
        let fields = &self.fields;
        let searcher = self.reader.searcher();
        let starts_with = |field: Field, boost: f32| -> (Occur, Box<dyn Query>) {
            let lower = Term::from_field_text(field, prefix);
            let upper = Term::from_field_text(field, &format!("{prefix}{}", char::MAX));
            (
                Occur::Should,
                Box::new(BoostQuery::new(
                    Box::new(ConstScoreQuery::new(
                        Box::new(RangeQuery::new(
                            Bound::Included(lower),
                            Bound::Excluded(upper),
                        )),
                        1.0,
                    )),
                    boost,
                )),
            )
        };
        let mut clauses = vec![
            starts_with(fields.title_keyword, 3.0),
            starts_with(fields.tag_keyword, 2.0),
        ];
        if !prefix.contains(char::is_whitespace) {
            clauses.push(starts_with(fields.title_words, 1.0));
        }
        let mut documents = self
            .best_scored(&searcher, &BooleanQuery::new(clauses), SUGGEST_CANDIDATES)
            .context("search suggestions")?;
        documents.sort_by(by_rating);
        Ok(rank_suggestions(prefix, &documents, limit))
    }

    fn similar(&self, gig_id: Uuid, limit: usize) -> anyhow::Result<Option<Vec<GigDocument>>> {
        let fields = &self.fields;
        let searcher = self.reader.searcher();
        let found = searcher
            .search(
                &TermQuery::new(self.gig_id_term(gig_id), IndexRecordOption::Basic),
                &TopDocs::with_limit(1).order_by_score(),
            )
            .context("find the gig")?;
        let Some((_, address)) = found.first() else {
            return Ok(None);
        };
        let gig = self.load(&searcher, *address)?;
        if limit == 0 {
            return Ok(Some(Vec::new()));
        }
        let boosted_term = |field: Field, value: &str, boost: f32| -> (Occur, Box<dyn Query>) {
            (
                Occur::Should,
                Box::new(BoostQuery::new(
                    Box::new(TermQuery::new(
                        Term::from_field_text(field, value),
                        IndexRecordOption::WithFreqs,
                    )),
                    boost,
                )),
            )
        };
        let mut clauses = vec![boosted_term(fields.subcategory, &gig.subcategory_id, 3.0)];
        for tag in &gig.tags {
            clauses.push(boosted_term(fields.tag_keyword, &tag.to_lowercase(), 2.0));
        }
        let mut title_words = self.words(&gig.title);
        for tag in &gig.tags {
            title_words.extend(self.words(tag));
        }
        title_words.sort();
        title_words.dedup();
        for (word, _) in title_words {
            clauses.push(boosted_term(fields.title, &word, 1.0));
            clauses.push(boosted_term(fields.tags, &word, 1.0));
        }
        clauses.push((
            Occur::MustNot,
            Box::new(TermQuery::new(
                self.gig_id_term(gig_id),
                IndexRecordOption::Basic,
            )),
        ));
        let documents = self
            .best_scored(&searcher, &BooleanQuery::new(clauses), limit)
            .context("search similar gigs")?;
        Ok(Some(documents))
    }
}

/// Typo tolerance for a word of `typed_chars` characters.
fn typo_distance(typed_chars: usize) -> u8 {
    match typed_chars {
        0..=3 => 0,
        4..=7 => 1,
        _ => 2,
    }
}

/// The two halves of a UUID, whose order as a pair is the UUID's byte order.
fn id_halves(gig_id: Uuid) -> (u64, u64) {
    let (high, low) = gig_id.as_u64_pair();
    (high, low)
}

/// A position in the order: smaller comes first.
type Rank = (u64, u64, u64);

fn ascending_i64(value: i64) -> u64 {
    (value as u64) ^ (1 << 63)
}

fn ascending_f64(value: f64) -> u64 {
    let bits = value.to_bits();
    if bits >> 63 == 1 {
        !bits
    } else {
        bits | (1 << 63)
    }
}

fn primary_rank(value: SortValue) -> u64 {
    match value {
        SortValue::Score(score) => !ascending_f64(f64::from(score)),
        SortValue::Price(price) => ascending_i64(price),
        SortValue::Rating(rating) => !ascending_f64(rating),
        SortValue::PublishTime(millis) => !ascending_i64(millis),
    }
}

fn rank_of(value: SortValue, order: Order, id_high: u64, id_low: u64) -> Rank {
    let primary = match (order, value) {
        (Order::PriceDescending, SortValue::Price(price)) => !ascending_i64(price),
        _ => primary_rank(value),
    };
    (primary, id_high, id_low)
}

fn rank_of_cursor(cursor: &Cursor) -> (SortValue, u64, u64) {
    let (high, low) = id_halves(cursor.gig_id);
    (cursor.value, high, low)
}

/// A hit kept while collecting.
#[derive(Debug, Clone, Copy)]
struct Candidate {
    rank: Rank,
    value: SortValue,
    address: DocAddress,
}

impl PartialEq for Candidate {
    fn eq(&self, other: &Self) -> bool {
        self.rank == other.rank
    }
}

impl Eq for Candidate {}

impl PartialOrd for Candidate {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Candidate {
    fn cmp(&self, other: &Self) -> Ordering {
        self.rank.cmp(&other.rank)
    }
}

/// Collects the first `limit` hits after a position, the number of all matches and the
/// price and delivery facets, in one pass.
struct HitsCollector {
    order: Order,
    limit: usize,
    after: Option<(SortValue, u64, u64)>,
    facet_currency: Currency,
}

struct CollectedHits {
    candidates: Vec<Candidate>,
    total: u64,
    price_counts: Vec<u64>,
    delivery_counts: Vec<u64>,
}

struct HitsSegmentCollector {
    order: Order,
    limit: usize,
    after: Option<Rank>,
    segment: SegmentOrdinal,
    price: Column<i64>,
    delivery_days: Column<u64>,
    rating: Column<f64>,
    publish_time: Column<i64>,
    id_high: Column<u64>,
    id_low: Column<u64>,
    currency: Option<StrColumn>,
    facet_currency_ordinal: Option<u64>,
    best: BinaryHeap<Candidate>,
    total: u64,
    price_counts: Vec<u64>,
    delivery_counts: Vec<u64>,
}

impl Collector for HitsCollector {
    type Fruit = CollectedHits;
    type Child = HitsSegmentCollector;

    fn for_segment(
        &self,
        segment: SegmentOrdinal,
        reader: &SegmentReader,
    ) -> tantivy::Result<HitsSegmentCollector> {
        let fast = reader.fast_fields();
        let currency = fast.str("currency")?;
        let facet_currency_ordinal = match &currency {
            Some(column) => column
                .dictionary()
                .term_ord(self.facet_currency.code().as_bytes())?,
            None => None,
        };
        Ok(HitsSegmentCollector {
            order: self.order,
            limit: self.limit,
            after: self
                .after
                .map(|(value, high, low)| rank_of(value, self.order, high, low)),
            segment,
            price: fast.i64("price")?,
            delivery_days: fast.u64("delivery_days")?,
            rating: fast.f64("rating")?,
            publish_time: fast.i64("publish_time")?,
            id_high: fast.u64("id_high")?,
            id_low: fast.u64("id_low")?,
            currency,
            facet_currency_ordinal,
            best: BinaryHeap::new(),
            total: 0,
            price_counts: vec![0; PRICE_BUCKET_BOUNDS.len() + 1],
            delivery_counts: vec![0; DELIVERY_BUCKET_BOUNDS.len() + 1],
        })
    }

    fn requires_scoring(&self) -> bool {
        self.order == Order::Score
    }

    fn merge_fruits(&self, fruits: Vec<CollectedHits>) -> tantivy::Result<CollectedHits> {
        let mut merged = CollectedHits {
            candidates: Vec::new(),
            total: 0,
            price_counts: vec![0; PRICE_BUCKET_BOUNDS.len() + 1],
            delivery_counts: vec![0; DELIVERY_BUCKET_BOUNDS.len() + 1],
        };
        for fruit in fruits {
            merged.candidates.extend(fruit.candidates);
            merged.total += fruit.total;
            for (sum, count) in merged.price_counts.iter_mut().zip(fruit.price_counts) {
                *sum += count;
            }
            for (sum, count) in merged.delivery_counts.iter_mut().zip(fruit.delivery_counts) {
                *sum += count;
            }
        }
        merged.candidates.sort();
        merged.candidates.truncate(self.limit);
        Ok(merged)
    }
}

impl SegmentCollector for HitsSegmentCollector {
    type Fruit = CollectedHits;

    fn collect(&mut self, doc: DocId, score: Score) {
        self.total += 1;
        let price = self.price.first(doc).unwrap_or_default();
        let delivery_days = self.delivery_days.first(doc).unwrap_or_default();
        let in_facet_currency = match (&self.currency, self.facet_currency_ordinal) {
            (Some(column), Some(ordinal)) => column.term_ords(doc).any(|ord| ord == ordinal),
            _ => false,
        };
        if in_facet_currency {
            self.price_counts[bucket_of(&PRICE_BUCKET_BOUNDS, price)] += 1;
        }
        let delivery_days = i64::try_from(delivery_days).unwrap_or(i64::MAX);
        self.delivery_counts[bucket_of(&DELIVERY_BUCKET_BOUNDS, delivery_days)] += 1;

        if self.limit == 0 {
            return;
        }
        let value = match self.order {
            Order::Score => SortValue::Score(score),
            Order::Newest => {
                SortValue::PublishTime(self.publish_time.first(doc).unwrap_or_default())
            }
            Order::PriceAscending | Order::PriceDescending => SortValue::Price(price),
            Order::Rating => SortValue::Rating(self.rating.first(doc).unwrap_or_default()),
        };
        let rank = rank_of(
            value,
            self.order,
            self.id_high.first(doc).unwrap_or_default(),
            self.id_low.first(doc).unwrap_or_default(),
        );
        if self.after.is_some_and(|after| rank <= after) {
            return;
        }
        let candidate = Candidate {
            rank,
            value,
            address: DocAddress::new(self.segment, doc),
        };
        if self.best.len() < self.limit {
            self.best.push(candidate);
        } else if self.best.peek().is_some_and(|worst| candidate < *worst) {
            self.best.pop();
            self.best.push(candidate);
        }
    }

    fn harvest(self) -> CollectedHits {
        CollectedHits {
            candidates: self.best.into_sorted_vec(),
            total: self.total,
            price_counts: self.price_counts,
            delivery_counts: self.delivery_counts,
        }
    }
}

/// Counts matches per category.
struct CategoryCollector;

struct CategorySegmentCollector {
    column: Option<StrColumn>,
    counts: HashMap<u64, u64>,
}

impl Collector for CategoryCollector {
    type Fruit = HashMap<String, u64>;
    type Child = CategorySegmentCollector;

    fn for_segment(
        &self,
        _segment: SegmentOrdinal,
        reader: &SegmentReader,
    ) -> tantivy::Result<CategorySegmentCollector> {
        Ok(CategorySegmentCollector {
            column: reader.fast_fields().str("category")?,
            counts: HashMap::new(),
        })
    }

    fn requires_scoring(&self) -> bool {
        false
    }

    fn merge_fruits(
        &self,
        fruits: Vec<HashMap<String, u64>>,
    ) -> tantivy::Result<HashMap<String, u64>> {
        let mut merged = HashMap::new();
        for fruit in fruits {
            for (category, count) in fruit {
                *merged.entry(category).or_insert(0) += count;
            }
        }
        Ok(merged)
    }
}

impl SegmentCollector for CategorySegmentCollector {
    type Fruit = HashMap<String, u64>;

    fn collect(&mut self, doc: DocId, _score: Score) {
        if let Some(column) = &self.column {
            for ordinal in column.term_ords(doc) {
                *self.counts.entry(ordinal).or_insert(0) += 1;
            }
        }
    }

    fn harvest(self) -> HashMap<String, u64> {
        let mut named = HashMap::new();
        let Some(column) = self.column else {
            return named;
        };
        for (ordinal, count) in self.counts {
            let mut category = String::new();
            if column.ord_to_str(ordinal, &mut category).unwrap_or(false) && !category.is_empty() {
                named.insert(category, count);
            }
        }
        named
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::index::behaviour;

    #[test]
    fn typo_distance_grows_with_the_word() {
        assert_eq!(typo_distance(3), 0);
        assert_eq!(typo_distance(4), 1);
        assert_eq!(typo_distance(7), 1);
        assert_eq!(typo_distance(8), 2);
    }

    #[test]
    fn ranks_order_like_the_values() {
        assert!(ascending_i64(-5) < ascending_i64(0));
        assert!(ascending_i64(0) < ascending_i64(7));
        assert!(ascending_f64(-1.5) < ascending_f64(0.0));
        assert!(ascending_f64(0.5) < ascending_f64(4.5));
        let newer = primary_rank(SortValue::PublishTime(2_000));
        let older = primary_rank(SortValue::PublishTime(1_000));
        assert!(newer < older);
    }

    #[tokio::test]
    async fn the_in_memory_index_passes_the_behaviour_suite() {
        let index = TantivyIndex::in_memory().unwrap();
        behaviour::run_all(&index).await;
    }

    #[tokio::test]
    async fn an_index_directory_keeps_documents_across_opens() {
        let directory = tempfile::tempdir().unwrap();
        let index = TantivyIndex::open(directory.path()).unwrap();
        let document = behaviour::document("Rust backend services", "programming", "backend");
        index.upsert(document.clone()).await.unwrap();
        index.commit().await.unwrap();
        drop(index);
        let reopened = TantivyIndex::open(directory.path()).unwrap();
        assert_eq!(reopened.count().await.unwrap(), 1);
    }
}
