//! Text scorers: the output equals an expected answer, or matches a pattern.

use super::{Score, clip};
use crate::MetaAgentError;

/// Largest compiled pattern. Patterns come from workflow specs, which an LLM
/// may write; this bounds the memory one can take (matching itself is linear
/// in the `regex` crate).
const REGEX_SIZE_LIMIT: usize = 1 << 20;

/// 1 when `actual` equals `expected`, else 0.
///
/// Surrounding whitespace and line endings (`\r\n` vs `\n`) are ignored:
/// agents routinely add a trailing newline, and neither changes the answer.
pub fn exact(expected: &str, actual: &str) -> Score {
    let expected = expected.trim().replace("\r\n", "\n");
    let actual = actual.trim().replace("\r\n", "\n");
    if expected == actual {
        return Score::pass("equals the expected output");
    }
    let at = expected
        .chars()
        .zip(actual.chars())
        .take_while(|(a, b)| a == b)
        .count();
    let (want, got) = (expected.chars().count(), actual.chars().count());
    Score::fail(if at == want {
        format!("has {} extra characters after the expected output", got - want)
    } else if at == got {
        format!("stops after {got} of the expected {want} characters")
    } else {
        format!("differs from the expected output at character {at}")
    })
}

/// 1 when `pattern` matches anywhere in `actual`, else 0; anchor the pattern
/// with `^…$` to require a whole match. An invalid pattern is an error, not
/// a zero: the spec is wrong, not the output.
pub fn regex(pattern: &str, actual: &str) -> Result<Score, MetaAgentError> {
    let re = regex::RegexBuilder::new(pattern)
        .size_limit(REGEX_SIZE_LIMIT)
        .build()
        .map_err(|source| MetaAgentError::InvalidRegex { source })?;
    let shown = clip(pattern, 80);
    Ok(match re.find(actual) {
        Some(m) => Score::pass(format!("`{shown}` matches at bytes {}..{}", m.start(), m.end())),
        None => Score::fail(format!("`{shown}` does not match")),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_ignores_surrounding_whitespace_and_line_endings() {
        assert_eq!(exact("42", "42\n").value, 1.0);
        assert_eq!(exact("a\nb", "  a\r\nb ").value, 1.0);
        assert_eq!(exact("a b", "a  b").value, 0.0);
    }

    #[test]
    fn exact_says_where_the_output_differs() {
        assert_eq!(
            exact("hello", "help").reason,
            "differs from the expected output at character 3"
        );
        assert_eq!(
            exact("hello", "hell").reason,
            "stops after 4 of the expected 5 characters"
        );
        assert_eq!(
            exact("hello", "hello!!").reason,
            "has 2 extra characters after the expected output"
        );
    }

    #[test]
    fn regex_matches_anywhere_unless_anchored() {
        let s = regex(r"\d{3}", "call 555-1234").unwrap();
        assert_eq!(s.value, 1.0);
        assert_eq!(s.reason, r"`\d{3}` matches at bytes 5..8");
        assert_eq!(regex(r"^\d+$", "12a").unwrap().value, 0.0);
        assert_eq!(regex(r"^\d+$", "123").unwrap().value, 1.0);
    }

    #[test]
    fn bad_patterns_are_errors() {
        let err = regex("(unclosed", "x").unwrap_err();
        assert!(matches!(err, MetaAgentError::InvalidRegex { .. }), "{err}");
        // Compiles to far more than the size limit.
        assert!(regex(r"\w{1000}{1000}", "x").is_err());
    }
}
