//! The master's HTTP server (warp): wire protocol v1 (DESIGN.md "Wire protocol v1").
//!
//! - `GET /v1/meta`: public, tiny; ETag = revision; 304 on a matching `If-None-Match`.
//! - `GET /v1/state`: the signed document; signature in `X-Codexport-Signature`. Token.
//! - `POST /v1/blobs`: JSON list of sha256 -> framed stream (see `model::wire`). Token.
//! - `GET /v1/blobs/{sha256}`: one blob, `Cache-Control: immutable`. Token.
//!
//! A missing, wrong or revoked token gets the same empty 404 as an unknown path, so probing
//! reveals nothing (`/v1/meta` answers without a token, but a presented bad token gets the
//! 404 there too, so a revoked follower learns it at its next poll). Only blobs of the current
//! document are served; asking for a well-formed hash that is not (or no longer) published
//! gets 409, which tells a follower to start its sync over. Published files are read from
//! `CODEX_HOME` itself, not from copies ([`super::blob_origin`]); one that changed since its
//! publish gets 409 too. The published state is re-read when `state.yaml.sig` changes, so
//! `master rebuild` needs no restart; `tokens.json` is re-read when it changes, so `master
//! revoke` takes effect at the next request. Connection limits live in [`super::listen`].
//! [`serve_watching`] also republishes on changes ([`super::watch`]) and loads each new
//! document on the watcher's thread.

use std::collections::HashMap;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use warp::http::HeaderMap;

use crate::blobstore::BlobStore;
use crate::model::DesiredState;
use crate::model::wire::{APPLIED_REVISION_HEADER, FOLLOWER_HEADER, Meta, PROTOCOL};

use super::followers::{FLUSH_INTERVAL, SeenTracker};
use super::identity::verify;
use super::listen::Limits;
use super::publish::{PublishReport, SIGNATURE_FILE, STATE_FILE, Written};
use super::tokens::TokenFile;
use super::watch::{WatchEvent, WatchLog, WatchOptions, Watcher};
use crate::paths::Roots;

/// Errors starting the server.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// Nothing published yet, or the published files are unreadable.
    #[error("no published state in {}: {reason}", dir.display())]
    NoState {
        /// The master directory.
        dir: PathBuf,
        /// Why.
        reason: String,
    },
    /// The address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: String,
        /// The error.
        source: std::io::Error,
    },
}

impl crate::exit::ExitStatus for ServeError {
    fn exit(&self) -> crate::exit::Exit {
        crate::exit::Exit::Error
    }
    fn hint(&self) -> Option<String> {
        match self {
            ServeError::NoState { .. } => Some("run `codexport master init` (or `master rebuild`) first".into()),
            ServeError::Bind { .. } => Some("pick another --port or --bind, or stop the process holding it".into()),
        }
    }
}

/// What is being served: the document bytes, signature and derived data.
#[derive(Debug)]
pub(super) struct Served {
    pub(super) meta: Meta,
    pub(super) state: Bytes,
    /// Hex sha256 of `state` (the name a follower gives it as a delta base).
    pub(super) state_sha256: String,
    pub(super) signature: String,
    /// Every blob of the document and where it is read from.
    pub(super) blobs: HashMap<String, super::blob_origin::Origin>,
    /// The `CODEX_HOME` the document was published from (its `metadata.master.codexHome`).
    pub(super) codex_home: PathBuf,
}

/// Shared server state: the master directory, its blob store and caches.
pub(super) struct Ctx {
    dir: PathBuf,
    pub(super) store: BlobStore,
    deltas: super::history::DeltaCache,
    served: Mutex<Option<(FileStamp, Arc<Served>)>>,
    tokens: Mutex<Option<(FileStamp, Arc<TokenFile>)>>,
    seen: SeenTracker,
}

/// What identifies a version of a small file cheaply: mtime, ctime, inode and size. The inode
/// changes on every atomic rewrite, so two writes within one mtime tick are still seen.
type FileStamp = (super::scan::FileStamp, u64);

fn stamp(path: &Path) -> FileStamp {
    try_stamp(path).unwrap_or_default()
}

fn try_stamp(path: &Path) -> std::io::Result<FileStamp> {
    super::scan::FileStamp::of_path(path)
}

impl Ctx {
    fn new(dir: PathBuf) -> Self {
        Ctx {
            store: BlobStore::new(dir.join("blobs")),
            deltas: Default::default(),
            seen: SeenTracker::load(&dir),
            dir,
            served: Mutex::new(None),
            tokens: Mutex::new(None),
        }
    }

    /// The current state, re-read only when the signature file changed since last time (one
    /// stat per request otherwise; the stamp includes the inode, so two publishes within one
    /// mtime tick are still seen). A pair that does not verify (a publish caught between its
    /// two writes) is never served: the last good pair is, and the next call looks again.
    ///
    /// Errors: [`ServeError::NoState`] only when no good pair was ever loaded.
    pub(super) fn served(&self) -> Result<Arc<Served>, ServeError> {
        let now = match try_stamp(&self.dir.join(SIGNATURE_FILE)) {
            Ok(now) => now,
            Err(e) => return self.last_good().ok_or_else(|| self.no_state(e)),
        };
        let mut guard = self.served.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((seen, served)) = guard.as_ref()
            && *seen == now
        {
            return Ok(served.clone());
        }
        let fresh = match load_served(&self.dir) {
            Ok(fresh) => Arc::new(fresh),
            Err(e) => return guard.as_ref().map(|(_, served)| served.clone()).ok_or(e),
        };
        *guard = Some((now, fresh.clone()));
        Ok(fresh)
    }

    /// The served document as a JSON delta from the document whose bytes hash to `base`, when
    /// one is kept in the history and the delta is worth sending (see [`super::history`]).
    pub(super) fn state_delta(&self, served: &Served, base: &str) -> Option<Bytes> {
        self.deltas.get(&self.dir, base, &served.state, &served.state_sha256)
    }

    /// Serve `written`, just published by this process, without reading it back: the document
    /// is the one signed, and its signature file's stamp (taken under the publish lock) makes a
    /// later publish by another process (`master rebuild`) be read from disk as usual.
    pub(super) fn install(&self, written: &Written) {
        let fresh = Arc::new(served_from(
            &written.document,
            written.bytes.clone(),
            written.signature.clone(),
        ));
        *self.served.lock().unwrap_or_else(|p| p.into_inner()) = Some((written.signature_stamp, fresh));
    }

    fn last_good(&self) -> Option<Arc<Served>> {
        let guard = self.served.lock().unwrap_or_else(|p| p.into_inner());
        guard.as_ref().map(|(_, served)| served.clone())
    }

    /// tokens.json as it is now (re-read when its stamp changed; unreadable = no tokens).
    fn tokens(&self) -> Arc<TokenFile> {
        let now = stamp(&self.dir.join(super::tokens::FILE_NAME));
        let mut guard = self.tokens.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((seen, tokens)) = guard.as_ref()
            && *seen == now
        {
            return tokens.clone();
        }
        let fresh = Arc::new(TokenFile::load(&self.dir).unwrap_or_default());
        *guard = Some((now, fresh.clone()));
        fresh
    }

    /// Check the bearer token in `headers`: `Ok(None)` when none is presented, `Ok(Some(name))`
    /// for a valid one (and the request is recorded as seen), `Err` for a bad one.
    pub(super) fn check_token(&self, headers: &HeaderMap) -> Result<Option<String>, ()> {
        let Some(value) = headers.get("authorization") else {
            return Ok(None);
        };
        let token = value
            .to_str()
            .ok()
            .and_then(|h| h.strip_prefix("Bearer "))
            .map(str::trim)
            .ok_or(())?;
        let name = self.tokens().check(token).map(|f| f.name.clone()).ok_or(())?;
        let header = |k: &str| headers.get(k).and_then(|v| v.to_str().ok());
        self.seen
            .record(&name, header(FOLLOWER_HEADER), header(APPLIED_REVISION_HEADER));
        Ok(Some(name))
    }

    fn no_state(&self, e: impl std::fmt::Display) -> ServeError {
        ServeError::NoState {
            dir: self.dir.clone(),
            reason: e.to_string(),
        }
    }
}

fn load_served(dir: &Path) -> Result<Served, ServeError> {
    let err = |reason: String| ServeError::NoState {
        dir: dir.to_path_buf(),
        reason,
    };
    let state = fs_err::read(dir.join(STATE_FILE)).map_err(|e| err(e.to_string()))?;
    let signature = fs_err::read_to_string(dir.join(SIGNATURE_FILE))
        .map_err(|e| err(e.to_string()))?
        .trim()
        .to_string();
    let doc: DesiredState = serde_yaml::from_slice(&state).map_err(|e| err(format!("{STATE_FILE}: {e}")))?;
    verify(&doc.metadata.master.public_key, &state, &signature).map_err(|e| err(format!("{SIGNATURE_FILE}: {e}")))?;
    Ok(served_from(&doc, Bytes::from(state), signature))
}

/// What is served for the signed document `doc` whose bytes are `state`.
fn served_from(doc: &DesiredState, state: Bytes, signature: String) -> Served {
    let blobs = super::blob_origin::origins_of(doc);
    let meta = Meta {
        protocol: PROTOCOL,
        fingerprint: doc.metadata.master.fingerprint.clone(),
        public_key: doc.metadata.master.public_key.clone(),
        revision: doc.metadata.revision.clone(),
        generated_at: doc.metadata.generated_at.clone(),
    };
    Served {
        meta,
        state_sha256: crate::model::delta::digest(&state),
        state,
        signature,
        blobs,
        codex_home: PathBuf::from(&doc.metadata.master.codex_home),
    }
}

/// [`serve_with`] for `roots`, republishing whenever what is published changes (see
/// [`super::watch`]): the publish runs on the watcher's own thread, the new document is loaded
/// there too, and requests keep getting the previous one until it is in place. When watching
/// cannot start, `log` gets a [`WatchEvent::Problem`] and the server runs without it.
///
/// Errors: [`ServeError::NoState`] when nothing valid is published (after the first publish).
pub async fn serve_watching(
    roots: Roots,
    listener: tokio::net::TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
    limits: Limits,
    options: WatchOptions,
    log: WatchLog,
) -> Result<(), ServeError> {
    let ctx = Arc::new(Ctx::new(roots.master_dir()));
    let loaded = {
        let ctx = ctx.clone();
        Box::new(move |report: &PublishReport| match &report.written {
            Some(written) => ctx.install(written),
            None => {
                let _ = ctx.served();
            }
        })
    };
    let started = {
        let log = log.clone();
        tokio::task::spawn_blocking(move || Watcher::start(roots, options, log, loaded)).await
    };
    let watcher = match started {
        Ok(Ok(watcher)) => Some(watcher),
        Ok(Err(e)) => {
            log(WatchEvent::Problem(format!("{e}; serving without automatic republish")));
            None
        }
        Err(e) => {
            log(WatchEvent::Problem(format!(
                "the watcher failed to start ({e}); serving without automatic republish"
            )));
            None
        }
    };
    ctx.served()?;
    run(ctx, listener, shutdown, limits).await;
    if let Some(watcher) = watcher {
        let _ = tokio::task::spawn_blocking(move || watcher.stop()).await;
    }
    Ok(())
}

/// Serve `master_dir` on an already bound listener until `shutdown` resolves, with the
/// default [`Limits`].
///
/// Errors: [`ServeError::NoState`] when nothing valid is published.
pub async fn serve(
    master_dir: PathBuf,
    listener: tokio::net::TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServeError> {
    serve_with(master_dir, listener, shutdown, Limits::default()).await
}

/// [`serve`] with explicit connection limits. Records followers seen in
/// `followers-seen.json` (flushed every [`FLUSH_INTERVAL`] and at shutdown).
pub async fn serve_with(
    master_dir: PathBuf,
    listener: tokio::net::TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
    limits: Limits,
) -> Result<(), ServeError> {
    let ctx = Arc::new(Ctx::new(master_dir));
    ctx.served()?;
    run(ctx, listener, shutdown, limits).await;
    Ok(())
}

/// Serve until `shutdown` resolves; `ctx` already holds a good state.
async fn run(
    ctx: Arc<Ctx>,
    listener: tokio::net::TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
    limits: Limits,
) {
    let flusher = {
        let ctx = ctx.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(FLUSH_INTERVAL);
            loop {
                tick.tick().await;
                let ctx = ctx.clone();
                // Best effort: a failed write is retried at the next tick with fresher data.
                let _ = tokio::task::spawn_blocking(move || ctx.seen.flush()).await;
            }
        })
    };
    super::listen::run(super::routes::routes(ctx.clone()), listener, shutdown, limits).await;
    flusher.abort();
    let _ = tokio::task::spawn_blocking(move || ctx.seen.flush()).await;
}

/// Bind `addr` (e.g. `127.0.0.1:0` for a free port).
pub async fn bind(addr: &str) -> Result<tokio::net::TcpListener, ServeError> {
    tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|source| ServeError::Bind {
            addr: addr.to_string(),
            source,
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pair_caught_between_its_two_writes_is_never_served() {
        let dir = tempfile::tempdir().unwrap();
        let home = dir.path().join("home");
        let roots = crate::paths::Roots {
            codex_home: home.join(".codex"),
            codexport_home: home.join(".codexport"),
            home,
        };
        crate::example::write_master_basic(&roots.codex_home, &roots.home).unwrap();
        crate::master::init::init(&roots, &Default::default()).unwrap();
        let ctx = Ctx::new(roots.master_dir());
        let first = ctx.served().unwrap();
        // A second publish has written its state.yaml but not yet its signature.
        let state = roots.master_dir().join(STATE_FILE);
        let text = fs_err::read_to_string(&state).unwrap();
        crate::fs::write_atomic(&state, text.replace("generatedAt", "generatedAt ").as_bytes(), 0o600).unwrap();
        let sig = roots.master_dir().join(SIGNATURE_FILE);
        let signature = fs_err::read(&sig).unwrap();
        crate::fs::write_atomic(&sig, &signature, 0o600).unwrap();
        let served = ctx.served().unwrap();
        assert!(Arc::ptr_eq(&first, &served), "the last good pair");
        // The signature lands: the new pair is served.
        fs_err::write(&state, text).unwrap();
        crate::fs::write_atomic(&sig, &signature, 0o600).unwrap();
        let again = ctx.served().unwrap();
        assert!(!Arc::ptr_eq(&first, &again));
        assert_eq!(again.meta.revision, first.meta.revision);
    }
}
