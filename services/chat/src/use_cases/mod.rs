//! What the chat service does, in domain types: one file per feature. Each change commits
//! its rows, its stream rows and its events in one transaction, then wakes the streams this
//! replica holds for the users it concerns (other replicas hear of it from the bus). The
//! proto edge is `api.rs`; the SQL is `store/`.

mod conversations;
mod messages;
mod moderation;
mod offers;

use gigmesh_db::Db;
use gigmesh_types::{Clock, ConversationId, UserId};

pub use conversations::Listed;
pub use messages::remeasure;

use crate::config::Config;
use crate::domain::conversation::Conversation;
use crate::error::ChatError;
use crate::store;
use crate::store::conversations::StoredView;
use crate::stream::StreamHub;

/// A page to read: where it starts (after the previous page's last item) and how many.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page<P> {
    /// The previous page's last position; `None` for the first page.
    pub after: Option<P>,
    /// Items per page.
    pub size: u32,
}

/// Who calls: a signed-in user, and whether they are an admin.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Viewer {
    /// The user.
    pub user_id: UserId,
    /// Whether they hold the admin role.
    pub is_admin: bool,
}

/// The conversations, messages and offers of the service's database.
#[derive(Clone)]
pub struct Chat {
    db: Db,
    clock: Clock,
    hub: StreamHub,
    max_messages_per_minute: u32,
}

impl Chat {
    /// The chat of `db` with the service's settings, reading the time from `clock` and
    /// waking the streams of `hub`.
    pub fn new(db: Db, config: &Config, clock: Clock, hub: StreamHub) -> Self {
        Self {
            db,
            clock,
            hub,
            max_messages_per_minute: config.max_messages_per_minute,
        }
    }

    /// The conversation as its participant `user_id` sees it; for anyone else it does not
    /// exist.
    async fn participant_view(
        &self,
        conversation_id: ConversationId,
        user_id: UserId,
    ) -> Result<StoredView, ChatError> {
        store::conversations::find_view(self.db.pool(), conversation_id, user_id)
            .await?
            .ok_or_else(|| ChatError::ConversationNotFound(conversation_id.to_string()))
    }

    /// The conversation, for a participant, or for an admin once it was reported.
    async fn readable_conversation(
        &self,
        viewer: Viewer,
        conversation_id: ConversationId,
    ) -> Result<Conversation, ChatError> {
        let not_found = || ChatError::ConversationNotFound(conversation_id.to_string());
        let conversation = store::conversations::find_conversation(self.db.pool(), conversation_id)
            .await?
            .ok_or_else(not_found)?;
        if conversation.side_of(viewer.user_id).is_some() {
            return Ok(conversation);
        }
        if viewer.is_admin
            && store::moderation::is_reported(self.db.pool(), conversation_id).await?
        {
            return Ok(conversation);
        }
        Err(not_found())
    }

    /// Wakes both participants' streams on this replica (after a commit).
    fn wake_participants(&self, conversation: &Conversation) {
        self.hub.wake(conversation.buyer_id);
        self.hub.wake(conversation.seller_id);
    }
}
