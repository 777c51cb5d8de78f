//! `wharf backup` and `wharf restore` reports.

use serde::{Deserialize, Serialize};

/// `wharf backup DEST`: what was written.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BackupReport {
    /// The backup directory.
    pub path: String,
    /// Files listed in its manifest (the store included; the manifest itself not).
    pub files: usize,
    /// Their total size in bytes.
    pub bytes: u64,
    /// When the store was snapshotted (RFC 3339, UTC): the instant the backup is of.
    pub created_at: String,
    /// With S3 storage: the bucket that holds the package files, which are not copied
    /// (the bucket, with versioning, is their backup). `null` with local storage.
    pub objects_in_bucket: Option<String>,
}

/// `wharf restore SRC`: what was restored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RestoreReport {
    /// The data directory restored into.
    pub data: String,
    /// Files restored, every one checked against the manifest.
    pub files: usize,
    /// Their total size in bytes.
    pub bytes: u64,
    /// When the backup was taken (RFC 3339, UTC).
    pub created_at: String,
    /// With `--force` on an occupied data directory: where its previous contents were
    /// moved (`DATA.replaced-UNIXTIME`, never deleted). `null` otherwise.
    pub set_aside: Option<String>,
}
