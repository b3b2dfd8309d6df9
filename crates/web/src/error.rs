//! The web layer's one error type and its mapping to HTTP.
//!
//! Handlers return [`AppError`]. For pages, its `IntoResponse` only sets the
//! status and tags the response; [`render_error_pages`] then renders the
//! translated error page, because only it knows the reader's language. The
//! APIs map the same error to their own JSON shapes (`ckan::envelope`,
//! `api::ApiError`). Internal errors are logged with their details and shown
//! to nobody.

use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use datalab_core::{FieldErrors, PolicyError};
use datalab_files::FilesError;
use datalab_search::SearchError;
use datalab_store::StoreError;

use axum::Json;
use serde::Serialize;
use utoipa::ToSchema;

use crate::AppState;
use crate::i18n::Lang;

#[derive(Debug, Clone, thiserror::Error)]
pub enum AppError {
    #[error("not found")]
    NotFound,
    #[error("you must sign in to do this")]
    NotAuthenticated,
    #[error("you are not allowed to do this")]
    Forbidden,
    #[error("invalid input: {0}")]
    Validation(FieldErrors),
    /// A query parameter is wrong, in words only the query layer knows (a column's name, a SQL error).
    #[error("{field}: {message}")]
    Invalid { field: String, message: String },
    #[error("{0}")]
    BadRequest(String),
    #[error("invalid search query: {0}")]
    SearchQuery(String),
    #[error("the file is larger than the limit of {limit} bytes")]
    PayloadTooLarge { limit: u64 },
    #[error("too many attempts, try again later")]
    TooManyRequests,
    #[error("the form expired or was sent from another site; reload the page and try again")]
    Csrf,
    #[error("internal error")]
    Internal(String),
}

impl AppError {
    pub fn internal(error: impl std::fmt::Display) -> AppError {
        AppError::Internal(error.to_string())
    }

    pub fn status(&self) -> StatusCode {
        match self {
            AppError::NotFound => StatusCode::NOT_FOUND,
            AppError::NotAuthenticated | AppError::Forbidden | AppError::Csrf => StatusCode::FORBIDDEN,
            AppError::Validation(_) | AppError::Invalid { .. } => StatusCode::CONFLICT,
            AppError::BadRequest(_) | AppError::SearchQuery(_) => StatusCode::BAD_REQUEST,
            AppError::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            AppError::TooManyRequests => StatusCode::TOO_MANY_REQUESTS,
            AppError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The translation key of the page shown for this error.
    pub fn message_key(&self) -> &'static str {
        match self {
            AppError::NotFound => "error-not-found",
            AppError::NotAuthenticated => "error-not-authenticated",
            AppError::Forbidden => "error-forbidden",
            AppError::Validation(_) | AppError::Invalid { .. } => "error-validation",
            AppError::BadRequest(_) => "error-bad-request",
            AppError::SearchQuery(_) => "error-search-query",
            AppError::PayloadTooLarge { .. } => "error-too-large",
            AppError::TooManyRequests => "error-too-many-requests",
            AppError::Csrf => "error-csrf",
            AppError::Internal(_) => "error-internal",
        }
    }

    /// The error with its details, for a terminal: an internal error's
    /// details are logged, not shown, on the web, but the person at the
    /// command line is the operator.
    pub fn detailed(&self) -> String {
        match self {
            AppError::Internal(details) => format!("internal error: {details}"),
            other => other.to_string(),
        }
    }

    /// Logs what must be logged; called wherever the error is turned into a response.
    pub fn log(&self) {
        if let AppError::Internal(details) = self {
            tracing::error!(%details, "internal error");
        }
    }
}

// The lower layers' errors mean what they mean to the use cases: one
// mapping, the application's, then its mapping to the web's.
impl From<StoreError> for AppError {
    fn from(error: StoreError) -> Self {
        datalab_app::Error::from(error).into()
    }
}

impl From<PolicyError> for AppError {
    fn from(error: PolicyError) -> Self {
        datalab_app::Error::from(error).into()
    }
}

impl From<SearchError> for AppError {
    fn from(error: SearchError) -> Self {
        datalab_app::Error::from(error).into()
    }
}

impl From<FilesError> for AppError {
    fn from(error: FilesError) -> Self {
        match error {
            FilesError::TooLarge { limit } => AppError::PayloadTooLarge { limit },
            FilesError::NotFound => AppError::NotFound,
            FilesError::Interrupted(message) => AppError::BadRequest(format!("the upload was interrupted: {message}")),
            FilesError::RangeNotSatisfiable => AppError::BadRequest("requested range is not satisfiable".into()),
            other => AppError::internal(other),
        }
    }
}

impl From<datalab_query::QueryError> for AppError {
    fn from(error: datalab_query::QueryError) -> Self {
        use datalab_query::QueryError;
        match error {
            QueryError::Invalid { field, message } => AppError::Invalid { field, message },
            QueryError::Refused(message) => AppError::Invalid { field: "sql".into(), message },
            QueryError::TimedOut(limit) => AppError::Invalid {
                field: "sql".into(),
                message: format!("the query took longer than the limit of {} s", limit.as_secs_f64()),
            },
            QueryError::TooBig(message) => AppError::Invalid {
                field: "sql".into(),
                message: format!("the query needs more memory than it is allowed ({message})"),
            },
            QueryError::Rejected(message) => AppError::Invalid { field: "query".into(), message },
            QueryError::Busy(_) => AppError::TooManyRequests,
            QueryError::Failed(message) => AppError::Internal(message),
        }
    }
}

impl From<datalab_app::Error> for AppError {
    fn from(error: datalab_app::Error) -> Self {
        use datalab_app::Error;
        match error {
            Error::NotFound => AppError::NotFound,
            Error::NotAuthenticated => AppError::NotAuthenticated,
            Error::Forbidden => AppError::Forbidden,
            Error::Validation(errors) => AppError::Validation(errors),
            Error::Invalid { field, message } => AppError::Invalid { field, message },
            Error::SearchQuery(message) => AppError::SearchQuery(message),
            Error::PayloadTooLarge { limit } => AppError::PayloadTooLarge { limit },
            Error::Interrupted(message) => AppError::BadRequest(format!("the upload was interrupted: {message}")),
            Error::Internal(details) => AppError::Internal(details),
        }
    }
}

impl From<FieldErrors> for AppError {
    fn from(errors: FieldErrors) -> Self {
        AppError::Validation(errors)
    }
}

/// Marks a response whose body the error-page middleware must render.
#[derive(Clone)]
struct ErrorPage(AppError);

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        self.log();
        let mut response = (self.status(), self.to_string()).into_response();
        response.extensions_mut().insert(ErrorPage(self));
        response
    }
}

/// Renders the translated HTML page of any [`AppError`] a page handler returned.
pub async fn render_error_pages(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let lang = Lang::from_request(&request);
    let response = next.run(request).await;
    let Some(ErrorPage(error)) = response.extensions().get::<ErrorPage>().cloned() else {
        return response;
    };
    let status = response.status();
    let mut page = state.templates.render_error(lang, &error);
    *page.status_mut() = status;
    for header in [axum::http::header::SET_COOKIE] {
        for value in response.headers().get_all(&header) {
            page.headers_mut().append(header.clone(), value.clone());
        }
    }
    page
}

/// Errors of the native API: a stable code, a message, and per-field codes for invalid input.
#[derive(Serialize, ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Serialize, ToSchema)]
pub struct ErrorDetail {
    /// Stable: not-found, unauthenticated, forbidden, invalid, bad-request, search-query, too-large, too-many-requests, internal.
    pub code: String,
    pub message: String,
    /// For `invalid`: field name → error codes (for example `name` → [`name-taken`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fields: Option<std::collections::BTreeMap<String, Vec<String>>>,
}

pub struct ApiError(AppError);

impl ApiError {
    pub fn into_app_error(self) -> AppError {
        self.0
    }
}

impl From<AppError> for ApiError {
    fn from(error: AppError) -> Self {
        ApiError(error)
    }
}

impl From<datalab_app::Error> for ApiError {
    fn from(error: datalab_app::Error) -> Self {
        ApiError(error.into())
    }
}

impl From<datalab_store::StoreError> for ApiError {
    fn from(error: datalab_store::StoreError) -> Self {
        ApiError(error.into())
    }
}

impl From<datalab_core::PolicyError> for ApiError {
    fn from(error: datalab_core::PolicyError) -> Self {
        ApiError(error.into())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let error = self.0;
        error.log();
        let code = match &error {
            AppError::NotFound => "not-found",
            AppError::NotAuthenticated => "unauthenticated",
            AppError::Forbidden | AppError::Csrf => "forbidden",
            AppError::Validation(_) | AppError::Invalid { .. } => "invalid",
            AppError::BadRequest(_) => "bad-request",
            AppError::SearchQuery(_) => "search-query",
            AppError::PayloadTooLarge { .. } => "too-large",
            AppError::TooManyRequests => "too-many-requests",
            AppError::Internal(_) => "internal",
        };
        let fields = match &error {
            AppError::Validation(fields) => Some(
                fields
                    .0
                    .iter()
                    .map(|(field, errors)| {
                        (field.clone(), errors.iter().map(|error| error.code().to_string()).collect())
                    })
                    .collect(),
            ),
            AppError::Invalid { field, message } => {
                Some([(field.clone(), vec![message.clone()])].into_iter().collect())
            }
            _ => None,
        };
        let message = match &error {
            AppError::Internal(_) => "internal error".to_string(),
            other => other.to_string(),
        };
        (error.status(), Json(ErrorBody { error: ErrorDetail { code: code.into(), message, fields } })).into_response()
    }
}
