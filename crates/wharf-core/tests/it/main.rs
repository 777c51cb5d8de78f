//! Integration tests for `wharf-core`, one binary with a module per area.

mod nodeset_clustershell;
mod version_dpkg;
