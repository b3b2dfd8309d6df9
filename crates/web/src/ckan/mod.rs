//! The CKAN Action API v3 at `/api/3/action/{name}` (and `/api/action/{name}`,
//! where the `ckanapi` client calls it): CKAN's envelope, error types and
//! status codes, so CKAN clients work against datalab unchanged.
//!
//! Parameters come from the query string (GET), a JSON body, a urlencoded
//! form or a multipart form whose `upload` field is a file streamed straight
//! to storage. Read actions take GET and POST; write actions only POST.

mod datastore;
pub mod dicts;
pub mod input;

use std::collections::HashMap;

use axum::Router;
use axum::extract::{FromRequest, Multipart, Path, Request, State};
use axum::http::{Method, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use datalab_core::{
    Action, Actor, Capacity, Dataset, FieldError, FieldErrors, Group, Organization, OrganizationKind, ResourceLocation,
    State as Lifecycle, User,
};
use datalab_files::StoredBlob;
use datalab_search::{FacetName, SearchRequest, Sort};
use serde_json::{Map, Value, json};
use uuid::Uuid;

use crate::AppState;
use crate::error::AppError;
use datalab_app::catalog;
use input::{Mode, Params, boolean, text};

use crate::forms::MAX_FORM_FIELD_BYTES;
use crate::links::base_url;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/3/action/{action}", get(action).post(action))
        .route("/api/action/{action}", get(action).post(action))
        .route("/api/3", get(|| async { axum::Json(json!({"version": 3})) }))
        .route("/api", get(|| async { axum::Json(json!({"version": 3})) }))
        // Uploads are capped by the file store as they stream; other bodies by `read_params`.
        .layer(axum::extract::DefaultBodyLimit::disable())
}

/// An action's facts the dispatcher checks before it runs it.
pub struct ActionSpec {
    pub name: &'static str,
    /// It changes something: POST only.
    pub writes: bool,
    /// It takes an uploaded file (from a signed-in caller who may write
    /// the dataset its fields name, checked before the file is stored).
    pub takes_file: bool,
}

/// Every action this server knows, once: its name, whether it writes,
/// whether it takes a file, and what it does. `ACTIONS` (the method and
/// upload checks, the tests) and `dispatch` are both made from this list.
macro_rules! actions {
    ($($name:literal { writes: $writes:literal, file: $file:literal } => |$call:ident| $body:block)*) => {
        pub const ACTIONS: &[ActionSpec] =
            &[$(ActionSpec { name: $name, writes: $writes, takes_file: $file }),*];

        async fn dispatch(call: &mut Call<'_>, name: &str) -> Result<Answer, AppError> {
            match name {
                $($name => {
                    let $call = &mut *call;
                    // Some actions need nothing of the call.
                    let _ = &$call;
                    let answer: Result<_, AppError> = async { $body }.await;
                    Ok(Answer::from(answer?))
                })*
                _ => Err(AppError::BadRequest(format!("Action name not known: {name}"))),
            }
        }
    };
}

actions! {
    "status_show" { writes: false, file: false } => |call| { Ok(json!({
        "site_title": "datalab",
        "site_description": "Datos abiertos y participación ciudadana de Nuevo León",
        "site_url": call.base_url,
        "ckan_version": "2.10.0",
        "datalab_version": env!("CARGO_PKG_VERSION"),
        "locale_default": "es_MX",
        "extensions": ["datalab"],
    })) }
    "site_read" { writes: false, file: false } => |call| { Ok(json!(true)) }
    "package_list" { writes: false, file: false } => |call| { package_list(call).await }
    "package_search" { writes: false, file: false } => |call| { package_search(call).await }
    "package_show" { writes: false, file: false } => |call| {
        let dataset =
            catalog::readable_dataset(&call.state.app, &call.actor, &required_text(&call.params, "id")?).await?;
        package_value(call, &dataset).await
    }
    "package_create" { writes: true, file: false } => |call| { package_create(call).await }
    "package_update" { writes: true, file: false } => |call| { package_write(call, Mode::Replace).await }
    "package_patch" { writes: true, file: false } => |call| { package_write(call, Mode::Patch).await }
    "package_delete" { writes: true, file: false } => |call| {
        let dataset =
            catalog::readable_dataset(&call.state.app, &call.actor, &required_text(&call.params, "id")?).await?;
        catalog::delete_dataset(&call.state.app, &call.actor, call.user.as_ref(), &dataset).await?;
        Ok(Value::Null)
    }
    "resource_show" { writes: false, file: false } => |call| {
        let (dataset, index) = resource_in_dataset(call).await?;
        let resource = &dataset.resources[index];
        let mut dict = dicts::resource_dict(&call.base_url, resource);
        let analysis = call.state.app.store.analysis(resource.id).await?;
        if let Some(analysis) = &analysis {
            dicts::add_analysis(&mut dict, analysis);
        }
        // The latest ingestion job: its progress while it runs, its error if it failed.
        if let Some(job) = call.state.app.store.latest_job(resource.id).await? {
            if !dict["datalab_analysis"].is_object() {
                dict["datalab_analysis"] = json!({});
            }
            dict["datalab_analysis"]["job"] = dicts::job_dict(&job, resource);
        }
        dict["datastore_active"] = json!(
            analysis
                .as_ref()
                .and_then(|analysis| datalab_app::analysis::table_of(&call.state.app, resource, analysis, None))
                .is_some()
        );
        Ok(dict)
    }
    "resource_create" { writes: true, file: true } => |call| { resource_create(call).await }
    "resource_update" { writes: true, file: true } => |call| { resource_write(call, Mode::Replace).await }
    "resource_patch" { writes: true, file: true } => |call| { resource_write(call, Mode::Patch).await }
    "resource_delete" { writes: true, file: false } => |call| {
        let (dataset, index) = resource_in_dataset(call).await?;
        let mut after = dataset.clone();
        after.resources.remove(index);
        catalog::update_dataset(&call.state.app, &call.actor, call.user.as_ref(), &dataset, after).await?;
        Ok(Value::Null)
    }
    "organization_list" { writes: false, file: false } => |call| { organization_list(call).await }
    "organization_show" { writes: false, file: false } => |call| { organization_show(call).await }
    "organization_create" { writes: true, file: false } => |call| { organization_create(call).await }
    "organization_member_create" { writes: true, file: false } => |call| { organization_member(call, true).await }
    "organization_member_delete" { writes: true, file: false } => |call| { organization_member(call, false).await }
    "organization_activity_list" { writes: false, file: false } => |call| {
        let organization = call.state.app.store.organization(&required_text(&call.params, "id")?).await?;
        activity_list(call, datalab_store::ActivityScope::Organization(organization.id)).await
    }
    "group_list" { writes: false, file: false } => |call| { group_list(call).await }
    "group_show" { writes: false, file: false } => |call| {
        let group = call.state.app.store.group(&required_text(&call.params, "id")?).await?;
        let counts = facet_counts(call, FacetName::Groups).await?;
        Ok(dicts::group_dict(&group, Some(counts.get(&group.name).copied().unwrap_or(0))))
    }
    "group_create" { writes: true, file: false } => |call| { group_create(call).await }
    "tag_list" { writes: false, file: false } => |call| {
        let query = call.params.get("query").and_then(text).unwrap_or_default().to_lowercase();
        let all_fields = optional_bool(&call.params, "all_fields", false)?;
        let tags = call.state.app.store.tag_counts().await?;
        Ok(Value::Array(
            tags.into_iter()
                .filter(|tag| query.is_empty() || tag.tag.to_lowercase().contains(&query))
                .map(|tag| {
                    if all_fields {
                        json!({"name": tag.tag, "display_name": tag.tag, "count": tag.count})
                    } else {
                        json!(tag.tag)
                    }
                })
                .collect(),
        ))
    }
    "license_list" { writes: false, file: false } => |call| { Ok(Value::Array(datalab_core::licenses::LICENSES.iter().map(dicts::license_dict).collect())) }
    "user_show" { writes: false, file: false } => |call| {
        let id = match call.params.get("id").and_then(text).filter(|id| !id.is_empty()) {
            Some(id) => id,
            None => call
                .user
                .as_ref()
                .map(|user| user.name.clone())
                .ok_or_else(|| AppError::Validation(FieldErrors::single("id", FieldError::Missing)))?,
        };
        let user = call.state.app.store.user(&id).await?;
        let show_private = call.actor.can(Action::ReadUserPrivate { user: user.id });
        Ok(dicts::user_dict(&user, show_private))
    }
    "api_token_create" { writes: true, file: false } => |call| {
        let user = call.state.app.store.user(&required_text(&call.params, "user")?).await?;
        let name = required_text(&call.params, "name")?;
        let (_, secret) = datalab_app::users::create_token(&call.state.app, &call.actor, &user, &name).await?;
        Ok(json!({"token": secret.0}))
    }
    "api_token_revoke" { writes: true, file: false } => |call| {
        let token_id = if let Some(secret) = call.params.get("token").and_then(text).filter(|token| !token.is_empty()) {
            call.state.app.store.api_token_by_secret(&secret).await?.ok_or(AppError::NotFound)?.0
        } else {
            Uuid::parse_str(&required_text(&call.params, "jti")?).map_err(|_| AppError::NotFound)?
        };
        datalab_app::users::revoke_token(&call.state.app, &call.actor, token_id).await?;
        Ok(Value::Null)
    }
    "api_token_list" { writes: false, file: false } => |call| {
        let id = call
            .params
            .get("user")
            .or_else(|| call.params.get("user_id"))
            .and_then(text)
            .filter(|id| !id.is_empty());
        let user = match id {
            Some(id) => call.state.app.store.user(&id).await?,
            None => call.user.clone().ok_or(AppError::NotAuthenticated)?,
        };
        call.actor.authorize(Action::ManageTokens { user: user.id })?;
        Ok(Value::Array(call.state.app.store.api_tokens(user.id).await?.iter().map(dicts::token_dict).collect()))
    }
    "package_activity_list" { writes: false, file: false } => |call| {
        let dataset =
            catalog::readable_dataset(&call.state.app, &call.actor, &required_text(&call.params, "id")?).await?;
        activity_list(call, datalab_store::ActivityScope::Dataset(dataset.id)).await
    }
    "datastore_search" { writes: false, file: false } => |call| { datastore::search(call).await }
    "datastore_search_sql" { writes: false, file: false } => |call| { datastore::search_sql(call).await }
    "datastore_info" { writes: false, file: false } => |call| { datastore::info(call).await }
}

struct Call<'a> {
    state: &'a AppState,
    actor: Actor,
    user: Option<User>,
    params: Params,
    upload: Option<(StoredBlob, String)>,
    base_url: String,
    /// The client's address, for the limits per address.
    address: Option<std::net::IpAddr>,
}

/// What an action answers: a JSON value, or a `datastore_search` answer
/// whose records are already serialized.
enum Answer {
    Json(Value),
    Search(datastore::SearchAnswer),
}

impl From<Value> for Answer {
    fn from(value: Value) -> Self {
        Answer::Json(value)
    }
}

impl From<datastore::SearchAnswer> for Answer {
    fn from(answer: datastore::SearchAnswer) -> Self {
        Answer::Search(answer)
    }
}

fn envelope(help: &str, outcome: Result<Answer, AppError>) -> Response {
    match outcome {
        Ok(Answer::Json(result)) => {
            axum::Json(json!({"help": help, "success": true, "result": result})).into_response()
        }
        Ok(Answer::Search(answer)) => {
            ([(header::CONTENT_TYPE, "application/json")], answer.envelope(help)).into_response()
        }
        Err(error) => {
            error.log();
            let status = error.status();
            let body = match &error {
                AppError::Validation(fields) => {
                    let mut object = Map::new();
                    object.insert("__type".into(), json!("Validation Error"));
                    for (field, errors) in &fields.0 {
                        object.insert(
                            field.clone(),
                            json!(errors.iter().map(|error| error.english()).collect::<Vec<_>>()),
                        );
                    }
                    Value::Object(object)
                }
                AppError::Invalid { field, message } => {
                    json!({"__type": "Validation Error", field.as_str(): [message]})
                }
                AppError::NotFound => json!({"__type": "Not Found Error", "message": "Not found"}),
                AppError::NotAuthenticated | AppError::Forbidden | AppError::Csrf => {
                    json!({"__type": "Authorization Error", "message": format!("Access denied: {error}")})
                }
                AppError::SearchQuery(message) => {
                    json!({"__type": "Search Query Error", "message": format!("Search Query is invalid: {message}")})
                }
                AppError::PayloadTooLarge { limit } => json!({
                    "__type": "Validation Error",
                    "upload": [format!("File upload too large: the limit is {limit} bytes")],
                }),
                AppError::BadRequest(message) => {
                    json!({"__type": "Bad Request", "message": format!("Bad request - {message}")})
                }
                AppError::TooManyRequests => json!({"__type": "Too Many Requests", "message": error.to_string()}),
                AppError::Internal(_) => json!({"__type": "Internal Server Error", "message": "Internal server error"}),
            };
            (status, axum::Json(json!({"help": help, "success": false, "error": body}))).into_response()
        }
    }
}

async fn action(State(state): State<AppState>, Path(name): Path<String>, request: Request) -> Response {
    let base = base_url(&state, request.headers());
    let help = format!("{base}/api/3/action/help_show?name={name}");
    let Some(spec) = ACTIONS.iter().find(|spec| spec.name == name) else {
        return envelope(&help, Err(AppError::BadRequest(format!("Action name not known: {name}"))));
    };
    if spec.writes && request.method() != Method::POST {
        return envelope(
            &help,
            Err(AppError::BadRequest("Invalid request. Please use POST method for your request".into())),
        );
    }
    let (actor, user) = match crate::context::api_caller(&state, request.headers()).await {
        Ok(caller) => caller,
        Err(error) => return envelope(&help, Err(error)),
    };
    let address = crate::throttle::client_address(&state.settings, request.headers(), request.extensions());
    let files = if user.is_some() && spec.takes_file {
        Files::IfAllowed { actor: &actor, action: &name }
    } else {
        Files::Refused
    };
    let read = read_params(&state, request, files).await;
    let (params, upload) = match read {
        Ok(read) => read,
        Err(error) => return envelope(&help, Err(error)),
    };
    let mut call = Call { state: &state, actor, user, params, upload, base_url: base, address };
    let outcome = dispatch(&mut call, &name).await;
    // An upload the action did not keep (it failed, or ignored the file)
    // is deleted; one a resource now refers to stays.
    if let Some((blob, _)) = &call.upload {
        catalog::discard_upload(&state.app, blob).await;
    }
    envelope(&help, outcome)
}

/// Whether a body may carry a file, and who must be allowed to send it.
#[derive(Clone, Copy)]
pub(crate) enum Files<'a> {
    /// No file: a file part is refused before any of it is stored.
    Refused,
    /// A file, already authorized by the caller.
    Accepted,
    /// A file for the CKAN `action`, if `actor` may write the dataset the
    /// fields before it name (checked when the file part arrives, before
    /// it is stored).
    IfAllowed { actor: &'a Actor, action: &'a str },
}

/// The answer to a file sent before the field that names where it goes.
fn field_before_file(field: &str) -> AppError {
    AppError::BadRequest(format!("send the {field} field before the file, so that it is checked before it is stored"))
}

/// Refuses a file for `action` before it is stored unless the fields read
/// so far name a dataset `actor` may change (clients send the fields first).
async fn authorize_upload(state: &AppState, actor: &Actor, action: &str, params: &Params) -> Result<(), AppError> {
    let dataset = match action {
        "resource_create" => match params.get("package_id").and_then(text) {
            Some(id) => catalog::readable_dataset(&state.app, actor, &id).await?,
            None => return Err(field_before_file("package_id")),
        },
        _ => match params.get("id").and_then(text).and_then(|id| Uuid::parse_str(id.trim()).ok()) {
            Some(id) => {
                let resource = state.app.store.resource(id).await?;
                catalog::readable_dataset(&state.app, actor, &resource.dataset_id.to_string()).await?
            }
            None => return Err(field_before_file("id")),
        },
    };
    Ok(actor.authorize(Action::UpdateDataset { organization: dataset.owner_org })?)
}

/// The text fields of a multipart form into `params`, and its one file
/// (only as `files` allows) streamed to storage into `upload`. Every
/// bound is checked as the body streams: the number of parts, each text
/// field's size and all text together (`max_body_bytes`); a file part sent
/// where none is taken, or by someone who may not, is refused before any
/// of it is stored.
async fn read_multipart(
    state: &AppState,
    multipart: &mut Multipart,
    params: &mut Params,
    upload: &mut Option<(StoredBlob, String)>,
    files: Files<'_>,
) -> Result<(), AppError> {
    let text_limit = state.settings.max_body_bytes;
    let mut text_bytes = 0usize;
    let mut parts = 0usize;
    while let Some(mut field) = multipart.next_field().await.map_err(|error| AppError::BadRequest(error.to_string()))? {
        crate::forms::count_part(&mut parts)?;
        let name = field.name().unwrap_or("").to_string();
        if let Some(filename) = field.file_name().map(str::to_string) {
            match files {
                Files::Refused => {
                    return Err(AppError::BadRequest(
                        "this action takes no file; send files to resource_create, resource_update or \
                         resource_patch with an API token"
                            .into(),
                    ));
                }
                Files::Accepted => {}
                Files::IfAllowed { actor, action } => authorize_upload(state, actor, action, params).await?,
            }
            if name != "upload" || upload.is_some() {
                return Err(AppError::Validation(FieldErrors::single(&name, FieldError::UnknownField)));
            }
            let stream = futures_util::stream::poll_fn(move |context| field.poll_next_unpin_compat(context));
            let blob = catalog::store_upload(&state.app, stream).await?;
            *upload = Some((blob, filename));
        } else {
            let room = MAX_FORM_FIELD_BYTES.min(text_limit.saturating_sub(text_bytes).max(1));
            let value = crate::forms::bounded_text(&mut field, room).await.map_err(|error| {
                if room < MAX_FORM_FIELD_BYTES { AppError::PayloadTooLarge { limit: text_limit as u64 } } else { error }
            })?;
            text_bytes += value.len();
            params.insert(name, Value::String(value));
        }
    }
    Ok(())
}

/// The parameters of an API call, from its query string or body. A file
/// part is taken only where `files` says (see [`read_multipart`]).
pub(crate) async fn read_params(
    state: &AppState,
    request: Request,
    files: Files<'_>,
) -> Result<(Params, Option<(StoredBlob, String)>), AppError> {
    let content_type = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    let mut params = Params::new();
    if request.method() == Method::GET || content_type.is_empty() && request.method() != Method::POST {
        if let Some(query) = request.uri().query() {
            let pairs: Vec<(String, String)> = serde_urlencoded::from_str(query)
                .map_err(|error| AppError::BadRequest(format!("invalid query string: {error}")))?;
            for (key, value) in pairs {
                params.insert(key, Value::String(value));
            }
        }
        return Ok((params, None));
    }
    if content_type.starts_with("multipart/form-data") {
        let mut multipart =
            Multipart::from_request(request, &()).await.map_err(|error| AppError::BadRequest(error.to_string()))?;
        let mut upload: Option<(StoredBlob, String)> = None;
        let read = read_multipart(state, &mut multipart, &mut params, &mut upload, files).await;
        if let Err(error) = read {
            // Nothing of a refused body is kept.
            if let Some((blob, _)) = &upload {
                catalog::discard_upload(&state.app, blob).await;
            }
            return Err(error);
        }
        return Ok((params, upload));
    }
    let limit = state.settings.max_body_bytes;
    let body = axum::body::to_bytes(request.into_body(), limit)
        .await
        .map_err(|_| AppError::PayloadTooLarge { limit: limit as u64 })?;
    if content_type.starts_with("application/x-www-form-urlencoded") {
        let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(&body)
            .map_err(|error| AppError::BadRequest(format!("invalid form: {error}")))?;
        for (key, value) in pairs {
            params.insert(key, Value::String(value));
        }
        return Ok((params, None));
    }
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok((params, None));
    }
    match serde_json::from_slice::<Value>(&body) {
        Ok(Value::Object(object)) => Ok((object, None)),
        Ok(_) => Err(AppError::BadRequest("JSON Error: the request body must be a JSON object".into())),
        Err(error) => Err(AppError::BadRequest(format!("JSON Error: {error}"))),
    }
}

/// Adapts a multipart field to a stream of chunks for the file store.
trait FieldStream {
    fn poll_next_unpin_compat(
        &mut self,
        context: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<bytes::Bytes, axum::extract::multipart::MultipartError>>>;
}

impl FieldStream for axum::extract::multipart::Field<'_> {
    fn poll_next_unpin_compat(
        &mut self,
        context: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<bytes::Bytes, axum::extract::multipart::MultipartError>>> {
        futures_util::Stream::poll_next(std::pin::Pin::new(self), context)
    }
}

fn required<'p>(params: &'p Params, key: &str) -> Result<&'p Value, AppError> {
    match params.get(key) {
        Some(value) if !value.is_null() && value.as_str() != Some("") => Ok(value),
        _ => Err(AppError::Validation(FieldErrors::single(key, FieldError::Missing))),
    }
}

fn required_text(params: &Params, key: &str) -> Result<String, AppError> {
    text(required(params, key)?).ok_or_else(|| AppError::Validation(FieldErrors::single(key, FieldError::UnknownValue)))
}

fn optional_integer(params: &Params, key: &str, default: i64) -> Result<i64, AppError> {
    match params.get(key) {
        None | Some(Value::Null) => Ok(default),
        Some(Value::Number(number)) => {
            number.as_i64().ok_or_else(|| AppError::Validation(FieldErrors::single(key, FieldError::UnknownValue)))
        }
        Some(Value::String(text)) if text.trim().is_empty() => Ok(default),
        Some(Value::String(text)) => {
            text.trim().parse().map_err(|_| AppError::Validation(FieldErrors::single(key, FieldError::UnknownValue)))
        }
        Some(_) => Err(AppError::Validation(FieldErrors::single(key, FieldError::UnknownValue))),
    }
}

fn optional_bool(params: &Params, key: &str, default: bool) -> Result<bool, AppError> {
    match params.get(key) {
        None => Ok(default),
        Some(value) => {
            boolean(value).ok_or_else(|| AppError::Validation(FieldErrors::single(key, FieldError::NotABoolean)))
        }
    }
}

async fn package_value(call: &Call<'_>, dataset: &Dataset) -> Result<Value, AppError> {
    let organizations = vec![call.state.app.store.organization(&dataset.owner_org.to_string()).await?];
    let mut value =
        package_values(call, std::slice::from_ref(dataset), &organizations, &call.state.app.store.groups().await?)
            .map(|mut values| values.remove(0))?;
    // Which resources the DataStore actions can query (only the table key is read, not each analysis).
    for (index, resource) in dataset.resources.iter().enumerate() {
        if catalog::is_tabular(resource) {
            let table = call.state.app.store.table_state(resource.id, None).await?;
            value["resources"][index]["datastore_active"] =
                json!(matches!(table, Some(datalab_store::TableState::Ready(_))));
        }
    }
    Ok(value)
}

/// Package dicts of several datasets, with their organizations and groups
/// looked up in lists loaded once.
fn package_values(
    call: &Call<'_>,
    datasets: &[Dataset],
    organizations: &[Organization],
    groups: &[Group],
) -> Result<Vec<Value>, AppError> {
    datasets
        .iter()
        .map(|dataset| {
            let organization = organizations
                .iter()
                .find(|organization| organization.id == dataset.owner_org)
                .ok_or_else(|| AppError::internal(format!("dataset {} has no organization", dataset.id)))?;
            let dataset_groups: Vec<Group> =
                groups.iter().filter(|group| dataset.groups.contains(&group.name)).cloned().collect();
            Ok(dicts::package_dict(&call.base_url, dataset, organization, &dataset_groups))
        })
        .collect()
}

async fn package_list(call: &Call<'_>) -> Result<Value, AppError> {
    let limit = optional_integer(&call.params, "limit", i64::MAX)?.max(0) as usize;
    let offset = optional_integer(&call.params, "offset", 0)?.max(0) as usize;
    let names: Vec<String> = call
        .state
        .app
        .store
        .dataset_summaries()
        .await?
        .into_iter()
        .filter(|summary| summary.state == Lifecycle::Active && !summary.private)
        .map(|summary| summary.name)
        .skip(offset)
        .take(limit)
        .collect();
    Ok(json!(names))
}

/// Parses `fq`: `field:value` pairs joined by spaces or AND, values quoted
/// when they contain spaces, an optional leading `+`.
fn parse_filter_query(fq: &str) -> Result<Vec<(FacetName, String)>, AppError> {
    let mut filters = Vec::new();
    let mut rest = fq.trim();
    while !rest.is_empty() {
        rest = rest.trim_start_matches('+');
        if let Some(after) = rest.strip_prefix("AND ") {
            rest = after.trim_start();
            continue;
        }
        let (field, after_colon) = rest
            .split_once(':')
            .ok_or_else(|| AppError::SearchQuery(format!("expected field:value in fq, found {rest:?}")))?;
        let facet = FacetName::parse(field.trim())
            .ok_or_else(|| AppError::SearchQuery(format!("unknown field in fq: {field:?}")))?;
        let (value, remaining) = if let Some(quoted) = after_colon.strip_prefix('"') {
            let end = quoted.find('"').ok_or_else(|| AppError::SearchQuery("unterminated quote in fq".into()))?;
            (quoted[..end].to_string(), &quoted[end + 1..])
        } else {
            let end = after_colon.find(char::is_whitespace).unwrap_or(after_colon.len());
            (after_colon[..end].to_string(), &after_colon[end..])
        };
        filters.push((facet, value));
        rest = remaining.trim_start();
    }
    Ok(filters)
}

fn facet_fields(params: &Params) -> Result<Vec<FacetName>, AppError> {
    let Some(value) = params.get("facet.field") else { return Ok(Vec::new()) };
    let list: Vec<String> = match value {
        Value::Array(items) => items.iter().filter_map(|item| item.as_str().map(String::from)).collect(),
        Value::String(text) => {
            serde_json::from_str(text).map_err(|_| AppError::SearchQuery("facet.field must be a JSON list".into()))?
        }
        _ => return Err(AppError::SearchQuery("facet.field must be a JSON list".into())),
    };
    list.iter()
        .map(|name| {
            FacetName::parse(name).ok_or_else(|| AppError::SearchQuery(format!("unknown facet field: {name:?}")))
        })
        .collect()
}

async fn facet_counts(call: &Call<'_>, facet: FacetName) -> Result<HashMap<String, u64>, AppError> {
    Ok(catalog::facet_counts(&call.state.app, &call.actor, facet, false)?)
}

async fn package_search(call: &Call<'_>) -> Result<Value, AppError> {
    let params = &call.params;
    let rows = optional_integer(params, "rows", 10)?;
    if !(0..=1000).contains(&rows) {
        return Err(AppError::SearchQuery("rows must be between 0 and 1000".into()));
    }
    let start = optional_integer(params, "start", 0)?.max(0) as usize;
    let sort_text = params.get("sort").and_then(text).unwrap_or_default();
    let sort = if sort_text.trim().is_empty() {
        Sort::Relevance
    } else {
        Sort::parse_ckan(&sort_text).ok_or_else(|| AppError::SearchQuery(format!("cannot sort by {sort_text:?}")))?
    };
    let facets = facet_fields(params)?;
    let facet_limit = optional_integer(params, "facet.limit", 50)?;
    let request = SearchRequest {
        query: params.get("q").and_then(text).unwrap_or_default(),
        filters: parse_filter_query(&params.get("fq").and_then(text).unwrap_or_default())?,
        sort,
        start,
        rows: rows as usize,
        facets,
        facet_limit: if facet_limit < 0 { usize::MAX } else { facet_limit as usize },
    };
    let include_private = optional_bool(params, "include_private", false)?;
    let (results, datasets) = catalog::search(&call.state.app, &call.actor, &request, include_private).await?;
    let organizations = call.state.app.store.organizations().await?;
    let groups = call.state.app.store.groups().await?;
    let shown = &datasets[..datasets.len().min(rows as usize)];
    let packages = package_values(call, shown, &organizations, &groups)?;
    let mut facet_map = Map::new();
    let mut search_facets = Map::new();
    for (facet, values) in &results.facets {
        let display = |value: &str| -> String {
            match facet {
                FacetName::Organization => organizations
                    .iter()
                    .find(|organization| organization.name == value)
                    .map(|organization| organization.title.clone()),
                FacetName::Groups => groups.iter().find(|group| group.name == value).map(|group| group.title.clone()),
                _ => None,
            }
            .unwrap_or_else(|| value.to_string())
        };
        facet_map.insert(
            facet.as_str().into(),
            Value::Object(values.iter().map(|(value, count)| (value.clone(), json!(count))).collect()),
        );
        search_facets.insert(
            facet.as_str().into(),
            json!({
                "title": facet.as_str(),
                "items": values.iter().map(|(value, count)| json!({"name": value, "display_name": display(value), "count": count})).collect::<Vec<_>>(),
            }),
        );
    }
    Ok(json!({
        "count": results.count,
        "results": packages,
        "sort": if sort_text.is_empty() { "score desc, metadata_modified desc".to_string() } else { sort_text },
        "facets": facet_map,
        "search_facets": search_facets,
    }))
}

async fn resolve_organization(call: &Call<'_>, value: &Value) -> Result<Organization, AppError> {
    let name = text(value).unwrap_or_default();
    call.state.app.store.organization(&name).await.map_err(|error| match error {
        datalab_store::StoreError::NotFound => {
            AppError::Validation(FieldErrors::single("owner_org", FieldError::OrganizationUnknown))
        }
        other => other.into(),
    })
}

/// Applies the `resources` list of a package dict: known ids keep their
/// stored file, new entries must be links.
fn apply_resources(dataset: &mut Dataset, list: &Value, errors: &mut FieldErrors) {
    let Some(items) = list.as_array() else {
        errors.add("resources", FieldError::NotAList);
        return;
    };
    let mut resources = Vec::new();
    for item in items {
        let Some(object) = item.as_object() else {
            errors.add("resources", FieldError::NotAList);
            continue;
        };
        let existing = object
            .get("id")
            .and_then(|id| id.as_str())
            .and_then(|id| Uuid::parse_str(id).ok())
            .and_then(|id| dataset.resources.iter().find(|resource| resource.id == id).cloned());
        let mut resource = existing
            .unwrap_or_else(|| catalog::new_resource(dataset.id, ResourceLocation::Link { url: String::new() }));
        for (field, field_errors) in input::apply_resource(&mut resource, object, Mode::Replace).0 {
            for error in field_errors {
                errors.add(&format!("resources.{field}"), error);
            }
        }
        resources.push(resource);
    }
    dataset.resources = resources;
}

async fn package_create(call: &mut Call<'_>) -> Result<Value, AppError> {
    let mut errors = FieldErrors::new();
    if call.params.get("name").and_then(text).unwrap_or_default().is_empty() {
        errors.add("name", FieldError::Missing);
    }
    let organization = match call.params.get("owner_org") {
        Some(value) if !value.is_null() && value.as_str() != Some("") => {
            match resolve_organization(call, value).await {
                Ok(organization) => Some(organization),
                Err(AppError::Validation(field_errors)) => {
                    errors.merge(field_errors);
                    None
                }
                Err(other) => return Err(other),
            }
        }
        _ => {
            errors.add("owner_org", FieldError::Missing);
            None
        }
    };
    let mut dataset =
        catalog::new_dataset(organization.as_ref().map(|organization| organization.id).unwrap_or_default(), None);
    errors.merge(input::apply_package(&mut dataset, &call.params, Mode::Replace));
    if let Some(list) = call.params.get("resources") {
        apply_resources(&mut dataset, list, &mut errors);
    }
    if let Some(organization) = &organization {
        // Authorization before validation details: a stranger learns nothing about the input.
        call.actor.authorize(Action::CreateDataset { organization: organization.id })?;
    }
    // Every problem at once: the format checks the store would make, too.
    errors.merge(datalab_core::validation::validate_dataset(&dataset));
    errors.into_result()?;
    let saved = catalog::create_dataset(&call.state.app, &call.actor, call.user.as_ref(), dataset).await?;
    package_value(call, &saved).await
}

async fn package_write(call: &mut Call<'_>, mode: Mode) -> Result<Value, AppError> {
    let id = required_text(&call.params, "id").or_else(|_| required_text(&call.params, "name"))?;
    let before = catalog::readable_dataset(&call.state.app, &call.actor, &id).await?;
    call.actor.authorize(Action::UpdateDataset { organization: before.owner_org })?;
    let mut after = before.clone();
    let mut errors = FieldErrors::new();
    if let Some(value) = call.params.get("owner_org").filter(|value| !value.is_null() && value.as_str() != Some("")) {
        match resolve_organization(call, value).await {
            Ok(organization) => after.owner_org = organization.id,
            Err(AppError::Validation(field_errors)) => errors.merge(field_errors),
            Err(other) => return Err(other),
        }
    }
    let mut params = call.params.clone();
    if mode == Mode::Replace && !params.contains_key("name") {
        params.insert("name".into(), json!(before.name));
    }
    errors.merge(input::apply_package(&mut after, &params, mode));
    if let Some(list) = params.get("resources") {
        apply_resources(&mut after, list, &mut errors);
    }
    errors.merge(datalab_core::validation::validate_dataset(&after));
    errors.into_result()?;
    let saved = catalog::update_dataset(&call.state.app, &call.actor, call.user.as_ref(), &before, after).await?;
    package_value(call, &saved).await
}

/// Finds the dataset holding resource `id`, checking the actor may read it.
async fn resource_in_dataset(call: &Call<'_>) -> Result<(Dataset, usize), AppError> {
    let id = Uuid::parse_str(&required_text(&call.params, "id")?).map_err(|_| AppError::NotFound)?;
    let resource = call.state.app.store.resource(id).await?;
    let dataset = catalog::readable_dataset(&call.state.app, &call.actor, &resource.dataset_id.to_string()).await?;
    let index = dataset.resources.iter().position(|candidate| candidate.id == id).ok_or(AppError::NotFound)?;
    Ok((dataset, index))
}

async fn resource_create(call: &mut Call<'_>) -> Result<Value, AppError> {
    let dataset_id = required_text(&call.params, "package_id")?;
    let before = catalog::readable_dataset(&call.state.app, &call.actor, &dataset_id).await?;
    call.actor.authorize(Action::UpdateDataset { organization: before.owner_org })?;
    let mut resource = catalog::new_resource(before.id, ResourceLocation::Link { url: String::new() });
    let mut params = call.params.clone();
    params.remove("package_id");
    let mut errors = input::apply_resource(&mut resource, &params, Mode::Replace);
    if let Some(upload) = &call.upload {
        catalog::attach_upload(&mut resource, upload);
    } else if matches!(&resource.location, ResourceLocation::Link { url } if url.is_empty()) {
        errors.add("url", FieldError::Missing);
    }
    errors.into_result()?;
    let resource_id = resource.id;
    let mut after = before.clone();
    after.resources.push(resource);
    let saved = catalog::update_dataset(&call.state.app, &call.actor, call.user.as_ref(), &before, after).await?;
    let saved_resource =
        saved.resources.iter().find(|resource| resource.id == resource_id).ok_or(AppError::NotFound)?;
    Ok(dicts::resource_dict(&call.base_url, saved_resource))
}

async fn resource_write(call: &mut Call<'_>, mode: Mode) -> Result<Value, AppError> {
    let (before, index) = resource_in_dataset(call).await?;
    call.actor.authorize(Action::UpdateDataset { organization: before.owner_org })?;
    let mut after = before.clone();
    let resource = &mut after.resources[index];
    let errors = input::apply_resource(resource, &call.params, mode);
    if let Some(upload) = &call.upload {
        resource.format.clear();
        catalog::attach_upload(resource, upload);
    }
    resource.last_modified = datalab_store::now();
    let resource_id = resource.id;
    errors.into_result()?;
    let saved = catalog::update_dataset(&call.state.app, &call.actor, call.user.as_ref(), &before, after).await?;
    let saved_resource =
        saved.resources.iter().find(|resource| resource.id == resource_id).ok_or(AppError::NotFound)?;
    Ok(dicts::resource_dict(&call.base_url, saved_resource))
}

async fn organization_list(call: &Call<'_>) -> Result<Value, AppError> {
    let all_fields = optional_bool(&call.params, "all_fields", false)?;
    let limit = optional_integer(&call.params, "limit", 1000)?.clamp(0, 1000) as usize;
    let offset = optional_integer(&call.params, "offset", 0)?.max(0) as usize;
    let mut organizations = call.state.app.store.organizations().await?;
    let sort = call.params.get("sort").and_then(text).unwrap_or_default();
    if sort.starts_with("name") {
        organizations.sort_by(|a, b| a.name.cmp(&b.name));
    }
    let counts = facet_counts(call, FacetName::Organization).await?;
    Ok(Value::Array(
        organizations
            .iter()
            .skip(offset)
            .take(limit)
            .map(|organization| {
                if all_fields {
                    dicts::organization_dict(organization, Some(counts.get(&organization.name).copied().unwrap_or(0)))
                } else {
                    json!(organization.name)
                }
            })
            .collect(),
    ))
}

async fn organization_show(call: &Call<'_>) -> Result<Value, AppError> {
    let organization = call.state.app.store.organization(&required_text(&call.params, "id")?).await?;
    let counts = facet_counts(call, FacetName::Organization).await?;
    let mut dict = dicts::organization_dict(&organization, Some(counts.get(&organization.name).copied().unwrap_or(0)));
    if optional_bool(&call.params, "include_datasets", false)? {
        let request = SearchRequest {
            filters: vec![(FacetName::Organization, organization.name.clone())],
            rows: 1000,
            sort: Sort::NameAscending,
            ..SearchRequest::default()
        };
        let (_, datasets) = catalog::search(&call.state.app, &call.actor, &request, true).await?;
        let groups = call.state.app.store.groups().await?;
        dict["packages"] = Value::Array(package_values(call, &datasets, std::slice::from_ref(&organization), &groups)?);
    }
    if optional_bool(&call.params, "include_users", false)?
        && call.actor.can(Action::ManageMembers { organization: organization.id })
    {
        let members = call.state.app.store.members(organization.id).await?;
        dict["users"] = Value::Array(
            members.iter().map(|member| json!({"id": member.user.id, "name": member.user.name, "capacity": member.capacity.as_str()})).collect(),
        );
    }
    Ok(dict)
}

async fn organization_create(call: &Call<'_>) -> Result<Value, AppError> {
    call.actor.authorize(Action::CreateOrganization)?;
    let params = &call.params;
    let kind_text = params.get("kind").and_then(text).unwrap_or_default();
    let kind = if kind_text.is_empty() {
        OrganizationKind::Government
    } else {
        OrganizationKind::parse(&kind_text)
            .ok_or_else(|| AppError::Validation(FieldErrors::single("kind", FieldError::UnknownValue)))?
    };
    let name = params.get("name").and_then(text).unwrap_or_default();
    let title = params.get("title").and_then(text).filter(|title| !title.is_empty()).unwrap_or_else(|| name.clone());
    let organization = Organization {
        id: Uuid::new_v4(),
        name,
        title,
        description: params.get("description").and_then(text).unwrap_or_default(),
        image_url: params.get("image_url").and_then(text).unwrap_or_default(),
        kind,
        state: Lifecycle::Active,
        created: datalab_store::now(),
    };
    datalab_app::organizations::create_organization(&call.state.app, &call.actor, call.user.as_ref(), &organization)
        .await?;
    Ok(dicts::organization_dict(&organization, Some(0)))
}

async fn organization_member(call: &Call<'_>, create: bool) -> Result<Value, AppError> {
    let organization = call.state.app.store.organization(&required_text(&call.params, "id")?).await?;
    call.actor.authorize(Action::ManageMembers { organization: organization.id })?;
    let username = required_text(&call.params, "username")?;
    let user = call.state.app.store.user(&username).await.map_err(|error| match error {
        datalab_store::StoreError::NotFound => {
            AppError::Validation(FieldErrors::single("username", FieldError::UnknownValue))
        }
        other => other.into(),
    })?;
    if create {
        let role = required_text(&call.params, "role")?;
        let capacity = Capacity::parse(&role)
            .ok_or_else(|| AppError::Validation(FieldErrors::single("role", FieldError::UnknownValue)))?;
        datalab_app::organizations::set_membership(
            &call.state.app,
            &call.actor,
            call.user.as_ref(),
            &organization,
            &user,
            capacity,
        )
        .await?;
        Ok(
            json!({"group_id": organization.id, "table_id": user.id, "table_name": "user", "capacity": capacity.as_str(), "state": "active"}),
        )
    } else {
        datalab_app::organizations::remove_membership(
            &call.state.app,
            &call.actor,
            call.user.as_ref(),
            &organization,
            &user,
        )
        .await?;
        Ok(Value::Null)
    }
}

async fn group_list(call: &Call<'_>) -> Result<Value, AppError> {
    let all_fields = optional_bool(&call.params, "all_fields", false)?;
    let groups = call.state.app.store.groups().await?;
    let counts = facet_counts(call, FacetName::Groups).await?;
    Ok(Value::Array(
        groups
            .iter()
            .map(|group| {
                if all_fields {
                    dicts::group_dict(group, Some(counts.get(&group.name).copied().unwrap_or(0)))
                } else {
                    json!(group.name)
                }
            })
            .collect(),
    ))
}

async fn group_create(call: &Call<'_>) -> Result<Value, AppError> {
    call.actor.authorize(Action::CreateGroup)?;
    let name = call.params.get("name").and_then(text).unwrap_or_default();
    let group = Group {
        id: Uuid::new_v4(),
        title: call
            .params
            .get("title")
            .and_then(text)
            .filter(|title| !title.is_empty())
            .unwrap_or_else(|| name.clone()),
        name,
        description: call.params.get("description").and_then(text).unwrap_or_default(),
        image_url: call.params.get("image_url").and_then(text).unwrap_or_default(),
        state: Lifecycle::Active,
        created: datalab_store::now(),
    };
    datalab_app::organizations::create_group(&call.state.app, &call.actor, call.user.as_ref(), &group).await?;
    Ok(dicts::group_dict(&group, Some(0)))
}

async fn activity_list(call: &Call<'_>, scope: datalab_store::ActivityScope) -> Result<Value, AppError> {
    let limit = optional_integer(&call.params, "limit", 31)?.clamp(1, 100);
    let offset = optional_integer(&call.params, "offset", 0)?.max(0);
    let activities = catalog::visible_activities(&call.state.app, &call.actor, scope, limit, offset).await?;
    Ok(Value::Array(activities.iter().map(dicts::activity_dict).collect()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filter_queries() {
        let parsed =
            parse_filter_query("organization:sec-cultura +tags:\"Población total\" AND res_format:CSV").unwrap();
        assert_eq!(
            parsed,
            vec![
                (FacetName::Organization, "sec-cultura".to_string()),
                (FacetName::Tags, "Población total".to_string()),
                (FacetName::ResFormat, "CSV".to_string()),
            ]
        );
        assert!(matches!(parse_filter_query("nonsense"), Err(AppError::SearchQuery(_))));
        assert!(matches!(parse_filter_query("secret_field:x"), Err(AppError::SearchQuery(_))));
    }

    #[test]
    fn every_action_is_documented() {
        let documentation = include_str!("../../../../docs/api.md");
        for ActionSpec { name, .. } in ACTIONS {
            assert!(documentation.contains(&format!("`{name}`")), "docs/api.md does not document {name}");
        }
    }

    #[test]
    fn file_names_never_become_paths() {
        assert_eq!(catalog::safe_filename("../../etc/passwd"), "passwd");
        assert_eq!(catalog::safe_filename("C:\\Users\\ana\\datos.csv"), "datos.csv");
        assert_eq!(catalog::safe_filename("..."), "archivo");
        assert_eq!(catalog::safe_filename("a\u{0}b\nc.csv"), "abc.csv");
    }
}
