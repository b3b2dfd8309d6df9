//! JSON, NDJSON and GeoJSON records as tables.
//!
//! - JSON: an array of objects, or an object holding one (`{"data": [...]}`,
//!   as many APIs answer). Nested objects are flattened with dotted names
//!   (`direccion.municipio`); arrays are kept as JSON text.
//! - NDJSON: one object per line; a line that is not JSON is reported and
//!   skipped, the rest loads.
//! - GeoJSON: a FeatureCollection; each feature's properties become columns
//!   and its geometry is kept, as GeoJSON text, in a `geometry` column typed
//!   `geojson`; the bounding box and the geometry types are reported.
//!
//! Records stream one at a time (serde visits the array's elements without
//! building it), in two passes over the file: the first collects the
//! columns, in the order they first appear, the second fills the table.
//! serde_json refuses nesting deeper than 128 levels with a clear error.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;

use serde::Deserialize;
use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::Value;

use crate::IngestError;
use crate::reader::{Input, Reader};
use crate::table::{Analysis, AnalyzeOptions, GeoSummary, Source, TableBuilder};

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Json,
    Ndjson,
    Geojson,
}

pub struct JsonReader {
    kind: Kind,
}

pub const JSON: JsonReader = JsonReader { kind: Kind::Json };
pub const NDJSON: JsonReader = JsonReader { kind: Kind::Ndjson };
pub const GEOJSON: JsonReader = JsonReader { kind: Kind::Geojson };

/// Most columns a JSON file may spread into.
const MAX_COLUMNS: usize = 2_000;

fn first_byte(head: &[u8]) -> Option<u8> {
    let head = head.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(head);
    head.iter().copied().find(|byte| !byte.is_ascii_whitespace())
}

impl Reader for JsonReader {
    fn format(&self) -> &'static str {
        match self.kind {
            Kind::Json => "json",
            Kind::Ndjson => "ndjson",
            Kind::Geojson => "geojson",
        }
    }

    fn extensions(&self) -> &'static [&'static str] {
        match self.kind {
            Kind::Json => &["json"],
            Kind::Ndjson => &["ndjson", "jsonl"],
            Kind::Geojson => &["geojson"],
        }
    }

    fn refines(&self) -> &'static [&'static str] {
        match self.kind {
            Kind::Json => &[],
            Kind::Ndjson | Kind::Geojson => &["json"],
        }
    }

    fn sniff(&self, head: &[u8]) -> bool {
        let first = first_byte(head);
        match self.kind {
            Kind::Json => matches!(first, Some(b'[') | Some(b'{')),
            Kind::Geojson => first == Some(b'{') && head.windows(19).any(|window| window == b"\"FeatureCollection\""),
            Kind::Ndjson => {
                if first != Some(b'{') {
                    return false;
                }
                let text = String::from_utf8_lossy(head);
                let mut lines = text.lines().map(str::trim).filter(|line| !line.is_empty());
                let one = lines
                    .next()
                    .is_some_and(|line| serde_json::from_str::<serde_json::Map<String, Value>>(line).is_ok());
                one && lines.next().is_some_and(|line| line.starts_with('{'))
            }
        }
    }

    fn read(&self, input: Input<'_>, options: &AnalyzeOptions) -> Result<Vec<Analysis>, IngestError> {
        let path = input.path()?;
        let geo = self.kind == Kind::Geojson;
        // Where the records are, decided once for both passes.
        let member = match self.kind {
            Kind::Ndjson => None,
            _ => records_member(path)?,
        };
        // First pass: the columns.
        let mut columns = Columns::default();
        self.records(path, member.as_deref(), &mut |record| {
            match record {
                Record::Value(value) => columns.collect(&value, geo)?,
                Record::Bad { .. } => {}
            }
            Ok(())
        })?;
        let mut labels = columns.labels;
        let geometry_index = geo.then(|| {
            labels.push(unique("geometry", &columns.index));
            labels.len() - 1
        });
        if labels.is_empty() {
            return Err(IngestError::NoTable);
        }
        let index = columns.index;
        // Second pass: the rows.
        let mut table = TableBuilder::new(labels.clone(), 0, options, 0, None)?;
        table.check_decoding(true);
        if let Some(column) = geometry_index {
            table.give_type(column, "geojson");
            table.geo = Some(GeoSummary { geometry_field: labels[column].clone(), ..Default::default() });
        }
        let mut cells: Vec<String> = vec![String::new(); labels.len()];
        let mut record = csv::StringRecord::new();
        self.records(path, member.as_deref(), &mut |item| {
            match item {
                Record::Bad { line, error } => table.source_error(
                    format!("line {line} is not JSON: {error}"),
                    format!("la línea {line} no es JSON: {error}"),
                ),
                Record::Value(value) => {
                    cells.iter_mut().for_each(String::clear);
                    let properties = if geo { value.get("properties") } else { &value };
                    flatten(properties, "", &mut |name, text| {
                        if let Some(position) = index.get(name) {
                            cells[*position] = text;
                        }
                    });
                    if let Some(column) = geometry_index {
                        let geometry = value.get("geometry");
                        if !matches!(geometry, Json::Null) {
                            let geometry = geometry.to_value();
                            if let Some(summary) = &mut table.geo {
                                summarize(&geometry, summary);
                            }
                            cells[column] = geometry.to_string();
                        }
                    }
                    record.clear();
                    for cell in &cells {
                        record.push_field(cell);
                    }
                    table.push(&record)?;
                }
            }
            Ok(())
        })?;
        let bytes = std::fs::metadata(path)?.len();
        let analysis = table.finish(Source {
            format: self.format().into(),
            name: options.name.clone(),
            encoding: Some("utf-8".into()),
            bytes,
            ..Default::default()
        })?;
        Ok(vec![analysis])
    }
}

enum Record {
    Value(Json),
    Bad { line: u64, error: String },
}

impl JsonReader {
    /// Each record of the file; `member` names the object member that
    /// holds them (see [`records_member`]), `None` for a top-level array.
    fn records(
        &self,
        path: &Path,
        member: Option<&str>,
        on_record: &mut dyn FnMut(Record) -> Result<(), IngestError>,
    ) -> Result<(), IngestError> {
        let mut reader = BufReader::with_capacity(256 * 1024, std::fs::File::open(path)?);
        skip_bom(&mut reader)?;
        if self.kind == Kind::Ndjson {
            let mut line = String::new();
            let mut number = 0u64;
            loop {
                line.clear();
                let read = read_line_lossy(&mut reader, &mut line)?;
                if read == 0 {
                    break;
                }
                number += 1;
                if line.trim().is_empty() {
                    continue;
                }
                match serde_json::from_str::<Json>(&line) {
                    Ok(value) => on_record(Record::Value(value))?,
                    Err(error) => on_record(Record::Bad { line: number, error: error.to_string() })?,
                }
            }
            return Ok(());
        }
        let mut failure = None;
        let mut deserializer = serde_json::Deserializer::from_reader(reader);
        let visited = deserializer.deserialize_any(Top { on_record, failure: &mut failure, member });
        if let Some(error) = failure {
            return Err(error);
        }
        visited.map_err(|error| IngestError::Json(error.to_string()))?;
        deserializer.end().map_err(|error| IngestError::Json(error.to_string()))?;
        Ok(())
    }
}

fn skip_bom(reader: &mut impl BufRead) -> std::io::Result<()> {
    if reader.fill_buf()?.starts_with(b"\xEF\xBB\xBF") {
        reader.consume(3);
    }
    Ok(())
}

/// Reads a line, replacing bytes that are not UTF-8 (reported as decoding
/// errors); a line longer than [`crate::table::MAX_RECORD_BYTES`] is refused
/// before it is held whole.
fn read_line_lossy(reader: &mut impl BufRead, line: &mut String) -> Result<usize, IngestError> {
    let limit = crate::table::MAX_RECORD_BYTES;
    let mut bytes = Vec::new();
    let read = reader.by_ref().take(limit + 1).read_until(b'\n', &mut bytes)?;
    if read as u64 > limit {
        return Err(IngestError::RecordTooLong(limit));
    }
    line.push_str(&String::from_utf8_lossy(&bytes));
    Ok(read)
}

/// Where a document's records are, decided before they are read (see [`layout`]).
enum Layout {
    /// The document is an array of records.
    Array,
    /// The object's member of this name holds them.
    Member(String),
    Nothing,
}

/// The usual names of the member that holds an object's records (a GeoJSON's
/// `features`, an API answer's `data`, `records`, `results`, `rows`).
fn usual_name(key: &str) -> bool {
    matches!(key, "features" | "data" | "records" | "results" | "rows")
}

/// The member that holds a JSON document's records (`None`: the document is
/// an array of them), or why it holds none.
fn records_member(path: &Path) -> Result<Option<String>, IngestError> {
    match layout(path)? {
        Layout::Array => Ok(None),
        Layout::Member(name) => Ok(Some(name)),
        Layout::Nothing => Err(IngestError::Json(
            "no array of records: expected a top-level array, or an object with a member that is an array of objects"
                .into(),
        )),
    }
}

/// Reads the document once without keeping its values, to tell where its
/// records are: a top-level array; else the first member with a usual name
/// whose value is an array, wherever it is; else the first member that is an
/// array of objects (a report's `{"title": …, "milestones": [{…}, …]}`),
/// arrays of plain values passed over.
fn layout(path: &Path) -> Result<Layout, IngestError> {
    let mut reader = BufReader::with_capacity(256 * 1024, std::fs::File::open(path)?);
    skip_bom(&mut reader)?;
    let mut found = None;
    let mut deserializer = serde_json::Deserializer::from_reader(reader);
    let scanned = deserializer.deserialize_any(Scan { layout: &mut found });
    match found {
        Some(layout) => Ok(layout),
        None => {
            scanned.map_err(|error| IngestError::Json(error.to_string()))?;
            Ok(Layout::Nothing)
        }
    }
}

/// The top of a document, for [`layout`]; stops as soon as it knows.
struct Scan<'a> {
    layout: &'a mut Option<Layout>,
}

impl<'de> Visitor<'de> for Scan<'_> {
    type Value = ();

    fn expecting(&self, formatter: &mut std::fmt::Formatter) -> std::fmt::Result {
        formatter.write_str("an array of records, or an object holding one")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, _: A) -> Result<(), A::Error> {
        *self.layout = Some(Layout::Array);
        Err(serde::de::Error::custom("found"))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let mut candidate = None;
        while let Some(key) = map.next_key::<String>()? {
            match map.next_value::<ValueKind>()? {
                ValueKind::Array(_) if usual_name(&key) => {
                    *self.layout = Some(Layout::Member(key));
                    return Err(serde::de::Error::custom("found"));
                }
                ValueKind::Array(true) if candidate.is_none() => candidate = Some(key),
                _ => {}
            }
        }
        *self.layout = Some(candidate.map_or(Layout::Nothing, Layout::Member));
        Ok(())
    }
}

/// What a value is, for [`layout`]; nothing of it is kept.
enum ValueKind {
    Object,
    /// An array, and whether its first element is an object.
    Array(bool),
    Other,
}

impl<'de> serde::Deserialize<'de> for ValueKind {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<ValueKind, D::Error> {
        struct ValueKindVisitor;
        impl<'de> Visitor<'de> for ValueKindVisitor {
            type Value = ValueKind;
            fn expecting(&self, formatter: &mut std::fmt::Formatter) -> std::fmt::Result {
                formatter.write_str("any value")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<ValueKind, A::Error> {
                while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(ValueKind::Object)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<ValueKind, A::Error> {
                let first = seq.next_element::<ValueKind>()?;
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(ValueKind::Array(matches!(first, Some(ValueKind::Object))))
            }
            fn visit_bool<E>(self, _: bool) -> Result<ValueKind, E> {
                Ok(ValueKind::Other)
            }
            fn visit_i64<E>(self, _: i64) -> Result<ValueKind, E> {
                Ok(ValueKind::Other)
            }
            fn visit_u64<E>(self, _: u64) -> Result<ValueKind, E> {
                Ok(ValueKind::Other)
            }
            fn visit_f64<E>(self, _: f64) -> Result<ValueKind, E> {
                Ok(ValueKind::Other)
            }
            fn visit_str<E>(self, _: &str) -> Result<ValueKind, E> {
                Ok(ValueKind::Other)
            }
            fn visit_unit<E>(self) -> Result<ValueKind, E> {
                Ok(ValueKind::Other)
            }
        }
        deserializer.deserialize_any(ValueKindVisitor)
    }
}

/// The top of a JSON document: an array of records, or an object whose
/// member `member` holds them.
struct Top<'a, 'b> {
    on_record: &'a mut dyn FnMut(Record) -> Result<(), IngestError>,
    failure: &'b mut Option<IngestError>,
    member: Option<&'a str>,
}

impl<'de> Visitor<'de> for Top<'_, '_> {
    type Value = ();

    fn expecting(&self, formatter: &mut std::fmt::Formatter) -> std::fmt::Result {
        formatter.write_str("an array of records, or an object holding one")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while let Some(value) = seq.next_element::<Json>()? {
            if let Err(error) = (self.on_record)(Record::Value(value)) {
                *self.failure = Some(error);
                return Err(serde::de::Error::custom("stopped"));
            }
        }
        Ok(())
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let mut found = false;
        while let Some(key) = map.next_key::<String>()? {
            if found || self.member != Some(key.as_str()) {
                map.next_value::<IgnoredAny>()?;
                continue;
            }
            let failure = &mut *self.failure;
            let on_record = &mut *self.on_record;
            found = map.next_value_seed(Nested { on_record, failure })?;
        }
        Ok(())
    }
}

/// The value of a member that may hold the records.
struct Nested<'a, 'b> {
    on_record: &'a mut dyn FnMut(Record) -> Result<(), IngestError>,
    failure: &'b mut Option<IngestError>,
}

impl<'de> DeserializeSeed<'de> for Nested<'_, '_> {
    type Value = bool;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<bool, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Nested<'_, '_> {
    type Value = bool;

    fn expecting(&self, formatter: &mut std::fmt::Formatter) -> std::fmt::Result {
        formatter.write_str("any value")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<bool, A::Error> {
        Top { on_record: self.on_record, failure: self.failure, member: None }.visit_seq(seq)?;
        Ok(true)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<bool, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(false)
    }

    fn visit_bool<E>(self, _: bool) -> Result<bool, E> {
        Ok(false)
    }
    fn visit_i64<E>(self, _: i64) -> Result<bool, E> {
        Ok(false)
    }
    fn visit_u64<E>(self, _: u64) -> Result<bool, E> {
        Ok(false)
    }
    fn visit_f64<E>(self, _: f64) -> Result<bool, E> {
        Ok(false)
    }
    fn visit_str<E>(self, _: &str) -> Result<bool, E> {
        Ok(false)
    }
    fn visit_unit<E>(self) -> Result<bool, E> {
        Ok(false)
    }
}

#[derive(Default)]
struct Columns {
    labels: Vec<String>,
    index: HashMap<String, usize>,
}

impl Columns {
    fn collect(&mut self, value: &Json, geo: bool) -> Result<(), IngestError> {
        let properties = if geo { value.get("properties") } else { value };
        let mut overflow = false;
        flatten(properties, "", &mut |name, _| {
            if !self.index.contains_key(name) {
                if self.labels.len() >= MAX_COLUMNS {
                    overflow = true;
                    return;
                }
                self.index.insert(name.to_string(), self.labels.len());
                self.labels.push(name.to_string());
            }
        });
        if overflow {
            return Err(IngestError::TooManyColumns(MAX_COLUMNS));
        }
        Ok(())
    }
}

fn unique(name: &str, taken: &HashMap<String, usize>) -> String {
    let mut candidate = name.to_string();
    let mut suffix = 2;
    while taken.contains_key(&candidate) {
        candidate = format!("{name}_{suffix}");
        suffix += 1;
    }
    candidate
}

/// A JSON value that keeps its members in the document's order (columns
/// appear as the publisher wrote them; `serde_json::Value` sorts them).
#[derive(Debug)]
pub(crate) enum Json {
    Null,
    Bool(bool),
    Number(serde_json::Number),
    String(String),
    Array(Vec<Json>),
    Object(Vec<(String, Json)>),
}

static NULL: Json = Json::Null;

impl Json {
    /// The member `key` of an object; null for anything else.
    fn get(&self, key: &str) -> &Json {
        match self {
            Json::Object(members) => {
                members.iter().find(|(name, _)| name == key).map(|(_, value)| value).unwrap_or(&NULL)
            }
            _ => &NULL,
        }
    }

    fn to_value(&self) -> Value {
        match self {
            Json::Null => Value::Null,
            Json::Bool(value) => Value::Bool(*value),
            Json::Number(number) => Value::Number(number.clone()),
            Json::String(text) => Value::String(text.clone()),
            Json::Array(items) => Value::Array(items.iter().map(Json::to_value).collect()),
            Json::Object(members) => {
                Value::Object(members.iter().map(|(name, value)| (name.clone(), value.to_value())).collect())
            }
        }
    }
}

impl<'de> Deserialize<'de> for Json {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Json, D::Error> {
        deserializer.deserialize_any(JsonVisitor)
    }
}

struct JsonVisitor;

impl<'de> Visitor<'de> for JsonVisitor {
    type Value = Json;

    fn expecting(&self, formatter: &mut std::fmt::Formatter) -> std::fmt::Result {
        formatter.write_str("a JSON value")
    }
    fn visit_unit<E>(self) -> Result<Json, E> {
        Ok(Json::Null)
    }
    fn visit_none<E>(self) -> Result<Json, E> {
        Ok(Json::Null)
    }
    fn visit_bool<E>(self, value: bool) -> Result<Json, E> {
        Ok(Json::Bool(value))
    }
    fn visit_i64<E>(self, value: i64) -> Result<Json, E> {
        Ok(Json::Number(value.into()))
    }
    fn visit_u64<E>(self, value: u64) -> Result<Json, E> {
        Ok(Json::Number(value.into()))
    }
    fn visit_f64<E>(self, value: f64) -> Result<Json, E> {
        Ok(serde_json::Number::from_f64(value).map(Json::Number).unwrap_or(Json::Null))
    }
    fn visit_str<E>(self, value: &str) -> Result<Json, E> {
        Ok(Json::String(value.to_string()))
    }
    fn visit_string<E>(self, value: String) -> Result<Json, E> {
        Ok(Json::String(value))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Json, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element::<Json>()? {
            items.push(item);
        }
        Ok(Json::Array(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Json, A::Error> {
        let mut members = Vec::new();
        while let Some((name, value)) = map.next_entry::<String, Json>()? {
            members.push((name, value));
        }
        Ok(Json::Object(members))
    }
}

/// Calls `cell` with each leaf's dotted name and its text.
fn flatten(value: &Json, prefix: &str, cell: &mut dyn FnMut(&str, String)) {
    match value {
        Json::Object(members) => {
            for (key, member) in members {
                let name = if prefix.is_empty() { key.clone() } else { format!("{prefix}.{key}") };
                match member {
                    Json::Object(_) => flatten(member, &name, cell),
                    other => cell(&name, text(other)),
                }
            }
        }
        // A record that is not an object: one value per row.
        Json::Array(items) => {
            for (number, item) in items.iter().enumerate() {
                cell(&format!("field{}", number + 1), text(item));
            }
        }
        other => cell(if prefix.is_empty() { "value" } else { prefix }, text(other)),
    }
}

fn text(value: &Json) -> String {
    match value {
        Json::Null => String::new(),
        Json::String(text) => text.clone(),
        Json::Bool(value) => value.to_string(),
        Json::Number(number) => number.to_string(),
        other => other.to_value().to_string(),
    }
}

/// Adds a geometry's type and positions (those of a collection's members
/// too) to the summary.
pub(crate) fn summarize(geometry: &Value, summary: &mut GeoSummary) {
    if let Some(kind) = geometry["type"].as_str() {
        *summary.geometry_types.entry(kind.to_string()).or_insert(0) += 1;
    }
    fn positions(value: &Value, summary: &mut GeoSummary) {
        if let Value::Array(items) = value {
            if let (Some(x), Some(y)) = (items.first().and_then(Value::as_f64), items.get(1).and_then(Value::as_f64)) {
                summary.extend(x, y);
            } else {
                items.iter().for_each(|item| positions(item, summary));
            }
        }
    }
    positions(&geometry["coordinates"], summary);
    for member in geometry["geometries"].as_array().into_iter().flatten() {
        positions(&member["coordinates"], summary);
    }
}
