//! One client's stream: it starts with a heartbeat carrying its position, sends the
//! caller's stream rows after that position in order (each with its event id), waits for a
//! wake, a heartbeat's time, the end of the caller's session or the replica's shutdown,
//! and reads again. Reading always starts from the last number sent, so a wake that comes
//! early, late or twice never loses or repeats an event.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use gigmesh_auth::RevokedSessions;
use gigmesh_db::{Db, DbError};
use gigmesh_events::BackgroundTask;
use gigmesh_types::{Clock, SessionId, UserId};
use tokio::sync::{mpsc, watch};
use tokio_stream::wrappers::ReceiverStream;
use tokio_util::sync::CancellationToken;
use tonic::Status;

use crate::StreamHub;
use crate::hub::Registration;
use crate::store;
use crate::token::{TokenRefusal, event_id, resume_after};

/// Rows read per query.
const READ_BATCH: u32 = 100;

/// Events buffered for a client that reads slowly.
const CLIENT_BUFFER: usize = 32;

/// What a client's stream sends.
pub type EventStream<E> = ReceiverStream<Result<E, Status>>;

/// How a service's stream events are stored and sent: each row holds an encoded event
/// without its id, which the stream sets when it sends the event.
pub trait StreamCodec: Send + Sync + 'static {
    /// What the stream sends.
    type Event: Send + 'static;

    /// The stored event `bytes`, with the id `event_id`.
    fn decode(&self, bytes: &[u8], event_id: String) -> Result<Self::Event, prost::DecodeError>;

    /// A heartbeat at `time_millis`, carrying the stream's position `event_id`.
    fn heartbeat(&self, event_id: String, time_millis: i64) -> Self::Event;
}

/// Why a stream cannot open.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// The resume token is not one of the caller's event ids (the reason says which way).
    #[error("resume_token: {0}")]
    BadResumeToken(&'static str),
    /// The events after the resume token are no longer kept.
    #[error(
        "the events after this resume token are no longer kept: reload and open a stream without a token"
    )]
    ResumeTooOld,
    /// The stream's rows cannot be read.
    #[error(transparent)]
    Db(#[from] DbError),
}

/// Opens clients' streams over the service's database and hub, their events read with
/// `C`.
pub struct StreamOpener<C> {
    db: Db,
    hub: StreamHub,
    clock: Clock,
    revoked: Option<RevokedSessions>,
    heartbeat_interval: Duration,
    codec: Arc<C>,
}

impl<C> Clone for StreamOpener<C> {
    fn clone(&self) -> Self {
        Self {
            db: self.db.clone(),
            hub: self.hub.clone(),
            clock: self.clock.clone(),
            revoked: self.revoked.clone(),
            heartbeat_interval: self.heartbeat_interval,
            codec: self.codec.clone(),
        }
    }
}

impl<C: StreamCodec> StreamOpener<C> {
    /// An opener of streams over `db` in `hub`, reading events with `codec`, ending those
    /// whose session is in `revoked`, with a heartbeat after `heartbeat_interval` of
    /// silence.
    pub fn new(
        db: Db,
        hub: StreamHub,
        clock: Clock,
        revoked: Option<RevokedSessions>,
        heartbeat_interval: Duration,
        codec: C,
    ) -> Self {
        Self {
            db,
            hub,
            clock,
            revoked,
            heartbeat_interval,
            codec: Arc::new(codec),
        }
    }

    /// Opens `user_id`'s stream in session `session_id`, after `resume_token` (empty: from
    /// now on).
    pub async fn open(
        &self,
        user_id: UserId,
        session_id: SessionId,
        resume_token: &str,
    ) -> Result<EventStream<C::Event>, OpenError> {
        // Registered before the position is read: a change committed after the read wakes
        // this stream, and one committed before is at or under the head it reads.
        let registration = self.hub.register(user_id);
        let head = store::head(self.db.pool(), user_id).await?;
        let after = if resume_token.trim().is_empty() {
            head
        } else {
            let after = resume_after(user_id, resume_token).map_err(|refusal| match refusal {
                TokenRefusal::Malformed => {
                    OpenError::BadResumeToken("is not an event id this server issued")
                }
                TokenRefusal::OtherUser => {
                    OpenError::BadResumeToken("is an event id of another user's stream")
                }
            })?;
            if after > head {
                return Err(OpenError::BadResumeToken(
                    "is ahead of your stream: it is not an event id this server issued",
                ));
            }
            if after < head {
                let oldest = store::oldest_kept(self.db.pool(), user_id).await?;
                if oldest.is_none_or(|oldest| oldest > after + 1) {
                    return Err(OpenError::ResumeTooOld);
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
            heartbeat_interval: self.heartbeat_interval,
            codec: self.codec.clone(),
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

struct ClientStream<C: StreamCodec> {
    db: Db,
    codec: Arc<C>,
    clock: Clock,
    user_id: UserId,
    session_id: String,
    revoked: Option<RevokedSessions>,
    closing: CancellationToken,
    heartbeat_interval: Duration,
    sender: mpsc::Sender<Result<C::Event, Status>>,
    /// The number of the last event sent (or the position the stream started at).
    after: i64,
}

impl<C: StreamCodec> ClientStream<C> {
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
            let rows = match store::read_after(self.db.pool(), self.user_id, self.after, READ_BATCH)
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
                let id = event_id(self.user_id, row.seq);
                let event = match self.codec.decode(&row.event, id) {
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
        let event = self
            .codec
            .heartbeat(event_id(self.user_id, self.after), self.clock.now_millis());
        self.send(event).await
    }

    async fn send(&self, event: C::Event) -> Result<(), Stop> {
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
        "stream-closer"
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
