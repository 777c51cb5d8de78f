//! The records the store keeps about repositories, snapshots and publishes, typed.
//!
//! They are stored as JSON text (`apt_collection.body`, `apt_publish.body`); the field
//! names are the stored format, so renaming one needs a migration. A body that does not
//! parse is reported as [`crate::StoreError::Corrupt`] naming the collection or prefix.

use serde::{Deserialize, Serialize};

use crate::AptKind;

/// A repository's settings (the body of a repository or snapshot).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RepoSettings {
    pub distribution: String,
    pub components: Vec<String>,
    pub architectures: Vec<String>,
    pub comment: Option<String>,
    /// Snapshots remember the repository (or mirror) they were taken from.
    #[serde(default)]
    pub from: Option<String>,
    /// Where `wharf publish` puts the repository when no `--prefix` is given (declared
    /// in `[[repositories]]`); `None`: its name. Absent from records written before.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefix: Option<String>,
    /// Publish `Contents-ARCH.gz` indices (for `apt-file`). Repositories created before
    /// Wharf had them get them too.
    #[serde(default = "contents_default")]
    pub contents: bool,
    /// A mirror's remote and what its last update saw; `None` for others.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mirror: Option<MirrorSource>,
    /// On a repository: its snapshot policy (`[[repositories]]` `snapshot`), `None`:
    /// none. On a snapshot: the policy that made it (`None`: made by hand).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub snapshot: Option<SnapshotPolicy>,
}

/// A snapshot policy: every publish of the repository also takes a snapshot named by
/// `name`, and those it made beyond the newest `keep` are dropped (unless published).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SnapshotPolicy {
    /// The name template: `{repo}`, `{date}` (UTC, `YYYYMMDD`), `{n}`.
    pub name: String,
    pub keep: u32,
    /// On a snapshot the policy made: the repository's generation it froze.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generation: Option<i64>,
}

fn contents_default() -> bool {
    true
}

/// Where a mirror fetches from and how it checks what it fetches.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MirrorSource {
    /// The remote repository's root, e.g. `http://deb.example.org/debian`.
    pub url: String,
    /// aptly package queries selecting what is mirrored (any matching); empty: all.
    #[serde(default)]
    pub filter: Vec<String>,
    /// Follow the dependencies of what the filter selects (within the remote).
    #[serde(default)]
    pub filter_with_deps: bool,
    /// The OpenPGP public keys the remote's `InRelease` must be signed with, armored.
    #[serde(default)]
    pub keyring: Option<String>,
    /// Accept an unsigned or unverifiable remote (unsafe; chosen at create time).
    #[serde(default)]
    pub ignore_signatures: bool,
    /// The `Date` of the remote `Release` the last update used: an older one is refused.
    #[serde(default)]
    pub release_date: Option<String>,
    /// When the last update committed (RFC 3339).
    #[serde(default)]
    pub updated_at: Option<String>,
    /// `PATH SHA256` of every index the last committed update read (as its `Release`
    /// listed them): the same list again means nothing changed upstream.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub indices: Vec<String>,
    /// Mirror source packages too (`Sources`, `.dsc` and the files it lists).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub with_sources: bool,
}

/// What the store remembers about a publish.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublishRecord {
    /// Stored as `"repo"` or `"snapshot"`.
    pub kind: AptKind,
    /// The repository or snapshot published.
    pub source: String,
    pub distribution: String,
    /// The source's generation when it was published.
    pub generation: i64,
    pub settings: RepoSettings,
    /// What the `Release` said and who signed it: a change of `[apt]` settings or key
    /// means publishing again even when the packages did not change.
    #[serde(default)]
    pub release: ReleaseRecord,
}

/// The `[apt]` settings a publish used.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReleaseRecord {
    pub origin: String,
    pub label: String,
    /// Fingerprint of the signing key.
    pub key: String,
}

/// JSON text of a record. These types hold only strings, numbers and lists, which
/// always serialize.
pub(crate) fn encode<T: Serialize>(record: &T) -> String {
    serde_json::to_string(record).expect("APT records always serialize")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Bodies written by the binary before the records moved here still read, and are
    /// written back the same way.
    #[test]
    fn stored_format_is_unchanged() {
        let old = r#"{"kind":"snapshot","source":"s1","distribution":"stable","generation":3,
            "settings":{"distribution":"stable","components":["main"],"architectures":["amd64"],
            "comment":null}}"#;
        let record: PublishRecord = serde_json::from_str(old).unwrap();
        assert_eq!(record.kind, AptKind::Snapshot);
        assert_eq!(record.settings.from, None);
        assert_eq!(record.release, ReleaseRecord::default());
        let written: serde_json::Value = serde_json::from_str(&encode(&record)).unwrap();
        assert_eq!(written["kind"], "snapshot");
        assert_eq!(written["settings"]["comment"], serde_json::Value::Null);
        assert_eq!(written["release"]["key"], "");
        let repo: PublishRecord =
            serde_json::from_str(&encode(&PublishRecord { kind: AptKind::Repo, ..record }))
                .unwrap();
        assert_eq!(repo.kind, AptKind::Repo);
        assert!(serde_json::from_str::<PublishRecord>(r#"{"kind":"tree"}"#).is_err());
    }
}
