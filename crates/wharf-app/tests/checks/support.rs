//! What the check tests share: free ports, daemons killed on drop, configurations.

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use wharf_app::checks::{CheckOutcome, CheckTarget, configured};
use wharf_core::config::{Config, ConfigSource};
use wharf_core::inventory::Environment;

/// A port nothing listens on (bound, then released).
pub(crate) fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// The path of `binary`, or a failure saying which Debian package to install.
pub(crate) fn require(binary: &str, package: &str) -> String {
    let found = Command::new("sh")
        .args(["-c", "command -v \"$1\"", "sh", binary])
        .output()
        .expect("run sh");
    let path = String::from_utf8_lossy(&found.stdout).trim().to_owned();
    assert!(
        found.status.success() && !path.is_empty(),
        "`{binary}` is not installed: apt-get install -y {package} (see .ci/run)"
    );
    path
}

/// A daemon the test started: killed and reaped when dropped.
pub(crate) struct Daemon {
    child: Child,
    pub(crate) name: &'static str,
}

impl Daemon {
    pub(crate) fn start(name: &'static str, command: &mut Command) -> Daemon {
        let child = command
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|err| panic!("cannot start {name}: {err}"));
        Daemon { child, name }
    }

    /// Poll `ready` every 100 ms for at most 20 s; fail naming the daemon if it exits or
    /// never gets ready.
    pub(crate) fn wait_until(&mut self, what: &str, mut ready: impl FnMut() -> bool) {
        let started = Instant::now();
        while !ready() {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("{} exited ({status}) before {what}", self.name);
            }
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "{}: not {what} in 20s",
                self.name
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An environment named `name` with `nodes`.
pub(crate) fn environment(name: &str, nodes: &[&str], production: bool) -> Environment {
    Environment {
        name: name.to_owned(),
        nodes_expr: nodes.join(","),
        nodes: nodes.iter().map(|node| (*node).to_owned()).collect(),
        after: None,
        production,
        repository: None,
        packages: vec![],
        canary: false,
    }
}

/// `checks` (TOML `[[checks]]` entries) after environments `gprd` (production) and `gstg`.
pub(crate) fn config(checks: &str) -> (Config, ConfigSource) {
    let text = format!(
        "[[nodes]]\nnames = \"web[01-02]\"\n\n\
         [[environments]]\nname = \"gprd\"\nnodes = \"web[01-02]\"\nproduction = true\n\n\
         [[environments]]\nname = \"gstg\"\nnodes = \"web01\"\n\n{checks}"
    );
    let source = ConfigSource::new("/etc/wharf/wharf.toml", text);
    let config = source.parse().unwrap_or_else(|err| panic!("{err}"));
    (config, source)
}

/// Run the configured checks of `checks` for `environment` at version 11.8.0.
pub(crate) async fn run(checks: &str, environment: &Environment) -> Vec<CheckOutcome> {
    let (config, source) = config(checks);
    let target = CheckTarget { environment, version: "11.8.0", ignore_production_checks: false };
    configured(&config, &source, &target).await.unwrap()
}

/// The one outcome of `outcomes`.
pub(crate) fn only(outcomes: Vec<CheckOutcome>) -> CheckOutcome {
    assert_eq!(outcomes.len(), 1, "{outcomes:?}");
    outcomes.into_iter().next().unwrap()
}
