//! `wharf config check`: validate wharf.toml and summarise what it describes.

use wharf_app::wire::{AptSummary, ConfigSummary};

use crate::cli::JsonArgs;
use crate::exit::SUCCESS;
use crate::output;
use crate::settings::{ConfigOrigin, SYSTEM_CONFIG, Settings};

pub(crate) fn check(settings: &Settings, args: &JsonArgs) -> anyhow::Result<u8> {
    render(args.json, &summary(settings)?)
}

/// What `config check` reports about `settings`: also what `wharf server` answers at
/// `GET /api/v1/config` (kept current across reloads with `ConfigSummary::with_inventory`).
pub(crate) fn summary(settings: &Settings) -> anyhow::Result<ConfigSummary> {
    let inventory = settings.inventory()?;
    // A storage URL Wharf cannot use is a configuration error here too.
    settings.bucket()?;
    let apt = &settings.apt;
    let apt_summary = match &apt.signing_key {
        // A key apt cannot use is a configuration error here too.
        Some(configured) => AptSummary::new(
            apt,
            configured.path.display().to_string(),
            Some(settings.signing_key()?.describe()),
        ),
        None => AptSummary::new(apt, settings.layout().generated_key().display().to_string(), None),
    };
    Ok(ConfigSummary {
        file: settings.config_path.display().to_string(),
        found: settings.config_found,
        config_source: settings.config_origin.as_str().to_owned(),
        data_dir: settings.data_dir.display().to_string(),
        nodes: 0,
        groups: Vec::new(),
        environments: Vec::new(),
        services: 0,
        database: wharf_store::redact_url(&settings.database),
        storage: settings.storage.clone(),
        apt: apt_summary,
    }
    .with_inventory(&inventory))
}

/// `config check`'s output, from this machine's settings or a server's (`--server`).
pub(crate) fn render(json: bool, summary: &ConfigSummary) -> anyhow::Result<u8> {
    if json {
        output::json(summary)?;
        return Ok(SUCCESS);
    }
    if !summary.found {
        output::warn(format!(
            "no configuration file (no --config or ${}, no ./{} or {}): checking the empty configuration",
            crate::env_vars::CONFIG,
            crate::settings::DEFAULT_CONFIG,
            SYSTEM_CONFIG
        ));
    }
    output::line(format!(
        "{}: ok — {} nodes, {} groups, {} environments, {} services",
        summary.file,
        summary.nodes,
        summary.groups.len(),
        summary.environments.len(),
        summary.services
    ));
    let origin = ConfigOrigin::parse(&summary.config_source).map_or("?", ConfigOrigin::describe);
    output::line(format!("  config file: {} ({origin})", summary.file));
    output::line(format!("  data directory: {}", summary.data_dir));
    for group in &summary.groups {
        output::line(format!("  group @{:<16} {:>4}  {}", group.name, group.count, group.nodes));
    }
    for env in &summary.environments {
        let after = env.after.as_ref().map(|after| format!(" (after {after})")).unwrap_or_default();
        let production = if env.production { " [production]" } else { "" };
        output::line(format!(
            "  environment {}{after}{production}: {} nodes {}",
            env.name, env.count, env.nodes
        ));
    }
    let apt = &summary.apt;
    output::line(format!(
        "  apt: origin {:?}, label {:?}, valid_for {}, grace {}, min_free_percent {}%",
        apt.origin,
        apt.label,
        apt.valid_for.as_deref().unwrap_or("- (no Valid-Until)"),
        apt.grace,
        apt.min_free_percent
    ));
    match &apt.signing_key_details {
        Some(details) => {
            output::line(format!("  apt: signing key {} ({details})", apt.signing_key))
        }
        None => {
            output::line(format!("  apt: signing key {} (generated on first use)", apt.signing_key))
        }
    }
    Ok(SUCCESS)
}
