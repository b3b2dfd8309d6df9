//! The HTML pages. Each handler gathers what its template needs and renders
//! it; every write checks the CSRF token and goes through [`crate::catalog`]
//! or the store behind the policy. Pages work without JavaScript.

mod account;
pub mod accountability;
pub(crate) mod datasets;
mod inventory;
mod organizations;
mod quality;

use axum::Router;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use datalab_core::{Action, Capacity, Dataset, FieldErrors, Group, Organization};
use datalab_search::{FacetName, SearchRequest, Sort};
use serde_json::{Value, json};

use crate::AppState;
use crate::context::RequestContext;
use crate::error::AppError;
use datalab_app::catalog;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(datasets::home))
        .route("/healthz", get(|| async { "ok" }))
        .route("/static/style.css", get(style))
        .route("/dataset", get(datasets::search_page))
        .route("/dataset/new", get(datasets::new_form).post(datasets::create))
        .route("/dataset/{name}", get(datasets::show))
        .route("/dataset/{name}/edit", get(datasets::edit_form).post(datasets::update))
        .route("/dataset/{name}/delete", post(datasets::delete))
        .route(
            "/dataset/{name}/resource/new",
            get(datasets::resource_form)
                .post(datasets::resource_upload)
                .layer(axum::extract::DefaultBodyLimit::disable()),
        )
        .route("/dataset/{name}/resource/{resource}", get(datasets::resource_page))
        .route("/dataset/{name}/resource/{resource}/delete", post(datasets::resource_delete))
        .route(
            "/dataset/{name}/resource/{resource}/schema",
            get(datasets::resource_schema_form).post(datasets::resource_schema_save),
        )
        .route("/dataset/{name}/resource/{resource}/reingest", post(datasets::resource_reingest))
        .route("/organization", get(organizations::list))
        .route("/organization/new", get(organizations::new_form).post(organizations::create))
        .route("/organization/{name}", get(organizations::show))
        .route("/organization/{name}/edit", get(organizations::edit_form).post(organizations::update))
        .route("/organization/{name}/inventory", get(inventory::for_organization).post(inventory::save))
        .route("/inventory", get(inventory::state_wide))
        .route("/inventory.csv", get(inventory::csv))
        .route("/quality", get(quality::dashboard))
        .route("/organization/{name}/members", get(organizations::members).post(organizations::add_member))
        .route("/organization/{name}/members/{user}/delete", post(organizations::remove_member))
        .route("/commitment", get(accountability::list))
        .route("/commitment/{code}", get(accountability::show))
        .route("/commitment/{code}/milestones.csv", get(accountability::csv))
        .route("/commitment/{code}/feed.atom", get(accountability::feed))
        .route("/commitment/{code}/report", get(accountability::report))
        .route("/commitment/{code}/import", get(accountability::import_form).post(accountability::import))
        .route("/commitment/{code}/monitors", post(accountability::add_monitor))
        .route("/commitment/{code}/follow", post(accountability::follow))
        .route("/commitment/{code}/milestone/{number}/comment", post(accountability::comment))
        .route("/commitment/{code}/milestone/{number}/tasks", post(accountability::add_task))
        .route(
            "/commitment/{code}/milestone/{number}/document",
            post(accountability::upload_document).layer(axum::extract::DefaultBodyLimit::disable()),
        )
        .route(
            "/commitment/{code}/milestone/{number}/evidence/{evidence}/download",
            get(accountability::download_document),
        )
        .route("/commitment/{code}/milestone/{number}/evidence/{evidence}/flag", post(accountability::flag_evidence))
        .route("/commitment/{code}/milestone/{number}", get(accountability::milestone).post(accountability::update))
        .route("/group", get(organizations::groups))
        .route("/group/{name}", get(organizations::group))
        .route("/user/login", get(account::login_form).post(account::login))
        .route("/user/logout", post(account::logout))
        .route("/user/register", get(account::register_form).post(account::register))
        .route("/user/{name}", get(account::profile))
        .route("/user/{name}/tokens", post(account::create_token))
        .route("/user/{name}/tokens/{token}/revoke", post(account::revoke_token))
}

async fn style() -> Response {
    (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static("text/css; charset=utf-8")),
            (header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=3600")),
        ],
        include_str!("../../static/style.css"),
    )
        .into_response()
}

pub async fn not_found() -> AppError {
    AppError::NotFound
}

/// What every page's template gets: language, user, CSRF token, navigation.
pub(crate) fn base_context(context: &RequestContext) -> serde_json::Map<String, Value> {
    let other = match context.lang {
        crate::i18n::Lang::Es => "en",
        crate::i18n::Lang::En => "es",
    };
    let path = &context.path_and_query;
    let (path_only, query) = path.split_once('?').unwrap_or((path, ""));
    let mut pairs: Vec<(String, String)> = serde_urlencoded::from_str(query).unwrap_or_default();
    pairs.retain(|(key, _)| key != "lang");
    pairs.push(("lang".into(), other.into()));
    let switch_url = format!("{path_only}?{}", serde_urlencoded::to_string(&pairs).unwrap_or_default());
    let can_create_dataset =
        context.actor.sysadmin || context.actor.memberships.values().any(|capacity| *capacity >= Capacity::Editor);
    let mut map = serde_json::Map::new();
    map.insert("lang".into(), json!(context.lang.code()));
    map.insert("lang_tag".into(), json!(context.lang.tag()));
    map.insert("other_lang".into(), json!(other));
    map.insert("lang_switch_url".into(), json!(switch_url));
    map.insert("csrf_token".into(), json!(context.csrf_token));
    map.insert("path".into(), json!(path));
    map.insert(
        "user".into(),
        context
            .user
            .as_ref()
            .map(|user| json!({"name": user.name, "fullname": user.fullname, "sysadmin": user.sysadmin}))
            .unwrap_or(Value::Null),
    );
    map.insert("can_create_dataset".into(), json!(can_create_dataset));
    map.insert("can_create_organization".into(), json!(context.actor.can(Action::CreateOrganization)));
    map
}

/// Renders a page: the view's keys (a typed view, or a JSON object) beside
/// what every page has (language, user, CSRF token…).
pub(crate) fn render(
    state: &AppState,
    context: &RequestContext,
    template: &str,
    view: impl serde::Serialize,
) -> Result<Response, AppError> {
    let mut map = base_context(context);
    match serde_json::to_value(view).map_err(AppError::internal)? {
        Value::Object(view) => map.extend(view),
        other => return Err(AppError::internal(format!("the view of {template} is not an object: {other}"))),
    }
    let mut response = state.templates.render(template, Value::Object(map))?.into_response();
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}

/// Field errors as the templates show them: field → translated messages.
pub(crate) fn translated_errors(context: &RequestContext, errors: &FieldErrors) -> Value {
    let lang = context.lang;
    Value::Object(
        errors
            .0
            .iter()
            .map(|(field, codes)| {
                (
                    field.clone(),
                    json!(codes.iter().map(|code| lang.t(&format!("field-error-{}", code.code()))).collect::<Vec<_>>()),
                )
            })
            .collect(),
    )
}

/// Sends the browser to a local path only: `next` parameters cannot point elsewhere.
pub(crate) fn redirect_local(target: &str) -> Response {
    Redirect::to(&local_target(target).unwrap_or_else(|| "/".into())).into_response()
}

/// `target` as a path on this site, or `None`. It is parsed as a URL
/// relative to this site, by the WHATWG rules browsers follow (which drop
/// tabs and line breaks, so `/\t/evil.example/` is `//evil.example/`, and
/// read `\` as `/`), and kept only if it stays on this site; what is kept
/// is the parsed form, with nothing a header cannot carry.
pub(crate) fn local_target(target: &str) -> Option<String> {
    if !target.starts_with('/') {
        return None;
    }
    let base = url::Url::parse("http://datalab.invalid/").expect("a valid base");
    let parsed = base.join(target).ok()?;
    let local = parsed[url::Position::BeforePath..].to_string();
    // Dot segments can collapse into `//elsewhere` (`/..//evil.example`),
    // which a browser reads as another site.
    (parsed.origin() == base.origin() && !local.starts_with("//") && !local.starts_with("/\\")).then_some(local)
}

/// A urlencoded form whose CSRF token was checked against the request's
/// session before the handler runs: its fields as pairs (repeated keys
/// kept). The body is bounded by the router's body limit as it is read.
pub struct CheckedForm(pub Vec<(String, String)>);

impl axum::extract::FromRequest<AppState> for CheckedForm {
    type Rejection = AppError;

    async fn from_request(request: axum::extract::Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let context = request
            .extensions()
            .get::<RequestContext>()
            .cloned()
            .ok_or_else(|| AppError::internal("request context middleware is missing"))?;
        let body = bytes::Bytes::from_request(request, state)
            .await
            .map_err(|rejection| AppError::BadRequest(format!("cannot read the form: {rejection}")))?;
        checked_form(&context, &body).map(CheckedForm)
    }
}

/// A page's multipart form with one file: its text fields, and the file,
/// streamed into storage as it arrives. Read by [`UploadForm::read`].
pub(crate) struct UploadForm {
    pub fields: Vec<(String, String)>,
    /// The stored file and the name the client gave it; `None` when no file was chosen.
    pub upload: Option<(datalab_files::StoredBlob, String)>,
}

impl UploadForm {
    /// Reads a multipart form whose file is the part named `file_field`:
    /// every text field bounded by `text_limit` bytes, the number of parts
    /// bounded, and the CSRF token checked before the first byte of the
    /// file is stored (the form puts its token first). On any error the
    /// file already stored is discarded.
    pub(crate) async fn read(
        state: &AppState,
        context: &RequestContext,
        request: axum::extract::Request,
        file_field: &str,
        text_limit: usize,
    ) -> Result<UploadForm, AppError> {
        use axum::extract::FromRequest;
        let mut multipart = axum::extract::Multipart::from_request(request, state)
            .await
            .map_err(|error| AppError::BadRequest(error.to_string()))?;
        let mut form = UploadForm { fields: Vec::new(), upload: None };
        let (mut csrf_checked, mut parts) = (false, 0);
        let read: Result<(), AppError> = async {
            while let Some(mut field) =
                multipart.next_field().await.map_err(|error| AppError::BadRequest(error.to_string()))?
            {
                crate::forms::count_part(&mut parts)?;
                let name = field.name().unwrap_or("").to_string();
                match field.file_name().map(str::to_string) {
                    Some(filename) if name == file_field && form.upload.is_none() => {
                        if !csrf_checked {
                            return Err(AppError::Csrf);
                        }
                        if filename.is_empty() {
                            continue; // no file chosen
                        }
                        let stream = futures_util::stream::poll_fn(move |poll| {
                            futures_util::Stream::poll_next(std::pin::Pin::new(&mut field), poll)
                        });
                        form.upload = Some((catalog::store_upload(&state.app, stream).await?, filename));
                    }
                    Some(_) => return Err(AppError::BadRequest(format!("unexpected file field {name}"))),
                    None => {
                        let value = crate::forms::bounded_text(&mut field, text_limit).await?;
                        if name == "csrf_token" {
                            crate::context::verify_csrf(context, &value)?;
                            csrf_checked = true;
                        }
                        form.fields.push((name, value));
                    }
                }
            }
            if csrf_checked { Ok(()) } else { Err(AppError::Csrf) }
        }
        .await;
        if let Err(error) = read {
            if let Some((blob, _)) = &form.upload {
                catalog::discard_upload(&state.app, blob).await;
            }
            return Err(error);
        }
        Ok(form)
    }
}

/// Reads a urlencoded form body as pairs (repeated keys kept) and checks its CSRF token.
pub(crate) fn checked_form(context: &RequestContext, body: &[u8]) -> Result<Vec<(String, String)>, AppError> {
    let pairs: Vec<(String, String)> =
        serde_urlencoded::from_bytes(body).map_err(|error| AppError::BadRequest(format!("invalid form: {error}")))?;
    let token = pairs.iter().find(|(key, _)| key == "csrf_token").map(|(_, value)| value.as_str()).unwrap_or("");
    crate::context::verify_csrf(context, token)?;
    Ok(pairs)
}

/// A submitted form as a template's `form` object (the CSRF token left
/// out), to show the input again next to its errors.
pub(crate) fn form_echo(pairs: Vec<(String, String)>) -> Value {
    Value::Object(
        pairs
            .into_iter()
            .filter(|(key, _)| key != "csrf_token")
            .map(|(key, value)| (key, Value::String(value)))
            .collect(),
    )
}

pub(crate) fn form_value(pairs: &[(String, String)], key: &str) -> String {
    pairs.iter().find(|(name, _)| name == key).map(|(_, value)| value.trim().to_string()).unwrap_or_default()
}

pub(crate) fn form_values(pairs: &[(String, String)], key: &str) -> Vec<String> {
    pairs
        .iter()
        .filter(|(name, _)| name == key)
        .map(|(_, value)| value.trim().to_string())
        .filter(|value| !value.is_empty())
        .collect()
}

/// How long a dataset's summary is in lists, at most.
pub(crate) const SUMMARY_CHARACTERS: usize = 240;

/// A dataset as the templates show it in lists: its description as plain
/// text, cut on a word.
pub(crate) fn dataset_summary(dataset: &Dataset, organizations: &[Organization]) -> Value {
    let organization = organizations.iter().find(|organization| organization.id == dataset.owner_org);
    let mut formats: Vec<String> = dataset
        .resources
        .iter()
        .map(|resource| resource.format.to_uppercase())
        .filter(|format| !format.is_empty())
        .collect();
    formats.sort();
    formats.dedup();
    json!({
        "name": dataset.name,
        "title": dataset.title,
        "notes": crate::templates::markdown_summary(&dataset.notes, SUMMARY_CHARACTERS),
        "private": dataset.private,
        "organization": organization.map(|organization| json!({"name": organization.name, "title": organization.title})),
        "formats": formats,
        "metadata_modified": crate::timestamps::ckan_time(dataset.metadata_modified),
    })
}

/// The search page's parameters, shared by /dataset, organization and group pages.
#[derive(Debug, Default)]
pub(crate) struct SearchParams {
    pub query: String,
    pub filters: Vec<(FacetName, String)>,
    pub sort: String,
    pub page: usize,
    pub pairs: Vec<(String, String)>,
}

pub(crate) const PAGE_SIZE: usize = 20;

impl SearchParams {
    pub fn from_query(raw: Option<&str>) -> SearchParams {
        let pairs: Vec<(String, String)> =
            raw.map(|raw| serde_urlencoded::from_str(raw).unwrap_or_default()).unwrap_or_default();
        let mut params = SearchParams { page: 1, ..SearchParams::default() };
        for (key, value) in &pairs {
            match key.as_str() {
                "q" => params.query = value.clone(),
                "sort" => params.sort = value.clone(),
                "page" => params.page = value.parse().unwrap_or(1).clamp(1, 10_000),
                other => {
                    if let Some(facet) = FacetName::parse(other)
                        && !value.is_empty()
                    {
                        params.filters.push((facet, value.clone()));
                    }
                }
            }
        }
        params.pairs = pairs.into_iter().filter(|(key, _)| key != "lang").collect();
        params
    }

    pub fn request(&self) -> SearchRequest {
        let sort = match self.sort.as_str() {
            "name" => Sort::NameAscending,
            "modified" => Sort::ModifiedDescending,
            "quality" => Sort::QualityDescending,
            _ if self.query.trim().is_empty() => Sort::ModifiedDescending,
            _ => Sort::Relevance,
        };
        SearchRequest {
            query: self.query.clone(),
            filters: self.filters.clone(),
            sort,
            start: (self.page - 1) * PAGE_SIZE,
            rows: PAGE_SIZE,
            facets: FacetName::ALL.to_vec(),
            facet_limit: 10,
        }
    }
}

/// Runs a page search and returns what the search templates need.
pub(crate) async fn search_view(
    state: &AppState,
    context: &RequestContext,
    params: &SearchParams,
) -> Result<Value, AppError> {
    let request = params.request();
    let (results, datasets) =
        match catalog::search(&state.app, &context.actor, &request, true).await.map_err(AppError::from) {
            Ok(found) => found,
            // A query with a syntax error is retried as plain words rather than failing the page.
            Err(AppError::SearchQuery(_)) => {
                let mut plain = request.clone();
                plain.query = params
                    .query
                    .chars()
                    .map(|character| if character.is_alphanumeric() { character } else { ' ' })
                    .collect();
                catalog::search(&state.app, &context.actor, &plain, true).await?
            }
            Err(other) => return Err(other),
        };
    let organizations = state.app.store.organizations().await?;
    let groups: Vec<Group> = state.app.store.groups().await?;
    let lang = context.lang;
    let facets: Vec<Value> = results
        .facets
        .iter()
        .filter(|(_, values)| !values.is_empty())
        .map(|(facet, values)| {
            let label = |value: &str| -> String {
                match facet {
                    FacetName::Organization => organizations.iter().find(|organization| organization.name == value).map(|organization| organization.title.clone()),
                    FacetName::Groups => groups.iter().find(|group| group.name == value).map(|group| group.title.clone()),
                    FacetName::LicenseId => datalab_core::licenses::find(value).map(|license| license.title.to_string()),
                    FacetName::Quality => Some(lang.t(&format!("quality-band-{value}"))),
                    _ => None,
                }
                .unwrap_or_else(|| value.to_string())
            };
            json!({
                "name": facet.as_str(),
                "title": lang.t(&format!("facet-{}", facet.as_str().replace('_', "-"))),
                "items": values.iter().map(|(value, count)| json!({
                    "value": value,
                    "label": label(value),
                    "count": count,
                    "active": params.filters.iter().any(|(active_facet, active)| active_facet == facet && active == value),
                })).collect::<Vec<_>>(),
            })
        })
        .collect();
    let pages = results.count.div_ceil(PAGE_SIZE).max(1);
    Ok(json!({
        "q": params.query,
        "sort": params.sort,
        "count": results.count,
        "datasets": datasets.iter().map(|dataset| {
            let mut summary = dataset_summary(dataset, &organizations);
            if let Some(quality) = results.quality_of(dataset.id) {
                summary["quality"] = json!(quality);
                summary["quality_band"] = json!(datalab_search::quality_band(quality));
            }
            summary
        }).collect::<Vec<_>>(),
        "facets": facets,
        "active_filters": params.filters.iter().map(|(facet, value)| json!({"name": facet.as_str(), "value": value})).collect::<Vec<_>>(),
        "query_pairs": params.pairs,
        "page": params.page,
        "pages": pages,
    }))
}

/// Activity entries as the templates show them.
pub(crate) fn activity_view(activities: &[datalab_core::Activity]) -> Vec<Value> {
    activities
        .iter()
        .map(|activity| {
            json!({
                "type_key": format!("activity-{}", activity.activity_type.replace(' ', "-")),
                "object": activity.object_name,
                "is_dataset": activity.dataset_id.is_some(),
                "user": activity.user_name,
                "timestamp": crate::timestamps::ckan_time(activity.timestamp),
                "fields": activity.changes.iter().map(|change| change.field.clone()).collect::<Vec<_>>(),
            })
        })
        .collect()
}
