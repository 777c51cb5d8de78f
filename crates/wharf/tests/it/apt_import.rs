//! `wharf import aptly ROOT` against what Debian 12's aptly itself made in the test: two
//! repositories (seed 004's `bookworm-tools` and `bookworm-toolsbeta`), a snapshot taken
//! before the repository moved on, one repository published and signed with a throw-away
//! key. The import must recreate the same package sets (compared with aptly's own
//! `show -with-packages`), be idempotent, refuse a damaged or incomplete pool changing
//! nothing, and serve what it imported to a real `apt-get`.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use crate::apt::{apt_client, apt_install, build_deb, ok};
use crate::support::{Scratch, ServerProcess, outcome};

struct Aptly {
    config: PathBuf,
    gnupg: PathBuf,
    root: PathBuf,
}

impl Aptly {
    fn new(dir: &Path) -> Aptly {
        let root = dir.join("aptly-root");
        let config = dir.join("aptly.conf");
        let text = serde_json::json!({ "rootDir": root, "architectures": ["amd64"] });
        std::fs::write(&config, text.to_string()).unwrap();
        let gnupg = dir.join("gnupg");
        std::fs::create_dir_all(&gnupg).unwrap();
        std::fs::set_permissions(&gnupg, std::os::unix::fs::PermissionsExt::from_mode(0o700))
            .unwrap();
        let aptly = Aptly { config, gnupg, root };
        aptly.gpg(&[
            "--batch",
            "--passphrase",
            "",
            "--quick-gen-key",
            "Aptly <a@wharf.invalid>",
            "ed25519",
            "sign",
            "never",
        ]);
        aptly
    }

    fn gpg(&self, args: &[&str]) -> String {
        let output = Command::new("gpg").args(args).env("GNUPGHOME", &self.gnupg).output().unwrap();
        assert!(
            output.status.success(),
            "gpg {args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout).unwrap()
    }

    fn run(&self, args: &[&str]) -> String {
        let output = Command::new("aptly")
            .arg(format!("-config={}", self.config.display()))
            .args(args)
            .env("GNUPGHOME", &self.gnupg)
            .output()
            .expect("aptly is installed (apt-get install aptly)");
        let text = String::from_utf8_lossy(&output.stdout).into_owned();
        assert!(
            output.status.success(),
            "aptly {args:?}: {text}{}",
            String::from_utf8_lossy(&output.stderr)
        );
        text
    }

    /// `name_version_arch` of a repository's or snapshot's packages, as aptly lists them.
    fn packages(&self, kind: &str, name: &str) -> Vec<String> {
        let shown: Value =
            serde_json::from_str(&self.run(&[kind, "show", "-json", "-with-packages", name]))
                .unwrap();
        let mut keys: Vec<String> = shown["Packages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| k.as_str().unwrap().to_owned())
            .collect();
        keys.sort();
        keys
    }

    fn fingerprint(&self) -> String {
        let listed = self.gpg(&["--list-keys", "--with-colons"]);
        let line = listed.lines().find(|l| l.starts_with("fpr:")).unwrap();
        line.split(':').nth(9).unwrap().to_owned()
    }
}

fn wharf_packages(scratch: &Scratch, args: &[&str]) -> Vec<String> {
    let (code, stdout, stderr) = outcome(&scratch.run(args));
    assert_eq!(code, 0, "{stderr}");
    let view: Value = serde_json::from_str(&stdout).unwrap();
    let mut keys: Vec<String> = view["package_list"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            format!(
                "{}_{}_{}",
                p["name"].as_str().unwrap(),
                p["version"].as_str().unwrap(),
                p["architecture"].as_str().unwrap()
            )
        })
        .collect();
    keys.sort();
    keys
}

fn audit_count(scratch: &Scratch) -> usize {
    let stdout = ok(scratch, &["audit", "--json"]);
    serde_json::from_str::<Value>(&stdout).unwrap().as_array().unwrap().len()
}

#[test]
fn import_recreates_what_aptly_made_and_serves_it() {
    let scratch = Scratch::new();
    let aptly = Aptly::new(scratch.path());
    let debs = scratch.path().join("debs");
    std::fs::create_dir_all(&debs).unwrap();
    let deb = |name: &str, version: &str, arch: &str| {
        build_deb(&debs, name, version, arch, "xz").display().to_string()
    };
    let (hello1, hello2) = (deb("hello", "1.0-1", "all"), deb("hello", "2.0~rc1-1", "all"));
    let (tool, beta_only) = (deb("tool", "0.5", "amd64"), deb("beta-only", "1:0.1", "all"));
    aptly.run(&[
        "repo",
        "create",
        "-distribution=bookworm",
        "-component=main",
        "-comment=Toolforge tools",
        "bookworm-tools",
    ]);
    aptly.run(&["repo", "create", "-distribution=bookworm", "bookworm-toolsbeta"]);
    aptly.run(&["repo", "add", "bookworm-tools", &hello1, &tool]);
    aptly.run(&["snapshot", "create", "tools-2026-12-01", "from", "repo", "bookworm-tools"]);
    aptly.run(&["repo", "add", "bookworm-tools", &hello2]);
    aptly.run(&["repo", "add", "bookworm-toolsbeta", &hello2, &beta_only]);
    let key = format!("-gpg-key={}", aptly.fingerprint());
    aptly.run(&["publish", "repo", &key, "-architectures=amd64,arm64", "bookworm-tools", "tools"]);
    let root = aptly.root.display().to_string();

    // Not an aptly root: refused, naming it.
    let (code, _, stderr) = outcome(&scratch.run(&["import", "aptly", debs.to_str().unwrap()]));
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("is not an aptly root (no db/CURRENT)"), "{stderr}");

    // A dry run reads and checks everything and changes nothing.
    let (code, stdout, stderr) =
        outcome(&scratch.run(&["import", "aptly", &root, "--dry-run", "--json"]));
    assert_eq!(code, 0, "{stderr}");
    let report: Value = serde_json::from_str(&stdout).unwrap();
    let planned: Vec<(&str, &str, &str, u64)> = report["collections"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["kind"].as_str().unwrap(),
                c["name"].as_str().unwrap(),
                c["action"].as_str().unwrap(),
                c["packages"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        planned,
        [
            ("repository", "bookworm-tools", "import", 3),
            ("repository", "bookworm-toolsbeta", "import", 2),
            ("snapshot", "tools-2026-12-01", "import", 2),
        ]
    );
    assert_eq!(ok(&scratch, &["repo", "list", "--json"]).trim(), "[]");

    let stdout = ok(&scratch, &["import", "aptly", &root]);
    assert!(stdout.contains("imported"), "{stdout}");
    for name in ["bookworm-tools", "bookworm-toolsbeta"] {
        assert_eq!(
            wharf_packages(&scratch, &["repo", "show", name, "--with-packages", "--json"]),
            aptly.packages("repo", name),
            "{name}"
        );
    }
    assert_eq!(
        wharf_packages(&scratch, &["snapshot", "show", "tools-2026-12-01", "--json"]),
        aptly.packages("snapshot", "tools-2026-12-01")
    );
    let list: Value = serde_json::from_str(&ok(&scratch, &["repo", "list", "--json"])).unwrap();
    let settings: Vec<(&str, &str, Value, Value)> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["name"].as_str().unwrap(),
                r["distribution"].as_str().unwrap(),
                r["architectures"].clone(),
                r["comment"].clone(),
            )
        })
        .collect();
    assert_eq!(
        settings,
        [
            (
                "bookworm-tools",
                "bookworm",
                serde_json::json!(["amd64", "arm64"]),
                Value::from("Toolforge tools")
            ),
            ("bookworm-toolsbeta", "bookworm", serde_json::json!(["amd64"]), Value::Null),
        ],
        "no staging repository is left behind"
    );
    let snapshot: Value =
        serde_json::from_str(&ok(&scratch, &["snapshot", "show", "tools-2026-12-01", "--json"]))
            .unwrap();
    assert_eq!(snapshot["from"], "bookworm-tools");

    // Again: nothing imported twice, nothing written.
    let before = audit_count(&scratch);
    let (code, stdout, stderr) = outcome(&scratch.run(&["import", "aptly", &root, "--json"]));
    assert_eq!(code, 0, "{stderr}");
    let report: Value = serde_json::from_str(&stdout).unwrap();
    assert!(
        report["collections"].as_array().unwrap().iter().all(|c| c["action"] == "present"),
        "{report}"
    );
    assert_eq!(audit_count(&scratch), before);

    // What was imported is served to a real apt-get.
    ok(&scratch, &["publish", "bookworm-tools"]);
    let server = ServerProcess::start(&scratch, &[], true);
    let apt = apt_client(&scratch, &server, "bookworm-tools");
    apt_install(&apt, &["hello=2.0~rc1-1", "tool=0.5"]);
    assert_eq!(apt.installed(), "hello=2.0~rc1-1\ntool=0.5\n");
    drop(server);

    // A damaged pool file, then a missing one: refused, nothing imported elsewhere.
    let other = scratch.path().join("other-data");
    let other_data = format!("--data={}", other.display());
    let pool_file = walk(&aptly.root.join("pool"))
        .into_iter()
        .find(|p| p.to_string_lossy().contains("_tool_0.5_amd64.deb"))
        .unwrap();
    let mut bytes = std::fs::read(&pool_file).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff;
    std::fs::write(&pool_file, &bytes).unwrap();
    let (code, _, stderr) = outcome(&scratch.run(&[&other_data, "import", "aptly", &root]));
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("the pool file is damaged; nothing was imported")
            && stderr.contains("tool_0.5_amd64"),
        "{stderr}"
    );
    std::fs::remove_file(&pool_file).unwrap();
    let (code, _, stderr) = outcome(&scratch.run(&[&other_data, "import", "aptly", &root]));
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("the pool file of tool_0.5_amd64 is missing"), "{stderr}");
    assert_eq!(ok(&scratch, &[&other_data, "repo", "list", "--json"]).trim(), "[]");
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            found.extend(walk(&path));
        } else {
            found.push(path);
        }
    }
    found
}
