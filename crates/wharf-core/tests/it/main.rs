//! Integration tests for `wharf-core`, one binary with a module per area.

mod version_dpkg;
