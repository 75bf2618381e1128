//! What every gigmesh process does around its services: open the event bus and the
//! databases, stop on a signal, serve metrics, keep auth's public keys fresh, and wait for
//! its tasks on the way out.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use gigmesh_auth::{GrpcJwksSource, TokenVerifier};
use gigmesh_config::{BusConfig, BusKind, DatabaseConfig};
use gigmesh_db::Db;
use gigmesh_events::{BackgroundTask, EmbeddedBus, KafkaBus, KafkaOptions, SharedBus};
use tokio::net::TcpListener;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

/// How often remote verifiers re-read auth's public keys, so rotated keys are picked up
/// before tokens signed by them arrive (an unknown key id also triggers a read).
pub const KEY_REFRESH_INTERVAL: Duration = Duration::from_secs(300);

/// Opens the configured bus. Each service creates the topics it uses when it is built
/// ([`Service::build`](crate::Service::build)), from its description.
pub async fn open_bus(config: &BusConfig) -> anyhow::Result<SharedBus> {
    let bus: SharedBus = match config.kind {
        BusKind::Embedded => open_embedded_bus(config).await?,
        BusKind::Kafka => Arc::new(
            KafkaBus::with_options(kafka_options(config)?)
                .await
                .context("cannot reach Kafka")?,
        ),
    };
    Ok(bus)
}

/// The embedded event log at `bus.embedded_path`, creating its directory (dev mode, which
/// also runs its retention).
pub async fn open_embedded_bus(config: &BusConfig) -> anyhow::Result<Arc<EmbeddedBus>> {
    if let Some(parent) = config.embedded_path.parent() {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("cannot create {}", parent.display()))?;
    }
    Ok(Arc::new(
        EmbeddedBus::open(&config.embedded_path)
            .await
            .context("cannot open the embedded event log")?,
    ))
}

/// The Kafka adapter's settings from `bus.kafka_brokers` and `bus.kafka.*`.
fn kafka_options(config: &BusConfig) -> anyhow::Result<KafkaOptions> {
    let kafka = &config.kafka;
    let mut options = KafkaOptions::new(&config.kafka_brokers);
    options.create_topics = kafka.create_topics;
    options.partitions = i32::try_from(kafka.topic_partitions).unwrap_or(i32::MAX);
    options.replication_factor = i32::try_from(kafka.topic_replication_factor).unwrap_or(i32::MAX);
    options.session_timeout = Duration::from_secs(kafka.session_timeout_seconds.into());
    options.fetch_max_wait = Duration::from_millis(kafka.fetch_max_wait_ms.into());
    options.max_batch_records = Some(kafka.max_batch_records).filter(|records| *records > 0);
    if kafka.static_membership {
        let instance_id = Some(kafka.instance_id.clone())
            .filter(|instance_id| !instance_id.is_empty())
            .or_else(KafkaOptions::instance_id_from_environment)
            .context(
                "bus.kafka.static_membership needs an instance id: set bus.kafka.instance_id \
                 (GIGMESH__BUS__KAFKA__INSTANCE_ID) or HOSTNAME",
            )?;
        options.instance_id = Some(instance_id);
    }
    Ok(options)
}

/// Creates the database of service `name` when missing (PostgreSQL) and connects to it.
pub async fn open_database(name: &str, config: &DatabaseConfig) -> anyhow::Result<Db> {
    Db::ensure_database(&config.url)
        .await
        .with_context(|| format!("cannot create the {name} database"))?;
    Db::connect(&config.url, config.max_connections)
        .await
        .with_context(|| format!("cannot connect to the {name} database"))
}

/// A verifier that reads auth's public keys from the service at `auth_url`.
pub fn remote_verifier(auth_url: &str) -> anyhow::Result<TokenVerifier> {
    let source =
        GrpcJwksSource::connect_lazy(auth_url).context("invalid auth address for the JWKS")?;
    Ok(TokenVerifier::remote(Arc::new(source)))
}

/// Re-reads `verifier`'s keys every [`KEY_REFRESH_INTERVAL`] until shutdown.
pub fn spawn_key_refresh(
    tasks: &mut JoinSet<()>,
    verifier: &TokenVerifier,
    shutdown: &CancellationToken,
) {
    let verifier = verifier.clone();
    let shutdown = shutdown.clone();
    tasks.spawn(async move {
        verifier
            .run_periodic_refresh(KEY_REFRESH_INTERVAL, shutdown)
            .await
    });
}

/// Spawns each background loop until shutdown.
pub fn spawn_background(
    tasks: &mut JoinSet<()>,
    background: Vec<Box<dyn BackgroundTask>>,
    shutdown: &CancellationToken,
) {
    for task in background {
        let shutdown = shutdown.clone();
        tasks.spawn(async move { task.run(shutdown).await });
    }
}

/// Serves Prometheus metrics on `listen` until shutdown; nothing when `listen` is empty.
/// Returns the bound address.
pub async fn spawn_metrics(
    tasks: &mut JoinSet<()>,
    listen: &str,
    shutdown: &CancellationToken,
) -> anyhow::Result<Option<SocketAddr>> {
    if listen.is_empty() {
        return Ok(None);
    }
    let listener = TcpListener::bind(listen)
        .await
        .with_context(|| format!("cannot bind the metrics endpoint on {listen}"))?;
    let address = listener.local_addr()?;
    let shutdown = shutdown.clone();
    tasks.spawn(async move {
        if let Err(error) = gigmesh_telemetry::serve_metrics(listener, shutdown).await {
            tracing::error!(error = format!("{error:#}"), "metrics endpoint stopped");
        }
    });
    Ok(Some(address))
}

/// Waits for every task after shutdown was requested, so in-flight work completes.
pub async fn join_all(mut tasks: JoinSet<()>) {
    while let Some(result) = tasks.join_next().await {
        if let Err(error) = result
            && error.is_panic()
        {
            tracing::error!(%error, "a task panicked");
        }
    }
}

/// Cancels `shutdown` on Ctrl-C or SIGTERM.
pub fn cancel_on_signal(shutdown: CancellationToken) {
    tokio::spawn(async move {
        let ctrl_c = tokio::signal::ctrl_c();
        #[cfg(unix)]
        {
            let mut terminate =
                match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                    Ok(signal) => signal,
                    Err(error) => {
                        tracing::warn!(%error, "cannot listen for SIGTERM");
                        let _ = ctrl_c.await;
                        shutdown.cancel();
                        return;
                    }
                };
            tokio::select! {
                _ = ctrl_c => {}
                _ = terminate.recv() => {}
            }
        }
        #[cfg(not(unix))]
        {
            let _ = ctrl_c.await;
        }
        tracing::info!("shutting down: draining in-flight calls");
        shutdown.cancel();
    });
}

/// Runs `step` now and then every `interval` until `shutdown` (a step in progress finishes).
pub(crate) async fn every<F, Fut>(interval: Duration, shutdown: &CancellationToken, mut step: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let mut ticks = tokio::time::interval(interval);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            _ = ticks.tick() => {}
        }
        step().await;
    }
}
