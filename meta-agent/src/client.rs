//! Calls agents over HTTP: Switchyard's own protocol (`switchyard-http`,
//! documented in `docs/agent-protocol.md`) and A2A JSON-RPC `message/send`.
//!
//! An agent is a remote service of unknown quality, so every call is
//! defensive: redirects are refused (an endpoint that moved should be
//! republished, and following one could send the task to a host the
//! registry never vetted), the body is read in chunks and abandoned past a
//! size cap, the whole call has a deadline, and the answer's shape is checked
//! before anything reads it. Failures come back as a [`CallError`] that says
//! whether trying again could help ([`CallError::is_transient`]).

use std::time::Duration;

use serde_json::{Map, Value, json};
use switchyard_schemas::manifest::{Endpoint, Protocol};
use switchyard_schemas::run::{AgentRequest, AgentResponse, AgentUsage};

use crate::scorers::clip;

/// Largest response body read by default.
pub const DEFAULT_MAX_RESPONSE_BYTES: usize = 1 << 20;

/// Settings shared by every call of one [`AgentClient`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientConfig {
    /// Responses longer than this are refused, unread past the cap.
    pub max_response_bytes: usize,
    /// Limit on establishing a connection (within each call's deadline).
    pub connect_timeout: Duration,
}

impl Default for ClientConfig {
    fn default() -> Self {
        ClientConfig {
            max_response_bytes: DEFAULT_MAX_RESPONSE_BYTES,
            connect_timeout: Duration::from_secs(5),
        }
    }
}

/// Why a call failed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CallError {
    /// No complete answer before the deadline.
    #[error("no answer within {} ms", after.as_millis())]
    Timeout { after: Duration },
    /// The connection could not be established.
    #[error("cannot connect: {message}")]
    Connect { message: String },
    /// The connection broke while sending or reading.
    #[error("transport error: {message}")]
    Transport { message: String },
    /// A non-success, non-redirect HTTP status.
    #[error("HTTP status {status}")]
    Status { status: u16 },
    /// The endpoint answered with a redirect, which is never followed.
    #[error("HTTP status {status}: redirect to {} refused", location.as_deref().unwrap_or("(no location)"))]
    Redirect { status: u16, location: Option<String> },
    /// The body was longer than the cap.
    #[error("response longer than {limit} bytes")]
    TooLarge { limit: usize },
    /// The body is not the protocol's answer.
    #[error("malformed response: {message}")]
    Malformed { message: String },
    /// An A2A agent answered with a JSON-RPC error.
    #[error("JSON-RPC error {code}: {message}")]
    Rpc { code: i64, message: String },
    /// An A2A agent's task did not complete.
    #[error("A2A task ended `{state}`{}", message.as_deref().map(|m| format!(": {m}")).unwrap_or_default())]
    TaskNotCompleted { state: String, message: Option<String> },
    /// The request could not be built (a malformed endpoint URL).
    #[error("invalid request: {message}")]
    InvalidRequest { message: String },
}

impl CallError {
    /// Whether the same call could succeed if tried again: timeouts,
    /// connection and transport failures, 408, 429, 500, 502, 503 and 504.
    /// Everything else (other statuses, a bad or oversized answer, a
    /// redirect, an agent-reported error) would fail the same way.
    pub fn is_transient(&self) -> bool {
        match self {
            CallError::Timeout { .. } | CallError::Connect { .. } | CallError::Transport { .. } => true,
            CallError::Status { status } => matches!(status, 408 | 429 | 500 | 502 | 503 | 504),
            CallError::Redirect { .. }
            | CallError::TooLarge { .. }
            | CallError::Malformed { .. }
            | CallError::Rpc { .. }
            | CallError::TaskNotCompleted { .. }
            | CallError::InvalidRequest { .. } => false,
        }
    }
}

/// What an agent answered.
#[derive(Debug, Clone, PartialEq)]
pub struct AgentReply {
    /// Never null.
    pub output: Value,
    /// As reported; A2A agents report none.
    pub usage: AgentUsage,
}

/// An HTTP client for agents; cheap to clone (connections are pooled).
#[derive(Debug, Clone)]
pub struct AgentClient {
    http: reqwest::Client,
    config: ClientConfig,
}

impl AgentClient {
    pub fn new(config: ClientConfig) -> Result<AgentClient, CallError> {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(config.connect_timeout)
            .user_agent(concat!("switchyard-meta-agent/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| CallError::InvalidRequest {
                message: e.to_string(),
            })?;
        Ok(AgentClient { http, config })
    }

    /// Calls the agent at `endpoint` in its protocol; the whole call,
    /// connection to last byte, must finish within `timeout`.
    pub async fn call(
        &self,
        endpoint: &Endpoint,
        request: &AgentRequest,
        timeout: Duration,
    ) -> Result<AgentReply, CallError> {
        let call = async {
            match endpoint.protocol {
                Protocol::SwitchyardHttp => {
                    let body = self.post(&endpoint.url, &json!(request)).await?;
                    parse_switchyard(&body)
                }
                Protocol::A2aJsonRpc => {
                    let body = self.post(&endpoint.url, &a2a_request(request)).await?;
                    parse_a2a(&body)
                }
            }
        };
        tokio::time::timeout(timeout, call)
            .await
            .unwrap_or(Err(CallError::Timeout { after: timeout }))
    }

    /// POSTs JSON and returns the body of a 2xx answer, at most the cap.
    async fn post(&self, url: &str, body: &Value) -> Result<Vec<u8>, CallError> {
        let mut response = self
            .http
            .post(url)
            .json(body)
            .send()
            .await
            .map_err(request_error)?;
        let status = response.status();
        if status.is_redirection() {
            let location = response
                .headers()
                .get(reqwest::header::LOCATION)
                .and_then(|v| v.to_str().ok())
                .map(|l| clip(l, 200));
            return Err(CallError::Redirect {
                status: status.as_u16(),
                location,
            });
        }
        if !status.is_success() {
            return Err(CallError::Status {
                status: status.as_u16(),
            });
        }
        let limit = self.config.max_response_bytes;
        if response.content_length().is_some_and(|n| n > limit as u64) {
            return Err(CallError::TooLarge { limit });
        }
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(request_error)? {
            if body.len() + chunk.len() > limit {
                return Err(CallError::TooLarge { limit });
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    }
}

fn request_error(e: reqwest::Error) -> CallError {
    let message = e.to_string();
    // reqwest times out only connecting; the call's deadline is ours.
    if e.is_timeout() || e.is_connect() {
        CallError::Connect { message }
    } else if e.is_builder() {
        CallError::InvalidRequest { message }
    } else {
        CallError::Transport { message }
    }
}

fn malformed(message: impl Into<String>) -> CallError {
    CallError::Malformed {
        message: message.into(),
    }
}

/// Checks and reads a `switchyard-http` answer.
fn parse_switchyard(body: &[u8]) -> Result<AgentReply, CallError> {
    let value: Value = serde_json::from_slice(body).map_err(|e| malformed(format!("not JSON: {e}")))?;
    let Value::Object(map) = &value else {
        return Err(malformed("the answer must be a JSON object"));
    };
    if map.get("output").is_none_or(Value::is_null) {
        return Err(malformed("`output` is missing or null"));
    }
    let response: AgentResponse =
        serde_json::from_value(value).map_err(|e| malformed(format!("unexpected shape: {e}")))?;
    if let Some(cost) = response.usage.cost_usd
        && (!cost.is_finite() || cost < 0.0)
    {
        return Err(malformed("`usage.cost_usd` must be a finite number ≥ 0"));
    }
    Ok(AgentReply {
        output: response.output,
        usage: response.usage,
    })
}

/// The `message/send` request: the task rendered as text for agents that
/// read text, plus a data part with the structured request for those that
/// read data.
fn a2a_request(request: &AgentRequest) -> Value {
    let id = format!("{:016x}", rand::random::<u64>());
    json!({
        "jsonrpc": "2.0",
        "id": id,
        "method": "message/send",
        "params": {
            "message": {
                "kind": "message",
                "role": "user",
                "messageId": id,
                "parts": [
                    {"kind": "text", "text": render_text(request)},
                    {"kind": "data", "data": {"task": request.task, "inputs": request.inputs}},
                ],
            },
            "configuration": {"blocking": true, "acceptedOutputModes": ["text/plain", "application/json"]},
        },
    })
}

/// The request as one prompt: instruction, query, context, then each input.
fn render_text(request: &AgentRequest) -> String {
    let task = &request.task;
    let mut text = format!("{}\n\nTask:\n{}", task.instruction, task.input);
    if let Some(context) = &task.context {
        text.push_str(&format!("\n\nContext:\n{context}"));
    }
    for (id, value) in &request.inputs {
        let shown = match value {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        text.push_str(&format!("\n\nInput `{id}`:\n{shown}"));
    }
    text
}

/// Reads a JSON-RPC answer to `message/send`: a Message, or a Task whose
/// artifacts (or, failing those, its status message) carry the answer.
fn parse_a2a(body: &[u8]) -> Result<AgentReply, CallError> {
    let value: Value = serde_json::from_slice(body).map_err(|e| malformed(format!("not JSON: {e}")))?;
    if value.get("jsonrpc").and_then(Value::as_str) != Some("2.0") {
        return Err(malformed("not a JSON-RPC 2.0 answer"));
    }
    if let Some(error) = value.get("error") {
        return Err(CallError::Rpc {
            code: error.get("code").and_then(Value::as_i64).unwrap_or(0),
            message: clip(
                error
                    .get("message")
                    .and_then(Value::as_str)
                    .unwrap_or("(no message)"),
                500,
            ),
        });
    }
    let result = value
        .get("result")
        .and_then(Value::as_object)
        .ok_or_else(|| malformed("no `result` object"))?;
    let output = match result.get("kind").and_then(Value::as_str) {
        Some("message") => parts_output(result.get("parts")),
        Some("task") => task_output(result)?,
        other => {
            return Err(malformed(format!(
                "`result.kind` must be `message` or `task`, not {}",
                other.map_or("missing".to_string(), |k| format!("`{k}`"))
            )));
        }
    };
    let output = output.ok_or_else(|| malformed("the answer has no text or data part"))?;
    Ok(AgentReply {
        output,
        usage: AgentUsage::default(),
    })
}

fn task_output(task: &Map<String, Value>) -> Result<Option<Value>, CallError> {
    let status = task.get("status");
    let state = status
        .and_then(|s| s.get("state"))
        .and_then(Value::as_str)
        .unwrap_or("unknown");
    let status_message = status.and_then(|s| s.get("message")).and_then(|m| m.get("parts"));
    if state != "completed" {
        // Not polled: a blocking send that did not complete is a failure.
        let message = parts_output(status_message).map(|m| match m {
            Value::String(s) => clip(&s, 500),
            other => clip(&other.to_string(), 500),
        });
        return Err(CallError::TaskNotCompleted {
            state: clip(state, 40),
            message,
        });
    }
    let artifact_parts: Vec<Value> = task
        .get("artifacts")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|a| a.get("parts").and_then(Value::as_array))
        .flatten()
        .cloned()
        .collect();
    Ok(parts_output(Some(&Value::Array(artifact_parts))).or_else(|| parts_output(status_message)))
}

/// The text parts joined by newlines, or else the first data part.
fn parts_output(parts: Option<&Value>) -> Option<Value> {
    let parts = parts?.as_array()?;
    let texts: Vec<&str> = parts
        .iter()
        .filter_map(|p| p.get("text").and_then(Value::as_str))
        .collect();
    if !texts.is_empty() {
        return Some(Value::String(texts.join("\n")));
    }
    parts
        .iter()
        .filter_map(|p| p.get("data"))
        .find(|d| !d.is_null())
        .cloned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn switchyard_answers_are_checked() {
        let ok =
            parse_switchyard(br#"{"output": "hi", "usage": {"cost_usd": 0.01, "input_tokens": 3}}"#).unwrap();
        assert_eq!(ok.output, json!("hi"));
        assert_eq!(ok.usage.cost_usd, Some(0.01));
        assert_eq!(
            parse_switchyard(br#"{"output": [1, 2]}"#).unwrap().usage,
            AgentUsage::default()
        );
        for bad in [
            &br#"{"usage": {}}"#[..],
            br#"{"output": null}"#,
            br#"["output"]"#,
            br#"{"output": "x", "usage": {"cost_usd": -1}}"#,
            br#"{"output": "x", "usage": {"cost_usd": "free"}}"#,
            b"{not json",
        ] {
            let err = parse_switchyard(bad).unwrap_err();
            assert!(matches!(err, CallError::Malformed { .. }), "{err}");
            assert!(!err.is_transient());
        }
    }

    #[test]
    fn a2a_messages_and_tasks_yield_their_text() {
        let message = br#"{"jsonrpc": "2.0", "id": "1", "result": {"kind": "message", "role": "agent",
            "parts": [{"kind": "text", "text": "a"}, {"kind": "text", "text": "b"}]}}"#;
        assert_eq!(parse_a2a(message).unwrap().output, json!("a\nb"));
        let task = br#"{"jsonrpc": "2.0", "id": "1", "result": {"kind": "task", "id": "t",
            "status": {"state": "completed"},
            "artifacts": [{"artifactId": "x", "parts": [{"kind": "data", "data": {"n": 1}}]}]}}"#;
        assert_eq!(parse_a2a(task).unwrap().output, json!({"n": 1}));
        let failed = br#"{"jsonrpc": "2.0", "id": "1", "result": {"kind": "task", "id": "t",
            "status": {"state": "failed", "message": {"parts": [{"kind": "text", "text": "quota"}]}}}}"#;
        assert_eq!(
            parse_a2a(failed).unwrap_err().to_string(),
            "A2A task ended `failed`: quota"
        );
        let error = br#"{"jsonrpc": "2.0", "id": "1", "error": {"code": -32601, "message": "no"}}"#;
        assert_eq!(
            parse_a2a(error).unwrap_err(),
            CallError::Rpc {
                code: -32601,
                message: "no".into()
            }
        );
        assert!(matches!(
            parse_a2a(br#"{"jsonrpc": "2.0", "result": {"kind": "message", "parts": []}}"#),
            Err(CallError::Malformed { .. })
        ));
    }

    #[test]
    fn transient_errors_are_the_retryable_ones() {
        for status in [408, 429, 500, 502, 503, 504] {
            assert!(CallError::Status { status }.is_transient(), "{status}");
        }
        for status in [400, 401, 403, 404, 422, 501] {
            assert!(!CallError::Status { status }.is_transient(), "{status}");
        }
        assert!(
            CallError::Timeout {
                after: Duration::from_secs(1)
            }
            .is_transient()
        );
        assert!(!CallError::TooLarge { limit: 1 }.is_transient());
        assert!(
            !CallError::Redirect {
                status: 302,
                location: None
            }
            .is_transient()
        );
    }
}
