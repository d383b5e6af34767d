//! Semantic colours, loaded from `themes/*.toml`. This is the only module that knows colours;
//! panels ask for `theme.danger`, never for a colour.

use std::path::Path;
use std::str::FromStr;

use ratatui::style::{Color, Modifier, Style};
use serde::Deserialize;

/// The themes shipped inside the binary: `(name, toml)`.
pub const BUILT_IN: &[(&str, &str)] = &[
    ("dark", include_str!("../../themes/dark.toml")),
    ("light", include_str!("../../themes/light.toml")),
    (
        "high-contrast",
        include_str!("../../themes/high-contrast.toml"),
    ),
];

/// The theme used when none is chosen.
pub const DEFAULT_THEME: &str = "dark";

macro_rules! theme_keys {
    ($($(#[$doc:meta])* $key:ident),+ $(,)?) => {
        /// Every semantic colour of the dashboard.
        #[derive(Debug, Clone, PartialEq, Eq)]
        pub struct Theme {
            /// The theme's name.
            pub name: String,
            $($(#[$doc])* pub $key: Color,)+
        }

        #[derive(Debug, Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Colors { $($key: String,)+ }

        impl Theme {
            fn from_colors(name: String, c: &Colors) -> Result<Theme, String> {
                Ok(Theme { name, $($key: color(stringify!($key), &c.$key)?,)+ })
            }
        }
    };
}

theme_keys!(
    /// Ordinary text.
    text,
    /// Secondary text: timestamps, hints, empty values.
    muted,
    /// Emphasis that is neither good nor bad: versions, the clock.
    accent,
    /// Healthy: validated, up to date, updated.
    ok,
    /// Needs attention soon: held, waiting, countdowns.
    warn,
    /// Needs attention now: refusals, V6 unprotected destinations, confirm targets.
    danger,
    /// An emergency override (V7).
    emergency,
    /// Pane borders.
    border,
    /// The focused pane's border.
    border_focused,
    /// Pane titles.
    title,
    /// The selected row's text.
    selected_fg,
    /// The selected row's background.
    selected_bg,
    /// Header and footer text.
    header_fg,
    /// Header and footer background.
    header_bg,
    /// The DEMO banner's text.
    banner_fg,
    /// The DEMO banner's background.
    banner_bg,
    /// Alarms that must not be missed (V6 warning line) — text.
    alarm_fg,
    /// Alarms that must not be missed — background.
    alarm_bg,
    /// The filled part of a countdown gauge.
    gauge_full,
    /// The empty part of a countdown gauge.
    gauge_empty,
    /// Text typed in an input field.
    input_fg,
    /// An input field's background.
    input_bg,
    /// An input field holding a refused value.
    input_invalid,
    /// Key names in the footer and help.
    key,
    /// Popup background.
    popup_bg,
);

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ThemeFile {
    name: Option<String>,
    colors: Colors,
}

fn color(key: &str, text: &str) -> Result<Color, String> {
    Color::from_str(text).map_err(|_| {
        format!("colour '{text}' of {key} is not a colour: use a name such as light_red, #rrggbb or 0..255")
    })
}

impl Theme {
    /// Parses a theme file's text.
    pub fn parse(name: &str, text: &str) -> Result<Theme, String> {
        let file: ThemeFile =
            toml::from_str(text).map_err(|e| format!("theme {name}: {}", e.message()))?;
        Theme::from_colors(file.name.unwrap_or_else(|| name.to_string()), &file.colors)
            .map_err(|e| format!("theme {name}: {e}"))
    }

    /// The theme called `name`: a file in `user_dir` (`NAME.toml`) first, then the built-ins.
    pub fn load(name: &str, user_dir: Option<&Path>) -> Result<Theme, String> {
        if let Some(dir) = user_dir {
            let path = dir.join(format!("{name}.toml"));
            if let Ok(text) = std::fs::read_to_string(&path) {
                return Theme::parse(name, &text);
            }
        }
        BUILT_IN
            .iter()
            .find(|(n, _)| *n == name)
            .ok_or_else(|| {
                let names: Vec<&str> = BUILT_IN.iter().map(|(n, _)| *n).collect();
                format!("unknown theme '{name}': use one of {}", names.join(", "))
            })
            .and_then(|(n, text)| Theme::parse(n, text))
    }

    /// The default theme; if even it cannot load, the terminal's own colours.
    #[must_use]
    pub fn fallback() -> Theme {
        Theme::load(DEFAULT_THEME, None).unwrap_or_else(|_| Theme::terminal())
    }

    /// A theme that leaves every colour to the terminal.
    #[must_use]
    pub fn terminal() -> Theme {
        let r = Color::Reset;
        Theme {
            name: "terminal".into(),
            text: r,
            muted: r,
            accent: r,
            ok: r,
            warn: r,
            danger: r,
            emergency: r,
            border: r,
            border_focused: r,
            title: r,
            selected_fg: r,
            selected_bg: r,
            header_fg: r,
            header_bg: r,
            banner_fg: r,
            banner_bg: r,
            alarm_fg: r,
            alarm_bg: r,
            gauge_full: r,
            gauge_empty: r,
            input_fg: r,
            input_bg: r,
            input_invalid: r,
            key: r,
            popup_bg: r,
        }
    }

    /// Plain text in a colour.
    #[must_use]
    pub fn fg(&self, c: Color) -> Style {
        Style::new().fg(c)
    }

    /// The selected row.
    #[must_use]
    pub fn selected(&self) -> Style {
        Style::new()
            .fg(self.selected_fg)
            .bg(self.selected_bg)
            .add_modifier(Modifier::BOLD)
    }

    /// Header and footer bars.
    #[must_use]
    pub fn bar(&self) -> Style {
        Style::new().fg(self.header_fg).bg(self.header_bg)
    }

    /// The loud line for V6 and V7.
    #[must_use]
    pub fn alarm(&self) -> Style {
        Style::new()
            .fg(self.alarm_fg)
            .bg(self.alarm_bg)
            .add_modifier(Modifier::BOLD)
    }

    /// A pane border, focused or not.
    #[must_use]
    pub fn border(&self, focused: bool) -> Style {
        Style::new().fg(if focused {
            self.border_focused
        } else {
            self.border
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_built_in_theme_loads() {
        for (name, _) in BUILT_IN {
            let t = Theme::load(name, None).expect("built-in theme");
            assert_eq!(&t.name, name);
        }
    }

    #[test]
    fn unknown_theme_names_the_known_ones() {
        let e = Theme::load("solarized", None).expect_err("unknown");
        assert!(e.contains("dark, light, high-contrast"), "{e}");
    }

    #[test]
    fn bad_colour_names_the_key() {
        let text = include_str!("../../themes/dark.toml").replace("\"light_red\"", "\"blood\"");
        let e = Theme::parse("x", &text).expect_err("bad colour");
        assert!(e.contains("blood") && e.contains("danger"), "{e}");
    }
}
