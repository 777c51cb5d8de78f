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

/// A publish failed; says which file.
#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    #[error("cannot write {}: {source}", path.display())]
    Io { path: PathBuf, source: std::io::Error },
    #[error(transparent)]
    Sign(#[from] crate::sign::KeyError),
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
    pub control: String,
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
}

/// What a publish did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct PublishOutcome {
    pub n_packages: usize,
    pub n_pool_files_added: usize,
    pub n_indices_rewritten: usize,
    pub n_indices_unchanged: usize,
    pub n_by_hash_removed: usize,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct State {
    /// Plain index path (relative to `dists/DIST/`) → its SHA-256 and Release entries.
    indices: BTreeMap<String, IndexState>,
    /// by-hash path (relative to the root) → Unix time it stopped being current.
    superseded: BTreeMap<String, i64>,
    /// Pool paths written so far.
    pool: BTreeSet<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct IndexState {
    sha256: String,
    files: Vec<IndexFile>,
}

/// Insert the file fields into a stanza rendered without them, where dpkg puts them:
/// before the first field that sorts after `Filename` (`Section`, `Description`, unknown
/// fields…). Equal to [`index::packages_stanza`] on the same control, much cheaper.
#[must_use]
pub fn stanza_with_file_fields(control: &str, filename: &str, digest: &FileDigest) -> String {
    const AFTER: &[&str] =
        &["Section", "Priority", "Multi-Arch", "Homepage", "Description", "Tag", "Task"];
    const BEFORE: &[&str] = &[
        "Package",
        "Package-Type",
        "Source",
        "Version",
        "Kernel-Version",
        "Built-For-Profiles",
        "Auto-Built-Package",
        "Architecture",
        "Subarchitecture",
        "Installer-Menu-Item",
        "Build-Essential",
        "Essential",
        "Protected",
        "Origin",
        "Bugs",
        "Maintainer",
        "Installed-Size",
        "Pre-Depends",
        "Depends",
        "Recommends",
        "Suggests",
        "Enhances",
        "Conflicts",
        "Breaks",
        "Replaces",
        "Provides",
        "Built-Using",
        "Static-Built-Using",
    ];
    let mut split_at = control.len();
    let mut offset = 0;
    for line in control.split_inclusive('\n') {
        if !line.starts_with([' ', '\t']) {
            let name = line.split_once(':').map_or(line, |(name, _)| name);
            if AFTER.contains(&name) || !BEFORE.contains(&name) {
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
        if state.pool.contains(&pool_path) {
            continue;
        }
        let target = root.join(&pool_path);
        if !target.exists() {
            let dir = target.parent().unwrap_or(root);
            std::fs::create_dir_all(dir).map_err(io_err(dir))?;
            let source = objects.path(&package.digest.sha256);
            if std::fs::hard_link(&source, &target).is_err() {
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
    let mut dirs_to_sync = BTreeSet::new();
    for component in request.components {
        for arch in request.architectures {
            let rel_dir = format!("{component}/binary-{arch}");
            let plain_rel = format!("{rel_dir}/Packages");
            let stanzas: Vec<String> = sorted
                .iter()
                .filter(|p| {
                    p.component == *component
                        && (p.architecture == *arch || p.architecture == "all")
                })
                .map(|p| stanza_with_file_fields(&p.control, &p.pool_path(), &p.digest))
                .collect();
            let plain = index::packages_file(stanzas.iter().map(String::as_str));
            let plain_sha = FileDigest::of(&plain).sha256;
            let dir = dists.join(&rel_dir);
            let by_hash_dir = dir.join("by-hash/SHA256");
            let entry = match state.indices.get(&plain_rel) {
                Some(cached)
                    if cached.sha256 == plain_sha
                        && cached.files.iter().all(|f| by_hash_dir.join(&f.sha256).exists()) =>
                {
                    outcome.n_indices_unchanged += 1;
                    cached.clone()
                }
                _ => {
                    std::fs::create_dir_all(&by_hash_dir).map_err(io_err(&by_hash_dir))?;
                    let (gz, xz) = std::thread::scope(|scope| {
                        let gz = scope.spawn(|| index::gzip(&plain));
                        let xz = index::xz(&plain);
                        (gz.join().expect("gzip thread does not panic"), xz)
                    });
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
                    for (name, bytes) in
                        [("Packages", &plain), ("Packages.gz", &gz), ("Packages.xz", &xz)]
                    {
                        let path = dir.join(name);
                        fsutil::write_atomic(&path, bytes).map_err(io_err(&path))?;
                    }
                    outcome.n_indices_rewritten += 1;
                    IndexState { sha256: plain_sha, files }
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
    let live_pool: BTreeSet<String> =
        request.packages.iter().map(PublishPackage::pool_path).collect();
    for stale in state.pool.difference(&live_pool) {
        // Removed packages leave the pool only after the new InRelease is in place; a
        // client holding the old index may still fetch them for a moment, so keep them
        // when the grace period is not zero.
        if request.grace_seconds == 0 {
            let _ = std::fs::remove_file(root.join(stale));
        }
    }
    if request.grace_seconds == 0 {
        state.pool = live_pool;
    }
    if !nothing_changed || outcome.n_by_hash_removed > 0 {
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
    for dir in dirs {
        fsutil::sync_dir(dir).map_err(io_err(dir))?;
    }
    Ok(())
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
