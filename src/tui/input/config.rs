//! The dashboard's config file, `config.toml` in the XDG config directory
//! (`~/.config/lockstep/config.toml`):
//!
//! ```toml
//! theme = "light"          # dark, light, high-contrast, or themes/NAME.toml beside this file
//! [keys]                   # overrides by action name (see `?` for the names)
//! validate = "V"
//! quit = ["q", "ctrl+q"]
//! ```
//!
//! A broken file never stops the dashboard: what is wrong is reported in the status line.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::keymap::{KeySpec, Keymap};
use crate::tui::theme::{DEFAULT_THEME, Theme};

/// The file's content.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The theme's name.
    pub theme: Option<String>,
    /// Key overrides by action name.
    #[serde(default)]
    pub keys: BTreeMap<String, KeySpec>,
}

fn config_dir() -> Option<PathBuf> {
    directories::ProjectDirs::from("", "", "lockstep").map(|d| d.config_dir().to_path_buf())
}

/// Where user themes live: `themes/` beside the config file.
#[must_use]
pub fn themes_dir() -> Option<PathBuf> {
    config_dir().map(|d| d.join("themes"))
}

/// The config file's path.
#[must_use]
pub fn config_path() -> Option<PathBuf> {
    config_dir().map(|d| d.join("config.toml"))
}

impl Config {
    /// Reads `path`; a missing file is an empty config, a broken one a warning.
    #[must_use]
    pub fn read(path: &Path) -> (Config, Vec<String>) {
        match std::fs::read_to_string(path) {
            Ok(text) => Config::parse(&text, path),
            Err(_) => (Config::default(), Vec::new()),
        }
    }

    /// Parses a config text.
    #[must_use]
    pub fn parse(text: &str, path: &Path) -> (Config, Vec<String>) {
        match toml::from_str(text) {
            Ok(c) => (c, Vec::new()),
            Err(e) => (
                Config::default(),
                vec![format!(
                    "config {} ignored: {}",
                    path.display(),
                    e.message()
                )],
            ),
        }
    }
}

/// The theme and keys to start with: `--theme` beats the file, which beats the default.
#[must_use]
pub fn resolve(
    config: &Config,
    theme_flag: Option<&str>,
    themes: Option<&Path>,
) -> (Theme, Keymap, Vec<String>) {
    let mut warnings = Vec::new();
    let name = theme_flag
        .or(config.theme.as_deref())
        .unwrap_or(DEFAULT_THEME);
    let theme = Theme::load(name, themes).unwrap_or_else(|e| {
        warnings.push(format!("{e}; using {DEFAULT_THEME}"));
        Theme::fallback()
    });
    let (keymap, key_warnings) = Keymap::with_overrides(&config.keys);
    warnings.extend(key_warnings);
    (theme, keymap, warnings)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn broken_file_and_unknown_theme_are_warnings() {
        let (c, w) = Config::parse("theme = 3", Path::new("c.toml"));
        assert_eq!(w.len(), 1, "{w:?}");
        let (theme, _, w) = resolve(&c, Some("neon"), None);
        assert_eq!(theme.name, "dark");
        assert!(w[0].contains("unknown theme 'neon'"), "{w:?}");
    }

    #[test]
    fn flag_beats_file() {
        let (c, _) = Config::parse(
            "theme = \"light\"\n[keys]\nvalidate = \"V\"",
            Path::new("c"),
        );
        let (theme, keys, w) = resolve(&c, Some("high-contrast"), None);
        assert!(w.is_empty(), "{w:?}");
        assert_eq!(theme.name, "high-contrast");
        assert_eq!(keys.keys_text(super::super::keymap::Op::Validate), "V");
    }
}
