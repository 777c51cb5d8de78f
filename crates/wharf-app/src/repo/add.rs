//! `repo add`: read `.deb` files on every core, store each file while it is read (so
//! memory stays bounded whatever the total size), and insert what was read into one open
//! store transaction while the next files are read. The transaction commits — with its
//! audit entry — only once every file was accepted and every new object is durable; any
//! rejection or crash leaves nothing added and nothing audited.
//!
//! A `.dsc` is a source package: it and every file it lists (read from its directory,
//! each checked against its size and digests) are stored as objects, and it is recorded
//! as a package of architecture `source` (see `wharf_apt::dsc`). With `[apt]
//! uploaders_keyring`, a signed `.dsc` must verify against it.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use serde_json::json;
use wharf_apt::contents::encode_deb_record;
use wharf_apt::deb::{DebPackage, FileDigest};
use wharf_apt::dsc::{Dsc, SOURCE_ARCHITECTURE, SourceFile};
use wharf_apt::keyring::Keyring;
use wharf_store::{AptChange, AptKind, AptMemberRow, AptPackageRow};

use super::collection;
use crate::context::Context;
use crate::error::{AppError, Context as _, Result};
use crate::progress::Progress;
use crate::storage::{ObjectSink, SinkWriter};
use crate::wire::AddReport;

/// Files per batch handed from the reader threads to the store.
const READ_BATCH: usize = 256;

/// What `repo add` asks for.
#[derive(Debug, Clone)]
pub struct AddRequest {
    pub repository: String,
    /// `.deb` and `.dsc` files, and directories searched recursively for them.
    pub paths: Vec<PathBuf>,
    /// The component to add to; `None`: the repository's first.
    pub component: Option<String>,
    /// Replace a package with the same name, version and architecture but other content.
    pub replace: bool,
}

/// One read file: the package as the store records it, or why the file is rejected.
pub(crate) type ReadDeb = std::result::Result<AptPackageRow, String>;
/// The file list of every package read, as records of
/// [`wharf_apt::contents::ContentsLists`]: one growing buffer, not a list per package.
type FileLists = Arc<Mutex<Vec<u8>>>;

/// Numbered batches of read files, as the reader threads finish them.
pub(crate) type Batches = tokio::sync::mpsc::Receiver<(usize, Vec<ReadDeb>)>;

/// Add packages to a repository, all or nothing. See the module docs.
pub async fn add(ctx: &Context, request: AddRequest, progress: &dyn Progress) -> Result<AddReport> {
    let repo = collection(ctx, AptKind::Repo, &request.repository).await?;
    let components = &repo.settings.components;
    let component = match &request.component {
        Some(component) if components.contains(component) => component.clone(),
        Some(component) => {
            return Err(AppError::invalid(format!(
                "repository {} has no component {component:?} (it has {})",
                request.repository,
                components.join(", ")
            )));
        }
        None => components[0].clone(),
    };
    let paths = request.paths.clone();
    let files = tokio::task::spawn_blocking(move || collect_debs(&paths))
        .await
        .or_internal(|| "the file search failed".to_owned())??;
    let n_files = files.len();
    progress.phase("reading packages", u64::try_from(n_files).unwrap_or(u64::MAX));
    let keyring = ctx.uploaders_keyring()?.map(Arc::new);
    let _lock = ctx.layout().lock_writer().await?;
    let sink = Arc::new(ctx.storage().sink());
    let failed = Arc::new(AtomicBool::new(false));
    // The file lists for Contents indices, read while each file is in memory anyway.
    let lists = repo.settings.contents.then(|| Arc::new(Mutex::new(Vec::new())));
    let (mut batches, readers) =
        read_debs(files, sink.clone(), lists.clone(), failed.clone(), keyring);
    let mut state = AddState::new(&request, component);
    let mut change: Option<AptChange> = None;
    let mut errors = Vec::new();
    let mut waiting = BTreeMap::new();
    let mut wanted = 0;
    while let Some((idx, batch)) = batches.recv().await {
        waiting.insert(idx, batch);
        // Batches come back in any order; take them in file order.
        while let Some(batch) = waiting.remove(&wanted) {
            wanted += 1;
            progress.advance(u64::try_from(batch.len()).unwrap_or(0));
            let mut packages = Vec::with_capacity(batch.len());
            for read in batch {
                match read {
                    Ok(package) => packages.push(package),
                    Err(err) => errors.push(err),
                }
            }
            if !errors.is_empty() {
                // Nothing will be added: only the other rejections are still of interest.
                failed.store(true, Ordering::Relaxed);
                continue;
            }
            let rows = match state.accept(ctx, packages).await {
                Ok(rows) => rows,
                Err(err) => {
                    failed.store(true, Ordering::Relaxed);
                    drop(batches);
                    join(readers).await;
                    return Err(err);
                }
            };
            if rows.is_empty() {
                continue;
            }
            let change = match &mut change {
                Some(change) => change,
                None => {
                    let bulk = n_files > READ_BATCH;
                    let opened = ctx
                        .store()
                        .apt_begin_change(AptKind::Repo, &request.repository, bulk)
                        .await?
                        .ok_or_else(|| {
                            AppError::not_found(format!(
                                "repository {} was dropped meanwhile",
                                request.repository
                            ))
                        })?;
                    change.insert(opened)
                }
            };
            change.add(&rows).await?;
        }
    }
    join(readers).await;
    if !errors.is_empty() {
        return Err(AppError::invalid(format!(
            "nothing added: {} of {n_files} files rejected:\n  {}",
            errors.len(),
            errors.join("\n  ")
        )));
    }
    if let Some(lists) = lists {
        let lists = std::mem::take(&mut *lists.lock().unwrap_or_else(PoisonError::into_inner));
        let store = wharf_apt::contents::ContentsLists::new(ctx.layout().contents());
        tokio::task::spawn_blocking(move || store.append_records(&lists))
            .await
            .or_internal(|| "storing the file lists failed".to_owned())?
            .or_internal(|| "cannot store the packages' file lists".to_owned())?;
    }
    // Every new object durable before the metadata that names it is committed.
    let sink = Arc::try_unwrap(sink)
        .map_err(|_| AppError::internal("a reader thread outlived the add"))?;
    progress.phase("storing packages", 0);
    let stored = sink.finish().await?;
    let mut report = state.report(stored);
    let Some(mut change) = change else {
        return Ok(report);
    };
    change.remove(&report.replaced).await?;
    let details = json!({ "component": report.component, "added": report.added, "replaced": report.replaced });
    let entry = ctx.entry("repo.add", &request.repository, details);
    let (generation, audit) = change.commit_audited(&entry).await?;
    report.generation = Some(generation);
    report.audit_id = Some(audit.id);
    Ok(report)
}

pub(crate) async fn join(readers: Vec<std::thread::JoinHandle<()>>) {
    // Readers end once the receiver is gone or every batch is sent.
    let _ = tokio::task::spawn_blocking(move || {
        for reader in readers {
            let _ = reader.join();
        }
    })
    .await;
}

/// What an add has decided so far, batch by batch.
struct AddState<'a> {
    request: &'a AddRequest,
    component: String,
    /// (name, version, architecture) → SHA-256 of every file accepted so far.
    seen: HashMap<(String, String, String), String>,
    added: Vec<String>,
    replaced: Vec<String>,
    n_same: usize,
}

impl<'a> AddState<'a> {
    fn new(request: &'a AddRequest, component: String) -> AddState<'a> {
        AddState {
            request,
            component,
            seen: HashMap::new(),
            added: Vec::new(),
            replaced: Vec::new(),
            n_same: 0,
        }
    }

    /// The rows of `packages` to insert: new ones, and replacements with `--replace`.
    /// Two different files for one (name, version, architecture), or one that differs
    /// from the repository's without `--replace`, refuse the whole add.
    async fn accept(
        &mut self,
        ctx: &Context,
        packages: Vec<AptPackageRow>,
    ) -> Result<Vec<AptMemberRow>> {
        let repository = &self.request.repository;
        let mut names: Vec<String> = packages.iter().map(|p| p.name.clone()).collect();
        names.sort_unstable();
        names.dedup();
        // Name → (version, architecture, sha256) of what the repository has.
        let mut existing: HashMap<String, Vec<(String, String, String)>> = HashMap::new();
        for m in ctx.store().apt_members_named(AptKind::Repo, repository, &names).await? {
            existing.entry(m.name).or_default().push((m.version, m.architecture, m.sha256));
        }
        let mut rows = Vec::new();
        for package in packages {
            let key = (package.name.clone(), package.version.clone(), package.architecture.clone());
            let sha = package.sha256.clone();
            match self.seen.get(&key) {
                Some(other) if *other == sha => continue,
                Some(_) => {
                    return Err(AppError::conflict(format!(
                        "nothing added: two different files are {} {} {}",
                        key.0, key.1, key.2
                    )));
                }
                None => {}
            }
            let old = existing.get(&key.0).and_then(|versions| {
                versions.iter().find(|(v, a, _)| *v == key.1 && *a == key.2).map(|(_, _, s)| s)
            });
            match old {
                Some(old) if *old == sha => self.n_same += 1,
                Some(old) if !self.request.replace => {
                    return Err(AppError::conflict(format!(
                        "nothing added: {} {} {} is already in {repository} with other content (sha256 {old}); pass --replace to replace it",
                        key.0, key.1, key.2
                    )));
                }
                Some(old) => self.replaced.push(old.clone()),
                None => {}
            }
            let new = !matches!(old, Some(old) if *old == sha);
            if new {
                self.added.push(format!("{}_{}_{}", key.0, key.1, key.2));
                rows.push(AptMemberRow { package, component: self.component.clone() });
            }
            self.seen.insert(key, sha);
        }
        // In SHA-256 order: the store's indices on it grow at their end.
        rows.sort_unstable_by(|a, b| a.package.sha256.cmp(&b.package.sha256));
        Ok(rows)
    }

    fn report(self, stored: usize) -> AddReport {
        AddReport {
            repository: self.request.repository.clone(),
            component: self.component,
            added: self.added,
            replaced: self.replaced,
            already_present: self.n_same,
            stored,
            generation: None,
            audit_id: None,
        }
    }
}

pub(crate) fn package_row(package: &DebPackage) -> AptPackageRow {
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

/// Reads, checks and stores every file on every core, in batches of [`READ_BATCH`]
/// (numbered, sent as they complete). Each thread holds one file's bytes at a time: they
/// go into `sink` as soon as the file is accepted (unless `failed` says the add is
/// refused anyway). The channel is bounded, so readers run only a few batches ahead.
pub(crate) fn read_debs(
    files: Vec<PathBuf>,
    sink: Arc<ObjectSink>,
    lists: Option<FileLists>,
    failed: Arc<AtomicBool>,
    keyring: Option<Arc<Keyring>>,
) -> (Batches, Vec<std::thread::JoinHandle<()>>) {
    let n_batches = files.len().div_ceil(READ_BATCH);
    let n_threads = std::thread::available_parallelism().map_or(1, usize::from).clamp(1, 8);
    let files = Arc::new(files);
    let next = Arc::new(AtomicUsize::new(0));
    let (done, results) = tokio::sync::mpsc::channel(2 * n_threads);
    let readers = (0..n_threads.min(n_batches))
        .map(|_| {
            let (files, next, done) = (files.clone(), next.clone(), done.clone());
            let (sink, failed) = (sink.clone(), failed.clone());
            let (lists, keyring) = (lists.clone(), keyring.clone());
            std::thread::spawn(move || {
                let mut writer = sink.writer();
                let mut record = Vec::new();
                let mut read_one = |file: &PathBuf| -> ReadDeb {
                    if is_dsc(file) {
                        let store = !failed.load(Ordering::Relaxed);
                        return read_dsc(file, keyring.as_deref(), &mut writer, store);
                    }
                    let bytes = std::fs::read(file)
                        .map_err(|err| format!("{}: cannot read: {err}", file.display()))?;
                    let package = DebPackage::parse(file, &bytes).map_err(|err| err.to_string())?;
                    let row = package_row(&package);
                    if let Some(lists) = &lists {
                        // Read once here, so that no publish reads the package again for
                        // its `Contents` indices; into this thread's buffer, so that the
                        // lock is held for a copy only.
                        record.clear();
                        encode_deb_record(&mut record, &row.sha256, &bytes).map_err(|err| {
                            format!("{}: cannot list its files: {err}", file.display())
                        })?;
                        let mut lists = lists.lock().unwrap_or_else(PoisonError::into_inner);
                        lists.extend_from_slice(&record);
                    }
                    if !failed.load(Ordering::Relaxed) {
                        writer
                            .put(&row.sha256, bytes)
                            .map_err(|err| format!("{}: cannot store: {err}", file.display()))?;
                    }
                    Ok(row)
                };
                loop {
                    let batch = next.fetch_add(1, Ordering::Relaxed);
                    let start = batch * READ_BATCH;
                    let Some(part) = files.get(start..files.len().min(start + READ_BATCH)) else {
                        return;
                    };
                    if part.is_empty() {
                        return;
                    }
                    let read: Vec<ReadDeb> = part.iter().map(&mut read_one).collect();
                    if done.blocking_send((batch, read)).is_err() {
                        return;
                    }
                }
            })
        })
        .collect();
    (results, readers)
}

fn is_dsc(path: &Path) -> bool {
    path.extension().is_some_and(|ext| ext == "dsc")
}

/// Reads a `.dsc` and every file it lists from its directory, checking each against the
/// `.dsc`; stores them (when `store`) as they are checked. The row records the `.dsc`.
pub(crate) fn read_dsc(
    file: &Path,
    keyring: Option<&Keyring>,
    writer: &mut SinkWriter<'_>,
    store: bool,
) -> ReadDeb {
    let name = file.display().to_string();
    let bytes = std::fs::read(file).map_err(|err| format!("{name}: cannot read: {err}"))?;
    let dsc_name = file.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let dir = file.parent().unwrap_or(Path::new("."));
    let load = |listed: &SourceFile| {
        std::fs::read(dir.join(&listed.name)).map_err(|err| {
            format!(
                "{name}: lists {}, which cannot be read ({err}): put it next to the .dsc",
                listed.name
            )
        })
    };
    dsc_row((&name, &dsc_name), bytes, keyring, writer, store, load)
}

/// The row of the `.dsc` `bytes` (named `name` in errors, `dsc_name` in the pool), every
/// file it lists fetched with `load` and checked against it, and stored when `store`.
pub(crate) fn dsc_row(
    (name, dsc_name): (&str, &str),
    bytes: Vec<u8>,
    keyring: Option<&Keyring>,
    writer: &mut SinkWriter<'_>,
    store: bool,
    mut load: impl FnMut(&SourceFile) -> std::result::Result<Vec<u8>, String>,
) -> ReadDeb {
    let text = std::str::from_utf8(&bytes)
        .map_err(|_| format!("{name}: not a .dsc (the file is not UTF-8 text)"))?;
    let dsc = Dsc::parse(name, text, keyring).map_err(|err| err.to_string())?;
    wharf_apt::dsc::check_file_name(dsc_name).map_err(|why| format!("{name}: {why}"))?;
    let mut digests = Vec::with_capacity(dsc.files.len());
    for listed in &dsc.files {
        let data = load(listed)?;
        let digest = Dsc::check_file(name, listed, &data).map_err(|err| err.to_string())?;
        if store {
            writer
                .put(&digest.sha256, data)
                .map_err(|err| format!("{name}: {}: cannot store: {err}", listed.name))?;
        }
        digests.push(digest);
    }
    let own = FileDigest::of(&bytes);
    let control = dsc.sources_stanza(dsc_name, &own, &digests);
    if store {
        writer.put(&own.sha256, bytes).map_err(|err| format!("{name}: cannot store: {err}"))?;
    }
    Ok(AptPackageRow {
        sha256: own.sha256,
        name: dsc.name,
        version: dsc.version.as_str().to_owned(),
        architecture: SOURCE_ARCHITECTURE.to_owned(),
        size: i64::try_from(own.size).unwrap_or(i64::MAX),
        md5: own.md5,
        sha1: own.sha1,
        control,
    })
}

/// `.deb` and `.dsc` files named directly, and every `*.deb` and `*.dsc` under named
/// directories (sorted).
fn collect_debs(paths: &[PathBuf]) -> Result<Vec<PathBuf>> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
        let context = || format!("cannot read directory {}", dir.display());
        // The entry's type comes with the listing: no stat per file (20,000 files).
        let mut entries: Vec<(PathBuf, bool)> = Vec::new();
        for entry in std::fs::read_dir(dir).or_internal(context)? {
            let entry = entry.or_internal(context)?;
            let file_type = entry.file_type().or_internal(context)?;
            let is_dir = file_type.is_dir() || (file_type.is_symlink() && entry.path().is_dir());
            entries.push((entry.path(), is_dir));
        }
        entries.sort();
        for (path, is_dir) in entries {
            if is_dir {
                walk(&path, out)?;
            } else if path.extension().is_some_and(|ext| ext == "deb" || ext == "dsc") {
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
            return Err(AppError::invalid(format!(
                "nothing added: {} does not exist",
                path.display()
            )));
        }
    }
    if out.is_empty() {
        return Err(AppError::invalid("nothing added: no .deb or .dsc files found"));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn collects_debs_sorted_and_refuses_what_is_missing() {
        let dir = tempfile::tempdir().unwrap();
        for name in ["b.deb", "sub/a.deb", "sub/notes.txt", "c.deb"] {
            let path = dir.path().join(name);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, b"").unwrap();
        }
        let found = collect_debs(&[dir.path().to_owned()]).unwrap();
        let names: Vec<_> =
            found.iter().map(|p| p.strip_prefix(dir.path()).unwrap().to_owned()).collect();
        assert_eq!(names, [Path::new("b.deb"), Path::new("c.deb"), Path::new("sub/a.deb")]);
        let err = collect_debs(&[dir.path().join("nope.deb")]).unwrap_err();
        assert!(err.to_string().contains("nope.deb does not exist"), "{err}");
        let err = collect_debs(&[dir.path().join("sub/notes.txt").parent().unwrap().join("empty")])
            .unwrap_err();
        assert_eq!(err.kind(), crate::ErrorKind::Invalid);
    }
}
