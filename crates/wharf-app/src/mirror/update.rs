//! `mirror update`: fetch the remote's `InRelease` (or `Release` and `Release.gpg`) and
//! check its signature against the mirror's keyring and its dates; when every index it
//! lists is the one the last update read, stop there. Otherwise fetch each `Packages`
//! index (by hash when the remote offers it) and check it against the `Release`; select
//! packages with the filter; download only those whose file Wharf does not store, each
//! checked against the index's size and SHA-256 and streamed into the object store's
//! pack writer ([`super::download`]); and only then take the writer lock, make the files
//! durable and commit the mirror's new package list with its audit entry in one
//! transaction. Any refusal or crash leaves the mirror as it was; a `repo add` or a
//! publish is not held up by the downloads.

use std::collections::{HashMap, HashSet};

use serde_json::json;
use wharf_apt::depends::{DepPackage, follow};
use wharf_apt::dsc::SOURCE_ARCHITECTURE;
use wharf_apt::mirror::{
    IndexRef, Keyring, Plan, Release, RemotePackage, decompress, parse_packages_with,
    parse_sources, plan,
};
use wharf_apt::query::{Candidate, Query};
use wharf_store::{AptKind, AptMemberRow, MirrorSource, RepoSettings};

use super::download::download_and_read;
use super::fetch::Remote;
use crate::context::Context;
use crate::error::{AppError, Context as _, Result};
use crate::progress::Progress;
use crate::repo::collection;
use crate::wire::MirrorUpdateReport;

/// How far ahead of this machine's clock a remote `Release` may be dated.
const CLOCK_SKEW_SECS: i64 = 300;

/// Update mirror `name` from its remote, all or nothing. See the module docs.
pub async fn update(
    ctx: &Context,
    name: &str,
    progress: &dyn Progress,
) -> Result<MirrorUpdateReport> {
    let _updating = lock_mirror(ctx, name)?;
    let row = collection(ctx, AptKind::Mirror, name).await?;
    let settings = row.settings;
    let source = settings.mirror.clone().ok_or_else(|| {
        AppError::internal(format!(
            "mirror {name} has no remote recorded: drop and create it again"
        ))
    })?;
    let remote = Remote::new(&source.url)?;
    progress.phase("fetching the remote Release", 0);
    let release = fetch_release(name, &remote, &settings, &source).await?;
    let now = jiff::Timestamp::now().as_second();
    let previous = source.release_date.as_deref().and_then(wharf_apt::index::parse_rfc2822_utc);
    release
        .check_dates(now, CLOCK_SKEW_SECS, previous)
        .map_err(|err| refused(name, &remote, &settings, err.as_str()))?;
    let indices = index_refs(&remote, &settings, &source, &release)?;
    let fingerprint: Vec<String> =
        indices.iter().map(|i| format!("{} {}", i.index.path, i.index.entry.sha256)).collect();
    let n_members = usize::try_from(row.n_packages).unwrap_or(0);
    let mut report = MirrorUpdateReport {
        mirror: name.to_owned(),
        release_date: release.date_text.clone(),
        packages: n_members,
        downloaded: 0,
        resumed: 0,
        bytes: 0,
        reused: n_members,
        removed: 0,
        generation: None,
        audit_id: None,
    };
    if source.updated_at.is_some() && source.indices == fingerprint {
        // Every index is the one the last update read: nothing to parse or fetch.
        return Ok(report);
    }
    let current: Vec<String> = ctx
        .store()
        .apt_member_shas(AptKind::Mirror, name)
        .await?
        .into_iter()
        .map(|(sha, _)| sha)
        .collect();
    progress.phase("reading the remote indices", 0);
    let listed = fetch_indices(&remote, &settings.distribution, &indices, &source).await?;
    let wanted = select(&source, listed)?;
    let current_set: HashSet<String> = current.iter().cloned().collect();
    let stored = stored_shas(ctx, &wanted, &current_set).await?;
    let planned = plan(wanted.iter().map(|w| w.package.sha256.as_str()), &stored, &current);
    let reused = reused_rows(ctx, &wanted, &planned, &current_set).await?;
    let to_fetch: Vec<Wanted> = planned.download.iter().map(|&idx| wanted[idx].clone()).collect();
    drop(wanted);
    progress.phase("downloading packages", u64::try_from(to_fetch.len()).unwrap_or(u64::MAX));
    let downloads = ctx.layout().mirror_downloads(name);
    let sink = ctx.storage().sink();
    let fetched = download_and_read(name, &remote, &downloads, to_fetch, sink, progress).await?;
    let mut rows = fetched.rows;
    rows.extend(reused);
    rows.sort_unstable_by(|a, b| a.package.sha256.cmp(&b.package.sha256));
    report.packages = planned.download.len() + planned.reuse.len();
    report.downloaded = planned.download.len();
    report.resumed = fetched.downloads.iter().filter(|d| d.resumed).count();
    report.bytes = fetched.downloads.iter().map(|d| d.received).sum();
    report.reused = planned.reuse.len();
    report.removed = planned.removed.len();
    if rows.is_empty() && planned.removed.is_empty() {
        return Ok(report);
    }
    let updated = RepoSettings {
        mirror: Some(MirrorSource {
            release_date: release.date_text.clone(),
            updated_at: Some(now_rfc3339()),
            indices: fingerprint,
            ..source
        }),
        ..settings
    };
    let details = json!({
        "url": remote.url(""),
        "release_date": release.date_text,
        "downloaded": report.downloaded,
        "reused": report.reused,
        "removed": report.removed,
        "bytes": report.bytes,
    });
    let entry = ctx.entry("mirror.update", name, details);
    // Only now, with every file downloaded and checked: the writer lock, for as long as
    // it takes to make the files durable and record the mirror's new list.
    let _lock = ctx.layout().lock_writer().await?;
    progress.phase("storing packages", 0);
    fetched.sink.finish().await?;
    check_stored(ctx, name, &rows).await?;
    let (generation, audit) = record(ctx, name, &rows, &planned.removed, &updated, &entry).await?;
    report.generation = Some(generation);
    report.audit_id = Some(audit);
    // Stored and recorded: what was downloaded is no longer needed.
    let _ = std::fs::remove_dir_all(&downloads);
    Ok(report)
}

/// Held while `mirror update` runs, so two updates of one mirror do not interleave
/// (the writer lock is taken only to record the result).
fn lock_mirror(ctx: &Context, name: &str) -> Result<std::fs::File> {
    let path = super::update_lock_path(ctx, name);
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).or_internal(|| format!("cannot create {}", dir.display()))?;
    }
    let file = crate::layout::open_lock_file(&path)?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => Err(AppError::conflict(format!(
            "mirror {name} is being updated already: wait for that update to finish"
        ))),
        Err(std::fs::TryLockError::Error(err)) => {
            Err(AppError::internal(format!("cannot lock {}", path.display())).with_source(err))
        }
    }
}

/// Records of stored packages the mirror does not list yet (in another mirror, a
/// repository, or dropped), with the component each comes from.
async fn reused_rows(
    ctx: &Context,
    wanted: &[Wanted],
    planned: &Plan,
    current: &HashSet<String>,
) -> Result<Vec<AptMemberRow>> {
    let component_of: HashMap<&str, &str> = planned
        .reuse
        .iter()
        .map(|&idx| &wanted[idx])
        .filter(|w| !current.contains(&w.package.sha256))
        .map(|w| (w.package.sha256.as_str(), w.component.as_str()))
        .collect();
    if component_of.is_empty() {
        return Ok(Vec::new());
    }
    let reused: Vec<String> = component_of.keys().map(|sha| (*sha).to_owned()).collect();
    Ok(ctx
        .store()
        .apt_packages(&reused)
        .await?
        .into_iter()
        .map(|package| {
            let component = component_of.get(package.sha256.as_str()).copied().unwrap_or_default();
            AptMemberRow { package, component: component.to_owned() }
        })
        .collect())
}

/// Refuses to record packages whose files are gone: a `repo cleanup` that ran while the
/// update downloaded (without the writer lock) may have removed a file it reuses.
async fn check_stored(ctx: &Context, name: &str, rows: &[AptMemberRow]) -> Result<()> {
    let Some(objects) = ctx.storage().objects().cloned() else {
        return Ok(());
    };
    let shas: Vec<String> = rows.iter().map(|row| row.package.sha256.clone()).collect();
    let missing = tokio::task::spawn_blocking(move || {
        let refs: Vec<&str> = shas.iter().map(String::as_str).collect();
        objects.missing(&refs).map(|missing| missing.len())
    })
    .await
    .or_internal(|| "the object listing failed".to_owned())?
    .or_internal(|| "cannot list the stored objects".to_owned())?;
    if missing > 0 {
        return Err(AppError::conflict(format!(
            "mirror {name}: {missing} package files were removed (by a `repo cleanup`?) while the update downloaded; nothing was changed: run `wharf mirror update {name}` again"
        )));
    }
    Ok(())
}

/// The mirror's new members, its settings and the audit entry, in one transaction.
async fn record(
    ctx: &Context,
    name: &str,
    add: &[AptMemberRow],
    remove: &[String],
    settings: &RepoSettings,
    entry: &wharf_store::NewAuditEntry,
) -> Result<(i64, i64)> {
    let mut change = ctx
        .store()
        .apt_begin_change(AptKind::Mirror, name, add.len() > 256)
        .await?
        .ok_or_else(|| AppError::not_found(format!("mirror {name} was dropped meanwhile")))?;
    change.remove(remove).await?;
    // In batches, as `repo add` inserts them: no statement over 20,000 rows at once.
    for batch in add.chunks(256) {
        change.add(batch).await?;
    }
    change.set_settings(settings).await?;
    let (generation, audit) = change.commit_audited(entry).await?;
    Ok((generation, audit.id))
}

fn now_rfc3339() -> String {
    jiff::Timestamp::now().to_string()
}

/// A refusal naming the mirror, the remote and what to do.
fn refused(name: &str, remote: &Remote, settings: &RepoSettings, why: &str) -> AppError {
    AppError::refused(format!(
        "mirror {name}: {} refused: {why}; nothing was changed",
        remote.url(&format!("dists/{}/InRelease", settings.distribution))
    ))
}

/// The remote's `Release`, its signature checked (unless the mirror ignores signatures).
async fn fetch_release(
    name: &str,
    remote: &Remote,
    settings: &RepoSettings,
    source: &MirrorSource,
) -> Result<Release> {
    let dist = format!("dists/{}", settings.distribution);
    let keyring = match (&source.keyring, source.ignore_signatures) {
        (Some(armored), false) => Some(Keyring::parse(armored.as_bytes()).map_err(|err| {
            AppError::internal(format!("the stored keyring does not read: {err}"))
        })?),
        _ => None,
    };
    let text = if let Some(inrelease) = remote.get(&format!("{dist}/InRelease"), None).await? {
        let inrelease = String::from_utf8(inrelease)
            .map_err(|_| refused(name, remote, settings, "InRelease is not UTF-8 text"))?;
        match &keyring {
            Some(keyring) => keyring
                .verify_inrelease(&inrelease)
                .map_err(|err| refused(name, remote, settings, err.as_str()))?,
            None => wharf_apt::mirror::unverified_release(&inrelease),
        }
    } else {
        let release = remote.get(&format!("{dist}/Release"), None).await?.ok_or_else(|| {
            AppError::not_found(format!(
                "{} has neither InRelease nor Release: check the URL and the distribution {}",
                remote.url(&dist),
                settings.distribution
            ))
        })?;
        if let Some(keyring) = &keyring {
            let signature = remote.get(&format!("{dist}/Release.gpg"), None).await?;
            let signature = signature.ok_or_else(|| {
                refused(
                    name,
                    remote,
                    settings,
                    "the remote is unsigned (no InRelease, no Release.gpg)",
                )
            })?;
            keyring
                .verify_detached(&release, &String::from_utf8_lossy(&signature))
                .map_err(|err| refused(name, remote, settings, err.as_str()))?;
        }
        String::from_utf8(release)
            .map_err(|_| refused(name, remote, settings, "Release is not UTF-8 text"))?
    };
    Release::parse(&text).map_err(|err| refused(name, remote, settings, err.as_str()))
}

/// One index a mirror reads: a component's `Packages` for one architecture, or its
/// `Sources` (architecture `source`).
pub(super) struct Index {
    component: String,
    arch: String,
    index: IndexRef,
}

/// The index of every component and architecture the mirror follows, as the `Release`
/// lists them; one it does not list is an error naming what the remote has.
fn index_refs(
    remote: &Remote,
    settings: &RepoSettings,
    source: &MirrorSource,
    release: &Release,
) -> Result<Vec<Index>> {
    let dist = format!("dists/{}", settings.distribution);
    let mut out = Vec::new();
    for component in &settings.components {
        for arch in &settings.architectures {
            let index = release.packages_index(component, arch).ok_or_else(|| {
                AppError::not_found(format!(
                    "the remote {} lists no Packages for {component}/binary-{arch} (it has components {} and architectures {})",
                    remote.url(&dist),
                    release.components.join(" "),
                    release.architectures.join(" ")
                ))
            })?;
            out.push(Index { component: component.clone(), arch: arch.clone(), index });
        }
        if source.with_sources {
            let index = release.sources_index(component).ok_or_else(|| {
                AppError::not_found(format!(
                    "the remote {} lists no Sources for {component} (the mirror was created --with-sources): drop it and create it again without",
                    remote.url(&dist)
                ))
            })?;
            out.push(Index {
                component: component.clone(),
                arch: SOURCE_ARCHITECTURE.to_owned(),
                index,
            });
        }
    }
    Ok(out)
}

/// Every package the indices list, each index checked against the `Release`, with the
/// component it came from.
async fn fetch_indices(
    remote: &Remote,
    distribution: &str,
    indices: &[Index],
    source: &MirrorSource,
) -> Result<Vec<(RemotePackage, String)>> {
    let dist = format!("dists/{distribution}");
    // The whole stanza is kept only for the filter to read.
    let with_control = !source.filter.is_empty();
    let mut out = Vec::new();
    for Index { component, arch, index } in indices {
        let limit = Some(index.entry.size);
        let mut bytes = remote.get(&format!("{dist}/{}", index.fetch), limit).await?;
        if bytes.is_none() && index.fetch != index.path {
            // A remote that stopped offering by-hash files: apt falls back too.
            bytes = remote.get(&format!("{dist}/{}", index.path), limit).await?;
        }
        let url = remote.url(&format!("{dist}/{}", index.path));
        let bytes = bytes.ok_or_else(|| {
            AppError::unavailable(format!("{url} is listed in Release but missing"))
        })?;
        let sha = wharf_apt::sha256_hex(&bytes);
        if sha != index.entry.sha256 || bytes.len() as u64 != index.entry.size {
            return Err(AppError::refused(format!(
                "{url}: its SHA-256 is {sha} ({} bytes), the signed Release says {} ({} bytes): the index is damaged or was tampered with; nothing was changed",
                bytes.len(),
                index.entry.sha256,
                index.entry.size
            )));
        }
        let path = index.path.clone();
        let sources = arch == SOURCE_ARCHITECTURE;
        let packages = tokio::task::spawn_blocking(move || {
            let text = decompress(&path, &bytes)?;
            drop(bytes);
            if sources { parse_sources(&text) } else { parse_packages_with(&text, with_control) }
        })
        .await
        .or_internal(|| "the index reading task failed".to_owned())?
        .map_err(|err| AppError::invalid(format!("{url}: {err}")))?;
        out.extend(
            packages
                .into_iter()
                .filter(|p| p.architecture == *arch || p.architecture == "all")
                .map(|p| (p, component.clone())),
        );
    }
    Ok(out)
}

/// A package the mirror will list, with its component.
#[derive(Debug, Clone)]
pub(super) struct Wanted {
    pub package: RemotePackage,
    pub component: String,
}

/// The listed packages the filter selects (all without one), and what they depend on
/// with `filter_with_deps`; an `all` package listed under several architectures once.
fn select(source: &MirrorSource, listed: Vec<(RemotePackage, String)>) -> Result<Vec<Wanted>> {
    let mut seen = HashSet::new();
    let listed: Vec<(RemotePackage, String)> =
        listed.into_iter().filter(|(p, _)| seen.insert(p.sha256.clone())).collect();
    if source.filter.is_empty() {
        return Ok(listed
            .into_iter()
            .map(|(package, component)| Wanted { package, component })
            .collect());
    }
    let queries = source
        .filter
        .iter()
        .map(|text| Query::parse(text).map_err(|err| AppError::invalid(err.to_string())))
        .collect::<Result<Vec<_>>>()?;
    let mut selected: Vec<usize> = listed
        .iter()
        .enumerate()
        .filter(|(_, (p, _))| {
            let candidate = Candidate {
                name: &p.name,
                version: &p.version,
                architecture: &p.architecture,
                control: &p.control,
            };
            queries.iter().any(|query| query.matches(&candidate))
        })
        .map(|(idx, _)| idx)
        .collect();
    if source.filter_with_deps {
        let deps: Vec<DepPackage> = listed
            .iter()
            .map(|(p, _)| {
                DepPackage::from_control(&p.name, &p.version, &p.architecture, &p.control)
            })
            .collect();
        let followed = follow(&deps, &[], &selected);
        selected.extend(followed.added);
        selected.sort_unstable();
    }
    let keep: HashSet<usize> = selected.into_iter().collect();
    Ok(listed
        .into_iter()
        .enumerate()
        .filter(|(idx, _)| keep.contains(idx))
        .map(|(_, (package, component))| Wanted { package, component })
        .collect())
}

/// SHA-256s of `wanted` whose record is in the store and whose file is stored; the
/// mirror's members (`current`) are, without asking.
async fn stored_shas(
    ctx: &Context,
    wanted: &[Wanted],
    current: &HashSet<String>,
) -> Result<HashSet<String>> {
    let shas: Vec<String> = wanted
        .iter()
        .map(|w| &w.package.sha256)
        .filter(|sha| !current.contains(*sha))
        .cloned()
        .collect();
    let known: Vec<String> = if shas.is_empty() {
        Vec::new()
    } else {
        ctx.store().apt_packages(&shas).await?.into_iter().map(|p| p.sha256).collect()
    };
    let mut stored: HashSet<String> = current.clone();
    let Some(objects) = ctx.storage().objects().cloned() else {
        // A bucket: records are committed only after their objects were PUT.
        stored.extend(known);
        return Ok(stored);
    };
    let present = tokio::task::spawn_blocking(move || {
        let refs: Vec<&str> = known.iter().map(String::as_str).collect();
        let missing: HashSet<&str> = objects.missing(&refs)?.into_iter().collect();
        Ok::<_, std::io::Error>(
            known.iter().filter(|sha| !missing.contains(sha.as_str())).cloned().collect::<Vec<_>>(),
        )
    })
    .await
    .or_internal(|| "the object listing failed".to_owned())?
    .or_internal(|| "cannot list the stored objects".to_owned())?;
    stored.extend(present);
    Ok(stored)
}
