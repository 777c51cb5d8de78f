//! Locks and maintenance from the command line: a lock is never silently replaced, a
//! refusal exits 4 naming the holder and what lifts it, and every change is audited.

use crate::apt::ok;
use crate::support::{Scratch, outcome};

const CONFIG: &str = r#"
[[nodes]]
names = "web[01-04]"
transport = "local"

[[environments]]
name = "gstg"
nodes = "web01"

[[environments]]
name = "gprd"
after = "gstg"
nodes = "web[02-04]"
production = true
"#;

fn as_actor(scratch: &Scratch, actor: &str, args: &[&str]) -> (i32, String, String) {
    outcome(&scratch.wharf(args).env("WHARF_ACTOR", actor).output().unwrap())
}

#[test]
fn locks_are_never_silently_replaced() {
    let scratch = Scratch::new();
    scratch.config(CONFIG);
    let (code, stdout, stderr) =
        as_actor(&scratch, "alice", &["lock", "gprd", "--reason", "incident #123"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("locked gprd"), "{stdout}");

    // Bob is refused, with who holds it, why, and what lifts it; nothing changes.
    let (code, _, stderr) = as_actor(&scratch, "bob", &["lock", "gprd", "--reason", "release"]);
    assert_eq!(code, 4, "{stderr}");
    for needle in
        ["gprd is locked by alice since", "\"incident #123\"", "--steal REASON", "ask alice"]
    {
        assert!(stderr.contains(needle), "{needle:?} in {stderr}");
    }
    let locks: serde_json::Value =
        serde_json::from_str(&ok(&scratch, &["locks", "--json"])).unwrap();
    assert_eq!(locks[0]["holder"], "alice");

    // A lock with --until stops deploys until then, and no longer after.
    let (code, stdout, stderr) = as_actor(
        &scratch,
        "carol",
        &["lock", "gstg", "--reason", "freeze", "--until", "2099-01-04T00:00:00Z", "--json"],
    );
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&stdout).unwrap()["until"],
        "2099-01-04T00:00:00.000Z"
    );
    let dry = |at: &str| {
        as_actor(&scratch, "alice", &["deploy", "app=1.0", "gstg", "--dry-run", "--at", at])
    };
    let (code, _, stderr) = dry("2099-01-03T23:59:00Z");
    assert_eq!(code, 4, "{stderr}");
    assert!(
        stderr.contains("until 2099-01-04T00:00:00.000Z")
            || stderr.contains("gstg is locked by carol"),
        "{stderr}"
    );
    let (code, _, stderr) = dry("2099-01-04T00:00:01Z");
    assert!(!stderr.contains("refused (lock)"), "expired: {stderr}");
    assert_eq!(code, 0, "{stderr}");
    let (code, _, stderr) = as_actor(
        &scratch,
        "carol",
        &["lock", "gstg", "--reason", "x", "--until", "2001-01-01T00:00:00Z"],
    );
    assert_eq!(code, 2, "an --until in the past: {stderr}");
    ok(&scratch, &["unlock", "gstg"]);

    // Taken over only with a reason, which the audit log keeps.
    let (code, _, stderr) =
        as_actor(&scratch, "bob", &["lock", "gprd", "--reason", "hotfix", "--steal", " "]);
    assert_eq!(code, 2, "an empty reason is no reason: {stderr}");
    let (code, stdout, stderr) = as_actor(
        &scratch,
        "bob",
        &["lock", "gprd", "--reason", "hotfix", "--steal", "alice is offline", "--json"],
    );
    assert_eq!(code, 0, "{stderr}");
    let report: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(
        (report["holder"].as_str(), report["stolen_from"].as_str()),
        (Some("bob"), Some("alice"))
    );
    let audit: Vec<serde_json::Value> =
        serde_json::from_str(&ok(&scratch, &["audit", "--action", "lock", "--json"])).unwrap();
    let steal = audit.iter().find(|e| e["action"] == "lock.steal").expect("steal audited");
    assert_eq!(
        (steal["actor"].as_str(), steal["reason"].as_str()),
        (Some("bob"), Some("alice is offline"))
    );

    // Unknown environments and double unlocks are usage errors; the global lock works.
    let (code, _, stderr) = as_actor(&scratch, "bob", &["lock", "gprod", "--reason", "typo"]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("no environment named \"gprod\" (known: gstg, gprd)"), "{stderr}");
    assert!(ok(&scratch, &["unlock", "gprd"]).contains("was locked by bob"));
    let (code, _, stderr) = as_actor(&scratch, "bob", &["unlock", "gprd"]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("gprd is not locked"), "{stderr}");
    let (code, _, stderr) =
        as_actor(&scratch, "carol", &["lock", "--all", "--reason", "year-end freeze"]);
    assert_eq!(code, 0, "{stderr}");
    let (code, _, stderr) = as_actor(&scratch, "dave", &["lock", "--all", "--reason", "mine"]);
    assert_eq!(code, 4, "{stderr}");
    assert!(stderr.contains("every environment is locked by carol"), "{stderr}");
    assert!(ok(&scratch, &["audit", "--verify"]).starts_with("audit log ok"));
}

#[test]
fn maintenance_is_recorded_and_listed() {
    let scratch = Scratch::new();
    scratch.config(CONFIG);
    let (code, stdout, stderr) = as_actor(
        &scratch,
        "erin",
        &["maintenance", "start", "web[02-03]", "--reason", "disk swap"],
    );
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("web[02-03] (2): in maintenance"), "{stdout}");
    let listed: Vec<serde_json::Value> =
        serde_json::from_str(&ok(&scratch, &["maintenance", "list", "--json"])).unwrap();
    let nodes: Vec<&str> = listed.iter().map(|m| m["node"].as_str().unwrap()).collect();
    assert_eq!(nodes, ["web02", "web03"]);
    assert_eq!(listed[0]["reason"], "disk swap");
    assert!(
        ok(&scratch, &["maintenance", "stop", "@*"]).contains("web[02-03] (2): out of maintenance")
    );
    let (code, _, stderr) = as_actor(&scratch, "erin", &["maintenance", "stop", "web02"]);
    assert_eq!(code, 2, "{stderr}");
    let (code, _, stderr) =
        as_actor(&scratch, "erin", &["maintenance", "start", "db9", "--reason", "x"]);
    assert_eq!(code, 2, "{stderr}");
    let audit = ok(&scratch, &["audit", "--action", "maintenance", "--json"]);
    assert_eq!(audit.matches("\"maintenance.").count(), 2, "{audit}");
}

/// `wharf windows --at` answers for any moment, in the window's zone and UTC: the weekend
/// window of seed 001 on a Saturday and a Tuesday, and a one-off year-end freeze.
#[test]
fn windows_say_when_they_open_and_close() {
    let scratch = Scratch::new();
    scratch.config(&format!(
        "{CONFIG}{}",
        r#"
[[windows]]
name = "weekend"
start = "0 23 * * fri"
end = "0 7 * * mon"
timezone = "Europe/Amsterdam"
environments = ["gprd"]
reason = "no automated production deploys over the weekend"

[[windows]]
name = "year-end"
from = "2026-12-20T00:00:00Z"
until = "2027-01-04T00:00:00Z"
applies_to = "all"
"#
    ));
    let at = |time: &str, env: &str| -> Vec<serde_json::Value> {
        let mut args = vec!["windows", "--json", "--at", time];
        if !env.is_empty() {
            args.extend(["--env", env]);
        }
        serde_json::from_str(&ok(&scratch, &args)).unwrap()
    };
    // Saturday 5 December 2026, noon UTC: the weekend window is open since Friday 23:00
    // Amsterdam time (22:00 UTC, CET) and closes Monday 07:00 (06:00 UTC).
    let saturday = at("2026-12-05T12:00:00Z", "gprd");
    let weekend = &saturday[0];
    assert_eq!(
        (weekend["name"].as_str(), weekend["open"].as_bool()),
        (Some("weekend"), Some(true))
    );
    assert_eq!(weekend["opens_at"], "2026-12-04T22:00:00Z");
    assert_eq!(weekend["closes_at"], "2026-12-07T06:00:00Z");
    assert_eq!(weekend["closes_local"], "2026-12-07 07:00 CET");
    assert_eq!(saturday[1]["open"], false, "year-end has not begun");
    // Tuesday: closed, and it says when it next opens. gstg is not covered by it.
    let tuesday = at("2026-12-08T12:00:00Z", "gprd");
    assert_eq!(
        (tuesday[0]["open"].as_bool(), tuesday[0]["opens_at"].as_str()),
        (Some(false), Some("2026-12-11T22:00:00Z"))
    );
    let christmas = at("2026-12-24T18:00:00Z", "gstg");
    let names: Vec<&str> = christmas.iter().map(|w| w["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["year-end"]);
    assert_eq!(at("2026-12-24T18:00:00Z", "")[1]["open"], true);
    let (code, _, stderr) = outcome(&scratch.run(&["windows", "--at", "tomorrow"]));
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("RFC 3339"), "{stderr}");
}

/// A hold is recorded, then run on the environment's nodes with the configured `hold`
/// command (here writing into each local node's root, never the host's dpkg); a second
/// hold is refused, an unhold releases both.
#[test]
fn holds_are_recorded_then_run_on_the_nodes() {
    let scratch = Scratch::new();
    scratch.config(&format!(
        "{}{}",
        CONFIG.replace("transport = \"local\"", "transport = \"local\"\nroot = \"nodes/{name}\""),
        r#"
[commands]
hold = "printf '%s\n' {package_names} >> \"$WHARF_NODE_ROOT/held\""
unhold = "rm -f \"$WHARF_NODE_ROOT/held\""
"#
    ));
    for node in ["web01", "web02", "web03", "web04"] {
        std::fs::create_dir_all(scratch.path().join("nodes").join(node)).unwrap();
    }
    let (code, stdout, stderr) = as_actor(
        &scratch,
        "dana",
        &["hold", "gitlab-ce", "--env", "gprd", "--reason", "nightly breaks login"],
    );
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("held gitlab-ce on gprd") && stdout.contains("web[02-04]"), "{stdout}");
    for node in ["web02", "web03", "web04"] {
        let held =
            std::fs::read_to_string(scratch.path().join("nodes").join(node).join("held")).unwrap();
        assert_eq!(held, "gitlab-ce\n", "{node}");
    }
    assert!(!scratch.path().join("nodes/web01/held").exists(), "gstg's node is not gprd's");
    let (code, _, stderr) =
        as_actor(&scratch, "eve", &["hold", "gitlab-ce", "--env", "gprd", "--reason", "again"]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("already held on gprd by dana"), "{stderr}");
    let (code, _, stderr) =
        as_actor(&scratch, "eve", &["hold", "../etc", "--env", "gprd", "--reason", "x"]);
    assert_eq!(code, 2, "{stderr}");
    let holds: Vec<serde_json::Value> =
        serde_json::from_str(&ok(&scratch, &["holds", "--json"])).unwrap();
    assert_eq!((holds.len(), holds[0]["reason"].as_str()), (1, Some("nightly breaks login")));
    assert!(
        ok(&scratch, &["unhold", "gitlab-ce", "--env", "gprd"])
            .contains("unheld gitlab-ce on gprd")
    );
    assert!(!scratch.path().join("nodes/web02/held").exists());
    let audit = ok(&scratch, &["audit", "--json", "-n", "100"]);
    for action in ["\"hold\"", "\"unhold\"", "\"fleet.run\""] {
        assert!(audit.contains(action), "{action} in {audit}");
    }
}
