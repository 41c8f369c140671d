//! The accept loop of `master serve`: HTTP/1.1 (hyper) with the limits a server reachable
//! by untrusted peers needs. warp supplies the routes; this module owns the connections.
//!
//! - request head (request line + headers) at most [`Limits::max_header_bytes`] and
//!   [`Limits::max_headers`] headers, else 431;
//! - the head must arrive within [`Limits::header_read_timeout`] (slowloris), else the
//!   connection is closed;
//! - a connection lives at most [`Limits::connection_lifetime`], whatever it is doing;
//! - at most [`Limits::max_connections`] connections at once; more are closed on accept.
//!
//! Request bodies are capped by the routes (`POST /v1/blobs`: 8 MiB, with Content-Length).

use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use warp::Filter;

/// Connection limits of the server. [`Limits::default`] is what `master serve` uses.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Time allowed for a request line and headers to arrive.
    pub header_read_timeout: Duration,
    /// Largest request head in bytes.
    pub max_header_bytes: usize,
    /// Most request headers.
    pub max_headers: usize,
    /// Longest a connection may stay open (covers slow bodies and slow readers).
    pub connection_lifetime: Duration,
    /// Most simultaneous connections.
    pub max_connections: usize,
    /// How long shutdown waits for open connections before dropping them.
    pub shutdown_grace: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            header_read_timeout: Duration::from_secs(5),
            max_header_bytes: 16 * 1024,
            max_headers: 64,
            connection_lifetime: Duration::from_secs(600),
            max_connections: 1024,
            shutdown_grace: Duration::from_secs(5),
        }
    }
}

/// Serve `routes` on `listener` until `shutdown` resolves, then let open connections finish
/// (up to [`Limits::shutdown_grace`]).
pub async fn run<F>(
    routes: F,
    listener: tokio::net::TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
    limits: Limits,
) where
    F: Filter<Extract = (warp::reply::Response,), Error = Infallible> + Clone + Send + Sync + 'static,
{
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .max_header_size(limits.max_header_bytes)
        .max_headers(limits.max_headers)
        .max_buf_size((limits.max_header_bytes * 2).max(64 * 1024));
    let graceful = GracefulShutdown::new();
    let permits = Arc::new(tokio::sync::Semaphore::new(limits.max_connections));
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            _ = &mut shutdown => break,
        };
        let stream = match accepted {
            Ok((stream, _)) => stream,
            Err(_) => {
                // Out of file descriptors or a reset before accept: back off briefly.
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let Ok(permit) = permits.clone().try_acquire_owned() else {
            drop(stream);
            continue;
        };
        let service = TowerToHyperService::new(warp::service(routes.clone()));
        let conn = graceful.watch(http.serve_connection(TokioIo::new(stream), service));
        let lifetime = limits.connection_lifetime;
        tokio::spawn(async move {
            let _permit = permit;
            // Errors here are the peer's doing (bad request, reset, timeout): nothing to report.
            let _ = tokio::time::timeout(lifetime, conn).await;
        });
    }
    drop(listener);
    let _ = tokio::time::timeout(limits.shutdown_grace, graceful.shutdown()).await;
}
