//! Popups: validate, edit delay, confirm, help and the command palette — their data and keys.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use crate::model::pipeline::DELAY_DAYS;
use crate::model::{Command, ServiceKey, StepId, Version};

use crate::tui::action::Effect;

/// A dangerous action waiting for confirmation: it travels as data, and only the popup's
/// confirmation turns it into an engine command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfirmOp {
    /// Apply the pending update now.
    Maintenance {
        /// The service.
        service: ServiceKey,
        /// The version it would take, if any is pending.
        version: Option<Version>,
    },
    /// Power on or off.
    Power {
        /// The service.
        service: ServiceKey,
        /// The new power state.
        on: bool,
        /// V6: destinations that lose their protection when it goes off.
        unprotects: Vec<ServiceKey>,
    },
    /// Start, switch over or roll back a run (or read why a switchover is refused).
    Run(super::RunConfirm),
}

impl ConfirmOp {
    /// The engine command it becomes, and its label.
    #[must_use]
    pub fn effect(&self) -> Effect {
        match self {
            ConfirmOp::Maintenance { service, .. } => Effect::Execute {
                label: format!("maintenance-start {service}"),
                command: Box::new(Command::MaintenanceStart {
                    service: service.clone(),
                }),
            },
            ConfirmOp::Power { service, on, .. } => Effect::Execute {
                label: format!("power {} {service}", if *on { "on" } else { "off" }),
                command: Box::new(Command::SetPower {
                    service: service.clone(),
                    powered: *on,
                }),
            },
            ConfirmOp::Run(run) => run.effect(),
        }
    }
}

/// An open popup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Modal {
    /// Validate a source's current version (V2).
    Validate {
        /// The source.
        service: ServiceKey,
        /// The exact version that will be validated.
        version: Version,
        /// The destinations it unblocks.
        unblocks: Vec<ServiceKey>,
        /// The comment being typed.
        comment: String,
    },
    /// Edit a step's delay (P6, P9).
    Delay {
        /// The step.
        step_id: StepId,
        /// Its delay now.
        current: u32,
        /// The number being typed.
        input: String,
    },
    /// Confirm a dangerous action.
    Confirm(ConfirmOp),
    /// Every key.
    Help {
        /// Lines scrolled.
        scroll: u16,
    },
    /// Travel to a typed time (`T`).
    TravelTo {
        /// What was typed.
        input: String,
        /// Why the last `enter` was refused, shown under the field.
        error: Option<String>,
    },
    /// Run an action by name.
    Palette {
        /// What was typed.
        input: String,
        /// The highlighted entry.
        selected: usize,
    },
}

/// The delay typed in the delay popup, if it is allowed (P6).
#[must_use]
pub fn parse_delay(input: &str) -> Option<u32> {
    input
        .trim()
        .parse::<i64>()
        .ok()
        .filter(|d| DELAY_DAYS.contains(d))
        .and_then(|d| u32::try_from(d).ok())
}

/// What a key did to a popup.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// The popup stays open.
    Stay,
    /// The popup closes with nothing done.
    Close,
    /// The popup closes and this is done.
    Run(Effect),
    /// A refusal to show without closing.
    Refuse(String),
}

/// Edits a text field; `true` when the key was text editing.
pub fn edit(text: &mut String, key: &KeyEvent, max: usize) -> bool {
    if key
        .modifiers
        .intersects(KeyModifiers::CONTROL | KeyModifiers::ALT)
    {
        return false;
    }
    match key.code {
        KeyCode::Char(c) => {
            if text.chars().count() < max {
                text.push(c);
            }
            true
        }
        KeyCode::Backspace => {
            text.pop();
            true
        }
        _ => false,
    }
}

impl Modal {
    /// Handles a key in the validate, delay and confirm popups.
    pub fn key(&mut self, key: &KeyEvent) -> Outcome {
        let code = key.code;
        if code == KeyCode::Esc {
            return Outcome::Close;
        }
        match self {
            Modal::Validate {
                service, comment, ..
            } => {
                if code == KeyCode::Enter {
                    let comment = comment.trim();
                    return Outcome::Run(Effect::Execute {
                        label: format!("validate {service}"),
                        command: Box::new(Command::ValidateForService {
                            service: service.clone(),
                            comment: (!comment.is_empty()).then(|| comment.to_string()),
                        }),
                    });
                }
                edit(comment, key, 200);
                Outcome::Stay
            }
            Modal::Delay { step_id, input, .. } => match code {
                KeyCode::Enter => match parse_delay(input) {
                    Some(days) => Outcome::Run(Effect::Execute {
                        label: format!("set delay of step {step_id} to {days}d"),
                        command: Box::new(Command::UpdateStep {
                            step_id: *step_id,
                            auto_validation_delay_days: i64::from(days),
                        }),
                    }),
                    None => Outcome::Refuse(format!(
                        "'{}' is not allowed: the delay is a whole number of days from 1 to 30 (P6)",
                        input.trim()
                    )),
                },
                KeyCode::Up | KeyCode::Down => {
                    let now = input.trim().parse::<i64>().unwrap_or(7);
                    let next = if code == KeyCode::Up {
                        now + 1
                    } else {
                        now - 1
                    };
                    *input = next
                        .clamp(*DELAY_DAYS.start(), *DELAY_DAYS.end())
                        .to_string();
                    Outcome::Stay
                }
                _ => {
                    edit(input, key, 4);
                    Outcome::Stay
                }
            },
            Modal::Confirm(op) => match code {
                KeyCode::Enter | KeyCode::Char('y' | 'Y') => Outcome::Run(op.effect()),
                KeyCode::Char('n' | 'N') => Outcome::Close,
                _ => Outcome::Stay,
            },
            Modal::Help { .. } | Modal::Palette { .. } | Modal::TravelTo { .. } => Outcome::Stay,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn press(c: KeyCode) -> KeyEvent {
        KeyEvent::new(c, KeyModifiers::NONE)
    }

    #[test]
    fn p6_delay_popup_refuses_out_of_range_without_closing() {
        let mut m = Modal::Delay {
            step_id: 1,
            current: 3,
            input: "31".into(),
        };
        assert!(
            matches!(m.key(&press(KeyCode::Enter)), Outcome::Refuse(e) if e.contains("1 to 30"))
        );
        assert_eq!(parse_delay("0"), None);
        assert_eq!(parse_delay(" 30"), Some(30));
        m.key(&press(KeyCode::Down));
        assert_eq!(
            m,
            Modal::Delay {
                step_id: 1,
                current: 3,
                input: "30".into()
            }
        );
    }

    #[test]
    fn confirm_runs_only_on_yes() {
        let op = ConfirmOp::Maintenance {
            service: ServiceKey::new("p", "s"),
            version: None,
        };
        let mut m = Modal::Confirm(op.clone());
        assert_eq!(m.key(&press(KeyCode::Char('x'))), Outcome::Stay);
        assert_eq!(m.key(&press(KeyCode::Char('n'))), Outcome::Close);
        assert_eq!(m.key(&press(KeyCode::Char('y'))), Outcome::Run(op.effect()));
    }
}
