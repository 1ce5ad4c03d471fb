//! Where the CPU went during a measurement: each process's user and system time (its own and
//! its reaped children's) from `/proc/<pid>/stat` before and after, grouped as this program
//! (the harness and the in-process API), the worker process, and this checkout's dev servers
//! (sshd with the sessions and helpers below it, PostgreSQL, RabbitMQ, S3), beside the whole
//! machine's busy time from `/proc/stat` (so another checkout's load shows as "other").

use std::collections::{BTreeMap, HashMap};

/// One look at every process and at the machine.
pub struct CpuSnapshot {
    /// Busy and all clock ticks of the machine, every core summed.
    machine_busy: u64,
    machine_all: u64,
    processes: HashMap<u32, Process>,
}

struct Process {
    parent: u32,
    /// utime + stime + cutime + cstime, in clock ticks.
    ticks: u64,
    name: String,
    /// Whether its command line names this checkout's dev folder (a dev server's root).
    ours: bool,
}

impl CpuSnapshot {
    /// `marker` is this checkout's `.ferry-dev` folder, which each dev server's command line
    /// names.
    pub fn take(marker: &str) -> CpuSnapshot {
        let (machine_busy, machine_all) = machine_ticks().unwrap_or_default();
        let mut processes = HashMap::new();
        let Ok(entries) = std::fs::read_dir("/proc") else {
            return CpuSnapshot {
                machine_busy,
                machine_all,
                processes,
            };
        };
        for entry in entries.flatten() {
            let Some(pid) = entry
                .file_name()
                .to_str()
                .and_then(|n| n.parse::<u32>().ok())
            else {
                continue;
            };
            if let Some(process) = read_process(pid, marker) {
                processes.insert(pid, process);
            }
        }
        CpuSnapshot {
            machine_busy,
            machine_all,
            processes,
        }
    }
}

fn machine_ticks() -> Option<(u64, u64)> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let line = stat.lines().next()?.strip_prefix("cpu ")?;
    let values: Vec<u64> = line
        .split_whitespace()
        .filter_map(|v| v.parse().ok())
        .collect();
    let all: u64 = values.iter().take(8).sum();
    let idle = values.get(3)? + values.get(4)?;
    Some((all - idle, all))
}

fn read_process(pid: u32, marker: &str) -> Option<Process> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let open = stat.find('(')?;
    let close = stat.rfind(')')?;
    let name = stat[open + 1..close].to_owned();
    // Fields after the name, numbered from 3 (state) as in proc(5).
    let fields: Vec<&str> = stat[close + 1..].split_whitespace().collect();
    let field = |number: usize| -> Option<u64> { fields.get(number - 3)?.parse().ok() };
    let ticks = field(14)? + field(15)? + field(16)? + field(17)?;
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    let ours = String::from_utf8_lossy(&cmdline).contains(marker);
    Some(Process {
        parent: u32::try_from(field(4)?).ok()?,
        ticks,
        name,
        ours,
    })
}

/// The group a process's CPU counts for, found through its ancestors.
fn group(snapshot: &CpuSnapshot, pid: u32, own: u32, worker: u32) -> String {
    let mut current = pid;
    for _ in 0..64 {
        if current == worker {
            return "worker".into();
        }
        if current == own {
            return "bench+api".into();
        }
        let Some(process) = snapshot.processes.get(&current) else {
            break;
        };
        if process.ours {
            return match process.name.as_str() {
                "sshd" => "sshd+helper".into(),
                "beam.smp" => "rabbitmq".into(),
                "ferry-dev-s3" => "s3".into(),
                other => other.to_owned(),
            };
        }
        if process.parent <= 1 {
            break;
        }
        current = process.parent;
    }
    "other".into()
}

/// CPU seconds per group between two snapshots, and the machine's, as one line.
pub fn report(before: &CpuSnapshot, after: &CpuSnapshot, own: u32, worker: u32) -> String {
    let per_second = 100.0; // USER_HZ on Linux
    let mut groups: BTreeMap<String, u64> = BTreeMap::new();
    let mut ours = 0;
    for (pid, process) in &after.processes {
        let earlier = before
            .processes
            .get(pid)
            .filter(|earlier| earlier.name == process.name)
            .map_or(0, |earlier| earlier.ticks);
        let used = process.ticks.saturating_sub(earlier);
        let name = group(after, *pid, own, worker);
        if name != "other" {
            ours += used;
            *groups.entry(name).or_default() += used;
        }
    }
    let busy = after.machine_busy.saturating_sub(before.machine_busy);
    let all = after.machine_all.saturating_sub(before.machine_all);
    let mut line = String::from("cpu seconds:");
    let mut ranked: Vec<_> = groups.into_iter().filter(|(_, t)| *t > 0).collect();
    ranked.sort_by_key(|(_, ticks)| std::cmp::Reverse(*ticks));
    for (name, ticks) in ranked {
        line.push_str(&format!(" {name} {:.1},", ticks as f64 / per_second));
    }
    line.push_str(&format!(
        " other processes {:.1}; machine busy {:.1} of {:.1}",
        busy.saturating_sub(ours) as f64 / per_second,
        busy as f64 / per_second,
        all as f64 / per_second
    ));
    line
}
