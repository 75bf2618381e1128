//! One client's stream: it starts with a heartbeat carrying its position, sends the
//! caller's stream rows after that position in order (each with its event id), waits for a
//! wake, a heartbeat's time, the end of the caller's session or the replica's shutdown,
//! and reads again. Reading always starts from the last number sent, so a wake that comes
//! early, late or twice never loses or repeats an event.

use std::time::Duration;

use async_trait::async_trait;
use gigmesh_auth::RevokedSessions;
use gigmesh_db::Db;
use gigmesh_events::BackgroundTask;
use gigmesh_proto::chat::{self as proto, chat_event::Kind};
use gigmesh_types::{Clock, SessionId, UserId, timestamp_from_millis};
use prost::Message as _;
use tokio::sync::{mpsc, watch};
use tokio_stream::wrappers::ReceiverStream;
use tokio_util::sync::CancellationToken;
use tonic::Status;

use super::StreamHub;
use super::hub::Registration;
use super::token::{TokenRefusal, event_id, resume_after};
use crate::error::ChatError;
use crate::store;

/// Rows read per query.
const READ_BATCH: u32 = 100;

/// Events buffered for a client that reads slowly.
const CLIENT_BUFFER: usize = 32;

/// What a client's stream sends.
pub type EventStream = ReceiverStream<Result<proto::ChatEvent, Status>>;

/// How streams behave.
#[derive(Debug, Clone)]
pub struct StreamSettings {
    /// Longest silence before a heartbeat.
    pub heartbeat_interval: Duration,
}

/// Opens clients' streams over the service's database and hub.
#[derive(Clone)]
pub struct StreamOpener {
    db: Db,
    hub: StreamHub,
    clock: Clock,
    revoked: Option<RevokedSessions>,
    settings: StreamSettings,
}

impl StreamOpener {
    /// An opener of streams over `db` in `hub`, ending those whose session is in `revoked`.
    pub fn new(
        db: Db,
        hub: StreamHub,
        clock: Clock,
        revoked: Option<RevokedSessions>,
        settings: StreamSettings,
    ) -> Self {
        Self {
            db,
            hub,
            clock,
            revoked,
            settings,
        }
    }

    /// Opens `user_id`'s stream in session `session_id`, after `resume_token` (empty: from
    /// now on).
    pub async fn open(
        &self,
        user_id: UserId,
        session_id: SessionId,
        resume_token: &str,
    ) -> Result<EventStream, ChatError> {
        // Registered before the position is read: a change committed after the read wakes
        // this stream, and one committed before is at or under the head it reads.
        let registration = self.hub.register(user_id);
        let head = store::stream::head(self.db.pool(), user_id).await?;
        let after = if resume_token.trim().is_empty() {
            head
        } else {
            let after = resume_after(user_id, resume_token).map_err(|refusal| match refusal {
                TokenRefusal::Malformed => {
                    ChatError::BadResumeToken("is not an event id this server issued")
                }
                TokenRefusal::OtherUser => {
                    ChatError::BadResumeToken("is an event id of another user's stream")
                }
            })?;
            if after > head {
                return Err(ChatError::BadResumeToken(
                    "is ahead of your stream: it is not an event id this server issued",
                ));
            }
            if after < head {
                let oldest = store::stream::oldest_kept(self.db.pool(), user_id).await?;
                if oldest.is_none_or(|oldest| oldest > after + 1) {
                    return Err(ChatError::ResumeTooOld);
                }
            }
            after
        };
        let (sender, receiver) = mpsc::channel(CLIENT_BUFFER);
        let stream = ClientStream {
            db: self.db.clone(),
            clock: self.clock.clone(),
            user_id,
            session_id: session_id.to_string(),
            revoked: self.revoked.clone(),
            closing: self.hub.closing(),
            heartbeat_interval: self.settings.heartbeat_interval,
            sender,
            after,
        };
        tokio::spawn(stream.run(registration));
        Ok(ReceiverStream::new(receiver))
    }
}

/// Why a stream stopped.
enum Stop {
    /// The client went away, or the stream ended (shutdown, revocation) and told it.
    Done,
}

struct ClientStream {
    db: Db,
    clock: Clock,
    user_id: UserId,
    session_id: String,
    revoked: Option<RevokedSessions>,
    closing: CancellationToken,
    heartbeat_interval: Duration,
    sender: mpsc::Sender<Result<proto::ChatEvent, Status>>,
    /// The number of the last event sent (or the position the stream started at).
    after: i64,
}

impl ClientStream {
    async fn run(mut self, mut registration: Registration) {
        let mut revocations = self.revoked.as_ref().map(RevokedSessions::watch);
        if self.session_revoked() {
            let status = Status::unauthenticated("the session ended: sign in again");
            let _ = self.sender.send(Err(status)).await;
            return;
        }
        if self.heartbeat().await.is_err() {
            return;
        }
        loop {
            if self.send_new_rows().await.is_err() {
                return;
            }
            tokio::select! {
                biased;
                () = self.closing.cancelled() => {
                    tracing::debug!(user_id = %self.user_id, "stream ends at shutdown");
                    return;
                }
                () = self.sender.closed() => return,
                () = revoked(&mut revocations) => {
                    if self.session_revoked() {
                        let status = Status::unauthenticated("the session ended: sign in again");
                        let _ = self.sender.send(Err(status)).await;
                        tracing::info!(user_id = %self.user_id, "stream ends: session revoked");
                        return;
                    }
                }
                changed = registration.wake.changed() => {
                    if changed.is_err() {
                        return;
                    }
                }
                () = tokio::time::sleep(self.heartbeat_interval) => {
                    if self.heartbeat().await.is_err() {
                        return;
                    }
                }
            }
        }
    }

    fn session_revoked(&self) -> bool {
        self.revoked
            .as_ref()
            .is_some_and(|revoked| revoked.contains(&self.session_id))
    }

    /// Sends every row after the last one sent.
    async fn send_new_rows(&mut self) -> Result<(), Stop> {
        loop {
            let rows = match store::stream::read_after(
                self.db.pool(),
                self.user_id,
                self.after,
                READ_BATCH,
            )
            .await
            {
                Ok(rows) => rows,
                Err(error) => {
                    tracing::warn!(
                        user_id = %self.user_id,
                        error = format!("{error:#}"),
                        "stream cannot read its events; the client reconnects"
                    );
                    let status =
                        Status::unavailable("the stream is interrupted: reconnect and resume");
                    let _ = self.sender.send(Err(status)).await;
                    return Err(Stop::Done);
                }
            };
            let full = rows.len() == READ_BATCH as usize;
            for row in rows {
                let mut event = match proto::ChatEvent::decode(row.event.as_slice()) {
                    Ok(event) => event,
                    Err(error) => {
                        tracing::error!(
                            user_id = %self.user_id,
                            seq = row.seq,
                            error = %error,
                            "a stored stream event cannot be decoded; skipped"
                        );
                        self.after = row.seq;
                        continue;
                    }
                };
                event.event_id = event_id(self.user_id, row.seq);
                self.send(event).await?;
                self.after = row.seq;
            }
            if !full {
                return Ok(());
            }
        }
    }

    /// Sends a heartbeat carrying the stream's position.
    async fn heartbeat(&self) -> Result<(), Stop> {
        let event = proto::ChatEvent {
            event_id: event_id(self.user_id, self.after),
            event_time: Some(timestamp_from_millis(self.clock.now_millis())),
            kind: Some(Kind::Heartbeat(proto::Heartbeat {})),
        };
        self.send(event).await
    }

    async fn send(&self, event: proto::ChatEvent) -> Result<(), Stop> {
        tokio::select! {
            biased;
            () = self.closing.cancelled() => Err(Stop::Done),
            sent = self.sender.send(Ok(event)) => sent.map_err(|_| Stop::Done),
        }
    }
}

/// Resolves when a session was added to the revoked set (never without one).
async fn revoked(revocations: &mut Option<watch::Receiver<u64>>) {
    match revocations {
        Some(receiver) => {
            if receiver.changed().await.is_err() {
                std::future::pending::<()>().await;
            }
        }
        None => std::future::pending::<()>().await,
    }
}

/// Ends every stream of the hub when the replica shuts down.
pub struct StreamCloser {
    hub: StreamHub,
}

impl StreamCloser {
    /// The closer of `hub`'s streams.
    pub fn new(hub: StreamHub) -> Self {
        Self { hub }
    }
}

#[async_trait]
impl BackgroundTask for StreamCloser {
    fn name(&self) -> &str {
        "chat.stream-closer"
    }

    async fn run(self: Box<Self>, shutdown: CancellationToken) {
        shutdown.cancelled().await;
        tracing::info!(
            streams = self.hub.open_streams(),
            "closing the open streams"
        );
        self.hub.close_all();
    }
}
