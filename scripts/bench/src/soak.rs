//! Soak: `gigmesh dev` (the release binary, as its own process, on a fresh data directory)
//! under minutes of mixed traffic through the gateway with nobody scraping its metrics, its
//! resident set read from `/proc/<pid>/status` every few seconds. Memory that keeps growing
//! under steady traffic (a cache without a bound, a map keyed by something clients choose,
//! metrics label sets, spans that never close) shows as a slope after the warm-up.

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use gigmesh_proto::{auth, gigs, search, types, users};
use tempfile::TempDir;
use tokio_util::sync::CancellationToken;
use tonic::transport::Channel;
use tonic::{Code, Request};

use auth::auth_service_client::AuthServiceClient;
use gigs::gig_service_client::GigServiceClient;
use search::search_service_client::SearchServiceClient;
use users::user_service_client::UserServiceClient;

use crate::process::{GigmeshProcess, connect, free_port, gigmesh_command};

/// How long `gigmesh dev` may take to answer after it starts.
const START_TIMEOUT: Duration = Duration::from_secs(120);
/// How long the seller's role may take to arrive (auth learns it from users' event).
const ROLE_TIMEOUT: Duration = Duration::from_secs(30);
/// The demo buyer `gigmesh dev` creates, who becomes the seller of the soak's gigs.
pub(crate) const SELLER_LOGIN: &str = "demo_buyer";
pub(crate) const SELLER_PASSWORD: &str = "buyer-password-1";
/// The demo admin, whose sessions the traffic signs in and refreshes.
const BUYER_LOGIN: &str = "admin";
const BUYER_PASSWORD: &str = "admin-password-1";
/// Tries of a worker's first sign-in.
const SIGN_IN_ATTEMPTS: usize = 10;
/// Gigs published before the traffic starts.
const GIGS: usize = 20;
/// Searches the traffic cycles through.
const QUERIES: [&str; 6] = [
    "logo",
    "minimalst logo",
    "rust service",
    "design",
    "",
    "brand",
];

/// What to run.
#[derive(Debug, Clone)]
pub struct SoakSettings {
    pub gigmesh_bin: PathBuf,
    pub duration: Duration,
    pub warmup: Duration,
    pub sample_interval: Duration,
    pub workers: usize,
}

/// The calls of each kind made, and refused.
#[derive(Default)]
struct Counters {
    calls: [AtomicU64; KINDS.len()],
    errors: [AtomicU64; KINDS.len()],
}

/// The kinds of calls in the mix, in the order of the report.
const KINDS: [&str; 9] = [
    "LogIn",
    "RefreshToken",
    "GetMyProfile",
    "UpdateMyProfile",
    "SearchGigs",
    "GetGig",
    "SaveGig",
    "UnsaveGig",
    "ListCategories",
];

impl Counters {
    fn count<T>(&self, kind: usize, result: &Result<T, tonic::Status>) {
        self.calls[kind].fetch_add(1, Ordering::Relaxed);
        if let Err(status) = result {
            let errors = self.errors[kind].fetch_add(1, Ordering::Relaxed);
            if errors < 3 {
                tracing::warn!(kind = KINDS[kind], code = ?status.code(), message = status.message(), "call refused");
            }
        }
    }
}

/// Runs the soak and returns the Markdown report.
pub async fn run(settings: &SoakSettings) -> anyhow::Result<String> {
    let mut dev = DevProcess::start(&settings.gigmesh_bin).await?;
    let started = Instant::now();
    let rss_at_start = read_rss_kib(dev.process.pid)?;
    let gig_ids = match prepare(dev.process.address).await {
        Ok(ids) => ids,
        Err(error) => return Err(error.context(format!("dev's log:\n{}", dev.process.log_tail()))),
    };
    eprintln!(
        "{} gigs published; {} workers for {:?}, RSS every {:?}",
        gig_ids.len(),
        settings.workers,
        settings.duration,
        settings.sample_interval
    );

    let counters = Arc::new(Counters::default());
    let stop = CancellationToken::new();
    let gig_ids = Arc::new(gig_ids);
    let mut workers = tokio::task::JoinSet::new();
    for worker in 0..settings.workers {
        workers.spawn(traffic(
            dev.process.address,
            worker,
            gig_ids.clone(),
            counters.clone(),
            stop.clone(),
        ));
    }

    let traffic_started = Instant::now();
    let mut samples: Vec<(Duration, u64)> = Vec::new();
    let mut ticks = tokio::time::interval(settings.sample_interval);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    while traffic_started.elapsed() < settings.duration {
        ticks.tick().await;
        if let Some(status) = dev.process.exited()? {
            anyhow::bail!(
                "gigmesh dev exited with {status}:\n{}",
                dev.process.log_tail()
            );
        }
        let elapsed = traffic_started.elapsed();
        let rss = read_rss_kib(dev.process.pid)?;
        samples.push((elapsed, rss));
        if samples.len().is_multiple_of(12) {
            eprintln!("{:>4} s: RSS {:.1} MiB", elapsed.as_secs(), mib(rss));
        }
    }
    stop.cancel();
    while let Some(result) = workers.join_next().await {
        result.context("a traffic worker panicked")?;
    }
    let rss_at_end = read_rss_kib(dev.process.pid)?;
    let high_water = read_status_field(dev.process.pid, "VmHWM:")?;
    dev.process.stop().await?;

    Ok(render(
        settings,
        &samples,
        rss_at_start,
        rss_at_end,
        high_water,
        &counters,
        started.elapsed(),
    ))
}

/// Makes the demo buyer a seller with [`GIGS`] published gigs; returns their ids.
pub(crate) async fn prepare(gateway: SocketAddr) -> anyhow::Result<Vec<String>> {
    let channel = connect(gateway).await?;
    let mut auth = AuthServiceClient::new(channel.clone());
    let mut users = UserServiceClient::new(channel.clone());
    let mut gigs = GigServiceClient::new(channel);

    let tokens = log_in(&mut auth, SELLER_LOGIN, SELLER_PASSWORD).await?;
    users
        .become_seller(signed(
            users::BecomeSellerRequest {
                seller: Some(users::SellerProfile {
                    description: "I design logos and build fast, tested Rust services.".to_owned(),
                    skills: vec!["logo".to_owned(), "rust".to_owned()],
                    ..Default::default()
                }),
            },
            &tokens.access_token,
        )?)
        .await
        .context("BecomeSeller")?;

    // The seller role reaches auth through an event; a fresh log-in carries it once it has.
    let deadline = Instant::now() + ROLE_TIMEOUT;
    let mut ids = Vec::with_capacity(GIGS);
    while ids.len() < GIGS {
        let tokens = log_in(&mut auth, SELLER_LOGIN, SELLER_PASSWORD).await?;
        let created = gigs
            .create_gig(signed(
                gigs::CreateGigRequest {
                    gig: Some(gig_draft(ids.len())),
                },
                &tokens.access_token,
            )?)
            .await;
        let gig = match created {
            Ok(gig) => gig.into_inner(),
            Err(status) if status.code() == Code::PermissionDenied => {
                anyhow::ensure!(
                    Instant::now() < deadline,
                    "the seller role did not arrive within {ROLE_TIMEOUT:?}"
                );
                tokio::time::sleep(Duration::from_millis(200)).await;
                continue;
            }
            Err(status) => return Err(status).context("CreateGig"),
        };
        gigs.publish_gig(signed(
            gigs::PublishGigRequest {
                gig_id: gig.id.clone(),
            },
            &tokens.access_token,
        )?)
        .await
        .context("PublishGig")?;
        ids.push(gig.id);
    }
    Ok(ids)
}

fn gig_draft(index: usize) -> gigs::Gig {
    gigs::Gig {
        title: format!("Minimalist logo design for your brand, take {index}"),
        description: "Three concepts, vector files and a style sheet.".to_owned(),
        category_id: "graphics-design".to_owned(),
        subcategory_id: "logo-design".to_owned(),
        tags: vec!["logo".to_owned(), "branding".to_owned()],
        packages: vec![gigs::Package {
            tier: gigs::PackageTier::Basic as i32,
            name: "Basic".to_owned(),
            description: "One concept".to_owned(),
            price: Some(types::Money {
                amount_minor: 4_000 + i64::try_from(index).unwrap_or(0) * 100,
                currency: "USD".to_owned(),
            }),
            delivery_days: 3,
            revisions: 2,
            ..Default::default()
        }],
        gallery: vec![gigs::GalleryItem {
            kind: gigs::MediaKind::Image as i32,
            url: "https://cdn.example.com/logo.png".to_owned(),
            cover: true,
        }],
        ..Default::default()
    }
}

/// One client's loop: its own connection and session, a fixed mix of calls back to back.
async fn traffic(
    gateway: SocketAddr,
    worker: usize,
    gig_ids: Arc<Vec<String>>,
    counters: Arc<Counters>,
    stop: CancellationToken,
) {
    let Ok(channel) = connect(gateway).await else {
        tracing::warn!(worker, "cannot connect to the gateway");
        return;
    };
    let mut auth = AuthServiceClient::new(channel.clone());
    let mut clients = Clients {
        users: UserServiceClient::new(channel.clone()),
        gigs: GigServiceClient::new(channel.clone()),
        search: SearchServiceClient::new(channel),
    };
    // The workers sign in to one account at once, which auth's throttle may refuse for a
    // moment (attempts count before their password is checked): try again a few times.
    let mut tokens = None;
    for _ in 0..SIGN_IN_ATTEMPTS {
        match log_in(&mut auth, BUYER_LOGIN, BUYER_PASSWORD).await {
            Ok(signed_in) => {
                tokens = Some(signed_in);
                break;
            }
            Err(error) => {
                tracing::warn!(worker, error = format!("{error:#}"), "cannot sign in yet");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }
    let Some(mut tokens) = tokens else {
        tracing::warn!(worker, "cannot sign in; this worker sends nothing");
        return;
    };
    let mut round: usize = worker;
    while !stop.is_cancelled() {
        round += 1;
        let access = tokens.access_token.clone();
        let read_id = gig_ids[round % gig_ids.len()].clone();
        // Each worker saves and unsaves its own gigs: one per ten rounds, saved in the
        // fifth round and unsaved in the tenth.
        let favourite_id = gig_ids[(round / 10 + worker * 5) % gig_ids.len()].clone();
        // A sign-in (one argon2id hash) every 200 calls, a refresh every 20.
        if round.is_multiple_of(200) {
            let result = auth
                .log_in(auth::LogInRequest {
                    login: BUYER_LOGIN.to_owned(),
                    password: BUYER_PASSWORD.to_owned(),
                })
                .await;
            counters.count(0, &result);
            if let Some(new_tokens) = result.ok().and_then(|answer| answer.into_inner().tokens) {
                tokens = new_tokens;
            }
            continue;
        }
        if round.is_multiple_of(20) {
            let result = auth
                .refresh_token(auth::RefreshTokenRequest {
                    refresh_token: tokens.refresh_token.clone(),
                })
                .await;
            counters.count(1, &result);
            if let Some(new_tokens) = result.ok().and_then(|answer| answer.into_inner().tokens) {
                tokens = new_tokens;
            }
            continue;
        }
        let Ok(()) = call_one(
            round,
            &access,
            &read_id,
            &favourite_id,
            &mut clients,
            &counters,
        )
        .await
        else {
            return;
        };
    }
}

/// One worker's clients of the services the mix reads and writes.
struct Clients {
    users: UserServiceClient<Channel>,
    gigs: GigServiceClient<Channel>,
    search: SearchServiceClient<Channel>,
}

/// One of the reads and writes of the mix, chosen by `round`.
async fn call_one(
    round: usize,
    access: &str,
    read_id: &str,
    favourite_id: &str,
    clients: &mut Clients,
    counters: &Counters,
) -> anyhow::Result<()> {
    let Clients {
        users,
        gigs,
        search,
    } = clients;
    match round % 10 {
        0 | 5 => {
            let result = users
                .get_my_profile(signed(users::GetMyProfileRequest {}, access)?)
                .await;
            counters.count(2, &result);
        }
        1 => {
            let mut request = users::UpdateMyProfileRequest {
                profile: Some(users::Profile {
                    display_name: format!("Admin {}", round % 97),
                    ..Default::default()
                }),
                update_mask: Some(Default::default()),
            };
            if let Some(mask) = request.update_mask.as_mut() {
                mask.paths = vec!["display_name".to_owned()];
            }
            let result = users.update_my_profile(signed(request, access)?).await;
            counters.count(3, &result);
        }
        2 | 6 | 8 => {
            let result = search
                .search_gigs(search::SearchGigsRequest {
                    query: QUERIES[round % QUERIES.len()].to_owned(),
                    ..Default::default()
                })
                .await;
            counters.count(4, &result);
        }
        3 | 7 => {
            let result = gigs
                .get_gig(gigs::GetGigRequest {
                    gig: Some(gigs::get_gig_request::Gig::GigId(read_id.to_owned())),
                })
                .await;
            counters.count(5, &result);
        }
        4 => {
            let result = gigs
                .save_gig(signed(
                    gigs::SaveGigRequest {
                        gig_id: favourite_id.to_owned(),
                    },
                    access,
                )?)
                .await;
            counters.count(6, &result);
        }
        _ => {
            let result = gigs
                .unsave_gig(signed(
                    gigs::UnsaveGigRequest {
                        gig_id: favourite_id.to_owned(),
                    },
                    access,
                )?)
                .await;
            counters.count(7, &result);
            let result = gigs.list_categories(gigs::ListCategoriesRequest {}).await;
            counters.count(8, &result);
        }
    }
    Ok(())
}

pub(crate) async fn log_in(
    auth: &mut AuthServiceClient<Channel>,
    login: &str,
    password: &str,
) -> anyhow::Result<auth::Tokens> {
    auth.log_in(auth::LogInRequest {
        login: login.to_owned(),
        password: password.to_owned(),
    })
    .await
    .with_context(|| format!("LogIn as {login}"))?
    .into_inner()
    .tokens
    .context("LogIn answered no tokens")
}

fn signed<T>(message: T, access_token: &str) -> anyhow::Result<Request<T>> {
    let mut request = Request::new(message);
    request
        .metadata_mut()
        .insert("authorization", format!("Bearer {access_token}").parse()?);
    Ok(request)
}

/// `gigmesh dev` as its own process, killed on drop, with its data in a temporary directory.
pub(crate) struct DevProcess {
    pub(crate) process: GigmeshProcess,
    data_dir: TempDir,
}

impl DevProcess {
    /// Where `gigmesh dev` keeps its databases (`<service>.db`) and event log.
    pub(crate) fn data(&self) -> PathBuf {
        self.data_dir.path().join("data")
    }

    pub(crate) async fn start(gigmesh_bin: &Path) -> anyhow::Result<Self> {
        let data_dir = tempfile::tempdir().context("cannot create a temporary directory")?;
        let gateway = SocketAddr::from(([127, 0, 0, 1], free_port()?));
        let metrics = SocketAddr::from(([127, 0, 0, 1], free_port()?));
        let data = data_dir.path().join("data");
        let mut command = gigmesh_command(
            gigmesh_bin,
            &[
                "dev",
                "--data-dir",
                data.to_str().context("the data dir is not UTF-8")?,
                "--listen",
                &gateway.to_string(),
            ],
        );
        // Every call comes from 127.0.0.1: the per-address limits would refuse the mix.
        command
            .env("GIGMESH__TELEMETRY__METRICS_LISTEN", metrics.to_string())
            .env("GIGMESH__TELEMETRY__LOG_FILTER", "warn")
            .env("GIGMESH__GATEWAY__RATE_LIMIT_PER_MINUTE", "100000000")
            .env("GIGMESH__GATEWAY__RATE_LIMIT_BURST", "100000")
            .env(
                "GIGMESH__CHAT__SETTINGS__MAX_MESSAGES_PER_MINUTE",
                "1000000000",
            )
            .env(
                "GIGMESH__AUTH__SETTINGS__THROTTLE__MAX_FAILURES_PER_ADDRESS",
                "1000000000",
            );
        let log = data_dir.path().join("dev.log");
        let process =
            GigmeshProcess::start("gigmesh dev", command, gateway, log, START_TIMEOUT).await?;
        Ok(Self { process, data_dir })
    }
}

pub(crate) fn read_rss_kib(pid: u32) -> anyhow::Result<u64> {
    read_status_field(pid, "VmRSS:")
}

fn read_status_field(pid: u32, name: &str) -> anyhow::Result<u64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .with_context(|| format!("cannot read /proc/{pid}/status"))?;
    text.lines()
        .find_map(|line| line.strip_prefix(name))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .with_context(|| format!("no {name} in /proc/{pid}/status"))
}

#[allow(clippy::cast_precision_loss)]
fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

/// Least-squares slope of RSS over time, MiB per minute.
#[allow(clippy::cast_precision_loss)]
fn slope_mib_per_minute(samples: &[(Duration, u64)]) -> f64 {
    let count = samples.len() as f64;
    if samples.len() < 2 {
        return 0.0;
    }
    let minutes = |elapsed: &Duration| elapsed.as_secs_f64() / 60.0;
    let mean_x = samples.iter().map(|(at, _)| minutes(at)).sum::<f64>() / count;
    let mean_y = samples.iter().map(|(_, rss)| mib(*rss)).sum::<f64>() / count;
    let (mut covariance, mut variance) = (0.0, 0.0);
    for (at, rss) in samples {
        let dx = minutes(at) - mean_x;
        covariance += dx * (mib(*rss) - mean_y);
        variance += dx * dx;
    }
    if variance == 0.0 {
        0.0
    } else {
        covariance / variance
    }
}

fn render(
    settings: &SoakSettings,
    samples: &[(Duration, u64)],
    rss_at_start: u64,
    rss_at_end: u64,
    high_water: u64,
    counters: &Counters,
    total: Duration,
) -> String {
    let after_warmup: Vec<(Duration, u64)> = samples
        .iter()
        .copied()
        .filter(|(at, _)| *at >= settings.warmup)
        .collect();
    let at_warmup = after_warmup.first().map_or(rss_at_start, |(_, rss)| *rss);
    let (low, high) = after_warmup
        .iter()
        .fold((u64::MAX, 0), |(low, high), (_, rss)| {
            (low.min(*rss), high.max(*rss))
        });
    let mut report = String::new();
    let _ = writeln!(
        report,
        "Soak of `gigmesh dev` (`{}`): {} workers for {} s, RSS every {} s, warm-up {} s \
         ({:.0} s in all with start and set-up).\n",
        settings.gigmesh_bin.display(),
        settings.workers,
        settings.duration.as_secs(),
        settings.sample_interval.as_secs(),
        settings.warmup.as_secs(),
        total.as_secs_f64()
    );
    let _ = writeln!(report, "| RSS | MiB |\n|---|---:|");
    let _ = writeln!(
        report,
        "| once answering, before set-up | {:.1} |",
        mib(rss_at_start)
    );
    let _ = writeln!(report, "| after the warm-up | {:.1} |", mib(at_warmup));
    let _ = writeln!(report, "| at the end | {:.1} |", mib(rss_at_end));
    let _ = writeln!(
        report,
        "| after the warm-up: lowest / highest | {:.1} / {:.1} |",
        mib(low.min(high)),
        mib(high)
    );
    let _ = writeln!(
        report,
        "| peak over the process's life (VmHWM) | {:.1} |",
        mib(high_water)
    );
    let _ = writeln!(
        report,
        "| end minus after warm-up | {:+.1} |",
        mib(rss_at_end) - mib(at_warmup)
    );
    let _ = writeln!(
        report,
        "| slope after the warm-up (least squares) | {:+.3} MiB/min |\n",
        slope_mib_per_minute(&after_warmup)
    );
    let _ = writeln!(report, "| call | made | refused |\n|---|---:|---:|");
    let mut all = 0;
    for (kind, name) in KINDS.iter().enumerate() {
        let calls = counters.calls[kind].load(Ordering::Relaxed);
        all += calls;
        let _ = writeln!(
            report,
            "| {name} | {calls} | {} |",
            counters.errors[kind].load(Ordering::Relaxed)
        );
    }
    #[allow(clippy::cast_precision_loss)]
    let rate = all as f64 / settings.duration.as_secs_f64();
    let _ = writeln!(report, "| all | {all} ({rate:.0}/s) | |\n");
    let _ = writeln!(
        report,
        "RSS samples (s after the traffic started: MiB), every minute:\n"
    );
    let per_minute = (60 / settings.sample_interval.as_secs().max(1)).max(1) as usize;
    let line: Vec<String> = samples
        .iter()
        .step_by(per_minute)
        .map(|(at, rss)| format!("{}: {:.1}", at.as_secs(), mib(*rss)))
        .collect();
    let _ = writeln!(report, "{}", line.join(", "));
    report
}
