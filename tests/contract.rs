//! The contract suite: every scenario is written once over `&dyn Engine` and run twice, on a
//! `LocalEngine` and on a `RemoteEngine` talking HTTP to a real server on a loopback port.
//! Same assertions, both must pass. The remote actor is the token's name (`alice`), so the
//! local runs act as `alice` too.

mod api_support;

use api_support::{OPERATOR, TestServer, monday};
use chrono::{Duration, NaiveTime, Weekday};
use lockstep::api::RemoteEngine;
use lockstep::engine::{ClockKind, Engine, EngineError, LocalEngine};
use lockstep::model::{
    Command, Event, MaintenanceWindow, Plan, RuleError, ServiceKey, ServiceType, State, Version,
};
use tempfile::TempDir;

const ACTOR: &str = "alice";

fn v(text: &str) -> Version {
    text.parse().expect("a version")
}

fn key(project: &str, name: &str) -> ServiceKey {
    ServiceKey::new(project, name)
}

async fn ok(engine: &dyn Engine, cmd: Command) -> Vec<Event> {
    let text = format!("{cmd:?}");
    match engine.execute(ACTOR, cmd).await {
        Ok(r) => r.events,
        Err(e) => panic!("{text} refused: {e}"),
    }
}

async fn refused(engine: &dyn Engine, cmd: Command) -> RuleError {
    let head = engine.snapshot().await.expect("snapshot").state.head;
    let err = match engine.execute(ACTOR, cmd).await {
        Err(EngineError::Refused(e)) => e,
        other => panic!("expected a refusal, got {other:?}"),
    };
    let after = engine.snapshot().await.expect("snapshot").state.head;
    assert_eq!(head, after, "P10: a refusal changes nothing");
    err
}

fn window(dow: Weekday, hour: u32) -> Option<MaintenanceWindow> {
    Some(MaintenanceWindow {
        dow,
        time: NaiveTime::from_hms_opt(hour, 0, 0).expect("a time"),
    })
}

/// The seed's fleet: pg 15.8 in dev (Mon 10:00), staging (Tue 03:00), prod (Wed 03:00);
/// dev→staging 3 days, staging→prod 7 days; then 15.9 is published.
async fn three_environments(engine: &dyn Engine) {
    let release = |version: &str| Command::PublishRelease {
        service_type: ServiceType::Pg,
        version: v(version),
        critical: false,
    };
    ok(engine, release("15.8")).await;
    for (env, dow, hour) in [
        ("dev", Weekday::Mon, 10),
        ("staging", Weekday::Tue, 3),
        ("prod", Weekday::Wed, 3),
    ] {
        let project = Command::CreateProject {
            name: env.into(),
            organization_id: None,
        };
        ok(engine, project).await;
        let service = Command::CreateService {
            service: key(env, "pg"),
            service_type: ServiceType::Pg,
            version: v("15.8"),
            plan: Some(Plan::Business),
            maintenance: window(dow, hour),
        };
        ok(engine, service).await;
    }
    for (src, dst, days) in [("dev", "staging", 3), ("staging", "prod", 7)] {
        let step = Command::CreateStep {
            organization_id: None,
            source: key(src, "pg"),
            destination: key(dst, "pg"),
            auto_validation_delay_days: Some(days),
        };
        ok(engine, step).await;
    }
    ok(engine, release("15.9")).await;
}

async fn version_of(engine: &dyn Engine, env: &str) -> String {
    let snap = engine.snapshot().await.expect("snapshot");
    let svc = snap.state.service(&key(env, "pg")).expect("service");
    svc.version.to_string()
}

async fn advance(engine: &dyn Engine, by: Duration) {
    engine.advance_clock(by).await.expect("advance");
}

/// SPEC §3 with manual validation of dev (V1, V2, V3, V4).
async fn v2_three_environments_with_manual_validation(engine: &dyn Engine) {
    three_environments(engine).await;
    advance(engine, Duration::minutes(10 * 60 + 31)).await; // Mon 10:31
    assert_eq!(version_of(engine, "dev").await, "15.9", "dev at its window");
    assert_eq!(version_of(engine, "staging").await, "15.8", "V1: held");
    assert_eq!(version_of(engine, "prod").await, "15.8", "V1: held");

    let validate = Command::ValidateForService {
        service: key("dev", "pg"),
        comment: Some("smoke tests green".into()),
    };
    assert_eq!(ok(engine, validate).await.len(), 1);
    let snap = engine.snapshot().await.expect("snapshot");
    let step = snap.state.step_view(snap.state.step(1).expect("step 1"));
    let lv = step.last_validation.expect("V4: last_validation");
    assert_eq!(lv.validated_by_user.as_deref(), Some(ACTOR));
    assert_eq!(lv.comment.as_deref(), Some("smoke tests green"));
    assert_eq!(lv.version, v("15.9"));

    advance(engine, Duration::hours(17)).await; // Tue 03:31
    assert_eq!(version_of(engine, "staging").await, "15.9");
    assert_eq!(
        version_of(engine, "prod").await,
        "15.8",
        "V1: held by step 2"
    );
    let snap = engine.snapshot().await.expect("snapshot");
    let step2 = snap.state.step_view(snap.state.step(2).expect("step 2"));
    let due = step2.auto_validation_at.expect("V4: auto_validation_at");
    assert!(due > monday() + Duration::days(8) && due < monday() + Duration::days(9));

    advance(engine, Duration::days(8) + Duration::hours(1)).await; // Wed 14th 04:31
    let snap = engine.snapshot().await.expect("snapshot");
    let step2 = snap.state.step_view(snap.state.step(2).expect("step 2"));
    let lv = step2.last_validation.expect("V3: auto-validated");
    assert_eq!(lv.validated_by_user, None, "V3: nobody");
    assert_eq!(step2.auto_validation_at, None);
    assert_eq!(version_of(engine, "prod").await, "15.9");
}

/// V2: validating what is already validated changes nothing and says so.
async fn v2_validating_twice_is_a_no_op_that_says_so(engine: &dyn Engine) {
    three_environments(engine).await;
    let validate = || Command::ValidateForService {
        service: key("dev", "pg"),
        comment: None,
    };
    let first = engine.execute(ACTOR, validate()).await.expect("validate");
    assert!(
        first.notice.is_some(),
        "15.8 was validated at creation (P7)"
    );
    assert!(first.events.is_empty());
    let none = Command::ValidateForService {
        service: key("prod", "pg"),
        comment: None,
    };
    assert_eq!(refused(engine, none).await.rule_id(), Some("V2"));
}

/// P1, P3, P6, not-found and conflicts: same refusal, same words, nothing changed (P10).
async fn p10_refusals_name_their_rule_and_change_nothing(engine: &dyn Engine) {
    three_environments(engine).await;
    let step = |src: &str, dst: &str, days: Option<i64>| Command::CreateStep {
        organization_id: None,
        source: key(src, "pg"),
        destination: key(dst, "pg"),
        auto_validation_delay_days: days,
    };
    let delay = Command::UpdateStep {
        step_id: 1,
        auto_validation_delay_days: 31,
    };
    assert_eq!(refused(engine, delay).await.rule_id(), Some("P6"));
    let cycle = step("prod", "dev", Some(3));
    assert_eq!(refused(engine, cycle).await.rule_id(), Some("P3"));
    let mysql = Command::CreateService {
        service: key("dev", "mysql"),
        service_type: ServiceType::Mysql,
        version: v("8.0"),
        plan: None,
        maintenance: None,
    };
    ok(engine, mysql).await;
    let p1 = Command::CreateStep {
        organization_id: None,
        source: key("dev", "mysql"),
        destination: key("prod", "pg"),
        auto_validation_delay_days: None,
    };
    assert_eq!(refused(engine, p1).await.rule_id(), Some("P1"));
    let missing = step("dev", "nowhere", None);
    let err = refused(engine, Command::DeleteStep { step_id: 99 }).await;
    assert!(matches!(err, RuleError::NotFound { .. }), "{err:?}");
    let err = refused(engine, missing).await;
    assert!(matches!(err, RuleError::NotFound { .. }), "{err:?}");
    let twice = Command::CreateProject {
        name: "dev".into(),
        organization_id: None,
    };
    assert!(matches!(
        refused(engine, twice).await,
        RuleError::Conflict { .. }
    ));
}

/// `subscribe` sees every event appended afterwards, in order, exactly as the receipts say.
async fn subscribers_see_every_event_in_order(engine: &dyn Engine) {
    let mut rx = engine.subscribe();
    three_environments(engine).await;
    let receipt = engine
        .advance_clock(Duration::days(3))
        .await
        .expect("advance");
    let last = receipt.events.last().expect("updates happened").seq;
    let all = engine.events(0, 10_000).await.expect("events");
    let mut seen = Vec::new();
    while seen.last().is_none_or(|e: &Event| e.seq < last) {
        let e = tokio::time::timeout(std::time::Duration::from_secs(10), rx.recv())
            .await
            .expect("an event within 10 s")
            .expect("no lag");
        seen.push(e);
    }
    assert_eq!(seen, all, "the stream is the journal");
}

/// `events(since, limit)` pages the journal; folding it gives the snapshot's state (V9).
async fn v9_history_pages_and_folds_to_the_snapshot(engine: &dyn Engine) {
    three_environments(engine).await;
    advance(engine, Duration::days(2)).await;
    let all = engine.events(0, 10_000).await.expect("events");
    let first = engine.events(0, 3).await.expect("page 1");
    let rest = engine.events(3, 10_000).await.expect("page 2");
    assert_eq!(first.len(), 3);
    assert_eq!([first, rest].concat(), all);
    assert!(all.windows(2).all(|w| w[1].seq == w[0].seq + 1));
    assert!(all.iter().all(|e| e.actor == ACTOR || e.actor == "system"));
    let mut folded = State::new();
    for e in &all {
        folded.apply(e);
    }
    let snap = engine.snapshot().await.expect("snapshot");
    assert_eq!(snap.state.head, all.last().expect("events").seq);
    assert_eq!(
        serde_json::to_value(&folded).expect("json"),
        serde_json::to_value(&snap.state).expect("json")
    );
}

/// The virtual clock: shown, moved forward, never backward.
async fn virtual_clock_moves_forward_only(engine: &dyn Engine) {
    let clock = engine.clock().await.expect("clock");
    assert_eq!(clock.kind, ClockKind::Virtual);
    assert_eq!(clock.now, monday());
    advance(engine, Duration::minutes(90)).await;
    assert_eq!(
        engine.clock().await.expect("clock").now,
        monday() + Duration::minutes(90)
    );
    let back = engine.advance_clock(Duration::minutes(-5)).await;
    assert!(
        matches!(&back, Err(EngineError::Invalid(m)) if m.contains("forward")),
        "{back:?}"
    );
    let snap = engine.snapshot().await.expect("snapshot");
    assert_eq!(snap.clock.now, monday() + Duration::minutes(90));
}

async fn local() -> (LocalEngine, TempDir) {
    let dir = tempfile::tempdir().expect("tempdir");
    let engine = LocalEngine::create(&dir.path().join("c.db"), ClockKind::Virtual, monday())
        .expect("create");
    (engine, dir)
}

macro_rules! contract {
    ($($scenario:ident),* $(,)?) => { $(
        mod $scenario {
            use super::*;

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn on_local_engine() {
                let (engine, _dir) = local().await;
                super::$scenario(&engine).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn on_remote_engine() {
                let server = TestServer::start().await;
                let engine = RemoteEngine::connect(&server.url(), OPERATOR)
                    .await
                    .expect("connect");
                super::$scenario(&engine).await;
                drop(engine);
                server.stop().await;
            }
        }
    )* };
}

contract!(
    v2_three_environments_with_manual_validation,
    v2_validating_twice_is_a_no_op_that_says_so,
    p10_refusals_name_their_rule_and_change_nothing,
    subscribers_see_every_event_in_order,
    v9_history_pages_and_folds_to_the_snapshot,
    virtual_clock_moves_forward_only,
);

/// The strongest form of the contract: the same commands give byte-identical journals.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_engines_write_identical_journals() {
    let (local, _dir) = local().await;
    let server = TestServer::start().await;
    let remote = RemoteEngine::connect(&server.url(), OPERATOR)
        .await
        .expect("connect");
    for engine in [&local as &dyn Engine, &remote] {
        three_environments(engine).await;
        advance(engine, Duration::days(10)).await;
    }
    let a = local.events(0, 10_000).await.expect("local events");
    let b = remote.events(0, 10_000).await.expect("remote events");
    assert!(a.len() >= 15, "{}", a.len());
    assert_eq!(a, b);
    drop(remote);
    server.stop().await;
}
