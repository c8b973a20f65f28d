//! A minimal HTTP/1.1 server on 127.0.0.1 for tests (no internet): GET with and without
//! `Range: bytes=N-` or `bytes=N-M`, one request per connection, stopped when dropped (and in
//! any case after a minute). The download tests and the shard-streaming tests use it.

use std::collections::HashMap;
use std::io::{self, BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How the test server answers.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Mode {
    /// Honours `Range` (206 / 416).
    Normal,
    /// Ignores `Range` and always sends the whole file with 200.
    IgnoreRange,
    /// Announces the full length but closes the connection after this many body bytes.
    CutAfter(usize),
}

/// One request the server saw.
#[derive(Clone, Debug)]
pub(crate) struct Logged {
    pub path: String,
    pub range: Option<String>,
    pub status: u16,
    pub body_bytes: usize,
}

pub(crate) struct TestServer {
    port: u16,
    stop: Arc<AtomicBool>,
    mode: Arc<Mutex<Mode>>,
    log: Arc<Mutex<Vec<Logged>>>,
    handle: Option<JoinHandle<()>>,
}

impl TestServer {
    /// Serves `files` (path without the leading `/` → content).
    pub(crate) fn start(files: HashMap<String, Vec<u8>>) -> TestServer {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let stop = Arc::new(AtomicBool::new(false));
        let mode = Arc::new(Mutex::new(Mode::Normal));
        let log = Arc::new(Mutex::new(Vec::new()));
        let (stop2, mode2, log2) = (stop.clone(), mode.clone(), log.clone());
        let handle = std::thread::spawn(move || {
            let deadline = Instant::now() + Duration::from_secs(60);
            while !stop2.load(Ordering::SeqCst) && Instant::now() < deadline {
                match listener.accept() {
                    Ok((stream, _)) => {
                        let mode = *mode2.lock().unwrap();
                        serve(stream, &files, mode, &log2);
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                        std::thread::sleep(Duration::from_millis(5));
                    }
                    Err(_) => break,
                }
            }
        });
        TestServer {
            port,
            stop,
            mode,
            log,
            handle: Some(handle),
        }
    }

    pub(crate) fn base(&self) -> String {
        format!("http://127.0.0.1:{}/", self.port)
    }

    pub(crate) fn set_mode(&self, mode: Mode) {
        *self.mode.lock().unwrap() = mode;
    }

    pub(crate) fn requests(&self) -> Vec<Logged> {
        self.log.lock().unwrap().clone()
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

/// Answers one request on `stream`, recording it in `log` before the response goes out (None
/// if the request was unreadable).
fn serve(
    stream: TcpStream,
    files: &HashMap<String, Vec<u8>>,
    mode: Mode,
    log: &Mutex<Vec<Logged>>,
) -> Option<()> {
    stream.set_nonblocking(false).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    stream
        .set_write_timeout(Some(Duration::from_secs(5)))
        .ok()?;
    let mut reader = BufReader::new(stream.try_clone().ok()?);
    let mut request_line = String::new();
    reader.read_line(&mut request_line).ok()?;
    let mut range = None;
    for _ in 0..100 {
        let mut line = String::new();
        if reader.read_line(&mut line).ok()? == 0 || line == "\r\n" || line == "\n" {
            break;
        }
        if let Some((name, value)) = line.split_once(':')
            && name.trim().eq_ignore_ascii_case("range")
        {
            range = Some(value.trim().to_string());
        }
    }
    let mut parts = request_line.split_whitespace();
    let method = parts.next()?.to_string();
    let path = parts.next()?.trim_start_matches('/').to_string();
    let (status, reason, headers, body, send): (u16, &str, Vec<String>, &[u8], usize) =
        match files.get(&path) {
            _ if method != "GET" => (405, "Method Not Allowed", vec![], b"", 0),
            None => {
                let body = b"not found";
                let headers = vec![format!("Content-Length: {}", body.len())];
                (404, "Not Found", headers, body, body.len())
            }
            Some(data) => {
                // `bytes=N-` or `bytes=N-M`: the first byte and the end (exclusive).
                let bounds = range
                    .as_deref()
                    .and_then(|r| r.strip_prefix("bytes="))
                    .and_then(|r| r.split_once('-'))
                    .and_then(|(a, b)| {
                        let start = a.parse::<usize>().ok()?;
                        let end = match b {
                            "" => data.len(),
                            b => (b.parse::<usize>().ok()? + 1).min(data.len()),
                        };
                        Some((start, end))
                    });
                match (mode, bounds) {
                    (Mode::Normal, Some((start, _))) if start >= data.len() => {
                        let headers = vec![
                            format!("Content-Range: bytes */{}", data.len()),
                            "Content-Length: 0".to_string(),
                        ];
                        (416, "Range Not Satisfiable", headers, b"", 0)
                    }
                    (Mode::Normal, Some((start, end))) => {
                        let body = &data[start..end];
                        let headers = vec![
                            format!("Content-Range: bytes {start}-{}/{}", end - 1, data.len()),
                            format!("Content-Length: {}", body.len()),
                        ];
                        (206, "Partial Content", headers, body, body.len())
                    }
                    (Mode::CutAfter(n), _) => {
                        let headers = vec![format!("Content-Length: {}", data.len())];
                        (200, "OK", headers, data, n)
                    }
                    _ => {
                        let headers = vec![format!("Content-Length: {}", data.len())];
                        (200, "OK", headers, data, data.len())
                    }
                }
            }
        };
    let body_bytes = send.min(body.len());
    // Logged before the response goes out, so that a client that has its answer finds its
    // request in the log.
    log.lock().unwrap().push(Logged {
        path,
        range,
        status,
        body_bytes,
    });
    let mut head = format!("HTTP/1.1 {status} {reason}\r\nConnection: close\r\n");
    for h in &headers {
        head.push_str(h);
        head.push_str("\r\n");
    }
    head.push_str("\r\n");
    let mut out = stream;
    let _ = out.write_all(head.as_bytes());
    let _ = out.write_all(&body[..body_bytes]);
    let _ = out.flush();
    Some(())
}
