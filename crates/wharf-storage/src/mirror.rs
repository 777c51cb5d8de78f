//! Uploading a published tree to the bucket in the order that keeps clients consistent.
//!
//! `wharf publish` with S3 storage builds the tree as usual (`wharf_apt::publish`, indices
//! only, no pool files) in a local staging directory, `DATA/storage-cache/public/PREFIX`,
//! which is a rebuildable cache; then [`mirror`] makes `public/PREFIX/` in the bucket
//! equal to it:
//!
//! 1. pool files — server-side copies of `objects/sha256/ab/<sha256>`, for the packages the
//!    caller lists (only those new or changed since the last upload);
//! 2. `by-hash` index files (new names, nothing is overwritten);
//! 3. the plain index names (`Packages`, `Packages.gz`, `Packages.xz`);
//! 4. `Release`, `Release.gpg`, then `InRelease` last;
//! 5. deletions: files the staging tree no longer has (superseded `by-hash` files after
//!    `publish`'s grace period) and pool files no longer published for longer than the
//!    grace period.
//!
//! Every phase completes (all PUTs returned) before the next starts, so a client that
//! reads the new `InRelease` finds every file it names, and a client still on the old
//! one finds every file the old one names.
//!
//! What is in the bucket is remembered in the staging directory's manifest
//! (`.wharf-uploaded.json`: path → size/inode/mtime for tree files, pool path → SHA-256),
//! written only after the uploads it records completed. Losing it (or the whole staging
//! directory) costs a full upload on the next publish, never a wrong tree. A manifest
//! about another storage URL is ignored.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use futures::StreamExt as _;
use serde::{Deserialize, Serialize};

use crate::{Bucket, StorageError, object_key, public_key};

/// The upload manifest, at the root of the staging tree (a dot-file: never served).
pub const MANIFEST: &str = ".wharf-uploaded.json";

/// Uploads in flight at once within one phase.
const CONCURRENCY: usize = 16;

/// What to upload.
#[derive(Debug)]
pub struct MirrorRequest<'a> {
    /// The tree `wharf_apt::publish` wrote, without pool files.
    pub staging: &'a Path,
    /// The publish prefix: the tree goes to `public/PREFIX/`.
    pub prefix: &'a str,
    /// Every pool file the tree's indices name: pool path → SHA-256 of the package.
    pub pool: &'a BTreeMap<String, String>,
    /// Unix seconds.
    pub now: i64,
    /// How long pool files no longer published stay (clients on the old index).
    pub grace_seconds: i64,
}

/// What an upload did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct MirrorOutcome {
    pub n_pool_copied: usize,
    pub n_uploaded: usize,
    pub n_deleted: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
struct Stamp {
    len: u64,
    ino: u64,
    mtime_s: i64,
    mtime_ns: i64,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct Manifest {
    /// The storage URL these records are about.
    storage: String,
    /// Tree files in the bucket (relative to the tree root) and the local file uploaded.
    files: BTreeMap<String, Stamp>,
    /// Pool files in the bucket → SHA-256 of their content.
    pool: BTreeMap<String, String>,
    /// Pool files no longer published → Unix time they stopped being published.
    stale_pool: BTreeMap<String, i64>,
}

impl Manifest {
    fn load(path: &Path, storage: &str) -> Manifest {
        std::fs::read(path)
            .ok()
            .and_then(|bytes| serde_json::from_slice::<Manifest>(&bytes).ok())
            .filter(|manifest| manifest.storage == storage)
            .unwrap_or_else(|| Manifest { storage: storage.to_owned(), ..Manifest::default() })
    }

    /// Replace the manifest atomically and durably.
    fn save(&self, path: &Path) -> Result<(), StorageError> {
        use std::io::Write as _;
        let local = |source| StorageError::Local { path: path.to_owned(), source };
        let tmp = path.with_extension(format!("{}.tmp", std::process::id()));
        let mut file = std::fs::File::create(&tmp).map_err(local)?;
        file.write_all(&serde_json::to_vec(self).expect("manifest serializes")).map_err(local)?;
        file.sync_all().map_err(local)?;
        std::fs::rename(&tmp, path).map_err(local)?;
        if let Some(dir) = path.parent() {
            std::fs::File::open(dir).and_then(|dir| dir.sync_all()).map_err(local)?;
        }
        Ok(())
    }
}

/// Files of the staging tree, relative to its root, without dot-files and dot-directories
/// (publish state, chunk cache, temporary files, this manifest).
fn walk(root: &Path) -> Result<BTreeMap<String, (PathBuf, Stamp)>, StorageError> {
    use std::os::unix::fs::MetadataExt as _;
    fn visit(
        dir: &Path,
        rel: &str,
        out: &mut BTreeMap<String, (PathBuf, Stamp)>,
    ) -> Result<(), StorageError> {
        let local = |source| StorageError::Local { path: dir.to_owned(), source };
        let entries = match std::fs::read_dir(dir) {
            Ok(entries) => entries,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(err) => return Err(local(err)),
        };
        for entry in entries {
            let entry = entry.map_err(local)?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with('.') {
                continue;
            }
            let path = entry.path();
            let child = if rel.is_empty() { name } else { format!("{rel}/{name}") };
            let meta = entry.metadata().map_err(local)?;
            if meta.is_dir() {
                visit(&path, &child, out)?;
            } else if meta.is_file() {
                let stamp = Stamp {
                    len: meta.len(),
                    ino: meta.ino(),
                    mtime_s: meta.mtime(),
                    mtime_ns: meta.mtime_nsec(),
                };
                out.insert(child, (path, stamp));
            }
        }
        Ok(())
    }
    let mut out = BTreeMap::new();
    visit(root, "", &mut out)?;
    Ok(out)
}

/// The upload phase of a tree file: by-hash (0), plain indices (1), `Release` and
/// `Release.gpg` (2), `InRelease` (3).
fn phase(rel: &str) -> usize {
    let parts: Vec<&str> = rel.split('/').collect();
    let top_level = parts.len() == 3 && parts[0] == "dists";
    match parts.last().copied() {
        _ if parts.contains(&"by-hash") => 0,
        Some("InRelease") if top_level => 3,
        Some("Release" | "Release.gpg") if top_level => 2,
        _ => 1,
    }
}

/// Run `op` on every item, [`CONCURRENCY`] at a time; the first error wins, after the
/// operations in flight finished.
async fn all<T, F, Fut>(items: Vec<T>, op: F) -> Result<usize, StorageError>
where
    F: Fn(T) -> Fut,
    Fut: Future<Output = Result<(), StorageError>>,
{
    let n_items = items.len();
    let results: Vec<Result<(), StorageError>> = futures::stream::iter(items.into_iter().map(op))
        .buffer_unordered(CONCURRENCY)
        .collect()
        .await;
    results.into_iter().collect::<Result<Vec<()>, _>>()?;
    Ok(n_items)
}

/// Make `public/PREFIX/` in the bucket equal to the staging tree plus the pool files, in
/// the safe order (see the module documentation).
pub async fn mirror(
    bucket: &Bucket,
    request: &MirrorRequest<'_>,
) -> Result<MirrorOutcome, StorageError> {
    let manifest_path = request.staging.join(MANIFEST);
    let mut manifest = Manifest::load(&manifest_path, &bucket.url().to_string());
    let mut outcome = MirrorOutcome::default();
    let prefix = request.prefix;

    // 1. Pool files: server-side copies from the object store, durable before any index
    //    that names them is uploaded.
    let to_copy: Vec<(String, String)> = request
        .pool
        .iter()
        .filter(|(path, sha)| manifest.pool.get(*path) != Some(*sha))
        .map(|(path, sha)| (path.clone(), sha.clone()))
        .collect();
    outcome.n_pool_copied = all(to_copy.clone(), |(path, sha)| {
        let bucket = bucket.clone();
        let (source, target) = (object_key(&sha), public_key(prefix, &path));
        async move { bucket.copy(&source, &target).await }
    })
    .await?;
    if !to_copy.is_empty() {
        manifest.pool.extend(to_copy);
        manifest.save(&manifest_path)?;
    }

    // 2–4. Tree files, phase by phase; InRelease alone and last.
    let files = walk(request.staging)?;
    for current in 0..4 {
        let changed: Vec<(String, PathBuf)> = files
            .iter()
            .filter(|(rel, (_, stamp))| {
                phase(rel) == current && manifest.files.get(*rel) != Some(stamp)
            })
            .map(|(rel, (path, _))| (public_key(prefix, rel), path.clone()))
            .collect();
        outcome.n_uploaded += all(changed, |(key, path)| {
            let bucket = bucket.clone();
            async move {
                let bytes =
                    std::fs::read(&path).map_err(|source| StorageError::Local { path, source })?;
                bucket.put(&key, bytes.into()).await
            }
        })
        .await?;
    }
    let previous = std::mem::replace(
        &mut manifest.files,
        files.into_iter().map(|(rel, (_, stamp))| (rel, stamp)).collect(),
    );

    // 5. Deletions, once the new InRelease is in place: tree files publish removed, and
    //    pool files unpublished for longer than the grace period.
    let gone: Vec<String> = previous
        .into_keys()
        .filter(|rel| !manifest.files.contains_key(rel))
        .map(|rel| public_key(prefix, &rel))
        .collect();
    outcome.n_deleted += delete_all(bucket, gone).await?;
    for path in manifest.pool.keys() {
        if request.pool.contains_key(path) {
            manifest.stale_pool.remove(path);
        } else {
            manifest.stale_pool.entry(path.clone()).or_insert(request.now);
        }
    }
    let expired: Vec<String> = manifest
        .stale_pool
        .iter()
        .filter(|(_, since)| request.now - **since >= request.grace_seconds)
        .map(|(path, _)| path.clone())
        .collect();
    outcome.n_deleted +=
        delete_all(bucket, expired.iter().map(|path| public_key(prefix, path)).collect()).await?;
    for path in expired {
        manifest.pool.remove(&path);
        manifest.stale_pool.remove(&path);
    }
    manifest.save(&manifest_path)?;
    Ok(outcome)
}

async fn delete_all(bucket: &Bucket, keys: Vec<String>) -> Result<usize, StorageError> {
    all(keys, |key| {
        let bucket = bucket.clone();
        async move { bucket.delete(&key).await }
    })
    .await
}

/// Delete every object below `public/PREFIX/` (`publish drop`); returns how many.
pub async fn drop_tree(bucket: &Bucket, prefix: &str) -> Result<usize, StorageError> {
    let keys: Vec<String> =
        bucket.list(&format!("public/{prefix}/")).await?.into_iter().map(|(key, _)| key).collect();
    delete_all(bucket, keys).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phases_put_inrelease_last() {
        assert_eq!(phase("dists/bookworm/main/binary-amd64/by-hash/SHA256/ab"), 0);
        assert_eq!(phase("dists/bookworm/main/binary-amd64/Packages.xz"), 1);
        assert_eq!(phase("dists/bookworm/Release"), 2);
        assert_eq!(phase("dists/bookworm/Release.gpg"), 2);
        assert_eq!(phase("dists/bookworm/InRelease"), 3);
        // Only the distribution's own Release files are special.
        assert_eq!(phase("dists/bookworm/main/Release"), 1);
    }

    #[test]
    fn walk_skips_dot_files() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("dists/d/.cache")).unwrap();
        std::fs::create_dir_all(dir.path().join(".wharf-cache")).unwrap();
        std::fs::write(dir.path().join("dists/d/InRelease"), "x").unwrap();
        std::fs::write(dir.path().join("dists/d/.InRelease.1.tmp"), "x").unwrap();
        std::fs::write(dir.path().join("dists/d/.cache/a"), "x").unwrap();
        std::fs::write(dir.path().join(".wharf-cache/c"), "x").unwrap();
        std::fs::write(dir.path().join(MANIFEST), "{}").unwrap();
        let files: Vec<String> = walk(dir.path()).unwrap().into_keys().collect();
        assert_eq!(files, ["dists/d/InRelease"]);
    }
}
