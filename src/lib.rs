//! codexport: keep many machines on one Codex CLI setup.
//!
//! A master publishes its `~/.codex` as a signed desired-state document plus content-addressed
//! blobs; followers fetch, verify, render with their own paths, plan and reconcile. See
//! `DESIGN.md` in the shared folder and `docs/` in this repository for the decisions.

pub mod blobstore;
pub mod cli;
pub mod codex;
pub mod example;
pub mod exit;
pub mod follower;
pub mod fs;
pub mod master;
pub mod mcp;
pub mod model;
pub mod paths;
pub mod reconcile;
