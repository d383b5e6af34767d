//! `update`: every change to the dashboard goes through here. No I/O: what needs the engine is
//! returned as an [`Effect`], and its answer comes back as an [`Action`].

use chrono::{DateTime, Duration, Timelike, Utc};
use crossterm::event::{KeyEvent, KeyEventKind};
use ratatui::layout::Size;

use super::action::{Action, Effect};
use super::input;
use super::input::keymap::{self, Op};
use super::input::keys::Key;
use super::state::modal::{Modal, Outcome};
use super::state::rows::RowKind;
use super::state::{App, SPEEDS};
use super::state::{Level, Pane};
use super::targets;

/// How often the event loop ticks, in milliseconds; the demo advances its clock on each tick.
pub const TICK_MS: i64 = 250;

/// Applies one action to the dashboard; returns what the engine must do, if anything.
pub fn update(app: &mut App, action: Action) -> Option<Effect> {
    match action {
        Action::Key(key) if key.kind != KeyEventKind::Release => {
            app.dirty = true;
            on_key(app, &key)
        }
        Action::Key(_) => None,
        Action::Resize(w, h) => {
            app.size = Size::new(w, h);
            app.clamp_cursors();
            app.dirty = true;
            None
        }
        Action::Engine(events) => {
            app.dirty = true;
            (!app.apply_events(&events)).then_some(Effect::Resync)
        }
        Action::Resynced(snapshot) => {
            if app.travel.is_some() {
                super::triage::leave(app);
                app.say(Level::Info, "events were missed: back to live to reload");
            }
            app.state = snapshot.state;
            app.state.reindex();
            if snapshot.clock.now > app.clock.now {
                app.clock = snapshot.clock;
            }
            app.refresh_all();
            app.dirty = true;
            None
        }
        Action::Tick { now } => tick(app, now),
        Action::Clock(info) => {
            app.advancing = false;
            if info != app.clock {
                app.dirty = true;
            }
            let before = app.clock.now;
            app.clock = info;
            if app.options.demo && !app.options.read_only {
                let live = app.travel.as_ref().map_or(&app.state, |t| &t.live);
                return super::chaos::due(live, before, app.clock.now);
            }
            None
        }
        Action::Link(state) => {
            use crate::engine::LinkState;
            let was_down = matches!(app.link, Some(LinkState::Reconnecting { .. }));
            match &state {
                LinkState::Reconnecting { error, .. } => app.say(
                    Level::Error,
                    format!("engine unreachable: {error}; retrying, the screen shows the last state known"),
                ),
                LinkState::Connected if was_down => app.say(Level::Ok, "reconnected: live again"),
                _ => {}
            }
            app.link = Some(state);
            app.dirty = true;
            None
        }
        Action::AdvanceFailed(e) => {
            app.advancing = false;
            app.speed = 0;
            app.say(Level::Error, format!("simulated time stopped: {e}"));
            None
        }
        Action::Journal { target, events } => {
            super::triage::arrived(app, target, events);
            None
        }
        Action::Done { label, result } => {
            if let Some(i) = app.in_flight.iter().position(|l| *l == label) {
                app.in_flight.remove(i);
            }
            match result {
                Ok(Some(notice)) => app.say(Level::Info, notice),
                Ok(None) => app.say(Level::Ok, format!("✓ {label}")),
                Err(e) => app.say(Level::Error, format!("✗ {label}: {e}")),
            }
            None
        }
    }
}

fn tick(app: &mut App, now: DateTime<Utc>) -> Option<Effect> {
    if !app.virtual_clock() {
        let shown = |t: DateTime<Utc>| t.with_second(0).map(|t| t.timestamp());
        if shown(now) != shown(app.clock.now) {
            app.dirty = true;
        }
        app.clock.now = now;
        if app.state.has_driver_work() && !app.advancing && !app.options.read_only {
            app.advancing = true;
            return Some(Effect::Drive);
        }
        return None;
    }
    if app.options.read_only || app.speed == 0 || app.advancing {
        return None;
    }
    app.advancing = true;
    Some(Effect::Advance(Duration::milliseconds(
        TICK_MS * i64::from(app.speed),
    )))
}

fn on_key(app: &mut App, key: &KeyEvent) -> Option<Effect> {
    if app.filter_input.is_some() {
        input::filter_key(app, key);
        return None;
    }
    match app.modal.as_mut() {
        Some(Modal::Help { .. }) => return input::help_key(app, key),
        Some(Modal::Palette { .. }) => return input::palette_key(app, key, dispatch),
        Some(Modal::TravelTo { .. }) => return super::triage::prompt_key(app, key),
        Some(modal) => {
            return match modal.key(key) {
                Outcome::Stay => None,
                Outcome::Close => {
                    app.modal = None;
                    None
                }
                Outcome::Refuse(e) => {
                    app.say(Level::Error, e);
                    None
                }
                Outcome::Run(effect) => {
                    app.modal = None;
                    app.started(&effect);
                    Some(effect)
                }
            };
        }
        None => {}
    }
    let k = Key::from_event(key);
    match app.keymap.op(&k) {
        Some(op) => dispatch(app, op),
        None => None,
    }
}

/// Does what an operation asks, as the key table's key for it would.
pub fn dispatch(app: &mut App, op: Op) -> Option<Effect> {
    app.dirty = true;
    if let Some(b) = keymap::binding(op) {
        if b.changes && app.options.read_only {
            app.say(
                Level::Error,
                format!(
                    "read-only dashboard: {} is not available (started with --read-only)",
                    b.name
                ),
            );
            return None;
        }
        if b.changes && app.travel.is_some() {
            app.say(
                Level::Error,
                format!(
                    "{} is not available while viewing the past: esc returns to live",
                    b.name
                ),
            );
            return None;
        }
        if !keymap::applies(b, app.pane, false, app.virtual_clock()) {
            let why = if b.group == keymap::Group::Demo {
                "time is real here (system clock)".to_string()
            } else {
                format!("not in {}", app.pane.title())
            };
            app.say(Level::Info, format!("{}: {why}", b.label));
            return None;
        }
    }
    match op {
        Op::Help => app.modal = Some(Modal::Help { scroll: 0 }),
        Op::Palette => {
            app.modal = Some(Modal::Palette {
                input: String::new(),
                selected: 0,
            });
        }
        Op::Filter => {
            let current = app.filters[app.pane.slot()]
                .as_ref()
                .map(|f| f.text.clone());
            app.filter_input = Some(current.unwrap_or_default());
        }
        Op::Back => back(app),
        Op::Quit => app.quit = true,
        Op::NextPane | Op::PrevPane => {
            let i = Pane::CYCLE.iter().position(|p| *p == app.pane).unwrap_or(0);
            let n = Pane::CYCLE.len();
            let next = if op == Op::NextPane { i + 1 } else { i + n - 1 };
            focus(app, Pane::CYCLE[next % n]);
        }
        Op::PanePipelines => focus(app, Pane::Pipelines),
        Op::PaneWaiting => focus(app, Pane::Waiting),
        Op::PaneSteps => focus(app, Pane::Steps),
        Op::PaneHistory => focus(app, Pane::History),
        Op::PaneIncidents => focus(app, Pane::Incidents),
        Op::TravelBack => return super::triage::back(app),
        Op::TravelForward => return super::triage::forward(app),
        Op::TravelTo => super::triage::prompt(app),
        Op::Up => move_by(app, -1),
        Op::Down => move_by(app, 1),
        Op::PageUp => move_by(app, -page(app)),
        Op::PageDown => move_by(app, page(app)),
        Op::Top => move_by(app, isize::MIN / 2),
        Op::Bottom => move_by(app, isize::MAX / 2),
        Op::Left | Op::Right => fold(app, op == Op::Right),
        Op::Open => match targets::service(app) {
            Some(key) => {
                app.detail = Some(key);
                app.pane = Pane::Detail;
            }
            None => app.say(Level::Info, "select a service to see its detail"),
        },
        Op::Validate => targets::validate(app),
        Op::Delay => targets::delay(app),
        Op::Maintenance => targets::maintenance(app),
        Op::Power => targets::power(app),
        Op::Run(op) => return super::board::dispatch(app, op),
        Op::Faster | Op::Slower => {
            let i = SPEEDS.iter().position(|s| *s >= app.speed).unwrap_or(0);
            let j = if op == Op::Faster {
                (i + 1).min(SPEEDS.len() - 1)
            } else {
                i.saturating_sub(1)
            };
            app.speed = SPEEDS[j];
        }
    }
    None
}

fn focus(app: &mut App, pane: Pane) {
    app.detail = None;
    app.pane = pane;
}

fn back(app: &mut App) {
    if app.travel.is_some() {
        super::triage::leave(app);
    } else if app.detail.take().is_some() || app.pane == Pane::RunBoard {
        app.pane = Pane::Pipelines;
    } else if app.filters[app.pane.slot()].take().is_some() {
        app.refresh_all();
        app.say(Level::Info, "filter cleared");
    } else {
        app.status = None;
    }
}

fn page(app: &App) -> isize {
    let h = super::views::layout::list_height(app, app.pane);
    isize::try_from(h.saturating_sub(1).max(1)).unwrap_or(1)
}

fn move_by(app: &mut App, delta: isize) {
    let pane = app.pane;
    if pane == Pane::Detail {
        return;
    }
    let len = app.rows_in(pane);
    let height = super::views::layout::list_height(app, pane);
    let c = &mut app.cursors[pane.slot()];
    *c = c.moved(delta, len, height);
}

fn fold(app: &mut App, open: bool) {
    let i = app.cursor(Pane::Pipelines).selected;
    let Some(row) = app.derived.rows.get(i) else {
        return;
    };
    match (&row.node, open) {
        (Some(node), true) if row.collapsed => {
            let node = node.clone();
            app.collapsed.remove(&node);
        }
        (Some(node), false) if !row.collapsed => {
            let node = node.clone();
            app.collapsed.insert(node);
        }
        (_, false) => {
            // Already closed, or a service: go to the enclosing header.
            let depth = match row.kind {
                RowKind::Service { .. } => 3,
                _ => row.depth,
            };
            let parent = app.derived.rows[..i]
                .iter()
                .rposition(|r| r.node.is_some() && r.depth < depth);
            if let Some(p) = parent {
                let height = super::views::layout::list_height(app, Pane::Pipelines);
                let c = app.cursors[0];
                let delta = isize::try_from(i - p).unwrap_or(0);
                app.cursors[0] = c.moved(-delta, app.derived.rows.len(), height);
            }
            return;
        }
        _ => return,
    }
    app.refresh_all();
}
