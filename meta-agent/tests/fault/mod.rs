//! A fault-injecting agent server speaking raw HTTP/1.1 on 127.0.0.1: each
//! agent is a path (`/name`) whose behaviour a test sets and changes at will,
//! and every request is logged with its arrival and answer times.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// How an agent answers.
#[derive(Debug, Clone)]
pub enum Mode {
    /// `{"output": …, "usage": {"cost_usd": …}}` after `delay`.
    Ok {
        output: Value,
        cost: Option<f64>,
        delay: Duration,
    },
    /// The n-th call answers the n-th output (the last one repeats).
    Script { outputs: Vec<Value>, cost: Option<f64> },
    /// The first `failures` calls get `status`, the later ones `output`.
    Recovers {
        failures: usize,
        status: u16,
        output: Value,
    },
    /// Reads the request and never answers.
    Hang,
    /// An empty answer with this status.
    Status(u16),
    /// 2 MiB of JSON-ish bytes, without a length, until the client leaves.
    Huge,
    /// `200` with a body that is not JSON.
    Malformed,
    /// `302` to another agent on this server (`/redirect-target`).
    Redirect,
    /// A2A JSON-RPC: a Message with this text.
    A2aMessage(String),
    /// A2A JSON-RPC: a completed Task with this text as an artifact.
    A2aTask(String),
}

impl Mode {
    pub fn ok(output: impl Into<Value>, cost: f64) -> Mode {
        Mode::Ok {
            output: output.into(),
            cost: Some(cost),
            delay: Duration::ZERO,
        }
    }

    pub fn slow(output: impl Into<Value>, cost: f64, delay: Duration) -> Mode {
        Mode::Ok {
            output: output.into(),
            cost: Some(cost),
            delay,
        }
    }
}

/// One request an agent received.
#[derive(Debug, Clone)]
pub struct Received {
    pub agent: String,
    pub body: Value,
    pub arrived: Instant,
    /// When the answer was written (`None`: never answered).
    pub answered: Option<Instant>,
}

#[derive(Debug, Default)]
struct State {
    modes: Mutex<HashMap<String, Mode>>,
    log: Mutex<Vec<Received>>,
}

/// The server; it lives as long as the test's runtime.
#[derive(Debug, Clone)]
pub struct FaultServer {
    port: u16,
    state: Arc<State>,
}

impl FaultServer {
    pub async fn start() -> FaultServer {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let state = Arc::new(State::default());
        let shared = state.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(serve(stream, shared.clone(), port));
            }
        });
        FaultServer { port, state }
    }

    pub fn url(&self, agent: &str) -> String {
        format!("http://127.0.0.1:{}/{agent}", self.port)
    }

    pub fn set(&self, agent: &str, mode: Mode) {
        self.state.modes.lock().unwrap().insert(agent.to_string(), mode);
    }

    /// Requests `agent` received.
    pub fn received(&self, agent: &str) -> Vec<Received> {
        self.state
            .log
            .lock()
            .unwrap()
            .iter()
            .filter(|r| r.agent == agent)
            .cloned()
            .collect()
    }

    pub fn calls(&self, agent: &str) -> usize {
        self.received(agent).len()
    }
}

async fn serve(mut stream: TcpStream, state: Arc<State>, port: u16) {
    let Some((path, body)) = read_request(&mut stream).await else {
        return;
    };
    let agent = path.trim_start_matches('/').to_string();
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let mode = state.modes.lock().unwrap().get(&agent).cloned();
    let index = {
        let mut log = state.log.lock().unwrap();
        log.push(Received {
            agent: agent.clone(),
            body: body.clone(),
            arrived: Instant::now(),
            answered: None,
        });
        log.len() - 1
    };
    let nth = state
        .log
        .lock()
        .unwrap()
        .iter()
        .filter(|r| r.agent == agent)
        .count()
        - 1;
    let answered = match mode {
        None => respond(&mut stream, 404, "application/json", b"{}", &[]).await,
        Some(Mode::Ok { output, cost, delay }) => {
            tokio::time::sleep(delay).await;
            let body = json!({"output": output, "usage": {"cost_usd": cost}});
            respond(
                &mut stream,
                200,
                "application/json",
                body.to_string().as_bytes(),
                &[],
            )
            .await
        }
        Some(Mode::Script { outputs, cost }) => {
            let output = outputs
                .get(nth)
                .or(outputs.last())
                .cloned()
                .unwrap_or(Value::Null);
            let body = json!({"output": output, "usage": {"cost_usd": cost}});
            respond(
                &mut stream,
                200,
                "application/json",
                body.to_string().as_bytes(),
                &[],
            )
            .await
        }
        Some(Mode::Recovers {
            failures,
            status,
            output,
        }) => {
            if nth < failures {
                respond(&mut stream, status, "application/json", b"{}", &[]).await
            } else {
                let body = json!({"output": output});
                respond(
                    &mut stream,
                    200,
                    "application/json",
                    body.to_string().as_bytes(),
                    &[],
                )
                .await
            }
        }
        Some(Mode::Hang) => {
            tokio::time::sleep(Duration::from_secs(3600)).await;
            false
        }
        Some(Mode::Status(status)) => respond(&mut stream, status, "application/json", b"{}", &[]).await,
        Some(Mode::Huge) => {
            let head = "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\nconnection: close\r\n\r\n";
            let mut ok = stream.write_all(head.as_bytes()).await.is_ok();
            let chunk = vec![b' '; 64 << 10];
            for _ in 0..32 {
                if !ok {
                    break;
                }
                ok = stream.write_all(&chunk).await.is_ok();
            }
            ok
        }
        Some(Mode::Malformed) => respond(&mut stream, 200, "application/json", b"{\"output\": ", &[]).await,
        Some(Mode::Redirect) => {
            let location = format!("http://127.0.0.1:{port}/redirect-target");
            respond(&mut stream, 302, "text/plain", b"", &[("location", &location)]).await
        }
        Some(Mode::A2aMessage(text)) => {
            let body = json!({"jsonrpc": "2.0", "id": body["id"], "result": {
                "kind": "message", "role": "agent", "messageId": "m1",
                "parts": [{"kind": "text", "text": text}]}});
            respond(
                &mut stream,
                200,
                "application/json",
                body.to_string().as_bytes(),
                &[],
            )
            .await
        }
        Some(Mode::A2aTask(text)) => {
            let body = json!({"jsonrpc": "2.0", "id": body["id"], "result": {
                "kind": "task", "id": "t1", "contextId": "c1",
                "status": {"state": "completed"},
                "artifacts": [{"artifactId": "a1", "parts": [{"kind": "text", "text": text}]}]}});
            respond(
                &mut stream,
                200,
                "application/json",
                body.to_string().as_bytes(),
                &[],
            )
            .await
        }
    };
    if answered {
        state.log.lock().unwrap()[index].answered = Some(Instant::now());
    }
}

/// The path and body of one request (`Content-Length` bodies only).
async fn read_request(stream: &mut TcpStream) -> Option<(String, Vec<u8>)> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    let head_end = loop {
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(at) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break at + 4;
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
    let path = head.split_whitespace().nth(1)?.to_string();
    let length: usize = head
        .lines()
        .filter_map(|l| l.split_once(':'))
        .find(|(k, _)| k.trim().eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.trim().parse().ok())
        .unwrap_or(0);
    while buf.len() < head_end + length {
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    Some((path, buf[head_end..head_end + length].to_vec()))
}

async fn respond(
    stream: &mut TcpStream,
    status: u16,
    content_type: &str,
    body: &[u8],
    headers: &[(&str, &str)],
) -> bool {
    let mut head = format!(
        "HTTP/1.1 {status} Status\r\ncontent-type: {content_type}\r\ncontent-length: {}\r\nconnection: close\r\n",
        body.len()
    );
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).await.is_ok()
        && stream.write_all(body).await.is_ok()
        && stream.flush().await.is_ok()
}
