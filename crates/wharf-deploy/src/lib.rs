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
//! Tour, in the order a deploy meets them:
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
//! - [`pipeline`]: `[[pipelines]]` from `wharf.toml` checked against the inventory into
//!   [`Pipelines`] (errors name the line), plus the built-in `upgrade` (prepare → tiers
//!   lowest first → the fleet in 25% batches → restart → verify) and `rollback` (prepare
//!   → the fleet → the tiers last, highest first, each waiting for an operator).
//! - [`gate`]: the guards — [`gate::promotion_gate`], [`gate::downgrade`],
//!   [`gate::rollback_target`], [`gate::deploy_lock`], [`gate::lock`], [`gate::hold`] —
//!   each a [`Refusal`] naming the guard and what lifts it, or a go.
//! - [`plan()`]: a pipeline met with an environment — each stage's nodes (intersected with
//!   the environment), batches, services, and whether it runs, waits or is skipped.
//! - [`amount`]: counts and percentages of nodes; [`batches`] and [`exceeds`] (a stage's
//!   failure limit).
//!
//! The raw configuration (`PipelineConfig`, `StageConfig`, `StageKind`, `StageWhen`) lives
//! in `wharf_core::config` with the rest of the file's schema; its meaning lives here.

pub mod amount;
pub mod command;
pub mod gate;
pub mod pipeline;
pub mod plan;
pub mod schedule;
pub mod window;

pub use amount::{Amount, batches, exceeds};
pub use gate::{DeployOutcome, GuardKind, Hold, Lock, Refusal, RollbackTarget};
pub use pipeline::{Action, Pipeline, Pipelines, ServiceSelector, Stage};
pub use plan::{DeployRequest, Plan, PlanError, PlannedStage, StageRun, plan};
