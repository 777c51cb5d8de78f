//! `[apt]` in `wharf.toml` end to end: Release fields and `Valid-Until` read by a real
//! `apt-get`, the grace period of superseded files, `health` warning before `Valid-Until`,
//! and a signing key made by real `gpg`, verified by `gpgv` and `apt-get`.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::apt::{apt_client, apt_install, build_deb, ok};
use crate::support::{Scratch, ServerProcess, outcome};

fn now_secs() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs()
}

fn release_field<'a>(release: &'a str, name: &str) -> &'a str {
    release
        .lines()
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(": "))
        .unwrap_or_else(|| panic!("no {name}: in\n{release}"))
}

/// `Sat, 01 Jun 2024 12:00:00 UTC` → Unix seconds, parsed by `date` (coreutils), not by
/// Wharf's own code.
fn date_secs(text: &str) -> u64 {
    let output = Command::new("date").args(["-u", "-d", text, "+%s"]).output().unwrap();
    assert!(output.status.success(), "date cannot parse {text:?}");
    String::from_utf8(output.stdout).unwrap().trim().parse().unwrap()
}

/// A repository `NAME` (bookworm, main, amd64) holding the given `(name, version)`
/// packages, all `Architecture: all`.
fn repo_with(scratch: &Scratch, name: &str, packages: &[(&str, &str)]) {
    let debs = scratch.path().join(format!("debs-{name}"));
    std::fs::create_dir_all(&debs).unwrap();
    for (package, version) in packages {
        build_deb(&debs, package, version, "all", "xz");
    }
    ok(
        scratch,
        &["repo", "create", name, "--distribution", "bookworm", "--architectures", "amd64"],
    );
    ok(scratch, &["repo", "add", name, debs.to_str().unwrap()]);
}

/// `wharf health --json` (with extra args): exit code and the parsed report.
fn health(scratch: &Scratch, extra: &[&str]) -> (i32, serde_json::Value) {
    let mut args = vec!["health", "--json"];
    args.extend_from_slice(extra);
    let (code, stdout, stderr) = outcome(&scratch.run(&args));
    let report = serde_json::from_str(&stdout)
        .unwrap_or_else(|err| panic!("health --json: {err}: {stdout}{stderr}"));
    (code, report)
}

/// The `(ok, detail)` of the named check in a health report.
fn check<'a>(report: &'a serde_json::Value, name: &str) -> (bool, &'a str) {
    let found = report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|check| check["check"] == name)
        .unwrap_or_else(|| panic!("no check {name:?} in {report:#}"));
    (found["ok"].as_bool().unwrap(), found["detail"].as_str().unwrap())
}

fn tree(scratch: &Scratch, prefix: &str) -> PathBuf {
    scratch.path().join("wharf-data/public").join(prefix)
}

/// Origin, Label (with `{prefix}`), Valid-Until and the disk threshold from `[apt]`: the
/// Release says what the configuration says, `apt-get update` accepts it without a
/// warning, `health` and `config check` show the values.
#[test]
fn release_fields_come_from_apt_config_and_apt_accepts_them() {
    let scratch = Scratch::new();
    scratch.config(
        "[apt]\norigin = \"ACME Corp\"\nlabel = \"ACME {prefix} packages\"\nvalid_for = \"7d\"\ngrace = \"30m\"\nmin_free_percent = 100\n",
    );
    repo_with(&scratch, "tools", &[("hello", "1.0")]);
    ok(&scratch, &["publish", "tools"]);
    let dists = tree(&scratch, "tools").join("dists/bookworm");
    let release = std::fs::read_to_string(dists.join("Release")).unwrap();
    assert_eq!(release_field(&release, "Origin"), "ACME Corp");
    assert_eq!(release_field(&release, "Label"), "ACME tools packages");
    assert_eq!(release_field(&release, "Suite"), "bookworm");
    assert_eq!(release_field(&release, "Codename"), "bookworm");
    assert_eq!(release_field(&release, "Architectures"), "amd64");
    assert_eq!(release_field(&release, "Components"), "main");
    assert!(release.contains("\nSHA256:\n"), "{release}");
    let date = release_field(&release, "Date");
    let valid_until = release_field(&release, "Valid-Until");
    assert!(date.ends_with(" UTC") && valid_until.ends_with(" UTC"), "{release}");
    assert_eq!(date_secs(valid_until) - date_secs(date), 7 * 86_400, "{release}");
    assert!(now_secs().abs_diff(date_secs(date)) < 60, "Date is now: {date}");
    let inrelease = std::fs::read_to_string(dists.join("InRelease")).unwrap();
    assert!(inrelease.contains(&format!("Valid-Until: {valid_until}\n")), "{inrelease}");

    let server = ServerProcess::start(&scratch, &[], true);
    let apt = apt_client(&scratch, &server, "tools");
    apt_install(&apt, &["hello=1.0"]);

    // `min_free_percent = 100` cannot be met; the flag still overrides the file.
    let (code, report) = health(&scratch, &[]);
    assert_eq!(code, 1, "{report:#}");
    let (disk_ok, detail) = check(&report, "disk");
    assert!(!disk_ok && detail.contains("minimum 100%"), "{detail}");
    let (code, report) = health(&scratch, &["--min-free-percent", "0"]);
    assert_eq!(code, 0, "{report:#}");
    let (valid, detail) = check(&report, "valid-until tools");
    assert!(
        valid && detail.contains(valid_until) && detail.contains("republish before"),
        "{detail}"
    );

    let summary: serde_json::Value =
        serde_json::from_str(&ok(&scratch, &["config", "check", "--json"])).unwrap();
    let apt = &summary["apt"];
    assert_eq!(
        (&apt["origin"], &apt["label"], &apt["valid_for"], &apt["grace"]),
        (
            &serde_json::json!("ACME Corp"),
            &serde_json::json!("ACME {prefix} packages"),
            &serde_json::json!("7d"),
            &serde_json::json!("30m")
        ),
        "{summary:#}"
    );
    assert_eq!(apt["min_free_percent"], 100.0, "{summary:#}");
    assert_eq!(apt["signing_key_source"], "generated", "{summary:#}");
    let text = ok(&scratch, &["config", "check"]);
    assert!(text.contains("origin \"ACME Corp\"") && text.contains("valid_for 7d"), "{text}");

    // A bad value in [apt] stops every command with the file, line and key.
    scratch.config("[apt]\norigin = \"ACME\"\nvalid_for = \"a week\"\n");
    let (code, _, stderr) = outcome(&scratch.run(&["publish", "tools"]));
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("wharf.toml:3: key `apt.valid_for`: invalid duration"), "{stderr}");
}

/// The by-hash files of the tree's only index directory.
fn by_hash(scratch: &Scratch, prefix: &str) -> BTreeSet<String> {
    let dir = tree(scratch, prefix).join("dists/bookworm/main/binary-amd64/by-hash/SHA256");
    std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().into_string().unwrap())
        .collect()
}

fn pool_list(scratch: &Scratch, prefix: &str) -> String {
    std::fs::read_to_string(tree(scratch, prefix).join(".wharf-pool")).unwrap()
}

/// `grace = "2s"`: a removed package's pool entry and the superseded by-hash indices stay
/// through the next publish, and the first publish after two seconds removes them; only
/// then does `repo cleanup` delete the package's file.
#[test]
fn grace_period_from_config_keeps_then_drops_superseded_files() {
    let scratch = Scratch::new();
    scratch.config("[apt]\ngrace = \"2s\"\n");
    repo_with(&scratch, "r", &[("hello", "1.0"), ("tool", "1.0")]);
    ok(&scratch, &["publish", "r"]);
    let first = by_hash(&scratch, "r");
    assert_eq!(first.len(), 3, "Packages, .gz, .xz: {first:?}");
    let tool_path = "pool/main/t/tool/tool_1.0_all.deb";
    let tool_sha = pool_list(&scratch, "r")
        .lines()
        .find_map(|line| line.strip_suffix(tool_path)?.strip_suffix(' ').map(str::to_owned))
        .expect("tool is in the pool list");
    let tool_object =
        scratch.path().join("wharf-data/objects/sha256").join(&tool_sha[..2]).join(&tool_sha);
    assert!(tool_object.exists(), "stored loose");

    ok(&scratch, &["repo", "remove", "r", "tool"]);
    ok(&scratch, &["publish", "r"]);
    let removed_at = now_secs();
    // Within the grace period: still listed, old indices still there.
    assert!(pool_list(&scratch, "r").contains(tool_path), "{}", pool_list(&scratch, "r"));
    let second = by_hash(&scratch, "r");
    assert!(second.is_superset(&first) && second.len() == 6, "{first:?} {second:?}");
    let cleaned = ok(&scratch, &["repo", "cleanup", "--json"]);
    let report: serde_json::Value = serde_json::from_str(&cleaned).unwrap();
    assert_eq!(report["files"], 0, "the tree still lists tool: {cleaned}");
    assert!(tool_object.exists());

    // Wait (bounded) until the grace period is over, then publish again.
    let deadline = Instant::now() + Duration::from_secs(30);
    while now_secs() < removed_at + 2 {
        assert!(Instant::now() < deadline, "the clock did not move");
        std::thread::sleep(Duration::from_millis(100));
    }
    let published = ok(&scratch, &["publish", "r"]);
    assert!(published.contains("published repository r"), "{published}");
    assert!(!pool_list(&scratch, "r").contains(tool_path), "{}", pool_list(&scratch, "r"));
    let third = by_hash(&scratch, "r");
    let current: BTreeSet<String> = second.difference(&first).cloned().collect();
    assert_eq!(third, current, "superseded by-hash files are gone");
    let cleaned = ok(&scratch, &["repo", "cleanup", "--json"]);
    let report: serde_json::Value = serde_json::from_str(&cleaned).unwrap();
    assert_eq!(report["files"], 1, "{cleaned}");
    assert!(!tool_object.exists(), "tool's file is deleted");
    ok(&scratch, &["repo", "verify"]);
    let (code, report) = health(&scratch, &["--min-free-percent", "0"]);
    assert_eq!(code, 0, "{report:#}");
    // Nothing left to expire and nothing changed: the next publish has nothing to do.
    assert!(ok(&scratch, &["publish", "r"]).contains("unchanged"));
}

/// Poll `health` (at most 30 s) until the `valid-until` check of `prefix` has a detail
/// containing `needle`; returns the exit code and that detail.
fn wait_for_valid_until(scratch: &Scratch, prefix: &str, needle: &str) -> (i32, bool, String) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (code, report) = health(scratch, &[]);
        let (valid, detail) = check(&report, &format!("valid-until {prefix}"));
        if detail.contains(needle) {
            return (code, valid, detail.to_owned());
        }
        assert!(Instant::now() < deadline, "health never said {needle:?}: {report:#}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// `valid_for = "6s"`: `health` is fine at first, unhealthy once less than a quarter of
/// the period is left ("republish before …"), and says "expired" after; a real `apt-get`
/// refuses the expired Release; publishing again (nothing else changed) renews it.
#[test]
fn health_warns_before_valid_until_and_publish_renews_it() {
    let scratch = Scratch::new();
    scratch.config("[apt]\nvalid_for = \"6s\"\nmin_free_percent = 0\n");
    repo_with(&scratch, "c", &[("hello", "1.0")]);
    ok(&scratch, &["publish", "c"]);
    let (code, report) = health(&scratch, &[]);
    assert_eq!(code, 0, "{report:#}");
    assert!(check(&report, "valid-until c").0);
    let server = ServerProcess::start(&scratch, &[], true);
    let apt = apt_client(&scratch, &server, "c");

    let (code, valid, detail) = wait_for_valid_until(&scratch, "c", "republish before");
    if valid {
        // Still the healthy wording ("…; republish before …"): wait for the warning.
        let (code, valid, detail) = wait_for_valid_until(&scratch, "c", "away: republish before");
        assert!(!valid && code == 1, "{detail}");
    } else {
        assert_eq!(code, 1, "{detail}");
        assert!(detail.contains("wharf publish c"), "says what to run: {detail}");
    }
    let (code, valid, detail) = wait_for_valid_until(&scratch, "c", "expired at");
    assert!(!valid && code == 1, "{detail}");
    assert!(detail.contains("republish now (`wharf publish c`)"), "{detail}");
    // Forget the cached lists, so apt reads the Release again instead of a 304.
    let lists = scratch.path().join("aptroot/var/lib/apt/lists");
    for entry in std::fs::read_dir(&lists).unwrap() {
        let path = entry.unwrap().path();
        if path.is_file() {
            std::fs::remove_file(path).unwrap();
        }
    }
    let (_, log) = apt.apt_get(&["update"]);
    assert!(log.contains("is expired"), "apt-get accepted an expired Release:\n{log}");

    let published = ok(&scratch, &["publish", "c"]);
    assert!(published.contains("published repository c"), "renewed: {published}");
    let (code, report) = health(&scratch, &[]);
    assert_eq!(code, 0, "{report:#}");
    let (success, log) = apt.apt_get(&["update"]);
    assert!(success && !log.contains("W:") && !log.contains("E:"), "{log}");
}

/// A throw-away GnuPG home; its agent is stopped on drop.
struct Gpg {
    home: tempfile::TempDir,
}

impl Gpg {
    fn new() -> Gpg {
        // Short path: the agent's socket lives in it.
        let home = tempfile::Builder::new().prefix("wg").tempdir_in("/tmp").unwrap();
        std::fs::set_permissions(home.path(), std::os::unix::fs::PermissionsExt::from_mode(0o700))
            .unwrap();
        Gpg { home }
    }

    fn run(&self, args: &[&str]) -> Output {
        let output = Command::new("gpg")
            .env("GNUPGHOME", self.home.path())
            .args(["--batch", "--pinentry-mode", "loopback"])
            .args(args)
            .output()
            .expect("gpg is installed (apt-get install gnupg)");
        assert!(
            output.status.success(),
            "gpg {args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        output
    }

    /// `gpg --quick-gen-key UID ALGO sign never`; the new key's fingerprint.
    fn generate(&self, uid: &str, algo: &str, passphrase: &str) -> String {
        self.run(&["--passphrase", passphrase, "--quick-gen-key", uid, algo, "sign", "never"]);
        let listed = self.run(&["--with-colons", "--list-keys", uid]);
        String::from_utf8(listed.stdout)
            .unwrap()
            .lines()
            .find_map(|line| {
                line.strip_prefix("fpr:::::::::")?.strip_suffix(':').map(str::to_owned)
            })
            .expect("fingerprint")
    }

    fn export_secret(&self, fingerprint: &str, passphrase: &str, to: &Path) {
        let out =
            self.run(&["--passphrase", passphrase, "--armor", "--export-secret-keys", fingerprint]);
        std::fs::write(to, out.stdout).unwrap();
    }

    fn export_public(&self, fingerprint: &str, armor: bool, to: &Path) {
        let mut args = vec!["--export"];
        if armor {
            args.insert(0, "--armor");
        }
        args.push(fingerprint);
        std::fs::write(to, self.run(&args).stdout).unwrap();
    }

    /// `gpgv --keyring KEYRING ARGS…`: success and output.
    fn gpgv(&self, keyring: &Path, args: &[&Path]) -> (bool, String) {
        let output = Command::new("gpgv")
            .env("GNUPGHOME", self.home.path())
            .arg("--keyring")
            .arg(keyring)
            .args(args)
            .output()
            .expect("gpgv is installed (apt-get install gpgv)");
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        (output.status.success(), text)
    }
}

impl Drop for Gpg {
    fn drop(&mut self) {
        let _ = Command::new("gpgconf")
            .env("GNUPGHOME", self.home.path())
            .args(["--kill", "all"])
            .output();
    }
}

/// A key made by real `gpg` (v4 Ed25519), named relative to the configuration file: Wharf
/// signs with it instead of generating one, `key export` gives its public part, `gpgv`
/// verifies `InRelease` and `Release.gpg` with the key as gpg exports it, and `apt-get`
/// accepts the repository.
#[test]
fn configured_gpg_key_signs_for_gpgv_and_apt() {
    let gpg = Gpg::new();
    let fingerprint = gpg.generate("Repo Signer <repo@example.invalid>", "ed25519", "");
    let scratch =
        Scratch::new().with_env(vec![("WHARF_CONFIG".to_owned(), "etc/wharf.toml".to_owned())]);
    let etc = scratch.path().join("etc");
    std::fs::create_dir_all(&etc).unwrap();
    gpg.export_secret(&fingerprint, "", &etc.join("repo-signing.asc"));
    std::fs::write(etc.join("wharf.toml"), "[apt]\nsigning_key = \"repo-signing.asc\"\n").unwrap();

    let summary: serde_json::Value =
        serde_json::from_str(&ok(&scratch, &["config", "check", "--json"])).unwrap();
    assert_eq!(summary["apt"]["signing_key_source"], "configured", "{summary:#}");
    let details = summary["apt"]["signing_key_details"].as_str().unwrap();
    assert!(details.contains("Ed25519") && details.contains(&fingerprint), "{details}");

    repo_with(&scratch, "signed", &[("hello", "1.0")]);
    ok(&scratch, &["publish", "signed"]);
    assert!(
        !scratch.path().join("wharf-data/keys/signing.asc").exists(),
        "no key generated when one is configured"
    );
    let dists = tree(&scratch, "signed").join("dists/bookworm");
    let keyring = scratch.path().join("repo.gpg");
    gpg.export_public(&fingerprint, false, &keyring);
    let (verified, log) = gpg.gpgv(&keyring, &[&dists.join("InRelease")]);
    assert!(verified && log.contains(&fingerprint), "gpgv InRelease:\n{log}");
    let (verified, log) = gpg.gpgv(&keyring, &[&dists.join("Release.gpg"), &dists.join("Release")]);
    assert!(verified, "gpgv Release.gpg:\n{log}");
    // Another key's keyring does not verify it (the check can fail).
    let other = gpg.generate("Other <other@example.invalid>", "ed25519", "");
    let other_keyring = scratch.path().join("other.gpg");
    gpg.export_public(&other, false, &other_keyring);
    let (verified, log) = gpg.gpgv(&other_keyring, &[&dists.join("InRelease")]);
    assert!(!verified, "verified with the wrong key:\n{log}");

    // `key export` is the configured key's public part.
    let exported = scratch.path().join("exported.asc");
    std::fs::write(&exported, ok(&scratch, &["key", "export"])).unwrap();
    let shown = gpg.run(&["--with-colons", "--show-keys", exported.to_str().unwrap()]);
    let shown = String::from_utf8(shown.stdout).unwrap();
    assert!(shown.contains(&format!("fpr:::::::::{fingerprint}:")), "{shown}");
    assert!(!shown.contains("\nsec:"), "public part only: {shown}");

    let server = ServerProcess::start(&scratch, &[], true);
    let apt = apt_client(&scratch, &server, "signed");
    apt_install(&apt, &["hello=1.0"]);
}

/// Keys apt or Wharf cannot use are refused with exit 2, naming the configuration line,
/// the key file and why, and nothing is published or generated.
#[test]
fn unusable_configured_keys_are_refused() {
    let gpg = Gpg::new();
    let scratch = Scratch::new();
    let locked = gpg.generate("Locked <locked@example.invalid>", "ed25519", "s3cret");
    gpg.export_secret(&locked, "s3cret", &scratch.path().join("locked.asc"));
    let small = gpg.generate("Small <small@example.invalid>", "rsa2048", "");
    gpg.export_secret(&small, "", &scratch.path().join("rsa2048.asc"));
    gpg.export_public(&small, true, &scratch.path().join("public.asc"));
    std::fs::write(scratch.path().join("notes.txt"), "not a key\n").unwrap();
    repo_with(&scratch, "r", &[("hello", "1.0")]);
    for (file, reason) in [
        ("locked.asc", "protected by a passphrase"),
        ("rsa2048.asc", "RSA key of 2048 bits"),
        ("public.asc", "it is a public key"),
        ("notes.txt", "no ASCII-armored secret key"),
        ("missing.asc", "cannot read"),
    ] {
        scratch.config(&format!("# keys\n[apt]\nsigning_key = \"{file}\"\n"));
        for args in [&["publish", "r"][..], &["key", "export"], &["config", "check"]] {
            let (code, stdout, stderr) = outcome(&scratch.run(args));
            assert_eq!(code, 2, "{file}: wharf {args:?}: {stdout}{stderr}");
            assert!(
                stderr.contains("wharf.toml:3: key `apt.signing_key`")
                    && stderr.contains(file)
                    && stderr.contains(reason),
                "{file}: wharf {args:?}: {stderr}"
            );
            assert!(!stdout.contains("BEGIN PGP"), "{file}: exported something: {stdout}");
        }
        assert!(!tree(&scratch, "r").exists(), "{file}: published anyway");
        assert!(!scratch.path().join("wharf-data/keys").exists(), "{file}: generated a key");
    }
}
