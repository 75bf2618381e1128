//! The search index port: what the service needs from a full-text engine, in domain types
//! only, so the embedded adapter ([`TantivyIndex`]) and a distributed one (OpenSearch) are
//! interchangeable. The index is derived state: it can always be rebuilt from the
//! `gig_documents` table.

#[cfg(test)]
pub mod behaviour;
mod tantivy;

use async_trait::async_trait;
use uuid::Uuid;

use crate::domain::{GigDocument, SearchQuery, SearchResults, Suggestion};

pub use self::tantivy::TantivyIndex;

/// A failure of the index engine.
#[derive(Debug, thiserror::Error)]
#[error("search index: {0:#}")]
pub struct IndexError(#[from] pub anyhow::Error);

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
