//! The gigmesh search service: owns the search read model of gigs and its full-text index.
//!
//! It learns about gigs only from the gigs service's `GigChanged` snapshots (which gigs
//! re-emits when a seller's summary or ratings change): each snapshot is stored with its
//! version in the `gig_documents` table (older versions are ignored), and after that commit
//! the index follows. The index holds active, approved gigs only; it is derived state, kept
//! per replica and rebuildable from the table at any time ([`App::rebuild_index`]). Buyers
//! search it by keywords (with typo tolerance), filters, sorts and facets, get autocomplete
//! suggestions and similar gigs. The index sits behind the [`SearchIndex`] port, with an
//! embedded tantivy adapter (one index per replica) and an OpenSearch adapter (one index
//! shared by every replica), chosen by [`Config::index_kind`].

#![forbid(unsafe_code)]

mod api;
mod app;
mod commits;
mod config;
mod domain;
mod error;
mod events;
mod index;
mod input;
mod output;
mod snapshot;
mod store;
mod sync;

pub use app::{App, MIGRATIONS};
pub use commits::IndexFlusher;
pub use config::{CONSUMER_NAME_PREFIX, Config, IndexKind};
pub use domain::{
    Cursor, Facets, Filters, GigDocument, PriceRange, RangeCount, SearchHit, SearchQuery,
    SearchResults, Sort, SortValue, Suggestion, ValueCount,
};
pub use gigmesh_types::Currency;
pub use index::{IndexError, OpenSearchIndex, SearchIndex, TantivyIndex};
