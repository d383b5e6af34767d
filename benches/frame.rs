//! One full dashboard frame (build + diff on a 200×50 `TestBackend`) on a 10,000-service fleet:
//! 100 projects in 10 organizations, chains dev → staging → prod, a release waiting on most
//! sources. Also: the first frame (deriving every list from a fresh snapshot, then drawing),
//! and re-deriving after an engine event.
//!
//! Run: `cargo bench --bench frame`.

use std::hint::black_box;

use chrono::{DateTime, Duration, NaiveTime, Utc, Weekday};
use criterion::{Criterion, criterion_group, criterion_main};
use lockstep::engine::{ClockInfo, ClockKind, EngineInfo, Snapshot};
use lockstep::model::{
    Event, EventKind, MaintenanceWindow, Plan, ServiceKey, ServiceType, State, Version,
};
use lockstep::tui::action::Action;
use lockstep::tui::app::{App, Options};
use lockstep::tui::keymap::Keymap;
use lockstep::tui::testing::press;
use lockstep::tui::theme::Theme;
use lockstep::tui::{update, view};
use ratatui::Terminal;
use ratatui::backend::TestBackend;

const SERVICES: usize = 10_000;
const PER_PROJECT: usize = 100;

fn start() -> DateTime<Utc> {
    DateTime::from_timestamp(1_767_225_600, 0).unwrap_or_default()
}

fn fleet() -> Vec<Event> {
    let mut events = Vec::new();
    let mut push = |kind: EventKind, at: DateTime<Utc>| {
        let seq = events.len() as u64 + 1;
        events.push(Event {
            seq,
            at,
            actor: "bench".into(),
            reason: format!("bench event {seq}"),
            kind,
        });
    };
    let v = |s: &str| {
        s.parse::<Version>()
            .unwrap_or_else(|_| Version::new(15, 0, None))
    };
    let t0 = start();
    for p in 0..SERVICES / PER_PROJECT {
        push(
            EventKind::ProjectCreated {
                project: format!("proj-{p:03}"),
                organization_id: format!("org-{}", p % 10),
            },
            t0,
        );
    }
    push(
        EventKind::ReleasePublished {
            service_type: ServiceType::Pg,
            version: v("15.8"),
            critical: false,
        },
        t0,
    );
    let window = MaintenanceWindow {
        dow: Weekday::Tue,
        time: NaiveTime::from_hms_opt(3, 0, 0).unwrap_or_default(),
    };
    let key = |i: usize| {
        ServiceKey::new(
            format!("proj-{:03}", i / PER_PROJECT),
            format!("svc-{i:05}"),
        )
    };
    for i in 0..SERVICES {
        push(
            EventKind::ServiceCreated {
                service: key(i),
                service_type: ServiceType::Pg,
                plan: Plan::Business,
                version: v("15.8"),
                maintenance: window,
            },
            t0,
        );
    }
    let mut step_id = 0;
    for i in (0..SERVICES - 2).step_by(3) {
        for (s, d) in [(i, i + 1), (i + 1, i + 2)] {
            step_id += 1;
            push(
                EventKind::StepCreated {
                    step_id,
                    organization_id: format!("org-{}", (s / PER_PROJECT) % 10),
                    source: key(s),
                    destination: key(d),
                    auto_validation_delay_days: 7,
                    initial_validated_version: v("15.8"),
                },
                t0,
            );
        }
    }
    push(
        EventKind::ReleasePublished {
            service_type: ServiceType::Pg,
            version: v("15.9"),
            critical: false,
        },
        t0 + Duration::days(1),
    );
    for i in (0..SERVICES - 2).step_by(3) {
        push(
            EventKind::UpdateApplied {
                service: key(i),
                from: v("15.8"),
                to: v("15.9"),
            },
            t0 + Duration::days(1) + Duration::minutes((i % 1440) as i64),
        );
    }
    events
}

fn app(events: &[Event]) -> App {
    let mut state = State::new();
    for e in events {
        state.apply(e);
    }
    let now = start() + Duration::days(3);
    let snapshot = Snapshot {
        state,
        clock: ClockInfo {
            kind: ClockKind::Virtual,
            now,
        },
    };
    let info = EngineInfo {
        kind: "embedded".into(),
        location: "bench.db".into(),
    };
    let options = Options {
        read_only: false,
        actor: "bench".into(),
        demo: false,
    };
    let recent = events[events.len().saturating_sub(2000)..].to_vec();
    App::new(
        snapshot,
        info,
        recent,
        options,
        Theme::fallback(),
        Keymap::defaults(),
    )
}

fn bench(c: &mut Criterion) {
    let events = fleet();
    let mut a = app(&events);
    let _ = update(&mut a, Action::Resize(200, 50));
    let now = a.now();
    let Ok(mut terminal) = Terminal::new(TestBackend::new(200, 50));
    // Alternate between two instants so every frame has changed countdowns to diff.
    let mut tick = 0i64;
    c.bench_function("frame 200x50, 10k services, home", |b| {
        b.iter(|| {
            tick += 1;
            let at = now + Duration::minutes(tick % 2);
            let _ = terminal.draw(|f| view(f, black_box(&a), at));
        });
    });
    press(&mut a, &["1", "pgdn", "pgdn", "pgdn"]);
    for _ in 0..100 {
        press(&mut a, &["pgdn"]);
    }
    c.bench_function("frame 200x50, 10k services, tree scrolled", |b| {
        b.iter(|| {
            tick += 1;
            let at = now + Duration::minutes(tick % 2);
            let _ = terminal.draw(|f| view(f, black_box(&a), at));
        });
    });
    press(&mut a, &["3"]);
    c.bench_function("frame 200x50, 10k services, steps focused", |b| {
        b.iter(|| {
            tick += 1;
            let at = now + Duration::minutes(tick % 2);
            let _ = terminal.draw(|f| view(f, black_box(&a), at));
        });
    });
    c.bench_function(
        "re-derive lists after one engine event, 10k services",
        |b| {
            b.iter(|| a.refresh_all());
        },
    );
    let mut group = c.benchmark_group("startup");
    group.sample_size(10);
    group.bench_function("first frame: fold 10k-service journal, derive, draw", |b| {
        b.iter(|| {
            let mut fresh = app(black_box(&events));
            let _ = update(&mut fresh, Action::Resize(200, 50));
            let Ok(mut t) = Terminal::new(TestBackend::new(200, 50));
            let _ = t.draw(|f| view(f, &fresh, now));
        });
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
