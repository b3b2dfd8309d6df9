//! Home, search, dataset and resource pages, and their forms.

use axum::extract::{Path, RawQuery, Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use datalab_core::{Action, Dataset, FieldError, FieldErrors, Resource, ResourceLocation, municipalities};
use datalab_search::{SearchRequest, Sort};
use serde_json::{Value, json};
use uuid::Uuid;

use super::{
    CheckedForm, SearchParams, dataset_summary, form_value, form_values, redirect_local, render, search_view,
    translated_errors,
};
use crate::AppState;
use crate::context::RequestContext;
use crate::error::AppError;
use crate::links::resource_url;
use crate::templates::json_for_script;
use crate::timestamps::ckan_time;
use datalab_app::catalog;

pub async fn home(State(state): State<AppState>, context: RequestContext) -> Result<Response, AppError> {
    let newest_request = SearchRequest {
        sort: Sort::ModifiedDescending,
        rows: 6,
        facets: vec![datalab_search::FacetName::Groups],
        facet_limit: usize::MAX,
        ..SearchRequest::default()
    };
    let (results, newest) = catalog::search(&state.app, &context.actor, &newest_request, false).await?;
    let organizations = state.app.store.organizations().await?;
    let groups = state.app.store.groups().await?;
    let group_counts: std::collections::HashMap<String, u64> =
        results.facets.into_iter().flat_map(|(_, values)| values).collect();
    render(
        &state,
        &context,
        "home.html",
        json!({
            "dataset_count": results.count,
            "organization_count": organizations.len(),
            "group_count": groups.len(),
            "groups": groups.iter().map(|group| json!({"name": group.name, "title": group.title, "description": group.description, "count": group_counts.get(&group.name).copied().unwrap_or(0)})).collect::<Vec<_>>(),
            "newest": newest.iter().map(|dataset| dataset_summary(dataset, &organizations)).collect::<Vec<_>>(),
        }),
    )
}

pub async fn search_page(
    State(state): State<AppState>,
    context: RequestContext,
    RawQuery(query): RawQuery,
) -> Result<Response, AppError> {
    let params = SearchParams::from_query(query.as_deref());
    let view = search_view(&state, &context, &params).await?;
    render(&state, &context, "search.html", json!({"search": view, "action": "/dataset"}))
}

/// A dataset the reader may see; private ones are "not found" to others.
async fn visible_dataset(state: &AppState, context: &RequestContext, name: &str) -> Result<Dataset, AppError> {
    catalog::readable_dataset(&state.app, &context.actor, name).await.map_err(AppError::from).map_err(|error| {
        match error {
            AppError::Forbidden | AppError::NotAuthenticated => AppError::NotFound,
            other => other,
        }
    })
}

fn license_view(id: &str) -> Value {
    match datalab_core::licenses::find(id) {
        Some(license) => {
            json!({"id": license.id, "title": license.title, "url": license.url, "is_open": license.is_open})
        }
        None => json!({"id": id, "title": id, "url": "", "is_open": false}),
    }
}

fn schema_org(base: &str, dataset: &Dataset, organization: &datalab_core::Organization) -> Value {
    let license = datalab_core::licenses::find(&dataset.license_id);
    let dcat = &dataset.dcat;
    let mut document = json!({
        "@context": "https://schema.org",
        "@type": "Dataset",
        "name": dataset.title,
        // Plain text, as schema.org's description is read by search engines.
        "description": match crate::templates::markdown_summary(&dataset.notes, 5000) {
            summary if summary.is_empty() => dataset.title.clone(),
            summary => summary,
        },
        "url": format!("{base}/dataset/{}", dataset.name),
        "identifier": dataset.id,
        "keywords": dataset.tags,
        "inLanguage": if dcat.language.is_empty() { "es".to_string() } else { dcat.language.clone() },
        "isAccessibleForFree": true,
        "creator": {"@type": "Organization", "name": organization.title, "url": format!("{base}/organization/{}", organization.name)},
        "dateCreated": ckan_time(dataset.metadata_created),
        "dateModified": ckan_time(dataset.metadata_modified),
        "distribution": dataset.resources.iter().map(|resource| json!({
            "@type": "DataDownload",
            "name": resource.name,
            "encodingFormat": resource.format,
            "contentUrl": resource_url(base, resource),
        })).collect::<Vec<_>>(),
    });
    if let Some(license) = license.filter(|license| !license.url.is_empty()) {
        document["license"] = json!(license.url);
    }
    if !dcat.temporal_start.is_empty() || !dcat.temporal_end.is_empty() {
        let start = if dcat.temporal_start.is_empty() { ".." } else { &dcat.temporal_start };
        let end = if dcat.temporal_end.is_empty() { ".." } else { &dcat.temporal_end };
        document["temporalCoverage"] = json!(format!("{start}/{end}"));
    }
    if !dcat.spatial.is_empty() {
        document["spatialCoverage"] = json!(
            dcat.spatial
                .iter()
                .filter_map(|code| municipalities::name_of(code))
                .map(|name| json!({"@type": "Place", "name": format!("{name}, Nuevo León, México")}))
                .collect::<Vec<_>>()
        );
    }
    document
}

pub async fn show(
    State(state): State<AppState>,
    context: RequestContext,
    Path(name): Path<String>,
    request: Request,
) -> Result<Response, AppError> {
    let dataset = visible_dataset(&state, &context, &name).await?;
    let base = crate::links::base_url(&state, request.headers());
    let organization = state.app.store.organization(&dataset.owner_org.to_string()).await?;
    let groups: Vec<Value> = state
        .app
        .store
        .groups()
        .await?
        .into_iter()
        .filter(|group| dataset.groups.contains(&group.name))
        .map(|group| json!({"name": group.name, "title": group.title}))
        .collect();
    let activities = state.app.store.activities(datalab_store::ActivityScope::Dataset(dataset.id), 20, 0).await?;
    let quality = quality_view(&state, &context, &dataset).await?;
    let lang = context.lang;
    let frequency = if dataset.dcat.update_frequency.is_empty() {
        String::new()
    } else {
        lang.t(&format!("frequency-{}", dataset.dcat.update_frequency))
    };
    let view = json!({
        "dataset": {
            "id": dataset.id,
            "name": dataset.name,
            "title": dataset.title,
            "notes": dataset.notes,
            "private": dataset.private,
            "state": dataset.state.as_str(),
            "tags": dataset.tags,
            "author": dataset.author,
            "author_email": dataset.author_email,
            "maintainer": dataset.maintainer,
            "maintainer_email": dataset.maintainer_email,
            "url": dataset.url,
            "version": dataset.version,
            "extras": dataset.extras,
            "temporal_start": dataset.dcat.temporal_start,
            "temporal_end": dataset.dcat.temporal_end,
            "spatial": dataset.dcat.spatial.iter().filter_map(|code| municipalities::name_of(code)).collect::<Vec<_>>(),
            "update_frequency": frequency,
            "language": dataset.dcat.language,
            "contact_name": dataset.dcat.contact_name,
            "contact_email": dataset.dcat.contact_email,
            "issued": dataset.dcat.issued,
            "modified": dataset.dcat.modified,
            "metadata_created": ckan_time(dataset.metadata_created),
            "metadata_modified": ckan_time(dataset.metadata_modified),
            "resources": dataset.resources.iter().map(|resource| json!({
                "id": resource.id,
                "name": if resource.name.is_empty() { resource.id.to_string() } else { resource.name.clone() },
                "description": resource.description,
                "format": resource.format,
                "url": resource_url(&base, resource),
                "uploaded": resource.is_upload(),
                "size": resource.size,
            })).collect::<Vec<_>>(),
        },
        "license": license_view(&dataset.license_id),
        "organization": {"name": organization.name, "title": organization.title},
        "groups": groups,
        "activities": super::activity_view(&activities),
        "can_edit": context.actor.can(Action::UpdateDataset { organization: dataset.owner_org }),
        "can_delete": context.actor.can(Action::DeleteDataset { organization: dataset.owner_org }),
        "base_url": base,
        "json_ld": json_for_script(&schema_org(&base, &dataset, &organization)),
        "quality": quality,
    });
    render(&state, &context, "dataset.html", view)
}

/// The organizations the reader may publish in, for the form's select.
async fn publishable_organizations(state: &AppState, context: &RequestContext) -> Result<Vec<Value>, AppError> {
    Ok(state
        .app
        .store
        .organizations()
        .await?
        .into_iter()
        .filter(|organization| context.actor.can(Action::CreateDataset { organization: organization.id }))
        .map(|organization| json!({"id": organization.id, "name": organization.name, "title": organization.title}))
        .collect())
}

/// The dataset text fields the dataset form edits (of
/// `datalab_core::DATASET_TEXT_FIELDS`); a new one is an input in
/// `dataset_form.html` and a name here.
const FORM_TEXT_FIELDS: &[&str] = &[
    "name",
    "title",
    "notes",
    "license_id",
    "author",
    "author_email",
    "maintainer",
    "maintainer_email",
    "url",
    "version",
    "temporal_start",
    "temporal_end",
    "update_frequency",
    "language",
    "contact_name",
    "contact_email",
];

/// Of those, the ones the form's reader sets with a rule of its own (a
/// name from the title, the licence).
const SEPARATE_TEXT_FIELDS: &[&str] = &["name", "title", "notes", "license_id"];

/// What `dataset_form.html` shows.
#[derive(serde::Serialize)]
struct DatasetFormView {
    editing: bool,
    /// The fields' values, by name (the text fields from `FORM_TEXT_FIELDS`).
    form: Value,
    errors: Value,
    organizations: Vec<Value>,
    licenses: Vec<LicenseChoice>,
    all_groups: Vec<GroupChoice>,
    frequencies: Vec<FrequencyChoice>,
    municipalities: Vec<MunicipalityChoice>,
}

#[derive(serde::Serialize)]
struct LicenseChoice {
    id: &'static str,
    title: &'static str,
}

#[derive(serde::Serialize)]
struct GroupChoice {
    name: String,
    title: String,
}

#[derive(serde::Serialize)]
struct FrequencyChoice {
    code: &'static str,
    label: String,
}

#[derive(serde::Serialize)]
struct MunicipalityChoice {
    code: &'static str,
    name: &'static str,
}

async fn form_view(
    state: &AppState,
    context: &RequestContext,
    dataset: &Dataset,
    errors: &FieldErrors,
    editing: bool,
) -> Result<DatasetFormView, AppError> {
    let lang = context.lang;
    let mut form = json!({
        "owner_org": dataset.owner_org,
        "tag_string": dataset.tags.join(", "),
        "groups": dataset.groups,
        "private": dataset.private,
        "spatial": dataset.dcat.spatial,
    });
    for field in FORM_TEXT_FIELDS {
        form[*field] = json!(dataset.text_field(field));
    }
    Ok(DatasetFormView {
        editing,
        form,
        errors: translated_errors(context, errors),
        organizations: publishable_organizations(state, context).await?,
        licenses: datalab_core::licenses::LICENSES
            .iter()
            .map(|license| LicenseChoice { id: license.id, title: license.title })
            .collect(),
        all_groups: state
            .app
            .store
            .groups()
            .await?
            .into_iter()
            .map(|group| GroupChoice { name: group.name, title: group.title })
            .collect(),
        frequencies: datalab_core::UPDATE_FREQUENCIES
            .iter()
            .map(|code| FrequencyChoice { code, label: lang.t(&format!("frequency-{code}")) })
            .collect(),
        municipalities: std::iter::once((municipalities::STATE_CODE, municipalities::STATE_NAME))
            .chain(municipalities::MUNICIPALITIES.iter().copied())
            .map(|(code, name)| MunicipalityChoice { code, name })
            .collect(),
    })
}

pub async fn new_form(State(state): State<AppState>, context: RequestContext) -> Result<Response, AppError> {
    if context.user.is_none() {
        return Ok(redirect_local(&format!(
            "/user/login?next={}",
            percent_encoding::utf8_percent_encode("/dataset/new", percent_encoding::NON_ALPHANUMERIC)
        )));
    }
    let organizations = publishable_organizations(&state, &context).await?;
    if organizations.is_empty() {
        return Err(AppError::Forbidden);
    }
    let dataset = catalog::new_dataset(Uuid::nil(), None);
    let view = form_view(&state, &context, &dataset, &FieldErrors::new(), false).await?;
    render(&state, &context, "dataset_form.html", view)
}

/// Fills a dataset from the dataset form.
fn apply_form(dataset: &mut Dataset, pairs: &[(String, String)], errors: &mut FieldErrors) {
    dataset.title = form_value(pairs, "title");
    dataset.name = form_value(pairs, "name");
    if dataset.name.is_empty() {
        dataset.name = datalab_core::slugify(&dataset.title);
    }
    dataset.notes = form_value(pairs, "notes");
    match Uuid::parse_str(&form_value(pairs, "owner_org")) {
        Ok(id) => dataset.owner_org = id,
        Err(_) => errors.add("owner_org", FieldError::Missing),
    }
    dataset.license_id = form_value(pairs, "license_id");
    dataset.tags = form_value(pairs, "tag_string")
        .split(',')
        .map(str::trim)
        .filter(|tag| !tag.is_empty())
        .map(String::from)
        .collect();
    dataset.groups = form_values(pairs, "groups");
    dataset.private = form_value(pairs, "private") == "true";
    for field in FORM_TEXT_FIELDS.iter().filter(|field| !SEPARATE_TEXT_FIELDS.contains(field)) {
        *dataset.text_field_mut(field).expect("a dataset text field") = form_value(pairs, field);
    }
    dataset.dcat.spatial = form_values(pairs, "spatial");
}

pub async fn create(
    State(state): State<AppState>,
    context: RequestContext,
    CheckedForm(pairs): CheckedForm,
) -> Result<Response, AppError> {
    let user = context.user.clone().ok_or(AppError::NotAuthenticated)?;
    let mut dataset = catalog::new_dataset(Uuid::nil(), Some(user.id));
    let mut errors = FieldErrors::new();
    apply_form(&mut dataset, &pairs, &mut errors);
    let outcome = if errors.is_empty() {
        catalog::create_dataset(&state.app, &context.actor, Some(&user), dataset.clone()).await.map_err(AppError::from)
    } else {
        Err(AppError::Validation(errors))
    };
    match outcome {
        Ok(saved) => Ok(redirect_local(&format!("/dataset/{}/resource/new", saved.name))),
        Err(AppError::Validation(errors)) => {
            let view = form_view(&state, &context, &dataset, &errors, false).await?;
            Ok((StatusCode::UNPROCESSABLE_ENTITY, render(&state, &context, "dataset_form.html", view)?).into_response())
        }
        Err(other) => Err(other),
    }
}

pub async fn edit_form(
    State(state): State<AppState>,
    context: RequestContext,
    Path(name): Path<String>,
) -> Result<Response, AppError> {
    let dataset = visible_dataset(&state, &context, &name).await?;
    context.actor.authorize(Action::UpdateDataset { organization: dataset.owner_org })?;
    let view = form_view(&state, &context, &dataset, &FieldErrors::new(), true).await?;
    render(&state, &context, "dataset_form.html", view)
}

pub async fn update(
    State(state): State<AppState>,
    context: RequestContext,
    Path(name): Path<String>,
    CheckedForm(pairs): CheckedForm,
) -> Result<Response, AppError> {
    let before = visible_dataset(&state, &context, &name).await?;
    context.actor.authorize(Action::UpdateDataset { organization: before.owner_org })?;
    let mut after = before.clone();
    let mut errors = FieldErrors::new();
    apply_form(&mut after, &pairs, &mut errors);
    let outcome = if errors.is_empty() {
        catalog::update_dataset(&state.app, &context.actor, context.user.as_ref(), &before, after.clone())
            .await
            .map_err(AppError::from)
    } else {
        Err(AppError::Validation(errors))
    };
    match outcome {
        Ok(saved) => Ok(redirect_local(&format!("/dataset/{}", saved.name))),
        Err(AppError::Validation(errors)) => {
            let view = form_view(&state, &context, &after, &errors, true).await?;
            Ok((StatusCode::UNPROCESSABLE_ENTITY, render(&state, &context, "dataset_form.html", view)?).into_response())
        }
        Err(other) => Err(other),
    }
}

pub async fn delete(
    State(state): State<AppState>,
    context: RequestContext,
    Path(name): Path<String>,
    _form: CheckedForm,
) -> Result<Response, AppError> {
    let dataset = visible_dataset(&state, &context, &name).await?;
    catalog::delete_dataset(&state.app, &context.actor, context.user.as_ref(), &dataset).await?;
    let organization = state.app.store.organization(&dataset.owner_org.to_string()).await?;
    Ok(redirect_local(&format!("/organization/{}", organization.name)))
}

pub async fn resource_form(
    State(state): State<AppState>,
    context: RequestContext,
    Path(name): Path<String>,
) -> Result<Response, AppError> {
    let dataset = visible_dataset(&state, &context, &name).await?;
    context.actor.authorize(Action::UpdateDataset { organization: dataset.owner_org })?;
    render(
        &state,
        &context,
        "resource_form.html",
        json!({"dataset": {"name": dataset.name, "title": dataset.title}, "errors": {}, "form": {}, "max_upload_bytes": state.app.files.max_upload_bytes()}),
    )
}

/// Receives the upload form: text fields and one file, streamed to storage.
/// The CSRF token must come before the file, so that no byte of a forged
/// upload is stored.
pub async fn resource_upload(
    State(state): State<AppState>,
    context: RequestContext,
    Path(name): Path<String>,
    request: Request,
) -> Result<Response, AppError> {
    let before = visible_dataset(&state, &context, &name).await?;
    context.actor.authorize(Action::UpdateDataset { organization: before.owner_org })?;
    let super::UploadForm { fields, upload } =
        super::UploadForm::read(&state, &context, request, "upload", 100_000).await?;
    let url = form_value(&fields, "url");
    let mut resource = catalog::new_resource(before.id, ResourceLocation::Link { url: url.clone() });
    resource.name = form_value(&fields, "name");
    resource.description = form_value(&fields, "description");
    resource.format = form_value(&fields, "format");
    if let Some(upload) = &upload {
        catalog::attach_upload(&mut resource, upload);
    } else if resource.format.is_empty() {
        resource.format = catalog::guess_format(&resource);
    }
    let mut errors = FieldErrors::new();
    if upload.is_none() && url.is_empty() {
        errors.add("upload", FieldError::Missing);
    }
    let mut after = before.clone();
    after.resources.push(resource);
    let outcome = if errors.is_empty() {
        catalog::update_dataset(&state.app, &context.actor, context.user.as_ref(), &before, after)
            .await
            .map_err(AppError::from)
    } else {
        Err(AppError::Validation(errors))
    };
    match outcome {
        Ok(saved) => Ok(redirect_local(&format!("/dataset/{}", saved.name))),
        Err(error) => {
            if let Some((blob, _)) = &upload {
                catalog::discard_upload(&state.app, blob).await;
            }
            match error {
                AppError::Validation(errors) => {
                    let form = super::form_echo(fields);
                    let page = render(
                        &state,
                        &context,
                        "resource_form.html",
                        json!({"dataset": {"name": before.name, "title": before.title}, "errors": translated_errors(&context, &errors), "form": form, "max_upload_bytes": state.app.files.max_upload_bytes()}),
                    )?;
                    Ok((StatusCode::UNPROCESSABLE_ENTITY, page).into_response())
                }
                other => Err(other),
            }
        }
    }
}

pub async fn resource_page(
    State(state): State<AppState>,
    context: RequestContext,
    Path((name, resource_id)): Path<(String, Uuid)>,
    request: Request,
) -> Result<Response, AppError> {
    let dataset = visible_dataset(&state, &context, &name).await?;
    let resource = dataset.resources.iter().find(|resource| resource.id == resource_id).ok_or(AppError::NotFound)?;
    let base = crate::links::base_url(&state, request.headers());
    let analysis_state = state.app.store.analysis(resource.id).await?;
    // `_table` picks one of a workbook's sheets; the first is the default.
    let pairs: Vec<(String, String)> =
        serde_urlencoded::from_str(request.uri().query().unwrap_or_default()).unwrap_or_default();
    let selected = crate::data::table_param(&pairs).map(str::to_string);
    let page_path = format!("/dataset/{}/resource/{}", dataset.name, resource.id);
    let tables: Vec<Value> = analysis_state
        .as_ref()
        .map(|analysis| analysis.tables())
        .unwrap_or_default()
        .iter()
        .enumerate()
        .map(|(index, table)| {
            let name = table["name"].as_str().unwrap_or_default();
            let current = match &selected {
                Some(selected) => selected == name,
                None => index == 0,
            };
            let url = if index == 0 {
                format!("{page_path}#datos")
            } else {
                format!("{page_path}?{}#datos", serde_urlencoded::to_string([("_table", name)]).unwrap_or_default())
            };
            json!({"name": name, "rows": table["rows"], "url": url, "current": current})
        })
        .collect();
    if let (Some(selected), Some(analysis)) = (&selected, &analysis_state)
        && matches!(analysis, datalab_store::AnalysisState::Done(_))
        && analysis.table(Some(selected)).is_none()
    {
        return Err(AppError::NotFound);
    }
    let preview = match analysis_state
        .as_ref()
        .and_then(|analysis| datalab_app::analysis::table_of(&state.app, resource, analysis, selected.as_deref()))
    {
        Some(table) => {
            // A geographic table's geometry column, as its analysis found it.
            let geometry = analysis_state
                .as_ref()
                .and_then(|analysis| analysis.table(selected.as_deref()))
                .and_then(|table| table["geo"]["geometry_field"].as_str())
                .map(str::to_string);
            let query = request.uri().query();
            Some(data_preview(&state, table, resource.id, &page_path, query, geometry, context.lang).await)
        }
        None => None,
    };
    let analysis = match analysis_state.as_ref().map(|state| (state, state.table(selected.as_deref()))) {
        Some((datalab_store::AnalysisState::Done(_), Some(analysis))) => {
            let lang = context.lang;
            let errors: Vec<Value> = analysis["report"]["tasks"][0]["errors"]
                .as_array()
                .map(|errors| errors.iter().take(50).map(|error| json!({
                    "type": error["type"],
                    "row": error["rowNumber"],
                    "message": if lang == crate::i18n::Lang::Es { error["messageEs"].clone() } else { error["message"].clone() },
                })).collect())
                .unwrap_or_default();
            json!({
                "status": "done",
                "name": analysis["name"],
                "format": analysis["format"],
                "geo": analysis["geo"],
                "encoding": analysis["encoding"],
                "mixed_encoding": analysis["mixed_encoding"],
                "delimiter": match analysis["dialect"]["delimiter"].as_str() { Some("\t") => "TAB".to_string(), Some(other) => other.to_string(), None => String::new() },
                "rows": analysis["rows"],
                "valid": analysis["report"]["valid"],
                "error_count": analysis["report"]["stats"]["errors"],
                "error_counts": analysis["report"]["tasks"][0]["errorCounts"],
                "errors": errors,
                "fields": analysis["schema"]["fields"],
                "profile": profile_with_histograms(&analysis["profile"], lang),
            })
        }
        Some((datalab_store::AnalysisState::Running, _)) => json!({"status": "running"}),
        Some((datalab_store::AnalysisState::Failed(error), _)) => {
            json!({"status": "failed", "error": error.get(context.lang.code())})
        }
        Some((datalab_store::AnalysisState::Done(_), None)) | None => Value::Null,
    };
    let job = state.app.store.latest_job(resource.id).await?.map(|job| {
        let percent = job
            .bytes_total
            .filter(|total| *total > 0)
            .map(|total| (job.bytes_read.saturating_mul(100) / total).clamp(0, 100));
        json!({
            "status": job.status,
            "running": !job.status.is_finished(),
            "failed": job.status == datalab_store::JobStatus::Failed,
            "bytes_read": job.bytes_read,
            "bytes_total": job.bytes_total,
            "rows_read": job.rows_read,
            "percent": percent,
            "attempts": job.attempts,
            "error": job.failure().get(context.lang.code()),
            "current_file": job.sha256 == resource.sha256,
        })
    });
    render(
        &state,
        &context,
        "resource.html",
        json!({
            "job": job,
            "dataset": {"name": dataset.name, "title": dataset.title, "id": dataset.id},
            "resource": {
                "id": resource.id,
                "name": if resource.name.is_empty() { resource.id.to_string() } else { resource.name.clone() },
                "description": resource.description,
                "format": resource.format,
                "url": resource_url(&base, resource),
                "uploaded": resource.is_upload(),
                "size": resource.size,
                "mimetype": resource.mimetype,
                "sha256": resource.sha256,
                "created": ckan_time(resource.created),
                "last_modified": ckan_time(resource.last_modified),
            },
            "can_edit": context.actor.can(Action::UpdateDataset { organization: dataset.owner_org }),
            "base_url": base,
            "analysis": analysis,
            "tables": if tables.len() > 1 { json!(tables) } else { json!([]) },
            "preview": preview,
            "examples": preview.is_some().then(|| crate::data::examples(&base, resource.id)),
        }),
    )
}

/// The profile with each histogram drawn as a small SVG, described in words.
fn profile_with_histograms(profile: &Value, lang: crate::i18n::Lang) -> Value {
    let mut profile = profile.clone();
    for column in profile.as_array_mut().into_iter().flatten() {
        let counts: Vec<u64> = column["histogram"]["counts"]
            .as_array()
            .map(|counts| counts.iter().filter_map(Value::as_u64).collect())
            .unwrap_or_default();
        if counts.is_empty() {
            continue;
        }
        let total: u64 = counts.iter().sum();
        let (min, max) = (column["min"].as_str().unwrap_or_default(), column["max"].as_str().unwrap_or_default());
        let label = if lang == crate::i18n::Lang::Es {
            format!("Distribución de {total} valores entre {min} y {max}, en {} intervalos", counts.len())
        } else {
            format!("Distribution of {total} values between {min} and {max}, in {} bins", counts.len())
        };
        column["histogram_svg"] = json!(crate::charts::sparkline(&counts, &label));
    }
    profile
}

/// The rows table of the resource page: filtered, sorted and paged by the
/// page's own query string, so it works without JavaScript and every view
/// has a URL to share.
/// A map of rows counted per grid cell, with its busiest cells as a table.
fn cells_view(cells: &[datalab_query::chart::MapCell], rows: u64, title: &str, description: &str) -> Value {
    json!({
        "svg": crate::charts::map_svg(cells, title, description),
        "cells": cells.len(),
        "rows": rows,
        "top": cells.iter().take(20).map(|cell| json!({"latitude": cell.latitude, "longitude": cell.longitude, "count": cell.count})).collect::<Vec<_>>(),
    })
}

async fn data_preview(
    state: &AppState,
    table: datalab_query::Table,
    resource_id: Uuid,
    page_path: &str,
    raw_query: Option<&str>,
    geometry: Option<String>,
    lang: crate::i18n::Lang,
) -> Value {
    let mut pairs: Vec<(String, String)> =
        serde_urlencoded::from_str(raw_query.unwrap_or_default()).unwrap_or_default();
    // The "add a filter" form sends column, operator and value separately.
    let take = |pairs: &mut Vec<(String, String)>, key: &str| {
        let value = pairs.iter().find(|(name, _)| name == key).map(|(_, value)| value.clone());
        pairs.retain(|(name, _)| name != key);
        value.unwrap_or_default()
    };
    let (column, op, value) = (take(&mut pairs, "_fc"), take(&mut pairs, "_fo"), take(&mut pairs, "_fv"));
    if !column.is_empty() {
        let key = if op.is_empty() || op == "exact" { column } else { format!("{column}__{op}") };
        pairs.push((key, value));
    }
    pairs.retain(|(key, _)| key != "lang");
    let url = |pairs: &[(String, String)]| {
        let query = serde_urlencoded::to_string(pairs).unwrap_or_default();
        if query.is_empty() { format!("{page_path}#datos") } else { format!("{page_path}?{query}#datos") }
    };
    let without = |keys: &[&str]| -> Vec<(String, String)> {
        pairs.iter().filter(|(key, _)| !keys.contains(&key.as_str())).cloned().collect()
    };
    let info = state.app.query.info(&table).ok();
    let all_columns: Vec<String> = info
        .as_ref()
        .map(|info| info.schema.fields().iter().map(|field| field.name().clone()).collect())
        .unwrap_or_default();
    let mut request = match datalab_query::RowsRequest::from_pairs(&pairs) {
        Ok(request) => request,
        Err(error) => return json!({"error": error.to_string(), "reset_url": url(&[]), "filter_columns": all_columns}),
    };
    request.size = request.size.min(50);
    let sort = request.sort.clone();
    let sort_desc = request.sort_desc;
    let page = match state.app.query.rows(table.clone(), request.clone()).await {
        Ok(page) => page,
        Err(error) => return json!({"error": error.to_string(), "reset_url": url(&[]), "filter_columns": all_columns}),
    };
    let columns: Vec<Value> = page
        .columns
        .iter()
        .map(|(name, kind)| {
            let ascending = sort.as_deref() == Some(name.as_str()) && !sort_desc;
            let descending = sort.as_deref() == Some(name.as_str()) && sort_desc;
            let mut sorted = without(&["_sort", "_sort_desc", "_next"]);
            sorted.push((if ascending { "_sort_desc" } else { "_sort" }.to_string(), name.clone()));
            json!({
                "name": name,
                "type": datalab_query::values::schema_type(kind),
                "numeric": matches!(datalab_query::values::schema_type(kind), "integer" | "number"),
                "sort_url": url(&sorted),
                "sort": if ascending { "ascending" } else if descending { "descending" } else { "none" },
            })
        })
        .collect();
    let rows: Vec<Vec<String>> = page
        .rows
        .iter()
        .map(|row| {
            row.iter()
                .map(|cell| match cell {
                    Value::Null => String::new(),
                    Value::String(text) => text.clone(),
                    other => other.to_string(),
                })
                .collect()
        })
        .collect();
    let filters: Vec<Value> = request
        .filters
        .iter()
        .map(|filter| {
            let key = if filter.op == datalab_query::FilterOp::Exact {
                filter.column.clone()
            } else {
                format!("{}__{}", filter.column, filter.op.suffix())
            };
            let remaining: Vec<(String, String)> = pairs
                .iter()
                .filter(|(name, value)| !(name == &key && value == &filter.value) && name != "_next")
                .cloned()
                .collect();
            json!({"column": filter.column, "op": filter.op.suffix(), "value": filter.value, "remove_url": url(&remaining)})
        })
        .collect();
    let next_url = page.next.as_ref().map(|next| {
        let mut next_pairs = without(&["_next"]);
        next_pairs.push(("_next".into(), next.clone()));
        url(&next_pairs)
    });
    let chart = chart_view(state, &table, &pairs, &request, info.as_ref()).await;
    let shapes = match geometry {
        Some(column) => {
            state.app.query.geometry_map(table.clone(), request.clone(), column, 2_000, 2).await.ok().flatten()
        }
        None => None,
    };
    let spanish = lang == crate::i18n::Lang::Es;
    let map = match shapes {
        Some(datalab_query::chart::GeometryMap::Shapes(features)) => {
            let count = crate::charts::number(features.len() as f64);
            let (title, description) = if spanish {
                (
                    format!("Mapa de {count} geometrías"),
                    "Cada fila se dibuja con su forma; su etiqueta aparece al pasar sobre ella.".to_string(),
                )
            } else {
                (
                    format!("Map of {count} geometries"),
                    "Each row is drawn with its shape; its label shows on hover.".to_string(),
                )
            };
            Some(json!({
                "svg": crate::charts::shapes_svg(&features, &title, &description),
                "shapes": features.len(),
                "top": features.iter().take(20).filter_map(|feature| {
                    let [west, south, east, north] = datalab_query::chart::extent(&feature.geometry)?;
                    Some(json!({"label": feature.label, "latitude": format!("{:.4}", (south + north) / 2.0), "longitude": format!("{:.4}", (west + east) / 2.0), "kind": feature.geometry["type"]}))
                }).collect::<Vec<_>>(),
            }))
        }
        Some(datalab_query::chart::GeometryMap::Cells { cells, rows, .. }) if !cells.is_empty() => {
            let count = crate::charts::number(rows as f64);
            let (title, description) = if spanish {
                (
                    format!("Mapa de {count} geometrías, contadas por celda"),
                    "Los centros de las geometrías, contados en celdas de unos 1 km".to_string(),
                )
            } else {
                (
                    format!("Map of {count} geometries, counted per cell"),
                    "The geometries' centres, counted in cells of about 1 km".to_string(),
                )
            };
            Some(cells_view(&cells, rows, &title, &description))
        }
        _ => None,
    };
    let map = match map {
        Some(map) => map,
        None => match state.app.query.map(table.clone(), request.clone(), 2).await {
            Ok(Some(cells)) if !cells.is_empty() => {
                let mapped: u64 = cells.iter().map(|cell| cell.count).sum();
                let rows = crate::charts::number(mapped as f64);
                let title = if spanish {
                    format!("Mapa de {rows} filas con coordenadas")
                } else {
                    format!("Map of {rows} rows with coordinates")
                };
                let busiest: Vec<String> = cells
                    .iter()
                    .take(3)
                    .map(|cell| format!("{:.2}, {:.2} ({})", cell.latitude, cell.longitude, cell.count))
                    .collect();
                let description = if spanish {
                    format!("Celdas con más filas: {}", busiest.join("; "))
                } else {
                    format!("Cells with the most rows: {}", busiest.join("; "))
                };
                cells_view(&cells, mapped, &title, &description)
            }
            _ => Value::Null,
        },
    };
    let export_query = serde_urlencoded::to_string(without(&["_next", "_size"])).unwrap_or_default();
    let exports: Vec<Value> = ["csv", "xlsx", "ndjson", "parquet"]
        .iter()
        .map(|format| json!({"format": format.to_uppercase(), "url": format!("/api/v1/resources/{resource_id}/rows.{format}{}{export_query}", if export_query.is_empty() { "" } else { "?" })}))
        .collect();
    json!({
        "columns": columns,
        "rows": rows,
        "total": page.total,
        "shown": rows.len(),
        "next_url": next_url,
        "first_url": pairs.iter().any(|(key, _)| key == "_next").then(|| url(&without(&["_next"]))),
        "filters": filters,
        "search": request.search.unwrap_or_default(),
        "hidden": without(&["_search", "_next"]).into_iter().map(|(name, value)| json!({"name": name, "value": value})).collect::<Vec<_>>(),
        "filter_columns": all_columns.into_iter().filter(|name| name != datalab_query::ROW_ID).collect::<Vec<_>>(),
        "exports": exports,
        "reset_url": url(&[]),
        "chart": chart,
        "map": map,
    })
}

/// The chart builder: its form (kind, column, aggregate) and, when asked
/// for, the chart as SVG with its numbers as a table.
async fn chart_view(
    state: &AppState,
    table: &datalab_query::Table,
    pairs: &[(String, String)],
    rows: &datalab_query::RowsRequest,
    info: Option<&datalab_query::TableInfo>,
) -> Value {
    use datalab_query::chart::{Aggregate, ChartKind, ChartRequest};
    let get = |key: &str| pairs.iter().find(|(name, _)| name == key).map(|(_, value)| value.clone());
    let fields: Vec<(String, bool)> = info
        .map(|info| {
            info.schema
                .fields()
                .iter()
                .filter(|field| field.name() != datalab_query::ROW_ID)
                .map(|field| (field.name().clone(), field.data_type().is_numeric()))
                .collect()
        })
        .unwrap_or_default();
    let hidden: Vec<Value> = pairs
        .iter()
        .filter(|(key, _)| !["chart", "x", "y", "agg", "_next"].contains(&key.as_str()))
        .map(|(name, value)| json!({"name": name, "value": value}))
        .collect();
    let mut view = json!({
        "columns": fields.iter().map(|(name, _)| name).collect::<Vec<_>>(),
        "numeric": fields.iter().filter(|(_, numeric)| *numeric).map(|(name, _)| name).collect::<Vec<_>>(),
        "hidden": hidden,
        "kind": get("chart").unwrap_or_else(|| "bar".into()),
        "x": get("x").unwrap_or_default(),
        "y": get("y").unwrap_or_default(),
        "agg": get("agg").unwrap_or_else(|| "count".into()),
    });
    let Some(kind_text) = get("chart") else { return view };
    let Some(kind) = ChartKind::parse(&kind_text) else {
        view["error"] = json!(format!("chart: unknown kind \"{kind_text}\""));
        return view;
    };
    let Some(aggregate) = Aggregate::parse(&get("agg").unwrap_or_default()) else {
        view["error"] = json!("agg: must be count, sum or avg");
        return view;
    };
    let x = get("x").unwrap_or_default();
    let y = get("y").filter(|y| !y.is_empty());
    let request = ChartRequest { rows: rows.clone(), kind, x: x.clone(), y: y.clone(), aggregate };
    match state.app.query.chart(table.clone(), request).await {
        Ok(data) => {
            let measure = match (aggregate, &y) {
                (Aggregate::Count, _) | (_, None) => "n".to_string(),
                (Aggregate::Sum, Some(y)) => format!("Σ {y}"),
                (Aggregate::Avg, Some(y)) => format!("x̄ {y}"),
            };
            let title = format!("{measure} / {x}");
            let description = data
                .points
                .iter()
                .take(5)
                .map(|point| format!("{}: {}", point.label, crate::charts::number(point.value)))
                .collect::<Vec<_>>()
                .join("; ");
            view["svg"] = json!(crate::charts::chart_svg(kind, &data.points, &title, &description));
            view["title"] = json!(title);
            view["measure"] = json!(measure);
            view["more"] = json!(data.more_categories);
            view["points"] = json!(
                data.points
                    .iter()
                    .map(|point| json!({"label": point.label, "value": crate::charts::number(point.value)}))
                    .collect::<Vec<_>>()
            );
        }
        Err(error) => view["error"] = json!(error.to_string()),
    }
    view
}

pub async fn resource_delete(
    State(state): State<AppState>,
    context: RequestContext,
    Path((name, resource_id)): Path<(String, Uuid)>,
    _form: CheckedForm,
) -> Result<Response, AppError> {
    let before = visible_dataset(&state, &context, &name).await?;
    let mut after = before.clone();
    after.resources.retain(|resource| resource.id != resource_id);
    if after.resources.len() == before.resources.len() {
        return Err(AppError::NotFound);
    }
    catalog::update_dataset(&state.app, &context.actor, context.user.as_ref(), &before, after).await?;
    Ok(redirect_local(&format!("/dataset/{}", before.name)))
}

async fn quality_view(state: &AppState, context: &RequestContext, dataset: &Dataset) -> Result<Value, AppError> {
    let report = datalab_app::index::quality_report(&state.app, dataset).await?;
    let lang = context.lang;
    Ok(json!({
        "score": report.score,
        "criteria": report.criteria.iter().map(|criterion| json!({
            "label": lang.t(&format!("quality-{}", criterion.code)),
            "percent": (criterion.score * 100.0).round() as i64,
            "findings": criterion.findings.iter().map(|finding| lang.t(&format!("finding-{finding}"))).collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
    }))
}

/// The field types an editor may give a column ("" keeps inference).
const SCHEMA_TYPES: [&str; 7] = ["integer", "number", "boolean", "date", "datetime", "time", "string"];

/// The schema form's view of each field: the analysed schema, with what the
/// publisher gave before filled in.
fn schema_form_fields(analysed: &Value, given: Option<&Value>) -> Vec<Value> {
    let given_field = |name: &str| -> Value {
        given
            .and_then(|schema| schema["fields"].as_array())
            .and_then(|fields| fields.iter().find(|field| field["name"] == name))
            .cloned()
            .unwrap_or(Value::Null)
    };
    let key: Vec<String> = match given.map(|schema| &schema["primaryKey"]) {
        Some(Value::String(name)) => vec![name.clone()],
        Some(Value::Array(names)) => names.iter().filter_map(Value::as_str).map(str::to_string).collect(),
        _ => Vec::new(),
    };
    let bound = |value: &Value| match value {
        Value::Null => String::new(),
        Value::String(text) => text.clone(),
        other => other.to_string(),
    };
    analysed["fields"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|field| {
            let name = field["name"].as_str().unwrap_or_default();
            let mine = given_field(name);
            let constraints = &mine["constraints"];
            json!({
                "name": name,
                "inferred": field["type"],
                "type": mine["type"].as_str().unwrap_or_default(),
                "format": mine["format"].as_str().unwrap_or_default(),
                "title": mine["title"].as_str().unwrap_or_default(),
                "description": mine["description"].as_str().unwrap_or_default(),
                "required": constraints["required"].as_bool().unwrap_or(false),
                "unique": constraints["unique"].as_bool().unwrap_or(false),
                "minimum": bound(&constraints["minimum"]),
                "maximum": bound(&constraints["maximum"]),
                "pattern": constraints["pattern"].as_str().unwrap_or_default(),
                "enum": constraints["enum"].as_array().map(|values| values.iter().map(bound).collect::<Vec<_>>().join("\n")).unwrap_or_default(),
                "key": key.iter().any(|part| part == name),
            })
        })
        .collect()
}

/// A Table Schema from the schema form; `None` when it gives nothing.
fn schema_from_form(pairs: &[(String, String)]) -> Option<Value> {
    let value = |key: String| form_value(pairs, &key).trim().to_string();
    let mut fields = Vec::new();
    let mut key = Vec::new();
    for index in 0.. {
        let name = value(format!("f{index}.name"));
        if name.is_empty() {
            break;
        }
        let mut field = serde_json::Map::new();
        let mut constraints = serde_json::Map::new();
        let kind = value(format!("f{index}.type"));
        if SCHEMA_TYPES.contains(&kind.as_str()) {
            field.insert("type".into(), json!(kind));
            let format = value(format!("f{index}.format"));
            if kind == "date" && !format.is_empty() {
                field.insert("format".into(), json!(format));
            }
        }
        for (form_key, schema_key) in [("title", "title"), ("description", "description")] {
            let text = value(format!("f{index}.{form_key}"));
            if !text.is_empty() {
                field.insert(schema_key.into(), json!(text));
            }
        }
        for flag in ["required", "unique"] {
            if !value(format!("f{index}.{flag}")).is_empty() {
                constraints.insert(flag.into(), json!(true));
            }
        }
        for bound in ["minimum", "maximum"] {
            let text = value(format!("f{index}.{bound}"));
            if !text.is_empty() {
                // Numbers as numbers, dates as text.
                let written = text.parse::<f64>().ok().and_then(serde_json::Number::from_f64);
                constraints.insert(bound.into(), written.map(Value::Number).unwrap_or(json!(text)));
            }
        }
        let pattern = value(format!("f{index}.pattern"));
        if !pattern.is_empty() {
            constraints.insert("pattern".into(), json!(pattern));
        }
        let allowed: Vec<String> = form_value(pairs, &format!("f{index}.enum"))
            .lines()
            .map(str::trim)
            .filter(|line| !line.is_empty())
            .map(str::to_string)
            .collect();
        if !allowed.is_empty() {
            constraints.insert("enum".into(), json!(allowed));
        }
        if !constraints.is_empty() {
            field.insert("constraints".into(), Value::Object(constraints));
        }
        if !value(format!("f{index}.key")).is_empty() {
            key.push(name.clone());
        }
        if !field.is_empty() {
            field.insert("name".into(), json!(name));
            fields.push(Value::Object(field));
        }
    }
    let missing: Vec<String> = form_value(pairs, "missing_values")
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty())
        .map(str::to_string)
        .collect();
    if fields.is_empty() && missing.is_empty() && key.is_empty() {
        return None;
    }
    let mut schema = json!({"fields": fields});
    if !missing.is_empty() {
        // An empty cell is always missing.
        let mut values = vec![String::new()];
        values.extend(missing);
        schema["missingValues"] = json!(values);
    }
    if !key.is_empty() {
        schema["primaryKey"] = json!(key);
    }
    Some(schema)
}

async fn editable_resource(
    state: &AppState,
    context: &RequestContext,
    name: &str,
    resource_id: Uuid,
) -> Result<(Dataset, Resource), AppError> {
    let dataset = visible_dataset(state, context, name).await?;
    context.actor.authorize(Action::UpdateDataset { organization: dataset.owner_org })?;
    let resource =
        dataset.resources.iter().find(|resource| resource.id == resource_id).ok_or(AppError::NotFound)?.clone();
    Ok((dataset, resource))
}

/// The tables of a resource's analysis by name (a workbook's sheets), and
/// the one `wanted` names, or the first.
async fn schema_tables(
    state: &AppState,
    resource: &Resource,
    wanted: Option<&str>,
) -> Result<(Vec<String>, Option<SchemaTable>), AppError> {
    let analysis = state.app.store.analysis(resource.id).await?;
    let tables: Vec<&Value> = analysis.as_ref().map(|analysis| analysis.tables()).unwrap_or_default();
    let names: Vec<String> =
        tables.iter().map(|table| table["name"].as_str().unwrap_or_default().to_string()).collect();
    let index = wanted.and_then(|wanted| names.iter().position(|name| name == wanted)).unwrap_or(0);
    let chosen = tables.get(index).map(|table| SchemaTable {
        name: names[index].clone(),
        first: index == 0,
        sheet: table["format"].as_str().is_some_and(datalab_ingest::spreadsheet::Workbook::reads),
        analysed: table["schema"].clone(),
    });
    Ok((names, chosen))
}

/// The table whose schema the form edits.
struct SchemaTable {
    name: String,
    /// The file's first table, whose schema is the resource schema's own fields.
    first: bool,
    /// A workbook's sheet, which ingestion looks up in the schema's `sheets`.
    sheet: bool,
    analysed: Value,
}

impl SchemaTable {
    /// What the publisher gave for this table, as ingestion reads it (only
    /// a workbook's tables are looked up in `sheets`).
    fn given<'a>(&self, schema: Option<&'a Value>) -> Option<&'a Value> {
        datalab_ingest::constraints::table_schema(schema?, self.first, self.sheet.then_some(self.name.as_str()))
    }

    /// The resource schema with this table's part replaced by `table`
    /// (`None` removes it); `None` when nothing is left.
    fn merged(&self, schema: Option<&Value>, table: Option<Value>) -> Option<Value> {
        use datalab_ingest::constraints::SHEETS;
        let in_sheets = self.sheet && schema.and_then(|schema| schema.get(SHEETS)?.get(&self.name)).is_some();
        let mut whole = schema.and_then(Value::as_object).cloned().unwrap_or_default();
        if !self.sheet || (self.first && !in_sheets) {
            whole.retain(|key, _| key == SHEETS);
            if let Some(Value::Object(table)) = table {
                whole.extend(table);
            }
        } else {
            let sheets = whole.entry(SHEETS).or_insert_with(|| json!({}));
            if !sheets.is_object() {
                *sheets = json!({});
            }
            let sheets = sheets.as_object_mut().expect("an object");
            match table {
                Some(table) => sheets.insert(self.name.clone(), table),
                None => sheets.remove(&self.name),
            };
        }
        // An emptied `sheets` stays, saying so (an absent one would keep
        // the stored sheets, see `catalog::update_dataset`), unless nothing else is left.
        let nothing =
            whole.iter().all(|(key, value)| key == SHEETS && value.as_object().is_some_and(|sheets| sheets.is_empty()));
        (!nothing).then_some(Value::Object(whole))
    }
}

/// The sheet a schema form or its query names, as it is named: untrimmed,
/// since a workbook's sheet may end in a space.
fn schema_table_param(pairs: &[(String, String)]) -> Option<String> {
    pairs.iter().find(|(key, _)| key == "table").map(|(_, name)| name.clone()).filter(|name| !name.is_empty())
}

/// A schema form that could not be saved: what was sent, and why.
struct Refused<'a> {
    given: Option<&'a Value>,
    missing_values: &'a str,
    message: String,
}

async fn render_schema_form(
    state: &AppState,
    context: &RequestContext,
    dataset: &Dataset,
    resource: &Resource,
    wanted: Option<&str>,
    refused: Option<Refused<'_>>,
) -> Result<Response, AppError> {
    let status = if refused.is_some() { StatusCode::CONFLICT } else { StatusCode::OK };
    let (tables, chosen) = schema_tables(state, resource, wanted).await?;
    // A refused form shows what was sent; otherwise what is saved.
    let given = match (&refused, &chosen) {
        (Some(refused), _) => refused.given,
        (None, Some(table)) => table.given(resource.schema.as_ref()),
        (None, None) => None,
    };
    let missing_values = match &refused {
        Some(refused) => refused.missing_values.to_string(),
        None => given
            .and_then(|schema| schema["missingValues"].as_array())
            .map(|values| {
                values.iter().filter_map(Value::as_str).filter(|value| !value.is_empty()).collect::<Vec<_>>().join("\n")
            })
            .unwrap_or_default(),
    };
    let analysed = chosen.as_ref().map(|table| table.analysed.clone());
    let fields = analysed.as_ref().map(|schema| schema_form_fields(schema, given)).unwrap_or_default();
    let page = render(
        state,
        context,
        "resource_schema.html",
        json!({
            "dataset": {"name": dataset.name, "title": dataset.title},
            "resource": {"id": resource.id, "name": if resource.name.is_empty() { resource.id.to_string() } else { resource.name.clone() }},
            "fields": fields,
            "tables": if tables.len() > 1 { tables } else { Vec::new() },
            "table": chosen.as_ref().map(|table| table.name.clone()),
            "types": SCHEMA_TYPES,
            "date_formats": ["%d/%m/%Y", "%Y-%m-%d", "%m/%d/%Y"],
            "missing_values": missing_values,
            "analysed": analysed.is_some(),
            "error": refused.map(|refused| refused.message),
        }),
    )?;
    Ok((status, page).into_response())
}

/// The schema form of one of the resource's tables (`?table=` names a
/// workbook's sheet; the first table by default).
pub async fn resource_schema_form(
    State(state): State<AppState>,
    context: RequestContext,
    Path((name, resource_id)): Path<(String, Uuid)>,
    RawQuery(query): RawQuery,
) -> Result<Response, AppError> {
    let (dataset, resource) = editable_resource(&state, &context, &name, resource_id).await?;
    let pairs: Vec<(String, String)> =
        query.as_deref().map(|raw| serde_urlencoded::from_str(raw).unwrap_or_default()).unwrap_or_default();
    let wanted = schema_table_param(&pairs);
    render_schema_form(&state, &context, &dataset, &resource, wanted.as_deref(), None).await
}

/// Saves the publisher's schema; the file is analysed again with it.
pub async fn resource_schema_save(
    State(state): State<AppState>,
    context: RequestContext,
    Path((name, resource_id)): Path<(String, Uuid)>,
    CheckedForm(pairs): CheckedForm,
) -> Result<Response, AppError> {
    let (before, resource) = editable_resource(&state, &context, &name, resource_id).await?;
    let wanted = schema_table_param(&pairs);
    let schema = schema_from_form(&pairs);
    let (_, chosen) = schema_tables(&state, &resource, wanted.as_deref()).await?;
    let chosen = match (chosen, wanted.as_deref()) {
        // A sheet the file's last analysis no longer has (a stale page, a new file).
        (Some(table), Some(wanted)) if table.name != wanted => {
            let message = context.lang.t_args("schema-sheet-gone", &[("sheet", wanted.to_string().into())]);
            return Err(AppError::Invalid { field: "table".into(), message });
        }
        (Some(table), _) => table,
        // No finished analysis: the schema's own fields, its sheets kept.
        (None, _) => SchemaTable { name: String::new(), first: true, sheet: false, analysed: Value::Null },
    };
    let whole = chosen.merged(resource.schema.as_ref(), schema.clone());
    let mut after = before.clone();
    for candidate in &mut after.resources {
        if candidate.id == resource_id {
            candidate.schema = whole.clone();
        }
    }
    match catalog::update_dataset(&state.app, &context.actor, context.user.as_ref(), &before, after)
        .await
        .map_err(AppError::from)
    {
        Ok(saved) => Ok(redirect_local(&format!("/dataset/{}/resource/{resource_id}#analysis-heading", saved.name))),
        Err(AppError::Invalid { message, .. }) => {
            let missing = form_value(&pairs, "missing_values");
            let wanted = Some(chosen.name).filter(|name| !name.is_empty());
            let refused = Refused { given: schema.as_ref(), missing_values: &missing, message };
            render_schema_form(&state, &context, &before, &resource, wanted.as_deref(), Some(refused)).await
        }
        Err(other) => Err(other),
    }
}

/// Analyses the resource's file again, now.
pub async fn resource_reingest(
    State(state): State<AppState>,
    context: RequestContext,
    Path((name, resource_id)): Path<(String, Uuid)>,
    _form: CheckedForm,
) -> Result<Response, AppError> {
    let (dataset, resource) = editable_resource(&state, &context, &name, resource_id).await?;
    datalab_app::analysis::reingest(&state.app, &resource).await?;
    Ok(redirect_local(&format!("/dataset/{}/resource/{resource_id}#analysis-heading", dataset.name)))
}
