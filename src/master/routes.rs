//! The routes of wire protocol v1 (see [`super::serve`] for the protocol summary): warp
//! filters and their handlers. Every handler answers; nothing here panics on input.

use std::sync::Arc;

use bytes::Bytes;
use warp::http::{HeaderMap, HeaderValue, Response, StatusCode};
use warp::{Filter, Rejection, Reply};

use crate::blobstore::is_sha256_hex;
use crate::model::delta::{DELTA_BASE_HEADER, DELTA_CONTENT_TYPE};
use crate::model::wire::{MAX_BLOB_REQUEST_BYTES, MAX_BLOBS_PER_REQUEST, SIGNATURE_HEADER, frame_header};

use super::blob_origin::Unavailable;
use super::blob_stream;
use super::serve::Ctx;

type Resp = warp::reply::Response;

/// All routes over `ctx`; every rejection is recovered into a response.
pub(super) fn routes(
    ctx: Arc<Ctx>,
) -> impl Filter<Extract = (Resp,), Error = std::convert::Infallible> + Clone + Send + Sync + 'static {
    let with_ctx = {
        let ctx = ctx.clone();
        warp::any().map(move || ctx.clone())
    };
    let auth = with_ctx.clone().and(warp::header::headers_cloned()).and_then(authorize);

    let meta = warp::get()
        .and(warp::path!("v1" / "meta"))
        .and(with_ctx.clone())
        .and(warp::header::headers_cloned())
        .map(meta);
    let state = warp::get()
        .and(warp::path!("v1" / "state"))
        .and(auth.clone())
        .and(warp::header::optional::<String>(DELTA_BASE_HEADER))
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
        .recover(|r: Rejection| async move { Ok::<Resp, std::convert::Infallible>(rejected(&r)) })
        .unify()
        .with(warp::log::custom(log_request))
        .map(Reply::into_response)
}

/// One debug event per request: method, path, status, duration; never a header (the token
/// travels in `Authorization`).
fn log_request(info: warp::log::Info<'_>) {
    tracing::debug!(
        method = %info.method(),
        path = info.path(),
        status = info.status().as_u16(),
        ms = info.elapsed().as_millis() as u64,
        "request"
    );
}

/// Every rejection is the empty 404 of an unknown path, except the body limits of an
/// authorized `POST /v1/blobs` (only reachable with a valid token).
fn rejected(r: &Rejection) -> Resp {
    let status = if r.find::<warp::reject::PayloadTooLarge>().is_some() {
        StatusCode::PAYLOAD_TOO_LARGE
    } else if r.find::<warp::reject::LengthRequired>().is_some() {
        StatusCode::LENGTH_REQUIRED
    } else {
        return not_found();
    };
    warp::reply::with_status(format!("request body: {status}"), status).into_response()
}

async fn authorize(ctx: Arc<Ctx>, headers: HeaderMap) -> Result<Arc<Ctx>, Rejection> {
    match ctx.check_token(&headers) {
        Ok(Some(_)) => Ok(ctx),
        _ => Err(warp::reject::not_found()),
    }
}

fn not_found() -> Resp {
    let mut r = Response::new(warp::hyper::body::Bytes::new().into());
    *r.status_mut() = StatusCode::NOT_FOUND;
    r
}

/// 409: the blob is not (or no longer) what the current revision publishes; a follower starts
/// its sync over.
fn conflict(what: String) -> Resp {
    warp::reply::with_status(what, StatusCode::CONFLICT).into_response()
}

fn server_error(what: &str) -> Resp {
    warp::reply::with_status(what.to_string(), StatusCode::SERVICE_UNAVAILABLE).into_response()
}

fn meta(ctx: Arc<Ctx>, headers: HeaderMap) -> Resp {
    if ctx.check_token(&headers).is_err() {
        return not_found();
    }
    let if_none_match = headers.get("if-none-match").and_then(|v| v.to_str().ok());
    let served = match ctx.served() {
        Ok(s) => s,
        Err(_) => return server_error("no published state"),
    };
    let etag = format!("\"{}\"", served.meta.revision);
    let mut resp = if if_none_match.is_some_and(|v| v.split(',').any(|t| t.trim() == etag)) {
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

/// The document, or a delta from the base the follower names (see [`crate::model::delta`]);
/// either way the signature header signs the full document.
fn state(ctx: Arc<Ctx>, base: Option<String>) -> Resp {
    let served = match ctx.served() {
        Ok(s) => s,
        Err(_) => return server_error("no published state"),
    };
    let delta = base.as_deref().and_then(|b| Some((b, ctx.state_delta(&served, b)?)));
    let (body, content_type) = match &delta {
        Some((_, json)) => (json.clone(), DELTA_CONTENT_TYPE),
        None => (served.state.clone(), "application/yaml"),
    };
    let mut resp = Response::new(body.into());
    let headers = resp.headers_mut();
    headers.insert("content-type", HeaderValue::from_static(content_type));
    if let Some((base, _)) = delta
        && let Ok(v) = HeaderValue::from_str(base)
    {
        headers.insert(DELTA_BASE_HEADER, v);
    }
    if let Ok(v) = HeaderValue::from_str(&served.signature) {
        headers.insert(SIGNATURE_HEADER, v);
    }
    if let Ok(v) = HeaderValue::from_str(&format!("\"{}\"", served.meta.revision)) {
        headers.insert("etag", v);
    }
    resp
}

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
    let mut parts = Vec::with_capacity(hashes.len());
    for hash in hashes {
        if !is_sha256_hex(&hash) {
            return warp::reply::with_status("blob names are 64 lowercase hex digits", StatusCode::BAD_REQUEST)
                .into_response();
        }
        let head = |size| frame_header(&hash, size).ok().map(|h| h.to_vec());
        match served.part_for(&ctx.store, &hash, head) {
            Ok(part) if part.head.is_some() => parts.push(part),
            // A size the frame cannot carry: never published (publish caps file sizes).
            Ok(_) => return not_found(),
            Err(Unavailable::NotPublished) => {
                return conflict(format!(
                    "blob {hash} is not in the current revision {}",
                    served.meta.revision
                ));
            }
            Err(Unavailable::Changed(what)) => {
                return conflict(format!(
                    "{what} (revision {}); sync again once the master has published it",
                    served.meta.revision
                ));
            }
            Err(Unavailable::MissingFromStore) => {
                return server_error("blob store is missing a published blob; run `codexport master rebuild`");
            }
        }
    }
    let stream = blob_stream::stream(parts);
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
    if !is_sha256_hex(hash) {
        return not_found();
    }
    let part = match served.part_for(&ctx.store, hash, |_| None) {
        Ok(part) => part,
        Err(Unavailable::Changed(what)) => return conflict(format!("{what}; ask again once it is published")),
        Err(_) => return not_found(),
    };
    let stream = blob_stream::stream(vec![part]);
    let mut resp = warp::reply::stream(stream).into_response();
    let headers = resp.headers_mut();
    headers.insert("content-type", HeaderValue::from_static("application/octet-stream"));
    headers.insert(
        "cache-control",
        HeaderValue::from_static("public, max-age=31536000, immutable"),
    );
    resp
}
