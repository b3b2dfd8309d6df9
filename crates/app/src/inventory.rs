//! The data inventory: what an organization holds and what is still
//! missing, kept by its editors.

use datalab_core::inventory::InventoryItem;
use datalab_core::{Action, Actor, User};

use crate::{App, Error};

/// Adds or changes an item of its organization's inventory.
pub async fn save_item(app: &App, actor: &Actor, user: Option<&User>, item: &InventoryItem) -> Result<(), Error> {
    actor.authorize(Action::ManageInventory { organization: item.organization_id })?;
    app.store.save_inventory_item(user.map(|user| user.id), item).await?;
    Ok(())
}
