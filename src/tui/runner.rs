//! The event loop: terminal keys, engine events and ticks merged in one `tokio::select!`.
//! Engine calls run as spawned tasks and come back as actions, so the screen never waits on
//! the engine. The terminal is restored on exit, on error and on panic.

use std::sync::Arc;
use std::time::Duration as StdDuration;

use crossterm::event::{Event as TermEvent, EventStream};
use futures::StreamExt;
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::mpsc;

use crate::engine::Engine;
use crate::engine::clock::system_now;

use super::action::{Action, Effect};
use super::input::config::{self, Config};
use super::state::{App, HISTORY_LIMIT};
use super::state::{Level, Options};
use super::update::{TICK_MS, update};
use super::views::view;

/// How the dashboard was asked to start.
#[derive(Debug, Clone)]
pub struct Launch {
    /// `--read-only`.
    pub read_only: bool,
    /// `--as` (or `$USER`).
    pub actor: String,
    /// The engine is the demo fleet.
    pub demo: bool,
    /// `--theme`.
    pub theme: Option<String>,
}

/// Why the dashboard stopped abnormally.
#[derive(Debug, thiserror::Error)]
pub enum TuiError {
    /// The engine failed while loading.
    #[error("{0}")]
    Engine(#[from] crate::engine::EngineError),
    /// The terminal failed.
    #[error("terminal: {0}")]
    Terminal(#[from] std::io::Error),
}

/// Runs one effect against the engine and returns the action that reports it.
pub async fn perform(engine: &dyn Engine, actor: &str, effect: Effect) -> Action {
    match effect {
        Effect::Execute { label, command } => {
            let result = engine
                .execute(actor, *command)
                .await
                .map(|r| r.notice)
                .map_err(|e| e.to_string());
            Action::Done { label, result }
        }
        Effect::Advance(by) => match engine.advance_clock(by).await {
            Ok(_) => match engine.clock().await {
                Ok(info) => Action::Clock(info),
                Err(e) => Action::AdvanceFailed(e.to_string()),
            },
            Err(e) => Action::AdvanceFailed(e.to_string()),
        },
        Effect::Drive => match engine.drive().await.and(engine.clock().await) {
            Ok(info) => Action::Clock(info),
            Err(e) => Action::AdvanceFailed(e.to_string()),
        },
        Effect::Simulate { label, command } => {
            let result = engine
                .execute("sim", *command)
                .await
                .map(|_| Some(format!("⚠ {label}: watch the incidents pane (5)")))
                .map_err(|e| e.to_string());
            Action::Done { label, result }
        }
        Effect::Journal(target) => Action::Journal {
            target,
            events: journal(engine).await.map_err(|e| e.to_string()),
        },
        Effect::Resync => match engine.snapshot().await {
            Ok(s) => Action::Resynced(Box::new(s)),
            Err(e) => Action::Done {
                label: "reload".into(),
                result: Err(e.to_string()),
            },
        },
    }
}

/// Every event of the journal, oldest first, read page by page.
async fn journal(
    engine: &dyn Engine,
) -> Result<Vec<crate::model::Event>, crate::engine::EngineError> {
    const PAGE: usize = 10_000;
    let mut all: Vec<crate::model::Event> = Vec::new();
    loop {
        let since = all.last().map_or(0, |e| e.seq);
        let page = engine.events(since, PAGE).await?;
        let full = page.len() == PAGE;
        all.extend(page);
        if !full {
            return Ok(all);
        }
    }
}

/// Loads the dashboard's model from the engine, with the config file's theme and keys.
pub async fn load(engine: &dyn Engine, launch: &Launch) -> Result<App, TuiError> {
    let (cfg, mut warnings) = match config::config_path() {
        Some(p) => Config::read(&p),
        None => (Config::default(), Vec::new()),
    };
    let themes = config::themes_dir();
    let (theme, keymap, more) = config::resolve(&cfg, launch.theme.as_deref(), themes.as_deref());
    warnings.extend(more);
    let snapshot = engine.snapshot().await?;
    let head = snapshot.state.head;
    let since = head.saturating_sub(HISTORY_LIMIT as u64);
    let recent = engine.events(since, HISTORY_LIMIT).await?;
    let options = Options {
        read_only: launch.read_only,
        actor: launch.actor.clone(),
        demo: launch.demo,
    };
    let mut app = App::new(snapshot, engine.info(), recent, options, theme, keymap);
    if !warnings.is_empty() {
        app.say(Level::Error, warnings.join("; "));
    }
    Ok(app)
}

struct Restore;

impl Drop for Restore {
    fn drop(&mut self) {
        ratatui::restore();
    }
}

/// Opens the dashboard on `engine` until the operator quits.
pub async fn run(engine: Arc<dyn Engine>, launch: Launch) -> Result<(), TuiError> {
    let mut events = engine.subscribe();
    let mut app = load(engine.as_ref(), &launch).await?;
    let mut terminal = ratatui::try_init()?;
    let _restore = Restore;
    let size = terminal.size()?;
    update(&mut app, Action::Resize(size.width, size.height));
    let (tx, mut rx) = mpsc::unbounded_channel::<Action>();
    if let Some(link) = engine.link() {
        follow_link(link, tx.clone());
    }
    let mut keys = EventStream::new();
    let period = StdDuration::from_millis(u64::try_from(TICK_MS).unwrap_or(250));
    let mut tick = tokio::time::interval(period);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let (mut engine_open, mut keys_open) = (true, true);
    loop {
        if app.dirty {
            let now = app.now();
            terminal.draw(|f| view(f, &app, now))?;
            app.dirty = false;
        }
        if app.quit {
            break;
        }
        let action = tokio::select! {
            key = keys.next(), if keys_open => match key {
                Some(Ok(TermEvent::Key(k))) => Action::Key(k),
                Some(Ok(TermEvent::Resize(w, h))) => Action::Resize(w, h),
                Some(Ok(_)) => continue,
                Some(Err(e)) => return Err(TuiError::Terminal(e)),
                None => { keys_open = false; continue }
            },
            got = events.recv(), if engine_open => match got {
                Ok(e) => {
                    let mut batch = vec![e];
                    while let Ok(e) = events.try_recv() {
                        batch.push(e);
                    }
                    Action::Engine(batch)
                }
                Err(RecvError::Lagged(_)) => {
                    spawn(&engine, &app.options.actor, Effect::Resync, &tx);
                    continue;
                }
                Err(RecvError::Closed) => {
                    engine_open = false;
                    app.say(Level::Error, "the engine stopped: showing the last state known");
                    continue;
                }
            },
            Some(done) = rx.recv() => done,
            _ = tick.tick() => Action::Tick { now: system_now() },
        };
        if let Some(effect) = update(&mut app, action) {
            spawn(&engine, &app.options.actor, effect, &tx);
        }
    }
    Ok(())
}

/// Forwards every change of a remote engine's link to the event loop, the current state first.
fn follow_link(
    mut link: tokio::sync::watch::Receiver<crate::engine::LinkState>,
    tx: mpsc::UnboundedSender<Action>,
) {
    tokio::spawn(async move {
        loop {
            let state = link.borrow_and_update().clone();
            if tx.send(Action::Link(state)).is_err() {
                return;
            }
            if link.changed().await.is_err() {
                return;
            }
        }
    });
}

fn spawn(
    engine: &Arc<dyn Engine>,
    actor: &str,
    effect: Effect,
    tx: &mpsc::UnboundedSender<Action>,
) {
    let engine = Arc::clone(engine);
    let actor = actor.to_string();
    let tx = tx.clone();
    tokio::spawn(async move {
        let action = perform(engine.as_ref(), &actor, effect).await;
        let _ = tx.send(action);
    });
}
