//! A declared repository's snapshot policy (`snapshot = { on = "publish", name, keep }`
//! in `[[repositories]]`): every publish that has something new takes a snapshot named by
//! the template, the ones the policy made beyond `keep` are dropped — never one made by
//! hand, never a published one — each with its audit entry; a bad policy stops every
//! command naming key and line.

use serde_json::Value;

use crate::apt::{build_deb, ok};
use crate::support::{Scratch, outcome};

const TOOLS: &str = "[[repositories]]\nname = \"tools\"\ndistribution = \"bookworm\"\n";

fn json(scratch: &Scratch, args: &[&str]) -> Value {
    let stdout = ok(scratch, args);
    serde_json::from_str(&stdout).unwrap_or_else(|err| panic!("wharf {args:?}: {err}: {stdout}"))
}

/// Add `hello VERSION` to tools and publish it; what the policy did.
fn release(scratch: &Scratch, version: &str) -> Value {
    let dir = scratch.path().join(format!("debs-{version}"));
    std::fs::create_dir_all(&dir).unwrap();
    let deb = build_deb(&dir, "hello", version, "amd64", "gzip");
    ok(scratch, &["repo", "add", "tools", deb.to_str().unwrap()]);
    json(scratch, &["publish", "tools", "--json"])["snapshots"].clone()
}

fn snapshots(scratch: &Scratch) -> Vec<String> {
    let list = json(scratch, &["snapshot", "list", "--json"]);
    let mut names: Vec<String> =
        list.as_array().unwrap().iter().map(|s| s["name"].as_str().unwrap().to_owned()).collect();
    names.sort();
    names
}

#[test]
fn publishes_take_snapshots_and_keep_the_newest() {
    let scratch = Scratch::new();
    scratch.config(&format!(
        "{TOOLS}snapshot = {{ on = \"publish\", name = \"rel-{{repo}}-{{n}}\", keep = 2 }}\n"
    ));
    ok(&scratch, &["apply"]);

    // The first publish takes rel-tools-1, holding what was published.
    let policy = release(&scratch, "1.0");
    assert_eq!(policy["created"], "rel-tools-1", "{policy}");
    let shown = json(&scratch, &["snapshot", "show", "rel-tools-1", "--json"]);
    assert!(shown.to_string().contains("\"1.0\""), "{shown}");
    // Publishing nothing new takes none; the text says so.
    let again = ok(&scratch, &["publish", "tools"]);
    assert!(again.contains("no snapshot taken"), "{again}");
    // A snapshot made by hand is never the policy's to drop.
    ok(&scratch, &["snapshot", "create", "by-hand", "--from", "tools"]);

    let text = {
        let dir = scratch.path().join("debs-1.1");
        std::fs::create_dir_all(&dir).unwrap();
        let deb = build_deb(&dir, "hello", "1.1", "amd64", "gzip");
        ok(&scratch, &["repo", "add", "tools", deb.to_str().unwrap()]);
        ok(&scratch, &["publish", "tools"])
    };
    assert!(text.contains("took snapshot rel-tools-2 (snapshot policy)\n"), "{text}");
    // keep = 2: the third drops the first.
    let policy = release(&scratch, "1.2");
    assert_eq!(
        (policy["created"].as_str(), policy["dropped"].clone()),
        (Some("rel-tools-3"), serde_json::json!(["rel-tools-1"]))
    );
    assert_eq!(snapshots(&scratch), ["by-hand", "rel-tools-2", "rel-tools-3"]);

    // A published snapshot is never dropped, however old.
    ok(&scratch, &["publish", "--snapshot", "rel-tools-2", "--prefix", "frozen"]);
    let policy = release(&scratch, "1.3");
    assert_eq!(policy["dropped"], serde_json::json!([]), "{policy}");
    let policy = release(&scratch, "1.4");
    assert_eq!(policy["dropped"], serde_json::json!(["rel-tools-3"]), "{policy}");
    assert_eq!(snapshots(&scratch), ["by-hand", "rel-tools-2", "rel-tools-4", "rel-tools-5"]);
    // `show` says which policy a repository has and which snapshots it took.
    let shown = ok(&scratch, &["repo", "show", "tools"]);
    assert!(
        shown.contains("snapshots:     on publish, named rel-{repo}-{n}, the newest 2 kept"),
        "{shown}"
    );
    assert!(
        ok(&scratch, &["snapshot", "show", "rel-tools-4"])
            .contains("taken by:      the snapshot policy")
    );
    assert!(!ok(&scratch, &["snapshot", "show", "by-hand"]).contains("taken by"));

    // Every take and drop is in the audit log, naming the policy.
    let created = json(&scratch, &["audit", "--action", "snapshot.create", "--json"]);
    let by_policy =
        created.as_array().unwrap().iter().filter(|e| e["details"]["policy"]["keep"] == 2);
    assert_eq!(by_policy.count(), 5, "{created}");
    let dropped = json(&scratch, &["audit", "--action", "snapshot.drop", "--json"]);
    let targets: Vec<&str> =
        dropped.as_array().unwrap().iter().map(|e| e["target"].as_str().unwrap()).collect();
    assert_eq!(targets.len(), 2, "{dropped}");
    assert!(targets.contains(&"rel-tools-1") && targets.contains(&"rel-tools-3"), "{dropped}");

    // A changed policy is applied (not drift); without one, publishes take none.
    scratch.config(TOOLS);
    let (code, stdout, stderr) = outcome(&scratch.run(&["apply"]));
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(stdout.contains("snapshot"), "{stdout}");
    let published = json(&scratch, &["publish", "tools", "--json"]);
    assert!(published.get("snapshots").is_none(), "{published}");
}

#[test]
fn a_bad_policy_names_key_and_line() {
    let scratch = Scratch::new();
    for (policy, key, says) in [
        ("snapshot = { name = \"{repo}\" }", "repositories.tools.snapshot.name", "has no {n}"),
        ("snapshot = { keep = 0 }", "repositories.tools.snapshot.keep", "keep at least 1"),
        ("snapshot = { on = \"add\" }", "repositories.tools.snapshot.on", "not a snapshot trigger"),
    ] {
        scratch.config(&format!("{TOOLS}{policy}\n"));
        let (code, _, stderr) = outcome(&scratch.run(&["apply"]));
        assert_eq!(code, 2, "{stderr}");
        assert!(stderr.contains(&format!("wharf.toml:4: key `{key}`")), "{stderr}");
        assert!(stderr.contains(says), "{stderr}");
    }
    scratch.config(&format!("{TOOLS}snapshot = {{ every = \"day\" }}\n"));
    let (code, _, stderr) = outcome(&scratch.run(&["repo", "list"]));
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("wharf.toml:4") && stderr.contains("every"), "{stderr}");
}
