//! `repo verify`: stored package files read back and hashed against the SHA-256 the store
//! recorded — every stored package, those of named repositories and snapshots, or
//! (`--all`) every object of the object store besides.

use std::collections::{BTreeSet, HashSet};

use crate::context::Context;
use crate::error::Result;
use crate::wire::VerifyReport;

/// What `repo verify` checks.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VerifyScope {
    /// Repositories and snapshots (`repo:NAME`, `snapshot:NAME` or a bare name) whose
    /// packages to check; none: every stored package.
    pub names: Vec<String>,
    /// Every stored package and every object of the local object store, named by the
    /// store or not, loose or packed.
    pub all: bool,
}

/// Check what `scope` names. Problems (missing or different files, by package or object
/// name) are the report, not an error; an unknown repository is an error.
pub async fn verify(ctx: &Context, scope: &VerifyScope) -> Result<VerifyReport> {
    let packages = if scope.names.is_empty() || scope.all {
        ctx.store().apt_all_packages().await?
    } else {
        let mut shas = BTreeSet::new();
        for name in &scope.names {
            let (kind, row) = super::resolve(ctx, name).await?;
            let members = ctx.store().apt_member_shas(kind, &row.name).await?;
            shas.extend(members.into_iter().map(|(sha256, _)| sha256));
        }
        ctx.store().apt_packages(&shas.into_iter().collect::<Vec<_>>()).await?
    };
    let n_packages = packages.len();
    let wanted: Vec<(String, String)> = packages.into_iter().flat_map(package_objects).collect();
    let checked: HashSet<String> = wanted.iter().map(|(sha256, _)| sha256.clone()).collect();
    let mut problems = ctx.storage().verify(wanted).await?;
    let mut objects = None;
    if scope.all {
        let (n, extra) = ctx.storage().verify_every_object(checked).await?;
        objects = Some(n);
        problems.extend(extra);
    }
    let advice = (!problems.is_empty()).then(|| advice(ctx));
    Ok(VerifyReport {
        ok: problems.is_empty(),
        packages: n_packages,
        location: ctx.storage().objects_location(),
        objects,
        problems,
        advice,
    })
}

/// What to do about missing or damaged files.
/// Every object a stored package names, with a description for messages: its file, and
/// for a source package every file its `.dsc` lists.
pub(super) fn package_objects(p: wharf_store::AptPackageRow) -> Vec<(String, String)> {
    let what = format!("{} {} ({})", p.name, p.version, p.architecture);
    if p.architecture != wharf_apt::dsc::SOURCE_ARCHITECTURE {
        return vec![(p.sha256, what)];
    }
    let mut out: Vec<(String, String)> = wharf_apt::dsc::stanza_files(&p.control)
        .into_iter()
        .filter(|(_, _, sha256)| *sha256 != p.sha256)
        .map(|(name, _, sha256)| (sha256, format!("{what}: {name}")))
        .collect();
    out.insert(0, (p.sha256, what));
    out
}

fn advice(ctx: &Context) -> String {
    format!(
        "the files named above in {} are missing or damaged: restore the data directory from \
         a backup (`wharf restore`), or remove those packages (`wharf repo remove`) and add \
         the .deb files again (`wharf repo add`), then publish",
        ctx.storage().objects_location()
    )
}
