//! Node sets.

use serde::Serialize;
use wharf_core::nodeset::NodeSet;

/// A node set, expanded and folded (`wharf nodeset --json`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct NodesetView {
    /// The expression as given.
    pub expression: String,
    /// The shortest expression for the same nodes, as ClusterShell folds it.
    pub folded: String,
    pub count: usize,
    /// Every node name, in node-set order.
    pub nodes: Vec<String>,
}

impl NodesetView {
    #[must_use]
    pub fn new(expression: &str, set: &NodeSet) -> NodesetView {
        NodesetView {
            expression: expression.to_owned(),
            folded: set.fold(),
            count: set.len(),
            nodes: set.iter().map(str::to_owned).collect(),
        }
    }
}
