//! CPU time of the processes a benchmark runs, from `/proc` (Linux): to say which process
//! used the machine's cores during a run. Times are in clock ticks of 1/100 s (`USER_HZ`,
//! 100 on every Linux architecture the benchmarks run on).

use std::collections::BTreeMap;
use std::time::Duration;

/// Clock ticks per second in `/proc/<pid>/stat` and `/proc/stat`.
const TICKS_PER_SECOND: f64 = 100.0;

/// CPU seconds used so far by each group of processes, and by the whole machine.
#[derive(Debug, Clone, Default)]
pub struct CpuTimes {
    groups: BTreeMap<String, f64>,
    machine_busy: f64,
}

/// How many cores each group kept busy between two [`CpuTimes`].
#[derive(Debug, Clone)]
pub struct CpuUse {
    /// Group name and cores used on average, in the order of the names.
    pub groups: Vec<(String, f64)>,
    /// Cores busy on the whole machine (every process, ours or not).
    pub machine: f64,
}

/// Reads the CPU seconds of `named` processes (name, pid), of this process (`"benchmark
/// clients"`), of this process's children whose command is one of `child_commands`
/// (grouped by command), and of every `postgres` process on the machine.
pub fn read(named: &[(&str, u32)], child_commands: &[&str]) -> CpuTimes {
    let mut groups = BTreeMap::new();
    for (name, pid) in named {
        if let Some(stat) = read_stat(*pid) {
            *groups.entry((*name).to_owned()).or_insert(0.0) += stat.seconds;
        }
    }
    let own = std::process::id();
    if let Some(stat) = read_stat(own) {
        groups.insert("benchmark clients".to_owned(), stat.seconds);
    }
    let postgres = "postgres (every backend on the server)".to_owned();
    groups.entry(postgres.clone()).or_insert(0.0);
    for command in child_commands {
        groups.entry((*command).to_owned()).or_insert(0.0);
    }
    if let Ok(entries) = std::fs::read_dir("/proc") {
        for entry in entries.flatten() {
            let Some(pid) = entry
                .file_name()
                .to_str()
                .and_then(|name| name.parse::<u32>().ok())
            else {
                continue;
            };
            let Some(stat) = read_stat(pid) else {
                continue;
            };
            if stat.command == "postgres" {
                *groups.entry(postgres.clone()).or_insert(0.0) += stat.seconds;
            } else if stat.parent == own && child_commands.contains(&stat.command.as_str()) {
                *groups.entry(stat.command.clone()).or_insert(0.0) += stat.seconds;
            }
        }
    }
    CpuTimes {
        groups,
        machine_busy: machine_busy_seconds().unwrap_or(0.0),
    }
}

/// Spawns a task that reads the CPU times 1 s after now and again 1 s before `duration` is
/// over, and answers the cores used in between: the window sees only processes that live
/// through the run (pgbench and its backends exit when it ends).
pub fn during(
    named: Vec<(&'static str, u32)>,
    child_commands: &'static [&'static str],
    duration: Duration,
) -> tokio::task::JoinHandle<CpuUse> {
    const MARGIN: Duration = Duration::from_secs(1);
    tokio::spawn(async move {
        let window = duration.saturating_sub(2 * MARGIN).max(MARGIN);
        tokio::time::sleep(MARGIN).await;
        let before = read(&named, child_commands);
        let started = std::time::Instant::now();
        tokio::time::sleep(window).await;
        read(&named, child_commands).since(&before, started.elapsed())
    })
}

impl CpuTimes {
    /// Cores used on average by each group from `earlier` to `self`, over `elapsed`. A
    /// process that ended in between (a postgres backend) is missing from the later reading,
    /// so a group's figure is a lower bound.
    pub fn since(&self, earlier: &CpuTimes, elapsed: Duration) -> CpuUse {
        let seconds = elapsed.as_secs_f64().max(f64::EPSILON);
        let groups = self
            .groups
            .iter()
            .map(|(name, now)| {
                let before = earlier.groups.get(name).copied().unwrap_or(0.0);
                (name.clone(), ((now - before) / seconds).max(0.0))
            })
            .collect();
        CpuUse {
            groups,
            machine: ((self.machine_busy - earlier.machine_busy) / seconds).max(0.0),
        }
    }
}

struct Stat {
    command: String,
    parent: u32,
    seconds: f64,
}

/// utime + stime of `pid`, its command and its parent.
fn read_stat(pid: u32) -> Option<Stat> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command is in parentheses and may hold spaces: the fields follow the last ')'.
    let open = text.find('(')?;
    let close = text.rfind(')')?;
    let command = text.get(open + 1..close)?.to_owned();
    let fields: Vec<&str> = text.get(close + 1..)?.split_whitespace().collect();
    // After the command: state (field 3), ppid (4), … utime (14), stime (15).
    let parent = fields.get(1)?.parse().ok()?;
    let user: f64 = fields.get(11)?.parse().ok()?;
    let system: f64 = fields.get(12)?.parse().ok()?;
    Some(Stat {
        command,
        parent,
        seconds: (user + system) / TICKS_PER_SECOND,
    })
}

/// Seconds the machine's CPUs spent busy (not idle, not waiting for IO) since boot.
fn machine_busy_seconds() -> Option<f64> {
    let text = std::fs::read_to_string("/proc/stat").ok()?;
    let line = text.lines().find(|line| line.starts_with("cpu "))?;
    let ticks: Vec<f64> = line
        .split_whitespace()
        .skip(1)
        .filter_map(|field| field.parse().ok())
        .collect();
    // user nice system idle iowait irq softirq steal (guest times are within user).
    let total: f64 = ticks.iter().take(8).sum();
    let idle = ticks.get(3)? + ticks.get(4)?;
    Some((total - idle) / TICKS_PER_SECOND)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_has_a_stat_and_the_machine_is_busy_sometimes() {
        let stat = read_stat(std::process::id()).expect("own stat");
        assert!(!stat.command.is_empty());
        assert!(machine_busy_seconds().expect("machine") > 0.0);
    }

    #[test]
    fn use_is_the_difference_over_the_time() {
        let earlier = CpuTimes {
            groups: BTreeMap::from([("a".to_owned(), 1.0)]),
            machine_busy: 10.0,
        };
        let later = CpuTimes {
            groups: BTreeMap::from([("a".to_owned(), 3.0), ("b".to_owned(), 1.0)]),
            machine_busy: 14.0,
        };
        let used = later.since(&earlier, Duration::from_secs(2));
        assert_eq!(
            used.groups,
            vec![("a".to_owned(), 1.0), ("b".to_owned(), 0.5)]
        );
        assert!((used.machine - 2.0).abs() < 1e-9);
    }
}
