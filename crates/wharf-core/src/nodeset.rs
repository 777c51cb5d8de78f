//! ClusterShell node sets. (STUB: being written.)

use std::collections::BTreeSet;
use std::fmt;

/// Resolves `@name` references. `name` is the text after `@`: `workers`, `role:web`, `*`.
pub trait GroupSource {
    /// The members of group `name`, or `None` when no such group exists.
    fn group(&self, name: &str) -> Option<NodeSet>;
}

/// A source with no groups: every `@name` is unknown.
pub struct NoGroups;
impl GroupSource for NoGroups {
    fn group(&self, _name: &str) -> Option<NodeSet> {
        None
    }
}

/// An ordered set of node names.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NodeSet {
    names: BTreeSet<String>,
}

/// A malformed expression or an unknown group, with the byte position in the expression.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("node set {expr:?} at position {position}: {reason}")]
pub struct NodeSetError {
    pub expr: String,
    pub position: usize,
    pub reason: String,
}

impl NodeSet {
    pub fn parse(expr: &str, groups: &dyn GroupSource) -> Result<NodeSet, NodeSetError> {
        let mut out = NodeSet::default();
        for part in expr.split(',') {
            if let Some(g) = part.strip_prefix('@') {
                let members = groups.group(g).ok_or_else(|| NodeSetError {
                    expr: expr.to_owned(),
                    position: 0,
                    reason: format!("unknown group @{g}"),
                })?;
                out.names.extend(members.names);
            } else if !part.is_empty() {
                out.names.insert(part.to_owned());
            }
        }
        Ok(out)
    }
    pub fn from_names<I: IntoIterator<Item = S>, S: Into<String>>(names: I) -> NodeSet {
        NodeSet { names: names.into_iter().map(Into::into).collect() }
    }
    pub fn len(&self) -> usize {
        self.names.len()
    }
    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }
    pub fn contains(&self, name: &str) -> bool {
        self.names.contains(name)
    }
    pub fn iter(&self) -> impl Iterator<Item = &str> + '_ {
        self.names.iter().map(String::as_str)
    }
    pub fn union(&mut self, other: &NodeSet) {
        self.names.extend(other.names.iter().cloned());
    }
    pub fn fold(&self) -> String {
        self.names.iter().cloned().collect::<Vec<_>>().join(",")
    }
}

impl fmt::Display for NodeSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.fold())
    }
}
