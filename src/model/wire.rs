//! Wire protocol v1 shapes (DESIGN.md "Wire protocol v1").
//!
//! `POST /v1/blobs` answers with a stream of frames, one per requested blob, in request order:
//! `[32 bytes raw sha256][8 bytes big-endian length][length bytes]`. The follower verifies each
//! hash while streaming, so a whole sync is a handful of round trips.

use std::io::{Read, Write};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Protocol version in `/v1/meta`.
pub const PROTOCOL: u32 = 1;
/// Response header carrying the hex Ed25519 signature of the exact `/v1/state` bytes.
pub const SIGNATURE_HEADER: &str = "x-codexport-signature";
/// Request header naming the follower.
pub const FOLLOWER_HEADER: &str = "x-codexport-follower";
/// Request header carrying the follower's applied revision.
pub const APPLIED_REVISION_HEADER: &str = "x-codexport-applied-revision";
/// Most hashes one `POST /v1/blobs` may ask for.
pub const MAX_BLOBS_PER_REQUEST: usize = 100_000;
/// Largest `POST /v1/blobs` body accepted by the master (bytes).
pub const MAX_BLOB_REQUEST_BYTES: u64 = 8 * 1024 * 1024;
/// Largest single file the master publishes and a follower accepts (64 MiB).
pub const MAX_FILE_BYTES: u64 = 64 * 1024 * 1024;
/// Length of a frame header in bytes.
pub const FRAME_HEADER_LEN: usize = 40;

/// `GET /v1/meta`: tiny and public; reveals no secret.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Meta {
    /// Wire protocol version ([`PROTOCOL`]).
    pub protocol: u32,
    /// Hex sha256 of the master's public key.
    pub fingerprint: String,
    /// Hex of the master's raw Ed25519 public key (public; pinned by followers at join).
    pub public_key: String,
    /// Current revision (`sha256:...`).
    pub revision: String,
    /// When the current revision was published (RFC 3339).
    pub generated_at: String,
}

/// Encode the header of one frame.
///
/// Errors when `sha256_hex` is not 64 hex digits.
pub fn frame_header(sha256_hex: &str, len: u64) -> Result<[u8; FRAME_HEADER_LEN], hex::FromHexError> {
    let mut out = [0u8; FRAME_HEADER_LEN];
    hex::decode_to_slice(sha256_hex, &mut out[..32])?;
    out[32..].copy_from_slice(&len.to_be_bytes());
    Ok(out)
}

/// Errors reading a frame stream.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    /// The stream ended inside a frame.
    #[error("blob stream ended early (inside the frame of {0})")]
    Truncated(String),
    /// The bytes did not hash to the frame's hash.
    #[error("blob {expected} arrived with bytes that hash to {actual}")]
    HashMismatch {
        /// Hash the frame claimed.
        expected: String,
        /// Hash of the bytes received.
        actual: String,
    },
    /// Reading the stream failed (the connection broke or timed out).
    #[error("reading blob stream: {0}")]
    Read(std::io::Error),
    /// Writing the sink failed (local disk).
    #[error("writing a received blob: {0}")]
    Write(std::io::Error),
}

/// Read the next frame header: `Ok(None)` at a clean end of stream.
pub fn read_frame_header(r: &mut impl Read) -> Result<Option<(String, u64)>, FrameError> {
    let mut header = [0u8; FRAME_HEADER_LEN];
    let mut filled = 0;
    while filled < FRAME_HEADER_LEN {
        let n = r.read(&mut header[filled..]).map_err(FrameError::Read)?;
        if n == 0 {
            return if filled == 0 {
                Ok(None)
            } else {
                Err(FrameError::Truncated("a frame header".into()))
            };
        }
        filled += n;
    }
    let mut len = [0u8; 8];
    len.copy_from_slice(&header[32..]);
    Ok(Some((hex::encode(&header[..32]), u64::from_be_bytes(len))))
}

/// Copy exactly `len` bytes of the frame body into `sink` while hashing, then check the hash.
pub fn copy_frame_body(r: &mut impl Read, sha256_hex: &str, len: u64, sink: &mut impl Write) -> Result<(), FrameError> {
    let mut hasher = Sha256::new();
    let mut left = len;
    let mut buf = vec![0u8; 64 * 1024];
    while left > 0 {
        let want = buf.len().min(usize::try_from(left).unwrap_or(usize::MAX));
        let n = r.read(&mut buf[..want]).map_err(FrameError::Read)?;
        if n == 0 {
            return Err(FrameError::Truncated(sha256_hex.into()));
        }
        hasher.update(&buf[..n]);
        sink.write_all(&buf[..n]).map_err(FrameError::Write)?;
        left -= n as u64;
    }
    let actual = hex::encode(hasher.finalize());
    if actual != sha256_hex {
        return Err(FrameError::HashMismatch {
            expected: sha256_hex.into(),
            actual,
        });
    }
    Ok(())
}

/// Where [`read_blob_stream`] puts verified blobs: each frame body goes to a fresh part, which
/// is committed only once its bytes hashed to the frame's hash.
pub trait BlobSink {
    /// A blob being received.
    type Part: Write;
    /// A fresh part for the next frame body.
    fn begin(&mut self) -> std::io::Result<Self::Part>;
    /// Keep `part`, whose bytes hash to `sha256_hex`.
    fn commit(&mut self, part: Self::Part, sha256_hex: &str) -> std::io::Result<()>;
}

/// Errors of [`read_blob_stream`] beyond those of a single frame.
#[derive(Debug, thiserror::Error)]
pub enum StreamError {
    /// A frame could not be read or did not verify.
    #[error(transparent)]
    Frame(#[from] FrameError),
    /// A frame's length is not the size the document declares.
    #[error("blob {sha256} is {len} bytes, the document says {declared}")]
    SizeMismatch {
        /// The blob.
        sha256: String,
        /// Length in the frame header.
        len: u64,
        /// Size in the document.
        declared: u64,
    },
    /// A frame for a blob that was not asked for (or was already received).
    #[error("the master sent blob {0}, which was not asked for")]
    Unasked(String),
    /// The stream ended cleanly without every asked blob.
    #[error("the blob stream ended without {0}")]
    Missing(String),
    /// The sink failed (local disk).
    #[error("storing a received blob: {0}")]
    Sink(std::io::Error),
}

impl crate::exit::ExitStatus for StreamError {
    fn exit(&self) -> crate::exit::Exit {
        use crate::exit::Exit;
        match self {
            StreamError::Frame(FrameError::HashMismatch { .. })
            | StreamError::SizeMismatch { .. }
            | StreamError::Unasked(_) => Exit::Trust,
            StreamError::Frame(FrameError::Truncated(_) | FrameError::Read(_)) | StreamError::Missing(_) => {
                Exit::Unreachable
            }
            StreamError::Frame(FrameError::Write(_)) | StreamError::Sink(_) => Exit::Error,
        }
    }
}

/// Decode a `POST /v1/blobs` answer: frames until a clean end of stream, each for a blob of
/// `wanted` (hash -> declared size) not yet received, with exactly the declared length and
/// bytes that hash to it. Each verified blob is committed to `sink` as it arrives; returns the
/// number of body bytes received. Stops at the first error (blobs committed before stay).
pub fn read_blob_stream(
    r: &mut impl Read,
    wanted: &std::collections::HashMap<String, u64>,
    sink: &mut impl BlobSink,
) -> Result<u64, StreamError> {
    let mut received = 0u64;
    let mut left: std::collections::HashMap<&str, u64> = wanted.iter().map(|(k, v)| (k.as_str(), *v)).collect();
    while let Some((hash, len)) = read_frame_header(r)? {
        match left.remove(hash.as_str()) {
            Some(declared) if declared == len => {}
            Some(declared) => {
                return Err(StreamError::SizeMismatch {
                    sha256: hash,
                    len,
                    declared,
                });
            }
            None => return Err(StreamError::Unasked(hash)),
        }
        let mut part = sink.begin().map_err(StreamError::Sink)?;
        copy_frame_body(r, &hash, len, &mut part)?;
        sink.commit(part, &hash).map_err(StreamError::Sink)?;
        received += len;
    }
    match left.keys().min() {
        Some(missing) => Err(StreamError::Missing((*missing).to_string())),
        None => Ok(received),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_round_trip_and_detect_tampering() {
        let body = b"hello blob";
        let hash = crate::fs::sha256_hex(body);
        let mut stream = frame_header(&hash, body.len() as u64).unwrap().to_vec();
        stream.extend_from_slice(body);
        let mut r = &stream[..];
        let (h, len) = read_frame_header(&mut r).unwrap().unwrap();
        assert_eq!((h.as_str(), len), (hash.as_str(), 10));
        let mut out = Vec::new();
        copy_frame_body(&mut r, &h, len, &mut out).unwrap();
        assert_eq!(out, body);
        assert!(read_frame_header(&mut r).unwrap().is_none());

        let mut bad = stream.clone();
        let last = bad.len() - 1;
        bad[last] ^= 1;
        let mut r = &bad[..];
        let (h, len) = read_frame_header(&mut r).unwrap().unwrap();
        assert!(matches!(
            copy_frame_body(&mut r, &h, len, &mut Vec::new()),
            Err(FrameError::HashMismatch { .. })
        ));

        let mut r = &stream[..stream.len() - 3];
        let (h, len) = read_frame_header(&mut r).unwrap().unwrap();
        assert!(matches!(
            copy_frame_body(&mut r, &h, len, &mut Vec::new()),
            Err(FrameError::Truncated(_))
        ));
    }
}
