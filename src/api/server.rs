//! The HTTP server: an axum router around any `Engine` (in practice a `LocalEngine`).

use std::sync::Arc;

use axum::extract::{DefaultBodyLimit, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router, middleware};
use serde::Deserialize;
use serde_json::json;
use tokio::net::TcpListener;
use tokio::sync::{broadcast, watch};

use super::auth::{self, Tokens};
use super::error::{self, ApiError, Body, QueryParams};
use super::metrics::{self, Metrics};
use super::state::ServerState;
use super::stream;
use super::{openapi, routes};
use crate::engine::Engine;
use crate::engine::clock::parse_duration;
use crate::model::Seq;

/// Largest request body accepted.
pub const MAX_BODY: usize = 1024 * 1024;
/// Most events one history page returns.
const MAX_PAGE: usize = 10_000;
/// Longest single clock advance.
const MAX_ADVANCE_DAYS: i64 = 3660;

/// A server ready to answer, and the switch that stops its streams.
pub struct Server {
    state: Arc<ServerState>,
    stop: watch::Sender<bool>,
}

impl Server {
    /// Wraps `engine`; call from inside a tokio runtime.
    pub async fn new(engine: Arc<dyn Engine>, tokens: Tokens) -> Server {
        let (stop, shutdown) = watch::channel(false);
        let (frames, _) = broadcast::channel(4096);
        let events = engine.subscribe();
        let state = Arc::new(ServerState {
            engine,
            tokens: Arc::new(tokens),
            metrics: Arc::new(Metrics::default()),
            frames,
            shutdown,
        });
        if let Ok(snap) = state.engine.snapshot().await {
            state.metrics.set_head(snap.state.head);
        }
        stream::spawn_fanout(state.clone(), events);
        Server { state, stop }
    }

    /// The router, for serving or for driving in tests.
    pub fn router(&self) -> Router {
        router(self.state.clone())
    }

    /// Serves on `listener` until `until` resolves; then ends every stream and returns.
    pub async fn serve(
        self,
        listener: TcpListener,
        until: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let stop = self.stop.clone();
        let app = self.router();
        axum::serve(listener, app)
            .with_graceful_shutdown(async move {
                until.await;
                let _ = stop.send(true);
            })
            .await
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}

fn router(state: Arc<ServerState>) -> Router {
    let steps = "/v1/organization/{org}/upgrade-pipeline/steps";
    let service = "/v1/project/{project}/service/{service}";
    Router::new()
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics_text))
        .route("/v1/openapi.json", get(openapi_json))
        .route("/v1/head", get(head))
        .route("/v1/snapshot", get(snapshot))
        .route("/v1/events", get(stream::events))
        .route("/v1/history", get(history))
        .route("/v1/commands", post(routes::command))
        .route("/v1/clock", get(clock))
        .route("/v1/clock/advance", post(advance))
        .route(steps, get(routes::list_steps).post(routes::create_step))
        .route(
            &format!("{steps}/{{step_id}}"),
            get(routes::get_step)
                .patch(routes::update_step)
                .delete(routes::delete_step),
        )
        .route(
            "/v1/project",
            get(routes::list_projects).post(routes::create_project),
        )
        .route(
            "/v1/project/{project}/service",
            get(routes::list_services).post(routes::create_service),
        )
        .route(
            service,
            get(routes::get_service).put(routes::update_service),
        )
        .route(
            &format!("{service}/maintenance/start"),
            put(routes::maintenance_start),
        )
        .route(
            &format!("{service}/upgrade-validation"),
            post(routes::validate),
        )
        .route(
            "/v1/release",
            get(routes::list_releases).post(routes::publish_release),
        )
        .fallback(error::unknown_path)
        .method_not_allowed_fallback(error::wrong_method)
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .layer(middleware::from_fn_with_state(
            Arc::clone(&state.tokens),
            auth::require_token,
        ))
        .layer(middleware::from_fn_with_state(
            Arc::clone(&state.metrics),
            metrics::record,
        ))
        .with_state(state)
}

type AppState = State<Arc<ServerState>>;

async fn healthz() -> Response {
    Json(json!({ "status": "ok" })).into_response()
}

async fn metrics_text(State(s): AppState) -> Response {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        s.metrics.render(),
    )
        .into_response()
}

async fn openapi_json() -> Response {
    Json(openapi::document()).into_response()
}

async fn head(State(s): AppState) -> Result<Response, ApiError> {
    let snap = s.engine.snapshot().await?;
    Ok(Json(json!({ "head": snap.state.head, "clock": snap.clock })).into_response())
}

async fn snapshot(State(s): AppState) -> Result<Response, ApiError> {
    let snap = s.engine.snapshot().await?;
    Ok(Json(json!({
        "head": snap.state.head,
        "clock": snap.clock,
        "state": snap.state,
    }))
    .into_response())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct HistoryQuery {
    #[serde(default)]
    since: Seq,
    limit: Option<usize>,
}

async fn history(
    State(s): AppState,
    QueryParams(q): QueryParams<HistoryQuery>,
) -> Result<Response, ApiError> {
    let limit = q.limit.unwrap_or(1000);
    if limit == 0 || limit > MAX_PAGE {
        return Err(ApiError::bad_request(format!(
            "limit must be 1 to {MAX_PAGE} (got {limit})"
        )));
    }
    let events = s.engine.events(q.since, limit).await?;
    Ok(Json(json!({ "events": events })).into_response())
}

async fn clock(State(s): AppState) -> Result<Response, ApiError> {
    Ok(Json(s.engine.clock().await?).into_response())
}

/// How far to move the clock: a duration text (`90m`, `3d`) or milliseconds.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Advance {
    duration: Option<String>,
    milliseconds: Option<i64>,
}

async fn advance(State(s): AppState, Body(b): Body<Advance>) -> Result<Response, ApiError> {
    let by = match (b.duration, b.milliseconds) {
        (Some(text), None) => parse_duration(&text).map_err(ApiError::invalid)?,
        (None, Some(ms)) => chrono::Duration::try_milliseconds(ms)
            .ok_or_else(|| ApiError::invalid(format!("{ms} ms is out of range")))?,
        _ => {
            return Err(ApiError::invalid(
                "give exactly one of `duration` (e.g. \"3d\") or `milliseconds`",
            ));
        }
    };
    // Far enough for any drill, and far from the calendar's end (which cannot be crossed).
    if by > chrono::Duration::days(MAX_ADVANCE_DAYS) {
        return Err(ApiError::invalid(format!(
            "the clock moves at most {MAX_ADVANCE_DAYS} days at a time"
        )));
    }
    let receipt = s.engine.advance_clock(by).await?;
    Ok((StatusCode::OK, Json(receipt)).into_response())
}
