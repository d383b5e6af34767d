//! Through the keyboard, against a real `LocalEngine` on a temporary database: validate with a
//! comment, edit a delay (after an out-of-range value is refused in the popup), and start
//! maintenance — then read the engine's state.

use lockstep::engine::{Engine, LocalEngine};
use lockstep::model::ServiceKey;
use lockstep::tui::app::{App, Options};
use lockstep::tui::keymap::Keymap;
use lockstep::tui::testing::drive;
use lockstep::tui::theme::Theme;

async fn open() -> (LocalEngine, App, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("tempdir");
    let engine = lockstep::demo::create(&dir.path().join("demo.db"), true)
        .await
        .expect("demo");
    let snapshot = engine.snapshot().await.expect("snapshot");
    let recent = engine.events(0, 2000).await.expect("events");
    let options = Options {
        read_only: false,
        actor: "dana".into(),
        demo: true,
    };
    let app = App::new(
        snapshot,
        engine.info(),
        recent,
        options,
        Theme::fallback(),
        Keymap::defaults(),
    );
    (engine, app, dir)
}

fn chars(text: &str) -> Vec<String> {
    text.chars().map(|c| c.to_string()).collect()
}

async fn keys(app: &mut App, engine: &LocalEngine, seq: &[&str]) {
    drive(app, engine, seq).await;
}

async fn typed(app: &mut App, engine: &LocalEngine, text: &str) {
    let owned = chars(text);
    let refs: Vec<&str> = owned.iter().map(String::as_str).collect();
    drive(app, engine, &refs).await;
}

#[tokio::test]
async fn validate_edit_delay_and_maintenance_through_the_keyboard() {
    let (engine, mut app, _dir) = open().await;

    // V2: validate pg-dev from the Waiting pane, with a comment.
    keys(&mut app, &engine, &["2", "/"]).await;
    typed(&mut app, &engine, "pg-dev →").await;
    keys(&mut app, &engine, &["enter", "v"]).await;
    typed(&mut app, &engine, "ship it").await;
    keys(&mut app, &engine, &["enter"]).await;
    assert!(app.modal.is_none());
    assert!(app.in_flight.is_empty(), "{:?}", app.in_flight);

    // P6: 45 is refused in the popup; 12 is saved on pg-staging → pg-prod.
    keys(&mut app, &engine, &["esc", "3", "/"]).await;
    typed(&mut app, &engine, "pg-prod").await;
    keys(&mut app, &engine, &["enter", "d", "backspace"]).await;
    typed(&mut app, &engine, "45").await;
    keys(&mut app, &engine, &["enter"]).await;
    assert!(
        app.modal.is_some(),
        "out-of-range delay keeps the popup open"
    );
    keys(&mut app, &engine, &["backspace", "backspace"]).await;
    typed(&mut app, &engine, "12").await;
    keys(&mut app, &engine, &["enter"]).await;
    assert!(app.modal.is_none());

    // Maintenance-start on pg-orders, confirmed.
    keys(&mut app, &engine, &["esc", "1", "/"]).await;
    typed(&mut app, &engine, "pg-orders").await;
    keys(&mut app, &engine, &["enter", "G", "m", "y"]).await;

    let state = engine.snapshot().await.expect("snapshot").state;
    let dev = ServiceKey::new("acme-dev", "pg-dev");
    let staging = ServiceKey::new("acme-staging", "pg-staging");
    let prod = ServiceKey::new("acme-prod", "pg-prod");
    let into_staging = state.step_into(&staging).expect("dev → staging");
    assert_eq!(into_staging.source, dev);
    let v = into_staging.last_validation.as_ref().expect("validated");
    assert_eq!(v.validated_by_user.as_deref(), Some("dana"));
    assert_eq!(v.comment.as_deref(), Some("ship it"));
    assert_eq!(v.version.to_string(), "15.9");
    assert_eq!(
        state
            .step_into(&prod)
            .expect("staging → prod")
            .auto_validation_delay_days,
        12
    );
    let orders = &state.services[&ServiceKey::new("acme-prod", "pg-orders")];
    assert!(
        orders.updating.is_some() || orders.version.to_string() == "15.9",
        "pg-orders started its update: {orders:?}"
    );
    // The dashboard's mirror followed the engine's events.
    assert_eq!(app.state.head, state.head);
    assert_eq!(app.state.steps, state.steps);
}
