//! `wharf server`: serve published repositories over HTTP until SIGTERM or SIGINT.
//!
//! The first line on stdout is `listening on http://ADDR` with the bound address (the
//! real port when `--listen` asked for port 0), so scripts and tests can read it.

use anyhow::Context as _;

use crate::cli::ServerArgs;
use crate::exit::SUCCESS;
use crate::output;
use crate::settings::Settings;

pub(crate) fn run(settings: &Settings, args: &ServerArgs) -> anyhow::Result<u8> {
    let listen = args.listen.clone().unwrap_or_else(|| settings.config.server.listen.clone());
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
        },
    };
    // One worker thread per core: every other command runs on one thread, but a server
    // answering many clients would be held to one core by it (a third of nginx's rate
    // for small APT files on two cores).
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(async {
        let server = wharf_server::Server::bind(&listen, server_settings).await?;
        let shutdown =
            wharf_server::shutdown_signal().context("cannot install SIGTERM/SIGINT handlers")?;
        output::line(format!("listening on http://{}", server.local_addr()));
        server.run(shutdown).await?;
        Ok(SUCCESS)
    })
}
