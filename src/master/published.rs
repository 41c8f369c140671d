//! The published document as a publish finds and leaves it: its revision read cheaply from
//! `state.yaml`, the signature check that decides whether to sign again, and what a publish
//! keeps in memory about what it wrote ([`PublishedMark`], [`Written`]).

use std::path::Path;

use bytes::Bytes;

use crate::model::DesiredState;

use super::identity::Identity;
use super::scan::FileStamp;

/// Document file name inside the master directory.
pub const STATE_FILE: &str = "state.yaml";
/// Signature file name (hex Ed25519 over the exact bytes of state.yaml).
pub const SIGNATURE_FILE: &str = "state.yaml.sig";

/// A document a publish has just written, handed to a server in the same process so it serves
/// it without reading, parsing and verifying it again (`master serve`'s watcher).
#[derive(Debug)]
pub struct Written {
    /// The document.
    pub document: DesiredState,
    /// Its exact bytes, as in `state.yaml`.
    pub bytes: Bytes,
    /// Hex Ed25519 signature of `bytes`, as in `state.yaml.sig` (without the newline).
    pub signature: String,
    /// `state.yaml.sig` as written (stamp and size), taken under the publish lock: a server
    /// that finds another one there later reads the newer pair from disk.
    pub signature_stamp: (FileStamp, u64),
}

/// What a publish remembers of the pair it wrote or verified: the next publish in the same
/// process trusts the revision without reading and verifying `state.yaml` again while both
/// files keep these stamps (an atomic rewrite changes the inode) and the key is the same.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct PublishedMark {
    revision: String,
    public_key: String,
    state: (FileStamp, u64),
    signature: (FileStamp, u64),
}

impl PublishedMark {
    /// The mark of the pair in `dir` now, published as `revision` and signed by `identity`.
    pub(super) fn take(dir: &Path, identity: &Identity, revision: &str) -> Option<Self> {
        Some(PublishedMark {
            revision: revision.to_string(),
            public_key: identity.public_key_hex(),
            state: FileStamp::of_path(&dir.join(STATE_FILE)).ok()?,
            signature: FileStamp::of_path(&dir.join(SIGNATURE_FILE)).ok()?,
        })
    }

    /// The revision, when the pair in `dir` is still the one marked and `identity` signed it.
    pub(super) fn revision_if_current(&self, dir: &Path, identity: &Identity) -> Option<&str> {
        let same = self.public_key == identity.public_key_hex()
            && FileStamp::of_path(&dir.join(STATE_FILE)).ok() == Some(self.state)
            && FileStamp::of_path(&dir.join(SIGNATURE_FILE)).ok() == Some(self.signature);
        same.then_some(self.revision.as_str())
    }
}

/// The revision in `dir/state.yaml`, if one was published and still parses.
pub fn current_revision(dir: &Path) -> Option<String> {
    let bytes = fs_err::read(dir.join(STATE_FILE)).ok()?;
    revision_of(&bytes)
}

/// The revision of published document bytes without parsing `spec` (thousands of entries):
/// only the part before the top-level `spec:` key, which publish writes last. Falls back to a
/// full parse when the bytes are not laid out that way.
fn revision_of(bytes: &[u8]) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct Head {
        metadata: HeadMetadata,
    }
    #[derive(serde::Deserialize)]
    struct HeadMetadata {
        revision: String,
    }
    let head = bytes
        .windows(7)
        .position(|w| w == b"\nspec:\n" || w == b"\nspec: ")
        .map(|end| &bytes[..end + 1]);
    if let Some(head) = head
        && let Ok(h) = serde_yaml::from_slice::<Head>(head)
    {
        return Some(h.metadata.revision);
    }
    let doc: DesiredState = serde_yaml::from_slice(bytes).ok()?;
    Some(doc.metadata.revision)
}

/// The published revision, only when `state.yaml.sig` verifies with this identity: a lost or
/// broken signature (say, a crash between the two writes) makes the next publish sign again.
pub(super) fn signed_revision(dir: &Path, identity: &Identity) -> Option<String> {
    let bytes = fs_err::read(dir.join(STATE_FILE)).ok()?;
    let signature = fs_err::read_to_string(dir.join(SIGNATURE_FILE)).ok()?;
    super::identity::verify(&identity.public_key_hex(), &bytes, signature.trim()).ok()?;
    revision_of(&bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn revision_of_reads_the_head_and_falls_back_to_a_full_parse() {
        let text = include_str!("../../examples/desired-state/master-basic.yaml");
        let doc: DesiredState = serde_yaml::from_str(text).unwrap();
        assert_eq!(revision_of(text.as_bytes()), Some(doc.metadata.revision.clone()));
        // spec first: no head before it, so the whole document is parsed.
        let mut reordered = serde_yaml::Mapping::new();
        let value: serde_yaml::Mapping = serde_yaml::from_str(text).unwrap();
        for key in ["spec", "apiVersion", "kind", "metadata"] {
            reordered.insert(key.into(), value[key].clone());
        }
        let bytes = serde_yaml::to_string(&reordered).unwrap();
        assert!(bytes.starts_with("spec:"));
        assert_eq!(revision_of(bytes.as_bytes()), Some(doc.metadata.revision));
        assert_eq!(revision_of(b"not: [yaml"), None);
    }
}
