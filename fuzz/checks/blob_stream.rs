//! The blob stream decoder (`model::wire::read_blob_stream`, as `follower::client` drives it
//! on a `POST /v1/blobs` answer).
//!
//! The input is a small program: up to 4 blobs (what the document asks for, with declared
//! sizes that may lie), then operations that build the stream (valid frames, frames with a
//! wrong length, truncated or flipped bodies, duplicates, raw bytes), read back in chunks of
//! fuzzer-chosen sizes.
//!
//! Properties: never panics; every committed blob was asked for, once, with its declared size
//! and bytes that hash to it; `Ok` means every asked blob was committed and the count is the
//! sum of their sizes; a stream of exactly the valid frames (any order, any chunking) is `Ok`.

use std::collections::HashMap;
use std::io::Read;

use codexport::model::wire::{BlobSink, frame_header, read_blob_stream};
use sha2::{Digest, Sha256};

struct Cursor<'a>(&'a [u8]);

impl Cursor<'_> {
    fn byte(&mut self) -> Option<u8> {
        let (&b, rest) = self.0.split_first()?;
        self.0 = rest;
        Some(b)
    }
    fn take(&mut self, n: usize) -> &[u8] {
        let n = n.min(self.0.len());
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        head
    }
}

/// Reads the stream in chunks whose sizes cycle through `sizes` (1..=64 bytes each).
struct Chunked<'a> {
    data: &'a [u8],
    sizes: Vec<usize>,
    i: usize,
}

impl Read for Chunked<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let want = self.sizes[self.i % self.sizes.len()];
        self.i += 1;
        let n = want.min(buf.len()).min(self.data.len());
        buf[..n].copy_from_slice(&self.data[..n]);
        self.data = &self.data[n..];
        Ok(n)
    }
}

#[derive(Default)]
struct MemSink {
    committed: Vec<(String, Vec<u8>)>,
}

impl BlobSink for MemSink {
    type Part = Vec<u8>;
    fn begin(&mut self) -> std::io::Result<Vec<u8>> {
        Ok(Vec::new())
    }
    fn commit(&mut self, part: Vec<u8>, sha256_hex: &str) -> std::io::Result<()> {
        self.committed.push((sha256_hex.to_string(), part));
        Ok(())
    }
}

fn sha(b: &[u8]) -> String {
    hex::encode(Sha256::digest(b))
}

fn frame(out: &mut Vec<u8>, hash: &str, len: u64, body: &[u8]) {
    out.extend_from_slice(&frame_header(hash, len).expect("hex hash"));
    out.extend_from_slice(body);
}

/// Run one program (see the module doc).
pub fn check(data: &[u8]) {
    let mut c = Cursor(data);
    let (Some(flags), Some(count)) = (c.byte(), c.byte()) else {
        return;
    };
    let mut blobs: Vec<(String, Vec<u8>)> = Vec::new();
    let mut wanted = HashMap::new();
    for i in 0..usize::from(count % 5) {
        let len = usize::from(c.byte().unwrap_or(0) % 64);
        let body = c.take(len).to_vec();
        let hash = sha(&body);
        // Bit i of `flags` makes the document declare a size one byte too big.
        let declared = body.len() as u64 + u64::from(flags >> i & 1);
        wanted.insert(hash.clone(), declared);
        blobs.push((hash, body));
    }
    let honest = flags & 0x30 == 0 && blobs.iter().all(|(h, b)| wanted[h] == b.len() as u64);
    let mut stream = Vec::new();
    let mut sizes = vec![];
    if honest {
        // Valid frames for each distinct blob, in an order and chunking from the input.
        let mut order: Vec<usize> = (0..blobs.len()).collect();
        let mut rest = c.0.iter().copied();
        for i in (1..order.len()).rev() {
            order.swap(i, usize::from(rest.next().unwrap_or(0)) % (i + 1));
        }
        let mut sent = std::collections::HashSet::new();
        for i in order {
            let (h, b) = &blobs[i];
            if sent.insert(h.clone()) {
                frame(&mut stream, h, b.len() as u64, b);
            }
        }
        sizes.extend(rest.map(|b| usize::from(b % 64) + 1));
    } else {
        while let Some(op) = c.byte() {
            let Some((h, b)) = blobs.get(usize::from(op >> 4) % blobs.len().max(1)).cloned() else {
                stream.extend_from_slice(c.take(usize::from(op)));
                continue;
            };
            match op % 8 {
                0 | 1 => frame(&mut stream, &h, b.len() as u64, &b),
                2 => frame(&mut stream, &h, b.len() as u64 + 1, &b),
                3 => frame(&mut stream, &h, b.len() as u64, &b[..b.len() / 2]),
                4 if !b.is_empty() => {
                    let mut flipped = b.clone();
                    flipped[0] ^= 1;
                    frame(&mut stream, &h, b.len() as u64, &flipped);
                }
                5 => frame(&mut stream, &h, u64::MAX, &b),
                6 => sizes.push(usize::from(c.byte().unwrap_or(0) % 64) + 1),
                _ => stream.extend_from_slice(c.take(usize::from(op % 41))),
            }
        }
    }
    if sizes.is_empty() {
        sizes.push(64 * 1024);
    }
    let mut reader = Chunked {
        data: &stream,
        sizes,
        i: 0,
    };
    let mut sink = MemSink::default();
    let result = read_blob_stream(&mut reader, &wanted, &mut sink);
    let mut seen = std::collections::HashSet::new();
    for (hash, bytes) in &sink.committed {
        assert_eq!(&sha(bytes), hash, "committed bytes do not hash to their name");
        assert_eq!(wanted.get(hash), Some(&(bytes.len() as u64)), "unasked or wrong size");
        assert!(seen.insert(hash.clone()), "{hash} committed twice");
    }
    match result {
        Ok(n) => {
            assert_eq!(seen.len(), wanted.len(), "Ok without every blob");
            assert_eq!(n, wanted.values().sum::<u64>());
        }
        Err(e) => assert!(!honest, "a valid stream was refused: {e}"),
    }
}
