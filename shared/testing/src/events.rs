//! Feeding a service the events another service would publish.

use gigmesh_events::{Envelope, OutgoingRecord, SharedBus, new_envelope};
use gigmesh_proto::EventMessage;
use prost::Message as _;

/// Publishes `event` about `aggregate_id` on `topic` straight to the bus, as the producing
/// service's relay would; returns the envelope (to publish it again, for instance).
pub async fn publish_event<E: EventMessage>(
    bus: &SharedBus,
    topic: &str,
    aggregate_id: &str,
    event: &E,
) -> Envelope {
    let envelope = new_envelope(topic, aggregate_id, event);
    publish_envelope(bus, topic, &envelope).await;
    envelope
}

/// Publishes an envelope as is, keyed by its aggregate id (a redelivery, for instance).
pub async fn publish_envelope(bus: &SharedBus, topic: &str, envelope: &Envelope) {
    bus.publish(OutgoingRecord {
        topic: topic.to_owned(),
        key: envelope.aggregate_id.clone(),
        payload: envelope.encode_to_vec(),
        headers: Vec::new(),
    })
    .await
    .expect("the bus accepts the record");
}
