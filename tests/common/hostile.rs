//! A hostile master: a small warp server on 127.0.0.1 that answers `/v1/meta`, `/v1/state`
//! and `POST /v1/blobs` with whatever a test scripts, signed with the pinned key (a
//! compromised master) or another key (a spoofed one). Plus a sentinel tree to prove that no
//! byte is written outside the follower's allowed roots.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use codexport::master::identity::Identity;
use codexport::model::{DesiredState, FileClass, FileEntry, FileMode, MasterInfo, Metadata, Spec};
use futures_util::StreamExt;
use warp::Filter;
use warp::http::{HeaderValue, StatusCode};

use super::Machine;

/// The body of one scripted answer.
#[derive(Clone)]
pub enum Body {
    /// These bytes, with a Content-Length.
    Bytes(Vec<u8>),
    /// These bytes chunked, then silence forever (a stalled master).
    ThenStall(Vec<u8>),
    /// These bytes chunked, then the connection is aborted mid-body.
    ThenAbort(Vec<u8>),
    /// `total` bytes of `chunk` repeated, chunked; `declared` adds a Content-Length.
    Endless { chunk: Vec<u8>, total: u64, declared: bool },
}

/// One scripted answer.
#[derive(Clone)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Body,
}

impl Reply {
    pub fn ok(body: Body) -> Self {
        Reply {
            status: 200,
            headers: Vec::new(),
            body,
        }
    }
    pub fn status(status: u16) -> Self {
        Reply {
            status,
            headers: Vec::new(),
            body: Body::Bytes(Vec::new()),
        }
    }
    pub fn header(mut self, k: &str, v: &str) -> Self {
        self.headers.push((k.into(), v.into()));
        self
    }
}

/// What the hostile master answers, by route.
#[derive(Clone)]
pub struct Script {
    pub meta: Reply,
    pub state: Reply,
    /// The answer to `/v1/state` with an `X-Codexport-Delta-Base` header, when set.
    pub state_with_base: Option<Reply>,
    pub blobs: Reply,
}

/// The running hostile master.
pub struct Hostile {
    pub port: u16,
    /// The key the follower pins (the link carries its fingerprint).
    pub pinned: Identity,
    /// Another key: what a spoofing master signs with.
    pub other: Identity,
    script: Arc<Mutex<Script>>,
    /// Body bytes actually handed to the network by `Body::Endless`.
    pub streamed: Arc<AtomicU64>,
    _keys: tempfile::TempDir,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Hostile {
    pub fn start() -> Self {
        let keys = tempfile::tempdir().unwrap();
        let (pinned, _) = Identity::load_or_create(&keys.path().join("pinned")).unwrap();
        let (other, _) = Identity::load_or_create(&keys.path().join("other")).unwrap();
        let script = Arc::new(Mutex::new(Script {
            meta: Reply::status(404),
            state: Reply::status(404),
            state_with_base: None,
            blobs: Reply::status(404),
        }));
        let streamed = Arc::new(AtomicU64::new(0));
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let (port_tx, port_rx) = std::sync::mpsc::channel();
        let routes = {
            let script = script.clone();
            let streamed = streamed.clone();
            warp::any()
                .and(warp::method())
                .and(warp::path::full())
                .and(warp::header::optional::<String>("x-codexport-delta-base"))
                .map(
                    move |method: warp::http::Method, path: warp::path::FullPath, base: Option<String>| {
                        let s = script.lock().unwrap().clone();
                        let reply = match (method.as_str(), path.as_str()) {
                            ("GET", "/v1/meta") => s.meta,
                            ("GET", "/v1/state") => match (base, s.state_with_base) {
                                (Some(_), Some(with_base)) => with_base,
                                _ => s.state,
                            },
                            ("POST", "/v1/blobs") => s.blobs,
                            _ => Reply::status(404),
                        };
                        respond(reply, streamed.clone())
                    },
                )
        };
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Runtime::new().unwrap();
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
                port_tx.send(listener.local_addr().unwrap().port()).unwrap();
                warp::serve(routes)
                    .incoming(listener)
                    .graceful(async move {
                        let _ = stopped.await;
                    })
                    .run()
                    .await;
            });
        });
        Hostile {
            port: port_rx.recv().unwrap(),
            pinned,
            other,
            script,
            streamed,
            _keys: keys,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    /// Change what the server answers from now on.
    pub fn script(&self, f: impl FnOnce(&mut Script)) {
        f(&mut self.script.lock().unwrap());
    }

    /// The join link a follower of this master gets (pins `pinned`).
    pub fn link(&self) -> String {
        codexport::follower::enrollment::JoinLink::to_link(
            "127.0.0.1",
            self.port,
            &self.pinned.fingerprint(),
            "cxp_hostile",
        )
    }

    /// Meta presenting `key` (fingerprint and public key).
    pub fn meta_for(key: &Identity) -> Reply {
        let meta = serde_json::json!({
            "protocol": 1,
            "fingerprint": key.fingerprint(),
            "publicKey": key.public_key_hex(),
            "revision": format!("sha256:{}", "e".repeat(64)),
            "generatedAt": "2026-01-01T00:00:00Z",
        });
        Reply::ok(Body::Bytes(serde_json::to_vec(&meta).unwrap()))
    }

    /// Serve `yaml` as the state, signed by `signer`, with meta presenting the pinned key, and
    /// the blobs as a correct frame stream.
    pub fn serve_signed(&self, yaml: &[u8], signer: &Identity, blobs: &[&[u8]]) {
        let state = Reply::ok(Body::Bytes(yaml.to_vec())).header("x-codexport-signature", &signer.sign(yaml));
        let frames = Reply::ok(Body::Bytes(frames(blobs)));
        let meta = Hostile::meta_for(&self.pinned);
        self.script(|s| {
            s.meta = meta;
            s.state = state;
            s.blobs = frames;
        });
    }
}

impl Drop for Hostile {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        // Stalled bodies never end: do not wait for the server thread.
        drop(self.thread.take());
    }
}

fn respond(reply: Reply, streamed: Arc<AtomicU64>) -> warp::reply::Response {
    type Chunks = std::pin::Pin<Box<dyn futures_util::Stream<Item = std::io::Result<Bytes>> + Send + Sync>>;
    let once = |b: Vec<u8>| futures_util::stream::once(async move { Ok::<_, std::io::Error>(Bytes::from(b)) });
    let (stream, length): (Chunks, Option<u64>) = match reply.body {
        Body::Bytes(b) => {
            let len = b.len() as u64;
            (Box::pin(once(b)), Some(len))
        }
        Body::ThenStall(b) => (Box::pin(once(b).chain(futures_util::stream::pending())), None),
        Body::ThenAbort(b) => (
            Box::pin(once(b).chain(futures_util::stream::once(async {
                Err(std::io::Error::other("hostile abort"))
            }))),
            None,
        ),
        Body::Endless { chunk, total, declared } => {
            let chunk = Bytes::from(chunk);
            let n = total.div_ceil(chunk.len() as u64);
            let s = futures_util::stream::iter(0..n).map(move |_| {
                streamed.fetch_add(chunk.len() as u64, Ordering::SeqCst);
                Ok(chunk.clone())
            });
            (Box::pin(s), declared.then_some(total))
        }
    };
    let mut resp = warp::Reply::into_response(warp::reply::stream(stream));
    *resp.status_mut() = StatusCode::from_u16(reply.status).unwrap();
    for (k, v) in reply.headers {
        resp.headers_mut().insert(
            warp::http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
            HeaderValue::from_str(&v).unwrap(),
        );
    }
    if let Some(len) = length {
        resp.headers_mut().insert("content-length", HeaderValue::from(len));
    }
    resp
}

/// A correct frame stream for `blobs`: `[sha256][u64 BE length][bytes]` each.
pub fn frames(blobs: &[&[u8]]) -> Vec<u8> {
    let mut out = Vec::new();
    for b in blobs {
        let hash = codexport::fs::sha256_hex(b);
        out.extend_from_slice(&codexport::model::wire::frame_header(&hash, b.len() as u64).unwrap());
        out.extend_from_slice(b);
    }
    out
}

/// A file entry for `path` holding `bytes`.
pub fn entry(path: &str, bytes: &[u8]) -> FileEntry {
    FileEntry {
        path: path.into(),
        sha256: codexport::fs::sha256_hex(bytes),
        size: bytes.len() as u64,
        mode: FileMode(0o644),
        class: FileClass::Instructions,
    }
}

/// A document naming `master` with `files`, its revision computed from the spec, numbered
/// above every document made before it in this process (a real master's documents only go
/// up; tests of replays set `metadata.sequence` themselves).
pub fn document(master: &Identity, files: Vec<FileEntry>) -> DesiredState {
    let spec = Spec {
        files,
        config: None,
        hooks: None,
        mcp_servers: BTreeMap::new(),
        path_variables: Vec::new(),
    };
    DesiredState {
        api_version: "codexport/v1".into(),
        kind: "DesiredState".into(),
        metadata: Metadata {
            revision: spec.revision(),
            master: MasterInfo {
                fingerprint: master.fingerprint(),
                public_key: master.public_key_hex(),
                hostname: "hostile".into(),
                home: "/home/mallory".into(),
                codex_home: "/home/mallory/.codex".into(),
            },
            generated_at: "2026-01-01T00:00:00Z".into(),
            sequence: NEXT_SEQUENCE.fetch_add(1, Ordering::SeqCst),
        },
        spec,
    }
}

static NEXT_SEQUENCE: AtomicU64 = AtomicU64::new(1);

pub fn yaml(doc: &DesiredState) -> Vec<u8> {
    serde_yaml::to_string(doc).unwrap().into_bytes()
}

/// Sentinel files around a follower's roots: beside HOME, beside CODEX_HOME (where `../x`
/// would land) and in a sibling directory. [`Sentinel::snapshot`] hashes everything under the
/// machine's temp root except CODEXPORT_HOME.
pub struct Sentinel {
    root: PathBuf,
    codexport_home: PathBuf,
}

impl Sentinel {
    pub fn around(m: &Machine) -> Self {
        let root = m.home.parent().unwrap().to_path_buf();
        for (rel, body) in [
            ("x", "sentinel: ../../x"),
            ("home/x", "sentinel: ../x from CODEX_HOME"),
            ("home/.bashrc", "sentinel: shell rc"),
            ("home/.codex/AGENTS.md", "the follower's own instructions"),
            ("elsewhere/etc/passwd", "sentinel: absolute target stand-in"),
            ("elsewhere/deep/a/b/c.txt", "sentinel: deep"),
        ] {
            let p = root.join(rel);
            fs_err::create_dir_all(p.parent().unwrap()).unwrap();
            fs_err::write(p, body).unwrap();
        }
        Sentinel {
            root,
            codexport_home: m.codexport_home.clone(),
        }
    }

    /// Relative path -> (kind, sha256, mode) of everything under the root but CODEXPORT_HOME.
    pub fn snapshot(&self) -> BTreeMap<String, (char, String, u32)> {
        use std::os::unix::fs::PermissionsExt;
        let mut out = BTreeMap::new();
        let walker = walkdir::WalkDir::new(&self.root).min_depth(1).follow_links(false);
        for e in walker.into_iter().filter_entry(|e| e.path() != self.codexport_home) {
            let e = e.unwrap();
            let rel = e.path().strip_prefix(&self.root).unwrap().display().to_string();
            let meta = e.path().symlink_metadata().unwrap();
            let mode = meta.permissions().mode() & 0o7777;
            let (kind, hash) = if meta.is_file() {
                ('f', codexport::fs::sha256_hex(&fs_err::read(e.path()).unwrap()))
            } else if meta.is_dir() {
                ('d', String::new())
            } else {
                ('l', fs_err::read_link(e.path()).unwrap().display().to_string())
            };
            out.insert(rel, (kind, hash, mode));
        }
        out
    }
}

/// Everything under `dir` (relative paths), for diagnostics.
pub fn listing(dir: &Path) -> Vec<String> {
    if !dir.exists() {
        return Vec::new();
    }
    walkdir::WalkDir::new(dir)
        .min_depth(1)
        .into_iter()
        .map(|e| e.unwrap().path().strip_prefix(dir).unwrap().display().to_string())
        .collect()
}
