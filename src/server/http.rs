//! The HTTP protocol adapter: the transforms of the netstring port, served
//! over HTTP/1.1 by hyper and routed by axum.
//!
//! - `POST /transform/{name}`: the poem is the body, the transformed poem the reply;
//! - `GET /transforms`: the registry's transforms as JSON;
//! - `GET /healthz`: `ok`;
//! - `GET /metrics`: the server's Prometheus metrics (also on `--metrics-port`).
//!
//! Errors are a status and a JSON body `{"error": "..."}`. Connections come
//! from the server's own accept loop (not `axum::serve`), so the connection
//! limit, the task tracker and graceful shutdown are those of the netstring
//! port, and requests reach the service through the same [`super::transform`].

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes, HttpBody};
use axum::extract::rejection::PathRejection;
use axum::extract::{ConnectInfo, Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use bytes::BytesMut;
use http_body_util::{BodyExt, LengthLimitError, Limited};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use serde::Serialize;
use tokio::net::TcpStream;
use tokio_io_timeout::TimeoutStream;
use tower::ServiceExt;

use super::limits::Reservation;
use super::shutdown::Shutdown;
use super::{Context, Outcome, Protocol};
use crate::registry::RegistryError;
use crate::request::{self, Request, RequestError};

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

/// Serves one HTTP connection (any number of keep-alive requests) to its end.
pub(super) async fn serve(
    stream: TcpStream,
    peer: SocketAddr,
    ctx: Arc<Context>,
    mut shutdown: Shutdown,
    app: Router,
) {
    let timeout = ctx.config.timeout;
    // hyper has no write timeout of its own: a client that stops reading its
    // reply would hold the connection (and its slot) for ever.
    let mut io = TimeoutStream::new(stream);
    io.set_write_timeout(Some(timeout));
    let service = app.map_request(move |mut req: axum::http::Request<Incoming>| {
        req.extensions_mut().insert(ConnectInfo(peer));
        req
    });
    // The header timeout also closes keep-alive connections left idle that long.
    let connection = http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(timeout)
        .serve_connection(TokioIo::new(Box::pin(io)), TowerToHyperService::new(service));
    tokio::pin!(connection);
    let result = tokio::select! {
        result = connection.as_mut() => result,
        () = shutdown.recv() => {
            // Idle connections close now; a request in flight is answered first.
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
    } else if parse {
        tracing::warn!(%peer, "HTTP connection closed: {reason}");
    } else {
        tracing::info!(%peer, "HTTP connection closed: {reason}");
    }
}

/// Why a transform request got an error status instead of a poem.
#[derive(Debug, thiserror::Error)]
enum Failure {
    #[error("bad transform name in the path: {0}")]
    Path(String),
    #[error("poem is longer than the maximum of {max} bytes")]
    TooLong { max: usize },
    #[error("timed out after {} s while reading the poem", .0.as_secs_f64())]
    Timeout(Duration),
    #[error("client went away while sending the poem: {0}")]
    Gone(String),
    #[error("bad request: {0}")]
    Request(#[from] RequestError),
    #[error("{0}")]
    Transform(#[from] RegistryError),
}

impl Failure {
    fn status(&self) -> StatusCode {
        match self {
            Failure::Path(_) | Failure::Request(_) | Failure::Gone(_) => StatusCode::BAD_REQUEST,
            Failure::TooLong { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Failure::Timeout(_) => StatusCode::REQUEST_TIMEOUT,
            Failure::Transform(RegistryError::UnknownTransform { .. }) => StatusCode::NOT_FOUND,
            Failure::Transform(RegistryError::TransformFailed { .. }) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn outcome(&self) -> Outcome {
        match self {
            Failure::Path(_) | Failure::Request(_) => Outcome::BadRequest,
            Failure::TooLong { .. } => Outcome::TooLong,
            Failure::Timeout(_) => Outcome::Timeout,
            Failure::Gone(_) => Outcome::ClientGone,
            Failure::Transform(err) => err.into(),
        }
    }
}

/// `POST /transform/{name}`.
async fn transform(
    State(ctx): State<Arc<Context>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    name: Result<Path<String>, PathRejection>,
    body: Body,
) -> Response {
    let started = Instant::now();
    let name = match name {
        Ok(Path(name)) => Ok(name),
        Err(rejection) => Err(Failure::Path(rejection.body_text())),
    };
    let (name, result) = match name {
        Ok(name) => {
            let result = handle(&ctx, &name, body).await;
            (Some(name), result)
        }
        Err(failure) => (None, Err(failure)),
    };
    match result {
        Ok(reply) => {
            ctx.record(Protocol::Http, name.as_deref(), Outcome::Ok, started);
            let name = name.as_deref().unwrap_or_default();
            tracing::debug!(%peer, transform = request::shorten(name), "replied over HTTP");
            ([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], reply).into_response()
        }
        Err(failure) => {
            let outcome = failure.outcome();
            ctx.record(Protocol::Http, name.as_deref(), outcome, started);
            match outcome {
                Outcome::ClientGone | Outcome::Timeout => {
                    tracing::info!(%peer, outcome = outcome.as_str(), "HTTP error reply: {failure}")
                }
                _ => tracing::warn!(%peer, outcome = outcome.as_str(), "HTTP error reply: {failure}"),
            }
            error(failure.status(), &failure)
        }
    }
}

/// Reads the poem and has it transformed by the one door every protocol shares.
async fn handle(ctx: &Context, name: &str, body: Body) -> Result<String, Failure> {
    let (poem, reservation) = read_poem(ctx, body).await?;
    let request = Request::new(name, poem)?;
    let reply = super::transform(ctx, Protocol::Http, request).await?;
    drop(reservation);
    Ok(reply)
}

/// Reads the body, refusing it once it passes `--max-length` (at once when its
/// declared length does), within `--timeout`, holding a share of the server's
/// buffer budget from its first byte.
async fn read_poem(ctx: &Context, body: Body) -> Result<(Bytes, Option<Reservation>), Failure> {
    let max = ctx.config.max_length;
    let declared = body.size_hint().upper();
    if declared.is_some_and(|len| len > max as u64) {
        return Err(Failure::TooLong { max });
    }
    // `declared` is at most `max` here, which the server keeps within usize.
    let expected = declared.map_or(max, |len| len as usize);
    let timeout = ctx.config.timeout;
    let read = async {
        let mut body = Limited::new(body, max);
        let mut poem = BytesMut::new();
        // Reserved on the first frame, as the netstring port does on the first
        // payload byte: a client that sends headers only holds no budget.
        let mut reservation = None;
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(|err| {
                if err.is::<LengthLimitError>() {
                    Failure::TooLong { max }
                } else {
                    Failure::Gone(err.to_string())
                }
            })?;
            if reservation.is_none() {
                reservation = Some(ctx.budget.reserve(expected).await);
            }
            if let Ok(data) = frame.into_data() {
                poem.extend_from_slice(&data);
            }
        }
        Ok((poem.freeze(), reservation))
    };
    tokio::time::timeout(timeout, read)
        .await
        .map_err(|_| Failure::Timeout(timeout))?
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
        let request = axum::http::Request::builder()
            .method(method)
            .uri(uri)
            .extension(ConnectInfo(SocketAddr::from(([127, 0, 0, 1], 1))))
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
    /// server whose `--max-length` is 1000.
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
        let (status, body) = post_chunked(["a".repeat(600), "b".repeat(401)]).await;
        assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
        assert!(body.contains("1000 bytes"), "{body}");

        let (status, body) = post_chunked(["A".repeat(600), "B".repeat(400)]).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body, "a".repeat(600) + &"b".repeat(400));
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
}
