//! Small published files kept in memory, so a request for `InRelease`, a `Packages` file
//! or a small pool file costs a hash lookup and (for tree files) one `stat`, not a
//! blocking-pool hop with a path walk, an open and a read.
//!
//! Correctness first: a tree file's entry is only used when the path, stat'ed at the
//! request (following symlinks, as an open would), names the very file the entry was
//! read from — same device, inode, size and modification time in nanoseconds, the same
//! identity the file's `ETag` is made of. A publish replaces every file it changes by
//! rename, so the first request after a publish finished sees the new inode and reads the
//! new file: a client never gets a stale `InRelease`, and `InRelease` and the indices it
//! names are each as current as the filesystem (exactly as without the cache). The entry
//! was read from a file whose canonical path was checked to be inside `DATA/public`, so a
//! hit can only give out what the slow path already allowed.
//!
//! Pool objects are content-addressed: an entry keyed by SHA-256 never goes stale (which
//! SHA-256 a pool path names is asked of the tree's current pool list each time).
//!
//! Memory is bounded ([`BUDGET`], entries counted with their overhead); past it, arbitrary
//! entries are dropped. Only files of at most `files::SMALL_FILE` bytes are kept.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::SystemTime;

/// The most bytes the cache holds: content plus [`ENTRY_OVERHEAD`] per entry, so many
/// tiny files cannot grow it without bound either.
const BUDGET: usize = 64 << 20;
/// What an entry costs beside its content (its key, the map slot, the `Arc`), roughly.
const ENTRY_OVERHEAD: usize = 256;

/// What identifies one version of a file on disk: a rename onto the path changes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct FileIdentity {
    dev: u64,
    pub(crate) ino: u64,
    len: u64,
    mtime_ns: i128,
}

impl FileIdentity {
    pub(crate) fn of(metadata: &std::fs::Metadata) -> FileIdentity {
        use std::os::unix::fs::MetadataExt as _;
        FileIdentity {
            dev: metadata.dev(),
            ino: metadata.ino(),
            len: metadata.len(),
            mtime_ns: i128::from(metadata.mtime()) * 1_000_000_000
                + i128::from(metadata.mtime_nsec()),
        }
    }
}

/// The content of a file (or an object) as it was read, with its modification time.
#[derive(Debug)]
pub(crate) struct Cached {
    pub(crate) content: bytes::Bytes,
    pub(crate) modified: SystemTime,
    /// For tree files: the version read. `None` for objects (they never change).
    pub(crate) identity: Option<FileIdentity>,
}

impl Cached {
    /// What it counts against [`BUDGET`].
    fn cost(&self) -> usize {
        self.content.len() + ENTRY_OVERHEAD
    }
}

#[derive(Debug, Default)]
pub(crate) struct FileCache {
    entries: RwLock<Entries>,
}

#[derive(Debug, Default)]
struct Entries {
    /// Tree files by the path asked for (`DATA/public/PREFIX/…`, not canonicalized).
    files: HashMap<PathBuf, Arc<Cached>>,
    /// Pool objects by SHA-256.
    objects: HashMap<String, Arc<Cached>>,
    bytes: usize,
}

impl FileCache {
    /// The cached content of the tree file at `path`, if it is still the file on disk.
    /// The `stat` happens on the calling thread: one syscall on a local filesystem, which
    /// is cheaper than the hop to a blocking thread that the slow path needs anyway.
    pub(crate) fn file(&self, path: &Path) -> Option<Arc<Cached>> {
        let cached = self.read().files.get(path)?.clone();
        let now = FileIdentity::of(&std::fs::metadata(path).ok()?);
        fresh(&cached, now).then_some(cached)
    }

    /// Remember the tree file at `path` as read (`cached.identity` says which version).
    pub(crate) fn insert_file(&self, path: PathBuf, cached: Cached) {
        self.write().insert(|entries| &mut entries.files, path, cached);
    }

    /// The cached content of the object `sha256`.
    pub(crate) fn object(&self, sha256: &str) -> Option<Arc<Cached>> {
        self.read().objects.get(sha256).cloned()
    }

    pub(crate) fn insert_object(&self, sha256: String, cached: Cached) {
        self.write().insert(|entries| &mut entries.objects, sha256, cached);
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Entries> {
        self.entries.read().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Entries> {
        self.entries.write().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl Entries {
    fn insert<K: Eq + std::hash::Hash>(
        &mut self,
        map: fn(&mut Entries) -> &mut HashMap<K, Arc<Cached>>,
        key: K,
        cached: Cached,
    ) {
        let n_bytes = cached.cost();
        self.make_room(n_bytes);
        self.bytes += n_bytes;
        if let Some(old) = map(self).insert(key, Arc::new(cached)) {
            self.bytes -= old.cost();
        }
    }

    /// Drop entries until `n_bytes` more fit in [`BUDGET`].
    fn make_room(&mut self, n_bytes: usize) {
        while self.bytes + n_bytes > BUDGET {
            let dropped = if let Some(path) = self.files.keys().next().cloned() {
                self.files.remove(&path)
            } else if let Some(sha) = self.objects.keys().next().cloned() {
                self.objects.remove(&sha)
            } else {
                return;
            };
            self.bytes -= dropped.map_or(0, |d| d.cost());
        }
    }
}

/// Whether an entry still describes the file that is on disk now.
fn fresh(cached: &Cached, now: FileIdentity) -> bool {
    cached.identity == Some(now)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn identity(dev: u64, ino: u64, len: u64, mtime_ns: i128) -> FileIdentity {
        FileIdentity { dev, ino, len, mtime_ns }
    }

    #[test]
    fn an_entry_is_fresh_only_for_the_same_file_version() {
        let read = identity(1, 100, 700, 1_700_000_000_123_456_789);
        let cached = Cached {
            content: bytes::Bytes::new(),
            modified: SystemTime::UNIX_EPOCH,
            identity: Some(read),
        };
        let check = |now: FileIdentity, expected: bool| {
            assert_eq!(fresh(&cached, now), expected, "{now:?}");
        };
        check(read, true);
        // A publish renamed a new file onto the path.
        check(identity(1, 101, 700, 1_700_000_000_123_456_789), false);
        // Rewritten in place within the same second: the nanoseconds differ.
        check(identity(1, 100, 700, 1_700_000_000_123_456_790), false);
        check(identity(1, 100, 701, 1_700_000_000_123_456_789), false);
        // The same inode number on another filesystem.
        check(identity(2, 100, 700, 1_700_000_000_123_456_789), false);
        let object = Cached { identity: None, ..cached };
        assert!(!fresh(&object, read), "objects are not tree files");
    }

    #[test]
    fn a_replaced_file_is_read_again() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("InRelease");
        std::fs::write(&path, "old").unwrap();
        let cache = FileCache::default();
        let metadata = std::fs::metadata(&path).unwrap();
        cache.insert_file(
            path.clone(),
            Cached {
                content: "old".into(),
                modified: metadata.modified().unwrap(),
                identity: Some(FileIdentity::of(&metadata)),
            },
        );
        assert_eq!(cache.file(&path).unwrap().content, "old");
        // As a publish does: a new file renamed over the old one.
        let new = dir.path().join(".InRelease.tmp");
        std::fs::write(&new, "new").unwrap();
        std::fs::rename(&new, &path).unwrap();
        assert!(cache.file(&path).is_none(), "a replaced file must not be served from memory");
        std::fs::remove_file(&path).unwrap();
        assert!(cache.file(&path).is_none());
    }

    #[test]
    fn memory_stays_within_the_budget() {
        let cache = FileCache::default();
        let chunk = bytes::Bytes::from(vec![0u8; 1 << 20]);
        for idx in 0..100 {
            cache.insert_object(
                format!("{idx:064x}"),
                Cached { content: chunk.clone(), modified: SystemTime::UNIX_EPOCH, identity: None },
            );
        }
        let entries = cache.read();
        assert!(entries.bytes <= BUDGET, "{} bytes", entries.bytes);
        assert_eq!(entries.bytes, entries.objects.len() * ((1 << 20) + ENTRY_OVERHEAD));
        drop(entries);
        // Empty files cost their entry: they cannot pile up without bound.
        for idx in 0..(BUDGET / ENTRY_OVERHEAD + 10) {
            cache.insert_file(
                PathBuf::from(format!("/public/t/{idx}")),
                Cached {
                    content: bytes::Bytes::new(),
                    modified: SystemTime::UNIX_EPOCH,
                    identity: None,
                },
            );
        }
        assert!(cache.read().bytes <= BUDGET);
    }
}
