-- Source packages (issue 14) are packages of architecture 'source': one apt_package row
-- per distinct .dsc (its digests; as control the Sources stanza without Directory, whose
-- Checksums-Sha256 names every file the .dsc lists, each stored as an object). Snapshots,
-- copies, moves and removals handle them like any member. A publish lists a collection's
-- sources apart from its binaries: find them without reading every member.
CREATE INDEX apt_package_architecture ON apt_package (architecture);
