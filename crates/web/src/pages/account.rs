//! Registration, login, logout, and the user page with API tokens.

use axum::extract::{Path, Query, Request, State};
use axum::http::StatusCode;
use axum::http::header::SET_COOKIE;
use axum::response::{IntoResponse, Response};
use datalab_core::{Action, FieldError, FieldErrors};
use serde::Deserialize;
use serde_json::json;
use uuid::Uuid;

use super::{CheckedForm, checked_form, form_value, redirect_local, render, translated_errors};
use crate::AppState;
use crate::context::{RequestContext, SESSION_COOKIE, SESSION_LIFETIME_DAYS, cookie, set_cookie_header};
use crate::error::AppError;

#[derive(Deserialize)]
pub struct NextQuery {
    next: Option<String>,
}

pub async fn login_form(
    State(state): State<AppState>,
    context: RequestContext,
    Query(query): Query<NextQuery>,
) -> Result<Response, AppError> {
    render(&state, &context, "login.html", json!({"next": query.next.unwrap_or_default(), "failed": false, "form": {}}))
}

pub async fn login(
    State(state): State<AppState>,
    context: RequestContext,
    request: Request,
) -> Result<Response, AppError> {
    let address = crate::throttle::client_address(&state.settings, request.headers(), request.extensions());
    let body = axum::body::to_bytes(request.into_body(), 64 * 1024)
        .await
        .map_err(|_| AppError::BadRequest("form too large".into()))?;
    let pairs = checked_form(&context, &body)?;
    let account = form_value(&pairs, "login");
    let password = pairs.iter().find(|(key, _)| key == "password").map(|(_, value)| value.clone()).unwrap_or_default();
    let next = form_value(&pairs, "next");
    if state.login_limiter.is_blocked(&account, address) {
        return Err(AppError::TooManyRequests);
    }
    // The attempt counts before the password is checked: a burst of
    // requests sent at once gets no more tries than requests sent in turn.
    state.login_limiter.record_failure(&account, address);
    match state.app.store.verify_password(&account, &password).await? {
        Some(user) => {
            state.login_limiter.record_success(&account, address);
            let secret = state.app.store.create_session(user.id, time::Duration::days(SESSION_LIFETIME_DAYS)).await?;
            let mut response = redirect_local(if next.is_empty() { "/" } else { &next });
            let headers = response.headers_mut();
            headers.append(
                SET_COOKIE,
                set_cookie_header(
                    SESSION_COOKIE,
                    &secret.0,
                    SESSION_LIFETIME_DAYS * 24 * 3600,
                    state.settings.secure_cookies,
                ),
            );
            // A new CSRF token with the new session: a token planted before login is worthless after it.
            headers.append(
                SET_COOKIE,
                set_cookie_header(
                    crate::context::CSRF_COOKIE,
                    &crate::context::random_token(),
                    365 * 24 * 3600,
                    state.settings.secure_cookies,
                ),
            );
            Ok(response)
        }
        None => {
            let page = render(
                &state,
                &context,
                "login.html",
                json!({"next": next, "failed": true, "form": {"login": account}}),
            )?;
            Ok((StatusCode::UNAUTHORIZED, page).into_response())
        }
    }
}

pub async fn logout(
    State(state): State<AppState>,
    context: RequestContext,
    request: Request,
) -> Result<Response, AppError> {
    let session = cookie(request.headers(), SESSION_COOKIE);
    let body = axum::body::to_bytes(request.into_body(), 64 * 1024)
        .await
        .map_err(|_| AppError::BadRequest("form too large".into()))?;
    checked_form(&context, &body)?;
    if let Some(secret) = session {
        state.app.store.delete_session(&secret).await?;
    }
    let mut response = redirect_local("/");
    response.headers_mut().append(SET_COOKIE, set_cookie_header(SESSION_COOKIE, "", 0, state.settings.secure_cookies));
    Ok(response)
}

pub async fn register_form(State(state): State<AppState>, context: RequestContext) -> Result<Response, AppError> {
    render(&state, &context, "register.html", json!({"form": {}, "errors": {}}))
}

pub async fn register(
    State(state): State<AppState>,
    context: RequestContext,
    CheckedForm(pairs): CheckedForm,
) -> Result<Response, AppError> {
    let name = form_value(&pairs, "name");
    let fullname = form_value(&pairs, "fullname");
    let email = form_value(&pairs, "email");
    let password = pairs.iter().find(|(key, _)| key == "password").map(|(_, value)| value.clone()).unwrap_or_default();
    let confirmation = pairs
        .iter()
        .find(|(key, _)| key == "password_confirmation")
        .map(|(_, value)| value.clone())
        .unwrap_or_default();
    let outcome = if password != confirmation {
        Err(AppError::Validation(FieldErrors::single("password_confirmation", FieldError::UnknownValue)))
    } else {
        datalab_app::users::register(
            &state.app,
            datalab_store::NewUser {
                name: &name,
                fullname: &fullname,
                email: &email,
                password: &password,
                sysadmin: false,
            },
        )
        .await
        .map_err(AppError::from)
    };
    match outcome {
        Ok(user) => {
            let secret = state.app.store.create_session(user.id, time::Duration::days(SESSION_LIFETIME_DAYS)).await?;
            let mut response = redirect_local(&format!("/user/{}", user.name));
            response.headers_mut().append(
                SET_COOKIE,
                set_cookie_header(
                    SESSION_COOKIE,
                    &secret.0,
                    SESSION_LIFETIME_DAYS * 24 * 3600,
                    state.settings.secure_cookies,
                ),
            );
            Ok(response)
        }
        Err(AppError::Validation(errors)) => {
            let page = render(
                &state,
                &context,
                "register.html",
                json!({"form": {"name": name, "fullname": fullname, "email": email}, "errors": translated_errors(&context, &errors)}),
            )?;
            Ok((StatusCode::UNPROCESSABLE_ENTITY, page).into_response())
        }
        Err(other) => Err(other),
    }
}

async fn profile_page(
    state: &AppState,
    context: &RequestContext,
    name: &str,
    new_token: Option<(String, String)>,
    errors: &FieldErrors,
    status: StatusCode,
) -> Result<Response, AppError> {
    let user = state.app.store.user(name).await?;
    let is_owner = context.actor.can(Action::ReadUserPrivate { user: user.id });
    let tokens = if is_owner { state.app.store.api_tokens(user.id).await? } else { Vec::new() };
    let memberships = state.app.store.memberships(user.id).await?;
    let mut organizations = Vec::new();
    for (organization_id, capacity) in memberships {
        let organization = state.app.store.organization(&organization_id.to_string()).await?;
        organizations.push(json!({"name": organization.name, "title": organization.title, "role": context.lang.t(&format!("role-{}", capacity.as_str()))}));
    }
    let activities = datalab_app::catalog::visible_activities(
        &state.app,
        &context.actor,
        datalab_store::ActivityScope::User(user.id),
        20,
        0,
    )
    .await?;
    let page = render(
        state,
        context,
        "user.html",
        json!({
            "profile": {"name": user.name, "fullname": user.fullname, "about": user.about, "email": if is_owner { user.email.clone() } else { String::new() }, "sysadmin": user.sysadmin, "created": crate::timestamps::ckan_time(user.created)},
            "is_owner": is_owner,
            "tokens": tokens.iter().map(|token| json!({"id": token.id, "name": token.name, "created": crate::timestamps::ckan_time(token.created), "last_used": token.last_used.map(crate::timestamps::ckan_time)})).collect::<Vec<_>>(),
            "new_token": new_token.map(|(name, secret)| json!({"name": name, "secret": secret})),
            "organizations": organizations,
            "activities": super::activity_view(&activities),
            "followed": if is_owner { super::accountability::followed_updates(state, context, user.id).await? } else { Vec::new() },
            "errors": translated_errors(context, errors),
        }),
    )?;
    Ok((status, page).into_response())
}

pub async fn profile(
    State(state): State<AppState>,
    context: RequestContext,
    Path(name): Path<String>,
) -> Result<Response, AppError> {
    profile_page(&state, &context, &name, None, &FieldErrors::new(), StatusCode::OK).await
}

pub async fn create_token(
    State(state): State<AppState>,
    context: RequestContext,
    Path(name): Path<String>,
    CheckedForm(pairs): CheckedForm,
) -> Result<Response, AppError> {
    let user = state.app.store.user(&name).await?;
    context.actor.authorize(Action::ManageTokens { user: user.id })?;
    let token_name = form_value(&pairs, "token_name");
    match datalab_app::users::create_token(&state.app, &context.actor, &user, &token_name).await {
        Ok((token, secret)) => {
            profile_page(&state, &context, &name, Some((token.name, secret.0)), &FieldErrors::new(), StatusCode::OK)
                .await
        }
        Err(datalab_app::Error::Validation(errors)) => {
            let errors = FieldErrors(errors.0.into_values().map(|codes| ("token_name".to_string(), codes)).collect());
            profile_page(&state, &context, &name, None, &errors, StatusCode::UNPROCESSABLE_ENTITY).await
        }
        Err(other) => Err(other.into()),
    }
}

pub async fn revoke_token(
    State(state): State<AppState>,
    context: RequestContext,
    Path((name, token_id)): Path<(String, Uuid)>,
    _form: CheckedForm,
) -> Result<Response, AppError> {
    datalab_app::users::revoke_token(&state.app, &context.actor, token_id).await?;
    Ok(redirect_local(&format!("/user/{name}")))
}
