//! Warnings that can repeat thousands of times a second under attack, logged sparsely.

use std::time::Duration;

/// A warning that can repeat thousands of times a second under attack, logged at most once a
/// minute.
#[derive(Debug, Default)]
pub(super) struct Sparse(std::sync::Mutex<Option<std::time::Instant>>);

impl Sparse {
    /// Whether to log it now.
    pub(super) fn due(&self) -> bool {
        let mut last = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let now = std::time::Instant::now();
        if last.is_some_and(|at| now.duration_since(at) < Duration::from_secs(60)) {
            return false;
        }
        *last = Some(now);
        true
    }
}
