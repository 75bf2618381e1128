//! Chat's streams: how much memory and CPU thousands of idle `StreamEvents` streams cost one
//! chat process, and how long a message takes from `SendMessage` to the recipient's stream
//! under a steady load, in `gigmesh dev` (one process, SQLite, the embedded bus) and through
//! Kafka between two chat replicas.
//!
//! Distributed mode ([`DistributedMesh`] with `auth`, `chat` and a second chat replica
//! `chat-b` on the same PostgreSQL database, each replica its own consumer group on the chat
//! topic): buyers are signed up through the gateway and one of them becomes the seller of a
//! gig published on Kafka as the gig service would. The streams are opened straight on the
//! first chat replica (as the pods behind the gateway hold them), spread over the users and
//! over several HTTP/2 connections; once they are all open and idle, the replica's resident
//! set is compared with the one before, and its CPU is read over an idle window. For the
//! latency, the seller's stream is held by the second replica while buyers send through the
//! gateway to the first, so each message crosses the outbox relay, Kafka and the second
//! replica's consumer before its stream reads it.
//!
//! Embedded: `gigmesh dev` with the demo buyer made a seller; the seller's stream and the
//! buyers' messages go through its gateway.
//!
//! A message's latency is from just before its `SendMessage` call to the moment the
//! recipient's stream yields it, on the client's monotonic clock (the RPC's own time
//! included).

use std::collections::HashMap;
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use base64::Engine as _;
use gigmesh_proto::chat::chat_event::Kind;
use gigmesh_proto::chat::chat_service_client::ChatServiceClient;
use gigmesh_proto::chat::{self, ChatEvent};
use parking_lot::Mutex;
use tokio::task::JoinSet;
use tonic::Streaming;
use tonic::transport::Channel;

use crate::distributed::{DistributedMesh, gigmesh_version};
use crate::market::{self, signed};
use crate::process::connect;
use crate::report::Machine;
use crate::soak::{self, DevProcess, read_rss_kib};
use crate::stats::{Latencies, Summary};

/// HTTP/2 connections the idle streams share (servers allow a few hundred streams each).
const STREAM_CONNECTIONS: usize = 50;
/// Streams opened at once while filling up.
const OPENING_CONCURRENCY: usize = 200;
/// How long the streams sit idle before memory is read.
const SETTLE: Duration = Duration::from_secs(5);
/// Messages sent untimed before the measured ones.
const WARMUP_MESSAGES: usize = 50;
/// How long one message may take to reach its stream before the run fails.
const DELIVERY_TIMEOUT: Duration = Duration::from_secs(30);
/// Targets.
const STREAMS_MEMORY_TARGET_MIB: f64 = 150.0;
const EMBEDDED_TARGET: Duration = Duration::from_millis(50);
const KAFKA_TARGET: Duration = Duration::from_millis(250);

/// What to run.
#[derive(Debug, Clone)]
pub struct ChatSettings {
    pub gigmesh_bin: PathBuf,
    pub postgres_url: String,
    pub database_prefix: String,
    /// Idle streams opened on one chat process.
    pub streams: usize,
    /// Users signed up in distributed mode (the streams are spread over them).
    pub users: usize,
    /// Seconds the idle streams' CPU is read over.
    pub idle_seconds: u64,
    /// Messages per second of the steady load.
    pub rate: f64,
    /// Messages timed per mode.
    pub messages: usize,
    /// Buyers sending them, in turn.
    pub senders: usize,
    pub embedded: bool,
    pub kafka: bool,
}

/// The Markdown report.
pub async fn run(settings: &ChatSettings) -> anyhow::Result<String> {
    let machine = Machine::read();
    let mut report = String::new();
    writeln!(report, "## Chat streams\n")?;
    writeln!(
        report,
        "{}, {} ({} logical CPUs, load average before: {}). {} idle streams; {} \
         messages at {}/s from {} buyers to one seller's stream per mode.\n",
        gigmesh_version(&settings.gigmesh_bin).await,
        machine.cpu_model,
        machine.logical_cpus,
        machine.load_average,
        settings.streams,
        settings.messages,
        settings.rate,
        settings.senders,
    )?;
    let mut latencies = Vec::new();
    if settings.kafka {
        let (idle, latency) = distributed(settings).await?;
        report.push_str(&idle);
        latencies.push(latency);
    }
    if settings.embedded {
        latencies.push(embedded(settings).await?);
    }
    writeln!(
        report,
        "\n| message sent → recipient's stream | messages | p50 | p90 | p99 | max | p99 target |"
    )?;
    writeln!(report, "|---|---|---|---|---|---|---|")?;
    for (mode, summary, target) in latencies {
        writeln!(
            report,
            "| {mode} | {} | {:.1} ms | {:.1} ms | {:.1} ms | {:.1} ms | < {} ms: {} |",
            summary.count,
            millis(summary.p50),
            millis(summary.p90),
            millis(summary.p99),
            millis(summary.max),
            target.as_millis(),
            if summary.p99 < target {
                "met"
            } else {
                "missed"
            }
        )?;
    }
    Ok(report)
}

/// The idle streams' cost and the latency through Kafka.
async fn distributed(
    settings: &ChatSettings,
) -> anyhow::Result<(String, (&'static str, Summary, Duration))> {
    eprintln!("distributed mode: starting auth, two chat replicas and the gateway");
    let mesh = DistributedMesh::start_services(
        &settings.gigmesh_bin,
        &settings.postgres_url,
        &settings.database_prefix,
        &["auth", "chat", "chat-b"],
    )
    .await?;
    let outcome = async {
        let gateway = mesh.gateway.address;
        let auth_db = mesh.databases.url("auth").context("auth's database")?;
        let run = format!("{}", std::process::id());
        let users = settings.users.max(settings.senders + 1);
        eprintln!("signing up {users} users");
        let tokens = market::sign_up_buyers(gateway, auth_db, &run, users).await?;
        let seller_token = tokens[0].clone();
        let mut gig = market::benchmark_gig();
        gig.seller_id = subject_of(&seller_token)?;
        let gig_id = market::publish_gig(&mesh.brokers, gig).await?;

        let replica_a = &mesh.services[1];
        let replica_b = &mesh.services[2];
        let idle = idle_streams(settings, replica_a.address, replica_a.pid, &tokens[1..]).await?;

        eprintln!("latency through Kafka: the seller's stream on the second replica");
        let summary = latency(
            settings,
            gateway,
            replica_b.address,
            &gig_id,
            &seller_token,
            &tokens[1..=settings.senders],
        )
        .await?;
        Ok::<_, anyhow::Error>((
            idle,
            (
                "through Kafka (sent to replica A, stream on replica B)",
                summary,
                KAFKA_TARGET,
            ),
        ))
    }
    .await;
    let tails = if outcome.is_err() {
        mesh.log_tails()
    } else {
        String::new()
    };
    mesh.stop().await?;
    outcome.with_context(|| format!("the processes' logs:\n{tails}"))
}

/// Opens the idle streams on the chat process at `address` (pid `pid`), then reports its
/// memory and CPU.
async fn idle_streams(
    settings: &ChatSettings,
    address: SocketAddr,
    pid: u32,
    tokens: &[String],
) -> anyhow::Result<String> {
    let rss_before = read_rss_kib(pid)?;
    let mut channels = Vec::with_capacity(STREAM_CONNECTIONS);
    for _ in 0..STREAM_CONNECTIONS {
        channels.push(connect(address).await?);
    }
    eprintln!("opening {} streams", settings.streams);
    let started = Instant::now();
    let mut holders = JoinSet::new();
    let mut opening = JoinSet::new();
    let mut opened = 0;
    let mut next = 0;
    while opened < settings.streams {
        while next < settings.streams && opening.len() < OPENING_CONCURRENCY {
            let channel = channels[next % channels.len()].clone();
            let token = tokens[next % tokens.len()].clone();
            opening.spawn(async move { open_stream(channel, &token).await });
            next += 1;
        }
        let stream = opening
            .join_next()
            .await
            .context("no stream is opening")?
            .context("a stream task panicked")??;
        // Each stream is read (its heartbeats) by a task of its own, as a client does.
        holders.spawn(async move {
            let mut stream = stream;
            while let Ok(Some(_)) = stream.message().await {}
        });
        opened += 1;
    }
    let open_time = started.elapsed();
    tokio::time::sleep(SETTLE).await;
    let rss_open = read_rss_kib(pid)?;
    let idle_window = Duration::from_secs(settings.idle_seconds.max(3));
    eprintln!("streams open; reading CPU for {idle_window:?}");
    let cpu = crate::cpu::during(vec![("gigmesh serve chat", pid)], &[], idle_window)
        .await
        .context("the CPU reading task")?;
    let rss_after = read_rss_kib(pid)?;
    holders.abort_all();

    let added_kib = rss_open.saturating_sub(rss_before);
    let per_stream_kib = added_kib as f64 / settings.streams as f64;
    let mut report = String::new();
    writeln!(
        report,
        "### {} idle streams on one chat process (distributed mode, PostgreSQL)\n",
        settings.streams
    )?;
    writeln!(report, "| | value |\n|---|---|")?;
    writeln!(
        report,
        "| resident set before the streams | {:.1} MiB |",
        mib(rss_before)
    )?;
    writeln!(
        report,
        "| resident set with the streams open | {:.1} MiB (target < {STREAMS_MEMORY_TARGET_MIB} MiB: {}) |",
        mib(rss_open),
        if mib(rss_open) < STREAMS_MEMORY_TARGET_MIB {
            "met"
        } else {
            "missed"
        }
    )?;
    writeln!(
        report,
        "| added by the streams | {:.1} MiB, {per_stream_kib:.1} KiB per stream |",
        mib(added_kib)
    )?;
    writeln!(
        report,
        "| resident set after {} s idle | {:.1} MiB |",
        idle_window.as_secs(),
        mib(rss_after)
    )?;
    writeln!(
        report,
        "| CPU while idle | {:.3} cores |",
        cpu.groups
            .iter()
            .find(|(name, _)| name == "gigmesh serve chat")
            .map_or(0.0, |(_, cores)| *cores)
    )?;
    writeln!(
        report,
        "| time to open them ({} at once) | {:.1} s |",
        OPENING_CONCURRENCY,
        open_time.as_secs_f64()
    )?;
    Ok(report)
}

/// The latency in `gigmesh dev`.
async fn embedded(settings: &ChatSettings) -> anyhow::Result<(&'static str, Summary, Duration)> {
    eprintln!("gigmesh dev: starting");
    let mut dev = DevProcess::start(&settings.gigmesh_bin).await?;
    let gateway = dev.process.address;
    let outcome = async {
        let gig_id = published_gig(gateway).await?;
        let channel = connect(gateway).await?;
        let mut auth = gigmesh_proto::auth::auth_service_client::AuthServiceClient::new(channel);
        let seller = soak::log_in(&mut auth, soak::SELLER_LOGIN, soak::SELLER_PASSWORD)
            .await?
            .access_token;
        let auth_db = format!("sqlite://{}", dev.data().join("auth.db").display());
        let run = format!("{}", std::process::id());
        let buyers = market::sign_up_buyers(gateway, &auth_db, &run, settings.senders).await?;
        latency(settings, gateway, gateway, &gig_id, &seller, &buyers).await
    }
    .await;
    let tail = if outcome.is_err() {
        dev.process.log_tail()
    } else {
        String::new()
    };
    dev.process.stop().await?;
    let summary = outcome.with_context(|| format!("gigmesh dev's log:\n{tail}"))?;
    Ok((
        "embedded (`gigmesh dev`: SQLite, embedded bus, one process)",
        summary,
        EMBEDDED_TARGET,
    ))
}

/// A published gig of the demo buyer made a seller (the profile may take a moment).
async fn published_gig(gateway: SocketAddr) -> anyhow::Result<String> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        match soak::prepare(gateway).await {
            Ok(gig_ids) => return gig_ids.first().cloned().context("no gig was published"),
            Err(error) if Instant::now() < deadline => {
                eprintln!("waiting for the demo seller: {error:#}");
                tokio::time::sleep(Duration::from_millis(300)).await;
            }
            Err(error) => return Err(error),
        }
    }
}

/// Buyers of `buyer_tokens` each open an inquiry about `gig_id` through `gateway` and send
/// messages in turn at the settings' rate; the seller's stream, held at `stream_at`, reads
/// them. Returns the timed messages' latencies.
async fn latency(
    settings: &ChatSettings,
    gateway: SocketAddr,
    stream_at: SocketAddr,
    gig_id: &str,
    seller_token: &str,
    buyer_tokens: &[String],
) -> anyhow::Result<Summary> {
    let channel = connect(gateway).await?;
    let mut conversations = Vec::with_capacity(buyer_tokens.len());
    for token in buyer_tokens {
        conversations.push(start_conversation(&channel, token, gig_id).await?);
    }
    let sent_at: Arc<Mutex<HashMap<String, Instant>>> = Arc::default();
    let total = WARMUP_MESSAGES + settings.messages;
    let mut stream = open_stream(connect(stream_at).await?, seller_token).await?;
    let receiver = {
        let sent_at = sent_at.clone();
        tokio::spawn(async move {
            let mut latencies = Latencies::with_capacity(total);
            let mut received = 0;
            while received < total {
                let event = tokio::time::timeout(DELIVERY_TIMEOUT, stream.message())
                    .await
                    .context("a message did not reach the stream in time")?
                    .context("the stream failed")?
                    .context("the stream ended")?;
                let Some(Kind::MessageSent(message)) = event.kind else {
                    continue;
                };
                let arrived = Instant::now();
                let Some(sent) = sent_at.lock().remove(&message.text) else {
                    continue;
                };
                let index: usize = message.text.parse().unwrap_or(0);
                if index >= WARMUP_MESSAGES {
                    latencies.record(arrived.duration_since(sent));
                }
                received += 1;
            }
            Ok::<_, anyhow::Error>(latencies)
        })
    };

    let interval = Duration::from_secs_f64(1.0 / settings.rate.max(0.1));
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut sending = JoinSet::new();
    for index in 0..total {
        ticker.tick().await;
        let sender = index % buyer_tokens.len();
        let mut client = ChatServiceClient::new(channel.clone());
        let request = signed(
            chat::SendMessageRequest {
                conversation_id: conversations[sender].clone(),
                text: index.to_string(),
                request_id: format!("bench-{index}"),
                ..Default::default()
            },
            &buyer_tokens[sender],
        )?;
        let sent_at = sent_at.clone();
        sending.spawn(async move {
            sent_at.lock().insert(index.to_string(), Instant::now());
            client.send_message(request).await.context("SendMessage")?;
            Ok::<_, anyhow::Error>(())
        });
        while let Some(done) = sending.try_join_next() {
            done.context("a send task panicked")??;
        }
    }
    while let Some(done) = sending.join_next().await {
        done.context("a send task panicked")??;
    }
    let latencies = receiver.await.context("the stream task panicked")??;
    Ok(latencies.summary())
}

async fn start_conversation(
    channel: &Channel,
    token: &str,
    gig_id: &str,
) -> anyhow::Result<String> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let request = signed(
            chat::StartConversationRequest {
                gig_id: gig_id.to_owned(),
                ..Default::default()
            },
            token,
        )?;
        match ChatServiceClient::new(channel.clone())
            .start_conversation(request)
            .await
        {
            Ok(conversation) => return Ok(conversation.into_inner().id),
            // Chat learns the gig from the bus a moment after it is published.
            Err(status) if status.code() == tonic::Code::NotFound && Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(status) => return Err(status).context("StartConversation"),
        }
    }
}

/// Opens `token`'s stream on `channel` and waits for its first heartbeat.
async fn open_stream(channel: Channel, token: &str) -> anyhow::Result<Streaming<ChatEvent>> {
    let request = signed(chat::StreamEventsRequest::default(), token)?;
    let mut stream = ChatServiceClient::new(channel)
        .stream_events(request)
        .await
        .context("StreamEvents")?
        .into_inner();
    let first = tokio::time::timeout(Duration::from_secs(30), stream.message())
        .await
        .context("no first heartbeat in time")?
        .context("the stream failed")?
        .context("the stream ended at once")?;
    anyhow::ensure!(
        matches!(first.kind, Some(Kind::Heartbeat(_))),
        "a stream starts with a heartbeat"
    );
    Ok(stream)
}

/// The user id (`sub`) of an access token.
fn subject_of(token: &str) -> anyhow::Result<String> {
    let payload = token.split('.').nth(1).context("not a JWT")?;
    let json = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .context("the token's payload is not base64url")?;
    let claims: serde_json::Value = serde_json::from_slice(&json)?;
    claims["sub"]
        .as_str()
        .map(str::to_owned)
        .context("the token has no subject")
}

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

fn millis(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1_000.0
}
