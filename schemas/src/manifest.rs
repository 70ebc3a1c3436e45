//! The agent manifest: what an agent publishes about one version of itself.
//!
//! These types are the wire format of `POST /v1/agents` and of the files the
//! CLI publishes. Unknown fields are rejected everywhere so a typo never turns
//! into a silently ignored setting. Shape only is checked by serde; the rules
//! on names, lengths, ranges and vectors live in [`crate::validate`].

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::limits;

/// Semantic Versioning 2.0.0 (the regular expression from semver.org), for
/// the JSON Schema; validation itself uses the `semver` crate.
const SEMVER_PATTERN: &str = r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?$";

/// `type/subtype` with RFC 6838 restricted names, for the JSON Schema.
const MEDIA_TYPE_PATTERN: &str =
    r"^[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}$";

/// One published version of an agent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AgentManifest {
    /// `namespace/agent`, lowercase `[a-z0-9._-]`, each part 2–64 characters.
    #[schemars(regex(pattern = r"^[a-z0-9._-]{2,64}/[a-z0-9._-]{2,64}$"))]
    pub name: String,
    /// Semantic version of this manifest, e.g. `1.4.0` or `2.0.0-rc.1` (no
    /// leading `v`).
    #[schemars(length(min = 1, max = limits::VERSION_MAX), regex(pattern = SEMVER_PATTERN))]
    pub version: String,
    /// Human-readable name, one line.
    #[schemars(length(min = 1, max = limits::TITLE_MAX))]
    pub title: String,
    /// What the agent does, in a few sentences.
    #[schemars(length(min = 1, max = limits::DESCRIPTION_MAX))]
    pub description: String,
    /// Who runs the agent.
    pub provider: Provider,
    /// Where and how to call the agent.
    pub endpoint: Endpoint,
    /// What the agent can do; each skill becomes a capability vector. Skill
    /// ids are unique within the manifest.
    #[schemars(length(min = limits::SKILLS_MIN, max = limits::SKILLS_MAX))]
    pub skills: Vec<Skill>,
    /// Who may see and route to the agent, and which data it may handle.
    pub policy: Policy,
    /// What a call costs and how long it takes.
    pub budget: Budget,
    /// Free-form string labels: at most 32, keys `[A-Za-z0-9._/-]` of 1–64
    /// characters, values of at most 512.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub metadata: BTreeMap<String, String>,
}

impl AgentManifest {
    /// The parsed `version`. Validation guarantees this succeeds on a
    /// validated manifest; on anything else it reports the parse error.
    pub fn semver(&self) -> Result<semver::Version, semver::Error> {
        semver::Version::parse(&self.version)
    }

    /// The namespace part of `name` (everything before the `/`).
    pub fn namespace(&self) -> &str {
        self.name.split_once('/').map_or(&self.name, |(ns, _)| ns)
    }
}

/// The organisation that operates the agent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Provider {
    #[schemars(length(min = 1, max = limits::ORGANIZATION_MAX))]
    pub organization: String,
    /// An `http` or `https` URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(url, length(max = limits::URL_MAX))]
    pub url: Option<String>,
}

/// How to reach the agent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Endpoint {
    /// An `http` or `https` URL with a host.
    #[schemars(url, length(min = 1, max = limits::URL_MAX))]
    pub url: String,
    pub protocol: Protocol,
}

/// The protocol the endpoint speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub enum Protocol {
    /// Switchyard's own JSON-over-HTTP protocol (see `docs/agent-protocol.md`).
    #[serde(rename = "switchyard-http")]
    SwitchyardHttp,
    /// A2A JSON-RPC (`message/send`).
    #[serde(rename = "a2a-jsonrpc")]
    A2aJsonRpc,
}

/// One capability of an agent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Skill {
    /// Unique within the manifest; lowercase `[a-z0-9._-]`.
    #[schemars(regex(pattern = r"^[a-z0-9._-]{1,64}$"))]
    pub id: String,
    #[schemars(length(min = 1, max = limits::SKILL_NAME_MAX))]
    pub name: String,
    #[schemars(length(min = 1, max = limits::SKILL_DESCRIPTION_MAX))]
    pub description: String,
    /// Distinct lowercase labels; `:` may namespace them (`lang:rust`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = limits::TAGS_MAX), inner(regex(pattern = r"^[a-z0-9._:-]{1,64}$")))]
    pub tags: Vec<String>,
    /// Example requests this skill serves.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = limits::EXAMPLES_MAX), inner(length(min = 1, max = limits::EXAMPLE_MAX)))]
    pub examples: Vec<String>,
    /// Media types the skill accepts, e.g. `text/plain`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = limits::MODES_MAX), inner(length(max = limits::MODE_MAX), regex(pattern = MEDIA_TYPE_PATTERN)))]
    pub input_modes: Vec<String>,
    /// Media types the skill produces.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = limits::MODES_MAX), inner(length(max = limits::MODE_MAX), regex(pattern = MEDIA_TYPE_PATTERN)))]
    pub output_modes: Vec<String>,
    /// A capability vector computed by the client, in a space the server knows.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vector: Option<CapabilityVector>,
}

/// A client-supplied embedding of a skill.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CapabilityVector {
    /// Name of the embedding space, e.g. `minilm-l6-v2-int8`.
    #[schemars(regex(pattern = r"^[a-z0-9._-]{1,64}$"))]
    pub space: String,
    /// Finite values with a non-zero norm; at most 4096 of them.
    #[schemars(length(min = 1, max = limits::VECTOR_VALUES_MAX))]
    pub values: Vec<f32>,
}

/// Visibility, data handling and placement rules of an agent version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Policy {
    pub visibility: Visibility,
    /// Data classes the agent is allowed to handle, without duplicates.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub data_classes: Vec<DataClass>,
    /// Regions the agent runs in (lowercase tags such as `eu-west`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = limits::POLICY_TAGS_MAX), inner(regex(pattern = r"^[a-z0-9._-]{1,64}$")))]
    pub regions: Vec<String>,
    /// Compliance attestations (lowercase tags such as `soc2`, `hipaa`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = limits::POLICY_TAGS_MAX), inner(regex(pattern = r"^[a-z0-9._-]{1,64}$")))]
    pub compliance: Vec<String>,
}

/// Who can see an agent version: everyone, only its owner, or listed tenants
/// (the owner always can).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(untagged, expecting = "\"public\", \"private\" or a list of tenant ids")]
pub enum Visibility {
    Scope(VisibilityScope),
    /// Distinct tenant ids (lowercase `[a-z0-9._-]`, 2–64 characters).
    Tenants(
        #[schemars(length(min = 1, max = limits::TENANTS_MAX), inner(regex(pattern = r"^[a-z0-9._-]{2,64}$")))]
         Vec<String>,
    ),
}

/// The two named visibility scopes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum VisibilityScope {
    Public,
    Private,
}

impl Visibility {
    pub const PUBLIC: Visibility = Visibility::Scope(VisibilityScope::Public);
    pub const PRIVATE: Visibility = Visibility::Scope(VisibilityScope::Private);

    /// Whether `tenant` may see something owned by `owner` with this visibility.
    pub fn allows(&self, owner: &str, tenant: &str) -> bool {
        owner == tenant
            || match self {
                Visibility::Scope(VisibilityScope::Public) => true,
                Visibility::Scope(VisibilityScope::Private) => false,
                Visibility::Tenants(list) => list.iter().any(|t| t == tenant),
            }
    }
}

/// Sensitivity classes of data, least to most sensitive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum DataClass {
    Public,
    Internal,
    Confidential,
    Pii,
    Phi,
    Pci,
}

impl DataClass {
    pub const ALL: [DataClass; 6] = [
        DataClass::Public,
        DataClass::Internal,
        DataClass::Confidential,
        DataClass::Pii,
        DataClass::Phi,
        DataClass::Pci,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            DataClass::Public => "public",
            DataClass::Internal => "internal",
            DataClass::Confidential => "confidential",
            DataClass::Pii => "pii",
            DataClass::Phi => "phi",
            DataClass::Pci => "pci",
        }
    }
}

/// Declared cost and latency of one call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Budget {
    /// Fixed cost of one call in US dollars.
    #[schemars(range(min = 0.0, max = limits::COST_MAX_USD))]
    pub cost_per_call_usd: f64,
    /// Additional cost per 1,000 tokens, for token-priced agents.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0.0, max = limits::COST_MAX_USD))]
    pub cost_per_1k_tokens_usd: Option<f64>,
    pub latency_ms: LatencyBudget,
    /// Calls the agent accepts at once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub max_concurrency: Option<u32>,
}

/// Declared latency percentiles in milliseconds; `p95` is at least `p50`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LatencyBudget {
    #[schemars(range(min = limits::LATENCY_MIN_MS, max = limits::LATENCY_MAX_MS))]
    pub p50: u32,
    #[schemars(range(min = limits::LATENCY_MIN_MS, max = limits::LATENCY_MAX_MS))]
    pub p95: u32,
}
