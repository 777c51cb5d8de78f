-- Deploys (issue 10): one row per deploy, its record written as it goes; each node's
-- result per stage (so a resumed deploy never re-runs a node that finished); and the
-- events a notifier announces.

CREATE TABLE deploy (
    id          BIGSERIAL PRIMARY KEY,
    environment TEXT NOT NULL,
    -- planned, running, waiting, succeeded, failed, interrupted, cancelled, refused
    state       TEXT NOT NULL,
    started_at  TEXT NOT NULL,
    finished_at TEXT,
    -- JSON: the typed DeployRecord (packages, stages, overrides, warnings, …).
    body        TEXT NOT NULL
);
CREATE INDEX deploy_environment ON deploy (environment, id);

CREATE TABLE deploy_node (
    deploy_id   BIGINT NOT NULL REFERENCES deploy (id),
    stage       BIGINT NOT NULL,
    node        TEXT NOT NULL,
    -- running, succeeded, failed, skipped
    state       TEXT NOT NULL,
    exit_code   BIGINT,
    output_tail TEXT NOT NULL,
    started_at  TEXT NOT NULL,
    finished_at TEXT,
    PRIMARY KEY (deploy_id, stage, node)
);

CREATE TABLE deploy_event (
    id        BIGSERIAL PRIMARY KEY,
    deploy_id BIGINT NOT NULL REFERENCES deploy (id),
    at        TEXT NOT NULL,
    kind      TEXT NOT NULL,
    body      TEXT NOT NULL
);
CREATE INDEX deploy_event_deploy ON deploy_event (deploy_id, id);
