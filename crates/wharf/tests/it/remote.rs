//! `wharf --server URL`: the deploy commands through a running server's API print what the
//! local commands print and exit with the same codes; a deploy is followed through its
//! live events until it ends.

use crate::api::{scratch, token};
use crate::support::{Scratch, ServerProcess, outcome};

fn remote(
    scratch: &Scratch,
    server: &ServerProcess,
    token: &str,
    args: &[&str],
) -> (i32, String, String) {
    let url = format!("http://{}", server.addr);
    let mut all = vec!["--server", url.as_str()];
    all.extend_from_slice(args);
    outcome(&scratch.wharf(&all).env("WHARF_TOKEN", token).output().unwrap())
}

#[test]
fn deploy_commands_through_the_server_print_and_exit_as_local_ones() {
    let scratch = scratch();
    let deployer = token(&scratch, "alice-laptop", "deployer", &[]);
    let viewer = token(&scratch, "dashboard", "viewer", &[]);
    let server = ServerProcess::start(&scratch, &[], true);

    let (code, stdout, stderr) =
        remote(&scratch, &server, &deployer, &["deploy", "1.0", "staging", "--yes"]);
    assert_eq!(code, 0, "{stdout}{stderr}\n{}", server.log());
    assert!(stdout.contains("deploy 1 of app 1.0 to staging (upgrade): succeeded"), "{stdout}");
    assert!(stdout.contains("stage install (install): web01\n"), "the deploy's events: {stdout}");
    assert_eq!(std::fs::read_to_string(scratch.path().join("roots/web01/v-app")).unwrap(), "1.0\n");

    // The promotion gate refuses 1.1 on production before staging: exit 4 with the guard
    // named, as locally.
    let (code, _, stderr) =
        remote(&scratch, &server, &deployer, &["deploy", "production", "1.1", "--yes"]);
    assert_eq!(code, 4, "{stderr}");
    assert!(stderr.contains("refused (promotion-gate)"), "{stderr}");
    let (code, _, stderr) =
        remote(&scratch, &server, &deployer, &["deploy", "1.1", "production", "--dry-run"]);
    assert_eq!(code, 4, "{stderr}");
    assert!(stderr.contains("promotion-gate"), "{stderr}");

    // history and show read the same records the local commands read.
    let (code, over_api, stderr) = remote(&scratch, &server, &viewer, &["history", "--json"]);
    assert_eq!(code, 0, "{stderr}");
    let (_, local, _) = outcome(&scratch.run(&["history", "--json"]));
    assert_eq!(over_api, local, "the same JSON either way");
    let only_refused = ["history", "--state", "refused", "--json"];
    let (code, over_api, stderr) = remote(&scratch, &server, &viewer, &only_refused);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(over_api, outcome(&scratch.run(&only_refused)).1);
    let refused: serde_json::Value = serde_json::from_str(&over_api).unwrap();
    let states: Vec<&str> =
        refused.as_array().unwrap().iter().map(|d| d["state"].as_str().unwrap()).collect();
    assert_eq!(states, ["refused"], "{over_api}");
    let (code, _, stderr) = remote(&scratch, &server, &viewer, &["history", "--state", "gone"]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains(r#"no deploy state "gone""#), "{stderr}");
    let (code, stdout, _) = remote(&scratch, &server, &viewer, &["show", "1"]);
    assert_eq!(code, 0);
    assert!(stdout.contains("deploy #1 to staging: succeeded"), "{stdout}");

    // status and locks the same either way; lock and unlock through the server.
    let (code, over_api, stderr) = remote(&scratch, &server, &viewer, &["status", "--json"]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(over_api, outcome(&scratch.run(&["status", "--json"])).1);
    let (code, stdout, stderr) =
        remote(&scratch, &server, &deployer, &["lock", "staging", "--reason", "incident #7"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("locked staging"), "{stdout}");
    let (_, locks, _) = remote(&scratch, &server, &viewer, &["locks", "--json"]);
    assert!(locks.contains("alice-laptop") && locks.contains("incident #7"), "{locks}");
    let (code, _, stderr) =
        remote(&scratch, &server, &deployer, &["deploy", "1.2", "staging", "--yes"]);
    assert_eq!(code, 4, "locked: {stderr}");
    let (code, stdout, _) = remote(&scratch, &server, &deployer, &["unlock", "staging"]);
    assert_eq!(code, 0);
    assert!(stdout.contains("unlocked staging (was locked by alice-laptop)"), "{stdout}");

    // Listings read the same either way; an --at offset's `+` survives the query string.
    let listings: [&[&str]; 6] = [
        &["windows", "--json"],
        &["windows", "--json", "--at", "2026-12-24T13:00:00+01:00"],
        &["audit", "--json", "-n", "5"],
        &["holds", "--json"],
        &["repo", "list", "--json"],
        &["key", "export"],
    ];
    for args in listings {
        let (code, over_api, stderr) = remote(&scratch, &server, &viewer, args);
        assert_eq!(code, 0, "{args:?}: {stderr}");
        assert_eq!(over_api, outcome(&scratch.run(args)).1, "{args:?}");
    }

    // An admin manages tokens through the server; the secret is printed once.
    let admin = token(&scratch, "root", "admin", &[]);
    let (code, created, stderr) =
        remote(&scratch, &server, &admin, &["token", "create", "ci", "--role", "publisher"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(created.trim().starts_with("wharf_"), "{created}");
    let (_, listed, _) = remote(&scratch, &server, &admin, &["token", "list", "--json"]);
    assert!(listed.contains("\"ci\"") && !listed.contains(created.trim()), "{listed}");
    let (code, _, stderr) = remote(&scratch, &server, &admin, &["token", "revoke", "ci"]);
    assert_eq!(code, 0, "{stderr}");
    let (code, stdout, stderr) = remote(
        &scratch,
        &server,
        &deployer,
        &["maintenance", "start", "web01", "--reason", "disk swap"],
    );
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("web01 (1): in maintenance"), "{stdout}");
    let (code, listed, _) = remote(&scratch, &server, &admin, &["maintenance", "list", "--json"]);
    assert_eq!(code, 0);
    assert!(listed.contains("disk swap"), "{listed}");
    let (code, stdout, _) = remote(&scratch, &server, &deployer, &["maintenance", "stop", "web01"]);
    assert_eq!(code, 0);
    assert!(stdout.contains("web01 (1): out of maintenance"), "{stdout}");

    // CI's path: upload packages and publish through the server, all or nothing.
    let publisher = token(&scratch, "ci-pipeline", "publisher", &[]);
    assert_eq!(
        outcome(&scratch.run(&["repo", "create", "tools", "--distribution", "bookworm"])).0,
        0
    );
    let deb = crate::apt::build_deb(scratch.path(), "hello", "1.0", "amd64", "gzip");
    let good = deb.to_str().unwrap();
    let broken = scratch.path().join("broken_1.0_amd64.deb");
    let bytes = std::fs::read(&deb).unwrap();
    std::fs::write(&broken, &bytes[..bytes.len() / 2]).unwrap();
    let (code, _, stderr) = remote(
        &scratch,
        &server,
        &publisher,
        &["repo", "add", "tools", good, broken.to_str().unwrap()],
    );
    assert_eq!(code, 2, "a truncated .deb refuses the whole upload: {stderr}");
    let (code, stdout, stderr) =
        remote(&scratch, &server, &publisher, &["repo", "add", "tools", good]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("added 1 package(s) to tools"), "{stdout}");
    let (code, stdout, stderr) = remote(&scratch, &server, &publisher, &["publish", "tools"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("published repository tools"), "{stdout}");

    // Holds through the server run the hold command on the nodes, as locally.
    let hold = ["hold", "app", "--env", "staging", "--reason", "1.0 breaks login"];
    let (code, stdout, stderr) = remote(&scratch, &server, &deployer, &hold);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("held app on staging"), "{stdout}");
    let held = scratch.path().join("roots/web01/held");
    assert_eq!(std::fs::read_to_string(&held).unwrap(), "app\n");
    let (code, stdout, _) =
        remote(&scratch, &server, &deployer, &["unhold", "app", "--env", "staging"]);
    assert_eq!(code, 0);
    assert!(stdout.contains("unheld app on staging"), "the local wording: {stdout}");
    assert!(!held.exists());

    // A viewer may not deploy; a bad token is refused.
    let (code, _, stderr) =
        remote(&scratch, &server, &viewer, &["deploy", "1.2", "staging", "--yes"]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("deployer"), "{stderr}");
    let (code, _, stderr) = remote(&scratch, &server, "wharf_bogus", &["history"]);
    assert_eq!(code, 2, "{stderr}");
}

/// `(code, stdout)` through the server and locally are the same.
fn same_either_way(scratch: &Scratch, server: &ServerProcess, token: &str, args: &[&str]) {
    let (code, over_api, stderr) = remote(scratch, server, token, args);
    let (local_code, local, local_stderr) = outcome(&scratch.run(args));
    assert_eq!((code, &over_api), (local_code, &local), "{args:?}: {stderr} / {local_stderr}");
}

/// Repositories, snapshots, published trees, the inventory, health, schedules, the audit
/// log and the configuration through the server: the same output and exit codes as the
/// local commands; commands that only work where they run say so.
#[test]
fn repository_and_operations_commands_through_the_server_match_local_ones() {
    let scratch = scratch();
    let publisher = token(&scratch, "ci-pipeline", "publisher", &[]);
    let viewer = token(&scratch, "dashboard", "viewer", &[]);
    let deployer = token(&scratch, "alice-laptop", "deployer", &[]);
    let admin = token(&scratch, "root", "admin", &[]);
    let server = ServerProcess::start(&scratch, &[], true);

    let create = ["repo", "create", "tools", "--distribution", "bookworm", "--comment", "CI"];
    let (code, stdout, stderr) = remote(&scratch, &server, &publisher, &create);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(stdout, "created repository tools\n");
    let (code, _, stderr) = remote(&scratch, &server, &viewer, &create);
    assert_eq!(code, 2, "a viewer may not create: {stderr}");
    assert!(stderr.contains("publisher"), "{stderr}");
    let deb = crate::apt::build_deb(scratch.path(), "hello", "1.0", "amd64", "gzip");
    let add = ["repo", "add", "tools", deb.to_str().unwrap()];
    assert_eq!(remote(&scratch, &server, &publisher, &add).0, 0);
    let (code, stdout, stderr) =
        remote(&scratch, &server, &publisher, &["snapshot", "create", "s1", "--from", "tools"]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(stdout, "created snapshot s1 of tools (1 packages)\n");
    let (code, stdout, stderr) = remote(&scratch, &server, &publisher, &["publish", "tools"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.starts_with("published repository tools"), "{stdout}");

    let reads: [&[&str]; 12] = [
        &["repo", "show", "tools", "--with-packages"],
        &["snapshot", "list", "--json"],
        &["snapshot", "show", "s1"],
        &["publish", "list", "--json"],
        &["nodes"],
        &["nodes", "web[01-02]", "--json"],
        &["nodes", "web09"],
        &["nodeset", "-f", "web01,web02,web03"],
        &["nodeset", "-c", "@*"],
        &["schedules", "--json"],
        &["audit", "--verify"],
        &["audit", "--verify", "--json"],
    ];
    for args in reads {
        same_either_way(&scratch, &server, &viewer, args);
    }
    let (code, _, stderr) = remote(&scratch, &server, &viewer, &["nodes", "web09"]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("web09 is not in the inventory"), "{stderr}");
    // The server's configuration and settings are what this scratch directory's are.
    same_either_way(&scratch, &server, &admin, &["config", "check", "--json"]);
    same_either_way(&scratch, &server, &admin, &["config", "check"]);
    let (code, _, stderr) = remote(&scratch, &server, &viewer, &["config", "check"]);
    assert_eq!(code, 2, "the configuration is the admin's: {stderr}");
    // Health reads the server's disk: free space moves, the checks and the verdict do not.
    let (code, over_api, stderr) = remote(&scratch, &server, &viewer, &["health", "--json"]);
    let (local_code, local, _) = outcome(&scratch.run(&["health", "--json"]));
    assert_eq!(code, local_code, "{stderr}");
    let checks = |text: &str| {
        let report: serde_json::Value = serde_json::from_str(text).unwrap();
        let names: Vec<String> = report["checks"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| format!("{} {}", c["check"], c["ok"]))
            .collect();
        (report["healthy"].clone(), names)
    };
    assert_eq!(checks(&over_api), checks(&local));

    // An operator's note, by the token's name.
    let (code, stdout, stderr) =
        remote(&scratch, &server, &deployer, &["log", "--target", "web01", "restarted", "puma"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.starts_with("logged #"), "{stdout}");
    let (_, entries, _) = outcome(&scratch.run(&["audit", "--action", "note", "--json"]));
    let entries: serde_json::Value = serde_json::from_str(&entries).unwrap();
    assert_eq!(
        (entries[0]["actor"].as_str(), entries[0]["target"].as_str()),
        (Some("alice-laptop"), Some("web01"))
    );

    // Removing nothing exits 1 either way; the rest of the lifecycle through the server.
    let nothing = ["repo", "remove", "tools", "absent"];
    let (code, stdout, _) = remote(&scratch, &server, &publisher, &nothing);
    assert_eq!((code, stdout.as_str()), (1, "no package in tools matches \"absent\"\n"));
    assert_eq!(outcome(&scratch.run(&nothing)).0, 1);
    let steps: [(&[&str], &str); 5] = [
        (&["repo", "remove", "tools", "hello"], "removed 1 package(s) from tools\n"),
        (&["publish", "drop", "tools"], "dropped publish tools\n"),
        (&["snapshot", "drop", "s1"], "dropped snapshot s1\n"),
        (&["repo", "drop", "tools"], "dropped repository tools\n"),
        (&["snapshot", "list"], ""),
    ];
    for (args, expected) in steps {
        let (code, stdout, stderr) = remote(&scratch, &server, &publisher, args);
        assert_eq!(code, 0, "{args:?}: {stderr}");
        if !expected.is_empty() {
            assert_eq!(stdout, expected, "{args:?}");
        }
    }
    same_either_way(&scratch, &server, &viewer, &["repo", "list", "--json"]);

    // Cleanup through the server forgets hello (no repository or snapshot holds it any
    // more) and deletes its file in the server's data directory; a viewer may not.
    let cleanup = ["repo", "cleanup"];
    let (code, _, stderr) = remote(&scratch, &server, &viewer, &cleanup);
    assert_eq!(code, 2, "a viewer may not clean up: {stderr}");
    let (code, stdout, stderr) = remote(&scratch, &server, &publisher, &cleanup);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.starts_with("removed 1 unreferenced package(s): 1 file(s), "), "{stdout}");
    assert_eq!(remote(&scratch, &server, &publisher, &cleanup), outcome(&scratch.run(&cleanup)));
    let (_, audit, _) = outcome(&scratch.run(&["audit", "--action", "repo.cleanup", "--json"]));
    let audit: serde_json::Value = serde_json::from_str(&audit).unwrap();
    assert_eq!(audit.as_array().unwrap().len(), 3, "{audit}");
    assert!(audit.as_array().unwrap().iter().any(|e| e["actor"] == "ci-pipeline"), "{audit}");

    // What works only where it runs says so, and why.
    for args in
        [&["run", "-w", "web01", "--", "true"][..], &["demo"], &["backup", "/tmp/never-written"]]
    {
        let (code, _, stderr) = remote(&scratch, &server, &admin, args);
        assert_eq!(code, 2, "{args:?}: {stderr}");
        assert!(stderr.contains("without --server"), "{args:?}: {stderr}");
    }
}
