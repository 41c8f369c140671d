//! The master side: settings, scan, publish, identity, follower tokens, the HTTP server and
//! the service that runs it.

pub mod bind;
mod blob_origin;
mod blob_stream;
pub mod followers;
pub mod history;
pub mod identity;
pub mod init;
pub mod listen;
pub mod publish;
mod publish_config;
pub mod published;
pub mod rescan;
mod routes;
pub mod scan;
pub mod sequence;
pub mod serve;
pub mod service;
pub mod settings;
pub mod statcache;
pub mod tokens;
pub mod watch;
mod watch_paths;
