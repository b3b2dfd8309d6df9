//! A Table Schema given by the publisher (edited on the resource's schema
//! page or sent through the API): field types, formats, titles and
//! descriptions, missing values, constraints (`required`, `unique`,
//! `minimum`, `maximum`, `minLength`, `maxLength`, `pattern`, `enum`) and
//! `primaryKey`. What it gives replaces what inference would decide; what it
//! leaves out is still inferred. [`GivenSchema::parse`] refuses a schema
//! that cannot be applied, saying why, so an editor learns it on saving.

use std::collections::HashMap;

use regex::Regex;
use serde_json::Value;

use crate::infer::{DateFormat, FieldType, days_from_civil, parse_date, parse_dates, parse_number};

#[derive(Debug, Clone)]
pub struct GivenSchema {
    pub fields: HashMap<String, GivenField>,
    pub missing_values: Option<Vec<String>>,
    pub primary_key: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct GivenField {
    /// The Table Schema type as written ("integer", "geojson", ...).
    pub schema_type: Option<String>,
    /// The type the table stores it as.
    pub field_type: Option<FieldType>,
    pub format: Option<DateFormat>,
    /// The field's own JSON (title, description, constraints), merged into the output schema.
    pub raw: serde_json::Map<String, Value>,
    pub constraints: Constraints,
}

#[derive(Debug, Clone, Default)]
pub struct Constraints {
    pub required: bool,
    pub unique: bool,
    pub minimum: Option<(f64, String)>,
    pub maximum: Option<(f64, String)>,
    pub min_length: Option<usize>,
    pub max_length: Option<usize>,
    pub pattern: Option<(Regex, String)>,
    pub enumeration: Option<Vec<String>>,
}

impl Constraints {
    pub fn any(&self) -> bool {
        self.required
            || self.unique
            || self.minimum.is_some()
            || self.maximum.is_some()
            || self.min_length.is_some()
            || self.max_length.is_some()
            || self.pattern.is_some()
            || self.enumeration.is_some()
    }
}

/// Table Schema types and how the table stores them.
fn field_type(name: &str) -> Option<Option<FieldType>> {
    Some(match name {
        "integer" => Some(FieldType::Integer),
        "number" => Some(FieldType::Number),
        "boolean" => Some(FieldType::Boolean),
        "date" => Some(FieldType::Date),
        "datetime" => Some(FieldType::Datetime),
        "time" => Some(FieldType::Time),
        "string" => Some(FieldType::String),
        // Kept as text.
        "any" | "geojson" | "geopoint" | "object" | "array" | "year" | "yearmonth" | "duration" => None,
        _ => return None,
    })
}

/// The value of a `minimum`/`maximum` on a field of `kind`, as a number
/// (days since 1970 for dates).
fn bound(value: &Value, kind: Option<FieldType>, format: Option<DateFormat>) -> Result<f64, String> {
    let text = match value {
        Value::Number(number) => number.to_string(),
        Value::String(text) => text.clone(),
        other => other.to_string(),
    };
    match kind {
        Some(FieldType::Integer | FieldType::Number) => {
            parse_number(&text).ok_or_else(|| format!("\"{text}\" is not a number"))
        }
        Some(FieldType::Date) => {
            let date = parse_date(&text, DateFormat::YearMonthDay)
                .or_else(|| format.and_then(|format| parse_date(&text, format)))
                .ok_or_else(|| format!("\"{text}\" is not a date (write it as yyyy-mm-dd)"))?;
            Ok(f64::from(days_from_civil(date.0, date.1, date.2)))
        }
        _ => Err("minimum and maximum apply to integer, number and date fields".into()),
    }
}

fn date_format(pattern: &str) -> Result<Option<DateFormat>, String> {
    match pattern {
        "" | "default" | "any" => Ok(None),
        _ => DateFormat::ALL
            .iter()
            .copied()
            .find(|format| format.pattern() == pattern)
            .map(Some)
            .ok_or_else(|| format!("date format \"{pattern}\" is not one of %Y-%m-%d, %d/%m/%Y, %m/%d/%Y")),
    }
}

/// The key of a resource schema holding the Table Schemas of a workbook's
/// sheets, by sheet name.
pub const SHEETS: &str = "sheets";

/// The schema says something of its own, besides its sheets'.
fn has_own_fields(schema: &Value) -> bool {
    schema.as_object().is_some_and(|object| object.keys().any(|key| key != SHEETS))
}

/// The part of a resource schema that applies to a table: the workbook
/// sheet's own (`sheet` names it under `sheets`), else for the file's
/// first table the schema's own fields.
pub fn table_schema<'a>(schema: &'a Value, first: bool, sheet: Option<&str>) -> Option<&'a Value> {
    match sheet.and_then(|name| schema.get(SHEETS)?.get(name)) {
        Some(sheet) => Some(sheet),
        None if first && has_own_fields(schema) => Some(schema),
        None => None,
    }
}

impl GivenSchema {
    /// Checks a resource's schema as ingestion reads it, its own fields and
    /// every sheet's; the error names the sheet, the field and what is wrong.
    pub fn check(schema: &Value) -> Result<(), String> {
        if !schema.is_object() {
            return Err("the schema must be an object".into());
        }
        GivenSchema::parse(schema)?;
        match schema.get(SHEETS) {
            None | Some(Value::Null) => Ok(()),
            Some(Value::Object(sheets)) => {
                for (name, sheet) in sheets {
                    if !sheet.is_object() {
                        return Err(format!("sheet \"{name}\": must be a Table Schema"));
                    }
                    GivenSchema::parse(sheet).map_err(|message| format!("sheet \"{name}\": {message}"))?;
                }
                Ok(())
            }
            Some(_) => Err(format!("\"{SHEETS}\" must hold a Table Schema per sheet name")),
        }
    }

    /// Reads a Table Schema; the error names the field and what is wrong.
    pub fn parse(schema: &Value) -> Result<GivenSchema, String> {
        let mut fields = HashMap::new();
        let list = match &schema["fields"] {
            Value::Null => Vec::new(),
            Value::Array(list) => list.clone(),
            _ => return Err("\"fields\" must be a list".into()),
        };
        for field in list {
            let Value::Object(raw) = field else { return Err("each field must be an object".into()) };
            let name = raw.get("name").and_then(Value::as_str).ok_or("each field needs a \"name\"")?.to_string();
            let context = |message: String| format!("field \"{name}\": {message}");
            let schema_type = raw.get("type").and_then(Value::as_str).map(str::to_string);
            let kind = match &schema_type {
                Some(written) => field_type(written).ok_or_else(|| context(format!("unknown type \"{written}\"")))?,
                None => None,
            };
            let format = match raw.get("format").and_then(Value::as_str) {
                Some(pattern) if kind == Some(FieldType::Date) => date_format(pattern).map_err(context)?,
                _ => None,
            };
            let given = raw.get("constraints").cloned().unwrap_or(Value::Null);
            if !given.is_null() && !given.is_object() {
                return Err(context("\"constraints\" must be an object".into()));
            }
            let flag = |key: &str| given[key].as_bool().unwrap_or(false);
            let length = |key: &str| -> Result<Option<usize>, String> {
                match &given[key] {
                    Value::Null => Ok(None),
                    value => value
                        .as_u64()
                        .map(|length| Some(length as usize))
                        .ok_or_else(|| context(format!("{key} must be a whole number"))),
                }
            };
            let limit = |key: &str| -> Result<Option<(f64, String)>, String> {
                match &given[key] {
                    Value::Null => Ok(None),
                    value => {
                        let written = value.as_str().map(str::to_string).unwrap_or_else(|| value.to_string());
                        Ok(Some((
                            bound(value, kind, format).map_err(|error| context(format!("{key}: {error}")))?,
                            written,
                        )))
                    }
                }
            };
            let pattern = match given["pattern"].as_str() {
                Some(pattern) => Some((
                    // Table Schema patterns match the whole value.
                    regex::RegexBuilder::new(&format!("^(?:{pattern})$"))
                        .size_limit(1 << 20)
                        .build()
                        .map_err(|error| context(format!("pattern: {error}")))?,
                    pattern.to_string(),
                )),
                None => None,
            };
            let enumeration = match &given["enum"] {
                Value::Null => None,
                Value::Array(values) => Some(
                    values
                        .iter()
                        .map(|value| value.as_str().map(str::to_string).unwrap_or_else(|| value.to_string()))
                        .collect(),
                ),
                _ => return Err(context("enum must be a list".into())),
            };
            let constraints = Constraints {
                required: flag("required"),
                unique: flag("unique"),
                minimum: limit("minimum")?,
                maximum: limit("maximum")?,
                min_length: length("minLength")?,
                max_length: length("maxLength")?,
                pattern,
                enumeration,
            };
            fields.insert(name, GivenField { schema_type, field_type: kind, format, raw: raw.clone(), constraints });
        }
        let missing_values = match &schema["missingValues"] {
            Value::Null => None,
            Value::Array(values) => Some(values.iter().filter_map(Value::as_str).map(str::to_string).collect()),
            _ => return Err("\"missingValues\" must be a list of texts".into()),
        };
        let primary_key = match &schema["primaryKey"] {
            Value::Null => Vec::new(),
            Value::String(name) => vec![name.clone()],
            Value::Array(names) => names.iter().filter_map(Value::as_str).map(str::to_string).collect(),
            _ => return Err("\"primaryKey\" must be a field name or a list of them".into()),
        };
        Ok(GivenSchema { fields, missing_values, primary_key })
    }
}

/// A broken constraint: which, in English and Spanish.
pub struct Broken {
    pub en: String,
    pub es: String,
}

impl GivenField {
    /// Checks a present value against the field's constraints (`required`
    /// and `unique` are the caller's: they need the other rows). A value
    /// that does not fit the field's type is a type error, not checked here.
    pub fn check(&self, value: &str) -> Option<Broken> {
        let constraints = &self.constraints;
        let length = value.chars().count();
        if let Some(minimum) = constraints.min_length
            && length < minimum
        {
            return Some(Broken {
                en: format!("shorter than {minimum} characters"),
                es: format!("tiene menos de {minimum} caracteres"),
            });
        }
        if let Some(maximum) = constraints.max_length
            && length > maximum
        {
            return Some(Broken {
                en: format!("longer than {maximum} characters"),
                es: format!("tiene más de {maximum} caracteres"),
            });
        }
        if let Some((pattern, written)) = &constraints.pattern
            && !pattern.is_match(value)
        {
            return Some(Broken {
                en: format!("does not match the pattern {written}"),
                es: format!("no sigue el patrón {written}"),
            });
        }
        if let Some(values) = &constraints.enumeration {
            let numeric = matches!(self.field_type, Some(FieldType::Integer | FieldType::Number));
            let found = values.iter().any(|allowed| {
                allowed == value
                    || (numeric && parse_number(allowed).is_some() && parse_number(allowed) == parse_number(value))
            });
            if !found {
                let list = values.join(", ");
                return Some(Broken {
                    en: format!("is not one of the allowed values ({list})"),
                    es: format!("no es uno de los valores permitidos ({list})"),
                });
            }
        }
        if constraints.minimum.is_some() || constraints.maximum.is_some() {
            let number = match self.field_type {
                Some(FieldType::Integer | FieldType::Number) => parse_number(value),
                Some(FieldType::Date) => {
                    let date = match self.format {
                        Some(format) => parse_date(value, format),
                        None => parse_dates(crate::infer::trim(value)).into_iter().flatten().next(),
                    };
                    date.map(|(year, month, day)| f64::from(days_from_civil(year, month, day)))
                }
                _ => None,
            };
            if let Some(number) = number {
                if let Some((minimum, written)) = &constraints.minimum
                    && number < *minimum
                {
                    return Some(Broken {
                        en: format!("is less than {written}"),
                        es: format!("es menor que {written}"),
                    });
                }
                if let Some((maximum, written)) = &constraints.maximum
                    && number > *maximum
                {
                    return Some(Broken {
                        en: format!("is more than {written}"),
                        es: format!("es mayor que {written}"),
                    });
                }
            }
        }
        None
    }
}
