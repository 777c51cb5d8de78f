//! `wharf status`, `history` and `show` over deploy records written through the store's
//! public API (the deploy engine writes the same records): the newest succeeded version per
//! package and environment, the guard-rail badges, `--check` reading real versions from
//! local-transport nodes, history order and limit, one deploy in full, unknown ids.

use std::collections::BTreeMap;

use serde_json::{Value, json};
use wharf_store::deploy::{DeployRecord, DeployState, NodeCounts, NodeRun, Override, StageRecord};
use wharf_store::guard::Lease;
use wharf_store::{NewAuditEntry, Store};

use crate::apt::ok;
use crate::support::{Scratch, outcome};

const CONFIG: &str = r#"
[[nodes]]
names = "web[01-03]"
transport = "local"
root = "nodes/{name}"

[commands]
version = "[ ! -d \"$WHARF_NODE_ROOT\"/broken ] || exit 7; cat \"$WHARF_NODE_ROOT\"/version-{package}"
hold = "true"

[[environments]]
name = "gstg"
nodes = "web01"
packages = ["app"]

[[environments]]
name = "gprd"
after = "gstg"
nodes = "web[02-03]"
production = true
packages = ["app"]

[[windows]]
name = "year-end"
from = "2026-12-20T00:00:00Z"
until = "2027-01-04T00:00:00Z"
environments = ["gprd"]
reason = "year-end freeze"
"#;

fn stage(name: &str, kind: &str, state: &str, failed: u32) -> StageRecord {
    StageRecord {
        name: name.into(),
        kind: kind.into(),
        state: state.into(),
        nodes: NodeCounts { succeeded: 1, failed, skipped: 0 },
        point_of_no_return: false,
        started_at: Some("2026-12-01T10:00:00Z".into()),
        finished_at: (state != "running").then(|| "2026-12-01T10:03:12Z".into()),
        approved_by: None,
    }
}

fn record(environment: &str, version: &str, state: DeployState) -> DeployRecord {
    let done = state.is_final();
    DeployRecord {
        environment: environment.into(),
        pipeline: "upgrade".into(),
        packages: BTreeMap::from([("app".to_owned(), version.to_owned())]),
        previous: BTreeMap::new(),
        state,
        started_by: "alice".into(),
        via: "cli".into(),
        automated: false,
        overrides: Vec::new(),
        warnings: Vec::new(),
        stages: vec![
            stage("prepare", "check", "succeeded", 0),
            stage("install", "install", if done { "succeeded" } else { "running" }, 0),
        ],
        started_at: "2026-12-01T10:00:00Z".into(),
        finished_at: done.then(|| "2026-12-01T10:03:12Z".into()),
        reason: None,
        issue: None,
        downgrade: false,
        hold: false,
    }
}

/// Write deploys into the scratch directory's store (`wharf-data/wharf.db`) as the deploy
/// engine does; returns their ids.
fn seed(scratch: &Scratch, records: Vec<DeployRecord>) -> Vec<i64> {
    let data = scratch.path().join("wharf-data");
    std::fs::create_dir_all(&data).unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        let store = Store::open(&data.join("wharf.db").display().to_string()).await.unwrap();
        let mut ids = Vec::new();
        for record in records {
            let (id, _) = store
                .create_deploy(&record, |id| {
                    NewAuditEntry::new("alice", "deploy.start", &record.environment)
                        .details(json!({ "deploy": id }))
                })
                .await
                .unwrap();
            // A running deploy holds its environment's lease, here for a process on another
            // host (so only the lease's expiry, an hour away, could say it is gone).
            if record.state == DeployState::Running {
                let lease = Lease {
                    environment: record.environment.clone(),
                    deploy_id: id,
                    owner: "elsewhere:1:1".into(),
                    expires_ms: now_ms() + 3_600_000,
                };
                store.acquire_lease(&lease, 0).await.unwrap().unwrap();
            }
            ids.push(id);
        }
        store.close().await;
        ids
    })
}

fn now_ms() -> i64 {
    let since = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap();
    i64::try_from(since.as_millis()).unwrap()
}

fn json_of(scratch: &Scratch, args: &[&str]) -> Value {
    serde_json::from_str(&ok(scratch, args)).unwrap()
}

fn as_actor(scratch: &Scratch, actor: &str, args: &[&str]) {
    let (code, _, stderr) =
        outcome(&scratch.wharf(args).env("WHARF_ACTOR", actor).output().unwrap());
    assert_eq!(code, 0, "{args:?}: {stderr}");
}

#[test]
fn status_shows_deployed_versions_and_what_stops_the_next_deploy() {
    let scratch = Scratch::new();
    scratch.config(CONFIG);
    seed(
        &scratch,
        vec![
            record("gstg", "1.0", DeployState::Succeeded),
            record("gprd", "1.0", DeployState::Succeeded),
            record("gstg", "1.1", DeployState::Succeeded),
            record("gstg", "1.2", DeployState::Failed),
            record("gprd", "1.1", DeployState::Running),
        ],
    );
    as_actor(&scratch, "alice", &["lock", "gprd", "--reason", "incident #123"]);
    as_actor(&scratch, "bob", &["hold", "app", "--env", "gstg", "--reason", "1.2 breaks login"]);
    as_actor(&scratch, "erin", &["maintenance", "start", "web03", "--reason", "disk swap"]);

    let at = ["status", "--json", "--at", "2026-12-24T12:00:00Z"];
    let report = json_of(&scratch, &at);
    let envs: Vec<&str> =
        report.as_array().unwrap().iter().map(|s| s["environment"].as_str().unwrap()).collect();
    assert_eq!(envs, ["gstg", "gprd"], "promotion order");
    let (gstg, gprd) = (&report[0], &report[1]);
    // The newest *succeeded* deploy: 1.1 on gstg (1.2 failed), 1.0 on gprd (1.1 runs).
    assert_eq!(gstg["packages"]["app"]["version"], "1.1");
    assert_eq!(gstg["packages"]["app"]["deploy_id"], 3);
    assert_eq!(gstg["packages"]["app"]["deployed_at"], "2026-12-01T10:03:12Z");
    assert_eq!(gprd["packages"]["app"]["version"], "1.0");
    assert_eq!(gprd["running"], json!({ "id": 5, "state": "running", "stage": "install" }));
    assert_eq!(gstg["running"], Value::Null);
    // Badges: the lock, the hold, the open window, the node in maintenance.
    assert_eq!(
        (gprd["locked"]["holder"].as_str(), gstg["locked"].is_null()),
        (Some("alice"), true)
    );
    assert_eq!(gstg["holds"][0]["package"], "app");
    assert_eq!(gprd["holds"], json!([]));
    assert_eq!(gprd["open_windows"][0]["name"], "year-end");
    assert_eq!(gprd["open_windows"][0]["until"], "2027-01-04T00:00:00Z");
    assert_eq!(gstg["open_windows"], json!([]));
    assert_eq!(gprd["maintenance"][0]["node"], "web03");
    assert_eq!(
        (
            gstg["maintenance"].as_array().unwrap().len(),
            gprd["disagreeing_nodes"].as_array().unwrap().len()
        ),
        (0, 0)
    );
    // Outside the window it is not listed.
    let later = json_of(&scratch, &["status", "gprd", "--json", "--at", "2027-02-01T00:00:00Z"]);
    assert_eq!(later.as_array().unwrap().len(), 1);
    assert_eq!(later[0]["open_windows"], json!([]));

    let human = ok(&scratch, &["status", "--at", "2026-12-24T12:00:00Z"]);
    for needle in [
        "LOCKED by alice: \"incident #123\"",
        "HELD app by bob",
        "WINDOW year-end open until 2027-01-04 00:00 UTC",
        "1 in maintenance: web03",
        "deploy #5 running at install",
        "#3",
    ] {
        assert!(human.contains(needle), "{needle:?} in\n{human}");
    }

    // The global lock counts for every environment.
    as_actor(&scratch, "carol", &["lock", "--all", "--reason", "year-end freeze"]);
    let report = json_of(&scratch, &["status", "--json"]);
    assert_eq!(report[0]["locked"]["environment"], "*");
    assert_eq!(report[1]["locked"]["holder"], "alice", "the environment's own lock first");
    assert!(ok(&scratch, &["status", "gstg"]).contains("LOCKED by carol (all environments)"));

    let (code, _, stderr) = outcome(&scratch.run(&["status", "gprod"]));
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("no environment named \"gprod\" (known: gstg, gprd)"), "{stderr}");
}

#[test]
fn status_check_names_nodes_that_disagree_or_cannot_be_read() {
    let scratch = Scratch::new();
    scratch.config(CONFIG);
    seed(&scratch, vec![record("gprd", "1.1", DeployState::Succeeded)]);
    let version = |node: &str, text: &str| {
        let root = scratch.path().join("nodes").join(node);
        std::fs::create_dir_all(&root).unwrap();
        std::fs::write(root.join("version-app"), text).unwrap();
    };
    version("web02", "1.1\n");
    version("web03", "1.0\n");

    // Without --check nothing is read.
    let plain = json_of(&scratch, &["status", "gprd", "--json"]);
    assert_eq!(
        (plain[0]["checked"].as_bool(), plain[0]["disagreeing_nodes"].clone()),
        (Some(false), json!([]))
    );

    let (code, stdout, stderr) = outcome(&scratch.run(&["status", "gprd", "--check", "--json"]));
    assert_eq!(code, 1, "a disagreeing node exits 1: {stdout}{stderr}");
    let report: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(
        report[0]["disagreeing_nodes"],
        json!([{ "node": "web03", "versions": { "app": "1.0" }, "expected": { "app": "1.1" }, "error": null }])
    );
    let (code, stdout, _) = outcome(&scratch.run(&["status", "gprd", "--check"]));
    assert_eq!(code, 1);
    assert!(stdout.contains("DISAGREES web03: app=1.0 (expected 1.1)"), "{stdout}");

    // dpkg's equality: 0:1.1 is 1.1.
    version("web03", "0:1.1\n");
    let (code, stdout, stderr) = outcome(&scratch.run(&["status", "gprd", "--check"]));
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(stdout.contains("every node has the expected versions"), "{stdout}");

    // A node whose version cannot be read, and one that cannot be reached, are named
    // with the error, and exit 3.
    std::fs::create_dir_all(scratch.path().join("nodes/web02/broken")).unwrap();
    let unreachable = "[[nodes]]\nnames = \"web09\"\nhost = \"127.0.0.1\"\nport = 1\n";
    scratch.config(&format!("{unreachable}{}", CONFIG.replace("web[02-03]", "web[02-03,09]")));
    let (code, stdout, stderr) = outcome(&scratch.run(&["status", "--check", "--json"]));
    assert_eq!(code, 3, "{stdout}{stderr}");
    let report: Value = serde_json::from_str(&stdout).unwrap();
    let nodes = &report[1]["disagreeing_nodes"];
    assert_eq!(
        (nodes[0]["node"].as_str(), nodes[1]["node"].as_str()),
        (Some("web02"), Some("web09"))
    );
    assert!(nodes[0]["error"].as_str().unwrap().contains("exited with 7"), "{nodes}");
    assert!(!nodes[1]["error"].as_str().unwrap().is_empty(), "{nodes}");
    assert_eq!(nodes.as_array().unwrap().len(), 2, "web03 agrees: {nodes}");
    assert_eq!(report[0]["checked"], true);
}

#[test]
fn history_lists_newest_first_and_show_tells_the_whole_deploy() {
    let scratch = Scratch::new();
    scratch.config(CONFIG);
    let mut failed = record("gprd", "1.1", DeployState::Failed);
    failed.overrides.push(Override {
        kind: "ignore-production-checks".into(),
        reason: "hotfix, canary skipped".into(),
        by: "alice".into(),
    });
    failed.warnings.push("precheck haproxy failed: web03 DOWN".into());
    failed.previous.insert("app".into(), "1.0".into());
    failed.reason = Some("install failed on web03".into());
    failed.stages[1] = stage("install", "install", "failed", 1);
    let ids = seed(
        &scratch,
        vec![
            record("gstg", "1.0", DeployState::Succeeded),
            record("gstg", "1.1", DeployState::Succeeded),
            failed,
        ],
    );
    assert_eq!(ids, [1, 2, 3]);

    let all = json_of(&scratch, &["history", "--json"]);
    let listed: Vec<i64> =
        all.as_array().unwrap().iter().map(|d| d["id"].as_i64().unwrap()).collect();
    assert_eq!(listed, [3, 2, 1], "newest first");
    assert_eq!(all[0]["overrides"][0]["reason"], "hotfix, canary skipped");
    assert_eq!(json_of(&scratch, &["history", "-n", "2", "--json"]).as_array().unwrap().len(), 2);
    let gstg = json_of(&scratch, &["history", "gstg", "--json"]);
    assert_eq!(
        gstg.as_array().unwrap().iter().map(|d| d["id"].as_i64().unwrap()).collect::<Vec<_>>(),
        [2, 1]
    );
    let ids_of = |args: &[&str]| -> Vec<i64> {
        let listed = json_of(&scratch, args);
        listed.as_array().unwrap().iter().map(|d| d["id"].as_i64().unwrap()).collect()
    };
    assert_eq!(ids_of(&["history", "--state", "failed", "--json"]), [3]);
    assert_eq!(ids_of(&["history", "--state", "succeeded", "--json"]), [2, 1]);
    assert_eq!(ids_of(&["history", "gprd", "--state", "succeeded", "--json"]), Vec::<i64>::new());
    let (code, _, stderr) = outcome(&scratch.run(&["history", "--state", "broken"]));
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains(r#"no deploy state "broken""#) && stderr.contains("interrupted"),
        "{stderr}"
    );
    let human = ok(&scratch, &["history"]);
    let lines: Vec<&str> = human.lines().collect();
    assert!(
        lines[1].starts_with("#3") && lines[1].contains("gprd") && lines[1].contains("app=1.1"),
        "{human}"
    );
    assert!(
        lines[1].contains("failed")
            && lines[1].contains("alice (cli)")
            && lines[1].contains("3m12s"),
        "{human}"
    );
    assert!(lines[1].contains("! ignore-production-checks") && !lines[2].contains('!'), "{human}");

    // Node results and events of deploy 3 (not deploy 2's).
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        let db = scratch.path().join("wharf-data/wharf.db").display().to_string();
        let store = Store::open(&db).await.unwrap();
        for (node, state, code, tail) in [
            ("web02", "succeeded", 0, "Setting up app (1.1)"),
            ("web03", "failed", 100, "E: Sub-process /usr/bin/dpkg returned an error code (1)"),
        ] {
            let run = NodeRun {
                stage: 1,
                node: node.into(),
                state: state.into(),
                exit_code: Some(code),
                output_tail: format!("Unpacking app (1.1)\n{tail}"),
                started_at: "2026-12-01T10:01:00Z".into(),
                finished_at: Some("2026-12-01T10:02:00Z".into()),
            };
            store.record_node(3, &run).await.unwrap();
        }
        store.append_deploy_event(2, "deploy.finished", &json!({})).await.unwrap();
        store.append_deploy_event(3, "deploy.started", &json!({ "by": "alice" })).await.unwrap();
        store
            .append_deploy_event(3, "deploy.finished", &json!({ "state": "failed" }))
            .await
            .unwrap();
        store.close().await;
    });
    let shown = json_of(&scratch, &["show", "3", "--json"]);
    assert_eq!(
        (shown["deploy"]["id"].as_i64(), shown["deploy"]["state"].as_str()),
        (Some(3), Some("failed"))
    );
    assert_eq!(shown["nodes"].as_array().unwrap().len(), 2);
    assert_eq!(shown["nodes"][1]["node"], "web03");
    assert_eq!(shown["nodes"][1]["stage_name"], "install");
    assert_eq!(shown["nodes"][1]["exit_code"], 100);
    let kinds: Vec<&str> =
        shown["events"].as_array().unwrap().iter().map(|e| e["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["deploy.started", "deploy.finished"]);
    assert_eq!(shown["events"][1]["body"]["state"], "failed");

    let human = ok(&scratch, &["show", "3"]);
    for needle in [
        "deploy #3 to gprd: failed",
        "packages: app=1.1 (was app=1.0)",
        "OVERRIDE ignore-production-checks by alice: \"hotfix, canary skipped\"",
        "WARNING precheck haproxy failed: web03 DOWN",
        "reason: install failed on web03",
        "FAILED web03 in install, exit 100",
        "| E: Sub-process /usr/bin/dpkg returned an error code (1)",
        "deploy.finished",
    ] {
        assert!(human.contains(needle), "{needle:?} in\n{human}");
    }
    assert!(!human.contains("FAILED web02"), "{human}");

    let (code, _, stderr) = outcome(&scratch.run(&["show", "999"]));
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("no deploy 999; `wharf history` lists them"), "{stderr}");
    let (code, _, stderr) = outcome(&scratch.run(&["history", "gprod"]));
    assert_eq!(code, 2, "{stderr}");
}
