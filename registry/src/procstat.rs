//! Process and thread statistics the benchmarks report, read from Linux's
//! `/proc`; `None` on platforms without it.

use std::time::Duration;

/// Resident memory of this process (`VmRSS` of `/proc/self/status`).
pub fn rss_bytes() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = s.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// Time the calling thread has run on a CPU, from the scheduler's statistics
/// (`/proc/thread-self/schedstat`): unlike the wall clock, it does not count
/// waiting for a core, which on a loaded machine can dominate. The counter
/// only advances at scheduler ticks and switches (a few milliseconds), so
/// only differences over many operations mean something, never one.
pub fn thread_cpu_time() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    stat.split_whitespace()
        .next()?
        .parse()
        .ok()
        .map(Duration::from_nanos)
}
