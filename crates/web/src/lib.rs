//! The HTTP face of datalab: server-rendered pages, the CKAN-compatible
//! Action API (`/api/3/action`), the native API (`/api/v1`), sessions, API
//! tokens, CSRF and static assets.
//!
//! Only this crate knows HTTP and JSON wire shapes. Handlers never decide
//! authorization themselves: they build an `Actor` (see [`context`]) and the
//! operations in [`catalog`] ask `datalab_core::policy` before reading a
//! restricted object or writing anything.

pub mod accountability;
pub mod api;
pub mod catalog;
pub mod charts;
pub mod ckan;
pub mod context;
pub mod data;
pub mod downloads;
pub mod error;
pub mod i18n;
pub mod pages;
pub mod templates;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use datalab_files::FileStore;
use datalab_search::SearchIndex;
use datalab_store::Store;
use tokio::net::TcpListener;

/// Settings of the web layer, filled from the binary's configuration.
#[derive(Debug, Clone)]
pub struct WebSettings {
    /// The public address of the site, used in API examples and absolute links
    /// (for example `https://datos.nl.gob.mx`). Empty: derived from the request.
    pub public_url: String,
    /// Mark cookies `Secure` (when served over HTTPS).
    pub secure_cookies: bool,
    /// Failed logins allowed per account and per client address in 15 minutes.
    pub login_attempts_per_window: u32,
    /// Largest JSON or form body accepted by the APIs and forms (uploads apart).
    pub max_body_bytes: usize,
    /// Analyse uploaded tables in the background. Off for `datalab import`,
    /// which analyses in the foreground with a progress bar.
    pub background_analysis: bool,
}

impl Default for WebSettings {
    fn default() -> Self {
        WebSettings {
            public_url: String::new(),
            secure_cookies: false,
            login_attempts_per_window: 10,
            max_body_bytes: 8 * 1024 * 1024,
            background_analysis: true,
        }
    }
}

/// What every handler can reach. Cheap to clone.
#[derive(Clone)]
pub struct AppState {
    pub store: Store,
    pub files: FileStore,
    pub search: Arc<SearchIndex>,
    /// Row-level queries over the tables ingestion wrote.
    pub query: Arc<datalab_query::QueryEngine>,
    pub templates: Arc<templates::Templates>,
    pub settings: Arc<WebSettings>,
    pub login_limiter: Arc<context::LoginLimiter>,
    /// Ingestion jobs run one at a time: each is bounded in memory, and
    /// they would only share the same cores.
    pub ingest_slots: Arc<tokio::sync::Semaphore>,
}

impl AppState {
    pub fn new(
        store: Store,
        files: FileStore,
        search: Arc<SearchIndex>,
        query: Arc<datalab_query::QueryEngine>,
        settings: WebSettings,
    ) -> AppState {
        AppState {
            store,
            files,
            search,
            query,
            templates: Arc::new(templates::Templates::new()),
            login_limiter: Arc::new(context::LoginLimiter::new(settings.login_attempts_per_window)),
            settings: Arc::new(settings),
            ingest_slots: Arc::new(tokio::sync::Semaphore::new(1)),
        }
    }
}

pub fn router(state: AppState) -> Router {
    let max_body = state.settings.max_body_bytes;
    Router::new()
        .merge(pages::routes())
        .merge(ckan::routes())
        .merge(api::routes())
        .merge(data::routes())
        .merge(downloads::routes())
        .fallback(pages::not_found)
        .layer(axum::middleware::from_fn_with_state(state.clone(), context::request_context))
        .layer(axum::middleware::from_fn_with_state(state.clone(), error::render_error_pages))
        .layer(axum::extract::DefaultBodyLimit::max(max_body))
        .layer(tower_http::trace::TraceLayer::new_for_http())
        .layer(tower_http::compression::CompressionLayer::new())
        .with_state(state)
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
