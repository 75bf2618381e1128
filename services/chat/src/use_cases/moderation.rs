//! Blocks, reports, the admins' views of reports and flagged senders, and presence.

use gigmesh_db::DbError;
use gigmesh_types::{ConversationId, UserId};

use super::{Chat, Page};
use crate::domain::conversation::Conversation;
use crate::error::ChatError;
use crate::events;
use crate::store;
use crate::store::moderation::{FlaggedSender, Position, StoredReport};

/// A page of items and where the next page starts.
#[derive(Debug, Clone)]
pub struct Paged<T> {
    /// The items.
    pub items: Vec<T>,
    /// Where the next page starts, when more follow.
    pub next: Option<Position>,
}

fn paged<T>(mut items: Vec<T>, size: u32, position: impl Fn(&T) -> Position) -> Paged<T> {
    let more = items.len() > size as usize;
    items.truncate(size as usize);
    let next = if more {
        items.last().map(position)
    } else {
        None
    };
    Paged { items, next }
}

impl Chat {
    /// `blocker_id` blocks `blocked_id`: their new messages to the blocker are refused.
    pub async fn block(&self, blocker_id: UserId, blocked_id: UserId) -> Result<(), ChatError> {
        if blocker_id == blocked_id {
            return Err(gigmesh_errors::ApiError::invalid("user_id", "cannot be yourself").into());
        }
        let now = self.clock.now_millis();
        store::moderation::block(self.db.pool(), blocker_id, blocked_id, now).await?;
        tracing::info!("user blocked");
        Ok(())
    }

    /// `blocker_id` lifts a block of `blocked_id`.
    pub async fn unblock(&self, blocker_id: UserId, blocked_id: UserId) -> Result<(), ChatError> {
        store::moderation::unblock(self.db.pool(), blocker_id, blocked_id).await?;
        Ok(())
    }

    /// A page of the users `blocker_id` blocks, the latest block first.
    pub async fn list_blocked(
        &self,
        blocker_id: UserId,
        page: Page<Position>,
    ) -> Result<Paged<UserId>, ChatError> {
        let rows = store::moderation::list_blocked(
            self.db.pool(),
            blocker_id,
            page.after.as_ref(),
            page.size + 1,
        )
        .await?;
        let page_of_rows = paged(rows, page.size, |(_, position)| position.clone());
        Ok(Paged {
            items: page_of_rows
                .items
                .into_iter()
                .map(|(user_id, _)| user_id)
                .collect(),
            next: page_of_rows.next,
        })
    }

    /// A participant reports the conversation to the admins.
    pub async fn report(
        &self,
        reporter_id: UserId,
        conversation_id: ConversationId,
        reason: String,
    ) -> Result<(), ChatError> {
        let stored = self.participant_view(conversation_id, reporter_id).await?;
        let report = StoredReport {
            id: uuid::Uuid::now_v7().to_string(),
            conversation_id,
            reporter_id,
            reason,
            create_time: self.clock.now_millis(),
        };
        let mut tx = self.db.begin().await?;
        store::moderation::insert_report(&mut tx, &report).await?;
        events::conversation_reported(&mut tx, &stored.view.conversation, &report).await?;
        tx.commit().await.map_err(DbError::from)?;
        tracing::info!(conversation_id = %conversation_id, "conversation reported");
        Ok(())
    }

    /// A page of reports with their conversations, the latest first (admins).
    pub async fn list_reports(
        &self,
        page: Page<Position>,
    ) -> Result<Paged<(StoredReport, Conversation)>, ChatError> {
        let reports =
            store::moderation::list_reports(self.db.pool(), page.after.as_ref(), page.size + 1)
                .await?;
        let reports = paged(reports, page.size, |report| {
            (report.create_time, report.id.clone())
        });
        let mut items = Vec::with_capacity(reports.items.len());
        for report in reports.items {
            let conversation =
                store::conversations::find_conversation(self.db.pool(), report.conversation_id)
                    .await?
                    .ok_or_else(|| {
                        ChatError::Internal(anyhow::anyhow!(
                            "a reported conversation cannot be read"
                        ))
                    })?;
            items.push((report, conversation));
        }
        Ok(Paged {
            items,
            next: reports.next,
        })
    }

    /// A page of flagged senders, the most flagged first (admins).
    pub async fn list_flagged(
        &self,
        page: Page<Position>,
    ) -> Result<Paged<FlaggedSender>, ChatError> {
        let senders =
            store::moderation::list_flagged(self.db.pool(), page.after.as_ref(), page.size + 1)
                .await?;
        Ok(paged(senders, page.size, |sender| {
            (sender.flagged_messages, sender.user_id.to_string())
        }))
    }

    /// Those of `user_ids` with a stream open on any replica.
    pub async fn online(&self, user_ids: &[UserId]) -> Result<Vec<UserId>, ChatError> {
        let now = self.clock.now_millis();
        Ok(store::presence::online(self.db.pool(), user_ids, now).await?)
    }
}
