//! Running deploys on local-transport nodes whose `install`, `version` and `hold` commands
//! work in each node's private root (`$WHARF_NODE_ROOT`): the promotion through
//! staging → canary → production, every guard's refusal with exit code 4, rollbacks and
//! their guards, downgrades with a hold, failure limits, manual stages, cancels of waiting
//! deploys, unreachable nodes. `recovery.rs` has races, kills, windows and cancels of
//! running deploys.

use serde_json::Value;

use crate::support::{Scratch, outcome};

/// Each install appends a line to the node's `installs` file (the per-node counter) and
/// writes the version; `SLOW` (seconds) slows it down; a node with a `broken` file fails.
const COMMANDS: &str = r#"
[commands]
install = "[ ! -e \"$WHARF_NODE_ROOT/broken\" ] || {{ echo 'E: dpkg was interrupted' >&2; exit 100; }}; sleep \"$(cat \"$WHARF_NODE_ROOT/../slow\" 2>/dev/null || echo 0)\"; for p in {packages}; do printf '%s\n' \"${{p#*=}}\" > \"$WHARF_NODE_ROOT/v-${{p%%=*}}\"; done; echo \"$WHARF_NODE\" >> \"$WHARF_NODE_ROOT/installs\""
version = "cat \"$WHARF_NODE_ROOT/v-\"{package} 2>/dev/null || true"
hold = "printf '%s\n' {package_names} >> \"$WHARF_NODE_ROOT/held\""
unhold = "rm -f \"$WHARF_NODE_ROOT/held\""
holds = "cat \"$WHARF_NODE_ROOT/held\" 2>/dev/null || true"
maintenance_start = "echo paused {reason} > \"$WHARF_NODE_ROOT/maintenance\""
maintenance_stop = "rm \"$WHARF_NODE_ROOT/maintenance\""
stop = "echo stop {unit} >> \"$WHARF_NODE_ROOT/services\""
start = "echo start {unit} >> \"$WHARF_NODE_ROOT/services\""
status = "echo status {unit} >> \"$WHARF_NODE_ROOT/services\""
restart = "echo restart {unit} >> \"$WHARF_NODE_ROOT/services\""
reconfigure = "echo reconfigure >> \"$WHARF_NODE_ROOT/services\""
"#;

const FLEET: &str = r#"
[[nodes]]
names = "web[01-20]"
transport = "local"
root = "roots/{name}"

[[services]]
name = "app"
kind = "worker"
units = ["app.service"]
nodes = "web[01-20]"

[[environments]]
name = "staging"
nodes = "web01"
packages = ["app"]

[[environments]]
name = "canary"
after = "staging"
nodes = "web02"
production = true
canary = true
packages = ["app"]

[[environments]]
name = "production"
after = "canary"
nodes = "web[03-06]"
production = true
packages = ["app"]

[[environments]]
name = "big"
nodes = "web[01-20]"
packages = ["app"]
"#;

pub(crate) fn scratch(extra: &str) -> Scratch {
    let scratch = Scratch::new();
    for n in 1..=20 {
        std::fs::create_dir_all(scratch.path().join(format!("roots/web{n:02}"))).unwrap();
    }
    scratch.config(&format!("{FLEET}{COMMANDS}{extra}"));
    scratch
}

pub(crate) fn wharf(scratch: &Scratch, args: &[&str]) -> (i32, String, String) {
    outcome(&scratch.wharf(args).env("WHARF_ACTOR", "alice").output().unwrap())
}

pub(crate) fn deploy(scratch: &Scratch, args: &[&str]) -> (i32, String, String) {
    let mut all = vec!["deploy", "--yes"];
    all.extend_from_slice(args);
    wharf(scratch, &all)
}

pub(crate) fn read(scratch: &Scratch, node: &str, file: &str) -> String {
    std::fs::read_to_string(scratch.path().join("roots").join(node).join(file)).unwrap_or_default()
}

pub(crate) fn json(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|err| panic!("{err}: {text}"))
}

pub(crate) fn show(scratch: &Scratch, id: i64) -> Value {
    let (code, stdout, stderr) = wharf(scratch, &["show", &id.to_string(), "--json"]);
    assert_eq!(code, 0, "{stderr}");
    json(&stdout)
}

#[test]
fn a_version_rolls_through_staging_canary_production_and_back() {
    let scratch = scratch("");
    let (code, stdout, stderr) = deploy(&scratch, &["1.0", "staging"]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(stdout.contains("stage install (install): web01"), "{stdout}");
    assert_eq!(read(&scratch, "web01", "v-app"), "1.0\n");

    // The promotion gate: production only takes what succeeded on canary.
    let (code, _, stderr) = deploy(&scratch, &["1.0", "production"]);
    assert_eq!(code, 4, "{stderr}");
    assert!(stderr.contains("refused (promotion-gate)") && stderr.contains("canary"), "{stderr}");
    assert!(read(&scratch, "web03", "installs").is_empty(), "a refused deploy runs nothing");

    for env in ["canary", "production"] {
        let (code, stdout, stderr) = deploy(&scratch, &["1.0", env]);
        assert_eq!(code, 0, "{env}: {stdout}{stderr}");
    }
    for env in ["staging", "canary", "production"] {
        let (code, stdout, stderr) = deploy(&scratch, &[env, "1.1", "--json"]);
        assert_eq!(code, 0, "{env}: {stdout}{stderr}");
        let result = json(&stdout);
        assert_eq!(result["state"], "succeeded");
        assert_eq!(result["packages"]["app"], "1.1");
        assert_eq!(result["previous"]["app"], "1.0");
    }
    for node in ["web03", "web04", "web05", "web06"] {
        assert_eq!(read(&scratch, node, "v-app"), "1.1\n", "{node}");
        assert_eq!(read(&scratch, node, "services"), "restart app.service\n".repeat(2), "{node}");
    }
    let (_, stdout, _) = wharf(&scratch, &["history", "production", "--json"]);
    let history = json(&stdout);
    let last = &history[0];
    let stages: Vec<(&str, &str)> = last["stages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["name"].as_str().unwrap(), s["state"].as_str().unwrap()))
        .collect();
    assert_eq!(
        stages,
        [
            ("prepare", "succeeded"),
            ("install", "succeeded"),
            ("restart", "succeeded"),
            ("verify", "succeeded")
        ]
    );
    assert_eq!(last["stages"][1]["nodes"]["succeeded"], 4);

    // Rollback: to the previous successful version, with the rollback pipeline.
    let (code, stdout, stderr) = wharf(&scratch, &["rollback", "production", "--json"]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    let rolled = json(&stdout);
    assert_eq!(
        (rolled["pipeline"].as_str(), rolled["packages"]["app"].as_str()),
        (Some("rollback"), Some("1.0"))
    );
    assert_eq!(read(&scratch, "web06", "v-app"), "1.0\n");

    let audit = wharf(&scratch, &["audit", "--json", "--target", "production"]).1;
    for action in ["deploy.refused", "deploy.start", "deploy.succeeded", "rollback.start"] {
        assert!(audit.contains(&format!("\"{action}\"")), "{action} audited: {audit}");
    }
}

#[test]
fn every_guard_refuses_with_exit_4_and_says_what_lifts_it() {
    let scratch = scratch(
        r#"
[[windows]]
name = "freeze"
from = "2026-12-20T00:00:00Z"
until = "2027-01-04T00:00:00Z"
environments = ["staging"]
reason = "year-end freeze"
"#,
    );
    assert_eq!(deploy(&scratch, &["2.0", "staging"]).0, 0);

    let cases: Vec<(Vec<&str>, Vec<&str>, &str, &str)> = vec![
        // (setup, deploy args, guard, what lifts it)
        (
            vec!["lock", "staging", "--reason", "incident #123"],
            vec!["2.1", "staging"],
            "lock",
            "wharf unlock staging",
        ),
        (
            vec!["lock", "--all", "--reason", "incident #124"],
            vec!["2.1", "staging"],
            "lock",
            "wharf unlock --all",
        ),
        (
            vec!["hold", "app", "--env", "staging", "--reason", "2.1 breaks login"],
            vec!["2.1", "staging"],
            "hold",
            "wharf unhold app --env staging",
        ),
        (vec![], vec!["1.9", "staging"], "downgrade", "--downgrade"),
        (vec![], vec!["2.1", "canary"], "promotion-gate", "--ignore-production-checks"),
        (
            vec![],
            vec!["2.1", "staging", "--automated", "--at", "2026-12-24T12:00:00Z"],
            "window",
            "wait until",
        ),
        (
            vec!["maintenance", "start", "web01", "--reason", "disk swap"],
            vec!["2.1", "staging"],
            "",
            "wharf maintenance stop web01",
        ),
    ];
    let undo: [&[&str]; 7] = [
        &["unlock", "staging"],
        &["unlock", "--all"],
        &["unhold", "app", "--env", "staging"],
        &[],
        &[],
        &[],
        &["maintenance", "stop", "web01"],
    ];
    for ((setup, args, guard, lift), undo) in cases.into_iter().zip(undo) {
        if !setup.is_empty() {
            assert_eq!(wharf(&scratch, &setup).0, 0, "{setup:?}");
        }
        if setup.first() == Some(&"maintenance") {
            // `maintenance_start` ran on the node (seed 003: puppet and cron paused).
            assert_eq!(read(&scratch, "web01", "maintenance"), "paused disk swap\n");
        }
        let (code, stdout, stderr) = deploy(&scratch, &args);
        assert_eq!(code, 4, "{args:?} must be refused: {stdout}{stderr}");
        assert!(stderr.contains(guard) && stderr.contains(lift), "{args:?}: {stderr}");
        let mut dry = args.clone();
        dry.push("--dry-run");
        if !guard.is_empty() {
            assert_eq!(deploy(&scratch, &dry).0, 4, "--dry-run of {args:?} gives the same code");
        }
        if !undo.is_empty() {
            assert_eq!(wharf(&scratch, undo).0, 0, "{undo:?}");
        }
    }
    assert_eq!(read(&scratch, "web01", "installs"), "web01\n", "no refused deploy installed");
    assert_eq!(read(&scratch, "web01", "maintenance"), "", "maintenance_stop ran");
    // Every refusal is on record.
    let (_, stdout, _) = wharf(&scratch, &["history", "staging", "--json"]);
    let refused =
        json(&stdout).as_array().unwrap().iter().filter(|d| d["state"] == "refused").count();
    assert_eq!(refused, 6);
    // With the override, the window does not apply to a hand deploy, and the deploy runs.
    assert_eq!(deploy(&scratch, &["2.1", "staging", "--at", "2026-12-24T12:00:00Z"]).0, 0);
}

#[test]
fn failures_past_the_limit_fail_the_deploy_naming_the_nodes() {
    let scratch = scratch("");
    std::fs::write(scratch.path().join("roots/web05/broken"), "").unwrap();
    let (code, stdout, stderr) = deploy(&scratch, &["1.0", "big", "--json"]);
    assert_eq!(code, 1, "{stdout}{stderr}");
    let result = json(&stdout);
    assert_eq!(result["state"], "failed");
    let reason = result["reason"].as_str().unwrap();
    assert!(reason.contains("web05") && reason.contains("dpkg was interrupted"), "{reason}");
    // Batches of 25%: web[01-05] ran, the batches after the failure did not.
    assert_eq!(read(&scratch, "web04", "v-app"), "1.0\n");
    assert!(read(&scratch, "web06", "installs").is_empty(), "later batches never started");
    let detail = show(&scratch, result["id"].as_i64().unwrap());
    let failed: Vec<&Value> =
        detail["nodes"].as_array().unwrap().iter().filter(|n| n["state"] == "failed").collect();
    assert_eq!(failed.len(), 1);
    assert_eq!(
        (failed[0]["node"].as_str(), failed[0]["exit_code"].as_i64()),
        (Some("web05"), Some(100))
    );
}

#[test]
fn a_downgrade_stops_installs_reconfigures_starts_verifies_and_holds() {
    let scratch = scratch("");
    assert_eq!(deploy(&scratch, &["16.2.0", "staging"]).0, 0);
    let (code, stdout, stderr) = deploy(
        &scratch,
        &[
            "app=16.1.0",
            "staging",
            "--downgrade",
            "--hold",
            "--issue",
            "https://gitlab.example/i/9",
            "--json",
        ],
    );
    assert_eq!(code, 0, "{stdout}{stderr}");
    let result = json(&stdout);
    assert_eq!(result["pipeline"], "downgrade");
    assert_eq!(read(&scratch, "web01", "v-app"), "16.1.0\n");
    assert_eq!(
        read(&scratch, "web01", "services"),
        "restart app.service\nstop app.service\nreconfigure\nstart app.service\nstatus app.service\n"
    );
    assert_eq!(read(&scratch, "web01", "held"), "app\n");
    let detail = show(&scratch, result["id"].as_i64().unwrap());
    let texts: Vec<&str> = detail["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["body"]["text"].as_str())
        .collect();
    assert!(
        texts.iter().any(|t| t
            .starts_with("I will be manually downgrading package on staging to app 16.1.0.")
            && t.contains("https://gitlab.example/i/9")),
        "{texts:?}"
    );
    assert!(
        texts.contains(&"Downgrade completed. The package has also been put on hold."),
        "{texts:?}"
    );
    // The nodes agree with the record; then one forgets its hold, another holds unasked.
    let (code, stdout, stderr) = wharf(&scratch, &["holds", "--check", "--json"]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert_eq!(json(&stdout)["disagreeing_nodes"], serde_json::json!([]));
    std::fs::remove_file(scratch.path().join("roots/web01/held")).unwrap();
    std::fs::write(scratch.path().join("roots/web02/held"), "app\nlinux-image-amd64\n").unwrap();
    let (code, stdout, stderr) = wharf(&scratch, &["holds", "--check", "--json"]);
    assert_eq!(code, 1, "{stdout}{stderr}");
    let nodes = &json(&stdout)["disagreeing_nodes"];
    assert_eq!(
        (nodes[0]["node"].as_str(), nodes[0]["not_held"][0].as_str()),
        (Some("web01"), Some("app"))
    );
    assert_eq!(
        (nodes[1]["node"].as_str(), &nodes[1]["unrecorded"]),
        (Some("web02"), &serde_json::json!(["app"])),
        "a hold of a package Wharf does not deploy there is not its business"
    );
    std::fs::remove_file(scratch.path().join("roots/web02/held")).unwrap();
    // Held: the next deploy is refused until unheld.
    assert_eq!(deploy(&scratch, &["16.3.0", "staging"]).0, 4);
    assert_eq!(wharf(&scratch, &["unhold", "app", "--env", "staging"]).0, 0);
    assert_eq!(deploy(&scratch, &["16.3.0", "staging"]).0, 0);
}

#[test]
fn rollback_guards_need_a_review_and_a_reason_past_a_point_of_no_return() {
    let scratch = scratch(
        r#"
[[pipelines]]
name = "with-migrations"
stages = [
  { name = "install", kind = "install" },
  { name = "post-deploy migrations", kind = "run", command = "true", point_of_no_return = true },
]
"#,
    );
    for version in ["1.0", "1.1"] {
        assert_eq!(deploy(&scratch, &[version, "staging"]).0, 0);
    }
    assert_eq!(deploy(&scratch, &["1.2", "staging", "--pipeline", "with-migrations"]).0, 0);
    let (code, _, stderr) = wharf(&scratch, &["rollback", "staging"]);
    assert_eq!(code, 4, "{stderr}");
    assert!(
        stderr.contains("post-deploy migrations ran in 1.2") && stderr.contains("--force REASON"),
        "{stderr}"
    );
    let (code, _, stderr) =
        wharf(&scratch, &["rollback", "staging", "--to", "1.0", "--force", "backward compatible"]);
    assert_eq!(code, 4, "{stderr}");
    assert!(stderr.contains("--reviewed-by NAME"), "{stderr}");
    let (code, stdout, stderr) = wharf(
        &scratch,
        &[
            "rollback",
            "staging",
            "--to",
            "1.0",
            "--force",
            "backward compatible",
            "--reviewed-by",
            "bob",
            "--json",
        ],
    );
    assert_eq!(code, 0, "{stderr}");
    let overrides: Vec<String> = json(&stdout)["overrides"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| format!("{}={}", o["kind"].as_str().unwrap(), o["reason"].as_str().unwrap()))
        .collect();
    assert_eq!(
        overrides,
        ["reviewed-by=2 versions back, reviewed by bob", "force=backward compatible"]
    );
    assert_eq!(read(&scratch, "web01", "v-app"), "1.0\n");
}

#[test]
fn a_manual_stage_waits_for_approval_and_a_waiting_deploy_can_be_cancelled() {
    let scratch = scratch(
        r#"
[[pipelines]]
name = "gated"
stages = [
  { name = "first", kind = "install", nodes = "web01" },
  { name = "go", kind = "manual" },
  { name = "rest", kind = "install", nodes = "web[02-20]" },
]
"#,
    );
    let (code, stdout, stderr) = deploy(&scratch, &["1.0", "big", "--pipeline", "gated", "--json"]);
    assert_eq!(code, 0, "{stderr}");
    let waiting = json(&stdout);
    assert_eq!(waiting["state"], "waiting");
    let id = waiting["id"].as_i64().unwrap().to_string();
    assert_eq!(read(&scratch, "web01", "v-app"), "1.0\n");
    assert!(read(&scratch, "web02", "installs").is_empty());
    let (code, _, stderr) = wharf(&scratch, &["approve", &id, "rest"]);
    assert_eq!(code, 2, "the wrong stage is named: {stderr}");
    assert!(stderr.contains("waits at stage go"), "{stderr}");
    let (code, stdout, stderr) = wharf(&scratch, &["approve", &id, "go", "--json"]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(json(&stdout)["state"], "succeeded");
    assert_eq!(read(&scratch, "web20", "v-app"), "1.0\n");
    assert_eq!(read(&scratch, "web01", "installs"), "web01\n", "not installed again");

    let (_, stdout, _) = deploy(&scratch, &["1.1", "big", "--pipeline", "gated", "--json"]);
    let id = json(&stdout)["id"].as_i64().unwrap().to_string();
    let (code, _, _) = wharf(&scratch, &["cancel", &id]);
    assert_eq!(code, 2, "--reason is required");
    let (code, stdout, stderr) =
        wharf(&scratch, &["cancel", &id, "--reason", "wrong version", "--json"]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(json(&stdout)["state"], "cancelled");
    assert_eq!(wharf(&scratch, &["approve", &id]).0, 2, "nothing waits any more");
    let audit = wharf(&scratch, &["audit", "--json", "--action", "deploy.cancel"]).1;
    assert!(audit.contains("wrong version"), "{audit}");
}

#[test]
fn an_unreachable_node_fails_the_deploy_with_exit_3_naming_it() {
    let scratch = scratch(
        r#"
[[nodes]]
names = "ghost"
host = "127.0.0.1"
port = 1

[[environments]]
name = "mixed"
nodes = "web01,ghost"
packages = ["app"]
"#,
    );
    // The precheck already cannot read ghost's version: refused unless allowed.
    let (code, _, stderr) = deploy(&scratch, &["1.0", "mixed"]);
    assert_eq!(code, 4, "{stderr}");
    assert!(stderr.contains("ghost") && stderr.contains("unreachable"), "{stderr}");
    let (code, stdout, stderr) =
        deploy(&scratch, &["1.0", "mixed", "--allow-precheck-failure", "--json"]);
    assert_eq!(code, 3, "{stdout}{stderr}");
    let result = json(&stdout);
    assert_eq!(result["state"], "failed");
    assert!(result["reason"].as_str().unwrap().contains("ghost"), "{result}");
    assert!(
        result["warnings"][0].as_str().unwrap().starts_with("fleet-version: ghost"),
        "{result}"
    );
    // Batches of 25% in node-set order: ghost's batch failed, web01's never started.
    assert_eq!(read(&scratch, "web01", "installs"), "", "no batch after the failure");
}

#[test]
fn a_command_that_cannot_be_filled_in_fails_the_deploy_and_says_why() {
    let scratch = scratch(
        r#"
[[environments]]
name = "versioned"
nodes = "web07"
packages = ["app", "lib"]
commands = { install = "echo {version} > \"$WHARF_NODE_ROOT/v-app\"" }
"#,
    );
    let (code, _, stderr) =
        deploy(&scratch, &["app=1.0", "lib=2.0", "versioned", "--allow-precheck-failure"]);
    assert_eq!(code, 2, "a configuration problem: {stderr}");
    assert!(stderr.contains("{version}") && stderr.contains("{packages}"), "{stderr}");
    let (_, stdout, _) = wharf(&scratch, &["history", "versioned", "--json"]);
    let last = &json(&stdout)[0];
    assert_eq!(last["state"], "failed", "not left running or resumable: {last}");
    assert!(last["reason"].as_str().unwrap().starts_with("stopped by an error"), "{last}");
    let (code, _, stderr) = wharf(&scratch, &["resume", &last["id"].to_string()]);
    assert_eq!(code, 2, "{stderr}");
    // One version for every package: {version} is that version.
    let (code, stdout, stderr) =
        deploy(&scratch, &["1.5", "versioned", "--allow-precheck-failure"]);
    assert_eq!(code, 1, "installed, but lib is not 1.5 on the node: {stdout}{stderr}");
    assert_eq!(read(&scratch, "web07", "v-app"), "1.5\n");
}
