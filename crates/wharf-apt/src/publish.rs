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
mod index_files;
mod packages_indices;
mod pool;
mod previous;
mod sources_indices;

use index_files::{BuiltIndex, sync_dirs};
use packages_indices::packages_index;
pub use packages_indices::stanza_with_file_fields;
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::control::Control;
    use crate::sha256_hex;

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
    pub(super) fn published_600()
    -> (tempfile::TempDir, Objects, SigningKey, PathBuf, Vec<PublishPackage>) {
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

    pub(super) static COMPONENTS_MAIN: std::sync::LazyLock<Vec<String>> =
        std::sync::LazyLock::new(|| vec!["main".to_owned()]);
    pub(super) static ARCHITECTURES_AMD64: std::sync::LazyLock<Vec<String>> =
        std::sync::LazyLock::new(|| vec!["amd64".to_owned()]);

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
