//! Progress of long work (blob downloads, MCP installs), reported by the library through
//! [`Progress`]. The library never draws anything: the command line turns these calls into
//! progress bars on a terminal (`src/cli/progress.rs`); everything else passes [`NoProgress`].

use std::io::Read;
use std::sync::Arc;

/// Receives progress of one piece of long work at a time. Every method has a no-op default.
pub trait Progress: Send + Sync {
    /// A transfer of `total_bytes` begins.
    fn start(&self, total_bytes: u64) {
        let _ = total_bytes;
    }
    /// `n` more bytes of the transfer arrived.
    fn advance(&self, n: u64) {
        let _ = n;
    }
    /// Work of unknown length begins (an MCP artifact install); `label` says what it is.
    fn working(&self, label: &str) {
        let _ = label;
    }
    /// The transfer or work begun last is over (done or failed).
    fn finish(&self) {}
}

/// Reports nothing: hook runs, tests, benches, `mcp run`.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoProgress;

impl Progress for NoProgress {}

/// A [`Progress`] that can live in option structs: cloneable, `Debug`, no-op by default.
#[derive(Clone)]
pub struct SharedProgress(Arc<dyn Progress>);

impl SharedProgress {
    /// Share `progress`.
    pub fn new(progress: impl Progress + 'static) -> Self {
        SharedProgress(Arc::new(progress))
    }
}

impl Default for SharedProgress {
    fn default() -> Self {
        SharedProgress::new(NoProgress)
    }
}

impl std::fmt::Debug for SharedProgress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SharedProgress")
    }
}

impl std::ops::Deref for SharedProgress {
    type Target = dyn Progress;
    fn deref(&self) -> &Self::Target {
        self.0.as_ref()
    }
}

/// A reader that reports every byte it reads to a [`Progress`] (`advance`).
pub struct Counting<'a, R> {
    inner: R,
    progress: &'a dyn Progress,
}

impl<'a, R> Counting<'a, R> {
    /// Wrap `inner`.
    pub fn new(inner: R, progress: &'a dyn Progress) -> Self {
        Counting { inner, progress }
    }
}

impl<R: Read> Read for Counting<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.progress.advance(n as u64);
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU64, Ordering};

    #[derive(Default)]
    struct Total(AtomicU64);
    impl Progress for Total {
        fn advance(&self, n: u64) {
            self.0.fetch_add(n, Ordering::SeqCst);
        }
    }

    #[test]
    fn counting_reports_every_byte_read() {
        let total = Total::default();
        let mut out = Vec::new();
        Counting::new(&b"hello world"[..], &total)
            .read_to_end(&mut out)
            .unwrap();
        assert_eq!(out, b"hello world");
        assert_eq!(total.0.load(Ordering::SeqCst), 11);
        let shared = SharedProgress::default();
        shared.start(3);
        shared.finish();
    }
}
