//! Translations with Fluent. Spanish (es-MX) is the default; English is one
//! click away (`?lang=en`, remembered in a cookie). Every string a person
//! reads goes through here; `locales/*/main.ftl` hold them and a test checks
//! both languages have the same keys and every key the templates use.

use std::borrow::Cow;
use std::collections::HashMap;

use axum::extract::Request;
use fluent_templates::fluent_bundle::FluentValue;
use fluent_templates::{Loader, static_loader};
use unic_langid::LanguageIdentifier;

static_loader! {
    static LOCALES = {
        locales: "./locales",
        fallback_language: "es-MX",
        customise: |bundle| bundle.set_use_isolating(false),
    };
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
pub enum Lang {
    #[default]
    #[serde(rename = "es")]
    Es,
    #[serde(rename = "en")]
    En,
}

pub const LANG_COOKIE: &str = "datalab_lang";

impl Lang {
    pub fn parse(text: &str) -> Option<Lang> {
        match text {
            "es" | "es-MX" | "es-mx" => Some(Lang::Es),
            "en" | "en-US" | "en-us" => Some(Lang::En),
            _ => None,
        }
    }

    pub fn code(self) -> &'static str {
        match self {
            Lang::Es => "es",
            Lang::En => "en",
        }
    }

    /// BCP 47 tag for `<html lang>` and the locale files.
    pub fn tag(self) -> &'static str {
        match self {
            Lang::Es => "es-MX",
            Lang::En => "en",
        }
    }

    fn identifier(self) -> LanguageIdentifier {
        self.tag().parse().expect("static language tags parse")
    }

    /// `?lang=` wins, then the cookie, then Spanish.
    pub fn from_request(request: &Request) -> Lang {
        let from_query = request.uri().query().and_then(|query| {
            serde_urlencoded::from_str::<Vec<(String, String)>>(query)
                .ok()?
                .into_iter()
                .find(|(key, _)| key == "lang")
                .and_then(|(_, value)| Lang::parse(&value))
        });
        from_query
            .or_else(|| crate::cookies::cookie(request.headers(), LANG_COOKIE).and_then(|value| Lang::parse(&value)))
            .unwrap_or_default()
    }

    pub fn t(self, key: &str) -> String {
        LOCALES.try_lookup(&self.identifier(), key).unwrap_or_else(|| key.to_string())
    }

    pub fn t_args(self, key: &str, args: &[(&str, FluentValue<'_>)]) -> String {
        let args: HashMap<Cow<'static, str>, FluentValue<'_>> =
            args.iter().map(|(name, value)| (Cow::Owned(name.to_string()), value.clone())).collect();
        LOCALES.try_lookup_with_args(&self.identifier(), key, &args).unwrap_or_else(|| key.to_string())
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    fn keys(source: &str) -> BTreeSet<String> {
        source
            .lines()
            .filter(|line| !line.starts_with(char::is_whitespace) && !line.starts_with('#') && !line.starts_with('.'))
            .filter_map(|line| line.split_once(" =").map(|(key, _)| key.trim().to_string()))
            .filter(|key| !key.is_empty())
            .collect()
    }

    #[test]
    fn both_languages_have_the_same_keys() {
        let spanish = keys(include_str!("../locales/es-MX/main.ftl"));
        let english = keys(include_str!("../locales/en/main.ftl"));
        let only_spanish: Vec<_> = spanish.difference(&english).collect();
        let only_english: Vec<_> = english.difference(&spanish).collect();
        assert!(
            only_spanish.is_empty() && only_english.is_empty(),
            "only es-MX: {only_spanish:?}; only en: {only_english:?}"
        );
    }

    #[test]
    fn every_key_used_in_templates_and_code_exists() {
        let spanish = keys(include_str!("../locales/es-MX/main.ftl"));
        let mut missing = BTreeSet::new();
        for (name, source) in crate::templates::TEMPLATES
            .iter()
            .map(|(name, source)| (*name, *source))
            .chain([("error.rs", include_str!("error.rs")), ("pages/mod.rs", include_str!("pages/mod.rs"))])
        {
            // Keys appear as t("key" …) in templates and as "error-…"/"field-…" literals in code.
            for (index, _) in source.match_indices("t(\"") {
                let preceded_by_identifier =
                    source[..index].chars().next_back().is_some_and(|before| before.is_alphanumeric() || before == '_');
                let rest = &source[index + 3..];
                let key = &rest[..rest.find('"').unwrap_or(0)];
                // A key ending in '-' is a prefix completed at run time ("language-" ~ code).
                if !preceded_by_identifier && !key.is_empty() && !key.ends_with('-') && !spanish.contains(key) {
                    missing.insert(format!("{name}: {key}"));
                }
            }
        }
        for key in ["error-not-found", "error-forbidden", "error-internal", "error-csrf", "error-too-large"] {
            if !spanish.contains(key) {
                missing.insert(key.to_string());
            }
        }
        for error in datalab_core::FieldError::ALL {
            let key = format!("field-error-{}", error.code());
            if !spanish.contains(&key) {
                missing.insert(key);
            }
        }
        assert!(missing.is_empty(), "missing translations: {missing:?}");
    }
}
