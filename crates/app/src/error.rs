//! The use cases' one error type. The web crate maps it to HTTP statuses
//! and translated pages in one place; the command line prints
//! [`Error::detailed`].

use datalab_core::{FieldErrors, PolicyError};
use datalab_files::FilesError;
use datalab_search::SearchError;
use datalab_store::StoreError;

#[derive(Debug, Clone, thiserror::Error)]
pub enum Error {
    #[error("not found")]
    NotFound,
    #[error("you must sign in to do this")]
    NotAuthenticated,
    #[error("you are not allowed to do this")]
    Forbidden,
    #[error("invalid input: {0}")]
    Validation(FieldErrors),
    /// A value is wrong, in words only a lower layer knows (a schema's problem).
    #[error("{field}: {message}")]
    Invalid { field: String, message: String },
    #[error("invalid search query: {0}")]
    SearchQuery(String),
    #[error("the file is larger than the limit of {limit} bytes")]
    PayloadTooLarge { limit: u64 },
    /// An upload stopped before its end.
    #[error("the upload was interrupted: {0}")]
    Interrupted(String),
    #[error("internal error")]
    Internal(String),
}

impl Error {
    pub fn internal(error: impl std::fmt::Display) -> Error {
        Error::Internal(error.to_string())
    }

    /// The error with its details, for a terminal: an internal error's
    /// details are logged, not shown, on the web, but the person at the
    /// command line is the operator.
    pub fn detailed(&self) -> String {
        match self {
            Error::Internal(details) => format!("internal error: {details}"),
            other => other.to_string(),
        }
    }
}

impl From<StoreError> for Error {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::NotFound => Error::NotFound,
            StoreError::Validation(errors) => Error::Validation(errors),
            other => Error::internal(other),
        }
    }
}

impl From<PolicyError> for Error {
    fn from(error: PolicyError) -> Self {
        match error {
            PolicyError::NotAuthenticated => Error::NotAuthenticated,
            PolicyError::Forbidden => Error::Forbidden,
        }
    }
}

impl From<SearchError> for Error {
    fn from(error: SearchError) -> Self {
        match error {
            SearchError::BadQuery(message) => Error::SearchQuery(message),
            other => Error::internal(other),
        }
    }
}

impl From<FilesError> for Error {
    fn from(error: FilesError) -> Self {
        match error {
            FilesError::TooLarge { limit } => Error::PayloadTooLarge { limit },
            FilesError::NotFound => Error::NotFound,
            FilesError::Interrupted(message) => Error::Interrupted(message),
            other => Error::internal(other),
        }
    }
}

impl From<FieldErrors> for Error {
    fn from(errors: FieldErrors) -> Self {
        Error::Validation(errors)
    }
}
