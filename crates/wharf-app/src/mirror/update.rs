//! `mirror update`: fetch the remote's `InRelease` (or `Release` and `Release.gpg`) and
//! check its signature against the mirror's keyring and its dates; fetch each
//! `Packages` index (by hash when the remote offers it) and check it against the
//! `Release`; select packages with the filter; download — 8 at a time, resuming partial
//! files — only those whose file Wharf does not store, each checked against the index's
//! size and SHA-256; read and store them like `repo add`; and only once every file is
//! durable, commit the mirror's new package list with its audit entry in one
//! transaction. Any refusal or crash leaves the mirror as it was.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use futures::StreamExt as _;
use serde_json::json;
use wharf_apt::depends::{DepPackage, follow};
use wharf_apt::mirror::{Keyring, Plan, Release, RemotePackage, decompress, parse_packages, plan};
use wharf_apt::query::{Candidate, Query};
use wharf_store::{AptKind, AptMemberRow, MirrorSource, RepoSettings};

use super::fetch::{Downloaded, Remote};
use crate::context::Context;
use crate::error::{AppError, Context as _, Result};
use crate::progress::Progress;
use crate::repo::collection;
use crate::wire::MirrorUpdateReport;

/// Package files downloaded at once.
const CONNECTIONS: usize = 8;

/// How far ahead of this machine's clock a remote `Release` may be dated.
const CLOCK_SKEW_SECS: i64 = 300;

/// Update mirror `name` from its remote, all or nothing. See the module docs.
pub async fn update(
    ctx: &Context,
    name: &str,
    progress: &dyn Progress,
) -> Result<MirrorUpdateReport> {
    let _lock = ctx.layout().lock_writer().await?;
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
    let listed = fetch_indices(&remote, &settings, &release).await?;
    let wanted = select(&source, listed)?;

    let current: Vec<String> = ctx
        .store()
        .apt_member_shas(AptKind::Mirror, name)
        .await?
        .into_iter()
        .map(|(sha, _)| sha)
        .collect();
    let stored = stored_shas(ctx, &wanted).await?;
    let planned =
        plan(&wanted.iter().map(|w| w.package.clone()).collect::<Vec<_>>(), &stored, &current);
    let downloads = ctx.layout().mirror_downloads(name);
    let current: HashSet<String> = current.into_iter().collect();
    let (mut rows, fetched) =
        fetch_and_store(ctx, name, &remote, &downloads, (&wanted, &current), &planned, progress)
            .await?;
    rows.sort_unstable_by(|a, b| a.package.sha256.cmp(&b.package.sha256));

    let mut report = MirrorUpdateReport {
        mirror: name.to_owned(),
        release_date: release.date_text.clone(),
        packages: planned.download.len() + planned.reuse.len(),
        downloaded: planned.download.len(),
        resumed: fetched.iter().filter(|d| d.resumed).count(),
        bytes: fetched.iter().map(|d| d.received).sum(),
        reused: planned.reuse.len(),
        removed: planned.removed.len(),
        generation: None,
        audit_id: None,
    };
    if rows.is_empty() && planned.removed.is_empty() {
        return Ok(report);
    }
    let updated = RepoSettings {
        mirror: Some(MirrorSource {
            release_date: release.date_text.clone(),
            updated_at: Some(now_rfc3339()),
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
    let (generation, audit) = record(ctx, name, &rows, &planned.removed, &updated, &entry).await?;
    report.generation = Some(generation);
    report.audit_id = Some(audit);
    // Stored and recorded: what was downloaded is no longer needed.
    let _ = std::fs::remove_dir_all(&downloads);
    Ok(report)
}

/// Downloads what `planned` says is missing and stores it (durable on return), then
/// adds the records of stored packages the mirror does not list yet (`current`): the
/// rows to add to the mirror, and what each download cost.
async fn fetch_and_store(
    ctx: &Context,
    name: &str,
    remote: &Remote,
    downloads: &std::path::Path,
    (wanted, current): (&[Wanted], &HashSet<String>),
    planned: &Plan,
    progress: &dyn Progress,
) -> Result<(Vec<AptMemberRow>, Vec<Downloaded>)> {
    std::fs::create_dir_all(downloads)
        .or_internal(|| format!("cannot create {}", downloads.display()))?;
    let to_fetch: Vec<&Wanted> = planned.download.iter().map(|&idx| &wanted[idx]).collect();
    progress.phase("downloading packages", u64::try_from(to_fetch.len()).unwrap_or(u64::MAX));
    let fetched = download_all(remote, downloads, &to_fetch, progress).await.map_err(|err| {
        AppError::new(
            err.kind(),
            format!(
                "mirror {name}: {}; nothing was changed (complete downloads are kept for the next update)",
                err.message()
            ),
        )
    })?;
    progress.phase("storing packages", 0);
    let mut rows = store_downloads(ctx, downloads, &to_fetch).await.inspect_err(|_| {
        // A file that is not the package the index names is not kept either.
        let _ = std::fs::remove_dir_all(downloads);
    })?;
    rows.retain(|row| !current.contains(&row.package.sha256));
    // Stored already, new to this mirror (in another mirror, a repository, or dropped).
    let component_of: HashMap<&str, &str> = planned
        .reuse
        .iter()
        .map(|&idx| &wanted[idx])
        .filter(|w| !current.contains(&w.package.sha256))
        .map(|w| (w.package.sha256.as_str(), w.component.as_str()))
        .collect();
    let reused: Vec<String> = component_of.keys().map(|sha| (*sha).to_owned()).collect();
    rows.extend(ctx.store().apt_packages(&reused).await?.into_iter().map(|package| {
        let component = component_of.get(package.sha256.as_str()).copied().unwrap_or_default();
        AptMemberRow { package, component: component.to_owned() }
    }));
    Ok((rows, fetched))
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
    change.add(add).await?;
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

/// Every package the mirror's components and architectures list, each `Packages`
/// checked against the `Release`, with the component it came from.
async fn fetch_indices(
    remote: &Remote,
    settings: &RepoSettings,
    release: &Release,
) -> Result<Vec<(RemotePackage, String)>> {
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
            let text = tokio::task::spawn_blocking(move || decompress(&path, &bytes))
                .await
                .or_internal(|| "the decompression task failed".to_owned())?
                .map_err(|err| AppError::invalid(format!("{url}: {err}")))?;
            let packages =
                parse_packages(&text).map_err(|err| AppError::invalid(format!("{url}: {err}")))?;
            out.extend(
                packages
                    .into_iter()
                    .filter(|p| p.architecture == *arch || p.architecture == "all")
                    .map(|p| (p, component.clone())),
            );
        }
    }
    Ok(out)
}

/// A package the mirror will list, with its component.
struct Wanted {
    package: RemotePackage,
    component: String,
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

/// SHA-256s of `wanted` whose record is in the store and whose file is stored.
async fn stored_shas(ctx: &Context, wanted: &[Wanted]) -> Result<HashSet<String>> {
    let shas: Vec<String> = wanted.iter().map(|w| w.package.sha256.clone()).collect();
    let known: Vec<String> =
        ctx.store().apt_packages(&shas).await?.into_iter().map(|p| p.sha256).collect();
    let Some(objects) = ctx.storage().objects().cloned() else {
        // A bucket: records are committed only after their objects were PUT.
        return Ok(known.into_iter().collect());
    };
    tokio::task::spawn_blocking(move || {
        let refs: Vec<&str> = known.iter().map(String::as_str).collect();
        let missing: HashSet<&str> = objects.missing(&refs)?.into_iter().collect();
        Ok::<_, std::io::Error>(
            known.iter().filter(|sha| !missing.contains(sha.as_str())).cloned().collect(),
        )
    })
    .await
    .or_internal(|| "the object listing failed".to_owned())?
    .or_internal(|| "cannot list the stored objects".to_owned())
}

/// Downloads every file, [`CONNECTIONS`] at a time; the first failure ends the update
/// (files already complete stay for the next one).
async fn download_all(
    remote: &Remote,
    dir: &std::path::Path,
    files: &[&Wanted],
    progress: &dyn Progress,
) -> Result<Vec<Downloaded>> {
    let mut downloads =
        futures::stream::iter(
            files.iter().map(|wanted| {
                let package = &wanted.package;
                let dest = dir.join(format!("{}.deb", package.sha256));
                async move {
                    remote.download(&package.filename, &dest, package.size, &package.sha256).await
                }
            }),
        )
        .buffer_unordered(CONNECTIONS);
    let mut out = Vec::with_capacity(files.len());
    while let Some(done) = downloads.next().await {
        out.push(done?);
        progress.advance(1);
    }
    Ok(out)
}

/// Reads every downloaded file as `repo add` does (a `.deb` that does not read, or
/// whose control disagrees with the index, refuses the update) and stores it; durable
/// when this returns.
async fn store_downloads(
    ctx: &Context,
    dir: &std::path::Path,
    files: &[&Wanted],
) -> Result<Vec<AptMemberRow>> {
    if files.is_empty() {
        return Ok(Vec::new());
    }
    let paths: Vec<PathBuf> =
        files.iter().map(|w| dir.join(format!("{}.deb", w.package.sha256))).collect();
    let by_sha: HashMap<&str, &Wanted> =
        files.iter().map(|w| (w.package.sha256.as_str(), *w)).collect();
    let sink = Arc::new(ctx.storage().sink());
    let failed = Arc::new(AtomicBool::new(false));
    let (mut batches, readers) =
        crate::repo::add::read_debs(paths, sink.clone(), None, failed.clone(), None);
    let mut rows = Vec::with_capacity(files.len());
    let mut errors = Vec::new();
    while let Some((_, batch)) = batches.recv().await {
        for read in batch {
            match read {
                Ok(package) => {
                    let listed = &by_sha[package.sha256.as_str()].package;
                    if (listed.name.as_str(), listed.version.as_str(), listed.architecture.as_str())
                        != (
                            package.name.as_str(),
                            package.version.as_str(),
                            package.architecture.as_str(),
                        )
                    {
                        errors.push(format!(
                            "{} is {} {} {}, the index says {} {} {}",
                            listed.filename,
                            package.name,
                            package.version,
                            package.architecture,
                            listed.name,
                            listed.version,
                            listed.architecture
                        ));
                        continue;
                    }
                    let component = by_sha[package.sha256.as_str()].component.clone();
                    rows.push(AptMemberRow { package, component });
                }
                Err(err) => errors.push(err),
            }
        }
        if !errors.is_empty() {
            failed.store(true, std::sync::atomic::Ordering::Relaxed);
        }
    }
    crate::repo::add::join(readers).await;
    if !errors.is_empty() {
        return Err(AppError::invalid(format!(
            "nothing changed: {} downloaded files refused:\n  {}",
            errors.len(),
            errors.join("\n  ")
        )));
    }
    let sink = Arc::try_unwrap(sink)
        .map_err(|_| AppError::internal("a reader thread outlived the update"))?;
    sink.finish().await?;
    Ok(rows)
}
