//! Feeding a service the events another service would publish, and reading back what it
//! published.

use std::time::Duration;

use gigmesh_events::{
    Envelope, OutgoingRecord, Relay, SharedBus, Subscription, carries_secret_header, new_envelope,
};
use gigmesh_proto::EventMessage;
use prost::Message as _;

/// How long reading the topic waits for one more record once the outbox is empty: the
/// relay has already published everything, so this only needs to cover the bus's own hand-off.
const READ_WAIT: Duration = Duration::from_millis(50);

/// Reads what a service published on a topic: relay its outbox until it is empty, then
/// take every record that reached the topic since the last read.
pub struct EmittedEvents {
    subscription: Box<dyn Subscription>,
}

impl EmittedEvents {
    /// Observes `topic` from now on, in a consumer group of its own.
    pub async fn observe(bus: &SharedBus, topic: &str) -> Self {
        let group = format!("test-observer.{}", uuid::Uuid::now_v7());
        let subscription = bus
            .subscribe(&group, &[topic])
            .await
            .expect("observe the topic");
        Self { subscription }
    }

    /// Relays `relay` until its outbox is empty, then returns every envelope published
    /// since the last call, oldest first. Each record's key is checked to be the envelope's
    /// aggregate id.
    pub async fn relay_and_read(&mut self, relay: &Relay) -> Vec<Envelope> {
        while relay.run_once().await.expect("relay the outbox") > 0 {}
        let mut envelopes = Vec::new();
        while let Some(record) = self
            .subscription
            .next(READ_WAIT)
            .await
            .expect("read the topic")
        {
            self.subscription
                .commit(&record)
                .await
                .expect("commit the read");
            let envelope = Envelope::decode(record.payload.as_slice()).expect("an envelope");
            assert_eq!(
                record.key, envelope.aggregate_id,
                "the record key is the aggregate id"
            );
            envelopes.push(envelope);
        }
        envelopes
    }

    /// Like [`EmittedEvents::relay_and_read`], keeping the events of type `E` with their
    /// aggregate ids.
    pub async fn relay_and_decode<E: EventMessage>(&mut self, relay: &Relay) -> Vec<(String, E)> {
        self.relay_and_read(relay)
            .await
            .into_iter()
            .filter_map(|envelope| {
                gigmesh_events::decode::<E>(&envelope)
                    .map(|event| (envelope.aggregate_id.clone(), event.expect("decodable")))
            })
            .collect()
    }
}

/// Publishes `event` about `aggregate_id` on its topic straight to the bus, as the producing
/// service's relay would (marking it when it [carries a
/// secret](EventMessage::CARRIES_SECRET)); returns the envelope (to publish it again, for
/// instance).
pub async fn publish_event<E: EventMessage>(
    bus: &SharedBus,
    aggregate_id: &str,
    event: &E,
) -> Envelope {
    let envelope = new_envelope(aggregate_id, event);
    let headers = E::CARRIES_SECRET
        .then(carries_secret_header)
        .into_iter()
        .collect();
    publish_with_headers(bus, E::TOPIC, &envelope, headers).await;
    envelope
}

/// Publishes an envelope as is, keyed by its aggregate id (a redelivery, for instance).
pub async fn publish_envelope(bus: &SharedBus, topic: &str, envelope: &Envelope) {
    publish_with_headers(bus, topic, envelope, Vec::new()).await;
}

async fn publish_with_headers(
    bus: &SharedBus,
    topic: &str,
    envelope: &Envelope,
    headers: Vec<(String, Vec<u8>)>,
) {
    bus.publish(OutgoingRecord {
        topic: topic.to_owned(),
        key: envelope.aggregate_id.clone(),
        payload: envelope.encode_to_vec(),
        headers,
    })
    .await
    .expect("the bus accepts the record");
}
