//! Every operator of a plan yields to the scheduler now and then, so that a
//! query past its time limit really stops.
//!
//! A query is aborted by dropping its task, which takes effect the next
//! time the task yields. DataFusion makes only leaves and exchanges yield
//! (its `EnsureCooperative` rule): a join whose few input rows make
//! millions of output rows, or an unnest, can feed the aggregate above it
//! for minutes within one poll, and an abort waits for all of it. This
//! rule wraps every other operator in DataFusion's own `CooperativeExec`,
//! which spends one unit of tokio's per-task budget per batch and yields
//! when the budget is spent (every 128 batches or so): the abort lands
//! within milliseconds. A `CooperativeExec` changes nothing else of its
//! input (schema, order, partitioning, statistics).
//!
//! The alternative, a query process that can be killed, would cost a
//! process start and copying every answer between processes.

use std::sync::Arc;

use datafusion::common::Result;
use datafusion::common::config::ConfigOptions;
use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::physical_optimizer::PhysicalOptimizerRule;
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_plan::coop::CooperativeExec;

/// DataFusion's physical optimizer rules with [`YieldEverywhere`] right
/// after its own `EnsureCooperative`: before the filter pushdown that runs
/// after optimization, so the dynamic filters joins and TopK sorts hand to
/// their scans are made for the final plan (rebuilding a join or a sort
/// above them later would leave the scans with stale ones).
pub(crate) fn rules() -> Vec<Arc<dyn PhysicalOptimizerRule + Send + Sync>> {
    let mut rules = datafusion::physical_optimizer::optimizer::PhysicalOptimizer::new().rules;
    let at = rules.iter().position(|rule| rule.name() == "EnsureCooperative").map_or(rules.len(), |index| index + 1);
    rules.insert(at, Arc::new(YieldEverywhere));
    rules
}

#[derive(Debug, Default)]
pub(crate) struct YieldEverywhere;

impl PhysicalOptimizerRule for YieldEverywhere {
    fn name(&self) -> &str {
        "YieldEverywhere"
    }

    fn optimize(&self, plan: Arc<dyn ExecutionPlan>, _config: &ConfigOptions) -> Result<Arc<dyn ExecutionPlan>> {
        plan.transform_up(|plan| {
            let wrapped = plan.name() == "CooperativeExec" || plan.children().is_empty();
            Ok(if wrapped { Transformed::no(plan) } else { Transformed::yes(Arc::new(CooperativeExec::new(plan))) })
        })
        .map(|transformed| transformed.data)
    }

    fn schema_check(&self) -> bool {
        true
    }
}
