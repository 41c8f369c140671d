//! Codex specifics: which `~/.codex` paths are configuration, secrets or runtime state; the
//! config.toml and hooks.json readers; master-path portability.

pub mod config;
pub mod hooks;
pub mod keys;
pub mod layout;
pub mod portable;
