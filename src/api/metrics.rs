//! Prometheus text metrics: requests by route and status, request latency, live stream
//! subscribers, and events appended and streamed. A handful of counters does not justify a
//! metrics framework; the text format is a few lines.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::Response;

/// Upper bounds of the latency histogram, in seconds.
const BUCKETS: [f64; 12] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0,
];

/// The server's counters.
#[derive(Default)]
pub struct Metrics {
    requests: Mutex<BTreeMap<(String, String, u16), u64>>,
    latency_buckets: [AtomicU64; BUCKETS.len()],
    latency_count: AtomicU64,
    latency_micros_sum: AtomicU64,
    subscribers: AtomicU64,
    events_appended: AtomicU64,
    events_streamed: AtomicU64,
    head: AtomicU64,
}

/// Counts one live subscriber while it exists.
pub struct SubscriberGuard(Arc<Metrics>);

impl Drop for SubscriberGuard {
    fn drop(&mut self) {
        self.0.subscribers.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Metrics {
    /// Registers a live subscriber until the guard drops.
    pub fn subscriber(metrics: &Arc<Metrics>) -> SubscriberGuard {
        metrics.subscribers.fetch_add(1, Ordering::Relaxed);
        SubscriberGuard(Arc::clone(metrics))
    }

    /// Live subscribers now.
    #[must_use]
    pub fn subscribers(&self) -> u64 {
        self.subscribers.load(Ordering::Relaxed)
    }

    /// An event was appended to the journal (seen by the fan-out).
    pub fn appended(&self, seq: u64) {
        self.events_appended.fetch_add(1, Ordering::Relaxed);
        self.head.fetch_max(seq, Ordering::Relaxed);
    }

    /// Sets the head seen at start.
    pub fn set_head(&self, seq: u64) {
        self.head.fetch_max(seq, Ordering::Relaxed);
    }

    /// The newest event id seen.
    #[must_use]
    pub fn head(&self) -> u64 {
        self.head.load(Ordering::Relaxed)
    }

    /// `n` events were sent to one stream subscriber.
    pub fn streamed(&self, n: u64) {
        self.events_streamed.fetch_add(n, Ordering::Relaxed);
    }

    fn observe(&self, method: &str, route: &str, status: u16, started: Instant) {
        let elapsed = started.elapsed();
        if let Ok(mut r) = self.requests.lock() {
            *r.entry((method.to_string(), route.to_string(), status))
                .or_default() += 1;
        }
        let secs = elapsed.as_secs_f64();
        for (bound, count) in BUCKETS.iter().zip(&self.latency_buckets) {
            if secs <= *bound {
                count.fetch_add(1, Ordering::Relaxed);
            }
        }
        self.latency_count.fetch_add(1, Ordering::Relaxed);
        let micros = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX);
        self.latency_micros_sum.fetch_add(micros, Ordering::Relaxed);
    }

    /// The Prometheus text exposition.
    #[must_use]
    pub fn render(&self) -> String {
        let mut out = String::new();
        out.push_str("# HELP lockstep_http_requests_total HTTP requests answered.\n");
        out.push_str("# TYPE lockstep_http_requests_total counter\n");
        if let Ok(r) = self.requests.lock() {
            for ((method, route, status), n) in r.iter() {
                let _ = writeln!(
                    out,
                    "lockstep_http_requests_total{{method=\"{method}\",route=\"{route}\",status=\"{status}\"}} {n}"
                );
            }
        }
        out.push_str("# HELP lockstep_http_request_duration_seconds Time to answer (headers, for streams).\n");
        out.push_str("# TYPE lockstep_http_request_duration_seconds histogram\n");
        for (bound, count) in BUCKETS.iter().zip(&self.latency_buckets) {
            let _ = writeln!(
                out,
                "lockstep_http_request_duration_seconds_bucket{{le=\"{bound}\"}} {}",
                count.load(Ordering::Relaxed)
            );
        }
        let count = self.latency_count.load(Ordering::Relaxed);
        let _ = writeln!(
            out,
            "lockstep_http_request_duration_seconds_bucket{{le=\"+Inf\"}} {count}"
        );
        let sum = self.latency_micros_sum.load(Ordering::Relaxed) as f64 / 1e6;
        let _ = writeln!(out, "lockstep_http_request_duration_seconds_sum {sum}");
        let _ = writeln!(out, "lockstep_http_request_duration_seconds_count {count}");
        let gauges = [
            (
                "lockstep_stream_subscribers",
                "gauge",
                "Live event-stream subscribers.",
                self.subscribers.load(Ordering::Relaxed),
            ),
            (
                "lockstep_events_appended_total",
                "counter",
                "Journal events appended since the server started.",
                self.events_appended.load(Ordering::Relaxed),
            ),
            (
                "lockstep_events_streamed_total",
                "counter",
                "Events sent to stream subscribers (one per subscriber).",
                self.events_streamed.load(Ordering::Relaxed),
            ),
            (
                "lockstep_journal_head",
                "gauge",
                "Id of the newest journal event.",
                self.head.load(Ordering::Relaxed),
            ),
        ];
        for (name, kind, help, value) in gauges {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}"
            );
        }
        out
    }
}

/// Records every request's route, status and latency.
pub async fn record(State(metrics): State<Arc<Metrics>>, req: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = req.method().to_string();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_string(), |p| p.as_str().to_string());
    let response = next.run(req).await;
    metrics.observe(&method, &route, response.status().as_u16(), started);
    response
}
