//! The incidents pane and time travel on the demo fleet, against a real engine (a SQLite file
//! on a virtual clock): screens as insta snapshots, behaviour as assertions.
//!
//! The demo opens with kafka-eu's primary just lost (F1): an open incident with a 60 s
//! timeout before its standby is promoted.

use chrono::Duration;
use lockstep::engine::{Engine, LocalEngine};
use lockstep::model::ServiceKey;
use lockstep::model::fleet::IncidentKind;
use lockstep::tui::action::Action;
use lockstep::tui::app::{App, Options, Pane};
use lockstep::tui::keymap::Keymap;
use lockstep::tui::testing::{drive, press, screen, type_text};
use lockstep::tui::theme::Theme;
use lockstep::tui::update;

struct Demo {
    app: App,
    engine: LocalEngine,
    _dir: tempfile::TempDir,
}

async fn demo() -> Demo {
    let dir = tempfile::tempdir().expect("tempdir");
    let engine = lockstep::demo::create(&dir.path().join("demo.db"), true)
        .await
        .expect("demo fleet");
    let app = load(&engine).await;
    Demo {
        app,
        engine,
        _dir: dir,
    }
}

async fn load(engine: &LocalEngine) -> App {
    let snapshot = engine.snapshot().await.expect("snapshot");
    let recent = engine.events(0, 2000).await.expect("events");
    let mut info = engine.info();
    info.location = "demo.db".into();
    let options = Options {
        read_only: false,
        actor: "tester".into(),
        demo: false,
    };
    App::new(
        snapshot,
        info,
        recent,
        options,
        Theme::fallback(),
        Keymap::defaults(),
    )
}

impl Demo {
    /// Moves the engine's clock and feeds the events and the new clock to the dashboard.
    async fn advance(&mut self, by: Duration) {
        let mut events = self.engine.subscribe();
        self.engine.advance_clock(by).await.expect("advance");
        let mut batch = Vec::new();
        while let Ok(e) = events.try_recv() {
            batch.push(e);
        }
        if !batch.is_empty() {
            let _ = update(&mut self.app, Action::Engine(batch));
        }
        let clock = self.engine.clock().await.expect("clock");
        let _ = update(&mut self.app, Action::Clock(clock));
    }

    fn shot(&mut self, w: u16, h: u16) -> String {
        let now = self.app.now();
        screen(&mut self.app, w, h, now)
    }
}

fn kafka_eu() -> ServiceKey {
    ServiceKey::new("acme-prod", "kafka-eu")
}

#[tokio::test]
async fn incidents_pane_counts_down_to_promotion_120x40() {
    let mut d = demo().await;
    d.advance(Duration::seconds(42)).await;
    press(&mut d.app, &["5"]);
    let s = d.shot(120, 40);
    assert!(s.contains("0:42 / 1:00 → promotion"), "{s}");
    insta::assert_snapshot!(s);
}

#[tokio::test]
async fn incidents_panel_sits_above_the_steps_120x40() {
    let mut d = demo().await;
    d.advance(Duration::seconds(42)).await;
    let s = d.shot(120, 40);
    assert!(s.contains("kafka-eu  primary lost (F1)"), "{s}");
    insta::assert_snapshot!(s);
}

#[tokio::test]
async fn incidents_pane_after_promotion_80x24() {
    let mut d = demo().await;
    d.advance(Duration::seconds(61)).await;
    press(&mut d.app, &["5"]);
    let s = d.shot(80, 24);
    assert!(s.contains("building"), "a new standby is being built: {s}");
    insta::assert_snapshot!(s);
}

#[tokio::test]
async fn scrubbing_back_shows_the_moment_before_the_incident_120x40() {
    let mut d = demo().await;
    d.advance(Duration::seconds(42)).await;
    let live_head = d.app.state.head;
    // `[` reads the journal and shows the dashboard one event earlier.
    drive(&mut d.app, &d.engine, &["["]).await;
    let travel = d.app.travel.as_ref().expect("travelling");
    assert_eq!(d.app.state.head, live_head - 1);
    assert_eq!(travel.live.head, live_head, "the live mirror is kept");
    // Step back until the incident is not open yet.
    let mut steps = 0;
    while d
        .app
        .state
        .incidents_of(&kafka_eu())
        .any(|i| i.is_open() && i.kind == IncidentKind::PrimaryLost)
    {
        press(&mut d.app, &["["]);
        steps += 1;
        assert!(steps < 20, "the incident opened within the last events");
    }
    let s = d.shot(120, 40);
    assert!(s.contains("viewing"), "{s}");
    assert!(s.contains("live is 03:04:42"), "{s}");
    insta::assert_snapshot!(s);
}

#[tokio::test]
async fn every_scrubbed_state_equals_a_fold_of_the_journal() {
    let mut d = demo().await;
    d.advance(Duration::minutes(10)).await;
    let journal = d.engine.events(0, 100_000).await.expect("journal");
    drive(&mut d.app, &d.engine, &["["]).await;
    for _ in 0..40 {
        let seq = d.app.state.head;
        let folded = lockstep::model::travel::state_upto(&journal, seq);
        assert_eq!(
            serde_json::to_value(&d.app.state).expect("json"),
            serde_json::to_value(&folded).expect("json"),
            "state at event {seq}"
        );
        press(&mut d.app, &["["]);
    }
    // `]` walks forward again, and past the newest event returns to live.
    for _ in 0..45 {
        press(&mut d.app, &["]"]);
    }
    assert!(d.app.travel.is_none(), "past the newest event is live");
    assert_eq!(d.app.state.head, journal.last().expect("events").seq);
}

#[tokio::test]
async fn the_past_refuses_changes_and_esc_returns_to_live() {
    let mut d = demo().await;
    drive(&mut d.app, &d.engine, &["["]).await;
    let head_before = d.engine.snapshot().await.expect("snapshot").state.head;
    press(&mut d.app, &["1", "j", "j", "j", "j", "m"]);
    assert!(d.app.modal.is_none(), "no popup opens in the past");
    let status = d.app.status.as_ref().expect("a status").text.clone();
    assert!(status.contains("viewing the past"), "{status}");
    assert!(status.contains("esc returns to live"), "{status}");
    assert_eq!(
        d.engine.snapshot().await.expect("snapshot").state.head,
        head_before,
        "nothing was changed"
    );
    press(&mut d.app, &["esc"]);
    assert!(d.app.travel.is_none());
    assert_eq!(d.app.state.head, head_before);
}

#[tokio::test]
async fn live_events_keep_folding_while_the_past_is_on_screen() {
    let mut d = demo().await;
    drive(&mut d.app, &d.engine, &["["]).await;
    let shown = d.app.state.head;
    d.advance(Duration::minutes(30)).await;
    assert_eq!(d.app.state.head, shown, "the past does not move");
    let live = d.app.travel.as_ref().expect("travelling").live.head;
    assert!(live > shown + 1, "the live mirror moved on: {live}");
    press(&mut d.app, &["esc"]);
    assert_eq!(d.app.state.head, live);
    // Promoted and rebuilt in 30 minutes: the live state has no open incident left.
    assert!(d.app.state.incidents_of(&kafka_eu()).all(|i| !i.is_open()));
}

#[tokio::test]
async fn typed_time_travels_and_bad_input_says_what_to_type_120x40() {
    let mut d = demo().await;
    d.advance(Duration::minutes(10)).await;
    press(&mut d.app, &["T"]);
    type_text(&mut d.app, "yesterday-ish");
    press(&mut d.app, &["enter"]);
    let s = d.shot(120, 40);
    assert!(s.contains("is not a time"), "{s}");
    insta::assert_snapshot!("typed_time_refused", s);
    for _ in 0.."yesterday-ish".len() {
        press(&mut d.app, &["backspace"]);
    }
    type_text(&mut d.app, "03:04:30");
    let mut next = update(
        &mut d.app,
        Action::Key(lockstep::tui::testing::key("enter")),
    );
    while let Some(effect) = next.take() {
        let answer = lockstep::tui::perform(&d.engine, "tester", effect).await;
        next = update(&mut d.app, answer);
    }
    assert_eq!(d.app.pane, Pane::Pipelines);
    assert_eq!(
        d.app.now(),
        "2026-01-06T03:04:30Z"
            .parse::<chrono::DateTime<chrono::Utc>>()
            .expect("time"),
        "the typed instant itself is shown"
    );
    press(&mut d.app, &["5"]);
    let s = d.shot(120, 40);
    assert!(s.contains("0:30 / 1:00 → promotion"), "{s}");
    assert!(s.contains("viewing 03:04:30"), "{s}");
    insta::assert_snapshot!("typed_time_incidents", s);
    // At 03:04:30 kafka-eu's primary had been unreachable for 30 s of its 60.
    let open = d
        .app
        .state
        .incidents_of(&kafka_eu())
        .find(|i| i.is_open())
        .expect("open then");
    assert_eq!(open.kind, IncidentKind::PrimaryLost);
    assert!(
        d.app
            .state
            .services
            .get(&kafka_eu())
            .expect("service")
            .nodes
            .iter()
            .any(|n| n.name == "kafka-eu-1")
    );
}

#[tokio::test]
async fn enter_on_an_incident_opens_its_service_with_endpoints_120x40() {
    let mut d = demo().await;
    d.advance(Duration::seconds(42)).await;
    press(&mut d.app, &["5", "enter"]);
    assert_eq!(d.app.detail, Some(kafka_eu()));
    let s = d.shot(120, 40);
    assert!(s.contains("Open incidents"), "{s}");
    assert!(
        s.contains("endpoint kafka-eu-acme-prod → kafka-eu-1 (not answering)"),
        "{s}"
    );
    insta::assert_snapshot!(s);
}
