//! CKAN's wire shapes: the dictionaries the Action API returns. Field names
//! and types follow CKAN 2.10 so that existing clients read them unchanged;
//! the DCAT fields appear as top-level keys, as ckanext-scheming shows them.

use crate::links::resource_url;
use crate::timestamps::ckan_time;
use datalab_core::{Activity, ApiToken, Dataset, Group, Organization, Resource, User, licenses};
use serde_json::{Value, json};

pub fn resource_dict(base_url: &str, resource: &Resource) -> Value {
    json!({
        "id": resource.id,
        "package_id": resource.dataset_id,
        "position": resource.position,
        "name": resource.name,
        "description": resource.description,
        "format": resource.format,
        "url": resource_url(base_url, resource),
        "url_type": if resource.is_upload() { Value::from("upload") } else { Value::Null },
        "size": resource.size,
        "mimetype": if resource.mimetype.is_empty() { Value::Null } else { Value::from(resource.mimetype.clone()) },
        "hash": if resource.sha256.is_empty() { String::new() } else { format!("sha256:{}", resource.sha256) },
        "created": ckan_time(resource.created),
        "last_modified": ckan_time(resource.last_modified),
        "metadata_modified": ckan_time(resource.last_modified),
        "state": "active",
        "datastore_active": false,
        // The publisher's schema until the file is analysed; then the
        // analysed schema, which includes it (see `add_analysis`).
        "schema": resource.schema,
    })
}

pub fn organization_dict(organization: &Organization, package_count: Option<u64>) -> Value {
    let mut dict = json!({
        "id": organization.id,
        "name": organization.name,
        "title": organization.title,
        "display_name": organization.title,
        "description": organization.description,
        "image_url": organization.image_url,
        "image_display_url": organization.image_url,
        "kind": organization.kind.as_str(),
        "type": "organization",
        "is_organization": true,
        "state": organization.state.as_str(),
        "approval_status": "approved",
        "created": ckan_time(organization.created),
    });
    if let Some(count) = package_count {
        dict["package_count"] = json!(count);
    }
    dict
}

pub fn group_dict(group: &Group, package_count: Option<u64>) -> Value {
    let mut dict = json!({
        "id": group.id,
        "name": group.name,
        "title": group.title,
        "display_name": group.title,
        "description": group.description,
        "image_url": group.image_url,
        "image_display_url": group.image_url,
        "type": "group",
        "is_organization": false,
        "state": group.state.as_str(),
        "approval_status": "approved",
        "created": ckan_time(group.created),
    });
    if let Some(count) = package_count {
        dict["package_count"] = json!(count);
    }
    dict
}

pub fn package_dict(base_url: &str, dataset: &Dataset, organization: &Organization, groups: &[Group]) -> Value {
    let license = licenses::find(&dataset.license_id);
    let dcat = &dataset.dcat;
    let mut dict = json!({
        "id": dataset.id,
        "type": "dataset",
        "owner_org": dataset.owner_org,
        "organization": organization_dict(organization, None),
        "license_title": license.map(|license| license.title),
        "license_url": license.map(|license| license.url),
        "isopen": license.is_some_and(|license| license.is_open),
        "state": dataset.state.as_str(),
        "private": dataset.private,
        "creator_user_id": dataset.creator_user_id,
        "metadata_created": ckan_time(dataset.metadata_created),
        "metadata_modified": ckan_time(dataset.metadata_modified),
        "tags": dataset.tags.iter().map(|tag| json!({"name": tag, "display_name": tag, "state": "active", "vocabulary_id": null})).collect::<Vec<_>>(),
        "num_tags": dataset.tags.len(),
        "groups": groups.iter().map(|group| json!({
            "id": group.id, "name": group.name, "title": group.title, "display_name": group.title,
            "description": group.description, "image_display_url": group.image_url,
        })).collect::<Vec<_>>(),
        "extras": dataset.extras.iter().map(|(key, value)| json!({"key": key, "value": value})).collect::<Vec<_>>(),
        "resources": dataset.resources.iter().map(|resource| resource_dict(base_url, resource)).collect::<Vec<_>>(),
        "num_resources": dataset.resources.len(),
        "spatial": dcat.spatial,
        "relationships_as_object": [],
        "relationships_as_subject": [],
    });
    // Every text field, the dataset's own and its DCAT ones (top-level keys, as ckanext-scheming shows them).
    for field in datalab_core::DATASET_TEXT_FIELDS {
        dict[*field] = json!(dataset.text_field(field));
    }
    dict
}

/// A user as others see them; the e-mail only for themselves and sysadmins.
pub fn user_dict(user: &User, show_private: bool) -> Value {
    let mut dict = json!({
        "id": user.id,
        "name": user.name,
        "fullname": user.fullname,
        "display_name": if user.fullname.is_empty() { &user.name } else { &user.fullname },
        "about": user.about,
        "sysadmin": user.sysadmin,
        "state": user.state.as_str(),
        "created": ckan_time(user.created),
    });
    if show_private {
        dict["email"] = json!(user.email);
    }
    dict
}

pub fn token_dict(token: &ApiToken) -> Value {
    json!({
        "id": token.id,
        "user_id": token.user_id,
        "name": token.name,
        "created_at": ckan_time(token.created),
        "last_access": token.last_used.map(ckan_time),
    })
}

pub fn activity_dict(activity: &Activity) -> Value {
    json!({
        "id": activity.id.to_string(),
        "timestamp": ckan_time(activity.timestamp),
        "user_id": activity.user_id,
        "user_name": activity.user_name,
        "object_id": activity.object_id,
        "activity_type": activity.activity_type,
        "data": { "name": activity.object_name, "changes": activity.changes },
    })
}

pub fn license_dict(license: &licenses::License) -> Value {
    json!({
        "id": license.id,
        "title": license.title,
        "url": license.url,
        "od_conformance": if license.is_open { "approved" } else { "not reviewed" },
        "osd_conformance": "not reviewed",
        "status": "active",
        "is_okd_compliant": license.is_open,
        "is_generic": license.id == "other",
        "domain_content": true,
        "domain_data": true,
        "domain_software": false,
    })
}

/// An ingestion job as the API shows it. `current` says whether it is about
/// the resource's current file (a failed job of the current file means the
/// analysis shown, if any, is an earlier file's).
pub fn job_dict(job: &datalab_store::Job, resource: &Resource) -> Value {
    json!({
        "id": job.id,
        "status": job.status,
        "attempts": job.attempts,
        "bytes_total": job.bytes_total,
        "bytes_read": job.bytes_read,
        "rows_read": job.rows_read,
        "error": if job.error.is_empty() { Value::Null } else { Value::from(job.error.clone()) },
        "error_es": if job.error_es.is_empty() { Value::Null } else { Value::from(job.error_es.clone()) },
        "current_file": job.sha256 == resource.sha256,
        "created": ckan_time(job.created),
        "updated": ckan_time(job.updated),
    })
}

/// Adds what ingestion learned to a resource dict: the Frictionless Table
/// Schema as `schema` (as CKAN's DataStore-aware extensions publish it) and a
/// summary of the analysis.
pub fn add_analysis(dict: &mut Value, analysis: &datalab_store::AnalysisState) {
    match analysis {
        datalab_store::AnalysisState::Done(_) => {
            // The default table (a workbook's first sheet) is the one CKAN
            // clients see; every table is listed with its name.
            let tables = analysis.tables();
            let Some(first) = tables.first() else { return };
            dict["schema"] = first["schema"].clone();
            dict["datalab_analysis"] = json!({
                "status": "done",
                "format": first["format"],
                "encoding": first["encoding"],
                "mixed_encoding": first["mixed_encoding"],
                "delimiter": first["dialect"]["delimiter"],
                "rows": first["rows"],
                "valid": first["report"]["valid"],
                "errors": first["report"]["stats"]["errors"],
                "tables": tables.iter().map(|table| json!({
                    "name": table["name"],
                    "schema": table["schema"],
                    "rows": table["rows"],
                    "valid": table["report"]["valid"],
                    "errors": table["report"]["stats"]["errors"],
                })).collect::<Vec<_>>(),
            });
        }
        datalab_store::AnalysisState::Running => dict["datalab_analysis"] = json!({"status": "running"}),
        datalab_store::AnalysisState::Failed(error) => {
            dict["datalab_analysis"] = json!({"status": "failed", "error": error.en, "error_es": error.es})
        }
    }
}
