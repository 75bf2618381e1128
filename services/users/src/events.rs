//! Events of the user service: what it emits into its outbox (`gigmesh.users.v1`), how it
//! applies auth's events (`gigmesh.auth.v1`) to profiles, and how it keeps each seller's
//! response time from chat's `SellerResponseTimeChanged` (`gigmesh.chat.v1`).

use async_trait::async_trait;
use gigmesh_db::{DbError, Tx};
use gigmesh_events::{Envelope, EventHandler, HandlerError, decode, enqueue};
use gigmesh_proto::EventMessage as _;
use gigmesh_proto::auth::{AccountSuspended, AccountUnsuspended, UserRegistered};
use gigmesh_proto::chat::SellerResponseTimeChanged;
use gigmesh_proto::users::{ProfileChanged, SellerActivated};
use gigmesh_types::{UserId, millis_from_timestamp, now_millis};

use crate::domain::{Outcome, Profile, ResponseTime};
use crate::output::public_profile_to_proto;
use crate::store::{self, StoredProfile};

/// Consumer group (and inbox name) of the user service on auth's topic.
pub const CONSUMER_NAME: &str = "users.auth-events";

/// Consumer group (and inbox name) of the user service on chat's topic.
pub const CHAT_CONSUMER_NAME: &str = "users.chat-events";

/// Emits `ProfileChanged` with the profile as the public sees it now.
pub async fn record_profile_changed(tx: &mut Tx, profile: &Profile) -> Result<(), DbError> {
    let event = ProfileChanged {
        profile: Some(public_profile_to_proto(profile)),
        suspended: profile.suspended,
    };
    enqueue(tx, &profile.user_id.to_string(), &event).await?;
    Ok(())
}

/// Emits `SellerActivated`, from which auth grants the seller role.
pub async fn record_seller_activated(tx: &mut Tx, profile: &Profile) -> Result<(), DbError> {
    let user_id = profile.user_id.to_string();
    let event = SellerActivated {
        user_id: user_id.clone(),
    };
    enqueue(tx, &user_id, &event).await?;
    Ok(())
}

/// Keeps each seller's response time from chat's `SellerResponseTimeChanged` (a later
/// measure replaces an earlier one, never the other way round).
#[derive(Debug, Clone, Copy, Default)]
pub struct ChatEventsHandler;

#[async_trait]
impl EventHandler for ChatEventsHandler {
    async fn handle(&self, tx: &mut Tx, envelope: &Envelope) -> Result<(), HandlerError> {
        let Some(event) = decode::<SellerResponseTimeChanged>(envelope) else {
            return Ok(());
        };
        let event = event?;
        let seller_id = parse_user_id(&event.seller_id)?;
        let measure_time = event
            .measure_time
            .as_ref()
            .map_or_else(now_millis, millis_from_timestamp);
        let time = ResponseTime {
            median_seconds: event.median_response_seconds.max(0),
            conversations: event.conversations.max(0),
        };
        if !store::set_response_time(tx, seller_id, time, measure_time).await? {
            tracing::debug!(seller_id = %seller_id, "response time not kept: older, or no profile");
        }
        Ok(())
    }

    /// Of chat's busy topic, only the response times.
    fn takes(&self, event_type: &str) -> bool {
        event_type == SellerResponseTimeChanged::EVENT_TYPE
    }
}

/// Applies auth's events: a registration creates the profile, a suspension hides it.
#[derive(Debug, Clone, Copy, Default)]
pub struct AuthEventsHandler;

#[async_trait]
impl EventHandler for AuthEventsHandler {
    async fn handle(&self, tx: &mut Tx, envelope: &Envelope) -> Result<(), HandlerError> {
        if let Some(event) = decode::<UserRegistered>(envelope) {
            return create_profile(tx, envelope, event?).await;
        }
        if let Some(event) = decode::<AccountSuspended>(envelope) {
            let event = event?;
            return set_suspended(tx, &event.user_id, true).await;
        }
        if let Some(event) = decode::<AccountUnsuspended>(envelope) {
            let event = event?;
            return set_suspended(tx, &event.user_id, false).await;
        }
        Ok(())
    }
}

async fn create_profile(
    tx: &mut Tx,
    envelope: &Envelope,
    event: UserRegistered,
) -> Result<(), HandlerError> {
    let user_id = parse_user_id(&event.user_id)?;
    let username = event.username.trim();
    if username.is_empty() {
        return Err(HandlerError::permanent(anyhow::anyhow!(
            "UserRegistered for {user_id} has no username"
        )));
    }
    let created_at = event
        .create_time
        .as_ref()
        .or(envelope.occur_time.as_ref())
        .map(millis_from_timestamp)
        .unwrap_or_else(now_millis);
    let profile = Profile::register(user_id, username.to_owned(), created_at);
    // A second registration event for the same account (a replay with a new event id)
    // finds the profile in place and changes nothing.
    if store::insert_profile(tx, &profile).await? {
        record_profile_changed(tx, &profile).await?;
        tracing::info!(user_id = %user_id, "profile created");
    }
    Ok(())
}

async fn set_suspended(
    tx: &mut Tx,
    raw_user_id: &str,
    suspended: bool,
) -> Result<(), HandlerError> {
    let user_id = parse_user_id(raw_user_id)?;
    let Some(StoredProfile {
        mut profile,
        version,
    }) = store::find_by_user_id(&mut **tx, user_id).await?
    else {
        // Events of one account arrive in order, so the registration came first; if the
        // profile is missing anyway, retrying gives a late registration a chance and the
        // event ends in the dead letters (visible in metrics) rather than being lost.
        return Err(HandlerError::transient(anyhow::anyhow!(
            "no profile for user {user_id} to {}",
            if suspended { "suspend" } else { "unsuspend" }
        )));
    };
    let now = now_millis();
    let outcome = if suspended {
        profile.suspend(now)
    } else {
        profile.unsuspend(now)
    };
    if outcome == Outcome::Unchanged {
        return Ok(());
    }
    if !store::update_profile(tx, &profile, version).await? {
        return Err(HandlerError::transient(anyhow::anyhow!(
            "profile of user {user_id} changed concurrently"
        )));
    }
    record_profile_changed(tx, &profile).await?;
    tracing::info!(user_id = %user_id, suspended, "profile suspension changed");
    Ok(())
}

/// The account id an auth event names; a malformed one can never be applied.
fn parse_user_id(raw: &str) -> Result<UserId, HandlerError> {
    UserId::parse("user_id", raw).map_err(|error| {
        HandlerError::permanent(anyhow::anyhow!("invalid user id {raw:?}: {error}"))
    })
}
