//! `wharf-deploy`: the deployment engine — how a version rolls through an environment's
//! pipeline under guard rails (prepare checks, promotion gates, change-lock windows,
//! locks, holds, downgrades, rollbacks).
//!
//! Goals:
//! - Every decision is a pure function with the clock passed in: which windows are open,
//!   which stages a deploy runs on which nodes in which batches, whether a gate lets a
//!   version through, where a rollback goes. Tested table-style, DST nights included.
//! - Effects (remote steps, store writes) live in the application layer (`wharf-app`),
//!   which calls these decisions and records their outcomes.
//!
//! Non-goals: I/O of any kind here; scheduling (the server's scheduler starts deploys).
//!
//! Tour:
//! - [`command`]: every remote step as a shell command. `[commands]` templates (checked at
//!   load by [`wharf_core::template`], resolved per environment by
//!   [`wharf_core::config::Config::commands_for`]) are expanded by [`command::expand`] (or [`command::expand_step`]) with
//!   typed values — [`command::PackageName`], [`wharf_core::version::Version`],
//!   [`command::UnitName`], [`command::NodeName`], [`command::Reason`] — each validated
//!   first and then single-quoted by [`command::shell_quote`]. The result, a
//!   [`command::ShellCommand`], is what the fleet engine runs with `sh -c`.
//!
//! Windows, pipelines and plans arrive with the rest of the deployment issue.

pub mod command;
