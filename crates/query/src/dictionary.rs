//! Grouping by a text column stored as a dictionary, by number.
//!
//! Ingestion stores a text column with few distinct values (a municipality,
//! a kind of incident) as an Arrow dictionary: each row group keeps the
//! column's values once and a small integer per row, and a query reads it
//! without building a string per row. DataFusion 55 groups a dictionary
//! column by its text, though: its row format copies, hashes and compares
//! every row's string, most of the time of the group-bys people run on civic
//! data ("incidents by municipality and year").
//!
//! [`GroupByCodes`] rewrites such an aggregate to group by a number:
//! `codes(column)` turns each batch's dictionary keys into codes shared by
//! the whole query (the batch's few values are looked up once in the
//! query's [`Codebook`], then every key is mapped through them), and a
//! projection above the aggregate turns the codes of its few result rows
//! back into their text. The plan's output (names, types, values) is the
//! one it replaces.
//!
//! Some of DataFusion's aggregates do not take a dictionary
//! (`approx_distinct`), or compare a coerced argument with an uncoerced
//! ordering (`string_agg(DISTINCT t ORDER BY t)`). [`PlainAggregateArguments`]
//! gives every aggregate but those known to handle dictionaries the
//! column's plain text instead.

use std::collections::{HashMap, VecDeque};
use std::hash::{Hash, Hasher};
use std::sync::{Arc, Mutex};

use arrow::array::{Array, ArrayRef, AsArray, DictionaryArray, Int32Array, StringArray};
use arrow::datatypes::{DataType, FieldRef, Int32Type};
use datafusion::common::config::ConfigOptions;
use datafusion::common::tree_node::{Transformed, TransformedResult, TreeNode};
use datafusion::common::{Column, DFSchema, Result, internal_err};
use datafusion::logical_expr::{
    Aggregate, ColumnarValue, Expr, ExprSchemable, LogicalPlan, Projection, ReturnFieldArgs, ScalarFunctionArgs,
    ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};
use datafusion::optimizer::analyzer::AnalyzerRule;
use datafusion::optimizer::{ApplyOrder, OptimizerConfig, OptimizerRule};

/// The dictionary type ingestion writes, the only one the rewrite takes.
fn is_coded(data_type: &DataType) -> bool {
    matches!(data_type, DataType::Dictionary(key, value) if **key == DataType::Int32 && **value == DataType::Utf8)
}

/// The codes one query gives the texts of its dictionaries.
#[derive(Debug, Default)]
pub(crate) struct Codebook {
    state: Mutex<CodebookState>,
}

/// How many dictionaries' codes are kept: the batches of one row group
/// share its dictionary, and a query reads a few row groups at once.
const RECENT: usize = 16;

#[derive(Debug, Default)]
struct CodebookState {
    codes: HashMap<String, i32>,
    texts: Vec<String>,
    /// Dictionaries seen lately and their values' codes. The arrays are
    /// held, so an address cannot be reused by another array while here.
    recent: VecDeque<(arrow::array::ArrayData, Int32Array)>,
}

impl Codebook {
    /// The code of every value of a dictionary (null for a null value).
    fn codes_of(&self, values: &ArrayRef) -> Result<Int32Array> {
        let mut state = self.state.lock().expect("not poisoned");
        let values_data = values.to_data();
        if let Some((_, codes)) = state.recent.iter().find(|(seen, _)| seen.ptr_eq(&values_data)) {
            return Ok(codes.clone());
        }
        let text = arrow::compute::cast(values, &DataType::Utf8)?;
        let mut codes = Vec::with_capacity(text.len());
        for value in text.as_string::<i32>().iter() {
            codes.push(match value {
                Some(value) => Some(state.code(value)?),
                None => None,
            });
        }
        let codes = Int32Array::from(codes);
        if state.recent.len() == RECENT {
            state.recent.pop_front();
        }
        state.recent.push_back((values_data, codes.clone()));
        Ok(codes)
    }

    /// The texts of every code given so far, in code order.
    fn texts(&self) -> StringArray {
        StringArray::from_iter_values(self.state.lock().expect("not poisoned").texts.iter())
    }
}

impl CodebookState {
    fn code(&mut self, text: &str) -> Result<i32> {
        if let Some(code) = self.codes.get(text) {
            return Ok(*code);
        }
        let Ok(code) = i32::try_from(self.texts.len()) else {
            return internal_err!("too many distinct values to group by");
        };
        self.codes.insert(text.to_string(), code);
        self.texts.push(text.to_string());
        Ok(code)
    }
}

/// One query's codebook, compared by identity (a function's equality is
/// how DataFusion tells two calls apart).
#[derive(Debug, Clone)]
struct Shared(Arc<Codebook>);

impl PartialEq for Shared {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl Eq for Shared {}

impl Hash for Shared {
    fn hash<H: Hasher>(&self, state: &mut H) {
        Arc::as_ptr(&self.0).hash(state);
    }
}

/// `codes(dictionary)`: each row's value as its code in the codebook.
#[derive(Debug, PartialEq, Eq, Hash)]
struct Codes {
    codebook: Shared,
    signature: Signature,
}

impl ScalarUDFImpl for Codes {
    fn name(&self) -> &str {
        "datalab_codes"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Int32)
    }

    fn return_field_from_args(&self, args: ReturnFieldArgs) -> Result<FieldRef> {
        let nullable = args.arg_fields.first().is_none_or(|field| field.is_nullable());
        Ok(Arc::new(arrow::datatypes::Field::new(self.name(), DataType::Int32, nullable)))
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let [argument] = args.args.as_slice() else { return internal_err!("codes takes one argument") };
        let array = argument.to_array(args.number_rows)?;
        if !is_coded(array.data_type()) {
            return internal_err!("codes of a {} column", array.data_type());
        }
        let dictionary = array.as_dictionary::<Int32Type>();
        let codes = self.codebook.0.codes_of(dictionary.values())?;
        Ok(ColumnarValue::Array(arrow::compute::take(&codes, dictionary.keys(), None)?))
    }
}

/// `texts(codes)`: the codes back as the dictionary they came from.
#[derive(Debug, PartialEq, Eq, Hash)]
struct Texts {
    codebook: Shared,
    signature: Signature,
}

impl ScalarUDFImpl for Texts {
    fn name(&self) -> &str {
        "datalab_texts"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8)))
    }

    fn return_field_from_args(&self, args: ReturnFieldArgs) -> Result<FieldRef> {
        let nullable = args.arg_fields.first().is_none_or(|field| field.is_nullable());
        Ok(Arc::new(arrow::datatypes::Field::new(self.name(), self.return_type(&[])?, nullable)))
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let [argument] = args.args.as_slice() else { return internal_err!("texts takes one argument") };
        let array = argument.to_array(args.number_rows)?;
        let Some(codes) = array.as_primitive_opt::<Int32Type>() else {
            return internal_err!("texts of a {} column", array.data_type());
        };
        let texts = DictionaryArray::<Int32Type>::try_new(codes.clone(), Arc::new(self.codebook.0.texts()))?;
        Ok(ColumnarValue::Array(Arc::new(texts)))
    }
}

/// The optimizer rule: an aggregate grouped by dictionary columns groups by
/// their codes, under a projection that gives the texts back.
#[derive(Debug, Default)]
pub(crate) struct GroupByCodes;

impl OptimizerRule for GroupByCodes {
    fn name(&self) -> &str {
        "datalab_group_by_codes"
    }

    fn apply_order(&self) -> Option<ApplyOrder> {
        Some(ApplyOrder::BottomUp)
    }

    fn rewrite(&self, plan: LogicalPlan, _config: &dyn OptimizerConfig) -> Result<Transformed<LogicalPlan>> {
        let LogicalPlan::Aggregate(aggregate) = &plan else { return Ok(Transformed::no(plan)) };
        // GROUPING SETS, ROLLUP and CUBE are left to DataFusion.
        if aggregate.group_expr.iter().any(|expr| matches!(expr, Expr::GroupingSet(_))) {
            return Ok(Transformed::no(plan));
        }
        let input_schema = aggregate.input.schema();
        let coded: Vec<bool> = aggregate
            .group_expr
            .iter()
            .map(|expr| expr.get_type(input_schema).is_ok_and(|data_type| is_coded(&data_type)))
            .collect();
        if !coded.contains(&true) {
            return Ok(Transformed::no(plan));
        }
        let codebook = Shared(Arc::new(Codebook::default()));
        let signature = Signature::any(1, Volatility::Immutable);
        let codes = ScalarUDF::new_from_impl(Codes { codebook: codebook.clone(), signature: signature.clone() });
        let texts = ScalarUDF::new_from_impl(Texts { codebook, signature });
        let group_expr = aggregate
            .group_expr
            .iter()
            .zip(&coded)
            .enumerate()
            .map(|(index, (expr, coded))| match coded {
                true => codes.call(vec![expr.clone()]).alias(format!("__datalab_codes_{index}")),
                false => expr.clone(),
            })
            .collect();
        let grouped = Aggregate::try_new(aggregate.input.clone(), group_expr, aggregate.aggr_expr.clone())?;
        let grouped_schema = grouped.schema.clone();
        // The same columns as before: group columns, then aggregates.
        let columns = aggregate
            .schema
            .iter()
            .enumerate()
            .map(|(index, (qualifier, field))| {
                let column = Expr::Column(Column::from(grouped_schema.qualified_field(index)));
                match coded.get(index) {
                    Some(true) => texts.call(vec![column]).alias_qualified(qualifier.cloned(), field.name()),
                    _ => column,
                }
            })
            .collect();
        let projection = Projection::try_new(columns, Arc::new(LogicalPlan::Aggregate(grouped)))?;
        Ok(Transformed::yes(LogicalPlan::Projection(projection)))
    }
}

/// Aggregates that take a dictionary as it is: counting, the smallest and
/// largest, the first and last (their answers are the same as over text).
const TAKE_DICTIONARIES: [&str; 5] = ["count", "min", "max", "first_value", "last_value"];

/// The analyzer rule: dictionary arguments and orderings of other
/// aggregates are cast to their values' type.
#[derive(Debug, Default)]
pub(crate) struct PlainAggregateArguments;

impl PlainAggregateArguments {
    fn plain(expr: Expr, schema: &DFSchema) -> Result<Transformed<Expr>> {
        match expr.get_type(schema) {
            Ok(DataType::Dictionary(_, value)) => Ok(Transformed::yes(datafusion::logical_expr::cast(expr, *value))),
            _ => Ok(Transformed::no(expr)),
        }
    }

    fn aggregate(expr: Expr, schema: &DFSchema) -> Result<Transformed<Expr>> {
        let name = expr.schema_name().to_string();
        let aliased = matches!(expr, Expr::Alias(_));
        let rewritten = expr.transform_up(|expr| match expr {
            Expr::AggregateFunction(mut function) if !TAKE_DICTIONARIES.contains(&function.func.name()) => {
                let mut changed = false;
                for arg in &mut function.params.args {
                    let plain = Self::plain(arg.clone(), schema)?;
                    changed |= plain.transformed;
                    *arg = plain.data;
                }
                for sort in &mut function.params.order_by {
                    // Ordered by an argument that type coercion cast: the same cast.
                    let coerced = function
                        .params
                        .args
                        .iter()
                        .find(|arg| matches!(arg, Expr::Cast(cast) if *cast.expr == sort.expr));
                    let plain = match (Self::plain(sort.expr.clone(), schema)?, coerced) {
                        (plain, Some(arg)) if plain.transformed => Transformed::yes(arg.clone()),
                        (plain, _) => plain,
                    };
                    changed |= plain.transformed;
                    sort.expr = plain.data;
                }
                let expr = Expr::AggregateFunction(function);
                Ok(if changed { Transformed::yes(expr) } else { Transformed::no(expr) })
            }
            other => Ok(Transformed::no(other)),
        })?;
        // The aggregate's column keeps the name the plan above refers to.
        Ok(match (rewritten.transformed, aliased) {
            (true, false) => Transformed::yes(rewritten.data.alias(name)),
            _ => rewritten,
        })
    }
}

impl AnalyzerRule for PlainAggregateArguments {
    fn name(&self) -> &str {
        "datalab_plain_aggregate_arguments"
    }

    fn analyze(&self, plan: LogicalPlan, _config: &ConfigOptions) -> Result<LogicalPlan> {
        plan.transform_up_with_subqueries(|plan| {
            let LogicalPlan::Aggregate(aggregate) = &plan else { return Ok(Transformed::no(plan)) };
            let schema = aggregate.input.schema().clone();
            let mut changed = false;
            let mut aggr_expr = Vec::with_capacity(aggregate.aggr_expr.len());
            for expr in &aggregate.aggr_expr {
                let rewritten = Self::aggregate(expr.clone(), &schema)?;
                changed |= rewritten.transformed;
                aggr_expr.push(rewritten.data);
            }
            if !changed {
                return Ok(Transformed::no(plan));
            }
            let rewritten = Aggregate::try_new(aggregate.input.clone(), aggregate.group_expr.clone(), aggr_expr)?;
            Ok(Transformed::yes(LogicalPlan::Aggregate(rewritten)))
        })
        .data()
    }
}

#[cfg(test)]
mod tests {
    use arrow::array::{Float64Array, RecordBatch};
    use arrow::datatypes::{Field, Schema};
    use arrow::util::display::{ArrayFormatter, FormatOptions};
    use datafusion::datasource::MemTable;
    use datafusion::prelude::SessionContext;

    use super::*;

    fn dictionary(keys: Vec<Option<i32>>, values: Vec<Option<&str>>) -> ArrayRef {
        Arc::new(
            DictionaryArray::<Int32Type>::try_new(Int32Array::from(keys), Arc::new(StringArray::from(values))).unwrap(),
        )
    }

    /// Two partitions of batches, each batch with its own dictionaries: the
    /// same texts under different keys, texts only some batches have, null
    /// keys and null values.
    fn context(rewrite: bool) -> SessionContext {
        let coded = DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8));
        let schema = Arc::new(Schema::new(vec![
            Field::new("municipio", coded.clone(), true),
            Field::new("tipo", coded, true),
            Field::new("anio", DataType::Int32, true),
            Field::new("monto", DataType::Float64, true),
        ]));
        let batch = |municipios: ArrayRef, tipos: ArrayRef, years: Vec<i32>, amounts: Vec<f64>| {
            let columns: Vec<ArrayRef> =
                vec![municipios, tipos, Arc::new(Int32Array::from(years)), Arc::new(Float64Array::from(amounts))];
            RecordBatch::try_new(schema.clone(), columns).unwrap()
        };
        let first = batch(
            dictionary(vec![Some(0), Some(1), Some(0), None, Some(2)], vec![Some("Monterrey"), Some("Apodaca"), None]),
            dictionary(vec![Some(0), Some(0), Some(1), Some(1), Some(0)], vec![Some("Choque"), Some("Atropello")]),
            vec![2023, 2024, 2024, 2023, 2024],
            vec![1.0, 2.0, 3.0, 4.0, 5.0],
        );
        let second = batch(
            dictionary(
                vec![Some(1), Some(0), Some(2), Some(1)],
                vec![Some("García"), Some("Apodaca"), Some("Monterrey")],
            ),
            dictionary(vec![Some(0), None, Some(0), Some(0)], vec![Some("Atropello")]),
            vec![2023, 2024, 2023, 2024],
            vec![10.0, 20.0, 30.0, 40.0],
        );
        let third = batch(
            dictionary(vec![Some(0), Some(0), Some(1)], vec![Some("Monterrey"), Some("Santiago")]),
            dictionary(vec![Some(1), Some(0), Some(1)], vec![Some("Atropello"), Some("Choque")]),
            vec![2023, 2023, 2022],
            vec![100.0, 200.0, 300.0],
        );
        let table = MemTable::try_new(schema.clone(), vec![vec![first, second.clone()], vec![third, second]]).unwrap();
        let context = SessionContext::new();
        if rewrite {
            context.add_optimizer_rule(Arc::new(GroupByCodes));
        }
        context.register_table("t", Arc::new(table)).unwrap();
        context
    }

    /// Every cell as text with the batches' schema, and the plan.
    async fn run(context: &SessionContext, sql: &str) -> ((Vec<Vec<String>>, Vec<Arc<Schema>>), String) {
        let frame = context.sql(sql).await.unwrap();
        let plan = format!("{}", frame.clone().into_optimized_plan().unwrap().display_indent());
        let mut rows = Vec::new();
        let batches = frame.collect().await.unwrap();
        let schemas = batches.iter().map(|batch| batch.schema()).collect();
        for batch in batches {
            let formatters: Vec<ArrayFormatter> = batch
                .columns()
                .iter()
                .map(|column| {
                    ArrayFormatter::try_new(column.as_ref(), &FormatOptions::default().with_null("∅")).unwrap()
                })
                .collect();
            for row in 0..batch.num_rows() {
                rows.push(formatters.iter().map(|formatter| formatter.value(row).to_string()).collect());
            }
        }
        ((rows, schemas), plan)
    }

    /// Grouped by codes, the answers, names and types are DataFusion's own.
    #[tokio::test]
    async fn grouping_by_codes_gives_what_grouping_by_text_gives() {
        let (plain, coded) = (context(false), context(true));
        for sql in [
            "SELECT municipio, anio, count(*) AS n, sum(monto) AS total FROM t GROUP BY municipio, anio ORDER BY municipio, anio",
            "SELECT municipio, count(*) FROM t GROUP BY municipio ORDER BY municipio",
            "SELECT tipo, municipio, min(monto) FROM t GROUP BY tipo, municipio ORDER BY 1, 2",
            "SELECT DISTINCT municipio FROM t ORDER BY municipio",
            "SELECT municipio, sum(monto) AS total FROM t GROUP BY municipio HAVING municipio <> 'Apodaca' AND sum(monto) > 5 ORDER BY total DESC",
            "SELECT count(DISTINCT municipio) AS n, anio FROM t GROUP BY anio ORDER BY anio",
            "SELECT upper(municipio) AS m, count(*) FROM t GROUP BY municipio ORDER BY m",
            "SELECT m, n FROM (SELECT municipio AS m, count(*) AS n FROM t GROUP BY municipio) WHERE m LIKE 'M%'",
        ] {
            let (expected, plain_plan) = run(&plain, sql).await;
            let (answer, plan) = run(&coded, sql).await;
            assert_eq!(answer, expected, "{sql}: the same rows, names and types");
            assert!(!plain_plan.contains("datalab_codes"));
            assert!(plan.contains("datalab_codes"), "{sql}\n{plan}");
        }
        // Not grouped by a dictionary, or by grouping sets: left alone.
        for sql in [
            "SELECT anio, count(*) FROM t GROUP BY anio ORDER BY anio",
            "SELECT municipio, count(*) FROM t GROUP BY ROLLUP (municipio) ORDER BY municipio",
        ] {
            let (expected, _) = run(&plain, sql).await;
            let (answer, plan) = run(&coded, sql).await;
            assert_eq!(answer, expected, "{sql}");
            assert!(!plan.contains("datalab_codes"), "{plan}");
        }
    }

    #[test]
    fn codes_are_shared_across_dictionaries() {
        let codebook = Codebook::default();
        let first: ArrayRef = Arc::new(StringArray::from(vec![Some("Apodaca"), None, Some("Monterrey")]));
        let second: ArrayRef = Arc::new(StringArray::from(vec![Some("Monterrey"), Some("García")]));
        assert_eq!(codebook.codes_of(&first).unwrap(), Int32Array::from(vec![Some(0), None, Some(1)]));
        assert_eq!(codebook.codes_of(&second).unwrap(), Int32Array::from(vec![Some(1), Some(2)]));
        // A dictionary seen before is not looked up again.
        assert_eq!(codebook.codes_of(&first).unwrap(), Int32Array::from(vec![Some(0), None, Some(1)]));
        assert_eq!(codebook.texts(), StringArray::from(vec!["Apodaca", "Monterrey", "García"]));
    }
}
