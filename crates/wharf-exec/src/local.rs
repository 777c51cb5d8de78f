//! The `local` transport: the command runs on this machine as `sh -c CMD`, with the node's
//! name in `WHARF_NODE` and its root directory in `WHARF_NODE_ROOT`. The command string is
//! one argv element of `sh`; nothing is spliced into a shell line by Wharf.

use std::os::unix::process::ExitStatusExt as _;
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use tokio::io::AsyncReadExt as _;

use crate::capture::Capture;
use crate::event::OutputStream;
use crate::outcome::Outcome;
use crate::target::LocalTarget;

/// Environment variable holding the node name for local commands.
pub const NODE_ENV: &str = "WHARF_NODE";
/// Environment variable holding the node's root directory for local commands.
pub const NODE_ROOT_ENV: &str = "WHARF_NODE_ROOT";

pub(crate) async fn exec(
    node: &str,
    target: &LocalTarget,
    command: &str,
    timeout: Option<Duration>,
    capture: &mut Capture,
) -> Outcome {
    let mut process = tokio::process::Command::new("sh");
    process
        .arg("-c")
        .arg(command)
        .env(NODE_ENV, node)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true);
    if let Some(root) = &target.root {
        process.env(NODE_ROOT_ENV, root);
    }
    let mut child = match process.spawn() {
        Ok(child) => child,
        Err(err) => return Outcome::Failed(format!("cannot run sh: {err}")),
    };
    let (mut stdout, mut stderr) =
        (child.stdout.take().expect("piped"), child.stderr.take().expect("piped"));
    let deadline = timeout.map(|timeout| tokio::time::Instant::now() + timeout);
    let body = async {
        let (mut out_buf, mut err_buf) = (vec![0u8; 32 * 1024], vec![0u8; 32 * 1024]);
        let (mut out_open, mut err_open) = (true, true);
        while out_open || err_open {
            tokio::select! {
                read = stdout.read(&mut out_buf), if out_open => match read {
                    Ok(0) | Err(_) => out_open = false,
                    Ok(n) => capture.push(OutputStream::Stdout, &out_buf[..n]).await,
                },
                read = stderr.read(&mut err_buf), if err_open => match read {
                    Ok(0) | Err(_) => err_open = false,
                    Ok(n) => capture.push(OutputStream::Stderr, &err_buf[..n]).await,
                },
            }
        }
        child.wait().await
    };
    let status = match deadline {
        Some(deadline) => match tokio::time::timeout_at(deadline, body).await {
            Ok(status) => status,
            Err(_) => {
                kill_group(child.id());
                let _ = child.kill().await;
                return Outcome::TimedOut(timeout.unwrap_or_default());
            }
        },
        None => body.await,
    };
    match status {
        Ok(status) => match (status.code(), status.signal()) {
            (Some(code), _) => Outcome::Exited(u32::try_from(code).unwrap_or(255)),
            (None, Some(signal)) => Outcome::Signalled(signal.to_string()),
            (None, None) => Outcome::Failed("sh ended without a status".to_owned()),
        },
        Err(err) => Outcome::Failed(format!("cannot wait for sh: {err}")),
    }
}

/// SIGKILL the whole process group led by `pid` (a command started with
/// `process_group(0)`, and everything it started).
pub fn kill_group(pid: Option<u32>) {
    let Some(pid) = pid else { return };
    // `kill` with a negative pid signals the group; no unsafe code needed.
    let _ = std::process::Command::new("kill")
        .args(["-KILL", "--", &format!("-{pid}")])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

/// Copy `source` to `dest` under the node's root (or to `dest` itself without a root).
pub(crate) async fn copy(
    target: &LocalTarget,
    source: &Path,
    dest: &str,
    mode: u32,
) -> Result<u64, String> {
    let dest_path = match &target.root {
        Some(root) => root.join(dest.trim_start_matches('/')),
        None => dest.into(),
    };
    let bytes = tokio::fs::copy(source, &dest_path).await.map_err(|err| {
        format!("cannot copy {} to {}: {err}", source.display(), dest_path.display())
    })?;
    let permissions = std::os::unix::fs::PermissionsExt::from_mode(mode);
    tokio::fs::set_permissions(&dest_path, permissions)
        .await
        .map_err(|err| format!("cannot set the mode of {}: {err}", dest_path.display()))?;
    Ok(bytes)
}
