//! Tokens against every endpoint class, over real HTTP: public paths answer anyone; reads need
//! a viewer or operator token; writes need an operator token. Missing or unknown → 401,
//! viewer on a write → 403, always with a JSON error that never echoes the token.

mod api_support;

use api_support::{OPERATOR, TestServer, VIEWER};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

#[derive(Clone, Copy, Debug)]
enum Caller {
    Nobody,
    WrongToken,
    Viewer,
    Operator,
}

const WRONG: &str = "not-a-real-token-0123456789";

fn token(c: Caller) -> Option<&'static str> {
    match c {
        Caller::Nobody => None,
        Caller::WrongToken => Some(WRONG),
        Caller::Viewer => Some(VIEWER),
        Caller::Operator => Some(OPERATOR),
    }
}

const CALLERS: [Caller; 4] = [
    Caller::Nobody,
    Caller::WrongToken,
    Caller::Viewer,
    Caller::Operator,
];

fn public() -> Vec<(Method, &'static str, Option<Value>)> {
    vec![
        (Method::GET, "/healthz", None),
        (Method::GET, "/v1/openapi.json", None),
    ]
}

fn reads() -> Vec<(Method, &'static str, Option<Value>)> {
    [
        "/v1/head",
        "/v1/snapshot",
        "/v1/clock",
        "/v1/history?since=0&limit=10",
        "/metrics",
        "/v1/organization/default/upgrade-pipeline/steps",
        "/v1/organization/default/upgrade-pipeline/steps/1",
        "/v1/project",
        "/v1/project/dev/service",
        "/v1/project/dev/service/pg",
        "/v1/release",
        "/v1/events",
    ]
    .into_iter()
    .map(|p| (Method::GET, p, None))
    .collect()
}

fn writes() -> Vec<(Method, &'static str, Option<Value>)> {
    let steps = "/v1/organization/default/upgrade-pipeline/steps";
    vec![
        (
            Method::POST,
            "/v1/commands",
            Some(json!({"command": "create_project", "name": "ops", "organization_id": null})),
        ),
        (Method::POST, "/v1/project", Some(json!({"project": "qa"}))),
        (
            Method::POST,
            "/v1/project/dev/service",
            Some(json!({"service_name": "pg2", "service_type": "pg", "version": "15.8"})),
        ),
        (
            Method::POST,
            "/v1/release",
            Some(json!({"service_type": "pg", "version": "15.10"})),
        ),
        (
            Method::POST,
            steps,
            Some(
                json!({"source_project_name": "dev", "source_service_name": "pg",
                        "destination_project_name": "prod", "destination_service_name": "pg"}),
            ),
        ),
        (
            Method::PATCH,
            "/v1/organization/default/upgrade-pipeline/steps/1",
            Some(json!({"auto_validation_delay_days": 5})),
        ),
        (
            Method::POST,
            "/v1/project/dev/service/pg/upgrade-validation",
            Some(json!({"comment": "ok"})),
        ),
        (
            Method::PUT,
            "/v1/project/dev/service/pg",
            Some(json!({"powered": true})),
        ),
        (
            Method::PUT,
            "/v1/project/dev/service/pg/maintenance/start",
            None,
        ),
        (
            Method::POST,
            "/v1/clock/advance",
            Some(json!({"duration": "1m"})),
        ),
        (
            Method::DELETE,
            "/v1/organization/default/upgrade-pipeline/steps/1",
            None,
        ),
    ]
}

async fn call(
    http: &reqwest::Client,
    base: &str,
    caller: Caller,
    method: &Method,
    path: &str,
    body: Option<&Value>,
) -> (StatusCode, String) {
    let mut req = http.request(method.clone(), format!("{base}{path}"));
    if let Some(t) = token(caller) {
        req = req.bearer_auth(t);
    }
    if let Some(b) = body {
        req = req.json(b);
    }
    let resp = req.send().await.expect("the server answers");
    let status = resp.status();
    if path == "/v1/events" && status.is_success() {
        return (status, String::new()); // a stream: the status is the answer
    }
    (status, resp.text().await.unwrap_or_default())
}

async fn seed(base: &str, http: &reqwest::Client) {
    let cmds = [
        json!({"command": "publish_release", "service_type": "pg", "version": "15.8", "critical": false}),
        json!({"command": "create_project", "name": "dev", "organization_id": null}),
        json!({"command": "create_project", "name": "prod", "organization_id": null}),
        json!({"command": "create_service", "service": "dev/pg", "service_type": "pg", "version": "15.8", "plan": null, "maintenance": null}),
        json!({"command": "create_service", "service": "prod/pg", "service_type": "pg", "version": "15.8", "plan": null, "maintenance": null}),
    ];
    for c in cmds {
        let r = http
            .post(format!("{base}/v1/commands"))
            .bearer_auth(OPERATOR)
            .json(&c)
            .send()
            .await
            .expect("seed");
        assert!(r.status().is_success(), "seed {c}: {}", r.status());
    }
}

fn assert_json_error(status: StatusCode, text: &str, code: &str, what: &str) {
    let v: Value =
        serde_json::from_str(text).unwrap_or_else(|_| panic!("{what}: not JSON: {text}"));
    assert_eq!(v["code"], code, "{what} → {status}: {text}");
    assert!(
        v["error"].as_str().is_some_and(|e| !e.is_empty()),
        "{what}: {text}"
    );
    for secret in [OPERATOR, VIEWER, WRONG] {
        assert!(!text.contains(secret), "{what}: the answer leaks a token");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_role_against_every_endpoint_class() {
    let server = TestServer::start().await;
    let base = server.url();
    let http = reqwest::Client::new();
    seed(&base, &http).await;
    for (method, path, body) in public() {
        for caller in CALLERS {
            let (status, _) = call(&http, &base, caller, &method, path, body.as_ref()).await;
            assert_eq!(
                status,
                StatusCode::OK,
                "public {method} {path} as {caller:?}"
            );
        }
    }
    for (method, path, body) in reads() {
        for caller in CALLERS {
            let (status, text) = call(&http, &base, caller, &method, path, body.as_ref()).await;
            let what = format!("read {method} {path} as {caller:?}");
            match caller {
                Caller::Nobody | Caller::WrongToken => {
                    assert_eq!(status, StatusCode::UNAUTHORIZED, "{what}");
                    assert_json_error(status, &text, "unauthorized", &what);
                }
                Caller::Viewer | Caller::Operator => {
                    assert!(
                        status.is_success() || status == StatusCode::NOT_FOUND,
                        "{what}: {status} {text}"
                    );
                }
            }
        }
    }
    for (method, path, body) in writes() {
        for caller in CALLERS {
            let head = server_head(&http, &base).await;
            let (status, text) = call(&http, &base, caller, &method, path, body.as_ref()).await;
            let what = format!("write {method} {path} as {caller:?}");
            match caller {
                Caller::Nobody | Caller::WrongToken => {
                    assert_eq!(status, StatusCode::UNAUTHORIZED, "{what}");
                    assert_json_error(status, &text, "unauthorized", &what);
                }
                Caller::Viewer => {
                    assert_eq!(status, StatusCode::FORBIDDEN, "{what}");
                    assert_json_error(status, &text, "forbidden", &what);
                }
                Caller::Operator => {
                    assert!(
                        status != StatusCode::UNAUTHORIZED && status != StatusCode::FORBIDDEN,
                        "{what}: {status} {text}"
                    );
                    assert!(status.as_u16() < 500, "{what}: {status} {text}");
                    continue;
                }
            }
            assert_eq!(
                server_head(&http, &base).await,
                head,
                "{what} changed state"
            );
        }
    }
    server.stop().await;
}

async fn server_head(http: &reqwest::Client, base: &str) -> u64 {
    let v: Value = http
        .get(format!("{base}/v1/head"))
        .bearer_auth(VIEWER)
        .send()
        .await
        .expect("head")
        .json()
        .await
        .expect("json");
    v["head"].as_u64().expect("head")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_token_name_is_the_actor_recorded_as_validated_by_user() {
    let server = TestServer::start().await;
    let base = server.url();
    let http = reqwest::Client::new();
    seed(&base, &http).await;
    let steps = format!("{base}/v1/organization/default/upgrade-pipeline/steps");
    let created: Value = http
        .post(&steps)
        .bearer_auth(OPERATOR)
        .json(
            &json!({"source_project_name": "dev", "source_service_name": "pg",
                      "destination_project_name": "prod", "destination_service_name": "pg",
                      "auto_validation_delay_days": 3}),
        )
        .send()
        .await
        .expect("create step")
        .json()
        .await
        .expect("json");
    assert_eq!(created["step_id"], 1, "{created}");
    assert_eq!(created["auto_validation_delay_days"], 3);
    let publish = json!({"service_type": "pg", "version": "15.9"});
    http.post(format!("{base}/v1/release"))
        .bearer_auth(OPERATOR)
        .json(&publish)
        .send()
        .await
        .expect("publish");
    let start = format!("{base}/v1/project/dev/service/pg/maintenance/start");
    http.put(&start)
        .bearer_auth(OPERATOR)
        .send()
        .await
        .expect("start");
    http.post(format!("{base}/v1/clock/advance"))
        .bearer_auth(OPERATOR)
        .json(&json!({"duration": "1h"}))
        .send()
        .await
        .expect("advance");
    let r = http
        .post(format!(
            "{base}/v1/project/dev/service/pg/upgrade-validation"
        ))
        .bearer_auth(OPERATOR)
        .json(&json!({"comment": "looks good"}))
        .send()
        .await
        .expect("validate");
    assert_eq!(r.status(), StatusCode::OK);
    let step: Value = http
        .get(format!("{steps}/1"))
        .bearer_auth(VIEWER)
        .send()
        .await
        .expect("get step")
        .json()
        .await
        .expect("json");
    let lv = &step["last_validation"];
    assert_eq!(lv["validated_by_user"], "alice", "{step}");
    assert_eq!(lv["comment"], "looks good", "{step}");
    assert_eq!(lv["version"], "15.9", "{step}");
    let history: Value = http
        .get(format!("{base}/v1/history"))
        .bearer_auth(VIEWER)
        .send()
        .await
        .expect("history")
        .json()
        .await
        .expect("json");
    let text = history.to_string();
    assert!(
        !text.contains(OPERATOR) && !text.contains(VIEWER),
        "tokens in events"
    );
    server.stop().await;
}
