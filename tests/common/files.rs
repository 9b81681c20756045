//! A static file server on loopback for bundle tests: serves the files of a
//! directory by name (404 for anything else), optionally one of them slowly.

use std::io::Read;
use std::path::PathBuf;
use std::sync::mpsc;
use std::time::Duration;

/// Serves the files of `dir` on loopback, with a `Last-Modified` header and
/// a `Content-Length` as any static server or CDN sends (object_store needs
/// both), and returns the base URL `http://127.0.0.1:PORT`; a file whose
/// name ends with `slow`'s text is sent in small pieces with pauses, and
/// the sender is told once a third of it has gone out.
pub fn serve(dir: PathBuf, slow: Option<(String, mpsc::Sender<()>)>) -> String {
    let server = tiny_http::Server::http("127.0.0.1:0").unwrap();
    let port = server.server_addr().to_ip().unwrap().port();
    std::thread::spawn(move || {
        for request in server.incoming_requests() {
            let name = request.url().trim_start_matches('/').to_string();
            let Ok(data) = std::fs::read(dir.join(&name)) else {
                let _ = request.respond(tiny_http::Response::empty(404));
                continue;
            };
            let len = data.len();
            let modified =
                tiny_http::Header::from_bytes("Last-Modified", "Wed, 01 Jan 2025 00:00:00 GMT")
                    .unwrap();
            match &slow {
                Some((slow_suffix, notify)) if name.ends_with(slow_suffix.as_str()) => {
                    let reader = SlowReader {
                        data,
                        pos: 0,
                        notify: Some(notify.clone()),
                    };
                    let response = tiny_http::Response::new(
                        200.into(),
                        vec![modified],
                        reader,
                        Some(len),
                        None,
                    )
                    .with_chunked_threshold(usize::MAX);
                    let _ = request.respond(response);
                }
                _ => {
                    let _ = request.respond(
                        tiny_http::Response::from_data(data)
                            .with_chunked_threshold(usize::MAX)
                            .with_header(modified),
                    );
                }
            }
        }
    });
    format!("http://127.0.0.1:{port}")
}

struct SlowReader {
    data: Vec<u8>,
    pos: usize,
    notify: Option<mpsc::Sender<()>>,
}

impl Read for SlowReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.pos * 3 > self.data.len()
            && let Some(notify) = self.notify.take()
        {
            let _ = notify.send(());
        }
        std::thread::sleep(Duration::from_millis(20));
        let n = buf.len().min(16 * 1024).min(self.data.len() - self.pos);
        buf[..n].copy_from_slice(&self.data[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}
