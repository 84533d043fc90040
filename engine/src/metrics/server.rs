//! A small blocking HTTP server (tiny_http) for `GET /metrics`, on its own thread.

use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;
use std::thread::JoinHandle;

use prometheus_client::registry::Registry;
use tiny_http::{Header, Method, Request, Response, Server};

const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// The endpoint of one run; stops when `stop`ped or dropped.
pub struct MetricsServer {
    server: Arc<Server>,
    thread: Option<JoinHandle<()>>,
    addr: SocketAddr,
}

impl MetricsServer {
    /// Serves `registry` on `listener` until stopped.
    pub fn start(listener: TcpListener, registry: Registry) -> std::io::Result<MetricsServer> {
        let addr = listener.local_addr()?;
        let server =
            Arc::new(Server::from_listener(listener, None).map_err(std::io::Error::other)?);
        let serving = server.clone();
        let thread = std::thread::Builder::new()
            .name("sluice-metrics".into())
            .spawn(move || {
                // Ends when `stop` unblocks the queue.
                for request in serving.incoming_requests() {
                    respond(request, &registry);
                }
            })?;
        tracing::info!(%addr, "serving metrics on http://{addr}/metrics");
        Ok(MetricsServer {
            server,
            thread: Some(thread),
            addr,
        })
    }

    /// The address it listens on (the real port when the configured one was 0).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Answers the requests already received and stops the serving thread; tiny_http's accept
    /// thread closes the listening socket right after.
    pub fn stop(self) {
        drop(self);
    }
}

impl Drop for MetricsServer {
    fn drop(&mut self) {
        self.server.unblock();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
        // Dropping the last `Arc<Server>` closes the listening socket.
    }
}

fn respond(request: Request, registry: &Registry) {
    let path = request.url().split('?').next().unwrap_or_default();
    let get = matches!(request.method(), Method::Get | Method::Head);
    let result = match (path, get) {
        ("/metrics", true) => {
            let mut body = String::new();
            match prometheus_client::encoding::text::encode(&mut body, registry) {
                Ok(()) => request.respond(
                    Response::from_string(body).with_header(header("Content-Type", CONTENT_TYPE)),
                ),
                Err(_) => request.respond(
                    Response::from_string("encoding the metrics failed\n").with_status_code(500),
                ),
            }
        }
        ("/", true) => request.respond(Response::from_string(
            "sluice: Prometheus metrics at /metrics\n",
        )),
        ("/metrics" | "/", false) => request.respond(
            Response::from_string("only GET\n")
                .with_status_code(405)
                .with_header(header("Allow", "GET, HEAD")),
        ),
        _ => request.respond(Response::from_string("not found\n").with_status_code(404)),
    };
    if let Err(e) = result {
        tracing::debug!("metrics response not sent: {e}");
    }
}

fn header(name: &str, value: &str) -> Header {
    Header::from_bytes(name.as_bytes(), value.as_bytes()).expect("static ASCII header")
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};
    use std::net::TcpStream;

    use prometheus_client::metrics::counter::Counter;

    use super::*;

    fn get(addr: SocketAddr, path: &str) -> String {
        let mut stream = TcpStream::connect(addr).unwrap();
        write!(
            stream,
            "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        )
        .unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).unwrap();
        response
    }

    #[test]
    fn serves_metrics_answers_404_elsewhere_and_stops() {
        let mut registry = Registry::default();
        let counter: Counter = Counter::default();
        registry.register("sluice_test", "A test counter", counter.clone());
        counter.inc_by(7);
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let server = MetricsServer::start(listener, registry).unwrap();
        let addr = server.addr();
        let metrics = get(addr, "/metrics");
        assert!(metrics.starts_with("HTTP/1.1 200"), "{metrics}");
        assert!(metrics.contains(CONTENT_TYPE), "{metrics}");
        assert!(
            metrics.contains("sluice_test_total 7\n# EOF\n"),
            "{metrics}"
        );
        assert!(get(addr, "/nope").starts_with("HTTP/1.1 404"));
        server.stop();
        // tiny_http's accept thread closes the socket soon after.
        let freed = (0..200).any(|_| {
            std::thread::sleep(std::time::Duration::from_millis(10));
            TcpListener::bind(addr).is_ok()
        });
        assert!(freed, "{addr} still taken 2 s after stop");
    }
}
