//! Load test (issue 7): the real master (`codexport master serve`, a child process on
//! 127.0.0.1) with `examples/master-basic` published; N concurrent followers doing full syncs
//! (a `follower join` into a fresh store each time, through the library's client) and M
//! `/v1/meta` polls per second, for a bounded time. Every synced blob is hashed again.
//!
//! Run by hand, not in CI: `cargo bench --bench load` (see benches/README.md). Knobs, each
//! capped: `LOAD_SECS` (30, at most 300), `LOAD_FOLLOWERS` (200, at most 1000), `LOAD_META_RPS`
//! (1000, at most 5000). Exits 1 on any error or corrupt sync.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use codexport::blobstore::BlobStore;
use codexport::follower::client::MasterClient;
use codexport::follower::enrollment::JoinLink;
use codexport::follower::sync::{join, missing_blobs};
use codexport::paths::Roots;

/// Hard cap on full syncs per follower, whatever the duration (a bound besides time).
const MAX_SYNCS_PER_FOLLOWER: u64 = 10_000;
/// Threads sharing the meta polls.
const META_THREADS: u64 = 8;

fn knob(name: &str, default: u64, max: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
        .clamp(1, max)
}

struct Master {
    child: Child,
    url: String,
}

impl Drop for Master {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Master {
    /// CPU time the master has used (user + system), from `/proc/<pid>/stat`.
    fn cpu_secs(&self) -> f64 {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.child.id())).unwrap_or_default();
        // Fields after the `(comm)`: state is field 3, utime 14 and stime 15.
        let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
        let f: Vec<f64> = rest.split_whitespace().map(|v| v.parse().unwrap_or(0.0)).collect();
        let ticks = f.get(11).copied().unwrap_or(0.0) + f.get(12).copied().unwrap_or(0.0);
        ticks / 100.0
    }

    /// `/proc/<pid>/status` field in kB (VmHWM = peak RSS, VmRSS = now).
    fn status_kb(&self, field: &str) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap_or_default();
        status
            .lines()
            .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0)
    }
}

fn codexport(home: &Path, args: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_codexport"));
    c.args(args)
        .env("HOME", home)
        .env("CODEX_HOME", home.join(".codex"))
        .env("CODEXPORT_HOME", home.join(".codexport"))
        .stdin(Stdio::null());
    c
}

fn run_ok(home: &Path, args: &[&str]) -> String {
    let out = codexport(home, args).output().expect("run codexport");
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn start_master(home: &Path) -> Master {
    use std::io::BufRead;
    codexport::example::write_master_basic(&home.join(".codex"), home).expect("write the example");
    run_ok(home, &["master", "init"]);
    let mut child = codexport(home, &["master", "serve", "--bind", "127.0.0.1", "--port", "0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn master serve");
    let mut line = String::new();
    let stdout = child.stdout.take().expect("piped");
    std::io::BufReader::new(stdout)
        .read_line(&mut line)
        .expect("serving line");
    let url = line
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .unwrap_or_else(|| panic!("serve printed {line:?}"))
        .to_string();
    Master { child, url }
}

fn link(home: &Path, port: &str, name: &str) -> JoinLink {
    let out = run_ok(
        home,
        &[
            "master",
            "link",
            "--host",
            "127.0.0.1",
            "--port",
            port,
            "--name",
            name,
            "--output",
            "json",
        ],
    );
    let v: serde_json::Value = serde_json::from_str(&out).expect("link JSON");
    JoinLink::parse(v["joinLink"].as_str().expect("joinLink")).expect("link parses")
}

#[derive(Default)]
struct Tally {
    sync_ms: Mutex<Vec<f64>>,
    meta_ms: Mutex<Vec<f64>>,
    errors: Mutex<Vec<String>>,
    corrupt: AtomicU64,
    blobs_checked: AtomicU64,
    bytes: AtomicU64,
}

impl Tally {
    fn error(&self, e: String) {
        if let Ok(mut v) = self.errors.lock() {
            v.push(e);
        }
    }
}

/// One full sync into a fresh CODEXPORT_HOME, then every blob of the document re-hashed.
fn full_sync(dir: &Path, link: &JoinLink, name: &str, revision: &str, tally: &Tally) -> Result<(), String> {
    let roots = Roots {
        home: dir.to_path_buf(),
        codex_home: dir.join(".codex"),
        codexport_home: dir.join(".codexport"),
    };
    let (_, outcome) = join(&roots, link, name, &codexport::progress::NoProgress).map_err(|e| e.to_string())?;
    if outcome.revision != revision {
        return Err(format!("synced {} instead of {revision}", outcome.revision));
    }
    let staged = std::fs::read(roots.codexport_home.join("store/state.yaml")).map_err(|e| e.to_string())?;
    let doc = codexport::follower::validate::validate_document(&staged).map_err(|e| e.to_string())?;
    let blobs = BlobStore::new(roots.codexport_home.join("store/blobs"));
    let empty = BlobStore::new(dir.join("no-such-store"));
    for (hash, size) in missing_blobs(&doc, &empty, &[]) {
        let bytes = std::fs::read(blobs.path_of(&hash)).map_err(|e| format!("blob {hash}: {e}"))?;
        tally.blobs_checked.fetch_add(1, Ordering::Relaxed);
        tally.bytes.fetch_add(bytes.len() as u64, Ordering::Relaxed);
        if bytes.len() as u64 != size || codexport::fs::sha256_hex(&bytes) != hash {
            tally.corrupt.fetch_add(1, Ordering::Relaxed);
        }
    }
    std::fs::remove_dir_all(&roots.codexport_home).map_err(|e| e.to_string())
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn summary(what: &str, samples: &Mutex<Vec<f64>>, secs: f64) -> String {
    let mut v = samples.lock().map(|v| v.clone()).unwrap_or_default();
    v.sort_by(f64::total_cmp);
    format!(
        "{what}: {} in {secs:.1} s ({:.0}/s), p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        v.len(),
        v.len() as f64 / secs,
        percentile(&v, 0.5),
        percentile(&v, 0.99),
        v.last().copied().unwrap_or(f64::NAN)
    )
}

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        println!("load: run with `cargo bench --bench load` (skipped under cargo test)");
        return;
    }
    let secs = knob("LOAD_SECS", 30, 300);
    let followers = knob("LOAD_FOLLOWERS", 200, 1000);
    let rps = knob("LOAD_META_RPS", 1000, 5000);
    let tmp = tempfile::Builder::new()
        .prefix("codexport-load-")
        .tempdir()
        .expect("temp dir");
    let master_home = tmp.path().join("master");
    std::fs::create_dir_all(&master_home).expect("master home");
    let master = start_master(&master_home);
    let port = master.url.rsplit(':').next().expect("port").to_string();
    let meta = MasterClient::new(&master.url, None)
        .and_then(|c| c.meta(None))
        .expect("meta")
        .expect("200");
    let revision = meta.revision.clone();
    println!("master {} pid {} revision {revision}", master.url, master.child.id());
    println!("minting {followers} follower tokens...");
    let links: Vec<JoinLink> = (0..followers)
        .map(|i| link(&master_home, &port, &format!("load-{i}")))
        .collect();
    let rss_idle = master.status_kb("VmRSS");
    let cpu_before = master.cpu_secs();
    println!("load: {followers} followers doing full syncs + {rps} meta polls/s for {secs} s");

    let tally = Arc::new(Tally::default());
    let stop = Arc::new(AtomicBool::new(false));
    let start = Instant::now();
    let deadline = start + Duration::from_secs(secs);
    let mut handles = Vec::new();
    for (i, link) in links.into_iter().enumerate() {
        let (tally, stop, revision) = (tally.clone(), stop.clone(), revision.clone());
        let dir: PathBuf = tmp.path().join(format!("f{i}"));
        handles.push(std::thread::spawn(move || {
            let name = format!("load-{i}");
            for _ in 0..MAX_SYNCS_PER_FOLLOWER {
                if stop.load(Ordering::Relaxed) || Instant::now() >= deadline {
                    break;
                }
                let t = Instant::now();
                match full_sync(&dir, &link, &name, &revision, &tally) {
                    Ok(()) => {
                        if let Ok(mut v) = tally.sync_ms.lock() {
                            v.push(t.elapsed().as_secs_f64() * 1e3);
                        }
                    }
                    Err(e) => tally.error(format!("sync {name}: {e}")),
                }
            }
        }));
    }
    let interval = Duration::from_secs_f64(META_THREADS as f64 / rps as f64);
    for k in 0..META_THREADS {
        let (tally, url, revision) = (tally.clone(), master.url.clone(), revision.clone());
        handles.push(std::thread::spawn(move || {
            let Ok(client) = MasterClient::new(&url, None) else {
                tally.error("meta client".into());
                return;
            };
            // Paced, staggered; every second poll asks If-None-Match like a polling follower.
            let mut next = start + interval.mul_f64(k as f64 / META_THREADS as f64);
            for n in 0u64.. {
                if next >= deadline {
                    break;
                }
                if let Some(wait) = next.checked_duration_since(Instant::now()) {
                    std::thread::sleep(wait);
                }
                next += interval;
                let t = Instant::now();
                let etag = (n % 2 == 1).then_some(revision.as_str());
                match client.meta(etag) {
                    Ok(Some(m)) if m.revision == revision => {}
                    Ok(None) if etag.is_some() => {}
                    other => {
                        tally.error(format!("meta: {:?}", other.map(|m| m.map(|m| m.revision))));
                        continue;
                    }
                }
                if let Ok(mut v) = tally.meta_ms.lock() {
                    v.push(t.elapsed().as_secs_f64() * 1e3);
                }
            }
        }));
    }
    let mut rss_peak_sampled = 0;
    while Instant::now() < deadline + Duration::from_secs(120) && handles.iter().any(|h| !h.is_finished()) {
        rss_peak_sampled = rss_peak_sampled.max(master.status_kb("VmRSS"));
        std::thread::sleep(Duration::from_millis(100));
    }
    stop.store(true, Ordering::Relaxed);
    for h in handles {
        let _ = h.join();
    }
    let elapsed = start.elapsed().as_secs_f64();
    let hwm = master.status_kb("VmHWM");
    let cpu = master.cpu_secs() - cpu_before;
    let errors = tally.errors.lock().map(|v| v.clone()).unwrap_or_default();
    let corrupt = tally.corrupt.load(Ordering::Relaxed);
    println!("{}", summary("full syncs", &tally.sync_ms, elapsed));
    println!("{}", summary("meta polls", &tally.meta_ms, elapsed));
    println!(
        "blobs re-hashed: {} ({} bytes), corrupt syncs: {corrupt}, errors: {}",
        tally.blobs_checked.load(Ordering::Relaxed),
        tally.bytes.load(Ordering::Relaxed),
        errors.len()
    );
    println!(
        "master RSS: idle {} MiB, peak sampled {} MiB, VmHWM {} MiB; master CPU {cpu:.1} s in {elapsed:.1} s",
        rss_idle / 1024,
        rss_peak_sampled / 1024,
        hwm / 1024
    );
    for e in errors.iter().take(10) {
        println!("  error: {e}");
    }
    drop(master);
    if !errors.is_empty() || corrupt > 0 {
        std::process::exit(1);
    }
}
