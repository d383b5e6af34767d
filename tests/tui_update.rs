//! Pure tests of `update`: keys in, state and effects out, no engine and no terminal.

use lockstep::engine::{ClockInfo, ClockKind, EngineInfo, Snapshot};
use lockstep::model::{Command, Event, EventKind, ServiceKey, State};
use lockstep::tui::action::{Action, Effect};
use lockstep::tui::app::{App, DEFAULT_SPEED, Options, Pane};
use lockstep::tui::keymap::Keymap;
use lockstep::tui::modal::Modal;
use lockstep::tui::testing::{key, press, type_text};
use lockstep::tui::theme::Theme;
use lockstep::tui::update;

fn at(min: i64) -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::from_timestamp(1_767_657_600 + min * 60, 0).expect("time")
}

fn event(seq: u64, kind: EventKind) -> Event {
    Event {
        seq,
        at: at(0),
        actor: "t".into(),
        reason: "r".into(),
        kind,
    }
}

/// dev → prod, both pg 15.8, 15.9 published and running on dev.
fn fleet() -> Vec<Event> {
    use lockstep::model::{MaintenanceWindow, Plan, ServiceType};
    let window = MaintenanceWindow {
        dow: chrono::Weekday::Tue,
        time: chrono::NaiveTime::MIN,
    };
    let v = |s: &str| s.parse().expect("version");
    let svc = |name: &str| EventKind::ServiceCreated {
        service: ServiceKey::new("p", name),
        service_type: ServiceType::Pg,
        plan: Plan::Startup,
        version: v("15.8"),
        maintenance: window,
    };
    vec![
        event(
            1,
            EventKind::ProjectCreated {
                project: "p".into(),
                organization_id: "o".into(),
            },
        ),
        event(
            2,
            EventKind::ReleasePublished {
                service_type: ServiceType::Pg,
                version: v("15.8"),
                critical: false,
            },
        ),
        event(3, svc("dev")),
        event(4, svc("prod")),
        event(
            5,
            EventKind::StepCreated {
                step_id: 1,
                organization_id: "o".into(),
                source: ServiceKey::new("p", "dev"),
                destination: ServiceKey::new("p", "prod"),
                auto_validation_delay_days: 3,
                initial_validated_version: v("15.8"),
            },
        ),
        event(
            6,
            EventKind::ReleasePublished {
                service_type: ServiceType::Pg,
                version: v("15.9"),
                critical: false,
            },
        ),
        event(
            7,
            EventKind::UpdateApplied {
                service: ServiceKey::new("p", "dev"),
                from: v("15.8"),
                to: v("15.9"),
            },
        ),
    ]
}

fn app(read_only: bool, clock: ClockKind) -> App {
    let mut state = State::new();
    for e in fleet() {
        state.apply(&e);
    }
    let snapshot = Snapshot {
        state,
        clock: ClockInfo {
            kind: clock,
            now: at(60),
        },
    };
    let info = EngineInfo {
        kind: "embedded".into(),
        location: "t.db".into(),
    };
    let options = Options {
        read_only,
        actor: "erin".into(),
        demo: false,
    };
    App::new(
        snapshot,
        info,
        fleet(),
        options,
        Theme::fallback(),
        Keymap::defaults(),
    )
}

#[test]
fn v2_validate_popup_names_the_version_and_confirms_with_the_comment() {
    let mut a = app(false, ClockKind::Virtual);
    press(&mut a, &["2", "v"]);
    match &a.modal {
        Some(Modal::Validate {
            service,
            version,
            unblocks,
            ..
        }) => {
            assert_eq!(service, &ServiceKey::new("p", "dev"));
            assert_eq!(version.to_string(), "15.9");
            assert_eq!(unblocks, &[ServiceKey::new("p", "prod")]);
        }
        other => panic!("expected the validate popup, got {other:?}"),
    }
    type_text(&mut a, "lgtm");
    let effect = update(&mut a, Action::Key(key("enter")));
    assert_eq!(
        effect,
        Some(Effect::Execute {
            label: "validate p/dev".into(),
            command: Box::new(Command::ValidateForService {
                service: ServiceKey::new("p", "dev"),
                comment: Some("lgtm".into())
            }),
        })
    );
    assert_eq!(a.in_flight, vec!["validate p/dev".to_string()]);
    update(
        &mut a,
        Action::Done {
            label: "validate p/dev".into(),
            result: Err("refused by V6: off".into()),
        },
    );
    assert!(a.in_flight.is_empty());
    assert!(
        a.status
            .as_ref()
            .is_some_and(|s| s.text.contains("refused by V6"))
    );
}

#[test]
fn read_only_refuses_every_changing_key() {
    let mut a = app(true, ClockKind::Virtual);
    for k in ["v", "d", "m", "p", "+"] {
        press(&mut a, &["2", k]);
        assert!(a.modal.is_none(), "{k} opened a popup in read-only mode");
        assert!(
            a.status
                .as_ref()
                .is_some_and(|s| s.text.contains("read-only")),
            "{k}"
        );
    }
    assert_eq!(
        update(&mut a, Action::Tick { now: at(61) }),
        None,
        "read-only never moves the clock"
    );
}

#[test]
fn ticks_advance_a_virtual_clock_one_at_a_time() {
    let mut a = app(false, ClockKind::Virtual);
    let first = update(&mut a, Action::Tick { now: at(61) });
    assert_eq!(
        first,
        Some(Effect::Advance(chrono::Duration::milliseconds(
            250 * i64::from(DEFAULT_SPEED)
        )))
    );
    assert_eq!(
        update(&mut a, Action::Tick { now: at(62) }),
        None,
        "no second advance while one runs"
    );
    update(
        &mut a,
        Action::Clock(ClockInfo {
            kind: ClockKind::Virtual,
            now: at(75),
        }),
    );
    assert_eq!(a.now(), at(75));
    press(&mut a, &["-", "-", "-", "-", "-", "-"]);
    assert_eq!(a.speed, 0);
    assert_eq!(update(&mut a, Action::Tick { now: at(63) }), None, "paused");
}

#[test]
fn system_clock_ticks_redraw_only_when_the_minute_changes() {
    let mut a = app(false, ClockKind::System);
    a.dirty = false;
    update(
        &mut a,
        Action::Tick {
            now: at(60) + chrono::Duration::seconds(20),
        },
    );
    assert!(!a.dirty);
    update(&mut a, Action::Tick { now: at(61) });
    assert!(a.dirty);
}

#[test]
fn tab_and_digits_move_between_panes_and_esc_leaves_detail() {
    let mut a = app(false, ClockKind::Virtual);
    press(&mut a, &["tab", "tab"]);
    assert_eq!(a.pane, Pane::Steps);
    press(&mut a, &["shift+tab"]);
    assert_eq!(a.pane, Pane::Waiting);
    press(&mut a, &["4"]);
    assert_eq!(a.pane, Pane::History);
    press(&mut a, &["1", "G", "enter"]);
    assert_eq!(a.pane, Pane::Detail);
    assert_eq!(a.detail, Some(ServiceKey::new("p", "prod")));
    press(&mut a, &["esc"]);
    assert_eq!(a.pane, Pane::Pipelines);
    press(&mut a, &["q"]);
    assert!(a.quit);
}

#[test]
fn invalid_regex_is_reported_and_the_previous_filter_stays() {
    let mut a = app(false, ClockKind::Virtual);
    press(&mut a, &["/"]);
    type_text(&mut a, "prod(");
    assert!(
        a.status
            .as_ref()
            .is_some_and(|s| s.text.contains("not a valid regex"))
    );
    assert_eq!(a.filters[0].as_ref().map(|f| f.text.as_str()), Some("prod"));
    press(&mut a, &["esc"]);
    assert!(a.filters[0].is_none());
}

#[test]
fn engine_events_fold_into_the_mirror_and_a_gap_asks_for_a_resync() {
    let mut a = app(false, ClockKind::Virtual);
    let v = "15.9".parse().expect("version");
    let validated = event(
        8,
        EventKind::VersionValidated {
            step_id: 1,
            version: v,
            validated_by_user: None,
            comment: None,
        },
    );
    assert_eq!(update(&mut a, Action::Engine(vec![validated])), None);
    assert_eq!(a.state.head, 8);
    assert_eq!(a.derived.summary.waiting, 0);
    let later = event(10, EventKind::StepDeleted { step_id: 1 });
    assert_eq!(
        update(&mut a, Action::Engine(vec![later])),
        Some(Effect::Resync)
    );
}

#[test]
fn p6_delay_popup_stays_open_on_out_of_range() {
    let mut a = app(false, ClockKind::Virtual);
    press(&mut a, &["3", "d", "backspace"]);
    type_text(&mut a, "0");
    assert_eq!(update(&mut a, Action::Key(key("enter"))), None);
    assert!(matches!(a.modal, Some(Modal::Delay { .. })));
    assert!(
        a.status
            .as_ref()
            .is_some_and(|s| s.text.contains("1 to 30"))
    );
}
