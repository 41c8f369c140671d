//! The master's HTTP server (warp): wire protocol v1 (DESIGN.md "Wire protocol v1").
//!
//! - `GET /v1/meta`: public, tiny; ETag = revision; 304 on a matching `If-None-Match`.
//! - `GET /v1/state`: the signed document; signature in `X-Codexport-Signature`. Token.
//! - `POST /v1/blobs`: JSON list of sha256 -> framed stream (see `model::wire`). Token.
//! - `GET /v1/blobs/{sha256}`: one blob, `Cache-Control: immutable`. Token.
//!
//! A missing, wrong or revoked token gets the same empty 404 as an unknown path, so probing
//! reveals nothing. Only blobs of the current document are served. The published state is
//! re-read when `state.yaml.sig` changes, so `master rebuild` needs no restart.

use std::collections::HashSet;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use bytes::Bytes;
use futures_util::{Stream, StreamExt, TryStreamExt};
use warp::http::{HeaderValue, Response, StatusCode};
use warp::{Filter, Rejection, Reply};

use crate::blobstore::{BlobStore, is_sha256_hex};
use crate::model::DesiredState;
use crate::model::wire::{
    FOLLOWER_HEADER, MAX_BLOB_REQUEST_BYTES, MAX_BLOBS_PER_REQUEST, Meta, PROTOCOL, SIGNATURE_HEADER, frame_header,
};

use super::identity::verify;
use super::publish::{SIGNATURE_FILE, STATE_FILE};
use super::tokens::TokenFile;

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
struct Served {
    meta: Meta,
    state: Bytes,
    signature: String,
    blobs: HashSet<String>,
}

struct Ctx {
    dir: PathBuf,
    store: BlobStore,
    served: Mutex<Option<(SystemTime, Arc<Served>)>>,
    tokens: Mutex<Option<(SystemTime, Arc<TokenFile>)>>,
}

impl Ctx {
    /// The current state, re-read when the signature file changed since last time.
    fn served(&self) -> Result<Arc<Served>, ServeError> {
        let mtime = fs_err::metadata(self.dir.join(SIGNATURE_FILE))
            .and_then(|m| m.modified())
            .map_err(|e| self.no_state(e))?;
        let mut guard = self.served.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((seen, served)) = guard.as_ref()
            && *seen == mtime
        {
            return Ok(served.clone());
        }
        let fresh = Arc::new(load_served(&self.dir)?);
        *guard = Some((mtime, fresh.clone()));
        Ok(fresh)
    }

    fn tokens(&self) -> Arc<TokenFile> {
        let path = self.dir.join(super::tokens::FILE_NAME);
        let mtime = fs_err::metadata(&path)
            .and_then(|m| m.modified())
            .unwrap_or(SystemTime::UNIX_EPOCH);
        let mut guard = self.tokens.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((seen, tokens)) = guard.as_ref()
            && *seen == mtime
        {
            return tokens.clone();
        }
        let fresh = Arc::new(TokenFile::load(&self.dir).unwrap_or_default());
        *guard = Some((mtime, fresh.clone()));
        fresh
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
    let mut blobs: HashSet<String> = doc.spec.files.iter().map(|f| f.sha256.clone()).collect();
    blobs.extend(
        doc.spec
            .config
            .iter()
            .chain(doc.spec.hooks.iter())
            .map(|b| b.sha256.clone()),
    );
    blobs.extend(crate::mcp::artifact_blobs(&doc.spec).map(|(h, _)| h.clone()));
    let meta = Meta {
        protocol: PROTOCOL,
        fingerprint: doc.metadata.master.fingerprint.clone(),
        public_key: doc.metadata.master.public_key.clone(),
        revision: doc.metadata.revision.clone(),
        generated_at: doc.metadata.generated_at.clone(),
    };
    Ok(Served {
        meta,
        state: Bytes::from(state),
        signature,
        blobs,
    })
}

/// Serve `master_dir` on an already bound listener until `shutdown` resolves.
///
/// Errors: [`ServeError::NoState`] when nothing valid is published.
pub async fn serve(
    master_dir: PathBuf,
    listener: tokio::net::TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServeError> {
    let ctx = Arc::new(Ctx {
        store: BlobStore::new(master_dir.join("blobs")),
        dir: master_dir,
        served: Mutex::new(None),
        tokens: Mutex::new(None),
    });
    ctx.served()?;
    warp::serve(routes(ctx))
        .incoming(listener)
        .graceful(shutdown)
        .run()
        .await;
    Ok(())
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

type Resp = warp::reply::Response;

fn routes(
    ctx: Arc<Ctx>,
) -> impl Filter<Extract = (Resp,), Error = std::convert::Infallible> + Clone + Send + Sync + 'static {
    let with_ctx = {
        let ctx = ctx.clone();
        warp::any().map(move || ctx.clone())
    };
    let auth = with_ctx
        .clone()
        .and(warp::header::optional::<String>("authorization"))
        .and(warp::header::optional::<String>(FOLLOWER_HEADER))
        .and_then(authorize);

    let meta = warp::get()
        .and(warp::path!("v1" / "meta"))
        .and(with_ctx.clone())
        .and(warp::header::optional::<String>("if-none-match"))
        .map(meta);
    let state = warp::get()
        .and(warp::path!("v1" / "state"))
        .and(auth.clone())
        .map(state);
    let blobs = warp::post()
        .and(warp::path!("v1" / "blobs"))
        .and(auth.clone())
        .and(warp::body::content_length_limit(MAX_BLOB_REQUEST_BYTES))
        .and(warp::body::bytes())
        .map(blob_batch);
    let blob = warp::get()
        .and(warp::path!("v1" / "blobs" / String))
        .and(auth)
        .map(|hash: String, ctx: Arc<Ctx>| one_blob(&ctx, &hash));
    meta.or(state)
        .unify()
        .or(blobs)
        .unify()
        .or(blob)
        .unify()
        .recover(|_: Rejection| async { Ok::<Resp, std::convert::Infallible>(not_found()) })
        .unify()
}

async fn authorize(
    ctx: Arc<Ctx>,
    authorization: Option<String>,
    _follower: Option<String>,
) -> Result<Arc<Ctx>, Rejection> {
    let token = authorization
        .as_deref()
        .and_then(|h| h.strip_prefix("Bearer "))
        .map(str::trim);
    match token {
        Some(t) if ctx.tokens().check(t).is_some() => Ok(ctx),
        _ => Err(warp::reject::not_found()),
    }
}

fn not_found() -> Resp {
    let mut r = Response::new(warp::hyper::body::Bytes::new().into());
    *r.status_mut() = StatusCode::NOT_FOUND;
    r
}

fn server_error(what: &str) -> Resp {
    warp::reply::with_status(what.to_string(), StatusCode::SERVICE_UNAVAILABLE).into_response()
}

fn meta(ctx: Arc<Ctx>, if_none_match: Option<String>) -> Resp {
    let served = match ctx.served() {
        Ok(s) => s,
        Err(_) => return server_error("no published state"),
    };
    let etag = format!("\"{}\"", served.meta.revision);
    let mut resp = if if_none_match
        .as_deref()
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag))
    {
        let mut r = Response::new(warp::hyper::body::Bytes::new().into());
        *r.status_mut() = StatusCode::NOT_MODIFIED;
        r
    } else {
        warp::reply::json(&served.meta).into_response()
    };
    if let Ok(v) = HeaderValue::from_str(&etag) {
        resp.headers_mut().insert("etag", v);
    }
    resp
}

fn state(ctx: Arc<Ctx>) -> Resp {
    let served = match ctx.served() {
        Ok(s) => s,
        Err(_) => return server_error("no published state"),
    };
    let mut resp = Response::new(served.state.clone().into());
    let headers = resp.headers_mut();
    headers.insert("content-type", HeaderValue::from_static("application/yaml"));
    if let Ok(v) = HeaderValue::from_str(&served.signature) {
        headers.insert(SIGNATURE_HEADER, v);
    }
    if let Ok(v) = HeaderValue::from_str(&format!("\"{}\"", served.meta.revision)) {
        headers.insert("etag", v);
    }
    resp
}

type ChunkStream = Pin<Box<dyn Stream<Item = std::io::Result<Bytes>> + Send + Sync>>;

fn blob_batch(ctx: Arc<Ctx>, body: Bytes) -> Resp {
    let served = match ctx.served() {
        Ok(s) => s,
        Err(_) => return server_error("no published state"),
    };
    let hashes: Vec<String> = match serde_json::from_slice(&body) {
        Ok(h) => h,
        Err(e) => {
            return warp::reply::with_status(
                format!("body must be a JSON list of sha256: {e}"),
                StatusCode::BAD_REQUEST,
            )
            .into_response();
        }
    };
    if hashes.len() > MAX_BLOBS_PER_REQUEST {
        return warp::reply::with_status(
            format!("at most {MAX_BLOBS_PER_REQUEST} blobs per request"),
            StatusCode::PAYLOAD_TOO_LARGE,
        )
        .into_response();
    }
    let mut frames = Vec::with_capacity(hashes.len());
    for hash in hashes {
        if !is_sha256_hex(&hash) || !served.blobs.contains(&hash) {
            return warp::reply::with_status(format!("unknown blob {hash}"), StatusCode::NOT_FOUND).into_response();
        }
        let path = ctx.store.path_of(&hash);
        let (file, size) = match std::fs::File::open(&path).and_then(|f| f.metadata().map(|m| (f, m.len()))) {
            Ok(x) => x,
            Err(_) => return server_error("blob store is missing a published blob; run `codexport master rebuild`"),
        };
        let Ok(header) = frame_header(&hash, size) else {
            return not_found();
        };
        frames.push((header, file));
    }
    let stream = futures_util::stream::iter(frames).flat_map(|(header, file)| -> ChunkStream {
        let head = futures_util::stream::once(async move { Ok(Bytes::copy_from_slice(&header)) });
        let body = tokio_util::io::ReaderStream::new(tokio::fs::File::from_std(file)).map_err(std::io::Error::other);
        Box::pin(head.chain(body))
    });
    let mut resp = warp::reply::stream(stream).into_response();
    resp.headers_mut().insert(
        "content-type",
        HeaderValue::from_static("application/vnd.codexport.blobs"),
    );
    resp
}

fn one_blob(ctx: &Ctx, hash: &str) -> Resp {
    let Ok(served) = ctx.served() else {
        return server_error("no published state");
    };
    if !is_sha256_hex(hash) || !served.blobs.contains(hash) {
        return not_found();
    }
    let Ok(file) = std::fs::File::open(ctx.store.path_of(hash)) else {
        return not_found();
    };
    let stream = tokio_util::io::ReaderStream::new(tokio::fs::File::from_std(file));
    let mut resp = warp::reply::stream(stream).into_response();
    let headers = resp.headers_mut();
    headers.insert("content-type", HeaderValue::from_static("application/octet-stream"));
    headers.insert(
        "cache-control",
        HeaderValue::from_static("public, max-age=31536000, immutable"),
    );
    resp
}
