//! REST handlers with the source API's paths and field names. Each write becomes one
//! `Command`, decided by the engine on behalf of the token's name.

use std::sync::Arc;

use axum::Extension;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};

use super::auth::Principal;
use super::error::{ApiError, Body, PathParams};
use super::state::ServerState;
use crate::engine::{EngineError, Receipt};
use crate::model::{
    Command, EventKind, MaintenanceWindow, Plan, ServiceKey, ServiceType, StepId, Version,
};

type AppState = State<Arc<ServerState>>;
type Answer = Result<Response, ApiError>;

async fn exec(state: &ServerState, who: &Principal, command: Command) -> Result<Receipt, ApiError> {
    if command.is_scheduled() {
        return Err(ApiError::invalid(
            "this command is sent by lockstep's own scheduler and drivers, not over the API",
        ));
    }
    Ok(state.engine.execute(&who.name, command).await?)
}

fn receipt(r: &Receipt) -> Response {
    Json(r).into_response()
}

/// `POST /v1/commands`: any command, as the CLI and the remote engine send it.
pub async fn command(
    State(s): AppState,
    Extension(who): Extension<Principal>,
    Body(body): Body<Value>,
) -> Answer {
    let command: Command = serde_json::from_value(body.clone())
        .map_err(|e| ApiError::invalid(format!("not a command: {e}")))?;
    // Commands are internally tagged, which serde cannot check for unknown fields: compare
    // what was sent with what was understood instead.
    let understood = serde_json::to_value(&command).unwrap_or(Value::Null);
    if let Some(field) = unknown_field(&body, &understood, "") {
        return Err(ApiError::invalid(format!(
            "unknown field '{field}' in the command"
        )));
    }
    Ok(receipt(&exec(&s, &who, command).await?))
}

fn unknown_field(sent: &Value, understood: &Value, at: &str) -> Option<String> {
    let (Value::Object(sent), Value::Object(known)) = (sent, understood) else {
        return None;
    };
    sent.iter().find_map(|(k, v)| match known.get(k) {
        None => Some(format!("{at}{k}")),
        Some(u) => unknown_field(v, u, &format!("{at}{k}.")),
    })
}

/// `GET /v1/organization/{org}/upgrade-pipeline/steps`.
pub async fn list_steps(State(s): AppState, PathParams(org): PathParams<String>) -> Answer {
    let snap = s.engine.snapshot().await?;
    let steps: Vec<_> = snap
        .state
        .steps
        .values()
        .filter(|st| st.organization_id == org)
        .map(|st| snap.state.step_view(st))
        .collect();
    Ok(Json(json!({ "steps": steps })).into_response())
}

/// The body of `POST …/upgrade-pipeline/steps`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewStep {
    source_project_name: String,
    source_service_name: String,
    destination_project_name: String,
    destination_service_name: String,
    auto_validation_delay_days: Option<i64>,
}

/// `POST /v1/organization/{org}/upgrade-pipeline/steps`: 201 with the new step.
pub async fn create_step(
    State(s): AppState,
    Extension(who): Extension<Principal>,
    PathParams(org): PathParams<String>,
    Body(b): Body<NewStep>,
) -> Answer {
    let r = exec(
        &s,
        &who,
        Command::CreateStep {
            organization_id: Some(org),
            source: ServiceKey::new(b.source_project_name, b.source_service_name),
            destination: ServiceKey::new(b.destination_project_name, b.destination_service_name),
            auto_validation_delay_days: b.auto_validation_delay_days,
        },
    )
    .await?;
    let created = r.events.iter().find_map(|e| match e.kind {
        EventKind::StepCreated { step_id, .. } => Some(step_id),
        _ => None,
    });
    let Some(step_id) = created else {
        return Ok(receipt(&r));
    };
    let snap = s.engine.snapshot().await?;
    let step = snap.state.step(step_id).map_err(EngineError::from)?;
    Ok((StatusCode::CREATED, Json(snap.state.step_view(step))).into_response())
}

/// `GET /v1/organization/{org}/upgrade-pipeline/steps/{step_id}`.
pub async fn get_step(
    State(s): AppState,
    PathParams((org, step_id)): PathParams<(String, StepId)>,
) -> Answer {
    let snap = s.engine.snapshot().await?;
    let step = snap.state.step(step_id).map_err(EngineError::from)?;
    if step.organization_id != org {
        return Err(ApiError::not_found(format!(
            "no step {step_id} in organization '{org}'"
        )));
    }
    Ok(Json(snap.state.step_view(step)).into_response())
}

/// The body of `PATCH …/steps/{step_id}` (P9: only the delay changes).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StepChange {
    auto_validation_delay_days: i64,
}

/// `PATCH /v1/organization/{org}/upgrade-pipeline/steps/{step_id}`.
pub async fn update_step(
    State(s): AppState,
    Extension(who): Extension<Principal>,
    PathParams((_org, step_id)): PathParams<(String, StepId)>,
    Body(b): Body<StepChange>,
) -> Answer {
    let command = Command::UpdateStep {
        step_id,
        auto_validation_delay_days: b.auto_validation_delay_days,
    };
    exec(&s, &who, command).await?;
    let snap = s.engine.snapshot().await?;
    let step = snap.state.step(step_id).map_err(EngineError::from)?;
    Ok(Json(snap.state.step_view(step)).into_response())
}

/// `DELETE /v1/organization/{org}/upgrade-pipeline/steps/{step_id}`.
pub async fn delete_step(
    State(s): AppState,
    Extension(who): Extension<Principal>,
    PathParams((_org, step_id)): PathParams<(String, StepId)>,
) -> Answer {
    Ok(receipt(
        &exec(&s, &who, Command::DeleteStep { step_id }).await?,
    ))
}

/// The body of `POST …/upgrade-validation`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ValidationBody {
    comment: Option<String>,
}

/// `POST /v1/project/{project}/service/{service}/upgrade-validation` (V2).
pub async fn validate(
    State(s): AppState,
    Extension(who): Extension<Principal>,
    PathParams((project, service)): PathParams<(String, String)>,
    Body(b): Body<ValidationBody>,
) -> Answer {
    let command = Command::ValidateForService {
        service: ServiceKey::new(project, service),
        comment: b.comment,
    };
    Ok(receipt(&exec(&s, &who, command).await?))
}

/// `GET /v1/project`.
pub async fn list_projects(State(s): AppState) -> Answer {
    let snap = s.engine.snapshot().await?;
    let projects: Vec<_> = snap.state.projects.values().collect();
    Ok(Json(json!({ "projects": projects })).into_response())
}

/// The body of `POST /v1/project`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewProject {
    project: String,
    organization_id: Option<String>,
}

/// `POST /v1/project`.
pub async fn create_project(
    State(s): AppState,
    Extension(who): Extension<Principal>,
    Body(b): Body<NewProject>,
) -> Answer {
    let command = Command::CreateProject {
        name: b.project,
        organization_id: b.organization_id,
    };
    Ok(receipt(&exec(&s, &who, command).await?))
}

/// `GET /v1/project/{project}/service`.
pub async fn list_services(State(s): AppState, PathParams(project): PathParams<String>) -> Answer {
    let snap = s.engine.snapshot().await?;
    if !snap.state.projects.contains_key(&project) {
        return Err(ApiError::not_found(format!("no project '{project}'")));
    }
    let services: Vec<_> = snap
        .state
        .services
        .values()
        .filter(|svc| svc.key.project == project)
        .map(|svc| snap.state.service_view(svc, snap.clock.now))
        .collect();
    Ok(Json(json!({ "services": services })).into_response())
}

/// The body of `POST /v1/project/{project}/service`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewService {
    service_name: String,
    service_type: ServiceType,
    version: Version,
    plan: Option<Plan>,
    maintenance: Option<MaintenanceWindow>,
}

/// `POST /v1/project/{project}/service`.
pub async fn create_service(
    State(s): AppState,
    Extension(who): Extension<Principal>,
    PathParams(project): PathParams<String>,
    Body(b): Body<NewService>,
) -> Answer {
    let command = Command::CreateService {
        service: ServiceKey::new(project, b.service_name),
        service_type: b.service_type,
        version: b.version,
        plan: b.plan,
        maintenance: b.maintenance,
    };
    Ok(receipt(&exec(&s, &who, command).await?))
}

/// `GET /v1/project/{project}/service/{service}`.
pub async fn get_service(
    State(s): AppState,
    PathParams((project, service)): PathParams<(String, String)>,
) -> Answer {
    let snap = s.engine.snapshot().await?;
    let svc = snap
        .state
        .service(&ServiceKey::new(project, service))
        .map_err(EngineError::from)?;
    Ok(Json(snap.state.service_view(svc, snap.clock.now)).into_response())
}

/// The body of `PUT /v1/project/{project}/service/{service}`: power on or off (V6).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceChange {
    powered: bool,
}

/// `PUT /v1/project/{project}/service/{service}`.
pub async fn update_service(
    State(s): AppState,
    Extension(who): Extension<Principal>,
    PathParams((project, service)): PathParams<(String, String)>,
    Body(b): Body<ServiceChange>,
) -> Answer {
    let command = Command::SetPower {
        service: ServiceKey::new(project, service),
        powered: b.powered,
    };
    Ok(receipt(&exec(&s, &who, command).await?))
}

/// `PUT /v1/project/{project}/service/{service}/maintenance/start`.
pub async fn maintenance_start(
    State(s): AppState,
    Extension(who): Extension<Principal>,
    PathParams((project, service)): PathParams<(String, String)>,
) -> Answer {
    let command = Command::MaintenanceStart {
        service: ServiceKey::new(project, service),
    };
    Ok(receipt(&exec(&s, &who, command).await?))
}

/// `GET /v1/release`.
pub async fn list_releases(State(s): AppState) -> Answer {
    let snap = s.engine.snapshot().await?;
    let releases: Vec<_> = snap.state.releases.values().flatten().collect();
    Ok(Json(json!({ "releases": releases })).into_response())
}

/// The body of `POST /v1/release`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewRelease {
    service_type: ServiceType,
    version: Version,
    #[serde(default)]
    critical: bool,
}

/// `POST /v1/release`.
pub async fn publish_release(
    State(s): AppState,
    Extension(who): Extension<Principal>,
    Body(b): Body<NewRelease>,
) -> Answer {
    let command = Command::PublishRelease {
        service_type: b.service_type,
        version: b.version,
        critical: b.critical,
    };
    Ok(receipt(&exec(&s, &who, command).await?))
}
