//! The issue's "done when" checks and the CLI contracts, through the real binary.

use crate::support::{Scratch, outcome};

const FLEET: &str = r#"
[[nodes]]
names = "web[01-04]"
labels = { role = "web" }

[[nodes]]
names = "db[1-2]"
port = 2222
labels = { role = "db" }

[groups]
canary = "web[01-02]"
production = "web[03-04],@role:db"

[[environments]]
name = "gstg"
nodes = "@canary"

[[environments]]
name = "gprd"
nodes = "@production"
after = "gstg"
production = true
"#;

/// `--version` is clap's: the program's own version, while `wharf version …` compares
/// Debian versions (below).
#[test]
fn dash_dash_version_prints_wharfs_version() {
    let scratch = Scratch::new();
    let expected = format!("wharf {}\n", env!("CARGO_PKG_VERSION"));
    for flag in ["--version", "-V"] {
        assert_eq!(outcome(&scratch.run(&[flag])), (0, expected.clone(), String::new()), "{flag}");
    }
}

/// Completion scripts for each shell, generated without any configuration (even a broken
/// one), naming the subcommands.
#[test]
fn completions_for_bash_zsh_and_fish() {
    let scratch = Scratch::new();
    scratch.config("this is not toml");
    for shell in ["bash", "zsh", "fish"] {
        let (code, script, stderr) = outcome(&scratch.run(&["completions", shell]));
        assert_eq!(code, 0, "{shell}: {stderr}");
        assert!(script.lines().count() > 50, "{shell}: {script}");
        for word in ["repo", "snapshot", "publish", "nodeset", "distribution"] {
            assert!(script.contains(word), "{shell} script lacks {word}");
        }
    }
    let script = scratch.wharf(&["completions", "bash"]).output().unwrap().stdout;
    let path = scratch.path().join("wharf.bash");
    std::fs::write(&path, script).unwrap();
    let check = std::process::Command::new("bash").arg("-n").arg(&path).output().unwrap();
    assert!(check.status.success(), "bash -n: {}", String::from_utf8_lossy(&check.stderr));
    let (code, _, stderr) = outcome(&scratch.run(&["completions", "tcsh"]));
    assert_eq!(code, 2, "{stderr}");
}

#[test]
fn man_page_of_wharf_and_its_subcommands() {
    let scratch = Scratch::new();
    scratch.config("this is not toml");
    let (code, page, stderr) = outcome(&scratch.run(&["man"]));
    assert_eq!(code, 0, "{stderr}");
    assert!(page.contains(".TH wharf 1"), "{page}");
    assert!(page.contains(".SH SUBCOMMANDS"), "{page}");
    assert!(page.lines().any(|line| line == "wharf\\-repo(1)"), "the repo subcommand: {page}");

    let (code, stdout, stderr) = outcome(&scratch.run(&["man", "--out", "man1"]));
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.starts_with("wrote "), "{stdout}");
    let repo_add = std::fs::read_to_string(scratch.path().join("man1/wharf-repo-add.1")).unwrap();
    assert!(repo_add.contains(".TH wharf-repo-add 1"), "{repo_add}");
    assert!(scratch.path().join("man1/wharf.1").is_file());
}

#[test]
fn version_sort_prints_dpkg_order() {
    let scratch = Scratch::new();
    let output = scratch.run_with_stdin(&["version", "sort"], "1.0\n1.0~rc1\n1:0.9\n1.0-1\n");
    assert_eq!(outcome(&output), (0, "1.0~rc1\n1.0\n1.0-1\n1:0.9\n".to_owned(), String::new()));
}

#[test]
fn version_sort_rejects_invalid_line_with_usage_code() {
    let scratch = Scratch::new();
    let output = scratch.run_with_stdin(&["version", "sort"], "1.0\n1.0 beta\n");
    let (code, stdout, stderr) = outcome(&output);
    assert_eq!((code, stdout.as_str()), (2, ""), "{stderr}");
    assert!(stderr.contains("line 2"), "{stderr}");
}

#[test]
fn version_compare_exits_like_dpkg() {
    let scratch = Scratch::new();
    let code =
        |a: &str, op: &str, b: &str| scratch.run(&["version", "compare", a, op, b]).status.code();
    assert_eq!(code("1.0~rc1", "lt", "1.0"), Some(0));
    assert_eq!(code("1.0~rc1", "gt", "1.0"), Some(1));
    assert_eq!(code("0:1.0", "eq", "1.0"), Some(0));
    assert_eq!(code("1.0", "ne", "1.0-0"), Some(1));
    assert_eq!(code("2:1", "ge", "1:9"), Some(0));
    assert_eq!(code("1:", "lt", "1.0"), Some(2), "an invalid version is a usage error");
}

#[test]
fn config_check_names_typod_key_and_line() {
    let scratch = Scratch::new();
    let config = scratch.config(
        "[[nodes]]\nnames = \"web01\"\n\n[[environments]]\nname = \"gstg\"\nnodse = \"web01\"\n",
    );
    let output = scratch.run(&["config", "check"]);
    let (code, stdout, stderr) = outcome(&output);
    assert_eq!((code, stdout.as_str()), (2, ""), "{stderr}");
    let expected =
        format!("{}:6: key `nodse`: unknown field", config.file_name().unwrap().to_string_lossy());
    assert!(stderr.contains(&expected), "{stderr}");
}

#[test]
fn config_check_summarises_fleet() {
    let scratch = Scratch::new();
    scratch.config(FLEET);
    let (code, stdout, stderr) = outcome(&scratch.run(&["config", "check"]));
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("ok — 6 nodes, 2 groups, 2 environments, 0 services"), "{stdout}");
    assert!(
        stdout.contains("environment gprd (after gstg) [production]: 4 nodes db[1-2],web[03-04]"),
        "{stdout}"
    );

    let (code, stdout, _) = outcome(&scratch.run(&["config", "check", "--json"]));
    assert_eq!(code, 0);
    let summary: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(summary["nodes"], 6);
    assert_eq!(
        (&summary["file"], &summary["config_source"]),
        (&"wharf.toml".into(), &"cwd".into())
    );
    assert_eq!(summary["environments"][1]["after"], "gstg");
}

#[test]
fn explicit_missing_config_is_usage_error() {
    let scratch = Scratch::new();
    let (code, _, stderr) = outcome(&scratch.run(&["nodes", "--config", "nope.toml"]));
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("nope.toml"), "{stderr}");
}

/// `config check --json` in the scratch directory with `env` and `extra` arguments.
fn config_summary(scratch: &Scratch, env: &[(&str, &str)], extra: &[&str]) -> serde_json::Value {
    let mut args = vec!["config", "check", "--json"];
    args.extend_from_slice(extra);
    let output = scratch.wharf(&args).envs(env.iter().copied()).output().unwrap();
    let (code, stdout, stderr) = outcome(&output);
    assert_eq!(code, 0, "{stderr}");
    serde_json::from_str(&stdout).unwrap()
}

/// Config discovery as ansible and clush do it: --config, $WHARF_CONFIG, ./wharf.toml,
/// the system file; `[store] data` relative to the file, below --data and $WHARF_DATA.
#[test]
fn config_discovery_and_data_dir_from_the_file() {
    let scratch = Scratch::new();
    let fields = |summary: &serde_json::Value| {
        ["file", "found", "config_source", "data_dir"].map(|key| summary[key].to_string())
    };
    let none = config_summary(&scratch, &[], &[]);
    assert_eq!(fields(&none), ["\"wharf.toml\"", "false", "\"none\"", "\"wharf-data\""]);

    let system = scratch.system_config();
    std::fs::create_dir_all(system.parent().unwrap()).unwrap();
    std::fs::write(&system, "[store]\ndata = \"/var/lib/wharf-test\"\n").unwrap();
    let from_system = config_summary(&scratch, &[], &[]);
    assert_eq!(from_system["config_source"], "system");
    assert_eq!(from_system["file"], system.display().to_string());
    assert_eq!(from_system["data_dir"], "/var/lib/wharf-test");

    std::fs::create_dir(scratch.path().join("etc")).unwrap();
    std::fs::write(scratch.path().join("etc/fleet.toml"), "[store]\ndata = \"state\"\n").unwrap();
    let env = [("WHARF_CONFIG", "etc/fleet.toml")];
    let from_env = config_summary(&scratch, &env, &[]);
    assert_eq!(fields(&from_env), ["\"etc/fleet.toml\"", "true", "\"env\"", "\"etc/state\""]);
    assert_eq!(from_env["database"], "etc/state/wharf.db");
    let overridden = config_summary(&scratch, &env, &["--data", "elsewhere"]);
    assert_eq!(overridden["data_dir"], "elsewhere");
    let overridden = config_summary(&scratch, &[("WHARF_DATA", "env-data")], &[]);
    assert_eq!(overridden["data_dir"], "env-data");

    scratch.config("");
    assert_eq!(config_summary(&scratch, &[], &[])["config_source"], "cwd");
    let from_flag = config_summary(&scratch, &env, &["--config", "etc/fleet.toml"]);
    assert_eq!(from_flag["config_source"], "flag");

    // The store goes where the file says, and nothing is created in ./wharf-data.
    let output = scratch.wharf(&["log", "x"]).envs(env).output().unwrap();
    let (code, _, stderr) = outcome(&output);
    assert_eq!(code, 0, "{stderr}");
    assert!(scratch.path().join("etc/state/wharf.db").is_file());
    assert!(!scratch.path().join("wharf-data").exists());

    let (code, stdout, _) =
        outcome(&scratch.run(&["config", "check", "--config", "etc/fleet.toml"]));
    assert_eq!(code, 0);
    assert!(stdout.contains("  config file: etc/fleet.toml (named by --config)\n"), "{stdout}");
    assert!(stdout.contains("  data directory: etc/state\n"), "{stdout}");
}

#[test]
fn missing_file_named_by_wharf_config_is_usage_error() {
    let scratch = Scratch::new();
    scratch.config("");
    let output = scratch.wharf(&["nodes"]).env("WHARF_CONFIG", "nope.toml").output().unwrap();
    let (code, _, stderr) = outcome(&output);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("nope.toml (named by $WHARF_CONFIG)"), "{stderr}");
}

#[test]
fn nodes_lists_selection_as_json_and_table() {
    let scratch = Scratch::new();
    scratch.config(FLEET);
    let (code, stdout, stderr) = outcome(&scratch.run(&["nodes", "@role:db", "--json"]));
    assert_eq!(code, 0, "{stderr}");
    let nodes: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let names: Vec<&str> =
        nodes.as_array().unwrap().iter().map(|n| n["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["db1", "db2"]);
    assert_eq!(nodes[0]["port"], 2222);
    assert_eq!(nodes[0]["labels"]["role"], "db");

    let (code, stdout, _) = outcome(&scratch.run(&["nodes", "web[01-02]"]));
    assert_eq!(code, 0);
    assert_eq!(stdout.lines().count(), 3, "{stdout}");
    assert!(stdout.starts_with("NODE"), "{stdout}");

    let (code, _, stderr) = outcome(&scratch.run(&["nodes", "web99"]));
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("web99 is not in the inventory"), "{stderr}");
}

#[test]
fn nodeset_expands_folds_counts_with_groups() {
    let scratch = Scratch::new();
    scratch.config(FLEET);
    let run = |args: &[&str]| outcome(&scratch.run(args));
    assert_eq!(run(&["nodeset", "-e", "web[01-03]"]).1, "web01 web02 web03\n");
    assert_eq!(run(&["nodeset", "-f", "@production", "web01"]).1, "db[1-2],web[01,03-04]\n");
    assert_eq!(run(&["nodeset", "-c", "@*!@canary"]).1, "4\n");
    let (code, _, stderr) = run(&["nodeset", "-e", "web[1-"]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("position"), "{stderr}");
    let (code, _, stderr) = run(&["nodeset", "-e", "@nope"]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("nope"), "{stderr}");
}

#[test]
fn global_options_work_after_the_subcommand() {
    let scratch = Scratch::new();
    std::fs::create_dir(scratch.path().join("etc")).unwrap();
    std::fs::write(scratch.path().join("etc/fleet.toml"), FLEET).unwrap();
    let before = outcome(&scratch.run(&["--config", "etc/fleet.toml", "nodeset", "-c", "@*"]));
    let after = outcome(&scratch.run(&["nodeset", "-c", "@*", "--config", "etc/fleet.toml"]));
    assert_eq!(before, after);
    assert_eq!(after.1, "6\n");
}

#[test]
fn log_and_audit_round_trip_and_verify() {
    let scratch = Scratch::new();
    let (code, stdout, stderr) =
        outcome(&scratch.run(&["log", "--target", "web01", "restarted", "puma", "by", "hand"]));
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.starts_with("logged #1"), "{stdout}");
    assert!(scratch.path().join("wharf-data/wharf.db").exists());

    let (code, stdout, _) = outcome(&scratch.run(&["audit", "--json"]));
    assert_eq!(code, 0);
    let entries: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(entries[0]["actor"], "tester");
    assert_eq!(entries[0]["action"], "note");
    assert_eq!(entries[0]["target"], "web01");
    assert_eq!(entries[0]["details"]["message"], "restarted puma by hand");

    let (code, stdout, _) = outcome(&scratch.run(&["audit", "--verify"]));
    assert_eq!(code, 0);
    assert!(stdout.starts_with("audit log ok: 1 entries"), "{stdout}");
}

/// `--actor`, `--since` and `--until` select in the store; a time that is not one is refused
/// with exit 2, naming the flag.
#[test]
fn audit_filters_by_actor_and_time() {
    let scratch = Scratch::new();
    for (actor, note) in [("alice", "first"), ("bob", "second"), ("alice", "third")] {
        let output = scratch.wharf(&["log", note]).env("WHARF_ACTOR", actor).output().unwrap();
        assert_eq!(outcome(&output).0, 0, "{}", outcome(&output).2);
    }
    let notes = |args: &[&str]| -> Vec<String> {
        let mut all = vec!["audit", "--json"];
        all.extend_from_slice(args);
        let (code, stdout, stderr) = outcome(&scratch.run(&all));
        assert_eq!(code, 0, "{args:?}: {stderr}");
        let entries: Vec<serde_json::Value> = serde_json::from_str(&stdout).unwrap();
        entries.iter().map(|e| e["details"]["message"].as_str().unwrap().to_owned()).collect()
    };
    assert_eq!(notes(&["--actor", "alice"]), ["first", "third"]);
    assert_eq!(notes(&["--actor", "bob"]), ["second"]);
    assert_eq!(notes(&["--actor", "nobody"]), [""; 0]);
    assert_eq!(notes(&["--since", "2000-01-01", "--until", "2999-01-01"]).len(), 3);
    assert_eq!(notes(&["--since", "2999-01-01T00:00:00+02:00"]), [""; 0]);
    assert_eq!(notes(&["--until", "2000-01-01"]), [""; 0]);

    let (code, _, stderr) = outcome(&scratch.run(&["audit", "--since", "last tuesday"]));
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("since `last tuesday` is not a time"), "{stderr}");
}

/// Two `wharf` processes writing one data directory at once: every entry lands, the chain
/// holds, nobody fails with "database is locked".
#[test]
fn concurrent_processes_share_one_data_dir() {
    const PER_WRITER: usize = 25;
    let scratch = Scratch::new();
    // No store yet: the writers race on creating the file and migrating it, too.
    let writers: Vec<_> = (0..2)
        .map(|writer| {
            let script = format!(
                "for i in $(seq 1 {PER_WRITER}); do \"$0\" log --target w{writer} entry $i || exit 1; done"
            );
            std::process::Command::new("sh")
                .arg("-c")
                .arg(&script)
                .arg(env!("CARGO_BIN_EXE_wharf"))
                .current_dir(scratch.path())
                .env("WHARF_ACTOR", format!("writer{writer}"))
                .env_remove("WHARF_DATA")
                .env_remove("WHARF_CONFIG")
                .env_remove("WHARF_DATABASE")
                .env("WHARF_SYSTEM_CONFIG", scratch.system_config())
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .expect("spawn writer")
        })
        .collect();
    for writer in writers {
        let output = writer.wait_with_output().expect("wait writer");
        assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    }
    let (code, stdout, _) = outcome(&scratch.run(&["audit", "--json", "-n", "1000"]));
    assert_eq!(code, 0);
    let entries: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let entries = entries.as_array().unwrap();
    assert_eq!(entries.len(), 2 * PER_WRITER);
    for writer in 0..2 {
        let target = format!("w{writer}");
        let mine: Vec<&str> = entries
            .iter()
            .filter(|e| e["target"] == target.as_str())
            .map(|e| e["details"]["message"].as_str().unwrap())
            .collect();
        let expected: Vec<String> = (1..=PER_WRITER).map(|i| format!("entry {i}")).collect();
        assert_eq!(mine, expected, "writer {writer}'s entries in order");
    }
    let (code, stdout, _) = outcome(&scratch.run(&["audit", "--verify"]));
    assert_eq!(code, 0, "{stdout}");
    assert!(stdout.starts_with(&format!("audit log ok: {} entries", 2 * PER_WRITER)), "{stdout}");
}

/// The README's first command: the demo builds a package, publishes it, ships it to the
/// canary nodes and reads it back there, deploys 1.0 and 1.1 through staging, canary and
/// production (production before canary refused), rolls back, then publishes Wharf's own
/// package, which apt in a private root sees; a second run starts over.
#[test]
fn demo_ships_a_package_to_the_canary_nodes() {
    let scratch = Scratch::new();
    for round in 0..2 {
        let (code, stdout, stderr) = outcome(&scratch.run(&["demo"]));
        assert_eq!(code, 0, "round {round}: {stdout}{stderr}");
        assert!(
            stdout.contains(
                "web[01-02] (2)\n----------------\nPackage: hello-wharf\nVersion: 1.0-1\n"
            ),
            "{stdout}"
        );
        assert!(stderr.contains("refused (promotion-gate): gprd accepts only"), "{stderr}");
        assert!(
            stdout.contains("deploy 8 of hello-wharf 1.0-1 to gprd (rollback): succeeded"),
            "round {round}: {stdout}"
        );
        assert!(stdout.contains("audit log ok: 25 entries"), "round {round}: {stdout}");
        // Wharf ships itself: its own package in its own repository, seen by apt.
        assert!(stdout.contains("published repository wharf at "), "round {round}: {stdout}");
        let candidate = format!("Candidate: {}", env!("CARGO_PKG_VERSION"));
        assert!(stdout.contains(&candidate), "round {round}: {stdout}");
    }
    let demo = scratch.path().join("wharf-demo");
    let installed = |node: &str| {
        let admindir = demo.join("nodes").join(node).join("var/lib/dpkg");
        let out = std::process::Command::new("dpkg-query")
            .arg(format!("--admindir={}", admindir.display()))
            .args(["-W", "-f=${Version}", "hello-wharf"])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    assert_eq!(installed("stg-web01"), "1.1-1", "staging kept 1.1");
    assert_eq!(installed("gitaly02"), "1.0-1", "production rolled back, Gitaly too");
    assert!(demo.join("nodes/web01/var/cache/wharf/hello-wharf_1.0-1_all.deb").is_file());
    assert!(!demo.join("nodes/web03/var/cache/wharf/hello-wharf_1.0-1_all.deb").exists());

    std::fs::write(demo.join("wharf.toml"), "# someone else's fleet\n").unwrap();
    let (code, _, stderr) = outcome(&scratch.run(&["demo"]));
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("not the demo's configuration"), "{stderr}");
    assert_eq!(
        std::fs::read_to_string(demo.join("wharf.toml")).unwrap(),
        "# someone else's fleet\n"
    );
}
