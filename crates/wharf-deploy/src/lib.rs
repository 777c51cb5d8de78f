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
//! Tour: modules arrive with the deployment issue — windows, pipelines and plans, command
//! templates.
