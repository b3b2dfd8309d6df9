//! SQL functions as DataFusion has them, made faster where our tables
//! need it.
//!
//! `date_part('year', fecha)` (and `extract(year from fecha)`) is how
//! people group civic data by year, and DataFusion computes it for a date
//! column by turning every day number into a calendar date through chrono:
//! about 10 ms per million rows, a third of the benchmark's group-by.
//! [`DatePart`] is DataFusion's own `date_part` with one fast path: the
//! year, month or day of a `Date32` column, from the day number by
//! integer arithmetic. Every other part and type, and its planning
//! (return type, the year's range for pruning), is DataFusion's.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, Int32Array};
use arrow::datatypes::{DataType, Date32Type, FieldRef};
use datafusion::common::Result;
use datafusion::logical_expr::preimage::PreimageResult;
use datafusion::logical_expr::simplify::SimplifyContext;
use datafusion::logical_expr::{
    ColumnarValue, Documentation, Expr, ReturnFieldArgs, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature,
};

/// The methods a wrapper of a DataFusion function takes from the function
/// it wraps (its `inner`): its name, signature, types and documentation.
macro_rules! delegated_to_inner {
    () => {
        fn name(&self) -> &str {
            self.inner.name()
        }

        fn aliases(&self) -> &[String] {
            self.inner.aliases()
        }

        fn signature(&self) -> &Signature {
            self.inner.signature()
        }

        fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
            self.inner.return_type(arg_types)
        }

        fn return_field_from_args(&self, args: ReturnFieldArgs) -> Result<FieldRef> {
            self.inner.return_field_from_args(args)
        }

        fn documentation(&self) -> Option<&Documentation> {
            self.inner.documentation()
        }
    };
}

/// DataFusion's `date_part`, with the year, month and day of dates computed directly.
#[derive(Debug, PartialEq, Eq, Hash)]
pub(crate) struct DatePart {
    inner: Arc<ScalarUDF>,
}

impl DatePart {
    pub(crate) fn udf() -> ScalarUDF {
        ScalarUDF::new_from_impl(DatePart { inner: datafusion::functions::datetime::date_part() })
    }
}

/// Which field of a date the fast path gives.
#[derive(Clone, Copy)]
enum Field {
    Year,
    Month,
    Day,
}

/// Days from 1970-01-01 that chrono (and so DataFusion) turns into dates;
/// outside them DataFusion's own answer is given.
const DAYS: std::ops::RangeInclusive<i32> = -96_000_000..=95_000_000;

/// The proleptic Gregorian (year, month, day) of a day number in [`DAYS`]
/// counted from 1970-01-01 (Howard Hinnant's `civil_from_days`), counted
/// from 700 400-year eras earlier so that every step is an unsigned
/// division by a constant, which compiles to a multiplication.
#[inline]
fn civil(days: i32) -> (i32, u32, u32) {
    const ERAS: u32 = 700;
    let z = (i64::from(days) + 719_468 + i64::from(ERAS) * 146_097) as u32;
    let era = z / 146_097;
    let day_of_era = z - era * 146_097;
    let year_of_era = (day_of_era - day_of_era / 1_460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let shifted_month = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * shifted_month + 2) / 5 + 1;
    let month = if shifted_month < 10 { shifted_month + 3 } else { shifted_month - 9 };
    let year = (year_of_era + era * 400) as i32 - (ERAS * 400) as i32 + i32::from(month <= 2);
    (year, month, day)
}

impl DatePart {
    /// The fast answer, when the arguments are a part it knows and a date column.
    fn fast(args: &ScalarFunctionArgs) -> Option<ArrayRef> {
        let [ColumnarValue::Scalar(part), ColumnarValue::Array(dates)] = args.args.as_slice() else { return None };
        let part = part.try_as_str().flatten()?;
        let field = match part.to_ascii_lowercase().as_str() {
            "year" => Field::Year,
            "month" => Field::Month,
            "day" => Field::Day,
            _ => return None,
        };
        if dates.data_type() != &DataType::Date32 || args.return_type() != &DataType::Int32 {
            return None;
        }
        let dates = dates.as_primitive::<Date32Type>();
        if dates.values().iter().any(|days| !DAYS.contains(days)) {
            return None;
        }
        // One loop per field, so each computes only what it gives.
        let values: Int32Array = match field {
            Field::Year => dates.unary(|days| civil(days).0),
            Field::Month => dates.unary(|days| civil(days).1 as i32),
            Field::Day => dates.unary(|days| civil(days).2 as i32),
        };
        Some(Arc::new(values))
    }
}

impl ScalarUDFImpl for DatePart {
    delegated_to_inner!();

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        match DatePart::fast(&args) {
            Some(values) => Ok(ColumnarValue::Array(values)),
            None => self.inner.invoke_with_args(args),
        }
    }

    fn preimage(&self, args: &[Expr], lit_expr: &Expr, info: &SimplifyContext) -> Result<PreimageResult> {
        self.inner.preimage(args, lit_expr, info)
    }
}

/// Bytes one call of a generating function may produce (for a whole batch).
pub const MAX_FUNCTION_OUTPUT_BYTES: usize = 64 * 1024 * 1024;

/// The functions whose output size is set by an argument, not by their
/// input, or that multiply or add up their input: `repeat('a', 500000000)`
/// is 500 MB from 18 bytes of SQL, and `range(1, 100000000)` 800 MB,
/// allocated in one step that no time limit interrupts; `concat` of such
/// values adds them up. Each is wrapped in [`Bounded`], and so is the `||`
/// operator on text, which [`BoundedConcat`] turns into [`TextConcat`].
pub(crate) const GENERATORS: [&str; 14] = [
    "repeat",
    "lpad",
    "rpad",
    "range",
    "generate_series",
    "array_repeat",
    "array_resize",
    "replace",
    "regexp_replace",
    "concat",
    "concat_ws",
    "array_concat",
    "array_append",
    "array_prepend",
];

/// A DataFusion function that first estimates the bytes a call would make
/// from its arguments and refuses past [`MAX_FUNCTION_OUTPUT_BYTES`], then
/// checks what the call made: the memory of scalar results is counted
/// where the memory pool does not see it.
#[derive(Debug)]
pub(crate) struct Bounded {
    inner: Arc<dyn ScalarUDFImpl>,
}

impl PartialEq for Bounded {
    fn eq(&self, other: &Self) -> bool {
        self.inner.name() == other.inner.name()
    }
}

impl Eq for Bounded {}

impl std::hash::Hash for Bounded {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.inner.name().hash(state);
    }
}

impl Bounded {
    pub(crate) fn udf(inner: &ScalarUDF) -> ScalarUDF {
        ScalarUDF::new_from_impl(Bounded { inner: inner.inner().clone() })
    }

    fn refuse(&self, bytes: u128) -> datafusion::error::DataFusionError {
        let name = match self.inner.name() {
            TEXT_CONCAT => "the || operator".to_string(),
            name => format!("{name}()"),
        };
        datafusion::error::DataFusionError::ResourcesExhausted(format!(
            "{name} would make {} MB in one step; the limit is {} MB",
            bytes >> 20,
            MAX_FUNCTION_OUTPUT_BYTES >> 20
        ))
    }

    /// An upper estimate of the bytes the call makes; `None` when the
    /// arguments are of a kind it cannot size (refused).
    fn estimate(&self, args: &ScalarFunctionArgs) -> Option<u128> {
        let rows = args.number_rows.max(1);
        let arg = |index: usize| args.args.get(index);
        match self.inner.name() {
            // Each row's text times its count.
            "repeat" => Some(paired(&lengths(arg(0)?, rows), &row_counts(arg(1)?)?, rows, |a, b| a * b)),
            // A character is at most 4 bytes.
            "lpad" | "rpad" => Some(4 * total(&row_counts(arg(1)?)?, rows)),
            "array_repeat" => Some(paired(&lengths(arg(0)?, rows), &row_counts(arg(1)?)?, rows, |a, b| (a + 8) * b)),
            "array_resize" => {
                let fill = arg(2).map(|fill| lengths(fill, rows)).unwrap_or_else(|| vec![16]);
                Some(paired(&fill, &row_counts(arg(1)?)?, rows, |a, b| (a + 8) * b))
            }
            "range" | "generate_series" => range_elements(&args.args, rows).map(|elements| elements * 16),
            // Every match of `from` (at least one byte) becomes `to`.
            "replace" => {
                let from = lengths(arg(1)?, rows).into_iter().min().unwrap_or(1).max(1);
                let to = lengths(arg(2)?, rows).into_iter().max().unwrap_or(0);
                Some(total(&lengths(arg(0)?, rows), rows) * (1 + to / from))
            }
            // A pattern may match between every two characters.
            "regexp_replace" => {
                let replacement = lengths(arg(2)?, rows).into_iter().max().unwrap_or(0);
                Some((total(&lengths(arg(0)?, rows), rows) + rows as u128) * (replacement + 1))
            }
            // What these make is what they were given, all together.
            "concat" | "concat_ws" | "array_concat" | "array_append" | "array_prepend" | TEXT_CONCAT => {
                Some(args.args.iter().map(|value| total(&lengths(value, rows), rows)).sum())
            }
            _ => Some(0),
        }
    }
}

/// The bytes of each row of `value` (one entry for a scalar, which every
/// row shares): a text's or a binary's own length, else the array's
/// memory spread over its rows.
fn lengths(value: &ColumnarValue, rows: usize) -> Vec<u128> {
    match value {
        ColumnarValue::Scalar(scalar) => match scalar.to_array_of_size(1) {
            Ok(array) => lengths(&ColumnarValue::Array(array), 1),
            Err(_) => vec![scalar.size() as u128],
        },
        ColumnarValue::Array(array) => match arrow::compute::kernels::length::length(array.as_ref())
            .ok()
            .and_then(|lengths| arrow::compute::cast(&lengths, &DataType::Int64).ok())
        {
            Some(lengths) => lengths
                .as_primitive::<arrow::datatypes::Int64Type>()
                .iter()
                .map(|length| length.unwrap_or(0).max(0) as u128 + 1)
                .collect(),
            None => {
                let each = (array.get_array_memory_size() / array.len().max(1)).max(1) as u128;
                vec![each; array.len().max(1).min(rows.max(1))]
            }
        },
    }
}

/// The sum of per-row values (a single value stands for every row).
fn total(values: &[u128], rows: usize) -> u128 {
    if values.len() == 1 { values[0] * rows as u128 } else { values.iter().sum() }
}

/// The sum over the rows of `join(left, right)` (a single value stands for every row).
fn paired(left: &[u128], right: &[u128], rows: usize, join: impl Fn(u128, u128) -> u128) -> u128 {
    let at = |values: &[u128], index: usize| {
        if values.len() == 1 { values[0] } else { values.get(index).copied().unwrap_or(0) }
    };
    let longest = left.len().max(right.len());
    let sum: u128 = (0..longest).map(|index| join(at(left, index), at(right, index))).sum();
    if longest <= 1 { sum * rows as u128 } else { sum }
}

/// A count argument per row (negative counts make nothing; one entry for a scalar).
fn row_counts(value: &ColumnarValue) -> Option<Vec<u128>> {
    Some(integers(value)?.iter().map(|count| (*count).max(0) as u128).collect())
}

/// The whole numbers of `value` as i64, one per row (one for a scalar;
/// nulls as 0).
fn integers(value: &ColumnarValue) -> Option<Vec<i64>> {
    let array = arrow::compute::cast(&value.clone().into_array(1).ok()?, &DataType::Int64).ok()?;
    Some(array.as_primitive::<arrow::datatypes::Int64Type>().iter().map(|v| v.unwrap_or(0)).collect())
}

/// Dates and times of `value` in nanoseconds. Not `safe`: a date outside
/// the nanosecond range is an error (refused), not a null that would count
/// as nothing.
fn nanoseconds(value: &ColumnarValue) -> Option<Vec<i64>> {
    let strict = arrow::compute::CastOptions { safe: false, ..Default::default() };
    let nanosecond = DataType::Timestamp(arrow::datatypes::TimeUnit::Nanosecond, None);
    let array = arrow::compute::cast_with_options(&value.clone().into_array(1).ok()?, &nanosecond, &strict).ok()?;
    integers(&ColumnarValue::Array(array))
}

/// Intervals of `value` in nanoseconds, a month counted as 28 days (so
/// that a count of steps is never below the real one).
fn interval_nanoseconds(value: &ColumnarValue) -> Option<Vec<i64>> {
    let month_day_nano = DataType::Interval(arrow::datatypes::IntervalUnit::MonthDayNano);
    let array = arrow::compute::cast(&value.clone().into_array(1).ok()?, &month_day_nano).ok()?;
    let day = 86_400_000_000_000i64;
    Some(
        array
            .as_primitive::<arrow::datatypes::IntervalMonthDayNanoType>()
            .iter()
            .map(|interval| {
                interval.map_or(0, |interval| {
                    (i64::from(interval.months).saturating_mul(28 * day))
                        .saturating_add(i64::from(interval.days).saturating_mul(day))
                        .saturating_add(interval.nanoseconds)
                })
            })
            .collect(),
    )
}

/// The elements `range` or `generate_series` would make over all rows:
/// whole numbers from their arguments, dates and times from their span
/// in nanoseconds over the step's.
fn range_elements(args: &[ColumnarValue], rows: usize) -> Option<u128> {
    let is_integer = |value: &ColumnarValue| value.data_type().is_integer() || value.data_type().is_null();
    let (starts, stops, steps) = if args.iter().all(is_integer) {
        match args {
            [stop] => (vec![0], integers(stop)?, vec![1]),
            [start, stop] => (integers(start)?, integers(stop)?, vec![1]),
            [start, stop, step] => (integers(start)?, integers(stop)?, integers(step)?),
            _ => return None,
        }
    } else {
        let [start, stop, step] = args else { return None };
        (nanoseconds(start)?, nanoseconds(stop)?, interval_nanoseconds(step)?)
    };
    let span = |start: i64, stop: i64, step: i64| -> u128 {
        if step == 0 {
            0
        } else {
            (i128::from(stop) - i128::from(start)).unsigned_abs() / step.unsigned_abs() as u128 + 1
        }
    };
    // A single value (a scalar) stands for every row.
    let longest = starts.len().max(stops.len()).max(steps.len());
    let at = |values: &Vec<i64>, index: usize| values.get(index).or(values.first()).copied().unwrap_or(0);
    let total: u128 = (0..longest).map(|index| span(at(&starts, index), at(&stops, index), at(&steps, index))).sum();
    Some(if longest <= 1 { total * rows as u128 } else { total })
}

impl ScalarUDFImpl for Bounded {
    delegated_to_inner!();

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        self.inner.coerce_types(arg_types)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        match self.estimate(&args) {
            Some(bytes) if bytes <= MAX_FUNCTION_OUTPUT_BYTES as u128 => {}
            Some(bytes) => return Err(self.refuse(bytes)),
            None => return Err(self.refuse(u128::MAX >> 1)),
        }
        let output = self.inner.invoke_with_args(args)?;
        let made = match &output {
            ColumnarValue::Array(array) => array.get_array_memory_size(),
            ColumnarValue::Scalar(scalar) => scalar.size(),
        };
        if made > MAX_FUNCTION_OUTPUT_BYTES {
            return Err(self.refuse(made as u128));
        }
        Ok(output)
    }
}

/// The name of [`TextConcat`], which no query can call by name (it is not registered).
const TEXT_CONCAT: &str = "datalab_text_concat";

/// The `||` operator on text, as a function: null when either side is
/// null, else the two joined (arrow's `concat_elements`), in the type of
/// the left side. Only [`BoundedConcat`] makes calls of it, wrapped in
/// [`Bounded`], so `x || x || …` over values of 64 MB is refused when it
/// would pass the bound, not built.
#[derive(Debug, PartialEq, Eq, Hash)]
pub(crate) struct TextConcat {
    signature: Signature,
}

impl TextConcat {
    pub(crate) fn udf() -> Arc<ScalarUDF> {
        let signature = Signature::any(2, datafusion::logical_expr::Volatility::Immutable);
        Arc::new(Bounded::udf(&ScalarUDF::new_from_impl(TextConcat { signature })))
    }
}

impl ScalarUDFImpl for TextConcat {
    fn name(&self) -> &str {
        TEXT_CONCAT
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        Ok(arg_types.first().cloned().unwrap_or(DataType::Utf8))
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let rows = args.number_rows;
        let scalars = args.args.iter().all(|value| matches!(value, ColumnarValue::Scalar(_)));
        let left = args.args[0].to_array(rows)?;
        let mut right = args.args[1].to_array(rows)?;
        if right.data_type() != left.data_type() {
            right = arrow::compute::cast(&right, left.data_type())?;
        }
        let joined = arrow::compute::kernels::concat_elements::concat_elements_dyn(&left, &right)?;
        Ok(match scalars {
            true => ColumnarValue::Scalar(datafusion::common::ScalarValue::try_from_array(&joined, 0)?),
            false => ColumnarValue::Array(joined),
        })
    }
}

/// Turns every `a || b` on text into a bounded [`TextConcat`] call, after
/// type coercion (array `||` is already `array_concat`, bounded as well).
/// Names of projected columns are kept.
#[derive(Debug)]
pub(crate) struct BoundedConcat {
    udf: Arc<ScalarUDF>,
}

impl BoundedConcat {
    pub(crate) fn new() -> BoundedConcat {
        BoundedConcat { udf: TextConcat::udf() }
    }
}

impl datafusion::optimizer::AnalyzerRule for BoundedConcat {
    fn name(&self) -> &str {
        "datalab_bounded_concat"
    }

    fn analyze(
        &self,
        plan: datafusion::logical_expr::LogicalPlan,
        _config: &datafusion::common::config::ConfigOptions,
    ) -> Result<datafusion::logical_expr::LogicalPlan> {
        use datafusion::common::tree_node::{Transformed, TransformedResult, TreeNode};
        use datafusion::logical_expr::{BinaryExpr, Operator, expr::ScalarFunction};
        plan.transform_up_with_subqueries(|plan| {
            let names = datafusion::logical_expr::expr_rewriter::NamePreserver::new(&plan);
            plan.map_expressions(|expr| {
                let saved = names.save(&expr);
                let rewritten = expr.transform_up(|expr| match expr {
                    Expr::BinaryExpr(BinaryExpr { left, op: Operator::StringConcat, right }) => Ok(Transformed::yes(
                        Expr::ScalarFunction(ScalarFunction::new_udf(self.udf.clone(), vec![*left, *right])),
                    )),
                    other => Ok(Transformed::no(other)),
                })?;
                Ok(rewritten.update_data(|expr| saved.restore(expr)))
            })
        })
        .data()
    }
}

#[cfg(test)]
mod tests {
    use arrow::array::Date32Array;
    use arrow::datatypes::Field as ArrowField;
    use datafusion::common::ScalarValue;

    use super::*;

    fn call(udf: &ScalarUDF, part: &str, dates: &ArrayRef) -> ArrayRef {
        let args = ScalarFunctionArgs {
            args: vec![
                ColumnarValue::Scalar(ScalarValue::Utf8(Some(part.into()))),
                ColumnarValue::Array(dates.clone()),
            ],
            arg_fields: vec![
                Arc::new(ArrowField::new("part", DataType::Utf8, false)),
                Arc::new(ArrowField::new("fecha", DataType::Date32, true)),
            ],
            number_rows: dates.len(),
            return_field: Arc::new(ArrowField::new("date_part", DataType::Int32, true)),
            config_options: Default::default(),
        };
        match udf.invoke_with_args(args).unwrap() {
            ColumnarValue::Array(values) => values,
            ColumnarValue::Scalar(_) => panic!("an array in, an array out"),
        }
    }

    /// Every fourth day over ±20,000 years, the ends of chrono's range, a
    /// leap day and nulls: the same years, months and days as DataFusion.
    #[test]
    fn dates_give_what_datafusion_gives() {
        let mut days: Vec<Option<i32>> = (-7_400_000..7_400_000).step_by(4).map(Some).collect();
        days.extend([Some(0), Some(-1), Some(59), Some(11_016), Some(-719_468), None, Some(95_000_000)]);
        days.extend([Some(-96_000_000), None, Some(19_782), Some(19_783)]);
        let dates: ArrayRef = Arc::new(Date32Array::from(days));
        let ours = DatePart::udf();
        let theirs = datafusion::functions::datetime::date_part();
        for part in ["year", "month", "day", "YEAR"] {
            let fast = call(&ours, part, &dates);
            assert!(fast.as_primitive::<arrow::datatypes::Int32Type>().null_count() == 2, "{part}");
            assert_eq!(fast.as_ref(), call(&theirs, part, &dates).as_ref(), "{part}");
        }
        // Other parts are DataFusion's own.
        assert_eq!(call(&ours, "dow", &dates).as_ref(), call(&theirs, "dow", &dates).as_ref());
    }

    #[test]
    fn civil_dates() {
        assert_eq!(civil(0), (1970, 1, 1));
        assert_eq!(civil(-1), (1969, 12, 31));
        assert_eq!(civil(19_782), (2024, 2, 29));
        assert_eq!(civil(-719_468), (0, 3, 1));
    }
}
