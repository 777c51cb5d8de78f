//! Wharf's fleet execution: run a command (or copy a file) on many nodes at once, over SSH
//! or locally, with bounded concurrency, bounded memory and honest outcomes.
//!
//! # Goals
//!
//! - Fast fan-out: an async pure-Rust SSH client (russh) preferring `curve25519-sha256`, one
//!   connection per node reused for every later command ([`Pool`]).
//! - `clush` habits: node names resolved through `~/.ssh/config` ([`ssh_config`]), host keys
//!   checked against `known_hosts` ([`known_hosts`]) with `accept-new` safe under
//!   concurrency, key files and ssh-agent authentication, `ProxyJump`.
//! - Bounded memory: at most [`ExecOptions::output_limit`] bytes kept per node, the rest
//!   counted ([`NodeResult::truncated_bytes`]).
//! - Outcomes are data: a non-zero exit, a timeout, an unreachable node (with its
//!   [`UnreachableReason`]) are [`Outcome`]s, never `Err`.
//!
//! # Non-goals
//!
//! - Interactive sessions, PTYs, port forwarding, password or keyboard-interactive logins.
//! - Every `ssh_config(5)` keyword: those Wharf does not act on are listed per host
//!   ([`SshTarget::describe`]), never silently applied differently (see docs/ssh.md).
//! - Printing: front ends consume [`Event`]s and [`NodeResult`]s and render them.
//!
//! # Tour
//!
//! - [`Target`] says how to reach a node; [`SshResolver`] builds SSH targets from node
//!   names, inventory overrides and ssh_config; [`LocalTarget`] runs `sh -c` here.
//! - [`Pool`] holds connections by node name and hands out [`Session`]s; `Pool::exec` and
//!   `Pool::copy` run one action on one node.
//! - [`fan_out`] runs an [`Action`] on many targets, sending [`Event::Line`] and
//!   [`Event::Finished`]; [`run_all`] collects the results.
//! - [`gather`] groups identical answers (`clush -b`) and failures for printing.
//! - `testing` (feature `test-support`): a real `sshd` on 127.0.0.1 for tests.

mod capture;
mod event;
mod fanout;
pub mod gather;
mod host_cert;
mod host_check;
pub mod known_hosts;
mod local;
mod outcome;
mod pool;
mod ssh;
pub mod ssh_config;
mod target;
#[cfg(feature = "test-support")]
pub mod testing;

pub use event::{Event, OutputStream};
pub use fanout::{Action, FanoutOptions, fan_out, run_all};
pub use local::{NODE_ENV, NODE_ROOT_ENV, kill_group};
pub use outcome::{NodeResult, Outcome, Unreachable, UnreachableReason};
pub use pool::{ExecOptions, Pool, Session};
pub use ssh_config::HostKeyPolicy;
pub use target::{
    HostOverrides, LocalEnv, LocalTarget, ResolveError, SshResolver, SshTarget, Target,
    TargetTransport,
};
