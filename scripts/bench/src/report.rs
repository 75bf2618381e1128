//! The Markdown report of the gateway benchmark.

use std::fmt::Write as _;
use std::time::Duration;

use gigmesh_auth_service::Argon2Config;

use crate::measure::UnderLoad;
use crate::stats::{Latencies, Summary};

/// The p50 overhead the gateway may add to a call (from the issue that asked for this
/// benchmark).
const GATEWAY_P50_BUDGET: Duration = Duration::from_micros(200);

/// The machine the numbers were taken on.
#[derive(Debug, Clone)]
pub struct Machine {
    pub cpu_model: String,
    pub logical_cpus: usize,
    pub load_average: String,
}

impl Machine {
    /// Reads the CPU model and load average from `/proc` (Linux), or says they are unknown.
    pub fn read() -> Self {
        let cpu_model = std::fs::read_to_string("/proc/cpuinfo")
            .ok()
            .and_then(|cpuinfo| {
                cpuinfo
                    .lines()
                    .find(|line| line.starts_with("model name"))
                    .and_then(|line| line.split_once(':'))
                    .map(|(_, model)| model.trim().to_owned())
            })
            .unwrap_or_else(|| "unknown".to_owned());
        let load_average = std::fs::read_to_string("/proc/loadavg")
            .ok()
            .map(|text| {
                text.split_whitespace()
                    .take(3)
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .unwrap_or_else(|| "unknown".to_owned());
        Self {
            cpu_model,
            logical_cpus: std::thread::available_parallelism().map_or(0, usize::from),
            load_average,
        }
    }
}

/// How the benchmark was run.
#[derive(Debug, Clone)]
pub struct Settings {
    pub warmup: usize,
    pub calls: usize,
    pub concurrency: usize,
    pub concurrent_calls: usize,
    pub logins: usize,
    pub argon2: Argon2Config,
}

/// Everything measured, each list in the order of `target_names`.
#[derive(Debug)]
pub struct Results {
    pub target_names: Vec<&'static str>,
    pub one_at_a_time: Vec<Latencies>,
    pub many_at_once: Vec<UnderLoad>,
    pub sign_ins: Vec<Latencies>,
    pub password_verification: Latencies,
    pub first_token_verification: Latencies,
    pub repeated_token_verification: Latencies,
}

/// Renders the report; the first target is the baseline the others are compared with.
pub fn render(
    machine_before: &Machine,
    machine_after: &Machine,
    settings: &Settings,
    results: &Results,
) -> String {
    let mut report = String::new();
    let argon2 = &settings.argon2;
    let _ = writeln!(report, "### Machine and settings\n");
    let _ = writeln!(
        report,
        "- CPU: {} ({} logical CPUs); load average {} before, {} after",
        machine_before.cpu_model,
        machine_before.logical_cpus,
        machine_before.load_average,
        machine_after.load_average
    );
    let _ = writeln!(
        report,
        "- GetMyAccount: {} warm-up + {} measured calls per target one at a time; {} per target with {} in flight",
        settings.warmup, settings.calls, settings.concurrent_calls, settings.concurrency
    );
    let _ = writeln!(
        report,
        "- LogIn: {} sign-ins per target one at a time; argon2id m={} KiB, t={}, p={}\n",
        settings.logins, argon2.memory_kib, argon2.iterations, argon2.parallelism
    );

    let baseline = results.one_at_a_time.first().map(Latencies::summary);
    let _ = writeln!(
        report,
        "### GetMyAccount, one call in flight (latencies in ms)\n"
    );
    let _ = writeln!(
        report,
        "| target | calls | p50 | p90 | p99 | mean | p50 − direct | mean − direct |"
    );
    let _ = writeln!(report, "|---|---:|---:|---:|---:|---:|---:|---:|");
    for (index, (name, latencies)) in results
        .target_names
        .iter()
        .zip(&results.one_at_a_time)
        .enumerate()
    {
        let summary = latencies.summary();
        let (p50_overhead, mean_overhead) = match &baseline {
            Some(baseline) if index > 0 => (
                signed_ms(summary.p50, baseline.p50),
                signed_ms(summary.mean, baseline.mean),
            ),
            _ => ("—".to_owned(), "—".to_owned()),
        };
        let _ = writeln!(
            report,
            "| {name} | {} | {} | {} | {} | {} | {p50_overhead} | {mean_overhead} |",
            summary.count,
            ms(summary.p50),
            ms(summary.p90),
            ms(summary.p99),
            ms(summary.mean),
        );
    }
    if let Some(baseline) = &baseline {
        let _ = writeln!(report);
        for (name, latencies) in results
            .target_names
            .iter()
            .zip(&results.one_at_a_time)
            .skip(1)
        {
            let overhead = latencies.summary().p50.saturating_sub(baseline.p50);
            let verdict = if overhead < GATEWAY_P50_BUDGET {
                "within"
            } else {
                "over"
            };
            let _ = writeln!(
                report,
                "- {name}: adds {} ms at p50, {verdict} the {} ms budget",
                ms(overhead),
                ms(GATEWAY_P50_BUDGET)
            );
        }
    }

    let first = results.first_token_verification.summary();
    let repeated = results.repeated_token_verification.summary();
    let _ = writeln!(
        report,
        "- for scale: verifying an access token takes {} µs at p50 the first time a verifier sees it (Ed25519 signature, claims) and {} µs when it sees it again ({} runs each); the direct call verifies once (in the service), a gateway call twice (gateway, then service)",
        micros(first.p50),
        micros(repeated.p50),
        first.count
    );

    let _ = writeln!(
        report,
        "\n### GetMyAccount, {} calls in flight on one channel per target (latencies in ms)\n",
        settings.concurrency
    );
    let _ = writeln!(report, "| target | calls | calls/s | p50 | p90 | p99 |");
    let _ = writeln!(report, "|---|---:|---:|---:|---:|---:|");
    for (name, under_load) in results.target_names.iter().zip(&results.many_at_once) {
        let summary = under_load.latencies.summary();
        let _ = writeln!(
            report,
            "| {name} | {} | {:.0} | {} | {} | {} |",
            under_load.calls,
            under_load.calls_per_second(),
            ms(summary.p50),
            ms(summary.p90),
            ms(summary.p99),
        );
    }

    let _ = writeln!(report, "\n### LogIn, one at a time (latencies in ms)\n");
    let _ = writeln!(report, "| target | sign-ins | p50 | p99 | mean | max |");
    let _ = writeln!(report, "|---|---:|---:|---:|---:|---:|");
    for (name, latencies) in results.target_names.iter().zip(&results.sign_ins) {
        write_latency_row(&mut report, name, &latencies.summary());
    }
    write_latency_row(
        &mut report,
        "argon2id verify alone, one thread, no server",
        &results.password_verification.summary(),
    );
    report
}

fn write_latency_row(report: &mut String, name: &str, summary: &Summary) {
    let _ = writeln!(
        report,
        "| {name} | {} | {} | {} | {} | {} |",
        summary.count,
        ms(summary.p50),
        ms(summary.p99),
        ms(summary.mean),
        ms(summary.max),
    );
}

/// Milliseconds with microsecond precision.
fn ms(duration: Duration) -> String {
    format!("{:.3}", duration.as_secs_f64() * 1000.0)
}

/// Microseconds with nanosecond precision.
fn micros(duration: Duration) -> String {
    format!("{:.3}", duration.as_secs_f64() * 1_000_000.0)
}

/// `value − baseline` in milliseconds, with its sign.
fn signed_ms(value: Duration, baseline: Duration) -> String {
    let difference = value.as_secs_f64() - baseline.as_secs_f64();
    format!("{:+.3}", difference * 1000.0)
}
