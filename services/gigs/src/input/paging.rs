//! Paging of lists: page sizes, and the page tokens that carry where a page ended (the last
//! gig id, or the save time and gig id of the saved gigs), refusing tokens from elsewhere.

use gigmesh_errors::{ApiError, Violations};
use gigmesh_types::{GigId, PageSize, PageToken};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::ids::parse_gig_id;
use crate::domain::Page;

/// Gigs per page when the request does not say.
pub const DEFAULT_PAGE_SIZE: u32 = 20;
/// Most gigs per page.
pub const MAX_PAGE_SIZE: u32 = 100;

/// A position in a list of gigs ordered newest first: the last gig id of the previous page.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct GigCursor {
    after: String,
}

/// A position in the saved gigs, ordered by when they were saved, newest first.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct SavedCursor {
    saved_at: i64,
    gig_id: String,
}

/// `page_size` and `page_token` of a list of gigs.
pub fn parse_gig_page(page_size: i32, page_token: &str) -> Result<Page<GigId>, ApiError> {
    parse_page(page_size, page_token, |cursor: GigCursor| {
        cursor_gig_id(&cursor.after)
    })
}

/// The `next_page_token` after a page of gigs ending with `last`.
pub fn gig_page_token(last: GigId) -> String {
    PageToken::encode(&GigCursor {
        after: last.to_string(),
    })
}

/// `page_size` and `page_token` of the saved gigs.
pub fn parse_saved_page(page_size: i32, page_token: &str) -> Result<Page<(i64, GigId)>, ApiError> {
    parse_page(page_size, page_token, |cursor: SavedCursor| {
        Some((cursor.saved_at, cursor_gig_id(&cursor.gig_id)?))
    })
}

/// The `next_page_token` after a page of saved gigs ending with the one saved at `saved_at`.
pub fn saved_page_token(saved_at: i64, gig_id: GigId) -> String {
    PageToken::encode(&SavedCursor {
        saved_at,
        gig_id: gig_id.to_string(),
    })
}

/// `page_size` and `page_token` of a list whose tokens carry a `Cursor`; `position` reads
/// the cursor, and a cursor it cannot read is a token from elsewhere.
fn parse_page<Cursor: DeserializeOwned, Position>(
    page_size: i32,
    page_token: &str,
    position: impl FnOnce(Cursor) -> Option<Position>,
) -> Result<Page<Position>, ApiError> {
    let mut violations = Violations::new();
    let size = violations.check(PageSize::parse(
        "page_size",
        page_size,
        DEFAULT_PAGE_SIZE,
        MAX_PAGE_SIZE,
    ));
    let after = violations
        .check(PageToken::decode::<Cursor>("page_token", page_token))
        .flatten()
        .and_then(|cursor| violations.check(position(cursor).ok_or_else(foreign_page_token)));
    violations.finish()?;
    Ok(Page {
        size: size.unwrap_or(DEFAULT_PAGE_SIZE),
        after,
    })
}

/// The gig id a page cursor carries.
fn cursor_gig_id(raw: &str) -> Option<GigId> {
    parse_gig_id("page_token", raw).ok()
}

fn foreign_page_token() -> ApiError {
    ApiError::invalid("page_token", "is not a page token this server issued")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_tokens_round_trip_and_foreign_ones_are_refused() {
        let last = GigId::new();
        let page = parse_gig_page(0, &gig_page_token(last)).unwrap();
        assert_eq!(page.size, DEFAULT_PAGE_SIZE);
        assert_eq!(page.after, Some(last));
        assert_eq!(parse_gig_page(10_000, "").unwrap().size, MAX_PAGE_SIZE);
        assert!(parse_gig_page(0, "garbage").is_err());
        let saved = parse_saved_page(5, &saved_page_token(7, last)).unwrap();
        assert_eq!(saved.after, Some((7, last)));
        assert!(parse_saved_page(5, &gig_page_token(last)).is_err());
    }
}
