//! Every numeric limit on a manifest, in one place.
//!
//! Validation, the importers (which truncate to these instead of failing) and
//! the documentation all read them from here, so a limit changes in one spot.
//! Lengths of text are counted in Unicode scalar values (`chars`), not bytes,
//! so a limit means the same thing in every script.

/// Largest accepted manifest body in bytes.
pub const MAX_MANIFEST_BYTES: usize = 64 * 1024;

/// Shortest namespace, agent name or tenant id.
pub const IDENTIFIER_MIN: usize = 2;
/// Longest namespace, agent name or tenant id.
pub const IDENTIFIER_MAX: usize = 64;

/// Longest `version` string.
pub const VERSION_MAX: usize = 64;
/// Longest manifest `title` and skill `name`.
pub const TITLE_MAX: usize = 128;
/// Longest manifest `description`.
pub const DESCRIPTION_MAX: usize = 4000;
/// Longest `provider.organization`.
pub const ORGANIZATION_MAX: usize = 128;
/// Longest URL (`provider.url`, `endpoint.url`).
pub const URL_MAX: usize = 2048;

/// Fewest skills in a manifest.
pub const SKILLS_MIN: usize = 1;
/// Most skills in a manifest.
pub const SKILLS_MAX: usize = 64;
/// Longest skill id.
pub const SKILL_ID_MAX: usize = 64;
/// Longest skill `name`.
pub const SKILL_NAME_MAX: usize = 128;
/// Longest skill `description`.
pub const SKILL_DESCRIPTION_MAX: usize = 2000;
/// Most tags on one skill.
pub const TAGS_MAX: usize = 32;
/// Longest tag.
pub const TAG_MAX: usize = 64;
/// Most examples on one skill.
pub const EXAMPLES_MAX: usize = 32;
/// Longest example.
pub const EXAMPLE_MAX: usize = 1000;
/// Most input or output modes on one skill.
pub const MODES_MAX: usize = 16;
/// Longest media type in `input_modes` / `output_modes`.
pub const MODE_MAX: usize = 128;

/// Longest name of a vector space.
pub const VECTOR_SPACE_MAX: usize = 64;
/// Most values in one capability vector.
pub const VECTOR_VALUES_MAX: usize = 4096;

/// Most tenants in a visibility list.
pub const TENANTS_MAX: usize = 64;
/// Most regions, and most compliance tags.
pub const POLICY_TAGS_MAX: usize = 32;
/// Longest region or compliance tag.
pub const POLICY_TAG_MAX: usize = 64;

/// Highest `cost_per_call_usd` and `cost_per_1k_tokens_usd`.
pub const COST_MAX_USD: f64 = 1000.0;
/// Lowest `latency_ms.p50`.
pub const LATENCY_MIN_MS: u32 = 1;
/// Highest `latency_ms.p95` (one hour).
pub const LATENCY_MAX_MS: u32 = 3_600_000;

/// Most metadata entries.
pub const METADATA_MAX: usize = 32;
/// Longest metadata key.
pub const METADATA_KEY_MAX: usize = 64;
/// Longest metadata value.
pub const METADATA_VALUE_MAX: usize = 512;
