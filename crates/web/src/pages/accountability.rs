//! Public pages of the accountability tracker: the commitment with its
//! dashboard, and each milestone with its permanent timeline and, for the
//! members of a responsible organization, the update form.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use datalab_core::accountability::{
    Commitment, EDITABLE_FIELDS, Evidence, EvidenceTarget, Milestone, MilestoneStatus, parse_end, parse_start,
};
use datalab_core::{Action, FieldError, FieldErrors};
use serde_json::{Value, json};
use time::Date;
use uuid::Uuid;

use super::{CheckedForm, form_value, redirect_local, render, translated_errors};
use crate::AppState;
use crate::context::RequestContext;
use crate::error::AppError;
use datalab_app::accountability::{MilestoneUpdate, NewEvidence, NewTask, can_update, update_actions};

async fn organization_titles(state: &AppState) -> Result<std::collections::HashMap<Uuid, String>, AppError> {
    Ok(state
        .app
        .store
        .organizations()
        .await?
        .into_iter()
        .map(|organization| (organization.id, organization.title))
        .collect())
}

/// `milestone_path` is the milestone page's path, under which documents
/// download. A dataset or resource given as evidence is shown only to a
/// viewer who may read it *now*: one made private or deleted since it was
/// added (or never readable by this viewer) shows as not available, with
/// neither its title nor a link.
async fn evidence_view(
    state: &AppState,
    actor: &datalab_core::Actor,
    lang: crate::i18n::Lang,
    milestone_path: &str,
    evidence: &Evidence,
) -> Value {
    let unavailable = || (lang.t("evidence-not-available"), String::new());
    let readable = async |dataset_id: Uuid| match state.app.store.dataset(&dataset_id.to_string()).await {
        Ok(dataset) if actor.can(datalab_app::catalog::read_action(&dataset)) => Some(dataset),
        _ => None,
    };
    let (label, url) = match &evidence.target {
        EvidenceTarget::Url { url } => (url.clone(), url.clone()),
        EvidenceTarget::Dataset { dataset_id } => match readable(*dataset_id).await {
            Some(dataset) => (dataset.title, format!("/dataset/{}", dataset.name)),
            None => unavailable(),
        },
        EvidenceTarget::Resource { resource_id } => match state.app.store.resource(*resource_id).await {
            Ok(resource) => match readable(resource.dataset_id).await {
                Some(dataset) => (resource.name, format!("/dataset/{}/resource/{}", dataset.name, resource.id)),
                None => unavailable(),
            },
            Err(_) => unavailable(),
        },
        EvidenceTarget::Document { filename, .. } => {
            (filename.clone(), format!("{milestone_path}/evidence/{}/download", evidence.id))
        }
    };
    json!({"label": label, "url": url, "note": evidence.note, "added_at": crate::timestamps::ckan_time(evidence.added_at)})
}

fn milestone_summary(
    milestone: &Milestone,
    lang: &str,
    titles: &std::collections::HashMap<Uuid, String>,
    today: Date,
) -> Value {
    let l = crate::i18n::Lang::parse(lang).unwrap_or_default();
    json!({
        "number": milestone.number,
        "title": milestone.title.get(lang),
        "start": milestone.start,
        "end": milestone.end,
        "status": milestone.status.as_str(),
        "status_label": l.t(&format!("status-{}", milestone.status.as_str())),
        "progress": milestone.progress,
        "overdue": milestone.is_overdue(today),
        "problems": milestone.data_problems().iter().map(|_| l.t("problem-end-before-start")).collect::<Vec<_>>(),
        "organizations": milestone.organizations.iter().filter_map(|id| titles.get(id).cloned()).collect::<Vec<_>>(),
        "irm": milestone.irm_completion().english(),
    })
}

/// Months from `first` to `last` as indexes, for the timeline chart.
fn month_index(date: Date) -> i32 {
    date.year() * 12 + date.month() as i32 - 1
}

fn timeline_chart(milestones: &[Milestone], commitment: &Commitment, today: Date) -> Value {
    let starts =
        milestones.iter().filter_map(|milestone| parse_start(&milestone.start)).chain(parse_start(&commitment.start));
    let ends = milestones.iter().filter_map(|milestone| parse_end(&milestone.end)).chain(parse_end(&commitment.end));
    // Today is always on the chart: a plan that ended long ago shows how long ago.
    let (Some(first), Some(last)) = (starts.clone().chain([today]).min(), ends.chain(starts).chain([today]).max())
    else {
        return Value::Null;
    };
    let first_month = month_index(first);
    let months = (month_index(last) - first_month + 1).max(1);
    let (label_width, chart_width, row_height) = (40.0, 720.0, 22.0);
    let x = |month: i32| label_width + chart_width * (month - first_month) as f64 / months as f64;
    let rows: Vec<Value> = milestones
        .iter()
        .enumerate()
        .map(|(row, milestone)| {
            let start = parse_start(&milestone.start).map(month_index).unwrap_or(first_month);
            let end = parse_end(&milestone.end).map(month_index).unwrap_or(start);
            let (from, to) = if end < start { (end, start) } else { (start, end) };
            json!({
                "number": milestone.number,
                "y": 30.0 + row as f64 * row_height,
                "x": x(from),
                "width": (x(to + 1) - x(from)).max(2.0),
                "status": milestone.status.as_str(),
                "overdue": milestone.is_overdue(today),
                "problem": !milestone.data_problems().is_empty(),
            })
        })
        .collect();
    let ticks: Vec<Value> = (0..months)
        .filter(|offset| (first_month + offset) % 12 == 0 || *offset == 0)
        .map(|offset| {
            let month = first_month + offset;
            json!({"x": x(month), "label": format!("{}-{:02}", month.div_euclid(12), month.rem_euclid(12) + 1)})
        })
        .collect();
    let today_month = month_index(today);
    let today_x = (today_month >= first_month && today_month < first_month + months).then(|| {
        let fraction = (today.day() as f64 - 1.0) / time::util::days_in_month(today.month(), today.year()) as f64;
        x(today_month) + fraction * chart_width / months as f64
    });
    json!({
        "width": label_width + chart_width + 10.0,
        "height": 40.0 + milestones.len() as f64 * row_height,
        "rows": rows,
        "ticks": ticks,
        "today_x": today_x,
        "today": today.to_string(),
    })
}

/// What `commitments.html` shows: every commitment with its progress.
#[derive(serde::Serialize)]
struct CommitmentsView {
    commitments: Vec<CommitmentItem>,
}

#[derive(serde::Serialize)]
struct CommitmentItem {
    code: String,
    title: String,
    action_plan: String,
    milestones: usize,
    finished: usize,
}

pub async fn list(State(state): State<AppState>, context: RequestContext) -> Result<Response, AppError> {
    let lang = context.lang.code();
    let mut commitments = Vec::new();
    for commitment in state.app.store.commitments().await? {
        let milestones = state.app.store.milestones(commitment.id).await?;
        commitments.push(CommitmentItem {
            code: commitment.code.clone(),
            title: commitment.title.get(lang).to_string(),
            action_plan: commitment.action_plan.title.get(lang).to_string(),
            milestones: milestones.len(),
            finished: milestones.iter().filter(|milestone| milestone.status == MilestoneStatus::Finished).count(),
        });
    }
    render(&state, &context, "commitments.html", CommitmentsView { commitments })
}

pub async fn show(
    State(state): State<AppState>,
    context: RequestContext,
    Path(code): Path<String>,
) -> Result<Response, AppError> {
    let commitment = state.app.store.commitment(&code).await?;
    // Tasks show on their milestone's page; the dashboard counts milestones.
    let milestones: Vec<Milestone> = state
        .app
        .store
        .milestones(commitment.id)
        .await?
        .into_iter()
        .filter(|milestone| milestone.parent_id.is_none())
        .collect();
    let lang = context.lang.code();
    let titles = organization_titles(&state).await?;
    let today = state.app.clock.today();
    let counts: Vec<Value> = MilestoneStatus::ALL
        .iter()
        .map(|status| {
            json!({
                "status": status.as_str(),
                "label": context.lang.t(&format!("status-{}", status.as_str())),
                "count": milestones.iter().filter(|milestone| milestone.status == *status).count(),
            })
        })
        .collect();
    let mut by_institution: std::collections::BTreeMap<String, (i64, i64)> = Default::default();
    for milestone in &milestones {
        let names: Vec<String> = if milestone.organizations.is_empty() {
            vec![context.lang.t("no-responsible-organization")]
        } else {
            milestone.organizations.iter().filter_map(|id| titles.get(id).cloned()).collect()
        };
        for name in names {
            let entry = by_institution.entry(name).or_default();
            entry.0 += milestone.progress;
            entry.1 += 1;
        }
    }
    let summaries: Vec<Value> =
        milestones.iter().map(|milestone| milestone_summary(milestone, lang, &titles, today)).collect();
    render(
        &state,
        &context,
        "commitment.html",
        json!({
            "commitment": {
                "code": commitment.code,
                "title": commitment.title.get(lang),
                "action_plan": commitment.action_plan.title.get(lang),
                "problem": commitment.problem.get(lang),
                "status_quo": commitment.status_quo.get(lang),
                "action": commitment.action.get(lang),
                "contribution": commitment.contribution.get(lang),
                "policy_area": commitment.policy_area.get(lang),
                "sector": commitment.sector.get(lang),
                "ogp_values": commitment.ogp_values.iter().map(|value| value.get(lang).to_string()).collect::<Vec<_>>(),
                "start": commitment.start,
                "end": commitment.end,
                "institutions": commitment.institutions.iter().map(|institution| json!({
                    "name": institution.name.get(lang),
                    "role": context.lang.t(&format!("institution-role-{}", institution.role.as_str())),
                    "organization": institution.organization_id.and_then(|id| titles.get(&id).cloned()),
                })).collect::<Vec<_>>(),
            },
            "milestones": summaries,
            "counts": counts,
            "overdue": summaries.iter().filter(|summary| summary["overdue"] == true).cloned().collect::<Vec<_>>(),
            "problems": summaries.iter().filter(|summary| summary["problems"].as_array().is_some_and(|problems| !problems.is_empty())).cloned().collect::<Vec<_>>(),
            "institution_progress": by_institution.into_iter().map(|(name, (sum, count))| json!({"name": name, "progress": sum / count.max(1), "milestones": count})).collect::<Vec<_>>(),
            "chart": timeline_chart(&milestones, &commitment, today),
            "catalog_dataset": state.app.store.dataset(&datalab_app::accountability::dataset_name(&commitment.code)).await.ok().map(|dataset| dataset.name),
            "monitors": state.app.store.monitors(commitment.id).await?.into_iter().map(|(_, name)| name).collect::<Vec<_>>(),
            "can_manage": context.actor.can(Action::ManageCommitments),
            "followers": state.app.store.follower_count(commitment.id).await?,
            "following": match &context.user {
                Some(user) => state.app.store.followed_commitments(user.id).await?.contains(&commitment.code),
                None => false,
            },
            "today": today.to_string(),
        }),
    )
}

async fn milestone_page(
    state: &AppState,
    context: &RequestContext,
    commitment: &Commitment,
    milestone: &Milestone,
    errors: &FieldErrors,
    form: Value,
    status: StatusCode,
) -> Result<Response, AppError> {
    let lang = context.lang.code();
    let titles = organization_titles(state).await?;
    let events = state.app.store.milestone_events(milestone.id).await?;
    let flags = state.app.store.evidence_flags(milestone.id).await?;
    let mut evidence = Vec::new();
    for item in &milestone.evidence {
        let path = format!("/commitment/{}/milestone/{}", commitment.code, milestone.number);
        let mut view = evidence_view(state, &context.actor, context.lang, &path, item).await;
        view["id"] = json!(item.id);
        view["flags"] = json!(flags
            .iter()
            .filter(|flag| flag.evidence_id == item.id)
            .map(|flag| json!({"user": flag.user_name, "reason": flag.reason, "at": crate::timestamps::ckan_time(flag.at)}))
            .collect::<Vec<_>>());
        evidence.push(view);
    }
    let can_monitor =
        context.actor.can(Action::Monitor { assigned_monitor: is_monitor(state, context, commitment).await? });
    let all = state.app.store.milestones(commitment.id).await?;
    let tasks: Vec<Value> = all
        .iter()
        .filter(|task| task.parent_id == Some(milestone.id))
        .map(|task| {
            let mut view = milestone_summary(task, lang, &titles, state.app.clock.today());
            view["weight"] = json!(task.weight);
            view
        })
        .collect();
    let parent = milestone
        .parent_id
        .and_then(|id| all.iter().find(|candidate| candidate.id == id))
        .map(|parent| json!({"number": parent.number, "title": parent.title.get(lang)}));
    let describe = |value: &Value| -> String {
        match value {
            Value::Null => String::new(),
            Value::String(text) if MilestoneStatus::parse(text).is_some() => context.lang.t(&format!("status-{text}")),
            Value::String(text) => text.clone(),
            Value::Object(object) => object
                .get("target")
                .and_then(|target| target.get("url").or_else(|| target.get("dataset_id")))
                .map(|value| value.as_str().unwrap_or_default().to_string())
                .unwrap_or_default(),
            other => other.to_string(),
        }
    };
    let timeline: Vec<Value> = events
        .iter()
        .rev()
        .map(|event| {
            json!({
                "at": crate::timestamps::ckan_time(event.at),
                "user": event.user_name,
                "field": context.lang.t(&format!("milestone-field-{}", event.field.replace('_', "-"))),
                "before": describe(&event.before),
                "after": describe(&event.after),
                "note": if event.note == "derived-from-tasks" { context.lang.t("derived-from-tasks") } else { event.note.clone() },
            })
        })
        .collect();
    let page = render(
        state,
        context,
        "milestone.html",
        json!({
            "commitment": {"code": commitment.code, "title": commitment.title.get(lang)},
            "milestone": milestone_summary(milestone, lang, &titles, state.app.clock.today()),
            "description": milestone.description.get(lang),
            "blocker_reason": milestone.blocker_reason,
            "blocker_owner": milestone.blocker_owner,
            "evidence": evidence,
            "timeline": timeline,
            "can_update": can_update(&context.actor, commitment, milestone),
            "can_monitor": can_monitor,
            "tasks": tasks,
            "parent": parent,
            "statuses": MilestoneStatus::ALL.iter().map(|status| json!({"code": status.as_str(), "label": context.lang.t(&format!("status-{}", status.as_str()))})).collect::<Vec<_>>(),
            "form": form,
            "errors": translated_errors(context, errors),
        }),
    )?;
    Ok((status, page).into_response())
}

fn default_form(milestone: &Milestone) -> Value {
    Value::Object(
        EDITABLE_FIELDS
            .iter()
            .filter_map(|field| Some((field.to_string(), Value::String(milestone.field_text(field)?))))
            .collect(),
    )
}

pub async fn milestone(
    State(state): State<AppState>,
    context: RequestContext,
    Path((code, number)): Path<(String, i64)>,
) -> Result<Response, AppError> {
    let commitment = state.app.store.commitment(&code).await?;
    let milestone = state.app.store.milestone(commitment.id, number).await?;
    milestone_page(
        &state,
        &context,
        &commitment,
        &milestone,
        &FieldErrors::new(),
        default_form(&milestone),
        StatusCode::OK,
    )
    .await
}

/// Applies an update form to a milestone: every field is parsed, and every
/// problem reported at once.
pub async fn update(
    State(state): State<AppState>,
    context: RequestContext,
    Path((code, number)): Path<(String, i64)>,
    CheckedForm(pairs): CheckedForm,
) -> Result<Response, AppError> {
    let commitment = state.app.store.commitment(&code).await?;
    let before = state.app.store.milestone(commitment.id, number).await?;
    let evidence_note = form_value(&pairs, "evidence_note");
    let evidence = match (form_value(&pairs, "evidence_dataset"), form_value(&pairs, "evidence_url")) {
        (dataset, _) if !dataset.is_empty() => Some((NewEvidence::Dataset(dataset), evidence_note)),
        (_, url) if !url.is_empty() => Some((NewEvidence::Url(url), evidence_note)),
        _ => None,
    };
    let update = MilestoneUpdate {
        fields: EDITABLE_FIELDS.iter().map(|field| (field.to_string(), form_value(&pairs, field))).collect(),
        note: form_value(&pairs, "note"),
        evidence,
    };
    let outcome = datalab_app::accountability::update_milestone(
        &state.app,
        &context.actor,
        context.user.as_ref(),
        &commitment,
        &before,
        &update,
    )
    .await
    .map_err(AppError::from);
    match outcome {
        Ok(_) => Ok(redirect_local(&format!("/commitment/{}/milestone/{}", commitment.code, number))),
        Err(AppError::Validation(errors)) => {
            let form = super::form_echo(pairs);
            milestone_page(&state, &context, &commitment, &before, &errors, form, StatusCode::UNPROCESSABLE_ENTITY)
                .await
        }
        Err(other) => Err(other),
    }
}

/// The milestones as CSV, with the IRM completion scale: the export for the
/// end-of-commitment report.
pub async fn csv(State(state): State<AppState>, Path(code): Path<String>) -> Result<Response, AppError> {
    let commitment = state.app.store.commitment(&code).await?;
    let data = datalab_app::accountability::report(&state.app, &commitment).await?;
    Ok((
        [
            (axum::http::header::CONTENT_TYPE, "text/csv; charset=utf-8".to_string()),
            (
                axum::http::header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{}-hitos.csv\"", commitment.code),
            ),
        ],
        datalab_app::accountability::milestones_csv(&data),
    )
        .into_response())
}

pub async fn feed(
    State(state): State<AppState>,
    context: RequestContext,
    Path(code): Path<String>,
    request: axum::extract::Request,
) -> Result<Response, AppError> {
    let commitment = state.app.store.commitment(&code).await?;
    let events = state.app.store.commitment_events(commitment.id, &["status", "evidence"], 100).await?;
    let base = crate::links::base_url(&state, request.headers());
    Ok((
        [(axum::http::header::CONTENT_TYPE, "application/atom+xml; charset=utf-8")],
        crate::feeds::commitment_feed(&base, &commitment, &events, context.lang),
    )
        .into_response())
}

/// Problems of a bulk update as the page shows them: line, field, translated message.
fn row_errors_view(context: &RequestContext, errors: &[datalab_app::accountability::RowError]) -> Vec<Value> {
    errors
        .iter()
        .map(|error| {
            let detail = match &error.problem {
                datalab_app::accountability::RowProblem::Malformed(detail) => detail.clone(),
                _ => String::new(),
            };
            json!({"line": error.line, "field": error.field, "message": context.lang.t(&error.problem.code()), "detail": detail})
        })
        .collect()
}

fn planned_view(context: &RequestContext, planned: &[datalab_app::accountability::PlannedUpdate]) -> Vec<Value> {
    let show = |field: &str, value: &str| -> String {
        if field == "status" { context.lang.t(&format!("status-{value}")) } else { value.to_string() }
    };
    planned
        .iter()
        .flat_map(|update| {
            update.changes.iter().map(move |(field, before, after)| {
                json!({
                    "line": update.line,
                    "number": update.before.number,
                    "field": context.lang.t(&format!("milestone-field-{}", field.replace('_', "-"))),
                    "before": show(field, before),
                    "after": show(field, after),
                })
            })
        })
        .collect()
}

pub async fn import_form(
    State(state): State<AppState>,
    context: RequestContext,
    Path(code): Path<String>,
) -> Result<Response, AppError> {
    let commitment = state.app.store.commitment(&code).await?;
    if context.user.is_none() {
        return Ok(redirect_local(&format!("/user/login?next=/commitment/{}/import", commitment.code)));
    }
    let lang = context.lang.code();
    render(
        &state,
        &context,
        "milestone_import.html",
        json!({"commitment": {"code": commitment.code, "title": commitment.title.get(lang)}, "csv": "", "changes": [], "row_errors": [], "applied": Value::Null, "previewed": false}),
    )
}

/// Reads the import form: a CSV file or pasted text, and whether to apply.
async fn read_import_form(
    state: &AppState,
    context: &RequestContext,
    request: axum::extract::Request,
) -> Result<(Vec<u8>, bool), AppError> {
    use axum::extract::FromRequest;
    const LIMIT: usize = 2 * 1024 * 1024;
    let mut multipart = axum::extract::Multipart::from_request(request, state)
        .await
        .map_err(|error| AppError::BadRequest(error.to_string()))?;
    let (mut file, mut pasted, mut apply, mut csrf) = (Vec::new(), String::new(), false, String::new());
    let mut parts = 0;
    while let Some(mut field) = multipart.next_field().await.map_err(|error| AppError::BadRequest(error.to_string()))? {
        crate::forms::count_part(&mut parts)?;
        let name = field.name().unwrap_or("").to_string();
        let mut value = Vec::new();
        while let Some(chunk) = field.chunk().await.map_err(|error| AppError::BadRequest(error.to_string()))? {
            value.extend_from_slice(&chunk);
            if value.len() > LIMIT {
                return Err(AppError::PayloadTooLarge { limit: LIMIT as u64 });
            }
        }
        match name.as_str() {
            "csrf_token" => csrf = String::from_utf8_lossy(&value).into_owned(),
            "file" => file = value,
            "csv" => pasted = String::from_utf8_lossy(&value).into_owned(),
            "action" => apply = value == b"apply",
            _ => {}
        }
    }
    crate::context::verify_csrf(context, &csrf)?;
    Ok((if file.is_empty() { pasted.into_bytes() } else { file }, apply))
}

pub async fn import(
    State(state): State<AppState>,
    context: RequestContext,
    Path(code): Path<String>,
    request: axum::extract::Request,
) -> Result<Response, AppError> {
    let commitment = state.app.store.commitment(&code).await?;
    let user = context.user.clone().ok_or(AppError::NotAuthenticated)?;
    let (bytes, apply) = read_import_form(&state, &context, request).await?;
    let lang = context.lang.code();
    let plan =
        datalab_app::accountability::plan_import(&state.app, &context.actor, Some(user.id), &commitment, &bytes).await;
    let csv_text = String::from_utf8_lossy(&bytes).into_owned();
    let base = json!({"commitment": {"code": commitment.code, "title": commitment.title.get(lang)}, "csv": csv_text});
    let mut view = base.as_object().cloned().unwrap_or_default();
    let status = match plan {
        Err(errors) => {
            view.insert("row_errors".into(), json!(row_errors_view(&context, &errors)));
            view.insert("changes".into(), json!([]));
            StatusCode::UNPROCESSABLE_ENTITY
        }
        Ok(planned) if apply => {
            let entries = datalab_app::accountability::apply_import(&state.app, Some(user.id), &planned).await?;
            view.insert("applied".into(), json!({"milestones": planned.len(), "entries": entries}));
            view.insert("changes".into(), json!(planned_view(&context, &planned)));
            view.insert("csv".into(), json!(""));
            StatusCode::OK
        }
        Ok(planned) => {
            view.insert("changes".into(), json!(planned_view(&context, &planned)));
            view.insert("previewed".into(), json!(true));
            StatusCode::OK
        }
    };
    view.entry("row_errors").or_insert(json!([]));
    view.entry("applied").or_insert(Value::Null);
    view.entry("previewed").or_insert(json!(false));
    let page = render(&state, &context, "milestone_import.html", Value::Object(view))?;
    Ok((status, page).into_response())
}

async fn is_monitor(state: &AppState, context: &RequestContext, commitment: &Commitment) -> Result<bool, AppError> {
    Ok(datalab_app::accountability::is_monitor(&state.app, context.user.as_ref(), commitment).await?)
}

/// A monitor's comment on a milestone.
pub async fn comment(
    State(state): State<AppState>,
    context: RequestContext,
    Path((code, number)): Path<(String, i64)>,
    CheckedForm(pairs): CheckedForm,
) -> Result<Response, AppError> {
    let commitment = state.app.store.commitment(&code).await?;
    let milestone = state.app.store.milestone(commitment.id, number).await?;
    let outcome = datalab_app::accountability::comment_milestone(
        &state.app,
        &context.actor,
        context.user.as_ref(),
        &commitment,
        &milestone,
        &form_value(&pairs, "comment"),
    )
    .await;
    after_milestone_write(&state, &context, &commitment, &milestone, outcome).await
}

/// A monitor flags a piece of evidence as insufficient, with a reason.
pub async fn flag_evidence(
    State(state): State<AppState>,
    context: RequestContext,
    Path((code, number, evidence_id)): Path<(String, i64, Uuid)>,
    CheckedForm(pairs): CheckedForm,
) -> Result<Response, AppError> {
    let commitment = state.app.store.commitment(&code).await?;
    let milestone = state.app.store.milestone(commitment.id, number).await?;
    let outcome = datalab_app::accountability::flag_evidence(
        &state.app,
        &context.actor,
        context.user.as_ref(),
        &commitment,
        &milestone,
        evidence_id,
        &form_value(&pairs, "reason"),
    )
    .await;
    after_milestone_write(&state, &context, &commitment, &milestone, outcome).await
}

/// Sysadmins name a commitment's monitors.
pub async fn add_monitor(
    State(state): State<AppState>,
    context: RequestContext,
    Path(code): Path<String>,
    CheckedForm(pairs): CheckedForm,
) -> Result<Response, AppError> {
    context.actor.authorize(Action::ManageCommitments)?;
    let commitment = state.app.store.commitment(&code).await?;
    datalab_app::accountability::add_monitor(&state.app, &context.actor, &commitment, &form_value(&pairs, "username"))
        .await?;
    Ok(redirect_local(&format!("/commitment/{}", commitment.code)))
}

/// A printable end-of-commitment report: every milestone with its status,
/// the IRM completion scale, evidence and the latest notes.
pub async fn report(
    State(state): State<AppState>,
    context: RequestContext,
    Path(code): Path<String>,
) -> Result<Response, AppError> {
    let commitment = state.app.store.commitment(&code).await?;
    let milestones = state.app.store.milestones(commitment.id).await?;
    let lang = context.lang.code();
    let titles = organization_titles(&state).await?;
    let today = state.app.clock.today();
    let mut rows = Vec::new();
    for milestone in &milestones {
        let mut row = milestone_summary(milestone, lang, &titles, today);
        let mut evidence = Vec::new();
        for item in &milestone.evidence {
            evidence.push(
                evidence_view(
                    &state,
                    &context.actor,
                    context.lang,
                    &format!("/commitment/{}/milestone/{}", commitment.code, milestone.number),
                    item,
                )
                .await,
            );
        }
        row["evidence"] = json!(evidence);
        row["blocker_reason"] = json!(milestone.blocker_reason);
        let events = state.app.store.milestone_events(milestone.id).await?;
        row["last_note"] =
            json!(events.iter().rev().find(|event| !event.note.is_empty()).map(|event| event.note.clone()));
        rows.push(row);
    }
    let mut scale: Vec<(String, usize)> = Vec::new();
    for milestone in &milestones {
        let label = milestone.irm_completion().english().to_string();
        match scale.iter_mut().find(|(known, _)| *known == label) {
            Some(entry) => entry.1 += 1,
            None => scale.push((label, 1)),
        }
    }
    render(
        &state,
        &context,
        "commitment_report.html",
        json!({
            "commitment": {"code": commitment.code, "title": commitment.title.get(lang), "action_plan": commitment.action_plan.title.get(lang), "start": commitment.start, "end": commitment.end},
            "milestones": rows,
            "scale": scale.into_iter().map(|(label, count)| json!({"label": label, "count": count})).collect::<Vec<_>>(),
            "generated": today.to_string(),
        }),
    )
}

/// Uploads a document as evidence (stored by its SHA-256) for the members of
/// a responsible organization. The CSRF token must come before the file.
pub async fn upload_document(
    State(state): State<AppState>,
    context: RequestContext,
    Path((code, number)): Path<(String, i64)>,
    request: axum::extract::Request,
) -> Result<Response, AppError> {
    let commitment = state.app.store.commitment(&code).await?;
    let before = state.app.store.milestone(commitment.id, number).await?;
    context.actor.authorize_any(&update_actions(&commitment, &before))?;
    let super::UploadForm { fields, upload } =
        super::UploadForm::read(&state, &context, request, "document", 64 * 1024).await?;
    let note: String = form_value(&fields, "note").chars().take(2000).collect();
    let Some(upload) = upload else {
        let errors = FieldErrors::single("document", FieldError::Missing);
        return milestone_page(
            &state,
            &context,
            &commitment,
            &before,
            &errors,
            default_form(&before),
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
    };
    let attached = datalab_app::accountability::attach_document(
        &state.app,
        &context.actor,
        context.user.as_ref(),
        &commitment,
        &before,
        &upload,
        &note,
    )
    .await;
    if attached.is_err() {
        datalab_app::catalog::discard_upload(&state.app, &upload.0).await;
    }
    attached?;
    Ok(redirect_local(&format!("/commitment/{}/milestone/{}", commitment.code, number)))
}

/// Serves an uploaded evidence document (evidence is public, as the tracker is).
pub async fn download_document(
    State(state): State<AppState>,
    Path((code, number, evidence_id)): Path<(String, i64, Uuid)>,
) -> Result<Response, AppError> {
    let commitment = state.app.store.commitment(&code).await?;
    let milestone = state.app.store.milestone(commitment.id, number).await?;
    let evidence = milestone.evidence.iter().find(|item| item.id == evidence_id).ok_or(AppError::NotFound)?;
    let EvidenceTarget::Document { storage_key, filename, sha256 } = &evidence.target else {
        return Err(AppError::NotFound);
    };
    let reader = state.app.files.open(storage_key, None).await?;
    let mimetype = mime_guess::from_path(filename).first_or_octet_stream().essence_str().to_string();
    let encoded = percent_encoding::utf8_percent_encode(filename, percent_encoding::NON_ALPHANUMERIC).to_string();
    Ok((
        [
            (axum::http::header::CONTENT_TYPE, mimetype),
            (axum::http::header::CONTENT_LENGTH, reader.total_size.to_string()),
            (axum::http::header::ETAG, format!("\"{sha256}\"")),
            (axum::http::header::CONTENT_DISPOSITION, format!("attachment; filename*=UTF-8''{encoded}")),
            (axum::http::header::HeaderName::from_static("x-content-type-options"), "nosniff".to_string()),
        ],
        axum::body::Body::from_stream(reader.stream),
    )
        .into_response())
}

/// Adds a task under a milestone (members of a responsible organization).
pub async fn add_task(
    State(state): State<AppState>,
    context: RequestContext,
    Path((code, number)): Path<(String, i64)>,
    CheckedForm(pairs): CheckedForm,
) -> Result<Response, AppError> {
    let commitment = state.app.store.commitment(&code).await?;
    let parent = state.app.store.milestone(commitment.id, number).await?;
    let task = NewTask {
        title: datalab_core::accountability::Bilingual {
            es: form_value(&pairs, "title_es"),
            en: form_value(&pairs, "title_en"),
        },
        start: form_value(&pairs, "start"),
        end: form_value(&pairs, "end"),
        weight: form_value(&pairs, "weight"),
    };
    let outcome = datalab_app::accountability::add_task(
        &state.app,
        &context.actor,
        context.user.as_ref(),
        &commitment,
        &parent,
        task,
    )
    .await;
    after_milestone_write(&state, &context, &commitment, &parent, outcome).await
}

/// Follows or unfollows a commitment (anyone signed in).
pub async fn follow(
    State(state): State<AppState>,
    context: RequestContext,
    Path(code): Path<String>,
    CheckedForm(pairs): CheckedForm,
) -> Result<Response, AppError> {
    context.user.as_ref().ok_or(AppError::NotAuthenticated)?;
    let commitment = state.app.store.commitment(&code).await?;
    let follow = form_value(&pairs, "follow") != "false";
    datalab_app::accountability::follow_commitment(&state.app, context.user.as_ref(), &commitment, follow).await?;
    Ok(redirect_local(&format!("/commitment/{}", commitment.code)))
}

/// The latest status changes and evidence of the commitments a user follows.
pub async fn followed_updates(
    state: &AppState,
    context: &RequestContext,
    user_id: Uuid,
) -> Result<Vec<Value>, AppError> {
    let mut updates = Vec::new();
    for code in state.app.store.followed_commitments(user_id).await? {
        let commitment = state.app.store.commitment(&code).await?;
        let events =
            state.app.store.commitment_events(commitment.id, &["status", "evidence", "evidence_flag"], 10).await?;
        updates.push(json!({
            "code": commitment.code,
            "title": commitment.title.get(context.lang.code()),
            "events": events.iter().map(|(number, event)| json!({
                "number": number,
                "at": crate::timestamps::ckan_time(event.at),
                "field": context.lang.t(&format!("milestone-field-{}", event.field.replace('_', "-"))),
                "after": event.after.as_str().map(|status| context.lang.t(&format!("status-{status}"))).unwrap_or_default(),
            })).collect::<Vec<_>>(),
        }));
    }
    Ok(updates)
}

/// After a write from a milestone's page: back to the page, or the page
/// again with the write's field errors (422).
async fn after_milestone_write(
    state: &AppState,
    context: &RequestContext,
    commitment: &Commitment,
    milestone: &Milestone,
    outcome: Result<(), impl Into<AppError>>,
) -> Result<Response, AppError> {
    match outcome.map_err(Into::into) {
        Ok(()) => Ok(redirect_local(&format!("/commitment/{}/milestone/{}", commitment.code, milestone.number))),
        Err(AppError::Validation(errors)) => {
            milestone_page(
                state,
                context,
                commitment,
                milestone,
                &errors,
                default_form(milestone),
                StatusCode::UNPROCESSABLE_ENTITY,
            )
            .await
        }
        Err(other) => Err(other),
    }
}
