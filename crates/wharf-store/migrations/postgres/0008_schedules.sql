-- Schedules (issue 11): each fire time of a schedule is claimed once, so of several
-- servers on one database exactly one runs it; the outcome is kept for `wharf schedules`.
CREATE TABLE schedule_run (
    name        TEXT PRIMARY KEY NOT NULL,
    -- The last fire time claimed, RFC 3339 UTC with milliseconds (text order is time order).
    last_fire   TEXT NOT NULL,
    claimed_by  TEXT NOT NULL,
    -- `running`, `missed`, or how the run ended (`succeeded`, `failed: …`).
    result      TEXT NOT NULL,
    finished_at TEXT
);
