//! Wharf's domain types and pure logic. Nothing here does I/O (except reading the system tz
//! database when a `[[windows]]` time zone is resolved): callers read files, talk to
//! nodes and persist; this crate decides.
//!
//! - [`version`]: Debian package versions, ordered exactly as `dpkg --compare-versions`.
//! - [`nodeset`]: ClusterShell node-set expressions (`web[01-10]`, `@group`, `a,b!c`).
//! - [`config`]: the `wharf.toml` schema, parsed with errors that name file, line and key.
//! - [`cron`]: five-field cron expressions and their matches in wall-clock time.
//! - [`template`]: `[commands]` templates — placeholders, per-key checks, Debian defaults.
//! - [`inventory`]: the resolved fleet — nodes, groups, labels, environments, services.
//! - [`names`]: repository, distribution, component and architecture names.

pub mod config;
pub mod cron;
pub mod inventory;
pub mod names;
pub mod nodeset;
pub mod template;
pub mod version;
