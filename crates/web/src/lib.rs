//! The HTTP face of datalab: server-rendered pages, the CKAN-compatible
//! Action API (`/api/3/action`), the native API (`/api/v1`), sessions, API
//! tokens, CSRF and static assets.
//!
//! Only this crate knows HTTP and JSON wire shapes. Handlers never decide
//! authorization themselves: they build an `Actor` (see [`context`]) and
//! call the use cases in `datalab_app`, which ask `datalab_core::policy`
//! before reading a restricted object or writing anything.

pub mod api;
pub mod charts;
pub mod ckan;
pub mod context;
pub mod cookies;
pub mod data;
pub mod downloads;
pub mod error;
pub mod feeds;
pub mod forms;
pub mod i18n;
pub mod links;
pub mod pages;
pub mod templates;
pub mod throttle;
pub mod timestamps;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use datalab_app::App;
use tokio::net::TcpListener;

/// Settings of the web layer, filled from the binary's configuration.
#[derive(Debug, Clone)]
pub struct WebSettings {
    /// The public address of the site, used in API examples and absolute links
    /// (for example `https://datos.nl.gob.mx`). Empty: derived from the request.
    pub public_url: String,
    /// Mark cookies `Secure` (when served over HTTPS).
    pub secure_cookies: bool,
    /// When `public_url` is empty: the `Host` names absolute links may be
    /// built from, besides loopback names (lowercase, without port).
    pub allowed_hosts: Vec<String>,
    /// The header a trusted reverse proxy gives the client's address in
    /// (lowercase; empty: the connection's address is the client's).
    pub trusted_proxy_header: String,
    /// The connection addresses `trusted_proxy_header` is believed from
    /// (any other client could write it to pass for someone else).
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// Heavy requests (SQL, exports) one client address may have in flight.
    pub heavy_requests_per_address: usize,
    /// Failed logins allowed per account and per client address in 15 minutes.
    pub login_attempts_per_window: u32,
    /// Largest JSON or form body accepted by the APIs and forms (uploads apart).
    pub max_body_bytes: usize,
}

impl Default for WebSettings {
    fn default() -> Self {
        WebSettings {
            public_url: String::new(),
            secure_cookies: false,
            allowed_hosts: Vec::new(),
            trusted_proxy_header: String::new(),
            trusted_proxies: ["127.0.0.0/8", "::1/128"]
                .iter()
                .map(|network| network.parse().expect("loopback networks parse"))
                .collect(),
            heavy_requests_per_address: 2,
            login_attempts_per_window: 10,
            max_body_bytes: 8 * 1024 * 1024,
        }
    }
}

/// What every handler can reach. Cheap to clone.
#[derive(Clone)]
pub struct AppState {
    /// The use cases, with the stores they work on.
    pub app: App,
    pub templates: Arc<templates::Templates>,
    pub settings: Arc<WebSettings>,
    pub login_limiter: Arc<throttle::LoginLimiter>,
    /// Heavy requests in flight per client address.
    pub heavy_slots: Arc<throttle::AddressSlots>,
}

impl AppState {
    pub fn new(app: App, settings: WebSettings) -> AppState {
        AppState {
            app,
            templates: Arc::new(templates::Templates::new()),
            login_limiter: Arc::new(throttle::LoginLimiter::new(settings.login_attempts_per_window)),
            heavy_slots: Arc::new(throttle::AddressSlots::new(settings.heavy_requests_per_address)),
            settings: Arc::new(settings),
        }
    }
}

pub fn router(state: AppState) -> Router {
    let max_body = state.settings.max_body_bytes;
    Router::new()
        .merge(pages::routes())
        .merge(ckan::routes())
        .merge(api::routes())
        .merge(downloads::routes())
        .fallback(pages::not_found)
        .layer(axum::middleware::from_fn_with_state(state.clone(), context::request_context))
        .layer(axum::middleware::from_fn_with_state(state.clone(), error::render_error_pages))
        .layer(axum::middleware::from_fn(security_headers))
        .layer(axum::extract::DefaultBodyLimit::max(max_body))
        .layer(tower_http::trace::TraceLayer::new_for_http())
        // A bug that panics in one request answers 500 (and is logged)
        // instead of dropping the connection; the server goes on.
        .layer(tower_http::catch_panic::CatchPanicLayer::custom(panic_response))
        .layer(tower_http::compression::CompressionLayer::new().compress_when(compressible()))
        .with_state(state)
}

/// The policy every page is served under: only this site's own styles,
/// images and forms; no scripts, no plugins, no framing by other sites.
/// (The JSON-LD block of a dataset page is data, which `script-src` does
/// not govern.)
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; style-src 'self'; img-src 'self' data:; \
    font-src 'self'; connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'";

/// Headers every answer carries, pages, APIs and errors alike; and a
/// `Retry-After` on every 429.
async fn security_headers(request: axum::extract::Request, next: axum::middleware::Next) -> axum::response::Response {
    use axum::http::{HeaderValue, StatusCode, header};
    let mut response = next.run(request).await;
    let status = response.status();
    let headers = response.headers_mut();
    for (name, value) in [
        (header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::REFERRER_POLICY, "strict-origin-when-cross-origin"),
        (header::X_FRAME_OPTIONS, "DENY"),
    ] {
        headers.entry(name).or_insert(HeaderValue::from_static(value));
    }
    if status == StatusCode::TOO_MANY_REQUESTS {
        headers.entry(header::RETRY_AFTER).or_insert(HeaderValue::from_static("5"));
    }
    response
}

/// The answer to a request whose handler panicked.
fn panic_response(panic: Box<dyn std::any::Any + Send + 'static>) -> axum::response::Response {
    let details = panic
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| panic.downcast_ref::<&str>().copied())
        .unwrap_or("a panic");
    tracing::error!(details, "a request's handler panicked");
    axum::response::IntoResponse::into_response(error::AppError::Internal(details.to_string()))
}

/// What the compression layer compresses: text-like answers, not files
/// that are compressed already (Parquet, XLSX, zip) nor stored files served
/// with byte ranges, whose length, ranges and ETag must describe the bytes
/// as stored.
fn compressible() -> impl tower_http::compression::Predicate {
    use tower_http::compression::Predicate;
    use tower_http::compression::predicate::{DefaultPredicate, NotForContentType};
    DefaultPredicate::new()
        .and(NotForContentType::const_new("application/vnd.apache.parquet"))
        .and(NotForContentType::const_new("application/vnd.openxmlformats-officedocument"))
        .and(NotForContentType::const_new("application/zip"))
        .and(|_status, _version, headers: &axum::http::HeaderMap, _extensions: &axum::http::Extensions| {
            !headers.contains_key(axum::http::header::ACCEPT_RANGES)
        })
}

/// Serves until `shutdown` resolves, then finishes the requests in flight.
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let app = router(state).into_make_service_with_connect_info::<SocketAddr>();
    axum::serve(listener, app).with_graceful_shutdown(shutdown).await
}
