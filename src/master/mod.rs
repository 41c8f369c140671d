//! The master side: settings, scan, publish, identity, follower tokens and the HTTP server.

pub mod identity;
pub mod init;
pub mod publish;
pub mod scan;
pub mod serve;
pub mod settings;
pub mod tokens;
