//! The master side: settings, scan, publish, identity, follower tokens and the HTTP server.

pub mod bind;
pub mod followers;
pub mod identity;
pub mod init;
pub mod listen;
pub mod publish;
mod routes;
pub mod scan;
pub mod serve;
pub mod settings;
pub mod statcache;
pub mod tokens;
pub mod watch;
mod watch_paths;
