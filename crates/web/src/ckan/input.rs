//! Reading CKAN input dictionaries into domain objects.
//!
//! CKAN clients send values as JSON (typed) or as form fields (all strings);
//! both are accepted. Read-only keys CKAN itself returns (`metadata_created`,
//! `organization`, `num_resources`…) are ignored so that a dict read with
//! `package_show` can be sent back to `package_update` unchanged; any other
//! unknown key is a validation error naming it, so typos do not vanish.

use datalab_core::{Dataset, FieldError, FieldErrors, Resource, ResourceLocation, State};
use serde_json::{Map, Value};

pub type Params = Map<String, Value>;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Every writable field is taken from the input; absent ones get defaults.
    Replace,
    /// Only the fields present in the input change.
    Patch,
}

const PACKAGE_READ_ONLY: &[&str] = &[
    "id",
    "type",
    "organization",
    "license_title",
    "license_url",
    "isopen",
    "creator_user_id",
    "metadata_created",
    "metadata_modified",
    "num_tags",
    "num_resources",
    "relationships_as_object",
    "relationships_as_subject",
    "revision_id",
    "tracking_summary",
    "owner_org",
    "resources",
    "groups",
    "tags",
    "tag_string",
    "extras",
    "include_private",
    "return_id_only",
    "package_id",
];

use datalab_core::DATASET_TEXT_FIELDS as PACKAGE_TEXT_FIELDS;

const RESOURCE_READ_ONLY: &[&str] = &[
    "id",
    "package_id",
    "position",
    "url_type",
    "size",
    "mimetype",
    "hash",
    "created",
    "last_modified",
    "metadata_modified",
    "state",
    "datastore_active",
    "datalab_analysis",
    "cache_url",
    "cache_last_updated",
    "mimetype_inner",
    "resource_type",
    "upload",
    "tracking_summary",
];

/// A value as text: strings as they are, numbers and booleans printed, null empty.
pub fn text(value: &Value) -> Option<String> {
    match value {
        Value::Null => Some(String::new()),
        Value::String(text) => Some(text.clone()),
        Value::Number(number) => Some(number.to_string()),
        Value::Bool(flag) => Some(flag.to_string()),
        _ => None,
    }
}

pub fn boolean(value: &Value) -> Option<bool> {
    match value {
        Value::Bool(flag) => Some(*flag),
        Value::String(text) => match text.to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" | "on" => Some(true),
            "false" | "0" | "no" | "off" | "" => Some(false),
            _ => None,
        },
        Value::Number(number) => number.as_i64().map(|number| number != 0),
        Value::Null => Some(false),
        _ => None,
    }
}

/// A list given as a JSON list (of strings or of dicts with `key`), or as
/// comma-separated text (form fields).
fn names(value: &Value, key: &str) -> Option<Vec<String>> {
    match value {
        Value::Null => Some(Vec::new()),
        Value::String(text) => {
            let trimmed = text.trim();
            if trimmed.starts_with('[') {
                return serde_json::from_str::<Value>(trimmed).ok().and_then(|parsed| names(&parsed, key));
            }
            Some(trimmed.split(',').map(str::trim).filter(|part| !part.is_empty()).map(String::from).collect())
        }
        Value::Array(items) => items
            .iter()
            .map(|item| match item {
                Value::String(text) => Some(text.trim().to_string()),
                Value::Object(object) => object
                    .get(key)
                    .or_else(|| object.get("id"))
                    .and_then(|value| value.as_str())
                    .map(|text| text.trim().to_string()),
                _ => None,
            })
            .collect(),
        _ => None,
    }
}

fn extras(value: &Value) -> Option<Vec<(String, String)>> {
    let value = match value {
        Value::String(text) => serde_json::from_str::<Value>(text).ok()?,
        other => other.clone(),
    };
    match value {
        Value::Null => Some(Vec::new()),
        Value::Array(items) => items
            .iter()
            .map(|item| {
                let object = item.as_object()?;
                Some((object.get("key")?.as_str()?.to_string(), text(object.get("value").unwrap_or(&Value::Null))?))
            })
            .collect(),
        _ => None,
    }
}

/// Applies a package dict to `dataset`. The owner organization and the
/// resources are resolved by the caller (they need the database).
pub fn apply_package(dataset: &mut Dataset, input: &Params, mode: Mode) -> FieldErrors {
    let mut errors = FieldErrors::new();
    for key in input.keys() {
        if !PACKAGE_TEXT_FIELDS.contains(&key.as_str())
            && !PACKAGE_READ_ONLY.contains(&key.as_str())
            && !matches!(key.as_str(), "private" | "state" | "spatial")
        {
            errors.add(key, FieldError::UnknownField);
        }
    }
    let present = |key: &str| mode == Mode::Replace || input.contains_key(key);
    for field in PACKAGE_TEXT_FIELDS {
        if !present(field) {
            continue;
        }
        let value = match input.get(*field).map(text) {
            None => String::new(),
            Some(Some(value)) => value.trim().to_string(),
            Some(None) => {
                errors.add(field, FieldError::UnknownValue);
                continue;
            }
        };
        let target = dataset.text_field_mut(field).expect("every text field has a target");
        *target = value;
    }
    if mode == Mode::Replace && dataset.license_id.is_empty() {
        dataset.license_id = datalab_core::licenses::DEFAULT_LICENSE_ID.to_string();
    }
    if mode == Mode::Replace && dataset.title.is_empty() {
        // CKAN titles default to the name.
        dataset.title = dataset.name.clone();
    }
    if present("private") {
        match input.get("private").map(boolean).unwrap_or(Some(false)) {
            Some(flag) => dataset.private = flag,
            None => errors.add("private", FieldError::NotABoolean),
        }
    }
    if let Some(value) = input.get("state") {
        match value.as_str().and_then(State::parse) {
            Some(state) if state != State::Deleted => dataset.state = state,
            _ => errors.add("state", FieldError::UnknownValue),
        }
    }
    if present("spatial") {
        match input.get("spatial").map(|value| names(value, "name")).unwrap_or(Some(Vec::new())) {
            Some(codes) => dataset.dcat.spatial = codes,
            None => errors.add("spatial", FieldError::NotAList),
        }
    }
    let tags_value = input.get("tags").or_else(|| input.get("tag_string"));
    if mode == Mode::Replace || tags_value.is_some() {
        match tags_value.map(|value| names(value, "name")).unwrap_or(Some(Vec::new())) {
            Some(tags) => dataset.tags = tags,
            None => errors.add("tags", FieldError::NotAList),
        }
    }
    if present("groups") {
        match input.get("groups").map(|value| names(value, "name")).unwrap_or(Some(Vec::new())) {
            Some(groups) => dataset.groups = groups,
            None => errors.add("groups", FieldError::NotAList),
        }
    }
    if present("extras") {
        match input.get("extras").map(extras).unwrap_or(Some(Vec::new())) {
            Some(extras) => dataset.extras = extras,
            None => errors.add("extras", FieldError::NotAList),
        }
    }
    errors
}

/// Applies a resource dict to `resource`. A new `url` turns an upload into a
/// link; uploads themselves are attached by the caller.
pub fn apply_resource(resource: &mut Resource, input: &Params, mode: Mode) -> FieldErrors {
    let mut errors = FieldErrors::new();
    for key in input.keys() {
        if !matches!(key.as_str(), "name" | "description" | "format" | "url" | "schema")
            && !RESOURCE_READ_ONLY.contains(&key.as_str())
        {
            errors.add(key, FieldError::UnknownField);
        }
    }
    let present = |key: &str| mode == Mode::Replace || input.contains_key(key);
    for field in ["name", "description", "format"] {
        if !present(field) {
            continue;
        }
        match input.get(field).map(text).unwrap_or(Some(String::new())) {
            Some(value) => {
                let value = value.trim().to_string();
                match field {
                    "name" => resource.name = value,
                    "description" => resource.description = value,
                    _ => resource.format = value,
                }
            }
            None => errors.add(field, FieldError::UnknownValue),
        }
    }
    // A Table Schema, as an object or as JSON text (as form posts send it);
    // empty clears it. Whether it can be applied is checked on saving.
    if input.contains_key("schema") {
        match input.get("schema") {
            None | Some(Value::Null) => resource.schema = None,
            Some(Value::String(text)) if text.trim().is_empty() => resource.schema = None,
            Some(Value::String(text)) => match serde_json::from_str::<Value>(text) {
                Ok(schema @ Value::Object(_)) => resource.schema = Some(schema),
                _ => errors.add("schema", FieldError::UnknownValue),
            },
            Some(schema @ Value::Object(_)) => resource.schema = Some(schema.clone()),
            Some(_) => errors.add("schema", FieldError::UnknownValue),
        }
    } else if mode == Mode::Replace {
        resource.schema = None;
    }
    if let Some(url) = input.get("url").and_then(|value| value.as_str()).map(str::trim).filter(|url| !url.is_empty()) {
        // CKAN echoes an upload's own download URL back in updates: keep the upload then.
        let is_own_download = resource.is_upload() && url.contains(&format!("/resource/{}/download/", resource.id));
        if !is_own_download {
            resource.location = ResourceLocation::Link { url: url.to_string() };
            resource.size = None;
            resource.sha256.clear();
            resource.mimetype.clear();
        }
    }
    if resource.format.is_empty() {
        resource.format = datalab_app::catalog::guess_format(resource);
    }
    errors
}
