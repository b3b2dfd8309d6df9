//! Who is asking, in which language: the request context every handler gets.
//!
//! Pages authenticate with a server-side session (an HttpOnly, SameSite=Lax
//! cookie holding a random id; only its hash is stored). APIs authenticate
//! only with a token in the `Authorization` (or CKAN's `X-CKAN-API-Key`)
//! header and ignore cookies, so a third-party site can never make a
//! signed-in browser call the API. An invalid token is an error, never a
//! silent anonymous request.
//!
//! Every form carries a CSRF token, compared in constant time. For a
//! signed-in browser it is derived from the session's secret, so it is
//! bound to that session: a token planted in a cookie, or one from before
//! sign-in, is worth nothing. Before sign-in it equals the `datalab_csrf`
//! cookie (double submit). SameSite cookies are the second line of defence.

use axum::extract::{FromRequestParts, Request, State};
use axum::http::HeaderMap;
use axum::http::header::SET_COOKIE;
use axum::http::request::Parts;
use axum::middleware::Next;
use axum::response::Response;
use datalab_core::{Actor, User};
use rand::RngCore;

use crate::AppState;
pub use crate::cookies::{cookie, set_cookie_header};
use crate::error::AppError;
use crate::i18n::{LANG_COOKIE, Lang};

pub const SESSION_COOKIE: &str = "datalab_session";
pub const CSRF_COOKIE: &str = "datalab_csrf";
pub const SESSION_LIFETIME_DAYS: i64 = 14;

/// What a page handler knows about the request.
#[derive(Debug, Clone)]
pub struct RequestContext {
    pub lang: Lang,
    pub user: Option<User>,
    pub actor: Actor,
    pub csrf_token: String,
    /// The path and query, for the language switch and the login redirect.
    pub path_and_query: String,
}

impl<S: Send + Sync> FromRequestParts<S> for RequestContext {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<RequestContext>()
            .cloned()
            .ok_or_else(|| AppError::internal("request context middleware is missing"))
    }
}

pub fn random_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    hex::encode(bytes)
}

/// Compares secrets in time independent of where they differ.
pub fn constant_time_equal(left: &str, right: &str) -> bool {
    left.len() == right.len() && left.bytes().zip(right.bytes()).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0
}

/// Builds the actor of a signed-in user: their roles in every organization.
pub async fn actor_for(state: &AppState, user: &User) -> Result<Actor, AppError> {
    let memberships = state.app.store.memberships(user.id).await?;
    Ok(Actor::user(user.id, user.sysadmin, memberships))
}

/// The middleware that fills [`RequestContext`] for every request.
pub async fn request_context(State(state): State<AppState>, mut request: Request, next: Next) -> Response {
    let lang = Lang::from_request(&request);
    let lang_from_query =
        request.uri().query().is_some_and(|query| query.split('&').any(|pair| pair.starts_with("lang=")));
    let existing_csrf = cookie(request.headers(), CSRF_COOKIE)
        .filter(|token| token.len() == 64 && token.bytes().all(|byte| byte.is_ascii_hexdigit()));
    let mut csrf_token = existing_csrf.clone().unwrap_or_else(random_token);
    let is_api = request.uri().path().starts_with("/api/");
    let mut user = None;
    if !is_api && let Some(secret) = cookie(request.headers(), SESSION_COOKIE) {
        match state.app.store.user_for_session(&secret).await {
            Ok(found) => {
                if found.is_some() {
                    csrf_token = session_csrf_token(&secret);
                }
                user = found;
            }
            Err(error) => tracing::error!(%error, "session lookup failed"),
        }
    }
    let actor = match &user {
        Some(user) => match actor_for(&state, user).await {
            Ok(actor) => actor,
            Err(error) => {
                error.log();
                Actor::anonymous()
            }
        },
        None => Actor::anonymous(),
    };
    let path_and_query =
        request.uri().path_and_query().map(|value| value.as_str().to_string()).unwrap_or_else(|| "/".into());
    request.extensions_mut().insert(RequestContext {
        lang,
        user,
        actor,
        csrf_token: csrf_token.clone(),
        path_and_query,
    });
    let mut response = next.run(request).await;
    let secure = state.settings.secure_cookies;
    if existing_csrf.is_none() && !is_api {
        response
            .headers_mut()
            .append(SET_COOKIE, set_cookie_header(CSRF_COOKIE, &csrf_token, 60 * 60 * 24 * 365, secure));
    }
    if lang_from_query {
        response
            .headers_mut()
            .append(SET_COOKIE, set_cookie_header(LANG_COOKIE, lang.code(), 60 * 60 * 24 * 365, secure));
    }
    response
}

/// The CSRF token of a session: a hash of its secret, which only the
/// HttpOnly session cookie carries.
pub fn session_csrf_token(session_secret: &str) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(format!("datalab-csrf:{session_secret}").as_bytes()))
}

/// Checks a submitted form's CSRF token against the session's (or, before sign-in, the cookie's).
pub fn verify_csrf(context: &RequestContext, submitted: &str) -> Result<(), AppError> {
    if !submitted.is_empty() && constant_time_equal(&context.csrf_token, submitted) {
        Ok(())
    } else {
        Err(AppError::Csrf)
    }
}

/// The API caller: anonymous without a token, the token's owner with a
/// valid one, an error with an invalid one.
/// The caller of an API, by its token (`Authorization`, or CKAN's
/// `X-CKAN-API-Key`): anonymous without one; a token that is not known is
/// refused, never taken for anonymous. APIs ignore cookies.
pub struct ApiCaller {
    pub actor: Actor,
    pub user: Option<User>,
}

impl axum::extract::FromRequestParts<AppState> for ApiCaller {
    type Rejection = axum::response::Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        use axum::response::IntoResponse;
        match api_caller(state, &parts.headers).await {
            Ok((actor, user)) => Ok(ApiCaller { actor, user }),
            // An unknown or revoked token: the credentials are wrong (401,
            // as RFC 6750 says), which is not the same as lacking a right.
            Err(AppError::Forbidden) => {
                let mut response = crate::error::ApiError::from(AppError::NotAuthenticated).into_response();
                *response.status_mut() = axum::http::StatusCode::UNAUTHORIZED;
                response.headers_mut().insert(
                    axum::http::header::WWW_AUTHENTICATE,
                    axum::http::HeaderValue::from_static("Bearer error=\"invalid_token\""),
                );
                Err(response)
            }
            Err(other) => Err(crate::error::ApiError::from(other).into_response()),
        }
    }
}

pub async fn api_caller(state: &AppState, headers: &HeaderMap) -> Result<(Actor, Option<User>), AppError> {
    let token = headers
        .get(axum::http::header::AUTHORIZATION)
        .or_else(|| headers.get("X-CKAN-API-Key"))
        .and_then(|value| value.to_str().ok())
        .map(|value| value.trim().strip_prefix("Bearer ").unwrap_or(value.trim()).to_string())
        .filter(|value| !value.is_empty());
    let Some(token) = token else { return Ok((Actor::anonymous(), None)) };
    let user = state.app.store.user_for_api_token(&token).await?.ok_or(AppError::Forbidden)?;
    let actor = actor_for(state, &user).await?;
    Ok((actor, Some(user)))
}
