//! `RemoteEngine`: the `Engine` trait over HTTP. Reads and writes are plain requests; the
//! live stream (`subscribe`) is fed by one background task that follows `GET /v1/events`,
//! reconnects with backoff and resumes with `Last-Event-ID`, so no event is lost or repeated.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::FutureExt;
use futures::future::BoxFuture;
use reqwest::{Method, RequestBuilder, StatusCode};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use tokio::sync::{broadcast, watch};
use tokio::task::JoinHandle;

use super::error::ErrorBody;
use super::follow;
use crate::engine::{ClockInfo, Engine, EngineError, EngineInfo, LinkState, Receipt, Snapshot};
use crate::model::{Command, Event, RuleError, Seq, State};

/// An engine that lives in a `lockstep serve` process.
pub struct RemoteEngine {
    base: String,
    http: reqwest::Client,
    token: Arc<str>,
    events: broadcast::Sender<Event>,
    known_head: Arc<AtomicU64>,
    link: watch::Sender<LinkState>,
    follower: Mutex<Option<JoinHandle<()>>>,
    runtime: tokio::runtime::Handle,
}

impl std::fmt::Debug for RemoteEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "RemoteEngine({})", self.base)
    }
}

#[derive(Deserialize)]
struct Head {
    head: Seq,
}

#[derive(Deserialize)]
struct SnapshotBody {
    clock: ClockInfo,
    state: State,
}

#[derive(Deserialize)]
struct EventsBody {
    events: Vec<Event>,
}

impl RemoteEngine {
    /// Connects to the server at `url` (e.g. `http://127.0.0.1:7878`) with `token`, checking
    /// both at once. Call inside a tokio runtime.
    pub async fn connect(url: &str, token: &str) -> Result<RemoteEngine, EngineError> {
        let base = url.trim().trim_end_matches('/').to_string();
        if !(base.starts_with("http://") || base.starts_with("https://")) {
            return Err(EngineError::Invalid(format!(
                "'{base}' is not a server address: use for example --remote http://127.0.0.1:7878"
            )));
        }
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .pool_idle_timeout(Duration::from_secs(30))
            .build()
            .map_err(|e| EngineError::Storage(format!("cannot start an HTTP client: {e}")))?;
        let (events, _) = broadcast::channel(16_384);
        let (link, _) = watch::channel(LinkState::Idle);
        let engine = RemoteEngine {
            base,
            http,
            token: token.into(),
            events,
            known_head: Arc::new(AtomicU64::new(0)),
            link,
            follower: Mutex::new(None),
            runtime: tokio::runtime::Handle::current(),
        };
        let head: Head = engine.call(Method::GET, "/v1/head", None::<&()>).await?;
        engine.saw(head.head);
        Ok(engine)
    }

    fn saw(&self, seq: Seq) {
        self.known_head.fetch_max(seq, Ordering::Relaxed);
    }

    fn request(&self, method: Method, path: &str) -> RequestBuilder {
        self.http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(&*self.token)
            .timeout(Duration::from_secs(60))
    }

    async fn call<T: DeserializeOwned, B: serde::Serialize + ?Sized>(
        &self,
        method: Method,
        path: &str,
        body: Option<&B>,
    ) -> Result<T, EngineError> {
        let mut req = self.request(method, path);
        if let Some(b) = body {
            req = req.json(b);
        }
        let resp = req.send().await.map_err(|e| self.unreachable(e))?;
        let status = resp.status();
        let bytes = resp.bytes().await.map_err(|e| self.unreachable(e))?;
        if status.is_success() {
            return serde_json::from_slice(&bytes).map_err(|e| {
                EngineError::Storage(format!(
                    "the server at {} answered something unexpected: {e}",
                    self.base
                ))
            });
        }
        Err(answer_error(status, &bytes))
    }

    fn unreachable(&self, e: reqwest::Error) -> EngineError {
        // reqwest's message names the URL only; the token travels in a header.
        EngineError::Storage(format!(
            "cannot reach the lockstep server at {}: {}",
            self.base,
            e.without_url()
        ))
    }

    /// The link state, live: connecting, connected, reconnecting.
    #[must_use]
    pub fn link_state(&self) -> watch::Receiver<LinkState> {
        self.link.subscribe()
    }

    fn ensure_following(&self) {
        let Ok(mut follower) = self.follower.lock() else {
            return;
        };
        if follower.as_ref().is_some_and(|h| !h.is_finished()) {
            return;
        }
        let task = follow::Follower {
            url: format!("{}/v1/events", self.base),
            http: self.http.clone(),
            token: self.token.clone(),
            events: self.events.clone(),
            known_head: self.known_head.clone(),
            link: self.link.clone(),
        };
        let from = self.known_head.load(Ordering::Relaxed);
        *follower = Some(self.runtime.spawn(task.run(from)));
    }
}

/// Rebuilds the engine's error from the server's JSON error.
fn answer_error(status: StatusCode, bytes: &[u8]) -> EngineError {
    let Ok(body) = serde_json::from_slice::<ErrorBody>(bytes) else {
        return EngineError::Storage(format!(
            "the server answered {status}: {}",
            String::from_utf8_lossy(bytes)
                .chars()
                .take(200)
                .collect::<String>()
        ));
    };
    if let Some(rule_error) = body.rule_error {
        return EngineError::Refused(rule_error);
    }
    match status {
        StatusCode::NOT_FOUND => EngineError::Refused(RuleError::not_found(body.error)),
        StatusCode::SERVICE_UNAVAILABLE => EngineError::Storage(body.error),
        _ => EngineError::Invalid(body.error),
    }
}

impl Drop for RemoteEngine {
    fn drop(&mut self) {
        if let Ok(mut f) = self.follower.lock()
            && let Some(h) = f.take()
        {
            h.abort();
        }
    }
}

impl Engine for RemoteEngine {
    fn info(&self) -> EngineInfo {
        EngineInfo {
            kind: "remote".into(),
            location: self.base.clone(),
        }
    }

    fn execute(
        &self,
        _actor: &str,
        command: Command,
    ) -> BoxFuture<'_, Result<Receipt, EngineError>> {
        // The server records the token's name as the actor, whatever the client claims.
        async move {
            let r: Receipt = self
                .call(Method::POST, "/v1/commands", Some(&command))
                .await?;
            if let Some(last) = r.events.last() {
                self.saw(last.seq);
            }
            Ok(r)
        }
        .boxed()
    }

    fn snapshot(&self) -> BoxFuture<'_, Result<Snapshot, EngineError>> {
        async move {
            let body: SnapshotBody = self.call(Method::GET, "/v1/snapshot", None::<&()>).await?;
            let mut state = body.state;
            state.reindex();
            self.saw(state.head);
            Ok(Snapshot {
                state,
                clock: body.clock,
            })
        }
        .boxed()
    }

    fn events(&self, since: Seq, limit: usize) -> BoxFuture<'_, Result<Vec<Event>, EngineError>> {
        async move {
            let limit = limit.clamp(1, 10_000);
            let path = format!("/v1/history?since={since}&limit={limit}");
            let body: EventsBody = self.call(Method::GET, &path, None::<&()>).await?;
            Ok(body.events)
        }
        .boxed()
    }

    fn subscribe(&self) -> broadcast::Receiver<Event> {
        let rx = self.events.subscribe();
        self.ensure_following();
        rx
    }

    fn clock(&self) -> BoxFuture<'_, Result<ClockInfo, EngineError>> {
        async move { self.call(Method::GET, "/v1/clock", None::<&()>).await }.boxed()
    }

    fn advance_clock(&self, by: chrono::Duration) -> BoxFuture<'_, Result<Receipt, EngineError>> {
        async move {
            let body = serde_json::json!({ "milliseconds": by.num_milliseconds() });
            let r: Receipt = self
                .call(Method::POST, "/v1/clock/advance", Some(&body))
                .await?;
            if let Some(last) = r.events.last() {
                self.saw(last.seq);
            }
            Ok(r)
        }
        .boxed()
    }

    fn link(&self) -> Option<watch::Receiver<LinkState>> {
        Some(self.link.subscribe())
    }
}
