//! Absolute links: the site's base URL (never from a forged `Host`) and the
//! URL a resource's file is downloaded from.

use axum::http::{HeaderMap, header};
use datalab_core::{Resource, ResourceLocation};

use crate::AppState;

/// The site's base URL: the configured public URL; without one, the
/// request's `Host` when it is a loopback name or an allowed host, and
/// `http://localhost` otherwise, so that a forged `Host` never reaches a
/// link.
pub fn base_url(state: &AppState, headers: &HeaderMap) -> String {
    if !state.settings.public_url.is_empty() {
        return state.settings.public_url.trim_end_matches('/').to_string();
    }
    let scheme = if state.settings.secure_cookies { "https" } else { "http" };
    let host = headers.get(header::HOST).and_then(|value| value.to_str().ok()).unwrap_or("");
    match host.parse::<axum::http::uri::Authority>() {
        Ok(authority) if !authority.as_str().contains('@') && allowed_host(&state.settings, authority.host()) => {
            format!("{scheme}://{authority}")
        }
        _ => format!("{scheme}://localhost"),
    }
}

fn allowed_host(settings: &crate::WebSettings, host: &str) -> bool {
    let host = host.to_lowercase();
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    host == "localhost"
        || bare.parse::<std::net::IpAddr>().is_ok_and(|address| address.is_loopback())
        || settings.allowed_hosts.contains(&host)
}

/// Where a resource's file is: its download path on this site for an
/// upload (the file name kept for display only), its URL for a link.
pub fn resource_url(base_url: &str, resource: &Resource) -> String {
    match &resource.location {
        ResourceLocation::Upload { filename, .. } => format!(
            "{base_url}/dataset/{}/resource/{}/download/{}",
            resource.dataset_id,
            resource.id,
            percent_encoding::utf8_percent_encode(filename, percent_encoding::NON_ALPHANUMERIC)
        ),
        ResourceLocation::Link { url } => url.clone(),
    }
}
