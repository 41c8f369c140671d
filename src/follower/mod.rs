//! The follower side: enrollment (join link, pins), the HTTP client, the blob store and
//! staging, and the sync procedure (fetch + verify + stage).

pub mod backoff;
pub mod blob_sink;
pub mod client;
pub mod enrollment;
pub mod error;
pub mod freshness;
pub mod hook;
pub mod local;
pub mod overlay;
pub mod store;
pub mod sync;
pub mod validate;

pub use error::FollowerError;
