//! Automatic republish for `master serve`: watch what is published, wait for a quiet moment,
//! publish again.
//!
//! Threads: notify's own thread hands every file-system event to a callback that only asks
//! [`Filter`](super::watch_paths::Filter) whether it counts and, if so, bumps a generation
//! counter under a mutex and wakes the publisher. The publisher is one dedicated thread (never
//! the async executor): it waits until the counter moved past the generation it last
//! published, then until nothing changed for [`WatchOptions::debounce`] (or the first unhandled
//! change is [`WatchOptions::max_delay`] old, so a constant stream of writes still publishes),
//! notes the counter, and publishes. A change that arrives during a publish moves the counter
//! past the noted value, so another publish follows: no event is dropped, only coalesced.
//! Before each publish it re-reads master.toml (new include/exclude rules for the filter and
//! the watched directories). A failed publish writes nothing, so the server keeps serving the
//! previous revision; the next change retries.
//!
//! The events also say *where* things changed: the publisher hands those paths to
//! [`publish_warm`], which reads only them ([`super::rescan`]) and keeps the scan, the stat
//! cache and the published pair in memory between rounds. It scans everything at start, after
//! a failed publish, when the settings changed, when the kernel's event queue overflowed or a
//! watch failed (the event then asks for a rescan), and past [`MAX_CHANGED_PATHS`] paths.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, RwLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use notify::Watcher as _;

use crate::paths::Roots;

use super::publish::{Changes, PublishError, PublishReport, WarmState, current_revision, publish_warm};
use super::settings::MasterSettings;
use super::watch_paths::{ChangedPath, Filter, WatchSet, desired};

/// Default quiet period before a republish.
pub const DEFAULT_DEBOUNCE: Duration = Duration::from_millis(300);
/// The longest a change waits for a quiet period, as a multiple of the debounce.
pub const MAX_DELAY_FACTOR: u32 = 10;
/// Past this many changed paths in one round, a full scan (one `lstat` per file, in parallel)
/// costs less than looking at each path on its own.
pub const MAX_CHANGED_PATHS: usize = 256;

/// Timing of the automatic republish.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WatchOptions {
    /// Publish once nothing relevant changed for this long.
    pub debounce: Duration,
    /// Publish anyway once the oldest unpublished change is this old.
    pub max_delay: Duration,
}

impl WatchOptions {
    /// `debounce` as the quiet period, [`MAX_DELAY_FACTOR`] times it as the longest wait.
    pub fn with_debounce(debounce: Duration) -> Self {
        WatchOptions {
            debounce,
            max_delay: debounce.saturating_mul(MAX_DELAY_FACTOR),
        }
    }
}

impl Default for WatchOptions {
    fn default() -> Self {
        WatchOptions::with_debounce(DEFAULT_DEBOUNCE)
    }
}

/// What the watcher reports, for the caller to log (the library prints nothing).
#[derive(Debug)]
pub enum WatchEvent<'a> {
    /// Watching started: how many directories are watched.
    Started {
        /// Directories with a watch (a recursive one counts once).
        directories: usize,
    },
    /// A publish ran; `report.changed` says whether the revision moved.
    Published {
        /// What the publish did.
        report: &'a PublishReport,
        /// How long it took.
        took: Duration,
    },
    /// A publish failed and wrote nothing.
    Failed {
        /// Why (a config.toml that does not parse names file:line:column).
        error: &'a PublishError,
        /// The revision still served, if any.
        serving: Option<&'a str>,
        /// How long the attempt took.
        took: Duration,
    },
    /// The watcher itself had a problem (a path that cannot be watched, the kernel's watch
    /// limit, events lost); it keeps going with what works.
    Problem(String),
}

/// Where [`WatchEvent`]s go; called from the watcher's threads.
pub type WatchLog = Arc<dyn Fn(WatchEvent<'_>) + Send + Sync>;

/// Called after every successful publish, on the publisher thread (the server takes the new
/// document from the report there, off the executor).
pub type OnPublished = Box<dyn Fn(&PublishReport) + Send>;

/// Why watching could not start. The server can still serve without it.
#[derive(Debug, thiserror::Error)]
pub enum WatchError {
    /// The platform's notification service refused (e.g. out of inotify instances).
    #[error("cannot watch for changes: {0}")]
    Notify(#[from] notify::Error),
    /// The publisher thread could not be started.
    #[error("cannot start the publisher thread: {0}")]
    Thread(std::io::Error),
}

/// Changes seen but not yet published, shared by the event callback and the publisher.
#[derive(Debug)]
struct Pending {
    /// Bumped for every relevant event; never reset.
    generation: u64,
    /// When the oldest change not yet covered by a publish arrived.
    first: Option<Instant>,
    /// When the latest change arrived.
    last: Instant,
    /// The paths of the changes not yet handed to a publish; `None` when unknown (scan all).
    changed: Option<BTreeSet<PathBuf>>,
    /// Set for good by a watch error: events may be missing, so every round scans all.
    blind: bool,
    stop: bool,
}

struct Shared {
    pending: Mutex<Pending>,
    wake: Condvar,
}

impl Shared {
    /// Nothing changed yet, nothing stopped.
    fn new() -> Self {
        Shared {
            pending: Mutex::new(Pending {
                generation: 0,
                first: None,
                last: Instant::now(),
                changed: Some(BTreeSet::new()),
                blind: false,
                stop: false,
            }),
            wake: Condvar::new(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Pending> {
        self.pending.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A relevant change at `paths` (`None`: somewhere, unknown).
    fn changed(&self, paths: Option<&[PathBuf]>) {
        let now = Instant::now();
        let mut p = self.lock();
        p.generation = p.generation.wrapping_add(1);
        p.last = now;
        p.first.get_or_insert(now);
        match (paths, &mut p.changed) {
            (Some(paths), Some(set)) => {
                set.extend(paths.iter().cloned());
                if set.len() > MAX_CHANGED_PATHS {
                    p.changed = None;
                }
            }
            _ => p.changed = None,
        }
        self.wake.notify_all();
    }

    /// The watcher reported an error (say, the kernel's watch limit): changes may go unseen
    /// from now on, so publish now and scan everything in every round from here.
    fn lost(&self) {
        self.lock().blind = true;
        self.changed(None);
    }

    fn stop(&self) {
        self.lock().stop = true;
        self.wake.notify_all();
    }

    /// Block until there is something to publish and the quiet period (or the longest wait)
    /// is over; returns the generation that publish covers and the paths changed up to it
    /// (`None`: unknown), or `None` to stop.
    fn next(&self, done: u64, options: WatchOptions) -> Option<(u64, Option<BTreeSet<PathBuf>>)> {
        let mut p = self.lock();
        while p.generation == done && !p.stop {
            p = self.wake.wait(p).unwrap_or_else(|e| e.into_inner());
        }
        while !p.stop {
            let first = p.first.unwrap_or(p.last);
            let due = (p.last + options.debounce).min(first + options.max_delay);
            let now = Instant::now();
            if now >= due {
                break;
            }
            p = self
                .wake
                .wait_timeout(p, due - now)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
        if p.stop {
            return None;
        }
        p.first = None;
        let changed = p.changed.replace(BTreeSet::new()).filter(|_| !p.blind);
        Some((p.generation, changed))
    }
}

/// The publisher's own state.
struct Publisher {
    roots: Roots,
    notify: notify::RecommendedWatcher,
    watches: WatchSet,
    filter: Arc<RwLock<Filter>>,
    log: WatchLog,
    on_published: OnPublished,
    warm: WarmState,
    /// A watch could not be set up once: some directory may have no watch, so every round
    /// scans all (as the first one does).
    blind: bool,
}

impl Publisher {
    /// Re-read master.toml, adjust filter and watches, publish (reading only `changed` when
    /// known), report.
    fn round(&mut self, changed: Option<BTreeSet<PathBuf>>) {
        let settings = MasterSettings::load(&self.roots.master_dir()).ok();
        let filter = Filter::new(&self.roots, settings.as_ref());
        let mut changes = changes(&filter, changed);
        *self.filter.write().unwrap_or_else(|p| p.into_inner()) = filter;
        let wanted = desired(&self.roots, settings.as_ref());
        for problem in self.watches.refresh(&mut self.notify, &wanted) {
            self.blind = true;
            (self.log)(WatchEvent::Problem(problem));
        }
        if self.blind {
            changes = Changes::Everything;
        }
        let started = Instant::now();
        match publish_warm(&self.roots, &mut self.warm, changes) {
            Ok(report) => {
                (self.on_published)(&report);
                (self.log)(WatchEvent::Published {
                    report: &report,
                    took: started.elapsed(),
                });
            }
            Err(error) => {
                let serving = current_revision(&self.roots.master_dir());
                (self.log)(WatchEvent::Failed {
                    error: &error,
                    serving: serving.as_deref(),
                    took: started.elapsed(),
                });
            }
        }
    }
}

/// What a publish must look at: the changed paths relative to CODEX_HOME, or everything when
/// some path is unknown (master.toml's own changes need nothing here: new settings make the
/// publish scan everything anyway).
fn changes(filter: &Filter, changed: Option<BTreeSet<PathBuf>>) -> Changes {
    let Some(changed) = changed else {
        return Changes::Everything;
    };
    let mut paths = Vec::with_capacity(changed.len());
    for path in &changed {
        match filter.changed_path(path) {
            ChangedPath::Settings => {}
            ChangedPath::Rel(rel) => paths.push(rel),
            ChangedPath::Unknown => return Changes::Everything,
        }
    }
    Changes::Paths(paths)
}

/// A running watcher. Dropping it stops it without waiting; [`Watcher::stop`] waits for a
/// publish in progress.
pub struct Watcher {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

impl Watcher {
    /// Watch `roots` (CODEX_HOME as master.toml includes it, and master.toml), publish once now
    /// (on the calling thread: the tree may have changed while nothing was serving), then
    /// republish after changes on a dedicated thread. `on_published` runs after each successful
    /// publish, `log` receives every [`WatchEvent`].
    ///
    /// Errors: [`WatchError`] when no watch can be set up at all; nothing is published then.
    pub fn start(
        roots: Roots,
        options: WatchOptions,
        log: WatchLog,
        on_published: OnPublished,
    ) -> Result<Watcher, WatchError> {
        let shared = Arc::new(Shared::new());
        let settings = MasterSettings::load(&roots.master_dir()).ok();
        let filter = Arc::new(RwLock::new(Filter::new(&roots, settings.as_ref())));
        let handler = {
            let (shared, filter, log) = (shared.clone(), filter.clone(), log.clone());
            move |event: notify::Result<notify::Event>| {
                match &event {
                    Ok(event) if filter.read().unwrap_or_else(|p| p.into_inner()).relevant(event) => {
                        // An overflowed queue or a lost watch asks for a rescan: every path then.
                        let paths = (!event.need_rescan() && !event.paths.is_empty()).then_some(&event.paths[..]);
                        shared.changed(paths);
                    }
                    Ok(_) => {}
                    Err(e) => {
                        log(WatchEvent::Problem(format!(
                            "watch error (publishing to be safe, and scanning everything from now on): {e}"
                        )));
                        shared.lost();
                    }
                }
            }
        };
        let config = notify::Config::default().with_follow_symlinks(false);
        let notify = notify::RecommendedWatcher::new(handler, config)?;
        let mut publisher = Publisher {
            roots,
            notify,
            watches: WatchSet::default(),
            filter,
            log,
            on_published,
            warm: WarmState::default(),
            blind: false,
        };
        // The first round sets the watches up before it scans, so nothing slips between.
        let done = shared.lock().generation;
        publisher.round(None);
        (publisher.log)(WatchEvent::Started {
            directories: publisher.watches.len(),
        });
        let thread = {
            let shared = shared.clone();
            std::thread::Builder::new()
                .name("codexport-watch".into())
                .spawn(move || {
                    let mut done = done;
                    while let Some((target, changed)) = shared.next(done, options) {
                        publisher.round(changed);
                        done = target;
                    }
                })
                .map_err(WatchError::Thread)?
        };
        Ok(Watcher {
            shared,
            thread: Some(thread),
        })
    }

    /// Stop watching and wait for a publish in progress to finish (a publish is never cut
    /// short: its writes are atomic, but a finished one is worth keeping).
    pub fn stop(mut self) {
        self.shared.stop();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for Watcher {
    fn drop(&mut self) {
        self.shared.stop();
    }
}

#[cfg(test)]
#[path = "watch_tests.rs"]
mod tests;
