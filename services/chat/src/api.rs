//! `gigmesh.chat.v1.ChatService`: checks the caller, parses the request into domain values
//! (`input.rs`), runs the use case (`use_cases/`) and answers in proto types
//! (`output.rs`). No SQL and no domain rules here.

use gigmesh_errors::ApiError;
use gigmesh_grpc::Caller;
use gigmesh_proto::chat as proto;
use gigmesh_proto::chat::chat_service_server::ChatService;
use gigmesh_types::{PageToken, timestamp_from_millis};
use tonic::{Request, Response, Status};
use tracing::instrument;

use crate::domain::offer::OfferAction;
use crate::error::ChatError;
use crate::input;
use crate::output::{ViewExtras, message_to_proto, offer_to_proto, view_to_proto};
use crate::stream::{EventStream, StreamOpener};
use crate::use_cases::{Chat, Listed, Viewer};

/// The chat service over its use cases and its streams.
#[derive(Clone)]
pub struct ChatApi {
    chat: Chat,
    streams: StreamOpener,
}

impl ChatApi {
    /// The service over `chat`, opening streams with `streams`.
    pub fn new(chat: Chat, streams: StreamOpener) -> Self {
        Self { chat, streams }
    }

    async fn act_on_offer(
        &self,
        caller: Caller,
        raw_offer_id: &str,
        action: OfferAction,
    ) -> Result<Response<proto::CustomOffer>, Status> {
        let offer_id = input::parse_offer_id("offer_id", raw_offer_id)?;
        let offer = self
            .chat
            .act_on_offer(caller.user_id(), offer_id, action)
            .await?;
        Ok(Response::new(offer_to_proto(&offer)))
    }
}

#[tonic::async_trait]
impl ChatService for ChatApi {
    #[instrument(skip_all, fields(user_id))]
    async fn start_conversation(
        &self,
        request: Request<proto::StartConversationRequest>,
    ) -> Result<Response<proto::Conversation>, Status> {
        let buyer_id = Caller::of(&request)?.user_id();
        let (seller_id, gig_id) = input::parse_start_conversation(request.get_ref())?;
        let listed = self
            .chat
            .start_conversation(buyer_id, seller_id, gig_id)
            .await?;
        Ok(Response::new(listed_to_proto(listed, viewer(&request)?)))
    }

    #[instrument(skip_all, fields(user_id))]
    async fn get_conversation(
        &self,
        request: Request<proto::GetConversationRequest>,
    ) -> Result<Response<proto::Conversation>, Status> {
        let viewer = viewer(&request)?;
        let conversation_id =
            input::parse_conversation_id("conversation_id", &request.get_ref().conversation_id)?;
        let listed = self.chat.get_conversation(viewer, conversation_id).await?;
        Ok(Response::new(listed_to_proto(listed, viewer)))
    }

    #[instrument(skip_all, fields(user_id))]
    async fn list_conversations(
        &self,
        request: Request<proto::ListConversationsRequest>,
    ) -> Result<Response<proto::ListConversationsResponse>, Status> {
        let viewer = viewer(&request)?;
        let message = request.get_ref();
        let page = input::parse_conversation_page(message.page_size, &message.page_token)?;
        let page = self.chat.list_conversations(viewer.user_id, page).await?;
        Ok(Response::new(proto::ListConversationsResponse {
            conversations: page
                .conversations
                .into_iter()
                .map(|listed| listed_to_proto(listed, viewer))
                .collect(),
            next_page_token: page
                .next
                .map(|position| PageToken::encode(&position))
                .unwrap_or_default(),
            total_unread_count: i32::try_from(page.total_unread).unwrap_or(i32::MAX),
        }))
    }

    #[instrument(skip_all, fields(user_id, conversation_id))]
    async fn send_message(
        &self,
        request: Request<proto::SendMessageRequest>,
    ) -> Result<Response<proto::Message>, Status> {
        let sender_id = Caller::of(&request)?.user_id();
        let (conversation_id, new) = input::parse_send_message(request.get_ref())?;
        record_conversation_id(&conversation_id);
        let message = self
            .chat
            .send_message(sender_id, conversation_id, new)
            .await?;
        Ok(Response::new(message_to_proto(
            &message,
            None,
            Some(sender_id),
        )))
    }

    #[instrument(skip_all, fields(user_id, conversation_id))]
    async fn list_messages(
        &self,
        request: Request<proto::ListMessagesRequest>,
    ) -> Result<Response<proto::ListMessagesResponse>, Status> {
        let viewer = viewer(&request)?;
        let message = request.get_ref();
        let conversation_id =
            input::parse_conversation_id("conversation_id", &message.conversation_id)?;
        record_conversation_id(&conversation_id);
        let page = input::parse_message_page(message.page_size, &message.page_token)?;
        let page = self
            .chat
            .list_messages(viewer, conversation_id, page)
            .await?;
        Ok(Response::new(proto::ListMessagesResponse {
            messages: page
                .messages
                .iter()
                .map(|(message, offer)| {
                    message_to_proto(message, offer.as_ref(), Some(viewer.user_id))
                })
                .collect(),
            next_page_token: page
                .next
                .map(|message_id| PageToken::encode(&message_id.to_string()))
                .unwrap_or_default(),
        }))
    }

    #[instrument(skip_all, fields(user_id, conversation_id))]
    async fn mark_conversation_read(
        &self,
        request: Request<proto::MarkConversationReadRequest>,
    ) -> Result<Response<proto::Conversation>, Status> {
        let viewer = viewer(&request)?;
        let (conversation_id, message_id) = input::parse_mark_read(request.get_ref())?;
        record_conversation_id(&conversation_id);
        let listed = self
            .chat
            .mark_read(viewer.user_id, conversation_id, message_id)
            .await?;
        Ok(Response::new(listed_to_proto(listed, viewer)))
    }

    #[instrument(skip_all, fields(user_id, conversation_id))]
    async fn send_custom_offer(
        &self,
        request: Request<proto::SendCustomOfferRequest>,
    ) -> Result<Response<proto::Message>, Status> {
        let seller_id = Caller::of(&request)?.user_id();
        let (conversation_id, new) = input::parse_send_custom_offer(request.get_ref())?;
        record_conversation_id(&conversation_id);
        let (message, offer) = self
            .chat
            .send_offer(seller_id, conversation_id, new)
            .await?;
        Ok(Response::new(message_to_proto(
            &message,
            Some(&offer),
            Some(seller_id),
        )))
    }

    #[instrument(skip_all, fields(user_id))]
    async fn accept_custom_offer(
        &self,
        request: Request<proto::AcceptCustomOfferRequest>,
    ) -> Result<Response<proto::CustomOffer>, Status> {
        let caller = Caller::of(&request)?;
        self.act_on_offer(caller, &request.get_ref().offer_id, OfferAction::Accept)
            .await
    }

    #[instrument(skip_all, fields(user_id))]
    async fn decline_custom_offer(
        &self,
        request: Request<proto::DeclineCustomOfferRequest>,
    ) -> Result<Response<proto::CustomOffer>, Status> {
        let caller = Caller::of(&request)?;
        self.act_on_offer(caller, &request.get_ref().offer_id, OfferAction::Decline)
            .await
    }

    #[instrument(skip_all, fields(user_id))]
    async fn withdraw_custom_offer(
        &self,
        request: Request<proto::WithdrawCustomOfferRequest>,
    ) -> Result<Response<proto::CustomOffer>, Status> {
        let caller = Caller::of(&request)?;
        self.act_on_offer(caller, &request.get_ref().offer_id, OfferAction::Withdraw)
            .await
    }

    #[instrument(skip_all, fields(user_id))]
    async fn block_user(
        &self,
        request: Request<proto::BlockUserRequest>,
    ) -> Result<Response<proto::BlockUserResponse>, Status> {
        let blocker_id = Caller::of(&request)?.user_id();
        let blocked_id = input::parse_user_id("user_id", &request.get_ref().user_id)?;
        self.chat.block(blocker_id, blocked_id).await?;
        Ok(Response::new(proto::BlockUserResponse {}))
    }

    #[instrument(skip_all, fields(user_id))]
    async fn unblock_user(
        &self,
        request: Request<proto::UnblockUserRequest>,
    ) -> Result<Response<proto::UnblockUserResponse>, Status> {
        let blocker_id = Caller::of(&request)?.user_id();
        let blocked_id = input::parse_user_id("user_id", &request.get_ref().user_id)?;
        self.chat.unblock(blocker_id, blocked_id).await?;
        Ok(Response::new(proto::UnblockUserResponse {}))
    }

    #[instrument(skip_all, fields(user_id))]
    async fn list_blocked_users(
        &self,
        request: Request<proto::ListBlockedUsersRequest>,
    ) -> Result<Response<proto::ListBlockedUsersResponse>, Status> {
        let blocker_id = Caller::of(&request)?.user_id();
        let message = request.get_ref();
        let page = input::parse_position_page(message.page_size, &message.page_token)?;
        let page = self.chat.list_blocked(blocker_id, page).await?;
        Ok(Response::new(proto::ListBlockedUsersResponse {
            user_ids: page.items.iter().map(ToString::to_string).collect(),
            next_page_token: next_token(page.next),
        }))
    }

    #[instrument(skip_all, fields(user_id, conversation_id))]
    async fn report_conversation(
        &self,
        request: Request<proto::ReportConversationRequest>,
    ) -> Result<Response<proto::ReportConversationResponse>, Status> {
        let reporter_id = Caller::of(&request)?.user_id();
        let (conversation_id, reason) = input::parse_report(request.get_ref())?;
        record_conversation_id(&conversation_id);
        self.chat
            .report(reporter_id, conversation_id, reason)
            .await?;
        Ok(Response::new(proto::ReportConversationResponse {}))
    }

    #[instrument(skip_all, fields(user_id))]
    async fn get_presence(
        &self,
        request: Request<proto::GetPresenceRequest>,
    ) -> Result<Response<proto::GetPresenceResponse>, Status> {
        Caller::of(&request)?;
        let user_ids = input::parse_presence(request.get_ref())?;
        let online = self.chat.online(&user_ids).await?;
        Ok(Response::new(proto::GetPresenceResponse {
            online_user_ids: online.iter().map(ToString::to_string).collect(),
        }))
    }

    type StreamEventsStream = EventStream<proto::ChatEvent>;

    #[instrument(skip_all, fields(user_id))]
    async fn stream_events(
        &self,
        request: Request<proto::StreamEventsRequest>,
    ) -> Result<Response<Self::StreamEventsStream>, Status> {
        let caller = Caller::of(&request)?;
        let stream = self
            .streams
            .open(
                caller.user_id(),
                caller.session_id(),
                &request.get_ref().resume_token,
            )
            .await
            .map_err(ChatError::from)?;
        Ok(Response::new(stream))
    }

    #[instrument(skip_all, fields(user_id))]
    async fn list_conversation_reports(
        &self,
        request: Request<proto::ListConversationReportsRequest>,
    ) -> Result<Response<proto::ListConversationReportsResponse>, Status> {
        require_admin(&request)?;
        let message = request.get_ref();
        let page = input::parse_position_page(message.page_size, &message.page_token)?;
        let page = self.chat.list_reports(page).await?;
        Ok(Response::new(proto::ListConversationReportsResponse {
            reports: page
                .items
                .iter()
                .map(|(report, conversation)| proto::ConversationReport {
                    conversation: Some(crate::output::conversation_to_proto(conversation)),
                    reporter_id: report.reporter_id.to_string(),
                    reason: report.reason.clone(),
                    create_time: Some(timestamp_from_millis(report.create_time)),
                })
                .collect(),
            next_page_token: next_token(page.next),
        }))
    }

    #[instrument(skip_all, fields(user_id))]
    async fn list_flagged_senders(
        &self,
        request: Request<proto::ListFlaggedSendersRequest>,
    ) -> Result<Response<proto::ListFlaggedSendersResponse>, Status> {
        require_admin(&request)?;
        let message = request.get_ref();
        let page = input::parse_position_page(message.page_size, &message.page_token)?;
        let page = self.chat.list_flagged(page).await?;
        Ok(Response::new(proto::ListFlaggedSendersResponse {
            senders: page
                .items
                .iter()
                .map(|sender| proto::FlaggedSender {
                    user_id: sender.user_id.to_string(),
                    email_addresses: sender.email_addresses,
                    phone_numbers: sender.phone_numbers,
                    off_platform_payments: sender.off_platform_payments,
                    last_flag_time: Some(timestamp_from_millis(sender.last_flag_time)),
                })
                .collect(),
            next_page_token: next_token(page.next),
        }))
    }
}

fn viewer<T>(request: &Request<T>) -> Result<Viewer, Status> {
    let caller = Caller::of(request)?;
    Ok(Viewer {
        user_id: caller.user_id(),
        is_admin: caller.is_admin(),
    })
}

fn require_admin<T>(request: &Request<T>) -> Result<(), Status> {
    if Caller::of(request)?.is_admin() {
        Ok(())
    } else {
        Err(ChatError::Api(ApiError::PermissionDenied("admin role required".to_owned())).into())
    }
}

fn listed_to_proto(listed: Listed, viewer: Viewer) -> proto::Conversation {
    let last_message = listed
        .last_message
        .as_ref()
        .map(|(message, offer)| message_to_proto(message, offer.as_ref(), Some(viewer.user_id)));
    view_to_proto(
        &listed.view,
        ViewExtras {
            last_message,
            other_online: listed.other_online,
            other_blocked: listed.other_blocked,
        },
    )
}

fn next_token(next: Option<crate::store::moderation::Position>) -> String {
    next.map(|position| PageToken::encode(&position))
        .unwrap_or_default()
}

fn record_conversation_id(conversation_id: &gigmesh_types::ConversationId) {
    tracing::Span::current().record("conversation_id", tracing::field::display(conversation_id));
}
