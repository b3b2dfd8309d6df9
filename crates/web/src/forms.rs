//! Bounds every form and multipart body is read under, whichever door
//! reads it: the number of parts, and each text field's size as it streams.

use crate::error::AppError;

/// Largest text field accepted in a multipart form.
pub const MAX_FORM_FIELD_BYTES: usize = 1024 * 1024;
/// Most parts a multipart form may have.
pub const MAX_FORM_FIELDS: usize = 256;

/// A multipart form's text field, read chunk by chunk and refused as soon
/// as it passes `limit` bytes (never read whole first).
pub async fn bounded_text(field: &mut axum::extract::multipart::Field<'_>, limit: usize) -> Result<String, AppError> {
    let name = field.name().unwrap_or("").to_string();
    let mut value = Vec::new();
    while let Some(chunk) = field.chunk().await.map_err(|error| AppError::BadRequest(error.to_string()))? {
        if value.len() + chunk.len() > limit {
            return Err(AppError::Validation(datalab_core::FieldErrors::single(
                &name,
                datalab_core::FieldError::TooLong,
            )));
        }
        value.extend_from_slice(&chunk);
    }
    String::from_utf8(value).map_err(|_| AppError::BadRequest(format!("field {name} is not UTF-8 text")))
}

/// Counts a multipart form's parts against [`MAX_FORM_FIELDS`].
pub fn count_part(parts: &mut usize) -> Result<(), AppError> {
    *parts += 1;
    if *parts > MAX_FORM_FIELDS {
        return Err(AppError::BadRequest(format!("the form has more than {} fields", MAX_FORM_FIELDS)));
    }
    Ok(())
}
