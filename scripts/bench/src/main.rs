//! Benchmarks of gigmesh, as a release-mode program rather than tests: meaningful numbers
//! need an optimised build, many calls and a quiet machine, none of which a test run has.
//!
//! `gigmesh-bench gateway` starts in one process the auth service as `gigmesh serve auth`
//! runs it (SQLite and the embedded event log in a temporary directory, production
//! settings), a gateway forwarding to it over a tonic channel as `gigmesh gateway` does, and
//! a gateway calling its routes in-process as `gigmesh dev` does. It times the signed-in
//! `GetMyAccount` straight to the service and through each gateway, one call at a time and
//! with many in flight, then `LogIn` with the production argon2id parameters, and prints a
//! Markdown report on stdout (progress goes to stderr).
//!
//! `gigmesh-bench sign-in-burst` starts `gigmesh serve auth` as its own process on a fresh
//! SQLite database, seeds accounts through its RPCs, then fires hundreds of log-ins and
//! sign-ups at once while timing `GetJwks` and `RefreshToken` and sampling auth's resident
//! set; once with the production hashing bound and once with it effectively off.
//!
//! `gigmesh-bench soak` starts `gigmesh dev` as its own process and sends it minutes of
//! mixed traffic through the gateway (sign-ins, refreshes, profile reads and updates, gig
//! searches and reads, saving and unsaving gigs) while sampling its resident set, and
//! reports whether memory stays flat after the warm-up.
//!
//! `gigmesh-bench search` indexes generated gigs with the search service's tantivy adapter
//! and loads the same gigs into PostgreSQL with a full-text (tsvector + GIN) index, then
//! runs the same mix of keyword, filter and facet searches against both, one at a time and
//! with two in flight, and prints a Markdown report the same way.
//!
//! `gigmesh-bench orders` starts auth, orders and payments as `gigmesh serve` processes on
//! fresh PostgreSQL databases with Kafka (tansu) and `gigmesh gateway` in front, and times
//! PlaceOrder from N concurrent clients for a fixed time, then runs `pgbench -N` with the same
//! clients and time on the same server, for each client count.
//!
//! `gigmesh-bench payment-latency` pays orders with the sandbox's test card and times the
//! way from the verified payment to the order starting, in `gigmesh dev` and in distributed
//! mode (PostgreSQL, Kafka).
//!
//! `gigmesh-bench chat` opens thousands of idle `StreamEvents` streams on one chat process
//! (its memory and CPU), then times messages from `SendMessage` to the recipient's stream
//! under a steady load, in `gigmesh dev` and between two chat replicas through Kafka.

mod chat;
mod cpu;
mod distributed;
mod market;
mod measure;
mod mesh;
mod orders;
mod payment_latency;
mod process;
mod report;
mod search;
mod search_corpus;
mod sign_in_burst;
mod soak;
mod stats;

use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use gigmesh_config::TelemetryConfig;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::writer::MakeWriterExt as _;
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;

use crate::measure::{Call, Target};
use crate::mesh::BenchMesh;
use crate::report::{Machine, Results, Settings};

/// Bursts each target's concurrent calls are split into, so targets take turns.
const CONCURRENT_ROUNDS: usize = 10;
/// Untimed sign-ins per target before the measured ones.
const SIGN_IN_WARMUP: usize = 2;

#[derive(Parser)]
#[command(name = "gigmesh-bench", about = "Latency benchmarks of gigmesh")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// What the gateway adds to a signed-in call, and how long a sign-in takes.
    Gateway(GatewayOptions),
    /// The search index against PostgreSQL full-text search on the same gigs and searches.
    Search(SearchOptions),
    /// Auth's memory and its other calls during a burst of concurrent sign-ins.
    SignInBurst(SignInBurstOptions),
    /// `gigmesh dev`'s memory under minutes of mixed traffic.
    Soak(SoakOptions),
    /// PlaceOrder throughput through the gateway on PostgreSQL, against pgbench.
    Orders(OrdersOptions),
    /// The time from a verified payment to its order starting, embedded and over Kafka.
    PaymentLatency(PaymentLatencyOptions),
    /// Idle chat streams' memory and CPU, and message-to-stream latency.
    Chat(ChatOptions),
}

#[derive(Args)]
struct ChatOptions {
    /// Idle streams opened on one chat process.
    #[arg(long, default_value_t = 5_000)]
    streams: usize,
    /// Users the streams are spread over (distributed mode).
    #[arg(long, default_value_t = 250)]
    users: usize,
    /// Seconds the idle streams' CPU is read over.
    #[arg(long, default_value_t = 20)]
    idle_seconds: u64,
    /// Messages per second of the steady load.
    #[arg(long, default_value_t = 50.0)]
    rate: f64,
    /// Messages timed per mode (after 50 untimed).
    #[arg(long, default_value_t = 1_000)]
    messages: usize,
    /// Buyers sending them, in turn.
    #[arg(long, default_value_t = 20)]
    senders: usize,
    /// Only `gigmesh dev` (embedded bus; no idle streams).
    #[arg(long, conflicts_with = "only_kafka")]
    only_embedded: bool,
    /// Only distributed mode (Kafka).
    #[arg(long)]
    only_kafka: bool,
    /// PostgreSQL server for distributed mode; fresh databases are created and dropped.
    #[arg(long, default_value = "postgres://postgres@127.0.0.1:5432/postgres")]
    postgres_url: String,
    /// Name prefix of the databases this run creates.
    #[arg(long, default_value = "gm_bench_chat")]
    database_prefix: String,
    /// The `gigmesh` binary (default: `gigmesh` next to this program).
    #[arg(long)]
    gigmesh_bin: Option<std::path::PathBuf>,
}

#[derive(Args)]
struct OrdersOptions {
    /// Client counts, each run in turn (comma-separated).
    #[arg(long, value_delimiter = ',', default_values_t = [8, 32])]
    clients: Vec<usize>,
    /// Seconds each client count places orders (and pgbench runs).
    #[arg(long, default_value_t = 30)]
    seconds: u64,
    /// Seconds of untimed orders before each measured run.
    #[arg(long, default_value_t = 5)]
    warmup_seconds: u64,
    /// Buyers signed up; calls take them in turn.
    #[arg(long, default_value_t = 200)]
    buyers: usize,
    /// pgbench's scale factor (100,000 accounts each).
    #[arg(long, default_value_t = 10)]
    pgbench_scale: u32,
    /// PostgreSQL server; fresh databases are created there and dropped.
    #[arg(long, default_value = "postgres://postgres@127.0.0.1:5432/postgres")]
    postgres_url: String,
    /// Name prefix of the databases this run creates.
    #[arg(long, default_value = "gm_bench_orders")]
    database_prefix: String,
    /// The `gigmesh` binary (default: `gigmesh` next to this program).
    #[arg(long)]
    gigmesh_bin: Option<std::path::PathBuf>,
}

#[derive(Args)]
struct PaymentLatencyOptions {
    /// Orders paid and timed per mode.
    #[arg(long, default_value_t = 200)]
    orders: usize,
    /// Orders in flight at once (one buyer each).
    #[arg(long, default_value_t = 4)]
    in_flight: usize,
    /// Only `gigmesh dev` (embedded bus).
    #[arg(long, conflicts_with = "only_kafka")]
    only_embedded: bool,
    /// Only distributed mode (Kafka).
    #[arg(long)]
    only_kafka: bool,
    /// PostgreSQL server for distributed mode; fresh databases are created and dropped.
    #[arg(long, default_value = "postgres://postgres@127.0.0.1:5432/postgres")]
    postgres_url: String,
    /// Name prefix of the databases this run creates.
    #[arg(long, default_value = "gm_bench_payments")]
    database_prefix: String,
    /// The `gigmesh` binary (default: `gigmesh` next to this program).
    #[arg(long)]
    gigmesh_bin: Option<std::path::PathBuf>,
}

#[derive(Args)]
struct SoakOptions {
    /// Seconds of traffic: the warm-up, then ten minutes.
    #[arg(long, default_value_t = 780)]
    seconds: u64,
    /// Seconds of traffic before the RSS counts as warmed up (the SQLite page caches take
    /// about three minutes to fill).
    #[arg(long, default_value_t = 180)]
    warmup_seconds: u64,
    /// Seconds between RSS samples.
    #[arg(long, default_value_t = 5)]
    sample_seconds: u64,
    /// Clients sending calls back to back, each on its own connection and session.
    #[arg(long, default_value_t = 4)]
    workers: usize,
    /// The `gigmesh` binary (default: `gigmesh` next to this program).
    #[arg(long)]
    gigmesh_bin: Option<std::path::PathBuf>,
}

#[derive(Args)]
struct SignInBurstOptions {
    /// Log-ins and sign-ups fired at once.
    #[arg(long, default_value_t = 500)]
    sign_ins: usize,
    /// Accounts seeded first; right and wrong passwords are spread over them. Every log-in
    /// attempt counts against its account until its password is proven, and the production
    /// throttle delays an account's fourth attempt from one network, so keep at most 3
    /// log-ins per account in the burst: at least sign-ins × 13 / 60 accounts (65% of the
    /// calls are log-ins to them).
    #[arg(long, default_value_t = 110)]
    accounts: usize,
    /// HTTP/2 connections the burst is spread over, as if from that many clients.
    #[arg(long, default_value_t = 50)]
    connections: usize,
    /// Seconds GetJwks and RefreshToken are timed on an idle auth before the burst.
    #[arg(long, default_value_t = 3)]
    idle_seconds: u64,
    /// Only the production hashing bound, without the run with the bound off.
    #[arg(long)]
    skip_unbounded: bool,
    /// The `gigmesh` binary (default: `gigmesh` next to this program, i.e. the one
    /// `cargo build --release --bin gigmesh` makes).
    #[arg(long)]
    gigmesh_bin: Option<std::path::PathBuf>,
}

#[derive(Args)]
struct SearchOptions {
    /// Generated gigs to index.
    #[arg(long, default_value_t = 100_000)]
    documents: usize,
    /// Searches in the mix; each engine runs all of them one at a time, then again with
    /// `--workers` in flight.
    #[arg(long, default_value_t = 2_000)]
    queries: usize,
    /// Untimed searches per engine first (caches, prepared statements).
    #[arg(long, default_value_t = 200)]
    warmup: usize,
    /// Searches in flight at once in the throughput run (one per core on 2 cores).
    #[arg(long, default_value_t = 2)]
    workers: usize,
    /// PostgreSQL server to compare with; a fresh database is created there and dropped.
    #[arg(long, default_value = "postgres://postgres@127.0.0.1:5432/postgres")]
    postgres_url: String,
    /// Leave PostgreSQL's JIT compilation on (by default the benchmark database turns it
    /// off, as is usual for short queries).
    #[arg(long)]
    postgres_jit: bool,
}

#[derive(Args)]
struct GatewayOptions {
    /// Untimed GetMyAccount calls per target first (connections, caches, allocator).
    #[arg(long, default_value_t = 2_000)]
    warmup: usize,
    /// Measured GetMyAccount calls per target, one call in flight at a time.
    #[arg(long, default_value_t = 20_000)]
    calls: usize,
    /// GetMyAccount calls in flight at once in the concurrent run.
    #[arg(long, default_value_t = 32)]
    concurrency: usize,
    /// Measured GetMyAccount calls per target in the concurrent run.
    #[arg(long, default_value_t = 20_000)]
    concurrent_calls: usize,
    /// Measured sign-ins per target.
    #[arg(long, default_value_t = 50)]
    logins: usize,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("gigmesh-bench: cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    let outcome = runtime.block_on(async {
        install_telemetry()?;
        match cli.command {
            Command::Gateway(options) => gateway(options).await,
            Command::Search(options) => search_benchmark(options).await,
            Command::SignInBurst(options) => sign_in_burst(options).await,
            Command::Soak(options) => soak(options).await,
            Command::Orders(options) => orders_benchmark(options).await,
            Command::PaymentLatency(options) => payment_latency(options).await,
            Command::Chat(options) => chat_benchmark(options).await,
        }
    });
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("gigmesh-bench: {error:#}");
            ExitCode::FAILURE
        }
    }
}

/// Telemetry as production runs it (info-level spans and events, W3C propagation, the
/// Prometheus recorder), so its cost is in the numbers; log lines below warnings are
/// formatted and then dropped, so they do not bury the report.
fn install_telemetry() -> anyhow::Result<()> {
    let production = TelemetryConfig {
        metrics_listen: String::new(),
        ..TelemetryConfig::default()
    };
    tracing_subscriber::registry()
        .with(EnvFilter::try_new(&production.log_filter)?)
        .with(
            tracing_subscriber::fmt::layer().compact().with_writer(
                std::io::stderr
                    .with_max_level(tracing::Level::WARN)
                    .or_else(std::io::sink),
            ),
        )
        .try_init()?;
    // Installs the propagator and the metrics recorder; the subscriber above stays.
    let _telemetry = gigmesh_telemetry::init(&production, "gigmesh-bench")?;
    Ok(())
}

async fn gateway(options: GatewayOptions) -> anyhow::Result<()> {
    let machine_before = Machine::read();
    let mesh = BenchMesh::start().await?;
    let mut targets = vec![
        Target::connect("direct to the service", mesh.service).await?,
        Target::connect(
            "gateway → channel → service (distributed)",
            mesh.gateway_over_channel,
        )
        .await?,
        Target::connect("gateway → in-process routes (dev)", mesh.gateway_in_process).await?,
    ];
    let access_token = targets[0].sign_in().await?;
    let get_my_account = Call::GetMyAccount {
        authorization: measure::bearer(&access_token)?,
    };

    eprintln!(
        "GetMyAccount, one at a time: {} warm-up + {} calls per target",
        options.warmup, options.calls
    );
    let one_at_a_time =
        measure::one_at_a_time(&mut targets, &get_my_account, options.warmup, options.calls)
            .await?;
    eprintln!(
        "GetMyAccount, {} in flight: {} calls per target",
        options.concurrency, options.concurrent_calls
    );
    let many_at_once = measure::many_at_once(
        &targets,
        &get_my_account,
        options.concurrency,
        options.concurrent_calls,
        CONCURRENT_ROUNDS,
    )
    .await?;
    eprintln!("LogIn: {} sign-ins per target", options.logins);
    let sign_ins =
        measure::one_at_a_time(&mut targets, &Call::LogIn, SIGN_IN_WARMUP, options.logins).await?;
    let first_token_verification =
        measure::first_token_verification(&mesh.jwks, &access_token, options.calls).await?;
    let repeated_token_verification =
        measure::repeated_token_verification(&mesh.verifier, &access_token, options.calls).await?;
    let argon2 = mesh.auth_config.argon2.clone();
    let password_verification = measure::password_verification(&argon2, options.logins).await?;
    let target_names = targets.iter().map(|target| target.name).collect();
    drop(targets);
    mesh.stop().await;
    let machine_after = Machine::read();

    let settings = Settings {
        warmup: options.warmup,
        calls: options.calls,
        concurrency: options.concurrency,
        concurrent_calls: options.concurrent_calls,
        logins: options.logins,
        argon2,
    };
    let results = Results {
        target_names,
        one_at_a_time,
        many_at_once,
        sign_ins,
        password_verification,
        first_token_verification,
        repeated_token_verification,
    };
    print_report(&report::render(
        &machine_before,
        &machine_after,
        &settings,
        &results,
    ));
    Ok(())
}

async fn search_benchmark(options: SearchOptions) -> anyhow::Result<()> {
    let settings = search::SearchSettings {
        documents: options.documents,
        queries: options.queries,
        warmup: options.warmup,
        workers: options.workers.max(1),
        postgres_url: options.postgres_url,
        postgres_jit: options.postgres_jit,
    };
    print_report(&search::run(&settings).await?);
    Ok(())
}

async fn sign_in_burst(options: SignInBurstOptions) -> anyhow::Result<()> {
    let gigmesh_bin = gigmesh_bin(options.gigmesh_bin)?;
    let settings = sign_in_burst::BurstSettings {
        gigmesh_bin,
        sign_ins: options.sign_ins.max(1),
        accounts: options.accounts.max(1),
        connections: options.connections.max(1),
        idle: std::time::Duration::from_secs(options.idle_seconds),
        compare_unbounded: !options.skip_unbounded,
    };
    print_report(&sign_in_burst::run(&settings).await?);
    Ok(())
}

async fn soak(options: SoakOptions) -> anyhow::Result<()> {
    let gigmesh_bin = gigmesh_bin(options.gigmesh_bin)?;
    let settings = soak::SoakSettings {
        gigmesh_bin,
        duration: std::time::Duration::from_secs(options.seconds.max(1)),
        warmup: std::time::Duration::from_secs(options.warmup_seconds),
        sample_interval: std::time::Duration::from_secs(options.sample_seconds.max(1)),
        workers: options.workers.max(1),
    };
    print_report(&soak::run(&settings).await?);
    Ok(())
}

async fn orders_benchmark(options: OrdersOptions) -> anyhow::Result<()> {
    let settings = orders::OrdersSettings {
        gigmesh_bin: gigmesh_bin(options.gigmesh_bin)?,
        postgres_url: options.postgres_url,
        database_prefix: options.database_prefix,
        clients: options.clients,
        duration: std::time::Duration::from_secs(options.seconds.max(1)),
        warmup: std::time::Duration::from_secs(options.warmup_seconds),
        buyers: options.buyers.max(1),
        pgbench_scale: options.pgbench_scale,
    };
    print_report(&orders::run(&settings).await?);
    Ok(())
}

async fn payment_latency(options: PaymentLatencyOptions) -> anyhow::Result<()> {
    let settings = payment_latency::PaymentLatencySettings {
        gigmesh_bin: gigmesh_bin(options.gigmesh_bin)?,
        postgres_url: options.postgres_url,
        database_prefix: options.database_prefix,
        orders: options.orders.max(1),
        in_flight: options.in_flight.max(1),
        embedded: !options.only_kafka,
        kafka: !options.only_embedded,
    };
    print_report(&payment_latency::run(&settings).await?);
    Ok(())
}

async fn chat_benchmark(options: ChatOptions) -> anyhow::Result<()> {
    let settings = chat::ChatSettings {
        gigmesh_bin: gigmesh_bin(options.gigmesh_bin)?,
        postgres_url: options.postgres_url,
        database_prefix: options.database_prefix,
        streams: options.streams.max(1),
        users: options.users.max(2),
        idle_seconds: options.idle_seconds,
        rate: options.rate,
        messages: options.messages.max(1),
        senders: options.senders.max(1),
        embedded: !options.only_kafka,
        kafka: !options.only_embedded,
    };
    print_report(&chat::run(&settings).await?);
    Ok(())
}

/// `given`, or the `gigmesh` binary next to this program.
fn gigmesh_bin(given: Option<std::path::PathBuf>) -> anyhow::Result<std::path::PathBuf> {
    let gigmesh_bin = match given {
        Some(path) => path,
        None => std::env::current_exe()?
            .parent()
            .map(|directory| directory.join("gigmesh"))
            .ok_or_else(|| anyhow::anyhow!("this program's path has no directory"))?,
    };
    anyhow::ensure!(
        gigmesh_bin.is_file(),
        "no gigmesh binary at {} (build it with `cargo build --release --bin gigmesh`, or \
         pass --gigmesh-bin)",
        gigmesh_bin.display()
    );
    Ok(gigmesh_bin)
}

#[allow(clippy::print_stdout)]
fn print_report(report: &str) {
    print!("{report}");
}
