-- Notifications (issue 11): what to announce, written in the same transaction as the
-- audit entry (or deploy event) it announces, and how far each destination got.

CREATE TABLE outbox (
    id              BIGSERIAL PRIMARY KEY,
    -- What receivers de-duplicate by: the same on every retry, from any process.
    event_id        TEXT NOT NULL UNIQUE,
    -- The audit action (`deploy.start`, `lock`, …) or the deploy event kind
    -- (`downgrade.announced`, `downgrade.completed`).
    kind            TEXT NOT NULL,
    -- The audit entry's target: an environment, `*`, a node set or a publish prefix.
    environment     TEXT NOT NULL,
    audit_id        BIGINT REFERENCES audit_log (id),
    deploy_event_id BIGINT REFERENCES deploy_event (id),
    deploy_id       BIGINT,
    actor           TEXT,
    reason          TEXT,
    created_at      TEXT NOT NULL,
    -- JSON: the audit entry's details, or the deploy event's body.
    body            TEXT NOT NULL
);

-- One row per `[[notify]]` name: every outbox row up to `done_through` was delivered,
-- left out by its filters, or given up; the lease says which process delivers now.
CREATE TABLE outbox_destination (
    name          TEXT PRIMARY KEY NOT NULL,
    done_through  BIGINT NOT NULL,
    owner         TEXT NOT NULL,
    lease_until_ms BIGINT NOT NULL
);

-- Attempts at one row for one destination.
CREATE TABLE outbox_delivery (
    outbox_id       BIGINT NOT NULL REFERENCES outbox (id),
    destination     TEXT NOT NULL,
    attempts        BIGINT NOT NULL,
    -- Unix ms: not tried again before.
    next_attempt_ms BIGINT NOT NULL,
    delivered_at    TEXT,
    last_error      TEXT,
    PRIMARY KEY (outbox_id, destination)
);
