//! Logs, traces and metrics, set up once per process.
//!
//! [`init`] installs the `tracing` subscriber (pretty for a terminal, JSON in production),
//! the OpenTelemetry exporter when an OTLP endpoint is configured, the W3C trace-context
//! propagator, and the Prometheus recorder behind the `metrics` facade, drained on a timer so
//! an unscraped process does not grow. [`serve_metrics`]
//! answers `GET /metrics` for Prometheus. [`propagation`] moves trace context across
//! gRPC metadata and event envelopes.

pub mod propagation;
mod upkeep;

use std::net::SocketAddr;
use std::sync::OnceLock;
use std::time::Duration;

use anyhow::Context as _;
use bytes::Bytes;
use gigmesh_config::{LogFormat, TelemetryConfig};
use http_body_util::Full;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::WithExportConfig as _;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;

use crate::upkeep::PeriodicUpkeep;

/// Latency buckets (seconds) for every `*_seconds` histogram: fine-grained below 10 ms,
/// where gateway overhead and cached reads live.
const LATENCY_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// How often the process-wide recorder drains buffered histogram samples, scraped or not.
/// Every sample is buffered until drained (about 20 bytes per request), so this bounds what an
/// unscraped process holds: at 10 000 requests a second, about a megabyte, for one pass over
/// the histograms every few seconds. It is also the exporter's own default upkeep interval.
const METRICS_UPKEEP_INTERVAL: Duration = Duration::from_secs(5);

static PROMETHEUS: OnceLock<PrometheusHandle> = OnceLock::new();

/// The timer that drains [`PROMETHEUS`]; `None` if its thread could not be started. A static
/// is never dropped, so the timer lives exactly as long as the recorder: until the process
/// exits, which ends the thread with nothing left to flush.
static PROCESS_METRICS_UPKEEP: OnceLock<Option<PeriodicUpkeep>> = OnceLock::new();

/// What [`init`] set up; keep it alive for the life of the process.
pub struct Telemetry {
    tracer_provider: Option<SdkTracerProvider>,
}

impl Telemetry {
    /// Flushes pending spans.
    pub fn shutdown(self) {
        if let Some(provider) = self.tracer_provider
            && let Err(error) = provider.shutdown()
        {
            tracing::warn!(%error, "trace exporter did not shut down cleanly");
        }
    }
}

/// Installs logging, tracing export and the metrics recorder. Safe to call more than once
/// in a process (tests start several apps): later calls keep what the first installed.
pub fn init(config: &TelemetryConfig, service_name: &str) -> anyhow::Result<Telemetry> {
    opentelemetry::global::set_text_map_propagator(
        opentelemetry_sdk::propagation::TraceContextPropagator::new(),
    );

    let filter = EnvFilter::try_new(&config.log_filter).with_context(|| {
        format!(
            "telemetry.log_filter {:?} is not a valid filter",
            config.log_filter
        )
    })?;

    let tracer_provider = if config.otlp_endpoint.is_empty() {
        None
    } else {
        let exporter = opentelemetry_otlp::SpanExporter::builder()
            .with_tonic()
            .with_endpoint(config.otlp_endpoint.clone())
            .build()
            .context("cannot build the OTLP span exporter")?;
        let resource = opentelemetry_sdk::Resource::builder()
            .with_service_name(service_name.to_owned())
            .build();
        Some(
            SdkTracerProvider::builder()
                .with_batch_exporter(exporter)
                .with_resource(resource)
                .build(),
        )
    };
    let otel_layer = tracer_provider
        .as_ref()
        .map(|provider| tracing_opentelemetry::layer().with_tracer(provider.tracer("gigmesh")));

    let registry = tracing_subscriber::registry().with(filter).with(otel_layer);
    // A second init in the same process (tests) finds a subscriber already set; that is fine.
    let _already_set = match config.log_format {
        LogFormat::Json => registry
            .with(
                tracing_subscriber::fmt::layer()
                    .with_writer(std::io::stderr)
                    .json()
                    .flatten_event(true)
                    .with_current_span(true)
                    .with_span_list(false),
            )
            .try_init(),
        LogFormat::Pretty => registry
            .with(
                tracing_subscriber::fmt::layer()
                    .with_writer(std::io::stderr)
                    .compact(),
            )
            .try_init(),
    };
    // After the subscriber, so a failure to start the upkeep timer is logged.
    install_metrics_recorder();
    Ok(Telemetry { tracer_provider })
}

/// The process-wide Prometheus recorder, installed on first use together with the timer
/// that drains its histogram samples every [`METRICS_UPKEEP_INTERVAL`].
pub fn prometheus() -> &'static PrometheusHandle {
    install_metrics_recorder()
}

fn install_metrics_recorder() -> &'static PrometheusHandle {
    PROMETHEUS.get_or_init(|| {
        let builder = PrometheusBuilder::new()
            .set_buckets_for_metric(Matcher::Suffix("_seconds".to_owned()), LATENCY_BUCKETS)
            .unwrap_or_else(|_| PrometheusBuilder::new());
        let recorder = builder.build_recorder();
        let handle = recorder.handle();
        // Another recorder may already be installed (a test harness); then this handle
        // renders only what reaches it, which is still correct for the endpoint.
        let _ = metrics::set_global_recorder(recorder);
        start_metrics_upkeep(&handle);
        handle
    })
}

/// Drains `handle` on a timer: without it, histogram samples pile up until a scrape, and a
/// process without a metrics endpoint grows until it is killed.
fn start_metrics_upkeep(handle: &PrometheusHandle) {
    PROCESS_METRICS_UPKEEP.get_or_init(|| {
        let handle = handle.clone();
        match PeriodicUpkeep::spawn(METRICS_UPKEEP_INTERVAL, move || handle.run_upkeep()) {
            Ok(upkeep) => Some(upkeep),
            Err(error) => {
                tracing::warn!(
                    %error,
                    "cannot start the metrics upkeep thread; histogram samples are drained only when /metrics is scraped"
                );
                None
            }
        }
    });
}

/// Serves `GET /metrics` (Prometheus text format) until `shutdown` is cancelled.
pub async fn serve_metrics(
    listener: TcpListener,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let handle = prometheus().clone();
    loop {
        let (stream, _peer) = tokio::select! {
            () = shutdown.cancelled() => return Ok(()),
            accepted = listener.accept() => accepted.context("metrics listener failed")?,
        };
        let handle = handle.clone();
        tokio::spawn(async move {
            let service =
                hyper::service::service_fn(move |request: http::Request<hyper::body::Incoming>| {
                    let handle = handle.clone();
                    async move {
                        if request.uri().path() == "/metrics" {
                            handle.run_upkeep();
                            http::Response::builder()
                                .header(http::header::CONTENT_TYPE, "text/plain; version=0.0.4")
                                .body(Full::new(Bytes::from(handle.render())))
                        } else {
                            http::Response::builder()
                                .status(http::StatusCode::NOT_FOUND)
                                .body(Full::new(Bytes::from_static(b"not found\n")))
                        }
                    }
                });
            let io = hyper_util::rt::TokioIo::new(stream);
            if let Err(error) = hyper::server::conn::http1::Builder::new()
                .serve_connection(io, service)
                .await
            {
                tracing::debug!(%error, "metrics connection ended with an error");
            }
        });
    }
}

/// Binds the metrics endpoint if configured; returns the bound address.
pub async fn bind_metrics(
    config: &TelemetryConfig,
) -> anyhow::Result<Option<(TcpListener, SocketAddr)>> {
    if config.metrics_listen.is_empty() {
        return Ok(None);
    }
    let listener = TcpListener::bind(&config.metrics_listen)
        .await
        .with_context(|| {
            format!(
                "cannot bind the metrics endpoint on {}",
                config.metrics_listen
            )
        })?;
    let address = listener.local_addr()?;
    Ok(Some((listener, address)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn installing_the_recorder_starts_its_upkeep_timer() {
        prometheus();
        assert!(
            PROCESS_METRICS_UPKEEP.get().is_some_and(Option::is_some),
            "the process-wide recorder has no upkeep timer"
        );
    }

    #[test]
    fn recorded_metrics_are_rendered() {
        prometheus();
        metrics::counter!("gigmesh_telemetry_selftest_total").increment(2);
        let rendered = prometheus().render();
        assert!(
            rendered.contains("gigmesh_telemetry_selftest_total 2"),
            "{rendered}"
        );
    }
}
