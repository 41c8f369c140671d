//! The follower's HTTP client for wire protocol v1 (reqwest, blocking, rustls).
//!
//! Every response is size-capped; every blob is verified against its hash while streaming and
//! lands in the store only when it verified.

use std::collections::HashMap;
use std::io::Read;
use std::time::Duration;

use reqwest::StatusCode;
use reqwest::blocking::{Client, Response};

use crate::blobstore::BlobStore;
use crate::model::delta::{self, DELTA_BASE_HEADER, DELTA_CONTENT_TYPE};
use crate::model::document::MAX_DOCUMENT_BYTES;
use crate::model::wire::{
    APPLIED_REVISION_HEADER, FOLLOWER_HEADER, FrameError, Meta, SIGNATURE_HEADER, StreamError, read_blob_stream,
};
use crate::progress::{Counting, Progress};

use super::FollowerError;

/// Largest `/v1/meta` body accepted (bytes).
const MAX_META_BYTES: u64 = 64 * 1024;
/// Environment variable overriding the per-operation HTTP timeout, in milliseconds (default
/// 30 000). Operators on slow links raise it; tests lower it to exercise a stalling master.
pub const TIMEOUT_ENV: &str = "CODEXPORT_HTTP_TIMEOUT_MS";
/// Default per-operation HTTP timeout.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

fn timeout() -> Duration {
    std::env::var(TIMEOUT_ENV)
        .ok()
        .and_then(|v| v.trim().parse::<u64>().ok())
        .filter(|ms| *ms > 0)
        .map(Duration::from_millis)
        .unwrap_or(DEFAULT_TIMEOUT)
}

/// Make ring the process's rustls crypto provider: reqwest is built with `rustls-no-provider`
/// (its default brings aws-lc-rs, a second provider and a long C build) and panics in
/// `Client::build` when none is installed. Installing again, or after someone else did, is a
/// no-op. Anything else in the process that builds a `reqwest` client calls it first (the
/// integration tests do, through their harness).
pub fn install_crypto_provider() {
    if rustls::crypto::CryptoProvider::get_default().is_none() {
        // Err only when another thread installed one first: either way a provider is there.
        let _ = rustls::crypto::ring::default_provider().install_default();
    }
}

/// What `GET /v1/state` gave: the full document bytes (rebuilt when the answer was a delta).
#[derive(Debug)]
pub struct StateAnswer {
    /// The document's exact bytes, not yet verified.
    pub bytes: Vec<u8>,
    /// Hex Ed25519 signature from the response header.
    pub signature: String,
    /// Body bytes received (the delta's size when `delta`).
    pub received: u64,
    /// True when the master answered with a delta from the given base.
    pub delta: bool,
}

/// A connection to one master.
pub struct MasterClient {
    base: String,
    token: Option<String>,
    follower: Option<String>,
    applied_revision: Option<String>,
    http: Client,
}

impl MasterClient {
    /// A client for `base` (`http://host:port`). `token` is needed for everything but meta.
    ///
    /// Timeouts: 5 s to connect; each operation (send, each body read) [`TIMEOUT_ENV`] ms,
    /// 30 s by default.
    pub fn new(base: &str, token: Option<String>) -> Result<Self, FollowerError> {
        Self::with_timeout(base, token, timeout())
    }

    /// Like [`MasterClient::new`] with an explicit per-operation `timeout` (the hook passes
    /// what is left of its budget).
    pub fn with_timeout(base: &str, token: Option<String>, timeout: Duration) -> Result<Self, FollowerError> {
        install_crypto_provider();
        let mut builder = Client::builder()
            .connect_timeout(Duration::from_secs(5).min(timeout))
            // In the blocking client this bounds each operation (send, each body read), not the
            // whole transfer, so a large sync is not cut off while a stalled master is.
            .timeout(timeout)
            // A redirect is never followed: the master answers every route itself, and a man
            // in the middle could otherwise send this follower's name (and, to the same host,
            // its token) wherever it likes. A 3xx is a protocol error (see `send`).
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("codexport/", env!("CARGO_PKG_VERSION")));
        if base.starts_with("http://") {
            // A plain-HTTP master (every join link): no TLS, so no need for the system's root
            // certificates, which the platform verifier would otherwise read and parse (about
            // 140 files) at every hook run.
            builder = builder.tls_certs_only(std::iter::empty());
        }
        let http = builder.build().map_err(|e| FollowerError::Protocol {
            url: base.into(),
            reason: e.to_string(),
        })?;
        Ok(MasterClient {
            base: base.trim_end_matches('/').to_string(),
            token,
            follower: None,
            applied_revision: None,
            http,
        })
    }

    /// Identify this follower to the master (name and applied revision headers).
    pub fn identify(mut self, name: &str, applied_revision: Option<String>) -> Self {
        self.follower = Some(name.to_string());
        self.applied_revision = applied_revision;
        self
    }

    /// The master base URL.
    pub fn base(&self) -> &str {
        &self.base
    }

    fn request(&self, method: reqwest::Method, path: &str) -> reqwest::blocking::RequestBuilder {
        let mut req = self.http.request(method, format!("{}{path}", self.base));
        if let Some(t) = &self.token {
            req = req.bearer_auth(t);
        }
        if let Some(n) = &self.follower {
            req = req.header(FOLLOWER_HEADER, n);
        }
        if let Some(r) = &self.applied_revision {
            req = req.header(APPLIED_REVISION_HEADER, r);
        }
        req
    }

    /// Send `req` (`method path`); logs method, path, status and duration at debug (never a
    /// header: the token travels in one).
    fn send(
        &self,
        req: reqwest::blocking::RequestBuilder,
        method: &str,
        path: &str,
    ) -> Result<Response, FollowerError> {
        let url = format!("{}{path}", self.base);
        let started = std::time::Instant::now();
        let sent = req.send();
        let ms = started.elapsed().as_millis() as u64;
        match &sent {
            Ok(resp) => tracing::debug!(method, path, status = resp.status().as_u16(), ms, "request"),
            Err(e) => tracing::debug!(method, path, ms, "request failed: {}", root_cause(e)),
        }
        let resp = sent.map_err(|e| {
            if e.is_connect() || e.is_timeout() {
                FollowerError::Unreachable {
                    url: self.base.clone(),
                    reason: root_cause(&e),
                }
            } else if e.is_builder() || e.is_redirect() {
                FollowerError::Protocol {
                    url: url.clone(),
                    reason: root_cause(&e),
                }
            } else {
                // The connection was closed or reset before a whole response head arrived.
                FollowerError::Interrupted {
                    url: url.clone(),
                    reason: root_cause(&e),
                }
            }
        })?;
        match resp.status() {
            // The master answers a wrong, missing or revoked token like an unknown path; on meta
            // only when a token was presented (meta without a token is public).
            StatusCode::NOT_FOUND if self.token.is_some() => {
                Err(FollowerError::TokenRefused { url: self.base.clone() })
            }
            StatusCode::CONFLICT if path == "/v1/blobs" => Err(FollowerError::RevisionChanged {
                url: self.base.clone(),
                reason: conflict_reason(resp),
            }),
            s if s.is_success() || s == StatusCode::NOT_MODIFIED => Ok(resp),
            s if s.is_redirection() => Err(FollowerError::Protocol {
                url,
                reason: format!(
                    "HTTP {s}: the master redirected to {} (codexport follows no redirects)",
                    redirect_target(&resp)
                ),
            }),
            s => Err(FollowerError::Protocol {
                url,
                reason: format!("HTTP {s}"),
            }),
        }
    }

    /// `GET /v1/meta`; `Ok(None)` when `if_none_match` is still current (304).
    pub fn meta(&self, if_none_match: Option<&str>) -> Result<Option<Meta>, FollowerError> {
        Ok(self.meta_response(if_none_match)?.map(|(meta, _)| meta))
    }

    /// `GET /v1/meta` (no `If-None-Match`) and the response's HTTP `Date` header, if it had one:
    /// `doctor` compares it with the local clock.
    pub fn meta_with_date(&self) -> Result<(Meta, Option<String>), FollowerError> {
        self.meta_response(None)?.ok_or_else(|| FollowerError::Protocol {
            url: format!("{}/v1/meta", self.base),
            reason: "304 without If-None-Match".into(),
        })
    }

    fn meta_response(&self, if_none_match: Option<&str>) -> Result<Option<(Meta, Option<String>)>, FollowerError> {
        let mut req = self.request(reqwest::Method::GET, "/v1/meta");
        if let Some(rev) = if_none_match {
            req = req.header("if-none-match", format!("\"{rev}\""));
        }
        let resp = self.send(req, "GET", "/v1/meta")?;
        if resp.status() == StatusCode::NOT_MODIFIED {
            return Ok(None);
        }
        let date = resp
            .headers()
            .get(reqwest::header::DATE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let body = read_capped(resp, MAX_META_BYTES, &self.base)?.ok_or_else(|| FollowerError::Protocol {
            url: format!("{}/v1/meta", self.base),
            reason: format!("meta is over the {MAX_META_BYTES}-byte cap"),
        })?;
        serde_json::from_slice(&body)
            .map(|meta| Some((meta, date)))
            .map_err(|e| FollowerError::Protocol {
                url: format!("{}/v1/meta", self.base),
                reason: e.to_string(),
            })
    }

    /// `GET /v1/state`: the document bytes and the hex signature header. With `base` (the
    /// bytes of a document this follower holds), the master may answer with a delta from it,
    /// which is applied here (see [`crate::model::delta`]); the signature is checked by the
    /// caller over the rebuilt bytes either way.
    ///
    /// Errors: transport errors, [`FollowerError::Untrusted`] for a body over the cap or no
    /// signature, [`FollowerError::Protocol`] for a delta that does not apply.
    pub fn state(&self, base: Option<&[u8]>) -> Result<StateAnswer, FollowerError> {
        let mut req = self.request(reqwest::Method::GET, "/v1/state");
        let base_hash = base.map(delta::digest);
        if let Some(hash) = &base_hash {
            req = req.header(DELTA_BASE_HEADER, hash);
        }
        let resp = self.send(req, "GET", "/v1/state")?;
        let header = |name: &str| {
            resp.headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        };
        let is_delta = header("content-type").as_deref() == Some(DELTA_CONTENT_TYPE)
            && header(DELTA_BASE_HEADER).is_some()
            && header(DELTA_BASE_HEADER) == base_hash;
        let signature = resp
            .headers()
            .get(SIGNATURE_HEADER)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        // Refused by the cap before anything is parsed or verified: by the declared length when
        // there is one, else after reading one byte past the cap.
        let over_cap = || FollowerError::Untrusted {
            url: self.base.clone(),
            reason: format!("the document is over the {MAX_DOCUMENT_BYTES}-byte cap"),
        };
        if resp.content_length().is_some_and(|n| n > MAX_DOCUMENT_BYTES as u64) {
            return Err(over_cap());
        }
        let body = read_capped(resp, MAX_DOCUMENT_BYTES as u64, &self.base)?.ok_or_else(over_cap)?;
        let signature = signature.ok_or_else(|| FollowerError::Untrusted {
            url: self.base.clone(),
            reason: "the state has no signature header".into(),
        })?;
        let received = body.len() as u64;
        let bytes = match base {
            Some(base) if is_delta => {
                let bad = |reason: String| FollowerError::Protocol {
                    url: format!("{}/v1/state", self.base),
                    reason: format!("state delta: {reason}"),
                };
                let d: delta::StateDelta = serde_json::from_slice(&body).map_err(|e| bad(e.to_string()))?;
                delta::apply(base, &d, MAX_DOCUMENT_BYTES as u64).map_err(|e| bad(e.to_string()))?
            }
            _ => body,
        };
        Ok(StateAnswer {
            bytes,
            signature,
            received,
            delta: is_delta,
        })
    }

    /// `POST /v1/blobs` for `wanted` (hash -> declared size); stores each verified blob.
    /// Returns the number of bytes received; every byte read is reported to `progress`.
    pub fn fetch_blobs(
        &self,
        wanted: &HashMap<String, u64>,
        store: &BlobStore,
        progress: &dyn Progress,
    ) -> Result<u64, FollowerError> {
        let mut received = 0;
        for batch in batches(wanted, BLOBS_PER_REQUEST) {
            received += self.fetch_batch(&batch, store, progress)?;
        }
        Ok(received)
    }

    /// One `POST /v1/blobs` for at most [`BLOBS_PER_REQUEST`] blobs.
    fn fetch_batch(
        &self,
        wanted: &HashMap<String, u64>,
        store: &BlobStore,
        progress: &dyn Progress,
    ) -> Result<u64, FollowerError> {
        let mut list: Vec<&String> = wanted.keys().collect();
        list.sort();
        let body = serde_json::to_vec(&list).map_err(|e| FollowerError::Protocol {
            url: self.base.clone(),
            reason: e.to_string(),
        })?;
        let req = self
            .request(reqwest::Method::POST, "/v1/blobs")
            .header("content-type", "application/json")
            .body(body);
        let resp = self.send(req, "POST", "/v1/blobs")?;
        let mut body = Counting::new(resp, progress);
        // Frames are read and verified on this thread and written into temp files of the store
        // by a few writer threads (`blob_sink`); they become blobs together once the whole
        // stream verified (two syncfs, not one fsync a blob).
        store.remove_stale_temps()?;
        let (read, pending) =
            super::blob_sink::with_writers(store, wanted.len(), |sink| read_blob_stream(&mut body, wanted, sink))?;
        let received = read.map_err(|e| stream_error(e, &self.base))?;
        store.commit_pending(pending)?;
        Ok(received)
    }
}

/// Blobs asked for in one request: the master refuses more than
/// [`crate::model::wire::MAX_BLOBS_PER_REQUEST`] hashes or a body over
/// [`crate::model::wire::MAX_BLOB_REQUEST_BYTES`] (67 bytes a hash in JSON), so a revision of
/// more than 100,000 files is fetched in several requests (it got 413 forever before).
pub const BLOBS_PER_REQUEST: usize = 50_000;

/// `wanted` cut into maps of at most `size` entries, in hash order (none when empty).
fn batches(wanted: &HashMap<String, u64>, size: usize) -> Vec<HashMap<String, u64>> {
    let mut all: Vec<(&String, &u64)> = wanted.iter().collect();
    all.sort();
    all.chunks(size.max(1))
        .map(|c| c.iter().map(|(h, n)| ((*h).clone(), **n)).collect())
        .collect()
}

fn stream_error(e: StreamError, base: &str) -> FollowerError {
    match e {
        StreamError::Frame(f) => frame_error(f, base),
        StreamError::SizeMismatch { .. } | StreamError::Unasked(_) => FollowerError::Untrusted {
            url: base.into(),
            reason: e.to_string(),
        },
        StreamError::Missing(_) => FollowerError::Interrupted {
            url: base.into(),
            reason: e.to_string(),
        },
        StreamError::Sink(io) => FollowerError::Io(io),
    }
}

fn frame_error(e: FrameError, base: &str) -> FollowerError {
    match e {
        FrameError::HashMismatch { .. } => FollowerError::Untrusted {
            url: base.into(),
            reason: e.to_string(),
        },
        FrameError::Write(io) => FollowerError::Io(io),
        FrameError::Truncated(_) | FrameError::Read(_) => FollowerError::Interrupted {
            url: base.into(),
            reason: io_root_cause(&e),
        },
    }
}

/// Where a 3xx answer points, safe to print: scheme, host, port and path of its `Location`
/// (user info, query and fragment dropped: they could carry a token), control characters
/// removed, cut to 200 characters, then [`crate::logs::redact`]ed. `(no Location)` when absent
/// or not text.
fn redirect_target(resp: &Response) -> String {
    let Some(location) = resp
        .headers()
        .get(reqwest::header::LOCATION)
        .and_then(|v| v.to_str().ok())
    else {
        return "(no Location)".into();
    };
    let shown = match reqwest::Url::parse(location).or_else(|_| resp.url().join(location)) {
        Ok(url) => {
            let port = url.port().map(|p| format!(":{p}")).unwrap_or_default();
            format!(
                "{}://{}{port}{}",
                url.scheme(),
                url.host_str().unwrap_or(""),
                url.path()
            )
        }
        Err(_) => location.split(['?', '#']).next().unwrap_or("").to_string(),
    };
    let shown: String = shown.chars().filter(|c| !c.is_control()).take(200).collect();
    crate::logs::redact(&shown).into_owned()
}

/// The master's reason for a 409: its body, cut to 1 KiB, with control characters removed (it
/// is printed).
fn conflict_reason(resp: Response) -> String {
    let mut body = Vec::new();
    let _ = resp.take(1024).read_to_end(&mut body);
    let text: String = String::from_utf8_lossy(&body)
        .chars()
        .filter(|c| !c.is_control())
        .collect();
    if text.trim().is_empty() {
        "a blob is no longer published".into()
    } else {
        text.trim().to_string()
    }
}

/// Read at most `cap` bytes of the body; `Ok(None)` when the body is longer. A read error
/// (connection broken, timeout) is [`FollowerError::Interrupted`].
fn read_capped(resp: Response, cap: u64, base: &str) -> Result<Option<Vec<u8>>, FollowerError> {
    let mut body = Vec::new();
    resp.take(cap + 1)
        .read_to_end(&mut body)
        .map_err(|e| FollowerError::Interrupted {
            url: base.into(),
            reason: io_root_cause(&e),
        })?;
    Ok((body.len() as u64 <= cap).then_some(body))
}

/// The message of an error with its innermost cause (reqwest wraps timeouts in io errors).
fn io_root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let root = root_cause(e);
    let top = e.to_string();
    if top.contains(&root) {
        top
    } else {
        format!("{top}: {root}")
    }
}

fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cur = e;
    while let Some(next) = cur.source() {
        cur = next;
    }
    cur.to_string()
}

#[cfg(test)]
#[path = "client_tests.rs"]
mod tests;
