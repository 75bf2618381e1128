//! PlaceOrder throughput and latency through the gateway on PostgreSQL, against `pgbench`
//! on the same server in the same run.
//!
//! The mesh is [`DistributedMesh`]: `gigmesh serve auth`, `orders` and `payments` on fresh
//! PostgreSQL databases, Kafka (tansu), `gigmesh gateway` in front. Orders learns one gig
//! from its `GigChanged` on the bus; many buyers are signed up through the gateway. Then, for
//! each client count, N clients (each its own HTTP/2 connection) place orders back to back
//! for a fixed time, each call as the next buyer in turn with a fresh request id; once the
//! mesh has caught up (orders' outbox sent, payments has recorded every order), `pgbench -N`
//! runs with the same client count and time on a scratch database of the same server.

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use gigmesh_proto::orders::order_service_client::OrderServiceClient;
use sqlx::{Connection as _, Row as _};
use tokio::process::Command;
use tokio::task::JoinSet;

use crate::cpu::{self, CpuUse};
use crate::distributed::{DistributedMesh, ScratchDatabases, connect_postgres, gigmesh_version};
use crate::market::{self, signed};
use crate::process::connect;
use crate::report::Machine;
use crate::stats::{Latencies, Summary};

/// The share of pgbench's TPS PlaceOrder should reach at the same client count.
const TARGET_SHARE: f64 = 0.5;
/// Children of the benchmark whose CPU time is reported with the gigmesh processes'.
const CHILD_COMMANDS: &[&str] = &["tansu", "pgbench"];
/// How long the mesh may take to catch up after a run.
const CATCH_UP_TIMEOUT: Duration = Duration::from_secs(120);

/// What to run.
#[derive(Debug, Clone)]
pub struct OrdersSettings {
    pub gigmesh_bin: PathBuf,
    pub postgres_url: String,
    pub database_prefix: String,
    pub clients: Vec<usize>,
    pub duration: Duration,
    pub warmup: Duration,
    pub buyers: usize,
    pub pgbench_scale: u32,
}

/// One client count's results.
struct Round {
    clients: usize,
    load_before: String,
    place_order: Throughput,
    catch_up: CatchUp,
    pgbench: PgbenchRun,
    load_after: String,
    place_order_cpu: CpuUse,
    pgbench_cpu: CpuUse,
}

/// PlaceOrder calls of one run.
struct Throughput {
    placed: usize,
    refused: Vec<(String, usize)>,
    elapsed: Duration,
    latencies: Summary,
}

impl Throughput {
    #[allow(clippy::cast_precision_loss)]
    fn per_second(&self) -> f64 {
        self.placed as f64 / self.elapsed.as_secs_f64()
    }
}

/// How far behind the mesh's event pipeline was when a run ended.
struct CatchUp {
    unsent_outbox: i64,
    payments_behind: i64,
    took: Duration,
}

/// What pgbench printed.
struct PgbenchRun {
    tps: f64,
    latency_average_ms: f64,
    transactions: u64,
    failed: u64,
}

/// Runs the benchmark and returns the Markdown report.
pub async fn run(settings: &OrdersSettings) -> anyhow::Result<String> {
    let started = Instant::now();
    let machine = Machine::read();
    let version = gigmesh_version(&settings.gigmesh_bin).await;
    eprintln!("starting tansu, auth, orders, payments and the gateway on PostgreSQL");
    let mesh = DistributedMesh::start(
        &settings.gigmesh_bin,
        &settings.postgres_url,
        &settings.database_prefix,
    )
    .await?;
    let outcome = measure(settings, &mesh).await;
    let tails = if outcome.is_err() {
        mesh.log_tails()
    } else {
        String::new()
    };
    let stopped = mesh.stop().await;
    let (server, rounds) = outcome.with_context(|| format!("the mesh's logs:\n{tails}"))?;
    stopped?;
    Ok(render(
        settings,
        &machine,
        &version,
        &server,
        &rounds,
        started.elapsed(),
    ))
}

async fn measure(
    settings: &OrdersSettings,
    mesh: &DistributedMesh,
) -> anyhow::Result<(ServerFacts, Vec<Round>)> {
    let gateway = mesh.gateway.address;
    let run = format!("{:08x}", rand::random::<u32>());
    eprintln!("signing up {} buyers", settings.buyers);
    let auth_db = mesh.databases.url("auth").context("no auth database")?;
    let buyers =
        Arc::new(market::sign_up_buyers(gateway, auth_db, &run, settings.buyers.max(1)).await?);
    let gig_id = market::publish_gig(&mesh.brokers, market::benchmark_gig()).await?;
    market::wait_until_orderable(gateway, &gig_id, &buyers[0]).await?;
    let gig_id: Arc<str> = gig_id.into();

    let server = ServerFacts::read(&settings.postgres_url).await?;
    let mut pgbench_databases = ScratchDatabases::new(
        &settings.postgres_url,
        &format!("{}_pgbench", settings.database_prefix),
    );
    let pgbench_url = pgbench_databases.create("scratch").await?;
    let pgbench = Pgbench::new(&pgbench_url, settings.pgbench_scale)?;
    eprintln!("pgbench -i -s {}", settings.pgbench_scale);
    pgbench.initialise().await?;

    let mut rounds = Vec::new();
    for &clients in &settings.clients {
        let clients = clients.max(1);
        eprintln!(
            "PlaceOrder: {clients} clients, {:?} warm-up, {:?} measured",
            settings.warmup, settings.duration
        );
        place_orders(gateway, &gig_id, &buyers, clients, settings.warmup).await?;
        catch_up(mesh).await?;
        let load_before = Machine::read().load_average;
        let processes = mesh.processes();
        let place_order_cpu = cpu::during(processes.clone(), CHILD_COMMANDS, settings.duration);
        let place_order =
            place_orders(gateway, &gig_id, &buyers, clients, settings.duration).await?;
        let place_order_cpu = place_order_cpu.await.context("the CPU sampler panicked")?;
        let catch_up = catch_up(mesh).await?;
        eprintln!(
            "  {:.0} orders/s, p50 {:.2} ms, p99 {:.2} ms; pgbench -N -c {clients}",
            place_order.per_second(),
            millis(place_order.latencies.p50),
            millis(place_order.latencies.p99)
        );
        let pgbench_cpu = cpu::during(processes, CHILD_COMMANDS, settings.duration);
        let pgbench = pgbench.run(clients, settings.duration).await?;
        let pgbench_cpu = pgbench_cpu.await.context("the CPU sampler panicked")?;
        eprintln!("  pgbench: {:.0} tps", pgbench.tps);
        rounds.push(Round {
            clients,
            load_before,
            place_order,
            catch_up,
            pgbench,
            load_after: Machine::read().load_average,
            place_order_cpu,
            pgbench_cpu,
        });
    }
    pgbench_databases.drop_all().await?;
    Ok((server, rounds))
}

/// `clients` clients, each on its own connection, placing orders back to back for
/// `duration`, each call as the next of `buyers`.
async fn place_orders(
    gateway: SocketAddr,
    gig_id: &Arc<str>,
    buyers: &Arc<Vec<String>>,
    clients: usize,
    duration: Duration,
) -> anyhow::Result<Throughput> {
    let mut channels = Vec::with_capacity(clients);
    for _ in 0..clients {
        channels.push(connect(gateway).await?);
    }
    let started = Instant::now();
    let deadline = started + duration;
    let mut tasks = JoinSet::new();
    for (client, channel) in channels.into_iter().enumerate() {
        let gig_id = gig_id.clone();
        let buyers = buyers.clone();
        tasks.spawn(async move {
            let mut orders = OrderServiceClient::new(channel);
            let mut latencies = Latencies::with_capacity(8_192);
            let mut refused: Vec<(String, usize)> = Vec::new();
            let mut call = client;
            while Instant::now() < deadline {
                let token = &buyers[call % buyers.len()];
                call += clients;
                let request = signed(market::place_request(&gig_id), token)?;
                let sent = Instant::now();
                match orders.place_order(request).await {
                    Ok(_) => latencies.record(sent.elapsed()),
                    Err(status) => {
                        let code = format!("{:?}", status.code());
                        match refused.iter_mut().find(|(known, _)| *known == code) {
                            Some((_, count)) => *count += 1,
                            None => {
                                tracing::warn!(
                                    code,
                                    message = status.message(),
                                    "PlaceOrder refused"
                                );
                                refused.push((code, 1));
                            }
                        }
                    }
                }
            }
            anyhow::Ok((latencies, refused))
        });
    }
    let mut all = Latencies::default();
    let mut refused: Vec<(String, usize)> = Vec::new();
    while let Some(joined) = tasks.join_next().await {
        let (latencies, client_refused) = joined.context("a client panicked")??;
        all.extend(latencies);
        for (code, count) in client_refused {
            match refused.iter_mut().find(|(known, _)| *known == code) {
                Some((_, total)) => *total += count,
                None => refused.push((code, count)),
            }
        }
    }
    let elapsed = started.elapsed();
    let latencies = all.summary();
    Ok(Throughput {
        placed: latencies.count,
        refused,
        elapsed,
        latencies,
    })
}

/// Waits until orders' outbox is sent and payments has recorded every order, so the next
/// run starts on a quiet mesh; says how far behind it was.
async fn catch_up(mesh: &DistributedMesh) -> anyhow::Result<CatchUp> {
    let orders_url = mesh.databases.url("orders").context("no orders database")?;
    let payments_url = mesh
        .databases
        .url("payments")
        .context("no payments database")?;
    let mut orders_db = connect_postgres(orders_url).await?;
    let mut payments_db = connect_postgres(payments_url).await?;
    let started = Instant::now();
    let mut first = None;
    loop {
        let unsent: i64 =
            sqlx::query("SELECT COUNT(*) AS unsent FROM outbox WHERE send_time IS NULL")
                .fetch_one(&mut orders_db)
                .await?
                .try_get("unsent")?;
        let placed: i64 = sqlx::query("SELECT COUNT(*) AS placed FROM orders")
            .fetch_one(&mut orders_db)
            .await?
            .try_get("placed")?;
        let known: i64 = sqlx::query("SELECT COUNT(*) AS known FROM orders")
            .fetch_one(&mut payments_db)
            .await?
            .try_get("known")?;
        let behind = placed - known;
        let (unsent_outbox, payments_behind) = *first.get_or_insert((unsent, behind));
        if unsent == 0 && behind <= 0 {
            orders_db.close().await.ok();
            payments_db.close().await.ok();
            return Ok(CatchUp {
                unsent_outbox,
                payments_behind,
                took: started.elapsed(),
            });
        }
        anyhow::ensure!(
            started.elapsed() < CATCH_UP_TIMEOUT,
            "the mesh did not catch up within {CATCH_UP_TIMEOUT:?}: {unsent} unsent, \
             payments {behind} orders behind"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// pgbench against one scratch database.
struct Pgbench {
    host: String,
    port: u16,
    user: String,
    database: String,
    scale: u32,
}

impl Pgbench {
    fn new(url: &str, scale: u32) -> anyhow::Result<Self> {
        let options: sqlx::postgres::PgConnectOptions =
            url.parse().context("the PostgreSQL URL is not valid")?;
        Ok(Self {
            host: options.get_host().to_owned(),
            port: options.get_port(),
            user: options.get_username().to_owned(),
            database: options
                .get_database()
                .context("the scratch URL names no database")?
                .to_owned(),
            scale: scale.max(1),
        })
    }

    fn command(&self) -> Command {
        let mut command = Command::new("pgbench");
        command
            .args(["-h", &self.host])
            .args(["-p", &self.port.to_string()])
            .args(["-U", &self.user])
            .kill_on_drop(true);
        command
    }

    async fn initialise(&self) -> anyhow::Result<()> {
        let output = self
            .command()
            .args(["-i", "-q", "-s", &self.scale.to_string(), &self.database])
            .output()
            .await
            .context("cannot run pgbench (is it installed?)")?;
        anyhow::ensure!(
            output.status.success(),
            "pgbench -i failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        Ok(())
    }

    /// `pgbench -N -n -M prepared -c clients -j 2 -T seconds`, tried again (up to three
    /// times in all) when the shared server had no connection left for it.
    async fn run(&self, clients: usize, duration: Duration) -> anyhow::Result<PgbenchRun> {
        const ATTEMPTS: usize = 3;
        let mut attempt = 1;
        loop {
            match self.run_once(clients, duration).await {
                Err(error)
                    if attempt < ATTEMPTS && format!("{error:#}").contains("too many clients") =>
                {
                    eprintln!("  pgbench found no free connection; trying again in 5 s");
                    attempt += 1;
                    tokio::time::sleep(Duration::from_secs(5)).await;
                }
                outcome => return outcome,
            }
        }
    }

    async fn run_once(&self, clients: usize, duration: Duration) -> anyhow::Result<PgbenchRun> {
        let threads = clients.min(2);
        let output = self
            .command()
            .args(["-N", "-n", "-M", "prepared"])
            .args(["-c", &clients.to_string()])
            .args(["-j", &threads.to_string()])
            .args(["-T", &duration.as_secs().max(1).to_string()])
            .arg(&self.database)
            .output()
            .await
            .context("cannot run pgbench")?;
        let text = String::from_utf8_lossy(&output.stdout);
        anyhow::ensure!(
            output.status.success(),
            "pgbench failed: {text}{}",
            String::from_utf8_lossy(&output.stderr)
        );
        parse_pgbench(&text)
    }
}

fn parse_pgbench(text: &str) -> anyhow::Result<PgbenchRun> {
    let number_after = |prefix: &str| -> Option<f64> {
        text.lines()
            .find_map(|line| line.trim().strip_prefix(prefix))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|number| number.parse().ok())
    };
    let transactions = text
        .lines()
        .find_map(|line| {
            line.trim()
                .strip_prefix("number of transactions actually processed:")
        })
        .and_then(|rest| rest.split('/').next())
        .and_then(|number| number.trim().parse().ok())
        .context("pgbench printed no transaction count")?;
    Ok(PgbenchRun {
        tps: number_after("tps =").context("pgbench printed no tps")?,
        latency_average_ms: number_after("latency average =").unwrap_or(f64::NAN),
        transactions,
        failed: number_after("number of failed transactions:").map_or(0, |failed| failed as u64),
    })
}

/// What matters about the PostgreSQL server for these numbers.
struct ServerFacts {
    version: String,
    settings: Vec<(String, String)>,
}

impl ServerFacts {
    async fn read(server_url: &str) -> anyhow::Result<Self> {
        let mut connection = connect_postgres(server_url).await?;
        let version: String = sqlx::query("SELECT version() AS version")
            .fetch_one(&mut connection)
            .await?
            .try_get("version")?;
        let mut settings = Vec::new();
        for name in [
            "max_connections",
            "shared_buffers",
            "synchronous_commit",
            "fsync",
            "wal_level",
        ] {
            let value: String = sqlx::query("SELECT current_setting($1) AS value")
                .bind(name)
                .fetch_one(&mut connection)
                .await?
                .try_get("value")?;
            settings.push((name.to_owned(), value));
        }
        connection.close().await.ok();
        Ok(Self { version, settings })
    }
}

fn millis(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1_000.0
}

fn render(
    settings: &OrdersSettings,
    machine: &Machine,
    version: &str,
    server: &ServerFacts,
    rounds: &[Round],
    total: Duration,
) -> String {
    let mut report = String::new();
    let _ = writeln!(
        report,
        "PlaceOrder through `gigmesh gateway` → `gigmesh serve orders` (PostgreSQL, Kafka on \
         tansu) against `pgbench -N -n -M prepared` on the same server: {} buyers, {} s \
         warm-up and {} s measured per client count ({:.0} s in all).\n",
        settings.buyers,
        settings.warmup.as_secs(),
        settings.duration.as_secs(),
        total.as_secs_f64()
    );
    let _ = writeln!(
        report,
        "Machine: `{}`, {} logical CPUs, load average {} at the start. {version}. {}.",
        machine.cpu_model, machine.logical_cpus, machine.load_average, server.version
    );
    let server_settings: Vec<String> = server
        .settings
        .iter()
        .map(|(name, value)| format!("{name} = {value}"))
        .collect();
    let _ = writeln!(
        report,
        "Server settings: {}; pgbench scale {}.\n",
        server_settings.join(", "),
        settings.pgbench_scale
    );
    let _ = writeln!(
        report,
        "| clients | PlaceOrder/s | p50 ms | p90 ms | p99 ms | max ms | refused | pgbench tps | \
         pgbench latency avg ms | PlaceOrder ÷ pgbench | target ≥ {:.0}% | load before → after |",
        TARGET_SHARE * 100.0
    );
    let _ = writeln!(
        report,
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---|"
    );
    for round in rounds {
        let share = round.place_order.per_second() / round.pgbench.tps;
        let refused: usize = round
            .place_order
            .refused
            .iter()
            .map(|(_, count)| count)
            .sum();
        let _ = writeln!(
            report,
            "| {} | {:.0} | {:.2} | {:.2} | {:.2} | {:.2} | {} | {:.0} | {:.2} | {:.0}% | {} | {} → {} |",
            round.clients,
            round.place_order.per_second(),
            millis(round.place_order.latencies.p50),
            millis(round.place_order.latencies.p90),
            millis(round.place_order.latencies.p99),
            millis(round.place_order.latencies.max),
            refused,
            round.pgbench.tps,
            round.pgbench.latency_average_ms,
            share * 100.0,
            if share >= TARGET_SHARE {
                "met"
            } else {
                "missed"
            },
            round.load_before,
            round.load_after
        );
    }
    let _ = writeln!(report);
    render_cpu(&mut report, rounds);
    for round in rounds {
        let _ = writeln!(
            report,
            "- {} clients: {} orders placed in {:.1} s{}; when the run ended orders' outbox had \
             {} unsent events and payments was {} orders behind, caught up {:.1} s later; \
             pgbench: {} transactions, {} failed.",
            round.clients,
            round.place_order.placed,
            round.place_order.elapsed.as_secs_f64(),
            if round.place_order.refused.is_empty() {
                String::new()
            } else {
                let refused: Vec<String> = round
                    .place_order
                    .refused
                    .iter()
                    .map(|(code, count)| format!("{count} {code}"))
                    .collect();
                format!(" (refused: {})", refused.join(", "))
            },
            round.catch_up.unsent_outbox,
            round.catch_up.payments_behind,
            round.catch_up.took.as_secs_f64(),
            round.pgbench.transactions,
            round.pgbench.failed
        );
    }
    report
}

/// Cores each process kept busy during each run.
fn render_cpu(report: &mut String, rounds: &[Round]) {
    let mut header =
        "| cores used (CPU s per s, from 1 s after the start to 1 s before the end) |".to_owned();
    let mut rule = "|---|".to_owned();
    for round in rounds {
        let _ = write!(
            header,
            " PlaceOrder, {0} clients | pgbench, {0} clients |",
            round.clients
        );
        rule.push_str("---:|---:|");
    }
    let _ = writeln!(report, "{header}\n{rule}");
    let Some(first) = rounds.first() else {
        return;
    };
    for (index, (name, _)) in first.place_order_cpu.groups.iter().enumerate() {
        let mut line = format!("| {name} |");
        for round in rounds {
            for used in [&round.place_order_cpu, &round.pgbench_cpu] {
                let cores = used.groups.get(index).map_or(0.0, |(_, cores)| *cores);
                let _ = write!(line, " {cores:.2} |");
            }
        }
        let _ = writeln!(report, "{line}");
    }
    let mut line = "| whole machine (every process, ours or not) |".to_owned();
    for round in rounds {
        for used in [&round.place_order_cpu, &round.pgbench_cpu] {
            let _ = write!(line, " {:.2} |", used.machine);
        }
    }
    let _ = writeln!(report, "{line}\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pgbench_output_is_read() {
        let text = "transaction type: <builtin: simple update>\n\
                    scaling factor: 10\n\
                    number of clients: 8\n\
                    number of transactions actually processed: 41234\n\
                    number of failed transactions: 0 (0.000%)\n\
                    latency average = 3.880 ms\n\
                    initial connection time = 12.101 ms\n\
                    tps = 2061.712 (without initial connection time)\n";
        let run = parse_pgbench(text).expect("parsed");
        assert_eq!(run.transactions, 41_234);
        assert_eq!(run.failed, 0);
        assert!((run.tps - 2061.712).abs() < 1e-9);
        assert!((run.latency_average_ms - 3.88).abs() < 1e-9);
    }

    #[test]
    fn pgbench_output_without_tps_is_an_error() {
        assert!(parse_pgbench("number of transactions actually processed: 1\n").is_err());
    }
}
