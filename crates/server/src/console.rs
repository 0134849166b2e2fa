//! The console: the web interface in `ui/` (built into `ui/dist`, committed, and embedded in the
//! binary, so serving it needs no Node and no other process). `GET /` and the console's own
//! paths answer its page; its assets are under `/assets/`; the API's prefixes keep their JSON
//! answers (an unknown `/api/…` stays a JSON 404). Every console answer carries a strict Content
//! Security Policy: scripts, styles and connections from this origin only (docs/console.md).

use axum::extract::{Path, Request};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use include_dir::{Dir, include_dir};

use crate::api::error;

static DIST: Dir<'static> = include_dir!("$CARGO_MANIFEST_DIR/../../ui/dist");

const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
                   connect-src 'self'; frame-ancestors 'none'";

/// The first segments of the console's own pages.
const PAGES: [&str; 7] = [
    "workflows",
    "runs",
    "events",
    "deliveries",
    "schedules",
    "admin",
    "sign-in",
];

fn secured(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    response
}

fn page() -> Response {
    let html = DIST
        .get_file("index.html")
        .map(|f| f.contents())
        .unwrap_or_default();
    let response = (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        html,
    );
    secured(response.into_response())
}

/// `/assets/<file>`: named by their content hash, so cached for good.
pub async fn asset(Path(file): Path<String>) -> Response {
    let Some(found) = DIST.get_file(format!("assets/{file}")) else {
        return error::no_route().await.into_response();
    };
    let content_type = match file.rsplit('.').next() {
        Some("js") => "text/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        Some("woff2") => "font/woff2",
        _ => "application/octet-stream",
    };
    let response = (
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "public, max-age=31536000, immutable"),
        ],
        found.contents(),
    );
    secured(response.into_response())
}

/// What no route matched: the console's page for its own paths (GET), else the API's JSON 404.
pub async fn fallback(request: Request) -> Response {
    let path = request.uri().path();
    let first = path
        .trim_start_matches('/')
        .split('/')
        .next()
        .unwrap_or_default();
    let console = path == "/" || PAGES.contains(&first);
    let reads = matches!(
        *request.method(),
        axum::http::Method::GET | axum::http::Method::HEAD
    );
    if reads && console {
        return page();
    }
    error::no_route().await.into_response()
}
