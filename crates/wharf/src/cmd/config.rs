//! `wharf config check`: validate wharf.toml and summarise what it describes.

use wharf_app::wire::{AptSummary, ConfigSummary, EnvironmentSummary, GroupSummary};

use crate::cli::JsonArgs;
use crate::exit::SUCCESS;
use crate::output;
use crate::settings::{SYSTEM_CONFIG, Settings};

pub(crate) fn check(settings: &Settings, args: &JsonArgs) -> anyhow::Result<u8> {
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
    let summary = ConfigSummary {
        file: settings.config_path.display().to_string(),
        found: settings.config_found,
        config_source: settings.config_origin.as_str(),
        data_dir: settings.data_dir.display().to_string(),
        nodes: inventory.all().len(),
        groups: GroupSummary::all(&inventory),
        environments: EnvironmentSummary::all(&inventory),
        services: inventory.services().len(),
        database: wharf_store::redact_url(&settings.database),
        storage: settings.storage.clone(),
        apt: apt_summary,
    };
    if args.json {
        output::json(&summary)?;
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
    output::line(format!(
        "  config file: {} ({})",
        summary.file,
        settings.config_origin.describe()
    ));
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
