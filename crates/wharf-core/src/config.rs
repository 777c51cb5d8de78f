//! The `wharf.toml` schema. (STUB: being written.)
