//! The native API at `/api/v1`: the catalog's objects in datalab's own
//! shapes, documented by an OpenAPI 3.1 document generated from this code
//! (`/api/v1/openapi.json`). Authentication as in the CKAN API: a token in
//! the `Authorization` header.

use axum::extract::{Path, Query, Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use datalab_core::{Dataset, FieldErrors, Group, Organization, ResourceLocation};
use datalab_search::{FacetName, SearchRequest, Sort};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, OpenApi, ToSchema};
use utoipa_axum::router::{OpenApiRouter, UtoipaMethodRouterExt};
use utoipa_axum::routes;
use uuid::Uuid;

use crate::AppState;
use crate::context::ApiCaller;
use crate::error::{ApiError, AppError, ErrorBody, ErrorDetail};
use crate::links::resource_url;
use datalab_app::catalog;

/// The tracker's documents are the application's (the same JSON is
/// published in the catalog); the API serves them under these names.
pub use datalab_app::accountability::{CommitmentReport as CommitmentOut, MilestoneReport as MilestoneOut};

/// The native API: every route is declared once, by its handler's
/// `#[utoipa::path]`, which gives both the route and its operation in the
/// OpenAPI document (`/api/v1/openapi.json`).
pub fn routes() -> Router<AppState> {
    let (router, openapi) = api_router().split_for_parts();
    let openapi = std::sync::Arc::new(openapi);
    router.route("/api/v1/openapi.json", get(move || async move { Json(openapi.as_ref().clone()) }))
}

/// The native API's routes with their operations, by resource.
pub fn api_router() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        // datasets
        .routes(routes!(list_datasets, create_dataset))
        .routes(routes!(show_dataset, patch_dataset, delete_dataset))
        .routes(routes!(dataset_activity))
        .routes(routes!(dataset_quality))
        .routes(routes!(create_resource).layer(axum::extract::DefaultBodyLimit::disable()))
        // resources and their rows
        .routes(routes!(show_resource, delete_resource))
        .merge(crate::data::api_router())
        // users, organizations, groups, licences
        .routes(routes!(show_user))
        .routes(routes!(list_organizations))
        .routes(routes!(show_organization))
        .routes(routes!(list_groups))
        .routes(routes!(list_licenses))
        // commitments and milestones
        .routes(routes!(list_commitments, create_commitment))
        .routes(routes!(show_commitment))
        .routes(routes!(milestone_history))
        .routes(routes!(import_milestones))
}

#[derive(OpenApi)]
#[openapi(
    // Every other operation comes with its route from `api_router`.
    paths(crate::data::rows_file),
    info(title = "datalab API", description = "Native API of datalab: datasets, organizations, groups, licences, commitments, and the rows of every tabular resource. The CKAN-compatible API lives at /api/3/action."),
    components(schemas(DatasetOut, QualityOut, CriterionOut, ResourceOut, ResourceIn, DatasetIn, DatasetPage, FacetValue, OrganizationOut, GroupOut, LicenseOut, ActivityOut, ChangeOut, UserOut, CommitmentOut, datalab_app::accountability::CommitmentDocument, datalab_app::accountability::CommitmentEntry, datalab_app::accountability::InstitutionEntry, datalab_app::accountability::MilestoneEntry, datalab_app::accountability::Text, MilestoneOut, MilestoneEventOut, ImportOut, ImportChange, ImportProblem, ErrorBody, ErrorDetail, crate::data::RowsOut, crate::data::ColumnOut, crate::data::FacetValueOut, crate::data::SqlOut, crate::data::SqlParams)),
    modifiers(&TokenSecurity),
    tags((name = "catalog", description = "Datasets and what they belong to"), (name = "accountability", description = "Commitments, milestones and their history"), (name = "data", description = "Rows of every tabular resource: filters, sort, paging, facets, exports and read-only SQL"))
)]
pub struct ApiDoc;

struct TokenSecurity;

impl utoipa::Modify for TokenSecurity {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{ApiKey, ApiKeyValue, SecurityScheme};
        let components = openapi.components.get_or_insert_with(Default::default);
        components
            .add_security_scheme("token", SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::new("Authorization"))));
    }
}

type ApiResult<T> = Result<T, ApiError>;

#[derive(Serialize, ToSchema)]
pub struct ResourceOut {
    pub id: Uuid,
    pub dataset_id: Uuid,
    pub name: String,
    pub description: String,
    pub format: String,
    /// Where to download it: this server for uploads, elsewhere for links.
    pub url: String,
    pub uploaded: bool,
    pub size: Option<i64>,
    pub mimetype: String,
    pub sha256: String,
    pub created: String,
    pub last_modified: String,
}

#[derive(Serialize, ToSchema)]
pub struct DatasetOut {
    pub id: Uuid,
    pub name: String,
    pub title: String,
    /// Markdown.
    pub notes: String,
    pub organization: String,
    pub license_id: String,
    pub author: String,
    pub author_email: String,
    pub maintainer: String,
    pub maintainer_email: String,
    pub url: String,
    pub version: String,
    pub state: String,
    pub private: bool,
    pub tags: Vec<String>,
    pub groups: Vec<String>,
    pub extras: std::collections::BTreeMap<String, String>,
    pub temporal_start: String,
    pub temporal_end: String,
    /// INEGI codes of Nuevo León municipalities, or 19 for the whole state.
    pub spatial: Vec<String>,
    pub update_frequency: String,
    pub language: String,
    pub theme: String,
    pub contact_name: String,
    pub contact_email: String,
    pub issued: String,
    pub modified: String,
    pub metadata_created: String,
    pub metadata_modified: String,
    pub resources: Vec<ResourceOut>,
    /// Search results only: the dataset's quality score (0 to 100) when it
    /// was last indexed. The full report is at `/api/v1/datasets/{id}/quality`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub quality_score: Option<u32>,
}

/// A dataset's quality score, explained criterion by criterion.
#[derive(Serialize, ToSchema)]
pub struct QualityOut {
    /// 0 to 100: the weighted mean of the criteria.
    pub score: u32,
    /// high (80 and up), medium (50 to 79) or low; the `quality` search filter.
    pub band: String,
    pub criteria: Vec<CriterionOut>,
}

#[derive(Serialize, ToSchema)]
pub struct CriterionOut {
    /// metadata, freshness, openness, validity, completeness or duplicates.
    pub code: String,
    /// 0 to 1.
    pub score: f64,
    /// The criterion's weight in the total.
    pub weight: f64,
    /// What is missing or wrong (e.g. no-open-license, outdated, validation-errors).
    pub findings: Vec<String>,
}

/// Fields of a dataset to create or change. On PATCH only the given fields change.
#[derive(Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct DatasetIn {
    pub name: Option<String>,
    pub title: Option<String>,
    pub notes: Option<String>,
    /// Name or id of the owner organization (required to create).
    pub organization: Option<String>,
    pub license_id: Option<String>,
    pub author: Option<String>,
    pub author_email: Option<String>,
    pub maintainer: Option<String>,
    pub maintainer_email: Option<String>,
    pub url: Option<String>,
    pub version: Option<String>,
    pub private: Option<bool>,
    pub tags: Option<Vec<String>>,
    pub groups: Option<Vec<String>>,
    pub temporal_start: Option<String>,
    pub temporal_end: Option<String>,
    pub spatial: Option<Vec<String>>,
    pub update_frequency: Option<String>,
    pub language: Option<String>,
    pub theme: Option<String>,
    pub contact_name: Option<String>,
    pub contact_email: Option<String>,
    pub issued: Option<String>,
    pub modified: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct FacetValue {
    pub value: String,
    pub count: u64,
}

#[derive(Serialize, ToSchema)]
pub struct DatasetPage {
    pub count: usize,
    pub page: usize,
    pub page_size: usize,
    pub results: Vec<DatasetOut>,
    /// Facet name (organization, groups, tags, res_format, license_id, quality) → most frequent values.
    pub facets: std::collections::BTreeMap<String, Vec<FacetValue>>,
}

#[derive(Serialize, ToSchema)]
pub struct OrganizationOut {
    pub id: Uuid,
    pub name: String,
    pub title: String,
    pub description: String,
    pub image_url: String,
    /// government, civil-society, academia or private.
    pub kind: String,
    pub created: String,
}

#[derive(Serialize, ToSchema)]
pub struct GroupOut {
    pub id: Uuid,
    pub name: String,
    pub title: String,
    pub description: String,
}

#[derive(Serialize, ToSchema)]
pub struct LicenseOut {
    pub id: String,
    pub title: String,
    pub url: String,
    pub is_open: bool,
}

#[derive(Serialize, ToSchema)]
pub struct ChangeOut {
    pub field: String,
    pub before: serde_json::Value,
    pub after: serde_json::Value,
}

#[derive(Serialize, ToSchema)]
pub struct ActivityOut {
    pub id: i64,
    pub timestamp: String,
    pub user: Option<String>,
    pub activity_type: String,
    pub changes: Vec<ChangeOut>,
}

fn rfc3339(moment: time::OffsetDateTime) -> String {
    moment.format(&time::format_description::well_known::Rfc3339).expect("timestamps format")
}

fn dataset_out(base_url: &str, dataset: &Dataset, organization_name: &str) -> DatasetOut {
    let dcat = &dataset.dcat;
    DatasetOut {
        id: dataset.id,
        name: dataset.name.clone(),
        title: dataset.title.clone(),
        notes: dataset.notes.clone(),
        organization: organization_name.to_string(),
        license_id: dataset.license_id.clone(),
        author: dataset.author.clone(),
        author_email: dataset.author_email.clone(),
        maintainer: dataset.maintainer.clone(),
        maintainer_email: dataset.maintainer_email.clone(),
        url: dataset.url.clone(),
        version: dataset.version.clone(),
        state: dataset.state.as_str().into(),
        private: dataset.private,
        tags: dataset.tags.clone(),
        groups: dataset.groups.clone(),
        extras: dataset.extras.iter().cloned().collect(),
        temporal_start: dcat.temporal_start.clone(),
        temporal_end: dcat.temporal_end.clone(),
        spatial: dcat.spatial.clone(),
        update_frequency: dcat.update_frequency.clone(),
        language: dcat.language.clone(),
        theme: dcat.theme.clone(),
        contact_name: dcat.contact_name.clone(),
        contact_email: dcat.contact_email.clone(),
        issued: dcat.issued.clone(),
        modified: dcat.modified.clone(),
        metadata_created: rfc3339(dataset.metadata_created),
        metadata_modified: rfc3339(dataset.metadata_modified),
        resources: dataset
            .resources
            .iter()
            .map(|resource| ResourceOut {
                id: resource.id,
                dataset_id: resource.dataset_id,
                name: resource.name.clone(),
                description: resource.description.clone(),
                format: resource.format.clone(),
                url: resource_url(base_url, resource),
                uploaded: matches!(resource.location, ResourceLocation::Upload { .. }),
                size: resource.size,
                mimetype: resource.mimetype.clone(),
                sha256: resource.sha256.clone(),
                created: rfc3339(resource.created),
                last_modified: rfc3339(resource.last_modified),
            })
            .collect(),
        quality_score: None,
    }
}

fn organization_out(organization: &Organization) -> OrganizationOut {
    OrganizationOut {
        id: organization.id,
        name: organization.name.clone(),
        title: organization.title.clone(),
        description: organization.description.clone(),
        image_url: organization.image_url.clone(),
        kind: organization.kind.as_str().into(),
        created: rfc3339(organization.created),
    }
}

fn group_out(group: &Group) -> GroupOut {
    GroupOut {
        id: group.id,
        name: group.name.clone(),
        title: group.title.clone(),
        description: group.description.clone(),
    }
}

async fn organization_name(state: &AppState, id: Uuid) -> ApiResult<String> {
    Ok(state.app.store.organization(&id.to_string()).await?.name)
}

#[derive(Deserialize, IntoParams)]
pub struct DatasetQuery {
    /// Search text (Spanish-aware: accents and plurals do not matter).
    pub q: Option<String>,
    pub organization: Option<String>,
    pub group: Option<String>,
    pub tag: Option<String>,
    pub res_format: Option<String>,
    pub license_id: Option<String>,
    /// Quality band: high (score 80 and up), medium (50 to 79) or low.
    pub quality: Option<String>,
    /// relevance (default), name, -name, modified, -modified (newest first), quality, -quality (best first).
    pub sort: Option<String>,
    /// From 1.
    pub page: Option<usize>,
    /// 1 to 1000, default 20.
    pub page_size: Option<usize>,
    /// Include the private datasets of your organizations.
    pub include_private: Option<bool>,
}

/// Search datasets with facets.
#[utoipa::path(get, path = "/api/v1/datasets", tag = "catalog", params(DatasetQuery),
    responses((status = 200, body = DatasetPage), (status = 400, body = ErrorBody)))]
async fn list_datasets(
    State(state): State<AppState>,
    ApiCaller { actor, .. }: ApiCaller,
    headers: HeaderMap,
    Query(query): Query<DatasetQuery>,
) -> ApiResult<Json<DatasetPage>> {
    let page_size = query.page_size.unwrap_or(20).clamp(1, 1000);
    let page = query.page.unwrap_or(1).max(1);
    let sort = match query.sort.as_deref().unwrap_or("relevance") {
        "relevance" => Sort::Relevance,
        "name" => Sort::NameAscending,
        "-name" => Sort::NameDescending,
        "modified" => Sort::ModifiedAscending,
        "-modified" => Sort::ModifiedDescending,
        "quality" => Sort::QualityAscending,
        "-quality" => Sort::QualityDescending,
        other => return Err(AppError::SearchQuery(format!("cannot sort by {other:?}")).into()),
    };
    let mut filters = Vec::new();
    for (facet, value) in [
        (FacetName::Organization, &query.organization),
        (FacetName::Groups, &query.group),
        (FacetName::Tags, &query.tag),
        (FacetName::ResFormat, &query.res_format),
        (FacetName::LicenseId, &query.license_id),
        (FacetName::Quality, &query.quality),
    ] {
        if let Some(value) = value.as_ref().filter(|value| !value.is_empty()) {
            filters.push((facet, value.clone()));
        }
    }
    let request = SearchRequest {
        query: query.q.unwrap_or_default(),
        filters,
        sort,
        start: (page - 1).saturating_mul(page_size),
        rows: page_size,
        facets: FacetName::ALL.to_vec(),
        facet_limit: 20,
    };
    let (results, datasets) =
        catalog::search(&state.app, &actor, &request, query.include_private.unwrap_or(false)).await?;
    let base = crate::links::base_url(&state, &headers);
    let organizations = state.app.store.organizations().await?;
    let name_of = |id: Uuid| {
        organizations.iter().find(|organization| organization.id == id).map(|organization| organization.name.as_str())
    };
    let out = datasets
        .iter()
        .map(|dataset| {
            let mut out = dataset_out(&base, dataset, name_of(dataset.owner_org).unwrap_or_default());
            out.quality_score = results.quality_of(dataset.id);
            out
        })
        .collect();
    Ok(Json(DatasetPage {
        count: results.count,
        page,
        page_size,
        results: out,
        facets: results
            .facets
            .into_iter()
            .map(|(facet, values)| {
                (
                    facet.as_str().to_string(),
                    values.into_iter().map(|(value, count)| FacetValue { value, count }).collect(),
                )
            })
            .collect(),
    }))
}

/// One dataset by id or name.
#[utoipa::path(get, path = "/api/v1/datasets/{id}", tag = "catalog", params(("id" = String, Path, description = "id or name")),
    responses((status = 200, body = DatasetOut), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn show_dataset(
    State(state): State<AppState>,
    ApiCaller { actor, .. }: ApiCaller,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> ApiResult<Json<DatasetOut>> {
    let dataset = catalog::readable_dataset(&state.app, &actor, &id).await?;
    let base = crate::links::base_url(&state, &headers);
    Ok(Json(dataset_out(&base, &dataset, &organization_name(&state, dataset.owner_org).await?)))
}

/// A dataset's quality score as of today, criterion by criterion.
#[utoipa::path(get, path = "/api/v1/datasets/{id}/quality", tag = "catalog", params(("id" = String, Path, description = "id or name")),
    responses((status = 200, body = QualityOut), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn dataset_quality(
    State(state): State<AppState>,
    ApiCaller { actor, .. }: ApiCaller,
    Path(id): Path<String>,
) -> ApiResult<Json<QualityOut>> {
    let dataset = catalog::readable_dataset(&state.app, &actor, &id).await?;
    let report = datalab_app::index::quality_report(&state.app, &dataset).await.map_err(AppError::from)?;
    Ok(Json(QualityOut {
        score: report.score,
        band: datalab_search::quality_band(report.score).to_string(),
        criteria: report
            .criteria
            .into_iter()
            .map(|criterion| CriterionOut {
                code: criterion.code.to_string(),
                score: criterion.score,
                weight: criterion.weight,
                findings: criterion.findings.into_iter().map(String::from).collect(),
            })
            .collect(),
    }))
}

fn apply_input(dataset: &mut Dataset, input: DatasetIn) {
    let set = |target: &mut String, value: Option<String>| {
        if let Some(value) = value {
            *target = value.trim().to_string();
        }
    };
    set(&mut dataset.name, input.name);
    set(&mut dataset.title, input.title);
    set(&mut dataset.notes, input.notes);
    set(&mut dataset.license_id, input.license_id);
    set(&mut dataset.author, input.author);
    set(&mut dataset.author_email, input.author_email);
    set(&mut dataset.maintainer, input.maintainer);
    set(&mut dataset.maintainer_email, input.maintainer_email);
    set(&mut dataset.url, input.url);
    set(&mut dataset.version, input.version);
    let dcat = &mut dataset.dcat;
    set(&mut dcat.temporal_start, input.temporal_start);
    set(&mut dcat.temporal_end, input.temporal_end);
    set(&mut dcat.update_frequency, input.update_frequency);
    set(&mut dcat.language, input.language);
    set(&mut dcat.theme, input.theme);
    set(&mut dcat.contact_name, input.contact_name);
    set(&mut dcat.contact_email, input.contact_email);
    set(&mut dcat.issued, input.issued);
    set(&mut dcat.modified, input.modified);
    if let Some(spatial) = input.spatial {
        dcat.spatial = spatial;
    }
    if let Some(private) = input.private {
        dataset.private = private;
    }
    if let Some(tags) = input.tags {
        dataset.tags = tags;
    }
    if let Some(groups) = input.groups {
        dataset.groups = groups;
    }
}

async fn json_body(state: &AppState, request: Request) -> ApiResult<DatasetIn> {
    let body = axum::body::to_bytes(request.into_body(), state.settings.max_body_bytes)
        .await
        .map_err(|_| AppError::PayloadTooLarge { limit: state.settings.max_body_bytes as u64 })?;
    serde_json::from_slice(&body).map_err(|error| AppError::BadRequest(format!("invalid JSON body: {error}")).into())
}

/// Create a dataset.
#[utoipa::path(post, path = "/api/v1/datasets", tag = "catalog", request_body = DatasetIn, security(("token" = [])),
    responses((status = 201, body = DatasetOut), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn create_dataset(
    State(state): State<AppState>,
    ApiCaller { actor, user }: ApiCaller,
    request: Request,
) -> ApiResult<Response> {
    let headers = request.headers().clone();
    let input = json_body(&state, request).await?;
    let organization_ref = input.organization.clone().unwrap_or_default();
    if organization_ref.is_empty() {
        return Err(AppError::Validation(FieldErrors::single("organization", datalab_core::FieldError::Missing)).into());
    }
    let organization = state.app.store.organization(&organization_ref).await.map_err(|error| match error {
        datalab_store::StoreError::NotFound => {
            AppError::Validation(FieldErrors::single("organization", datalab_core::FieldError::OrganizationUnknown))
        }
        other => other.into(),
    })?;
    let mut dataset = catalog::new_dataset(organization.id, user.as_ref().map(|user| user.id));
    apply_input(&mut dataset, input);
    let saved = catalog::create_dataset(&state.app, &actor, user.as_ref(), dataset).await?;
    let base = crate::links::base_url(&state, &headers);
    Ok((StatusCode::CREATED, Json(dataset_out(&base, &saved, &organization.name))).into_response())
}

/// Change some fields of a dataset.
#[utoipa::path(patch, path = "/api/v1/datasets/{id}", tag = "catalog", request_body = DatasetIn, security(("token" = [])),
    params(("id" = String, Path, description = "id or name")),
    responses((status = 200, body = DatasetOut), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn patch_dataset(
    State(state): State<AppState>,
    ApiCaller { actor, user }: ApiCaller,
    Path(id): Path<String>,
    request: Request,
) -> ApiResult<Json<DatasetOut>> {
    let headers = request.headers().clone();
    let before = catalog::readable_dataset(&state.app, &actor, &id).await?;
    actor.authorize(datalab_core::Action::UpdateDataset { organization: before.owner_org })?;
    let input = json_body(&state, request).await?;
    let mut after = before.clone();
    if let Some(organization) = input.organization.as_ref().filter(|name| !name.is_empty()) {
        after.owner_org = state.app.store.organization(organization).await?.id;
    }
    apply_input(&mut after, input);
    let saved = catalog::update_dataset(&state.app, &actor, user.as_ref(), &before, after).await?;
    let base = crate::links::base_url(&state, &headers);
    Ok(Json(dataset_out(&base, &saved, &organization_name(&state, saved.owner_org).await?)))
}

/// Delete a dataset (it stays in the activity log).
#[utoipa::path(delete, path = "/api/v1/datasets/{id}", tag = "catalog", security(("token" = [])),
    params(("id" = String, Path, description = "id or name")),
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn delete_dataset(
    State(state): State<AppState>,
    ApiCaller { actor, user }: ApiCaller,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    let dataset = catalog::readable_dataset(&state.app, &actor, &id).await?;
    catalog::delete_dataset(&state.app, &actor, user.as_ref(), &dataset).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The changes made to a dataset, newest first.
#[utoipa::path(get, path = "/api/v1/datasets/{id}/activity", tag = "catalog", params(("id" = String, Path, description = "id or name")),
    responses((status = 200, body = Vec<ActivityOut>), (status = 404, body = ErrorBody)))]
async fn dataset_activity(
    State(state): State<AppState>,
    ApiCaller { actor, .. }: ApiCaller,
    Path(id): Path<String>,
) -> ApiResult<Json<Vec<ActivityOut>>> {
    let dataset = catalog::readable_dataset(&state.app, &actor, &id).await?;
    let activities = state.app.store.activities(datalab_store::ActivityScope::Dataset(dataset.id), 100, 0).await?;
    Ok(Json(
        activities
            .into_iter()
            .map(|activity| ActivityOut {
                id: activity.id,
                timestamp: rfc3339(activity.timestamp),
                user: activity.user_name,
                activity_type: activity.activity_type,
                changes: activity
                    .changes
                    .into_iter()
                    .map(|change| ChangeOut { field: change.field, before: change.before, after: change.after })
                    .collect(),
            })
            .collect(),
    ))
}

/// All active organizations.
#[utoipa::path(get, path = "/api/v1/organizations", tag = "catalog", responses((status = 200, body = Vec<OrganizationOut>)))]
async fn list_organizations(State(state): State<AppState>) -> ApiResult<Json<Vec<OrganizationOut>>> {
    Ok(Json(state.app.store.organizations().await?.iter().map(organization_out).collect()))
}

/// One organization by id or name.
#[utoipa::path(get, path = "/api/v1/organizations/{id}", tag = "catalog", params(("id" = String, Path, description = "id or name")),
    responses((status = 200, body = OrganizationOut), (status = 404, body = ErrorBody)))]
async fn show_organization(State(state): State<AppState>, Path(id): Path<String>) -> ApiResult<Json<OrganizationOut>> {
    Ok(Json(organization_out(&state.app.store.organization(&id).await?)))
}

/// All themes.
#[utoipa::path(get, path = "/api/v1/groups", tag = "catalog", responses((status = 200, body = Vec<GroupOut>)))]
async fn list_groups(State(state): State<AppState>) -> ApiResult<Json<Vec<GroupOut>>> {
    Ok(Json(state.app.store.groups().await?.iter().map(group_out).collect()))
}

/// The licence register.
#[utoipa::path(get, path = "/api/v1/licenses", tag = "catalog", responses((status = 200, body = Vec<LicenseOut>)))]
async fn list_licenses() -> Json<Vec<LicenseOut>> {
    Json(
        datalab_core::licenses::LICENSES
            .iter()
            .map(|license| LicenseOut {
                id: license.id.into(),
                title: license.title.into(),
                url: license.url.into(),
                is_open: license.is_open,
            })
            .collect(),
    )
}

/// A resource to add: a link as JSON, or the same fields as a multipart form
/// with the file in `upload`.
#[derive(Deserialize, ToSchema, Default)]
pub struct ResourceIn {
    pub name: Option<String>,
    pub description: Option<String>,
    /// CSV, XLSX, JSON…; guessed from the file name or URL when absent.
    pub format: Option<String>,
    /// For a link; leave out when uploading a file.
    pub url: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct UserOut {
    pub name: String,
    pub fullname: String,
    pub about: String,
    pub sysadmin: bool,
    pub created: String,
    /// Only for the user themself and sysadmins.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
}

fn resource_out(base_url: &str, dataset: &Dataset, resource_id: Uuid, organization_name: &str) -> Option<ResourceOut> {
    dataset_out(base_url, dataset, organization_name).resources.into_iter().find(|resource| resource.id == resource_id)
}

/// Add a resource to a dataset: a link (JSON) or a file (multipart/form-data, field `upload`).
#[utoipa::path(post, path = "/api/v1/datasets/{id}/resources", tag = "catalog", request_body = ResourceIn,
    security(("token" = [])), params(("id" = String, Path, description = "id or name of the dataset")),
    responses((status = 201, body = ResourceOut), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 413, body = ErrorBody)))]
async fn create_resource(
    State(state): State<AppState>,
    ApiCaller { actor, user }: ApiCaller,
    Path(id): Path<String>,
    request: Request,
) -> ApiResult<Response> {
    let headers = request.headers().clone();
    let before = catalog::readable_dataset(&state.app, &actor, &id).await?;
    actor.authorize(datalab_core::Action::UpdateDataset { organization: before.owner_org })?;
    let (params, upload) = crate::ckan::read_params(&state, request, crate::ckan::Files::Accepted).await?;
    let outcome = async {
        let mut errors = FieldErrors::new();
        for key in params.keys() {
            if !matches!(key.as_str(), "name" | "description" | "format" | "url") {
                errors.add(key, datalab_core::FieldError::UnknownField);
            }
        }
        let text =
            |key: &str| params.get(key).and_then(crate::ckan::input::text).unwrap_or_default().trim().to_string();
        let mut resource = catalog::new_resource(before.id, ResourceLocation::Link { url: text("url") });
        resource.name = text("name");
        resource.description = text("description");
        resource.format = text("format");
        match &upload {
            Some(upload) => catalog::attach_upload(&mut resource, upload),
            None if text("url").is_empty() => errors.add("url", datalab_core::FieldError::Missing),
            None if resource.format.is_empty() => resource.format = catalog::guess_format(&resource),
            None => {}
        }
        errors.into_result()?;
        let resource_id = resource.id;
        let mut after = before.clone();
        after.resources.push(resource);
        let saved = catalog::update_dataset(&state.app, &actor, user.as_ref(), &before, after).await?;
        Ok::<_, AppError>((saved, resource_id))
    }
    .await;
    let (saved, resource_id) = match outcome {
        Ok(saved) => saved,
        Err(error) => {
            if let Some((blob, _)) = &upload {
                catalog::discard_upload(&state.app, blob).await;
            }
            return Err(error.into());
        }
    };
    let base = crate::links::base_url(&state, &headers);
    let organization = organization_name(&state, saved.owner_org).await?;
    let out = resource_out(&base, &saved, resource_id, &organization).ok_or(AppError::NotFound)?;
    Ok((StatusCode::CREATED, Json(out)).into_response())
}

/// One resource by id.
#[utoipa::path(get, path = "/api/v1/resources/{id}", tag = "catalog", params(("id" = Uuid, Path)),
    responses((status = 200, body = ResourceOut), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn show_resource(
    State(state): State<AppState>,
    ApiCaller { actor, .. }: ApiCaller,
    headers: HeaderMap,
    Path(id): Path<Uuid>,
) -> ApiResult<Json<ResourceOut>> {
    let resource = state.app.store.resource(id).await?;
    let dataset = catalog::readable_dataset(&state.app, &actor, &resource.dataset_id.to_string()).await?;
    let base = crate::links::base_url(&state, &headers);
    let organization = organization_name(&state, dataset.owner_org).await?;
    Ok(Json(resource_out(&base, &dataset, id, &organization).ok_or(AppError::NotFound)?))
}

/// Remove a resource from its dataset (its file too, when nothing else uses it).
#[utoipa::path(delete, path = "/api/v1/resources/{id}", tag = "catalog", security(("token" = [])), params(("id" = Uuid, Path)),
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn delete_resource(
    State(state): State<AppState>,
    ApiCaller { actor, user }: ApiCaller,
    Path(id): Path<Uuid>,
) -> ApiResult<StatusCode> {
    let resource = state.app.store.resource(id).await?;
    let before = catalog::readable_dataset(&state.app, &actor, &resource.dataset_id.to_string()).await?;
    let mut after = before.clone();
    after.resources.retain(|candidate| candidate.id != id);
    catalog::update_dataset(&state.app, &actor, user.as_ref(), &before, after).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A user's public profile; the e-mail only for themself and sysadmins.
#[utoipa::path(get, path = "/api/v1/users/{name}", tag = "catalog", params(("name" = String, Path)),
    responses((status = 200, body = UserOut), (status = 404, body = ErrorBody)))]
async fn show_user(
    State(state): State<AppState>,
    ApiCaller { actor, .. }: ApiCaller,
    Path(name): Path<String>,
) -> ApiResult<Json<UserOut>> {
    let user = state.app.store.user(&name).await?;
    let private = actor.can(datalab_core::Action::ReadUserPrivate { user: user.id });
    Ok(Json(UserOut {
        name: user.name,
        fullname: user.fullname,
        about: user.about,
        sysadmin: user.sysadmin,
        created: rfc3339(user.created),
        email: private.then_some(user.email),
    }))
}

#[derive(Serialize, ToSchema)]
pub struct MilestoneEventOut {
    pub at: String,
    pub user: Option<String>,
    /// created, status, progress, start, end, blocker_reason, blocker_owner, evidence or comment.
    pub field: String,
    pub before: serde_json::Value,
    pub after: serde_json::Value,
    pub note: String,
}

/// Every commitment with its milestones.
#[utoipa::path(get, path = "/api/v1/commitments", tag = "accountability", responses((status = 200, body = Vec<CommitmentOut>)))]
async fn list_commitments(State(state): State<AppState>) -> ApiResult<Json<Vec<CommitmentOut>>> {
    Ok(Json(datalab_app::accountability::reports(&state.app).await?))
}

/// One commitment by code (for example MXNLE0001) with its milestones.
#[utoipa::path(get, path = "/api/v1/commitments/{code}", tag = "accountability", params(("code" = String, Path)),
    responses((status = 200, body = CommitmentOut), (status = 404, body = ErrorBody)))]
async fn show_commitment(State(state): State<AppState>, Path(code): Path<String>) -> ApiResult<Json<CommitmentOut>> {
    let commitment = state.app.store.commitment(&code).await?;
    Ok(Json(datalab_app::accountability::report(&state.app, &commitment).await?))
}

/// A milestone's permanent timeline, oldest first.
#[utoipa::path(get, path = "/api/v1/commitments/{code}/milestones/{number}/history", tag = "accountability",
    params(("code" = String, Path), ("number" = i64, Path)),
    responses((status = 200, body = Vec<MilestoneEventOut>), (status = 404, body = ErrorBody)))]
async fn milestone_history(
    State(state): State<AppState>,
    Path((code, number)): Path<(String, i64)>,
) -> ApiResult<Json<Vec<MilestoneEventOut>>> {
    let commitment = state.app.store.commitment(&code).await?;
    let milestone = state.app.store.milestone(commitment.id, number).await?;
    let events = state.app.store.milestone_events(milestone.id).await?;
    Ok(Json(
        events
            .into_iter()
            .map(|event| MilestoneEventOut {
                at: rfc3339(event.at),
                user: event.user_name,
                field: event.field,
                before: event.before,
                after: event.after,
                note: event.note,
            })
            .collect(),
    ))
}

#[derive(Deserialize, IntoParams)]
pub struct ImportQuery {
    /// Check and list the changes without saving them (default false).
    pub dry_run: Option<bool>,
}

#[derive(Serialize, ToSchema)]
pub struct ImportChange {
    pub line: usize,
    pub number: i64,
    pub field: String,
    pub before: String,
    pub after: String,
}

#[derive(Serialize, ToSchema)]
pub struct ImportProblem {
    /// Line of the file; the header is line 1.
    pub line: usize,
    pub field: String,
    /// A stable code such as field-error-stuck-needs-reason or import-unknown-milestone.
    pub code: String,
    pub message: String,
}

#[derive(Serialize, ToSchema)]
pub struct ImportOut {
    pub applied: bool,
    pub changes: Vec<ImportChange>,
    pub errors: Vec<ImportProblem>,
}

/// Bulk update of milestones from the milestones CSV (edited): all rows or none.
/// Send the CSV as the request body; `dry_run=true` only lists the changes.
#[utoipa::path(post, path = "/api/v1/commitments/{code}/milestones.csv", tag = "accountability",
    params(("code" = String, Path), ImportQuery), request_body(content = String, content_type = "text/csv"), security(("token" = [])),
    responses((status = 200, body = ImportOut), (status = 409, body = ImportOut), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn import_milestones(
    State(state): State<AppState>,
    ApiCaller { actor, user }: ApiCaller,
    Path(code): Path<String>,
    Query(query): Query<ImportQuery>,
    request: Request,
) -> ApiResult<Response> {
    let user = user.ok_or(AppError::NotAuthenticated)?;
    let commitment = state.app.store.commitment(&code).await?;
    let body = axum::body::to_bytes(request.into_body(), 2 * 1024 * 1024)
        .await
        .map_err(|_| AppError::PayloadTooLarge { limit: 2 * 1024 * 1024 })?;
    let lang = crate::i18n::Lang::Es;
    match datalab_app::accountability::plan_import(&state.app, &actor, Some(user.id), &commitment, &body).await {
        Err(errors) => {
            let errors = errors
                .iter()
                .map(|error| ImportProblem {
                    line: error.line,
                    field: error.field.clone(),
                    code: error.problem.code(),
                    message: lang.t(&error.problem.code()),
                })
                .collect();
            Ok((StatusCode::CONFLICT, Json(ImportOut { applied: false, changes: Vec::new(), errors })).into_response())
        }
        Ok(planned) => {
            let changes = planned
                .iter()
                .flat_map(|update| {
                    update.changes.iter().map(move |(field, before, after)| ImportChange {
                        line: update.line,
                        number: update.before.number,
                        field: field.clone(),
                        before: before.clone(),
                        after: after.clone(),
                    })
                })
                .collect();
            let apply = !query.dry_run.unwrap_or(false);
            if apply {
                datalab_app::accountability::apply_import(&state.app, Some(user.id), &planned).await?;
            }
            Ok(Json(ImportOut { applied: apply, changes, errors: Vec::new() }).into_response())
        }
    }
}

/// Create a commitment with its milestones (sysadmins). The body is the
/// shape of the demo's `mxnle0001.json`.
#[utoipa::path(post, path = "/api/v1/commitments", tag = "accountability", request_body = datalab_app::accountability::CommitmentDocument,
    security(("token" = [])),
    responses((status = 201, body = CommitmentOut), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn create_commitment(
    State(state): State<AppState>,
    ApiCaller { actor, user }: ApiCaller,
    request: Request,
) -> ApiResult<Response> {
    actor.authorize(datalab_core::Action::ManageCommitments)?;
    let body = axum::body::to_bytes(request.into_body(), state.settings.max_body_bytes)
        .await
        .map_err(|_| AppError::PayloadTooLarge { limit: state.settings.max_body_bytes as u64 })?;
    let document: datalab_app::accountability::CommitmentDocument =
        serde_json::from_slice(&body).map_err(|error| AppError::BadRequest(format!("invalid JSON body: {error}")))?;
    let commitment =
        datalab_app::accountability::create_commitment(&state.app, user.as_ref().map(|user| user.id), document).await?;
    Ok((StatusCode::CREATED, Json(datalab_app::accountability::report(&state.app, &commitment).await?)).into_response())
}
