//! Semver rules of the registry: ordering, `latest`, and range resolution.
//!
//! Pure functions over `(version, status)` pairs so the rules can be tested
//! exhaustively without a store.

use semver::{Version, VersionReq};
use switchyard_schemas::api::VersionStatus;

/// Sorts versions ascending by semver precedence.
pub fn sort_semver<T>(items: &mut [T], version: impl Fn(&T) -> &Version) {
    items.sort_by(|a, b| version(a).cmp_precedence(version(b)));
}

/// The highest non-prerelease active version; a prerelease is `latest` only
/// when no non-prerelease version is active.
pub fn latest<'a>(versions: impl IntoIterator<Item = (&'a Version, VersionStatus)>) -> Option<&'a Version> {
    let active: Vec<&Version> = versions
        .into_iter()
        .filter(|(_, status)| *status == VersionStatus::Active)
        .map(|(v, _)| v)
        .collect();
    let highest = |pre: bool| {
        active
            .iter()
            .copied()
            .filter(|v| v.pre.is_empty() != pre)
            .max_by(|a, b| a.cmp_precedence(b))
    };
    highest(false).or_else(|| highest(true))
}

/// Parses a range such as `^1.2`, `~1.4.0` or `>=2, <3`.
pub fn parse_range(range: &str) -> Result<VersionReq, semver::Error> {
    VersionReq::parse(range.trim())
}

/// The highest non-yanked version matching `req` (deprecated versions match:
/// a caller who pins a range asked for them explicitly).
pub fn resolve<'a>(
    req: &VersionReq,
    versions: impl IntoIterator<Item = (&'a Version, VersionStatus)>,
) -> Option<&'a Version> {
    versions
        .into_iter()
        .filter(|(v, status)| *status != VersionStatus::Yanked && req.matches(v))
        .map(|(v, _)| v)
        .max_by(|a, b| a.cmp_precedence(b))
}

#[cfg(test)]
mod tests {
    use super::*;
    use VersionStatus::{Active as A, Deprecated as D, Yanked as Y};

    fn set(items: &[(&str, VersionStatus)]) -> Vec<(Version, VersionStatus)> {
        items
            .iter()
            .map(|(v, s)| (Version::parse(v).unwrap(), *s))
            .collect()
    }

    fn latest_of(items: &[(&str, VersionStatus)]) -> Option<String> {
        let s = set(items);
        latest(s.iter().map(|(v, st)| (v, *st))).map(ToString::to_string)
    }

    fn resolve_of(range: &str, items: &[(&str, VersionStatus)]) -> Option<String> {
        let s = set(items);
        let req = parse_range(range).unwrap();
        resolve(&req, s.iter().map(|(v, st)| (v, *st))).map(ToString::to_string)
    }

    #[test]
    fn latest_prefers_highest_stable_active() {
        assert_eq!(
            latest_of(&[("1.0.0", A), ("1.2.0", A), ("1.10.0", A)]).as_deref(),
            Some("1.10.0")
        );
        assert_eq!(
            latest_of(&[("1.0.0", A), ("2.0.0-rc.1", A)]).as_deref(),
            Some("1.0.0")
        );
        assert_eq!(
            latest_of(&[("1.0.0", A), ("1.1.0", D), ("1.2.0", Y)]).as_deref(),
            Some("1.0.0")
        );
    }

    #[test]
    fn prerelease_is_latest_only_when_nothing_else_is() {
        assert_eq!(
            latest_of(&[("2.0.0-alpha.1", A), ("2.0.0-beta.2", A), ("2.0.0-beta.10", A)]).as_deref(),
            Some("2.0.0-beta.10")
        );
        // A deprecated stable version does not hide an active prerelease.
        assert_eq!(
            latest_of(&[("1.0.0", D), ("2.0.0-rc.1", A)]).as_deref(),
            Some("2.0.0-rc.1")
        );
        assert_eq!(latest_of(&[("1.0.0", Y), ("1.1.0", D)]), None);
        assert_eq!(latest_of(&[]), None);
    }

    #[test]
    fn ranges_resolve_to_highest_non_yanked_match() {
        let items = [
            ("1.2.0", A),
            ("1.2.5", A),
            ("1.3.0", Y),
            ("1.4.0", A),
            ("1.4.7", D),
            ("1.5.0-rc.1", A),
            ("2.0.0", A),
            ("2.3.1", A),
            ("3.0.0", A),
        ];
        assert_eq!(resolve_of("^1.2", &items).as_deref(), Some("1.4.7"));
        assert_eq!(resolve_of("~1.4.0", &items).as_deref(), Some("1.4.7"));
        assert_eq!(resolve_of("~1.3", &items), None);
        assert_eq!(resolve_of(">=2, <3", &items).as_deref(), Some("2.3.1"));
        assert_eq!(resolve_of("=1.2.0", &items).as_deref(), Some("1.2.0"));
        assert_eq!(resolve_of("*", &items).as_deref(), Some("3.0.0"));
        // Prereleases match only ranges that name one on the same x.y.z.
        assert_eq!(
            resolve_of(">=1.5.0-rc.0, <1.6", &items).as_deref(),
            Some("1.5.0-rc.1")
        );
        assert_eq!(resolve_of("^4", &items), None);
    }

    #[test]
    fn bad_ranges_are_rejected() {
        assert!(parse_range("^^1").is_err());
        assert!(parse_range("one").is_err());
    }

    #[test]
    fn sorting_uses_precedence_not_text() {
        let mut s = set(&[("1.10.0", A), ("1.2.0", A), ("1.2.0-rc.1", A), ("0.9.0", A)]);
        sort_semver(&mut s, |(v, _)| v);
        let order: Vec<String> = s.iter().map(|(v, _)| v.to_string()).collect();
        assert_eq!(order, ["0.9.0", "1.2.0-rc.1", "1.2.0", "1.10.0"]);
    }
}
