//! Progress bars on stderr (indicatif) for the library's [`Progress`] reports: a byte bar for
//! blob downloads, a spinner for MCP installs.
//!
//! Bars are drawn only on a terminal (`ProgressDrawTarget::stderr()` is hidden when stderr is
//! not one), never with `-q`, in the hook or in `mcp run` ([`super::logging::no_bars`]).

use std::sync::Mutex;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::progress::{Progress, SharedProgress};

/// The bar on screen, if any: log lines are written around it ([`suspend`]).
static CURRENT: Mutex<Option<ProgressBar>> = Mutex::new(None);

fn current() -> std::sync::MutexGuard<'static, Option<ProgressBar>> {
    CURRENT.lock().unwrap_or_else(|e| e.into_inner())
}

/// Run `f` (a write to stderr) with the bar cleared, then redraw it.
pub(super) fn suspend(f: impl FnOnce()) {
    let bar = current().clone();
    match bar {
        Some(bar) => bar.suspend(f),
        None => f(),
    }
}

/// Progress on this terminal's stderr.
pub(super) fn terminal() -> SharedProgress {
    SharedProgress::new(Terminal)
}

struct Terminal;

impl Terminal {
    fn show(&self, bar: ProgressBar) {
        if let Some(old) = current().replace(bar) {
            old.finish_and_clear();
        }
    }

    fn target() -> ProgressDrawTarget {
        if super::logging::no_bars() {
            ProgressDrawTarget::hidden()
        } else {
            ProgressDrawTarget::stderr()
        }
    }
}

impl Progress for Terminal {
    fn start(&self, total_bytes: u64) {
        let bar = ProgressBar::with_draw_target(Some(total_bytes), Self::target());
        if let Ok(style) = ProgressStyle::with_template("{msg} [{wide_bar}] {bytes}/{total_bytes} ({bytes_per_sec})") {
            bar.set_style(style.progress_chars("=> "));
        }
        bar.set_message("downloading");
        bar.tick();
        self.show(bar);
    }

    fn advance(&self, n: u64) {
        if let Some(bar) = current().as_ref() {
            bar.inc(n);
        }
    }

    fn working(&self, label: &str) {
        let bar = ProgressBar::with_draw_target(None, Self::target());
        if let Ok(style) = ProgressStyle::with_template("{spinner} {msg} ({elapsed})") {
            bar.set_style(style);
        }
        bar.set_message(label.to_string());
        bar.enable_steady_tick(Duration::from_millis(100));
        self.show(bar);
    }

    fn finish(&self) {
        if let Some(bar) = current().take() {
            bar.finish_and_clear();
        }
    }
}
