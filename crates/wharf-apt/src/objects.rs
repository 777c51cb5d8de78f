//! Content-addressed package storage on the local filesystem: `ROOT/sha256/ab/<sha256>`.
//! Objects are written durably (temporary file, fsync, rename, fsync directory) *before*
//! any metadata refers to them, and never change afterwards.

use std::io;
use std::path::{Path, PathBuf};

/// The object directory.
#[derive(Debug, Clone)]
pub struct Objects {
    root: PathBuf,
}

impl Objects {
    #[must_use]
    pub fn new(root: PathBuf) -> Objects {
        Objects { root }
    }

    /// Where the object with this SHA-256 (lower-case hex) lives.
    #[must_use]
    pub fn path(&self, sha256: &str) -> PathBuf {
        self.root.join("sha256").join(&sha256[..2]).join(sha256)
    }

    /// Store `bytes` under `sha256` unless present; durable when this returns.
    pub fn put(&self, sha256: &str, bytes: &[u8]) -> io::Result<()> {
        let path = self.path(sha256);
        let dir = path.parent().unwrap_or(Path::new("."));
        if !dir.exists() {
            std::fs::create_dir_all(dir)?;
            if let Some(parent) = dir.parent() {
                crate::fsutil::sync_dir(parent)?;
            }
        }
        crate::fsutil::write_new(&path, bytes)?;
        Ok(())
    }

    /// Read an object back.
    pub fn get(&self, sha256: &str) -> io::Result<Vec<u8>> {
        std::fs::read(self.path(sha256))
    }
}
