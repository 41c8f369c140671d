//! Line deltas of the state document, so a follower that holds the previous document does not
//! download the whole of the next one (issue 8: a one-file change must cost the changed bytes
//! plus at most 64 KiB on the wire; a full document is about 170 bytes per file).
//!
//! The follower sends `X-Codexport-Delta-Base: <hex sha256 of the document bytes it holds>` with
//! `GET /v1/state`. A master that still has those bytes (its document history) may answer with a
//! [`StateDelta`] (content type [`DELTA_CONTENT_TYPE`], the base echoed in the same header) in
//! place of the document. The signature header is unchanged: it signs the *full* target bytes,
//! so the follower rebuilds them with [`apply`] and verifies exactly as for a full answer. A
//! wrong or hostile delta can at worst produce bytes whose hash or signature does not match.
//!
//! Shape (JSON): `{"base": hex, "target": hex, "size": bytes, "ops": [{"copy": {"offset": n,
//! "len": n}} | {"insert": "text"}]}`. Copies are byte ranges of the base; the ops are computed
//! from a line diff (`similar`, Myers) and adjacent ops are merged.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Request and response header naming the base document (hex sha256 of its exact bytes).
pub const DELTA_BASE_HEADER: &str = "x-codexport-delta-base";
/// Content type of a `/v1/state` answer that is a [`StateDelta`].
pub const DELTA_CONTENT_TYPE: &str = "application/vnd.codexport.state-delta+json";
/// Upper bound on the line diff's work; past it the diff is coarser (never wrong).
const DIFF_TIMEOUT: Duration = Duration::from_millis(250);

/// A document expressed as edits of a base document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StateDelta {
    /// Hex sha256 of the base bytes.
    pub base: String,
    /// Hex sha256 of the rebuilt bytes.
    pub target: String,
    /// Length of the rebuilt bytes.
    pub size: u64,
    /// Edits, in order; they produce the target from the start.
    pub ops: Vec<DeltaOp>,
}

/// One edit of a [`StateDelta`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub enum DeltaOp {
    /// Bytes `offset..offset + len` of the base.
    Copy {
        /// Start in the base, in bytes.
        offset: u64,
        /// Length in bytes.
        len: u64,
    },
    /// New text.
    Insert(String),
}

/// Why a delta cannot be applied.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DeltaError {
    /// The delta is for other base bytes than the ones held.
    #[error("the delta is against base {expected}, this follower holds {actual}")]
    WrongBase {
        /// The delta's base.
        expected: String,
        /// The held bytes' hash.
        actual: String,
    },
    /// The rebuilt document would be over the cap.
    #[error("the rebuilt document would be {size} bytes, over the {cap}-byte cap")]
    TooLarge {
        /// Declared or reached size.
        size: u64,
        /// The cap.
        cap: u64,
    },
    /// A copy outside the base.
    #[error("op {index} copies bytes {offset}..{end} of a {base_len}-byte base")]
    OutOfRange {
        /// Op index.
        index: usize,
        /// Copy start.
        offset: u64,
        /// Copy end (saturated).
        end: u64,
        /// Base length.
        base_len: u64,
    },
    /// The rebuilt bytes differ from the declared target.
    #[error("the rebuilt document ({size} bytes, sha256 {actual}) is not the declared target {expected}")]
    WrongTarget {
        /// Declared target hash.
        expected: String,
        /// Rebuilt hash.
        actual: String,
        /// Rebuilt length.
        size: u64,
    },
}

/// Hex sha256 of `bytes` (the names used by [`StateDelta::base`] and [`StateDelta::target`]).
pub fn digest(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// The delta turning `base` into `target`; `None` when either is not UTF-8 (the documents are
/// YAML, so this only happens for foreign bytes).
pub fn encode(base: &[u8], target: &[u8]) -> Option<StateDelta> {
    let (old, new) = (std::str::from_utf8(base).ok()?, std::str::from_utf8(target).ok()?);
    let diff = similar::TextDiff::configure()
        .timeout(DIFF_TIMEOUT)
        .diff_lines(old, new);
    let mut old_offsets = Vec::with_capacity(diff.old_len() + 1);
    let mut at = 0u64;
    old_offsets.push(0);
    for line in diff.iter_old_slices() {
        at += line.len() as u64;
        old_offsets.push(at);
    }
    let new_lines: Vec<&str> = diff.iter_new_slices().collect();
    let mut ops: Vec<DeltaOp> = Vec::new();
    for op in diff.ops() {
        let (tag, old_range, new_range) = op.as_tag_tuple();
        match tag {
            similar::DiffTag::Equal => {
                let (offset, end) = (old_offsets[old_range.start], old_offsets[old_range.end]);
                push_copy(&mut ops, offset, end - offset);
            }
            similar::DiffTag::Delete => {}
            similar::DiffTag::Insert | similar::DiffTag::Replace => {
                push_insert(&mut ops, &new_lines[new_range].concat());
            }
        }
    }
    Some(StateDelta {
        base: digest(base),
        target: digest(target),
        size: target.len() as u64,
        ops,
    })
}

fn push_copy(ops: &mut Vec<DeltaOp>, offset: u64, len: u64) {
    if len == 0 {
        return;
    }
    if let Some(DeltaOp::Copy { offset: o, len: l }) = ops.last_mut()
        && *o + *l == offset
    {
        *l += len;
        return;
    }
    ops.push(DeltaOp::Copy { offset, len });
}

fn push_insert(ops: &mut Vec<DeltaOp>, text: &str) {
    if text.is_empty() {
        return;
    }
    if let Some(DeltaOp::Insert(t)) = ops.last_mut() {
        t.push_str(text);
        return;
    }
    ops.push(DeltaOp::Insert(text.to_string()));
}

/// Rebuild the target of `delta` from `base`, never growing past `cap` bytes.
///
/// Errors: [`DeltaError::WrongBase`], [`DeltaError::TooLarge`] (declared or reached),
/// [`DeltaError::OutOfRange`], [`DeltaError::WrongTarget`] (hash or length).
pub fn apply(base: &[u8], delta: &StateDelta, cap: u64) -> Result<Vec<u8>, DeltaError> {
    let held = digest(base);
    if held != delta.base {
        return Err(DeltaError::WrongBase {
            expected: delta.base.clone(),
            actual: held,
        });
    }
    if delta.size > cap {
        return Err(DeltaError::TooLarge { size: delta.size, cap });
    }
    let mut out: Vec<u8> = Vec::with_capacity(delta.size as usize);
    for (index, op) in delta.ops.iter().enumerate() {
        let piece: &[u8] = match op {
            DeltaOp::Copy { offset, len } => {
                let end = offset.saturating_add(*len);
                if end > base.len() as u64 {
                    return Err(DeltaError::OutOfRange {
                        index,
                        offset: *offset,
                        end,
                        base_len: base.len() as u64,
                    });
                }
                &base[*offset as usize..end as usize]
            }
            DeltaOp::Insert(text) => text.as_bytes(),
        };
        let size = (out.len() + piece.len()) as u64;
        let limit = delta.size.min(cap);
        if size > limit {
            return Err(DeltaError::TooLarge { size, cap: limit });
        }
        out.extend_from_slice(piece);
    }
    let actual = digest(&out);
    if actual != delta.target || out.len() as u64 != delta.size {
        return Err(DeltaError::WrongTarget {
            expected: delta.target.clone(),
            actual,
            size: out.len() as u64,
        });
    }
    Ok(out)
}

#[cfg(test)]
#[path = "delta_tests.rs"]
mod tests;
