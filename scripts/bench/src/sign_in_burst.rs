//! A burst of concurrent sign-ins against `gigmesh serve auth` running as its own process:
//! how much memory auth takes while it hashes passwords (its resident set, read from
//! `/proc/<pid>/status`), how the sign-ins are answered, and whether `GetJwks` and
//! `RefreshToken`, which hash no password, keep answering meanwhile.
//!
//! Each configuration gets a fresh process on a fresh SQLite database and embedded event
//! log in a temporary directory, configured only through `GIGMESH__` environment variables.
//! Accounts are seeded through auth's own RPCs: `SignUp`, then `VerifyEmail` with the token
//! of the `EmailVerificationRequested` event, read from the event log as the mailer would.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use gigmesh_auth_service::Argon2Config;
use gigmesh_db::{Db, Tx};
use gigmesh_events::{Consumer, EmbeddedBus, Envelope, EventHandler, HandlerError, SharedBus};
use gigmesh_proto::auth::auth_service_client::AuthServiceClient;
use gigmesh_proto::auth::{
    EmailVerificationRequested, GetJwksRequest, LogInRequest, RefreshTokenRequest, SignUpRequest,
    VerifyEmailRequest,
};
use gigmesh_testing::TestMailTokenKeys;
use tempfile::TempDir;
use tokio::sync::Barrier;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tonic::Code;
use tonic::transport::Channel;

use crate::process::{self, GigmeshProcess, free_port, gigmesh_command};
use crate::report::Machine;
use crate::stats::{Latencies, Summary};

/// The memory limit the Helm chart gives auth.
const AUTH_MEMORY_LIMIT_MIB: f64 = 512.0;
/// The password of every seeded account.
const PASSWORD: &str = "bench-password-1";
/// A password no seeded account has.
const WRONG_PASSWORD: &str = "not-the-password-1";
/// How often auth's resident set is read.
const RSS_SAMPLE_INTERVAL: Duration = Duration::from_millis(50);
/// How long auth may take to answer after it was started.
const START_TIMEOUT: Duration = Duration::from_secs(60);
/// How long the verification mails of the seeded accounts may take to reach the event log.
const SEED_TIMEOUT: Duration = Duration::from_secs(60);
/// Sign-ups in flight while seeding: below any hashing bound, so none is refused.
const SEED_CONCURRENCY: usize = 2;
/// The consumer group that reads the verification mails.
const MAIL_READER: &str = "gigmesh-bench.verification-mail";
/// Failed log-ins per client address allowed per window: every call comes from 127.0.0.1,
/// and the per-address limit exists for real clients. The per-account limit stays at its
/// production default.
const UNREACHABLE_ADDRESS_LIMIT: &str = "1000000000";
/// The hashing bounds of the comparison run: the largest values the configuration accepts.
const UNBOUNDED_CONCURRENT: u32 = 256;
const UNBOUNDED_QUEUED: u32 = 4_096;

/// How the benchmark runs.
#[derive(Debug, Clone)]
pub struct BurstSettings {
    /// The `gigmesh` binary to start.
    pub gigmesh_bin: PathBuf,
    /// Calls fired at once: log-ins and sign-ups.
    pub sign_ins: usize,
    /// Accounts seeded before the burst; right and wrong passwords are spread over them.
    pub accounts: usize,
    /// HTTP/2 connections the burst is spread over, as if from that many clients.
    pub connections: usize,
    /// How long `GetJwks` and `RefreshToken` are timed before the burst, on an idle auth.
    pub idle: Duration,
    /// Also run with the hashing bound effectively off.
    pub compare_unbounded: bool,
}

/// One configuration of auth's hashing bound.
#[derive(Debug, Clone)]
struct Bound {
    name: &'static str,
    /// `None` leaves the production default.
    max_concurrent_hashes: Option<u32>,
    max_queued_hashes: Option<u32>,
}

impl Bound {
    fn effective(&self) -> (u32, u32) {
        let defaults = Argon2Config::default();
        (
            self.max_concurrent_hashes
                .unwrap_or(defaults.max_concurrent_hashes),
            self.max_queued_hashes.unwrap_or(defaults.max_queued_hashes),
        )
    }
}

/// Runs every configuration and renders the Markdown report.
pub async fn run(settings: &BurstSettings) -> anyhow::Result<String> {
    let machine_before = Machine::read();
    let mut bounds = vec![Bound {
        name: "production defaults",
        max_concurrent_hashes: None,
        max_queued_hashes: None,
    }];
    if settings.compare_unbounded {
        bounds.push(Bound {
            name: "bound off",
            max_concurrent_hashes: Some(UNBOUNDED_CONCURRENT),
            max_queued_hashes: Some(UNBOUNDED_QUEUED),
        });
    }
    let mut runs = Vec::new();
    for bound in bounds {
        let (running, queued) = bound.effective();
        eprintln!(
            "{}: max_concurrent_hashes={running}, max_queued_hashes={queued}",
            bound.name
        );
        runs.push(run_one(settings, bound).await?);
    }
    let machine_after = Machine::read();
    Ok(render(&machine_before, &machine_after, settings, &runs))
}

/// What one configuration measured.
struct BurstRun {
    bound: Bound,
    outcomes: Vec<Outcome>,
    burst_elapsed: Duration,
    idle: Probes,
    during: Probes,
    memory: Memory,
}

/// Auth's resident set, KiB.
#[derive(Debug, Default, Clone, Copy)]
struct Memory {
    /// Once auth answers, before any account exists.
    at_start: u64,
    /// Just before the burst.
    before: u64,
    /// The largest sample during the burst.
    max_sampled: u64,
    /// `VmHWM` after the burst: the peak over the process's life.
    high_water: u64,
    /// One second after the last answer.
    after: u64,
    /// Samples taken during the burst.
    samples: usize,
}

async fn run_one(settings: &BurstSettings, bound: Bound) -> anyhow::Result<BurstRun> {
    let mut auth = AuthProcess::start(&settings.gigmesh_bin, &bound).await?;
    let outcome = measure(settings, &auth, bound).await;
    let stopped = auth.process.stop().await;
    match outcome {
        Ok(run) => {
            stopped?;
            Ok(run)
        }
        Err(error) => Err(error.context(format!("auth's log:\n{}", auth.process.log_tail()))),
    }
}

async fn measure(
    settings: &BurstSettings,
    auth: &AuthProcess,
    bound: Bound,
) -> anyhow::Result<BurstRun> {
    let at_start = read_status(auth.process.pid)?.rss_kib;
    let prober = connect(auth.process.address).await?;
    eprintln!("  seeding {} accounts", settings.accounts);
    let usernames: Vec<String> = (0..settings.accounts)
        .map(|index| format!("bench_user_{index}"))
        .chain(std::iter::once("bench_prober".to_owned()))
        .collect();
    seed_accounts(auth, &prober, &usernames).await?;
    let refresh_token = log_in(&prober, "bench_prober", PASSWORD)
        .await?
        .context("the prober cannot sign in")?;

    let mut clients = Vec::with_capacity(settings.connections.max(1));
    for _ in 0..settings.connections.max(1) {
        clients.push(connect(auth.process.address).await?);
    }

    let sampler_stop = CancellationToken::new();
    let sampler = tokio::spawn(sample_rss(auth.process.pid, sampler_stop.clone()));

    eprintln!("  idle: GetJwks and RefreshToken for {:?}", settings.idle);
    let idle_stop = CancellationToken::new();
    let idle_probes = tokio::spawn(probe(prober.clone(), refresh_token, idle_stop.clone()));
    tokio::time::sleep(settings.idle).await;
    idle_stop.cancel();
    let (idle, refresh_token) = idle_probes.await.context("the idle probe failed")??;

    let before = read_status(auth.process.pid)?.rss_kib;
    let burst_started_at = sampler_elapsed_marker();
    eprintln!("  burst: {} calls at once", settings.sign_ins);
    let during_stop = CancellationToken::new();
    let during_probes = tokio::spawn(probe(prober.clone(), refresh_token, during_stop.clone()));
    let started = Instant::now();
    let outcomes = burst(&clients, settings.sign_ins, settings.accounts).await?;
    let burst_elapsed = started.elapsed();
    during_stop.cancel();
    let (during, _) = during_probes.await.context("the burst probe failed")??;
    let high_water = read_status(auth.process.pid)?.high_water_kib;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let after = read_status(auth.process.pid)?.rss_kib;
    sampler_stop.cancel();
    let samples = sampler.await.context("the RSS sampler failed")?;
    let during_burst: Vec<u64> = samples
        .iter()
        .filter(|(at, _)| *at >= burst_started_at && *at <= burst_started_at + burst_elapsed)
        .map(|(_, rss)| *rss)
        .collect();
    let memory = Memory {
        at_start,
        before,
        max_sampled: during_burst.iter().copied().max().unwrap_or_default(),
        high_water,
        after,
        samples: during_burst.len(),
    };
    Ok(BurstRun {
        bound,
        outcomes,
        burst_elapsed,
        idle,
        during,
        memory,
    })
}

/// The sampler's clock: the time since the process started measuring, shared by the
/// sampler and the burst so their moments compare.
fn sampler_elapsed_marker() -> Duration {
    clock_origin().elapsed()
}

fn clock_origin() -> Instant {
    static ORIGIN: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
    *ORIGIN.get_or_init(Instant::now)
}

/// `gigmesh serve auth` as a child process that is killed when dropped, with its database
/// and event log in a temporary directory.
struct AuthProcess {
    process: GigmeshProcess,
    data_dir: TempDir,
    /// The key pair auth seals mailed tokens to; the benchmark opens them as the mailer does.
    mail_token_keys: TestMailTokenKeys,
}

impl AuthProcess {
    async fn start(gigmesh_bin: &Path, bound: &Bound) -> anyhow::Result<Self> {
        let data_dir = tempfile::tempdir().context("cannot create a temporary directory")?;
        let address = SocketAddr::from(([127, 0, 0, 1], free_port()?));
        let metrics = SocketAddr::from(([127, 0, 0, 1], free_port()?));
        let mail_token_keys = TestMailTokenKeys::generate("bench");
        let mut command = gigmesh_command(gigmesh_bin, &["serve", "auth"]);
        command
            .env("GIGMESH__AUTH__LISTEN", address.to_string())
            .env(
                "GIGMESH__AUTH__DATABASE__URL",
                format!("sqlite://{}", data_dir.path().join("auth.db").display()),
            )
            .env("GIGMESH__BUS__KIND", "embedded")
            .env("GIGMESH__BUS__EMBEDDED_PATH", bus_path(data_dir.path()))
            .env("GIGMESH__TELEMETRY__METRICS_LISTEN", metrics.to_string())
            .env(
                "GIGMESH__AUTH__SETTINGS__MAIL_TOKEN_PUBLIC_KEY__KEY_ID",
                &mail_token_keys.key_id,
            )
            .env(
                "GIGMESH__AUTH__SETTINGS__MAIL_TOKEN_PUBLIC_KEY__PUBLIC_KEY",
                mail_token_keys.public_key_base64(),
            )
            .env(
                "GIGMESH__AUTH__SETTINGS__THROTTLE__MAX_FAILURES_PER_ADDRESS",
                UNREACHABLE_ADDRESS_LIMIT,
            );
        if let Some(running) = bound.max_concurrent_hashes {
            command.env(
                "GIGMESH__AUTH__SETTINGS__ARGON2__MAX_CONCURRENT_HASHES",
                running.to_string(),
            );
        }
        if let Some(queued) = bound.max_queued_hashes {
            command.env(
                "GIGMESH__AUTH__SETTINGS__ARGON2__MAX_QUEUED_HASHES",
                queued.to_string(),
            );
        }
        let log = data_dir.path().join("auth.log");
        let process =
            GigmeshProcess::start("gigmesh serve auth", command, address, log, START_TIMEOUT)
                .await?;
        Ok(Self {
            process,
            data_dir,
            mail_token_keys,
        })
    }
}

fn bus_path(data_dir: &Path) -> PathBuf {
    data_dir.join("bus.db")
}

/// A client on its own HTTP/2 connection.
async fn connect(address: SocketAddr) -> anyhow::Result<AuthServiceClient<Channel>> {
    Ok(AuthServiceClient::new(process::connect(address).await?))
}

fn email_of(username: &str) -> String {
    format!("{username}@gigmesh.dev")
}

/// Signs up every name in `usernames`, then verifies each address with the token from its
/// verification mail.
async fn seed_accounts(
    auth: &AuthProcess,
    client: &AuthServiceClient<Channel>,
    usernames: &[String],
) -> anyhow::Result<()> {
    let tokens = Arc::new(Mutex::new(HashMap::new()));
    let mut mail_reader = subscribe_to_mail(
        auth.data_dir.path(),
        auth.mail_token_keys.clone(),
        tokens.clone(),
    )
    .await?;
    for chunk in usernames.chunks(SEED_CONCURRENCY) {
        let mut sign_ups = JoinSet::new();
        for username in chunk {
            let mut client = client.clone();
            let request = SignUpRequest {
                email: email_of(username),
                username: username.clone(),
                password: PASSWORD.to_owned(),
            };
            sign_ups.spawn(async move { client.sign_up(request).await });
        }
        while let Some(joined) = sign_ups.join_next().await {
            joined
                .context("a sign-up task failed")?
                .context("cannot seed an account")?;
        }
    }
    let deadline = Instant::now() + SEED_TIMEOUT;
    while lock(&tokens).len() < usernames.len() {
        anyhow::ensure!(
            Instant::now() < deadline,
            "only {} of {} verification mails arrived within {SEED_TIMEOUT:?}",
            lock(&tokens).len(),
            usernames.len()
        );
        mail_reader
            .poll_once(Duration::from_millis(500))
            .await
            .context("cannot read the verification mails")?;
    }
    let tokens = std::mem::take(&mut *lock(&tokens));
    for username in usernames {
        let token = tokens
            .get(username)
            .with_context(|| format!("no verification mail for {username}"))?;
        client
            .clone()
            .verify_email(VerifyEmailRequest {
                token: token.clone(),
            })
            .await
            .with_context(|| format!("cannot verify {username}'s address"))?;
    }
    Ok(())
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// A consumer of auth's events in the process's event log, keeping its inbox in a scratch
/// SQLite file, that collects the verification tokens by username.
async fn subscribe_to_mail(
    data_dir: &Path,
    mail_token_keys: TestMailTokenKeys,
    tokens: Arc<Mutex<HashMap<String, String>>>,
) -> anyhow::Result<Consumer> {
    let bus: SharedBus = Arc::new(EmbeddedBus::open(bus_path(data_dir)).await?);
    let inbox_url = format!("sqlite://{}", data_dir.join("mail-reader.db").display());
    Db::ensure_database(&inbox_url).await?;
    let inbox = Db::connect(&inbox_url, 1).await?;
    let without_comments: String = EVENT_TABLES
        .lines()
        .filter(|line| !line.trim_start().starts_with("--"))
        .collect::<Vec<_>>()
        .join("\n");
    for statement in without_comments.split(';') {
        if !statement.trim().is_empty() {
            sqlx::query(statement)
                .execute(inbox.pool())
                .await
                .context("cannot create the mail reader's inbox")?;
        }
    }
    Ok(Consumer::new(
        MAIL_READER,
        inbox,
        bus,
        &[gigmesh_proto::auth::TOPIC],
        Arc::new(VerificationMail {
            mail_token_keys,
            tokens,
        }),
    )
    .await?)
}

/// The inbox and dead-letter tables every consumer writes to.
const EVENT_TABLES: &str =
    include_str!("../../../shared/events/migrations/sqlite/900000001_create_event_tables.sql");

/// Keeps the token of every `EmailVerificationRequested`, as the mailer would mail it.
struct VerificationMail {
    mail_token_keys: TestMailTokenKeys,
    tokens: Arc<Mutex<HashMap<String, String>>>,
}

impl VerificationMail {
    fn keep(&self, envelope: &Envelope) -> Result<(), HandlerError> {
        if let Some(decoded) = gigmesh_events::decode::<EmailVerificationRequested>(envelope) {
            let mail = decoded.map_err(HandlerError::permanent)?;
            let token = self
                .mail_token_keys
                .open(&mail.sealed_token)
                .ok_or_else(|| {
                    HandlerError::permanent(anyhow::anyhow!("a token that does not open"))
                })?;
            lock(&self.tokens).insert(mail.username, token);
        }
        Ok(())
    }
}

impl EventHandler for VerificationMail {
    fn handle<'life0, 'life1, 'life2, 'async_trait>(
        &'life0 self,
        _tx: &'life1 mut Tx,
        envelope: &'life2 Envelope,
    ) -> Pin<Box<dyn Future<Output = Result<(), HandlerError>> + Send + 'async_trait>>
    where
        'life0: 'async_trait,
        'life1: 'async_trait,
        'life2: 'async_trait,
        Self: 'async_trait,
    {
        Box::pin(std::future::ready(self.keep(envelope)))
    }
}

/// Logs in; `Ok(None)` when auth answered with an error.
async fn log_in(
    client: &AuthServiceClient<Channel>,
    login: &str,
    password: &str,
) -> anyhow::Result<Option<String>> {
    let answer = client
        .clone()
        .log_in(LogInRequest {
            login: login.to_owned(),
            password: password.to_owned(),
        })
        .await;
    Ok(answer
        .ok()
        .and_then(|response| response.into_inner().tokens)
        .map(|tokens| tokens.refresh_token))
}

/// What a burst call asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    RightPassword,
    WrongPassword,
    UnknownName,
    SignUp,
}

impl Kind {
    const ALL: [Kind; 4] = [
        Kind::RightPassword,
        Kind::WrongPassword,
        Kind::UnknownName,
        Kind::SignUp,
    ];

    /// The kind of the `index`-th call: in every 20 calls, 8 right passwords, 5 wrong
    /// passwords, 3 unknown names and 4 sign-ups.
    fn of(index: usize) -> Self {
        match index % 20 {
            0..8 => Kind::RightPassword,
            8..13 => Kind::WrongPassword,
            13..16 => Kind::UnknownName,
            _ => Kind::SignUp,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Kind::RightPassword => "LogIn, right password",
            Kind::WrongPassword => "LogIn, wrong password",
            Kind::UnknownName => "LogIn, unknown name",
            Kind::SignUp => "SignUp",
        }
    }
}

/// How one burst call was answered.
#[derive(Debug, Clone)]
struct Outcome {
    kind: Kind,
    code: Code,
    /// `RESOURCE_EXHAUSTED` from the hashing bound (not the failed-log-in throttle).
    hashing_refusal: bool,
    retry_info: bool,
    latency: Duration,
}

/// Fires `calls` calls at once, spread over `clients`, and waits for every answer.
async fn burst(
    clients: &[AuthServiceClient<Channel>],
    calls: usize,
    accounts: usize,
) -> anyhow::Result<Vec<Outcome>> {
    let barrier = Arc::new(Barrier::new(calls.max(1)));
    let mut tasks = JoinSet::new();
    let mut per_kind: HashMap<&'static str, usize> = HashMap::new();
    for index in 0..calls {
        let kind = Kind::of(index);
        let nth = {
            let count = per_kind.entry(kind.name()).or_default();
            *count += 1;
            *count - 1
        };
        let mut client = clients[index % clients.len()].clone();
        let barrier = barrier.clone();
        let account = format!("bench_user_{}", nth % accounts.max(1));
        tasks.spawn(async move {
            barrier.wait().await;
            let started = Instant::now();
            let answer = match kind {
                Kind::RightPassword => client
                    .log_in(LogInRequest {
                        login: account,
                        password: PASSWORD.to_owned(),
                    })
                    .await
                    .map(drop),
                Kind::WrongPassword => client
                    .log_in(LogInRequest {
                        login: account,
                        password: WRONG_PASSWORD.to_owned(),
                    })
                    .await
                    .map(drop),
                Kind::UnknownName => client
                    .log_in(LogInRequest {
                        login: format!("nobody_{nth}"),
                        password: PASSWORD.to_owned(),
                    })
                    .await
                    .map(drop),
                Kind::SignUp => {
                    let username = format!("burst_user_{nth}");
                    client
                        .sign_up(SignUpRequest {
                            email: email_of(&username),
                            username,
                            password: PASSWORD.to_owned(),
                        })
                        .await
                        .map(drop)
                }
            };
            let latency = started.elapsed();
            match answer {
                Ok(()) => Outcome {
                    kind,
                    code: Code::Ok,
                    hashing_refusal: false,
                    retry_info: false,
                    latency,
                },
                Err(status) => Outcome {
                    kind,
                    code: status.code(),
                    hashing_refusal: status.message().contains("passwords are being checked"),
                    retry_info: contains(status.details(), b"google.rpc.RetryInfo"),
                    latency,
                },
            }
        });
    }
    let mut outcomes = Vec::with_capacity(calls);
    while let Some(joined) = tasks.join_next().await {
        outcomes.push(joined.context("a burst task failed")?);
    }
    Ok(outcomes)
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack
        .windows(needle.len())
        .any(|window| window == needle)
}

/// Latencies of the calls that hash no password.
#[derive(Debug, Default)]
struct Probes {
    get_jwks: Latencies,
    refresh_token: Latencies,
    get_jwks_failures: usize,
    refresh_token_failures: usize,
}

/// Calls `GetJwks`, then `RefreshToken` with the refresh token of the call before, one at a
/// time until `stop`; returns the latencies and the refresh token to go on with.
async fn probe(
    mut client: AuthServiceClient<Channel>,
    mut refresh_token: String,
    stop: CancellationToken,
) -> anyhow::Result<(Probes, String)> {
    let mut probes = Probes {
        get_jwks: Latencies::with_capacity(10_000),
        refresh_token: Latencies::with_capacity(10_000),
        get_jwks_failures: 0,
        refresh_token_failures: 0,
    };
    while !stop.is_cancelled() {
        let started = Instant::now();
        let jwks = client.get_jwks(GetJwksRequest {}).await;
        probes.get_jwks.record(started.elapsed());
        if jwks.is_err() {
            probes.get_jwks_failures += 1;
        }
        let started = Instant::now();
        let refreshed = client
            .refresh_token(RefreshTokenRequest {
                refresh_token: refresh_token.clone(),
            })
            .await;
        probes.refresh_token.record(started.elapsed());
        match refreshed
            .ok()
            .and_then(|response| response.into_inner().tokens)
        {
            Some(tokens) => refresh_token = tokens.refresh_token,
            None => probes.refresh_token_failures += 1,
        }
    }
    Ok((probes, refresh_token))
}

/// The memory lines of `/proc/<pid>/status`, KiB.
struct Status {
    rss_kib: u64,
    high_water_kib: u64,
}

fn read_status(pid: u32) -> anyhow::Result<Status> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .with_context(|| format!("cannot read /proc/{pid}/status"))?;
    let field = |name: &str| -> anyhow::Result<u64> {
        text.lines()
            .find_map(|line| line.strip_prefix(name))
            .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
            .with_context(|| format!("no {name} in /proc/{pid}/status"))
    };
    Ok(Status {
        rss_kib: field("VmRSS:")?,
        high_water_kib: field("VmHWM:")?,
    })
}

/// Reads auth's resident set every [`RSS_SAMPLE_INTERVAL`] until `stop`; each sample is
/// stamped with [`sampler_elapsed_marker`]'s clock.
async fn sample_rss(pid: u32, stop: CancellationToken) -> Vec<(Duration, u64)> {
    let mut samples = Vec::with_capacity(4_096);
    let mut ticks = tokio::time::interval(RSS_SAMPLE_INTERVAL);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = stop.cancelled() => return samples,
            _ = ticks.tick() => {
                if let Ok(status) = read_status(pid) {
                    samples.push((sampler_elapsed_marker(), status.rss_kib));
                }
            }
        }
    }
}

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

fn ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1_000.0
}

fn code_name(code: Code) -> &'static str {
    match code {
        Code::Ok => "OK",
        Code::Unauthenticated => "UNAUTHENTICATED",
        Code::ResourceExhausted => "RESOURCE_EXHAUSTED",
        Code::Internal => "INTERNAL",
        Code::Unavailable => "UNAVAILABLE",
        Code::DeadlineExceeded => "DEADLINE_EXCEEDED",
        Code::AlreadyExists => "ALREADY_EXISTS",
        Code::FailedPrecondition => "FAILED_PRECONDITION",
        Code::InvalidArgument => "INVALID_ARGUMENT",
        Code::Cancelled => "CANCELLED",
        Code::Unknown => "UNKNOWN",
        _ => "other",
    }
}

/// Which burst answers a latency row covers.
type OutcomeFilter = fn(&Outcome) -> bool;

fn latencies_of<'a>(outcomes: impl Iterator<Item = &'a Outcome>) -> Summary {
    let mut latencies = Latencies::default();
    for outcome in outcomes {
        latencies.record(outcome.latency);
    }
    latencies.summary()
}

fn render(
    machine_before: &Machine,
    machine_after: &Machine,
    settings: &BurstSettings,
    runs: &[BurstRun],
) -> String {
    let mut out = String::new();
    let argon2 = Argon2Config::default();
    let _ = writeln!(out, "## Sign-in burst\n");
    let _ = writeln!(
        out,
        "Machine: `{}`, {} logical CPUs. Load average before: {}; after: {}.\n",
        machine_before.cpu_model,
        machine_before.logical_cpus,
        machine_before.load_average,
        machine_after.load_average
    );
    let _ = writeln!(
        out,
        "{} calls at once over {} connections, after seeding {} accounts; argon2id m={} KiB, \
         t={}, p={}. `GetJwks` and `RefreshToken` timed one at a time for {:?} idle, then \
         during the burst. RSS sampled every {} ms.\n",
        settings.sign_ins,
        settings.connections,
        settings.accounts,
        argon2.memory_kib,
        argon2.iterations,
        argon2.parallelism,
        settings.idle,
        RSS_SAMPLE_INTERVAL.as_millis()
    );

    let _ = writeln!(
        out,
        "**Auth's memory (MiB; the chart's limit is 512 MiB)**\n"
    );
    let _ = writeln!(
        out,
        "| configuration | max_concurrent / max_queued | RSS at start | RSS before burst | max sampled RSS in burst (samples) | peak (VmHWM) | peak / limit | RSS 1 s after |"
    );
    let _ = writeln!(out, "|---|---:|---:|---:|---:|---:|---:|---:|");
    for run in runs {
        let (running, queued) = run.bound.effective();
        let memory = run.memory;
        let _ = writeln!(
            out,
            "| {} | {running} / {queued} | {:.1} | {:.1} | {:.1} ({}) | **{:.1}** | {:.0}% | {:.1} |",
            run.bound.name,
            mib(memory.at_start),
            mib(memory.before),
            mib(memory.max_sampled),
            memory.samples,
            mib(memory.high_water),
            mib(memory.high_water) / AUTH_MEMORY_LIMIT_MIB * 100.0,
            mib(memory.after),
        );
    }

    let _ = writeln!(out, "\n**How the burst was answered**\n");
    let _ = writeln!(
        out,
        "| configuration | call | calls | OK | UNAUTHENTICATED | RESOURCE_EXHAUSTED (hashing, with RetryInfo) | RESOURCE_EXHAUSTED (throttle) | other |"
    );
    let _ = writeln!(out, "|---|---|---:|---:|---:|---:|---:|---|");
    for run in runs {
        for kind in Kind::ALL {
            let of_kind: Vec<&Outcome> = run.outcomes.iter().filter(|o| o.kind == kind).collect();
            let count = |code: Code| of_kind.iter().filter(|o| o.code == code).count();
            let hashing = of_kind
                .iter()
                .filter(|o| o.code == Code::ResourceExhausted && o.hashing_refusal)
                .count();
            let hashing_with_retry = of_kind
                .iter()
                .filter(|o| o.code == Code::ResourceExhausted && o.hashing_refusal && o.retry_info)
                .count();
            let throttled = count(Code::ResourceExhausted) - hashing;
            let mut others: HashMap<&'static str, usize> = HashMap::new();
            for outcome in &of_kind {
                if !matches!(
                    outcome.code,
                    Code::Ok | Code::Unauthenticated | Code::ResourceExhausted
                ) {
                    *others.entry(code_name(outcome.code)).or_default() += 1;
                }
            }
            let mut others: Vec<String> = others
                .into_iter()
                .map(|(name, count)| format!("{name} {count}"))
                .collect();
            others.sort();
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {} | {hashing} ({hashing_with_retry}) | {throttled} | {} |",
                run.bound.name,
                kind.name(),
                of_kind.len(),
                count(Code::Ok),
                count(Code::Unauthenticated),
                if others.is_empty() {
                    "none".to_owned()
                } else {
                    others.join(", ")
                },
            );
        }
    }

    let _ = writeln!(out, "\n**Burst latency (ms, from the common start)**\n");
    let _ = writeln!(
        out,
        "| configuration | answers | calls | p50 | p99 | max | burst wall time |"
    );
    let _ = writeln!(out, "|---|---|---:|---:|---:|---:|---:|");
    for run in runs {
        let groups: [(&str, OutcomeFilter); 3] = [
            ("all", |_| true),
            ("checked (OK, UNAUTHENTICATED)", |o| {
                matches!(o.code, Code::Ok | Code::Unauthenticated)
            }),
            ("refused (RESOURCE_EXHAUSTED)", |o| {
                o.code == Code::ResourceExhausted
            }),
        ];
        for (name, keep) in &groups {
            let summary = latencies_of(run.outcomes.iter().filter(|o| keep(o)));
            let _ = writeln!(
                out,
                "| {} | {name} | {} | {:.1} | {:.1} | {:.1} | {:.2} s |",
                run.bound.name,
                summary.count,
                ms(summary.p50),
                ms(summary.p99),
                ms(summary.max),
                run.burst_elapsed.as_secs_f64(),
            );
        }
    }

    let _ = writeln!(
        out,
        "\n**GetJwks and RefreshToken, one at a time on their own connection (ms)**\n"
    );
    let _ = writeln!(
        out,
        "| configuration | call | when | calls | p50 | p99 | max | failed |"
    );
    let _ = writeln!(out, "|---|---|---|---:|---:|---:|---:|---:|");
    for run in runs {
        for (when, probes) in [("idle", &run.idle), ("during the burst", &run.during)] {
            for (call, latencies, failures) in [
                ("GetJwks", &probes.get_jwks, probes.get_jwks_failures),
                (
                    "RefreshToken",
                    &probes.refresh_token,
                    probes.refresh_token_failures,
                ),
            ] {
                let summary = latencies.summary();
                let _ = writeln!(
                    out,
                    "| {} | {call} | {when} | {} | {:.2} | {:.2} | {:.2} | {} |",
                    run.bound.name,
                    summary.count,
                    ms(summary.p50),
                    ms(summary.p99),
                    ms(summary.max),
                    failures,
                );
            }
        }
    }
    out
}
