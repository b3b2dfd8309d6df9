//! Organization and group pages, and the admin pages for organizations and
//! their members.

use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use datalab_core::{Action, Capacity, FieldError, FieldErrors, Organization, OrganizationKind, State as Lifecycle};
use datalab_search::FacetName;
use serde_json::json;
use uuid::Uuid;

use super::{CheckedForm, SearchParams, form_value, redirect_local, render, search_view, translated_errors};
use crate::AppState;
use crate::context::RequestContext;
use crate::error::AppError;

async fn organization_counts(
    state: &AppState,
    context: &RequestContext,
) -> Result<std::collections::HashMap<String, u64>, AppError> {
    Ok(datalab_app::catalog::facet_counts(&state.app, &context.actor, FacetName::Organization, true)?)
}

/// What `organizations.html` shows: every organization with its kind and
/// how many datasets the reader may see.
#[derive(serde::Serialize)]
struct OrganizationsView {
    organizations: Vec<OrganizationItem>,
}

#[derive(serde::Serialize)]
struct OrganizationItem {
    name: String,
    title: String,
    description: String,
    kind: String,
    count: u64,
}

pub async fn list(State(state): State<AppState>, context: RequestContext) -> Result<Response, AppError> {
    let counts = organization_counts(&state, &context).await?;
    let lang = context.lang;
    let organizations = state
        .app
        .store
        .organizations()
        .await?
        .into_iter()
        .map(|organization| OrganizationItem {
            kind: lang.t(&format!("kind-{}", organization.kind.as_str())),
            count: counts.get(&organization.name).copied().unwrap_or(0),
            name: organization.name,
            title: organization.title,
            description: organization.description,
        })
        .collect();
    render(&state, &context, "organizations.html", OrganizationsView { organizations })
}

pub async fn show(
    State(state): State<AppState>,
    context: RequestContext,
    Path(name): Path<String>,
    RawQuery(query): RawQuery,
) -> Result<Response, AppError> {
    let organization = state.app.store.organization(&name).await?;
    let mut params = SearchParams::from_query(query.as_deref());
    params.filters.retain(|(facet, _)| *facet != FacetName::Organization);
    params.filters.push((FacetName::Organization, organization.name.clone()));
    let view = search_view(&state, &context, &params).await?;
    let activities = datalab_app::catalog::visible_activities(
        &state.app,
        &context.actor,
        datalab_store::ActivityScope::Organization(organization.id),
        20,
        0,
    )
    .await?;
    let lang = context.lang;
    render(
        &state,
        &context,
        "organization.html",
        json!({
            "organization": {
                "name": organization.name,
                "title": organization.title,
                "description": organization.description,
                "image_url": organization.image_url,
                "kind": lang.t(&format!("kind-{}", organization.kind.as_str())),
            },
            "search": view,
            "action": format!("/organization/{}", organization.name),
            "can_manage": context.actor.can(Action::ManageMembers { organization: organization.id }),
            "activities": super::activity_view(&activities),
            "can_create_here": context.actor.can(Action::CreateDataset { organization: organization.id }),
        }),
    )
}

fn kinds(context: &RequestContext) -> Vec<serde_json::Value> {
    OrganizationKind::ALL
        .iter()
        .map(|kind| json!({"code": kind.as_str(), "label": context.lang.t(&format!("kind-{}", kind.as_str()))}))
        .collect()
}

pub async fn new_form(State(state): State<AppState>, context: RequestContext) -> Result<Response, AppError> {
    context.actor.authorize(Action::CreateOrganization)?;
    render(
        &state,
        &context,
        "organization_form.html",
        OrganizationFormView {
            form: OrganizationForm::empty(),
            errors: json!({}),
            kinds: kinds(&context),
            editing: false,
            original_name: String::new(),
        },
    )
}

pub async fn create(
    State(state): State<AppState>,
    context: RequestContext,
    CheckedForm(pairs): CheckedForm,
) -> Result<Response, AppError> {
    context.actor.authorize(Action::CreateOrganization)?;
    let title = form_value(&pairs, "title");
    let mut name = form_value(&pairs, "name");
    if name.is_empty() {
        name = datalab_core::slugify(&title);
    }
    let mut errors = FieldErrors::new();
    let kind = OrganizationKind::parse(&form_value(&pairs, "kind")).unwrap_or_else(|| {
        errors.add("kind", FieldError::UnknownValue);
        OrganizationKind::Government
    });
    let organization = Organization {
        id: Uuid::new_v4(),
        name,
        title,
        description: form_value(&pairs, "description"),
        image_url: form_value(&pairs, "image_url"),
        kind,
        state: Lifecycle::Active,
        created: datalab_store::now(),
    };
    let outcome = if errors.is_empty() {
        datalab_app::organizations::create_organization(
            &state.app,
            &context.actor,
            context.user.as_ref(),
            &organization,
        )
        .await
        .map_err(AppError::from)
    } else {
        Err(AppError::Validation(errors))
    };
    match outcome {
        Ok(()) => Ok(redirect_local(&format!("/organization/{}", organization.name))),
        Err(AppError::Validation(errors)) => {
            let page = render(
                &state,
                &context,
                "organization_form.html",
                OrganizationFormView {
                    form: OrganizationForm::of(&organization),
                    errors: translated_errors(&context, &errors),
                    kinds: kinds(&context),
                    editing: false,
                    original_name: String::new(),
                },
            )?;
            Ok((StatusCode::UNPROCESSABLE_ENTITY, page).into_response())
        }
        Err(other) => Err(other),
    }
}

async fn members_page(
    state: &AppState,
    context: &RequestContext,
    organization: &Organization,
    errors: &FieldErrors,
    status: StatusCode,
) -> Result<Response, AppError> {
    let members = state.app.store.members(organization.id).await?;
    let lang = context.lang;
    let page = render(
        state,
        context,
        "members.html",
        json!({
            "organization": {"name": organization.name, "title": organization.title},
            "members": members.iter().map(|member| json!({
                "name": member.user.name,
                "fullname": member.user.fullname,
                "capacity": lang.t(&format!("role-{}", member.capacity.as_str())),
            })).collect::<Vec<_>>(),
            "roles": Capacity::ALL.iter().map(|capacity| json!({"code": capacity.as_str(), "label": lang.t(&format!("role-{}", capacity.as_str()))})).collect::<Vec<_>>(),
            "errors": translated_errors(context, errors),
        }),
    )?;
    Ok((status, page).into_response())
}

pub async fn members(
    State(state): State<AppState>,
    context: RequestContext,
    Path(name): Path<String>,
) -> Result<Response, AppError> {
    let organization = state.app.store.organization(&name).await?;
    context.actor.authorize(Action::ManageMembers { organization: organization.id })?;
    members_page(&state, &context, &organization, &FieldErrors::new(), StatusCode::OK).await
}

pub async fn add_member(
    State(state): State<AppState>,
    context: RequestContext,
    Path(name): Path<String>,
    CheckedForm(pairs): CheckedForm,
) -> Result<Response, AppError> {
    let organization = state.app.store.organization(&name).await?;
    context.actor.authorize(Action::ManageMembers { organization: organization.id })?;
    let mut errors = FieldErrors::new();
    let capacity = Capacity::parse(&form_value(&pairs, "role"));
    if capacity.is_none() {
        errors.add("role", FieldError::UnknownValue);
    }
    let user = match state.app.store.user(&form_value(&pairs, "username")).await {
        Ok(user) => Some(user),
        Err(datalab_store::StoreError::NotFound) => {
            errors.add("username", FieldError::UnknownValue);
            None
        }
        Err(other) => return Err(other.into()),
    };
    match (user, capacity) {
        (Some(user), Some(capacity)) if errors.is_empty() => {
            datalab_app::organizations::set_membership(
                &state.app,
                &context.actor,
                context.user.as_ref(),
                &organization,
                &user,
                capacity,
            )
            .await?;
            Ok(redirect_local(&format!("/organization/{}/members", organization.name)))
        }
        _ => members_page(&state, &context, &organization, &errors, StatusCode::UNPROCESSABLE_ENTITY).await,
    }
}

pub async fn remove_member(
    State(state): State<AppState>,
    context: RequestContext,
    Path((name, username)): Path<(String, String)>,
    _form: CheckedForm,
) -> Result<Response, AppError> {
    let organization = state.app.store.organization(&name).await?;
    context.actor.authorize(Action::ManageMembers { organization: organization.id })?;
    let user = state.app.store.user(&username).await?;
    datalab_app::organizations::remove_membership(
        &state.app,
        &context.actor,
        context.user.as_ref(),
        &organization,
        &user,
    )
    .await?;
    Ok(redirect_local(&format!("/organization/{}/members", organization.name)))
}

pub async fn groups(State(state): State<AppState>, context: RequestContext) -> Result<Response, AppError> {
    let groups = state.app.store.groups().await?;
    let counts = datalab_app::catalog::facet_counts(&state.app, &context.actor, FacetName::Groups, true)?;
    let groups = groups
        .into_iter()
        .map(|group| GroupItem {
            count: counts.get(&group.name).copied().unwrap_or(0),
            name: group.name,
            title: group.title,
            description: group.description,
        })
        .collect();
    render(&state, &context, "groups.html", GroupsView { groups })
}

/// What `groups.html` shows: every theme with how many datasets the reader may see.
#[derive(serde::Serialize)]
struct GroupsView {
    groups: Vec<GroupItem>,
}

#[derive(serde::Serialize)]
struct GroupItem {
    name: String,
    title: String,
    description: String,
    count: u64,
}

pub async fn group(
    State(state): State<AppState>,
    context: RequestContext,
    Path(name): Path<String>,
    RawQuery(query): RawQuery,
) -> Result<Response, AppError> {
    let group = state.app.store.group(&name).await?;
    let mut params = SearchParams::from_query(query.as_deref());
    params.filters.retain(|(facet, _)| *facet != FacetName::Groups);
    params.filters.push((FacetName::Groups, group.name.clone()));
    let view = search_view(&state, &context, &params).await?;
    render(
        &state,
        &context,
        "search.html",
        json!({"search": view, "action": format!("/group/{}", group.name), "group": {"name": group.name, "title": group.title, "description": group.description}}),
    )
}

/// What `organization_form.html` shows: the form's values, their errors,
/// the kinds to choose from and, when editing, the name the organization had.
#[derive(serde::Serialize)]
struct OrganizationFormView {
    form: OrganizationForm,
    errors: serde_json::Value,
    kinds: Vec<serde_json::Value>,
    editing: bool,
    original_name: String,
}

/// The organization form's fields.
#[derive(serde::Serialize)]
struct OrganizationForm {
    name: String,
    title: String,
    description: String,
    image_url: String,
    kind: &'static str,
}

impl OrganizationForm {
    fn of(organization: &Organization) -> OrganizationForm {
        OrganizationForm {
            name: organization.name.clone(),
            title: organization.title.clone(),
            description: organization.description.clone(),
            image_url: organization.image_url.clone(),
            kind: organization.kind.as_str(),
        }
    }

    fn empty() -> OrganizationForm {
        OrganizationForm {
            name: String::new(),
            title: String::new(),
            description: String::new(),
            image_url: String::new(),
            kind: OrganizationKind::Government.as_str(),
        }
    }
}

pub async fn edit_form(
    State(state): State<AppState>,
    context: RequestContext,
    Path(name): Path<String>,
) -> Result<Response, AppError> {
    let organization = state.app.store.organization(&name).await?;
    context.actor.authorize(Action::UpdateOrganization { organization: organization.id })?;
    render(
        &state,
        &context,
        "organization_form.html",
        OrganizationFormView {
            form: OrganizationForm::of(&organization),
            errors: json!({}),
            kinds: kinds(&context),
            editing: true,
            original_name: organization.name.clone(),
        },
    )
}

pub async fn update(
    State(state): State<AppState>,
    context: RequestContext,
    Path(name): Path<String>,
    CheckedForm(pairs): CheckedForm,
) -> Result<Response, AppError> {
    let before = state.app.store.organization(&name).await?;
    context.actor.authorize(Action::UpdateOrganization { organization: before.id })?;
    let mut errors = FieldErrors::new();
    let mut after = before.clone();
    after.title = form_value(&pairs, "title");
    after.name = form_value(&pairs, "name");
    if after.name.is_empty() {
        after.name = before.name.clone();
    }
    after.description = form_value(&pairs, "description");
    after.image_url = form_value(&pairs, "image_url");
    match OrganizationKind::parse(&form_value(&pairs, "kind")) {
        Some(kind) => after.kind = kind,
        None => errors.add("kind", FieldError::UnknownValue),
    }
    let outcome = if errors.is_empty() {
        datalab_app::organizations::update_organization(&state.app, &context.actor, context.user.as_ref(), &after)
            .await
            .map_err(AppError::from)
    } else {
        Err(AppError::Validation(errors))
    };
    match outcome {
        Ok(()) => Ok(redirect_local(&format!("/organization/{}", after.name))),
        Err(AppError::Validation(errors)) => {
            let page = render(
                &state,
                &context,
                "organization_form.html",
                OrganizationFormView {
                    form: OrganizationForm::of(&after),
                    errors: translated_errors(&context, &errors),
                    kinds: kinds(&context),
                    editing: true,
                    original_name: before.name.clone(),
                },
            )?;
            Ok((StatusCode::UNPROCESSABLE_ENTITY, page).into_response())
        }
        Err(other) => Err(other),
    }
}
