//! Bad input as a careless or hostile client sends it, over real HTTP, with an operator token:
//! every answer is a 4xx JSON error naming the problem, never a 5xx, and the journal holds
//! exactly what was accepted.

mod api_support;

use api_support::{OPERATOR, TestServer};
use reqwest::StatusCode;
use serde_json::{Value, json};

/// One row: what is sent, and what must come back.
struct Case {
    what: &'static str,
    method: &'static str,
    path: &'static str,
    body: Body,
    status: u16,
    code: &'static str,
    /// A word the error message must contain.
    names: &'static str,
}

enum Body {
    None,
    Raw(&'static str),
    Json(Value),
    Huge,
}

const STEPS: &str = "/v1/organization/default/upgrade-pipeline/steps";

fn new_step(days: Value) -> Body {
    Body::Json(
        json!({"source_project_name": "dev", "source_service_name": "pg",
        "destination_project_name": "prod", "destination_service_name": "pg",
        "auto_validation_delay_days": days}),
    )
}

fn table() -> Vec<Case> {
    use Body::{Huge, Json, None, Raw};
    let case = |what, method, path, body, status, code, names| Case {
        what,
        method,
        path,
        body,
        status,
        code,
        names,
    };
    vec![
        case(
            "malformed JSON",
            "POST",
            "/v1/project",
            Raw("{\"project\": "),
            400,
            "bad_request",
            "EOF",
        ),
        case(
            "JSON of the wrong type",
            "POST",
            "/v1/project",
            Json(json!({"project": 5})),
            422,
            "invalid",
            "project",
        ),
        case(
            "a missing field",
            "POST",
            "/v1/project",
            Json(json!({})),
            422,
            "invalid",
            "project",
        ),
        case(
            "an unknown field",
            "POST",
            "/v1/project",
            Json(json!({"project": "x", "colour": "red"})),
            422,
            "invalid",
            "colour",
        ),
        case(
            "a body that is not an object",
            "POST",
            "/v1/release",
            Json(json!([1, 2])),
            400,
            "bad_request",
            "JSON",
        ),
        case(
            "a body over 1 MiB",
            "POST",
            "/v1/project",
            Huge,
            413,
            "too_large",
            "1 MiB",
        ),
        case(
            "no JSON content type",
            "POST",
            "/v1/project",
            Raw("__no_content_type__"),
            415,
            "unsupported_media_type",
            "application/json",
        ),
        case(
            "an unknown path",
            "GET",
            "/v1/nothing/here",
            None,
            404,
            "not_found",
            "/v1/nothing/here",
        ),
        case(
            "a method the path does not take",
            "DELETE",
            "/v1/project",
            None,
            405,
            "method_not_allowed",
            "DELETE",
        ),
        case(
            "a step id that is not a number",
            "GET",
            "/v1/organization/default/upgrade-pipeline/steps/abc",
            None,
            400,
            "bad_request",
            "abc",
        ),
        case(
            "a step id past u64",
            "GET",
            "/v1/organization/default/upgrade-pipeline/steps/99999999999999999999999",
            None,
            400,
            "bad_request",
            "u64",
        ),
        case(
            "an unknown step",
            "GET",
            "/v1/organization/default/upgrade-pipeline/steps/42",
            None,
            404,
            "not_found",
            "42",
        ),
        case(
            "P6: delay 0",
            "POST",
            STEPS,
            new_step(json!(0)),
            422,
            "refused",
            "P6",
        ),
        case(
            "P6: delay 31",
            "POST",
            STEPS,
            new_step(json!(31)),
            422,
            "refused",
            "P6",
        ),
        case(
            "P6: delay as words",
            "POST",
            STEPS,
            new_step(json!("seven")),
            422,
            "invalid",
            "auto_validation_delay_days",
        ),
        case(
            "P6: delay as a fraction",
            "POST",
            STEPS,
            new_step(json!(2.5)),
            422,
            "invalid",
            "auto_validation_delay_days",
        ),
        case(
            "P3: a self-step",
            "POST",
            STEPS,
            Json(
                json!({"source_project_name": "dev", "source_service_name": "pg",
            "destination_project_name": "dev", "destination_service_name": "pg"}),
            ),
            422,
            "refused",
            "P3",
        ),
        case(
            "a version that is not one",
            "POST",
            "/v1/release",
            Json(json!({"service_type": "pg", "version": "15.x"})),
            422,
            "invalid",
            "15.x",
        ),
        case(
            "an unknown service type",
            "POST",
            "/v1/release",
            Json(json!({"service_type": "oracle", "version": "19.1"})),
            422,
            "invalid",
            "oracle",
        ),
        case(
            "an unknown service",
            "POST",
            "/v1/project/dev/service/nope/upgrade-validation",
            Json(json!({})),
            404,
            "not_found",
            "nope",
        ),
        case(
            "a name already taken",
            "POST",
            "/v1/project",
            Json(json!({"project": "dev"})),
            409,
            "conflict",
            "dev",
        ),
        case(
            "an unknown command",
            "POST",
            "/v1/commands",
            Json(json!({"command": "drop_everything"})),
            422,
            "invalid",
            "drop_everything",
        ),
        case(
            "a command with an unknown field",
            "POST",
            "/v1/commands",
            Json(json!({"command": "delete_step", "step_id": 1, "force": true})),
            422,
            "invalid",
            "force",
        ),
        case(
            "a scheduler-only command",
            "POST",
            "/v1/commands",
            Json(json!({"command": "finish_update", "service": "dev/pg"})),
            422,
            "invalid",
            "scheduler",
        ),
        case(
            "a clock advance in words",
            "POST",
            "/v1/clock/advance",
            Json(json!({"duration": "soon"})),
            422,
            "invalid",
            "soon",
        ),
        case(
            "a clock advance past the calendar",
            "POST",
            "/v1/clock/advance",
            Json(json!({"duration": "99999999d"})),
            422,
            "invalid",
            "years",
        ),
        case(
            "a clock advance backwards",
            "POST",
            "/v1/clock/advance",
            Json(json!({"milliseconds": -5})),
            422,
            "invalid",
            "forward",
        ),
        case(
            "a clock advance given twice",
            "POST",
            "/v1/clock/advance",
            Json(json!({"duration": "1h", "milliseconds": 5})),
            422,
            "invalid",
            "exactly one",
        ),
        case(
            "a history page of 0",
            "GET",
            "/v1/history?limit=0",
            None,
            400,
            "bad_request",
            "limit",
        ),
        case(
            "a history since that is not a number",
            "GET",
            "/v1/history?since=yesterday",
            None,
            400,
            "bad_request",
            "since",
        ),
        case(
            "an unknown query parameter",
            "GET",
            "/v1/history?colour=red",
            None,
            400,
            "bad_request",
            "colour",
        ),
    ]
}

async fn send(http: &reqwest::Client, base: &str, c: &Case) -> (StatusCode, String) {
    let method = reqwest::Method::from_bytes(c.method.as_bytes()).expect("a method");
    let mut req = http
        .request(method, format!("{base}{}", c.path))
        .bearer_auth(OPERATOR);
    req = match &c.body {
        Body::None => req,
        Body::Raw("__no_content_type__") => req.body("{\"project\": \"x\"}"),
        Body::Raw(text) => req.header("content-type", "application/json").body(*text),
        Body::Json(v) => req.json(v),
        Body::Huge => {
            let comment = "x".repeat(1024 * 1024 + 10);
            req.json(&json!({ "project": comment }))
        }
    };
    let resp = req.send().await.expect("the server answers");
    let status = resp.status();
    (status, resp.text().await.unwrap_or_default())
}

async fn seed(http: &reqwest::Client, base: &str) {
    for c in [
        json!({"command": "publish_release", "service_type": "pg", "version": "15.8", "critical": false}),
        json!({"command": "create_project", "name": "dev", "organization_id": null}),
        json!({"command": "create_project", "name": "prod", "organization_id": null}),
        json!({"command": "create_service", "service": "dev/pg", "service_type": "pg", "version": "15.8", "plan": null, "maintenance": null}),
        json!({"command": "create_service", "service": "prod/pg", "service_type": "pg", "version": "15.8", "plan": null, "maintenance": null}),
    ] {
        let r = http
            .post(format!("{base}/v1/commands"))
            .bearer_auth(OPERATOR)
            .json(&c)
            .send()
            .await
            .expect("seed");
        assert!(r.status().is_success());
    }
}

async fn journal(http: &reqwest::Client, base: &str) -> Value {
    http.get(format!("{base}/v1/history?limit=10000"))
        .bearer_auth(OPERATOR)
        .send()
        .await
        .expect("history")
        .json()
        .await
        .expect("json")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_gets_a_4xx_json_error_naming_the_problem_and_changes_nothing() {
    let server = TestServer::start().await;
    let base = server.url();
    let http = reqwest::Client::new();
    seed(&http, &base).await;
    let before = journal(&http, &base).await;
    let mut failures = Vec::new();
    for c in table() {
        let (status, text) = send(&http, &base, &c).await;
        let body: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        let message = body["error"].as_str().unwrap_or("");
        let rule = body["rule"].as_str().unwrap_or("");
        let named = message.contains(c.names) || rule == c.names;
        if status.as_u16() != c.status || body["code"] != c.code || !named {
            failures.push(format!(
                "{}: {} {} → {status} {text} (wanted {} {} naming '{}')",
                c.what, c.method, c.path, c.status, c.code, c.names
            ));
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
    assert_eq!(
        journal(&http, &base).await,
        before,
        "bad input changed the journal"
    );
    let health = http
        .get(format!("{base}/healthz"))
        .send()
        .await
        .expect("healthz");
    assert_eq!(health.status(), StatusCode::OK);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_last_event_id_is_refused_with_a_json_error() {
    let server = TestServer::start().await;
    let resp = reqwest::Client::new()
        .get(format!("{}/v1/events", server.url()))
        .bearer_auth(OPERATOR)
        .header("last-event-id", "forty-two")
        .send()
        .await
        .expect("answer");
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    let body: Value = resp.json().await.expect("json");
    assert!(
        body["error"]
            .as_str()
            .is_some_and(|e| e.contains("Last-Event-ID")),
        "{body}"
    );
    server.stop().await;
}
