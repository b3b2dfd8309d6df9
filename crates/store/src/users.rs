//! Users, their API tokens and browser sessions.
//!
//! Passwords are hashed with argon2id. API tokens and session ids are random
//! secrets shown once; only their SHA-256 is stored, so a leaked database does
//! not leak working credentials.

use std::collections::HashMap;

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use datalab_core::{ApiToken, Capacity, FieldError, FieldErrors, State, User};
use rand::RngCore;
use sha2::{Digest, Sha256};
use sqlx::Row;
use sqlx::sqlite::SqliteRow;
use time::Duration;
use uuid::Uuid;

use crate::{Store, StoreError, StoreResult, format_time, is_unique_violation, now, parse_time, parse_uuid};

pub struct NewUser<'a> {
    pub name: &'a str,
    pub fullname: &'a str,
    pub email: &'a str,
    pub password: &'a str,
    pub sysadmin: bool,
}

/// A freshly made secret (API token or session id), shown to its owner once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenSecret(pub String);

fn random_secret(prefix: &str) -> TokenSecret {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    TokenSecret(format!("{prefix}{}", hex::encode(bytes)))
}

fn secret_hash(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// Password hashes computed at once. Argon2 takes tens of milliseconds of
/// a core and 19 MiB by design: a burst of sign-ins waits here, on
/// blocking threads, instead of stalling the async workers every request
/// shares.
static HASHING: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(2);

/// Runs `work` (argon2) on a blocking thread, at most [`HASHING`]'s slots at once.
async fn hashing<T: Send + 'static>(work: impl FnOnce() -> T + Send + 'static) -> StoreResult<T> {
    let _slot = HASHING.acquire().await.expect("the semaphore is never closed");
    tokio::task::spawn_blocking(work).await.map_err(|error| StoreError::Corrupt(format!("password hashing: {error}")))
}

pub(crate) fn hash_password(password: &str) -> String {
    let salt = SaltString::generate(&mut argon2::password_hash::rand_core::OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .expect("argon2 hashing cannot fail with default parameters")
        .to_string()
}

fn user_from_row(row: &SqliteRow) -> StoreResult<User> {
    Ok(User {
        id: parse_uuid(row.try_get("id")?)?,
        name: row.try_get("name")?,
        fullname: row.try_get("fullname")?,
        email: row.try_get("email")?,
        about: row.try_get("about")?,
        sysadmin: row.try_get::<i64, _>("sysadmin")? != 0,
        state: State::parse(row.try_get("state")?).unwrap_or(State::Active),
        created: parse_time(row.try_get("created")?)?,
    })
}

const USER_COLUMNS: &str = "id, name, fullname, email, about, sysadmin, state, created";

impl Store {
    pub async fn create_user(&self, new_user: NewUser<'_>) -> StoreResult<User> {
        datalab_core::validation::validate_registration(new_user.name, new_user.email, new_user.password)
            .into_result()?;
        let user = User {
            id: Uuid::new_v4(),
            name: new_user.name.to_string(),
            fullname: new_user.fullname.trim().to_string(),
            email: new_user.email.trim().to_string(),
            about: String::new(),
            sysadmin: new_user.sysadmin,
            state: State::Active,
            created: now(),
        };
        let password = new_user.password.to_string();
        let password_hash = hashing(move || hash_password(&password)).await?;
        let result = sqlx::query(
            "INSERT INTO users (id, name, fullname, email, about, password_hash, sysadmin, state, created) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, 'active', $8)",
        )
        .bind(user.id.to_string())
        .bind(&user.name)
        .bind(&user.fullname)
        .bind(&user.email)
        .bind(&user.about)
        .bind(password_hash)
        .bind(user.sysadmin as i64)
        .bind(format_time(user.created))
        .execute(&self.writer)
        .await;
        match result {
            Ok(_) => Ok(user),
            Err(error) if is_unique_violation(&error) => {
                let field = if error.to_string().contains("email") { "email" } else { "name" };
                Err(FieldErrors::single(field, FieldError::NameTaken).into())
            }
            Err(error) => Err(error.into()),
        }
    }

    /// Sets a new password (the `admin create-user` command re-run on an existing user).
    pub async fn set_password(&self, user_id: Uuid, password: &str) -> StoreResult<()> {
        if password.chars().count() < 8 {
            return Err(FieldErrors::single("password", FieldError::PasswordTooShort).into());
        }
        sqlx::query("UPDATE users SET password_hash = $1 WHERE id = $2")
            .bind(hash_password(password))
            .bind(user_id.to_string())
            .execute(&self.writer)
            .await?;
        Ok(())
    }

    pub async fn user(&self, id_or_name: &str) -> StoreResult<User> {
        let (id, name) = crate::id_or_name(id_or_name);
        let row = sqlx::query(&format!("SELECT {USER_COLUMNS} FROM users WHERE id = $1 OR name = $2"))
            .bind(id.unwrap_or_default())
            .bind(name)
            .fetch_optional(&self.reader)
            .await?
            .ok_or(StoreError::NotFound)?;
        user_from_row(&row)
    }

    pub async fn users(&self) -> StoreResult<Vec<User>> {
        let rows =
            sqlx::query(&format!("SELECT {USER_COLUMNS} FROM users ORDER BY name")).fetch_all(&self.reader).await?;
        rows.iter().map(user_from_row).collect()
    }

    /// Checks a password for a user given by name or e-mail. Returns `None`
    /// for an unknown user or a wrong password alike, so callers cannot tell
    /// which accounts exist. Unknown users still cost one hash, for the same reason.
    pub async fn verify_password(&self, name_or_email: &str, password: &str) -> StoreResult<Option<User>> {
        let row = sqlx::query(&format!(
            "SELECT {USER_COLUMNS}, password_hash FROM users WHERE (name = $1 OR email = $1) AND state = 'active'"
        ))
        .bind(name_or_email.trim())
        .fetch_optional(&self.reader)
        .await?;
        let password = password.to_string();
        let Some(row) = row else {
            hashing(move || hash_password(&password)).await?;
            return Ok(None);
        };
        let stored: String = row.try_get("password_hash")?;
        PasswordHash::new(&stored).map_err(|error| StoreError::Corrupt(format!("password hash: {error}")))?;
        let matches = hashing(move || {
            PasswordHash::new(&stored)
                .is_ok_and(|parsed| Argon2::default().verify_password(password.as_bytes(), &parsed).is_ok())
        })
        .await?;
        if matches { Ok(Some(user_from_row(&row)?)) } else { Ok(None) }
    }

    /// The user's role in each organization they belong to.
    pub async fn memberships(&self, user_id: Uuid) -> StoreResult<HashMap<Uuid, Capacity>> {
        let rows = sqlx::query("SELECT organization_id, capacity FROM memberships WHERE user_id = $1")
            .bind(user_id.to_string())
            .fetch_all(&self.reader)
            .await?;
        let mut memberships = HashMap::new();
        for row in rows {
            let capacity: String = row.try_get("capacity")?;
            let capacity =
                Capacity::parse(&capacity).ok_or_else(|| StoreError::Corrupt(format!("capacity {capacity:?}")))?;
            memberships.insert(parse_uuid(row.try_get("organization_id")?)?, capacity);
        }
        Ok(memberships)
    }

    pub async fn create_api_token(&self, user_id: Uuid, name: &str) -> StoreResult<(ApiToken, TokenSecret)> {
        let name = name.trim();
        if name.is_empty() {
            return Err(FieldErrors::single("name", FieldError::Missing).into());
        }
        if name.chars().count() > 100 {
            return Err(FieldErrors::single("name", FieldError::TooLong).into());
        }
        let secret = random_secret("dl_");
        let token = ApiToken { id: Uuid::new_v4(), user_id, name: name.to_string(), created: now(), last_used: None };
        sqlx::query("INSERT INTO api_tokens (id, user_id, name, token_hash, created) VALUES ($1, $2, $3, $4, $5)")
            .bind(token.id.to_string())
            .bind(user_id.to_string())
            .bind(&token.name)
            .bind(secret_hash(&secret.0))
            .bind(format_time(token.created))
            .execute(&self.writer)
            .await?;
        Ok((token, secret))
    }

    pub async fn api_tokens(&self, user_id: Uuid) -> StoreResult<Vec<ApiToken>> {
        let rows = sqlx::query(
            "SELECT id, user_id, name, created, last_used FROM api_tokens WHERE user_id = $1 ORDER BY created",
        )
        .bind(user_id.to_string())
        .fetch_all(&self.reader)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(ApiToken {
                    id: parse_uuid(row.try_get("id")?)?,
                    user_id: parse_uuid(row.try_get("user_id")?)?,
                    name: row.try_get("name")?,
                    created: parse_time(row.try_get("created")?)?,
                    last_used: row.try_get::<Option<String>, _>("last_used")?.as_deref().map(parse_time).transpose()?,
                })
            })
            .collect()
    }

    /// The owner of a token id, to authorize its revocation.
    pub async fn api_token_owner(&self, token_id: Uuid) -> StoreResult<Uuid> {
        let owner: String = sqlx::query_scalar("SELECT user_id FROM api_tokens WHERE id = $1")
            .bind(token_id.to_string())
            .fetch_optional(&self.reader)
            .await?
            .ok_or(StoreError::NotFound)?;
        parse_uuid(&owner)
    }

    pub async fn revoke_api_token(&self, token_id: Uuid) -> StoreResult<()> {
        let done = sqlx::query("DELETE FROM api_tokens WHERE id = $1")
            .bind(token_id.to_string())
            .execute(&self.writer)
            .await?;
        if done.rows_affected() == 0 { Err(StoreError::NotFound) } else { Ok(()) }
    }

    /// Finds the active user a token secret belongs to.
    pub async fn user_for_api_token(&self, secret: &str) -> StoreResult<Option<User>> {
        let hash = secret_hash(secret);
        let row = sqlx::query(&format!(
            "SELECT {} , api_tokens.id AS token_id, api_tokens.last_used AS last_used FROM api_tokens JOIN users ON users.id = api_tokens.user_id \
             WHERE api_tokens.token_hash = $1 AND users.state = 'active'",
            USER_COLUMNS.split(", ").map(|column| format!("users.{column}")).collect::<Vec<_>>().join(", ")
        ))
        .bind(&hash)
        .fetch_optional(&self.reader)
        .await?;
        let Some(row) = row else { return Ok(None) };
        // Record use at most once a minute: a token used in a tight loop must
        // not turn every read into a write.
        let last_used: Option<String> = row.try_get("last_used")?;
        let stale = match last_used.as_deref().map(parse_time).transpose()? {
            Some(moment) => now() - moment > Duration::minutes(1),
            None => true,
        };
        if stale {
            sqlx::query("UPDATE api_tokens SET last_used = $1 WHERE token_hash = $2")
                .bind(format_time(now()))
                .bind(&hash)
                .execute(&self.writer)
                .await?;
        }
        Ok(Some(user_from_row(&row)?))
    }

    pub async fn create_session(&self, user_id: Uuid, lifetime: Duration) -> StoreResult<TokenSecret> {
        let secret = random_secret("");
        let created = now();
        sqlx::query("INSERT INTO sessions (token_hash, user_id, created, expires) VALUES ($1, $2, $3, $4)")
            .bind(secret_hash(&secret.0))
            .bind(user_id.to_string())
            .bind(format_time(created))
            .bind(format_time(created + lifetime))
            .execute(&self.writer)
            .await?;
        // Sweep expired sessions while here; cheap with few rows to drop.
        sqlx::query("DELETE FROM sessions WHERE expires < $1").bind(format_time(created)).execute(&self.writer).await?;
        Ok(secret)
    }

    pub async fn user_for_session(&self, secret: &str) -> StoreResult<Option<User>> {
        let row = sqlx::query(&format!(
            "SELECT {} FROM sessions JOIN users ON users.id = sessions.user_id \
             WHERE sessions.token_hash = $1 AND sessions.expires > $2 AND users.state = 'active'",
            USER_COLUMNS.split(", ").map(|column| format!("users.{column}")).collect::<Vec<_>>().join(", ")
        ))
        .bind(secret_hash(secret))
        .bind(format_time(now()))
        .fetch_optional(&self.reader)
        .await?;
        row.as_ref().map(user_from_row).transpose()
    }

    pub async fn delete_session(&self, secret: &str) -> StoreResult<()> {
        sqlx::query("DELETE FROM sessions WHERE token_hash = $1")
            .bind(secret_hash(secret))
            .execute(&self.writer)
            .await?;
        Ok(())
    }
}

impl Store {
    /// The id and owner of the token with this secret, to revoke it by value
    /// (CKAN's `api_token_revoke` with `token`).
    pub async fn api_token_by_secret(&self, secret: &str) -> StoreResult<Option<(Uuid, Uuid)>> {
        let row = sqlx::query("SELECT id, user_id FROM api_tokens WHERE token_hash = $1")
            .bind(secret_hash(secret))
            .fetch_optional(&self.reader)
            .await?;
        row.map(|row| Ok((parse_uuid(row.try_get("id")?)?, parse_uuid(row.try_get("user_id")?)?))).transpose()
    }
}
