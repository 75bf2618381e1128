//! The Kafka adapter's topic layout on a tansu broker: created topics get the configured
//! partitions, and with topic creation turned off a missing topic is an error naming it.

use std::time::Duration;

use gigmesh_events::{BusError, EventBus, KafkaBus, KafkaOptions};
use gigmesh_testing::TestKafka;
use rdkafka::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer as _};

const TOPIC: &str = "gigmesh.layout.v1";

fn options(kafka: &TestKafka) -> KafkaOptions {
    let mut options = KafkaOptions::new(kafka.brokers());
    options.delivery_timeout = Duration::from_secs(5);
    options
}

/// The partition count of `topic` as the broker reports it.
async fn partitions_of(kafka: &TestKafka, topic: &str) -> usize {
    let brokers = kafka.brokers();
    let topic = topic.to_owned();
    tokio::task::spawn_blocking(move || {
        let client: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", &brokers)
            .set("allow.auto.create.topics", "false")
            .create()
            .expect("create a metadata client");
        let metadata = client
            .fetch_metadata(Some(&topic), Duration::from_secs(5))
            .expect("fetch metadata");
        let topic_metadata = metadata
            .topics()
            .iter()
            .find(|candidate| candidate.name() == topic)
            .expect("the topic is in the metadata");
        assert!(
            topic_metadata.error().is_none(),
            "{topic}: {:?}",
            topic_metadata.error()
        );
        topic_metadata.partitions().len()
    })
    .await
    .expect("metadata task")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn created_topics_get_the_configured_partitions() {
    let Some(kafka) = TestKafka::start_or_skip().await else {
        return;
    };
    let mut options = options(&kafka);
    options.partitions = 5;
    options.replication_factor = 1;
    let bus = KafkaBus::with_options(options).await.expect("connect");
    bus.ensure_topics(&[TOPIC]).await.expect("create the topic");
    assert_eq!(partitions_of(&kafka, TOPIC).await, 5);
    // Creating again is a no-op, not an error.
    bus.ensure_topics(&[TOPIC]).await.expect("the topic exists");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_topic_creation_a_missing_topic_is_named() {
    let Some(kafka) = TestKafka::start_or_skip().await else {
        return;
    };
    let mut options = options(&kafka);
    options.create_topics = false;
    let checking = KafkaBus::with_options(options).await.expect("connect");

    let error = checking
        .ensure_topics(&[TOPIC])
        .await
        .expect_err("the topic is missing");
    assert!(
        matches!(&error, BusError::MissingTopic(topic) if topic == TOPIC),
        "{error:?}"
    );
    let message = error.to_string();
    assert!(message.contains(TOPIC), "{message}");
    assert!(message.contains("bus.kafka.create_topics"), "{message}");
    // Checking did not create it as a side effect.
    let error = checking
        .ensure_topics(&[TOPIC])
        .await
        .expect_err("still missing");
    assert!(matches!(error, BusError::MissingTopic(_)), "{error:?}");

    let creating = KafkaBus::with_options(self::options(&kafka))
        .await
        .expect("connect");
    creating
        .ensure_topics(&[TOPIC])
        .await
        .expect("create the topic");
    checking
        .ensure_topics(&[TOPIC])
        .await
        .expect("the topic exists now");
    let error = checking
        .ensure_topics(&[TOPIC, "gigmesh.other.v1"])
        .await
        .expect_err("one of two is missing");
    assert!(
        matches!(&error, BusError::MissingTopic(topic) if topic == "gigmesh.other.v1"),
        "{error:?}"
    );
}
