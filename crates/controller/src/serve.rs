//! Serving HTTP within bounds, so that slow or idle clients cannot pin the server: at most
//! [`MAX_CONNECTIONS`] connections at once (the next waits in the kernel's backlog), request
//! headers within [`HEADER_TIMEOUT`] (hyper closes a connection that has not sent them), and a
//! connection's whole life within [`CONNECTION_TIMEOUT`]. axum's own `serve` has none of the
//! three: a client that sends half a request holds its connection and task for ever.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tracing::warn;

/// Connections served at once.
pub const MAX_CONNECTIONS: usize = 64;
/// The longest a client may take to send a request's headers.
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// The longest a connection lives, keep-alive included.
pub const CONNECTION_TIMEOUT: Duration = Duration::from_secs(30);
/// How long open connections may take to finish after `shutdown`.
pub const DRAIN: Duration = Duration::from_secs(2);

/// Serves `router` on `listener` until `shutdown`, then lets open connections finish for
/// [`DRAIN`] and closes the rest.
pub async fn serve(
    listener: TcpListener,
    router: axum::Router,
    shutdown: impl Future<Output = ()>,
) {
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    let mut connections = JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        // A slot first, then a connection: over the cap, clients wait in the backlog.
        let slot = tokio::select! {
            biased;
            () = &mut shutdown => break,
            slot = Arc::clone(&slots).acquire_owned() => slot,
        };
        let Ok(slot) = slot else { break };
        let stream = tokio::select! {
            biased;
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    // EMFILE and the like: wait instead of spinning.
                    warn!(error = %e, "accepting an HTTP connection failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        let service = TowerToHyperService::new(router.clone());
        connections.spawn(async move {
            let _slot = slot;
            let mut builder = hyper::server::conn::http1::Builder::new();
            builder
                .timer(TokioTimer::new())
                .header_read_timeout(HEADER_TIMEOUT);
            let connection = builder.serve_connection(TokioIo::new(stream), service);
            let _ = tokio::time::timeout(CONNECTION_TIMEOUT, connection).await;
        });
        while connections.try_join_next().is_some() {}
    }
    let drain = async { while connections.join_next().await.is_some() {} };
    if tokio::time::timeout(DRAIN, drain).await.is_err() {
        warn!("HTTP connections still open after {DRAIN:?}; closing them");
        connections.abort_all();
    }
}
