//! A counting proxy on loopback: forwards TCP to the real master and counts the HTTP requests
//! the follower sends and the bytes each way, to check that a sync's round trips do not grow
//! with the number of files.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// Counters shared with the relay threads.
#[derive(Default)]
pub struct Counts {
    /// HTTP request lines (`GET /...`, `POST /...`) sent to the master.
    pub requests: AtomicU64,
    /// Bytes the follower sent (request heads and bodies).
    pub up: AtomicU64,
    /// Bytes the master sent (response heads and bodies).
    pub down: AtomicU64,
}

pub struct CountingProxy {
    pub port: u16,
    pub counts: Arc<Counts>,
}

impl CountingProxy {
    pub fn start(upstream_port: u16) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let counts = Arc::new(Counts::default());
        let shared = counts.clone();
        std::thread::spawn(move || {
            for client in listener.incoming() {
                let Ok(client) = client else { return };
                let Ok(upstream) = TcpStream::connect(("127.0.0.1", upstream_port)) else {
                    return;
                };
                let (c2, u2) = (client.try_clone().unwrap(), upstream.try_clone().unwrap());
                let (up, down) = (shared.clone(), shared.clone());
                std::thread::spawn(move || relay(client, upstream, &up, true));
                std::thread::spawn(move || relay(u2, c2, &down, false));
            }
        });
        CountingProxy { port, counts }
    }

    /// (requests, bytes up, bytes down) since the last call; resets the counters.
    pub fn take(&self) -> (u64, u64, u64) {
        (
            self.counts.requests.swap(0, Ordering::SeqCst),
            self.counts.up.swap(0, Ordering::SeqCst),
            self.counts.down.swap(0, Ordering::SeqCst),
        )
    }
}

fn relay(mut from: TcpStream, mut to: TcpStream, counts: &Counts, requests: bool) {
    let mut buf = [0u8; 64 * 1024];
    // The last bytes of the previous read, so a request line split across reads is seen once.
    let mut tail: Vec<u8> = Vec::new();
    loop {
        let n = match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        if to.write_all(&buf[..n]).is_err() {
            break;
        }
        if requests {
            counts.up.fetch_add(n as u64, Ordering::SeqCst);
            let mut window = std::mem::take(&mut tail);
            let seen = request_lines(&window);
            window.extend_from_slice(&buf[..n]);
            let total = request_lines(&window);
            counts.requests.fetch_add((total - seen) as u64, Ordering::SeqCst);
            tail = window[window.len().saturating_sub(64)..].to_vec();
        } else {
            counts.down.fetch_add(n as u64, Ordering::SeqCst);
        }
    }
    let _ = to.shutdown(Shutdown::Write);
}

/// Request lines in `bytes`: `GET /` or `POST /` at the start or right after a CRLF.
fn request_lines(bytes: &[u8]) -> usize {
    let starts = |i: usize| [&b"GET /"[..], b"POST /"].iter().any(|m| bytes[i..].starts_with(m));
    (0..bytes.len())
        .filter(|&i| (i == 0 || (i >= 2 && &bytes[i - 2..i] == b"\r\n")) && starts(i))
        .count()
}
