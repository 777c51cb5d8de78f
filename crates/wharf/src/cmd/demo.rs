//! `wharf demo`: a self-contained tour on embedded defaults — a demo fleet of local nodes,
//! SQLite in a data directory next to it, no network and nothing installed.

use std::path::Path;

use anyhow::Context as _;
use serde_json::json;
use wharf_core::config::ConfigSource;
use wharf_core::inventory::Inventory;
use wharf_store::{AuditQuery, NewAuditEntry, Store};

use crate::cli::DemoArgs;
use crate::exit::{FAILURE, SUCCESS};
use crate::output;
use crate::settings::{Settings, actor};

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

pub(crate) fn run(_settings: &Settings, args: &DemoArgs) -> anyhow::Result<u8> {
    let dir = &args.dir;
    let config_path = dir.join("wharf.toml");
    std::fs::create_dir_all(dir)
        .with_context(|| format!("cannot create demo directory {}", dir.display()))?;
    std::fs::write(&config_path, DEMO_CONFIG)
        .with_context(|| format!("cannot write {}", config_path.display()))?;

    output::line(format!("1. wrote the demo fleet to {}", config_path.display()));
    let source = ConfigSource::new(&config_path, DEMO_CONFIG);
    let inventory = Inventory::from_config(&source.parse()?, &source)?;
    for node in inventory.nodes() {
        if let Some(root) = &node.root {
            std::fs::create_dir_all(dir.join(root))
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

    let data_dir = dir.join("wharf-data");
    let code = super::runtime()?.block_on(record(&data_dir, &inventory))?;
    output::line(format!("next: cd {} && wharf nodes @canary && wharf audit", dir.display()));
    Ok(code)
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

async fn record(data_dir: &Path, inventory: &Inventory) -> anyhow::Result<u8> {
    std::fs::create_dir_all(data_dir)
        .with_context(|| format!("cannot create data directory {}", data_dir.display()))?;
    let database = data_dir.join("wharf.db");
    let store = Store::open(&database.display().to_string()).await?;
    let entry = store
        .append_audit(NewAuditEntry {
            actor: actor(),
            action: "note".to_owned(),
            target: inventory.all().fold(),
            reason: None,
            details: json!({ "message": "demo fleet created" }),
        })
        .await?;
    let n_entries = store.audit(&AuditQuery::default()).await?.len();
    let report = store.verify_audit().await?;
    output::line(format!(
        "3. audit entry #{} recorded in {} ({n_entries} entries, chain {})",
        entry.id,
        database.display(),
        if report.ok { "verified" } else { "BROKEN" }
    ));
    Ok(if report.ok { SUCCESS } else { FAILURE })
}
