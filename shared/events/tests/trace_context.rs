//! Events carry the W3C trace context of the request that caused them, so a consumer's work
//! joins the producer's trace.

#![allow(clippy::unwrap_used)]

use gigmesh_events::{EVENTS_MIGRATIONS, Envelope, enqueue};
use gigmesh_proto::gigmesh::auth::v1::UserRegistered;
use gigmesh_testing::TestDatabase;
use opentelemetry::trace::{TraceContextExt as _, TracerProvider as _};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::SdkTracerProvider;
use prost::Message as _;
use sqlx::Row as _;
use tracing::Instrument as _;
use tracing_opentelemetry::OpenTelemetrySpanExt as _;
use tracing_subscriber::layer::SubscriberExt as _;

#[tokio::test]
async fn enqueued_envelopes_carry_the_current_trace_context() {
    opentelemetry::global::set_text_map_propagator(TraceContextPropagator::new());
    let provider = SdkTracerProvider::builder().build();
    let subscriber = tracing_subscriber::registry()
        .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("gigmesh-events-test")));
    let _default = tracing::subscriber::set_default(subscriber);

    let database = TestDatabase::sqlite().await;
    let db = database.db();
    db.migrate(&[&EVENTS_MIGRATIONS]).await.unwrap();

    let request = tracing::info_span!("register user");
    let trace_id = request.context().span().span_context().trace_id();
    async {
        let mut tx = db.begin().await.unwrap();
        enqueue(&mut tx, "u1", &UserRegistered::default())
            .await
            .unwrap();
        tx.commit().await.unwrap();
    }
    .instrument(request)
    .await;

    let encoded: Vec<u8> = sqlx::query("SELECT envelope FROM outbox")
        .fetch_one(db.pool())
        .await
        .unwrap()
        .get(0);
    let envelope = Envelope::decode(encoded.as_slice()).unwrap();
    let traceparent = &envelope.trace_context["traceparent"];
    assert!(
        traceparent.starts_with(&format!("00-{trace_id}-")),
        "traceparent {traceparent} is not in trace {trace_id}"
    );
}
