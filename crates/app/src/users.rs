//! People's API tokens: created and revoked by their owner (or a
//! sysadmin), as the policy says. A token's secret is shown once, when it
//! is created; only its SHA-256 is stored.

use datalab_core::{Action, Actor, ApiToken, User};
use datalab_store::TokenSecret;
use uuid::Uuid;

use crate::{App, Error};

/// Signs a person up: anyone may (the account has no rights until an
/// organization makes it a member); the name, e-mail and password rules
/// are the store's.
pub async fn register(app: &App, new_user: datalab_store::NewUser<'_>) -> Result<User, Error> {
    Ok(app.store.create_user(new_user).await?)
}

/// Sets a person's password: they themselves, or a sysadmin (the
/// command line acts as one). The password rules are the store's.
pub async fn set_password(app: &App, actor: &Actor, user: &User, password: &str) -> Result<(), Error> {
    actor.authorize(Action::ManageAccount { user: user.id })?;
    Ok(app.store.set_password(user.id, password).await?)
}

/// A new API token for `owner`, named `name` (required).
pub async fn create_token(
    app: &App,
    actor: &Actor,
    owner: &User,
    name: &str,
) -> Result<(ApiToken, TokenSecret), Error> {
    actor.authorize(Action::ManageTokens { user: owner.id })?;
    Ok(app.store.create_api_token(owner.id, name).await?)
}

/// Revokes a token; it authenticates nothing from then on.
pub async fn revoke_token(app: &App, actor: &Actor, token_id: Uuid) -> Result<(), Error> {
    let owner = app.store.api_token_owner(token_id).await?;
    actor.authorize(Action::ManageTokens { user: owner })?;
    Ok(app.store.revoke_api_token(token_id).await?)
}
