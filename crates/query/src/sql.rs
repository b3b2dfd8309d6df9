//! `datastore_search_sql` and `/api/v1/sql`: one read-only `SELECT` over
//! resources named by id.
//!
//! The guard is layered: the text must parse as exactly one query (no DDL,
//! DML, `COPY`, `EXPLAIN`, `SET`…); every table it reads must be a resource
//! the caller resolved and may see, so there is no way to name a file, a URL
//! or a system table; recursive CTEs are disabled; DataFusion's plan check
//! refuses anything but a query; and the run has a time limit, a memory
//! limit and a row cap. At most `max_heavy_queries` run at once.

use std::sync::Arc;

use arrow::datatypes::DataType;
use datafusion::execution::context::SQLOptions;
use datafusion::physical_plan::{ExecutionPlan, StatisticsArgs, StatisticsContext};
use datafusion::sql::parser::{DFParser, Statement as DfStatement};
use datafusion::sql::sqlparser::ast::Statement;
use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;
use serde_json::Value;

use crate::search::collect_rows_within;
use crate::{QueryEngine, QueryError, QueryResult, Table};

/// Longest SQL text accepted.
pub const MAX_SQL_BYTES: usize = 64 * 1024;

/// Most operators and keywords (`+`, `AND`, `UNION`, `JOIN`, `SELECT`…) one query may hold. A
/// chain of operators parses into a tree as deep as the chain is long,
/// and parsing, planning and dropping that tree recurse once per level: a
/// bound on the count is a bound on the depth, checked on the tokens,
/// before any tree is built.
pub const MAX_SQL_OPERATORS: usize = 1024;

/// Counts the operators of `sql`'s tokens (see [`MAX_SQL_OPERATORS`]).
fn check_operators(sql: &str) -> QueryResult<()> {
    use datafusion::sql::sqlparser::keywords::Keyword;
    use datafusion::sql::sqlparser::tokenizer::{Token, Tokenizer};
    let tokens = Tokenizer::new(&PostgreSqlDialect {}, sql)
        .tokenize()
        .map_err(|error| QueryError::Refused(format!("the query does not parse: {error}")))?;
    let operators = tokens
        .iter()
        .filter(|token| match token {
            // Every keyword counts: sqlparser reads some infix keywords (XOR,
            // OVERLAPS, AT TIME ZONE…) in a loop, as it reads `+`, and a list
            // of them would miss the next one it learns.
            Token::Word(word) => word.keyword != Keyword::NoKeyword,
            Token::Number(..)
            | Token::Comma
            | Token::Whitespace(_)
            | Token::LParen
            | Token::RParen
            | Token::Period
            | Token::SemiColon
            | Token::EOF
            | Token::SingleQuotedString(_)
            | Token::DoubleQuotedString(_)
            | Token::NationalStringLiteral(_)
            | Token::EscapedStringLiteral(_)
            | Token::UnicodeStringLiteral(_)
            | Token::HexStringLiteral(_)
            | Token::DollarQuotedString(_) => false,
            _ => true,
        })
        .count();
    if operators > MAX_SQL_OPERATORS {
        return Err(QueryError::Refused(format!(
            "the query has {operators} operators and keywords; at most {MAX_SQL_OPERATORS} are allowed"
        )));
    }
    Ok(())
}

/// Largest row product a join without equality keys (a cartesian product
/// or a nested-loop join) may face. Such joins can keep a thread busy for
/// hours without ever yielding, so they are refused before they start.
pub const MAX_NESTED_LOOP_ROWS: u128 = 50_000_000;

/// Refuses plans with a nested-loop or cross join over more than
/// [`MAX_NESTED_LOOP_ROWS`] row pairs (or over inputs of unknown size).
fn check_joins(plan: &Arc<dyn ExecutionPlan>) -> QueryResult<()> {
    check_joins_with(plan, &StatisticsContext::new())
}

fn check_joins_with(plan: &Arc<dyn ExecutionPlan>, statistics: &StatisticsContext) -> QueryResult<()> {
    let name = plan.name();
    if name.contains("NestedLoopJoin") || name.contains("CrossJoin") {
        let mut product: u128 = 1;
        for child in plan.children() {
            let rows = statistics
                .compute(child.as_ref(), &StatisticsArgs::new())
                .ok()
                .and_then(|statistics| statistics.num_rows.get_value().copied())
                .map(|rows| rows as u128)
                .unwrap_or(u128::MAX);
            product = product.saturating_mul(rows.max(1));
        }
        if product > MAX_NESTED_LOOP_ROWS {
            return Err(QueryError::Refused(format!(
                "the query joins tables without an equality condition over too many row pairs (more than {MAX_NESTED_LOOP_ROWS}); join on equal columns (JOIN … ON a.x = b.x) or filter the tables first"
            )));
        }
    }
    for child in plan.children() {
        check_joins_with(child, statistics)?;
    }
    Ok(())
}

#[derive(Debug, Clone)]
pub struct SqlResult {
    pub fields: Vec<(String, DataType)>,
    pub records: Vec<Vec<Value>>,
    /// More rows matched than the row cap.
    pub truncated: bool,
}

/// The tables a query reads, by name (resource ids), after checking that it
/// is one read-only `SELECT`.
pub fn referenced_tables(sql: &str) -> QueryResult<Vec<String>> {
    if sql.len() > MAX_SQL_BYTES {
        return Err(QueryError::Refused(format!("the query is longer than {MAX_SQL_BYTES} bytes")));
    }
    check_operators(sql)?;
    let mut statements = DFParser::parse_sql_with_dialect(sql, &PostgreSqlDialect {})
        .map_err(|error| QueryError::Refused(format!("the query does not parse: {error}")))?;
    if statements.len() != 1 {
        return Err(QueryError::Refused("send exactly one SELECT statement".into()));
    }
    let statement = statements.pop_front().expect("one statement");
    let query = match &statement {
        DfStatement::Statement(inner) if matches!(inner.as_ref(), Statement::Query(_)) => inner,
        _ => return Err(QueryError::Refused("only SELECT queries are allowed".into())),
    };
    if let Statement::Query(query) = query.as_ref()
        && let Some(with) = &query.with
        && with.recursive
    {
        return Err(QueryError::Refused("recursive queries are not allowed".into()));
    }
    let (tables, _ctes) = datafusion::sql::resolve::resolve_table_references(&statement, true)?;
    let mut names = Vec::new();
    for table in tables {
        if table.schema().is_some() || table.catalog().is_some() {
            return Err(QueryError::Refused(format!(
                "\"{table}\" is not a resource: name tables by resource id, as \"FROM \\\"<id>\\\"\""
            )));
        }
        let name = table.table().to_string();
        if !names.contains(&name) {
            names.push(name);
        }
    }
    Ok(names)
}

impl QueryEngine {
    /// Runs `sql`, which reads only `tables` (see [`referenced_tables`]).
    pub async fn sql(&self, sql: String, tables: Vec<Table>) -> QueryResult<SqlResult> {
        let named = referenced_tables(&sql)?;
        if let Some(missing) = named.iter().find(|name| !tables.iter().any(|table| &table.name == *name)) {
            return Err(QueryError::Refused(format!("\"{missing}\" is not a queryable resource")));
        }
        let permit = self.slot(&self.heavy).await?;
        let context = self.context();
        let cap = self.settings.sql_row_cap;
        let byte_limit = self.settings.answer_byte_limit;
        self.run_holding(permit, async move {
            for table in &tables {
                context.register_table(&table.name, QueryEngine::provider(&context, table).await?)?;
            }
            let options = SQLOptions::new().with_allow_ddl(false).with_allow_dml(false).with_allow_statements(false);
            let frame = context.sql_with_options(&sql, options).await?;
            let task = frame.task_ctx();
            let plan = frame.create_physical_plan().await?;
            check_joins(&plan)?;
            let stream = datafusion::physical_plan::execute_stream(plan, Arc::new(task))?;
            let (fields, mut records, cut) = collect_rows_within(stream, cap + 1, byte_limit).await?;
            let truncated = cut || records.len() > cap;
            records.truncate(cap);
            Ok(SqlResult { fields, records, truncated })
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_one_select_passes() {
        assert_eq!(referenced_tables("SELECT * FROM \"abc\" JOIN \"def\" USING (x)").unwrap(), ["abc", "def"]);
        for refused in [
            "DROP TABLE \"abc\"",
            "DELETE FROM \"abc\"",
            "INSERT INTO \"abc\" VALUES (1)",
            "CREATE EXTERNAL TABLE t STORED AS CSV LOCATION '/etc/passwd'",
            "COPY (SELECT 1) TO '/tmp/x.csv'",
            "SELECT 1; SELECT 2",
            "EXPLAIN SELECT 1",
            "SET datafusion.execution.batch_size = 1",
            "WITH RECURSIVE t(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM t) SELECT * FROM t",
            "SELECT * FROM information_schema.tables",
            "SELECT * FROM",
            format!("SELECT 1{}", "+1".repeat(2_000)).as_str(),
            format!("SELECT 1 WHERE true{}", " AND true".repeat(7_000)).as_str(),
            format!("SELECT 1{}", " UNION SELECT 1".repeat(1_000)).as_str(),
            format!("SELECT true{}", " XOR true".repeat(7_000)).as_str(),
        ] {
            assert!(
                matches!(referenced_tables(refused), Err(QueryError::Refused(_))),
                "{refused} → {:?}",
                referenced_tables(refused)
            );
        }
    }
}
