//! The catalog's objects: organizations, groups (themes), datasets, resources,
//! users and the activity log entries that record every change to them.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

/// What kind of body an organization is; shown on its page and used as a filter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum OrganizationKind {
    #[default]
    Government,
    CivilSociety,
    Academia,
    Private,
}

impl OrganizationKind {
    pub const ALL: [OrganizationKind; 4] = [
        OrganizationKind::Government,
        OrganizationKind::CivilSociety,
        OrganizationKind::Academia,
        OrganizationKind::Private,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            OrganizationKind::Government => "government",
            OrganizationKind::CivilSociety => "civil-society",
            OrganizationKind::Academia => "academia",
            OrganizationKind::Private => "private",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|kind| kind.as_str() == text)
    }
}

/// Lifecycle state shared by datasets, organizations and groups, with CKAN's meaning.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum State {
    #[default]
    Active,
    Draft,
    Deleted,
}

impl State {
    pub fn as_str(self) -> &'static str {
        match self {
            State::Active => "active",
            State::Draft => "draft",
            State::Deleted => "deleted",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "active" => Some(State::Active),
            "draft" => Some(State::Draft),
            "deleted" => Some(State::Deleted),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Organization {
    pub id: Uuid,
    pub name: String,
    pub title: String,
    pub description: String,
    pub image_url: String,
    pub kind: OrganizationKind,
    pub state: State,
    #[serde(with = "time::serde::rfc3339")]
    pub created: OffsetDateTime,
}

/// A theme datasets are filed under (CKAN's "group").
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Group {
    pub id: Uuid,
    pub name: String,
    pub title: String,
    pub description: String,
    pub image_url: String,
    pub state: State,
    #[serde(with = "time::serde::rfc3339")]
    pub created: OffsetDateTime,
}

/// How often a dataset is expected to be updated (DCAT `accrualPeriodicity`,
/// with the EU vocabulary's codes).
pub const UPDATE_FREQUENCIES: &[&str] =
    &["continuous", "daily", "weekly", "monthly", "quarterly", "biannual", "annual", "irregular", "never"];

/// Languages a dataset's content can be declared in (ISO 639-1).
pub const LANGUAGES: &[&str] = &["es", "en"];

/// A dataset with CKAN's fields plus the DCAT fields the state's portal needs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Dataset {
    pub id: Uuid,
    pub name: String,
    pub title: String,
    /// Markdown.
    pub notes: String,
    pub owner_org: Uuid,
    pub license_id: String,
    pub author: String,
    pub author_email: String,
    pub maintainer: String,
    pub maintainer_email: String,
    pub url: String,
    pub version: String,
    pub state: State,
    pub private: bool,
    pub tags: Vec<String>,
    /// Names of the groups (themes) the dataset belongs to.
    pub groups: Vec<String>,
    pub extras: Vec<(String, String)>,
    pub dcat: DcatFields,
    pub creator_user_id: Option<Uuid>,
    #[serde(with = "time::serde::rfc3339")]
    pub metadata_created: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub metadata_modified: OffsetDateTime,
    pub resources: Vec<Resource>,
}

/// DCAT metadata beyond CKAN's core fields. Dates are ISO 8601 text as entered
/// (a year, a month or a day), validated on input.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct DcatFields {
    pub temporal_start: String,
    pub temporal_end: String,
    /// INEGI codes of Nuevo León municipalities (see [`crate::municipalities`]),
    /// or "19" for the whole state.
    pub spatial: Vec<String>,
    pub update_frequency: String,
    pub language: String,
    pub theme: String,
    pub contact_name: String,
    pub contact_email: String,
    pub issued: String,
    pub modified: String,
}

/// Declares the dataset's text fields once: the list and both accessors.
macro_rules! dataset_text_fields {
    ($($name:literal => $($path:ident).+),* $(,)?) => {
        /// A dataset's fields that are one line of text each, its own and
        /// its DCAT ones, in the order the CKAN API lists them.
        pub const DATASET_TEXT_FIELDS: &[&str] = &[$($name),*];

        impl Dataset {
            /// The text field `field`'s value ([`DATASET_TEXT_FIELDS`]); `None` for another name.
            pub fn text_field(&self, field: &str) -> Option<&str> {
                match field {
                    $($name => Some(&self.$($path).+),)*
                    _ => None,
                }
            }

            /// The text field `field`, to set; `None` for another name.
            pub fn text_field_mut(&mut self, field: &str) -> Option<&mut String> {
                match field {
                    $($name => Some(&mut self.$($path).+),)*
                    _ => None,
                }
            }
        }
    };
}

// A new text field of a dataset costs one line here (and its inputs and
// labels in the forms and templates that show it).
dataset_text_fields! {
    "name" => name,
    "title" => title,
    "notes" => notes,
    "license_id" => license_id,
    "author" => author,
    "author_email" => author_email,
    "maintainer" => maintainer,
    "maintainer_email" => maintainer_email,
    "url" => url,
    "version" => version,
    "temporal_start" => dcat.temporal_start,
    "temporal_end" => dcat.temporal_end,
    "update_frequency" => dcat.update_frequency,
    "language" => dcat.language,
    "theme" => dcat.theme,
    "contact_name" => dcat.contact_name,
    "contact_email" => dcat.contact_email,
    "issued" => dcat.issued,
    "modified" => dcat.modified,
}

/// Where a resource's bytes live.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum ResourceLocation {
    /// Stored by datalab; the key names the blob in file storage.
    Upload { storage_key: String, filename: String },
    /// Somewhere else on the web.
    Link { url: String },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Resource {
    pub id: Uuid,
    pub dataset_id: Uuid,
    pub position: i64,
    pub name: String,
    pub description: String,
    pub format: String,
    pub location: ResourceLocation,
    pub size: Option<i64>,
    pub mimetype: String,
    pub sha256: String,
    #[serde(with = "time::serde::rfc3339")]
    pub created: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub last_modified: OffsetDateTime,
    /// The publisher's Table Schema for the file's (first) table: types,
    /// titles, descriptions, missing values and constraints that ingestion
    /// applies instead of inferring them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schema: Option<serde_json::Value>,
}

impl Resource {
    pub fn is_upload(&self) -> bool {
        matches!(self.location, ResourceLocation::Upload { .. })
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct User {
    pub id: Uuid,
    pub name: String,
    pub fullname: String,
    pub email: String,
    pub about: String,
    pub sysadmin: bool,
    pub state: State,
    #[serde(with = "time::serde::rfc3339")]
    pub created: OffsetDateTime,
}

/// A named API token of a user. The secret itself is never stored, only its hash.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ApiToken {
    pub id: Uuid,
    pub user_id: Uuid,
    pub name: String,
    #[serde(with = "time::serde::rfc3339")]
    pub created: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    pub last_used: Option<OffsetDateTime>,
}

/// One change recorded in the activity log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Activity {
    pub id: i64,
    #[serde(with = "time::serde::rfc3339")]
    pub timestamp: OffsetDateTime,
    pub user_id: Option<Uuid>,
    pub user_name: Option<String>,
    /// For example "new package", "changed package", "deleted package", "new organization".
    pub activity_type: String,
    pub object_id: Uuid,
    pub object_name: String,
    pub organization_id: Option<Uuid>,
    pub dataset_id: Option<Uuid>,
    /// Field-level changes: (field, before, after).
    pub changes: Vec<FieldChange>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FieldChange {
    pub field: String,
    pub before: serde_json::Value,
    pub after: serde_json::Value,
}

/// Field-level difference between two snapshots of an object, both JSON objects.
/// Used for the activity log so that every entry says what changed.
pub fn diff_snapshots(before: &serde_json::Value, after: &serde_json::Value) -> Vec<FieldChange> {
    let empty = serde_json::Map::new();
    let before_map = before.as_object().unwrap_or(&empty);
    let after_map = after.as_object().unwrap_or(&empty);
    let mut keys: Vec<&String> = before_map.keys().chain(after_map.keys()).collect();
    keys.sort();
    keys.dedup();
    keys.into_iter()
        .filter(|key| !matches!(key.as_str(), "metadata_modified" | "last_modified"))
        .filter_map(|key| {
            let old = before_map.get(key).cloned().unwrap_or(serde_json::Value::Null);
            let new = after_map.get(key).cloned().unwrap_or(serde_json::Value::Null);
            (old != new).then(|| FieldChange { field: key.clone(), before: old, after: new })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn diff_lists_only_changed_fields_and_ignores_timestamps() {
        let before = json!({"title": "A", "notes": "x", "metadata_modified": "1"});
        let after = json!({"title": "B", "notes": "x", "tags": ["t"], "metadata_modified": "2"});
        let changes = diff_snapshots(&before, &after);
        assert_eq!(
            changes,
            vec![
                FieldChange { field: "tags".into(), before: json!(null), after: json!(["t"]) },
                FieldChange { field: "title".into(), before: json!("A"), after: json!("B") },
            ]
        );
    }
}
