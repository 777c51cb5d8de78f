//! `wharf deploy --dry-run`: the environment's pipeline planned for its nodes, and every
//! guard asked — the promotion gate, locks, holds, change-lock windows at an injected
//! moment — with exit 4 and the guard named when one refuses. Nothing changes.

use crate::apt::ok;
use crate::support::{Scratch, outcome};

const CONFIG: &str = r#"
[[nodes]]
names = "web[01-05]"
transport = "local"

[[environments]]
name = "gstg"
nodes = "web01"
packages = ["gitlab-ee"]

[[environments]]
name = "gprd"
after = "gstg"
nodes = "web[02-05]"
production = true
packages = ["gitlab-ee"]

[[windows]]
name = "weekend"
start = "0 23 * * fri"
end = "0 7 * * mon"
timezone = "Europe/Amsterdam"
environments = ["gprd"]
reason = "no automated production deploys over the weekend"
"#;

fn deploy(scratch: &Scratch, args: &[&str]) -> (i32, String, String) {
    let mut all = vec!["deploy", "--dry-run"];
    all.extend_from_slice(args);
    outcome(&scratch.wharf(&all).env("WHARF_ACTOR", "alice").output().unwrap())
}

#[test]
fn dry_runs_plan_and_ask_every_guard() {
    let scratch = Scratch::new();
    scratch.config(CONFIG);
    // Staging: planned and clear. Version and environment in either order.
    let (code, stdout, stderr) = deploy(&scratch, &["11.8.0-ee.0", "gstg", "--json"]);
    assert_eq!(code, 0, "{stderr}");
    let report: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(
        (report["pipeline"].as_str(), report["version"].as_str()),
        (Some("upgrade"), Some("11.8.0-ee.0"))
    );
    assert!(report["refusals"].as_array().unwrap().is_empty(), "{report}");
    let install = report["stages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["kind"] == "install" && s["run"] == "run");
    assert_eq!(install.expect("an install stage runs")["nodes"], "web01");
    assert_eq!(deploy(&scratch, &["gstg", "11.8.0-ee.0"]).0, 0);

    // Production before staging succeeded: the promotion gate refuses, naming what lifts it.
    let (code, _, stderr) = deploy(&scratch, &["11.8.0-ee.0", "gprd"]);
    assert_eq!(code, 4, "{stderr}");
    assert!(
        stderr.contains("refused (promotion-gate)") && stderr.contains("succeeded on gstg"),
        "{stderr}"
    );
    assert!(stderr.contains("--ignore-production-checks"), "{stderr}");
    let (code, stdout, stderr) = deploy(
        &scratch,
        &["11.8.0-ee.0", "gprd", "--ignore-production-checks", "hotfix, canary skipped"],
    );
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(stdout.contains("batches") || stdout.contains("BATCHES"), "{stdout}");

    // An automated deploy on a Saturday meets the weekend window; one by hand does not.
    let saturday = ["--at", "2026-12-05T12:00:00Z", "--ignore-production-checks", "hotfix"];
    let (code, _, stderr) =
        deploy(&scratch, &[&["11.8.0-ee.0", "gprd", "--automated"][..], &saturday[..]].concat());
    assert_eq!(code, 4, "{stderr}");
    assert!(
        stderr.contains(
            "refused (window): change-lock window weekend is open until 2026-12-07T06:00:00Z"
        ),
        "{stderr}"
    );
    assert_eq!(deploy(&scratch, &[&["11.8.0-ee.0", "gprd"][..], &saturday[..]].concat()).0, 0);

    // A lock and a hold refuse too, each named.
    ok(&scratch, &["lock", "gstg", "--reason", "incident #123"]);
    let (code, _, stderr) = deploy(&scratch, &["11.8.0-ee.0", "gstg"]);
    assert_eq!(code, 4, "{stderr}");
    assert!(
        stderr.contains("refused (lock): gstg is locked by")
            && stderr.contains("wharf unlock gstg"),
        "{stderr}"
    );

    // Bad input is a usage error.
    let (code, _, stderr) = deploy(&scratch, &["11.8.0-ee.0", "gprod"]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("known: gstg, gprd"), "{stderr}");
    let (code, _, stderr) = deploy(&scratch, &["not a version", "gstg"]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("not a Debian version"), "{stderr}");
    let audit = ok(&scratch, &["audit", "--json"]);
    assert!(!audit.contains("deploy"), "a dry run records nothing: {audit}");
}
