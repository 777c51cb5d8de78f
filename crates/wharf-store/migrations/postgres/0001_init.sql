-- Settings: store creation time, signing key id, the audit chain head, …
CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

-- The tamper-evident audit log. `id` is assigned by the store (last id + 1 under an
-- advisory lock), never by a sequence (sequences leave gaps on rollback). `details` is
-- canonical JSON text, not jsonb: exactly the bytes that were hashed.
CREATE TABLE audit_log (
    id        BIGINT PRIMARY KEY,
    at        TEXT NOT NULL,
    actor     TEXT NOT NULL,
    action    TEXT NOT NULL,
    target    TEXT NOT NULL,
    reason    TEXT,
    details   TEXT NOT NULL,
    prev_hash TEXT NOT NULL,
    hash      TEXT NOT NULL
);

CREATE INDEX audit_log_action ON audit_log (action);
CREATE INDEX audit_log_target ON audit_log (target);
