//! Typed, layered configuration: built-in defaults, then a TOML or YAML file,
//! then `SWITCHYARD__SECTION__KEY` environment variables, then command-line
//! flags. [`Settings::validate`] runs at start and names the offending key.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml, Yaml};
use serde::{Deserialize, Serialize};

/// Environment variable holding the bootstrap admin token.
pub const ADMIN_TOKEN_ENV: &str = "SWITCHYARD_ADMIN_TOKEN";

/// Everything the server needs to start.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    pub server: ServerSettings,
    pub storage: StorageSettings,
    pub auth: AuthSettings,
    pub log: LogSettings,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerSettings {
    /// Address to listen on; port 0 picks a free port.
    pub listen: SocketAddr,
    /// Requests taking longer are answered with 408.
    pub request_timeout_secs: u64,
    /// Largest accepted request body.
    pub body_limit_bytes: usize,
    /// Time given to in-flight requests on shutdown.
    pub shutdown_grace_secs: u64,
    /// Synchronous workflow runs taking longer are answered with 408 (and
    /// cancelled); jobs are not limited by it.
    pub run_timeout_secs: u64,
    /// Largest workflow request body (queries and tests are larger than
    /// manifests).
    pub workflow_body_limit_bytes: usize,
    /// Workflow jobs running at once; more are refused with 429.
    pub max_jobs: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StorageSettings {
    pub data_dir: PathBuf,
    /// How often the capability-index snapshot is written when it changed
    /// (it is also written on shutdown); a restart replays what came after.
    pub index_persist_secs: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct AuthSettings {
    /// Bootstrap admin token; without one the server runs in single-tenant dev mode.
    pub admin_token: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogSettings {
    /// `tracing` filter directives, e.g. `info,switchyard=debug`.
    pub filter: String,
    pub format: LogFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            server: ServerSettings {
                listen: SocketAddr::from(([127, 0, 0, 1], 7878)),
                request_timeout_secs: 30,
                body_limit_bytes: switchyard_schemas::validate::MAX_MANIFEST_BYTES,
                shutdown_grace_secs: 10,
                run_timeout_secs: 600,
                workflow_body_limit_bytes: 1 << 20,
                max_jobs: 32,
            },
            storage: StorageSettings {
                data_dir: PathBuf::from("./data"),
                index_persist_secs: 60,
            },
            auth: AuthSettings::default(),
            log: LogSettings {
                filter: "info".into(),
                format: LogFormat::Text,
            },
        }
    }
}

/// A configuration that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("configuration file {path}: unsupported extension (use .toml, .yaml or .yml)")]
    UnknownFormat { path: PathBuf },
    #[error("configuration file {path} does not exist")]
    MissingFile { path: PathBuf },
    #[error("configuration: {0}")]
    Load(#[from] Box<figment::Error>),
    #[error("configuration key {key}: {message}")]
    Invalid { key: &'static str, message: String },
}

/// Command-line values that override every other layer.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    pub data_dir: Option<PathBuf>,
    pub listen: Option<SocketAddr>,
}

impl Settings {
    /// Loads defaults → `file` → environment → `overrides`, then validates.
    pub fn load(file: Option<&Path>, overrides: &Overrides) -> Result<Settings, ConfigError> {
        let mut figment = Figment::from(Serialized::defaults(Settings::default()));
        if let Some(path) = file {
            if !path.exists() {
                return Err(ConfigError::MissingFile {
                    path: path.to_path_buf(),
                });
            }
            figment = match path.extension().and_then(|e| e.to_str()) {
                Some("toml") => figment.merge(Toml::file_exact(path)),
                Some("yaml" | "yml") => figment.merge(Yaml::file_exact(path)),
                _ => {
                    return Err(ConfigError::UnknownFormat {
                        path: path.to_path_buf(),
                    });
                }
            };
        }
        figment = figment.merge(Env::prefixed("SWITCHYARD__").split("__"));
        if let Ok(token) = std::env::var(ADMIN_TOKEN_ENV) {
            figment = figment.merge(("auth.admin_token", token));
        }
        if let Some(dir) = &overrides.data_dir {
            figment = figment.merge(("storage.data_dir", dir));
        }
        if let Some(listen) = overrides.listen {
            figment = figment.merge(("server.listen", listen.to_string()));
        }
        let settings: Settings = figment.extract().map_err(Box::new)?;
        settings.validate()?;
        Ok(settings)
    }

    /// Checks the rules serde cannot express.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |key, message: &str| {
            Err(ConfigError::Invalid {
                key,
                message: message.to_string(),
            })
        };
        if self.server.request_timeout_secs == 0 {
            return invalid("server.request_timeout_secs", "must be at least 1");
        }
        if self.server.run_timeout_secs == 0 {
            return invalid("server.run_timeout_secs", "must be at least 1");
        }
        if self.server.max_jobs == 0 {
            return invalid("server.max_jobs", "must be at least 1");
        }
        if self.server.workflow_body_limit_bytes < switchyard_schemas::validate::MAX_MANIFEST_BYTES {
            return invalid("server.workflow_body_limit_bytes", "must be at least 65536");
        }
        if self.server.body_limit_bytes < switchyard_schemas::validate::MAX_MANIFEST_BYTES {
            return invalid("server.body_limit_bytes", "must be at least 65536 (one manifest)");
        }
        if self.storage.index_persist_secs == 0 {
            return invalid("storage.index_persist_secs", "must be at least 1");
        }
        if self.storage.data_dir.as_os_str().is_empty() {
            return invalid("storage.data_dir", "must not be empty");
        }
        if let Some(token) = &self.auth.admin_token
            && token.len() < 16
        {
            return invalid("auth.admin_token", "must be at least 16 characters");
        }
        if tracing_subscriber::EnvFilter::try_new(&self.log.filter).is_err() {
            return invalid("log.filter", "not a valid tracing filter");
        }
        Ok(())
    }

    /// Whether the server runs without tenants (no admin token).
    pub fn dev_mode(&self) -> bool {
        self.auth.admin_token.is_none()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layers_apply_in_order_and_errors_name_the_key() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("switchyard.toml");
        std::fs::write(
            &file,
            "[server]\nrequest_timeout_secs = 5\n[storage]\ndata_dir = \"/tmp/x\"\n",
        )
        .unwrap();
        let s = Settings::load(Some(&file), &Overrides::default()).unwrap();
        assert_eq!(s.server.request_timeout_secs, 5);
        assert_eq!(s.storage.data_dir, PathBuf::from("/tmp/x"));

        let over = Overrides {
            data_dir: Some("/tmp/y".into()),
            listen: Some("127.0.0.1:0".parse().unwrap()),
        };
        let s = Settings::load(Some(&file), &over).unwrap();
        assert_eq!(s.storage.data_dir, PathBuf::from("/tmp/y"));
        assert_eq!(s.server.listen.port(), 0);

        std::fs::write(&file, "[server]\nrequest_timeout_secs = 0\n").unwrap();
        let err = Settings::load(Some(&file), &Overrides::default())
            .unwrap_err()
            .to_string();
        assert!(err.contains("server.request_timeout_secs"), "{err}");

        std::fs::write(&file, "[server]\nrequest_timeout_secs = \"soon\"\n").unwrap();
        let err = Settings::load(Some(&file), &Overrides::default())
            .unwrap_err()
            .to_string();
        assert!(err.contains("request_timeout_secs"), "{err}");

        std::fs::write(&file, "[server]\nlisten_on = \"x\"\n").unwrap();
        let err = Settings::load(Some(&file), &Overrides::default())
            .unwrap_err()
            .to_string();
        assert!(err.contains("listen_on"), "{err}");

        let yaml = dir.path().join("s.yaml");
        std::fs::write(&yaml, "log:\n  format: json\n").unwrap();
        assert_eq!(
            Settings::load(Some(&yaml), &Overrides::default())
                .unwrap()
                .log
                .format,
            LogFormat::Json
        );
        let err = Settings::load(Some(&dir.path().join("nope.toml")), &Overrides::default()).unwrap_err();
        assert!(matches!(err, ConfigError::MissingFile { .. }));
    }
}
