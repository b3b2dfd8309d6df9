//! Atom feeds: a commitment's status changes and new evidence.

use datalab_core::accountability::{Commitment, MilestoneEvent};

use crate::i18n::Lang;

fn xml_escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;").replace('\'', "&apos;")
}

/// An Atom feed of a commitment's status changes and new evidence, newest first.
pub fn commitment_feed(
    base_url: &str,
    commitment: &Commitment,
    events: &[(i64, MilestoneEvent)],
    lang: Lang,
) -> String {
    let code = lang.code();
    let link = format!("{base_url}/commitment/{}", commitment.code);
    let updated = events.first().map(|(_, event)| event.at).unwrap_or_else(datalab_store::now);
    let rfc3339 =
        |moment: time::OffsetDateTime| moment.format(&time::format_description::well_known::Rfc3339).expect("formats");
    let mut feed =
        String::from("<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<feed xmlns=\"http://www.w3.org/2005/Atom\">\n");
    feed.push_str(&format!(
        "  <title>{}</title>\n  <id>{}</id>\n  <link href=\"{}\"/>\n  <link rel=\"self\" href=\"{}/feed.atom\"/>\n  <updated>{}</updated>\n",
        xml_escape(&format!("{}: {}", commitment.code, commitment.title.get(code))),
        xml_escape(&link),
        xml_escape(&link),
        xml_escape(&link),
        rfc3339(updated)
    ));
    let status_label = |value: &serde_json::Value| {
        value.as_str().map(|status| lang.t(&format!("status-{status}"))).unwrap_or_default()
    };
    for (number, event) in events {
        let title = match event.field.as_str() {
            "status" => format!(
                "{} {number}: {} → {}",
                lang.t("milestone"),
                status_label(&event.before),
                status_label(&event.after)
            ),
            _ => format!("{} {number}: {}", lang.t("milestone"), lang.t("milestone-field-evidence")),
        };
        let entry_link = format!("{link}/milestone/{number}");
        feed.push_str(&format!(
            "  <entry>\n    <title>{}</title>\n    <id>{}#event-{}</id>\n    <link href=\"{}\"/>\n    <updated>{}</updated>\n    <author><name>{}</name></author>\n    <summary>{}</summary>\n  </entry>\n",
            xml_escape(&title),
            xml_escape(&entry_link),
            event.id,
            xml_escape(&entry_link),
            rfc3339(event.at),
            xml_escape(event.user_name.as_deref().unwrap_or("datalab")),
            xml_escape(&event.note),
        ));
    }
    feed.push_str("</feed>\n");
    feed
}
