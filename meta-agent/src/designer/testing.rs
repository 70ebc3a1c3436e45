//! Fixtures for the designer's unit tests: router candidates and cases
//! without a router.

use switchyard_schemas::design::{DesignRequest, Pattern, TaskKind, TaskProfile};
use switchyard_schemas::manifest::{Endpoint, Protocol};
use switchyard_schemas::route::{Quality, QualityPrior, RouteCandidate, ScoreBreakdown, Source};

use super::{Case, RoleCandidates};

/// Agent `name` version 1.0.0 at `cost_usd` per call with quality `quality`.
pub fn candidate(name: &str, cost_usd: f64, quality: f64) -> RouteCandidate {
    RouteCandidate {
        agent: name.into(),
        version: "1.0.0".into(),
        skill: "skill".into(),
        endpoint: Endpoint {
            url: "http://127.0.0.1:9/agent".into(),
            protocol: Protocol::SwitchyardHttp,
        },
        similarity: 0.8,
        quality: Quality {
            mean: quality,
            n: 0.0,
            prior: QualityPrior::Uninformed,
            sampled: None,
        },
        cost_usd,
        cost_source: Source::Declared,
        latency_ms: 1000,
        latency_source: Source::Declared,
        score: 1.0,
        breakdown: ScoreBreakdown {
            similarity: 0.8,
            lexical: 0.0,
            quality: 0.1,
            cost: 0.0,
            latency: 0.0,
        },
    }
}

/// Four generators, two repairers, one reviewer, judge and planner.
pub fn fleet() -> RoleCandidates {
    RoleCandidates {
        generate: vec![
            candidate("acme/gen-a", 0.002, 0.7),
            candidate("acme/gen-b", 0.01, 0.8),
            candidate("acme/gen-c", 0.03, 0.85),
            candidate("acme/gen-d", 0.05, 0.9),
        ],
        revise: vec![
            candidate("acme/fix-a", 0.004, 0.5),
            candidate("acme/fix-b", 0.02, 0.6),
        ],
        review: vec![candidate("acme/rev-a", 0.003, 0.5)],
        judge: vec![candidate("acme/judge-a", 0.002, 0.5)],
        plan: vec![candidate("acme/plan-a", 0.001, 0.5)],
    }
}

/// A Python task with tests.
pub fn request(budget_usd: f64) -> DesignRequest {
    DesignRequest {
        query: "Write a function that returns the n-th Fibonacci number.".into(),
        constraints: Default::default(),
        budget_usd,
        task: Some(TaskProfile {
            kind: TaskKind::Code,
            language: Some("Python".into()),
            tests: true,
        }),
        greedy: false,
    }
}

/// A case of `arm` for the query vector `vector` (unit length).
pub fn case_at(arm: &str, vector: &[f32], score: f64) -> Case {
    Case {
        query_vector: vector.to_vec(),
        pattern: Pattern::Single,
        arm: arm.into(),
        agents: vec![],
        nodes: 1,
        score,
        cost_usd: 0.01,
        tested: false,
    }
}

/// A case of `arm` for a fixed query.
pub fn case(arm: &str, score: f64) -> Case {
    case_at(arm, &[0.6, 0.8], score)
}
