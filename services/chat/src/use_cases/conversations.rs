//! Opening conversations, reading them as a participant (or an admin after a report),
//! listing a participant's conversations and moving their read position.

use std::collections::{HashMap, HashSet};

use gigmesh_db::DbError;
use gigmesh_types::{ConversationId, GigId, MessageId, OfferId, UserId};

use super::{Chat, Page, Viewer};
use crate::domain::conversation::{Conversation, ParticipantView};
use crate::domain::message::Message;
use crate::domain::offer::CustomOffer;
use crate::error::ChatError;
use crate::events;
use crate::store;
use crate::store::conversations::{ConversationPosition, StoredView};

/// A conversation as a participant sees it, with what the page shows beside it.
#[derive(Debug, Clone)]
pub struct Listed {
    /// The participant's view.
    pub view: ParticipantView,
    /// The latest message and its offer, if any.
    pub last_message: Option<(Message, Option<CustomOffer>)>,
    /// Whether the other participant has a stream open.
    pub other_online: bool,
    /// Whether the viewer blocks the other participant.
    pub other_blocked: bool,
}

/// A page of a participant's conversations.
#[derive(Debug, Clone)]
pub struct ConversationPage {
    /// The conversations, the latest activity first.
    pub conversations: Vec<Listed>,
    /// Where the next page starts, when more follow.
    pub next: Option<ConversationPosition>,
    /// Unread messages over all the participant's conversations.
    pub total_unread: i64,
}

impl Chat {
    /// Opens `buyer_id`'s inquiry conversation with a seller: the seller of `gig_id` when
    /// it is given (`seller_id`, if also given, must be that seller), else `seller_id`.
    /// The two's existing inquiry conversation when they have one.
    pub async fn start_conversation(
        &self,
        buyer_id: UserId,
        seller_id: Option<UserId>,
        gig_id: Option<GigId>,
    ) -> Result<Listed, ChatError> {
        let seller_id = match (gig_id, seller_id) {
            (Some(gig_id), seller_id) => {
                let gig = store::gigs::find_gig(self.db.pool(), gig_id)
                    .await?
                    .filter(|gig| gig.offerable)
                    .ok_or_else(|| ChatError::GigNotFound(gig_id.to_string()))?;
                if seller_id.is_some_and(|seller_id| seller_id != gig.seller_id) {
                    return Err(gigmesh_errors::ApiError::invalid(
                        "seller_id",
                        "is not the gig's seller: leave it empty or give the gig's seller",
                    )
                    .into());
                }
                gig.seller_id
            }
            (None, Some(seller_id)) => {
                if !store::gigs::is_known_seller(self.db.pool(), seller_id).await? {
                    return Err(ChatError::SellerNotFound(seller_id.to_string()));
                }
                seller_id
            }
            (None, None) => {
                return Err(gigmesh_errors::ApiError::invalid(
                    "seller_id",
                    "is required when gig_id is empty",
                )
                .into());
            }
        };
        if seller_id == buyer_id {
            return Err(ChatError::OwnConversation);
        }
        let key = Conversation::inquiry_key(buyer_id, seller_id);
        let conversation = match store::conversations::find_inquiry(self.db.pool(), &key).await? {
            Some(existing) => existing,
            None => {
                let conversation = Conversation {
                    id: ConversationId::new(),
                    buyer_id,
                    seller_id,
                    gig_id,
                    order_id: None,
                    create_time: self.clock.now_millis(),
                };
                match self
                    .insert_conversation(&conversation, Some(key.clone()))
                    .await
                {
                    Ok(()) => {
                        tracing::info!(conversation_id = %conversation.id, "conversation started");
                        conversation
                    }
                    // Two first messages raced: the other one opened it.
                    Err(error) if error.is_unique_violation_on("inquiry") => {
                        store::conversations::find_inquiry(self.db.pool(), &key)
                            .await?
                            .ok_or_else(|| {
                                ChatError::Internal(anyhow::anyhow!(
                                    "an inquiry conversation exists and cannot be read"
                                ))
                            })?
                    }
                    Err(error) => return Err(error.into()),
                }
            }
        };
        self.conversation_for(conversation.id, buyer_id).await
    }

    /// Inserts a conversation with its stream rows and event, then wakes its streams.
    async fn insert_conversation(
        &self,
        conversation: &Conversation,
        inquiry_key: Option<String>,
    ) -> Result<(), DbError> {
        let mut tx = self.db.begin().await?;
        store::conversations::insert_conversation(&mut tx, conversation, inquiry_key).await?;
        events::conversation_started(&mut tx, conversation, conversation.create_time).await?;
        tx.commit().await?;
        self.wake_participants(conversation);
        Ok(())
    }

    /// The conversation as `viewer` sees it: a participant's view, or, for an admin once it
    /// was reported, the conversation without anyone's read state.
    pub async fn get_conversation(
        &self,
        viewer: Viewer,
        conversation_id: ConversationId,
    ) -> Result<Listed, ChatError> {
        let conversation = self.readable_conversation(viewer, conversation_id).await?;
        if conversation.side_of(viewer.user_id).is_some() {
            return self.conversation_for(conversation_id, viewer.user_id).await;
        }
        Ok(Listed {
            view: ParticipantView {
                conversation,
                activity_time: 0,
                read_message_id: None,
                unread_count: 0,
                other_read_message_id: None,
            },
            last_message: None,
            other_online: false,
            other_blocked: false,
        })
    }

    /// `user_id`'s view of a conversation they take part in, with its extras.
    pub(super) async fn conversation_for(
        &self,
        conversation_id: ConversationId,
        user_id: UserId,
    ) -> Result<Listed, ChatError> {
        let stored = self.participant_view(conversation_id, user_id).await?;
        let mut listed = self.decorate(user_id, vec![stored]).await?;
        listed
            .pop()
            .ok_or_else(|| ChatError::ConversationNotFound(conversation_id.to_string()))
    }

    /// A page of `user_id`'s conversations, the latest activity first.
    pub async fn list_conversations(
        &self,
        user_id: UserId,
        page: Page<ConversationPosition>,
    ) -> Result<ConversationPage, ChatError> {
        let mut stored = store::conversations::list_views(
            self.db.pool(),
            user_id,
            page.after.as_ref(),
            page.size + 1,
        )
        .await?;
        let more = stored.len() > page.size as usize;
        stored.truncate(page.size as usize);
        let next = if more {
            stored.last().map(|last| {
                (
                    last.view.activity_time,
                    last.view.conversation.id.to_string(),
                )
            })
        } else {
            None
        };
        let total_unread = store::conversations::total_unread(self.db.pool(), user_id).await?;
        Ok(ConversationPage {
            conversations: self.decorate(user_id, stored).await?,
            next,
            total_unread,
        })
    }

    /// Adds the latest messages (with their offers), the other participants' presence and
    /// the viewer's blocks to `stored`, in a fixed number of queries.
    async fn decorate(
        &self,
        user_id: UserId,
        stored: Vec<StoredView>,
    ) -> Result<Vec<Listed>, ChatError> {
        let pool = self.db.pool();
        let message_ids: Vec<MessageId> = stored.iter().filter_map(|s| s.last_message_id).collect();
        let messages = store::messages::find_messages(pool, &message_ids).await?;
        let offer_ids: Vec<OfferId> = messages.iter().filter_map(|m| m.offer_id).collect();
        let offers: HashMap<OfferId, CustomOffer> = store::offers::find_offers(pool, &offer_ids)
            .await?
            .into_iter()
            .map(|offer| (offer.id, offer))
            .collect();
        let mut messages: HashMap<MessageId, Message> =
            messages.into_iter().map(|m| (m.id, m)).collect();
        let others: Vec<UserId> = stored
            .iter()
            .map(|s| s.view.conversation.other_than(user_id))
            .collect();
        let now = self.clock.now_millis();
        let online: HashSet<UserId> = store::presence::online(pool, &others, now)
            .await?
            .into_iter()
            .collect();
        let blocked: HashSet<UserId> = store::moderation::blocked_among(pool, user_id, &others)
            .await?
            .into_iter()
            .collect();
        Ok(stored
            .into_iter()
            .map(|stored| {
                let other = stored.view.conversation.other_than(user_id);
                let last_message = stored
                    .last_message_id
                    .and_then(|id| messages.remove(&id))
                    .map(|message| {
                        let offer = message.offer_id.and_then(|id| offers.get(&id).cloned());
                        (message, offer)
                    });
                Listed {
                    view: stored.view,
                    last_message,
                    other_online: online.contains(&other),
                    other_blocked: blocked.contains(&other),
                }
            })
            .collect())
    }

    /// Moves `reader_id`'s read position forward to `message_id` (never back); the other
    /// participant gets a read receipt. The conversation as the reader sees it after.
    pub async fn mark_read(
        &self,
        reader_id: UserId,
        conversation_id: ConversationId,
        message_id: MessageId,
    ) -> Result<Listed, ChatError> {
        let stored = self.participant_view(conversation_id, reader_id).await?;
        let conversation = stored.view.conversation;
        let message = store::messages::find_message(self.db.pool(), message_id)
            .await?
            .filter(|message| message.conversation_id == conversation_id)
            .ok_or_else(|| ChatError::MessageNotFound(message_id.to_string()))?;
        let now = self.clock.now_millis();
        let mut tx = self.db.begin().await?;
        let moved = store::conversations::move_read_position(
            &mut tx,
            conversation_id,
            reader_id,
            message_id,
        )
        .await?;
        if moved {
            events::conversation_read(&mut tx, &conversation, reader_id, &message, now).await?;
            tx.commit().await.map_err(DbError::from)?;
            self.wake_participants(&conversation);
        }
        self.conversation_for(conversation_id, reader_id).await
    }
}
