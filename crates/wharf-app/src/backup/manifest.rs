//! `MANIFEST.json`: what a backup holds — every file with its size, SHA-256 and mode —
//! and the file operations both directions share (a hashed, durable copy).

use std::collections::BTreeSet;
use std::io::{Read as _, Write as _};
use std::os::unix::fs::{DirBuilderExt as _, PermissionsExt as _};
use std::path::{Component, Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{AppError, Context as _, Result};

/// The manifest's file name inside a backup.
pub const MANIFEST: &str = "MANIFEST.json";
/// The manifest's format tag.
pub(crate) const FORMAT: &str = "wharf-backup/1";
/// The store's name inside a backup (and in a restored data directory).
pub(crate) const STORE: &str = "wharf.db";
/// The directories of a data directory a backup holds, besides the store.
pub(crate) const TREES: [&str; 3] = ["keys", "public", "objects"];

#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct Manifest {
    pub(crate) format: String,
    /// When the store was snapshotted (RFC 3339, UTC).
    pub(crate) created_at: String,
    /// The Wharf that wrote it.
    pub(crate) wharf_version: String,
    pub(crate) files: Vec<ManifestFile>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct ManifestFile {
    /// Relative to the data directory, `/`-separated.
    pub(crate) path: String,
    pub(crate) size: u64,
    pub(crate) sha256: String,
    /// Permission bits (`0o600` for keys).
    pub(crate) mode: u32,
}

impl Manifest {
    pub(crate) fn bytes(&self) -> u64 {
        self.files.iter().map(|file| file.size).sum()
    }
}

/// Whether a manifest path may be restored: relative, no `..`, under the store or one of
/// [`TREES`]. A manifest naming anything else was not written by `wharf backup`.
pub(crate) fn restorable(path: &str) -> bool {
    let normal = Path::new(path).components().all(|c| matches!(c, Component::Normal(_)));
    let top = path.split('/').next().unwrap_or_default();
    normal && !path.is_empty() && (path == STORE || (TREES.contains(&top) && path != top))
}

/// Reads and checks `SRC/MANIFEST.json`: a backup without one was interrupted.
pub(crate) fn read(src: &Path) -> Result<Manifest> {
    let path = src.join(MANIFEST);
    if !src.is_dir() {
        return Err(AppError::not_found(format!(
            "backup {} does not exist (name the directory `wharf backup` wrote)",
            src.display()
        )));
    }
    let text = std::fs::read(&path).map_err(|err| {
        AppError::invalid(format!(
            "{} is not a complete Wharf backup: it has no {MANIFEST} (a backup that was \
             interrupted has none; take a new one); nothing was restored",
            src.display()
        ))
        .with_source(err)
    })?;
    let manifest: Manifest = serde_json::from_slice(&text).or_invalid(|| {
        format!("{} is not a Wharf backup manifest; nothing was restored", path.display())
    })?;
    if manifest.format != FORMAT {
        return Err(AppError::invalid(format!(
            "{} has format {:?}; this Wharf restores {FORMAT:?}; nothing was restored",
            path.display(),
            manifest.format
        )));
    }
    if let Some(bad) = manifest.files.iter().find(|file| !restorable(&file.path)) {
        return Err(AppError::invalid(format!(
            "{} names {:?}, which is not part of a data directory; nothing was restored",
            path.display(),
            bad.path
        )));
    }
    if !manifest.files.iter().any(|file| file.path == STORE) {
        return Err(AppError::invalid(format!(
            "{} lists no {STORE}: this backup has no store; nothing was restored",
            path.display()
        )));
    }
    Ok(manifest)
}

/// Writes the manifest durably: a temporary name, fsync, rename, directory fsync.
pub(crate) fn write(dir: &Path, manifest: &Manifest) -> Result<()> {
    let text = serde_json::to_vec_pretty(manifest)
        .or_internal(|| "cannot encode the backup manifest".into())?;
    let tmp = dir.join(format!("{MANIFEST}.tmp"));
    let path = dir.join(MANIFEST);
    let mut file =
        std::fs::File::create(&tmp).or_internal(|| format!("cannot write {}", tmp.display()))?;
    file.write_all(&text)
        .and_then(|()| file.sync_all())
        .or_internal(|| format!("cannot write {}", tmp.display()))?;
    std::fs::rename(&tmp, &path).or_internal(|| format!("cannot write {}", path.display()))?;
    sync_dir(dir)
}

/// Copies `from` to `to` (created, fsynced, with `from`'s permission bits), hashing what
/// was read; `to: None` only hashes.
pub(crate) fn copy_hashed(from: &Path, to: Option<&Path>, rel: &str) -> Result<ManifestFile> {
    let mut src =
        std::fs::File::open(from).or_internal(|| format!("cannot open {}", from.display()))?;
    let mode = src
        .metadata()
        .or_internal(|| format!("cannot stat {}", from.display()))?
        .permissions()
        .mode()
        & 0o7777;
    let mut dst = match to {
        Some(to) => Some(
            std::fs::File::create(to).or_internal(|| format!("cannot create {}", to.display()))?,
        ),
        None => None,
    };
    let mut digest = ring::digest::Context::new(&ring::digest::SHA256);
    let mut buf = vec![0_u8; 1 << 20];
    let mut size = 0_u64;
    loop {
        let n = src.read(&mut buf).or_internal(|| format!("cannot read {}", from.display()))?;
        if n == 0 {
            break;
        }
        digest.update(&buf[..n]);
        if let (Some(dst), Some(to)) = (&mut dst, to) {
            dst.write_all(&buf[..n]).or_internal(|| format!("cannot write {}", to.display()))?;
        }
        size += n as u64;
    }
    if let (Some(dst), Some(to)) = (dst, to) {
        dst.set_permissions(std::fs::Permissions::from_mode(mode))
            .and_then(|()| dst.sync_all())
            .or_internal(|| format!("cannot write {}", to.display()))?;
    }
    Ok(ManifestFile { path: rel.to_owned(), size, sha256: hex::encode(digest.finish()), mode })
}

pub(crate) fn sync_dir(dir: &Path) -> Result<()> {
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .or_internal(|| format!("cannot sync directory {}", dir.display()))
}

/// Makes the directories files were written into durable, with every directory between
/// them and `root` and `root` itself (deepest first: an entry is synced before the
/// directory that names it).
pub(crate) fn sync_dirs(root: &Path, dirs: &BTreeSet<PathBuf>) -> Result<()> {
    let mut all = BTreeSet::new();
    for dir in dirs {
        let mut at = Some(dir.as_path());
        while let Some(dir) = at.filter(|dir| dir.starts_with(root)) {
            if !all.insert(dir.to_owned()) {
                break;
            }
            at = dir.parent();
        }
    }
    all.insert(root.to_owned());
    all.iter().rev().try_for_each(|dir| sync_dir(dir))
}

/// Creates `dir` (and its parents) private to its owner: a backup holds the signing key.
pub(crate) fn create_private_dir(dir: &Path) -> Result<()> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .or_internal(|| format!("cannot create directory {}", dir.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_paths_inside_a_data_directory_are_restorable() {
        let cases = [
            ("wharf.db", true),
            ("objects/sha256/ab/abcdef", true),
            ("objects/packs/p1.pack", true),
            ("public/tools/.wharf-pool", true),
            ("keys/signing.asc", true),
            ("keys", false),
            ("", false),
            ("wharf.toml", false),
            ("/etc/passwd", false),
            ("objects/../../etc/passwd", false),
            ("./wharf.db", false),
            ("storage-cache/public/x", false),
            ("apt.lock", false),
        ];
        for (path, expected) in cases {
            assert_eq!(restorable(path), expected, "{path:?}");
        }
    }

    #[test]
    fn a_copy_keeps_bytes_and_mode_and_reports_their_hash() {
        let dir = tempfile::tempdir().unwrap();
        let from = dir.path().join("secret");
        std::fs::write(&from, b"key material").unwrap();
        std::fs::set_permissions(&from, std::fs::Permissions::from_mode(0o600)).unwrap();
        let to = dir.path().join("copy");
        let file = copy_hashed(&from, Some(&to), "keys/signing.asc").unwrap();
        assert_eq!(std::fs::read(&to).unwrap(), b"key material");
        assert_eq!(std::fs::metadata(&to).unwrap().permissions().mode() & 0o777, 0o600);
        assert_eq!(file.sha256, wharf_apt::sha256_hex(b"key material"));
        assert_eq!((file.size, file.mode), (12, 0o600));
        assert_eq!(copy_hashed(&from, None, "keys/signing.asc").unwrap(), file);
    }
}
