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
//! - [`window`]: change-lock windows. A [`window::Window`] comes from a `[[windows]]`
//!   entry (cron `start` + `end`, cron `start` + `duration`, or dated `from` + `until`, each
//!   in its own IANA time zone); [`window::Window::is_open`] and
//!   [`window::Window::opening`] answer "open now?" and "when next?" for `wharf windows`,
//!   and [`window::open_windows`] lists the windows that refuse a given deploy. Cron
//!   times are wall-clock times, daylight saving included: a time skipped by a gap fires
//!   at the end of the gap, a repeated one at its first occurrence.
//! - Still to come with the deployment issue: pipelines and plans.

pub mod command;
pub mod window;
