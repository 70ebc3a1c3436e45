//! Scorers: how good is an output, as a number in [0, 1] with a short reason.
//!
//! Scores are what the meta-agent learns from, so each scorer is
//! deterministic and says why in a few words (the reason ends up in traces
//! and feedback, not in prompts).
//!
//! - [`sandbox`]: run Python code against its tests in a child process;
//! - [`text`]: exact and regular-expression matches;
//! - [`json_schema`](mod@json_schema): output that must be JSON of a given shape;
//! - [`doctest`]: public tests from the examples in a code task's prompt.
//!
//! The judge scorer, which asks an agent, is the executor's
//! ([`Executor::score`](crate::Executor::score)).

pub mod doctest;
pub mod json_schema;
pub mod sandbox;
pub mod text;

pub use json_schema::json_schema;
pub use text::{exact, regex};

/// A score in [0, 1] and why.
#[derive(Debug, Clone, PartialEq)]
pub struct Score {
    pub value: f64,
    pub reason: String,
}

impl Score {
    /// Full marks.
    pub fn pass(reason: impl Into<String>) -> Score {
        Score {
            value: 1.0,
            reason: reason.into(),
        }
    }

    /// No marks.
    pub fn fail(reason: impl Into<String>) -> Score {
        Score {
            value: 0.0,
            reason: reason.into(),
        }
    }
}

/// At most `max` characters of `s`, with `…` when cut, for reasons that
/// quote user text.
pub(crate) fn clip(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        Some((at, _)) => format!("{}…", &s[..at]),
        None => s.to_string(),
    }
}
