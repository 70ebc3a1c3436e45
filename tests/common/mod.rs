//! Test harness: the real server on port 0 with a real temporary data dir,
//! spoken to over real HTTP.

#![allow(dead_code)] // each test binary uses a different part of the harness

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use reqwest::{Method, StatusCode};
use serde_json::Value;
use switchyard::config::Settings;
use switchyard::startup::Application;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub const ADMIN_TOKEN: &str = "test-admin-token-0123456789";

/// One running server.
pub struct TestApp {
    pub addr: SocketAddr,
    pub data_dir: PathBuf,
    pub http: reqwest::Client,
    stop: Option<oneshot::Sender<()>>,
    handle: Option<JoinHandle<()>>,
}

/// Settings for a server on an ephemeral port over `data_dir`.
pub fn settings(data_dir: &Path, admin_token: Option<&str>) -> Settings {
    let mut s = Settings::default();
    s.server.listen = "127.0.0.1:0".parse().unwrap();
    s.server.shutdown_grace_secs = 2;
    s.storage.data_dir = data_dir.to_path_buf();
    s.auth.admin_token = admin_token.map(str::to_string);
    s
}

/// Starts the server in multi-tenant mode with [`ADMIN_TOKEN`].
pub async fn spawn_app(data_dir: &Path) -> TestApp {
    spawn_with(settings(data_dir, Some(ADMIN_TOKEN))).await
}

pub async fn spawn_with(settings: Settings) -> TestApp {
    let app = Application::build(&settings).await.expect("server builds");
    let addr = app.local_addr();
    let (stop, stopped) = oneshot::channel::<()>();
    let handle = tokio::spawn(async move {
        app.run_until_stopped(async {
            let _ = stopped.await;
        })
        .await
        .expect("server runs");
    });
    TestApp {
        addr,
        data_dir: settings.storage.data_dir.clone(),
        http: reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap(),
        stop: Some(stop),
        handle: Some(handle),
    }
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// Sends a request and returns the status and the JSON body (Null when empty).
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<&Value>,
    ) -> (StatusCode, Value) {
        let mut req = self.http.request(method, self.url(path));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(b);
        }
        let resp = req.send().await.expect("request reaches the server");
        let status = resp.status();
        let bytes = resp.bytes().await.unwrap();
        let json = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes)
                .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into()))
        };
        (status, json)
    }

    pub async fn get(&self, path: &str, token: &str) -> (StatusCode, Value) {
        self.call(Method::GET, path, Some(token), None).await
    }

    pub async fn post(&self, path: &str, token: &str, body: &Value) -> (StatusCode, Value) {
        self.call(Method::POST, path, Some(token), Some(body)).await
    }

    /// Creates a key for `tenant` with `scopes` using the admin token.
    pub async fn key(&self, tenant: &str, scopes: &[&str]) -> String {
        let (status, body) = self
            .post(
                "/v1/keys",
                ADMIN_TOKEN,
                &serde_json::json!({"tenant": tenant, "scopes": scopes}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        body["token"].as_str().unwrap().to_string()
    }

    /// Stops the server and waits until the store is closed.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(handle) = self.handle.take() {
            handle.await.expect("server task ends cleanly");
        }
    }
}

/// A valid manifest named `name` at `version` with the given visibility.
pub fn manifest(name: &str, version: &str, visibility: Value) -> Value {
    serde_json::json!({
        "name": name,
        "version": version,
        "title": format!("Agent {name}"),
        "description": "Writes SQL queries from plain-language questions about a schema.",
        "provider": {"organization": "Acme Corp", "url": "https://acme.example.com"},
        "endpoint": {"url": "https://agents.example.com/sql", "protocol": "switchyard-http"},
        "skills": [{
            "id": "write-sql",
            "name": "Write SQL",
            "description": "Turns a question and a schema into a PostgreSQL query.",
            "tags": ["sql", "postgres"],
            "examples": ["How many orders did we ship last week?"],
            "input_modes": ["text/plain"],
            "output_modes": ["application/sql"]
        }],
        "policy": {"visibility": visibility, "data_classes": ["internal"], "regions": ["eu-west"], "compliance": ["soc2"]},
        "budget": {"cost_per_call_usd": 0.002, "latency_ms": {"p50": 800, "p95": 2000}}
    })
}

/// The repository's example manifests.
pub fn example_manifests() -> Vec<(String, Value)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/manifests");
    let mut out: Vec<(String, Value)> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .map(|p| {
            let v: Value = serde_json::from_str(&std::fs::read_to_string(&p).unwrap()).unwrap();
            (p.file_name().unwrap().to_string_lossy().into_owned(), v)
        })
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}
