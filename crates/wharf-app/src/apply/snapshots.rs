//! A repository's snapshot policy (`[[repositories]]` `snapshot = { on = "publish", name,
//! keep }`) at a publish, decided without I/O by [`plan`]:
//!
//! - a snapshot named by the template is taken, `{n}` one more than the highest of the
//!   existing names the template gives (from 1; a dropped one's name is never given
//!   again while a newer one exists) — unless the newest snapshot the policy made froze this very
//!   generation of the repository (a publish of nothing new takes no snapshot);
//! - of the snapshots the policy made (newest first, the new one included), those beyond
//!   `keep` are dropped — never a published one (it stays, and keeps counting), never one
//!   made by hand (the caller passes only the policy's own).
//!
//! `publish::policy_snapshots` carries it out.

use std::collections::BTreeSet;

use wharf_core::config::snapshot_name;
use wharf_store::SnapshotPolicy;

/// A snapshot the policy made earlier.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicySnapshot {
    pub name: String,
    /// The repository's generation it froze.
    pub generation: i64,
    pub created_at: String,
    /// Published at some prefix: never dropped.
    pub published: bool,
}

/// What a publish does for the policy.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SnapshotPlan {
    /// The snapshot to take; `None`: the newest one already froze this generation.
    pub create: Option<String>,
    /// Snapshots the policy made that are now beyond `keep`, oldest last.
    pub drop: Vec<String>,
}

/// The highest `{n}` among `existing` names the template gives for `repo` on `date` (0:
/// none), so that numbers only grow: a dropped snapshot's name is not given again.
fn highest_n(
    template: &str,
    repo: &str,
    date: &str,
    existing: &BTreeSet<String>,
) -> Result<u32, String> {
    let probe = snapshot_name(template, repo, date, u32::MAX)?;
    let Some((head, tail)) = probe.split_once(&u32::MAX.to_string()) else { return Ok(0) };
    Ok(existing
        .iter()
        .filter_map(|name| name.strip_prefix(head)?.strip_suffix(tail)?.parse::<u32>().ok())
        .filter(|n| *n < u32::MAX)
        .max()
        .unwrap_or(0))
}

/// Decide; see the module docs. `existing`: every snapshot name (any origin); `made`: the
/// snapshots this repository's policy made. The error is a template that renders no valid
/// name (checked when the configuration is read, so only a stored policy can have one).
pub fn plan(
    policy: &SnapshotPolicy,
    repo: &str,
    generation: i64,
    date: &str,
    existing: &BTreeSet<String>,
    made: &[PolicySnapshot],
) -> Result<SnapshotPlan, String> {
    let mut newest_first: Vec<&PolicySnapshot> = made.iter().collect();
    newest_first.sort_by(|a, b| {
        (b.generation, &b.created_at, b.name.len(), &b.name).cmp(&(
            a.generation,
            &a.created_at,
            a.name.len(),
            &a.name,
        ))
    });
    let mut plan = SnapshotPlan::default();
    let unchanged = newest_first.first().is_some_and(|newest| newest.generation == generation);
    if !unchanged {
        let mut n = highest_n(&policy.name, repo, date, existing)? + 1;
        let name = loop {
            let name = snapshot_name(&policy.name, repo, date, n)?;
            if !existing.contains(&name) {
                break name;
            }
            n += 1;
        };
        plan.create = Some(name);
    }
    let kept = usize::try_from(policy.keep).unwrap_or(usize::MAX);
    let already = usize::from(plan.create.is_some());
    plan.drop = newest_first
        .iter()
        .skip(kept.saturating_sub(already))
        .filter(|s| !s.published)
        .map(|s| s.name.clone())
        .collect();
    Ok(plan)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn made(name: &str, generation: i64, published: bool) -> PolicySnapshot {
        PolicySnapshot {
            name: name.into(),
            generation,
            created_at: format!("2026-12-01T00:00:{generation:02}Z"),
            published,
        }
    }

    /// (keep, generation now, existing names, made by the policy, create, drop)
    type Case =
        (u32, i64, BTreeSet<String>, Vec<PolicySnapshot>, Option<&'static str>, Vec<&'static str>);

    #[test]
    fn the_policy_takes_one_snapshot_a_publish_and_keeps_the_newest() {
        let policy =
            |keep| SnapshotPolicy { name: "{repo}-{date}-{n}".into(), keep, generation: None };
        let day = "20261201";
        let names = |list: &[&str]| list.iter().map(|n| (*n).to_owned()).collect::<BTreeSet<_>>();
        let cases: Vec<Case> = vec![
            // The first publish.
            (3, 1, names(&[]), vec![], Some("tools-20261201-1"), vec![]),
            // A name taken by hand is skipped; the hand-made one is not the policy's.
            (3, 2, names(&["tools-20261201-1"]), vec![], Some("tools-20261201-2"), vec![]),
            // Numbers only grow: 1 was dropped, 3 comes after 2; another day starts at 1.
            (
                3,
                3,
                names(&["tools-20261201-2", "tools-20261130-7"]),
                vec![],
                Some("tools-20261201-3"),
                vec![],
            ),
            // Nothing new since the newest: no snapshot, nothing dropped.
            (
                3,
                4,
                names(&["tools-20261201-1"]),
                vec![made("tools-20261201-1", 4, false)],
                None,
                vec![],
            ),
            // Beyond keep: the oldest go (order by generation, not by name: 10 after 9).
            (
                2,
                11,
                names(&["a-9", "a-10"]),
                vec![made("a-10", 10, false), made("a-9", 9, false), made("a-8", 8, false)],
                Some("tools-20261201-1"),
                vec!["a-9", "a-8"],
            ),
            // A published one is never dropped, and still counts.
            (
                1,
                7,
                names(&[]),
                vec![made("x-6", 6, true), made("x-5", 5, false)],
                Some("tools-20261201-1"),
                vec!["x-5"],
            ),
            // Unchanged and beyond keep (keep was lowered): only the drop.
            (
                1,
                6,
                names(&[]),
                vec![made("x-6", 6, false), made("x-5", 5, false)],
                None,
                vec!["x-5"],
            ),
        ];
        for (keep, generation, existing, made, create, drop) in cases {
            let plan = plan(&policy(keep), "tools", generation, day, &existing, &made).unwrap();
            assert_eq!(plan.create.as_deref(), create, "{made:?}");
            assert_eq!(plan.drop, drop, "{made:?}");
        }
    }

    #[test]
    fn a_bad_stored_template_is_an_error() {
        let policy = SnapshotPolicy { name: "{oops}".into(), keep: 1, generation: None };
        let err = plan(&policy, "r", 1, "20261201", &BTreeSet::new(), &[]).unwrap_err();
        assert!(err.contains("unknown placeholder"), "{err}");
    }
}
