//! Runs untrusted Python against its tests in a child process, the way the
//! HumanEval harness does, with limits on time, memory and output, and
//! without network where the platform allows it.
//!
//! The program is `completion + "\n\n" + test + "\n\ncheck(" + entry_point +
//! ")\n"`, written to `program.py` in a fresh temporary directory and run
//! there by `python3 -I` with stdin closed and an environment of only `PATH`
//! and `LANG`. It passes when the process exits 0 within the timeout, the
//! rule the replay data sets were verified with.
//!
//! Limits, and how each is enforced without `unsafe` (the workspace forbids
//! it, so there is no `pre_exec`):
//! - memory, CPU time, file size and core dumps: `setrlimit` in a small
//!   Python launcher ([`LAUNCHER`]) that then `exec`s the program under
//!   `__name__ == "__candidate__"`, so `if __name__ == "__main__":` blocks in
//!   model output do not run, as in human-eval;
//! - wall-clock time: the child leads its own process group, and the whole
//!   group is killed at the deadline (and after a normal exit, so nothing the
//!   program forked lives on);
//! - output: both pipes are drained to the end but only the last
//!   [`SandboxConfig::output_cap_bytes`] of each are kept;
//! - network: when `unshare --user --map-root-user --net --pid --fork
//!   --kill-child` works (util-linux, unprivileged user namespaces), the
//!   program runs in empty network and PID namespaces: no interface but a
//!   downed loopback, and every process dies with the program. Whether that
//!   works is probed once per [`Sandbox`]; every result records the mode.
//!
//! What this is not: a security boundary against hostile code. The program
//! can read whatever the server's user can read, and fork bombs are bounded
//! only by the timeout. It is made for benchmark and agent-written code.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use rustix::process::{Pid, Signal, kill_process_group};
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::process::Command;

use super::{Score, clip};
use crate::MetaAgentError;

/// Sets the limits given as arguments, then runs the program file as
/// human-eval does. A program that calls `sys.exit(0)` (or `exit()`) before
/// its checks finish fails with exit code 3: human-eval, too, counts any
/// `BaseException` out of the program as a failure.
pub const LAUNCHER: &str = r#"import resource, sys
def cap(kind, value):
    soft, hard = resource.getrlimit(kind)
    if hard != resource.RLIM_INFINITY:
        value = min(value, hard)
    resource.setrlimit(kind, (value, value))
memory, cpu, fsize, path = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
cap(resource.RLIMIT_AS, memory)
cap(resource.RLIMIT_CPU, cpu)
cap(resource.RLIMIT_FSIZE, fsize)
cap(resource.RLIMIT_CORE, 0)
with open(path, encoding="utf-8") as f:
    source = f.read()
sys.argv = [path]
try:
    exec(compile(source, path, "exec"), {"__name__": "__candidate__", "__builtins__": __builtins__})
except SystemExit as e:
    if e.code not in (None, 0):
        raise
    print("the program exited before its checks finished", file=sys.stderr)
    sys.exit(3)
"#;

/// The `unshare` invocation that isolates the program, before the Python
/// command.
const UNSHARE: &[&str] = &[
    "unshare",
    "--user",
    "--map-root-user",
    "--net",
    "--pid",
    "--fork",
    "--kill-child",
    "--",
];

/// How long past the timeout the output pipes are read.
const READ_GRACE: Duration = Duration::from_secs(1);

/// Name of the program file inside the temporary directory.
const PROGRAM_FILE: &str = "program.py";

/// Largest file the program may write (it runs in a temporary directory, but
/// the disk is shared).
const FILE_SIZE_LIMIT: u64 = 16 << 20;

/// Whether to run programs without network.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Isolation {
    /// Isolate when the platform allows it; otherwise run without and say so
    /// in every result.
    Auto,
    /// Isolate or refuse: [`Sandbox::new`] fails where isolation does not
    /// work.
    Required,
    /// Never isolate.
    Off,
}

/// Limits of one sandbox. The defaults match how the HumanEval replay data
/// set was verified (10 s, 4 GiB of address space).
#[derive(Debug, Clone)]
pub struct SandboxConfig {
    /// The interpreter, looked up in `PATH` when not a path; [`Sandbox::new`]
    /// replaces it by the path of the interpreter itself.
    pub python: PathBuf,
    /// Wall-clock limit per run; CPU time is capped one second above it.
    pub timeout: Duration,
    /// Address-space limit of the Python process, in bytes.
    pub memory_bytes: u64,
    /// How much of the end of stdout, and of stderr, a result keeps.
    pub output_cap_bytes: usize,
    pub isolation: Isolation,
}

impl Default for SandboxConfig {
    fn default() -> Self {
        SandboxConfig {
            python: PathBuf::from("python3"),
            timeout: Duration::from_secs(10),
            memory_bytes: 4 << 30,
            output_cap_bytes: 64 << 10,
            isolation: Isolation::Auto,
        }
    }
}

/// What one run did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SandboxRun {
    /// Exited 0 within the timeout.
    pub passed: bool,
    /// `None` when killed by a signal (including at the timeout).
    pub exit_code: Option<i32>,
    pub timed_out: bool,
    /// The last `output_cap_bytes` of stdout, lossily decoded.
    pub stdout_tail: String,
    /// The last `output_cap_bytes` of stderr, lossily decoded.
    pub stderr_tail: String,
    /// Bytes written to stdout in all, kept or not.
    pub stdout_bytes: u64,
    /// Bytes written to stderr in all, kept or not.
    pub stderr_bytes: u64,
    /// Wall-clock time from spawn to exit.
    pub millis: u64,
    /// Whether the program ran without network.
    pub network_isolated: bool,
}

impl SandboxRun {
    /// 1 when the tests passed, else 0, with the reason in a few words: the
    /// timeout, or the exit code and the last line of stderr (usually the
    /// exception).
    pub fn score(&self) -> Score {
        if self.passed {
            return Score::pass("tests passed");
        }
        if self.timed_out {
            return Score::fail(format!("timed out after {} ms", self.millis));
        }
        let status = match self.exit_code {
            Some(code) => format!("exit code {code}"),
            None => "killed by a signal".to_string(),
        };
        match self.stderr_tail.lines().rev().find(|l| !l.trim().is_empty()) {
            Some(last) => Score::fail(format!("{status}: {}", clip(last.trim(), 200))),
            None => Score::fail(status),
        }
    }
}

/// The HumanEval program: completion, tests, and the call of `check`.
pub fn humaneval_program(completion: &str, test: &str, entry_point: &str) -> String {
    format!("{completion}\n\n{test}\n\ncheck({entry_point})\n")
}

/// Runs programs under one configuration; cheap to share behind an `Arc`.
#[derive(Debug, Clone)]
pub struct Sandbox {
    config: SandboxConfig,
    isolated: bool,
}

impl Sandbox {
    /// Checks that Python runs, and whether network isolation works when the
    /// configuration asks for it.
    ///
    /// `config.python` is resolved to the interpreter's own path
    /// (`sys.executable`) once here: a launcher in between, such as a pyenv
    /// shim, would cost a shell per run and put its variables into the
    /// program's environment.
    pub async fn new(mut config: SandboxConfig) -> Result<Sandbox, MetaAgentError> {
        let python = config.python.to_string_lossy().into_owned();
        let executable = probe(&[
            python.as_str(),
            "-I",
            "-c",
            "import resource, sys; print(sys.executable)",
        ])
        .await
        .map_err(|reason| MetaAgentError::SandboxUnavailable {
            reason: format!("`{python} -I` cannot run: {reason}"),
        })?;
        if !executable.is_empty() {
            config.python = PathBuf::from(executable);
        }
        let python = config.python.to_string_lossy().into_owned();
        let isolated = match config.isolation {
            Isolation::Off => false,
            Isolation::Auto | Isolation::Required => {
                let mut argv = UNSHARE.to_vec();
                argv.extend([python.as_str(), "-I", "-c", "pass"]);
                match probe(&argv).await {
                    Ok(_) => true,
                    Err(reason) if config.isolation == Isolation::Required => {
                        return Err(MetaAgentError::SandboxUnavailable {
                            reason: format!("network isolation is required but `unshare` fails: {reason}"),
                        });
                    }
                    Err(reason) => {
                        tracing::warn!(%reason, "sandbox runs without network isolation");
                        false
                    }
                }
            }
        };
        Ok(Sandbox { config, isolated })
    }

    /// Whether programs run without network.
    pub fn network_isolated(&self) -> bool {
        self.isolated
    }

    pub fn config(&self) -> &SandboxConfig {
        &self.config
    }

    /// Runs a HumanEval-style task: `completion` checked by `test` through
    /// `check(entry_point)`.
    pub async fn run_tests(
        &self,
        completion: &str,
        test: &str,
        entry_point: &str,
    ) -> Result<SandboxRun, MetaAgentError> {
        self.run_program(&humaneval_program(completion, test, entry_point))
            .await
    }

    /// Runs a whole program; it passes when it exits 0 in time.
    pub async fn run_program(&self, source: &str) -> Result<SandboxRun, MetaAgentError> {
        let dir =
            tokio::task::spawn_blocking(|| tempfile::Builder::new().prefix("switchyard-sandbox-").tempdir())
                .await
                .unwrap_or_else(|e| Err(std::io::Error::other(e)))
                .map_err(|e| io_error(std::env::temp_dir(), e))?;
        let program = dir.path().join(PROGRAM_FILE);
        tokio::fs::write(&program, source)
            .await
            .map_err(|e| io_error(program.clone(), e))?;

        let result = self.execute(dir.path()).await;

        // Removing the directory is blocking file-system work.
        let path = dir.path().to_path_buf();
        let removed = tokio::task::spawn_blocking(move || dir.close())
            .await
            .unwrap_or_else(|e| Err(std::io::Error::other(e)));
        if let Err(e) = removed {
            tracing::warn!(path = %path.display(), error = %e, "cannot remove sandbox directory");
        }
        result
    }

    async fn execute(&self, dir: &Path) -> Result<SandboxRun, MetaAgentError> {
        let c = &self.config;
        let python = c.python.to_string_lossy().into_owned();
        let cpu_secs = c.timeout.as_secs() + 1 + u64::from(c.timeout.subsec_nanos() > 0);
        let mut argv: Vec<String> = Vec::new();
        if self.isolated {
            argv.extend(UNSHARE.iter().map(|s| s.to_string()));
        }
        argv.extend([
            python,
            "-I".into(),
            "-c".into(),
            LAUNCHER.into(),
            c.memory_bytes.to_string(),
            cpu_secs.to_string(),
            FILE_SIZE_LIMIT.to_string(),
            PROGRAM_FILE.into(),
        ]);

        let mut command = Command::new(&argv[0]);
        command
            .args(&argv[1..])
            .current_dir(dir)
            .env_clear()
            .env("PATH", search_path())
            .env(
                "LANG",
                std::env::var_os("LANG").unwrap_or_else(|| "C.UTF-8".into()),
            )
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0)
            .kill_on_drop(true);

        let started = Instant::now();
        let mut child = command.spawn().map_err(|source| MetaAgentError::Spawn {
            program: argv[0].clone(),
            source,
        })?;
        // The child leads its own group, so the group id is its pid.
        let group = child
            .id()
            .and_then(|id| i32::try_from(id).ok())
            .and_then(Pid::from_raw);
        // Killing the group on drop also covers a caller that abandons this
        // future mid-run.
        let mut group = GroupKiller(group);
        // Killing the group closes the pipes; only a process that left the
        // group (setsid) could hold them open past this.
        let stop_reading = tokio::time::Instant::from_std(started) + c.timeout + READ_GRACE;
        let cap = c.output_cap_bytes;
        let stdout = tokio::spawn(read_tail(child.stdout.take(), cap, stop_reading));
        let stderr = tokio::spawn(read_tail(child.stderr.take(), cap, stop_reading));

        let wait = tokio::time::timeout(c.timeout, child.wait()).await;
        let millis = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
        group.kill();
        let (status, timed_out) = match wait {
            Ok(status) => (status, false),
            Err(_) => (child.wait().await, true),
        };
        let status = status.map_err(|source| MetaAgentError::Spawn {
            program: argv[0].clone(),
            source,
        })?;
        let (stdout_tail, stdout_bytes) = stdout.await.unwrap_or_default();
        let (stderr_tail, stderr_bytes) = stderr.await.unwrap_or_default();
        Ok(SandboxRun {
            passed: !timed_out && status.success(),
            exit_code: status.code(),
            timed_out,
            stdout_tail,
            stderr_tail,
            stdout_bytes,
            stderr_bytes,
            millis,
            network_isolated: self.isolated,
        })
    }
}

/// The child's process group, killed once: explicitly or when dropped.
struct GroupKiller(Option<Pid>);

impl GroupKiller {
    /// SIGKILL to the whole group. Before the leader is reaped its pid cannot
    /// be reused; after, the group id stays reserved while any member lives,
    /// and an empty group makes this a harmless `ESRCH` (its id could only
    /// lead another group if the kernel had handed out every other pid in
    /// the few microseconds since).
    fn kill(&mut self) {
        if let Some(pid) = self.0.take() {
            let _ = kill_process_group(pid, Signal::KILL);
        }
    }
}

impl Drop for GroupKiller {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Reads a pipe to its end or until `stop`, keeping the last `cap` bytes;
/// returns them decoded lossily, and the total byte count.
async fn read_tail<R: AsyncRead + Unpin>(
    pipe: Option<R>,
    cap: usize,
    stop: tokio::time::Instant,
) -> (String, u64) {
    let Some(mut pipe) = pipe else {
        return (String::new(), 0);
    };
    let mut kept: Vec<u8> = Vec::new();
    let mut total = 0u64;
    let mut chunk = vec![0u8; 16 << 10];
    loop {
        match tokio::time::timeout_at(stop, pipe.read(&mut chunk)).await {
            Err(_) | Ok(Ok(0) | Err(_)) => break,
            Ok(Ok(n)) => {
                total += n as u64;
                kept.extend_from_slice(&chunk[..n]);
                // Trim in batches so a flood costs amortised O(1) per byte.
                if kept.len() > cap.saturating_mul(2).max(chunk.len()) {
                    kept.drain(..kept.len() - cap);
                }
            }
        }
    }
    if kept.len() > cap {
        kept.drain(..kept.len() - cap);
    }
    (String::from_utf8_lossy(&kept).into_owned(), total)
}

/// Runs a short command to completion; returns its trimmed stdout, or why
/// it failed.
async fn probe(argv: &[&str]) -> Result<String, String> {
    let output = Command::new(argv[0])
        .args(&argv[1..])
        .env_clear()
        .env("PATH", search_path())
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .output();
    match tokio::time::timeout(Duration::from_secs(10), output).await {
        Err(_) => Err("did not finish within 10 s".into()),
        Ok(Err(e)) => Err(e.to_string()),
        Ok(Ok(out)) if out.status.success() => Ok(String::from_utf8_lossy(&out.stdout).trim().to_string()),
        Ok(Ok(out)) => {
            let stderr = String::from_utf8_lossy(&out.stderr);
            Err(format!("{}: {}", out.status, clip(stderr.trim(), 200)))
        }
    }
}

/// The server's `PATH`, which the child needs to find `unshare` and Python.
fn search_path() -> OsString {
    std::env::var_os("PATH").unwrap_or_else(|| "/usr/local/bin:/usr/bin:/bin".into())
}

fn io_error(path: PathBuf, source: std::io::Error) -> MetaAgentError {
    MetaAgentError::Io { path, source }
}
