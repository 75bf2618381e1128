//! Chat's live streams: one per signed-in client, with the machinery of gigmesh-streams
//! (the hub of the streams this replica holds, resume tokens, the stream itself), the codec
//! of chat's events, and the presence the open streams make.

pub mod presence;

use gigmesh_proto::chat::{self as proto, chat_event::Kind};
use gigmesh_types::timestamp_from_millis;
use prost::Message as _;

pub use gigmesh_streams::{EventStream, StreamCloser, StreamHub};
pub use presence::PresenceTask;

/// The gauge of streams open on a chat replica.
pub const OPEN_STREAMS: &str = "gigmesh_chat_open_streams";

/// Opens clients' chat streams.
pub type StreamOpener = gigmesh_streams::StreamOpener<ChatStreamCodec>;

/// Chat's stream events: `ChatEvent`s.
#[derive(Debug, Clone, Copy, Default)]
pub struct ChatStreamCodec;

impl gigmesh_streams::StreamCodec for ChatStreamCodec {
    type Event = proto::ChatEvent;

    fn decode(
        &self,
        bytes: &[u8],
        event_id: String,
    ) -> Result<proto::ChatEvent, prost::DecodeError> {
        let mut event = proto::ChatEvent::decode(bytes)?;
        event.event_id = event_id;
        Ok(event)
    }

    fn heartbeat(&self, event_id: String, time_millis: i64) -> proto::ChatEvent {
        proto::ChatEvent {
            event_id,
            event_time: Some(timestamp_from_millis(time_millis)),
            kind: Some(Kind::Heartbeat(proto::Heartbeat {})),
        }
    }
}
