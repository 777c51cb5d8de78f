-- Settings: store creation time, signing key id, the audit chain head, …
CREATE TABLE meta (
    key   TEXT PRIMARY KEY NOT NULL,
    value TEXT NOT NULL
) STRICT;

-- The tamper-evident audit log. `id` is assigned by the store (last id + 1 under the
-- write lock), never by AUTOINCREMENT, so ids are gap-free. `details` is canonical JSON
-- text: exactly the bytes that were hashed.
CREATE TABLE audit_log (
    id        INTEGER PRIMARY KEY NOT NULL,
    at        TEXT NOT NULL,
    actor     TEXT NOT NULL,
    action    TEXT NOT NULL,
    target    TEXT NOT NULL,
    reason    TEXT,
    details   TEXT NOT NULL,
    prev_hash TEXT NOT NULL,
    hash      TEXT NOT NULL
) STRICT;

CREATE INDEX audit_log_action ON audit_log (action);
CREATE INDEX audit_log_target ON audit_log (target);
