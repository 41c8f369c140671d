//! Errors of the follower side, each mapped to its exit code (DESIGN.md "Exit codes").

use std::path::PathBuf;

use crate::exit::{Exit, ExitStatus};

/// Why a join or sync failed. None of these leaves anything applied.
#[derive(Debug, thiserror::Error)]
pub enum FollowerError {
    /// No enrollment.toml: this machine has not joined a master.
    #[error("this machine has not joined a master ({} is missing)", .0.display())]
    NotEnrolled(PathBuf),
    /// enrollment.toml exists but is not valid.
    #[error("{}: {reason}", path.display())]
    BadEnrollment {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// The join link or the master URL is malformed.
    #[error("invalid join link: {0}")]
    BadLink(String),
    /// The master could not be reached.
    #[error("master unreachable at {url}: {reason}")]
    Unreachable {
        /// The URL tried.
        url: String,
        /// The transport error.
        reason: String,
    },
    /// The master presents a key other than the pinned one.
    #[error("master fingerprint mismatch: pinned {expected}, master at {url} presents {actual}")]
    FingerprintMismatch {
        /// Master URL.
        url: String,
        /// The pinned fingerprint (from the link or enrollment).
        expected: String,
        /// What the master presented.
        actual: String,
    },
    /// The connection broke or stalled in the middle of a response (truncated stream, read
    /// timeout). Nothing was applied; trying again usually works.
    #[error("the transfer from {url} broke off: {reason}")]
    Interrupted {
        /// Master URL.
        url: String,
        /// What happened.
        reason: String,
    },
    /// The master could not send a blob of the revision this sync fetched: it published a new
    /// revision meanwhile, or a published file changed on the master and its new revision is
    /// not out yet (it answers 409 for both, with the reason in the body).
    #[error("the master at {url} moved on during the sync: {reason}")]
    RevisionChanged {
        /// Master URL.
        url: String,
        /// The master's reason (the 409 body, at most 1 KiB, control characters removed).
        reason: String,
    },
    /// The master refused the token (it answers 404 for a wrong, missing or revoked token).
    #[error("the master at {url} refused this follower's token")]
    TokenRefused {
        /// Master URL.
        url: String,
    },
    /// The document's signature does not verify against the pinned key, or it is malformed.
    #[error("desired state from {url} refused: {reason}")]
    Untrusted {
        /// Master URL.
        url: String,
        /// Why.
        reason: String,
    },
    /// A correctly signed document older than the newest this follower accepted from the same
    /// key (or with the same publication number and other content): a recorded document being
    /// replayed (TUF "rollback attack"). Nothing was staged.
    #[error("desired state from {url} refused: {}", replayed(*offered, offered_at, *accepted, accepted_at))]
    Replayed {
        /// Master URL.
        url: String,
        /// `metadata.sequence` of the document offered.
        offered: u64,
        /// Its `metadata.generatedAt`.
        offered_at: String,
        /// The newest sequence accepted before.
        accepted: u64,
        /// Its `metadata.generatedAt`.
        accepted_at: String,
    },
    /// A state file of codexport's own is there but unreadable.
    #[error("{}: {reason}", path.display())]
    BadState {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// The master answered with an unexpected HTTP status or body.
    #[error("unexpected answer from {url}: {reason}")]
    Protocol {
        /// The URL.
        url: String,
        /// What was wrong.
        reason: String,
    },
    /// Another codexport holds the lock past the wait.
    #[error("{0}")]
    Locked(String),
    /// Nothing staged yet.
    #[error("no desired state is staged yet")]
    NothingStaged,
    /// Fetching this revision would take the store over its cap.
    #[error("the store would grow to {would_be} bytes, over its cap of {cap} bytes ({})", store.display())]
    StoreFull {
        /// `$CODEXPORT_HOME/store`.
        store: std::path::PathBuf,
        /// Store size after the fetch, in bytes.
        would_be: u64,
        /// The cap, in bytes.
        cap: u64,
    },
    /// Local I/O.
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

fn replayed(offered: u64, offered_at: &str, accepted: u64, accepted_at: &str) -> String {
    if offered == accepted {
        format!(
            "it is publication {offered} (signed {offered_at}) with other content than the publication {accepted} this follower already accepted; a master signs one document per number"
        )
    } else {
        format!(
            "it is publication {offered} (signed {offered_at}), but this follower already accepted publication {accepted} (signed {accepted_at}); an old signed document is being replayed"
        )
    }
}

impl ExitStatus for FollowerError {
    fn exit(&self) -> Exit {
        match self {
            FollowerError::NotEnrolled(_)
            | FollowerError::BadEnrollment { .. }
            | FollowerError::BadLink(_)
            | FollowerError::NothingStaged
            | FollowerError::StoreFull { .. } => Exit::Usage,
            FollowerError::Locked(_) => Exit::Drift,
            FollowerError::Unreachable { .. } | FollowerError::Interrupted { .. } => Exit::Unreachable,
            FollowerError::FingerprintMismatch { .. }
            | FollowerError::TokenRefused { .. }
            | FollowerError::Untrusted { .. }
            | FollowerError::Replayed { .. } => Exit::Trust,
            FollowerError::Protocol { .. }
            | FollowerError::RevisionChanged { .. }
            | FollowerError::BadState { .. }
            | FollowerError::Io(_) => Exit::Error,
        }
    }

    fn hint(&self) -> Option<String> {
        Some(match self {
            FollowerError::NotEnrolled(_) => "run `codexport follower join <link>` with a link from `codexport master link` on the master".into(),
            FollowerError::BadLink(_) => "links look like codexport://join?host=H&port=P&fingerprint=F&token=T".into(),
            FollowerError::Unreachable { .. } => "is `codexport master serve` running there, and is the address reachable (tailscale status)?".into(),
            FollowerError::FingerprintMismatch { .. } => {
                "nothing was applied. If the master's identity was rotated on purpose, re-join with a new link from `codexport master link`".into()
            }
            FollowerError::TokenRefused { .. } => "the token is wrong or was revoked: re-join with a new link from `codexport master link`".into(),
            FollowerError::NothingStaged => "run `codexport sync` first".into(),
            FollowerError::Replayed { .. } => "nothing was written. Something between this machine and the master answers with an old document: check the master's address (tailscale status). If the master really went back (its state restored from a backup and its clock behind), publish there again (`codexport master rebuild`): each publish gets a higher number".into(),
            FollowerError::BadState { path, .. } => format!(
                "codexport wrote this file; if it was damaged, remove {} and run again (the next document is then accepted as the newest)",
                path.display()
            ),
            FollowerError::StoreFull { .. } => format!(
                "a master tree this big is unusual; if it is intended, raise the cap with {}=<bytes> (blobs no generation needs are removed after each apply)",
                super::store::STORE_MAX_ENV
            ),
            FollowerError::Locked(_) => "wait for the other run to finish, then try again".into(),
            FollowerError::Interrupted { .. } => {
                "nothing was applied; run the command again (is the master restarting or the network flaky?)".into()
            }
            FollowerError::RevisionChanged { .. } => {
                "nothing was applied; run the command again once the master has published (a master without its watcher publishes at `codexport master rebuild`)".into()
            }
            _ => return None,
        })
    }
}
