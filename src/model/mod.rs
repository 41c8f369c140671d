//! The desired-state document and its parts (serde + schemars), revision hashing, path rules
//! and the shapes that travel on the wire.

pub mod canonical;
pub mod delta;
pub mod document;
pub mod relpath;
pub mod revision;
pub mod wire;
pub mod yaml;

pub use document::{BlobRef, DesiredState, FileClass, FileEntry, FileMode, MasterInfo, McpServerSpec, Metadata, Spec};
