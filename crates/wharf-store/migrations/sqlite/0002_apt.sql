-- APT repositories (issue 3). Package files live in the content-addressed object store
-- under their SHA-256; these tables hold what Wharf knows about them.

-- One row per distinct .deb content. Immutable once written.
CREATE TABLE apt_package (
    sha256       TEXT PRIMARY KEY NOT NULL,
    name         TEXT NOT NULL,
    version      TEXT NOT NULL,
    architecture TEXT NOT NULL,
    size         INTEGER NOT NULL,
    md5          TEXT NOT NULL,
    sha1         TEXT NOT NULL,
    -- The control stanza without Filename/Size/checksums, rendered in dpkg's order.
    control      TEXT NOT NULL,
    added_at     TEXT NOT NULL
) STRICT;

-- Repositories (kind 'repo') and snapshots (kind 'snapshot'). `body` is JSON settings
-- (distribution, components, architectures, comment, origin); `generation` grows by one
-- with every change of membership, so a publish can tell "nothing changed" cheaply.
CREATE TABLE apt_collection (
    kind       TEXT NOT NULL,
    name       TEXT NOT NULL,
    body       TEXT NOT NULL,
    generation INTEGER NOT NULL,
    created_at TEXT NOT NULL,
    PRIMARY KEY (kind, name)
) STRICT;

CREATE TABLE apt_member (
    kind       TEXT NOT NULL,
    collection TEXT NOT NULL,
    sha256     TEXT NOT NULL REFERENCES apt_package (sha256),
    component  TEXT NOT NULL,
    PRIMARY KEY (kind, collection, sha256),
    FOREIGN KEY (kind, collection) REFERENCES apt_collection (kind, name) ON DELETE CASCADE
) STRICT;

-- Published trees by prefix; `body` is JSON (source, distribution, index digests).
CREATE TABLE apt_publish (
    prefix       TEXT PRIMARY KEY NOT NULL,
    body         TEXT NOT NULL,
    published_at TEXT NOT NULL
) STRICT;
