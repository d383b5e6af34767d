//! The run board (B10) on the demo fleet: a run of acme-prod/pg-orders 15.8 → 17.2 on the
//! simulated driver, snapshotted in every phase, and the switchover, refusal, rollback and
//! start popups. `now` is the engine's virtual clock, so every figure is deterministic.

use chrono::Duration;
use lockstep::engine::{Engine, LocalEngine};
use lockstep::model::{Command, RunPhase, RunStatus, ServiceKey, Version};
use lockstep::tui::app::{App, Options, Pane};
use lockstep::tui::keymap::Keymap;
use lockstep::tui::testing::{press, screen};
use lockstep::tui::theme::Theme;
use lockstep::tui::{Action, Effect, update};

struct Demo {
    engine: LocalEngine,
    _dir: tempfile::TempDir,
}

fn orders() -> ServiceKey {
    ServiceKey::new("acme-prod", "pg-orders")
}

async fn demo() -> Demo {
    let dir = tempfile::tempdir().expect("tempdir");
    let engine = lockstep::demo::create(&dir.path().join("demo.db"), true)
        .await
        .expect("demo fleet");
    Demo { engine, _dir: dir }
}

impl Demo {
    async fn exec(&self, command: Command) {
        self.engine
            .execute("tester", command)
            .await
            .expect("accepted");
        self.engine.drive().await.expect("driver");
    }

    async fn start(&self) {
        self.exec(Command::StartRun {
            service: orders(),
            target_version: "17.2".parse::<Version>().expect("version"),
            switchover_timeout_s: None,
            lag_threshold_bytes: None,
            long_txn_limit_s: None,
            auto_switchover: false,
        })
        .await;
    }

    async fn run(&self) -> lockstep::model::Run {
        let snap = self.engine.snapshot().await.expect("snapshot");
        snap.state.runs.values().next().cloned().expect("a run")
    }

    /// Advances a minute at a time until `done` holds for the run.
    async fn until(&self, done: impl Fn(&lockstep::model::Run) -> bool) {
        for _ in 0..180 {
            if done(&self.run().await) {
                return;
            }
            self.engine
                .advance_clock(Duration::minutes(1))
                .await
                .expect("advance");
        }
        panic!("the run never got there: {:?}", self.run().await.phase);
    }

    async fn id(&self) -> String {
        self.run().await.run_id
    }

    async fn app(&self, read_only: bool) -> App {
        let snapshot = self.engine.snapshot().await.expect("snapshot");
        let recent = self.engine.events(0, 2000).await.expect("events");
        let mut info = self.engine.info();
        info.location = "demo.db".into();
        let options = Options {
            read_only,
            actor: "tester".into(),
            demo: true,
        };
        let mut app = App::new(
            snapshot,
            info,
            recent,
            options,
            Theme::fallback(),
            Keymap::defaults(),
        );
        press(&mut app, &["b"]);
        assert_eq!(app.pane, Pane::RunBoard);
        app
    }
}

fn shot(app: &mut App) -> String {
    let now = app.now();
    screen(app, 120, 40, now)
}

async fn phase_shot(phase: RunPhase) -> String {
    let d = demo().await;
    d.start().await;
    d.until(|r| r.phase == phase).await;
    shot(&mut d.app(false).await)
}

#[tokio::test]
async fn board_b1_prerequisites() {
    insta::assert_snapshot!(phase_shot(RunPhase::Prerequisites).await);
}

#[tokio::test]
async fn board_b2_provisioning() {
    insta::assert_snapshot!(phase_shot(RunPhase::Provisioning).await);
}

#[tokio::test]
async fn board_b3_vacuum_analyze() {
    insta::assert_snapshot!(phase_shot(RunPhase::PostProvisioning).await);
}

#[tokio::test]
async fn board_b4_replicating_waits_for_the_operator() {
    let d = demo().await;
    d.start().await;
    d.until(|r| r.status == RunStatus::WaitingForOperator).await;
    let mut app = d.app(false).await;
    insta::assert_snapshot!(shot(&mut app));
    press(&mut app, &["Z", "f"]);
    insta::assert_snapshot!("board_b4_zoomed_out_and_frozen", shot(&mut app));
}

/// B13: the B1 inventory as a real PostgreSQL run reports it (items as `tests/pg_parity.rs`
/// finds them on its schema): the unlogged table awaits a choice, so parity is red and the
/// board says how to choose.
#[tokio::test]
async fn board_b1_inventory_names_what_awaits_a_choice() {
    use lockstep::model::run::{Inventory, ItemKind, Treatment};
    let d = demo().await;
    d.start().await;
    d.until(|r| r.status == RunStatus::WaitingForOperator).await;
    let id = d.id().await;
    let mut app = d.app(false).await;
    let mut inv = Inventory::default();
    let carry = Treatment::Carry;
    inv.push(
        ItemKind::Roles,
        "3 roles, 1 memberships",
        carry,
        "copied in B2",
    );
    inv.push(
        ItemKind::Owners,
        "app_owner, lockstep",
        carry,
        "kept by the schema copy",
    );
    inv.push(
        ItemKind::Privileges,
        "3 objects with grants, 1 default privileges",
        carry,
        "kept by the schema copy",
    );
    inv.push(
        ItemKind::LargeObjects,
        "6 large objects, 57.5 kB",
        carry,
        "copied in B3",
    );
    inv.push(
        ItemKind::MaterializedView,
        "sales.by_region",
        carry,
        "refreshed",
    );
    inv.push(
        ItemKind::UnloggedTable,
        "public.sessions",
        Treatment::Choose,
        "unlogged: logical replication cannot follow it",
    );
    let run = app.state.runs.get_mut(&id).expect("the run");
    run.inventory = Some(inv);
    run.status = RunStatus::Active;
    insta::assert_snapshot!(shot(&mut app));
}

#[tokio::test]
async fn board_b5_to_b7_and_completed() {
    let d = demo().await;
    d.start().await;
    d.until(|r| r.status == RunStatus::WaitingForOperator).await;
    let id = d.id().await;
    d.exec(Command::Switchover {
        run_id: id,
        force: false,
        comment: None,
    })
    .await;
    insta::assert_snapshot!("board_b5_switchover", shot(&mut d.app(false).await));
    d.until(|r| r.phase == RunPhase::PostSwitchover).await;
    insta::assert_snapshot!("board_b6_post_switchover", shot(&mut d.app(false).await));
    d.until(|r| r.phase == RunPhase::Cleanup).await;
    insta::assert_snapshot!("board_b7_cleanup", shot(&mut d.app(false).await));
    d.until(|r| r.status == RunStatus::Completed).await;
    insta::assert_snapshot!("board_completed", shot(&mut d.app(false).await));
}

#[tokio::test]
async fn board_after_a_switchover_past_its_timeout_reverted() {
    let d = demo().await;
    d.start().await;
    d.until(|r| r.status == RunStatus::WaitingForOperator).await;
    d.exec(Command::SimFault {
        service: orders(),
        fault: lockstep::model::run::Fault::SlowSwitchover,
        clear: false,
    })
    .await;
    let id = d.id().await;
    d.exec(Command::Switchover {
        run_id: id,
        force: false,
        comment: None,
    })
    .await;
    d.until(|r| !r.reverts.is_empty() && r.latest.is_some())
        .await;
    insta::assert_snapshot!(shot(&mut d.app(false).await));
}

#[tokio::test]
async fn board_rolled_back() {
    let d = demo().await;
    d.start().await;
    d.until(|r| r.phase == RunPhase::Provisioning).await;
    d.exec(Command::Rollback {
        run_id: d.id().await,
    })
    .await;
    d.until(|r| r.status == RunStatus::RolledBack).await;
    insta::assert_snapshot!(shot(&mut d.app(false).await));
}

#[tokio::test]
async fn switchover_key_confirms_then_runs_the_command() {
    let d = demo().await;
    d.start().await;
    d.until(|r| r.status == RunStatus::WaitingForOperator).await;
    let mut app = d.app(false).await;
    press(&mut app, &["s"]);
    insta::assert_snapshot!("popup_confirm_switchover", shot(&mut app));
    let effect = update(&mut app, Action::Key(lockstep::tui::testing::key("y")));
    match effect {
        Some(Effect::Execute { command, .. }) => {
            assert!(matches!(*command, Command::Switchover { force: false, .. }));
        }
        other => panic!("y runs the switchover: {other:?}"),
    }
}

#[tokio::test]
async fn switchover_with_a_red_guardrail_shows_the_refusal() {
    let d = demo().await;
    d.exec(Command::SimFault {
        service: orders(),
        fault: lockstep::model::run::Fault::LagStuck,
        clear: false,
    })
    .await;
    d.start().await;
    d.until(|r| r.latest.is_some()).await;
    let mut app = d.app(false).await;
    press(&mut app, &["s"]);
    insta::assert_snapshot!("popup_switchover_refused", shot(&mut app));
    let effect = update(&mut app, Action::Key(lockstep::tui::testing::key("y")));
    assert_eq!(effect, Some(Effect::Resync), "a refusal runs nothing");
}

#[tokio::test]
async fn rollback_key_confirms_and_read_only_hides_it() {
    let d = demo().await;
    d.start().await;
    d.until(|r| r.phase == RunPhase::Provisioning).await;
    let mut app = d.app(false).await;
    press(&mut app, &["a"]);
    insta::assert_snapshot!("popup_confirm_rollback", shot(&mut app));
    let mut ro = d.app(true).await;
    press(&mut ro, &["a", "s"]);
    assert!(ro.modal.is_none(), "read-only: no rollback, no switchover");
    insta::assert_snapshot!("board_read_only", shot(&mut ro));
}

#[tokio::test]
async fn start_key_on_a_pg_service_confirms_a_run() {
    let d = demo().await;
    let mut app = d.app_without_run().await;
    app.detail = Some(orders());
    app.pane = Pane::Detail;
    press(&mut app, &["u"]);
    insta::assert_snapshot!("popup_confirm_start", shot(&mut app));
}

impl Demo {
    async fn app_without_run(&self) -> App {
        let snapshot = self.engine.snapshot().await.expect("snapshot");
        let options = Options {
            read_only: false,
            actor: "tester".into(),
            demo: true,
        };
        let mut info = self.engine.info();
        info.location = "demo.db".into();
        App::new(
            snapshot,
            info,
            Vec::new(),
            options,
            Theme::fallback(),
            Keymap::defaults(),
        )
    }
}

#[tokio::test]
async fn on_a_system_clock_ticks_let_the_driver_act() {
    let dir = tempfile::tempdir().expect("tempdir");
    let engine = LocalEngine::create(
        &dir.path().join("sys.db"),
        lockstep::engine::ClockKind::System,
        chrono::Utc::now(),
    )
    .expect("engine");
    for c in [
        Command::CreateProject {
            name: "p".into(),
            organization_id: None,
        },
        Command::PublishRelease {
            service_type: lockstep::model::ServiceType::Pg,
            version: "17.2".parse().expect("version"),
            critical: false,
        },
        Command::CreateService {
            service: ServiceKey::new("p", "orders"),
            service_type: lockstep::model::ServiceType::Pg,
            version: "15.8".parse().expect("version"),
            plan: None,
            maintenance: None,
        },
    ] {
        engine.execute("tester", c).await.expect("setup");
    }
    let mut app = App::new(
        engine.snapshot().await.expect("snapshot"),
        engine.info(),
        Vec::new(),
        Options {
            read_only: false,
            actor: "tester".into(),
            demo: false,
        },
        Theme::fallback(),
        Keymap::defaults(),
    );
    app.detail = Some(ServiceKey::new("p", "orders"));
    app.pane = Pane::Detail;
    let mut events = engine.subscribe();
    lockstep::tui::testing::drive(&mut app, &engine, &["u", "y"]).await;
    assert_eq!(
        app.state.runs.len(),
        1,
        "the run started from the dashboard"
    );
    assert!(app.state.has_driver_work(), "B1 waits for the driver");
    let effect = update(
        &mut app,
        Action::Tick {
            now: chrono::Utc::now(),
        },
    );
    assert_eq!(effect, Some(Effect::Drive), "a tick lets the driver act");
    let answer = lockstep::tui::perform(&engine, "tester", Effect::Drive).await;
    let _ = update(&mut app, answer);
    let mut batch = Vec::new();
    while let Ok(e) = events.try_recv() {
        batch.push(e);
    }
    let _ = update(&mut app, Action::Engine(batch));
    let run = app.state.runs.values().next().expect("run");
    assert!(
        run.pending.is_none() && run.completion.is_some(),
        "B1 under way: {run:?}"
    );
}

#[tokio::test]
async fn board_fits_80x24() {
    let d = demo().await;
    d.start().await;
    d.until(|r| r.status == RunStatus::WaitingForOperator).await;
    let mut app = d.app(false).await;
    let now = app.now();
    insta::assert_snapshot!(screen(&mut app, 80, 24, now));
}
