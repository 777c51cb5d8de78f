//! `wharf server`: serve published repositories, the API and ChatOps over HTTP until
//! SIGTERM, SIGINT or SIGQUIT; SIGHUP reloads the configuration.
//!
//! The first line on stdout is `listening on http://ADDR` with the bound address (the
//! real port when `--listen` asked for port 0), so scripts and tests can read it.

use anyhow::Context as _;

use crate::cli::ServerArgs;
use crate::exit::SUCCESS;
use crate::output;
use crate::settings::Settings;

/// SIGHUP: read the same file again and check it as every command does (config,
/// inventory, pipelines); an error leaves the server on the configuration it had.
fn reload(
    settings: &Settings,
    summary: wharf_app::wire::ConfigSummary,
) -> wharf_server::lifecycle::Reload {
    let path = settings.config_path.clone();
    let found = settings.config_found;
    wharf_server::lifecycle::Reload(std::sync::Arc::new(move || {
        let text = if found {
            std::fs::read_to_string(&path)
                .map_err(|err| format!("cannot read {}: {err}", path.display()))?
        } else {
            String::new()
        };
        let source = wharf_core::config::ConfigSource::new(&path, text);
        let config = source.parse().map_err(|err| err.to_string())?;
        let inventory = wharf_core::inventory::Inventory::from_config(&config, &source)
            .map_err(|err| err.to_string())?;
        wharf_deploy::Pipelines::resolve(&config, &source, &inventory)
            .map_err(|err| err.to_string())?;
        let summary = summary.clone().with_inventory(&inventory);
        Ok(wharf_server::Loaded { config, source, inventory, summary })
    }))
}

pub(crate) fn run(settings: &Settings, args: &ServerArgs) -> anyhow::Result<u8> {
    let listen = args.listen.clone().unwrap_or_else(|| settings.config.server.listen.clone());
    // The server's settings as `config check` reports them (`GET /api/v1/config`).
    let summary = super::config::summary(settings)?;
    let server_settings = wharf_server::ServerSettings {
        public_dir: settings.layout().public(),
        objects_dir: settings.layout().objects(),
        database: settings.database.clone(),
        bucket: settings.bucket()?,
        context: settings.context_settings()?,
        loaded: wharf_server::Loaded {
            config: settings.config.clone(),
            source: settings.source.clone(),
            inventory: settings.inventory()?,
            summary: summary.clone(),
        },
        chat: Some(super::chat::commands()),
        reload: Some(reload(settings, summary)),
        drain_timeout: std::time::Duration::from_secs(
            settings.config.server.drain_seconds(&settings.source)?,
        ),
        local_env: super::run::local_env(),
    };
    // One worker thread per core: every other command runs on one thread, but a server
    // answering many clients would be held to one core by it (a third of nginx's rate
    // for small APT files on two cores).
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(async {
        let server = wharf_server::Server::bind(&listen, server_settings).await?;
        let shutdown =
            wharf_server::lifecycle::stop_signal().context("cannot install the signal handlers")?;
        output::line(format!("listening on http://{}", server.local_addr()));
        server.run(shutdown).await?;
        Ok(SUCCESS)
    })
}
