//! `wharf nodeset -e|-f|-c`: ClusterShell's `nodeset`, with the inventory's groups and labels.

use std::io::Read as _;

use anyhow::Context as _;

use crate::cli::NodesetArgs;
use crate::exit::SUCCESS;
use crate::output;
use crate::settings::Settings;

pub(crate) fn run(settings: &Settings, args: &NodesetArgs) -> anyhow::Result<u8> {
    let inventory = settings.inventory()?;
    let expr = if args.exprs.is_empty() {
        let mut input = String::new();
        std::io::stdin().read_to_string(&mut input).context("cannot read node sets from stdin")?;
        input.split_whitespace().collect::<Vec<_>>().join(",")
    } else {
        args.exprs.join(",")
    };
    let set = inventory.resolve(&expr)?;
    if args.output.json {
        output::json(&wharf_app::wire::NodesetView::new(&expr, &set))?;
    } else if args.count {
        output::line(set.len());
    } else if args.fold {
        output::line(set.fold());
    } else {
        output::line(set.iter().collect::<Vec<_>>().join(" "));
    }
    Ok(SUCCESS)
}
