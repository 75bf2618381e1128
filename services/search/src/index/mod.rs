//! The search index port: what the service needs from a full-text engine, in domain types
//! only, so the embedded adapter ([`TantivyIndex`]) and a distributed one (OpenSearch) are
//! interchangeable. The index is derived state: it can always be rebuilt from the
//! `gig_documents` table.

#[cfg(test)]
pub mod behaviour;
mod opensearch;
mod tantivy;

use async_trait::async_trait;
use uuid::Uuid;

use crate::domain::{GigDocument, SearchQuery, SearchResults, Suggestion};

pub use self::opensearch::OpenSearchIndex;
pub use self::tantivy::TantivyIndex;

/// A failure of the index engine.
#[derive(Debug, thiserror::Error)]
#[error("search index: {0:#}")]
pub struct IndexError(#[from] pub anyhow::Error);

/// Marks an [`IndexError`] whose engine could not be reached or was overloaded (a
/// connection failure, a timeout, a 5xx or 429 answer): retrying later may succeed.
#[derive(Debug, thiserror::Error)]
#[error("the search engine is unavailable: {0}")]
pub struct EngineUnavailable(pub String);

impl IndexError {
    /// An error saying the engine is unavailable, for `reason`.
    pub fn unavailable(reason: impl Into<String>) -> Self {
        Self(anyhow::Error::new(EngineUnavailable(reason.into())))
    }

    /// Whether the engine was unavailable (so the caller may retry), rather than the
    /// request or the index being wrong.
    pub fn is_unavailable(&self) -> bool {
        self.0
            .chain()
            .any(|cause| cause.downcast_ref::<EngineUnavailable>().is_some())
    }
}

/// A full-text index of visible gigs.
///
/// Writes (`upsert`, `remove`, `clear`) are staged and become visible to reads after
/// [`SearchIndex::commit`].
#[async_trait]
pub trait SearchIndex: Send + Sync + 'static {
    /// Adds the document, replacing any document of the same gig.
    async fn upsert(&self, document: GigDocument) -> Result<(), IndexError>;

    /// Removes the gig's document, if any.
    async fn remove(&self, gig_id: Uuid) -> Result<(), IndexError>;

    /// Removes every document.
    async fn clear(&self) -> Result<(), IndexError>;

    /// Makes the staged writes durable and visible to searches.
    async fn commit(&self) -> Result<(), IndexError>;

    /// Number of searchable documents.
    async fn count(&self) -> Result<u64, IndexError>;

    /// Ranked, filtered, paged hits with the total and facets over every match.
    async fn search(&self, query: &SearchQuery) -> Result<SearchResults, IndexError>;

    /// Titles and tags that start with `prefix` (lower case), best first.
    async fn suggest(&self, prefix: &str, limit: usize) -> Result<Vec<Suggestion>, IndexError>;

    /// Gigs like `gig_id` (same subcategory, shared tags and title words), most similar
    /// first, without the gig itself; `None` when the gig is not in the index.
    async fn similar(
        &self,
        gig_id: Uuid,
        limit: usize,
    ) -> Result<Option<Vec<GigDocument>>, IndexError>;

    /// Replaces the whole content with `documents` and commits.
    async fn replace_all(&self, documents: Vec<GigDocument>) -> Result<(), IndexError> {
        self.clear().await?;
        for document in documents {
            self.upsert(document).await?;
        }
        self.commit().await
    }
}

/// Best rated first, then most rated, then by title: the order suggestion candidates are
/// ranked in before [`rank_suggestions`].
pub(crate) fn by_rating(a: &GigDocument, b: &GigDocument) -> std::cmp::Ordering {
    b.rating
        .total_cmp(&a.rating)
        .then_with(|| b.rating_count.cmp(&a.rating_count))
        .then_with(|| a.title.cmp(&b.title))
}

/// The lower-case words of `text`, split at anything but letters and digits.
pub(crate) fn plain_words(text: &str) -> Vec<String> {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|word| !word.is_empty())
        .map(str::to_lowercase)
        .collect()
}

/// Titles starting with the prefix first, then tags, then titles with a word starting with
/// it; each group in the order of `documents` (best rated first); no text twice.
pub(crate) fn rank_suggestions(
    prefix: &str,
    documents: &[GigDocument],
    limit: usize,
) -> Vec<Suggestion> {
    let mut seen = std::collections::HashSet::new();
    let mut suggestions = Vec::new();
    let mut push = |text: &str, gig_id: Option<Uuid>, suggestions: &mut Vec<Suggestion>| {
        if suggestions.len() < limit && seen.insert(text.to_lowercase()) {
            suggestions.push(Suggestion {
                text: text.to_owned(),
                gig_id,
            });
        }
    };
    for document in documents {
        if document.title.to_lowercase().starts_with(prefix) {
            push(&document.title, Some(document.gig_id), &mut suggestions);
        }
    }
    for document in documents {
        for tag in &document.tags {
            if tag.to_lowercase().starts_with(prefix) {
                push(tag, None, &mut suggestions);
            }
        }
    }
    for document in documents {
        let has_word = document
            .title
            .to_lowercase()
            .split(|c: char| !c.is_alphanumeric())
            .any(|word| word.starts_with(prefix));
        if has_word {
            push(&document.title, Some(document.gig_id), &mut suggestions);
        }
    }
    suggestions
}
