//! Declared repositories (`[[repositories]]` in wharf.toml): `wharf apply` creates what
//! is missing, applies the changes clients do not notice, reports drift with exit 1,
//! never drops a repository holding packages unless named; `wharf server` applies the
//! declarations on start and after SIGHUP.

use std::time::{Duration, Instant};

use serde_json::Value;

use crate::apt::{build_deb, ok};
use crate::support::{Scratch, ServerProcess, http, outcome};

const TOOLS: &str = "[[repositories]]\nname = \"bookworm-tools\"\ndistribution = \"bookworm\"\n";

fn beta(distribution: &str) -> String {
    format!(
        "[[repositories]]\nname = \"bookworm-toolsbeta\"\ndistribution = \"{distribution}\"\n\
         architectures = [\"amd64\"]\nprefix = \"beta\"\ncomment = \"Toolsbeta\"\n"
    )
}

fn json(scratch: &Scratch, args: &[&str]) -> (i32, Value) {
    let (code, stdout, stderr) = outcome(&scratch.run(args));
    let value = serde_json::from_str(&stdout)
        .unwrap_or_else(|err| panic!("wharf {args:?}: {err}: {stdout}{stderr}"));
    (code, value)
}

/// `(name, distribution, architectures)` of every repository.
fn repos(scratch: &Scratch) -> Vec<(String, String, String)> {
    let (_, list) = json(scratch, &["repo", "list", "--json"]);
    list.as_array()
        .unwrap()
        .iter()
        .map(|r| {
            let archs: Vec<&str> = r["architectures"]
                .as_array()
                .unwrap()
                .iter()
                .map(|a| a.as_str().unwrap())
                .collect();
            (
                r["name"].as_str().unwrap().to_owned(),
                r["distribution"].as_str().unwrap().to_owned(),
                archs.join(","),
            )
        })
        .collect()
}

fn audit_count(scratch: &Scratch) -> usize {
    json(scratch, &["audit", "--json"]).1.as_array().unwrap().len()
}

fn names(value: &Value) -> Vec<&str> {
    value.as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect()
}

#[test]
fn apply_creates_reports_drift_and_never_loses_packages() {
    let scratch = Scratch::new();
    scratch.config(&format!("{TOOLS}\n{}", beta("bookworm")));
    let row =
        |name: &str, dist: &str, archs: &str| (name.to_owned(), dist.to_owned(), archs.to_owned());

    // A dry run says what it would do, exits 1 and changes nothing.
    let (code, stdout, stderr) = outcome(&scratch.run(&["apply", "--dry-run"]));
    assert_eq!(code, 1, "{stdout}{stderr}");
    assert!(
        stdout.contains("would create bookworm-tools\nwould create bookworm-toolsbeta\n"),
        "{stdout}"
    );
    assert!(repos(&scratch).is_empty());

    let (code, stdout, stderr) = outcome(&scratch.run(&["apply"]));
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(
        stdout.contains("created bookworm-tools\ncreated bookworm-toolsbeta\nin sync"),
        "{stdout}"
    );
    assert_eq!(
        repos(&scratch),
        [
            row("bookworm-tools", "bookworm", "amd64"),
            row("bookworm-toolsbeta", "bookworm", "amd64")
        ]
    );
    let (_, shown) = json(&scratch, &["repo", "show", "bookworm-toolsbeta", "--json"]);
    assert_eq!(
        (shown["prefix"].as_str(), shown["comment"].as_str()),
        (Some("beta"), Some("Toolsbeta"))
    );
    let (_, entries) = json(&scratch, &["audit", "--action", "repo.create", "--json"]);
    let entries = entries.as_array().unwrap();
    assert_eq!(entries.len(), 2);
    for entry in entries {
        assert_eq!(entry["actor"], "tester", "{entry}");
        assert_eq!(entry["reason"], "declared in wharf.toml", "{entry}");
    }

    // In sync: nothing written.
    let before = audit_count(&scratch);
    let (code, report) = json(&scratch, &["apply", "--json"]);
    assert_eq!(code, 0, "{report}");
    assert_eq!((report["in_sync"].as_bool(), names(&report["unchanged"]).len()), (Some(true), 2));
    assert_eq!(audit_count(&scratch), before);

    // The declared prefix is where `publish` puts it.
    let debs = scratch.path().join("debs");
    std::fs::create_dir_all(&debs).unwrap();
    let deb = build_deb(&debs, "tool", "1.0", "all", "gzip");
    ok(&scratch, &["repo", "add", "bookworm-toolsbeta", deb.to_str().unwrap()]);
    let (_, published) = json(&scratch, &["publish", "bookworm-toolsbeta", "--json"]);
    assert_eq!(published["prefix"], "beta", "{published}");
    assert!(scratch.path().join("wharf-data/public/beta/dists/bookworm/InRelease").is_file());

    // An added architecture is applied; another distribution is drift, left alone.
    let tools_arm =
        TOOLS.replace("bookworm\"\n", "bookworm\"\narchitectures = [\"amd64\", \"arm64\"]\n");
    scratch.config(&format!("{tools_arm}\n{}", beta("trixie")));
    let (code, report) = json(&scratch, &["apply", "--json"]);
    assert_eq!(code, 1, "{report}");
    assert_eq!(report["updated"][0]["field"], "architectures", "{report}");
    assert_eq!(report["drift"][0]["repository"], "bookworm-toolsbeta", "{report}");
    assert_eq!(report["drift"][0]["field"], "distribution", "{report}");
    assert_eq!(
        (report["drift"][0]["declared"].as_str(), report["drift"][0]["actual"].as_str()),
        (Some("trixie"), Some("bookworm"))
    );
    assert_eq!(
        repos(&scratch),
        [
            row("bookworm-tools", "bookworm", "amd64,arm64"),
            row("bookworm-toolsbeta", "bookworm", "amd64")
        ]
    );
    let (code, stdout, _) = outcome(&scratch.run(&["apply"]));
    assert_eq!(code, 1, "drift remains: {stdout}");
    assert!(
        stdout.contains(
            "DRIFT bookworm-toolsbeta distribution: \"trixie\" in wharf.toml, \"bookworm\" stored"
        ),
        "{stdout}"
    );

    // Undeclared repositories are kept; --prune drops only the empty one; one holding
    // packages goes only when named.
    scratch.config(&format!("{tools_arm}\n{}", beta("bookworm")));
    ok(&scratch, &["repo", "create", "stray", "--distribution", "bookworm"]);
    ok(&scratch, &["repo", "create", "full", "--distribution", "bookworm"]);
    ok(&scratch, &["repo", "add", "full", deb.to_str().unwrap()]);
    let (code, stdout, _) = outcome(&scratch.run(&["apply"]));
    assert_eq!(code, 0, "undeclared ones do not make it out of sync: {stdout}");
    assert!(
        stdout.contains("undeclared full (1 package(s))")
            && stdout.contains("undeclared stray (0 package(s))"),
        "{stdout}"
    );
    let (code, stdout, _) = outcome(&scratch.run(&["apply", "--prune"]));
    assert_eq!(code, 1, "{stdout}");
    assert!(stdout.contains("dropped stray"), "{stdout}");
    assert!(stdout.contains("NOT DROPPED full (1 package(s)): holds 1 package(s): declare it, or drop it with `wharf apply --prune-with-packages full`"), "{stdout}");
    let present: Vec<String> = repos(&scratch).into_iter().map(|r| r.0).collect();
    assert_eq!(present, ["bookworm-tools", "bookworm-toolsbeta", "full"]);
    let (code, _, stderr) =
        outcome(&scratch.run(&["apply", "--prune-with-packages", "bookworm-tools"]));
    assert_eq!(code, 2, "a declared repository is never pruned: {stderr}");
    assert!(stderr.contains("bookworm-tools is declared in wharf.toml"), "{stderr}");
    let (code, stdout, _) = outcome(&scratch.run(&["apply", "--prune-with-packages", "full"]));
    assert_eq!(code, 0, "{stdout}");
    let present: Vec<String> = repos(&scratch).into_iter().map(|r| r.0).collect();
    assert_eq!(present, ["bookworm-tools", "bookworm-toolsbeta"]);
    let (_, entries) = json(&scratch, &["audit", "--action", "repo.drop", "--json"]);
    assert_eq!(entries.as_array().unwrap().len(), 2, "{entries}");
}

#[test]
fn bad_declarations_stop_every_command_naming_the_line() {
    let scratch = Scratch::new();
    scratch.config(&format!("{TOOLS}architectures = [\"all\"]\n"));
    let (code, _, stderr) = outcome(&scratch.run(&["apply"]));
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("wharf.toml:4: key `repositories.bookworm-tools.architectures`"),
        "{stderr}"
    );
    scratch.config(&format!("{TOOLS}\n{TOOLS}"));
    let (code, _, stderr) = outcome(&scratch.run(&["repo", "list"]));
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("wharf.toml:6") && stderr.contains("declared twice"), "{stderr}");
}

/// `GET /api/v1/repos` names, polled (bounded) until `wanted` is among them.
fn wait_for_repo(server: &ServerProcess, token: &str, wanted: &str) -> Vec<String> {
    let auth = format!("Bearer {token}");
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let response =
            http(&server.addr, "GET", "/api/v1/repos", &[("Authorization", &auth)]).unwrap();
        assert_eq!(response.status, 200, "{}", String::from_utf8_lossy(&response.body));
        let list: Value = serde_json::from_slice(&response.body).unwrap();
        let names: Vec<String> = list
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["name"].as_str().unwrap().to_owned())
            .collect();
        if names.iter().any(|n| n == wanted) {
            return names;
        }
        assert!(Instant::now() < deadline, "{wanted} never appeared: {names:?}\n{}", server.log());
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn server_applies_declarations_on_start_and_sighup() {
    let scratch = Scratch::new();
    scratch.config(TOOLS);
    let token = crate::api::token(&scratch, "ops", "admin", &[]);
    let server = ServerProcess::start(&scratch, &[], true);
    assert_eq!(wait_for_repo(&server, &token, "bookworm-tools"), ["bookworm-tools"]);

    scratch.config(&format!("{TOOLS}\n{}", beta("bookworm")));
    let status = std::process::Command::new("kill")
        .args(["-HUP", &server.child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let names = wait_for_repo(&server, &token, "bookworm-toolsbeta");
    assert_eq!(names, ["bookworm-tools", "bookworm-toolsbeta"]);
    let (_, entries) = json(&scratch, &["audit", "--action", "repo.create", "--json"]);
    let actors: Vec<&str> =
        entries.as_array().unwrap().iter().map(|e| e["actor"].as_str().unwrap()).collect();
    assert_eq!(actors, ["wharf-server", "wharf-server"]);

    // Drift is logged, not changed; `wharf apply --server` reports it with exit 1.
    scratch.config(&format!("{TOOLS}\n{}", beta("trixie")));
    let status = std::process::Command::new("kill")
        .args(["-HUP", &server.child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let url = format!("http://{}", server.addr);
    let remote = |args: &[&str]| {
        let mut command = scratch.wharf(args);
        command.env("WHARF_SERVER", &url).env("WHARF_TOKEN", &token);
        outcome(&command.output().unwrap())
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    while !server.log().contains("DRIFT repository bookworm-toolsbeta distribution") {
        assert!(Instant::now() < deadline, "no drift logged:\n{}", server.log());
        std::thread::sleep(Duration::from_millis(50));
    }
    let (code, stdout, stderr) = remote(&["apply", "--dry-run"]);
    assert_eq!(code, 1, "{stdout}{stderr}");
    assert!(
        stdout.contains("DRIFT bookworm-toolsbeta distribution: \"trixie\" in wharf.toml"),
        "{stdout}"
    );
    let (code, stdout, stderr) = remote(&["repo", "show", "bookworm-toolsbeta", "--json"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("\"distribution\": \"bookworm\""), "{stdout}");
}
