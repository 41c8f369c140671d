//! codexport: keep many machines on one Codex CLI setup.
//!
//! A master publishes its `~/.codex` as a signed desired-state document plus content-addressed
//! blobs; followers fetch, verify, render with their own paths, plan and reconcile. See
//! `DESIGN.md` in the shared folder and `docs/` in this repository for the decisions.

pub mod blobstore;
pub mod cli;
pub mod codex;
pub mod doctor;
pub mod example;
pub mod exit;
pub mod follower;
pub mod fs;
pub mod logs;
pub mod master;
pub mod mcp;
pub mod model;
pub mod paths;
pub mod progress;
pub mod reconcile;

/// A crash point for the crash tests. With the `failpoints` feature and
/// `FAILPOINTS=<name>=return` (fail crate syntax, e.g. `5*off->return` for the sixth hit) the
/// process aborts right here: no destructors, no cleanup, like a SIGKILL. Without the feature
/// it compiles to nothing.
#[macro_export]
macro_rules! crash_point {
    ($name:expr) => {
        #[cfg(feature = "failpoints")]
        {
            if fail::eval($name, |_| ()).is_some() {
                std::process::abort();
            }
        }
    };
}
