//! The tracker's watchers: monitors (named by sysadmins) comment on
//! milestones and flag evidence as insufficient; anyone signed in may
//! follow a commitment.

use datalab_core::accountability::{Commitment, Milestone};
use datalab_core::{Action, Actor, FieldError, FieldErrors, User};
use uuid::Uuid;

use crate::{App, Error};

/// Whether `user` is one of the commitment's monitors.
pub async fn is_monitor(app: &App, user: Option<&User>, commitment: &Commitment) -> Result<bool, Error> {
    let Some(user) = user else { return Ok(false) };
    Ok(app.store.monitors(commitment.id).await?.iter().any(|(id, _)| *id == user.id))
}

/// What a monitor's action asks of the policy.
async fn monitor_action(app: &App, user: Option<&User>, commitment: &Commitment) -> Result<Action, Error> {
    Ok(Action::Monitor { assigned_monitor: is_monitor(app, user, commitment).await? })
}

/// A monitor's comment on a milestone, in its timeline.
pub async fn comment_milestone(
    app: &App,
    actor: &Actor,
    user: Option<&User>,
    commitment: &Commitment,
    milestone: &Milestone,
    comment: &str,
) -> Result<(), Error> {
    actor.authorize(monitor_action(app, user, commitment).await?)?;
    app.store.add_milestone_comment(user.map(|user| user.id), milestone.id, comment).await?;
    crate::events::catch_up(app).await;
    Ok(())
}

/// A monitor flags a piece of a milestone's evidence as insufficient, with a reason.
pub async fn flag_evidence(
    app: &App,
    actor: &Actor,
    user: Option<&User>,
    commitment: &Commitment,
    milestone: &Milestone,
    evidence: Uuid,
    reason: &str,
) -> Result<(), Error> {
    actor.authorize(monitor_action(app, user, commitment).await?)?;
    app.store.flag_evidence(user.map(|user| user.id), milestone.id, evidence, reason).await?;
    crate::events::catch_up(app).await;
    Ok(())
}

/// Names the user `username` a monitor of the commitment (sysadmins).
pub async fn add_monitor(app: &App, actor: &Actor, commitment: &Commitment, username: &str) -> Result<(), Error> {
    actor.authorize(Action::ManageCommitments)?;
    let user = app.store.user(username).await.map_err(|error| match error {
        datalab_store::StoreError::NotFound => {
            Error::Validation(FieldErrors::single("username", FieldError::UnknownValue))
        }
        other => other.into(),
    })?;
    Ok(app.store.add_monitor(commitment.id, user.id).await?)
}

/// Follows (or stops following) a commitment; anyone signed in.
pub async fn follow_commitment(
    app: &App,
    user: Option<&User>,
    commitment: &Commitment,
    follow: bool,
) -> Result<(), Error> {
    let user = user.ok_or(Error::NotAuthenticated)?;
    Ok(app.store.set_following(commitment.id, user.id, follow).await?)
}
