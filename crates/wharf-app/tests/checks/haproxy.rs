//! `haproxy` checks against a real HAProxy: backend `web` with `web01` pointed at a port
//! the test listens on and `web02` at a closed port.

use std::io::{Read as _, Write as _};
use std::net::TcpListener;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::support::{Daemon, environment, free_port, only, require, run};

pub(crate) struct Haproxy {
    _daemon: Daemon,
    _up: TcpListener,
    dir: tempfile::TempDir,
    pub(crate) stats_port: u16,
}

impl Haproxy {
    /// Backend `web`: `web01` up, `web02` at a closed port (DOWN).
    pub(crate) fn start() -> Haproxy {
        let binary = require("haproxy", "haproxy");
        let dir = tempfile::tempdir().unwrap();
        let up = TcpListener::bind("127.0.0.1:0").unwrap();
        let (up_port, down_port, stats_port) =
            (up.local_addr().unwrap().port(), free_port(), free_port());
        let socket = dir.path().join("admin.sock");
        let cfg = dir.path().join("haproxy.cfg");
        let check = "check inter 500ms fall 1 rise 1";
        std::fs::write(
            &cfg,
            format!(
                "global\n  stats socket {} level admin\n\n\
                 defaults\n  mode http\n  timeout connect 1s\n  timeout client 5s\n  timeout server 5s\n\n\
                 frontend stats\n  bind 127.0.0.1:{stats_port}\n  stats enable\n  stats uri /stats\n\n\
                 backend web\n  server web01 127.0.0.1:{up_port} {check}\n  server web02 127.0.0.1:{down_port} {check}\n",
                socket.display()
            ),
        )
        .unwrap();
        let mut daemon =
            Daemon::start("haproxy", Command::new(binary).arg("-db").arg("-f").arg(&cfg));
        daemon.wait_until("showing web01 UP and web02 DOWN", || {
            let stat = show_stat(&socket);
            stat.contains("web,web01,")
                && stat.lines().any(|l| l.starts_with("web,web02,") && l.contains(",DOWN,"))
        });
        Haproxy { _daemon: daemon, _up: up, dir, stats_port }
    }

    pub(crate) fn socket(&self) -> PathBuf {
        self.dir.path().join("admin.sock")
    }
}

/// `show stat` on the socket; empty while HAProxy is not listening yet.
fn show_stat(socket: &Path) -> String {
    let mut text = String::new();
    if let Ok(mut stream) = UnixStream::connect(socket) {
        let _ = stream.write_all(b"show stat\n");
        let _ = stream.read_to_string(&mut text);
    }
    text
}

fn check(stats: &str, extra: &str) -> String {
    format!("[[checks]]\nname = \"lb\"\nkind = \"haproxy\"\nstats = \"{stats}\"\n{extra}")
}

#[tokio::test]
async fn haproxy_check_fails_naming_the_down_server_over_url_and_socket() {
    let haproxy = Haproxy::start();
    let url = format!("http://127.0.0.1:{}/stats;csv", haproxy.stats_port);
    let socket = format!("unix:{}", haproxy.socket().display());
    let gprd = environment("gprd", &["web01", "web02"], true);
    for stats in [&url, &socket] {
        let outcome = only(run(&check(stats, ""), &gprd).await);
        assert_eq!((outcome.name.as_str(), outcome.kind.as_str()), ("lb", "haproxy"));
        assert!(!outcome.passed, "{stats}: {outcome:?}");
        assert_eq!(outcome.evidence, ["web/web02 DOWN"], "{stats}");
    }
}

#[tokio::test]
async fn haproxy_check_passes_when_the_selected_servers_are_up() {
    let haproxy = Haproxy::start();
    let url = format!("http://127.0.0.1:{}/stats;csv", haproxy.stats_port);
    let socket = format!("unix:{}", haproxy.socket().display());
    let gstg = environment("gstg", &["web01"], false);
    for stats in [&url, &socket] {
        let outcome = only(run(&check(stats, "backends = [\"web\"]\n"), &gstg).await);
        assert!(outcome.passed, "{stats}: {outcome:?}");
        assert_eq!(outcome.evidence, ["1 server(s) of the environment's nodes UP: web/web01"]);
    }
    // Nodes HAProxy does not know: every server of the backend is judged.
    let other = environment("gstg", &["db01"], false);
    let outcome = only(run(&check(&url, "backends = [\"web\"]\n"), &other).await);
    assert!(!outcome.passed && outcome.evidence == ["web/web02 DOWN"], "{outcome:?}");
}

#[tokio::test]
async fn unreachable_haproxy_stats_fail_naming_the_address() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let gprd = environment("gprd", &["web01"], true);
    let url = format!("http://127.0.0.1:{port}/stats;csv");
    let outcome = only(run(&check(&url, ""), &gprd).await);
    assert!(!outcome.passed);
    let said = &outcome.evidence[0];
    assert!(said.starts_with(&format!("cannot reach haproxy stats at {url}: ")), "{said}");
    assert!(said.contains("connection refused"), "{said}");
    let socket = dir.path().join("none.sock");
    let outcome = only(run(&check(&format!("unix:{}", socket.display()), ""), &gprd).await);
    let said = &outcome.evidence[0];
    assert!(!outcome.passed && said.contains(&format!("unix:{}", socket.display())), "{said}");
    assert!(said.contains("no such file or directory"), "{said}");
}
