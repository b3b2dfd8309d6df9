//! The quality dashboard, state-wide and per organization: average scores,
//! the weakest datasets with what to improve first, and the inventory's
//! coverage. Scores are computed when the page is read (a stored score and
//! a search facet are the next step).

use axum::extract::{Query, State};
use axum::response::Response;
use datalab_core::inventory::coverage;
use datalab_search::{FacetName, SearchRequest};
use serde::Deserialize;
use serde_json::json;

use super::render;
use crate::AppState;
use crate::context::RequestContext;
use crate::error::AppError;

#[derive(Deserialize)]
pub struct QualityQuery {
    organization: Option<String>,
}

pub async fn dashboard(
    State(state): State<AppState>,
    context: RequestContext,
    Query(query): Query<QualityQuery>,
) -> Result<Response, AppError> {
    let organizations = state.app.store.organizations().await?;
    let selected = query
        .organization
        .as_deref()
        .filter(|name| !name.is_empty())
        .and_then(|name| organizations.iter().find(|organization| organization.name == name));
    let mut request = SearchRequest { rows: 10_000, facets: vec![], ..SearchRequest::default() };
    if let Some(organization) = selected {
        request.filters.push((FacetName::Organization, organization.name.clone()));
    }
    let (_, datasets) = datalab_app::catalog::search(&state.app, &context.actor, &request, false).await?;
    let lang = context.lang;
    let mut rows = Vec::new();
    for dataset in &datasets {
        let report = datalab_app::index::quality_report(&state.app, dataset).await?;
        let first_finding = report
            .criteria
            .iter()
            .filter(|criterion| criterion.score < 1.0)
            .min_by(|a, b| (a.score * a.weight).total_cmp(&(b.score * b.weight)))
            .and_then(|criterion| criterion.findings.first().copied());
        rows.push((
            dataset.owner_org,
            json!({
                "name": dataset.name,
                "title": dataset.title,
                "score": report.score,
                "improve": first_finding.map(|finding| lang.t(&format!("finding-{finding}"))),
            }),
        ));
    }
    let average =
        |scores: &[u64]| if scores.is_empty() { None } else { Some(scores.iter().sum::<u64>() / scores.len() as u64) };
    let inventory = state.app.store.inventory(selected.map(|organization| organization.id)).await?;
    let mut by_organization = Vec::new();
    for organization in &organizations {
        let scores: Vec<u64> = rows
            .iter()
            .filter(|(owner, _)| *owner == organization.id)
            .filter_map(|(_, row)| row["score"].as_u64())
            .collect();
        let items: Vec<_> = inventory.iter().filter(|item| item.organization_id == organization.id).cloned().collect();
        if scores.is_empty() && items.is_empty() {
            continue;
        }
        by_organization.push(json!({
            "name": organization.name,
            "title": organization.title,
            "datasets": scores.len(),
            "average": average(&scores),
            "coverage": coverage(&items).map(|share| (share * 100.0).round() as i64),
        }));
    }
    let all_scores: Vec<u64> = rows.iter().filter_map(|(_, row)| row["score"].as_u64()).collect();
    let mut weakest: Vec<serde_json::Value> = rows.into_iter().map(|(_, row)| row).collect();
    weakest.sort_by_key(|row| row["score"].as_u64().unwrap_or(0));
    weakest.truncate(20);
    render(
        &state,
        &context,
        "quality.html",
        json!({
            "selected": selected.map(|organization| json!({"name": organization.name, "title": organization.title})),
            "average": average(&all_scores),
            "datasets": all_scores.len(),
            "coverage": coverage(&inventory).map(|share| (share * 100.0).round() as i64),
            "by_organization": by_organization,
            "weakest": weakest,
            "organizations": organizations.iter().map(|organization| json!({"name": organization.name, "title": organization.title})).collect::<Vec<_>>(),
        }),
    )
}
