//! A man-in-the-middle on loopback: forwards TCP to the real master and replaces one byte
//! string with another of the same length in everything the master sends back. It plays the
//! hostile network between a real follower and a real master.

use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::time::Duration;

pub struct TamperProxy {
    pub port: u16,
}

impl TamperProxy {
    pub fn start(upstream_port: u16, find: &'static [u8], replace: &'static [u8]) -> Self {
        assert_eq!(find.len(), replace.len(), "same length keeps Content-Length valid");
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        std::thread::spawn(move || {
            for client in listener.incoming().take(64) {
                let Ok(client) = client else { return };
                let Ok(upstream) = TcpStream::connect(("127.0.0.1", upstream_port)) else {
                    return;
                };
                let (mut c_read, mut u_write) = (client.try_clone().unwrap(), upstream.try_clone().unwrap());
                std::thread::spawn(move || {
                    let _ = std::io::copy(&mut c_read, &mut u_write);
                    let _ = u_write.shutdown(Shutdown::Write);
                });
                std::thread::spawn(move || relay_tampering(upstream, client, find, replace));
            }
        });
        TamperProxy { port }
    }
}

fn relay_tampering(mut upstream: TcpStream, mut client: TcpStream, find: &[u8], replace: &[u8]) {
    upstream.set_read_timeout(Some(Duration::from_millis(100))).unwrap();
    let mut pending = Vec::new();
    let mut buf = [0u8; 16 * 1024];
    let flush = |pending: &mut Vec<u8>, client: &mut TcpStream| -> bool {
        let mut i = 0;
        while i + find.len() <= pending.len() {
            if &pending[i..i + find.len()] == find {
                pending[i..i + find.len()].copy_from_slice(replace);
            }
            i += 1;
        }
        let ok = client.write_all(pending).is_ok();
        pending.clear();
        ok
    };
    loop {
        match upstream.read(&mut buf) {
            Ok(0) => {
                flush(&mut pending, &mut client);
                let _ = client.shutdown(Shutdown::Write);
                return;
            }
            Ok(n) => {
                pending.extend_from_slice(&buf[..n]);
                if pending.len() > 1024 * 1024 && !flush(&mut pending, &mut client) {
                    return;
                }
            }
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                if !pending.is_empty() && !flush(&mut pending, &mut client) {
                    return;
                }
            }
            Err(_) => return,
        }
    }
}
