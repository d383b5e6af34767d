//! The one key table: it dispatches keys, writes the footer and the help overlay, and takes user
//! overrides by action name. Unknown names, bad keys and duplicates become warnings, never errors.

use std::collections::{BTreeMap, HashMap};

use super::keys::Key;
use crate::tui::state::Pane;

/// Everything a key can ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Op {
    /// Show every key.
    Help,
    /// Open the command palette.
    Palette,
    /// Filter the focused pane.
    Filter,
    /// Close the popup or the detail; clear the filter.
    Back,
    /// Leave the dashboard.
    Quit,
    /// Next pane.
    NextPane,
    /// Previous pane.
    PrevPane,
    /// The Pipelines pane.
    PanePipelines,
    /// The Waiting-on-me pane.
    PaneWaiting,
    /// The Steps pane.
    PaneSteps,
    /// The History pane.
    PaneHistory,
    /// Move up.
    Up,
    /// Move down.
    Down,
    /// Collapse (tree) or go to the parent.
    Left,
    /// Expand (tree).
    Right,
    /// One page up.
    PageUp,
    /// One page down.
    PageDown,
    /// First row.
    Top,
    /// Last row.
    Bottom,
    /// Open the selected service's detail.
    Open,
    /// Validate the selected source's version (V2).
    Validate,
    /// Edit the selected step's delay (P6, P9).
    Delay,
    /// Apply the selected service's pending update now.
    Maintenance,
    /// Power the selected service on or off (V6).
    Power,
    /// The Incidents pane.
    PaneIncidents,
    /// Time travel: one event earlier.
    TravelBack,
    /// Time travel: one event later (past the newest: live).
    TravelForward,
    /// Time travel: to a typed time.
    TravelTo,
    /// Run simulated time faster.
    Faster,
    /// Run simulated time slower (down to paused).
    Slower,
    /// The run board and its actions (B10).
    Run(crate::tui::state::RunOp),
}

/// How keys are grouped in the help overlay.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Group {
    /// Valid everywhere.
    Global,
    /// Moving around.
    Navigation,
    /// Changing something (hidden in read-only mode).
    Actions,
    /// Time travel through the journal.
    Travel,
    /// Simulated time.
    Demo,
}

impl Group {
    /// The heading in the help overlay.
    #[must_use]
    pub fn title(self) -> &'static str {
        match self {
            Group::Global => "Global",
            Group::Navigation => "Navigation",
            Group::Actions => "Actions",
            Group::Travel => "Time travel (triage)",
            Group::Demo => "Simulated time (demo)",
        }
    }
}

/// One line of the key table.
#[derive(Debug, Clone, Copy)]
pub struct Binding {
    /// What it does.
    pub op: Op,
    /// Its name in the config file's `[keys]` table.
    pub name: &'static str,
    /// Default keys.
    pub keys: &'static [&'static str],
    /// The footer's word.
    pub label: &'static str,
    /// The help overlay's sentence.
    pub help: &'static str,
    /// Help group.
    pub group: Group,
    /// Whether it changes something (hidden and refused in read-only mode).
    pub changes: bool,
    /// Panes where it applies; empty means everywhere.
    pub panes: &'static [Pane],
    /// Whether the footer shows it.
    pub footer: bool,
}

use crate::tui::state::RunOp::{
    Board, Freeze, Resume, Rollback, Start, Switchover, ZoomIn, ZoomOut,
};
use Group::{Actions, Demo, Global, Navigation, Travel};
use Pane::{Detail, History, Incidents, Pipelines, RunBoard, Steps, Waiting};

const SERVICE_PANES: &[Pane] = &[Pipelines, Waiting, Steps, Detail];
const LIST_PANES: &[Pane] = &[Pipelines, Waiting, Steps, History, Incidents];

macro_rules! b {
    (Run($op:ident), $name:literal, [$($k:literal),*], $label:literal, $help:literal, $group:ident, $changes:literal, $panes:expr, $footer:literal) => {
        Binding { op: Op::Run($op), name: $name, keys: &[$($k),*], label: $label, help: $help,
                  group: $group, changes: $changes, panes: $panes, footer: $footer }
    };
    ($op:ident, $name:literal, [$($k:literal),*], $label:literal, $help:literal, $group:ident, $changes:literal, $panes:expr, $footer:literal) => {
        Binding { op: Op::$op, name: $name, keys: &[$($k),*], label: $label, help: $help,
                  group: $group, changes: $changes, panes: $panes, footer: $footer }
    };
}

/// The key table, in footer order.
#[rustfmt::skip]
pub const TABLE: &[Binding] = &[
    b!(Validate, "validate", ["v"], "validate", "validate the selected source's current version (V2)", Actions, true, SERVICE_PANES, true),
    b!(Delay, "delay", ["d"], "delay", "edit the selected step's auto-validation delay (1..30 days)", Actions, true, &[Pipelines, Waiting, Steps], true),
    b!(Maintenance, "maintenance", ["m"], "maintenance", "apply the selected service's pending update now", Actions, true, SERVICE_PANES, true),
    b!(Power, "power", ["p"], "power", "power the selected service on or off (V6)", Actions, true, SERVICE_PANES, true),
    b!(Run(Start), "start_run", ["u"], "upgrade run", "start a blue/green run to the newest major (U2)", Actions, true, SERVICE_PANES, false),
    b!(Run(Board), "run_board", ["b"], "run board", "open the run board of the selected service's run (B10)", Navigation, false, SERVICE_PANES, false),
    b!(Run(Switchover), "switchover", ["s"], "switchover", "switch the run over to green (B5), confirmed", Actions, true, &[RunBoard], true),
    b!(Run(Rollback), "rollback", ["a"], "rollback", "roll the run back before its switchover (B8), confirmed", Actions, true, &[RunBoard], true),
    b!(Run(Resume), "resume", ["r"], "resume", "resume the run or retry its failed phase (B9)", Actions, true, &[RunBoard], true),
    b!(Run(ZoomIn), "zoom_in", ["z"], "zoom", "shorter lag chart window", Navigation, false, &[RunBoard], true),
    b!(Run(ZoomOut), "zoom_out", ["Z"], "zoom out", "longer lag chart window", Navigation, false, &[RunBoard], false),
    b!(Run(Freeze), "freeze", ["f"], "freeze", "freeze or unfreeze the lag chart", Navigation, false, &[RunBoard], true),
    b!(Open, "open", ["enter"], "detail", "open the selected service's detail", Navigation, false, &[Pipelines, Waiting, Steps, Incidents], true),
    b!(Filter, "filter", ["/"], "filter", "filter this pane by regex; a leading ! inverts", Global, false, LIST_PANES, true),
    b!(Palette, "palette", [":"], "command", "command palette: run any action by name", Global, false, &[], true),
    b!(TravelBack, "travel_back", ["["], "past", "time travel: show the dashboard one event earlier", Travel, false, &[], true),
    b!(TravelForward, "travel_forward", ["]"], "later", "time travel: one event later; past the newest, live again", Travel, false, &[], false),
    b!(TravelTo, "travel_to", ["T"], "go to time", "time travel: type a time (03:12, 2026-01-06 03:12:07, -15m)", Travel, false, &[], false),
    b!(Faster, "faster", ["+", "="], "faster", "run simulated time faster", Demo, true, &[], false),
    b!(Slower, "slower", ["-"], "slower", "run simulated time slower, down to paused", Demo, true, &[], false),
    b!(Help, "help", ["?"], "help", "show every key", Global, false, &[], true),
    b!(Back, "back", ["esc"], "back", "close the popup or detail, clear the filter", Global, false, &[], true),
    b!(Quit, "quit", ["q", "ctrl+c"], "quit", "leave the dashboard", Global, false, &[], true),
    b!(NextPane, "next_pane", ["tab"], "next pane", "focus the next pane", Navigation, false, &[], false),
    b!(PrevPane, "prev_pane", ["shift+tab"], "previous pane", "focus the previous pane", Navigation, false, &[], false),
    b!(PanePipelines, "pane_pipelines", ["1"], "pipelines", "focus Pipelines", Navigation, false, &[], false),
    b!(PaneWaiting, "pane_waiting", ["2"], "waiting", "focus Waiting on me", Navigation, false, &[], false),
    b!(PaneSteps, "pane_steps", ["3"], "steps", "focus Steps", Navigation, false, &[], false),
    b!(PaneHistory, "pane_history", ["4"], "history", "focus History", Navigation, false, &[], false),
    b!(PaneIncidents, "pane_incidents", ["5"], "incidents", "focus Incidents", Navigation, false, &[], false),
    b!(Up, "up", ["up", "k"], "up", "move up", Navigation, false, &[], false),
    b!(Down, "down", ["down", "j"], "down", "move down", Navigation, false, &[], false),
    b!(Left, "left", ["left", "h"], "collapse", "collapse the tree node (or go to its parent)", Navigation, false, &[Pipelines], false),
    b!(Right, "right", ["right", "l"], "expand", "expand the tree node", Navigation, false, &[Pipelines], false),
    b!(PageUp, "page_up", ["pgup", "ctrl+u"], "page up", "one page up", Navigation, false, &[], false),
    b!(PageDown, "page_down", ["pgdn", "ctrl+d"], "page down", "one page down", Navigation, false, &[], false),
    b!(Top, "top", ["g", "home"], "top", "first row", Navigation, false, &[], false),
    b!(Bottom, "bottom", ["G", "end"], "bottom", "last row", Navigation, false, &[], false),
];

/// The binding of an operation.
#[must_use]
pub fn binding(op: Op) -> Option<&'static Binding> {
    TABLE.iter().find(|b| b.op == op)
}

/// A key's value in the config file: one key or several.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
#[serde(untagged)]
pub enum KeySpec {
    /// `validate = "V"`.
    One(String),
    /// `validate = ["V", "ctrl+v"]`.
    Many(Vec<String>),
}

impl KeySpec {
    fn texts(&self) -> Vec<&str> {
        match self {
            KeySpec::One(k) => vec![k.as_str()],
            KeySpec::Many(ks) => ks.iter().map(String::as_str).collect(),
        }
    }
}

/// The keys in force: defaults with the user's overrides applied.
#[derive(Debug, Clone, Default)]
pub struct Keymap {
    by_key: HashMap<Key, Op>,
    by_op: HashMap<Op, Vec<Key>>,
}

impl Keymap {
    /// The default keys.
    #[must_use]
    pub fn defaults() -> Keymap {
        Keymap::with_overrides(&BTreeMap::new()).0
    }

    /// The default keys with `overrides` (action name → keys), and the warnings they caused.
    #[must_use]
    pub fn with_overrides(overrides: &BTreeMap<String, KeySpec>) -> (Keymap, Vec<String>) {
        let mut warnings = Vec::new();
        let mut wanted: Vec<(Op, Vec<Key>)> = Vec::new();
        for name in overrides.keys() {
            if !TABLE.iter().any(|b| b.name == name) {
                let names: Vec<&str> = TABLE.iter().map(|b| b.name).collect();
                warnings.push(format!(
                    "config: unknown action '{name}' in [keys]; actions are {}",
                    names.join(", ")
                ));
            }
        }
        for b in TABLE {
            let keys = match overrides.get(b.name) {
                Some(spec) => {
                    let mut keys = Vec::new();
                    for text in spec.texts() {
                        match text.parse::<Key>() {
                            Ok(k) => keys.push(k),
                            Err(e) => warnings.push(format!("config: {}: {e}", b.name)),
                        }
                    }
                    if keys.is_empty() {
                        warnings.push(format!("config: {} keeps its default keys", b.name));
                        default_keys(b)
                    } else {
                        keys
                    }
                }
                None => default_keys(b),
            };
            wanted.push((b.op, keys));
        }
        // Overridden actions claim their keys first, so a user's choice beats a default.
        wanted.sort_by_key(|(op, _)| binding(*op).is_none_or(|b| !overrides.contains_key(b.name)));
        let mut map = Keymap::default();
        for (op, keys) in wanted {
            for key in keys {
                match map.by_key.get(&key) {
                    Some(other) if *other != op => warnings.push(format!(
                        "config: key {key} is bound to both {} and {}; {} keeps it",
                        name(*other),
                        name(op),
                        name(*other)
                    )),
                    Some(_) => {}
                    None => {
                        map.by_key.insert(key, op);
                        map.by_op.entry(op).or_default().push(key);
                    }
                }
            }
        }
        (map, warnings)
    }

    /// What a key asks for.
    #[must_use]
    pub fn op(&self, key: &Key) -> Option<Op> {
        self.by_key.get(key).copied()
    }

    /// The keys of an operation, first one first.
    #[must_use]
    pub fn keys(&self, op: Op) -> &[Key] {
        self.by_op.get(&op).map(Vec::as_slice).unwrap_or(&[])
    }

    /// The keys of an operation as text: `q/ctrl+c`.
    #[must_use]
    pub fn keys_text(&self, op: Op) -> String {
        let keys: Vec<String> = self.keys(op).iter().map(ToString::to_string).collect();
        keys.join("/")
    }

    /// The first key of an operation as text, for the footer.
    #[must_use]
    pub fn first_key(&self, op: Op) -> Option<String> {
        self.keys(op).first().map(ToString::to_string)
    }
}

fn default_keys(b: &Binding) -> Vec<Key> {
    b.keys.iter().filter_map(|k| k.parse().ok()).collect()
}

fn name(op: Op) -> &'static str {
    binding(op).map_or("?", |b| b.name)
}

/// Whether `b` applies in `pane` (and in read-only mode).
#[must_use]
pub fn applies(b: &Binding, pane: Pane, read_only: bool, virtual_clock: bool) -> bool {
    (b.panes.is_empty() || b.panes.contains(&pane))
        && !(read_only && b.changes)
        && (b.group != Group::Demo || virtual_clock)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crossterm::event::KeyCode;

    fn over(pairs: &[(&str, &str)]) -> BTreeMap<String, KeySpec> {
        pairs
            .iter()
            .map(|(a, k)| ((*a).to_string(), KeySpec::One((*k).to_string())))
            .collect()
    }

    #[test]
    fn default_table_has_no_duplicate_keys() {
        let (_, warnings) = Keymap::with_overrides(&BTreeMap::new());
        assert!(warnings.is_empty(), "{warnings:?}");
    }

    #[test]
    fn override_by_action_name_replaces_the_default() {
        let (map, warnings) = Keymap::with_overrides(&over(&[("validate", "V")]));
        assert!(warnings.is_empty(), "{warnings:?}");
        assert_eq!(map.op(&Key::plain(KeyCode::Char('V'))), Some(Op::Validate));
        assert_eq!(map.op(&Key::plain(KeyCode::Char('v'))), None);
    }

    #[test]
    fn unknown_action_and_bad_key_are_reported_not_fatal() {
        let (map, warnings) = Keymap::with_overrides(&over(&[("launch", "x"), ("delay", "")]));
        assert_eq!(warnings.len(), 3, "{warnings:?}");
        assert!(warnings[0].contains("unknown action 'launch'"));
        assert_eq!(map.op(&Key::plain(KeyCode::Char('d'))), Some(Op::Delay));
    }

    #[test]
    fn duplicate_binding_is_reported_and_the_override_wins() {
        let (map, warnings) = Keymap::with_overrides(&over(&[("validate", "q")]));
        assert_eq!(map.op(&Key::plain(KeyCode::Char('q'))), Some(Op::Validate));
        assert!(
            warnings[0].contains("bound to both validate and quit"),
            "{warnings:?}"
        );
    }
}
