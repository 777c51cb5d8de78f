//! `repo diff A B`: two repositories or snapshots compared by package name and
//! architecture — what only one side has, and what both have in other versions (or the
//! same version with other content). The comparison ([`compare`]) is pure.

use std::collections::BTreeMap;
use std::str::FromStr as _;

use wharf_core::version::Version;
use wharf_store::AptMemberRow;

use super::{kind_name, resolve};
use crate::context::Context;
use crate::error::Result;
use crate::wire::{DiffEntry, DiffReport};

/// Compare `left` and `right` (each a repository, a snapshot, or `repo:`/`snapshot:NAME`).
pub async fn diff(ctx: &Context, left: &str, right: &str) -> Result<DiffReport> {
    let (left_kind, left_row) = resolve(ctx, left).await?;
    let (right_kind, right_row) = resolve(ctx, right).await?;
    let left_members = ctx.store().apt_members(left_kind, &left_row.name).await?;
    let right_members = ctx.store().apt_members(right_kind, &right_row.name).await?;
    let (only_left, only_right, different) = compare(&left_members, &right_members);
    Ok(DiffReport {
        left: left_row.name,
        left_kind: kind_name(left_kind).to_owned(),
        right: right_row.name,
        right_kind: kind_name(right_kind).to_owned(),
        identical: only_left.is_empty() && only_right.is_empty() && different.is_empty(),
        only_left,
        only_right,
        different,
    })
}

type Side<'a> = BTreeMap<(&'a str, &'a str), Vec<(&'a str, &'a str)>>;

fn side(members: &[AptMemberRow]) -> Side<'_> {
    let mut out: Side<'_> = BTreeMap::new();
    for m in members {
        let p = &m.package;
        out.entry((p.name.as_str(), p.architecture.as_str()))
            .or_default()
            .push((p.version.as_str(), p.sha256.as_str()));
    }
    for versions in out.values_mut() {
        versions.sort_by(|a, b| match (Version::from_str(a.0), Version::from_str(b.0)) {
            (Ok(x), Ok(y)) => x.cmp(&y).then(a.cmp(b)),
            _ => a.cmp(b),
        });
    }
    out
}

/// Only on the left, only on the right, different — each sorted by name, architecture.
#[must_use]
pub fn compare(
    left: &[AptMemberRow],
    right: &[AptMemberRow],
) -> (Vec<DiffEntry>, Vec<DiffEntry>, Vec<DiffEntry>) {
    let (left, right) = (side(left), side(right));
    let versions =
        |v: &[(&str, &str)]| v.iter().map(|(version, _)| (*version).to_owned()).collect();
    let entry = |key: &(&str, &str), l: &[(&str, &str)], r: &[(&str, &str)]| DiffEntry {
        name: key.0.to_owned(),
        architecture: key.1.to_owned(),
        left: versions(l),
        right: versions(r),
    };
    let (mut only_left, mut only_right, mut different) = (Vec::new(), Vec::new(), Vec::new());
    for (key, l) in &left {
        match right.get(key) {
            None => only_left.push(entry(key, l, &[])),
            Some(r) if r != l => different.push(entry(key, l, r)),
            Some(_) => {}
        }
    }
    for (key, r) in &right {
        if !left.contains_key(key) {
            only_right.push(entry(key, &[], r));
        }
    }
    (only_left, only_right, different)
}

#[cfg(test)]
mod tests {
    use wharf_store::AptPackageRow;

    use super::*;

    fn member(id: &str) -> AptMemberRow {
        let mut parts = id.split('_');
        let (name, version, architecture) =
            (parts.next().unwrap(), parts.next().unwrap(), parts.next().unwrap());
        let sha256 = parts.next().unwrap_or("same").to_owned();
        AptMemberRow {
            package: AptPackageRow {
                sha256,
                name: name.into(),
                version: version.into(),
                architecture: architecture.into(),
                size: 0,
                md5: String::new(),
                sha1: String::new(),
                control: String::new(),
            },
            component: "main".into(),
        }
    }

    fn check(left: &[&str], right: &[&str], expected: [&[&str]; 3]) {
        let left: Vec<_> = left.iter().map(|id| member(id)).collect();
        let right: Vec<_> = right.iter().map(|id| member(id)).collect();
        let (a, b, c) = compare(&left, &right);
        let show = |entries: Vec<DiffEntry>| -> Vec<String> {
            entries
                .into_iter()
                .map(|e| {
                    format!(
                        "{} {} {}/{}",
                        e.name,
                        e.architecture,
                        e.left.join(","),
                        e.right.join(",")
                    )
                })
                .collect()
        };
        assert_eq!([show(a), show(b), show(c)], expected.map(|e| e.to_vec()), "{left:?} {right:?}");
    }

    #[test]
    fn compares_by_name_and_architecture() {
        check(&[], &[], [&[], &[], &[]]);
        check(&["a_1_amd64"], &["a_1_amd64"], [&[], &[], &[]]);
        check(&["a_1_amd64"], &["a_1_arm64"], [&["a amd64 1/"], &["a arm64 /1"], &[]]);
        check(&["a_1_amd64"], &["a_2_amd64"], [&[], &[], &["a amd64 1/2"]]);
        // Same version, other content: different.
        check(&["a_1_amd64_x"], &["a_1_amd64_y"], [&[], &[], &["a amd64 1/1"]]);
        // Several versions, in dpkg order.
        check(
            &["a_1.0_amd64", "a_1.0~rc1_amd64", "b_1_all"],
            &["a_1.0~rc1_amd64", "b_1_all", "c_3_all"],
            [&[], &["c all /3"], &["a amd64 1.0~rc1,1.0/1.0~rc1"]],
        );
    }
}
