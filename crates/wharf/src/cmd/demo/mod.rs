//! `wharf demo`: a self-contained tour on embedded defaults — a demo fleet of local nodes,
//! SQLite in a data directory next to it, no network and nothing installed. It ends with
//! Wharf publishing its own package into its own repository (`own_package.rs`).

mod own_package;

use std::path::{Path, PathBuf};

use clap::Parser as _;

use anyhow::Context as _;
use wharf_core::config::ConfigSource;
use wharf_core::inventory::Inventory;

use crate::cli::DemoArgs;
use crate::exit::{SUCCESS, UsageError};
use crate::output;
use crate::settings::Settings;

/// The demo fleet: staging, canary and production environments over local nodes whose
/// roots live under the demo directory.
pub(crate) const DEMO_CONFIG: &str = r#"# Wharf demo fleet: every node is a directory on this machine (transport = "local").
# Try: wharf --config wharf.toml --data wharf-data nodes @role:web

[[nodes]]
names = "stg-web[01-02]"
transport = "local"
root = "nodes/{name}"
labels = { role = "web", tier = "staging" }

[[nodes]]
names = "web[01-06]"
transport = "local"
root = "nodes/{name}"
labels = { role = "web", tier = "production" }

[[nodes]]
names = "gitaly[01-02]"
transport = "local"
root = "nodes/{name}"
labels = { role = "storage", tier = "production" }

[groups]
staging = "stg-web[01-02]"
canary = "web[01-02]"
production = ["web[03-06]", "gitaly[01-02]"]

[[environments]]
name = "gstg"
nodes = "@staging"
repository = "bookworm-demo"
packages = ["hello-wharf"]

[[environments]]
name = "gprd-cny"
after = "gstg"
nodes = "@canary"
production = true
repository = "bookworm-demo"
packages = ["hello-wharf"]

[[environments]]
name = "gprd"
after = "gprd-cny"
nodes = "@production"
production = true
repository = "bookworm-demo"
packages = ["hello-wharf"]

# Demo nodes are directories: packages go into each node's own dpkg database with
# `dpkg --root` (from the package the demo built; a real fleet's default `install` runs
# apt-get against the repository `wharf server` serves), and services "restart" by writing
# a line under the node's root.
[commands]
install = "for p in {packages}; do dpkg --force-not-root --root=\"$WHARF_NODE_ROOT\" --log=/dev/null -i \"$WHARF_NODE_ROOT/../../debs/${{p%%=*}}_${{p#*=}}_all.deb\" >/dev/null || exit 1; done"
version = "dpkg-query --admindir=\"$WHARF_NODE_ROOT/var/lib/dpkg\" -W -f='${{Version}}' {package} 2>/dev/null || true"
restart = "echo restart {unit} >> \"$WHARF_NODE_ROOT/services.log\""
stop = "echo stop {unit} >> \"$WHARF_NODE_ROOT/services.log\""
start = "echo start {unit} >> \"$WHARF_NODE_ROOT/services.log\""
status = "echo status {unit} >> \"$WHARF_NODE_ROOT/services.log\""
hold = "echo {package_names} >> \"$WHARF_NODE_ROOT/held\""
unhold = "rm -f \"$WHARF_NODE_ROOT/held\""
holds = "cat \"$WHARF_NODE_ROOT/held\" 2>/dev/null || true"

[[services]]
name = "gitaly"
kind = "rpc"
units = ["gitaly.service"]
nodes = "@role:storage"
tier = 1

[[services]]
name = "web"
kind = "worker"
units = ["puma.service", "sidekiq.service"]
nodes = "@role:web"
"#;

/// The demo's package, built with `dpkg-deb` and shipped through a repository.
const DEMO_PACKAGE: &str = "hello-wharf";
const DEMO_VERSION: &str = "1.0-1";
/// The version the tour publishes next, deploys and rolls back.
const DEMO_NEXT: &str = "1.1-1";
const DEMO_REPOSITORY: &str = "bookworm-demo";
/// Where canary nodes receive the package, under each node's root.
const DEMO_DEST: &str = "/var/cache/wharf/hello-wharf_1.0-1_all.deb";

pub(crate) fn run(_settings: &Settings, args: &DemoArgs) -> anyhow::Result<u8> {
    let dir = &args.dir;
    let config_path = dir.join("wharf.toml");
    let data_dir = dir.join("wharf-data");
    reset(dir, &config_path, &data_dir)?;
    std::fs::create_dir_all(dir)
        .with_context(|| format!("cannot create demo directory {}", dir.display()))?;
    std::fs::write(&config_path, DEMO_CONFIG)
        .with_context(|| format!("cannot write {}", config_path.display()))?;

    output::line(format!("1. wrote the demo fleet to {}", config_path.display()));
    let source = ConfigSource::new(&config_path, DEMO_CONFIG);
    let inventory = Inventory::from_config(&source.parse()?, &source)?;
    for node in inventory.nodes() {
        if let Some(root) = &node.root {
            let cache = Path::new(root).join(DEMO_DEST.trim_start_matches('/'));
            let cache = cache.parent().unwrap_or(Path::new(root));
            let dpkg = Path::new(root).join("var/lib/dpkg");
            std::fs::create_dir_all(cache)
                .and_then(|()| std::fs::create_dir_all(dpkg.join("info")))
                .and_then(|()| std::fs::create_dir_all(dpkg.join("updates")))
                .and_then(|()| std::fs::write(dpkg.join("status"), ""))
                .with_context(|| format!("cannot create node root {root}"))?;
        }
    }
    output::line(format!(
        "   {} nodes ({}), {} environments in promotion order: {}",
        inventory.all().len(),
        inventory.all().fold(),
        inventory.environments().len(),
        promotion_order(&inventory).join(" → ")
    ));

    output::line("2. node sets, as ClusterShell writes them:");
    for expr in ["@role:web", "@production!@role:storage", "@*&web[02-04]"] {
        let set = inventory.resolve(expr)?;
        output::line(format!("   {expr:<28} → {} ({} nodes)", set.fold(), set.len()));
    }

    let deb = build_package(&dir.join("debs"), DEMO_VERSION)?;
    output::line(format!("3. built {} with dpkg-deb", deb.display()));

    let config = config_path.display().to_string();
    let data = data_dir.display().to_string();
    let wharf_expecting = |expect: u8, title: &str, args: &[&str]| -> anyhow::Result<()> {
        output::line(format!("\n$ wharf {}   # {title}", args.join(" ")));
        let argv =
            ["wharf", "--config", &config, "--data", &data].into_iter().chain(args.iter().copied());
        let code = super::dispatch(crate::cli::Cli::try_parse_from(argv)?)?;
        anyhow::ensure!(code == expect, "demo step `wharf {}` exited with {code}", args.join(" "));
        Ok(())
    };
    let wharf = |title: &str, args: &[&str]| wharf_expecting(SUCCESS, title, args);
    let deb_arg = deb.display().to_string();
    wharf(
        "a signed APT repository",
        &["repo", "create", DEMO_REPOSITORY, "--distribution", "bookworm"],
    )?;
    wharf("add the package (all or nothing)", &["repo", "add", DEMO_REPOSITORY, &deb_arg])?;
    wharf("signed, atomic publish", &["publish", DEMO_REPOSITORY])?;
    let pool = published_file(
        &data_dir,
        &format!("pool/main/h/{DEMO_PACKAGE}/{DEMO_PACKAGE}_{DEMO_VERSION}_all.deb"),
        dir,
    )?;
    let pool_arg = pool.display().to_string();
    wharf(
        "ship the published file to the canary nodes",
        &["copy", "-w", "@canary", &pool_arg, DEMO_DEST],
    )?;
    let inspect = format!("dpkg-deb --field \"$WHARF_NODE_ROOT{DEMO_DEST}\" Package Version");
    wharf("what arrived, gathered like clush -b", &["run", "-w", "@canary", "-b", "--", &inspect])?;

    for env in ["gstg", "gprd-cny", "gprd"] {
        wharf(
            "through the pipeline, under its guard rails",
            &["deploy", DEMO_VERSION, env, "--yes"],
        )?;
    }
    let next = build_package(&dir.join("debs"), DEMO_NEXT)?.display().to_string();
    wharf("the next version", &["repo", "add", DEMO_REPOSITORY, &next])?;
    wharf("published before any node may get it", &["publish", DEMO_REPOSITORY])?;
    wharf_expecting(
        crate::exit::REFUSED,
        "production before canary: the promotion gate refuses (exit 4)",
        &["deploy", DEMO_NEXT, "gprd", "--yes"],
    )?;
    for env in ["gstg", "gprd-cny", "gprd"] {
        wharf("staging, canary, production", &["deploy", DEMO_NEXT, env, "--yes"])?;
    }
    let query =
        "dpkg-query --admindir=\"$WHARF_NODE_ROOT/var/lib/dpkg\" -W -f='${Version}\\n' hello-wharf";
    wharf("what runs where, gathered", &["run", "-w", "@production", "-b", "--", query])?;
    wharf("back to the previous version: the fleet, then Gitaly by hand", &["rollback", "gprd"])?;
    // Deploys 1–3 shipped 1.0, 4 was refused, 5–7 shipped 1.1: the rollback is deploy 8.
    wharf("the Gitaly tier goes back once approved", &["approve", "8"])?;
    wharf("where each environment stands", &["status"])?;
    wharf("the record of the rollback", &["history", "gprd", "-n", "3"])?;
    wharf("who did what", &["audit", "-n", "5"])?;
    wharf("the audit log's hash chain", &["audit", "--verify"])?;

    // Wharf ships itself: its own package, in its own repository, seen by apt.
    own_package::tour(dir, &config, &data, &wharf)?;

    output::line(format!(
        "\nnext: cd {} && wharf nodes @canary && wharf run -w @role:web -b -- uname -r",
        dir.display()
    ));
    Ok(SUCCESS)
}

/// Start from a clean demo: a directory holding this demo's config is reset; one holding
/// any other `wharf.toml` is refused rather than overwritten.
fn reset(dir: &Path, config_path: &Path, data_dir: &Path) -> anyhow::Result<()> {
    match std::fs::read_to_string(config_path) {
        Ok(text) if text == DEMO_CONFIG => {
            for stale in [
                data_dir.to_path_buf(),
                dir.join("nodes"),
                dir.join("debs"),
                dir.join("apt-client"),
            ] {
                if stale.exists() {
                    std::fs::remove_dir_all(&stale)
                        .with_context(|| format!("cannot reset {}", stale.display()))?;
                }
            }
            Ok(())
        }
        Ok(_) => Err(anyhow::Error::new(UsageError(format!(
            "{} exists and is not the demo's configuration; pass --dir with another directory",
            config_path.display()
        )))),
        Err(_) => Ok(()),
    }
}

/// Build `hello-wharf_VERSION_all.deb` with `dpkg-deb`, which every Debian machine has.
fn build_package(out_dir: &Path, version: &str) -> anyhow::Result<PathBuf> {
    let tree = out_dir.join(format!("tree-{version}"));
    let debian = tree.join("DEBIAN");
    let doc = tree.join("usr/share/doc").join(DEMO_PACKAGE);
    std::fs::create_dir_all(&debian)
        .and_then(|()| std::fs::create_dir_all(&doc))
        .with_context(|| format!("cannot create {}", tree.display()))?;
    std::fs::write(
        debian.join("control"),
        format!(
            "Package: {DEMO_PACKAGE}\nVersion: {version}\nArchitecture: all\n\
             Maintainer: Wharf Demo <demo@wharf.invalid>\nSection: misc\nPriority: optional\n\
             Description: greeting shipped by the Wharf demo\n a package with nothing but a README.\n"
        ),
    )?;
    std::fs::write(doc.join("README"), "Shipped by wharf demo.\n")?;
    let deb = out_dir.join(format!("{DEMO_PACKAGE}_{version}_all.deb"));
    let output = std::process::Command::new("dpkg-deb")
        .args(["--root-owner-group", "--build"])
        .arg(&tree)
        .arg(&deb)
        .output()
        .context("cannot run dpkg-deb (Debian package dpkg) to build the demo package")?;
    anyhow::ensure!(
        output.status.success(),
        "dpkg-deb --build failed: {}",
        String::from_utf8_lossy(&output.stderr).trim()
    );
    Ok(deb)
}

fn promotion_order(inventory: &Inventory) -> Vec<String> {
    let mut order: Vec<String> = Vec::new();
    let mut next = inventory.environments().iter().find(|env| env.after.is_none());
    while let Some(env) = next {
        order.push(env.name.clone());
        next = inventory.environments().iter().find(|e| e.after.as_deref() == Some(&env.name));
    }
    order
}

/// The bytes the demo repository serves at `pool_path`, as a file: the object its pool
/// list names when that is a file of its own, else a copy next to the demo.
fn published_file(data_dir: &Path, pool_path: &str, demo_dir: &Path) -> anyhow::Result<PathBuf> {
    let layout = wharf_app::DataLayout::new(data_dir);
    let tree = layout.public_tree(DEMO_REPOSITORY);
    let list = wharf_apt::publish::read_pool_list(&tree)?;
    let sha256 = list
        .get(pool_path)
        .with_context(|| format!("{pool_path} is not published in {}", tree.display()))?;
    let objects = wharf_apt::objects::Objects::new(layout.objects());
    match objects.locate(sha256)? {
        Some(wharf_apt::objects::Location::Loose(path)) => Ok(path),
        Some(location) => {
            let copy = demo_dir.join(pool_path.rsplit('/').next().unwrap_or("package.deb"));
            std::fs::write(&copy, location.read()?)?;
            Ok(copy)
        }
        None => {
            anyhow::bail!("{pool_path}: its object {sha256} is missing: run `wharf repo verify`")
        }
    }
}
