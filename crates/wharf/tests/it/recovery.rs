//! Deploys that stop half-way, on the local nodes of `rollout.rs`: two deploys racing for
//! one environment (exactly one runs), `kill -9` at seeded random moments followed by
//! `resume` (no node that finished is installed twice), a change-lock window opening
//! mid-deploy under an injected clock, and a cancel of a running deploy.

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::rollout::{json, read, scratch, show, wharf};
use crate::support::Scratch;

fn set_slow(scratch: &Scratch, seconds: &str) {
    std::fs::write(scratch.path().join("roots/slow"), seconds).unwrap();
}

#[test]
fn two_deploys_to_one_environment_one_runs_the_other_is_refused() {
    let scratch = scratch("");
    set_slow(&scratch, "0.3");
    let spawn = |version: &str| {
        scratch
            .wharf(&["deploy", "--yes", "--json", version, "big"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    let (a, b) = (spawn("1.0"), spawn("1.0"));
    let outputs = [a.wait_with_output().unwrap(), b.wait_with_output().unwrap()];
    let mut codes: Vec<i32> = outputs.iter().map(|o| o.status.code().unwrap()).collect();
    codes.sort_unstable();
    let printed: String = outputs
        .iter()
        .map(|o| {
            String::from_utf8_lossy(&o.stdout).into_owned() + &String::from_utf8_lossy(&o.stderr)
        })
        .collect();
    assert_eq!(codes, [0, 4], "{printed}");
    assert!(
        printed.contains(r#""guard": "running""#),
        "the loser names the running deploy: {printed}"
    );
    for n in 1..=20 {
        assert_eq!(
            read(&scratch, &format!("web{n:02}"), "installs").lines().count(),
            1,
            "web{n:02}"
        );
    }
}

/// A deterministic generator for the kill moments (no dependency for one test).
fn next(seed: &mut u64) -> u64 {
    *seed ^= *seed << 13;
    *seed ^= *seed >> 7;
    *seed ^= *seed << 17;
    *seed
}

fn succeeded_nodes(detail: &Value) -> Vec<String> {
    detail["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|n| n["state"] == "succeeded")
        .map(|n| n["node"].as_str().unwrap().to_owned())
        .collect()
}

fn kill_and_resume(scratch: &Scratch, version: &str, seed: &mut u64) {
    let mut child = scratch
        .wharf(&["deploy", "--yes", version, "big"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // 5 batches of 0.15 s installs: somewhere in the first four.
    std::thread::sleep(Duration::from_millis(100 + next(seed) % 600));
    child.kill().unwrap();
    child.wait().unwrap();
    let (_, stdout, _) = wharf(scratch, &["history", "big", "-n", "1", "--json"]);
    let id = json(&stdout)[0]["id"].as_i64().unwrap();
    let before = show(scratch, id);
    assert_eq!(before["deploy"]["state"], "interrupted", "the next command sees the owner is gone");
    let finished = succeeded_nodes(&before);
    let (code, stdout, stderr) = wharf(scratch, &["resume", &id.to_string()]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(stdout.contains(&format!("resuming deploy {id}")), "{stdout}");
    let after = show(scratch, id);
    assert_eq!(after["deploy"]["state"], "succeeded");
    for node in &finished {
        let installs = read(scratch, node, "installs");
        let of_version = installs.lines().count();
        assert_eq!(of_version, 1, "{node} finished before the kill and was installed again");
    }
    for n in 1..=20 {
        assert_eq!(read(scratch, &format!("web{n:02}"), "v-app").trim(), version);
    }
}

#[test]
fn kill_9_mid_deploy_then_resume_never_reinstalls_a_finished_node() {
    let scratch = scratch("");
    set_slow(&scratch, "0.15");
    let mut seed = 0x5eed_u64;
    for round in 0..3 {
        for n in 1..=20 {
            let _ = std::fs::remove_file(scratch.path().join(format!("roots/web{n:02}/installs")));
        }
        let started = Instant::now();
        kill_and_resume(&scratch, &format!("1.{round}"), &mut seed);
        assert!(started.elapsed() < Duration::from_secs(60));
    }
    assert!(Path::new(&scratch.path().join("wharf-data")).is_dir());
}

/// A window that opens while a deploy runs: the deploy finishes its current stage, stops
/// as `interrupted` with the window's reason, cannot resume while the window is open, and
/// resumes once it has closed. The clock is injected: it reads "inside the window" as soon
/// as the node's install has happened.
#[test]
fn a_window_opening_mid_deploy_interrupts_after_the_stage_and_resume_waits_for_it() {
    use std::sync::Arc;

    use wharf_app::deploy::{DeployRequest, Session};
    use wharf_core::config::ConfigSource;
    use wharf_core::inventory::Inventory;

    let scratch = scratch(
        r#"
[[windows]]
name = "freeze"
from = "2026-12-20T00:00:00Z"
until = "2027-01-04T00:00:00Z"
environments = ["staging"]
applies_to = "all"
reason = "year-end freeze"
"#,
    );
    let path = scratch.path().join("wharf.toml");
    let source = ConfigSource::new(&path, std::fs::read_to_string(&path).unwrap());
    let config = source.parse().unwrap();
    let inventory = Inventory::from_config(&config, &source).unwrap();
    let before: jiff::Timestamp = "2026-12-19T23:59:00Z".parse().unwrap();
    let inside: jiff::Timestamp = "2026-12-20T00:01:00Z".parse().unwrap();
    let after: jiff::Timestamp = "2027-01-04T00:01:00Z".parse().unwrap();
    let installs = scratch.path().join("roots/web01/installs");
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        let ctx = scratch.context(&path, "alice").await;
        let env = wharf_exec::LocalEnv {
            home: scratch.path().to_owned(),
            local_user: "root".into(),
            agent: None,
        };
        let options = wharf_exec::FanoutOptions::default();
        let fleet = wharf_app::fleet::Fleet {
            config: &config,
            source: &source,
            inventory: &inventory,
            env: &env,
            options: &options,
        };
        let opens = installs.clone();
        let clock: wharf_app::deploy::Clock =
            Arc::new(move || if opens.exists() { inside } else { before });
        let session = Session { ctx: &ctx, fleet, clock, notices: None, started: None };
        let request = DeployRequest {
            packages: [("app".to_owned(), "1.0".to_owned())].into(),
            environment: "staging".into(),
            ..DeployRequest::default()
        };
        let report = wharf_app::deploy::start(&session, &request).await.unwrap();
        let deploy = &report.deploy;
        assert_eq!(deploy.state, "interrupted");
        let reason = deploy.reason.as_deref().unwrap();
        assert!(reason.contains("freeze") && reason.contains("year-end freeze"), "{reason}");
        let states: Vec<&str> = deploy.stages.iter().map(|s| s.state.as_str()).collect();
        assert_eq!(
            states,
            ["succeeded", "succeeded", "pending", "pending"],
            "install finished, then it stopped"
        );

        // Still inside the window: resume is refused and changes nothing.
        let refused = wharf_app::deploy::resume(&session, deploy.id).await.unwrap_err();
        assert_eq!(refused.kind(), wharf_app::ErrorKind::Refused, "{refused}");
        assert!(refused.to_string().contains("year-end freeze"), "{refused}");

        let later = Session { clock: Arc::new(move || after), ..session.clone() };
        let resumed = wharf_app::deploy::resume(&later, deploy.id).await.unwrap();
        assert_eq!(resumed.deploy.state, "succeeded");
        assert_eq!(std::fs::read_to_string(&installs).unwrap(), "web01\n", "install not repeated");
    });
}

#[test]
fn cancelling_a_running_deploy_stops_it_before_its_next_batch() {
    let scratch = scratch("");
    set_slow(&scratch, "0.4");
    let child = scratch
        .wharf(&["deploy", "--yes", "--json", "1.0", "big"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Wait (bounded) until the first batch has started on its nodes.
    let deadline = Instant::now() + Duration::from_secs(20);
    while read(&scratch, "web01", "installs").is_empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    let (code, stdout, stderr) =
        wharf(&scratch, &["cancel", "1", "--reason", "wrong version", "--json"]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    let output = child.wait_with_output().unwrap();
    let result = json(&String::from_utf8_lossy(&output.stdout));
    assert_eq!(output.status.code(), Some(1), "{result}");
    assert_eq!(result["state"], "cancelled");
    assert!(result["reason"].as_str().unwrap().contains("wrong version"), "{result}");
    assert!(read(&scratch, "web20", "installs").is_empty(), "the last batch never started");
}
