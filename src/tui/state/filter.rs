//! Pane filters: a case-insensitive regex; a leading `!` keeps what does not match.

use regex::{Regex, RegexBuilder};

/// A compiled filter.
#[derive(Debug, Clone)]
pub struct Filter {
    /// What the operator typed.
    pub text: String,
    regex: Regex,
    inverted: bool,
}

impl Filter {
    /// Compiles `text`; an empty text is no filter. The error says what is wrong with the regex.
    pub fn parse(text: &str) -> Result<Option<Filter>, String> {
        let (inverted, pattern) = match text.strip_prefix('!') {
            Some(rest) => (true, rest),
            None => (false, text),
        };
        if pattern.is_empty() {
            return Ok(None);
        }
        let regex = RegexBuilder::new(pattern)
            .case_insensitive(true)
            .size_limit(1 << 20)
            .build()
            .map_err(|e| {
                let first = e.to_string();
                let last = first.lines().last().unwrap_or("invalid").trim().to_string();
                format!("filter /{pattern}/ is not a valid regex ({last}); esc clears it")
            })?;
        Ok(Some(Filter {
            text: text.to_string(),
            regex,
            inverted,
        }))
    }

    /// Whether `haystack` passes.
    #[must_use]
    pub fn keeps(&self, haystack: &str) -> bool {
        self.regex.is_match(haystack) != self.inverted
    }
}

/// Whether `haystack` passes an optional filter.
#[must_use]
pub fn keeps(filter: Option<&Filter>, haystack: &str) -> bool {
    filter.is_none_or(|f| f.keeps(haystack))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bang_inverts_the_match() {
        let f = Filter::parse("!prod").expect("valid").expect("some");
        assert!(f.keeps("pg-dev"));
        assert!(!f.keeps("PG-PROD"));
    }

    #[test]
    fn invalid_regex_is_explained() {
        let e = Filter::parse("pg(").expect_err("invalid");
        assert!(e.contains("not a valid regex"), "{e}");
        assert!(Filter::parse("!").expect("empty").is_none());
    }
}
