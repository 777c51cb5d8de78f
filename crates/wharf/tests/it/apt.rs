//! APT repositories end to end: real `.deb` files built by `dpkg-deb`, the real `wharf`
//! binary, and a real `apt-get` in a private root verifying the signature (no
//! `trusted=yes`), over HTTP through `wharf server`.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::support::{Scratch, ServerProcess, object_file, outcome};

pub(crate) fn build_deb(
    out_dir: &Path,
    name: &str,
    version: &str,
    arch: &str,
    compression: &str,
) -> PathBuf {
    build_deb_with(out_dir, name, version, arch, compression, "")
}

/// [`build_deb`] with extra control fields (`"Depends: a (>= 1)\n"`).
pub(crate) fn build_deb_with(
    out_dir: &Path,
    name: &str,
    version: &str,
    arch: &str,
    compression: &str,
    extra_fields: &str,
) -> PathBuf {
    let work = tempfile::tempdir().unwrap();
    let root = work.path().join("root");
    std::fs::create_dir_all(root.join("DEBIAN")).unwrap();
    std::fs::create_dir_all(root.join("usr/share").join(name)).unwrap();
    std::fs::write(root.join("usr/share").join(name).join("VERSION"), version).unwrap();
    std::fs::write(
        root.join("DEBIAN/control"),
        format!(
            "Package: {name}\nVersion: {version}\nArchitecture: {arch}\nMaintainer: T <t@wharf.invalid>\n{extra_fields}Description: test {name}\n"
        ),
    )
    .unwrap();
    let out = out_dir.join(format!("{name}_{version}_{arch}.deb"));
    dpkg_deb_build(&root, &out, compression);
    out
}

/// `dpkg-deb -ZCOMPRESSION --root-owner-group --build ROOT OUT`, expecting success.
pub(crate) fn dpkg_deb_build(root: &Path, out: &Path, compression: &str) {
    let status = Command::new("dpkg-deb")
        .arg(format!("-Z{compression}"))
        .args(["--root-owner-group", "--build"])
        .arg(root)
        .arg(out)
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success(), "dpkg-deb --build {}", root.display());
}

/// Run `wharf ARGS`, expect exit 0, return stdout. Health checks in these tests pass
/// `--min-free-percent 0`: they are about repositories, not the test machine's disk (the
/// disk check has its own tests in `apt_config.rs`).
pub(crate) fn ok(scratch: &Scratch, args: &[&str]) -> String {
    let (code, stdout, stderr) = outcome(&scratch.run(args));
    assert_eq!(code, 0, "wharf {args:?} failed: {stdout}{stderr}");
    stdout
}

/// A private apt/dpkg root (DESIGN.md's recipe).
pub(crate) struct AptRoot {
    root: PathBuf,
}

impl AptRoot {
    pub(crate) fn new(dir: &Path, source_line: &str) -> AptRoot {
        let root = dir.join("aptroot");
        for sub in [
            "etc/apt/sources.list.d",
            "etc/apt/preferences.d",
            "etc/apt/apt.conf.d",
            "etc/apt/trusted.gpg.d",
            "var/lib/apt/lists/partial",
            "var/cache/apt/archives/partial",
            "var/lib/dpkg/info",
            "var/lib/dpkg/updates",
            "var/log/apt",
        ] {
            std::fs::create_dir_all(root.join(sub)).unwrap();
        }
        std::fs::write(root.join("var/lib/dpkg/status"), "").unwrap();
        std::fs::write(root.join("etc/apt/sources.list"), format!("{source_line}\n")).unwrap();
        AptRoot { root }
    }

    /// The options that point apt (and `apt-file`) at this root.
    pub(crate) fn options(&self) -> Vec<String> {
        let r = self.root.display();
        vec![
            format!("-oDir={r}"),
            format!("-oDir::State::status={r}/var/lib/dpkg/status"),
            format!("-oDPkg::Options::=--root={r}"),
            format!("-oDPkg::Options::=--admindir={r}/var/lib/dpkg"),
            "-oDebug::NoLocking=1".to_owned(),
            "-oAPT::Sandbox::User=root".to_owned(),
            // Some hosts turn these off (/etc/apt/apt.conf.d); clients normally check.
            "-oAcquire::Check-Valid-Until=true".to_owned(),
            "-oAcquire::Check-Date=true".to_owned(),
            format!("-oDir::Etc::TrustedParts={r}/etc/apt/trusted.gpg.d"),
        ]
    }

    pub(crate) fn apt_get(&self, args: &[&str]) -> (bool, String) {
        self.apt_get_in(Path::new("."), args)
    }

    /// [`AptRoot::apt_get`] run in `dir` (where `apt-get source` unpacks).
    pub(crate) fn apt_get_in(&self, dir: &Path, args: &[&str]) -> (bool, String) {
        let output = Command::new("apt-get")
            .current_dir(dir)
            .args(self.options())
            .args(args)
            .output()
            .unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        (output.status.success(), text)
    }

    pub(crate) fn installed(&self) -> String {
        let output = Command::new("dpkg-query")
            .arg(format!("--admindir={}/var/lib/dpkg", self.root.display()))
            .args(["-W", "-f", "${Package}=${Version}\n"])
            .output()
            .unwrap();
        String::from_utf8_lossy(&output.stdout).into_owned()
    }
}

/// A private apt root whose only source is `PREFIX` (distribution `bookworm`, `main`)
/// served by `server`, trusting only Wharf's exported key (`signed-by=`, no
/// `trusted=yes`), after an `apt-get update` over HTTP without warnings.
pub(crate) fn apt_client(scratch: &Scratch, server: &ServerProcess, prefix: &str) -> AptRoot {
    let key = scratch.path().join("wharf.asc");
    std::fs::write(&key, ok(scratch, &["key", "export"])).unwrap();
    let base = format!("http://{}/apt/{prefix}", server.addr);
    let apt = AptRoot::new(
        scratch.path(),
        &format!("deb [signed-by={}] {base} bookworm main", key.display()),
    );
    let (success, log) = apt.apt_get(&["update"]);
    assert!(success, "{log}");
    assert!(!log.contains("W:") && !log.contains("E:"), "apt-get update warned:\n{log}");
    assert!(log.contains(&base), "not over HTTP:\n{log}");
    apt
}

/// `apt-get install -y PKG=VERSION…` succeeds without warnings.
pub(crate) fn apt_install(apt: &AptRoot, packages: &[&str]) {
    let mut args = vec!["install", "-y"];
    args.extend_from_slice(packages);
    let (success, log) = apt.apt_get(&args);
    assert!(success, "{log}");
    assert!(!log.contains("W:"), "apt-get install warned:\n{log}");
}

#[test]
fn add_publish_and_install_with_real_apt() {
    let scratch = Scratch::new();
    let debs = scratch.path().join("debs");
    std::fs::create_dir_all(debs.join("nested")).unwrap();
    build_deb(&debs, "hello", "1.0-1", "all", "gzip");
    build_deb(&debs, "hello", "2.0-1", "all", "xz");
    build_deb(&debs.join("nested"), "tool", "0.5", "amd64", "zstd");
    ok(
        &scratch,
        &[
            "repo",
            "create",
            "tools",
            "--distribution",
            "bookworm",
            "--architectures",
            "amd64,arm64",
        ],
    );
    assert!(ok(&scratch, &["repo", "add", "tools", "debs"]).contains("added 3"));
    assert!(ok(&scratch, &["repo", "add", "tools", "debs"]).contains("nothing to do"));
    ok(&scratch, &["publish", "tools"]);
    assert!(ok(&scratch, &["publish", "tools"]).contains("unchanged"));

    let server = ServerProcess::start(&scratch, &[], true);
    let apt = apt_client(&scratch, &server, "tools");
    apt_install(&apt, &["hello=1.0-1", "tool=0.5"]);
    assert_eq!(apt.installed(), "hello=1.0-1\ntool=0.5\n");

    // Remove one version, publish again: apt sees the change.
    ok(&scratch, &["repo", "remove", "tools", "hello (= 2.0-1)"]);
    let published = ok(&scratch, &["publish", "tools"]);
    assert!(published.contains("2 packages"), "{published}");
    let (success, log) = apt.apt_get(&["update"]);
    assert!(success && !log.contains("W:"), "{log}");

    // The tree passes health and verify.
    ok(&scratch, &["health", "--min-free-percent", "0"]);
    ok(&scratch, &["repo", "verify"]);
    // Dropping a published repository is refused without --force.
    let (code, _, stderr) = outcome(&scratch.run(&["repo", "drop", "tools"]));
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("published"), "{stderr}");
}

#[test]
fn bad_inputs_change_nothing() {
    let scratch = Scratch::new();
    let debs = scratch.path().join("debs");
    std::fs::create_dir_all(&debs).unwrap();
    let good = build_deb(&debs, "good", "1", "all", "xz");
    ok(&scratch, &["repo", "create", "r1", "--distribution", "bookworm"]);
    let bytes = std::fs::read(&good).unwrap();
    let bad_dir = scratch.path().join("bad");
    std::fs::create_dir_all(&bad_dir).unwrap();
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("truncated.deb", bytes[..bytes.len() / 2].to_vec()),
        ("random.deb", (0..500u32).map(|i| (i * 7919 % 251) as u8).collect()),
    ];
    for (name, content) in cases {
        let path = bad_dir.join(name);
        std::fs::write(&path, content).unwrap();
        let (code, _, stderr) = outcome(&scratch.run(&[
            "repo",
            "add",
            "r1",
            good.to_str().unwrap(),
            path.to_str().unwrap(),
        ]));
        assert_eq!(code, 2, "{stderr}");
        assert!(stderr.contains(name) && stderr.contains("nothing added"), "{stderr}");
        let shown = ok(&scratch, &["repo", "show", "r1", "--json"]);
        assert!(shown.contains("\"packages\": 0"), "repository changed after {name}: {shown}");
    }
    // Same name/version/arch, different content: refused unless --replace.
    ok(&scratch, &["repo", "add", "r1", good.to_str().unwrap()]);
    let other = scratch.path().join("other");
    std::fs::create_dir_all(&other).unwrap();
    let changed = build_deb(&other, "good", "1", "all", "gzip");
    let (code, _, stderr) =
        outcome(&scratch.run(&["repo", "add", "r1", changed.to_str().unwrap()]));
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("--replace"), "{stderr}");
    assert!(
        ok(&scratch, &["repo", "add", "--replace", "r1", changed.to_str().unwrap()])
            .contains("1 replaced")
    );
    // Names with slashes or shell metacharacters are refused.
    for bad in ["a/b", "x;rm", "$(id)", ".hidden"] {
        let (code, _, _) = outcome(&scratch.run(&["repo", "create", bad, "--distribution", "d"]));
        assert_eq!(code, 2, "{bad} accepted");
    }
}

/// The seed of a randomized crash schedule: `WHARF_TEST_SEED`, else the clock.
fn test_seed() -> u64 {
    std::env::var("WHARF_TEST_SEED").ok().and_then(|value| value.parse().ok()).unwrap_or_else(
        || {
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos()
                as u64
        },
    )
}

/// Starts `wharf ARGS` and kills it (SIGKILL) after `delay_us` microseconds, or reaps it
/// if it finished first.
fn kill_9_after(scratch: &Scratch, args: &[&str], delay_us: u64) {
    let mut child =
        scratch.wharf(args).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
    std::thread::sleep(std::time::Duration::from_micros(delay_us));
    let _ = child.kill();
    let _ = child.wait();
}

/// splitmix64: a tiny seeded PRNG, so a failing crash schedule can be replayed.
fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// kill -9 `wharf publish` at random moments (delays drawn from a seeded PRNG; set
/// `WHARF_TEST_SEED` to replay a failure); after each kill the tree, served by
/// `wharf server`, still passes `apt-get update`, the package it lists installs, `repo
/// verify` passes, and a final publish completes.
#[test]
fn publish_survives_kill_9() {
    let seed = test_seed();
    let mut rng = seed;
    let scratch = Scratch::new();
    let debs = scratch.path().join("debs");
    std::fs::create_dir_all(&debs).unwrap();
    for idx in 0..6 {
        build_deb(&debs, &format!("pkg{idx}"), "1.0", "all", "gzip");
    }
    ok(&scratch, &["repo", "create", "c", "--distribution", "bookworm"]);
    ok(&scratch, &["repo", "add", "c", "debs"]);
    ok(&scratch, &["publish", "c"]);
    let server = ServerProcess::start(&scratch, &[], true);
    let apt = apt_client(&scratch, &server, "c");
    const N_ROUNDS: u64 = 16;
    for round in 0..N_ROUNDS {
        // Change the repository so the publish has work to do.
        let version = format!("2.{round}");
        build_deb(&debs, "pkg0", &version, "all", "xz");
        ok(&scratch, &["repo", "add", "c", "debs"]);
        // 0–60 ms: from before the lock is taken to after the publish finished.
        let delay_us = splitmix64(&mut rng) % 60_000;
        kill_9_after(&scratch, &["publish", "c"], delay_us);
        let context = format!("WHARF_TEST_SEED={seed}, round {round}, killed after {delay_us} µs");
        let (success, log) = apt.apt_get(&["update"]);
        assert!(success && !log.contains("W:") && !log.contains("E:"), "{context}:\n{log}");
        // Whatever version the served index lists, its pool file is served too.
        let (success, log) = apt.apt_get(&["install", "-y", "pkg0"]);
        assert!(success, "{context}: install:\n{log}");
        let (code, stdout, stderr) = outcome(&scratch.run(&["repo", "verify"]));
        assert_eq!(code, 0, "{context}: repo verify: {stdout}{stderr}");
    }
    ok(&scratch, &["publish", "c"]);
    ok(&scratch, &["health", "--min-free-percent", "0"]);
    let (success, log) = apt.apt_get(&["update"]);
    assert!(success && !log.contains("W:"), "WHARF_TEST_SEED={seed}: {log}");
    let (success, log) = apt.apt_get(&["install", "-y", &format!("pkg0=2.{}", N_ROUNDS - 1)]);
    assert!(success, "WHARF_TEST_SEED={seed}: {log}");
}

fn n_object_files(scratch: &Scratch) -> usize {
    let base = scratch.path().join("wharf-data/objects/sha256");
    std::fs::read_dir(base)
        .unwrap()
        .map(|dir| std::fs::read_dir(dir.unwrap().path()).unwrap().count())
        .sum()
}

/// `repo add --replace` after a publish: the next publish serves the new file under the
/// same pool name. `repo cleanup` deletes only packages no repository or snapshot holds.
#[test]
fn replace_after_publish_and_cleanup() {
    let scratch = Scratch::new();
    let debs = scratch.path().join("debs");
    std::fs::create_dir_all(&debs).unwrap();
    build_deb(&debs, "hello", "1.0", "all", "gzip");
    build_deb(&debs, "tool", "1.0", "all", "gzip");
    ok(&scratch, &["repo", "create", "r", "--distribution", "bookworm"]);
    ok(&scratch, &["repo", "add", "r", "debs"]);
    ok(&scratch, &["publish", "r"]);
    ok(&scratch, &["snapshot", "create", "s", "--from", "r"]);

    let other = scratch.path().join("other");
    std::fs::create_dir_all(&other).unwrap();
    let new_hello = build_deb(&other, "hello", "1.0", "all", "xz");
    ok(&scratch, &["repo", "add", "--replace", "r", new_hello.to_str().unwrap()]);
    ok(&scratch, &["publish", "r"]);
    let pool = object_file(&scratch, "r", "pool/main/h/hello/hello_1.0_all.deb");
    assert!(
        std::fs::read(&pool).unwrap() == std::fs::read(&new_hello).unwrap(),
        "the pool still serves the replaced file"
    );
    ok(&scratch, &["health", "--min-free-percent", "0"]);

    // Removed from the repository, but the snapshot still holds both old files.
    ok(&scratch, &["repo", "remove", "r", "tool"]);
    assert_eq!(n_object_files(&scratch), 3);
    assert!(ok(&scratch, &["repo", "cleanup"]).contains("removed 0 "));
    assert_eq!(n_object_files(&scratch), 3);
    ok(&scratch, &["snapshot", "drop", "s"]);
    let cleaned = ok(&scratch, &["repo", "cleanup", "--json"]);
    let report: serde_json::Value = serde_json::from_str(&cleaned).unwrap();
    // Both packages are forgotten, but only the replaced file goes: the published tree
    // still lists `tool` until it is published again and the grace period is over.
    assert_eq!(
        (report["packages"].as_u64(), report["files"].as_u64()),
        (Some(2), Some(1)),
        "{cleaned}"
    );
    assert_eq!(n_object_files(&scratch), 2);
    ok(&scratch, &["repo", "verify"]);
    ok(&scratch, &["health", "--min-free-percent", "0"]);
    ok(&scratch, &["publish", "r"]);
    ok(&scratch, &["health", "--min-free-percent", "0"]);
    assert!(ok(&scratch, &["repo", "cleanup"]).contains("removed 0 "), "still in its grace period");
    assert_eq!(n_object_files(&scratch), 2);
    let audit = ok(&scratch, &["audit", "--action", "repo.cleanup", "--json"]);
    assert!(audit.contains("repo.cleanup"), "{audit}");
}

/// Writes `n` generated `.deb` files (`bench/gen-debs.py`) into `dir`.
fn generate_debs(dir: &Path, n: usize) {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../bench/gen-debs.py");
    let status = Command::new("python3")
        .arg(&script)
        .arg(dir)
        .arg(n.to_string())
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
}

/// A large add is inserted while it is still being read (in batches of 256 files): it
/// lands whole, or — one bad file in a later batch — not at all.
#[test]
fn large_add_lands_whole_or_not_at_all() {
    let scratch = Scratch::new();
    let debs = scratch.path().join("debs");
    generate_debs(&debs, 600);
    ok(&scratch, &["repo", "create", "big", "--distribution", "bookworm"]);
    // Sorted last, so it is read in the third batch, after two were inserted.
    let broken = debs.join("zzz-broken_1_amd64.deb");
    std::fs::write(&broken, b"!<arch>\nnot really").unwrap();
    let (code, _, stderr) = outcome(&scratch.run(&["repo", "add", "big", debs.to_str().unwrap()]));
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("zzz-broken_1_amd64.deb") && stderr.contains("nothing added"),
        "{stderr}"
    );
    let shown = ok(&scratch, &["repo", "show", "big", "--json"]);
    assert!(shown.contains("\"packages\": 0"), "{shown}");
    let audit = ok(&scratch, &["audit", "--json"]);
    assert!(!audit.contains("repo.add"), "a refused add is not audited: {audit}");

    std::fs::remove_file(&broken).unwrap();
    let added = ok(&scratch, &["repo", "add", "big", debs.to_str().unwrap()]);
    assert!(added.contains("added 600 package(s)"), "{added}");
    assert!(ok(&scratch, &["publish", "big"]).contains("600 packages"));
    let again = ok(&scratch, &["repo", "add", "big", debs.to_str().unwrap()]);
    assert!(again.contains("nothing to do: 600"), "{again}");
    ok(&scratch, &["repo", "verify"]);
    ok(&scratch, &["health", "--min-free-percent", "0"]);
}

/// kill -9 `wharf repo add` of 600 packages at random moments (delays drawn from a seeded
/// PRNG; `WHARF_TEST_SEED` replays a failure): after each kill the repository holds all
/// 600 packages and one `repo.add` audit entry, or none of either; `repo verify` and the
/// audit chain pass; adding again completes.
#[test]
fn large_add_survives_kill_9() {
    let seed = test_seed();
    let mut rng = seed;
    let scratch = Scratch::new();
    let debs = scratch.path().join("debs");
    generate_debs(&debs, 600);
    // How long one add takes here, to spread the kills over it.
    ok(&scratch, &["repo", "create", "probe", "--distribution", "bookworm"]);
    let started = std::time::Instant::now();
    ok(&scratch, &["repo", "add", "probe", debs.to_str().unwrap()]);
    let full_us = u64::try_from(started.elapsed().as_micros()).unwrap().max(1);
    let count = |name: &str| -> (u64, usize) {
        let shown: serde_json::Value =
            serde_json::from_str(&ok(&scratch, &["repo", "show", name, "--json"])).unwrap();
        let audit: serde_json::Value =
            serde_json::from_str(&ok(&scratch, &["audit", "--json", "-n", "1000"])).unwrap();
        let n_audited = audit
            .as_array()
            .unwrap()
            .iter()
            .filter(|entry| entry["action"] == "repo.add" && entry["target"] == name)
            .count();
        (shown["packages"].as_u64().unwrap(), n_audited)
    };
    for round in 0..8 {
        let name = format!("r{round}");
        ok(&scratch, &["repo", "create", &name, "--distribution", "bookworm"]);
        // Up to a quarter past the time an add takes: some kills land after the commit.
        let delay_us = splitmix64(&mut rng) % (full_us * 5 / 4);
        kill_9_after(&scratch, &["repo", "add", &name, debs.to_str().unwrap()], delay_us);
        let context = format!("WHARF_TEST_SEED={seed}, round {round}, killed after {delay_us} µs");
        let state = count(&name);
        assert!(
            state == (0, 0) || state == (600, 1),
            "{context}: (packages, audit entries) {state:?}"
        );
        let (code, stdout, stderr) = outcome(&scratch.run(&["repo", "verify"]));
        assert_eq!(code, 0, "{context}: repo verify: {stdout}{stderr}");
        let (code, stdout, stderr) = outcome(&scratch.run(&["audit", "--verify"]));
        assert_eq!(code, 0, "{context}: audit --verify: {stdout}{stderr}");
        // Adding again completes whatever the kill interrupted.
        ok(&scratch, &["repo", "add", &name, debs.to_str().unwrap()]);
        assert_eq!(count(&name), (600, 1), "{context}");
    }
}
