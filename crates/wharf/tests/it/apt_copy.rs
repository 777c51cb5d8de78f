//! Package queries, `repo copy`, `repo move` and `repo diff` end to end: real `.deb` files
//! built by `dpkg-deb`, the real binary, and a real `apt-get` in a private root installing
//! what a copy brought (with its dependency) after a publish.

use std::path::Path;

use serde_json::Value;

use crate::apt::{apt_client, apt_install, build_deb, build_deb_with, ok};
use crate::support::{Scratch, ServerProcess, outcome};

fn json(scratch: &Scratch, args: &[&str]) -> Value {
    serde_json::from_str(&ok(scratch, args)).unwrap()
}

fn strings(value: &Value) -> Vec<String> {
    let mut out: Vec<String> =
        value.as_array().unwrap().iter().map(|v| v.as_str().unwrap().to_owned()).collect();
    out.sort();
    out
}

/// Every file under the data directory's object store.
fn object_files(scratch: &Scratch) -> usize {
    fn walk(dir: &Path) -> usize {
        std::fs::read_dir(dir).map_or(0, |entries| {
            entries.map(|e| e.unwrap().path()).map(|p| if p.is_dir() { walk(&p) } else { 1 }).sum()
        })
    }
    walk(&scratch.path().join("wharf-data/objects"))
}

/// `beta` (amd64, arm64) with an app, two versions of its library, an `all` data package,
/// an arm64 build and an unrelated tool; `tools` empty.
fn two_repos() -> Scratch {
    let scratch = Scratch::new();
    let debs = scratch.path().join("debs");
    std::fs::create_dir_all(&debs).unwrap();
    build_deb_with(&debs, "app", "2.0-1", "amd64", "gzip", "Depends: libx (>= 1.5), app-data\n");
    build_deb(&debs, "libx", "1.0", "amd64", "gzip");
    build_deb(&debs, "libx", "1.6~rc1", "amd64", "gzip");
    build_deb(&debs, "libx", "1.6~rc1", "arm64", "gzip");
    build_deb(&debs, "app-data", "2.0-1", "all", "gzip");
    build_deb(&debs, "tool", "0.5", "amd64", "gzip");
    for repo in ["beta", "tools"] {
        ok(
            &scratch,
            &[
                "repo",
                "create",
                repo,
                "--distribution",
                "bookworm",
                "--architectures",
                "amd64,arm64",
            ],
        );
    }
    ok(&scratch, &["repo", "add", "beta", "debs"]);
    scratch
}

#[test]
fn copy_with_deps_then_publish_and_install_with_real_apt() {
    let scratch = two_repos();
    let objects = object_files(&scratch);

    // Queries filter `repo show`: dpkg ordering (1.6~rc1 < 1.6), architectures, globs.
    let shown = json(&scratch, &["repo", "show", "beta", "libx (>= 1.5) {amd64}", "--json"]);
    let names: Vec<String> = shown["package_list"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| format!("{}_{}_{}", p["name"], p["version"], p["architecture"]).replace('"', ""))
        .collect();
    assert_eq!(names, ["libx_1.6~rc1_amd64"]);
    let shown =
        json(&scratch, &["repo", "show", "beta", "libx (>= 1.6)", "Name (% app*)", "--json"]);
    assert_eq!(shown["package_list"].as_array().unwrap().len(), 2, "{shown}");

    // A dry run says what would change and changes nothing.
    let args = ["repo", "copy", "beta", "tools", "app", "--with-deps", "--dry-run", "--json"];
    let dry = json(&scratch, &args);
    assert_eq!(dry["dry_run"], true);
    assert_eq!(
        strings(&dry["copied"]),
        ["app-data_2.0-1_all", "app_2.0-1_amd64", "libx_1.6~rc1_amd64"]
    );
    assert_eq!(strings(&dry["dependencies"]), ["app-data_2.0-1_all", "libx_1.6~rc1_amd64"]);
    assert_eq!(dry["generation"], Value::Null);
    assert_eq!(json(&scratch, &["repo", "show", "tools", "--json"])["packages"], 0);

    // The copy itself: one audit entry, no new bytes.
    let text = ok(&scratch, &["repo", "copy", "beta", "tools", "app", "--with-deps"]);
    assert!(text.contains("copied 3 package(s) from beta to tools"), "{text}");
    assert!(text.contains("+ libx_1.6~rc1_amd64 (dependency)"), "{text}");
    assert_eq!(object_files(&scratch), objects, "a copy must not duplicate package files");
    let audit = json(&scratch, &["audit", "--action", "repo.copy", "--json"]);
    assert_eq!(audit.as_array().unwrap().len(), 1, "{audit}");
    // Again: nothing new, exit 0 (it matched).
    let again = json(&scratch, &["repo", "copy", "beta", "tools", "app", "--json"]);
    assert_eq!(
        (again["copied"].as_array().unwrap().len(), again["generation"].is_null()),
        (0, true)
    );

    ok(&scratch, &["publish", "tools"]);
    let server = ServerProcess::start(&scratch, &[], true);
    let apt = apt_client(&scratch, &server, "tools");
    apt_install(&apt, &["app"]);
    assert_eq!(apt.installed(), "app=2.0-1\napp-data=2.0-1\nlibx=1.6~rc1\n");

    // The diff: what beta has that tools has not.
    let diff = json(&scratch, &["repo", "diff", "beta", "tools", "--json"]);
    assert_eq!(diff["identical"], false);
    let only: Vec<String> = diff["only_left"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| format!("{} {} {}", e["name"], e["architecture"], e["left"]).replace('"', ""))
        .collect();
    assert_eq!(only, ["libx arm64 [1.6~rc1]", "tool amd64 [0.5]"]);
    assert_eq!(diff["different"][0]["name"], "libx");
    assert_eq!(diff["different"][0]["left"], serde_json::json!(["1.0", "1.6~rc1"]));
    assert_eq!(diff["different"][0]["right"], serde_json::json!(["1.6~rc1"]));
    assert_eq!(diff["only_right"], serde_json::json!([]));
    let text = ok(&scratch, &["repo", "diff", "tools", "tools"]);
    assert!(text.contains("have the same packages"), "{text}");
}

#[test]
fn move_snapshot_copy_conflicts_and_bad_queries() {
    let scratch = two_repos();

    // Move takes the packages out of the source in the same change.
    let moved = json(&scratch, &["repo", "move", "beta", "tools", "libx (<< 1.6~)", "--json"]);
    assert_eq!(strings(&moved["removed"]), ["libx_1.0_amd64"]);
    let beta = json(&scratch, &["repo", "show", "beta", "libx", "--json"]);
    assert_eq!(beta["package_list"].as_array().unwrap().len(), 2, "{beta}");
    let tools = json(&scratch, &["repo", "show", "tools", "--with-packages", "--json"]);
    assert_eq!(tools["package_list"][0]["version"], "1.0");
    assert_eq!(json(&scratch, &["audit", "--action", "repo.move", "--json"])[0]["target"], "tools");

    // A whole snapshot into a fresh repository; a snapshot cannot be moved from.
    ok(&scratch, &["snapshot", "create", "beta-1", "--from", "beta"]);
    ok(&scratch, &["repo", "create", "fresh", "--distribution", "bookworm"]);
    let copied = json(&scratch, &["repo", "copy", "snapshot:beta-1", "fresh", "--all", "--json"]);
    assert_eq!(
        (copied["source_kind"].as_str(), copied["copied"].as_array().unwrap().len()),
        (Some("snapshot"), 5)
    );
    let diff = json(&scratch, &["repo", "diff", "beta-1", "fresh", "--json"]);
    assert_eq!(diff["identical"], true, "{diff}");
    // A name both a repository and a snapshot have must say which.
    ok(&scratch, &["snapshot", "create", "fresh", "--from", "beta"]);
    let (code, _, stderr) = outcome(&scratch.run(&["repo", "diff", "fresh", "beta"]));
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("write repo:fresh or snapshot:fresh"), "{stderr}");
    assert_eq!(
        json(&scratch, &["repo", "diff", "snapshot:fresh", "repo:fresh", "--json"])["identical"],
        true
    );
    let (code, _, stderr) = outcome(&scratch.run(&["repo", "move", "beta-1", "fresh", "tool"]));
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("snapshots never change"), "{stderr}");

    // Nothing matching: exit 1, nothing changed.
    let (code, stdout, _) = outcome(&scratch.run(&["repo", "copy", "beta", "tools", "absent"]));
    assert_eq!((code, stdout.as_str()), (1, "no package in beta matches absent\n"));

    // The same name, version and architecture with other content: refused, naming both.
    let other = scratch.path().join("other");
    std::fs::create_dir_all(&other).unwrap();
    build_deb(&other, "tool", "0.5", "amd64", "xz");
    ok(&scratch, &["repo", "create", "rebuilt", "--distribution", "bookworm"]);
    ok(&scratch, &["repo", "add", "rebuilt", "other"]);
    ok(&scratch, &["repo", "copy", "beta", "tools", "tool"]);
    let before = ok(&scratch, &["audit", "--json"]);
    let generation = json(&scratch, &["repo", "show", "tools", "--json"])["generation"].clone();
    let (code, _, stderr) =
        outcome(&scratch.run(&["repo", "copy", "rebuilt", "tools", "tool", "libx"]));
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("tool 0.5 amd64 in rebuilt (sha256 ")
            && stderr.contains("already in tools (sha256 "),
        "{stderr}"
    );

    // Bad queries: exit 2, the column and what was expected, nothing changed.
    for (query, needle) in [
        ("libx (>= 1.0", "at column 13: unexpected end of the query: expected `)`"),
        ("libx (>= x)", "at column 10"),
        ("Name (~ lib.*)", "use a glob"),
    ] {
        for command in ["copy", "move"] {
            let (code, _, stderr) =
                outcome(&scratch.run(&["repo", command, "beta", "tools", query]));
            assert_eq!(code, 2, "{query}: {stderr}");
            assert!(stderr.contains(needle), "{query}: {stderr}");
        }
        let (code, _, stderr) = outcome(&scratch.run(&["repo", "remove", "beta", query]));
        assert_eq!(code, 2, "{query}: {stderr}");
        let (code, _, _) = outcome(&scratch.run(&["repo", "show", "beta", query]));
        assert_eq!(code, 2, "{query}");
    }
    assert_eq!(ok(&scratch, &["audit", "--json"]), before, "nothing audited");
    assert_eq!(json(&scratch, &["repo", "show", "tools", "--json"])["generation"], generation);
}

/// The packages `aptly repo search` finds for `query` in its repository `r`, sorted;
/// aptly exits 1 with "no results" when nothing matches.
fn aptly_search(config: &Path, query: &str) -> Vec<String> {
    let output = std::process::Command::new("aptly")
        .arg(format!("-config={}", config.display()))
        .args(["repo", "search", "r", query])
        .output()
        .expect("aptly is not installed: apt-get install aptly");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success() || stderr.contains("no results"), "aptly {query}: {stderr}");
    let mut found: Vec<String> = stdout.lines().map(str::to_owned).collect();
    found.sort();
    found
}

/// The same small repository in aptly and in Wharf gives the same answer to every query
/// of the subset both implement (dpkg ordering with `~` and epochs, architectures, globs,
/// fields, operators).
#[test]
fn queries_select_what_aptly_selects() {
    let scratch = Scratch::new();
    let debs = scratch.path().join("debs");
    std::fs::create_dir_all(&debs).unwrap();
    let utils = "Section: utils\n";
    for (name, version, arch, fields) in [
        ("hello", "1.0-1", "amd64", utils),
        ("hello", "1.2~rc1-1", "amd64", utils),
        ("hello", "1.2-1", "arm64", utils),
        ("hello", "2:0.1", "amd64", "Section: utils\nSource: hello-src (0.1)\n"),
        ("hello-doc", "1.2-1", "all", "Section: doc\nDepends: hello (>= 1.0)\n"),
        ("libfoo1", "3.0", "amd64", "Section: libs\nPriority: optional\n"),
        ("libfoo1", "10.0", "amd64", "Section: libs\nPriority: optional\n"),
    ] {
        build_deb_with(&debs, name, version, arch, "gzip", fields);
    }
    ok(
        &scratch,
        &["repo", "create", "r", "--distribution", "bookworm", "--architectures", "amd64,arm64"],
    );
    ok(&scratch, &["repo", "add", "r", "debs"]);
    let config = scratch.path().join("aptly.conf");
    let root = scratch.path().join("aptly");
    std::fs::write(&config, format!("{{\"rootDir\": \"{}\"}}", root.display())).unwrap();
    for args in [&["repo", "create", "r"][..], &["repo", "add", "r", debs.to_str().unwrap()]] {
        let status = std::process::Command::new("aptly")
            .arg(format!("-config={}", config.display()))
            .args(args)
            .stdout(std::process::Stdio::null())
            .status()
            .expect("aptly is not installed: apt-get install aptly");
        assert!(status.success(), "aptly {args:?}");
    }
    let queries = [
        "hello",
        "hello (>= 1.2)",
        "hello (>= 1.2~)",
        "hello (<< 1.2)",
        "hello (> 1.0-1)",
        "hello (< 1.2-1)",
        "hello (>> 1.2-1)",
        "hello (= 2:0.1)",
        "hello (1.0-1)",
        "hello (% 1.*)",
        "hello {arm64}",
        "hello-doc {arm64}",
        "hello_1.2-1_arm64",
        "libfoo1 (>= 9)",
        "$Version (>= 2)",
        "$Version (% 1.2*)",
        "$Architecture (= arm64)",
        "$Architecture (= all)",
        "Name (% hello*)",
        "Name (% lib[a-f]*)",
        "Version (>= 1.2-1)",
        "Section (= doc)",
        "Priority",
        "$Source (= hello-src)",
        "$SourceVersion (= 0.1)",
        "!hello",
        "hello | libfoo1",
        "hello, $Architecture (= amd64)",
        "!(hello | libfoo1), Name (% *doc)",
        "libfoo1 | hello, hello (>= 2)",
        "'hello' (\"1.0-1\")",
    ];
    for query in queries {
        let shown = json(&scratch, &["repo", "show", "r", query, "--json"]);
        let mut ours: Vec<String> = shown["package_list"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| {
                format!("{}_{}_{}", p["name"], p["version"], p["architecture"]).replace('"', "")
            })
            .collect();
        ours.sort();
        assert_eq!(ours, aptly_search(&config, query), "{query}");
    }
}

/// `--server`: copy, move, diff and a filtered show through the API print and exit as the
/// local commands do.
#[test]
fn copy_move_and_diff_through_the_server() {
    let scratch = two_repos();
    let publisher = crate::api::token(&scratch, "ci", "publisher", &[]);
    let server = ServerProcess::start(&scratch, &[], true);
    let url = format!("http://{}", server.addr);
    let remote = |args: &[&str]| {
        let mut all = vec!["--server", url.as_str()];
        all.extend_from_slice(args);
        outcome(&scratch.wharf(&all).env("WHARF_TOKEN", &publisher).output().unwrap())
    };
    let same = |args: &[&str]| {
        let (code, over_api, stderr) = remote(args);
        let (local_code, local, _) = outcome(&scratch.run(args));
        assert_eq!((code, &over_api), (local_code, &local), "{args:?}: {stderr}");
    };
    same(&["repo", "copy", "beta", "tools", "app", "--with-deps", "--dry-run", "--json"]);
    same(&["repo", "show", "beta", "libx (>= 1.5)", "tool", "--json"]);
    same(&["repo", "diff", "beta", "tools", "--json"]);
    ok(&scratch, &["snapshot", "create", "s1", "--from", "beta"]);
    same(&["snapshot", "show", "s1", "libx (>= 1.5)", "--json"]);
    same(&["repo", "diff", "snapshot:s1", "beta", "--json"]);

    let (code, stdout, stderr) = remote(&["repo", "copy", "beta", "tools", "app", "--with-deps"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("copied 3 package(s) from beta to tools"), "{stdout}");
    let (code, stdout, stderr) = remote(&["repo", "move", "beta", "tools", "tool", "--json"]);
    assert_eq!(code, 0, "{stderr}");
    let moved: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(strings(&moved["removed"]), ["tool_0.5_amd64"]);
    let audit = json(&scratch, &["audit", "--action", "repo.move", "--json"]);
    assert_eq!(audit[0]["actor"], "ci", "{audit}");
    same(&["repo", "diff", "beta", "tools"]);

    // Errors the same way: a bad query is exit 2 with the column, nothing matched is 1.
    let (code, _, stderr) = remote(&["repo", "copy", "beta", "tools", "libx (>= 1"]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("at column 11"), "{stderr}");
    let (code, _, _) = remote(&["repo", "copy", "beta", "tools", "absent"]);
    assert_eq!(code, 1);
}
