//! The time from a verified payment to its order starting (REQUIREMENTS_PENDING or
//! IN_PROGRESS), in `gigmesh dev` (one process, SQLite, the embedded bus) and in
//! distributed mode ([`DistributedMesh`]: separate processes on PostgreSQL and Kafka).
//!
//! Each order is placed through the gateway, then GetOrderPayment is polled until payments
//! has learnt the order (from orders' `OrderChanged`), then paid with the sandbox's test
//! card through ConfirmSandboxPayment, then GetOrder is polled every millisecond until the
//! order has started. The sandbox queues a webhook; its delivery loop (in the payment
//! service's process) signs and hands it to payments, which verifies it and, in one
//! transaction, marks the payment paid (`payments.paid_time`, the service's clock) and puts
//! `PaymentSucceeded` in its outbox; the relay publishes it, and orders applies it, setting
//! the order's `paid_time` (orders' clock, the same machine's wall clock).
//!
//! Three spans are reported: payments' `paid_time` to orders' `paid_time` (the verified
//! payment's way to the order: outbox, relay, bus, consumer; milliseconds, as both services
//! store them), ConfirmSandboxPayment's answer to `payments.paid_time` (the sandbox's
//! webhook delivery), and ConfirmSandboxPayment's answer to the first GetOrder that shows
//! the order started (what a client sees; the client's monotonic clock, nothing
//! subtracted).

use std::collections::HashMap;
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::Context as _;
use gigmesh_proto::EventMessage;
use gigmesh_proto::orders::order_service_client::OrderServiceClient;
use gigmesh_proto::orders::{self, OrderState};
use gigmesh_proto::payments::payment_service_client::PaymentServiceClient;
use gigmesh_proto::payments::{self, PaymentStatus};
use sqlx::Row as _;
use tokio::task::JoinSet;

use crate::distributed::{DistributedMesh, gigmesh_version};
use crate::market::{self, signed, timestamp_millis};
use crate::process::connect;
use crate::report::Machine;
use crate::soak::DevProcess;
use crate::stats::{Latencies, Summary};

/// The sandbox's card that pays.
const TEST_CARD: &str = "4242424242424242";
/// Pause between two GetOrder polls.
const ORDER_POLL_INTERVAL: Duration = Duration::from_millis(1);
/// Pause between two GetOrderPayment polls.
const PAYMENT_POLL_INTERVAL: Duration = Duration::from_millis(2);
/// How long a paid order may take to start.
const START_TIMEOUT: Duration = Duration::from_secs(30);
/// How long `gigmesh dev` may take to create the demo buyer's profile.
const PROFILE_TIMEOUT: Duration = Duration::from_secs(30);
/// Orders paid untimed first in each mode (connections, caches, prepared statements).
const WARMUP_ORDERS: usize = 10;
/// p99 targets of the verified payment's way to the order.
const EMBEDDED_TARGET: Duration = Duration::from_millis(50);
const KAFKA_TARGET: Duration = Duration::from_millis(250);

/// What to run.
#[derive(Debug, Clone)]
pub struct PaymentLatencySettings {
    pub gigmesh_bin: PathBuf,
    pub postgres_url: String,
    pub database_prefix: String,
    pub orders: usize,
    pub in_flight: usize,
    pub embedded: bool,
    pub kafka: bool,
}

/// One paid order, as the client saw it.
struct Sample {
    order_id: String,
    /// PlaceOrder answered → GetOrderPayment answered (payments learnt the order).
    learnt: Duration,
    /// The wall clock (ms) when ConfirmSandboxPayment answered.
    confirmed_at_millis: i64,
    /// ConfirmSandboxPayment answered → the first GetOrder showing the order started.
    confirm_to_seen: Duration,
    /// GetOrder calls until then.
    polls: u32,
    /// The order's `paid_time` (ms), set by orders when it applied the payment.
    order_paid_millis: i64,
    /// The state it started in.
    state: OrderState,
}

/// One mode's results.
struct ModeResult {
    name: &'static str,
    target: Duration,
    load_before: String,
    load_after: String,
    learnt: Summary,
    verified_to_order: Summary,
    confirm_to_verified: Summary,
    confirm_to_seen: Summary,
    verified_to_published: Summary,
    published_to_order: Summary,
    polls_mean: f64,
    started_in: Vec<(String, usize)>,
    negative_spans: usize,
}

/// Runs the benchmark and returns the Markdown report.
pub async fn run(settings: &PaymentLatencySettings) -> anyhow::Result<String> {
    let started = Instant::now();
    let machine = Machine::read();
    let version = gigmesh_version(&settings.gigmesh_bin).await;
    let mut modes = Vec::new();
    if settings.embedded {
        modes.push(embedded(settings).await?);
    }
    if settings.kafka {
        modes.push(distributed(settings).await?);
    }
    Ok(render(
        settings,
        &machine,
        &version,
        &modes,
        started.elapsed(),
    ))
}

async fn embedded(settings: &PaymentLatencySettings) -> anyhow::Result<ModeResult> {
    eprintln!("gigmesh dev: starting");
    let mut dev = DevProcess::start(&settings.gigmesh_bin).await?;
    let gateway = dev.process.address;
    let outcome = async {
        let gig_id = published_gig(gateway).await?;
        let payments_db = format!("sqlite://{}", dev.data().join("payments.db").display());
        let auth_db = format!("sqlite://{}", dev.data().join("auth.db").display());
        measure_mode(
            "embedded (`gigmesh dev`: SQLite, embedded bus, one process)",
            EMBEDDED_TARGET,
            settings,
            gateway,
            &gig_id,
            &auth_db,
            &payments_db,
        )
        .await
    }
    .await;
    let tail = if outcome.is_err() {
        dev.process.log_tail()
    } else {
        String::new()
    };
    dev.process.stop().await?;
    outcome.with_context(|| format!("gigmesh dev's log:\n{tail}"))
}

/// A gig of `gigmesh dev`'s demo buyer made a seller, published through the gateway. The
/// buyer's profile is created from auth's event just after the start, so BecomeSeller may
/// answer NOT_FOUND for a moment: try again until it has.
async fn published_gig(gateway: SocketAddr) -> anyhow::Result<String> {
    let deadline = Instant::now() + PROFILE_TIMEOUT;
    loop {
        match crate::soak::prepare(gateway).await {
            Ok(gig_ids) => return gig_ids.first().cloned().context("no gig was published"),
            Err(error)
                if Instant::now() < deadline
                    && error
                        .downcast_ref::<tonic::Status>()
                        .is_some_and(|status| status.code() == tonic::Code::NotFound) =>
            {
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            Err(error) => return Err(error),
        }
    }
}

async fn distributed(settings: &PaymentLatencySettings) -> anyhow::Result<ModeResult> {
    eprintln!("distributed: starting tansu, auth, orders, payments and the gateway");
    let mesh = DistributedMesh::start(
        &settings.gigmesh_bin,
        &settings.postgres_url,
        &settings.database_prefix,
    )
    .await?;
    let outcome = async {
        let gig_id = market::publish_gig(&mesh.brokers, market::benchmark_gig()).await?;
        let payments_db = mesh
            .databases
            .url("payments")
            .context("no payments database")?
            .to_owned();
        let auth_db = mesh
            .databases
            .url("auth")
            .context("no auth database")?
            .to_owned();
        measure_mode(
            "distributed (separate processes, PostgreSQL, Kafka on tansu)",
            KAFKA_TARGET,
            settings,
            mesh.gateway.address,
            &gig_id,
            &auth_db,
            &payments_db,
        )
        .await
    }
    .await;
    let tails = if outcome.is_err() {
        mesh.log_tails()
    } else {
        String::new()
    };
    let stopped = mesh.stop().await;
    let result = outcome.with_context(|| format!("the mesh's logs:\n{tails}"))?;
    stopped?;
    Ok(result)
}

async fn measure_mode(
    name: &'static str,
    target: Duration,
    settings: &PaymentLatencySettings,
    gateway: SocketAddr,
    gig_id: &str,
    auth_db_url: &str,
    payments_db_url: &str,
) -> anyhow::Result<ModeResult> {
    let in_flight = settings.in_flight.max(1);
    let run = format!("{:08x}", rand::random::<u32>());
    let buyers = market::sign_up_buyers(gateway, auth_db_url, &run, in_flight).await?;
    market::wait_until_orderable(gateway, gig_id, &buyers[0]).await?;
    eprintln!("{name}: {WARMUP_ORDERS} warm-up orders");
    pay_orders(gateway, gig_id, &buyers, WARMUP_ORDERS).await?;
    let load_before = Machine::read().load_average;
    eprintln!("{name}: {} orders, {in_flight} in flight", settings.orders);
    let samples = pay_orders(gateway, gig_id, &buyers, settings.orders.max(1)).await?;
    let load_after = Machine::read().load_average;
    let paid = payments_paid_times(payments_db_url).await?;
    summarise(name, target, &samples, &paid, load_before, load_after)
}

/// Places and pays `count` orders, `buyers.len()` at a time (each buyer's orders one after
/// another on its own connection).
async fn pay_orders(
    gateway: SocketAddr,
    gig_id: &str,
    buyers: &[String],
    count: usize,
) -> anyhow::Result<Vec<Sample>> {
    let gig_id: Arc<str> = gig_id.into();
    let workers = buyers.len().max(1);
    let mut tasks = JoinSet::new();
    for (worker, token) in buyers.iter().enumerate() {
        let share = count / workers + usize::from(worker < count % workers);
        let channel = connect(gateway).await?;
        let gig_id = gig_id.clone();
        let token = token.clone();
        tasks.spawn(async move {
            let mut orders_client = OrderServiceClient::new(channel.clone());
            let mut payments_client = PaymentServiceClient::new(channel);
            let mut samples = Vec::with_capacity(share);
            for _ in 0..share {
                samples.push(
                    pay_one(&mut orders_client, &mut payments_client, &gig_id, &token).await?,
                );
            }
            anyhow::Ok(samples)
        });
    }
    let mut all = Vec::with_capacity(count);
    while let Some(joined) = tasks.join_next().await {
        all.extend(joined.context("a worker panicked")??);
    }
    Ok(all)
}

async fn pay_one(
    orders_client: &mut OrderServiceClient<tonic::transport::Channel>,
    payments_client: &mut PaymentServiceClient<tonic::transport::Channel>,
    gig_id: &str,
    token: &str,
) -> anyhow::Result<Sample> {
    let order = orders_client
        .place_order(signed(market::place_request(gig_id), token)?)
        .await
        .context("PlaceOrder")?
        .into_inner();
    let placed = Instant::now();
    let payment =
        market::wait_for_payment(payments_client, token, &order.id, PAYMENT_POLL_INTERVAL).await?;
    let learnt = placed.elapsed();
    let confirmed = payments_client
        .confirm_sandbox_payment(payments::ConfirmSandboxPaymentRequest {
            payment_id: payment.payment_id.clone(),
            client_secret: payment.client_secret.clone(),
            card_number: TEST_CARD.to_owned(),
            authenticate: false,
        })
        .await
        .context("ConfirmSandboxPayment")?
        .into_inner();
    let confirmed_instant = Instant::now();
    let confirmed_at_millis = wall_clock_millis();
    anyhow::ensure!(
        confirmed.status() == PaymentStatus::Succeeded,
        "the test card did not pay: {:?}",
        confirmed.status()
    );
    let mut polls = 0;
    loop {
        let current = orders_client
            .get_order(signed(
                orders::GetOrderRequest {
                    order_id: order.id.clone(),
                },
                token,
            )?)
            .await
            .context("GetOrder")?
            .into_inner();
        polls += 1;
        let state = current.state();
        if matches!(
            state,
            OrderState::InProgress | OrderState::RequirementsPending
        ) {
            let confirm_to_seen = confirmed_instant.elapsed();
            let order_paid_millis = current
                .paid_time
                .as_ref()
                .map(timestamp_millis)
                .context("a started order without paid_time")?;
            return Ok(Sample {
                order_id: order.id,
                learnt,
                confirmed_at_millis,
                confirm_to_seen,
                polls,
                order_paid_millis,
                state,
            });
        }
        anyhow::ensure!(
            confirmed_instant.elapsed() < START_TIMEOUT,
            "order {} stayed {state:?} for {START_TIMEOUT:?} after its payment",
            order.id
        );
        tokio::time::sleep(ORDER_POLL_INTERVAL).await;
    }
}

fn wall_clock_millis() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| {
            i64::try_from(since.as_millis()).unwrap_or(i64::MAX)
        })
}

/// What payments' database says about one paid order (milliseconds, payments' clock).
#[derive(Debug, Clone, Copy)]
struct PaymentTimes {
    /// `payments.paid_time`: the verified webhook applied.
    paid: i64,
    /// `outbox.send_time` of its `PaymentSucceeded`: the relay had it published.
    published: Option<i64>,
}

/// [`PaymentTimes`] of every paid order, by order id, read from payments' database.
async fn payments_paid_times(url: &str) -> anyhow::Result<HashMap<String, PaymentTimes>> {
    let db = market::open_database(url).await?;
    let rows = sqlx::query("SELECT order_id, paid_time FROM payments WHERE paid_time IS NOT NULL")
        .fetch_all(db.pool())
        .await
        .context("read payments.paid_time")?;
    let mut paid = HashMap::with_capacity(rows.len());
    for row in rows {
        let order_id: String = row.try_get("order_id")?;
        let paid_time: i64 = row.try_get("paid_time")?;
        paid.insert(
            order_id,
            PaymentTimes {
                paid: paid_time,
                published: None,
            },
        );
    }
    let rows = sqlx::query(
        "SELECT record_key, send_time FROM outbox WHERE event_type = $1 AND send_time IS NOT NULL",
    )
    .bind(<payments::PaymentSucceeded as EventMessage>::EVENT_TYPE)
    .fetch_all(db.pool())
    .await
    .context("read payments' outbox")?;
    for row in rows {
        let order_id: String = row.try_get("record_key")?;
        let send_time: i64 = row.try_get("send_time")?;
        if let Some(times) = paid.get_mut(&order_id) {
            times.published = Some(send_time);
        }
    }
    db.close().await;
    Ok(paid)
}

fn summarise(
    name: &'static str,
    target: Duration,
    samples: &[Sample],
    paid: &HashMap<String, PaymentTimes>,
    load_before: String,
    load_after: String,
) -> anyhow::Result<ModeResult> {
    let mut learnt = Latencies::with_capacity(samples.len());
    let mut verified_to_order = Latencies::with_capacity(samples.len());
    let mut confirm_to_verified = Latencies::with_capacity(samples.len());
    let mut confirm_to_seen = Latencies::with_capacity(samples.len());
    let mut verified_to_published = Latencies::with_capacity(samples.len());
    let mut published_to_order = Latencies::with_capacity(samples.len());
    let mut negative_spans = 0;
    let mut started_in: Vec<(String, usize)> = Vec::new();
    let mut polls = 0_u64;
    let mut span = |millis: i64, into: &mut Latencies| {
        if millis < 0 {
            negative_spans += 1;
        }
        into.record(Duration::from_millis(u64::try_from(millis).unwrap_or(0)));
    };
    for sample in samples {
        let times = *paid
            .get(&sample.order_id)
            .with_context(|| format!("payments has no paid_time for order {}", sample.order_id))?;
        let payments_paid = times.paid;
        let published = times.published.with_context(|| {
            format!(
                "payments' outbox has no sent PaymentSucceeded for order {}",
                sample.order_id
            )
        })?;
        span(published - payments_paid, &mut verified_to_published);
        span(
            sample.order_paid_millis - published,
            &mut published_to_order,
        );
        learnt.record(sample.learnt);
        span(
            sample.order_paid_millis - payments_paid,
            &mut verified_to_order,
        );
        span(
            payments_paid - sample.confirmed_at_millis,
            &mut confirm_to_verified,
        );
        confirm_to_seen.record(sample.confirm_to_seen);
        polls += u64::from(sample.polls);
        let state = format!("{:?}", sample.state);
        match started_in.iter_mut().find(|(known, _)| *known == state) {
            Some((_, count)) => *count += 1,
            None => started_in.push((state, 1)),
        }
    }
    #[allow(clippy::cast_precision_loss)]
    let polls_mean = polls as f64 / samples.len().max(1) as f64;
    Ok(ModeResult {
        name,
        target,
        load_before,
        load_after,
        learnt: learnt.summary(),
        verified_to_order: verified_to_order.summary(),
        confirm_to_verified: confirm_to_verified.summary(),
        confirm_to_seen: confirm_to_seen.summary(),
        verified_to_published: verified_to_published.summary(),
        published_to_order: published_to_order.summary(),
        polls_mean,
        started_in,
        negative_spans,
    })
}

fn millis(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1_000.0
}

fn render(
    settings: &PaymentLatencySettings,
    machine: &Machine,
    version: &str,
    modes: &[ModeResult],
    total: Duration,
) -> String {
    let mut report = String::new();
    let _ = writeln!(
        report,
        "Payment to order start: {} orders per mode ({} untimed first), {} in flight (one \
         buyer each, each buyer's orders one after another), sandbox test card through \
         ConfirmSandboxPayment, GetOrder polled every {} ms ({:.0} s in all).\n",
        settings.orders,
        WARMUP_ORDERS,
        settings.in_flight.max(1),
        ORDER_POLL_INTERVAL.as_millis(),
        total.as_secs_f64()
    );
    let _ = writeln!(
        report,
        "Machine: `{}`, {} logical CPUs, load average {} at the start. {version}.\n",
        machine.cpu_model, machine.logical_cpus, machine.load_average
    );
    let _ = writeln!(
        report,
        "| mode | span | p50 ms | p90 ms | p99 ms | max ms | target |\n|---|---|---:|---:|---:|---:|---|"
    );
    for mode in modes {
        let verdict = if mode.verified_to_order.p99 < mode.target {
            format!("p99 < {} ms: met", mode.target.as_millis())
        } else {
            format!("p99 < {} ms: missed", mode.target.as_millis())
        };
        let rows: [(&str, &Summary, String); 6] = [
            (
                "**verified payment → order started** (payments.paid_time → order.paid_time)",
                &mode.verified_to_order,
                verdict,
            ),
            (
                "… of which: payments' relay published PaymentSucceeded (paid_time → outbox.send_time)",
                &mode.verified_to_published,
                String::new(),
            ),
            (
                "… of which: bus and orders' consumer (outbox.send_time → order.paid_time)",
                &mode.published_to_order,
                String::new(),
            ),
            (
                "ConfirmSandboxPayment answered → webhook verified (payments.paid_time)",
                &mode.confirm_to_verified,
                String::new(),
            ),
            (
                "ConfirmSandboxPayment answered → first GetOrder showing it started",
                &mode.confirm_to_seen,
                String::new(),
            ),
            (
                "PlaceOrder answered → GetOrderPayment answers (payments learnt the order)",
                &mode.learnt,
                String::new(),
            ),
        ];
        for (span, summary, verdict) in rows {
            let _ = writeln!(
                report,
                "| {} | {span} | {:.1} | {:.1} | {:.1} | {:.1} | {verdict} |",
                mode.name,
                millis(summary.p50),
                millis(summary.p90),
                millis(summary.p99),
                millis(summary.max)
            );
        }
    }
    let _ = writeln!(report);
    for mode in modes {
        let states: Vec<String> = mode
            .started_in
            .iter()
            .map(|(state, count)| format!("{count} {state}"))
            .collect();
        let _ = writeln!(
            report,
            "- {}: load average {} before, {} after; {} GetOrder polls per order on average; \
             started in {}; {} spans below zero (clock resolution, counted as 0).",
            mode.name,
            mode.load_before,
            mode.load_after,
            format_args!("{:.1}", mode.polls_mean),
            states.join(", "),
            mode.negative_spans
        );
    }
    report
}
