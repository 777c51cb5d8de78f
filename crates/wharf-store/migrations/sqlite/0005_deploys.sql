-- Deploys (issue 10): one row per deploy, its record written as it goes; each node's
-- result per stage (so a resumed deploy never re-runs a node that finished); and the
-- events a notifier announces.

CREATE TABLE deploy (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    environment TEXT NOT NULL,
    -- planned, running, waiting, succeeded, failed, interrupted, cancelled, refused
    state       TEXT NOT NULL,
    started_at  TEXT NOT NULL,
    finished_at TEXT,
    -- JSON: the typed DeployRecord (packages, stages, overrides, warnings, …).
    body        TEXT NOT NULL
) STRICT;
CREATE INDEX deploy_environment ON deploy (environment, id);

CREATE TABLE deploy_node (
    deploy_id   INTEGER NOT NULL REFERENCES deploy (id),
    stage       INTEGER NOT NULL,
    node        TEXT NOT NULL,
    -- running, succeeded, failed, skipped
    state       TEXT NOT NULL,
    exit_code   INTEGER,
    output_tail TEXT NOT NULL,
    started_at  TEXT NOT NULL,
    finished_at TEXT,
    PRIMARY KEY (deploy_id, stage, node)
) STRICT;

CREATE TABLE deploy_event (
    id        INTEGER PRIMARY KEY AUTOINCREMENT,
    deploy_id INTEGER NOT NULL REFERENCES deploy (id),
    at        TEXT NOT NULL,
    kind      TEXT NOT NULL,
    body      TEXT NOT NULL
) STRICT;
CREATE INDEX deploy_event_deploy ON deploy_event (deploy_id, id);
