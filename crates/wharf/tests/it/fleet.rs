//! `wharf run` and `wharf copy` end to end: local nodes for output shapes and exit codes, a
//! real sshd (from `wharf_exec::testing`) for SSH nodes named only in an ssh config.

use wharf_exec::testing::{Sshd, node_names};

use crate::support::{Scratch, outcome};

const LOCAL_FLEET: &str = r#"
[[nodes]]
names = "web[01-04]"
transport = "local"
root = "/tmp/{name}"
"#;

/// web01-02 print `ok`, web03-04 print `bad` and exit 3 (web04 also writes to stderr).
const MIXED: &str = r#"case $WHARF_NODE in web0[12]) echo ok;; web03) echo bad; exit 3;; *) echo bad; echo oops >&2; exit 3;; esac"#;

#[test]
fn gathered_output_groups_identical_nodes_and_lists_failures() {
    let scratch = Scratch::new();
    scratch.config(LOCAL_FLEET);
    let (code, stdout, stderr) =
        outcome(&scratch.run(&["run", "-w", "web[01-04]", "-b", "--", MIXED]));
    assert_eq!(code, 1, "{stderr}");
    assert_eq!(
        stdout,
        "----------------\nweb[01-02] (2)\n----------------\nok\n\
         ----------------\nweb[03-04] (2)\n----------------\nbad\n"
    );
    assert!(stderr.contains("web04: oops"), "{stderr}");
    assert!(stderr.contains("wharf: web[03-04] (2): exited with exit code 3"), "{stderr}");
    // -S: the largest remote exit code.
    let (code, _, _) = outcome(&scratch.run(&["run", "-w", "web[01-04]", "-b", "-S", "--", MIXED]));
    assert_eq!(code, 3);
    // -B: stderr is part of the comparison, so web03 and web04 differ.
    let (_, stdout, _) = outcome(&scratch.run(&["run", "-w", "web[01-04]", "-B", "--", MIXED]));
    assert!(stdout.contains("web03 (1)\n----------------\nbad\n"), "{stdout}");
    assert!(stdout.contains("web04 (1)\n----------------\nbad\noops\n"), "{stdout}");

    // Each run left one audit entry saying who ran what where and how it went.
    let (code, stdout, _) = outcome(&scratch.run(&["audit", "--action", "fleet.run", "--json"]));
    assert_eq!(code, 0);
    let entries: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(entries.as_array().unwrap().len(), 3, "{stdout}");
    let first = &entries[0];
    assert_eq!(first["actor"], "tester");
    assert_eq!(first["target"], "web[01-04]");
    assert_eq!(first["details"]["command"], MIXED);
    assert_eq!(first["details"]["succeeded"], "web[01-02]");
    assert_eq!(first["details"]["failed"], "web[03-04]");
    assert_eq!(first["details"]["unreachable"], "");
}

#[test]
fn streamed_output_prefixes_each_line_with_the_node() {
    let scratch = Scratch::new();
    scratch.config(LOCAL_FLEET);
    let (code, stdout, stderr) =
        outcome(&scratch.run(&["run", "-w", "web[01-02]", "--", "echo", "a;", "echo", "b"]));
    assert_eq!(code, 0, "{stderr}");
    let mut lines: Vec<&str> = stdout.lines().collect();
    lines.sort_unstable();
    assert_eq!(lines, ["web01: a", "web01: b", "web02: a", "web02: b"]);
    assert!(stderr.is_empty(), "no progress line when stderr is not a terminal: {stderr:?}");
}

#[test]
fn json_prints_one_object_per_node() {
    let scratch = Scratch::new();
    scratch.config(LOCAL_FLEET);
    let (code, stdout, _) =
        outcome(&scratch.run(&["run", "-w", "web[01-04]", "-x", "web02", "--json", "--", MIXED]));
    assert_eq!(code, 1);
    let objects: Vec<serde_json::Value> =
        stdout.lines().map(|line| serde_json::from_str(line).unwrap()).collect();
    let nodes: Vec<&str> = objects.iter().map(|o| o["node"].as_str().unwrap()).collect();
    assert_eq!(nodes, ["web01", "web03", "web04"]);
    assert_eq!(objects[0]["status"], "ok");
    assert_eq!(objects[0]["stdout"], "ok\n");
    assert_eq!(objects[2]["exit_code"], 3);
    assert_eq!(objects[2]["stderr"], "oops\n");
    assert_eq!(objects[2]["truncated_bytes"], 0);
    assert!(
        objects[2]["finished_ms"].as_u64().unwrap() >= objects[2]["started_ms"].as_u64().unwrap()
    );
    assert!(objects[2]["error"].is_null());
}

#[test]
fn command_timeout_kills_and_reports() {
    let scratch = Scratch::new();
    scratch.config(LOCAL_FLEET);
    let started = std::time::Instant::now();
    let (code, _, stderr) =
        outcome(&scratch.run(&["run", "-w", "web01", "-u", "0.5", "--", "sleep 30"]));
    assert!(started.elapsed() < std::time::Duration::from_secs(10));
    assert_eq!(code, 1);
    assert!(stderr.contains("web01 (1): command timed out after 0.5s, killed"), "{stderr}");
    let (code, _, _) =
        outcome(&scratch.run(&["run", "-w", "web01", "-u", "0.5", "-S", "--", "sleep 30"]));
    assert_eq!(code, 124);
}

#[test]
fn a_node_set_that_expands_to_nothing_is_a_usage_error() {
    let scratch = Scratch::new();
    scratch.config(LOCAL_FLEET);
    let (code, stdout, stderr) =
        outcome(&scratch.run(&["run", "-w", "web01", "-x", "web[01-04]", "--", "true"]));
    assert_eq!(code, 2, "{stderr}");
    assert!(stdout.is_empty());
    assert!(stderr.contains("expands to no node"), "{stderr}");
    let (code, _, stderr) = outcome(&scratch.run(&["run", "-w", "@nogroup", "--", "true"]));
    assert_eq!(code, 2, "{stderr}");
    let (code, _, stderr) = outcome(&scratch.run(&["run", "-w", "web01"]));
    assert_eq!(code, 2, "a command is required: {stderr}");
}

/// SSH nodes known only to an ssh config: 20 that answer and one whose port is closed.
#[test]
fn ssh_nodes_from_ssh_config_and_an_unreachable_one() {
    let sshd = Sshd::start();
    let scratch = Scratch::new();
    scratch.config("");
    let known_hosts = scratch.path().join("known_hosts");
    sshd.write_known_hosts(&known_hosts);
    let names = node_names("n", 20);
    let entries: Vec<(String, &str)> =
        names.iter().map(|name| (name.clone(), "127.0.0.1")).collect();
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let mut config = sshd.ssh_config(&entries, &sshd.client_key, &known_hosts);
    config.push_str(&format!("Host dead\n  HostName 127.0.0.1\n  Port {closed}\n"));
    let config_path = scratch.path().join("ssh_config");
    std::fs::write(&config_path, config).unwrap();
    let ssh_config = config_path.to_str().unwrap();

    let (code, stdout, stderr) = outcome(&scratch.run(&[
        "run",
        "--ssh-config",
        ssh_config,
        "-w",
        "n[001-020]",
        "-b",
        "--",
        "id",
        "-un",
    ]));
    assert_eq!(code, 0, "{stderr}\n{}", sshd.log_text());
    assert_eq!(stdout, "----------------\nn[001-020] (20)\n----------------\nwharftest\n");

    let (code, _, stderr) = outcome(&scratch.run(&[
        "run",
        "--ssh-config",
        ssh_config,
        "-w",
        "n001,dead",
        "-b",
        "--",
        "true",
    ]));
    assert_eq!(code, 3, "{stderr}");
    assert!(stderr.contains("wharf: dead (1): unreachable (refused)"), "{stderr}");

    // wharf copy over SFTP to a directory the test user can write.
    let dest_dir = sshd.dir.path().join("copy");
    std::fs::create_dir(&dest_dir).unwrap();
    std::fs::set_permissions(&dest_dir, std::os::unix::fs::PermissionsExt::from_mode(0o777))
        .unwrap();
    let source = scratch.path().join("motd");
    std::fs::write(&source, "hello fleet\n").unwrap();
    let dest = dest_dir.join("motd");
    let (code, stdout, stderr) = outcome(&scratch.run(&[
        "copy",
        "--ssh-config",
        ssh_config,
        "-w",
        "n001",
        source.to_str().unwrap(),
        dest.to_str().unwrap(),
    ]));
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.starts_with("n001 (1): copied"), "{stdout}");
    assert_eq!(std::fs::read_to_string(&dest).unwrap(), "hello fleet\n");
}

/// The issue-13 setup: aliases sharing one host key through `HostKeyAlias`, written in an
/// `Include`d file; `--ssh-debug` says how each node is reached and what Wharf ignores.
#[test]
fn host_key_alias_from_an_included_file_and_ssh_debug() {
    let sshd = Sshd::start();
    let scratch = Scratch::new();
    scratch.config("");
    let known_hosts = scratch.path().join("known_hosts");
    std::fs::write(&known_hosts, format!("shared-lb {}\n", sshd.host_public_key)).unwrap();
    let included = scratch.path().join("fleet.conf");
    std::fs::write(
        &included,
        format!(
            "Host lb*\n  HostName 127.0.0.1\n  Port {port}\n  User wharftest\n  IdentityFile {key}\n  \
             UserKnownHostsFile {kh}\n  HostKeyAlias shared-lb\n  ForwardAgent yes\n",
            port = sshd.port,
            key = sshd.client_key.display(),
            kh = known_hosts.display(),
        ),
    )
    .unwrap();
    let config_path = scratch.path().join("ssh_config");
    std::fs::write(&config_path, format!("Include {}/*.conf\n", scratch.path().display())).unwrap();
    let (code, stdout, stderr) = outcome(&scratch.run(&[
        "run",
        "--ssh-config",
        config_path.to_str().unwrap(),
        "--ssh-debug",
        "-w",
        "lb[1-3]",
        "-b",
        "--",
        "id",
        "-un",
    ]));
    assert_eq!(code, 0, "{stderr}\n{}", sshd.log_text());
    assert_eq!(stdout, "----------------\nlb[1-3] (3)\n----------------\nwharftest\n");
    assert!(stderr.contains("lb1: ssh: host key as shared-lb in"), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "lb2: ssh: not implemented: forwardagent ({}:8)",
            included.display()
        )),
        "{stderr}"
    );
}
