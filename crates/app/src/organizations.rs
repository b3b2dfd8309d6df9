//! Organizations, their members, and themes (groups): each command asks
//! the policy, then writes the change with its event in one transaction;
//! search follows the organization's changes from the event log (its name
//! and title are in its datasets' entries).

use datalab_core::{Action, Actor, Capacity, Group, Organization, User};

use crate::{App, Error};

fn by(user: Option<&User>) -> Option<uuid::Uuid> {
    user.map(|user| user.id)
}

pub async fn create_organization(
    app: &App,
    actor: &Actor,
    user: Option<&User>,
    organization: &Organization,
) -> Result<(), Error> {
    actor.authorize(Action::CreateOrganization)?;
    app.store.create_organization(by(user), organization).await?;
    crate::events::catch_up(app).await;
    Ok(())
}

/// Saves `after` over the organization it has the id of.
pub async fn update_organization(
    app: &App,
    actor: &Actor,
    user: Option<&User>,
    after: &Organization,
) -> Result<(), Error> {
    actor.authorize(Action::UpdateOrganization { organization: after.id })?;
    app.store.update_organization(by(user), after).await?;
    crate::events::catch_up(app).await;
    Ok(())
}

/// Makes `member` a member of `organization` with `capacity` (or changes
/// the capacity of one who is).
pub async fn set_membership(
    app: &App,
    actor: &Actor,
    user: Option<&User>,
    organization: &Organization,
    member: &User,
    capacity: Capacity,
) -> Result<(), Error> {
    actor.authorize(Action::ManageMembers { organization: organization.id })?;
    app.store.set_membership(by(user), organization, member, capacity).await?;
    Ok(())
}

pub async fn remove_membership(
    app: &App,
    actor: &Actor,
    user: Option<&User>,
    organization: &Organization,
    member: &User,
) -> Result<(), Error> {
    actor.authorize(Action::ManageMembers { organization: organization.id })?;
    app.store.remove_membership(by(user), organization, member).await?;
    Ok(())
}

pub async fn create_group(app: &App, actor: &Actor, user: Option<&User>, group: &Group) -> Result<(), Error> {
    actor.authorize(Action::CreateGroup)?;
    app.store.create_group(by(user), group).await?;
    crate::events::catch_up(app).await;
    Ok(())
}
