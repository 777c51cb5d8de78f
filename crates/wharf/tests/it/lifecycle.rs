//! `wharf server`'s lifecycle: SIGHUP reloads the configuration (a broken file is refused
//! and the old one kept); SIGTERM lets a running deploy finish for the drain timeout and
//! then records it `interrupted`, which `wharf resume` finishes; SIGQUIT waits for it;
//! systemd hears `READY=1` and `STOPPING=1` on `$NOTIFY_SOCKET`. Deploys are started
//! through ChatOps, as the server runs them.

use std::os::unix::net::UnixDatagram;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::chatops::{CONFIG, SECRET, receiver, signed};
use crate::support::{Scratch, ServerProcess, outcome};

fn scratch(extra: &str) -> Scratch {
    let scratch = Scratch::new().with_env(vec![("WHARF_TEST_SLACK_SECRET".into(), SECRET.into())]);
    scratch.config(&format!("{CONFIG}{extra}"));
    for node in ["web01", "web02"] {
        std::fs::create_dir_all(scratch.path().join("roots").join(node)).unwrap();
    }
    scratch
}

fn signal(server: &ServerProcess, name: &str) {
    let status = std::process::Command::new("kill")
        .args([&format!("-{name}"), &server.child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

/// Wait (bounded) for the server to exit; its exit status.
fn exited(server: &mut ServerProcess, within: Duration) -> std::process::ExitStatus {
    let deadline = Instant::now() + within;
    loop {
        if let Some(status) = server.child.try_wait().unwrap() {
            return status;
        }
        assert!(Instant::now() < deadline, "the server did not stop: {}", server.log());
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn last_deploy(scratch: &Scratch) -> Value {
    let (code, stdout, stderr) = outcome(&scratch.run(&["history", "-n", "1", "--json"]));
    assert_eq!(code, 0, "{stderr}");
    serde_json::from_str::<Value>(&stdout).unwrap()[0].clone()
}

/// Wait (bounded) until the slow install has started on web01.
fn install_started(scratch: &Scratch) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !scratch.path().join("roots/web01/started").exists() {
        assert!(Instant::now() < deadline, "the install never started");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// An install that marks its start, then takes `seconds`.
fn slow(seconds: u32) -> String {
    format!(
        "\n[[environments]]\nname = \"slow\"\nnodes = \"web01\"\npackages = [\"app\"]\n\
         commands = {{ install = \"touch \\\"$WHARF_NODE_ROOT/started\\\"; sleep {seconds}; for p in {{packages}}; do printf '%s\\\\n' \\\"${{{{p#*=}}}}\\\" > \\\"$WHARF_NODE_ROOT/v-${{{{p%%=*}}}}\\\"; done\" }}\n"
    )
}

#[test]
fn sighup_reloads_a_good_configuration_and_keeps_the_old_one_on_a_broken_file() {
    let scratch = scratch("");
    let server = ServerProcess::start(&scratch, &[], true);
    let (url, replies) = receiver();
    let status = || {
        signed(&server.addr, "U0ALICE", "status", &url);
        replies.recv_timeout(Duration::from_secs(30)).unwrap()["text"].as_str().unwrap().to_owned()
    };
    assert!(!status().contains("gqa"));

    std::fs::write(
        scratch.path().join("wharf.toml"),
        format!("{CONFIG}\n[[environments]]\nname = \"gqa\"\nnodes = \"web02\"\nbogus = 1\n"),
    )
    .unwrap();
    signal(&server, "HUP");
    let deadline = Instant::now() + Duration::from_secs(10);
    while !server.log().contains("was not reloaded") {
        assert!(Instant::now() < deadline, "{}", server.log());
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(server.log().contains("bogus"), "the error names the key: {}", server.log());
    assert!(!status().contains("gqa"), "still the old configuration");

    std::fs::write(
        scratch.path().join("wharf.toml"),
        format!(
            "{CONFIG}\n[[environments]]\nname = \"gqa\"\nnodes = \"web02\"\npackages = [\"app\"]\n"
        ),
    )
    .unwrap();
    signal(&server, "HUP");
    let deadline = Instant::now() + Duration::from_secs(10);
    while !server.log().contains("configuration reloaded") {
        assert!(Instant::now() < deadline, "{}", server.log());
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(status().contains("gqa: -"), "the new environment is known");
}

#[test]
fn sigterm_interrupts_a_deploy_past_the_drain_timeout_and_resume_finishes_it() {
    let scratch = scratch(&format!("\n[server]\ndrain_timeout = \"1s\"\n{}", slow(30)));
    let mut server = ServerProcess::start(&scratch, &[], true);
    let (url, _replies) = receiver();
    signed(&server.addr, "U0ALICE", "deploy 1.0 slow", &url);
    install_started(&scratch);
    let asked = Instant::now();
    signal(&server, "TERM");
    let status = exited(&mut server, Duration::from_secs(20));
    assert!(status.success(), "{}", server.log());
    assert!(
        asked.elapsed() < Duration::from_secs(10),
        "stopped after the 1s drain, not the 30s install"
    );
    let deploy = last_deploy(&scratch);
    assert_eq!(deploy["state"], "interrupted", "{deploy}");
    assert!(deploy["reason"].as_str().unwrap().contains("the server stopped"), "{deploy}");

    // Resumed from the command line, faster this time.
    scratch.config(&format!("{CONFIG}{}", slow(0)));
    let id = deploy["id"].to_string();
    let (code, stdout, stderr) = outcome(&scratch.run(&["resume", &id]));
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert_eq!(std::fs::read_to_string(scratch.path().join("roots/web01/v-app")).unwrap(), "1.0\n");
}

#[test]
fn sigquit_waits_for_the_running_deploy_and_systemd_hears_ready_and_stopping() {
    let scratch = scratch(&format!("\n[server]\ndrain_timeout = \"1s\"\n{}", slow(2)));
    let socket_path = scratch.path().join("notify.sock");
    let socket = UnixDatagram::bind(&socket_path).unwrap();
    socket.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let scratch =
        scratch.with_env(vec![("NOTIFY_SOCKET".into(), socket_path.display().to_string())]);
    let mut server = ServerProcess::start(&scratch, &[], true);
    let mut buf = [0u8; 64];
    let n = socket.recv(&mut buf).unwrap();
    assert_eq!(&buf[..n], b"READY=1");

    let (url, _replies) = receiver();
    signed(&server.addr, "U0ALICE", "deploy 1.0 slow", &url);
    install_started(&scratch);
    signal(&server, "QUIT");
    let n = socket.recv(&mut buf).unwrap();
    assert_eq!(&buf[..n], b"STOPPING=1");
    assert!(exited(&mut server, Duration::from_secs(30)).success(), "{}", server.log());
    let deploy = last_deploy(&scratch);
    assert_eq!(deploy["state"], "succeeded", "SIGQUIT waits past the drain timeout: {deploy}");
}
