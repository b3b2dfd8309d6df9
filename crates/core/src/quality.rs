//! The quality score of a dataset, explained criterion by criterion, so a
//! publisher sees what to fix: metadata, freshness against the declared
//! update frequency, openness (the 5-star scheme, up to open formats),
//! validity (validation errors per row), completeness (missing values) and
//! duplicate rows. Criteria without data to judge (no analysed table) are
//! left out rather than guessed.

use serde::Serialize;
use time::Date;

use crate::Dataset;

/// What the analysis of one tabular resource says, for the score.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct TableFacts {
    pub rows: u64,
    pub cells: u64,
    pub missing_cells: u64,
    pub errors: u64,
    pub duplicate_rows: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Criterion {
    /// metadata, freshness, openness, validity, completeness, duplicates
    pub code: &'static str,
    /// 0 to 1.
    pub score: f64,
    pub weight: f64,
    /// Codes of what is missing or wrong, for the explanation (e.g. "no-license").
    pub findings: Vec<&'static str>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct QualityReport {
    /// 0 to 100.
    pub score: u32,
    pub criteria: Vec<Criterion>,
}

const MACHINE_READABLE: &[&str] =
    &["CSV", "TSV", "JSON", "GEOJSON", "XML", "XLSX", "XLS", "ODS", "PARQUET", "NDJSON", "SHP", "ZIP"];
const OPEN_FORMATS: &[&str] = &["CSV", "TSV", "JSON", "GEOJSON", "XML", "ODS", "PARQUET", "NDJSON"];

/// The longest an update may take, in days, for each declared frequency.
fn allowed_age(frequency: &str) -> Option<i64> {
    Some(match frequency {
        "continuous" | "daily" => 2,
        "weekly" => 10,
        "monthly" => 45,
        "quarterly" => 120,
        "biannual" => 200,
        "annual" => 400,
        _ => return None,
    })
}

pub fn score(dataset: &Dataset, tables: &[TableFacts], today: Date) -> QualityReport {
    let mut criteria = Vec::new();

    let dcat = &dataset.dcat;
    let license_open = crate::licenses::find(&dataset.license_id).is_some_and(|license| license.is_open);
    let checks: [(bool, &'static str); 7] = [
        (license_open, "no-open-license"),
        (dataset.notes.trim().chars().count() >= 50, "short-description"),
        (!dcat.temporal_start.is_empty() || !dcat.temporal_end.is_empty(), "no-temporal-coverage"),
        (!dcat.spatial.is_empty(), "no-spatial-coverage"),
        (!dcat.update_frequency.is_empty(), "no-update-frequency"),
        (
            !dcat.contact_email.is_empty() || !dcat.contact_name.is_empty() || !dataset.maintainer_email.is_empty(),
            "no-contact",
        ),
        (!dataset.tags.is_empty(), "no-keywords"),
    ];
    let passed = checks.iter().filter(|(ok, _)| *ok).count();
    criteria.push(Criterion {
        code: "metadata",
        score: passed as f64 / checks.len() as f64,
        weight: 30.0,
        findings: checks.iter().filter(|(ok, _)| !ok).map(|(_, finding)| *finding).collect(),
    });

    let age = (today - dataset.metadata_modified.date()).whole_days();
    let (freshness, findings) = match allowed_age(&dcat.update_frequency) {
        Some(allowed) if age <= allowed => (1.0, vec![]),
        Some(allowed) => ((1.0 - (age - allowed) as f64 / allowed as f64).max(0.0), vec!["outdated"]),
        None if dcat.update_frequency.is_empty() => (0.5, vec!["no-update-frequency"]),
        None => (1.0, vec![]),
    };
    criteria.push(Criterion { code: "freshness", score: freshness, weight: 15.0, findings });

    let formats: Vec<String> = dataset.resources.iter().map(|resource| resource.format.to_uppercase()).collect();
    let stars = if dataset.resources.is_empty() || !license_open {
        0
    } else if formats.iter().any(|format| OPEN_FORMATS.contains(&format.as_str())) {
        3
    } else if formats.iter().any(|format| MACHINE_READABLE.contains(&format.as_str())) {
        2
    } else {
        1
    };
    let openness_findings = match stars {
        0 if dataset.resources.is_empty() => vec!["no-resources"],
        0 => vec!["no-open-license"],
        1 => vec!["not-machine-readable"],
        2 => vec!["proprietary-format"],
        _ => vec![],
    };
    criteria.push(Criterion { code: "openness", score: stars as f64 / 3.0, weight: 15.0, findings: openness_findings });

    let rows: u64 = tables.iter().map(|table| table.rows).sum();
    if rows > 0 {
        let errors: u64 = tables.iter().map(|table| table.errors.saturating_sub(table.duplicate_rows)).sum();
        let validity = (1.0 - errors as f64 / rows as f64).max(0.0);
        criteria.push(Criterion {
            code: "validity",
            score: validity,
            weight: 20.0,
            findings: if errors > 0 { vec!["validation-errors"] } else { vec![] },
        });
        let cells: u64 = tables.iter().map(|table| table.cells).sum();
        let missing: u64 = tables.iter().map(|table| table.missing_cells).sum();
        let completeness = if cells == 0 { 1.0 } else { 1.0 - missing as f64 / cells as f64 };
        criteria.push(Criterion {
            code: "completeness",
            score: completeness,
            weight: 10.0,
            findings: if missing > 0 { vec!["missing-values"] } else { vec![] },
        });
        let duplicates: u64 = tables.iter().map(|table| table.duplicate_rows).sum();
        let unique = 1.0 - duplicates as f64 / rows as f64;
        criteria.push(Criterion {
            code: "duplicates",
            score: unique.max(0.0),
            weight: 10.0,
            findings: if duplicates > 0 { vec!["duplicate-rows"] } else { vec![] },
        });
    }

    let total_weight: f64 = criteria.iter().map(|criterion| criterion.weight).sum();
    let weighted: f64 = criteria.iter().map(|criterion| criterion.weight * criterion.score).sum();
    // Rounded down: a score of 100 means nothing is left to improve.
    QualityReport { score: (100.0 * weighted / total_weight + 1e-9).floor() as u32, criteria }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::{date, datetime};

    fn dataset() -> Dataset {
        Dataset {
            id: uuid::Uuid::nil(),
            name: "d".into(),
            title: "D".into(),
            notes: String::new(),
            owner_org: uuid::Uuid::nil(),
            license_id: "cc-by-4.0".into(),
            author: String::new(),
            author_email: String::new(),
            maintainer: String::new(),
            maintainer_email: String::new(),
            url: String::new(),
            version: String::new(),
            state: crate::State::Active,
            private: false,
            tags: vec![],
            groups: vec![],
            extras: vec![],
            dcat: Default::default(),
            creator_user_id: None,
            metadata_created: datetime!(2024-01-01 0:00 UTC),
            metadata_modified: datetime!(2024-01-01 0:00 UTC),
            resources: vec![],
        }
    }

    #[test]
    fn each_criterion_explains_itself() {
        let bare = score(&dataset(), &[], date!(2024 - 01 - 02));
        let codes: Vec<&str> = bare.criteria.iter().map(|criterion| criterion.code).collect();
        assert_eq!(
            codes,
            vec!["metadata", "freshness", "openness"],
            "no analysed table: no validity, completeness or duplicates"
        );
        assert_eq!(
            bare.criteria[0].findings,
            vec![
                "short-description",
                "no-temporal-coverage",
                "no-spatial-coverage",
                "no-update-frequency",
                "no-contact",
                "no-keywords"
            ]
        );
        assert_eq!(bare.criteria[2].findings, vec!["no-resources"]);

        let mut complete = dataset();
        complete.notes = "Registro mensual de incidentes viales por municipio, con fecha, hora y ubicación.".into();
        complete.tags = vec!["movilidad".into()];
        complete.dcat.temporal_start = "2015".into();
        complete.dcat.spatial = vec!["19".into()];
        complete.dcat.update_frequency = "monthly".into();
        complete.dcat.contact_email = "datos@nl.gob.mx".into();
        complete.resources.push(crate::Resource {
            id: uuid::Uuid::nil(),
            dataset_id: uuid::Uuid::nil(),
            position: 0,
            name: "r".into(),
            description: String::new(),
            format: "CSV".into(),
            location: crate::ResourceLocation::Link { url: "https://example.org/a.csv".into() },
            size: None,
            mimetype: String::new(),
            sha256: String::new(),
            created: datetime!(2024-01-01 0:00 UTC),
            last_modified: datetime!(2024-01-01 0:00 UTC),
            schema: None,
        });
        let clean = TableFacts { rows: 100, cells: 1000, missing_cells: 0, errors: 0, duplicate_rows: 0 };
        assert_eq!(score(&complete, &[clean], date!(2024 - 01 - 10)).score, 100);
        let messy = TableFacts { rows: 100, cells: 1000, missing_cells: 100, errors: 12, duplicate_rows: 2 };
        let report = score(&complete, &[messy], date!(2024 - 04 - 10));
        let by_code = |code: &str| report.criteria.iter().find(|criterion| criterion.code == code).unwrap().score;
        assert!((by_code("validity") - 0.90).abs() < 1e-9, "10 errors that are not duplicates over 100 rows");
        assert!((by_code("completeness") - 0.90).abs() < 1e-9);
        assert!((by_code("duplicates") - 0.98).abs() < 1e-9);
        assert!(by_code("freshness") < 1.0, "100 days old for a monthly dataset");
        assert!(report.score < 100 && report.score > 70, "{}", report.score);
    }
}
