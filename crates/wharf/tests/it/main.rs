//! End-to-end tests of the `wharf` binary: real processes, real files, real exit codes.

mod app;
mod apt;
mod apt_config;
mod cli;
mod crash;
mod deploy;
mod deploy_e2e;
mod fleet;
mod guard;
mod hygiene;
mod memory;
mod metrics;
mod rollout;
mod s3;
mod server;
mod status;
mod support;
