//! Source packages and `.changes` uploads end to end: source packages built by
//! `dpkg-source -b`, their `Sources` index compared with `dpkg-scansources` on the same
//! files, `apt-get source` from a `deb-src` line against `wharf server`, and `.changes`
//! made by `dpkg-genchanges`, clearsigned by `gpg` with throw-away keys, included through
//! the CLI and through the API (`--server`) — and every kind of bad upload refused with
//! nothing changed.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::apt::{AptRoot, build_deb, ok};
use crate::support::{Scratch, ServerProcess, outcome};

pub(crate) fn run(dir: &Path, program: &str, args: &[&str]) -> String {
    let output = Command::new(program)
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|err| panic!("{program} (install dpkg-dev / gpg): {err}"));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(output.status.success(), "{program} {args:?} failed:\n{text}");
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// A source package `NAME UPSTREAM[-REVISION]` built by `dpkg-source -b` in `parent`:
/// `3.0 (quilt)` with an `.orig.tar.gz` when there is a revision, else `3.0 (native)`.
/// Returns the `.dsc`; the package's directory stays in `parent/NAME-UPSTREAM`.
pub(crate) fn build_source(
    parent: &Path,
    name: &str,
    upstream: &str,
    revision: Option<&str>,
) -> PathBuf {
    let dir_name = format!("{name}-{upstream}");
    let dir = parent.join(&dir_name);
    std::fs::create_dir_all(dir.join("debian/source")).unwrap();
    std::fs::write(dir.join("README"), format!("{name} {upstream}\n")).unwrap();
    let version = match revision {
        Some(revision) => format!("{upstream}-{revision}"),
        None => upstream.to_owned(),
    };
    std::fs::write(
        dir.join("debian/changelog"),
        format!(
            "{name} ({version}) unstable; urgency=low\n\n  * Test.\n\n -- Test <t@wharf.invalid>  Mon, 01 Jan 2024 00:00:00 +0000\n"
        ),
    )
    .unwrap();
    std::fs::write(
        dir.join("debian/control"),
        format!(
            "Source: {name}\nSection: utils\nPriority: optional\nMaintainer: Test <t@wharf.invalid>\nBuild-Depends: debhelper-compat (= 13)\nStandards-Version: 4.6.2\nHomepage: https://example.invalid/{name}\nVcs-Git: https://example.invalid/{name}.git\n\nPackage: {name}\nArchitecture: all\nDescription: test {name}\n test package\n"
        ),
    )
    .unwrap();
    let format = if revision.is_some() { "3.0 (quilt)" } else { "3.0 (native)" };
    std::fs::write(dir.join("debian/source/format"), format!("{format}\n")).unwrap();
    if revision.is_some() {
        let orig = format!("{name}_{upstream}.orig.tar.gz");
        run(parent, "tar", &["czf", &orig, &format!("{dir_name}/README")]);
    }
    run(parent, "dpkg-source", &["-b", &dir_name]);
    parent.join(format!("{name}_{version}.dsc"))
}

/// An apt root with `deb` and `deb-src` lines for the server's tree at `prefix`
/// (`bookworm main`, signed by Wharf's key), after a clean `apt-get update`.
pub(crate) fn deb_src_client(scratch: &Scratch, server: &ServerProcess, prefix: &str) -> AptRoot {
    let key = scratch.path().join("wharf.asc");
    std::fs::write(&key, ok(scratch, &["key", "export"])).unwrap();
    let base = format!("http://{}/apt/{prefix}", server.addr);
    let apt = AptRoot::new(
        scratch.path(),
        &format!(
            "deb [signed-by={k}] {base} bookworm main\ndeb-src [signed-by={k}] {base} bookworm main",
            k = key.display()
        ),
    );
    let (success, log) = apt.apt_get(&["update"]);
    assert!(success && !log.contains("W:") && !log.contains("E:"), "{log}");
    apt
}

/// The files a `.dsc` lists, from its `Files` field.
fn dsc_files(dsc: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(dsc).unwrap();
    let files = text.split("\nFiles:\n").nth(1).unwrap();
    files
        .lines()
        .take_while(|line| line.starts_with(' '))
        .map(|line| line.split_whitespace().nth(2).unwrap().to_owned())
        .collect()
}

/// `dpkg-scansources pool/main` over the same files laid out as Debian's pool.
fn scansources(dscs: &[(&Path, &str)]) -> String {
    let work = tempfile::tempdir().unwrap();
    for (dsc, pool_dir) in dscs {
        let target = work.path().join(pool_dir);
        std::fs::create_dir_all(&target).unwrap();
        let dir = dsc.parent().unwrap();
        let own = dsc.file_name().unwrap().to_str().unwrap().to_owned();
        for name in std::iter::once(own).chain(dsc_files(dsc)) {
            std::fs::copy(dir.join(&name), target.join(&name)).unwrap();
        }
    }
    run(work.path(), "dpkg-scansources", &["pool/main"])
}

/// A way to damage an uploaded file: its name, what it does, what the refusal says.
type Damage = (&'static str, fn(&Path), &'static str);

/// One changed byte (same size), one byte more, the file gone.
const DAMAGES: [Damage; 3] = [
    ("checksum", flip_byte, "its SHA-256"),
    ("size", append_byte, "its size"),
    ("missing", remove, "cannot be read"),
];

fn flip_byte(file: &Path) {
    let mut bytes = std::fs::read(file).unwrap();
    let at = bytes.len() / 2;
    bytes[at] ^= 0xff;
    std::fs::write(file, bytes).unwrap();
}

fn append_byte(file: &Path) {
    let mut bytes = std::fs::read(file).unwrap();
    bytes.push(0);
    std::fs::write(file, bytes).unwrap();
}

fn remove(file: &Path) {
    std::fs::remove_file(file).unwrap();
}

fn n_packages(scratch: &Scratch, repo: &str) -> usize {
    let json = ok(scratch, &["repo", "show", repo, "--with-packages", "--json"]);
    let view: serde_json::Value = serde_json::from_str(&json).unwrap();
    view["package_list"].as_array().map_or(0, Vec::len)
}

fn tree_file(scratch: &Scratch, prefix: &str, rel: &str) -> Vec<u8> {
    std::fs::read(scratch.path().join("wharf-data/public").join(prefix).join(rel))
        .unwrap_or_else(|err| panic!("{rel}: {err}"))
}

#[test]
fn sources_are_listed_as_dpkg_scansources_lists_them_and_apt_get_source_works() {
    let scratch = Scratch::new();
    let src = scratch.path().join("src");
    std::fs::create_dir_all(&src).unwrap();
    let hello = build_source(&src, "hello", "1.0", Some("1"));
    let libfoo = build_source(&src, "libfoo", "2.0", None);
    build_deb(&src, "hello", "1.0-1", "all", "xz");
    ok(&scratch, &["repo", "create", "tools", "--distribution", "bookworm"]);
    // A directory of .dsc files, their tarballs and a .deb, all at once.
    let added = ok(&scratch, &["repo", "add", "tools", src.to_str().unwrap(), "--json"]);
    let added: serde_json::Value = serde_json::from_str(&added).unwrap();
    let mut names: Vec<&str> =
        added["added"].as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
    names.sort_unstable();
    assert_eq!(names, ["hello_1.0-1_all", "hello_1.0-1_source", "libfoo_2.0_source"]);
    let shown = ok(&scratch, &["repo", "show", "tools", "$Architecture (source)", "--json"]);
    assert!(shown.contains("libfoo") && !shown.contains("\"all\""), "{shown}");
    ok(&scratch, &["publish", "tools"]);

    let sources =
        String::from_utf8(tree_file(&scratch, "tools", "dists/bookworm/main/source/Sources"))
            .unwrap();
    let reference =
        scansources(&[(&hello, "pool/main/h/hello"), (&libfoo, "pool/main/libf/libfoo")]);
    assert_eq!(sources, reference, "Sources differs from dpkg-scansources");
    let release =
        String::from_utf8(tree_file(&scratch, "tools", "dists/bookworm/Release")).unwrap();
    for name in ["Sources", "Sources.gz", "Sources.xz"] {
        assert!(
            release.contains(&format!(" main/source/{name}\n")),
            "{name} in Release:\n{release}"
        );
    }
    let packages = String::from_utf8(tree_file(
        &scratch,
        "tools",
        "dists/bookworm/main/binary-amd64/Packages",
    ))
    .unwrap();
    assert!(packages.contains("Package: hello\n") && !packages.contains("source"), "{packages}");

    // A full publish into another directory writes the same indices as the incremental one.
    let full = scratch.path().join("full");
    ok(&scratch, &["publish", "tools", "--to-dir", full.to_str().unwrap()]);
    for rel in
        ["dists/bookworm/main/source/Sources.xz", "dists/bookworm/main/binary-amd64/Packages"]
    {
        assert_eq!(
            std::fs::read(full.join(rel)).unwrap(),
            tree_file(&scratch, "tools", rel),
            "{rel}"
        );
    }
    assert!(full.join("pool/main/h/hello/hello_1.0.orig.tar.gz").is_file());

    // A real client: deb-src, apt-get update, apt-get source (dpkg-source checks every file).
    let server = ServerProcess::start(&scratch, &[], true);
    let apt = deb_src_client(&scratch, &server, "tools");
    let get = scratch.path().join("get");
    std::fs::create_dir_all(&get).unwrap();
    for (package, unpacked) in [("hello", "hello-1.0"), ("libfoo", "libfoo-2.0")] {
        let (success, log) = apt.apt_get_in(&get, &["source", package]);
        assert!(success, "apt-get source {package}:\n{log}\n{}", server.log());
        assert!(!log.lines().any(|line| line.starts_with("E:")), "{log}");
        let readme = std::fs::read_to_string(get.join(unpacked).join("README")).unwrap();
        assert!(readme.starts_with(package), "{readme}");
    }

    // A new version, published incrementally, is what a full publish writes too; the
    // removed source leaves the index.
    let newer = scratch.path().join("newer");
    std::fs::create_dir_all(&newer).unwrap();
    let hello2 = build_source(&newer, "hello", "1.1", Some("1"));
    ok(&scratch, &["repo", "add", "tools", hello2.to_str().unwrap()]);
    ok(&scratch, &["repo", "remove", "tools", "libfoo"]);
    ok(&scratch, &["publish", "tools"]);
    let sources =
        String::from_utf8(tree_file(&scratch, "tools", "dists/bookworm/main/source/Sources"))
            .unwrap();
    let reference = scansources(&[(&hello, "pool/main/h/hello"), (&hello2, "pool/main/h/hello")]);
    assert_eq!(sources, reference);
    let full = scratch.path().join("full2");
    ok(&scratch, &["publish", "tools", "--to-dir", full.to_str().unwrap()]);
    assert_eq!(
        std::fs::read(full.join("dists/bookworm/main/source/Sources")).unwrap(),
        sources.as_bytes()
    );
    // A snapshot keeps sources; verify reads every file of every source package back.
    ok(&scratch, &["snapshot", "create", "tools-1", "--from", "tools"]);
    let snap = ok(&scratch, &["snapshot", "show", "tools-1", "--json"]);
    assert_eq!(snap.matches("\"source\"").count(), 2, "{snap}");
    let verified = ok(&scratch, &["repo", "verify", "--json"]);
    assert!(verified.contains("\"ok\": true"), "{verified}");
    drop(server);
}

#[test]
fn bad_source_packages_are_refused_naming_the_file_and_nothing_is_added() {
    let scratch = Scratch::new();
    ok(&scratch, &["repo", "create", "tools", "--distribution", "bookworm"]);
    for (case, damage, expected) in DAMAGES {
        let dir = scratch.path().join(case);
        std::fs::create_dir_all(&dir).unwrap();
        let dsc = build_source(&dir, "hello", "1.0", Some("1"));
        build_deb(&dir, "other", "1.0", "all", "gzip");
        damage(&dir.join("hello_1.0.orig.tar.gz"));
        let (code, stdout, stderr) =
            outcome(&scratch.run(&["repo", "add", "tools", dir.to_str().unwrap()]));
        assert_eq!(code, 2, "{case}: {stdout}{stderr}");
        assert!(stderr.contains("nothing added"), "{case}: {stderr}");
        assert!(stderr.contains(dsc.to_str().unwrap()), "{case} names the .dsc: {stderr}");
        assert!(
            stderr.contains("hello_1.0.orig.tar.gz") && stderr.contains(expected),
            "{case}: {stderr}"
        );
        assert_eq!(n_packages(&scratch, "tools"), 0, "{case}: nothing added, not even the .deb");
    }
}

/// A throw-away OpenPGP key in its own GNUPGHOME; returns the home.
fn gpg_home(dir: &Path, name: &str) -> PathBuf {
    let home = dir.join(format!("gnupg-{name}"));
    std::fs::create_dir_all(&home).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(&home, std::fs::Permissions::from_mode(0o700)).unwrap();
    }
    let home_arg = home.to_str().unwrap();
    run(
        dir,
        "gpg",
        &[
            "--homedir",
            home_arg,
            "--batch",
            "--pinentry-mode",
            "loopback",
            "--passphrase",
            "",
            "--quick-gen-key",
            &format!("{name} <{name}@wharf.invalid>"),
            "ed25519",
            "sign",
            "never",
        ],
    );
    home
}

/// `gpg --clearsign FILE` with the key in `home`, into `FILE`'s directory as
/// `<home's name>.changes`.
fn clearsign(home: &Path, file: &Path) -> PathBuf {
    let name = home.file_name().unwrap().to_str().unwrap();
    let signed = file.with_file_name(format!("{name}.changes"));
    run(
        file.parent().unwrap(),
        "gpg",
        &[
            "--homedir",
            home.to_str().unwrap(),
            "--batch",
            "--yes",
            "--pinentry-mode",
            "loopback",
            "--passphrase",
            "",
            "--clearsign",
            "--output",
            signed.to_str().unwrap(),
            file.to_str().unwrap(),
        ],
    );
    signed
}

/// An upload: hello 1.0-1 source and its `.deb`, `dpkg-genchanges -sa` listing them all,
/// in `dir`; returns the unsigned `.changes`.
pub(crate) fn upload(dir: &Path) -> PathBuf {
    std::fs::create_dir_all(dir).unwrap();
    build_source(dir, "hello", "1.0", Some("1"));
    build_deb(dir, "hello", "1.0-1", "all", "xz");
    let tree = dir.join("hello-1.0");
    run(&tree, "dpkg-distaddfile", &["hello_1.0-1_all.deb", "utils", "optional"]);
    let changes = dir.join("hello_1.0-1_all.changes");
    run(&tree, "dpkg-genchanges", &["-sa", &format!("-O{}", changes.display())]);
    changes
}

fn include(scratch: &Scratch, changes: &Path, extra: &[&str]) -> (i32, String, String) {
    let mut args = vec!["repo", "include", "tools", changes.to_str().unwrap()];
    args.extend_from_slice(extra);
    outcome(&scratch.run(&args))
}

#[test]
fn changes_uploads_are_checked_then_added_all_or_nothing() {
    let scratch = Scratch::new();
    let uploader = gpg_home(scratch.path(), "uploader");
    let stranger = gpg_home(scratch.path(), "stranger");
    // A binary keyring, as `gpg --export` writes it.
    let keyring = scratch.path().join("uploaders.gpg");
    let exported = Command::new("gpg")
        .args(["--homedir", uploader.to_str().unwrap(), "--export"])
        .output()
        .unwrap();
    std::fs::write(&keyring, exported.stdout).unwrap();
    scratch.config("[apt]\nuploaders_keyring = \"uploaders.gpg\"\n");
    ok(&scratch, &["repo", "create", "tools", "--distribution", "bookworm"]);

    let unsigned = upload(&scratch.path().join("up"));
    let signed = clearsign(&uploader, &unsigned);
    let (code, _, stderr) = include(&scratch, &unsigned, &[]);
    assert_eq!(code, 4, "{stderr}");
    assert!(stderr.contains("is not signed"), "{stderr}");
    let (code, _, stderr) = include(&scratch, &unsigned, &["--accept-unsigned"]);
    assert_eq!(code, 4, "{stderr}");
    assert!(stderr.contains("[apt] accept_unsigned is not set"), "{stderr}");

    let by_stranger = clearsign(&stranger, &unsigned);
    let (code, _, stderr) = include(&scratch, &by_stranger, &[]);
    assert_eq!(code, 4, "{stderr}");
    assert!(stderr.contains("not in the uploaders keyring"), "{stderr}");

    let forged = scratch.path().join("up/forged.changes");
    let text = std::fs::read_to_string(&signed).unwrap();
    std::fs::write(&forged, text.replace("Distribution: unstable", "Distribution: stable"))
        .unwrap();
    let (code, _, stderr) = include(&scratch, &forged, &[]);
    assert_eq!(code, 4, "{stderr}");
    assert!(stderr.contains("does not verify"), "{stderr}");

    // Tampered and missing files, each in a copy of the upload.
    let deb = "hello_1.0-1_all.deb";
    for (case, damage, expected) in DAMAGES {
        let copy = scratch.path().join(case);
        std::fs::create_dir_all(&copy).unwrap();
        for entry in std::fs::read_dir(scratch.path().join("up")).unwrap() {
            let path = entry.unwrap().path();
            if path.is_file() {
                std::fs::copy(&path, copy.join(path.file_name().unwrap())).unwrap();
            }
        }
        damage(&copy.join(deb));
        let (code, _, stderr) = include(&scratch, &copy.join(signed.file_name().unwrap()), &[]);
        assert_eq!(code, 2, "{case}: {stderr}");
        assert!(stderr.contains(deb) && stderr.contains(expected), "{case}: {stderr}");
        assert!(stderr.contains("nothing included"), "{case}: {stderr}");
    }
    assert_eq!(n_packages(&scratch, "tools"), 0, "every refusal changed nothing");

    let (code, stdout, stderr) = include(&scratch, &signed, &["--json"]);
    assert_eq!(code, 0, "{stderr}");
    let report: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(report["source"], "hello");
    assert!(report["signed_by"].as_str().is_some_and(|f| f.len() == 40), "{report}");
    assert_eq!(report["ignored"], serde_json::json!([]), "dpkg-genchanges listed no .buildinfo");
    let mut added: Vec<&str> =
        report["add"]["added"].as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
    added.sort_unstable();
    assert_eq!(added, ["hello_1.0-1_all", "hello_1.0-1_source"]);
    let audit = ok(&scratch, &["audit", "--json"]);
    assert!(audit.contains("repo.add"), "{audit}");

    // Where the configuration allows it, --accept-unsigned takes an unsigned upload.
    scratch.config("[apt]\nuploaders_keyring = \"uploaders.gpg\"\naccept_unsigned = true\n");
    ok(&scratch, &["repo", "create", "ci", "--distribution", "bookworm"]);
    let args = ["repo", "include", "ci", unsigned.to_str().unwrap(), "--accept-unsigned"];
    let out = ok(&scratch, &args);
    assert!(out.contains("unsigned, accepted with --accept-unsigned"), "{out}");
    assert_eq!(n_packages(&scratch, "ci"), 2);
}

#[test]
fn changes_uploads_through_the_api() {
    let scratch = crate::api::scratch();
    let uploader = gpg_home(scratch.path(), "uploader");
    let keyring = scratch.path().join("uploaders.asc");
    let exported =
        run(scratch.path(), "gpg", &["--homedir", uploader.to_str().unwrap(), "--export", "-a"]);
    std::fs::write(&keyring, exported).unwrap();
    let config = std::fs::read_to_string(scratch.path().join("wharf.toml")).unwrap();
    scratch.config(&format!("{config}\n[apt]\nuploaders_keyring = \"uploaders.asc\"\n"));
    let publisher = crate::api::token(&scratch, "ci", "publisher", &[]);
    let viewer = crate::api::token(&scratch, "dash", "viewer", &[]);
    ok(&scratch, &["repo", "create", "tools", "--distribution", "bookworm"]);
    let server = ServerProcess::start(&scratch, &[], true);
    let url = format!("http://{}", server.addr);
    let remote = |token: &str, args: &[&str]| {
        let mut all = vec!["--server", url.as_str()];
        all.extend_from_slice(args);
        outcome(&scratch.wharf(&all).env("WHARF_TOKEN", token).output().unwrap())
    };
    let unsigned = upload(&scratch.path().join("up"));
    let signed = clearsign(&uploader, &unsigned);
    let include = ["repo", "include", "tools", signed.to_str().unwrap()];

    let (code, _, stderr) = remote(&viewer, &include);
    assert_ne!(code, 0, "a viewer may not upload: {stderr}");
    let (code, _, stderr) =
        remote(&publisher, &["repo", "include", "tools", unsigned.to_str().unwrap()]);
    assert_eq!(code, 4, "{stderr}");
    assert!(stderr.contains("is not signed"), "{stderr}");
    assert_eq!(n_packages(&scratch, "tools"), 0);

    let (code, stdout, stderr) = remote(&publisher, &include);
    assert_eq!(code, 0, "{stderr}\n{}", server.log());
    assert!(stdout.contains("added 2 package(s) to tools"), "{stdout}");
    // The same source package, as a .dsc through `repo add --server`, is already there.
    let dsc = scratch.path().join("up/hello_1.0-1.dsc");
    let (code, stdout, stderr) =
        remote(&publisher, &["repo", "add", "tools", dsc.to_str().unwrap()]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("nothing to do: 1 package(s) already in tools"), "{stdout}");
    assert_eq!(n_packages(&scratch, "tools"), 2);
}
