//! End-to-end tests of the `wharf` binary: real processes, real files, real exit codes.

mod apt;
mod apt_config;
mod cli;
mod fleet;
mod hygiene;
mod s3;
mod server;
mod support;
