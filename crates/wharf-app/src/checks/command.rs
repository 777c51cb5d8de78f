//! `command`: `sh -c COMMAND` on the Wharf host, in its own process group, with the
//! environment's name, the version and the nodes in `WHARF_ENVIRONMENT`, `WHARF_VERSION`
//! and `WHARF_NODES` (comma-joined) — values reach the command only as variables, never
//! spliced into its text. Exit 0 passes; past the timeout the whole group is killed. The
//! evidence is how it ended and its last lines of output (stdout and stderr together).

use std::os::unix::process::ExitStatusExt as _;
use std::process::Stdio;
use std::time::Duration;

use tokio::io::AsyncReadExt as _;

use super::http::human;
use super::{CheckTarget, Verdict};

/// Lines of output kept as evidence.
const TAIL_LINES: usize = 5;
/// Bytes of output kept while the command runs (the tail).
const TAIL_BYTES: usize = 64 << 10;

pub(super) async fn check(command: &str, target: &CheckTarget<'_>, timeout: Duration) -> Verdict {
    let (reader, writer) = match std::io::pipe() {
        Ok(pipe) => pipe,
        Err(err) => return Verdict::fail(vec![format!("cannot make a pipe: {err}")]),
    };
    let spawned = writer.try_clone().and_then(|copy| {
        tokio::process::Command::new("sh")
            .arg("-c")
            .arg(command)
            .env("WHARF_ENVIRONMENT", &target.environment.name)
            .env("WHARF_VERSION", target.version)
            .env("WHARF_NODES", target.environment.nodes.join(","))
            .stdin(Stdio::null())
            .stdout(Stdio::from(copy))
            .stderr(Stdio::from(writer))
            .process_group(0)
            .kill_on_drop(true)
            .spawn()
        // The command (and with it this process's copies of the write end) is dropped
        // here, so the read end sees EOF when the child's copies close.
    });
    let mut child = match spawned {
        Ok(child) => child,
        Err(err) => return Verdict::fail(vec![format!("cannot run sh: {err}")]),
    };
    let mut receiver = match tokio::net::unix::pipe::Receiver::from_owned_fd(reader.into()) {
        Ok(receiver) => receiver,
        Err(err) => return Verdict::fail(vec![format!("cannot read the command's output: {err}")]),
    };
    let mut output = Vec::new();
    let run = async {
        let mut buf = vec![0u8; 8192];
        while let Ok(n @ 1..) = receiver.read(&mut buf).await {
            output.extend_from_slice(&buf[..n]);
            if output.len() > 2 * TAIL_BYTES {
                output.drain(..output.len() - TAIL_BYTES);
            }
        }
        child.wait().await
    };
    let (passed, how) = match tokio::time::timeout(timeout, run).await {
        Ok(Ok(status)) => match (status.code(), status.signal()) {
            (Some(code), _) => (code == 0, format!("exited {code}")),
            (_, signal) => (false, format!("killed by signal {}", signal.unwrap_or_default())),
        },
        Ok(Err(err)) => (false, format!("cannot wait for sh: {err}")),
        Err(_) => {
            wharf_exec::kill_group(child.id());
            let _ = child.kill().await;
            (false, format!("did not finish within {}: killed", human(timeout)))
        }
    };
    let text = String::from_utf8_lossy(&output);
    let lines: Vec<&str> = text.lines().filter(|line| !line.trim().is_empty()).collect();
    let tail = &lines[lines.len().saturating_sub(TAIL_LINES)..];
    let evidence = std::iter::once(how).chain(tail.iter().map(|line| (*line).to_owned()));
    Verdict { passed, evidence: evidence.collect() }
}
