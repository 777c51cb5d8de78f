-- Guard rails of deployments (issue 10): environment locks, package holds, nodes in
-- maintenance, and the lease that keeps one deploy per environment at a time.

-- One lock per environment; environment '*' is the global lock (`wharf lock --all`).
CREATE TABLE env_lock (
    environment TEXT PRIMARY KEY NOT NULL,
    holder      TEXT NOT NULL,
    reason      TEXT NOT NULL,
    since       TEXT NOT NULL,
    -- RFC 3339; NULL: until unlocked.
    until       TEXT
) STRICT;

-- A package held on an environment: deploys of it there are refused until unheld.
CREATE TABLE package_hold (
    environment TEXT NOT NULL,
    package     TEXT NOT NULL,
    holder      TEXT NOT NULL,
    reason      TEXT NOT NULL,
    since       TEXT NOT NULL,
    PRIMARY KEY (environment, package)
) STRICT;

-- Nodes in maintenance: the built-in `maintenance` check fails for their environments.
CREATE TABLE node_maintenance (
    node   TEXT PRIMARY KEY NOT NULL,
    holder TEXT NOT NULL,
    reason TEXT NOT NULL,
    since  TEXT NOT NULL
) STRICT;

-- The running deploy of an environment. Taken only when absent or expired (its owner
-- stopped renewing it: killed, or its host gone); times are Unix milliseconds.
CREATE TABLE deploy_lease (
    environment TEXT PRIMARY KEY NOT NULL,
    deploy_id   INTEGER NOT NULL,
    owner       TEXT NOT NULL,
    expires_ms  INTEGER NOT NULL
) STRICT;
