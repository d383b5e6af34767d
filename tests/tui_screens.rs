//! Whole-screen snapshots of the dashboard on the demo fleet, driven by key sequences, at
//! 120×40 and 80×24, with `now` injected so every countdown is deterministic.

use lockstep::engine::{Engine, LocalEngine};
use lockstep::tui::app::{App, Options};
use lockstep::tui::keymap::Keymap;
use lockstep::tui::testing::{press, screen, type_text};
use lockstep::tui::theme::Theme;

struct Demo {
    app: App,
    _engine: LocalEngine,
    _dir: tempfile::TempDir,
}

async fn demo(read_only: bool) -> Demo {
    let dir = tempfile::tempdir().expect("tempdir");
    let engine = lockstep::demo::create(&dir.path().join("demo.db"), true)
        .await
        .expect("demo fleet");
    let snapshot = engine.snapshot().await.expect("snapshot");
    let recent = engine.events(0, 2000).await.expect("events");
    let mut info = engine.info();
    info.location = "demo.db".into();
    let options = Options {
        read_only,
        actor: "tester".into(),
        demo: true,
    };
    let app = App::new(
        snapshot,
        info,
        recent,
        options,
        Theme::fallback(),
        Keymap::defaults(),
    );
    Demo {
        app,
        _engine: engine,
        _dir: dir,
    }
}

fn shot(app: &mut App, w: u16, h: u16) -> String {
    let now = app.now();
    screen(app, w, h, now)
}

#[tokio::test]
async fn home_120x40() {
    let mut d = demo(false).await;
    insta::assert_snapshot!(shot(&mut d.app, 120, 40));
}

#[tokio::test]
async fn home_80x24_stacks_panes_as_tabs() {
    let mut d = demo(false).await;
    insta::assert_snapshot!(shot(&mut d.app, 80, 24));
}

#[tokio::test]
async fn too_small_says_which_size_is_needed() {
    let mut d = demo(false).await;
    insta::assert_snapshot!(shot(&mut d.app, 60, 20));
}

#[tokio::test]
async fn help_overlay_120x40() {
    let mut d = demo(false).await;
    press(&mut d.app, &["?"]);
    insta::assert_snapshot!(shot(&mut d.app, 120, 40));
}

#[tokio::test]
async fn waiting_pane_80x24() {
    let mut d = demo(false).await;
    press(&mut d.app, &["2", "j"]);
    insta::assert_snapshot!(shot(&mut d.app, 80, 24));
}

#[tokio::test]
async fn steps_pane_with_forecast_80x24() {
    let mut d = demo(false).await;
    press(&mut d.app, &["3", "j", "j"]);
    insta::assert_snapshot!(shot(&mut d.app, 80, 24));
}

#[tokio::test]
async fn history_filtered_by_regex_120x40() {
    let mut d = demo(false).await;
    press(&mut d.app, &["4", "/"]);
    type_text(&mut d.app, "validated|override");
    press(&mut d.app, &["enter"]);
    insta::assert_snapshot!(shot(&mut d.app, 120, 40));
}

#[tokio::test]
async fn inverted_filter_on_pipelines_80x24() {
    let mut d = demo(false).await;
    press(&mut d.app, &["/"]);
    type_text(&mut d.app, "!acme");
    insta::assert_snapshot!(shot(&mut d.app, 80, 24));
}

#[tokio::test]
async fn validate_modal_with_comment_120x40() {
    let mut d = demo(false).await;
    press(&mut d.app, &["2", "j", "v"]);
    type_text(&mut d.app, "smoke ok");
    insta::assert_snapshot!(shot(&mut d.app, 120, 40));
}

#[tokio::test]
async fn delay_modal_previews_the_new_deadline_80x24() {
    let mut d = demo(false).await;
    press(&mut d.app, &["2", "j", "d", "backspace"]);
    type_text(&mut d.app, "5");
    insta::assert_snapshot!(shot(&mut d.app, 80, 24));
}

#[tokio::test]
async fn delay_modal_refuses_out_of_range_120x40() {
    let mut d = demo(false).await;
    press(&mut d.app, &["3", "d", "backspace"]);
    type_text(&mut d.app, "45");
    press(&mut d.app, &["enter"]);
    insta::assert_snapshot!(shot(&mut d.app, 120, 40));
}

#[tokio::test]
async fn power_off_confirm_warns_about_v6_120x40() {
    let mut d = demo(false).await;
    press(&mut d.app, &["/"]);
    type_text(&mut d.app, "kafka-dev");
    press(&mut d.app, &["enter", "G", "p"]);
    insta::assert_snapshot!(shot(&mut d.app, 120, 40));
}

#[tokio::test]
async fn maintenance_confirm_80x24() {
    let mut d = demo(false).await;
    press(&mut d.app, &["/"]);
    type_text(&mut d.app, "pg-orders");
    press(&mut d.app, &["enter", "G", "m"]);
    insta::assert_snapshot!(shot(&mut d.app, 80, 24));
}

#[tokio::test]
async fn service_detail_explains_why_held_120x40() {
    let mut d = demo(false).await;
    press(&mut d.app, &["/"]);
    type_text(&mut d.app, "pg-staging");
    press(&mut d.app, &["enter", "G", "enter"]);
    insta::assert_snapshot!(shot(&mut d.app, 120, 40));
}

#[tokio::test]
async fn service_detail_80x24() {
    let mut d = demo(false).await;
    press(&mut d.app, &["/"]);
    type_text(&mut d.app, "valkey-prod");
    press(&mut d.app, &["enter", "G", "enter"]);
    insta::assert_snapshot!(shot(&mut d.app, 80, 24));
}

#[tokio::test]
async fn command_palette_80x24() {
    let mut d = demo(false).await;
    press(&mut d.app, &[":"]);
    type_text(&mut d.app, "pane");
    insta::assert_snapshot!(shot(&mut d.app, 80, 24));
}

#[tokio::test]
async fn read_only_hides_and_refuses_changes_120x40() {
    let mut d = demo(true).await;
    press(&mut d.app, &["2", "v"]);
    assert!(d.app.modal.is_none(), "no validate popup in read-only mode");
    insta::assert_snapshot!(shot(&mut d.app, 120, 40));
}
