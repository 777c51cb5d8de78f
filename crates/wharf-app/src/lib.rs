//! `wharf-app`: Wharf's application layer — the flows every front end shares. The CLI
//! calls them today; the HTTP API, ChatOps and the scheduler call the same functions.
//!
//! Goals:
//! - One implementation of each flow (add packages, publish, snapshot, run on a node set…)
//!   that orchestrates the store, storage, the fleet engine and the repository code, and
//!   returns a typed report ([`wire`]) — never prints, never picks an exit code.
//! - One [`Context`]: store, data directory, storage, signing key, `[apt]` settings and
//!   the acting identity ([`Actor`]: who, and whether through the CLI, an API token, chat
//!   or a schedule), so every audit entry says who did it and how.
//! - One error type, [`AppError`], whose [`ErrorKind`] the CLI maps to exit codes and the
//!   server to HTTP statuses.
//! - Async where there is I/O, usable from a server handler: CPU-heavy work (reading
//!   `.deb` files, building indices) runs on blocking threads.
//!
//! Non-goals: argument parsing, terminal output, HTTP — those belong to the front ends.
//!
//! Tour:
//! - [`DataLayout`]: the only place that names what is in the data directory.
//! - [`Context`], [`ContextSettings`], [`Actor`], [`Via`].
//! - `storage`: package files and published trees, in the data directory or a bucket.
//! - [`aptly`]: `wharf import aptly ROOT` — aptly's repositories and snapshots recreated.
//! - [`apply`]: `[[repositories]]` in `wharf.toml` made real (`wharf apply`, the server).
//! - [`repo`] (create, add, remove, drop, snapshot, verify, cleanup), [`mirror`]
//!   (remote repositories fetched, checked and stored), [`publish`],
//!   [`health`]: the APT repository flows.
//! - [`deploy`]: `deploy --dry-run` — the plan and every guard's answer.
//! - [`guard`]: environment locks and nodes in maintenance; [`hold`]: package holds;
//!   [`windows`]: change-lock windows as of a moment.
//! - [`checks`]: the configured prepare checks (`[[checks]]`: haproxy, alertmanager,
//!   http, command) run for an environment, each a pass or fail with evidence.
//! - [`audit`]: notes, the log, and its chain's verification.
//! - [`notify`]: delivering the store's outbox to the `[[notify]]` destinations (Slack,
//!   JSON webhooks): at least once, in order, with backoff; never failing a change.
//! - [`token`]: API tokens and their [`token::Role`]s; [`token::authenticate`] for the server.
//! - [`fleet`]: node set → targets → fan-out, with events to print or stream.
//! - [`versions`]: what each node has installed of a list of packages.
//! - [`progress::Progress`]: how long flows report how far they are.
//! - [`wire`]: the JSON shapes of every report (`--json` and the API).

pub mod apply;
pub mod aptly;
pub mod audit;
pub mod backup;
pub mod checks;
pub mod context;
pub mod deploy;
pub mod error;
pub mod fleet;
pub mod guard;
pub mod health;
pub mod hold;
pub mod key;
pub mod layout;
pub mod mirror;
pub mod notify;
pub mod progress;
pub mod publish;
pub mod repo;
pub mod schedule;
pub mod status;
pub mod storage;
pub mod token;
pub mod versions;
pub mod windows;
pub mod wire;

pub use context::{Actor, Context, ContextSettings, Via};
pub use error::{AppError, ErrorKind, Result};
pub use layout::DataLayout;
