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
