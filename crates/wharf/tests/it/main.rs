//! End-to-end tests of the `wharf` binary: real processes, real files, real exit codes.

mod api;
mod app;
mod apt;
mod apt_config;
mod apt_copy;
mod chatops;
mod cli;
mod crash;
mod deploy;
mod deploy_e2e;
mod fleet;
mod guard;
mod hygiene;
mod lifecycle;
mod memory;
mod metrics;
mod notify;
mod package;
mod recovery;
mod remote;
mod rollout;
mod s3;
mod schedules;
mod server;
mod status;
mod support;
