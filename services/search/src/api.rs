//! `gigmesh.search.v1.SearchService`: parses requests into domain queries (`input.rs`), asks
//! the index, and answers in proto types (`output.rs`). No SQL and no engine types here.

use std::sync::Arc;

use gigmesh_proto::search as proto;
use gigmesh_proto::search::search_service_server::SearchService;
use tonic::{Request, Response, Status};
use tracing::instrument;

use crate::domain::{SearchQuery, SearchResults};
use crate::error::SearchError;
use crate::index::SearchIndex;
use crate::input::{self, PagedSearch};
use crate::output;

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

    /// A page of the hits of `search` and the token of the next page (empty on the last).
    async fn search_page(
        &self,
        search: &PagedSearch,
    ) -> Result<(SearchResults, String), SearchError> {
        let page_size = search.query.limit;
        // One more than the page tells whether another page follows.
        let query = SearchQuery {
            limit: page_size + 1,
            ..search.query.clone()
        };
        let mut results = self.index.search(&query).await?;
        let has_more = results.hits.len() > page_size;
        results.hits.truncate(page_size);
        let next_page_token = match results.hits.last() {
            Some(last) if has_more => search.next_page_token(last.cursor),
            _ => String::new(),
        };
        Ok((results, next_page_token))
    }
}

#[tonic::async_trait]
impl SearchService for SearchApi {
    #[instrument(skip_all, fields(sort, page_size))]
    async fn search_gigs(
        &self,
        request: Request<proto::SearchGigsRequest>,
    ) -> Result<Response<proto::SearchGigsResponse>, Status> {
        let search = input::parse_search(request.into_inner())?;
        let span = tracing::Span::current();
        span.record("sort", tracing::field::debug(search.query.sort));
        span.record("page_size", search.query.limit as u64);
        let (results, next_page_token) = self.search_page(&search).await?;
        Ok(Response::new(output::search_response_to_proto(
            results,
            next_page_token,
        )))
    }

    #[instrument(skip_all)]
    async fn suggest_gigs(
        &self,
        request: Request<proto::SuggestGigsRequest>,
    ) -> Result<Response<proto::SuggestGigsResponse>, Status> {
        let (prefix, limit) = input::parse_suggestion(request.get_ref())?;
        let suggestions = self
            .index
            .suggest(&prefix, limit)
            .await
            .map_err(SearchError::from)?;
        Ok(Response::new(output::suggestions_to_proto(suggestions)))
    }

    #[instrument(skip_all, fields(gig_id))]
    async fn list_similar_gigs(
        &self,
        request: Request<proto::ListSimilarGigsRequest>,
    ) -> Result<Response<proto::ListSimilarGigsResponse>, Status> {
        let (gig_id, limit) = input::parse_similar(request.get_ref())?;
        tracing::Span::current().record("gig_id", tracing::field::display(gig_id));
        let similar = self
            .index
            .similar(gig_id.as_uuid(), limit)
            .await
            .map_err(SearchError::from)?
            .ok_or(SearchError::GigNotFound(gig_id))?;
        Ok(Response::new(output::similar_gigs_to_proto(&similar)))
    }
}
