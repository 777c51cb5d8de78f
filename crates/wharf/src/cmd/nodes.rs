//! `wharf nodes [NODESET]`: the inventory, node by node.

use wharf_core::inventory::Node;

use crate::cli::NodesArgs;
use crate::exit::SUCCESS;
use crate::output;
use crate::settings::Settings;

pub(crate) fn list(settings: &Settings, args: &NodesArgs) -> anyhow::Result<u8> {
    let inventory = settings.inventory()?;
    let nodes: Vec<Node> =
        wharf_app::fleet::select_nodes(&inventory, args.nodeset.as_deref(), &settings.config_path)?
            .into_iter()
            .cloned()
            .collect();
    render(args.output.json, &nodes, &settings.config_path.display().to_string())
}

/// `wharf nodes`' output (also with `--server`); `config` names the file an empty
/// inventory comes from.
pub(crate) fn render(json: bool, nodes: &[Node], config: &str) -> anyhow::Result<u8> {
    if json {
        output::json(&nodes)?;
        return Ok(SUCCESS);
    }
    if nodes.is_empty() {
        output::warn(format!("no nodes: {config} has no [[nodes]] entries"));
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
