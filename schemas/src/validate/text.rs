//! Character-level rules on strings: lengths, allowed alphabets, control
//! characters, URLs and media types.
//!
//! Each check returns the rule text of the first thing wrong, or `None`; the
//! caller attaches the field path.

use url::Url;

/// Whether a character may appear in a namespace, agent name, tenant id,
/// skill id, region, compliance tag or vector space.
pub(crate) fn is_identifier_char(c: char) -> bool {
    c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_' | '-')
}

/// Tags also allow `:` so they can be namespaced (`lang:rust`).
pub(crate) fn is_tag_char(c: char) -> bool {
    is_identifier_char(c) || c == ':'
}

/// Metadata keys allow upper case and `/` (`app.kubernetes.io/name`-style).
pub(crate) fn is_metadata_key_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '/' | '-')
}

/// Length in characters within `min..=max`.
pub(crate) fn length(s: &str, min: usize, max: usize) -> Option<String> {
    let n = s.chars().count();
    if n < min {
        Some(if min == 1 {
            "must not be empty".to_string()
        } else {
            format!("shorter than {min} characters")
        })
    } else if n > max {
        Some(format!("longer than {max} characters"))
    } else {
        None
    }
}

/// One-line text: no control characters at all (names, titles, ids, tags).
pub(crate) fn single_line(s: &str) -> Option<String> {
    s.chars()
        .any(char::is_control)
        .then(|| "contains a control character".to_string())
}

/// Prose: line breaks and tabs are fine, other control characters are not
/// (they are never intended and break terminals and logs).
pub(crate) fn multi_line(s: &str) -> Option<String> {
    s.chars()
        .any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
        .then(|| "contains a control character other than a line break or tab".to_string())
}

/// Length plus one-line text.
pub(crate) fn line(s: &str, min: usize, max: usize) -> Option<String> {
    length(s, min, max).or_else(|| single_line(s))
}

/// Length plus prose.
pub(crate) fn prose(s: &str, min: usize, max: usize) -> Option<String> {
    length(s, min, max).or_else(|| multi_line(s))
}

/// Length plus an alphabet described by `alphabet` for the message.
pub(crate) fn token(
    s: &str,
    min: usize,
    max: usize,
    allowed: fn(char) -> bool,
    alphabet: &str,
) -> Option<String> {
    length(s, min, max).or_else(|| (!s.chars().all(allowed)).then(|| format!("may contain only {alphabet}")))
}

pub(crate) const IDENTIFIER_ALPHABET: &str = "lowercase letters, digits, '.', '_' and '-'";
pub(crate) const TAG_ALPHABET: &str = "lowercase letters, digits, '.', '_', ':' and '-'";
pub(crate) const METADATA_KEY_ALPHABET: &str = "letters, digits, '.', '_', '/' and '-'";

/// An absolute `http` or `https` URL with a host, at most `max` characters.
pub(crate) fn http_url(s: &str, max: usize) -> Option<String> {
    if let Some(problem) = length(s, 1, max) {
        return Some(problem);
    }
    let url = match Url::parse(s) {
        Ok(url) => url,
        Err(e) => return Some(format!("not a valid URL ({e})")),
    };
    if !matches!(url.scheme(), "http" | "https") {
        return Some(format!("scheme must be http or https, not `{}`", url.scheme()));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Some("URL must have a host".to_string());
    }
    None
}

/// A media type `type/subtype` (RFC 6838 restricted names, no parameters).
pub(crate) fn media_type(s: &str, max: usize) -> Option<String> {
    if let Some(problem) = length(s, 1, max) {
        return Some(problem);
    }
    let restricted = |part: &str| {
        !part.is_empty()
            && part.len() <= 127
            && part.starts_with(|c: char| c.is_ascii_alphanumeric())
            && part
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "!#$&-^_.+".contains(c))
    };
    match s.split_once('/') {
        Some((ty, sub)) if restricted(ty) && restricted(sub) => None,
        _ => Some("not a media type of the form type/subtype".to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        assert_eq!(http_url("https://a.example/x", 100), None);
        assert_eq!(http_url("http://127.0.0.1:8080", 100), None);
        assert!(http_url("ftp://a.example", 100).unwrap().contains("scheme"));
        assert!(http_url("/relative", 100).unwrap().contains("not a valid URL"));
        assert!(http_url("https://a.example/x", 5).unwrap().contains("longer"));
    }

    #[test]
    fn media_types() {
        assert_eq!(media_type("text/plain", 128), None);
        assert_eq!(media_type("application/vnd.api+json", 128), None);
        assert!(media_type("text", 128).is_some());
        assert!(media_type("text/", 128).is_some());
        assert!(media_type("text/plain; charset=utf-8", 128).is_some());
    }

    #[test]
    fn control_characters() {
        assert!(single_line("a\nb").is_some());
        assert!(multi_line("a\nb\tc").is_none());
        assert!(multi_line("a\u{7}b").is_some());
    }
}
