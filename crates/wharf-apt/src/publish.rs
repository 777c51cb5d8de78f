//! Writing a published repository tree, atomically and incrementally.
//!
//! Layout under the tree root: `pool/COMP/<p>/<name>/<file>.deb` (hard links to the
//! object store, copies across filesystems), `dists/DIST/COMP/binary-ARCH/Packages{,.gz,.xz}`
//! with `by-hash/SHA256/<hash>` copies, and `dists/DIST/{Release,Release.gpg,InRelease}`.
//!
//! Order of writes, which is what keeps a client that is mid-update consistent:
//! 1. pool files (durable before anything refers to them);
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

/// Name of the state file at the root of a published tree (not served).
pub const STATE_FILE: &str = ".wharf-state.json";

/// Compressed index chunks (see [`crate::chunked`]), at the root of a published tree (not
/// served).
pub const CACHE_DIR: &str = ".wharf-cache";

/// A publish failed; says which file.
#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    #[error("cannot write {}: {source}", path.display())]
    Io { path: PathBuf, source: std::io::Error },
    #[error(transparent)]
    Sign(#[from] crate::sign::KeyError),
    #[error("{package} has no control stanza and {index} of the previous publish does not list it")]
    MissingStanza { index: String, package: String },
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
    /// Unix seconds, UTC, for `Date:`.
    pub now: i64,
    /// How long superseded by-hash files stay, in seconds.
    pub grace_seconds: i64,
    /// The previous publish's indices, for packages without `control`.
    pub previous: Option<&'a PreviousIndices>,
}

/// The `Packages` indices of the previous publish of a tree, as written (checked against
/// the SHA-256 the state file recorded), indexed by each stanza's `SHA256`. A publish after
/// a small change takes the unchanged stanzas from here instead of reading every control
/// stanza from the store and rendering it again.
#[derive(Debug, Default)]
pub struct PreviousIndices {
    /// Plain index path (`main/binary-amd64/Packages`) → (bytes, SHA-256 → stanza range).
    indices: BTreeMap<String, (Vec<u8>, StanzaRanges)>,
}

/// A stanza's SHA-256 → its byte range in the index.
type StanzaRanges = std::collections::HashMap<String, (usize, usize)>;

impl PreviousIndices {
    /// Read the indices of the tree at `root`; empty when there is no previous publish or
    /// a file does not match what the state file recorded.
    #[must_use]
    pub fn load(root: &Path, distribution: &str) -> PreviousIndices {
        let Some(state) = std::fs::read(root.join(STATE_FILE))
            .ok()
            .and_then(|bytes| serde_json::from_slice::<State>(&bytes).ok())
        else {
            return PreviousIndices::default();
        };
        let dists = root.join("dists").join(distribution);
        let mut indices = BTreeMap::new();
        for (plain_rel, entry) in &state.indices {
            let dir = Path::new(plain_rel).parent().unwrap_or(Path::new(""));
            let path = dists.join(dir).join("by-hash/SHA256").join(&entry.sha256);
            let Ok(bytes) = std::fs::read(&path) else { return PreviousIndices::default() };
            if sha256_hex(&bytes) != entry.sha256 {
                return PreviousIndices::default();
            }
            let stanzas = index_stanzas(&bytes);
            indices.insert(plain_rel.clone(), (bytes, stanzas));
        }
        PreviousIndices { indices }
    }

    /// Whether every index the package belongs in (its architecture's, or every
    /// architecture's for `all`) has its stanza.
    #[must_use]
    pub fn has(
        &self,
        component: &str,
        architecture: &str,
        architectures: &[String],
        sha256: &str,
    ) -> bool {
        let found = |arch: &str| {
            self.indices
                .get(&format!("{component}/binary-{arch}/Packages"))
                .is_some_and(|(_, stanzas)| stanzas.contains_key(sha256))
        };
        if architecture == "all" {
            architectures.iter().all(|arch| found(arch))
        } else {
            found(architecture)
        }
    }

    /// Whether any index of the previous publish lists a package with this SHA-256.
    #[must_use]
    pub fn contains_sha256(&self, sha256: &str) -> bool {
        self.indices.values().any(|(_, stanzas)| stanzas.contains_key(sha256))
    }

    fn stanza(&self, plain_rel: &str, sha256: &str) -> Option<&[u8]> {
        let (bytes, stanzas) = self.indices.get(plain_rel)?;
        let (start, end) = *stanzas.get(sha256)?;
        bytes.get(start..end)
    }
}

/// Whether two paths name the same inode (a pool file hard-linked to its object), or
/// hold the same bytes when they are copies.
fn same_file(a: &Path, b: &Path) -> bool {
    use std::os::unix::fs::MetadataExt as _;
    match (std::fs::metadata(a), std::fs::metadata(b)) {
        (Ok(ma), Ok(mb)) if ma.dev() == mb.dev() && ma.ino() == mb.ino() => true,
        (Ok(ma), Ok(mb)) if ma.len() == mb.len() => {
            matches!((std::fs::read(a), std::fs::read(b)), (Ok(x), Ok(y)) if x == y)
        }
        _ => false,
    }
}

/// Stanzas of a `Packages` file by their `SHA256:` field; each range includes the
/// stanza's last newline but not the blank line after it.
fn index_stanzas(bytes: &[u8]) -> StanzaRanges {
    const FIELD: &[u8] = b"SHA256: ";
    let mut out = StanzaRanges::new();
    let mut stanza_start = 0;
    let mut sha: Option<&[u8]> = None;
    let mut line_start = 0;
    while line_start < bytes.len() {
        let line_end = bytes[line_start..]
            .iter()
            .position(|b| *b == b'\n')
            .map_or(bytes.len(), |p| line_start + p);
        let line = &bytes[line_start..line_end];
        if line.is_empty() {
            // The blank line after a stanza.
            if let Some(value) = sha.take()
                && let Ok(value) = std::str::from_utf8(value)
            {
                out.insert(value.to_owned(), (stanza_start, line_start));
            }
            stanza_start = line_end + 1;
        } else if let Some(value) = line.strip_prefix(FIELD) {
            sha = Some(value);
        }
        line_start = line_end + 1;
    }
    out
}

/// What a publish did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct PublishOutcome {
    pub n_packages: usize,
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
    /// Compressed index chunks in the cache (`CACHE_DIR`), by plain SHA-256.
    #[serde(default)]
    chunks: BTreeMap<String, crate::chunked::ChunkDigests>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct IndexState {
    sha256: String,
    files: Vec<IndexFile>,
    /// Plain SHA-256 of the chunks its compressed forms are made of.
    #[serde(default)]
    chunks: BTreeSet<String>,
}

/// Insert the file fields into a stanza rendered without them, where dpkg puts them:
/// before the first field that sorts after `Filename` (`Section`, `Description`, unknown
/// fields…). Equal to [`index::packages_stanza`] on the same control, much cheaper.
#[must_use]
pub fn stanza_with_file_fields(control: &str, filename: &str, digest: &FileDigest) -> String {
    let before = crate::control::fields_before_filename();
    let mut split_at = control.len();
    let mut offset = 0;
    for line in control.split_inclusive('\n') {
        if !line.starts_with([' ', '\t']) {
            let name = line.split_once(':').map_or(line, |(name, _)| name);
            if !before.contains(&name) {
                split_at = offset;
                break;
            }
        }
        offset += line.len();
    }
    let (head, tail) = control.split_at(split_at);
    format!(
        "{head}Filename: {filename}\nSize: {}\nMD5sum: {}\nSHA1: {}\nSHA256: {}\n{tail}",
        digest.size, digest.md5, digest.sha1, digest.sha256
    )
}

/// Publish `request` into its tree, signing with `key`.
pub fn publish(
    request: &PublishRequest<'_>,
    objects: &Objects,
    key: &SigningKey,
) -> Result<PublishOutcome, PublishError> {
    publish_tree(request, Some(objects), key)
}

/// Like [`publish`], but without pool files: the caller puts them where clients read the
/// tree (object storage: `wharf_storage::mirror`) before it exposes the indices. The state
/// file still records the pool paths, so later publishes behave the same.
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
    let mut outcome = PublishOutcome { n_packages: request.packages.len(), ..Default::default() };

    // 1. Pool files, durable before any index names them.
    let mut dirs_to_sync = BTreeSet::new();
    for package in request.packages {
        let pool_path = package.pool_path();
        // Known good: the previous publish listed this very file at this path.
        let known = state.pool.contains(&pool_path)
            && request.previous.is_some_and(|p| p.contains_sha256(&package.digest.sha256));
        if known {
            continue;
        }
        let Some(objects) = objects else {
            state.pool.insert(pool_path);
            continue;
        };
        let target = root.join(&pool_path);
        let source = objects.path(&package.digest.sha256);
        if !same_file(&source, &target) {
            // Missing, or other content at the same name (`repo add --replace`): link
            // (or copy) under a temporary name and rename over it.
            let dir = target.parent().unwrap_or(root);
            std::fs::create_dir_all(dir).map_err(io_err(dir))?;
            // No fsync per file or directory here: the directories are synced together
            // below, before any index names these files.
            let linked = if target.exists() {
                let tmp = dir.join(format!(".pool.{}.tmp", std::process::id()));
                let _ = std::fs::remove_file(&tmp);
                std::fs::hard_link(&source, &tmp).and_then(|()| std::fs::rename(&tmp, &target))
            } else {
                std::fs::hard_link(&source, &target)
            };
            if linked.is_err() {
                let bytes = std::fs::read(&source).map_err(io_err(&source))?;
                fsutil::write_atomic(&target, &bytes).map_err(io_err(&target))?;
            }
            dirs_to_sync.insert(dir.to_owned());
            outcome.n_pool_files_added += 1;
        }
        state.pool.insert(pool_path);
    }
    sync_dirs(&dirs_to_sync)?;

    // 2 and 3. Indices: by-hash first, then plain names; unchanged ones are skipped.
    let mut sorted: Vec<&PublishPackage> = request.packages.iter().collect();
    sorted.sort_by(|a, b| {
        a.name
            .cmp(&b.name)
            .then_with(|| a.version.cmp(&b.version))
            .then_with(|| a.architecture.cmp(&b.architecture))
    });
    let mut release_files: Vec<IndexFile> = Vec::new();
    let mut current_by_hash: BTreeSet<String> = BTreeSet::new();
    let mut new_indices = BTreeMap::new();
    let mut new_chunks = BTreeMap::new();
    let mut dirs_to_sync = BTreeSet::new();
    for component in request.components {
        for arch in request.architectures {
            let rel_dir = format!("{component}/binary-{arch}");
            let plain_rel = format!("{rel_dir}/Packages");
            // Each stanza followed by a blank line, as `index::packages_file` writes them.
            let mut plain = Vec::new();
            for package in sorted.iter().filter(|p| {
                p.component == *component && (p.architecture == *arch || p.architecture == "all")
            }) {
                match &package.control {
                    Some(control) => plain.extend_from_slice(
                        stanza_with_file_fields(control, &package.pool_path(), &package.digest)
                            .as_bytes(),
                    ),
                    None => plain.extend_from_slice(
                        request
                            .previous
                            .and_then(|previous| {
                                previous.stanza(&plain_rel, &package.digest.sha256)
                            })
                            .ok_or_else(|| PublishError::MissingStanza {
                                index: plain_rel.clone(),
                                package: package.pool_path(),
                            })?,
                    ),
                }
                plain.push(b'\n');
            }
            let plain_sha = sha256_hex(&plain);
            let dir = dists.join(&rel_dir);
            let by_hash_dir = dir.join("by-hash/SHA256");
            let entry = match state.indices.get(&plain_rel) {
                Some(cached)
                    if cached.sha256 == plain_sha
                        && cached.files.iter().all(|f| by_hash_dir.join(&f.sha256).exists()) =>
                {
                    outcome.n_indices_unchanged += 1;
                    new_chunks.extend(
                        state
                            .chunks
                            .iter()
                            .filter(|(sha, _)| cached.chunks.contains(*sha))
                            .map(|(sha, digests)| (sha.clone(), digests.clone())),
                    );
                    cached.clone()
                }
                _ => {
                    std::fs::create_dir_all(&by_hash_dir).map_err(io_err(&by_hash_dir))?;
                    let cache_dir = root.join(CACHE_DIR);
                    let compressed = crate::chunked::compress(&plain, &state.chunks, &cache_dir)
                        .map_err(io_err(&cache_dir))?;
                    outcome.n_chunks_compressed += compressed.n_chunks_compressed;
                    let (gz, xz) = (compressed.gz, compressed.xz);
                    let chunk_shas: BTreeSet<String> = compressed.chunks.keys().cloned().collect();
                    new_chunks.extend(compressed.chunks);
                    let mut files = Vec::new();
                    for (name, bytes) in
                        [("Packages", &plain), ("Packages.gz", &gz), ("Packages.xz", &xz)]
                    {
                        let file = IndexFile::of(format!("{rel_dir}/{name}"), bytes);
                        let by_hash = by_hash_dir.join(&file.sha256);
                        if !by_hash.exists() {
                            write_unsynced(&by_hash, bytes)?;
                        }
                        files.push(file);
                    }
                    dirs_to_sync.insert(by_hash_dir.clone());
                    // The plain names are hard links to the (immutable, already durable)
                    // by-hash files: the bytes are written once.
                    for ((name, bytes), file) in
                        [("Packages", &plain), ("Packages.gz", &gz), ("Packages.xz", &xz)]
                            .into_iter()
                            .zip(&files)
                    {
                        let path = dir.join(name);
                        fsutil::link_atomic(&by_hash_dir.join(&file.sha256), &path, bytes)
                            .map_err(io_err(&path))?;
                    }
                    outcome.n_indices_rewritten += 1;
                    IndexState { sha256: plain_sha, files, chunks: chunk_shas }
                }
            };
            for file in &entry.files {
                current_by_hash.insert(format!(
                    "dists/{}/{rel_dir}/by-hash/SHA256/{}",
                    request.distribution, file.sha256
                ));
            }
            release_files.extend(entry.files.iter().cloned());
            new_indices.insert(plain_rel, entry);
        }
    }
    sync_dirs(&dirs_to_sync)?;

    // 4. Release, Release.gpg, InRelease last — unless nothing at all changed.
    release_files.sort_by(|a, b| a.path.cmp(&b.path));
    let inrelease = dists.join("InRelease");
    let nothing_changed = outcome.n_indices_rewritten == 0
        && new_indices.len() == state.indices.len()
        && inrelease.exists();
    if !nothing_changed {
        let params = ReleaseParams {
            origin: request.origin,
            label: request.label,
            suite: request.distribution,
            codename: request.distribution,
            description: request.description,
            architectures: request.architectures,
            components: request.components,
            date: request.now,
        };
        let release = index::release_file(&params, &release_files);
        let signed = key.clearsign(&release)?;
        let detached = key.detached(release.as_bytes())?;
        let path = dists.join("Release");
        fsutil::write_atomic(&path, release.as_bytes()).map_err(io_err(&path))?;
        let path = dists.join("Release.gpg");
        fsutil::write_atomic(&path, detached.as_bytes()).map_err(io_err(&path))?;
        fsutil::write_atomic(&inrelease, signed.as_bytes()).map_err(io_err(&inrelease))?;
    }

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
    let expired: Vec<String> = state
        .superseded
        .iter()
        .filter(|(_, since)| request.now - **since >= request.grace_seconds)
        .map(|(path, _)| path.clone())
        .collect();
    for path in expired {
        let _ = std::fs::remove_file(root.join(&path));
        state.superseded.remove(&path);
        outcome.n_by_hash_removed += 1;
    }
    state.indices = new_indices;
    if state.chunks != new_chunks {
        crate::chunked::prune(&root.join(CACHE_DIR), &new_chunks);
        state.chunks = new_chunks;
    }
    // Removed packages leave the pool only after the new InRelease is in place and the
    // grace period has passed: a client holding the old index may still fetch them.
    let live_pool: BTreeSet<String> =
        request.packages.iter().map(PublishPackage::pool_path).collect();
    let mut pool_changed = false;
    for stale in state.pool.difference(&live_pool) {
        state.stale_pool.entry(stale.clone()).or_insert(request.now);
        pool_changed = true;
    }
    state.stale_pool.retain(|path, _| !live_pool.contains(path));
    let expired: Vec<String> = state
        .stale_pool
        .iter()
        .filter(|(_, since)| request.now - **since >= request.grace_seconds)
        .map(|(path, _)| path.clone())
        .collect();
    for path in expired {
        let file = root.join(&path);
        let _ = std::fs::remove_file(&file);
        // Empty package directories go too (`pool/main/h/hello/`).
        let mut dir = file.parent();
        while let Some(parent) = dir {
            if parent == root || std::fs::remove_dir(parent).is_err() {
                break;
            }
            dir = parent.parent();
        }
        state.stale_pool.remove(&path);
        outcome.n_pool_files_removed += 1;
    }
    if pool_changed || outcome.n_pool_files_removed > 0 {
        state.pool = live_pool;
    }
    if !nothing_changed || outcome.n_by_hash_removed > 0 || outcome.n_pool_files_removed > 0 {
        let bytes = serde_json::to_vec(&state).expect("state serializes");
        fsutil::write_atomic(&state_path, &bytes).map_err(io_err(&state_path))?;
    }
    Ok(outcome)
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
}
