//! File downloads: streamed from storage with Content-Type, Content-Length,
//! ETag (the SHA-256) and single-range requests, after the same read check
//! as the dataset page. Links to outside files redirect.

use axum::Router;
use axum::body::Body;
use axum::extract::{Path, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use datalab_core::ResourceLocation;
use uuid::Uuid;

use crate::AppState;
use crate::context::{RequestContext, api_caller};
use crate::error::AppError;
use datalab_app::catalog;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/dataset/{dataset}/resource/{resource}/download", get(download))
        .route("/dataset/{dataset}/resource/{resource}/download/{filename}", get(download_named))
}

async fn download_named(
    state: State<AppState>,
    Path((dataset, resource, _filename)): Path<(String, Uuid, String)>,
    context: RequestContext,
    request: Request,
) -> Result<Response, AppError> {
    serve(state, dataset, resource, context, request).await
}

async fn download(
    state: State<AppState>,
    Path((dataset, resource)): Path<(String, Uuid)>,
    context: RequestContext,
    request: Request,
) -> Result<Response, AppError> {
    serve(state, dataset, resource, context, request).await
}

/// Parses a single `bytes=` range against a file of `size` bytes into a
/// half-open range. `None`: no usable range header, send everything.
/// `Some(Err)`: a range that cannot be satisfied.
pub fn parse_range(header: &str, size: u64) -> Option<Result<std::ops::Range<u64>, ()>> {
    let spec = header.trim().strip_prefix("bytes=")?;
    if spec.contains(',') {
        return None; // multiple ranges: answer with the whole file, as RFC 9110 allows
    }
    let (start, end) = spec.split_once('-')?;
    let range = match (start.trim(), end.trim()) {
        ("", suffix) => {
            let length: u64 = suffix.parse().ok()?;
            if length == 0 {
                return Some(Err(()));
            }
            size.saturating_sub(length)..size
        }
        (start, "") => start.parse().ok()?..size,
        (start, end) => {
            let start: u64 = start.parse().ok()?;
            let end: u64 = end.parse().ok()?;
            if end < start {
                return None;
            }
            start..end.saturating_add(1).min(size)
        }
    };
    if range.start >= size || range.is_empty() { Some(Err(())) } else { Some(Ok(range)) }
}

async fn serve(
    State(state): State<AppState>,
    dataset_id: String,
    resource_id: Uuid,
    context: RequestContext,
    request: Request,
) -> Result<Response, AppError> {
    let actor =
        if request.headers().contains_key(header::AUTHORIZATION) || request.headers().contains_key("X-CKAN-API-Key") {
            api_caller(&state, request.headers()).await?.0
        } else {
            context.actor.clone()
        };
    let resource = state.app.store.resource(resource_id).await?;
    let dataset = state.app.store.dataset(&resource.dataset_id.to_string()).await?;
    if dataset.id.to_string() != dataset_id && dataset.name != dataset_id {
        return Err(AppError::NotFound);
    }
    // A private dataset is not found, rather than forbidden, for those who may not see it.
    actor.authorize(catalog::read_action(&dataset)).map_err(|_| AppError::NotFound)?;
    let (storage_key, filename) = match &resource.location {
        ResourceLocation::Link { url } => return Ok(Redirect::to(url).into_response()),
        ResourceLocation::Upload { storage_key, filename } => (storage_key.clone(), filename.clone()),
    };
    let etag = format!("\"{}\"", resource.sha256);
    if request
        .headers()
        .get(header::IF_NONE_MATCH)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value == etag || value == "*")
    {
        return Ok((StatusCode::NOT_MODIFIED, [(header::ETAG, etag)]).into_response());
    }
    let size = resource.size.unwrap_or(0).max(0) as u64;
    let range_header = request.headers().get(header::RANGE).and_then(|value| value.to_str().ok()).map(str::to_string);
    let if_range_ok =
        request.headers().get(header::IF_RANGE).and_then(|value| value.to_str().ok()).is_none_or(|value| value == etag);
    let range = match range_header.as_deref().filter(|_| if_range_ok).and_then(|header| parse_range(header, size)) {
        Some(Err(())) => {
            return Ok((StatusCode::RANGE_NOT_SATISFIABLE, [(header::CONTENT_RANGE, format!("bytes */{size}"))])
                .into_response());
        }
        Some(Ok(range)) => Some(range),
        None => None,
    };
    let reader = state.app.files.open(&storage_key, range.clone()).await?;
    let length = reader.range.end - reader.range.start;
    let mut response = Response::new(Body::from_stream(reader.stream));
    let headers = response.headers_mut();
    let mimetype = if resource.mimetype.is_empty() { "application/octet-stream" } else { &resource.mimetype };
    let content_type =
        if mimetype.starts_with("text/") { format!("{mimetype}; charset=utf-8") } else { mimetype.to_string() };
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_str(&content_type).unwrap_or(HeaderValue::from_static("application/octet-stream")),
    );
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(length));
    headers.insert(header::ETAG, HeaderValue::from_str(&etag).expect("hex etag"));
    headers.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    headers.insert(
        header::LAST_MODIFIED,
        HeaderValue::from_str(&httpdate::fmt_http_date(resource.last_modified.into())).expect("http date"),
    );
    headers.insert("X-Content-Type-Options", HeaderValue::from_static("nosniff"));
    let encoded = percent_encoding::utf8_percent_encode(&filename, percent_encoding::NON_ALPHANUMERIC).to_string();
    headers.insert(
        header::CONTENT_DISPOSITION,
        HeaderValue::from_str(&format!("attachment; filename*=UTF-8''{encoded}")).expect("encoded filename is ascii"),
    );
    if range.is_some() {
        headers.insert(
            header::CONTENT_RANGE,
            HeaderValue::from_str(&format!(
                "bytes {}-{}/{}",
                reader.range.start,
                reader.range.end - 1,
                reader.total_size
            ))
            .expect("ascii"),
        );
        *response.status_mut() = StatusCode::PARTIAL_CONTENT;
    }
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::parse_range;

    #[test]
    fn ranges() {
        assert_eq!(parse_range("bytes=0-9", 100), Some(Ok(0..10)));
        assert_eq!(parse_range("bytes=90-", 100), Some(Ok(90..100)));
        assert_eq!(parse_range("bytes=-5", 100), Some(Ok(95..100)));
        assert_eq!(parse_range("bytes=50-500", 100), Some(Ok(50..100)));
        assert_eq!(parse_range("bytes=100-", 100), Some(Err(())));
        assert_eq!(parse_range("bytes=0-1,5-6", 100), None);
        assert_eq!(parse_range("items=0-1", 100), None);
    }
}
