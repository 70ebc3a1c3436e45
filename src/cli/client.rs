//! A small HTTP client for the `/v1` API used by the client commands.

use anyhow::{Context, anyhow};
use reqwest::{Method, StatusCode};
use serde::Serialize;
use serde::de::DeserializeOwned;
use switchyard_schemas::api::ErrorBody;

/// Talks to one running server.
#[derive(Debug, Clone)]
pub struct Client {
    http: reqwest::Client,
    base: String,
    token: Option<String>,
}

impl Client {
    pub fn new(base: &str, token: Option<String>) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(std::time::Duration::from_secs(60))
            .build()?;
        Ok(Client {
            http,
            base: base.trim_end_matches('/').to_string(),
            token,
        })
    }

    /// Sends a request and decodes the JSON answer; an error answer becomes an
    /// error carrying the server's code, field and message.
    pub async fn call<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<&(impl Serialize + ?Sized)>,
    ) -> anyhow::Result<T> {
        let url = format!("{}{}", self.base, path);
        let mut request = self.http.request(method.clone(), &url).query(query);
        if let Some(token) = &self.token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request
            .send()
            .await
            .with_context(|| format!("{method} {url}: is the server running?"))?;
        let status = response.status();
        let bytes = response.bytes().await?;
        if !status.is_success() {
            return Err(describe_error(status, &bytes));
        }
        serde_json::from_slice(&bytes).with_context(|| format!("{method} {url}: unexpected answer"))
    }
}

fn describe_error(status: StatusCode, bytes: &[u8]) -> anyhow::Error {
    match serde_json::from_slice::<ErrorBody>(bytes) {
        Ok(body) => {
            let e = body.error;
            let mut text = format!("{} ({}): {}", status.as_u16(), e.code, e.message);
            for d in e.details.iter().skip(1) {
                text.push_str(&format!("\n  {}: {}", d.field, d.message));
            }
            anyhow!(text)
        }
        Err(_) => anyhow!("{}: {}", status, String::from_utf8_lossy(bytes)),
    }
}
