//! Between Arrow values and the outside: JSON cells, CKAN type names, and
//! the typed literals a filter's text becomes.

use arrow::array::{Array, ArrayRef, AsArray};
use arrow::datatypes::{DataType, Field, Float64Type, Int64Type};
use arrow::util::display::{ArrayFormatter, FormatOptions};
use datafusion::scalar::ScalarValue;
use serde_json::Value;

use crate::{QueryError, QueryResult};

/// The DataStore type name CKAN clients know for an Arrow type.
pub fn ckan_type(data_type: &DataType) -> &'static str {
    match data_type {
        DataType::Int8 | DataType::Int16 | DataType::Int32 => "int4",
        DataType::Int64 | DataType::UInt8 | DataType::UInt16 | DataType::UInt32 | DataType::UInt64 => "int8",
        DataType::Float16 | DataType::Float32 | DataType::Float64 => "float8",
        DataType::Decimal128(..) | DataType::Decimal256(..) => "numeric",
        DataType::Boolean => "bool",
        DataType::Date32 | DataType::Date64 => "date",
        DataType::Timestamp(..) => "timestamp",
        DataType::Time32(_) | DataType::Time64(_) => "time",
        DataType::Dictionary(_, value) => ckan_type(value),
        _ => "text",
    }
}

/// The Table Schema type of an Arrow type.
pub fn schema_type(data_type: &DataType) -> &'static str {
    match ckan_type(data_type) {
        "int4" | "int8" => "integer",
        "float8" | "numeric" => "number",
        "bool" => "boolean",
        "date" => "date",
        "timestamp" => "datetime",
        "time" => "time",
        _ => "string",
    }
}

/// Text, plain or (as ingestion stores columns with few values) a dictionary of text.
pub fn is_text(data_type: &DataType) -> bool {
    match data_type {
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => true,
        DataType::Dictionary(_, value) => is_text(value),
        _ => false,
    }
}

/// Every cell of `column` as JSON: numbers and booleans as such, dates and
/// times as ISO 8601 text, nulls as null.
pub fn column_json(column: &ArrayRef) -> Vec<Value> {
    // A dictionary's cells are its values' (a function of a dictionary,
    // `length(municipio)`, may give a dictionary of numbers).
    if let DataType::Dictionary(_, value) = column.data_type()
        && let Ok(values) = arrow::compute::cast(column, value)
    {
        return column_json(&values);
    }
    // Narrower numbers (`date_part` gives 32-bit integers) are numbers too.
    let widened = match column.data_type() {
        DataType::Int8 | DataType::Int16 | DataType::Int32 | DataType::UInt8 | DataType::UInt16 | DataType::UInt32 => {
            arrow::compute::cast(column, &DataType::Int64).ok()
        }
        DataType::Float16 | DataType::Float32 => arrow::compute::cast(column, &DataType::Float64).ok(),
        _ => None,
    };
    let column = widened.as_ref().unwrap_or(column);
    let length = column.len();
    let null_or = |index: usize, value: Value| if column.is_null(index) { Value::Null } else { value };
    match column.data_type() {
        DataType::Int64 => {
            let values = column.as_primitive::<Int64Type>();
            (0..length).map(|index| null_or(index, Value::from(values.value(index)))).collect()
        }
        DataType::Float64 => {
            let values = column.as_primitive::<Float64Type>();
            (0..length)
                .map(|index| {
                    null_or(
                        index,
                        serde_json::Number::from_f64(values.value(index)).map(Value::Number).unwrap_or(Value::Null),
                    )
                })
                .collect()
        }
        DataType::Boolean => {
            let values = column.as_boolean();
            (0..length).map(|index| null_or(index, Value::Bool(values.value(index)))).collect()
        }
        DataType::Utf8 => {
            let values = column.as_string::<i32>();
            (0..length).map(|index| null_or(index, Value::String(values.value(index).to_string()))).collect()
        }
        DataType::Utf8View => {
            let values = column.as_string_view();
            (0..length).map(|index| null_or(index, Value::String(values.value(index).to_string()))).collect()
        }
        _ => {
            let options = FormatOptions::default();
            match ArrayFormatter::try_new(column.as_ref(), &options) {
                Ok(formatter) => {
                    (0..length).map(|index| null_or(index, Value::String(formatter.value(index).to_string()))).collect()
                }
                Err(_) => vec![Value::Null; length],
            }
        }
    }
}

/// The literal `text` means in a filter on `field`, typed as the column.
pub fn literal(field: &Field, text: &str) -> QueryResult<ScalarValue> {
    let text = text.trim();
    let name = field.name();
    let wrong = |kind: &str| QueryError::invalid(name, format!("\"{text}\" is not a valid {kind}"));
    Ok(match field.data_type() {
        DataType::Int64 | DataType::Int32 | DataType::Int16 | DataType::Int8 => {
            ScalarValue::Int64(Some(text.parse().map_err(|_| wrong("integer"))?))
        }
        DataType::Float64 | DataType::Float32 => {
            let value: f64 = text.parse().map_err(|_| wrong("number"))?;
            ScalarValue::Float64(Some(value))
        }
        DataType::Boolean => ScalarValue::Boolean(Some(match text.to_lowercase().as_str() {
            "true" | "t" | "1" | "sí" | "si" | "yes" => true,
            "false" | "f" | "0" | "no" => false,
            _ => return Err(wrong("boolean")),
        })),
        DataType::Date32 => ScalarValue::Utf8(Some(text.to_string()))
            .cast_to(field.data_type())
            .map_err(|_| wrong("date (YYYY-MM-DD)"))?,
        DataType::Timestamp(..) | DataType::Time64(_) | DataType::Time32(_) => {
            // Cast by DataFusion, which reports a malformed value as an error.
            ScalarValue::Utf8(Some(text.to_string())).cast_to(field.data_type()).map_err(|_| wrong("date and time"))?
        }
        _ => ScalarValue::Utf8(Some(text.to_string())),
    })
}

/// A JSON filter value (CKAN sends numbers, strings and booleans) as the text [`literal`] reads.
pub fn json_text(value: &Value) -> Option<String> {
    match value {
        Value::String(text) => Some(text.clone()),
        Value::Number(number) => Some(number.to_string()),
        Value::Bool(flag) => Some(flag.to_string()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iso_dates_become_days() {
        let field = Field::new("fecha", DataType::Date32, true);
        assert_eq!(literal(&field, "1970-01-01").unwrap(), ScalarValue::Date32(Some(0)));
        assert_eq!(literal(&field, "2024-01-31").unwrap(), ScalarValue::Date32(Some(19_753)));
        assert!(literal(&field, "2024-02-30").is_err());
        assert!(literal(&field, "31/01/2024").is_err());
    }

    #[test]
    fn literals_are_typed_and_checked() {
        let field = Field::new("vehiculos", DataType::Int64, true);
        assert_eq!(literal(&field, "3").unwrap(), ScalarValue::Int64(Some(3)));
        let error = literal(&field, "tres").unwrap_err();
        assert!(matches!(error, QueryError::Invalid { ref field, .. } if field == "vehiculos"), "{error}");
    }
}
