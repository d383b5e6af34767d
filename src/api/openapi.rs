//! `/v1/openapi.json`: the OpenAPI 3.0 description of every path, body and error. Written out
//! by hand (the request bodies are few and stable) so the model needs no schema derives.

use serde_json::{Value, json};

use crate::model::{Plan, ServiceType};

fn service_types() -> Vec<&'static str> {
    ServiceType::ALL.iter().map(|t| t.as_str()).collect()
}

fn plans() -> Vec<&'static str> {
    Plan::ALL.iter().map(|p| p.as_str()).collect()
}

fn body(schema: &str) -> Value {
    json!({ "required": true, "content": { "application/json": {
        "schema": { "$ref": format!("#/components/schemas/{schema}") } } } })
}

fn answers(ok: &str, what: &str) -> Value {
    let error = json!({ "content": { "application/json": {
        "schema": { "$ref": "#/components/schemas/Error" } } } });
    let mut errors = serde_json::Map::new();
    for (code, meaning) in [
        ("400", "Malformed request"),
        ("401", "Missing or unknown token"),
        ("403", "A viewer token on a write"),
        ("404", "No such thing"),
        ("409", "Conflicts with what exists"),
        ("413", "Body over 1 MiB"),
        ("415", "Body not JSON"),
        (
            "422",
            "Refused by a rule (the `rule` field names it) or invalid value",
        ),
    ] {
        let mut e = error.clone();
        e["description"] = json!(meaning);
        errors.insert(code.into(), e);
    }
    errors.insert(
        ok.into(),
        json!({ "description": what, "content": { "application/json": { "schema": { "type": "object" } } } }),
    );
    Value::Object(errors)
}

fn op(summary: &str, ok: &str, what: &str) -> Value {
    json!({ "summary": summary, "responses": answers(ok, what) })
}

fn op_with(summary: &str, schema: &str, ok: &str, what: &str) -> Value {
    json!({ "summary": summary, "requestBody": body(schema), "responses": answers(ok, what) })
}

fn path_params(names: &[&str]) -> Value {
    Value::Array(
        names
            .iter()
            .map(|n| {
                let schema = if *n == "step_id" {
                    json!({ "type": "integer", "format": "int64", "minimum": 0 })
                } else {
                    json!({ "type": "string" })
                };
                json!({ "name": n, "in": "path", "required": true, "schema": schema })
            })
            .collect(),
    )
}

fn paths() -> Value {
    let steps = "/v1/organization/{org}/upgrade-pipeline/steps";
    let service = "/v1/project/{project}/service/{service}";
    let mut p = serde_json::Map::new();
    let mut add = |path: String, item: Value| {
        p.insert(path, item);
    };
    add(
        "/healthz".into(),
        json!({ "get": { "summary": "Liveness (public)", "security": [], "responses": { "200": { "description": "Up" } } } }),
    );
    add(
        "/v1/openapi.json".into(),
        json!({ "get": { "summary": "This document (public)", "security": [], "responses": { "200": { "description": "OpenAPI 3.0" } } } }),
    );
    add(
        "/metrics".into(),
        json!({ "get": { "summary": "Prometheus text: requests, latency, subscribers, events", "responses": { "200": { "description": "Metrics", "content": { "text/plain": { "schema": { "type": "string" } } } }, "401": { "description": "No token" } } } }),
    );
    add(
        "/v1/head".into(),
        json!({ "get": op("Id of the newest event and the clock", "200", "Head") }),
    );
    add(
        "/v1/snapshot".into(),
        json!({ "get": op("The whole state, with the event id it is at (`head`)", "200", "Snapshot") }),
    );
    add(
        "/v1/events".into(),
        json!({ "get": {
        "summary": "Server-sent events: every journal event, `id:` = its seq; resume with `Last-Event-ID`",
        "parameters": [
            { "name": "since", "in": "query", "required": false, "schema": { "type": "integer", "format": "int64", "minimum": 0 } },
            { "name": "Last-Event-ID", "in": "header", "required": false, "schema": { "type": "integer", "format": "int64", "minimum": 0 } }
        ],
        "responses": { "200": { "description": "text/event-stream", "content": { "text/event-stream": { "schema": { "type": "string" } } } },
                        "400": { "description": "Bad Last-Event-ID" }, "401": { "description": "No token" } } } }),
    );
    add(
        "/v1/history".into(),
        json!({ "get": {
        "summary": "Journal events after `since`, oldest first (V9)",
        "parameters": [
            { "name": "since", "in": "query", "required": false, "schema": { "type": "integer", "format": "int64", "minimum": 0 } },
            { "name": "limit", "in": "query", "required": false, "schema": { "type": "integer", "minimum": 1, "maximum": 10000 } }
        ],
        "responses": answers("200", "Events") } }),
    );
    add(
        "/v1/commands".into(),
        json!({ "post": op_with("Any command (what the CLI and remote engine send)", "Command", "200", "Receipt: the events appended and a notice") }),
    );
    add(
        "/v1/clock".into(),
        json!({ "get": op("The engine's clock", "200", "Clock") }),
    );
    add(
        "/v1/clock/advance".into(),
        json!({ "post": op_with("Move a virtual clock forward, running every deadline in between", "Advance", "200", "Receipt") }),
    );
    add(
        steps.into(),
        json!({
        "parameters": path_params(&["org"]),
        "get": op("List upgrade steps", "200", "{steps: [Step]}"),
        "post": op_with("Create an upgrade step (P1–P7)", "NewStep", "201", "The new step") }),
    );
    add(
        format!("{steps}/{{step_id}}"),
        json!({
        "parameters": path_params(&["org", "step_id"]),
        "get": op("Get a step", "200", "Step"),
        "patch": op_with("Change a step's delay (P9)", "StepChange", "200", "Step"),
        "delete": op("Delete a step and its validations (P8)", "200", "Receipt") }),
    );
    add(
        "/v1/project".into(),
        json!({
        "get": op("List projects", "200", "{projects}"),
        "post": op_with("Create a project", "NewProject", "200", "Receipt") }),
    );
    add(
        "/v1/project/{project}/service".into(),
        json!({
        "parameters": path_params(&["project"]),
        "get": op("List a project's services", "200", "{services: [Service]}"),
        "post": op_with("Create a service", "NewService", "200", "Receipt") }),
    );
    add(
        service.into(),
        json!({
        "parameters": path_params(&["project", "service"]),
        "get": op("Get a service: versions, hold, pending update, forecast", "200", "Service"),
        "put": op_with("Power a service on or off (V6)", "ServiceChange", "200", "Receipt") }),
    );
    add(
        format!("{service}/maintenance/start"),
        json!({
        "parameters": path_params(&["project", "service"]),
        "put": op("Apply a pending maintenance update now", "200", "Receipt") }),
    );
    add(
        format!("{service}/upgrade-validation"),
        json!({
        "parameters": path_params(&["project", "service"]),
        "post": op_with("Validate the service's current version on every step it is the source of (V2)", "Validation", "200", "Receipt") }),
    );
    add(
        "/v1/release".into(),
        json!({
        "get": op("List releases", "200", "{releases}"),
        "post": op_with("Publish a release", "NewRelease", "200", "Receipt") }),
    );
    Value::Object(p)
}

fn object(required: &[&str], properties: Value) -> Value {
    json!({ "type": "object", "additionalProperties": false, "required": required, "properties": properties })
}

fn schemas() -> Value {
    let version = json!({ "type": "string", "pattern": "^[0-9]{1,9}\\.[0-9]{1,9}(\\.[0-9]{1,9})?$", "example": "15.9" });
    let key = json!({ "type": "string", "pattern": "^[^/]+/[^/]+$", "example": "acme-dev/pg-dev" });
    let delay = json!({ "type": "integer", "description": "P6: 1 to 30 days", "example": 7 });
    let stype = json!({ "type": "string", "enum": service_types() });
    let plan = json!({ "type": "string", "enum": plans() });
    let window = object(
        &["dow", "time"],
        json!({
        "dow": { "type": "string", "enum": ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"] },
        "time": { "type": "string", "pattern": "^[0-2][0-9]:[0-5][0-9]:[0-5][0-9]$", "example": "03:00:00" } }),
    );
    let opt_str = json!({ "type": "string", "nullable": true });
    let cmd = |name: &str, required: &[&str], mut props: Value| {
        props["command"] = json!({ "type": "string", "enum": [name] });
        let mut req = vec!["command"];
        req.extend_from_slice(required);
        object(&req, props)
    };
    let commands = json!({ "oneOf": [
        cmd("create_project", &["name"], json!({ "name": { "type": "string" }, "organization_id": opt_str })),
        cmd("create_service", &["service", "service_type", "version"], json!({ "service": key, "service_type": stype,
            "version": version, "plan": { "type": "string", "enum": plans(), "nullable": true }, "maintenance": window })),
        cmd("set_power", &["service", "powered"], json!({ "service": key, "powered": { "type": "boolean" } })),
        cmd("maintenance_start", &["service"], json!({ "service": key })),
        cmd("publish_release", &["service_type", "version", "critical"], json!({ "service_type": stype, "version": version, "critical": { "type": "boolean" } })),
        cmd("create_step", &["source", "destination"], json!({ "organization_id": opt_str, "source": key, "destination": key,
            "auto_validation_delay_days": delay })),
        cmd("update_step", &["step_id", "auto_validation_delay_days"], json!({ "step_id": { "type": "integer", "minimum": 0 }, "auto_validation_delay_days": delay })),
        cmd("delete_step", &["step_id"], json!({ "step_id": { "type": "integer", "minimum": 0 } })),
        cmd("validate_for_service", &["service"], json!({ "service": key, "comment": opt_str })),
        cmd("start_run", &["service", "target_version"], json!({ "service": key, "target_version": version,
            "switchover_timeout_s": { "type": "integer", "minimum": 30, "maximum": 3600, "nullable": true },
            "lag_threshold_bytes": { "type": "integer", "minimum": 1, "nullable": true },
            "long_txn_limit_s": { "type": "integer", "nullable": true }, "auto_switchover": { "type": "boolean" } })),
        cmd("switchover", &["run_id"], json!({ "run_id": { "type": "string" }, "force": { "type": "boolean" }, "comment": opt_str })),
        cmd("choose_for_run", &["run_id", "value"], json!({ "run_id": { "type": "string" },
            "value": { "type": "string", "enum": ["copy", "empty"] }, "comment": opt_str })),
        cmd("rollback", &["run_id"], json!({ "run_id": { "type": "string" } })),
        cmd("resume_run", &["run_id"], json!({ "run_id": { "type": "string" } })),
        cmd("sim_fault", &["service", "fault"], json!({ "service": key,
            "fault": { "type": "string", "enum": ["green-lost", "lag-stuck", "slow-switchover", "primary-lost", "standby-lost", "node-back"] }, "clear": { "type": "boolean" } })),
        cmd("set_standby_timeout", &["service", "seconds"], json!({ "service": key, "seconds": { "type": "integer", "minimum": 30, "maximum": 3600 } })),
    ], "discriminator": { "propertyName": "command" } });
    json!({
        "Error": { "type": "object", "required": ["error", "code"], "properties": {
            "error": { "type": "string" }, "code": { "type": "string" },
            "rule": { "type": "string" }, "rule_error": { "type": "object" } } },
        "Command": commands,
        "Advance": object(&[], json!({ "duration": { "type": "string", "example": "3d" }, "milliseconds": { "type": "integer" } })),
        "NewStep": object(&["source_project_name", "source_service_name", "destination_project_name", "destination_service_name"], json!({
            "source_project_name": { "type": "string" }, "source_service_name": { "type": "string" },
            "destination_project_name": { "type": "string" }, "destination_service_name": { "type": "string" },
            "auto_validation_delay_days": delay })),
        "StepChange": object(&["auto_validation_delay_days"], json!({ "auto_validation_delay_days": delay })),
        "Validation": object(&[], json!({ "comment": opt_str })),
        "NewProject": object(&["project"], json!({ "project": { "type": "string" }, "organization_id": opt_str })),
        "NewService": object(&["service_name", "service_type", "version"], json!({ "service_name": { "type": "string" },
            "service_type": stype, "version": version, "plan": plan, "maintenance": window })),
        "ServiceChange": object(&["powered"], json!({ "powered": { "type": "boolean" } })),
        "NewRelease": object(&["service_type", "version"], json!({ "service_type": stype, "version": version, "critical": { "type": "boolean" } })),
    })
}

/// The whole document.
#[must_use]
pub fn document() -> Value {
    json!({
        "openapi": "3.0.3",
        "info": { "title": "lockstep", "version": env!("CARGO_PKG_VERSION"),
                  "description": "Controlled upgrade pipelines: steps, validations, services, releases, clock, and the live event journal." },
        "servers": [{ "url": "/" }],
        "security": [{ "bearer": [] }],
        "components": {
            "securitySchemes": { "bearer": { "type": "http", "scheme": "bearer" } },
            "schemas": schemas()
        },
        "paths": paths()
    })
}
