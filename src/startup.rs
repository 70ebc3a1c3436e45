//! Start-up wiring: open the store, bind the listener, build the router, and
//! serve until a shutdown signal.

use std::future::Future;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use switchyard_meta_agent::MetaAgentError;
use switchyard_meta_agent::client::{AgentClient, ClientConfig};
use switchyard_meta_agent::designer::{Designer, DesignerConfig};
use switchyard_meta_agent::executor::{Executor, ExecutorConfig};
use switchyard_meta_agent::runs::RunStore;
use switchyard_meta_agent::scorers::sandbox::{Sandbox, SandboxConfig};
use switchyard_meta_agent::service::MetaAgent;
use switchyard_registry::embedder::{EmbedError, EmbeddingService, OnnxEmbedder, ServiceConfig};
use switchyard_registry::index::IndexConfig;
use switchyard_registry::{AuthMode, Catalog, Registry, RegistryError};
use switchyard_router::{Router, RouterError};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

use crate::config::Settings;
use crate::http::metrics::Metrics;
use crate::http::{self, AppState, Limits};

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error(
        "refusing to listen on {addr}: without {} the server runs in single-tenant dev mode, which only listens on loopback",
        crate::config::ADMIN_TOKEN_ENV
    )]
    DevModeNotLoopback { addr: SocketAddr },
    #[error("cannot open the registry in {dir}: {source}")]
    Store { dir: String, source: RegistryError },
    #[error("cannot load the embedding model: {0}")]
    Model(#[from] EmbedError),
    #[error("cannot open the capability index: {0}")]
    Catalog(RegistryError),
    #[error("cannot open the feedback statistics: {0}")]
    Feedback(#[from] RouterError),
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("cannot open the meta-agent's state: {0}")]
    MetaAgent(#[from] MetaAgentError),
    #[error("metrics: {0}")]
    Metrics(#[from] prometheus::Error),
    #[error("server: {0}")]
    Serve(std::io::Error),
}

/// A bound, ready-to-run server.
#[derive(Debug)]
pub struct Application {
    listener: TcpListener,
    router: axum::Router,
    grace: Duration,
    catalog: Arc<Catalog>,
    persist_every: Duration,
}

/// The model is immutable and costs ~1.5 s and ~400 MB to load and warm
/// up, so one process (a server, or a test binary starting many) loads it
/// once.
static EMBEDDER: tokio::sync::OnceCell<Arc<OnnxEmbedder>> = tokio::sync::OnceCell::const_new();

async fn shared_embedder() -> Result<Arc<OnnxEmbedder>, StartupError> {
    EMBEDDER
        .get_or_try_init(|| async {
            tokio::task::spawn_blocking(|| {
                let e = OnnxEmbedder::load_default()?;
                e.warm_up()?;
                Ok::<_, EmbedError>(Arc::new(e))
            })
            .await
            .map_err(|e| StartupError::Serve(std::io::Error::other(e)))?
            .map_err(StartupError::Model)
        })
        .await
        .cloned()
}

impl Application {
    /// Opens the store and binds the listener (port 0 picks a free port).
    pub async fn build(settings: &Settings) -> Result<Application, StartupError> {
        let addr = settings.server.listen;
        let auth = match &settings.auth.admin_token {
            Some(token) => AuthMode::Tenants {
                admin_token_sha256: switchyard_registry::auth::token_hash(token),
            },
            None => {
                if !addr.ip().is_loopback() {
                    return Err(StartupError::DevModeNotLoopback { addr });
                }
                tracing::warn!(
                    "no {} set: single-tenant dev mode, every request acts as tenant `dev` with every scope; listening on loopback only",
                    crate::config::ADMIN_TOKEN_ENV
                );
                AuthMode::Dev
            }
        };
        let dir = settings.storage.data_dir.clone();
        let registry = tokio::task::spawn_blocking(move || Registry::open(&dir, auth))
            .await
            .map_err(|e| StartupError::Serve(std::io::Error::other(e)))?
            .map_err(|source| StartupError::Store {
                dir: settings.storage.data_dir.display().to_string(),
                source,
            })?;
        let registry = Arc::new(registry);
        let embedder = EmbeddingService::new(shared_embedder().await?, ServiceConfig::default());
        let catalog = {
            let (registry, dir) = (registry.clone(), settings.storage.data_dir.clone());
            Arc::new(
                tokio::task::spawn_blocking(move || {
                    Catalog::open(registry, embedder, &dir, IndexConfig::default())
                })
                .await
                .map_err(|e| StartupError::Serve(std::io::Error::other(e)))?
                .map_err(StartupError::Catalog)?,
            )
        };
        let router = {
            let (catalog, dir) = (catalog.clone(), settings.storage.data_dir.clone());
            Arc::new(
                tokio::task::spawn_blocking(move || Router::open(catalog, &dir))
                    .await
                    .map_err(|e| StartupError::Serve(std::io::Error::other(e)))??,
            )
        };
        let meta = Arc::new(build_meta_agent(router.clone(), &settings.storage.data_dir).await?);
        let state = AppState {
            registry,
            catalog: catalog.clone(),
            router,
            meta,
            jobs: Arc::new(Semaphore::new(settings.server.max_jobs)),
            metrics: Arc::new(Metrics::new()?),
        };
        let limits = Limits {
            body_bytes: settings.server.body_limit_bytes,
            timeout: Duration::from_secs(settings.server.request_timeout_secs),
            workflow_body_bytes: settings.server.workflow_body_limit_bytes,
            run_timeout: Duration::from_secs(settings.server.run_timeout_secs),
        };
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|source| StartupError::Bind { addr, source })?;
        Ok(Application {
            listener,
            router: http::router(state, limits),
            grace: Duration::from_secs(settings.server.shutdown_grace_secs),
            catalog,
            persist_every: Duration::from_secs(settings.storage.index_persist_secs),
        })
    }

    /// The address actually bound.
    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("a bound TCP listener has an address")
    }

    /// Serves until `shutdown` completes, then drains in-flight requests for
    /// at most the configured grace period.
    pub async fn run_until_stopped(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), StartupError> {
        tracing::info!(addr = %self.local_addr(), "listening");
        let (stopping_tx, stopping_rx) = tokio::sync::oneshot::channel::<()>();
        let graceful = async move {
            shutdown.await;
            tracing::info!("shutting down");
            let _ = stopping_tx.send(());
        };
        let serve = axum::serve(self.listener, self.router).with_graceful_shutdown(graceful);
        let persister = tokio::spawn(persist_periodically(self.catalog.clone(), self.persist_every));
        let grace = self.grace;
        let deadline = async move {
            // Only starts counting once shutdown began.
            if stopping_rx.await.is_ok() {
                tokio::time::sleep(grace).await;
            } else {
                std::future::pending::<()>().await;
            }
        };
        let result = tokio::select! {
            result = serve => result.map_err(StartupError::Serve),
            () = deadline => {
                tracing::warn!("grace period over; dropping remaining connections");
                Ok(())
            }
        };
        // Wait for the task to be gone: it holds the catalog, and with it
        // the store's file, which a restart in this process must reopen.
        persister.abort();
        let _ = persister.await;
        // Connection tasks and jobs hold the state too, and a connection
        // task may drop its copy just after the server counts it closed:
        // wait (at most the grace period) until this is the last reference,
        // so the store's files are closed when this returns.
        let released = async {
            while Arc::strong_count(&self.catalog) > 1 {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        };
        if tokio::time::timeout(grace, released).await.is_err() {
            tracing::warn!(
                "the state is still in use after shutdown; its files stay open until it is released"
            );
        }
        persist(self.catalog).await;
        result
    }
}

/// The executor (with the sandbox when Python runs here), the designer's
/// case memory and the run log, all under `data_dir`.
async fn build_meta_agent(router: Arc<Router>, data_dir: &Path) -> Result<MetaAgent, StartupError> {
    let sandbox = match Sandbox::new(SandboxConfig::default()).await {
        Ok(sandbox) => Some(sandbox),
        Err(e) => {
            tracing::warn!(error = %e, "no sandbox: `test` steps and the tests scorer will fail");
            None
        }
    };
    let client = AgentClient::new(ClientConfig::default()).map_err(|e| {
        StartupError::MetaAgent(MetaAgentError::Worker {
            message: e.to_string(),
        })
    })?;
    let executor = Executor::new(router, client, sandbox, ExecutorConfig::default());
    let dir = data_dir.to_owned();
    let (designer, runs) = tokio::task::spawn_blocking(move || {
        Ok::<_, MetaAgentError>((
            Designer::open(&dir, DesignerConfig::default())?,
            RunStore::open(&dir)?,
        ))
    })
    .await
    .map_err(|e| StartupError::Serve(std::io::Error::other(e)))??;
    Ok(MetaAgent::new(executor, Arc::new(designer), Arc::new(runs), None))
}

/// Writes the index snapshot whenever changes were applied since the last
/// write; a crash loses nothing (the store is the truth), only replay time.
async fn persist_periodically(catalog: Arc<Catalog>, every: Duration) {
    let mut written = catalog.applied_seq();
    let mut tick = tokio::time::interval(every);
    tick.tick().await;
    loop {
        tick.tick().await;
        let seq = catalog.applied_seq();
        if seq != written {
            persist(catalog.clone()).await;
            written = seq;
        }
    }
}

async fn persist(catalog: Arc<Catalog>) {
    match tokio::task::spawn_blocking(move || catalog.persist()).await {
        Ok(Ok(_)) => {}
        Ok(Err(e)) => {
            tracing::error!(error = %e, "index snapshot not written; the next start replays the change log")
        }
        Err(e) => tracing::error!(error = %e, "index snapshot task failed"),
    }
}

/// Completes on SIGTERM or ctrl-c.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
}
