//! The data inventory: what each organization holds or should hold,
//! published or not, so the gaps are as visible as the data.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::validation::{FieldError, FieldErrors, validate_partial_date};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum InventoryStatus {
    Planned,
    InPreparation,
    Published,
    NotAvailable,
}

impl InventoryStatus {
    pub const ALL: [InventoryStatus; 4] = [
        InventoryStatus::Planned,
        InventoryStatus::InPreparation,
        InventoryStatus::Published,
        InventoryStatus::NotAvailable,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            InventoryStatus::Planned => "planned",
            InventoryStatus::InPreparation => "in-preparation",
            InventoryStatus::Published => "published",
            InventoryStatus::NotAvailable => "not-available",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        let normalized = text.trim().to_lowercase().replace([' ', '_'], "-");
        Self::ALL.into_iter().find(|status| status.as_str() == normalized)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InventoryItem {
    pub id: Uuid,
    pub organization_id: Uuid,
    pub title: String,
    pub description: String,
    /// When it is expected: YYYY, YYYY-MM or YYYY-MM-DD.
    pub expected: String,
    pub status: InventoryStatus,
    /// Why it is not available (required for that status).
    pub reason: String,
    /// The catalog dataset, once published (required for that status).
    pub dataset_id: Option<Uuid>,
    #[serde(with = "time::serde::rfc3339")]
    pub updated: OffsetDateTime,
}

impl InventoryItem {
    pub fn validate(&self) -> FieldErrors {
        let mut errors = FieldErrors::new();
        if self.title.trim().is_empty() {
            errors.add("title", FieldError::Missing);
        } else if self.title.chars().count() > 300 {
            errors.add("title", FieldError::TooLong);
        }
        if !self.expected.is_empty()
            && let Err(error) = validate_partial_date(&self.expected)
        {
            errors.add("expected", error);
        }
        if self.status == InventoryStatus::NotAvailable && self.reason.trim().is_empty() {
            errors.add("reason", FieldError::NotAvailableNeedsReason);
        }
        if self.status == InventoryStatus::Published && self.dataset_id.is_none() {
            errors.add("dataset", FieldError::PublishedNeedsDataset);
        }
        errors
    }
}

/// Published items over listed items, 0 to 1 (`None` with nothing listed).
pub fn coverage(items: &[InventoryItem]) -> Option<f64> {
    if items.is_empty() {
        return None;
    }
    let published = items.iter().filter(|item| item.status == InventoryStatus::Published).count();
    Some(published as f64 / items.len() as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(status: InventoryStatus) -> InventoryItem {
        InventoryItem {
            id: Uuid::nil(),
            organization_id: Uuid::nil(),
            title: "Padrón de mercados".into(),
            description: String::new(),
            expected: "2025-06".into(),
            status,
            reason: String::new(),
            dataset_id: None,
            updated: time::macros::datetime!(2025-01-01 0:00 UTC),
        }
    }

    #[test]
    fn rules_and_coverage() {
        assert!(item(InventoryStatus::Planned).validate().is_empty());
        assert_eq!(item(InventoryStatus::NotAvailable).validate().0.keys().collect::<Vec<_>>(), vec!["reason"]);
        assert_eq!(item(InventoryStatus::Published).validate().0.keys().collect::<Vec<_>>(), vec!["dataset"]);
        let mut bad_date = item(InventoryStatus::Planned);
        bad_date.expected = "junio".into();
        assert_eq!(bad_date.validate().0.keys().collect::<Vec<_>>(), vec!["expected"]);
        let mut published = item(InventoryStatus::Published);
        published.dataset_id = Some(Uuid::nil());
        assert_eq!(coverage(&[published, item(InventoryStatus::Planned)]), Some(0.5));
        assert_eq!(coverage(&[]), None);
        assert_eq!(InventoryStatus::parse("In preparation"), Some(InventoryStatus::InPreparation));
    }
}
