//! A webhook receiver for the notification tests.

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;

use super::{eventually, Loop};

/// A webhook receiver: every POST body it got.
pub struct Hook {
    /// Its loopback port.
    pub port: u16,
    /// Every body received.
    pub bodies: Arc<Mutex<Vec<Value>>>,
}

impl Hook {
    /// Listens on a free loopback port.
    pub fn start() -> Hook {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let bodies = Arc::new(Mutex::new(Vec::new()));
        let seen = Arc::clone(&bodies);
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut length = 0;
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                        break;
                    }
                    if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                        length = v.trim().parse().unwrap_or(0);
                    }
                }
                let mut body = vec![0; length];
                if reader.read_exact(&mut body).is_ok() {
                    if let Ok(v) = serde_json::from_slice(&body) {
                        seen.lock().unwrap().push(v);
                    }
                }
                let mut stream = stream;
                let _ = stream.write_all(
                    b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok",
                );
            }
        });
        Hook { port, bodies }
    }

    /// The `kind` of each notice received.
    pub fn kinds(&self) -> Vec<String> {
        self.bodies
            .lock()
            .unwrap()
            .iter()
            .map(|b| b["kind"].as_str().unwrap_or_default().to_owned())
            .collect()
    }

    /// Waits up to `secs` for a notice of `kind`.
    #[track_caller]
    pub fn wait_for(&self, kind: &str, secs: u64, looping: &Loop) {
        let seen = || self.kinds().iter().any(|k| k == kind).then_some(());
        let found = eventually(Duration::from_secs(secs), seen).is_some();
        assert!(found, "no {kind}: {:?}\n{}", self.kinds(), looping.logs());
    }
}
