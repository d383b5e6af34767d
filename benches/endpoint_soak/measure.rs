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

/// The sum of these fields of `/proc/PID/stat` (counted after the command's name), in seconds.
fn stat_seconds(pid: u32, fields: &[usize]) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let values: Vec<&str> = after.split_whitespace().collect();
    let ticks: f64 = fields
        .iter()
        .filter_map(|&i| values.get(i)?.parse::<f64>().ok())
        .sum();
    ticks / 100.0
}

/// CPU seconds (user and system) of process `pid`: utime and stime, fields 14 and 15 of the
/// line, 12 and 13 after the name.
pub fn cpu_of(pid: u32) -> f64 {
    stat_seconds(pid, &[11, 12])
}

pub fn own_cpu() -> f64 {
    cpu_of(std::process::id())
}

/// CPU seconds of the postmaster and its backends (children that exited included: cutime and
/// cstime follow).
pub fn tree_cpu(postmaster: u32) -> f64 {
    let mut total = stat_seconds(postmaster, &[11, 12, 13, 14]);
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
