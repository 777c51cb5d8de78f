//! `clush -b` gathering: nodes whose output and outcome are identical form one group, so
//! 1,000 identical answers print once. Pure: no I/O.

use crate::outcome::{NodeResult, Outcome};

/// Nodes that answered the same.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutputGroup<'a> {
    /// Node names in input order.
    pub nodes: Vec<&'a str>,
    pub stdout: &'a [u8],
    /// Empty unless stderr was part of the key (`-B`).
    pub stderr: &'a [u8],
    pub outcome: &'a Outcome,
}

/// Group results by (stdout, [stderr,] outcome). Unreachable nodes are left out (they have
/// no output; [`failures`] reports them). Groups come in order of their first node.
pub fn gather(results: &[NodeResult], with_stderr: bool) -> Vec<OutputGroup<'_>> {
    let mut groups: Vec<OutputGroup<'_>> = Vec::new();
    let mut index = std::collections::HashMap::new();
    for result in results {
        if matches!(result.outcome, Outcome::Unreachable(_)) {
            continue;
        }
        let stderr: &[u8] = if with_stderr { &result.stderr } else { &[] };
        let key = (result.stdout.as_slice(), stderr, &result.outcome);
        match index.get(&key) {
            Some(&idx) => {
                let group: &mut OutputGroup<'_> = &mut groups[idx];
                group.nodes.push(&result.node);
            }
            None => {
                index.insert(key, groups.len());
                groups.push(OutputGroup {
                    nodes: vec![&result.node],
                    stdout: &result.stdout,
                    stderr,
                    outcome: &result.outcome,
                });
            }
        }
    }
    groups
}

/// One line per distinct failure: the nodes and the description of what went wrong
/// (`exited with exit code 3`, `unreachable (refused): …`), in order of first node.
pub fn failures(results: &[NodeResult]) -> Vec<(Vec<&str>, String)> {
    let mut lines: Vec<(Vec<&str>, String)> = Vec::new();
    for result in results.iter().filter(|result| !result.outcome.is_success()) {
        let description = result.outcome.describe();
        match lines.iter_mut().find(|(_, existing)| *existing == description) {
            Some((nodes, _)) => nodes.push(&result.node),
            None => lines.push((vec![&result.node], description)),
        }
    }
    lines
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::outcome::{Unreachable, UnreachableReason};

    fn result(node: &str, stdout: &str, stderr: &str, outcome: Outcome) -> NodeResult {
        NodeResult {
            node: node.to_owned(),
            stdout: stdout.as_bytes().to_vec(),
            stderr: stderr.as_bytes().to_vec(),
            truncated_bytes: 0,
            started: Duration::ZERO,
            finished: Duration::ZERO,
            outcome,
        }
    }

    #[test]
    fn groups_by_output_and_outcome() {
        let refused = Outcome::Unreachable(Unreachable::new(
            UnreachableReason::Refused,
            "connection refused",
        ));
        let results = [
            result("a1", "ok\n", "w1", Outcome::Exited(0)),
            result("a2", "ok\n", "w2", Outcome::Exited(0)),
            result("a3", "ok\n", "", Outcome::Exited(1)),
            result("a4", "no\n", "", Outcome::Exited(1)),
            result("a5", "", "", refused.clone()),
            result("a6", "", "", refused),
        ];
        let groups = gather(&results, false);
        let summary: Vec<_> =
            groups.iter().map(|g| (g.nodes.clone(), g.outcome.exit_code())).collect();
        assert_eq!(
            summary,
            [(vec!["a1", "a2"], Some(0)), (vec!["a3"], Some(1)), (vec!["a4"], Some(1))]
        );
        assert_eq!(gather(&results, true).len(), 4, "stderr splits a1 and a2 with -B");
        let failures = failures(&results);
        assert_eq!(failures[0], (vec!["a3", "a4"], "exited with exit code 1".to_owned()));
        assert_eq!(
            failures[1],
            (vec!["a5", "a6"], "unreachable (refused): connection refused".to_owned())
        );
    }
}
