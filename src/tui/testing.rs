//! Test and benchmark support: keys from text, whole screens on a `TestBackend`, and a loop
//! that runs effects against a real engine the way the event loop does.

use chrono::{DateTime, Utc};
use crossterm::event::{KeyCode, KeyEvent};
use ratatui::Terminal;
use ratatui::backend::TestBackend;

use crate::engine::Engine;

use super::action::Action;
use super::input::keys::Key;
use super::runner::perform;
use super::state::App;
use super::update::update;
use super::views::view;

/// The key event for a key written as in the config file (`"v"`, `"enter"`, `"ctrl+c"`).
///
/// # Panics
/// When `text` is not a key (a test's typo).
#[must_use]
#[allow(clippy::expect_used)]
pub fn key(text: &str) -> KeyEvent {
    let k: Key = text.parse().expect("a key");
    KeyEvent::new(k.code, k.mods)
}

/// Sends keys (each a key name) to `app`, ignoring effects.
pub fn press(app: &mut App, keys: &[&str]) {
    for k in keys {
        let _ = update(app, Action::Key(key(k)));
    }
}

/// Types text character by character, ignoring effects.
pub fn type_text(app: &mut App, text: &str) {
    for c in text.chars() {
        let _ = update(app, Action::Key(KeyEvent::from(KeyCode::Char(c))));
    }
}

/// Draws `app` at `width`×`height` with `now`, returning the screen as text.
///
/// # Panics
/// When the test backend fails (it does not).
#[must_use]
#[allow(clippy::expect_used)]
pub fn screen(app: &mut App, width: u16, height: u16, now: DateTime<Utc>) -> String {
    let _ = update(app, Action::Resize(width, height));
    let mut terminal = Terminal::new(TestBackend::new(width, height)).expect("test backend");
    terminal.draw(|f| view(f, app, now)).expect("draw");
    terminal.backend().to_string()
}

/// Sends keys to `app` and runs every effect they ask for against `engine`, feeding the answers
/// and the engine's events back in, as the event loop would.
pub async fn drive(app: &mut App, engine: &dyn Engine, keys: &[&str]) {
    let mut events = engine.subscribe();
    for k in keys {
        let mut next = update(app, Action::Key(key(k)));
        while let Some(effect) = next.take() {
            let answer = perform(engine, &app.options.actor.clone(), effect).await;
            next = update(app, answer);
            let mut batch = Vec::new();
            while let Ok(e) = events.try_recv() {
                batch.push(e);
            }
            if !batch.is_empty() && next.is_none() {
                next = update(app, Action::Engine(batch));
            }
        }
    }
}
