//! The chat service (`gigmesh.chat.v1.ChatService`): conversations between a buyer and a
//! seller (inquiries about a gig, and each order's own conversation), their messages and
//! read positions, the custom offers sellers make in them, and one live stream of events
//! per signed-in client.
//!
//! Being built: so far the domain rules that need no IO and the parsing of requests. The
//! service itself (store, API, events, streams) joins the mesh's list of services when it
//! serves its contract.

pub mod domain;
pub mod input;
