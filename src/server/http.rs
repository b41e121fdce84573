//! The HTTP protocol adapter: the transforms of the netstring port, served
//! over HTTP/1.1 by hyper and routed by axum.
//!
//! - `POST /transform/{name}`: the poem is the body, the transformed poem the reply;
//! - `GET /transforms`: the registry's transforms as JSON;
//! - `GET /healthz`: `ok`;
//! - `GET /metrics`: the server's Prometheus metrics (also on `--metrics-port`).
//!
//! Errors are a status and a JSON body `{"error": "..."}`. Connections come
//! from the server's own accept loop, and a transform request goes through
//! the same [`Exchange`] as a netstring one: the same deadline (from the
//! request's first byte), budget, caps, pool and accounting. What is HTTP's
//! own is bounded here: hyper's buffer (so a trickled header costs at most
//! [`HEADER_BUFFER`]), keep-alive (at most [`KEEPALIVE_REQUESTS`] requests
//! and [`KEEPALIVE_LIFETIME`] per connection, and an idle one gives way to a
//! connection waiting for a slot), and the write timeout.

use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll};
use std::time::Duration;

use axum::body::{Body, Bytes, HttpBody};
use axum::extract::rejection::PathRejection;
use axum::extract::{ConnectInfo, Path, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use bytes::BytesMut;
use http_body_util::{BodyExt, Full};
use hyper::body::{Frame, Incoming, SizeHint};
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use serde::Serialize;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::time::Instant;
use tokio_io_timeout::TimeoutStream;
use tower::ServiceExt;

use super::limits::{Held, Release};
use super::pipeline::{Exchange, Failure};
use super::{Admission, Context, Protocol};
use crate::request::Request;

/// hyper's read buffer per connection (its minimum is 8 KiB): a request head
/// must fit, and a client trickling one holds no more.
pub const HEADER_BUFFER: usize = 16 * 1024;

/// Requests served on one keep-alive connection before it is closed.
pub const KEEPALIVE_REQUESTS: u64 = 100;

/// The longest a keep-alive connection is kept, however busy.
pub const KEEPALIVE_LIFETIME: Duration = Duration::from_secs(60);

/// The routes, sharing `ctx` with every other protocol of the server.
pub(super) fn router(ctx: Arc<Context>) -> Router {
    Router::new()
        .route("/transform/{name}", post(transform))
        .route("/transforms", get(transforms))
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
        .fallback(not_found)
        // After the routes: it applies to the routes registered before it.
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(ctx)
}

/// The routes of the metrics-only port.
pub(super) fn metrics_router(ctx: Arc<Context>) -> Router {
    Router::new()
        .route("/metrics", get(metrics))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(ctx)
}

/// What one HTTP connection's requests share: when the current request's
/// first byte arrived, and how many requests it has carried.
#[derive(Debug)]
struct Activity {
    opened: std::time::Instant,
    /// Microseconds after `opened` of the current request's first byte, plus
    /// one (0: between requests).
    request_began: AtomicU64,
    requests: AtomicU64,
    /// A request's head has been read and it is being answered.
    serving: AtomicBool,
}

impl Activity {
    fn new() -> Self {
        Self {
            opened: std::time::Instant::now(),
            request_began: AtomicU64::new(0),
            requests: AtomicU64::new(0),
            serving: AtomicBool::new(false),
        }
    }

    /// When the current request's first byte arrived (now, if unknown).
    fn request_began(&self) -> Instant {
        match self.request_began.load(Ordering::Relaxed) {
            0 => Instant::now(),
            micros => Instant::from_std(self.opened + Duration::from_micros(micros - 1)),
        }
    }

    fn bytes_arrived(&self) {
        if self.request_began.load(Ordering::Relaxed) == 0 {
            let micros = self.opened.elapsed().as_micros() as u64 + 1;
            self.request_began.store(micros, Ordering::Relaxed);
        }
    }

    /// The request is answered; returns how many the connection has carried.
    fn answered(&self) -> u64 {
        self.serving.store(false, Ordering::Relaxed);
        self.request_began.store(0, Ordering::Relaxed);
        self.requests.fetch_add(1, Ordering::Relaxed) + 1
    }
}

/// The connection's socket, noting when each request's first byte arrives.
struct Watched<IO> {
    io: Pin<Box<IO>>,
    activity: Arc<Activity>,
}

impl<IO: AsyncRead> AsyncRead for Watched<IO> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut TaskContext<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let polled = self.io.as_mut().poll_read(cx, buf);
        if buf.filled().len() > before {
            self.activity.bytes_arrived();
        }
        polled
    }
}

impl<IO: AsyncWrite> AsyncWrite for Watched<IO> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut TaskContext<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        self.io.as_mut().poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut TaskContext<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        self.io.as_mut().poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<std::io::Result<()>> {
        self.io.as_mut().poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<std::io::Result<()>> {
        self.io.as_mut().poll_shutdown(cx)
    }
}

/// Serves one HTTP connection of `protocol`'s listener (any number of
/// keep-alive requests, within bounds) to its end.
pub(super) async fn serve(
    stream: std::net::TcpStream,
    peer: SocketAddr,
    ctx: Arc<Context>,
    app: Router,
    protocol: Protocol,
    admission: Admission,
) {
    // Held to the end: the connection's slot and counts.
    let _admission = admission;
    let stream = match TcpStream::from_std(stream) {
        Ok(stream) => stream,
        Err(err) => return tracing::warn!(%peer, error = %err, "cannot register an HTTP connection"),
    };
    let timeout = ctx.config.timeout;
    // hyper has no write timeout of its own: a client that stops reading its
    // reply would hold the connection (and its slot) for ever.
    let mut io = TimeoutStream::new(stream);
    io.set_write_timeout(Some(timeout));
    let activity = Arc::new(Activity::new());
    let io = Watched {
        io: Box::pin(io),
        activity: activity.clone(),
    };
    let (for_requests, for_responses) = (activity.clone(), activity.clone());
    let service = app
        .map_request(move |mut req: axum::http::Request<Incoming>| {
            for_requests.serving.store(true, Ordering::Relaxed);
            req.extensions_mut().insert(ConnectInfo(peer));
            req.extensions_mut().insert(for_requests.clone());
            req
        })
        .map_response(move |mut response: Response| {
            if for_responses.answered() >= KEEPALIVE_REQUESTS {
                response
                    .headers_mut()
                    .insert(header::CONNECTION, HeaderValue::from_static("close"));
            }
            response
        });
    // The header timeout also closes keep-alive connections left idle that long.
    let connection = http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(timeout)
        .max_buf_size(HEADER_BUFFER)
        .serve_connection(TokioIo::new(io), TowerToHyperService::new(service));
    tokio::pin!(connection);
    let lifetime = tokio::time::sleep(KEEPALIVE_LIFETIME);
    tokio::pin!(lifetime);
    let ended = tokio::select! {
        result = connection.as_mut() => Some(result),
        why = ctx.slots(protocol).until_released() => {
            if why == Release::Reclaimed && !activity.serving.load(Ordering::Relaxed) {
                // Between requests, or still sending a head: a slow client
                // must not keep a waiting one out, so it goes at once.
                ctx.metrics.reclaimed(protocol);
                return tracing::debug!(%peer, "HTTP connection closed to give its slot to a waiting connection");
            }
            None
        }
        () = &mut lifetime => None,
    };
    let result = match ended {
        Some(result) => result,
        // An idle connection closes now; a request being answered is answered first.
        None => {
            connection.as_mut().graceful_shutdown();
            connection.await
        }
    };
    let err = match result {
        Ok(()) => return tracing::debug!(%peer, "HTTP connection closed"),
        Err(err) => err,
    };
    // hyper's message names the step; its source says what went wrong (e.g. a write timeout).
    let (timeout, parse) = (err.is_timeout(), err.is_parse());
    let reason = format!("{:#}", anyhow::Error::new(err));
    if timeout {
        // Most often a keep-alive connection that sent no further request.
        tracing::debug!(%peer, "HTTP connection closed: {reason}");
    } else if ctx.log.allow() {
        if parse {
            tracing::warn!(%peer, "HTTP connection closed: {reason}");
        } else {
            tracing::info!(%peer, "HTTP connection closed: {reason}");
        }
    }
}

/// A reply body that keeps its bytes charged to the budget until hyper has
/// written (and dropped) it.
struct HeldBody {
    inner: Full<Bytes>,
    _held: Held,
}

impl HttpBody for HeldBody {
    type Data = Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut TaskContext<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        Pin::new(&mut self.inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// `POST /transform/{name}`.
async fn transform(
    State(ctx): State<Arc<Context>>,
    Extension(activity): Extension<Arc<Activity>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    name: Result<Path<String>, PathRejection>,
    body: Body,
) -> Response {
    let mut exchange = Exchange::new(&ctx, Protocol::Http, peer);
    exchange.begin(activity.request_began());
    let result = async {
        let Path(name) = name.map_err(|rejection| Failure::Path(rejection.body_text()))?;
        let poem = read_poem(&mut exchange, name.len(), body).await?;
        let request = Request::new(&name, poem)?;
        exchange.transform(request).await
    }
    .await;
    match result {
        Ok(reply) => {
            exchange.sent(reply.len());
            let held = exchange.take_held();
            exchange.finish(Ok(()));
            let body = HeldBody {
                inner: Full::new(Bytes::from(reply)),
                _held: held,
            };
            (
                [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
                Body::new(body),
            )
                .into_response()
        }
        Err(failure) => {
            let (status, message) = (failure.status(), failure.to_string());
            exchange.finish(Err(failure));
            error(status, message)
        }
    }
}

/// Reads the body into the exchange's budget, refusing it once the name, a
/// period and the poem pass `--max-length` (at once when its declared length
/// does), by the request's deadline.
async fn read_poem(exchange: &mut Exchange<'_>, name_len: usize, body: Body) -> Result<Bytes, Failure> {
    let max = exchange.ctx().config.max_length;
    // The name and its period count as on the netstring port.
    let room = max.saturating_sub(name_len + 1);
    let too_long = Failure::TooLong { max };
    if body.size_hint().lower() > room as u64 {
        return Err(too_long);
    }
    let mut body = body;
    let mut poem = BytesMut::new();
    loop {
        let frame = exchange.within("reading the poem", body.frame()).await?;
        let Some(frame) = frame else {
            break;
        };
        let frame = frame.map_err(|err| Failure::Gone {
            what: "reading the poem",
            source: std::io::Error::other(err),
        })?;
        let Ok(data) = frame.into_data() else {
            continue;
        };
        if poem.len() + data.len() > room {
            return Err(too_long);
        }
        exchange.cover(poem.len() + data.len()).await?;
        exchange.received(data.len());
        poem.extend_from_slice(&data);
    }
    Ok(poem.freeze())
}

/// One transform as `GET /transforms` lists it.
#[derive(Serialize)]
struct TransformInfo<'a> {
    name: &'a str,
    description: &'a str,
}

/// `GET /transforms`.
async fn transforms(State(ctx): State<Arc<Context>>) -> Response {
    let list: Vec<TransformInfo<'_>> = ctx
        .registry
        .entries()
        .map(|entry| TransformInfo {
            name: entry.name(),
            description: entry.description(),
        })
        .collect();
    Json(list).into_response()
}

/// `GET /metrics`: OpenMetrics text, which Prometheus scrapes as such.
async fn metrics(State(ctx): State<Arc<Context>>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        ctx.render_metrics(),
    )
        .into_response()
}

/// `GET /healthz`.
async fn healthz() -> &'static str {
    "ok"
}

/// Any path that is not a route.
async fn not_found() -> Response {
    error(StatusCode::NOT_FOUND, "no such endpoint")
}

/// A route asked with a method it does not take; axum adds the `allow` header.
async fn method_not_allowed() -> Response {
    error(StatusCode::METHOD_NOT_ALLOWED, "method not allowed")
}

/// An error reply: `status` with `{"error": message}`.
fn error(status: StatusCode, message: impl std::fmt::Display) -> Response {
    (status, Json(serde_json::json!({ "error": message.to_string() }))).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::Registry;
    use crate::server::{Config, Server};

    fn app(registry: Registry, max_length: usize) -> Router {
        let config = Config {
            max_length,
            ..Config::default()
        };
        router(Server::new(registry, config).unwrap().ctx)
    }

    async fn call(app: Router, method: &str, uri: &str, body: Body) -> (StatusCode, String) {
        let activity = Arc::new(Activity::new());
        let request = axum::http::Request::builder()
            .method(method)
            .uri(uri)
            .extension(ConnectInfo(SocketAddr::from(([127, 0, 0, 1], 1))))
            .extension(activity)
            .body(body)
            .unwrap();
        let response = app.oneshot(request).await.unwrap();
        let status = response.status();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        (status, String::from_utf8(bytes.to_vec()).unwrap())
    }

    #[tokio::test]
    async fn failing_and_panicking_transforms_are_500() {
        let mut registry = Registry::standard();
        registry.register("fails", "always fails", |_| Err("no rhyme found".into()));
        registry.register("boom", "always panics", |_| panic!("kaboom"));
        let app = app(registry, 1000);
        let (status, body) = call(app.clone(), "POST", "/transform/fails", Body::from("x")).await;
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
        assert!(body.contains("no rhyme found"), "{body}");
        let (status, body) = call(app, "POST", "/transform/cummingsify+boom", Body::from("x")).await;
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
        assert!(body.contains("kaboom"), "{body}");
    }

    /// Posts `chunks` as a body of unknown length (no content-length) to a
    /// server whose `--max-length` is 1000: the name `cummingsify` and its
    /// period take 12 of those bytes.
    async fn post_chunked(chunks: [String; 2]) -> (StatusCode, String) {
        let chunks = chunks.map(|chunk| Ok::<_, std::io::Error>(Bytes::from(chunk)));
        let body = Body::from_stream(futures_util::stream::iter(chunks));
        call(
            app(Registry::standard(), 1000),
            "POST",
            "/transform/cummingsify",
            body,
        )
        .await
    }

    #[tokio::test]
    async fn a_body_of_unknown_length_is_cut_at_the_limit() {
        let (status, body) = post_chunked(["a".repeat(600), "b".repeat(389)]).await;
        assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
        assert!(body.contains("1000 bytes"), "{body}");

        let (status, body) = post_chunked(["A".repeat(600), "B".repeat(388)]).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body, "a".repeat(600) + &"b".repeat(388));
    }

    #[tokio::test]
    async fn a_name_that_is_not_utf8_is_400() {
        let (status, body) = call(
            app(Registry::standard(), 1000),
            "POST",
            "/transform/%FF",
            Body::empty(),
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert!(body.starts_with("{\"error\":"), "{body}");
    }

    #[tokio::test]
    async fn a_chain_over_the_cap_is_400_with_a_message() {
        let chain = ["shout"; 9].join("+");
        let (status, body) = call(
            app(Registry::standard(), 1000),
            "POST",
            &format!("/transform/{chain}"),
            Body::from("x"),
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert!(
            body.contains("chain of 9 transforms is longer than the maximum of 8"),
            "{body}"
        );
    }
}
