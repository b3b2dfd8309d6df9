//! Server-rendered HTML with minijinja. Templates are compiled into the
//! binary; autoescaping is on for every `.html` template, Markdown goes
//! through `ammonia` before it is marked safe, and JSON-LD is escaped so no
//! `</script>` can close its block.

use axum::response::{Html, IntoResponse, Response};
use minijinja::value::{Kwargs, Value};
use minijinja::{Environment, ErrorKind, State};

use crate::error::AppError;
use crate::i18n::Lang;

macro_rules! templates {
    ($($name:literal),* $(,)?) => {
        pub static TEMPLATES: &[(&str, &str)] = &[$(($name, include_str!(concat!("../templates/", $name)))),*];
    };
}

templates!(
    "base.html",
    "macros.html",
    "_dataset_list.html",
    "_search_results.html",
    "_activity.html",
    "home.html",
    "search.html",
    "dataset.html",
    "dataset_form.html",
    "resource.html",
    "resource_form.html",
    "resource_schema.html",
    "organizations.html",
    "organization.html",
    "organization_form.html",
    "members.html",
    "groups.html",
    "login.html",
    "register.html",
    "user.html",
    "error.html",
    "commitments.html",
    "commitment.html",
    "milestone.html",
    "milestone_import.html",
    "commitment_report.html",
    "inventory.html",
    "_inventory_items.html",
    "organization_inventory.html",
    "quality.html",
);

pub struct Templates {
    environment: Environment<'static>,
}

impl Default for Templates {
    fn default() -> Self {
        Self::new()
    }
}

fn lang_of(state: &State) -> Lang {
    state.lookup("lang").and_then(|value| value.as_str().and_then(Lang::parse)).unwrap_or_default()
}

/// `t("key", name=value…)`: the translation of `key` in the page's language.
fn translate(state: &State, key: &str, kwargs: Kwargs) -> Result<String, minijinja::Error> {
    let lang = lang_of(state);
    let mut args = Vec::new();
    for name in kwargs.args() {
        let value: Value = kwargs.get(name)?;
        let fluent = match value.as_i64() {
            Some(number) => fluent_templates::fluent_bundle::FluentValue::from(number),
            None => fluent_templates::fluent_bundle::FluentValue::from(value.to_string()),
        };
        args.push((name, fluent));
    }
    kwargs.assert_all_used()?;
    Ok(if args.is_empty() { lang.t(key) } else { lang.t_args(key, &args) })
}

/// Markdown to HTML with everything dangerous removed (scripts, event
/// handlers, `javascript:` links, styles).
pub fn markdown_to_safe_html(markdown: &str) -> String {
    let parser = pulldown_cmark::Parser::new_ext(
        markdown,
        pulldown_cmark::Options::ENABLE_TABLES | pulldown_cmark::Options::ENABLE_STRIKETHROUGH,
    );
    let mut html = String::new();
    pulldown_cmark::html::push_html(&mut html, parser);
    ammonia::Builder::default().link_rel(Some("nofollow noopener noreferrer")).clean(&html).to_string()
}

/// Markdown as the plain text a reader sees once it is rendered (no marks,
/// no raw HTML, blocks and line breaks as spaces), cut on a word boundary
/// to at most `limit` characters, with "…" where it was cut.
pub fn markdown_summary(markdown: &str, limit: usize) -> String {
    use pulldown_cmark::{Event, TagEnd};
    let mut raw = String::new();
    let mut stopped = false;
    let options = pulldown_cmark::Options::ENABLE_TABLES | pulldown_cmark::Options::ENABLE_STRIKETHROUGH;
    for event in pulldown_cmark::Parser::new_ext(markdown, options) {
        match event {
            Event::Text(part) | Event::Code(part) => raw.push_str(&part),
            // Raw HTML (harvested descriptions often are): its text, tags as spaces.
            Event::Html(html) | Event::InlineHtml(html) => html_text(&html, &mut raw),
            Event::SoftBreak | Event::HardBreak | Event::Rule => raw.push(' '),
            Event::End(
                TagEnd::Paragraph | TagEnd::Heading(_) | TagEnd::Item | TagEnd::TableCell | TagEnd::BlockQuote(_),
            ) => raw.push(' '),
            _ => {}
        }
        // Enough to fill the summary, whatever the spaces collapse.
        if raw.len() > limit.saturating_mul(8) {
            stopped = true;
            break;
        }
    }
    let text = raw.split_whitespace().collect::<Vec<_>>().join(" ");
    if text.chars().count() <= limit && !stopped {
        return text;
    }
    // One character past the limit: a space there ends the last whole word.
    let cut: String = text.chars().take(limit + 1).collect();
    let cut = match cut.rfind(' ') {
        Some(end) if end > 0 => cut[..end].trim_end_matches([',', ';', ':', '.', ' ']).to_string(),
        // The first word alone is too long.
        _ => cut.chars().take(limit).collect(),
    };
    format!("{cut}…")
}

/// The text of an HTML fragment: tags become spaces, the usual entities their characters.
fn html_text(html: &str, out: &mut String) {
    let mut in_tag = false;
    let mut text = String::new();
    for character in html.chars() {
        match (in_tag, character) {
            (false, '<') => {
                in_tag = true;
                text.push(' ');
            }
            (true, '>') => in_tag = false,
            (false, character) => text.push(character),
            (true, _) => {}
        }
    }
    for (entity, character) in
        [("&nbsp;", " "), ("&lt;", "<"), ("&gt;", ">"), ("&quot;", "\""), ("&#39;", "'"), ("&amp;", "&")]
    {
        text = text.replace(entity, character);
    }
    out.push_str(&text);
}

fn markdown(text: &str) -> Value {
    Value::from_safe_string(markdown_to_safe_html(text))
}

/// A JSON document safe to embed in `<script type="application/ld+json">`.
pub fn json_for_script(value: &serde_json::Value) -> String {
    serde_json::to_string(value)
        .expect("json serializes")
        .replace('<', "\\u003c")
        .replace('>', "\\u003e")
        .replace('&', "\\u0026")
}

/// "2026-11-26T15:08:28.123456" → "2026-11-26 15:08" (UTC), for display.
fn short_datetime(value: &str) -> String {
    let date_time = value.replace('T', " ");
    date_time.chars().take(16).collect()
}

/// 1536 → "1.5 KB".
fn file_size(value: Value) -> String {
    let Some(bytes) = value.as_i64() else { return String::new() };
    let units = ["B", "KB", "MB", "GB", "TB"];
    let mut size = bytes as f64;
    let mut unit = 0;
    while size >= 1024.0 && unit < units.len() - 1 {
        size /= 1024.0;
        unit += 1;
    }
    if unit == 0 { format!("{bytes} B") } else { format!("{size:.1} {}", units[unit]) }
}

/// Builds a URL query from the current one with one key changed (used by
/// facet links and paging).
fn with_param(query: Value, key: &str, value: Value) -> Result<String, minijinja::Error> {
    let mut pairs: Vec<(String, String)> = Vec::new();
    if let Ok(iter) = query.try_iter() {
        for item in iter {
            let pair: Vec<Value> = item.try_iter().map(|inner| inner.collect()).unwrap_or_default();
            if pair.len() == 2 {
                pairs.push((pair[0].to_string(), pair[1].to_string()));
            }
        }
    } else {
        return Err(minijinja::Error::new(ErrorKind::InvalidOperation, "query must be a list of pairs"));
    }
    pairs.retain(|(existing, _)| existing != key && existing != "page");
    if !value.is_none() && !value.is_undefined() && !value.to_string().is_empty() {
        pairs.push((key.to_string(), value.to_string()));
    }
    Ok(format!("?{}", serde_urlencoded::to_string(&pairs).unwrap_or_default()))
}

impl Templates {
    pub fn new() -> Templates {
        let mut environment = Environment::new();
        // A key a template reads that its view does not have is an error
        // (the page answers 500 and the tests fail), not an empty string;
        // `{% if view.key %}` may still ask whether an optional key is there.
        environment.set_undefined_behavior(minijinja::UndefinedBehavior::SemiStrict);
        for (name, source) in TEMPLATES {
            environment
                .add_template(name, source)
                .unwrap_or_else(|error| panic!("template {name} does not parse: {error}"));
        }
        environment.add_function("t", translate);
        environment.add_function("with_param", with_param);
        environment.add_filter("markdown", markdown);
        environment.add_filter("datetime", short_datetime);
        environment.add_filter("filesize", file_size);
        Templates { environment }
    }

    pub fn render(&self, name: &str, context: serde_json::Value) -> Result<Html<String>, AppError> {
        let template = self.environment.get_template(name).map_err(AppError::internal)?;
        template
            .render(Value::from_serialize(&context))
            .map(Html)
            .map_err(|error| AppError::internal(format!("rendering {name}: {error:#}")))
    }

    pub fn render_error(&self, lang: Lang, error: &AppError) -> Response {
        let fields: Vec<String> = match error {
            AppError::Validation(fields) => fields
                .0
                .iter()
                .flat_map(|(field, errors)| {
                    errors
                        .iter()
                        .map(move |error| format!("{field}: {}", lang.t(&format!("field-error-{}", error.code()))))
                })
                .collect(),
            _ => Vec::new(),
        };
        let context = serde_json::json!({
            "lang": lang.code(),
            "lang_tag": lang.tag(),
            "status": error.status().as_u16(),
            "message_key": error.message_key(),
            "fields": fields,
            "path": "/",
        });
        match self.render("error.html", context) {
            Ok(html) => html.into_response(),
            Err(_) => (error.status(), error.status().canonical_reason().unwrap_or("error")).into_response(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_the_view_does_not_have_fails_the_render() {
        let templates = Templates::new();
        let mut environment = templates.environment.clone();
        environment.add_template("probe.html", "{{ view.title }}|{% if view.optional %}yes{% endif %}").unwrap();
        let probe = environment.get_template("probe.html").unwrap();
        let context = minijinja::Value::from_serialize(serde_json::json!({"view": {"title": "Presupuesto"}}));
        assert_eq!(probe.render(&context).unwrap(), "Presupuesto|", "an optional key may be tested");
        let renamed = minijinja::Value::from_serialize(serde_json::json!({"view": {"name": "Presupuesto"}}));
        let error = probe.render(&renamed).unwrap_err();
        assert_eq!(error.kind(), minijinja::ErrorKind::UndefinedError, "{error}");
    }

    #[test]
    fn markdown_keeps_formatting_and_drops_scripts() {
        let html = markdown_to_safe_html(
            "**Datos** <script>alert(1)</script> [x](javascript:alert(2)) <img src=x onerror=alert(3)>",
        );
        assert!(html.contains("<strong>Datos</strong>"));
        assert!(!html.contains("<script"));
        assert!(!html.contains("javascript:"));
        assert!(!html.contains("onerror"));
    }

    #[test]
    fn summaries_are_plain_text_cut_on_a_word() {
        let notes = "Estado de los hitos del compromiso **MXNLE0001: Participación**, con fechas.\n\n\
                     > **Datos de ejemplo.** No son cifras oficiales. <b>x</b> [su página](/commitment/MXNLE0001)";
        let summary = markdown_summary(notes, 500);
        assert_eq!(
            summary,
            "Estado de los hitos del compromiso MXNLE0001: Participación, con fechas. Datos de ejemplo. No son \
             cifras oficiales. x su página"
        );
        let cut = markdown_summary(notes, 40);
        assert_eq!(cut, "Estado de los hitos del compromiso…");
        assert!(cut.chars().count() <= 41);
        assert_eq!(markdown_summary("# Título\n\n- uno\n- dos", 100), "Título uno dos");
        assert_eq!(markdown_summary("", 10), "");
        assert_eq!(markdown_summary("Supercalifragilístico", 5), "Super…");
        assert_eq!(markdown_summary("a `código` b", 100), "a código b");
        // The word that ends at the limit is kept.
        assert_eq!(markdown_summary("hola mundo foo", 10), "hola mundo…");
        // A description written in HTML, and marks the page renders.
        assert_eq!(markdown_summary("<p>Población por municipio &amp; año</p>", 100), "Población por municipio & año");
        assert_eq!(markdown_summary("uno<br>dos ~~obsoleto~~", 100), "uno dos obsoleto");
        // Cut while reading (a very long description): still marked as cut.
        let long = format!("{}\n\n{}", "    código sangrado ".repeat(200), "fin");
        assert!(markdown_summary(&long, 10).ends_with('…'));
    }

    #[test]
    fn json_ld_cannot_close_its_script() {
        let text = json_for_script(&serde_json::json!({"name": "</script><script>alert(1)</script>"}));
        assert!(!text.contains("</script>"));
        assert_eq!(
            serde_json::from_str::<serde_json::Value>(&text).unwrap()["name"],
            "</script><script>alert(1)</script>"
        );
    }

    #[test]
    fn all_templates_parse() {
        let _ = Templates::new();
    }
}
