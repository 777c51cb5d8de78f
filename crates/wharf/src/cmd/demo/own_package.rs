//! The demo's last part: Wharf ships itself. The running binary becomes `wharf_VERSION_ARCH.deb`
//! (built with `dpkg-deb`, like `packaging/build-deb.sh` but without the unit, completions
//! and man pages, so the demo stays quick), goes into a `wharf` repository through the real
//! `repo create`, `repo add` and `publish`, and a stock `apt-get` in a private root — its own
//! `Dir`, status file and trusted keys, nothing of the host's touched — updates from the
//! published tree (a `file:` source, checked against `wharf key export`'s key) and sees it.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::Context as _;
use clap::Parser as _;

use crate::output;
use crate::settings::Settings;

/// The repository Wharf's own package is published in.
const REPOSITORY: &str = "wharf";

/// The tour's last part, under `dir` (config file `config`, data directory `data`): build,
/// add and publish Wharf's own package with `wharf` (runs one demo step), then show apt
/// seeing it.
pub(super) fn tour(
    dir: &Path,
    config: &str,
    data: &str,
    wharf: &dyn Fn(&str, &[&str]) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    let own = build(&dir.join("debs"))?;
    output::line(format!("\n4. built {} from this wharf binary with dpkg-deb", own.display()));
    let own_arg = own.display().to_string();
    wharf("Wharf's own repository", &["repo", "create", REPOSITORY, "--distribution", "bookworm"])?;
    wharf("Wharf's own package", &["repo", "add", REPOSITORY, &own_arg])?;
    wharf("published like any other", &["publish", REPOSITORY])?;
    let cli = crate::cli::Cli::try_parse_from([
        "wharf", "--config", config, "--data", data, "key", "export",
    ])?;
    let key = Settings::load(&cli.global)?.signing_key()?.public_armored()?;
    apt_sees_it(dir, Path::new(data), &key)
}

/// Build `wharf_VERSION_ARCH.deb` from the running binary in `out_dir`.
fn build(out_dir: &Path) -> anyhow::Result<PathBuf> {
    let version = env!("CARGO_PKG_VERSION");
    let arch = command_stdout(Command::new("dpkg").arg("--print-architecture"), "dpkg")?;
    let tree = out_dir.join("tree-wharf");
    let bin = tree.join("usr/bin");
    std::fs::create_dir_all(tree.join("DEBIAN"))
        .and_then(|()| std::fs::create_dir_all(&bin))
        .with_context(|| format!("cannot create {}", tree.display()))?;
    let exe = std::env::current_exe().context("cannot find the running wharf binary")?;
    // A hard link when the demo directory is on the same filesystem: no copy of the binary.
    if std::fs::hard_link(&exe, bin.join("wharf")).is_err() {
        std::fs::copy(&exe, bin.join("wharf"))
            .with_context(|| format!("cannot copy {}", exe.display()))?;
    }
    std::fs::write(
        tree.join("DEBIAN/control"),
        format!(
            "Package: wharf\nVersion: {version}\nArchitecture: {arch}\n\
             Maintainer: Wharf developers <wharf@wharf.invalid>\nDepends: libc6, liblzma5\n\
             Section: admin\nPriority: optional\n\
             Description: release and deployment control plane for Debian fleets\n \
             This package was built by `wharf demo` from the binary that ran it.\n"
        ),
    )?;
    let deb = out_dir.join(format!("wharf_{version}_{arch}.deb"));
    // zstd at level 1: a quarter of the size in half a second (gzip -1 takes 2 s), so the
    // package Wharf stores and hashes next is small.
    let mut build = Command::new("dpkg-deb");
    build.args(["--root-owner-group", "-Zzstd", "-z1", "--build"]).arg(&tree).arg(&deb);
    command_stdout(&mut build, "dpkg-deb --build")?;
    std::fs::remove_dir_all(&tree).with_context(|| format!("cannot remove {}", tree.display()))?;
    Ok(deb)
}

/// `apt-get update` in a private root under `dir` whose only source is the published
/// `wharf` tree in `data_dir`, trusting only `key`; then what apt would install.
fn apt_sees_it(dir: &Path, data_dir: &Path, key: &str) -> anyhow::Result<()> {
    let root = dir.join("apt-client");
    if root.exists() {
        std::fs::remove_dir_all(&root)
            .with_context(|| format!("cannot reset {}", root.display()))?;
    }
    for sub in [
        "etc/apt/sources.list.d",
        "etc/apt/preferences.d",
        "etc/apt/apt.conf.d",
        "etc/apt/trusted.gpg.d",
        "var/lib/apt/lists/partial",
        "var/cache/apt/archives/partial",
        "var/lib/dpkg",
    ] {
        std::fs::create_dir_all(root.join(sub))
            .with_context(|| format!("cannot create {}", root.join(sub).display()))?;
    }
    std::fs::write(root.join("var/lib/dpkg/status"), "")?;
    // apt takes a `signed-by=` path only when it is absolute.
    let key_file = std::path::absolute(root.join("wharf-archive.asc"))?;
    std::fs::write(&key_file, key)?;
    let tree = std::path::absolute(wharf_app::DataLayout::new(data_dir).public_tree(REPOSITORY))?;
    let source =
        format!("deb [signed-by={}] file:{} bookworm main", key_file.display(), tree.display());
    std::fs::write(root.join("etc/apt/sources.list"), format!("{source}\n"))?;
    output::line(format!(
        "\n$ apt-get update   # a private root whose sources.list says:\n  {source}"
    ));
    let update = command_stdout(apt(&root, "apt-get").arg("update"), "apt-get update")?;
    for line in update.lines() {
        output::line(format!("  {line}"));
    }
    output::line("\n$ apt-cache policy wharf   # what apt would install from it");
    let policy = command_stdout(apt(&root, "apt-cache").args(["policy", "wharf"]), "apt-cache")?;
    anyhow::ensure!(
        policy.contains(&format!("Candidate: {}", env!("CARGO_PKG_VERSION"))),
        "apt-cache policy wharf does not offer the published package:\n{policy}"
    );
    for line in policy.lines() {
        output::line(format!("  {line}"));
    }
    Ok(())
}

/// `apt-get`/`apt-cache` on the private root only.
fn apt(root: &Path, program: &str) -> Command {
    let r = root.display();
    let mut command = Command::new(program);
    command.args([
        format!("-oDir={r}"),
        format!("-oDir::State::status={r}/var/lib/dpkg/status"),
        format!("-oDir::Etc::TrustedParts={r}/etc/apt/trusted.gpg.d"),
        "-oDebug::NoLocking=1".to_owned(),
        "-oAPT::Sandbox::User=root".to_owned(),
    ]);
    command
}

/// Run `command`; its stdout, or an error naming `what` with its stderr.
fn command_stdout(command: &mut Command, what: &str) -> anyhow::Result<String> {
    let output = command.output().with_context(|| format!("cannot run {what}"))?;
    anyhow::ensure!(
        output.status.success(),
        "{what} failed: {}",
        String::from_utf8_lossy(&output.stderr).trim()
    );
    Ok(String::from_utf8_lossy(&output.stdout).trim().to_owned())
}
