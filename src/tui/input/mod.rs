//! The dashboard's input: keys (`keys`), the key table (`keymap`), the config file that rebinds
//! them and picks a theme (`config`), and keys while typing: the filter line, the help overlay
//! and the command palette.

pub mod config;
pub mod keymap;
pub mod keys;

use crossterm::event::{KeyCode, KeyEvent};

use super::action::Effect;
use super::state::App;
use super::state::Level;
use super::state::filter::Filter;
use super::state::modal::{self, Modal};
use super::theme::{BUILT_IN, Theme};
use keymap::{Binding, Op, TABLE};

/// A key while the filter line is open: text edits apply live; `enter` keeps, `esc` clears.
pub fn filter_key(app: &mut App, key: &KeyEvent) {
    let slot = app.pane.slot();
    let Some(text) = app.filter_input.as_mut() else {
        return;
    };
    match key.code {
        KeyCode::Enter => {
            app.filter_input = None;
            return;
        }
        KeyCode::Esc => {
            app.filter_input = None;
            app.filters[slot] = None;
        }
        _ => {
            if !modal::edit(text, key, 120) {
                return;
            }
            match Filter::parse(text) {
                Ok(f) => {
                    app.filters[slot] = f;
                    app.status = None;
                }
                Err(e) => app.say(Level::Error, e),
            }
        }
    }
    app.cursors[slot] = super::state::Cursor::default();
    app.refresh_all();
}

/// A key in the help overlay.
pub fn help_key(app: &mut App, key: &KeyEvent) -> Option<Effect> {
    let Some(Modal::Help { scroll }) = app.modal.as_mut() else {
        return None;
    };
    match key.code {
        KeyCode::Down | KeyCode::Char('j') => *scroll = scroll.saturating_add(1),
        KeyCode::Up | KeyCode::Char('k') => *scroll = scroll.saturating_sub(1),
        KeyCode::PageDown => *scroll = scroll.saturating_add(10),
        KeyCode::PageUp => *scroll = scroll.saturating_sub(10),
        _ => app.modal = None,
    }
    None
}

/// The palette's entries for what was typed: actions valid here, by name or description.
#[must_use]
pub fn palette_entries(app: &App, typed: &str) -> Vec<&'static Binding> {
    let typed = typed.trim().to_lowercase();
    TABLE
        .iter()
        .filter(|b| keymap::applies(b, app.pane, app.options.read_only, app.virtual_clock()))
        .filter(|b| b.op != Op::Palette)
        .filter(|b| {
            typed.is_empty() || b.name.contains(&typed) || b.help.to_lowercase().contains(&typed)
        })
        .collect()
}

/// A key in the command palette: type to narrow, arrows to pick, `enter` runs the pick with
/// `dispatch` (the dashboard's own, passed down by `update`).
pub fn palette_key(
    app: &mut App,
    key: &KeyEvent,
    dispatch: fn(&mut App, Op) -> Option<Effect>,
) -> Option<Effect> {
    let Some(Modal::Palette { input, selected }) = app.modal.as_mut() else {
        return None;
    };
    match key.code {
        KeyCode::Esc => app.modal = None,
        KeyCode::Up => *selected = selected.saturating_sub(1),
        KeyCode::Down => *selected = selected.saturating_add(1),
        KeyCode::Enter => {
            let typed = input.clone();
            let pick = *selected;
            app.modal = None;
            if let Some(name) = typed.trim().strip_prefix("theme ") {
                return set_theme(app, name.trim());
            }
            let entries = palette_entries(app, &typed);
            match entries.get(pick.min(entries.len().saturating_sub(1))) {
                Some(b) => return dispatch(app, b.op),
                None => app.say(Level::Error, format!("no command matches '{typed}'")),
            }
        }
        _ => {
            if modal::edit(input, key, 60) {
                *selected = 0;
            }
        }
    }
    None
}

fn set_theme(app: &mut App, name: &str) -> Option<Effect> {
    match Theme::load(name, config::themes_dir().as_deref()) {
        Ok(t) => {
            app.theme = t;
            app.say(Level::Ok, format!("theme {name}"));
        }
        Err(e) => {
            let names: Vec<&str> = BUILT_IN.iter().map(|(n, _)| *n).collect();
            app.say(
                Level::Error,
                format!("{e} (built in: {})", names.join(", ")),
            );
        }
    }
    None
}
