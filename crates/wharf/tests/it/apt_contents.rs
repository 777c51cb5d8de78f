//! `Contents-ARCH.gz` end to end: Debian's `apt-file` in a private root finds the files of
//! packages Wharf published (through `wharf server`), the indices equal what
//! `apt-ftparchive contents` writes for the same `.deb` files (apart from the documented
//! differences), a damaged `data.tar` refuses the whole add, and `--contents=false` keeps
//! them out of the tree; `repo cleanup` drops the lists of forgotten packages and the
//! directories nothing refers to.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::apt::{AptRoot, apt_client, build_deb, dpkg_deb_build, ok};
use crate::support::{Scratch, ServerProcess, outcome};

/// A package `name` 1.0 (`amd64`, section `utils`, xz) shipping `files` (paths without
/// the leading `/`) and a symbolic link `usr/bin/NAME-link`.
fn deb_with_files(out_dir: &Path, name: &str, files: &[&str]) -> PathBuf {
    let work = tempfile::tempdir().unwrap();
    let root = work.path().join("root");
    std::fs::create_dir_all(root.join("DEBIAN")).unwrap();
    for file in files {
        let path = root.join(file);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, format!("{name} {file}\n")).unwrap();
    }
    std::fs::create_dir_all(root.join("usr/bin")).unwrap();
    std::os::unix::fs::symlink("/bin/true", root.join(format!("usr/bin/{name}-link"))).unwrap();
    std::fs::write(
        root.join("DEBIAN/control"),
        format!(
            "Package: {name}\nVersion: 1.0\nArchitecture: amd64\nSection: utils\nMaintainer: T <t@wharf.invalid>\nDescription: test {name}\n"
        ),
    )
    .unwrap();
    let out = out_dir.join(format!("{name}_1.0_amd64.deb"));
    dpkg_deb_build(&root, &out, "xz");
    out
}

/// `gzip -dc PATH` (reads every member of a multi-member file).
fn gunzip(path: &Path) -> String {
    let output = Command::new("gzip").arg("-dc").arg(path).output().unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8(output.stdout).unwrap()
}

/// A `Contents` line with its locations reduced to package names, sorted: Wharf writes
/// `SECTION/NAME` sorted, `apt-ftparchive` bare names in the order it read them.
fn normalized(line: &str) -> String {
    let at = line.rfind([' ', '\t']).map_or(0, |at| at + 1);
    let (head, locations) = line.split_at(at);
    let mut names: Vec<&str> =
        locations.split(',').map(|l| l.rsplit('/').next().unwrap()).collect();
    names.sort_unstable();
    format!("{head}{}", names.join(","))
}

#[test]
fn contents_equal_apt_ftparchive_s() {
    let scratch = Scratch::new();
    let debs = scratch.path().join("debs");
    std::fs::create_dir_all(&debs).unwrap();
    let long = format!("usr/share/long/{}", "x".repeat(50));
    let longer = format!("usr/share/long/{}", "y".repeat(41));
    deb_with_files(&debs, "alpha", &["usr/bin/shared", "usr/share/foo/x", "usr/share/foo-bar/y"]);
    deb_with_files(&debs, "beta", &["usr/bin/shared", "usr/share/with space/z", &long, &longer]);
    deb_with_files(&debs, "gamma", &["usr/bin/shared", "etc/gamma.conf", "usr/lib/gamma.so"]);
    build_deb(&debs, "zstd-pkg", "1", "amd64", "zstd");
    build_deb(&debs, "gzip-pkg", "1", "all", "gzip");
    ok(&scratch, &["repo", "create", "r", "--distribution", "bookworm"]);
    ok(&scratch, &["repo", "add", "r", "debs"]);
    ok(&scratch, &["publish", "r"]);

    let reference = Command::new("apt-ftparchive").arg("contents").arg(&debs).output().unwrap();
    assert!(reference.status.success(), "{}", String::from_utf8_lossy(&reference.stderr));
    let reference: Vec<String> =
        String::from_utf8(reference.stdout).unwrap().lines().map(normalized).collect();
    let tree = scratch.path().join("wharf-data/public/r/dists/bookworm");
    let ours = gunzip(&tree.join("main/Contents-amd64.gz"));
    assert!(ours.contains("usr/bin/shared\t\t\t\t\t\t    utils/alpha,utils/beta,utils/gamma\n"));
    assert!(ours.contains("usr/share/gzip-pkg/VERSION"), "arch all packages are listed");
    let ours: Vec<String> = ours.lines().map(normalized).collect();
    assert_eq!(ours, reference);
    assert!(ours.len() > 10);

    // Listed in Release (plain and .gz, as apt needs), served by-hash like Packages.
    let release = std::fs::read_to_string(tree.join("Release")).unwrap();
    let listed: Vec<&str> = release.lines().filter(|l| l.contains("Contents")).collect();
    assert_eq!(listed.len(), 4, "MD5Sum and SHA256 of both: {release}");
    for name in ["main/Contents-amd64", "main/Contents-amd64.gz"] {
        assert_eq!(listed.iter().filter(|l| l.ends_with(&format!(" {name}"))).count(), 2);
        let sha = crate::support::release_sha256(&release, name);
        assert!(tree.join("main/by-hash/SHA256").join(sha).exists(), "{name}");
    }
    ok(&scratch, &["health", "--min-free-percent", "0"]);
}

#[test]
fn apt_file_finds_the_files_of_published_packages() {
    let scratch = Scratch::new();
    let debs = scratch.path().join("debs");
    std::fs::create_dir_all(&debs).unwrap();
    deb_with_files(&debs, "hello", &["usr/bin/hello", "usr/share/doc/hello/README"]);
    build_deb(&debs, "tool", "0.5", "all", "gzip");
    ok(&scratch, &["repo", "create", "tools", "--distribution", "bookworm"]);
    ok(&scratch, &["repo", "add", "tools", "debs"]);
    ok(&scratch, &["publish", "tools"]);
    let server = ServerProcess::start(&scratch, &[], true);
    let apt = apt_client(&scratch, &server, "tools");
    let found = apt_file(&apt, &["search", "/usr/bin/hello"]);
    assert_eq!(found, "hello: /usr/bin/hello\nhello: /usr/bin/hello-link\n");
    assert_eq!(apt_file(&apt, &["list", "tool"]), "tool: /usr/share/tool/VERSION\n");

    // A package added later is found after the next publish and update.
    let more = scratch.path().join("more");
    std::fs::create_dir_all(&more).unwrap();
    deb_with_files(&more, "later", &["opt/later/bin/run"]);
    ok(&scratch, &["repo", "add", "tools", "more"]);
    ok(&scratch, &["publish", "tools"]);
    let (success, log) = apt.apt_get(&["update"]);
    assert!(success && !log.contains("W:"), "{log}");
    assert_eq!(apt_file(&apt, &["search", "opt/later/bin/run"]), "later: /opt/later/bin/run\n");
    assert_eq!(apt_file(&apt, &["search", "/usr/bin/hello"]).lines().count(), 2);

    // hello removed and cleaned up: its file list goes from DATA/contents, the others stay
    // (the next publish extracts none again), and what an interrupted cleanup left is
    // removed.
    ok(&scratch, &["repo", "remove", "tools", "hello"]);
    let data = scratch.path().join("wharf-data");
    let leftover = data.join("contents.cleanup");
    std::fs::create_dir_all(&leftover).unwrap();
    std::fs::write(leftover.join("lists"), "torn by a kill").unwrap();
    // A tree whose `publish drop`, and downloads whose `mirror drop`, were cut short.
    for dir in ["public/gone/dists", "mirror-downloads/old/pool", "public/.tmp-x"] {
        std::fs::create_dir_all(data.join(dir)).unwrap();
    }
    let cleaned: serde_json::Value =
        serde_json::from_str(&ok(&scratch, &["repo", "cleanup", "--json"])).unwrap();
    assert_eq!((cleaned["packages"].as_u64(), cleaned["lists"].as_u64()), (Some(1), Some(1)));
    assert!(cleaned["list_bytes"].as_u64().unwrap() > 0, "{cleaned}");
    assert!(!leftover.exists());
    let removed = serde_json::json!(["public/gone", "mirror-downloads/old"]);
    assert_eq!(cleaned["leftovers"], removed, "{cleaned}");
    assert!(data.join("public/tools/dists").is_dir() && data.join("public/.tmp-x").is_dir());
    let indexed = || std::fs::read_to_string(data.join("contents/lists.idx")).unwrap();
    assert_eq!(indexed().lines().count(), 2, "tool and later: {}", indexed());
    ok(&scratch, &["publish", "tools"]);
    assert_eq!(indexed().lines().count(), 2, "no list extracted again: {}", indexed());
    let (success, log) = apt.apt_get(&["update"]);
    assert!(success && !log.contains("W:"), "{log}");
    assert_eq!(apt_file(&apt, &["search", "usr/bin/"]), "later: /usr/bin/later-link\n");
    assert_eq!(apt_file(&apt, &["search", "opt/later/bin/run"]), "later: /opt/later/bin/run\n");
    assert!(ok(&scratch, &["repo", "cleanup"]).contains("; 0 file list(s), 0 bytes"));
}

/// `apt-file ARGS` against the private root, expecting success.
fn apt_file(apt: &AptRoot, args: &[&str]) -> String {
    let output = Command::new("apt-file").args(apt.options()).args(args).output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "apt-file {args:?}: {stderr}");
    String::from_utf8(output.stdout).unwrap()
}

#[test]
fn a_damaged_data_tar_refuses_the_add_and_contents_can_be_off() {
    let scratch = Scratch::new();
    let debs = scratch.path().join("debs");
    std::fs::create_dir_all(&debs).unwrap();
    let good = build_deb(&debs, "good", "1", "amd64", "gzip");
    let bad = deb_with_files(&debs, "bad", &["usr/share/bad/data"]);
    // Garble the data.tar.xz member inside an intact ar structure.
    let mut bytes = std::fs::read(&bad).unwrap();
    let header = bytes.windows(11).position(|w| w == b"data.tar.xz").unwrap();
    let size: usize =
        std::str::from_utf8(&bytes[header + 48..header + 58]).unwrap().trim().parse().unwrap();
    let start = header + 60;
    for byte in &mut bytes[start + 12..start + size - 12] {
        *byte = 0x55;
    }
    std::fs::write(&bad, bytes).unwrap();
    ok(&scratch, &["repo", "create", "r", "--distribution", "bookworm"]);
    let (code, _, stderr) = outcome(&scratch.run(&["repo", "add", "r", "debs"]));
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("bad_1.0_amd64.deb") && stderr.contains("nothing added"), "{stderr}");
    assert!(ok(&scratch, &["repo", "show", "r", "--json"]).contains("\"packages\": 0"));

    // Without Contents, the same files are accepted and the tree has no Contents.
    ok(&scratch, &["repo", "create", "plain", "--distribution", "bookworm", "--contents=false"]);
    let shown = ok(&scratch, &["repo", "show", "plain", "--json"]);
    assert!(shown.contains("\"contents\": false"), "{shown}");
    ok(&scratch, &["repo", "add", "plain", good.to_str().unwrap()]);
    ok(&scratch, &["publish", "plain"]);
    let tree = scratch.path().join("wharf-data/public/plain/dists/bookworm");
    let release = || std::fs::read_to_string(tree.join("Release")).unwrap();
    assert!(!release().contains("Contents"));
    assert!(!tree.join("main/Contents-amd64.gz").exists());

    // Turned on: the package added without a file list gets one from its stored file.
    let edited = ok(&scratch, &["repo", "edit", "plain", "--contents=true"]);
    assert!(edited.contains("contents:      yes"), "{edited}");
    ok(&scratch, &["publish", "plain"]);
    assert!(release().contains("main/Contents-amd64.gz"));
    let contents = gunzip(&tree.join("main/Contents-amd64.gz"));
    assert_eq!(contents, "usr/share/good/VERSION\t\t\t\t\t    good\n");

    // Off again: the next publish takes it out of Release and removes the file.
    ok(&scratch, &["repo", "edit", "plain", "--contents=false", "--json"]);
    ok(&scratch, &["publish", "plain"]);
    assert!(!release().contains("Contents"), "{}", release());
    assert!(!tree.join("main/Contents-amd64.gz").exists());
    let audit = ok(&scratch, &["audit", "--json"]);
    assert!(audit.contains("repo.edit"), "{audit}");
    let (code, _, stderr) = outcome(&scratch.run(&["repo", "edit", "nope", "--contents=false"]));
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("nope") && stderr.contains("repo list"), "{stderr}");
}
