//! Time travel from the keyboard: `[`/`]` step through events, `T` types a time, `esc`
//! returns to live. The first step into the past asks the engine for the journal.

use crossterm::event::{KeyCode, KeyEvent};

use super::action::Effect;
use super::state::App;
use super::state::Level;
use super::state::modal::{Modal, edit};
use super::state::travel::{Target, Travel, parse_instant};

/// `[`: one event earlier (asking for the journal when still live).
pub fn back(app: &mut App) -> Option<Effect> {
    match app.travel.as_ref().map(Travel::index) {
        Some(0) => {
            app.say(
                Level::Info,
                "this is the first event: nothing happened before it",
            );
            None
        }
        Some(i) => {
            show(app, i - 1);
            None
        }
        None => load(app, Target::Back(1)),
    }
}

/// `]`: one event later; past the newest, back to live.
pub fn forward(app: &mut App) -> Option<Effect> {
    match app.travel.as_ref() {
        None => app.say(
            Level::Info,
            "already live: [ steps back through the history",
        ),
        Some(t) if t.at_newest() => leave(app),
        Some(t) => {
            let i = t.index() + 1;
            show(app, i);
        }
    }
    None
}

/// `T`: opens the prompt for a time.
pub fn prompt(app: &mut App) {
    app.modal = Some(Modal::TravelTo {
        input: String::new(),
        error: None,
    });
}

/// Keys in the `T` prompt.
pub fn prompt_key(app: &mut App, key: &KeyEvent) -> Option<Effect> {
    let Some(Modal::TravelTo { input, error }) = app.modal.as_mut() else {
        return None;
    };
    match key.code {
        KeyCode::Esc => {
            app.modal = None;
            None
        }
        KeyCode::Enter => match parse_instant(input, app.clock.now) {
            Err(e) => {
                *error = Some(e);
                None
            }
            Ok(at) if at >= app.clock.now => {
                app.modal = None;
                leave(app);
                None
            }
            Ok(at) => {
                app.modal = None;
                go_to(app, Target::At(at))
            }
        },
        _ => {
            if edit(input, key, 40) {
                *error = None;
            }
            None
        }
    }
}

/// `esc` while in the past: back to the live dashboard.
pub fn leave(app: &mut App) {
    if let Some(t) = app.travel.take() {
        app.state = t.live;
        app.refresh_all();
        app.say(Level::Ok, "back to live");
    }
}

/// The engine's answer to the journal request.
pub fn arrived(app: &mut App, target: Target, events: Result<Vec<crate::model::Event>, String>) {
    let mut events = match events {
        Ok(events) => events,
        Err(e) => {
            app.say(Level::Error, format!("could not read the history: {e}"));
            return;
        }
    };
    if app.travel.is_some() {
        // Already travelling (a second request crossed the first): just go there.
        go_to(app, target);
        return;
    }
    // Events the mirror already folded but the journal read did not include yet.
    let last = events.last().map_or(0, |e| e.seq);
    let mut newer: Vec<_> = app
        .history
        .iter()
        .filter(|e| e.seq > last)
        .cloned()
        .collect();
    newer.sort_by_key(|e| e.seq);
    events.extend(newer);
    let live = std::mem::take(&mut app.state);
    match Travel::new(events, live) {
        Ok(travel) => {
            app.travel = Some(travel);
            go_to(app, target);
        }
        Err(live) => {
            app.state = *live;
            app.say(
                Level::Info,
                super::state::travel::Refusal::Empty.to_string(),
            );
        }
    }
}

fn load(app: &mut App, target: Target) -> Option<Effect> {
    app.say(Level::Info, "reading the history…");
    Some(Effect::Journal(target))
}

fn go_to(app: &mut App, target: Target) -> Option<Effect> {
    let Some(t) = app.travel.as_ref() else {
        return load(app, target);
    };
    match t.find(target) {
        Ok(i) => {
            show(app, i);
            if let (Target::At(at), Some(t)) = (target, app.travel.as_mut()) {
                t.pin(at);
            }
        }
        Err(e) => app.say(Level::Error, e.to_string()),
    }
    None
}

fn show(app: &mut App, index: usize) {
    let Some(t) = app.travel.as_mut() else {
        return;
    };
    app.state = t.go(index);
    let e = t.event();
    let text = super::fmt::fit(
        &format!("#{} {} · {}", e.seq, e.kind.type_name(), e.reason),
        64,
    );
    app.refresh_all();
    app.say(Level::Info, text);
}
