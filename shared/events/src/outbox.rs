//! Writing events into the transactional outbox, and reading them back from an envelope.

use gigmesh_db::{DbError, Tx};
use gigmesh_proto::EventMessage;
use gigmesh_proto::gigmesh::events::v1::Envelope;
use gigmesh_types::{EventId, now_millis, timestamp_from_millis};
use prost::Message as _;

/// Records `event` about `aggregate_id` for publication on its topic (`E::TOPIC`), inside
/// the transaction that makes the state change, so the event exists if and only if the
/// change commits. The relay publishes it later with `aggregate_id` as the record key; the
/// commit wakes this process's relay of the database at once (its poll is the fallback for
/// rows it did not hear of).
///
/// The envelope gets a new UUIDv7 event id, the event's type name, the current time, the
/// producing domain (from the topic: `gigmesh.auth.v1` -> `auth`) and the current W3C trace
/// context, so the consumer's work joins the trace of the request that caused it. The row
/// remembers whether the event [carries a secret](EventMessage::CARRIES_SECRET), so the
/// relay deletes it once published and marks its record for consumers.
pub async fn enqueue<E: EventMessage>(
    tx: &mut Tx,
    aggregate_id: &str,
    event: &E,
) -> Result<EventId, DbError> {
    let topic = E::TOPIC;
    let event_id = EventId::new();
    let now = now_millis();
    let envelope = envelope_for(event_id, now, topic, aggregate_id, event);
    sqlx::query(
        "INSERT INTO outbox \
             (event_id, topic, record_key, event_type, envelope, create_time, carries_secret) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(&envelope.event_id)
    .bind(topic)
    .bind(aggregate_id)
    .bind(&envelope.event_type)
    .bind(envelope.encode_to_vec())
    .bind(now)
    .bind(E::CARRIES_SECRET)
    .execute(&mut **tx)
    .await?;
    tx.signal_on_commit();
    tracing::debug!(
        event_id = %event_id,
        event_type = E::EVENT_TYPE,
        topic,
        "event enqueued"
    );
    Ok(event_id)
}

/// A new envelope for `event` about `aggregate_id`, occurring now, in the current trace:
/// what [`enqueue`] stores and the relay publishes. Tests use it to publish an event as
/// another service's relay would.
pub fn new_envelope<E: EventMessage>(aggregate_id: &str, event: &E) -> Envelope {
    envelope_for(EventId::new(), now_millis(), E::TOPIC, aggregate_id, event)
}

fn envelope_for<E: EventMessage>(
    event_id: EventId,
    occurred_at_millis: i64,
    topic: &str,
    aggregate_id: &str,
    event: &E,
) -> Envelope {
    Envelope {
        event_id: event_id.to_string(),
        event_type: E::EVENT_TYPE.to_owned(),
        aggregate_id: aggregate_id.to_owned(),
        occur_time: Some(timestamp_from_millis(occurred_at_millis)),
        producer: producer_of(topic).to_owned(),
        trace_context: gigmesh_telemetry::propagation::current_trace_context(),
        payload: event.encode_to_vec(),
    }
}

/// The event carried by `envelope` when it is of type `E`; `None` for other types, so a
/// handler can try each type it knows and ignore the rest.
pub fn decode<E: EventMessage>(envelope: &Envelope) -> Option<Result<E, prost::DecodeError>> {
    (envelope.event_type == E::EVENT_TYPE).then(|| E::decode(envelope.payload.as_slice()))
}

/// The producing domain named by a topic: `gigmesh.<domain>.v1` -> `<domain>`.
fn producer_of(topic: &str) -> &str {
    let mut parts = topic.split('.');
    match (parts.next(), parts.next()) {
        (Some("gigmesh"), Some(domain)) if !domain.is_empty() => domain,
        _ => topic,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use gigmesh_proto::gigmesh::auth::v1::{EmailVerified, UserRegistered};

    #[test]
    fn producer_is_the_topic_domain() {
        assert_eq!(producer_of("gigmesh.auth.v1"), "auth");
        assert_eq!(producer_of("gigmesh.users.v1"), "users");
        assert_eq!(producer_of("other"), "other");
    }

    #[test]
    fn decode_matches_on_the_event_type() {
        let event = UserRegistered {
            user_id: "u1".to_owned(),
            ..UserRegistered::default()
        };
        let envelope = Envelope {
            event_type: UserRegistered::EVENT_TYPE.to_owned(),
            payload: event.encode_to_vec(),
            ..Envelope::default()
        };
        assert_eq!(decode::<UserRegistered>(&envelope).unwrap().unwrap(), event);
        assert!(decode::<EmailVerified>(&envelope).is_none());
    }
}
