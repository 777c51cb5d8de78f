//! Crash safety of the audit trail: a change and its audit entry commit in one store
//! transaction, so `kill -9` between a publish's store write and its audit entry leaves
//! both or neither — never a publish nobody can account for.

use crate::apt::{build_deb, ok};
use crate::support::{Scratch, outcome};

/// `publish` entries in the audit log.
fn n_publish_entries(scratch: &Scratch) -> usize {
    let audit = ok(scratch, &["audit", "--action", "publish", "--json", "-n", "1000"]);
    let entries: Vec<serde_json::Value> = serde_json::from_str(&audit).unwrap();
    entries.iter().filter(|entry| entry["action"] == "publish").count()
}

fn published_generation(scratch: &Scratch) -> i64 {
    let list = ok(scratch, &["publish", "list", "--json"]);
    let views: Vec<serde_json::Value> = serde_json::from_str(&list).unwrap();
    views[0]["generation"].as_i64().unwrap()
}

#[test]
fn kill_9_between_a_publish_record_and_its_audit_entry_leaves_neither() {
    use std::os::unix::process::ExitStatusExt as _;
    let scratch = Scratch::new();
    let debs = scratch.path().join("debs");
    std::fs::create_dir_all(&debs).unwrap();
    ok(&scratch, &["repo", "create", "tools", "--distribution", "bookworm"]);
    ok(
        &scratch,
        &["repo", "add", "tools", build_deb(&debs, "one", "1.0", "all", "gzip").to_str().unwrap()],
    );
    ok(&scratch, &["publish", "tools"]);
    assert_eq!((published_generation(&scratch), n_publish_entries(&scratch)), (1, 1));
    ok(
        &scratch,
        &["repo", "add", "tools", build_deb(&debs, "two", "1.0", "all", "gzip").to_str().unwrap()],
    );

    // At the store write itself: the publish record is written in the transaction, the
    // process is killed before the audit entry is appended to it.
    for point in ["publish.before_commit", "store.publish_recorded"] {
        let output =
            scratch.wharf(&["publish", "tools"]).env("WHARF_FAILPOINT", point).output().unwrap();
        assert_eq!(output.status.signal(), Some(9), "{point}: {:?}", outcome(&output));
        assert_eq!(published_generation(&scratch), 1, "{point}: the record must not move alone");
        assert_eq!(n_publish_entries(&scratch), 1, "{point}: no entry without its record");
        let verified = ok(&scratch, &["audit", "--verify"]);
        assert!(verified.starts_with("audit log ok"), "{verified}");
    }
    // The next publish completes what the killed ones started: both, together.
    ok(&scratch, &["publish", "tools"]);
    assert_eq!((published_generation(&scratch), n_publish_entries(&scratch)), (2, 2));
    let health = ok(&scratch, &["health", "--min-free-percent", "0"]);
    assert!(health.contains("publish tools"), "{health}");
}
