//! Start-up wiring: open the store, bind the listener, build the router, and
//! serve until a shutdown signal.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use switchyard_registry::{AuthMode, Registry, RegistryError};
use tokio::net::TcpListener;

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
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
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
        let state = AppState {
            registry: Arc::new(registry),
            metrics: Arc::new(Metrics::new()?),
        };
        let limits = Limits {
            body_bytes: settings.server.body_limit_bytes,
            timeout: Duration::from_secs(settings.server.request_timeout_secs),
        };
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|source| StartupError::Bind { addr, source })?;
        Ok(Application {
            listener,
            router: http::router(state, limits),
            grace: Duration::from_secs(settings.server.shutdown_grace_secs),
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
        let grace = self.grace;
        let deadline = async move {
            // Only starts counting once shutdown began.
            if stopping_rx.await.is_ok() {
                tokio::time::sleep(grace).await;
            } else {
                std::future::pending::<()>().await;
            }
        };
        tokio::select! {
            result = serve => result.map_err(StartupError::Serve),
            () = deadline => {
                tracing::warn!("grace period over; dropping remaining connections");
                Ok(())
            }
        }
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
