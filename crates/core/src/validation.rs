//! Validation of user input. Errors are collected per field so a form or an
//! API call reports every problem at once; each error is a stable code that
//! the presentation layer turns into a translated message.

use std::collections::BTreeMap;

use serde::Serialize;

/// Why a field was rejected. The code is stable (it keys translations and is
/// part of the API); `english` is the CKAN-style message for API clients.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum FieldError {
    Missing,
    SlugInvalid,
    SlugTooShort,
    SlugTooLong,
    NameTaken,
    EmailInvalid,
    UrlInvalid,
    LicenseUnknown,
    OrganizationUnknown,
    GroupUnknown,
    MunicipalityUnknown,
    FrequencyUnknown,
    LanguageUnknown,
    DateInvalid,
    TemporalOrder,
    TooLong,
    NotABoolean,
    NotAList,
    UnknownValue,
    PasswordTooShort,
    UnknownField,
    OutOfRange,
    StuckNeedsReason,
    StuckNeedsOwner,
    FinishedNeedsEvidence,
    NotAvailableNeedsReason,
    PublishedNeedsDataset,
}

impl FieldError {
    pub const ALL: [FieldError; 27] = [
        FieldError::Missing,
        FieldError::SlugInvalid,
        FieldError::SlugTooShort,
        FieldError::SlugTooLong,
        FieldError::NameTaken,
        FieldError::EmailInvalid,
        FieldError::UrlInvalid,
        FieldError::LicenseUnknown,
        FieldError::OrganizationUnknown,
        FieldError::GroupUnknown,
        FieldError::MunicipalityUnknown,
        FieldError::FrequencyUnknown,
        FieldError::LanguageUnknown,
        FieldError::DateInvalid,
        FieldError::TemporalOrder,
        FieldError::TooLong,
        FieldError::NotABoolean,
        FieldError::NotAList,
        FieldError::UnknownValue,
        FieldError::PasswordTooShort,
        FieldError::UnknownField,
        FieldError::OutOfRange,
        FieldError::StuckNeedsReason,
        FieldError::StuckNeedsOwner,
        FieldError::FinishedNeedsEvidence,
        FieldError::NotAvailableNeedsReason,
        FieldError::PublishedNeedsDataset,
    ];

    pub fn code(self) -> &'static str {
        match self {
            FieldError::Missing => "missing",
            FieldError::SlugInvalid => "slug-invalid",
            FieldError::SlugTooShort => "slug-too-short",
            FieldError::SlugTooLong => "slug-too-long",
            FieldError::NameTaken => "name-taken",
            FieldError::EmailInvalid => "email-invalid",
            FieldError::UrlInvalid => "url-invalid",
            FieldError::LicenseUnknown => "license-unknown",
            FieldError::OrganizationUnknown => "organization-unknown",
            FieldError::GroupUnknown => "group-unknown",
            FieldError::MunicipalityUnknown => "municipality-unknown",
            FieldError::FrequencyUnknown => "frequency-unknown",
            FieldError::LanguageUnknown => "language-unknown",
            FieldError::DateInvalid => "date-invalid",
            FieldError::TemporalOrder => "temporal-order",
            FieldError::TooLong => "too-long",
            FieldError::NotABoolean => "not-a-boolean",
            FieldError::NotAList => "not-a-list",
            FieldError::UnknownValue => "unknown-value",
            FieldError::PasswordTooShort => "password-too-short",
            FieldError::UnknownField => "unknown-field",
            FieldError::OutOfRange => "out-of-range",
            FieldError::StuckNeedsReason => "stuck-needs-reason",
            FieldError::StuckNeedsOwner => "stuck-needs-owner",
            FieldError::FinishedNeedsEvidence => "finished-needs-evidence",
            FieldError::NotAvailableNeedsReason => "not-available-needs-reason",
            FieldError::PublishedNeedsDataset => "published-needs-dataset",
        }
    }

    /// The message CKAN clients expect (English, as CKAN writes them).
    pub fn english(self) -> &'static str {
        match self {
            FieldError::Missing => "Missing value",
            FieldError::SlugInvalid => "Must be purely lowercase alphanumeric (ascii) characters and these symbols: -_",
            FieldError::SlugTooShort => "Must be at least 2 characters long",
            FieldError::SlugTooLong => "Name must be a maximum of 100 characters long",
            FieldError::NameTaken => "That URL is already in use.",
            FieldError::EmailInvalid => "Email is not valid",
            FieldError::UrlInvalid => "Please provide a valid URL",
            FieldError::LicenseUnknown => "License not found",
            FieldError::OrganizationUnknown => "Organization does not exist",
            FieldError::GroupUnknown => "Group does not exist",
            FieldError::MunicipalityUnknown => "Unknown municipality code of Nuevo León",
            FieldError::FrequencyUnknown => "Unknown update frequency",
            FieldError::LanguageUnknown => "Unknown language",
            FieldError::DateInvalid => "Date format incorrect (use YYYY, YYYY-MM or YYYY-MM-DD)",
            FieldError::TemporalOrder => "The end of the temporal coverage is before its start",
            FieldError::TooLong => "Value is too long",
            FieldError::NotABoolean => "Value must be true or false",
            FieldError::NotAList => "Value must be a list",
            FieldError::UnknownValue => "Unknown value",
            FieldError::PasswordTooShort => "Your password must be 8 characters or longer",
            FieldError::UnknownField => "The input field is not expected",
            FieldError::OutOfRange => "Value is out of range",
            FieldError::StuckNeedsReason => "A stuck milestone needs the reason it is blocked",
            FieldError::StuckNeedsOwner => "A stuck milestone needs who owns the blocker",
            FieldError::FinishedNeedsEvidence => "A finished milestone needs at least one piece of evidence",
            FieldError::NotAvailableNeedsReason => "Data that is not available needs the reason",
            FieldError::PublishedNeedsDataset => "Published data needs its dataset in the catalog",
        }
    }
}

/// Every problem found in one input, by field name.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct FieldErrors(pub BTreeMap<String, Vec<FieldError>>);

impl FieldErrors {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn single(field: &str, error: FieldError) -> Self {
        let mut errors = Self::new();
        errors.add(field, error);
        errors
    }

    pub fn add(&mut self, field: &str, error: FieldError) {
        self.0.entry(field.to_string()).or_default().push(error);
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn into_result(self) -> Result<(), FieldErrors> {
        if self.is_empty() { Ok(()) } else { Err(self) }
    }

    pub fn merge(&mut self, other: FieldErrors) {
        for (field, errors) in other.0 {
            let known = self.0.entry(field).or_default();
            for error in errors {
                if !known.contains(&error) {
                    known.push(error);
                }
            }
        }
    }
}

impl std::fmt::Display for FieldErrors {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let parts: Vec<String> = self
            .0
            .iter()
            .map(|(field, errors)| {
                let messages: Vec<&str> = errors.iter().map(|error| error.english()).collect();
                format!("{field}: {}", messages.join("; "))
            })
            .collect();
        formatter.write_str(&parts.join(", "))
    }
}

impl std::error::Error for FieldErrors {}

/// Checks a URL slug (the `name` of datasets, organizations, groups and users)
/// with CKAN's rule: 2 to 100 characters among `a-z`, `0-9`, `-` and `_`.
pub fn validate_slug(slug: &str) -> Result<(), FieldError> {
    if slug.is_empty() {
        return Err(FieldError::Missing);
    }
    if !slug.bytes().all(|byte| byte.is_ascii_lowercase() || byte.is_ascii_digit() || byte == b'-' || byte == b'_') {
        return Err(FieldError::SlugInvalid);
    }
    if slug.len() < 2 {
        return Err(FieldError::SlugTooShort);
    }
    if slug.len() > 100 {
        return Err(FieldError::SlugTooLong);
    }
    Ok(())
}

/// Makes a slug from a title: accents dropped, ñ becomes n, anything else
/// becomes a dash ("Población por Municipio" → "poblacion-por-municipio").
pub fn slugify(title: &str) -> String {
    let mut slug = String::new();
    for character in title.chars().flat_map(char::to_lowercase) {
        let folded = match character {
            'á' | 'à' | 'ä' | 'â' => 'a',
            'é' | 'è' | 'ë' | 'ê' => 'e',
            'í' | 'ì' | 'ï' | 'î' => 'i',
            'ó' | 'ò' | 'ö' | 'ô' => 'o',
            'ú' | 'ù' | 'ü' | 'û' => 'u',
            'ñ' => 'n',
            other => other,
        };
        if folded.is_ascii_alphanumeric() {
            slug.push(folded);
        } else if !slug.ends_with('-') && !slug.is_empty() {
            slug.push('-');
        }
    }
    let mut slug = slug.trim_end_matches('-').to_string();
    slug.truncate(100);
    slug
}

/// A pragmatic e-mail check: one `@`, something on each side, a dot in the domain.
pub fn validate_email(email: &str) -> Result<(), FieldError> {
    let Some((local, domain)) = email.split_once('@') else {
        return Err(FieldError::EmailInvalid);
    };
    let valid = !local.is_empty()
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !email.chars().any(|character| character.is_whitespace() || character == '<' || character == '>')
        && !domain.contains('@');
    if valid { Ok(()) } else { Err(FieldError::EmailInvalid) }
}

/// Accepts only http and https URLs, so no `javascript:` link is ever stored.
pub fn validate_web_url(url: &str) -> Result<(), FieldError> {
    let lower = url.to_ascii_lowercase();
    let rest = lower.strip_prefix("https://").or_else(|| lower.strip_prefix("http://"));
    match rest {
        Some(rest) if !rest.is_empty() && !url.chars().any(char::is_whitespace) => Ok(()),
        _ => Err(FieldError::UrlInvalid),
    }
}

/// Accepts an ISO 8601 year, month or day ("2024", "2024-03", "2024-03-31").
pub fn validate_partial_date(text: &str) -> Result<(), FieldError> {
    let parts: Vec<&str> = text.split('-').collect();
    let numbers: Option<Vec<u32>> = parts.iter().map(|part| part.parse().ok()).collect();
    let Some(numbers) = numbers else { return Err(FieldError::DateInvalid) };
    let widths_ok =
        parts.first().is_some_and(|year| year.len() == 4) && parts.iter().skip(1).all(|part| part.len() == 2);
    let valid = widths_ok
        && match numbers.as_slice() {
            [_year] => true,
            [_year, month] => (1..=12).contains(month),
            [year, month, day] => {
                (1..=12).contains(month) && {
                    let month = time::Month::try_from(*month as u8).expect("month checked");
                    *day >= 1 && *day as u8 <= time::util::days_in_month(month, *year as i32)
                }
            }
            _ => false,
        };
    if valid { Ok(()) } else { Err(FieldError::DateInvalid) }
}

/// Format checks of a dataset before it is stored. Checks that need the
/// database (a taken name, an unknown organization) happen in the store.
pub fn validate_dataset(dataset: &crate::Dataset) -> FieldErrors {
    let mut errors = FieldErrors::new();
    if let Err(error) = validate_slug(&dataset.name) {
        errors.add("name", error);
    }
    if dataset.title.trim().is_empty() {
        errors.add("title", FieldError::Missing);
    } else if dataset.title.chars().count() > 300 {
        errors.add("title", FieldError::TooLong);
    }
    if crate::licenses::find(&dataset.license_id).is_none() {
        errors.add("license_id", FieldError::LicenseUnknown);
    }
    for (field, value) in [
        ("author_email", &dataset.author_email),
        ("maintainer_email", &dataset.maintainer_email),
        ("contact_email", &dataset.dcat.contact_email),
    ] {
        if !value.is_empty()
            && let Err(error) = validate_email(value)
        {
            errors.add(field, error);
        }
    }
    if !dataset.url.is_empty()
        && let Err(error) = validate_web_url(&dataset.url)
    {
        errors.add("url", error);
    }
    for tag in &dataset.tags {
        if tag.trim().is_empty() || tag.chars().count() > 100 {
            errors.add("tags", FieldError::TooLong);
            break;
        }
    }
    let dcat = &dataset.dcat;
    for (field, value) in [
        ("temporal_start", &dcat.temporal_start),
        ("temporal_end", &dcat.temporal_end),
        ("issued", &dcat.issued),
        ("modified", &dcat.modified),
    ] {
        if !value.is_empty()
            && let Err(error) = validate_partial_date(value)
        {
            errors.add(field, error);
        }
    }
    if !dcat.temporal_start.is_empty()
        && !dcat.temporal_end.is_empty()
        && !errors.0.contains_key("temporal_start")
        && !errors.0.contains_key("temporal_end")
        && dcat.temporal_end < dcat.temporal_start
    {
        errors.add("temporal_end", FieldError::TemporalOrder);
    }
    if dcat.spatial.iter().any(|code| crate::municipalities::name_of(code).is_none()) {
        errors.add("spatial", FieldError::MunicipalityUnknown);
    }
    if !dcat.update_frequency.is_empty() && !crate::UPDATE_FREQUENCIES.contains(&dcat.update_frequency.as_str()) {
        errors.add("update_frequency", FieldError::FrequencyUnknown);
    }
    if !dcat.language.is_empty() && !crate::LANGUAGES.contains(&dcat.language.as_str()) {
        errors.add("language", FieldError::LanguageUnknown);
    }
    for (key, _) in &dataset.extras {
        if key.trim().is_empty() {
            errors.add("extras", FieldError::Missing);
            break;
        }
    }
    errors
}

/// Format checks of a resource.
pub fn validate_resource(resource: &crate::Resource) -> FieldErrors {
    let mut errors = FieldErrors::new();
    if resource.name.chars().count() > 300 {
        errors.add("name", FieldError::TooLong);
    }
    if resource.format.chars().count() > 50 {
        errors.add("format", FieldError::TooLong);
    }
    if let crate::ResourceLocation::Link { url } = &resource.location
        && let Err(error) = validate_web_url(url)
    {
        errors.add("url", error);
    }
    errors
}

/// Format checks of an organization.
pub fn validate_organization(organization: &crate::Organization) -> FieldErrors {
    let mut errors = FieldErrors::new();
    if let Err(error) = validate_slug(&organization.name) {
        errors.add("name", error);
    }
    if organization.title.trim().is_empty() {
        errors.add("title", FieldError::Missing);
    }
    if !organization.image_url.is_empty()
        && let Err(error) = validate_web_url(&organization.image_url)
    {
        errors.add("image_url", error);
    }
    errors
}

/// Checks of a new account: a slug for a name, an e-mail, a long enough password.
pub fn validate_registration(name: &str, email: &str, password: &str) -> FieldErrors {
    let mut errors = FieldErrors::new();
    if let Err(error) = validate_slug(name) {
        errors.add("name", error);
    }
    if let Err(error) = validate_email(email) {
        errors.add("email", error);
    }
    if password.chars().count() < 8 {
        errors.add("password", FieldError::PasswordTooShort);
    }
    errors
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs_follow_ckan_rules() {
        assert_eq!(validate_slug("poblacion-2020_nl"), Ok(()));
        assert_eq!(validate_slug("Población"), Err(FieldError::SlugInvalid));
        assert_eq!(validate_slug("a"), Err(FieldError::SlugTooShort));
        assert_eq!(validate_slug(""), Err(FieldError::Missing));
        assert_eq!(validate_slug(&"a".repeat(101)), Err(FieldError::SlugTooLong));
        assert_eq!(validate_slug("../etc"), Err(FieldError::SlugInvalid));
    }

    #[test]
    fn slugify_folds_spanish_titles() {
        assert_eq!(slugify("Población por Municipio, 2020"), "poblacion-por-municipio-2020");
        assert_eq!(slugify("  Año de la Niñez!  "), "ano-de-la-ninez");
    }

    #[test]
    fn emails_and_urls() {
        assert!(validate_email("datos@nl.gob.mx").is_ok());
        assert!(validate_email("no-at-sign").is_err());
        assert!(validate_email("a@b").is_err());
        assert!(validate_web_url("https://datos.nl.gob.mx/x").is_ok());
        assert!(validate_web_url("javascript:alert(1)").is_err());
        assert!(validate_web_url("ftp://x").is_err());
    }

    #[test]
    fn partial_dates() {
        for good in ["2024", "2024-02", "2024-02-29", "2023-12-31"] {
            assert_eq!(validate_partial_date(good), Ok(()), "{good}");
        }
        for bad in ["24", "2024-13", "2023-02-29", "31/12/2023", "2024-1", ""] {
            assert_eq!(validate_partial_date(bad), Err(FieldError::DateInvalid), "{bad}");
        }
    }
}
