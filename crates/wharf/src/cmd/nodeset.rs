//! `wharf nodeset -e|-f|-c`: ClusterShell's `nodeset`, with the inventory's groups and labels.

use std::io::Read as _;

use anyhow::Context as _;
use wharf_app::wire::NodesetView;

use crate::cli::NodesetArgs;
use crate::exit::SUCCESS;
use crate::output;
use crate::settings::Settings;

pub(crate) fn run(settings: &Settings, args: &NodesetArgs) -> anyhow::Result<u8> {
    let inventory = settings.inventory()?;
    let expr = expression(args)?;
    let set = inventory.resolve(&expr)?;
    render(args, &NodesetView::new(&expr, &set))
}

/// The expression the arguments name, joined with `,`; read from stdin without any.
pub(crate) fn expression(args: &NodesetArgs) -> anyhow::Result<String> {
    if args.exprs.is_empty() {
        let mut input = String::new();
        std::io::stdin().read_to_string(&mut input).context("cannot read node sets from stdin")?;
        Ok(input.split_whitespace().collect::<Vec<_>>().join(","))
    } else {
        Ok(args.exprs.join(","))
    }
}

/// `wharf nodeset`'s output (also with `--server`).
pub(crate) fn render(args: &NodesetArgs, view: &NodesetView) -> anyhow::Result<u8> {
    if args.output.json {
        output::json(view)?;
    } else if args.count {
        output::line(view.count);
    } else if args.fold {
        output::line(&view.folded);
    } else {
        output::line(view.nodes.join(" "));
    }
    Ok(SUCCESS)
}
