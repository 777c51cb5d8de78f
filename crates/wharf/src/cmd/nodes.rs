//! `wharf nodes [NODESET]`: the inventory, node by node.

use anyhow::bail;

use crate::cli::NodesArgs;
use crate::exit::{SUCCESS, UsageError};
use crate::output;
use crate::settings::Settings;

pub(crate) fn list(settings: &Settings, args: &NodesArgs) -> anyhow::Result<u8> {
    let inventory = settings.inventory()?;
    let selected = match &args.nodeset {
        Some(expr) => {
            let set = inventory.resolve(expr)?;
            if set.is_empty() {
                bail!(UsageError(format!("node set {expr:?} matches no node")));
            }
            if let Some(unknown) = set.iter().find(|name| inventory.node(name).is_none()) {
                bail!(UsageError(format!(
                    "{unknown} is not in the inventory ({}); add it to a [[nodes]] entry",
                    settings.config_path.display()
                )));
            }
            set
        }
        None => inventory.all().clone(),
    };
    let nodes: Vec<_> = selected.iter().filter_map(|name| inventory.node(name)).collect();
    if args.output.json {
        output::json(&nodes)?;
        return Ok(SUCCESS);
    }
    if nodes.is_empty() {
        output::warn(format!(
            "no nodes: {} has no [[nodes]] entries",
            settings.config_path.display()
        ));
        return Ok(SUCCESS);
    }
    let rows: Vec<Vec<String>> = nodes
        .iter()
        .map(|node| {
            let address = match node.port {
                Some(port) => format!("{}:{port}", node.host),
                None => node.host.clone(),
            };
            let labels =
                node.labels.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(",");
            vec![node.name.clone(), node.transport.to_string(), address, labels]
        })
        .collect();
    output::table(&["NODE", "TRANSPORT", "ADDRESS", "LABELS"], &rows);
    Ok(SUCCESS)
}
