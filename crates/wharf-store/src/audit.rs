//! The audit log's types and its hash chain. Pure: no I/O, no SQL.
//!
//! Every entry's `hash` is the hex SHA-256 of a canonical encoding of its fields plus the
//! previous entry's hash, so changing, inserting or removing a row breaks the chain from
//! that row on. The backends store exactly the strings hashed here (`details` as canonical
//! JSON text), so verification re-hashes stored bytes and never depends on how a database
//! normalises JSON.
//!
//! [`ChainVerifier`] walks entries in id order and reports the first break; both backends
//! feed it the rows they read, so the rules live in one place.

use std::fmt::Write as _;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// `prev_hash` of the first entry: 64 zeros.
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// Domain-separation prefix of the hashed encoding; bump the version if the encoding changes.
const HASH_DOMAIN: &str = "wharf-audit-v1\n";

/// An audit entry as the caller describes it; the store adds id, time and hashes.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NewAuditEntry {
    /// Who did it: a user name, a token name, `scheduler`, …
    pub actor: String,
    /// What was done, dotted: `deploy.start`, `config.check`, `note`.
    pub action: String,
    /// What it was done to: an environment, a package, a node set; may be empty.
    pub target: String,
    /// The typed reason of an override or a manual action.
    pub reason: Option<String>,
    /// Anything else, as JSON. Stored canonically (object keys sorted).
    pub details: serde_json::Value,
}

impl NewAuditEntry {
    /// An entry without a reason and with empty details (`{}`); add them with
    /// [`NewAuditEntry::reason`] and [`NewAuditEntry::details`]:
    ///
    /// ```
    /// # use wharf_store::NewAuditEntry;
    /// let entry = NewAuditEntry::new("alice", "repo.drop", "tools")
    ///     .reason("replaced by tools2")
    ///     .details(serde_json::json!({ "forced": false }));
    /// assert_eq!(entry.reason.as_deref(), Some("replaced by tools2"));
    /// ```
    pub fn new(
        actor: impl Into<String>,
        action: impl Into<String>,
        target: impl Into<String>,
    ) -> Self {
        NewAuditEntry {
            actor: actor.into(),
            action: action.into(),
            target: target.into(),
            reason: None,
            details: serde_json::Value::Object(serde_json::Map::new()),
        }
    }

    /// Sets the typed reason of an override or a manual action.
    #[must_use]
    pub fn reason(mut self, reason: impl Into<String>) -> Self {
        self.reason = Some(reason.into());
        self
    }

    /// Sets the details (any JSON; stored canonically).
    #[must_use]
    pub fn details(mut self, details: serde_json::Value) -> Self {
        self.details = details;
        self
    }
}

/// A stored audit entry.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AuditEntry {
    /// 1, 2, 3, … in append order, without gaps.
    pub id: i64,
    /// UTC time of the append, RFC 3339 with milliseconds: `2026-11-25T12:54:59.123Z`.
    pub at: String,
    pub actor: String,
    pub action: String,
    pub target: String,
    pub reason: Option<String>,
    pub details: serde_json::Value,
    /// `hash` of the entry before, or [`GENESIS_HASH`] for id 1.
    pub prev_hash: String,
    /// Hex SHA-256 of this entry's canonical encoding (see [`entry_hash`]).
    pub hash: String,
}

/// Filters for listing the audit log. All `None` lists everything, oldest first.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditQuery {
    /// Keep entries whose action starts with this string (`deploy.` or `deploy.start`).
    pub action_prefix: Option<String>,
    /// Keep entries with exactly this target.
    pub target: Option<String>,
    /// At most this many entries: the oldest matching ones after `after_id`, or the newest
    /// when `newest` is set. Either way they come back in id order.
    pub limit: Option<u32>,
    /// With `limit`: keep the newest matching entries instead of the oldest.
    #[serde(default)]
    pub newest: bool,
    /// Keep entries with an id greater than this: paging.
    pub after_id: Option<i64>,
    /// Keep entries by exactly this actor (a token name, chat user or `schedule:NAME`).
    pub actor: Option<String>,
    /// Keep entries at or after this instant, in the stored format (`2026-11-25T12:54:59.123Z`).
    pub since: Option<String>,
    /// Keep entries before this instant, in the stored format.
    pub until: Option<String>,
}

/// The result of re-checking the whole chain. A broken chain is an outcome, not an error.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditVerification {
    /// True when every entry checked out and the recorded head matches the last entry.
    pub ok: bool,
    /// How many entries were read.
    pub n_entries: u64,
    /// Id and hash of the last entry read.
    pub last_id: Option<i64>,
    pub last_hash: Option<String>,
    /// The first problem found, if any.
    pub first_break: Option<AuditBreak>,
}

/// Where and why the chain is broken.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditBreak {
    /// The id of the first entry that does not check out.
    pub id: i64,
    pub kind: AuditBreakKind,
    /// A sentence for humans: expected vs found.
    pub message: String,
}

/// The kinds of chain breaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuditBreakKind {
    /// The stored hash is not the hash of the stored fields: the row was edited.
    HashMismatch,
    /// `prev_hash` is not the previous entry's hash: a row was replaced or re-chained.
    PrevHashMismatch,
    /// Ids are not 1, 2, 3, …: a row was deleted or inserted.
    IdGap,
    /// The head recorded at the last append is not the last entry: the tail was cut off
    /// or rows were appended behind the store's back.
    HeadMismatch,
}

/// The stored form of one entry: what backends read and write. `details` is JSON text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct AuditRow {
    pub(crate) id: i64,
    pub(crate) at: String,
    pub(crate) actor: String,
    pub(crate) action: String,
    pub(crate) target: String,
    pub(crate) reason: Option<String>,
    pub(crate) details: String,
    pub(crate) prev_hash: String,
    pub(crate) hash: String,
}

/// An [`AuditRow`] as a database row tuple, column order as in the tables.
pub(crate) type AuditTuple =
    (i64, String, String, String, String, Option<String>, String, String, String);

impl From<AuditTuple> for AuditRow {
    fn from(row: AuditTuple) -> Self {
        let (id, at, actor, action, target, reason, details, prev_hash, hash) = row;
        AuditRow { id, at, actor, action, target, reason, details, prev_hash, hash }
    }
}

impl AuditRow {
    /// Builds the next row of the chain after `prev` (`None`: the log is empty).
    pub(crate) fn next(prev: Option<(i64, String)>, at: String, new: &NewAuditEntry) -> Self {
        let (id, prev_hash) = match prev {
            Some((prev_id, prev_hash)) => (prev_id + 1, prev_hash),
            None => (1, GENESIS_HASH.to_owned()),
        };
        let details = canonical_json(&new.details);
        let hash = entry_hash(
            id,
            &at,
            &new.actor,
            &new.action,
            &new.target,
            new.reason.as_deref(),
            &details,
            &prev_hash,
        );
        AuditRow {
            id,
            at,
            actor: new.actor.clone(),
            action: new.action.clone(),
            target: new.target.clone(),
            reason: new.reason.clone(),
            details,
            prev_hash,
            hash,
        }
    }

    /// The stored entry this row records for `new` (what it was built from), without
    /// parsing `details` back.
    pub(crate) fn entry_of(self, new: &NewAuditEntry) -> AuditEntry {
        AuditEntry {
            id: self.id,
            at: self.at,
            actor: self.actor,
            action: self.action,
            target: self.target,
            reason: self.reason,
            details: new.details.clone(),
            prev_hash: self.prev_hash,
            hash: self.hash,
        }
    }

    /// Parses `details`; `Err` carries the parse error's message.
    pub(crate) fn into_entry(self) -> Result<AuditEntry, String> {
        let details = serde_json::from_str(&self.details).map_err(|err| err.to_string())?;
        Ok(AuditEntry {
            id: self.id,
            at: self.at,
            actor: self.actor,
            action: self.action,
            target: self.target,
            reason: self.reason,
            details,
            prev_hash: self.prev_hash,
            hash: self.hash,
        })
    }

    fn recompute_hash(&self) -> String {
        entry_hash(
            self.id,
            &self.at,
            &self.actor,
            &self.action,
            &self.target,
            self.reason.as_deref(),
            &self.details,
            &self.prev_hash,
        )
    }
}

/// The `audit.head` meta value written with every append: `<id>:<hash>`.
pub(crate) fn head_value(row: &AuditRow) -> String {
    format!("{}:{}", row.id, row.hash)
}

/// Meta key holding [`head_value`] of the last appended entry.
pub(crate) const HEAD_META_KEY: &str = "audit.head";

/// Hex SHA-256 over `HASH_DOMAIN` followed by the JSON array
/// `[id, at, actor, action, target, reason|null, <details JSON text>, prev_hash]`,
/// written compactly; `details_json` is inserted verbatim (it is already canonical).
#[expect(
    clippy::too_many_arguments,
    reason = "one argument per hashed field keeps the encoding visible"
)]
pub fn entry_hash(
    id: i64,
    at: &str,
    actor: &str,
    action: &str,
    target: &str,
    reason: Option<&str>,
    details_json: &str,
    prev_hash: &str,
) -> String {
    let json_str = |s: &str| serde_json::Value::String(s.to_owned()).to_string();
    let reason = reason.map_or_else(|| "null".to_owned(), json_str);
    let encoded = format!(
        "{HASH_DOMAIN}[{id},{},{},{},{},{reason},{details_json},{}]",
        json_str(at),
        json_str(actor),
        json_str(action),
        json_str(target),
        json_str(prev_hash),
    );
    let digest = Sha256::digest(encoded.as_bytes());
    let mut hex = String::with_capacity(64);
    for byte in digest {
        let _ = write!(hex, "{byte:02x}");
    }
    hex
}

/// Compact JSON with object keys sorted, whatever serde_json's map order is.
pub fn canonical_json(value: &serde_json::Value) -> String {
    let mut out = String::new();
    write_canonical(value, &mut out);
    out
}

fn write_canonical(value: &serde_json::Value, out: &mut String) {
    use serde_json::Value;
    match value {
        Value::Array(items) => {
            out.push('[');
            for (idx, item) in items.iter().enumerate() {
                if idx > 0 {
                    out.push(',');
                }
                write_canonical(item, out);
            }
            out.push(']');
        }
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push('{');
            for (idx, key) in keys.into_iter().enumerate() {
                if idx > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(key.clone()).to_string());
                out.push(':');
                write_canonical(&map[key], out);
            }
            out.push('}');
        }
        scalar => out.push_str(&scalar.to_string()),
    }
}

/// Walks rows in id order and remembers the first break.
#[derive(Debug, Default)]
pub(crate) struct ChainVerifier {
    n_entries: u64,
    last: Option<(i64, String)>,
    first_break: Option<AuditBreak>,
}

impl ChainVerifier {
    /// Checks one row; returns false once a break was found (the caller may stop reading).
    pub(crate) fn push(&mut self, row: &AuditRow) -> bool {
        if self.first_break.is_some() {
            return false;
        }
        self.n_entries += 1;
        let (expected_id, expected_prev) = match &self.last {
            Some((id, hash)) => (id + 1, hash.as_str()),
            None => (1, GENESIS_HASH),
        };
        let found = if row.id != expected_id {
            Some((AuditBreakKind::IdGap, format!("expected id {expected_id}, found id {}", row.id)))
        } else if row.prev_hash != expected_prev {
            Some((
                AuditBreakKind::PrevHashMismatch,
                format!(
                    "prev_hash is {}, but the entry before has hash {expected_prev}",
                    row.prev_hash
                ),
            ))
        } else {
            let recomputed = row.recompute_hash();
            (recomputed != row.hash).then(|| {
                (
                    AuditBreakKind::HashMismatch,
                    format!("stored hash {} differs from recomputed {recomputed}", row.hash),
                )
            })
        };
        if let Some((kind, message)) = found {
            self.first_break = Some(AuditBreak { id: row.id, kind, message });
            return false;
        }
        self.last = Some((row.id, row.hash.clone()));
        true
    }

    /// Read the next page after this id: the last entry checked, or everything.
    pub(crate) fn resume_after(&self) -> i64 {
        self.last.as_ref().map_or(i64::MIN, |(id, _)| *id)
    }

    /// Finishes the walk, comparing the last entry with the recorded head (`audit.head`).
    pub(crate) fn finish(mut self, recorded_head: Option<&str>) -> AuditVerification {
        if self.first_break.is_none() {
            let actual = self.last.as_ref().map(|(id, hash)| format!("{id}:{hash}"));
            if recorded_head != actual.as_deref() {
                let id = recorded_head
                    .and_then(|head| head.split(':').next())
                    .and_then(|id| id.parse::<i64>().ok())
                    .unwrap_or_else(|| self.last.as_ref().map_or(1, |(id, _)| id + 1));
                self.first_break = Some(AuditBreak {
                    id,
                    kind: AuditBreakKind::HeadMismatch,
                    message: format!(
                        "the last append recorded head {}, but the last entry is {}",
                        recorded_head.unwrap_or("(none)"),
                        actual.as_deref().unwrap_or("(none)"),
                    ),
                });
            }
        }
        AuditVerification {
            ok: self.first_break.is_none(),
            n_entries: self.n_entries,
            last_id: self.last.as_ref().map(|(id, _)| *id),
            last_hash: self.last.map(|(_, hash)| hash),
            first_break: self.first_break,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn new_entry(action: &str) -> NewAuditEntry {
        NewAuditEntry {
            actor: "alice".into(),
            action: action.into(),
            target: "gstg".into(),
            reason: None,
            details: json!({"b": 1, "a": [true, null, "x"]}),
        }
    }

    fn chain(n: i64) -> Vec<AuditRow> {
        let mut rows: Vec<AuditRow> = Vec::new();
        for idx in 0..n {
            let prev = rows.last().map(|row| (row.id, row.hash.clone()));
            rows.push(AuditRow::next(
                prev,
                format!("2026-01-01T00:00:0{idx}.000Z"),
                &new_entry("note"),
            ));
        }
        rows
    }

    fn verify(rows: &[AuditRow]) -> AuditVerification {
        let mut verifier = ChainVerifier::default();
        for row in rows {
            if !verifier.push(row) {
                break;
            }
        }
        let head = rows.last().map(head_value);
        verifier.finish(head.as_deref())
    }

    #[test]
    fn canonical_json_sorts_keys_recursively() {
        let value = json!({"z": {"y": 1, "x": [{"b": 2, "a": 1}]}, "a": "é\"q"});
        assert_eq!(canonical_json(&value), r#"{"a":"é\"q","z":{"x":[{"a":1,"b":2}],"y":1}}"#);
    }

    #[test]
    fn hash_is_stable() {
        // A fixed vector (also computed independently with Python's hashlib): changing the
        // encoding must be a deliberate change with a new HASH_DOMAIN version.
        let at = "2026-01-01T00:00:00.000Z";
        let hash = entry_hash(1, at, "alice", "note", "", None, "{}", GENESIS_HASH);
        assert_eq!(hash, "cf1348c4b9fa5953abf3d90c9b6a7f8ac34be9b7e3cc7b4a210ea3436e6340e9");
        let with_reason = entry_hash(1, at, "alice", "note", "", Some(""), "{}", GENESIS_HASH);
        assert_ne!(hash, with_reason, "an empty reason is not a missing one");
    }

    #[test]
    fn verifier_accepts_a_good_chain_and_flags_each_break() {
        let rows = chain(4);
        let report = verify(&rows);
        assert!(report.ok, "{report:?}");
        assert_eq!((report.n_entries, report.last_id), (4, Some(4)));
        assert!(verify(&[]).ok);

        let mut edited = rows.clone();
        edited[1].actor = "mallory".into();
        let brk = verify(&edited).first_break.unwrap();
        assert_eq!((brk.id, brk.kind), (2, AuditBreakKind::HashMismatch));

        let mut gap = rows.clone();
        gap.remove(2);
        let brk = verify(&gap).first_break.unwrap();
        assert_eq!((brk.id, brk.kind), (4, AuditBreakKind::IdGap));

        let mut relinked = rows.clone();
        relinked[2].prev_hash = GENESIS_HASH.into();
        let brk = verify(&relinked).first_break.unwrap();
        assert_eq!((brk.id, brk.kind), (3, AuditBreakKind::PrevHashMismatch));

        let mut verifier = ChainVerifier::default();
        for row in &rows[..3] {
            verifier.push(row);
        }
        let brk = verifier.finish(Some(&head_value(&rows[3]))).first_break.unwrap();
        assert_eq!((brk.id, brk.kind), (4, AuditBreakKind::HeadMismatch));
    }
}
