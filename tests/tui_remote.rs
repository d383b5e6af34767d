//! The dashboard over the network: its header shows the link to a real `lockstep serve`
//! process, says when the server is gone (SIGKILL) while still drawing and taking keys, and
//! says when it is back.

mod api_support;

use std::time::Duration;

use api_support::{OPERATOR, ServeProcess, free_port, init_db, tokens_file};
use lockstep::api::RemoteEngine;
use lockstep::engine::{Engine, LinkState};
use lockstep::tui::action::Action;
use lockstep::tui::runner::{Launch, load};
use lockstep::tui::testing::{press, screen};
use lockstep::tui::{App, update};

/// Waits until the link reports `want`, then hands the report to the dashboard.
async fn link_until(
    link: &mut tokio::sync::watch::Receiver<LinkState>,
    app: &mut App,
    want: fn(&LinkState) -> bool,
) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let state = link.borrow_and_update().clone();
        if want(&state) {
            let _ = update(app, Action::Link(state));
            return;
        }
        tokio::time::timeout_at(deadline, link.changed())
            .await
            .expect("the link state changed in time")
            .expect("the link is alive");
    }
}

fn header(app: &mut App) -> String {
    let now = app.now();
    let s = screen(app, 120, 40, now);
    s.lines().next().unwrap_or_default().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn header_shows_live_reconnecting_and_live_again() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("remote.db");
    init_db(&db);
    let tokens = tokens_file(dir.path());
    let port = free_port();
    let mut server = ServeProcess::start(&db, &tokens, port);

    let engine = RemoteEngine::connect(&server.url(), OPERATOR)
        .await
        .expect("connect");
    let _events = engine.subscribe();
    let mut link = engine.link().expect("a remote engine has a link");
    let launch = Launch {
        read_only: false,
        actor: "alice".into(),
        demo: false,
        theme: None,
    };
    let mut app = load(&engine, &launch).await.expect("dashboard loads");
    link_until(&mut link, &mut app, |s| *s == LinkState::Connected).await;
    let h = header(&mut app);
    assert!(h.contains("● connected"), "{h}");

    server.kill();
    link_until(&mut link, &mut app, |s| {
        matches!(s, LinkState::Reconnecting { .. })
    })
    .await;
    let h = header(&mut app);
    assert!(h.contains("reconnecting"), "{h}");
    let status = app.status.clone().expect("a status line").text;
    assert!(status.contains("engine unreachable"), "{status}");
    assert!(
        !status.contains(OPERATOR),
        "the token never shows: {status}"
    );
    // Still drawing and taking keys while the server is gone.
    press(&mut app, &["3", "tab"]);
    assert_eq!(app.pane, lockstep::tui::Pane::History);

    let _server = ServeProcess::start(&db, &tokens, port);
    link_until(&mut link, &mut app, |s| *s == LinkState::Connected).await;
    let h = header(&mut app);
    assert!(h.contains("● connected"), "{h}");
    assert_eq!(
        app.status.clone().expect("a status line").text,
        "reconnected: live again"
    );
}
