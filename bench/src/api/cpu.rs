//! CPU accounting per case: how much of the two cores the server, the benchmark
//! client and everything else on the (shared) machine used. The machine is noisy, so
//! throughput per server core-second is the figure that compares across runs.

use std::time::Instant;

use serde_json::{json, Value};

use crate::report::round;

/// Linux reports process and machine CPU times in USER_HZ ticks, 100 per second
/// on every architecture we run on (it is part of the kernel ABI, unlike HZ).
const TICKS_PER_SEC: f64 = 100.0;

#[derive(Clone, Copy)]
pub struct CpuSample {
    at: Instant,
    server: f64,
    bench: f64,
    machine_busy: f64,
}

/// What happened between two samples, in cores (1.0 = one core busy all the time).
pub struct CpuUse {
    pub seconds: f64,
    pub server_cores: f64,
    pub bench_cores: f64,
    pub other_cores: f64,
}

impl CpuSample {
    pub fn take(server_pid: u32) -> anyhow::Result<CpuSample> {
        Ok(CpuSample {
            at: Instant::now(),
            server: process_seconds(&format!("/proc/{server_pid}/stat"))?,
            bench: process_seconds("/proc/self/stat")?,
            machine_busy: machine_busy_seconds()?,
        })
    }

    pub fn since(&self, earlier: &CpuSample) -> CpuUse {
        let seconds = self.at.duration_since(earlier.at).as_secs_f64();
        let cores = |now: f64, then: f64| (now - then) / seconds;
        let server_cores = cores(self.server, earlier.server);
        let bench_cores = cores(self.bench, earlier.bench);
        let other_cores = (cores(self.machine_busy, earlier.machine_busy) - server_cores - bench_cores).max(0.0);
        CpuUse { seconds, server_cores, bench_cores, other_cores }
    }
}

impl CpuUse {
    pub fn server_cpu_seconds(&self) -> f64 {
        self.server_cores * self.seconds
    }

    pub fn json(&self) -> Value {
        json!({
            "server_cores": round(self.server_cores), "bench_cores": round(self.bench_cores),
            "other_cores": round(self.other_cores),
        })
    }
}

/// utime + stime of a process (fields 14 and 15 of /proc/<pid>/stat, counted after
/// the command name, which may itself hold spaces and parentheses).
fn process_seconds(path: &str) -> anyhow::Result<f64> {
    let stat = std::fs::read_to_string(path)?;
    let after_name = &stat[stat.rfind(')').ok_or_else(|| anyhow::anyhow!("odd {path}"))? + 1..];
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    anyhow::ensure!(fields.len() > 12, "short {path}");
    Ok((fields[11].parse::<u64>()? + fields[12].parse::<u64>()?) as f64 / TICKS_PER_SEC)
}

/// Busy time of all CPUs: the `cpu` line of /proc/stat without idle and iowait.
fn machine_busy_seconds() -> anyhow::Result<f64> {
    let stat = std::fs::read_to_string("/proc/stat")?;
    let line = stat.lines().next().unwrap_or_default();
    let ticks: Vec<u64> = line.split_whitespace().skip(1).map(|f| f.parse().unwrap_or(0)).collect();
    anyhow::ensure!(ticks.len() >= 8, "odd /proc/stat");
    // user nice system idle iowait irq softirq steal
    Ok((ticks[0] + ticks[1] + ticks[2] + ticks[5] + ticks[6] + ticks[7]) as f64 / TICKS_PER_SEC)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_this_process() {
        assert!(process_seconds("/proc/self/stat").unwrap() >= 0.0);
        assert!(machine_busy_seconds().unwrap() > 0.0);
    }
}
