//! `[[schedules]]` run by `wharf server` under an injected clock (libfaketime: the servers
//! believe it is 07:19:57 UTC): the 07:20 nightly deploy runs once, as `schedule:nightly`,
//! even with two servers on one database — SQLite in the data directory, or a real
//! PostgreSQL the test starts; `wharf schedules` shows its last run and the next fire time.

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::support::{Scratch, ServerProcess, outcome};

const CONFIG: &str = r#"
[[nodes]]
names = "web01"
transport = "local"
root = "roots/{name}"

[[environments]]
name = "dev"
nodes = "web01"
packages = ["gitlab-ce"]

[commands]
install = "for p in {packages}; do printf '%s\n' \"${{p#*=}}\" > \"$WHARF_NODE_ROOT/v-${{p%%=*}}\"; echo x >> \"$WHARF_NODE_ROOT/installs\"; done"
version = "cat \"$WHARF_NODE_ROOT/v-\"{package} 2>/dev/null || true"

[[schedules]]
name = "nightly"
cron = "20 7 * * *"
timezone = "UTC"
deploy = { environment = "dev", version = "16.7.0-ce.0" }
"#;

const LIBFAKETIME: &str = "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1";

fn json(scratch: &Scratch, args: &[&str]) -> Value {
    let (code, stdout, stderr) = outcome(&scratch.run(args));
    assert_eq!(code, 0, "{args:?}: {stderr}");
    serde_json::from_str(&stdout).unwrap()
}

/// The scheduler's `scheduler looked` lines in a server's log, and how many of them
/// claimed the nightly schedule.
fn looks(server: &ServerProcess) -> (usize, usize) {
    let log = server.log();
    let lines: Vec<&str> = log.lines().filter(|line| line.contains("scheduler looked")).collect();
    (lines.len(), lines.iter().filter(|line| line.contains("\"nightly\"")).count())
}

/// Two servers, both three seconds before 07:20 UTC, on the store `env` names (the data
/// directory's SQLite by default): the nightly deploy runs once, as `schedule:nightly`.
fn the_nightly_deploy_runs_once(env: Vec<(String, String)>) {
    assert!(
        Path::new(LIBFAKETIME).is_file(),
        "{LIBFAKETIME} is missing: apt-get install -y faketime"
    );
    let scratch = Scratch::new().with_env(env);
    scratch.config(CONFIG);
    std::fs::create_dir_all(scratch.path().join("roots/web01")).unwrap();
    let before = json(&scratch, &["schedules", "--json"]);
    assert_eq!(before[0]["action"], "deploy dev 16.7.0-ce.0");
    assert_eq!(before[0]["last_fire"], Value::Null);

    let faked = scratch.with_env(vec![
        ("LD_PRELOAD".into(), LIBFAKETIME.into()),
        ("FAKETIME".into(), "@2026-12-01 07:19:57".into()),
        ("FAKETIME_DONT_FAKE_MONOTONIC".into(), "1".into()),
        ("TZ".into(), "UTC".into()),
        ("RUST_LOG".into(), "info,wharf_server::schedules=debug".into()),
    ]);
    let first = ServerProcess::start(&faked, &[], true);
    let second = ServerProcess::start(&faked, &[], true);
    let deadline = Instant::now() + Duration::from_secs(40);
    loop {
        let history = json(&faked, &["history", "dev", "--json"]);
        if history[0]["state"] == "succeeded" {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the nightly deploy never ran:\n{}\n{}",
            first.log(),
            second.log()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    // No waiting for something not to happen: wait (bounded) until each server has looked
    // again after the deploy ended — so both saw the fire time — and count the claims. A
    // claim is logged with the look that made it, before its deploy starts.
    let seen = [looks(&first).0, looks(&second).0];
    let deadline = Instant::now() + Duration::from_secs(30);
    while looks(&first).0 <= seen[0] || looks(&second).0 <= seen[1] {
        assert!(
            Instant::now() < deadline,
            "a scheduler stopped looking:\n{}\n{}",
            first.log(),
            second.log()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(looks(&first).1 + looks(&second).1, 1, "exactly one server claimed it");
    let history = json(&faked, &["history", "dev", "--json"]).as_array().unwrap().clone();
    assert_eq!(history.len(), 1, "exactly one server ran it: {history:?}");
    let deploy = &history[0];
    assert_eq!(deploy["started_by"], "schedule:nightly");
    assert_eq!(
        (deploy["via"].as_str(), deploy["automated"].as_bool()),
        (Some("schedule"), Some(true))
    );
    assert_eq!(std::fs::read_to_string(faked.path().join("roots/web01/installs")).unwrap(), "x\n");

    // Asked at the real time (this afternoon): the next fire time is tomorrow's.
    let real = faked.wharf(&["schedules", "--json"]).env_remove("LD_PRELOAD").output().unwrap();
    let (code, stdout, stderr) = outcome(&real);
    assert_eq!(code, 0, "{stderr}");
    let after: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(after[0]["last_fire"], "2026-12-01T07:20:00.000Z");
    assert!(after[0]["last_result"].as_str().unwrap().starts_with("succeeded: deploy"), "{after}");
    let next = after[0]["next_fire"].as_str().unwrap();
    assert!(next.ends_with("T07:20:00.000Z") && next > "2026-12-01T07:20:00.000Z", "{next}");
    drop((first, second));
}

#[test]
fn the_nightly_deploy_runs_once_at_its_time_even_with_two_servers() {
    the_nightly_deploy_runs_once(Vec::new());
}

/// The same with both servers on one real PostgreSQL, started by the test.
#[test]
fn the_nightly_deploy_runs_once_with_two_servers_on_one_postgresql() {
    let postgres = wharf_store::testing::PgServer::start();
    the_nightly_deploy_runs_once(vec![("WHARF_DATABASE".into(), postgres.url("postgres"))]);
}
