//! Differential test: Wharf's `Packages` stanzas equal `dpkg-scanpackages`' output.

use std::collections::BTreeMap;
use std::process::Command;

use wharf_apt::deb::DebPackage;
use wharf_apt::index;

use crate::debs::{DebSpec, build};

#[test]
fn stanzas_match_dpkg_scanpackages() {
    let dir = tempfile::tempdir().unwrap();
    let pool = dir.path().join("pool");
    std::fs::create_dir_all(&pool).unwrap();
    let specs = [
        DebSpec { name: "alpha", version: "1.0-1", arch: "all", compression: "gzip", extra: "" },
        DebSpec {
            name: "beta",
            version: "2:3.4~rc1-0+deb12u1",
            arch: "amd64",
            compression: "xz",
            extra: "Depends: alpha (>= 1.0), libc6\nSection: utils\nPriority: optional\nX-Custom-Field: yes\nHomepage: https://example.invalid\nMulti-Arch: foreign\nInstalled-Size: 12\n",
        },
        DebSpec {
            name: "gamma.tools+x",
            version: "0.1",
            arch: "amd64",
            compression: "zstd",
            extra: "Source: gamma (0.1-1)\nPre-Depends: alpha\nProvides: delta\nEssential: no\nBuilt-Using: foo (= 1)\n",
        },
        DebSpec {
            name: "libdelta1",
            version: "5",
            arch: "all",
            compression: "zstd",
            extra: "Breaks: beta (<< 1)\n",
        },
    ];
    for spec in &specs {
        build(&pool, spec);
    }
    let output = Command::new("dpkg-scanpackages")
        .args(["--multiversion", "pool"])
        .current_dir(dir.path())
        .output()
        .expect("dpkg-scanpackages runs");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let expected: BTreeMap<String, String> = String::from_utf8(output.stdout)
        .unwrap()
        .split("\n\n")
        .filter(|stanza| !stanza.trim().is_empty())
        .map(|stanza| {
            let name = stanza.lines().next().unwrap().to_owned();
            (name, format!("{}\n", stanza.trim_end_matches('\n')))
        })
        .collect();
    assert_eq!(expected.len(), specs.len());

    let mut actual = BTreeMap::new();
    for entry in std::fs::read_dir(&pool).unwrap() {
        let path = entry.unwrap().path();
        let package = DebPackage::read(&path).unwrap();
        let filename = format!("pool/{}", path.file_name().unwrap().to_string_lossy());
        let stanza = index::packages_stanza(&package.control, &filename, &package.digest);
        actual.insert(stanza.lines().next().unwrap().to_owned(), stanza);
    }
    assert_eq!(actual, expected);
}

#[test]
fn bad_inputs_are_rejected_with_path_and_reason() {
    let dir = tempfile::tempdir().unwrap();
    let good = build(
        dir.path(),
        &DebSpec { name: "good", version: "1", arch: "all", compression: "xz", extra: "" },
    );
    let bytes = std::fs::read(&good).unwrap();

    let check = |name: &str, content: &[u8], reason: &str| {
        let path = dir.path().join(name);
        std::fs::write(&path, content).unwrap();
        let err = DebPackage::read(&path).expect_err(name).to_string();
        assert!(err.contains(name), "{err:?} does not name the file");
        assert!(err.contains(reason), "{err:?} does not say {reason:?}");
    };
    check("truncated.deb", &bytes[..bytes.len() - 10], "truncated");
    check("random.deb", &[0x5a; 300], "not a Debian package");
    check("empty.deb", b"", "not a Debian package");

    let broken = |extra: &str, body: &str| {
        let work = tempfile::tempdir().unwrap();
        let root = work.path().join("root");
        std::fs::create_dir_all(root.join("DEBIAN")).unwrap();
        std::fs::write(root.join("DEBIAN/control"), body).unwrap();
        let out = work.path().join(format!("{extra}.deb"));
        // `--nocheck` lets dpkg-deb build what it would refuse: the point of the test.
        let status = Command::new("dpkg-deb")
            .args(["--nocheck", "--build"])
            .arg(&root)
            .arg(&out)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
            .unwrap();
        assert!(status.success());
        std::fs::read(out).unwrap()
    };
    check(
        "brokencontrol.deb",
        &broken("b", "Package: x1\nthis line is not a field\n"),
        "broken control file",
    );
    check(
        "badversion.deb",
        &broken("v", "Package: vv\nVersion: not a version\nArchitecture: all\n"),
        "invalid version",
    );
    check(
        "slash.deb",
        &broken("s", "Package: foo/bar\nVersion: 1\nArchitecture: all\n"),
        "package name \"foo/bar\"",
    );
    check("noarch.deb", &broken("a", "Package: foo\nVersion: 1\n"), "no Architecture field");
}
