//! The meta-agent's one error type.
//!
//! Every variant carries what a caller needs to act without parsing the
//! message: the file and line of a bad data set, the run and task that were
//! asked for, the schema path of an unsupported keyword.

use std::path::PathBuf;

use switchyard_schemas::ManifestError;

#[derive(Debug, thiserror::Error)]
pub enum MetaAgentError {
    /// A file or directory could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// A data set file is malformed or inconsistent; `line` is 1-based.
    #[error("{}{}: {message}", path.display(), line.map(|l| format!(":{l}")).unwrap_or_default())]
    Dataset {
        path: PathBuf,
        line: Option<usize>,
        message: String,
    },

    /// The data set has no run with this id.
    #[error("the data set has no run `{run}`")]
    UnknownRun { run: String },

    /// The run has no recorded answer for this task.
    #[error("run `{run}` has no task `{task_id}`")]
    UnknownTask { run: String, task_id: String },

    /// A revise run was asked to answer without the code it should revise.
    #[error("run `{run}` revises code: pass the code to revise")]
    MissingCode { run: String },

    /// The manifest built for a replayed run breaks a manifest rule.
    #[error("the manifest for run `{run}` is invalid: {source}")]
    InvalidManifest {
        run: String,
        #[source]
        source: ManifestError,
    },

    /// A scorer's regular expression does not compile.
    #[error("invalid regular expression: {source}")]
    InvalidRegex {
        #[source]
        source: regex::Error,
    },

    /// A JSON Schema is malformed or uses a keyword the validator does not
    /// implement; `path` is a JSON Pointer into the schema.
    #[error("JSON Schema at `{path}`: {message}")]
    InvalidSchema { path: String, message: String },

    /// The sandbox cannot run code here (no Python, or network isolation was
    /// required and is not available).
    #[error("the sandbox is unavailable: {reason}")]
    SandboxUnavailable { reason: String },

    /// A sandboxed process could not be started or waited for.
    #[error("cannot run `{program}`: {source}")]
    Spawn {
        program: String,
        #[source]
        source: std::io::Error,
    },
}
