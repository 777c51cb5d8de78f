//! A deploy end to end: three real sshd nodes (one sshd, three `Host` aliases), each with
//! its own private apt/dpkg root owned by the SSH user (DESIGN.md's non-root recipe, with
//! `APT_CONFIG` pointing into the root), installing from a repository published by Wharf and
//! served by `wharf server`. 1.0 goes staging → canary → production (production before
//! canary is refused by the promotion gate), then 1.1, then production is rolled back.

use std::path::{Path, PathBuf};
use std::process::Command;

use wharf_exec::testing::{Sshd, TEST_USER};

use crate::apt::{build_deb, ok};
use crate::support::{Scratch, ServerProcess, outcome};

const PKG: &str = "wharf-e2e";
const NODES: [&str; 3] = ["stg01", "cny01", "prd01"];

/// One node's root: directories, sources.list and an apt.conf for `APT_CONFIG`.
fn make_root(root: &Path, key: &Path, url: &str) {
    for dir in [
        "etc/apt/sources.list.d",
        "etc/apt/preferences.d",
        "etc/apt/apt.conf.d",
        "etc/apt/trusted.gpg.d",
        "var/lib/apt/lists/partial",
        "var/cache/apt/archives/partial",
        "var/lib/dpkg/info",
        "var/lib/dpkg/updates",
        "var/lib/dpkg/triggers",
        "var/log/apt",
    ] {
        std::fs::create_dir_all(root.join(dir)).unwrap();
    }
    std::fs::write(root.join("var/lib/dpkg/status"), "").unwrap();
    std::fs::write(
        root.join("etc/apt/sources.list.d/wharf.list"),
        format!("deb [signed-by={}] http://{url}/apt/e2e bookworm main\n", key.display()),
    )
    .unwrap();
    let r = root.display();
    std::fs::write(
        root.join("etc/apt/apt.conf"),
        format!(
            "Dir \"{r}/\";\nDir::State::status \"{r}/var/lib/dpkg/status\";\n\
             Dir::Etc::TrustedParts \"{r}/etc/apt/trusted.gpg.d\";\nDir::Log \"{r}/var/log/apt\";\n\
             Debug::NoLocking \"1\";\nAPT::Sandbox::User \"{TEST_USER}\";\n\
             DPkg::Options:: \"--root={r}\";\nDPkg::Options:: \"--admindir={r}/var/lib/dpkg\";\n\
             DPkg::Options:: \"--force-not-root\";\nDPkg::Options:: \"--log={r}/var/log/dpkg.log\";\n"
        ),
    )
    .unwrap();
}

/// The version installed in a root, or `None`.
fn installed(root: &Path) -> Option<String> {
    let output = Command::new("dpkg-query")
        .arg(format!("--admindir={}", root.join("var/lib/dpkg").display()))
        .args(["-W", "-f=${db:Status-Status} ${Version}", PKG])
        .output()
        .unwrap();
    String::from_utf8_lossy(&output.stdout).strip_prefix("installed ").map(str::to_owned)
}

fn chown_tree(path: &Path) {
    let status = Command::new("chown").arg("-R").arg(format!("{TEST_USER}:")).arg(path).status();
    assert!(status.unwrap().success(), "chown {}", path.display());
}

#[test]
fn deploys_through_the_promotion_order_over_ssh_and_rolls_back() {
    let sshd = Sshd::start();
    let scratch = Scratch::new();
    // The test user reaches the key file and its roots through the scratch directory.
    std::fs::set_permissions(scratch.path(), std::os::unix::fs::PermissionsExt::from_mode(0o755))
        .unwrap();
    scratch.config("");
    for version in ["1.0", "1.1"] {
        build_deb(scratch.path(), PKG, version, "all", "gzip");
    }
    ok(&scratch, &["repo", "create", "e2e", "--distribution", "bookworm"]);
    let debs: Vec<String> = ["1.0", "1.1"]
        .iter()
        .map(|v| scratch.path().join(format!("{PKG}_{v}_all.deb")).display().to_string())
        .collect();
    ok(&scratch, &["repo", "add", "e2e", &debs[0], &debs[1]]);
    ok(&scratch, &["publish", "e2e"]);
    let key = scratch.path().join("wharf.asc");
    std::fs::write(&key, ok(&scratch, &["key", "export"])).unwrap();
    let server = ServerProcess::start(&scratch, &[], true);

    let roots = scratch.path().join("roots");
    for node in NODES {
        make_root(&roots.join(node), &key, &server.addr);
    }
    chown_tree(&roots);

    // Wharf reads ~/.ssh/config: a home of its own with one alias per node.
    let home = scratch.path().join("home");
    std::fs::create_dir_all(home.join(".ssh")).unwrap();
    let known_hosts = scratch.path().join("known_hosts");
    sshd.write_known_hosts(&known_hosts);
    let entries: Vec<(String, &str)> =
        NODES.iter().map(|n| ((*n).to_owned(), "127.0.0.1")).collect();
    std::fs::write(
        home.join(".ssh/config"),
        sshd.ssh_config(&entries, &sshd.client_key, &known_hosts),
    )
    .unwrap();

    let apt = format!("APT_CONFIG={}/{{node}}/etc/apt/apt.conf", roots.display());
    scratch.config(&format!(
        r#"
[[nodes]]
names = "stg01,cny01,prd01"

[[environments]]
name = "staging"
nodes = "stg01"
repository = "e2e"
packages = ["{PKG}"]

[[environments]]
name = "canary"
after = "staging"
canary = true
nodes = "cny01"
repository = "e2e"
packages = ["{PKG}"]

[[environments]]
name = "production"
after = "canary"
production = true
nodes = "prd01"
repository = "e2e"
packages = ["{PKG}"]

[commands]
install = '''{apt} apt-get -q update && {apt} DEBIAN_FRONTEND=noninteractive apt-get install -q -y {{allow_downgrades}} {{packages}}'''
version = '''dpkg-query --admindir={roots}/{{node}}/var/lib/dpkg -W -f='${{{{db:Status-Status}}}} ${{{{Version}}}}' {{package}} 2>/dev/null | sed -n 's/^installed //p''''
"#,
        roots = roots.display(),
    ));
    let wharf = |args: &[&str]| -> (i32, String, String) {
        outcome(
            &scratch.wharf(args).env("HOME", &home).env_remove("SSH_AUTH_SOCK").output().unwrap(),
        )
    };
    let deploy = |version: &str, env: &str| wharf(&["deploy", version, env, "--yes"]);
    let root = |node: &str| -> PathBuf { roots.join(node) };

    let (code, stdout, stderr) = deploy("1.0", "staging");
    assert_eq!(code, 0, "{stdout}{stderr}\n{}", sshd.log_text());
    assert_eq!(installed(&root("stg01")).as_deref(), Some("1.0"));

    // Production before canary: the promotion gate refuses, nothing is installed there.
    let (code, _, stderr) = deploy("1.0", "production");
    assert_eq!(code, 4, "{stderr}");
    assert!(stderr.contains("promotion-gate") && stderr.contains("canary"), "{stderr}");
    assert_eq!(installed(&root("prd01")), None);

    for env in ["canary", "production"] {
        let (code, stdout, stderr) = deploy("1.0", env);
        assert_eq!(code, 0, "{env}: {stdout}{stderr}");
    }
    for node in NODES {
        assert_eq!(installed(&root(node)).as_deref(), Some("1.0"), "{node}");
    }

    for env in ["staging", "canary", "production"] {
        let (code, stdout, stderr) = deploy("1.1", env);
        assert_eq!(code, 0, "{env}: {stdout}{stderr}");
    }
    for node in NODES {
        assert_eq!(installed(&root(node)).as_deref(), Some("1.1"), "{node}");
    }

    let (code, stdout, stderr) = wharf(&["rollback", "production"]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert_eq!(installed(&root("prd01")).as_deref(), Some("1.0"));
    assert_eq!(installed(&root("cny01")).as_deref(), Some("1.1"));

    // The record agrees with the roots.
    let (code, stdout, stderr) = wharf(&["status", "production", "--check", "--json"]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    let status: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(status[0]["packages"][PKG]["version"], "1.0", "{status}");
    assert_eq!(status[0]["disagreeing_nodes"], serde_json::json!([]), "{status}");
    drop(server);
}
