//! [`DataLayout`]: the data directory, and the only place that names what is in it.
//!
//! ```text
//! DATA/
//!   wharf.db            the SQLite store (unless [store] database names another)
//!   objects/            package files, content-addressed (wharf_apt::objects)
//!   public/PREFIX/      published trees that `wharf server` serves at /apt/PREFIX/
//!   storage-cache/      with S3 storage: the trees as built before upload (rebuildable)
//!   keys/signing.asc    the generated repository signing key
//!   apt.lock            the writer lock of repository changes
//! ```

use std::fs::File;
use std::path::{Path, PathBuf};

use crate::error::{Context as _, Result};

/// Where everything in a data directory is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataLayout {
    root: PathBuf,
}

impl DataLayout {
    #[must_use]
    pub fn new(root: impl Into<PathBuf>) -> DataLayout {
        DataLayout { root: root.into() }
    }

    /// The data directory itself.
    #[must_use]
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The default SQLite store.
    #[must_use]
    pub fn database(&self) -> PathBuf {
        self.root.join("wharf.db")
    }

    /// Content-addressed package files.
    #[must_use]
    pub fn objects(&self) -> PathBuf {
        self.root.join("objects")
    }

    /// Per-package file lists for `Contents` indices, by SHA-256 (`wharf_apt::contents`).
    #[must_use]
    pub fn contents(&self) -> PathBuf {
        self.root.join("contents")
    }

    /// Every published tree, one directory per prefix.
    #[must_use]
    pub fn public(&self) -> PathBuf {
        self.root.join("public")
    }

    /// The published tree of `prefix` (a checked name).
    #[must_use]
    pub fn public_tree(&self, prefix: &str) -> PathBuf {
        self.public().join(prefix)
    }

    /// With S3 storage: where the tree of `prefix` is built before it is uploaded.
    #[must_use]
    pub fn staging_tree(&self, prefix: &str) -> PathBuf {
        self.root.join("storage-cache").join("public").join(prefix)
    }

    /// Where `mirror update` keeps the files it is downloading for mirror `name` until
    /// they are verified and stored (partial ones are resumed from here).
    #[must_use]
    pub fn mirror_downloads(&self, name: &str) -> PathBuf {
        self.root.join("mirror-downloads").join(name)
    }

    /// The signing key Wharf generates when `[apt] signing_key` names none.
    #[must_use]
    pub fn generated_key(&self) -> PathBuf {
        self.root.join("keys").join("signing.asc")
    }

    /// Create the data directory if it does not exist.
    pub fn create(&self) -> Result<()> {
        std::fs::create_dir_all(&self.root)
            .or_internal(|| format!("cannot create data directory {}", self.root.display()))
    }

    /// Take the writer lock of repository changes, waiting (off the async threads) for
    /// another writer — another process or task — to finish: two writers queue instead
    /// of failing. Released when the returned guard is dropped.
    pub async fn lock_writer(&self) -> Result<WriterLock> {
        self.create()?;
        let path = self.root.join("apt.lock");
        let file = open_lock_file(&path)?;
        let locked = tokio::task::spawn_blocking(move || file.lock().map(|()| file))
            .await
            .or_internal(|| "the lock task failed".to_owned())?;
        let file = locked.or_internal(|| format!("cannot lock {}", path.display()))?;
        Ok(WriterLock { _file: file })
    }
}

/// Open (creating, never truncating) the file at `path` that a lock is taken on.
pub(crate) fn open_lock_file(path: &Path) -> Result<File> {
    std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)
        .or_internal(|| format!("cannot open lock file {}", path.display()))
}

/// The held writer lock (see [`DataLayout::lock_writer`]).
#[derive(Debug)]
pub struct WriterLock {
    _file: File,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_every_place_under_the_root() {
        let layout = DataLayout::new("/var/lib/wharf");
        let check = |path: PathBuf, expected: &str| assert_eq!(path, Path::new(expected));
        check(layout.database(), "/var/lib/wharf/wharf.db");
        check(layout.objects(), "/var/lib/wharf/objects");
        check(layout.public_tree("tools"), "/var/lib/wharf/public/tools");
        check(layout.staging_tree("tools"), "/var/lib/wharf/storage-cache/public/tools");
        check(layout.generated_key(), "/var/lib/wharf/keys/signing.asc");
        check(layout.mirror_downloads("up"), "/var/lib/wharf/mirror-downloads/up");
    }

    #[tokio::test]
    async fn the_writer_lock_is_exclusive_until_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let layout = DataLayout::new(dir.path().join("data"));
        let held = layout.lock_writer().await.unwrap();
        let probe = File::options().write(true).open(dir.path().join("data/apt.lock")).unwrap();
        assert!(probe.try_lock().is_err(), "a second writer must wait");
        drop(held);
        assert!(probe.try_lock().is_ok());
    }
}
