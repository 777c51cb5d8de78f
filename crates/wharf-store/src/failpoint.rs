//! Crash points for tests: `WHARF_FAILPOINT=NAME` makes the process kill itself with
//! SIGKILL when it reaches the point `NAME` — exactly what `kill -9` at that instant does,
//! so tests can show that a crash there loses nothing (see the crash tests in
//! `crates/wharf/tests/it/crash.rs`). Unset (always, outside tests) it costs one lookup.
//! It lives in the store because the most interesting points are inside its transactions;
//! the application layer names its own points through the same function.

/// The environment variable naming the point to crash at.
pub const FAILPOINT_ENV: &str = "WHARF_FAILPOINT";

/// Crash here if `WHARF_FAILPOINT` names `point`.
#[allow(clippy::print_stderr, reason = "the last word of a process about to be killed")]
pub fn hit(point: &str) {
    if std::env::var_os(FAILPOINT_ENV).is_some_and(|wanted| wanted == point) {
        eprintln!("{FAILPOINT_ENV}={point}: killing this process");
        let _ =
            rustix::process::kill_process(rustix::process::getpid(), rustix::process::Signal::KILL);
    }
}
