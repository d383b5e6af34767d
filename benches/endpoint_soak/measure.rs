//! What the endpoint soak measures: percentiles, resident memory and CPU time of processes.

pub fn percentile(values: &[f64], p: f64) -> f64 {
    if values.is_empty() {
        return f64::NAN;
    }
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let i = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[i]
}

pub fn rss_of(pid: u32) -> u64 {
    super::edge::rss_of(pid)
}

pub fn rss_mb(pid: u32) -> f64 {
    rss_of(pid) as f64 / 1e6
}

/// CPU seconds (user and system) of process `pid`.
pub fn cpu_of(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // utime and stime are fields 14 and 15 of the line, 12 and 13 after the name.
    (ticks(11) + ticks(12)) / 100.0
}

pub fn own_cpu() -> f64 {
    cpu_of(std::process::id())
}

/// CPU seconds of the postmaster and its backends (children that exited included).
pub fn tree_cpu(postmaster: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{postmaster}/stat")).unwrap_or_default();
    let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    let mut total = (ticks(11) + ticks(12) + ticks(13) + ticks(14)) / 100.0;
    if let Ok(children) =
        std::fs::read_to_string(format!("/proc/{postmaster}/task/{postmaster}/children"))
    {
        total += children
            .split_whitespace()
            .filter_map(|p| p.parse::<u32>().ok())
            .map(cpu_of)
            .sum::<f64>();
    }
    total
}
