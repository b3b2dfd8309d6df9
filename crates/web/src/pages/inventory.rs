//! The data inventory pages: what each organization holds or should hold,
//! state-wide and per organization, with coverage and a CSV export.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use datalab_core::inventory::{InventoryItem, InventoryStatus, coverage};
use datalab_core::{Action, FieldError, FieldErrors, Organization};
use serde::Deserialize;
use serde_json::{Value, json};
use uuid::Uuid;

use super::{CheckedForm, form_value, redirect_local, render, translated_errors};
use crate::AppState;
use crate::context::RequestContext;
use crate::error::AppError;

#[derive(Deserialize)]
pub struct InventoryQuery {
    status: Option<String>,
    organization: Option<String>,
}

async fn items_view(
    state: &AppState,
    context: &RequestContext,
    items: &[InventoryItem],
    organizations: &[Organization],
) -> Result<Vec<Value>, AppError> {
    let mut views = Vec::new();
    for item in items {
        let organization = organizations.iter().find(|organization| organization.id == item.organization_id);
        let dataset = match item.dataset_id {
            Some(id) => state
                .app
                .store
                .dataset(&id.to_string())
                .await
                .ok()
                .filter(|dataset| context.actor.can(datalab_app::catalog::read_action(dataset))),
            None => None,
        };
        views.push(json!({
            "id": item.id,
            "title": item.title,
            "description": item.description,
            "expected": item.expected,
            "status": item.status.as_str(),
            "status_label": context.lang.t(&format!("inventory-status-{}", item.status.as_str())),
            "reason": item.reason,
            "dataset": dataset.map(|dataset| json!({"name": dataset.name, "title": dataset.title})),
            "organization": organization.map(|organization| json!({"name": organization.name, "title": organization.title})),
        }));
    }
    Ok(views)
}

fn statuses(context: &RequestContext) -> Vec<Value> {
    InventoryStatus::ALL
        .iter()
        .map(|status| json!({"code": status.as_str(), "label": context.lang.t(&format!("inventory-status-{}", status.as_str()))}))
        .collect()
}

fn coverage_view(items: &[InventoryItem]) -> Value {
    json!({
        "listed": items.len(),
        "published": items.iter().filter(|item| item.status == InventoryStatus::Published).count(),
        "percent": coverage(items).map(|share| (share * 100.0).round() as i64),
    })
}

fn filtered(items: Vec<InventoryItem>, query: &InventoryQuery, organizations: &[Organization]) -> Vec<InventoryItem> {
    let status = query.status.as_deref().and_then(InventoryStatus::parse);
    let organization = query
        .organization
        .as_deref()
        .filter(|name| !name.is_empty())
        .and_then(|name| organizations.iter().find(|organization| organization.name == name))
        .map(|organization| organization.id);
    items
        .into_iter()
        .filter(|item| status.is_none_or(|status| item.status == status))
        .filter(|item| organization.is_none_or(|id| item.organization_id == id))
        .collect()
}

pub async fn state_wide(
    State(state): State<AppState>,
    context: RequestContext,
    Query(query): Query<InventoryQuery>,
) -> Result<Response, AppError> {
    let organizations = state.app.store.organizations().await?;
    let all = state.app.store.inventory(None).await?;
    let items = filtered(all.clone(), &query, &organizations);
    let mut by_organization = Vec::new();
    for organization in &organizations {
        let theirs: Vec<InventoryItem> =
            all.iter().filter(|item| item.organization_id == organization.id).cloned().collect();
        if !theirs.is_empty() {
            by_organization.push(
                json!({"name": organization.name, "title": organization.title, "coverage": coverage_view(&theirs)}),
            );
        }
    }
    render(
        &state,
        &context,
        "inventory.html",
        json!({
            "items": items_view(&state, &context, &items, &organizations).await?,
            "coverage": coverage_view(&all),
            "by_organization": by_organization,
            "statuses": statuses(&context),
            "organizations": organizations.iter().map(|organization| json!({"name": organization.name, "title": organization.title})).collect::<Vec<_>>(),
            "selected_status": query.status.unwrap_or_default(),
            "selected_organization": query.organization.unwrap_or_default(),
        }),
    )
}

async fn organization_page(
    state: &AppState,
    context: &RequestContext,
    organization: &Organization,
    errors: &FieldErrors,
    form: Value,
    status: StatusCode,
) -> Result<Response, AppError> {
    let organizations = state.app.store.organizations().await?;
    let items = state.app.store.inventory(Some(organization.id)).await?;
    let page = render(
        state,
        context,
        "organization_inventory.html",
        json!({
            "organization": {"name": organization.name, "title": organization.title},
            "items": items_view(state, context, &items, &organizations).await?,
            "coverage": coverage_view(&items),
            "can_manage": context.actor.can(Action::ManageInventory { organization: organization.id }),
            "statuses": statuses(context),
            "errors": translated_errors(context, errors),
            "form": form,
        }),
    )?;
    Ok((status, page).into_response())
}

pub async fn for_organization(
    State(state): State<AppState>,
    context: RequestContext,
    Path(name): Path<String>,
) -> Result<Response, AppError> {
    let organization = state.app.store.organization(&name).await?;
    organization_page(
        &state,
        &context,
        &organization,
        &FieldErrors::new(),
        json!({"status": "planned"}),
        StatusCode::OK,
    )
    .await
}

/// Adds an item (no `id` field) or changes one (`id` of an item of this organization).
pub async fn save(
    State(state): State<AppState>,
    context: RequestContext,
    Path(name): Path<String>,
    CheckedForm(pairs): CheckedForm,
) -> Result<Response, AppError> {
    let organization = state.app.store.organization(&name).await?;
    context.actor.authorize(Action::ManageInventory { organization: organization.id })?;
    let existing = match Uuid::parse_str(&form_value(&pairs, "id")) {
        Ok(id) => Some(state.app.store.inventory_item(id).await?)
            .filter(|item| item.organization_id == organization.id)
            .ok_or(AppError::NotFound)
            .map(Some)?,
        Err(_) => None,
    };
    let mut errors = FieldErrors::new();
    let status = InventoryStatus::parse(&form_value(&pairs, "status")).unwrap_or_else(|| {
        errors.add("status", FieldError::UnknownValue);
        InventoryStatus::Planned
    });
    let dataset_name = form_value(&pairs, "dataset");
    let dataset_id = if dataset_name.is_empty() {
        None
    } else {
        match state.app.store.dataset(&dataset_name).await {
            Ok(dataset) if dataset.owner_org == organization.id => Some(dataset.id),
            _ => {
                errors.add("dataset", FieldError::UnknownValue);
                None
            }
        }
    };
    let item = InventoryItem {
        id: existing.as_ref().map(|item| item.id).unwrap_or_else(Uuid::new_v4),
        organization_id: organization.id,
        title: form_value(&pairs, "title"),
        description: form_value(&pairs, "description"),
        expected: form_value(&pairs, "expected"),
        status,
        reason: form_value(&pairs, "reason"),
        dataset_id,
        updated: datalab_store::now(),
    };
    errors.merge(item.validate());
    let outcome = if errors.is_empty() {
        datalab_app::inventory::save_item(&state.app, &context.actor, context.user.as_ref(), &item)
            .await
            .map_err(AppError::from)
    } else {
        Err(AppError::Validation(errors))
    };
    match outcome {
        Ok(()) => Ok(redirect_local(&format!("/organization/{}/inventory", organization.name))),
        Err(AppError::Validation(errors)) => {
            let form = super::form_echo(pairs);
            organization_page(&state, &context, &organization, &errors, form, StatusCode::UNPROCESSABLE_ENTITY).await
        }
        Err(other) => Err(other),
    }
}

/// The inventory as CSV (everyone's, or `?organization=`), as open data.
pub async fn csv(
    State(state): State<AppState>,
    context: RequestContext,
    Query(query): Query<InventoryQuery>,
) -> Result<Response, AppError> {
    let organizations = state.app.store.organizations().await?;
    let items = filtered(state.app.store.inventory(None).await?, &query, &organizations);
    let views = items_view(&state, &context, &items, &organizations).await?;
    let mut writer = csv::Writer::from_writer(Vec::new());
    writer
        .write_record(["organization", "title", "description", "expected", "status", "reason", "dataset"])
        .map_err(AppError::internal)?;
    for (item, view) in items.iter().zip(&views) {
        writer
            .write_record(
                [
                    view["organization"]["name"].as_str().unwrap_or_default(),
                    &item.title,
                    &item.description,
                    &item.expected,
                    item.status.as_str(),
                    &item.reason,
                    view["dataset"]["name"].as_str().unwrap_or_default(),
                ]
                .map(|cell| datalab_core::cells::neutralise(cell).into_owned()),
            )
            .map_err(AppError::internal)?;
    }
    let bytes = writer.into_inner().map_err(AppError::internal)?;
    Ok((
        [
            (axum::http::header::CONTENT_TYPE, "text/csv; charset=utf-8"),
            (axum::http::header::CONTENT_DISPOSITION, "attachment; filename=\"inventario-de-datos.csv\""),
        ],
        bytes,
    )
        .into_response())
}
