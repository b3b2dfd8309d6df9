//! Organizations (publishers), their members, and groups (themes).

use datalab_core::{
    Capacity, FieldError, FieldErrors, Group, Organization, OrganizationKind, State, User, diff_snapshots,
};
use sqlx::Row;
use sqlx::sqlite::SqliteRow;
use uuid::Uuid;

use crate::activity::{NewActivity, record};
use crate::{Store, StoreError, StoreResult, format_time, name_taken_on_conflict, parse_time, parse_uuid};

#[derive(Debug, Clone, PartialEq)]
pub struct Member {
    pub user: User,
    pub capacity: Capacity,
}

fn organization_from_row(row: &SqliteRow) -> StoreResult<Organization> {
    let kind: String = row.try_get("kind")?;
    Ok(Organization {
        id: parse_uuid(row.try_get("id")?)?,
        name: row.try_get("name")?,
        title: row.try_get("title")?,
        description: row.try_get("description")?,
        image_url: row.try_get("image_url")?,
        kind: OrganizationKind::parse(&kind)
            .ok_or_else(|| StoreError::Corrupt(format!("organization kind {kind:?}")))?,
        state: State::parse(row.try_get("state")?).unwrap_or(State::Active),
        created: parse_time(row.try_get("created")?)?,
    })
}

fn group_from_row(row: &SqliteRow) -> StoreResult<Group> {
    Ok(Group {
        id: parse_uuid(row.try_get("id")?)?,
        name: row.try_get("name")?,
        title: row.try_get("title")?,
        description: row.try_get("description")?,
        image_url: row.try_get("image_url")?,
        state: State::parse(row.try_get("state")?).unwrap_or(State::Active),
        created: parse_time(row.try_get("created")?)?,
    })
}

/// Records a role change (`before`/`after` are capacities, `None` for "not a member").
async fn record_membership_change(
    connection: &mut sqlx::SqliteConnection,
    by_user: Option<Uuid>,
    organization: &Organization,
    user: &User,
    before: Option<String>,
    after: Option<String>,
) -> StoreResult<()> {
    let value = |capacity: Option<String>| capacity.map(serde_json::Value::String).unwrap_or_default();
    record(
        connection,
        NewActivity {
            user_id: by_user,
            activity_type: "changed organization",
            object_id: organization.id,
            object_name: &organization.name,
            organization_id: Some(organization.id),
            dataset_id: None,
            changes: vec![datalab_core::FieldChange {
                field: format!("member:{}", user.name),
                before: value(before),
                after: value(after),
            }],
        },
    )
    .await
}

fn snapshot<T: serde::Serialize>(value: &T) -> serde_json::Value {
    serde_json::to_value(value).expect("domain objects serialize")
}

impl Store {
    pub async fn create_organization(&self, by_user: Option<Uuid>, organization: &Organization) -> StoreResult<()> {
        datalab_core::validation::validate_organization(organization).into_result()?;
        let mut transaction = self.write_transaction().await?;
        let inserted = sqlx::query(
            "INSERT INTO organizations (id, name, title, description, image_url, kind, state, created) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(organization.id.to_string())
        .bind(&organization.name)
        .bind(&organization.title)
        .bind(&organization.description)
        .bind(&organization.image_url)
        .bind(organization.kind.as_str())
        .bind(organization.state.as_str())
        .bind(format_time(organization.created))
        .execute(&mut *transaction)
        .await;
        name_taken_on_conflict(inserted)?;
        record(
            &mut transaction,
            NewActivity {
                user_id: by_user,
                activity_type: "new organization",
                object_id: organization.id,
                object_name: &organization.name,
                organization_id: Some(organization.id),
                dataset_id: None,
                changes: diff_snapshots(&serde_json::json!({}), &snapshot(organization)),
            },
        )
        .await?;
        // The creator administers what they created, as in CKAN.
        if let Some(user_id) = by_user {
            sqlx::query("INSERT INTO memberships (organization_id, user_id, capacity) VALUES ($1, $2, 'admin')")
                .bind(organization.id.to_string())
                .bind(user_id.to_string())
                .execute(&mut *transaction)
                .await?;
        }
        transaction.commit().await?;
        Ok(())
    }

    pub async fn update_organization(&self, by_user: Option<Uuid>, organization: &Organization) -> StoreResult<()> {
        datalab_core::validation::validate_organization(organization).into_result()?;
        let before = self.organization(&organization.id.to_string()).await?;
        let mut transaction = self.write_transaction().await?;
        let updated = sqlx::query(
            "UPDATE organizations SET name = $2, title = $3, description = $4, image_url = $5, kind = $6, state = $7 WHERE id = $1",
        )
        .bind(organization.id.to_string())
        .bind(&organization.name)
        .bind(&organization.title)
        .bind(&organization.description)
        .bind(&organization.image_url)
        .bind(organization.kind.as_str())
        .bind(organization.state.as_str())
        .execute(&mut *transaction)
        .await;
        name_taken_on_conflict(updated)?;
        record(
            &mut transaction,
            NewActivity {
                user_id: by_user,
                activity_type: "changed organization",
                object_id: organization.id,
                object_name: &organization.name,
                organization_id: Some(organization.id),
                dataset_id: None,
                changes: diff_snapshots(&snapshot(&before), &snapshot(organization)),
            },
        )
        .await?;
        transaction.commit().await?;
        Ok(())
    }

    pub async fn organization(&self, id_or_name: &str) -> StoreResult<Organization> {
        let (id, name) = crate::id_or_name(id_or_name);
        let row = sqlx::query("SELECT * FROM organizations WHERE (id = $1 OR name = $2)")
            .bind(id.unwrap_or_default())
            .bind(name)
            .fetch_optional(&self.reader)
            .await?
            .ok_or(StoreError::NotFound)?;
        organization_from_row(&row)
    }

    /// Active organizations, by title.
    pub async fn organizations(&self) -> StoreResult<Vec<Organization>> {
        let rows = sqlx::query("SELECT * FROM organizations WHERE state = 'active' ORDER BY title")
            .fetch_all(&self.reader)
            .await?;
        rows.iter().map(organization_from_row).collect()
    }

    /// Adds a member or changes their role (CKAN's `organization_member_create`).
    pub async fn set_membership(
        &self,
        by_user: Option<Uuid>,
        organization: &Organization,
        user: &User,
        capacity: Capacity,
    ) -> StoreResult<()> {
        let mut transaction = self.write_transaction().await?;
        let before: Option<String> =
            sqlx::query_scalar("SELECT capacity FROM memberships WHERE organization_id = $1 AND user_id = $2")
                .bind(organization.id.to_string())
                .bind(user.id.to_string())
                .fetch_optional(&mut *transaction)
                .await?;
        sqlx::query(
            "INSERT INTO memberships (organization_id, user_id, capacity) VALUES ($1, $2, $3) \
             ON CONFLICT (organization_id, user_id) DO UPDATE SET capacity = excluded.capacity",
        )
        .bind(organization.id.to_string())
        .bind(user.id.to_string())
        .bind(capacity.as_str())
        .execute(&mut *transaction)
        .await?;
        record_membership_change(
            &mut transaction,
            by_user,
            organization,
            user,
            before,
            Some(capacity.as_str().to_string()),
        )
        .await?;
        transaction.commit().await?;
        Ok(())
    }

    pub async fn remove_membership(
        &self,
        by_user: Option<Uuid>,
        organization: &Organization,
        user: &User,
    ) -> StoreResult<()> {
        let mut transaction = self.write_transaction().await?;
        let before: Option<String> =
            sqlx::query_scalar("SELECT capacity FROM memberships WHERE organization_id = $1 AND user_id = $2")
                .bind(organization.id.to_string())
                .bind(user.id.to_string())
                .fetch_optional(&mut *transaction)
                .await?;
        let Some(before) = before else { return Err(StoreError::NotFound) };
        sqlx::query("DELETE FROM memberships WHERE organization_id = $1 AND user_id = $2")
            .bind(organization.id.to_string())
            .bind(user.id.to_string())
            .execute(&mut *transaction)
            .await?;
        record_membership_change(&mut transaction, by_user, organization, user, Some(before), None).await?;
        transaction.commit().await?;
        Ok(())
    }

    pub async fn members(&self, organization_id: Uuid) -> StoreResult<Vec<Member>> {
        let rows = sqlx::query(
            "SELECT users.id, users.name, users.fullname, users.email, users.about, users.sysadmin, users.state, users.created, \
                    memberships.capacity FROM memberships JOIN users ON users.id = memberships.user_id \
             WHERE memberships.organization_id = $1 ORDER BY users.name",
        )
        .bind(organization_id.to_string())
        .fetch_all(&self.reader)
        .await?;
        rows.iter()
            .map(|row| {
                let capacity: String = row.try_get("capacity")?;
                Ok(Member {
                    user: User {
                        id: parse_uuid(row.try_get("id")?)?,
                        name: row.try_get("name")?,
                        fullname: row.try_get("fullname")?,
                        email: row.try_get("email")?,
                        about: row.try_get("about")?,
                        sysadmin: row.try_get::<i64, _>("sysadmin")? != 0,
                        state: State::parse(row.try_get("state")?).unwrap_or(State::Active),
                        created: parse_time(row.try_get("created")?)?,
                    },
                    capacity: Capacity::parse(&capacity)
                        .ok_or_else(|| StoreError::Corrupt(format!("capacity {capacity:?}")))?,
                })
            })
            .collect()
    }

    pub async fn create_group(&self, by_user: Option<Uuid>, group: &Group) -> StoreResult<()> {
        let mut errors = FieldErrors::new();
        if let Err(error) = datalab_core::validate_slug(&group.name) {
            errors.add("name", error);
        }
        if group.title.trim().is_empty() {
            errors.add("title", FieldError::Missing);
        }
        errors.into_result()?;
        let mut transaction = self.write_transaction().await?;
        let inserted = sqlx::query(
            "INSERT INTO catalog_groups (id, name, title, description, image_url, state, created) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(group.id.to_string())
        .bind(&group.name)
        .bind(&group.title)
        .bind(&group.description)
        .bind(&group.image_url)
        .bind(group.state.as_str())
        .bind(format_time(group.created))
        .execute(&mut *transaction)
        .await;
        name_taken_on_conflict(inserted)?;
        record(
            &mut transaction,
            NewActivity {
                user_id: by_user,
                activity_type: "new group",
                object_id: group.id,
                object_name: &group.name,
                organization_id: None,
                dataset_id: None,
                changes: diff_snapshots(&serde_json::json!({}), &snapshot(group)),
            },
        )
        .await?;
        transaction.commit().await?;
        Ok(())
    }

    pub async fn group(&self, id_or_name: &str) -> StoreResult<Group> {
        let (id, name) = crate::id_or_name(id_or_name);
        let row = sqlx::query("SELECT * FROM catalog_groups WHERE (id = $1 OR name = $2)")
            .bind(id.unwrap_or_default())
            .bind(name)
            .fetch_optional(&self.reader)
            .await?
            .ok_or(StoreError::NotFound)?;
        group_from_row(&row)
    }

    pub async fn groups(&self) -> StoreResult<Vec<Group>> {
        let rows = sqlx::query("SELECT * FROM catalog_groups WHERE state = 'active' ORDER BY title")
            .fetch_all(&self.reader)
            .await?;
        rows.iter().map(group_from_row).collect()
    }
}
