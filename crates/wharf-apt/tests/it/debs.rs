//! Building real `.deb` files with `dpkg-deb --build` for the tests.

use std::path::{Path, PathBuf};
use std::process::Command;

/// One package to build.
pub(crate) struct DebSpec<'a> {
    pub(crate) name: &'a str,
    pub(crate) version: &'a str,
    pub(crate) arch: &'a str,
    /// `gzip`, `xz` or `zstd` (`dpkg-deb -Z`), for both control and data members.
    pub(crate) compression: &'a str,
    /// Extra control lines, each ending with `\n`.
    pub(crate) extra: &'a str,
}

/// Build the package into `out_dir`, returning its path.
pub(crate) fn build(out_dir: &Path, spec: &DebSpec<'_>) -> PathBuf {
    let work = tempfile::tempdir().expect("tempdir");
    let root = work.path().join("root");
    std::fs::create_dir_all(root.join("DEBIAN")).unwrap();
    std::fs::create_dir_all(root.join("usr/share/doc").join(spec.name)).unwrap();
    std::fs::write(
        root.join("usr/share/doc").join(spec.name).join("README"),
        format!("{} {}\n", spec.name, spec.version),
    )
    .unwrap();
    let control = format!(
        "Package: {}\nVersion: {}\nArchitecture: {}\nMaintainer: Wharf Tests <tests@wharf.invalid>\n{}Description: test package {}\n A package built by Wharf's tests.\n .\n It does nothing.\n",
        spec.name, spec.version, spec.arch, spec.extra, spec.name
    );
    std::fs::write(root.join("DEBIAN/control"), control).unwrap();
    let file = wharf_apt::deb::file_name(spec.name, spec.version, spec.arch);
    let out = out_dir.join(file);
    let status = Command::new("dpkg-deb")
        .arg(format!("-Z{}", spec.compression))
        .args(["--root-owner-group", "--build"])
        .arg(&root)
        .arg(&out)
        .stdout(std::process::Stdio::null())
        .status()
        .expect("dpkg-deb runs");
    assert!(status.success(), "dpkg-deb --build failed for {}", spec.name);
    out
}
