//! `wharf backup DEST` and `wharf restore SRC`: a consistent copy of a data directory
//! taken while the server runs, and its verified return.
//!
//! A backup is a directory shaped like a data directory: `wharf.db` (the store as of one
//! instant, `VACUUM INTO`), `keys/`, `public/` (the published trees, their pool lists and
//! state files) and `objects/` (loose objects and packs), plus [`MANIFEST`] naming every
//! file with its size, SHA-256 and mode. Nothing in a data directory names an absolute
//! path, so a backup restores anywhere and a data directory can be moved as it is.
//!
//! **Invariants:** the data directory's writer lock is held from before the store is
//! snapshotted until the last file is copied, so no add, publish or cleanup changes a
//! tree, adds an object the snapshot names or rewrites a pack meanwhile (repository
//! writers queue, they do not fail; the server keeps serving, and deploys, locks and audit
//! entries keep being written — the snapshot is one read transaction); the store is
//! copied first, so every object it names is in the copy; the copy is written under a
//! hidden temporary name beside DEST, the manifest is written last (durably, by rename)
//! and only then is the directory renamed to DEST, so an interrupted backup is never
//! mistaken for a whole one; restore copies into a hidden directory beside the data
//! directory, checks every file against the manifest, and renames it into place only when
//! all of them match — all or nothing.

mod manifest;
mod restore;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

pub use manifest::MANIFEST;
use manifest::{Manifest, STORE, TREES};
pub use restore::restore;

use crate::context::Context;
use crate::error::{AppError, Context as _, Result};
use crate::progress::Progress;
use crate::storage::{Storage, blocking};
use crate::wire::BackupReport;

/// Write a backup of the context's data directory to `dest`, which must not exist.
pub async fn backup(ctx: &Context, dest: &Path, progress: &dyn Progress) -> Result<BackupReport> {
    if ctx.store().backend() != "sqlite" {
        return Err(AppError::refused(format!(
            "the store is PostgreSQL ({}): Wharf backs up SQLite stores only. Back it up \
             with pg_dump, and copy keys/, public/ and objects/ of the data directory {} \
             while no repository change runs",
            ctx.store().url(),
            ctx.layout().root().display()
        )));
    }
    let (parent, name) = split_dest(dest)?;
    if dest.exists() {
        return Err(AppError::conflict(format!(
            "backup destination {} already exists: name a new directory",
            dest.display()
        )));
    }
    let tmp = parent.join(format!(".{name}.partial-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    manifest::create_private_dir(&tmp)?;
    let outcome = take(ctx, &tmp, progress).await;
    progress.finish();
    let manifest = match outcome {
        Ok(done) => done,
        Err(err) => {
            let _ = std::fs::remove_dir_all(&tmp);
            return Err(err);
        }
    };
    std::fs::rename(&tmp, dest)
        .or_internal(|| format!("cannot rename {} to {}", tmp.display(), dest.display()))?;
    manifest::sync_dir(&parent)?;
    let objects_in_bucket = match ctx.storage() {
        Storage::Bucket { .. } => Some(ctx.storage().objects_location()),
        Storage::Local { .. } => None,
    };
    Ok(BackupReport {
        path: dest.display().to_string(),
        files: manifest.files.len(),
        bytes: manifest.bytes(),
        created_at: manifest.created_at,
        objects_in_bucket,
    })
}

/// The directory that will hold the backup and the backup's own name.
fn split_dest(dest: &Path) -> Result<(PathBuf, String)> {
    let name = dest
        .file_name()
        .and_then(|name| name.to_str())
        .filter(|name| !name.starts_with('.'))
        .ok_or_else(|| {
            AppError::invalid(format!(
                "backup destination {} must end in a directory name (UTF-8, not starting \
                 with '.')",
                dest.display()
            ))
        })?
        .to_owned();
    let parent = match dest.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent.to_owned(),
        _ => PathBuf::from("."),
    };
    if !parent.is_dir() {
        return Err(AppError::invalid(format!(
            "the directory {} that should hold the backup does not exist: create it first",
            parent.display()
        )));
    }
    Ok((parent, name))
}

/// Everything but the final rename, into `tmp`: the store, then every file, then the
/// manifest.
async fn take(ctx: &Context, tmp: &Path, progress: &dyn Progress) -> Result<Manifest> {
    let _lock = ctx.layout().lock_writer().await?;
    progress.phase("snapshotting the store", 1);
    let created_at = wharf_store::now_rfc3339();
    let store_path = tmp.join(STORE);
    ctx.store().snapshot_into(&store_path).await?;
    progress.advance(1);
    let root = ctx.layout().root().to_owned();
    // With a bucket, the package files are the bucket's (it is their backup).
    let local = matches!(ctx.storage(), Storage::Local { .. });
    let sources = blocking(move || {
        let mut sources = Vec::new();
        for tree in TREES.into_iter().filter(|tree| local || *tree != "objects") {
            list_files(&root.join(tree), tree, &mut sources)?;
        }
        Ok::<_, AppError>(sources)
    })
    .await??;
    let total: u64 = sources.iter().map(|(_, _, size)| size).sum();
    progress.phase("copying files (bytes)", total);
    let files = copy_all(tmp, store_path, sources, progress).await?;
    let manifest = Manifest {
        format: manifest::FORMAT.to_owned(),
        created_at,
        wharf_version: env!("CARGO_PKG_VERSION").to_owned(),
        files,
    };
    let tmp = tmp.to_owned();
    blocking(move || manifest::write(&tmp, &manifest).map(|()| manifest)).await?
}

/// A source file: its path, its name relative to the data directory, its size.
type Source = (PathBuf, String, u64);

/// The store's snapshot hashed, then every source copied into `tmp` and hashed, a batch
/// of files at a time on a blocking thread; every directory made durable.
async fn copy_all(
    tmp: &Path,
    store_path: PathBuf,
    sources: Vec<Source>,
    progress: &dyn Progress,
) -> Result<Vec<manifest::ManifestFile>> {
    let mut files = vec![blocking(move || manifest::copy_hashed(&store_path, None, STORE)).await??];
    let mut dirs = BTreeSet::new();
    for (n, batch) in batches(sources).into_iter().enumerate() {
        let bytes: u64 = batch.iter().map(|(_, _, size)| size).sum();
        let into = tmp.to_owned();
        let (copied, made) = blocking(move || copy_batch(&into, &batch)).await??;
        files.extend(copied);
        dirs.extend(made);
        progress.advance(bytes);
        if n == 0 {
            wharf_store::failpoint::hit("backup.copying");
        }
    }
    let root = tmp.to_owned();
    blocking(move || manifest::sync_dirs(&root, &dirs)).await??;
    Ok(files)
}

/// Sources in batches of at most 256 files or 64 MiB (one file at least).
fn batches(sources: Vec<Source>) -> Vec<Vec<Source>> {
    let mut out: Vec<Vec<Source>> = Vec::new();
    let mut bytes = 0;
    for source in sources {
        match out.last_mut() {
            Some(batch) if batch.len() < 256 && bytes + source.2 <= 64 << 20 => {
                bytes += source.2;
                batch.push(source);
            }
            _ => {
                bytes = source.2;
                out.push(vec![source]);
            }
        }
    }
    out
}

/// Copies one batch into `tmp`: the files copied and the directories created.
fn copy_batch(
    tmp: &Path,
    batch: &[Source],
) -> Result<(Vec<manifest::ManifestFile>, BTreeSet<PathBuf>)> {
    let mut dirs = BTreeSet::new();
    let mut files = Vec::with_capacity(batch.len());
    for (from, rel, _) in batch {
        let to = tmp.join(rel);
        if let Some(dir) = to.parent()
            && dirs.insert(dir.to_owned())
        {
            manifest::create_private_dir(dir)?;
        }
        files.push(manifest::copy_hashed(from, Some(&to), rel)?);
    }
    Ok((files, dirs))
}

/// Every regular file under `dir` as (path, relative name, size); leftovers of
/// interrupted writes (`*.tmp`) are left out.
fn list_files(dir: &Path, rel: &str, out: &mut Vec<Source>) -> Result<()> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(err) => {
            return Err(
                AppError::internal(format!("cannot read {}", dir.display())).with_source(err)
            );
        }
    };
    for entry in entries {
        let entry = entry.or_internal(|| format!("cannot read {}", dir.display()))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let child = format!("{rel}/{name}");
        let meta = entry.metadata().or_internal(|| format!("cannot stat {}", child))?;
        if meta.is_dir() {
            list_files(&entry.path(), &child, out)?;
        } else if meta.is_file() && !name.ends_with(".tmp") {
            out.push((entry.path(), child, meta.len()));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sources(sizes: &[u64]) -> Vec<Source> {
        sizes
            .iter()
            .enumerate()
            .map(|(n, &size)| (PathBuf::from(n.to_string()), n.to_string(), size))
            .collect()
    }

    #[test]
    fn batches_hold_at_most_256_files_or_64_mib_and_never_split_a_file() {
        const MIB: u64 = 1 << 20;
        let cases: [(&[u64], &[usize]); 5] = [
            (&[], &[]),
            (&[1, 2, 3], &[3]),
            (&[100 * MIB], &[1]),
            (&[40 * MIB, 30 * MIB, 1], &[1, 2]),
            (&[64 * MIB, 1, 200 * MIB, 1], &[1, 1, 1, 1]),
        ];
        for (sizes, expected) in cases {
            let lens: Vec<usize> = batches(sources(sizes)).iter().map(Vec::len).collect();
            assert_eq!(lens, expected, "{sizes:?}");
        }
        let lens: Vec<usize> = batches(sources(&[1; 600])).iter().map(Vec::len).collect();
        assert_eq!(lens, [256, 256, 88]);
    }
}
