-- API tokens (issue 11): who may call the HTTP API, and as what. Only the SHA-256 of a
-- token is kept; the token itself is shown once, when it is created.

CREATE TABLE api_token (
    name        TEXT PRIMARY KEY NOT NULL,
    -- viewer, publisher, deployer, admin
    role        TEXT NOT NULL,
    -- true: an automated identity (CI, timers): change-lock windows apply to it.
    automated   BOOLEAN NOT NULL,
    -- Lowercase hex SHA-256 of the token.
    hash        TEXT NOT NULL UNIQUE,
    created_at  TEXT NOT NULL,
    created_by  TEXT NOT NULL,
    -- RFC 3339; NULL: never expires.
    expires_at  TEXT,
    -- RFC 3339; NULL: not revoked.
    revoked_at  TEXT
);
