//! `wharf repo|snapshot|publish|key|health`: APT repositories.
//!
//! Metadata lives in the store (`wharf-store`), package files in the content-addressed
//! object directory `DATA/objects`, published trees in `DATA/public/PREFIX`, the signing
//! key in `DATA/keys/signing.asc` or where `[apt] signing_key` says. Every command that
//! changes something holds the writer lock `DATA/apt.lock` for its whole duration, so a
//! second writer waits its turn instead of failing, and records an audit entry.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::str::FromStr as _;

use anyhow::{Context as _, bail};
use serde::Serialize;
use serde_json::json;
use wharf_apt::deb::{DebPackage, FileDigest};
use wharf_apt::objects::Objects;
use wharf_apt::publish::{Delta, PoolMode, PreviousIndices, PublishPackage, PublishRequest};
use wharf_core::version::Version;
use wharf_store::{
    AptChange, AptKind, AptMemberRow, AptPackageRow, NewAuditEntry, PublishRecord, ReleaseRecord,
    RepoSettings, Store,
};

use super::storage::Storage;
use crate::cli::{
    DropArgs, HealthArgs, JsonArgs, KeyCommand, PublishArgs, PublishCommand, RepoAddArgs,
    RepoCommand, RepoShowArgs, SnapshotCommand,
};
use crate::exit::{FAILURE, SUCCESS, UsageError};
use crate::output;
use crate::settings::{Settings, actor};

fn kind_name(kind: AptKind) -> &'static str {
    match kind {
        AptKind::Repo => "repository",
        AptKind::Snapshot => "snapshot",
    }
}

/// Names end up in paths and URLs: letters, digits, `.`, `_`, `+`, `-`; no leading dot.
fn check_name(what: &str, name: &str) -> anyhow::Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 100
        && name.bytes().next().is_some_and(|b| b.is_ascii_alphanumeric())
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b"._+-".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(UsageError(format!(
            "invalid {what} {name:?}: use letters, digits, '.', '_', '+' and '-', starting with a letter or digit"
        ))
        .into())
    }
}

struct Ctx {
    store: Store,
    data: PathBuf,
    /// Package files and published trees: the data directory or a bucket.
    objects: Storage,
}

impl Ctx {
    async fn open(settings: &Settings) -> anyhow::Result<Ctx> {
        let store = settings.open_store().await?;
        let data = settings.data_dir().to_owned();
        let objects = Storage::open(settings)?;
        Ok(Ctx { store, data, objects })
    }

    /// Take the writer lock; released when the returned file is dropped.
    fn lock(&self) -> anyhow::Result<std::fs::File> {
        std::fs::create_dir_all(&self.data)
            .with_context(|| format!("cannot create data directory {}", self.data.display()))?;
        let path = self.data.join("apt.lock");
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .with_context(|| format!("cannot open lock file {}", path.display()))?;
        file.lock().with_context(|| format!("cannot lock {}", path.display()))?;
        Ok(file)
    }

    fn public_dir(&self, prefix: &str) -> PathBuf {
        self.objects.tree_dir(&self.data, prefix)
    }

    async fn collection(
        &self,
        kind: AptKind,
        name: &str,
    ) -> anyhow::Result<(RepoSettings, i64, i64)> {
        let rows = self.store.apt_collections(kind, Some(name)).await?;
        let Some(row) = rows.into_iter().next() else {
            return Err(UsageError(format!(
                "no {} named {name:?} (see `wharf {} list`)",
                kind_name(kind),
                if kind == AptKind::Repo { "repo" } else { "snapshot" }
            ))
            .into());
        };
        Ok((row.settings, row.generation, row.n_packages))
    }

    async fn published_from(&self, kind: AptKind, name: &str) -> anyhow::Result<Vec<String>> {
        let mut prefixes = Vec::new();
        for row in self.store.apt_publishes().await? {
            if row.record.kind == kind && row.record.source == name {
                prefixes.push(row.prefix);
            }
        }
        Ok(prefixes)
    }
}

/// An audit entry by the current user.
fn audit_entry(action: &str, target: &str, details: serde_json::Value) -> NewAuditEntry {
    NewAuditEntry::new(actor(), action, target).details(details)
}

pub(crate) fn repo(settings: &Settings, command: RepoCommand) -> anyhow::Result<u8> {
    super::runtime()?.block_on(async {
        let ctx = Ctx::open(settings).await?;
        match command {
            RepoCommand::Create(args) => {
                check_name("repository name", &args.name)?;
                check_name("distribution", &args.distribution)?;
                for component in &args.component {
                    check_name("component", component)?;
                }
                for arch in &args.architectures {
                    wharf_apt::control::check_architecture(arch).map_err(UsageError)?;
                    if arch == "all" {
                        bail!(UsageError(
                            "`all` is not a repository architecture: `all` packages are listed under every architecture".into()
                        ));
                    }
                }
                let repo_settings = RepoSettings {
                    distribution: args.distribution,
                    components: args.component,
                    architectures: args.architectures,
                    comment: args.comment,
                    from: None,
                };
                let _lock = ctx.lock()?;
                let entry =
                    audit_entry("repo.create", &args.name, serde_json::to_value(&repo_settings)?);
                if ctx
                    .store
                    .apt_create_collection(AptKind::Repo, &args.name, &repo_settings, &entry)
                    .await?
                    .is_none()
                {
                    bail!(UsageError(format!("repository {:?} already exists", args.name)));
                }
                output::line(format!("created repository {}", args.name));
                Ok(SUCCESS)
            }
            RepoCommand::List(args) => list(&ctx, AptKind::Repo, &args).await,
            RepoCommand::Show(args) => show(&ctx, AptKind::Repo, &args).await,
            RepoCommand::Add(args) => add(&ctx, args).await,
            RepoCommand::Remove(args) => {
                let query = PackageQuery::parse(&args.query)?;
                let _lock = ctx.lock()?;
                ctx.collection(AptKind::Repo, &args.name).await?;
                let members = ctx.store.apt_members(AptKind::Repo, &args.name).await?;
                let matched: Vec<&AptMemberRow> =
                    members.iter().filter(|m| query.matches(&m.package)).collect();
                if matched.is_empty() {
                    output::line(format!("no package in {} matches {:?}", args.name, args.query));
                    return Ok(FAILURE);
                }
                let remove: Vec<String> = matched.iter().map(|m| m.package.sha256.clone()).collect();
                let names: Vec<String> = matched
                    .iter()
                    .map(|m| format!("{}_{}_{}", m.package.name, m.package.version, m.package.architecture))
                    .collect();
                let Some(mut change) =
                    ctx.store.apt_begin_change(AptKind::Repo, &args.name, false).await?
                else {
                    bail!(UsageError(format!("repository {} was dropped meanwhile", args.name)));
                };
                change.remove(&remove).await?;
                let details = json!({ "query": args.query, "removed": names });
                change.commit_audited(&audit_entry("repo.remove", &args.name, details)).await?;
                output::line(format!("removed {} package(s) from {}", names.len(), args.name));
                Ok(SUCCESS)
            }
            RepoCommand::Drop(args) => drop_collection(&ctx, AptKind::Repo, &args).await,
            RepoCommand::Verify(args) => verify(&ctx, &args).await,
            RepoCommand::Cleanup(args) => cleanup(&ctx, &args).await,
        }
    })
}

/// `repo add`: reads the files on every core while the store inserts what was read so
/// far, in one transaction committed only once every file was accepted and every new
/// object is durable.
async fn add(ctx: &Ctx, args: RepoAddArgs) -> anyhow::Result<u8> {
    let (repo_settings, _, _) = ctx.collection(AptKind::Repo, &args.name).await?;
    let component = match args.component {
        Some(component) if repo_settings.components.contains(&component) => component,
        Some(component) => bail!(UsageError(format!(
            "repository {} has no component {component:?} (it has {})",
            args.name,
            repo_settings.components.join(", ")
        ))),
        None => repo_settings.components[0].clone(),
    };
    let files = collect_debs(&args.paths)?;
    let n_files = files.len();
    let batches = read_debs(files);
    // A few files are read before the writer lock is taken, so a second writer reads
    // while the first one publishes; many are inserted while still being read, which
    // needs the lock (and the store's write transaction) from the start.
    let mut lock = None;
    if n_files > READ_BATCH {
        lock = Some(ctx.lock()?);
    }
    let mut change: Option<AptChange> = None;
    let mut errors = Vec::new();
    let mut seen: HashMap<(String, String, String), String> = HashMap::new();
    let mut to_store: Vec<(String, Vec<u8>)> = Vec::new();
    let mut added: Vec<String> = Vec::new();
    let mut remove = Vec::new();
    let mut n_same = 0;
    for batch in batches {
        let mut packages = Vec::with_capacity(batch.len());
        for read in batch {
            match read {
                Ok(package) => packages.push(package),
                Err(err) => errors.push(err),
            }
        }
        if !errors.is_empty() {
            // Nothing will be added: only the other rejections are still of interest.
            continue;
        }
        if lock.is_none() {
            lock = Some(ctx.lock()?);
        }
        let mut names: Vec<String> = packages.iter().map(|(p, _)| p.name.clone()).collect();
        names.sort_unstable();
        names.dedup();
        // Name → (version, architecture, sha256) of what the repository has.
        let mut existing: HashMap<String, Vec<(String, String, String)>> = HashMap::new();
        for m in ctx.store.apt_members_named(AptKind::Repo, &args.name, &names).await? {
            existing.entry(m.name).or_default().push((m.version, m.architecture, m.sha256));
        }
        let mut rows = Vec::new();
        for (package, bytes) in packages {
            let key = (package.name.clone(), package.version.clone(), package.architecture.clone());
            let sha = package.sha256.clone();
            match seen.get(&key) {
                Some(other) if *other == sha => continue,
                Some(_) => bail!(UsageError(format!(
                    "nothing added: two different files are {} {} {}",
                    key.0, key.1, key.2
                ))),
                None => {}
            }
            let old = existing.get(&key.0).and_then(|versions| {
                versions.iter().find(|(v, a, _)| *v == key.1 && *a == key.2).map(|(_, _, s)| s)
            });
            match old {
                Some(old) if *old == sha => n_same += 1,
                Some(old) if !args.replace => bail!(UsageError(format!(
                    "nothing added: {} {} {} is already in {} with other content (sha256 {old}); pass --replace to replace it",
                    key.0, key.1, key.2, args.name
                ))),
                Some(old) => remove.push(old.clone()),
                None => {}
            }
            let new = !matches!(old, Some(old) if *old == sha);
            seen.insert(key, sha.clone());
            if new {
                added
                    .push(format!("{}_{}_{}", package.name, package.version, package.architecture));
                to_store.push((sha, bytes));
                rows.push(AptMemberRow { package, component: component.clone() });
            }
        }
        if rows.is_empty() {
            continue;
        }
        // In SHA-256 order: the store's indices on it grow at their end.
        rows.sort_unstable_by(|a, b| a.package.sha256.cmp(&b.package.sha256));
        let change = match &mut change {
            Some(change) => change,
            None => {
                let bulk = n_files > READ_BATCH;
                let Some(opened) =
                    ctx.store.apt_begin_change(AptKind::Repo, &args.name, bulk).await?
                else {
                    bail!(UsageError(format!("repository {} was dropped meanwhile", args.name)));
                };
                change.insert(opened)
            }
        };
        change.add(&rows).await?;
    }
    if !errors.is_empty() {
        bail!(UsageError(format!(
            "nothing added: {} of {n_files} files rejected:\n  {}",
            errors.len(),
            errors.join("\n  ")
        )));
    }
    // Every new object durable before the metadata that names it is committed.
    let objects: Vec<(&str, &[u8])> =
        to_store.iter().map(|(sha, bytes)| (sha.as_str(), bytes.as_slice())).collect();
    ctx.objects
        .put_batch(&objects)
        .with_context(|| format!("cannot store packages in {}", ctx.objects.objects_location()))?;
    drop(objects);
    drop(to_store);
    let Some(mut change) = change else {
        output::line(format!("nothing to do: {n_same} package(s) already in {}", args.name));
        return Ok(SUCCESS);
    };
    change.remove(&remove).await?;
    let details = json!({ "component": component, "added": added, "replaced": remove });
    change.commit_audited(&audit_entry("repo.add", &args.name, details)).await?;
    output::line(format!(
        "added {} package(s) to {} ({} replaced, {} already present)",
        added.len(),
        args.name,
        remove.len(),
        n_same
    ));
    Ok(SUCCESS)
}

/// Files per batch of [`read_debs`]; also where `repo add` starts inserting as it reads.
const READ_BATCH: usize = 256;

fn package_row(package: &DebPackage) -> AptPackageRow {
    AptPackageRow {
        sha256: package.digest.sha256.clone(),
        name: package.name.clone(),
        version: package.version.as_str().to_owned(),
        architecture: package.architecture.clone(),
        size: i64::try_from(package.digest.size).unwrap_or(i64::MAX),
        md5: package.digest.md5.clone(),
        sha1: package.digest.sha1.clone(),
        control: package.control.render_index(),
    }
}

/// One read file: the package as the store records it and the file's bytes, or why the
/// file is rejected.
type ReadDeb = Result<(AptPackageRow, Vec<u8>), String>;

/// Reads and checks every file on every core, in batches of [`READ_BATCH`] handed out in
/// order: the caller works on one batch while the next ones are read.
fn read_debs(files: Vec<PathBuf>) -> impl Iterator<Item = Vec<ReadDeb>> {
    let read_one = |file: &PathBuf| -> ReadDeb {
        let bytes =
            std::fs::read(file).map_err(|err| format!("{}: cannot read: {err}", file.display()))?;
        let package = DebPackage::parse(file, &bytes).map_err(|err| err.to_string())?;
        Ok((package_row(&package), bytes))
    };
    let n_batches = files.len().div_ceil(READ_BATCH);
    let n_threads = std::thread::available_parallelism().map_or(1, usize::from).clamp(1, 8);
    let files = std::sync::Arc::new(files);
    let next = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    // Bounded: readers run at most a few batches ahead of the caller.
    let (done, results) = std::sync::mpsc::sync_channel::<(usize, Vec<ReadDeb>)>(2 * n_threads);
    for _ in 0..n_threads.min(n_batches) {
        let (files, next, done) = (files.clone(), next.clone(), done.clone());
        std::thread::spawn(move || {
            loop {
                let batch = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let start = batch * READ_BATCH;
                let Some(part) = files.get(start..files.len().min(start + READ_BATCH)) else {
                    return;
                };
                if part.is_empty() {
                    return;
                }
                if done.send((batch, part.iter().map(read_one).collect())).is_err() {
                    return;
                }
            }
        });
    }
    drop(done);
    // Batches come back in any order; hand them out in file order.
    let mut waiting = std::collections::BTreeMap::new();
    let mut wanted = 0;
    std::iter::from_fn(move || {
        if wanted == n_batches {
            return None;
        }
        loop {
            if let Some(batch) = waiting.remove(&wanted) {
                wanted += 1;
                return Some(batch);
            }
            let (idx, batch) = results.recv().expect("reader threads do not panic");
            waiting.insert(idx, batch);
        }
    })
}

/// The members the previous index lists, as it lists them, and the (sha256, component) of
/// the others; on every core (tens of thousands of stanzas to parse).
fn previous_packages(
    previous: &PreviousIndices,
    members: Vec<(String, String)>,
    architectures: &[String],
) -> (Vec<PublishPackage>, Vec<(String, String)>) {
    let n_threads = std::thread::available_parallelism().map_or(1, usize::from).min(4);
    let n_members = members.len();
    let chunk = n_members.div_ceil(n_threads).max(1);
    let mut packages: Vec<PublishPackage> = Vec::new();
    let mut missing = Vec::new();
    std::thread::scope(|scope| {
        let workers: Vec<_> = members
            .chunks(chunk)
            .enumerate()
            .map(|(n, part)| {
                let first = n == 0;
                scope.spawn(move || {
                    // Room for everything in the first part's list: the others are moved
                    // into it without growing it.
                    let mut found = Vec::with_capacity(if first { n_members } else { part.len() });
                    let mut not_found = Vec::new();
                    for (sha256, component) in part {
                        match previous.package(component, architectures, sha256) {
                            Some(package) => found.push(package),
                            None => not_found.push((sha256.clone(), component.clone())),
                        }
                    }
                    (found, not_found)
                })
            })
            .collect();
        for worker in workers {
            let (found, not_found) = worker.join().expect("stanza parsing does not panic");
            if packages.is_empty() {
                packages = found;
            } else {
                packages.extend(found);
            }
            missing.extend(not_found);
        }
    });
    (packages, missing)
}

/// `.deb` files named directly, and every `*.deb` under named directories (sorted).
fn collect_debs(paths: &[PathBuf]) -> anyhow::Result<Vec<PathBuf>> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> anyhow::Result<()> {
        let context = || format!("cannot read directory {}", dir.display());
        // The entry's type comes with the listing: no stat per file (20,000 files).
        let mut entries: Vec<(PathBuf, bool)> = Vec::new();
        for entry in std::fs::read_dir(dir).with_context(context)? {
            let entry = entry.with_context(context)?;
            let file_type = entry.file_type().with_context(context)?;
            let is_dir = file_type.is_dir() || (file_type.is_symlink() && entry.path().is_dir());
            entries.push((entry.path(), is_dir));
        }
        entries.sort();
        for (path, is_dir) in entries {
            if is_dir {
                walk(&path, out)?;
            } else if path.extension().is_some_and(|ext| ext == "deb") {
                out.push(path);
            }
        }
        Ok(())
    }
    let mut out = Vec::new();
    for path in paths {
        if path.is_dir() {
            walk(path, &mut out)?;
        } else if path.exists() {
            out.push(path.clone());
        } else {
            bail!(UsageError(format!("nothing added: {} does not exist", path.display())));
        }
    }
    if out.is_empty() {
        bail!(UsageError("nothing added: no .deb files found".into()));
    }
    Ok(out)
}

/// `pkg`, `pkg (= version)` or `pkg_version_arch`.
struct PackageQuery {
    name: String,
    version: Option<Version>,
    arch: Option<String>,
}

impl PackageQuery {
    fn parse(text: &str) -> anyhow::Result<PackageQuery> {
        let text = text.trim();
        let invalid = |why: String| UsageError(format!("invalid package query {text:?}: {why}"));
        let query = if let Some((name, rest)) = text.split_once('(') {
            let inner = rest
                .strip_suffix(')')
                .and_then(|inner| inner.trim().strip_prefix('='))
                .ok_or_else(|| invalid("expected `pkg (= version)`".into()))?;
            PackageQuery {
                name: name.trim().to_owned(),
                version: Some(
                    Version::from_str(inner.trim()).map_err(|err| invalid(err.to_string()))?,
                ),
                arch: None,
            }
        } else if let [name, version, arch] = text.split('_').collect::<Vec<_>>()[..] {
            PackageQuery {
                name: name.to_owned(),
                version: Some(Version::from_str(version).map_err(|err| invalid(err.to_string()))?),
                arch: Some(arch.to_owned()),
            }
        } else {
            PackageQuery { name: text.to_owned(), version: None, arch: None }
        };
        wharf_apt::control::check_package_name(&query.name).map_err(invalid)?;
        Ok(query)
    }

    fn matches(&self, package: &AptPackageRow) -> bool {
        package.name == self.name
            && self.arch.as_ref().is_none_or(|arch| *arch == package.architecture)
            && self.version.as_ref().is_none_or(|version| {
                Version::from_str(&package.version).is_ok_and(|have| have == *version)
            })
    }
}

#[derive(Serialize)]
struct CollectionView {
    name: String,
    distribution: String,
    components: Vec<String>,
    architectures: Vec<String>,
    comment: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    from: Option<String>,
    packages: i64,
    created_at: String,
    published_as: Vec<String>,
}

#[derive(Serialize)]
struct PackageView {
    name: String,
    version: String,
    architecture: String,
    component: String,
    size: i64,
    sha256: String,
}

async fn list(ctx: &Ctx, kind: AptKind, args: &JsonArgs) -> anyhow::Result<u8> {
    let mut views = Vec::new();
    for row in ctx.store.apt_collections(kind, None).await? {
        let settings = row.settings;
        views.push(CollectionView {
            published_as: ctx.published_from(kind, &row.name).await?,
            name: row.name,
            distribution: settings.distribution,
            components: settings.components,
            architectures: settings.architectures,
            comment: settings.comment,
            from: settings.from,
            packages: row.n_packages,
            created_at: row.created_at,
        });
    }
    if args.json {
        output::json(&views)?;
    } else {
        let rows: Vec<Vec<String>> = views
            .iter()
            .map(|v| {
                vec![
                    v.name.clone(),
                    v.distribution.clone(),
                    v.components.join(","),
                    v.architectures.join(","),
                    v.packages.to_string(),
                    v.published_as.join(","),
                ]
            })
            .collect();
        output::table(
            &["NAME", "DISTRIBUTION", "COMPONENTS", "ARCHITECTURES", "PACKAGES", "PUBLISHED"],
            &rows,
        );
    }
    Ok(SUCCESS)
}

async fn show(ctx: &Ctx, kind: AptKind, args: &RepoShowArgs) -> anyhow::Result<u8> {
    let (settings, _, n_packages) = ctx.collection(kind, &args.name).await?;
    let with_packages = args.with_packages || kind == AptKind::Snapshot;
    let packages: Vec<PackageView> = if with_packages {
        ctx.store
            .apt_members(kind, &args.name)
            .await?
            .into_iter()
            .map(|m| PackageView {
                name: m.package.name,
                version: m.package.version,
                architecture: m.package.architecture,
                component: m.component,
                size: m.package.size,
                sha256: m.package.sha256,
            })
            .collect()
    } else {
        Vec::new()
    };
    let published_as = ctx.published_from(kind, &args.name).await?;
    if args.output.json {
        output::json(&json!({
            "name": args.name,
            "distribution": settings.distribution,
            "components": settings.components,
            "architectures": settings.architectures,
            "comment": settings.comment,
            "from": settings.from,
            "packages": n_packages,
            "published_as": published_as,
            "package_list": if with_packages { Some(&packages) } else { None },
        }))?;
        return Ok(SUCCESS);
    }
    output::line(format!("{} {}", kind_name(kind), args.name));
    output::line(format!("  distribution:  {}", settings.distribution));
    output::line(format!("  components:    {}", settings.components.join(", ")));
    output::line(format!("  architectures: {}", settings.architectures.join(", ")));
    if let Some(from) = &settings.from {
        output::line(format!("  from:          {from}"));
    }
    if let Some(comment) = &settings.comment {
        output::line(format!("  comment:       {comment}"));
    }
    output::line(format!("  packages:      {n_packages}"));
    output::line(format!(
        "  published as:  {}",
        if published_as.is_empty() { "-".to_owned() } else { published_as.join(", ") }
    ));
    if with_packages {
        let rows: Vec<Vec<String>> = packages
            .iter()
            .map(|p| {
                vec![p.name.clone(), p.version.clone(), p.architecture.clone(), p.component.clone()]
            })
            .collect();
        output::table(&["PACKAGE", "VERSION", "ARCH", "COMPONENT"], &rows);
    }
    Ok(SUCCESS)
}

async fn drop_collection(ctx: &Ctx, kind: AptKind, args: &DropArgs) -> anyhow::Result<u8> {
    let _lock = ctx.lock()?;
    ctx.collection(kind, &args.name).await?;
    let published = ctx.published_from(kind, &args.name).await?;
    if !published.is_empty() && !args.force {
        bail!(UsageError(format!(
            "{} {} is published as {}: `wharf publish drop PREFIX` first, or pass --force",
            kind_name(kind),
            args.name,
            published.join(", ")
        )));
    }
    let action = if kind == AptKind::Repo { "repo.drop" } else { "snapshot.drop" };
    let details = json!({ "forced": args.force, "published_as": published });
    ctx.store
        .apt_drop_collection(kind, &args.name, &audit_entry(action, &args.name, details))
        .await?;
    output::line(format!("dropped {} {}", kind_name(kind), args.name));
    Ok(SUCCESS)
}

/// Forget packages no repository or snapshot contains, then delete every object the
/// store no longer names and no published tree's pool list names (a package removed from
/// a repository is served until the tree is published again and its grace period ends),
/// and leftovers of interrupted adds.
async fn cleanup(ctx: &Ctx, args: &JsonArgs) -> anyhow::Result<u8> {
    let _lock = ctx.lock()?;
    // The entry commits with the forgetting, before any file is deleted: it counts the
    // packages; the files and bytes are only known afterwards (and reported below).
    let (forgotten, _) = ctx
        .store
        .apt_delete_unreferenced(|forgotten| {
            audit_entry("repo.cleanup", "objects", json!({ "packages": forgotten.len() }))
        })
        .await?;
    let mut keep: std::collections::HashSet<String> =
        ctx.store.apt_all_packages().await?.into_iter().map(|p| p.sha256).collect();
    // Local trees serve their pool from the objects (a bucket's trees hold copies).
    let publishes =
        if ctx.objects.local().is_some() { ctx.store.apt_publishes().await? } else { Vec::new() };
    for row in publishes {
        let tree = ctx.public_dir(&row.prefix);
        let listed = wharf_apt::publish::read_pool_list(&tree)
            .with_context(|| format!("cannot read the pool list of {}", tree.display()))?;
        keep.extend(listed.into_values());
    }
    let (n_files, n_bytes) = ctx.objects.retain(&keep)?;
    if args.json {
        output::json(&json!({ "packages": forgotten.len(), "files": n_files, "bytes": n_bytes }))?;
    } else {
        output::line(format!(
            "removed {} unreferenced package(s): {n_files} file(s), {n_bytes} bytes",
            forgotten.len()
        ));
    }
    Ok(SUCCESS)
}

async fn verify(ctx: &Ctx, args: &JsonArgs) -> anyhow::Result<u8> {
    if let Some(remote) = ctx.objects.remote() {
        return super::storage::verify(&ctx.store, remote, args).await;
    }
    let objects = ctx.objects.local().expect("no bucket: local objects");
    let packages = ctx.store.apt_all_packages().await?;
    let mut problems = Vec::new();
    for package in &packages {
        let sha256 = &package.sha256;
        match objects.get(sha256) {
            Ok(bytes) => {
                let actual = wharf_apt::sha256_hex(&bytes);
                if actual != *sha256 {
                    problems.push(format!(
                        "{} {} ({}): content hash is {actual}, expected {sha256}",
                        package.name, package.version, package.architecture
                    ));
                }
            }
            Err(err) => problems.push(format!(
                "{} {} ({}): {err}",
                package.name, package.version, package.architecture
            )),
        }
    }
    if args.json {
        output::json(
            &json!({ "ok": problems.is_empty(), "packages": packages.len(), "problems": problems }),
        )?;
    } else if problems.is_empty() {
        output::line(format!("ok: {} stored package(s) match their checksums", packages.len()));
    } else {
        for problem in &problems {
            output::line(format!("BAD {problem}"));
        }
    }
    Ok(if problems.is_empty() { SUCCESS } else { FAILURE })
}

pub(crate) fn snapshot(settings: &Settings, command: SnapshotCommand) -> anyhow::Result<u8> {
    super::runtime()?.block_on(async {
        let ctx = Ctx::open(settings).await?;
        match command {
            SnapshotCommand::Create(args) => {
                check_name("snapshot name", &args.name)?;
                let _lock = ctx.lock()?;
                let (mut repo_settings, generation, n_packages) =
                    ctx.collection(AptKind::Repo, &args.from).await?;
                repo_settings.from = Some(args.from.clone());
                let entry = audit_entry(
                    "snapshot.create",
                    &args.name,
                    json!({ "from": args.from, "generation": generation, "packages": n_packages }),
                );
                if ctx
                    .store
                    .apt_snapshot(&args.from, &args.name, &repo_settings, &entry)
                    .await?
                    .is_none()
                {
                    bail!(UsageError(format!("snapshot {:?} already exists", args.name)));
                }
                output::line(format!(
                    "created snapshot {} of {} ({n_packages} packages)",
                    args.name, args.from
                ));
                Ok(SUCCESS)
            }
            SnapshotCommand::List(args) => list(&ctx, AptKind::Snapshot, &args).await,
            SnapshotCommand::Show(args) => show(&ctx, AptKind::Snapshot, &args).await,
            SnapshotCommand::Drop(args) => drop_collection(&ctx, AptKind::Snapshot, &args).await,
        }
    })
}

pub(crate) fn publish(settings: &Settings, args: PublishArgs) -> anyhow::Result<u8> {
    super::runtime()?.block_on(async {
        let ctx = Ctx::open(settings).await?;
        match args.command {
            Some(PublishCommand::List(list_args)) => return publish_list(&ctx, &list_args).await,
            Some(PublishCommand::Drop(drop_args)) => {
                check_name("prefix", &drop_args.prefix)?;
                let _lock = ctx.lock()?;
                let entry = audit_entry("publish.drop", &drop_args.prefix, json!({}));
                if ctx.store.apt_drop_publish(&drop_args.prefix, &entry).await?.is_none() {
                    bail!(UsageError(format!("nothing is published at prefix {:?}", drop_args.prefix)));
                }
                ctx.objects.drop_tree(&drop_args.prefix)?;
                let dir = ctx.public_dir(&drop_args.prefix);
                if dir.exists() {
                    std::fs::remove_dir_all(&dir)
                        .with_context(|| format!("cannot remove {}", dir.display()))?;
                }
                output::line(format!("dropped publish {}", drop_args.prefix));
                return Ok(SUCCESS);
            }
            None => {}
        }
        let (kind, source) = match (&args.snapshot, &args.repo) {
            (Some(snapshot), _) => (AptKind::Snapshot, snapshot.clone()),
            (None, Some(repo)) => (AptKind::Repo, repo.clone()),
            (None, None) => bail!(UsageError("name a repository or --snapshot SNAP".into())),
        };
        let prefix = args.prefix.clone().unwrap_or_else(|| source.clone());
        check_name("prefix", &prefix)?;
        let _lock = ctx.lock()?;
        let (repo_settings, generation, _) = ctx.collection(kind, &source).await?;
        let key = settings.signing_key()?;
        let label = settings.apt.label(&prefix);
        let now = unix_now()?;
        let record = PublishRecord {
            kind,
            source: source.clone(),
            distribution: repo_settings.distribution.clone(),
            generation,
            settings: repo_settings.clone(),
            release: ReleaseRecord {
                origin: settings.apt.origin.clone(),
                label: label.clone(),
                key: key.fingerprint(),
            },
        };
        let root = match &args.to_dir {
            Some(dir) => dir.clone(),
            None => ctx.public_dir(&prefix),
        };
        if args.to_dir.is_none() {
            let current = ctx.store.apt_publishes().await?;
            if let Some(row) = current.iter().find(|row| row.prefix == prefix) {
                let old = &row.record;
                if old.kind != record.kind || old.source != source {
                    bail!(UsageError(format!(
                        "prefix {prefix} already publishes {} {}: choose another --prefix or `wharf publish drop {prefix}`",
                        old.kind.as_str(), old.source
                    )));
                }
                let inrelease = root.join("dists").join(&record.distribution).join("InRelease");
                // A Release with Valid-Until is renewed by every publish; superseded
                // files past their grace period are removed by one.
                if *old == record
                    && inrelease.exists()
                    && settings.apt.valid_for.is_none()
                    && !wharf_apt::publish::expiry_due(&root, now, seconds(settings.apt.grace))
                {
                    output::line(format!("{prefix}: unchanged since generation {generation}"));
                    return Ok(SUCCESS);
                }
            }
        }
        let (previous, delta, packages) = if root.join(wharf_apt::publish::STATE_FILE).exists() {
            publish_sources(&ctx, kind, &source, &root, &repo_settings, args.to_dir.is_some())
                .await?
        } else {
            // A first publish: every member, control stanza and all, in one listing.
            let listed = ctx.store.apt_member_packages(kind, &source).await?;
            let packages = listed
                .into_iter()
                .map(|m| publish_package(m.package, m.component))
                .collect::<anyhow::Result<_>>()?;
            (PreviousIndices::default(), None, packages)
        };
        let request = PublishRequest {
            root: &root,
            distribution: &repo_settings.distribution,
            origin: &settings.apt.origin,
            label: &label,
            description: repo_settings.comment.as_deref(),
            components: &repo_settings.components,
            architectures: &repo_settings.architectures,
            packages: &packages,
            now,
            valid_for_seconds: settings.apt.valid_for.map(seconds),
            grace_seconds: seconds(settings.apt.grace),
            previous: Some(&previous),
            delta: delta.as_ref(),
            // `wharf server` serves the pool of DATA/public from the object store; a
            // --to-dir tree is for other web servers and gets real files.
            pool: if args.to_dir.is_some() { PoolMode::Files } else { PoolMode::Listed },
        };
        let outcome =
            ctx.objects.publish(&request, args.to_dir.is_none().then_some(&prefix), &key)?;
        if args.to_dir.is_none() {
            let entry = audit_entry(
                "publish",
                &prefix,
                json!({ "kind": record.kind, "source": source, "generation": generation, "outcome": outcome }),
            );
            ctx.store.apt_put_publish(&prefix, &record, &entry).await?;
        }
        output::line(format!(
            "published {} {source} at {}: {} packages, {} indices rewritten, {} unchanged",
            kind_name(kind),
            match &args.to_dir {
                Some(dir) => dir.display().to_string(),
                None => ctx.objects.tree_location(&ctx.data, &prefix),
            },
            outcome.n_packages,
            outcome.n_indices_rewritten,
            outcome.n_indices_unchanged
        ));
        Ok(SUCCESS)
    })
}

/// What a publish of a tree that was published before starts from: the previous
/// indices, the [`Delta`] when the tree can be edited (then the packages are only the new
/// ones), and the packages. Packages the previous publish listed come from its index
/// (stanza, digests and all); only the others are read from the store.
async fn publish_sources(
    ctx: &Ctx,
    kind: AptKind,
    source: &str,
    root: &Path,
    repo_settings: &RepoSettings,
    to_dir: bool,
) -> anyhow::Result<(PreviousIndices, Option<Delta>, Vec<PublishPackage>)> {
    // Reading the previous indices overlaps the store query.
    let loading = {
        let (root, distribution) = (root.to_owned(), repo_settings.distribution.clone());
        tokio::task::spawn_blocking(move || PreviousIndices::load(&root, &distribution))
    };
    let members = ctx.store.apt_member_shas(kind, source).await?;
    let n_members = members.len();
    let previous = loading.await.context("reading the previous indices")?;
    // A tree in DATA/public whose indices cover what is published now is edited: removed
    // stanzas left out, new ones merged in. Otherwise every package is listed, those the
    // previous index has taken from it.
    let delta = (!to_dir && ctx.objects.local().is_some())
        .then(|| previous.delta(&members, &repo_settings.components, &repo_settings.architectures))
        .flatten();
    let (mut packages, missing) = match &delta {
        Some(delta) => (Vec::new(), delta.new.clone()),
        None => previous_packages(&previous, members, &repo_settings.architectures),
    };
    let mut missing: HashMap<String, String> = missing.into_iter().collect();
    // A few are looked up by SHA-256; most come from one listing.
    let found: Vec<AptPackageRow> = if missing.len() * 2 > n_members {
        let listed = ctx.store.apt_member_packages(kind, source).await?;
        listed.into_iter().map(|m| m.package).filter(|p| missing.contains_key(&p.sha256)).collect()
    } else {
        let wanted: Vec<String> = missing.keys().cloned().collect();
        ctx.store.apt_packages(&wanted).await?
    };
    for row in found {
        let component = missing.remove(&row.sha256).unwrap_or_default();
        packages.push(publish_package(row, component)?);
    }
    if let Some(sha256) = missing.keys().next() {
        bail!("package {sha256} is in {source} but not stored: run `wharf repo verify`");
    }
    Ok((previous, delta, packages))
}

/// A stored package as a publish takes it.
fn publish_package(row: AptPackageRow, component: String) -> anyhow::Result<PublishPackage> {
    Ok(PublishPackage {
        version: Version::from_str(&row.version)?,
        control: Some(row.control),
        name: row.name,
        architecture: row.architecture,
        component,
        digest: FileDigest {
            size: u64::try_from(row.size).unwrap_or(0),
            md5: row.md5,
            sha1: row.sha1,
            sha256: row.sha256,
        },
    })
}

async fn publish_list(ctx: &Ctx, args: &JsonArgs) -> anyhow::Result<u8> {
    let mut views = Vec::new();
    for row in ctx.store.apt_publishes().await? {
        let record = row.record;
        views.push(json!({
            "prefix": row.prefix,
            "kind": record.kind,
            "source": record.source,
            "distribution": record.distribution,
            "generation": record.generation,
            "published_at": row.published_at,
            "path": ctx.objects.tree_location(&ctx.data, &row.prefix),
        }));
    }
    if args.json {
        output::json(&views)?;
    } else {
        let rows: Vec<Vec<String>> = views
            .iter()
            .map(|v| {
                ["prefix", "kind", "source", "distribution", "published_at"]
                    .iter()
                    .map(|key| v[key].as_str().unwrap_or_default().to_owned())
                    .collect()
            })
            .collect();
        output::table(&["PREFIX", "KIND", "SOURCE", "DISTRIBUTION", "PUBLISHED AT"], &rows);
    }
    Ok(SUCCESS)
}

pub(crate) fn key(settings: &Settings, command: &KeyCommand) -> anyhow::Result<u8> {
    match command {
        KeyCommand::Export => {
            let key = settings.signing_key()?;
            output::raw(&key.public_armored()?);
            Ok(SUCCESS)
        }
    }
}

pub(crate) fn health(settings: &Settings, args: &HealthArgs) -> anyhow::Result<u8> {
    super::runtime()?.block_on(async {
        let ctx = Ctx::open(settings).await?;
        let mut checks: Vec<(String, bool, String)> = Vec::new();
        let now = unix_now()?;
        for row in ctx.store.apt_collections(AptKind::Repo, None).await? {
            checks.push((
                format!("repo {}", row.name),
                row.n_packages > 0,
                format!("{} packages", row.n_packages),
            ));
        }
        if let Some(remote) = ctx.objects.remote() {
            let bucket = remote.bucket();
            checks.push(match remote.ping() {
                Ok(()) => (
                    format!("storage {}", bucket.url()),
                    true,
                    format!("reachable (endpoint {})", bucket.endpoint()),
                ),
                Err(err) => {
                    (format!("storage {}", bucket.url()), false, format!("unreachable: {err}"))
                }
            });
        }
        for row in ctx.store.apt_publishes().await? {
            let record = &row.record;
            let dists = ctx.public_dir(&row.prefix).join("dists").join(&record.distribution);
            let checked = match ctx.objects.remote() {
                None => check_release(&mut |rel| {
                    let path = dists.join(rel);
                    std::fs::read(&path).map_err(|err| format!("{}: {err}", path.display()))
                })
                .and_then(|n_indices| {
                    let objects = ctx.objects.local().expect("no bucket: local objects");
                    Ok((n_indices, Some(check_pool_list(&ctx.public_dir(&row.prefix), objects)?)))
                }),
                Some(remote) => check_release(&mut |rel| {
                    remote.read_tree_file(
                        &row.prefix,
                        &format!("dists/{}/{rel}", record.distribution),
                    )
                })
                .map(|n_indices| (n_indices, None)),
            };
            let (ok, detail) = match checked {
                Ok((n_indices, Some(n_pool))) => {
                    (true, format!("{n_indices} indices match Release, {n_pool} pool files stored"))
                }
                Ok((n_indices, None)) => (true, format!("{n_indices} indices match Release")),
                Err(err) => (false, err),
            };
            checks.push((format!("publish {}", row.prefix), ok, detail));
            let release = match ctx.objects.remote() {
                None => std::fs::read(dists.join("Release")).ok(),
                Some(remote) => remote
                    .read_tree_file(&row.prefix, &format!("dists/{}/Release", record.distribution))
                    .ok(),
            };
            if let Some(check) = release
                .and_then(|bytes| String::from_utf8(bytes).ok())
                .and_then(|release| valid_until_check(&release, now, settings, &row.prefix, record))
            {
                checks.push(check);
            }
        }
        let stat = rustix::fs::statvfs(&ctx.data)
            .with_context(|| format!("cannot stat filesystem of {}", ctx.data.display()))?;
        #[expect(clippy::cast_precision_loss, reason = "a percentage")]
        let free = stat.f_bavail as f64 / (stat.f_blocks.max(1)) as f64 * 100.0;
        let min_free = args.min_free_percent.unwrap_or(settings.apt.min_free_percent);
        checks.push((
            "disk".to_owned(),
            free >= min_free,
            format!("{free:.1}% free (minimum {min_free}%)"),
        ));
        let healthy = checks.iter().all(|(_, ok, _)| *ok);
        if args.output.json {
            let list: Vec<_> = checks
                .iter()
                .map(|(name, ok, detail)| json!({ "check": name, "ok": ok, "detail": detail }))
                .collect();
            output::json(&json!({ "healthy": healthy, "checks": list }))?;
        } else {
            let rows: Vec<Vec<String>> = checks
                .iter()
                .map(|(name, ok, detail)| {
                    vec![name.clone(), if *ok { "ok" } else { "FAIL" }.to_owned(), detail.clone()]
                })
                .collect();
            output::table(&["CHECK", "STATUS", "DETAIL"], &rows);
        }
        Ok(if healthy { SUCCESS } else { FAILURE })
    })
}

fn unix_now() -> anyhow::Result<i64> {
    Ok(i64::try_from(
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_secs(),
    )?)
}

/// Seconds from the configuration as the publish code counts them.
fn seconds(secs: u64) -> i64 {
    i64::try_from(secs).unwrap_or(i64::MAX)
}

/// The `valid-until PREFIX` check of a published `Release` that has a `Valid-Until`:
/// unhealthy once it is within a quarter of `[apt] valid_for` (or, without it, of the
/// Release's own Date → Valid-Until span) from expiring, or past it — apt refuses an
/// expired Release, so the tree must be published again before.
fn valid_until_check(
    release: &str,
    now: i64,
    settings: &Settings,
    prefix: &str,
    record: &PublishRecord,
) -> Option<(String, bool, String)> {
    use wharf_apt::index::{parse_rfc2822_utc, release_field, rfc2822_utc};
    let name = format!("valid-until {prefix}");
    let text = release_field(release, "Valid-Until")?;
    let Some(valid_until) = parse_rfc2822_utc(text) else {
        return Some((name, false, format!("Release has an unreadable Valid-Until {text:?}")));
    };
    let period = match settings.apt.valid_for {
        Some(secs) => seconds(secs),
        None => release_field(release, "Date")
            .and_then(parse_rfc2822_utc)
            .map_or(0, |date| valid_until - date),
    };
    let republish_by = valid_until - period / 4;
    let command = match (record.kind.as_str(), prefix == record.source) {
        ("snapshot", true) => format!("wharf publish --snapshot {}", record.source),
        ("snapshot", false) => {
            format!("wharf publish --snapshot {} --prefix {prefix}", record.source)
        }
        (_, true) => format!("wharf publish {}", record.source),
        (_, false) => format!("wharf publish {} --prefix {prefix}", record.source),
    };
    let until = rfc2822_utc(valid_until);
    // apt's test: expired once the clock is past Valid-Until (whole seconds).
    Some(if now > valid_until {
        (
            name,
            false,
            format!("expired at {until}: apt refuses this repository; republish now (`{command}`)"),
        )
    } else if now >= republish_by {
        let left =
            wharf_core::config::format_duration(u64::try_from(valid_until - now).unwrap_or(0));
        (
            name,
            false,
            format!("Valid-Until {until} is {left} away: republish before {until} (`{command}`)"),
        )
    } else {
        (name, true, format!("valid until {until}; republish before {}", rfc2822_utc(republish_by)))
    })
}

/// Every object the tree's pool list names is in the object store; how many it names.
fn check_pool_list(tree: &Path, objects: &Objects) -> Result<usize, String> {
    let list = wharf_apt::publish::read_pool_list(tree)
        .map_err(|err| format!("{}: {err}", tree.join(wharf_apt::publish::POOL_LIST).display()))?;
    let missing: Vec<&String> = list
        .iter()
        .filter(|(_, sha256)| !objects.contains(sha256).unwrap_or(false))
        .map(|(path, _)| path)
        .collect();
    match missing.first() {
        None => Ok(list.len()),
        Some(first) => Err(format!(
            "{} pool file(s) missing from the object store, e.g. {first}: run `wharf repo verify`",
            missing.len()
        )),
    }
}

/// Every file listed in `dists/DIST/Release` exists with the listed size and SHA-256,
/// and `InRelease` is present; `read` reads a file relative to `dists/DIST/` (from the
/// data directory or the bucket) and names it in its error.
fn check_release(read: &mut dyn FnMut(&str) -> Result<Vec<u8>, String>) -> Result<usize, String> {
    read("InRelease")?;
    let release =
        String::from_utf8(read("Release")?).map_err(|_| "Release is not UTF-8".to_owned())?;
    let mut in_sha256 = false;
    let mut n_files = 0;
    for line in release.lines() {
        if !line.starts_with(' ') {
            in_sha256 = line == "SHA256:";
            continue;
        }
        if !in_sha256 {
            continue;
        }
        let parts: Vec<&str> = line.split_whitespace().collect();
        let [sha, size, path] = parts[..] else { continue };
        let bytes = read(path)?;
        if bytes.len().to_string() != size || wharf_apt::sha256_hex(&bytes) != sha {
            return Err(format!("{path} does not match Release"));
        }
        n_files += 1;
    }
    Ok(n_files)
}
