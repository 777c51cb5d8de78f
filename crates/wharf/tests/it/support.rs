//! Running the built `wharf` binary in a scratch directory.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// A scratch directory with its own config and data directory.
pub(crate) struct Scratch {
    pub(crate) dir: tempfile::TempDir,
}

impl Scratch {
    pub(crate) fn new() -> Scratch {
        Scratch { dir: tempfile::tempdir().expect("tempdir") }
    }

    pub(crate) fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Write `wharf.toml` in the scratch directory.
    pub(crate) fn config(&self, text: &str) -> PathBuf {
        let path = self.path().join("wharf.toml");
        std::fs::write(&path, text).expect("write config");
        path
    }

    /// A `wharf` command running in the scratch directory with a clean environment.
    pub(crate) fn wharf(&self, args: &[&str]) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_wharf"));
        command
            .args(args)
            .current_dir(self.path())
            .env_remove("WHARF_CONFIG")
            .env_remove("WHARF_DATA")
            .env_remove("WHARF_DATABASE")
            .env("WHARF_ACTOR", "tester");
        command
    }

    /// Run `wharf ARGS` and return its output.
    pub(crate) fn run(&self, args: &[&str]) -> Output {
        self.wharf(args).output().expect("run wharf")
    }

    /// Run `wharf ARGS` with `stdin` and return its output.
    pub(crate) fn run_with_stdin(&self, args: &[&str], stdin: &str) -> Output {
        use std::io::Write as _;
        let mut child = self
            .wharf(args)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("spawn wharf");
        child.stdin.take().expect("stdin").write_all(stdin.as_bytes()).expect("write stdin");
        child.wait_with_output().expect("wait wharf")
    }
}

/// Exit code, stdout and stderr of a finished command, for assertions.
pub(crate) fn outcome(output: &Output) -> (i32, String, String) {
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}
