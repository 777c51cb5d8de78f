//! Integration tests for wharf-exec against a real OpenSSH `sshd` on 127.0.0.1 (see
//! `wharf_exec::testing`) and the local transport. One binary, one module per area.

mod fleet;
mod host_keys;
mod limits;
mod local;
mod run;
mod ssh_g;
mod ssh_options;
