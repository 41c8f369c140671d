//! Codex specifics: which `~/.codex` paths are configuration, secrets or runtime state; the
//! config.toml and hooks.json readers; master-path portability; hook trust re-keyed for a
//! follower.

pub mod config;
pub mod hooks;
pub mod keys;
pub mod layout;
pub mod portable;
pub mod trust;
