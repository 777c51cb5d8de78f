//! Writing a published repository tree, atomically and incrementally.
//!
//! Layout under the tree root: `dists/DIST/COMP/binary-ARCH/Packages{,.gz,.xz}` with
//! `by-hash/SHA256/<hash>` copies, `dists/DIST/{Release,Release.gpg,InRelease}`, and the
//! pool `pool/COMP/<p>/<name>/<file>.deb`, in one of two forms ([`PoolMode`]): real files
//! (hard links to loose objects, or copies) for trees served by another web server, or a
//! pool list ([`POOL_LIST`]) that `wharf server` resolves through the object store.
//!
//! Order of writes, which is what keeps a client that is mid-update consistent:
//! 1. pool files or the pool list (durable before anything refers to them);
//! 2. by-hash copies of every index that changed (new names, nothing is overwritten);
//! 3. the plain index names, each by atomic rename;
//! 4. `Release`, `Release.gpg`, then `InRelease` last, each by atomic rename;
//! 5. the state file (`.wharf-state.json`) and removal of by-hash files superseded for
//!    longer than the grace period.
//!
//! A crash before step 4 leaves the previous `InRelease` in place, and every by-hash file
//! it names still exists, so clients keep seeing the last good publish.
//!
//! Incremental: the state file remembers the SHA-256 of each plain index; an index whose
//! content is unchanged is neither recompressed nor rewritten.

use crate::sha256_hex;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::deb::FileDigest;
use crate::fsutil;
use crate::index::{self, IndexFile, ReleaseParams};
use crate::objects::Objects;
use crate::sign::SigningKey;

mod contents_edit;
mod contents_indices;
mod pool;
mod previous;
mod sources_indices;

use pool::{edit_pool_list, expire_pool_files, write_pool_files, write_pool_list};
pub use pool::{expiry_due, read_pool_list};
pub use previous::{Delta, PreviousIndices};
pub use sources_indices::PublishSource;

/// Name of the state file at the root of a published tree (not served).
pub const STATE_FILE: &str = ".wharf-state.json";

/// The pool list of a [`PoolMode::Listed`] tree, at its root (not served): one
/// `<sha256> <pool path>` line per file, sorted by path.
pub const POOL_LIST: &str = ".wharf-pool";

/// A publish failed; says which file.
#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    #[error("cannot write {}: {source}", path.display())]
    Io { path: PathBuf, source: std::io::Error },
    #[error(transparent)]
    Sign(#[from] crate::sign::KeyError),
    #[error("{package} has no control stanza and {index} of the previous publish does not list it")]
    MissingStanza { index: String, package: String },
    #[error(
        "{package}: its file (sha256 {sha256}) is not in the object store: run `wharf repo verify`, then add the file again"
    )]
    MissingObject { package: String, sha256: String },
    #[error(
        "{package} (sha256 {sha256}): cannot list its files for the Contents indices: {reason}; run `wharf repo verify`, or create the repository with --contents=false"
    )]
    Contents { package: String, sha256: String, reason: String },
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> PublishError + '_ {
    move |source| PublishError::Io { path: path.to_owned(), source }
}

/// One package to publish.
#[derive(Debug, Clone)]
pub struct PublishPackage {
    pub name: String,
    pub version: wharf_core::version::Version,
    pub architecture: String,
    pub component: String,
    /// Control stanza without file fields, as [`crate::control::Control::render_index`].
    /// `None`: reuse the stanza the previous publish wrote (see [`PreviousIndices`]); the
    /// caller checked with [`PreviousIndices::has`] that it is there.
    pub control: Option<String>,
    pub digest: FileDigest,
}

impl PublishPackage {
    /// `pool/COMP/<p>/<name>/<name>_<version>_<arch>.deb`.
    #[must_use]
    pub fn pool_path(&self) -> String {
        format!(
            "pool/{}/{}/{}/{}",
            self.component,
            index::pool_prefix(&self.name),
            self.name,
            crate::deb::file_name(&self.name, self.version.as_str(), &self.architecture)
        )
    }
}

/// What to publish where.
#[derive(Debug)]
pub struct PublishRequest<'a> {
    /// The tree root, e.g. `DATA/public/PREFIX` or a `--to-dir` directory.
    pub root: &'a Path,
    pub distribution: &'a str,
    pub origin: &'a str,
    pub label: &'a str,
    pub description: Option<&'a str>,
    pub components: &'a [String],
    /// Architectures clients may ask for (without `all`).
    pub architectures: &'a [String],
    pub packages: &'a [PublishPackage],
    /// Source packages; none: no `Sources` indices. With a [`Delta`], only the new ones.
    pub sources: &'a [PublishSource],
    /// Unix seconds, UTC, for `Date:`.
    pub now: i64,
    /// `Valid-Until:` = `now` + this many seconds. A tree with `Valid-Until` is signed
    /// again on every publish, changed or not: that is how it stays valid.
    pub valid_for_seconds: Option<i64>,
    /// How long superseded by-hash files stay, in seconds.
    pub grace_seconds: i64,
    /// The previous publish's indices, for packages without `control`.
    pub previous: Option<&'a PreviousIndices>,
    /// Publish by editing `previous` ([`PoolMode::Listed`] only): `packages` holds only
    /// the new packages.
    pub delta: Option<&'a Delta>,
    /// How the pool is laid out.
    pub pool: PoolMode,
    /// Write `COMP/Contents-ARCH.gz` from these per-package file lists
    /// ([`crate::contents`]); `None`: no `Contents` indices.
    pub contents: Option<&'a crate::contents::ContentsLists>,
}

impl PublishRequest<'_> {
    /// Whether something that stopped being current at `since` has had its grace period.
    fn grace_over(&self, since: i64) -> bool {
        self.now - since >= self.grace_seconds
    }

    /// The entries of `stale` (path → when it stopped being current) whose grace period
    /// is over.
    fn past_grace(&self, stale: &BTreeMap<String, i64>) -> Vec<String> {
        stale.iter().filter(|(_, since)| self.grace_over(**since)).map(|(p, _)| p.clone()).collect()
    }
}

/// How a tree's `pool/` is laid out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PoolMode {
    /// Every pool file is a file (a hard link to a loose object, or a copy): a tree any
    /// web server can serve (`publish --to-dir`).
    Files,
    /// The pool is a list, [`POOL_LIST`], of paths and the SHA-256 of the object each
    /// names, which `wharf server` serves from the object store: no file per package.
    Listed,
}

/// What a publish did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct PublishOutcome {
    pub n_packages: usize,
    /// Source packages listed in `Sources`.
    #[serde(default)]
    pub n_sources: usize,
    pub n_pool_files_added: usize,
    pub n_indices_rewritten: usize,
    pub n_indices_unchanged: usize,
    pub n_by_hash_removed: usize,
    /// Index chunks compressed (the rest came from the cache).
    pub n_chunks_compressed: usize,
    /// Pool files of packages no longer published, removed after the grace period.
    pub n_pool_files_removed: usize,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct State {
    /// Plain index path (relative to `dists/DIST/`) → its SHA-256 and Release entries.
    indices: BTreeMap<String, IndexState>,
    /// by-hash path (relative to the root) → Unix time it stopped being current.
    superseded: BTreeMap<String, i64>,
    /// Pool paths written so far.
    pool: BTreeSet<String>,
    /// Pool paths no longer published → Unix time they stopped being published.
    #[serde(default)]
    stale_pool: BTreeMap<String, i64>,
    /// Fingerprint of the key that signed the current `InRelease`: another key means
    /// signing again.
    #[serde(default)]
    signed_by: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct IndexState {
    sha256: String,
    files: Vec<IndexFile>,
    /// Where its chunks are in its `.gz` and `.xz`, for the next compression.
    #[serde(default)]
    spans: Vec<crate::chunked::ChunkSpan>,
}

/// Insert the file fields into a stanza rendered without them, where dpkg puts them:
/// before the first field that sorts after `Filename` (`Section`, `Description`, unknown
/// fields…). Equal to [`index::packages_stanza`] on the same control, much cheaper.
#[must_use]
pub fn stanza_with_file_fields(control: &str, filename: &str, digest: &FileDigest) -> String {
    let fields = format!(
        "Filename: {filename}\nSize: {}\nMD5sum: {}\nSHA1: {}\nSHA256: {}\n",
        digest.size, digest.md5, digest.sha1, digest.sha256
    );
    crate::control::insert_fields(control, crate::control::fields_before_filename(), &fields)
}

/// Publish `request` into its tree, signing with `key`.
pub fn publish(
    request: &PublishRequest<'_>,
    objects: &Objects,
    key: &SigningKey,
) -> Result<PublishOutcome, PublishError> {
    publish_tree(request, Some(objects), key)
}

/// Like [`publish`], with the pool files put in place by the caller (object storage:
/// `wharf_storage::mirror`; a `--to-dir` tree whose files were downloaded). A
/// [`PoolMode::Listed`] tree still gets its pool list, without checking a local object
/// store for the files.
pub fn publish_indices(
    request: &PublishRequest<'_>,
    key: &SigningKey,
) -> Result<PublishOutcome, PublishError> {
    publish_tree(request, None, key)
}

fn publish_tree(
    request: &PublishRequest<'_>,
    objects: Option<&Objects>,
    key: &SigningKey,
) -> Result<PublishOutcome, PublishError> {
    let root = request.root;
    let dists = root.join("dists").join(request.distribution);
    std::fs::create_dir_all(&dists).map_err(io_err(&dists))?;
    let state_path = root.join(STATE_FILE);
    let mut state: State = std::fs::read(&state_path)
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .unwrap_or_default();
    // With a delta, the new source packages were counted as members.
    let n_packages = request.delta.map_or(request.packages.len(), |delta| {
        delta.n_packages.saturating_sub(request.sources.len())
    });
    let n_sources = sources_indices::n_sources(request);
    let mut outcome = PublishOutcome { n_packages, n_sources, ..Default::default() };

    // 1. Pool files (or the pool list), durable before any index names them.
    let mut pool_list_stale = BTreeMap::new();
    match (request.pool, objects) {
        (PoolMode::Files, Some(objects)) => {
            write_pool_files(request, objects, &mut state, &mut outcome)?;
        }
        // The caller put the pool files in place.
        (PoolMode::Files, None) => {}
        (PoolMode::Listed, objects) => {
            pool_list_stale = match (request.delta, request.previous) {
                (Some(delta), Some(previous)) => {
                    edit_pool_list(request, delta, previous, objects, &state, &mut outcome)?
                }
                _ => write_pool_list(request, objects, &state, &mut outcome)?,
            };
        }
    }

    // 2 and 3. Indices: by-hash first, then plain names; unchanged ones are skipped.
    let mut indices = write_indices(request, &dists, &state, &mut outcome)?;
    // 3b. Contents indices, from the Packages indices just written.
    if let Some(lists) = request.contents {
        contents_indices::write(
            request,
            lists,
            objects,
            &dists,
            &state,
            &mut outcome,
            &mut indices,
        )?;
    }
    let Indices { mut release_files, current_by_hash, new_indices } = indices;

    // 4. Release, Release.gpg, InRelease last — unless nothing at all changed.
    release_files.sort_by(|a, b| a.path.cmp(&b.path));
    let inrelease = dists.join("InRelease");
    let params = ReleaseParams {
        origin: request.origin,
        label: request.label,
        suite: request.distribution,
        codename: request.distribution,
        description: request.description,
        architectures: request.architectures,
        components: request.components,
        date: request.now,
        valid_until: request.valid_for_seconds.map(|secs| request.now.saturating_add(secs)),
    };
    let release = index::release_file(&params, &release_files);
    let fingerprint = key.fingerprint();
    // Unchanged: same indices, and a Release that says the same apart from its Date,
    // signed by the same key. A Release with Valid-Until is always renewed.
    let nothing_changed = outcome.n_indices_rewritten == 0
        && new_indices.len() == state.indices.len()
        && params.valid_until.is_none()
        && state.signed_by.as_deref() == Some(fingerprint.as_str())
        && inrelease.exists()
        && std::fs::read_to_string(dists.join("Release"))
            .is_ok_and(|old| without_date(&old) == without_date(&release));
    if !nothing_changed {
        let signed = key.clearsign(&release)?;
        let detached = key.detached(release.as_bytes())?;
        let path = dists.join("Release");
        fsutil::write_atomic(&path, release.as_bytes()).map_err(io_err(&path))?;
        let path = dists.join("Release.gpg");
        fsutil::write_atomic(&path, detached.as_bytes()).map_err(io_err(&path))?;
        fsutil::write_atomic(&inrelease, signed.as_bytes()).map_err(io_err(&inrelease))?;
        state.signed_by = Some(fingerprint);
    }

    // A Contents index no longer published loses its plain name once Release stops
    // listing it.
    contents_indices::remove_dropped(&dists, &state, &new_indices);
    sources_indices::remove_dropped(&dists, &state, &new_indices);

    // 5. Superseded by-hash files: remember when they stopped being current; delete them
    //    once the grace period is over.
    for old in state.indices.values() {
        for file in &old.files {
            let dir =
                Path::new(&file.path).parent().map_or(String::new(), |d| d.display().to_string());
            let path =
                format!("dists/{}/{dir}/by-hash/SHA256/{}", request.distribution, file.sha256);
            if !current_by_hash.contains(&path) {
                state.superseded.entry(path).or_insert(request.now);
            }
        }
    }
    state.superseded.retain(|path, _| !current_by_hash.contains(path));
    let expired = request.past_grace(&state.superseded);
    for path in expired {
        let _ = std::fs::remove_file(root.join(&path));
        state.superseded.remove(&path);
        outcome.n_by_hash_removed += 1;
    }
    state.indices = new_indices;
    // Left by versions that cached compressed chunks as files of their own.
    let old_cache = root.join(".wharf-cache");
    if old_cache.exists() {
        let _ = std::fs::remove_dir_all(old_cache);
    }
    let pool_changed = match request.pool {
        PoolMode::Files if objects.is_none() => false,
        PoolMode::Files => expire_pool_files(request, &mut state, &mut outcome),
        PoolMode::Listed => {
            let changed = state.stale_pool != pool_list_stale || !state.pool.is_empty();
            state.stale_pool = pool_list_stale;
            state.pool.clear();
            changed
        }
    };
    if !nothing_changed || outcome.n_by_hash_removed > 0 || pool_changed {
        let bytes = serde_json::to_vec(&state).expect("state serializes");
        fsutil::write_atomic(&state_path, &bytes).map_err(io_err(&state_path))?;
    }
    Ok(outcome)
}

/// A `Release` without its `Date:` line, to tell whether anything else changed.
fn without_date(release: &str) -> String {
    release.lines().filter(|line| !line.starts_with("Date:")).collect::<Vec<_>>().join("\n")
}

/// What steps 2 and 3 of a publish leave for the `Release` file and the state.
struct Indices {
    release_files: Vec<IndexFile>,
    current_by_hash: BTreeSet<String>,
    new_indices: BTreeMap<String, IndexState>,
}

impl Indices {
    /// Records an index written (or kept) in `dists/DIST/REL_DIR`.
    fn add(&mut self, distribution: &str, rel_dir: &str, plain_rel: String, entry: IndexState) {
        for file in &entry.files {
            self.current_by_hash
                .insert(format!("dists/{distribution}/{rel_dir}/by-hash/SHA256/{}", file.sha256));
        }
        self.release_files.extend(entry.files.iter().cloned());
        self.new_indices.insert(plain_rel, entry);
    }
}

/// Steps 2 and 3: every index's by-hash files, then its plain names; an index whose
/// content did not change is skipped.
fn write_indices(
    request: &PublishRequest<'_>,
    dists: &Path,
    state: &State,
    outcome: &mut PublishOutcome,
) -> Result<Indices, PublishError> {
    let mut indices = Indices {
        release_files: Vec::new(),
        current_by_hash: BTreeSet::new(),
        new_indices: BTreeMap::new(),
    };
    let mut dirs_to_sync = BTreeSet::new();
    // First: the previous indices are let go once the last `Packages` is built.
    sources_indices::write(request, dists, state, outcome, &mut indices, &mut dirs_to_sync)?;
    let mut sorted: Vec<&PublishPackage> = request.packages.iter().collect();
    sorted.sort_by(|a, b| {
        a.name
            .cmp(&b.name)
            .then_with(|| a.version.cmp(&b.version))
            .then_with(|| a.architecture.cmp(&b.architecture))
    });
    // Each index is written to a file as it is built (hashed on the way) and compressed
    // chunk by chunk, so it is never held in memory whole; the previous indices are let go
    // before the last one is compressed.
    let n_indices = request.components.len() * request.architectures.len();
    let mut n_built = 0;
    for component in request.components {
        for arch in request.architectures {
            n_built += 1;
            let rel_dir = format!("{component}/binary-{arch}");
            let plain_rel = format!("{rel_dir}/Packages");
            let here: Vec<&PublishPackage> = sorted
                .iter()
                .filter(|p| {
                    p.component == *component
                        && (p.architecture == *arch || p.architecture == "all")
                })
                .copied()
                .collect();
            let built = BuiltIndex {
                dists,
                rel_dir: &rel_dir,
                name: "Packages",
                cached: state.indices.get(&plain_rel),
            };
            let last = n_built == n_indices;
            let entry = packages_index(request, built, &here, last, outcome, &mut dirs_to_sync)?;
            indices.add(request.distribution, &rel_dir, plain_rel, entry);
        }
    }
    sync_dirs(&dirs_to_sync)?;
    Ok(indices)
}

/// One `Packages` index of `here` (its packages, sorted): the previous one edited with a
/// [`Delta`], else every stanza. `last`: the previous indices are let go once it is built.
fn packages_index(
    request: &PublishRequest<'_>,
    built: BuiltIndex<'_>,
    here: &[&PublishPackage],
    last: bool,
    outcome: &mut PublishOutcome,
    dirs_to_sync: &mut BTreeSet<PathBuf>,
) -> Result<IndexState, PublishError> {
    let plain_rel = format!("{}/{}", built.rel_dir, built.name);
    let component = built.rel_dir.split('/').next().unwrap_or_default().to_owned();
    build_index(built, outcome, dirs_to_sync, |write| {
        match (request.delta, request.previous) {
            (Some(delta), Some(previous)) => {
                let new: Vec<(&PublishPackage, Vec<u8>)> = here
                    .iter()
                    .map(|package| {
                        let control = package.control.as_deref().unwrap_or_default();
                        let text =
                            stanza_with_file_fields(control, &package.pool_path(), &package.digest);
                        (*package, text.into_bytes())
                    })
                    .collect();
                let removed = delta.removed.get(&component);
                if !previous.merge_into(&plain_rel, removed, &new, write)? {
                    return Err(PublishError::MissingStanza {
                        index: plain_rel.clone(),
                        package: "(previous index)".into(),
                    });
                }
            }
            _ => write_packages(request, &plain_rel, here, write)?,
        }
        if last && let Some(previous) = request.previous {
            previous.release();
        }
        Ok(())
    })
}

/// Writes one index: `stanzas` hands each stanza (with its last newline) to the writer it
/// is given, which adds the blank line, hashes, writes and compresses it chunk by chunk —
/// copying the unchanged chunks out of the previous `.gz` and `.xz` — then
/// [`finish_index`].
fn build_index(
    built: BuiltIndex<'_>,
    outcome: &mut PublishOutcome,
    dirs_to_sync: &mut BTreeSet<PathBuf>,
    stanzas: impl FnOnce(&mut dyn FnMut(&[u8]) -> Result<(), PublishError>) -> Result<(), PublishError>,
) -> Result<IndexState, PublishError> {
    let by_hash_dir = built.dists.join(built.rel_dir).join("by-hash/SHA256");
    std::fs::create_dir_all(&by_hash_dir).map_err(io_err(&by_hash_dir))?;
    let previous_files =
        built.cached.and_then(|c| previous_compressed(c, &by_hash_dir, built.name));
    let previous_chunks = match (built.cached, &previous_files) {
        (Some(cached), Some((gz, xz))) => {
            Some(crate::chunked::Previous { gz, xz, spans: &cached.spans })
        }
        _ => None,
    };
    let mut builder = crate::chunked::Builder::new(previous_chunks);
    let mut plain = PlainWriter::create(&by_hash_dir)?;
    let mut stanza = Vec::new();
    stanzas(&mut |text: &[u8]| {
        // Each stanza followed by a blank line, as `index::packages_file` writes them.
        stanza.clear();
        stanza.extend_from_slice(text);
        stanza.push(b'\n');
        builder.push(&stanza);
        plain.write(&stanza)
    })?;
    finish_index(built, plain, builder, outcome, dirs_to_sync)
}

/// Every package of one `Packages` index, from its control stanza or the previous index's.
fn write_packages(
    request: &PublishRequest<'_>,
    plain_rel: &str,
    here: &[&PublishPackage],
    write: &mut dyn FnMut(&[u8]) -> Result<(), PublishError>,
) -> Result<(), PublishError> {
    let mut stanza = Vec::new();
    for package in here {
        stanza.clear();
        match &package.control {
            Some(control) => stanza.extend_from_slice(
                stanza_with_file_fields(control, &package.pool_path(), &package.digest).as_bytes(),
            ),
            None => {
                let found = request.previous.is_some_and(|previous| {
                    previous.stanza_into(plain_rel, &package.digest.sha256, &mut stanza)
                });
                if !found {
                    return Err(PublishError::MissingStanza {
                        index: plain_rel.to_owned(),
                        package: package.pool_path(),
                    });
                }
            }
        }
        write(&stanza)?;
    }
    Ok(())
}

/// An index whose text is written: where, and what the previous publish recorded for it.
struct BuiltIndex<'a> {
    dists: &'a Path,
    /// `main/binary-amd64`, `main/source`.
    rel_dir: &'a str,
    /// `Packages`, `Sources`.
    name: &'a str,
    cached: Option<&'a IndexState>,
}

/// Steps 2 and 3 for one index whose text is in `plain` and `builder`: unchanged (the
/// state's SHA-256 and by-hash files), it is kept; otherwise its compressed forms are
/// finished, written to `by-hash/SHA256/`, and the plain names linked to them.
fn finish_index(
    index: BuiltIndex<'_>,
    plain: PlainWriter,
    builder: crate::chunked::Builder<'_>,
    outcome: &mut PublishOutcome,
    dirs_to_sync: &mut BTreeSet<PathBuf>,
) -> Result<IndexState, PublishError> {
    let BuiltIndex { dists, rel_dir, name, cached } = index;
    let dir = dists.join(rel_dir);
    let by_hash_dir = dir.join("by-hash/SHA256");
    let plain = plain.finish()?;
    if let Some(cached) = cached
        && cached.sha256 == plain.sha256
        && cached.files.iter().all(|f| by_hash_dir.join(&f.sha256).exists())
    {
        plain.discard();
        outcome.n_indices_unchanged += 1;
        return Ok(cached.clone());
    }
    let compressed = match builder.finish() {
        Some(compressed) => compressed,
        // Not expected: compress the index whole, from its file.
        None => {
            crate::chunked::compress(&std::fs::read(&plain.tmp).map_err(io_err(&plain.tmp))?, None)
        }
    };
    outcome.n_chunks_compressed += compressed.n_chunks_compressed;
    let (gz, xz, spans) = (compressed.gz, compressed.xz, compressed.spans);
    let plain_file = IndexFile {
        path: format!("{rel_dir}/{name}"),
        size: plain.size,
        md5: plain.md5.clone(),
        sha256: plain.sha256.clone(),
    };
    plain.keep_as(&by_hash_dir.join(&plain_file.sha256))?;
    let names = [name.to_owned(), format!("{name}.gz"), format!("{name}.xz")];
    let mut files = vec![plain_file];
    for (name, bytes) in names[1..].iter().zip([&gz, &xz]) {
        let file = IndexFile::of(format!("{rel_dir}/{name}"), bytes);
        let by_hash = by_hash_dir.join(&file.sha256);
        if !by_hash.exists() {
            write_unsynced(&by_hash, bytes)?;
        }
        files.push(file);
    }
    dirs_to_sync.insert(by_hash_dir.clone());
    // The plain names are hard links to the (immutable, already durable) by-hash files:
    // the bytes are written once.
    for (name, file) in names.iter().zip(&files) {
        let path = dir.join(name);
        fsutil::link_atomic(&by_hash_dir.join(&file.sha256), &path).map_err(io_err(&path))?;
    }
    outcome.n_indices_rewritten += 1;
    Ok(IndexState { sha256: plain.sha256, files, spans })
}

/// The `.gz` and `.xz` an index state names, read from `by-hash/` and checked against
/// their SHA-256; `None` when either is missing or damaged (everything is compressed
/// again then).
fn previous_compressed(
    cached: &IndexState,
    by_hash_dir: &Path,
    name: &str,
) -> Option<(Vec<u8>, Vec<u8>)> {
    let read = |suffix: String| {
        let file = cached.files.iter().find(|f| f.path.ends_with(&suffix))?;
        let bytes = std::fs::read(by_hash_dir.join(&file.sha256)).ok()?;
        (sha256_hex(&bytes) == file.sha256).then_some(bytes)
    };
    Some((read(format!("/{name}.gz"))?, read(format!("/{name}.xz"))?))
}

/// A `Packages` file being written: to a temporary file in `by-hash/SHA256/`, hashed as
/// it goes (MD5 on a thread of its own: it costs twice SHA-256), named by its SHA-256 once
/// complete.
struct PlainWriter {
    tmp: PathBuf,
    file: std::fs::File,
    buffer: Vec<u8>,
    sha256: sha2::Sha256,
    md5: Option<std::sync::mpsc::SyncSender<Vec<u8>>>,
    md5_thread: std::thread::JoinHandle<md5::Md5>,
    size: u64,
}

/// A complete `Packages` file, still under its temporary name.
struct Plain {
    tmp: PathBuf,
    sha256: String,
    md5: String,
    size: u64,
}

const PLAIN_BUFFER: usize = 1 << 20;

impl PlainWriter {
    fn create(by_hash_dir: &Path) -> Result<PlainWriter, PublishError> {
        use sha2::Digest as _;
        let tmp = by_hash_dir.join(format!(".Packages.{}.tmp", std::process::id()));
        let file = std::fs::File::create(&tmp).map_err(io_err(&tmp))?;
        let (md5, parts) = std::sync::mpsc::sync_channel::<Vec<u8>>(4);
        let md5_thread = std::thread::spawn(move || {
            let mut md5 = md5::Md5::new();
            for part in parts {
                md5.update(&part);
            }
            md5
        });
        Ok(PlainWriter {
            file,
            buffer: Vec::with_capacity(PLAIN_BUFFER),
            tmp,
            sha256: sha2::Sha256::new(),
            md5: Some(md5),
            md5_thread,
            size: 0,
        })
    }

    fn write(&mut self, bytes: &[u8]) -> Result<(), PublishError> {
        self.buffer.extend_from_slice(bytes);
        self.size += bytes.len() as u64;
        if self.buffer.len() >= PLAIN_BUFFER {
            self.flush()?;
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<(), PublishError> {
        use sha2::Digest as _;
        use std::io::Write as _;
        self.file.write_all(&self.buffer).map_err(io_err(&self.tmp))?;
        self.sha256.update(&self.buffer);
        let full = std::mem::replace(&mut self.buffer, Vec::with_capacity(PLAIN_BUFFER));
        if let Some(md5) = &self.md5 {
            // The thread only ends when the sender is dropped.
            let _ = md5.send(full);
        }
        Ok(())
    }

    /// Flushed and durable.
    fn finish(mut self) -> Result<Plain, PublishError> {
        use sha2::Digest as _;
        self.flush()?;
        self.md5 = None;
        let md5 = self.md5_thread.join().expect("hashing does not panic");
        self.file.sync_all().map_err(io_err(&self.tmp))?;
        Ok(Plain {
            sha256: hex::encode(self.sha256.finalize()),
            md5: hex::encode(md5.finalize()),
            size: self.size,
            tmp: self.tmp,
        })
    }
}

impl Plain {
    /// Renamed to `path`, unless a file is there already (same name, same content).
    fn keep_as(&self, path: &Path) -> Result<(), PublishError> {
        if path.exists() {
            self.discard();
            return Ok(());
        }
        std::fs::rename(&self.tmp, path).map_err(io_err(path))
    }

    fn discard(&self) {
        let _ = std::fs::remove_file(&self.tmp);
    }
}

fn write_unsynced(path: &Path, bytes: &[u8]) -> Result<(), PublishError> {
    use std::io::Write as _;
    let tmp = path.with_extension("tmp");
    let mut file = std::fs::File::create(&tmp).map_err(io_err(&tmp))?;
    file.write_all(bytes).map_err(io_err(&tmp))?;
    file.sync_all().map_err(io_err(&tmp))?;
    std::fs::rename(&tmp, path).map_err(io_err(path))
}

fn sync_dirs(dirs: &BTreeSet<PathBuf>) -> Result<(), PublishError> {
    let first = dirs.first().cloned().unwrap_or_default();
    fsutil::sync_dirs(dirs.iter().map(PathBuf::as_path))
        .map_err(|source| PublishError::Io { path: first, source })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::control::Control;

    #[test]
    fn inserted_file_fields_match_full_rendering() {
        let digest = FileDigest::of(b"x");
        for text in [
            "Package: a\nVersion: 1\nArchitecture: all\nDescription: d\n more\n",
            "Package: a\nVersion: 1\nDepends: b\nSection: s\nX-Foo: 1\n",
            "Package: a\nVersion: 1\nX-Foo: 1\n",
            "Package: a\nVersion: 1\n",
        ] {
            let control = Control::parse(text).unwrap();
            assert_eq!(
                stanza_with_file_fields(&control.render_index(), "pool/a.deb", &digest),
                index::packages_stanza(&control, "pool/a.deb", &digest),
                "{text}"
            );
        }
    }

    /// `n` packages with made-up content, stored in `objects`.
    pub(super) fn packages(
        objects: &Objects,
        range: std::ops::Range<usize>,
    ) -> Vec<PublishPackage> {
        let contents: Vec<(String, Vec<u8>)> = range
            .clone()
            .map(|n| {
                let bytes = format!("package {n}").into_bytes();
                (sha256_hex(&bytes), bytes)
            })
            .collect();
        let batch: Vec<(&str, &[u8])> =
            contents.iter().map(|(sha, bytes)| (sha.as_str(), bytes.as_slice())).collect();
        objects.put_batch(&batch).unwrap();
        range
            .zip(&contents)
            .map(|(n, (_, bytes))| {
                let name = format!("pkg{n:05}");
                let control = format!(
                    "Package: {name}\nVersion: 1.{n}\nArchitecture: all\nDescription: test package {n}\n with a longer description line\n"
                );
                PublishPackage {
                    name,
                    version: format!("1.{n}").parse().unwrap(),
                    architecture: "all".into(),
                    component: "main".into(),
                    control: Some(Control::parse(&control).unwrap().render_index()),
                    digest: FileDigest::of(bytes),
                }
            })
            .collect()
    }

    pub(super) fn request<'a>(
        root: &'a Path,
        packages: &'a [PublishPackage],
        previous: Option<&'a PreviousIndices>,
        pool: PoolMode,
        now: i64,
    ) -> PublishRequest<'a> {
        PublishRequest {
            root,
            distribution: "bookworm",
            origin: "Test",
            label: "Test",
            description: None,
            components: &COMPONENTS_MAIN,
            architectures: &ARCHITECTURES_AMD64,
            packages,
            sources: &[],
            now,
            valid_for_seconds: None,
            grace_seconds: 3600,
            previous,
            delta: None,
            pool,
            contents: None,
        }
    }

    /// 600 packages published into `DIR/tree` (pool listed) at time 1,000.
    fn published_600() -> (tempfile::TempDir, Objects, SigningKey, PathBuf, Vec<PublishPackage>) {
        let dir = tempfile::tempdir().unwrap();
        let objects = Objects::new(dir.path().join("objects"));
        let key = SigningKey::generate("Test <test@example.invalid>").unwrap();
        let tree = dir.path().join("tree");
        let all = packages(&objects, 0..600);
        publish(&request(&tree, &all, None, PoolMode::Listed, 1_000), &objects, &key).unwrap();
        (dir, objects, key, tree, all)
    }

    /// One package `name` `version` (`all`) whose file holds `content`, stored.
    pub(super) fn package(
        objects: &Objects,
        name: &str,
        version: &str,
        content: &str,
    ) -> PublishPackage {
        let bytes = content.as_bytes();
        objects.put_batch(&[(&sha256_hex(bytes), bytes)]).unwrap();
        let control = format!(
            "Package: {name}\nVersion: {version}\nArchitecture: all\nDescription: {content}\n"
        );
        PublishPackage {
            name: name.into(),
            version: version.parse().unwrap(),
            architecture: "all".into(),
            component: "main".into(),
            control: Some(Control::parse(&control).unwrap().render_index()),
            digest: FileDigest::of(bytes),
        }
    }

    /// A publish that edits the previous indices (new packages at the start, in the
    /// middle next to another version of the same name, and at the end; one removed; one
    /// replaced by other content) writes the very bytes a publish from scratch writes,
    /// and keeps the pool list as the full path would.
    #[test]
    fn delta_publish_equals_publish_from_scratch() {
        let (dir, objects, key, tree, mut all) = published_600();

        let removed = all.remove(10);
        let replaced = all[19].clone();
        let new = vec![
            package(&objects, "aaa", "1", "first"),
            package(&objects, "pkg00300", "1.300~rc1", "an older version"),
            package(&objects, &replaced.name, replaced.version.as_str(), "other content"),
            package(&objects, "zzz", "2", "last"),
        ];
        all[19] = new[2].clone();
        all.extend([new[0].clone(), new[1].clone(), new[3].clone()]);
        let members: Vec<(String, String)> =
            all.iter().map(|p| (p.digest.sha256.clone(), p.component.clone())).collect();
        let previous = PreviousIndices::load(&tree, "bookworm");
        let delta = previous.delta(&members, &COMPONENTS_MAIN, &ARCHITECTURES_AMD64).unwrap();
        let mut new_shas: Vec<&str> = delta.new.iter().map(|(sha, _)| sha.as_str()).collect();
        new_shas.sort_unstable();
        let mut expected: Vec<&str> = new.iter().map(|p| p.digest.sha256.as_str()).collect();
        expected.sort_unstable();
        assert_eq!(new_shas, expected);
        let removed_shas: BTreeSet<&str> =
            delta.removed["main"].iter().map(String::as_str).collect();
        assert_eq!(
            removed_shas,
            BTreeSet::from([removed.digest.sha256.as_str(), replaced.digest.sha256.as_str()])
        );
        let mut edit = request(&tree, &new, Some(&previous), PoolMode::Listed, 2_000);
        edit.delta = Some(&delta);
        let outcome = publish(&edit, &objects, &key).unwrap();
        assert_eq!((outcome.n_packages, outcome.n_pool_files_added), (602, 4), "{outcome:?}");
        assert!(outcome.n_chunks_compressed <= 8, "{outcome:?}");

        let scratch_tree = dir.path().join("scratch");
        publish(&request(&scratch_tree, &all, None, PoolMode::Listed, 2_000), &objects, &key)
            .unwrap();
        for name in ["Packages", "Packages.gz", "Packages.xz", "../../Release"] {
            let rel = format!("dists/bookworm/main/binary-amd64/{name}");
            let edited = std::fs::read(tree.join(&rel)).unwrap();
            assert!(edited == std::fs::read(scratch_tree.join(&rel)).unwrap(), "{name} differs");
        }
        let list = read_pool_list(&tree).unwrap();
        let mut scratch_list = read_pool_list(&scratch_tree).unwrap();
        assert_eq!(list.len(), 603, "602 published and the removed one, in its grace period");
        scratch_list.insert(removed.pool_path(), removed.digest.sha256.clone());
        assert_eq!(list, scratch_list);

        // Nothing changed, the grace period over: the removed package leaves the list, and
        // the tree is still what a publish from scratch writes.
        let previous = PreviousIndices::load(&tree, "bookworm");
        let delta = previous.delta(&members, &COMPONENTS_MAIN, &ARCHITECTURES_AMD64).unwrap();
        assert!(delta.new.is_empty() && delta.removed.is_empty(), "{delta:?}");
        let mut edit = request(&tree, &[], Some(&previous), PoolMode::Listed, 5_600);
        edit.delta = Some(&delta);
        let outcome = publish(&edit, &objects, &key).unwrap();
        assert_eq!((outcome.n_pool_files_removed, outcome.n_indices_unchanged), (1, 1));
        assert_eq!(read_pool_list(&tree).unwrap().len(), 602);

        // Another architecture set: no delta, the full path is needed.
        let previous = PreviousIndices::load(&tree, "bookworm");
        let two = ["amd64".to_owned(), "arm64".to_owned()];
        assert!(previous.delta(&members, &COMPONENTS_MAIN, &two).is_none());
    }

    static COMPONENTS_MAIN: std::sync::LazyLock<Vec<String>> =
        std::sync::LazyLock::new(|| vec!["main".to_owned()]);
    static ARCHITECTURES_AMD64: std::sync::LazyLock<Vec<String>> =
        std::sync::LazyLock::new(|| vec!["amd64".to_owned()]);

    /// Publishing after a change reuses stanzas and compressed chunks of the previous
    /// publish, and writes exactly the bytes a publish from scratch writes; the pool list
    /// keeps a removed package for the grace period, then drops it.
    #[test]
    fn incremental_publish_equals_publish_from_scratch() {
        let (dir, objects, key, tree, mut all) = published_600();

        // One package added, one removed; unchanged stanzas come from the previous index.
        let previous = PreviousIndices::load(&tree, "bookworm");
        let removed = all.remove(10);
        all.extend(packages(&objects, 600..601));
        for package in &mut all[..500] {
            package.control = None;
        }
        let outcome = publish(
            &request(&tree, &all, Some(&previous), PoolMode::Listed, 2_000),
            &objects,
            &key,
        )
        .unwrap();
        assert!(outcome.n_chunks_compressed <= 4, "{outcome:?}");

        let scratch_tree = dir.path().join("scratch");
        let fresh = {
            let mut all = packages(&objects, 0..601);
            all.remove(10);
            all
        };
        publish(&request(&scratch_tree, &fresh, None, PoolMode::Files, 2_000), &objects, &key)
            .unwrap();
        for name in ["Packages", "Packages.gz", "Packages.xz"] {
            let rel = format!("dists/bookworm/main/binary-amd64/{name}");
            let incremental = std::fs::read(tree.join(&rel)).unwrap();
            assert!(
                incremental == std::fs::read(scratch_tree.join(&rel)).unwrap(),
                "{name} differs"
            );
        }
        // A Files tree has the pool files; a Listed tree names them.
        let pool_file = scratch_tree.join(fresh[0].pool_path());
        assert_eq!(std::fs::read(pool_file).unwrap(), b"package 0");
        let list = read_pool_list(&tree).unwrap();
        assert_eq!(list.len(), 601, "600 published and the removed one, in its grace period");
        assert_eq!(list.get(&removed.pool_path()), Some(&removed.digest.sha256));
        // After the grace period the removed package leaves the list.
        let previous = PreviousIndices::load(&tree, "bookworm");
        let outcome = publish(
            &request(&tree, &all, Some(&previous), PoolMode::Listed, 5_600),
            &objects,
            &key,
        )
        .unwrap();
        assert_eq!(outcome.n_pool_files_removed, 1);
        assert_eq!(read_pool_list(&tree).unwrap().len(), 600);
    }

    /// An unchanged tree keeps its `Release`, unless the `Release` would say something
    /// else (Origin, Label…), another key signs, or it carries a `Valid-Until` to renew.
    #[test]
    fn release_is_renewed_only_when_needed() {
        let dir = tempfile::tempdir().unwrap();
        let objects = Objects::new(dir.path().join("objects"));
        let key = SigningKey::generate("Test <test@example.invalid>").unwrap();
        let tree = dir.path().join("tree");
        let all = packages(&objects, 0..3);
        let release = || std::fs::read_to_string(tree.join("dists/bookworm/Release")).unwrap();
        publish(&request(&tree, &all, None, PoolMode::Listed, 1_000), &objects, &key).unwrap();
        assert!(!release().contains("Valid-Until"), "{}", release());

        publish(&request(&tree, &all, None, PoolMode::Listed, 2_000), &objects, &key).unwrap();
        assert!(release().contains("Date: Thu, 01 Jan 1970 00:16:40 UTC"), "unchanged: kept");

        let mut renamed = request(&tree, &all, None, PoolMode::Listed, 3_000);
        renamed.origin = "Other";
        publish(&renamed, &objects, &key).unwrap();
        assert!(release().contains("Origin: Other\n"), "{}", release());

        let other_key = SigningKey::generate("Other <other@example.invalid>").unwrap();
        publish(&renamed, &objects, &other_key).unwrap();
        let mut later = request(&tree, &all, None, PoolMode::Listed, 4_000);
        later.origin = "Other";
        publish(&later, &objects, &other_key).unwrap();
        assert!(release().contains("Date: Thu, 01 Jan 1970 00:50:00 UTC"), "{}", release());
        publish(&later, &objects, &key).unwrap();
        let state: State =
            serde_json::from_slice(&std::fs::read(tree.join(STATE_FILE)).unwrap()).unwrap();
        assert_eq!(state.signed_by, Some(key.fingerprint()), "signed again by the new key");

        let mut expiring = request(&tree, &all, None, PoolMode::Listed, 5_000);
        expiring.origin = "Other";
        expiring.valid_for_seconds = Some(600);
        publish(&expiring, &objects, &key).unwrap();
        assert!(
            release().contains("Valid-Until: Thu, 01 Jan 1970 01:33:20 UTC\n"),
            "{}",
            release()
        );
        expiring.now = 6_000;
        publish(&expiring, &objects, &key).unwrap();
        assert!(
            release().contains(
                "Date: Thu, 01 Jan 1970 01:40:00 UTC\nValid-Until: Thu, 01 Jan 1970 01:50:00 UTC\n"
            ),
            "renewed although nothing changed: {}",
            release()
        );
    }
}
