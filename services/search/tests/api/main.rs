//! Integration tests of `gigmesh.search.v1.SearchService` through gRPC on a random port,
//! each on a fresh SQLite database and on a fresh PostgreSQL database. Gigs arrive the way
//! they do in production: `GigChanged` snapshots are published to an embedded bus and the
//! service's consumer is stepped with `poll_once`.

mod support;

mod bad_input;
mod filters_and_facets;
mod index_commits;
mod keywords;
mod replicas_and_rebuild;
mod sorting_and_paging;
mod suggestions;
mod visibility;
