//! Resolves what every command needs — configuration, inventory, data directory, store —
//! once, with precedence defaults < file < environment < command line. All environment
//! variables Wharf reads are named in [`env_vars`].

use std::path::PathBuf;

use wharf_apt::sign::SigningKey;
use wharf_core::config::{AptSettings, Config, ConfigSource};
use wharf_core::inventory::Inventory;

use crate::cli::GlobalArgs;
use crate::exit::UsageError;

/// Every environment variable Wharf reads.
pub(crate) mod env_vars {
    pub(crate) const CONFIG: &str = "WHARF_CONFIG";
    pub(crate) const DATA: &str = "WHARF_DATA";
    pub(crate) const DATABASE: &str = "WHARF_DATABASE";
    /// `s3://BUCKET[/PREFIX]`: package files and published trees in a bucket.
    pub(crate) const STORAGE: &str = "WHARF_STORAGE";
    /// S3 storage: endpoint, region, credentials (`AWS_ENDPOINT_URL`, `AWS_REGION`,
    /// `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`, `AWS_ALLOW_HTTP`…),
    /// read by `object_store`; never logged.
    pub(crate) const AWS_PREFIX: &str = "AWS_";
    /// Who is acting, for the audit log (default: `$SUDO_USER`, then `$USER`).
    pub(crate) const ACTOR: &str = "WHARF_ACTOR";
    /// `~` in ssh_config paths and the default `~/.ssh/config` (`wharf run`, `wharf copy`).
    pub(crate) const HOME: &str = "HOME";
    /// The local user, for ssh_config's `%u` and the default remote user.
    pub(crate) const USER: &str = "USER";
    /// The ssh-agent socket; its keys are offered before key files.
    pub(crate) const SSH_AUTH_SOCK: &str = "SSH_AUTH_SOCK";
}

/// The default configuration file, relative to the working directory.
pub(crate) const DEFAULT_CONFIG: &str = "wharf.toml";

/// Everything resolved from flags, environment and file.
#[derive(Debug)]
pub(crate) struct Settings {
    pub(crate) config_path: PathBuf,
    /// False when the default config file does not exist (an empty configuration).
    pub(crate) config_found: bool,
    pub(crate) config: Config,
    pub(crate) source: ConfigSource,
    pub(crate) data_dir: PathBuf,
    pub(crate) database: String,
    /// `--storage`, `$WHARF_STORAGE` or `[store] storage`; `None`: the data directory.
    pub(crate) storage: Option<String>,
    /// `[apt]`, checked, with defaults.
    pub(crate) apt: AptSettings,
}

impl Settings {
    /// Read and parse the configuration file named by the global options.
    pub(crate) fn load(global: &GlobalArgs) -> anyhow::Result<Settings> {
        let (config_path, explicit) = match &global.config {
            Some(path) => (path.clone(), true),
            None => (PathBuf::from(DEFAULT_CONFIG), false),
        };
        let (text, config_found) = match std::fs::read_to_string(&config_path) {
            Ok(text) => (text, true),
            Err(err) if err.kind() == std::io::ErrorKind::NotFound && !explicit => {
                (String::new(), false)
            }
            Err(err) => {
                return Err(anyhow::Error::new(err).context(UsageError(format!(
                    "cannot read configuration file {} (pass --config FILE or set {})",
                    config_path.display(),
                    env_vars::CONFIG
                ))));
            }
        };
        let source = ConfigSource::new(&config_path, text);
        let config = source.parse()?;
        let apt = config.apt.resolve(&source)?;
        let database =
            global.database.clone().or_else(|| config.store.database.clone()).unwrap_or_else(
                || wharf_app::DataLayout::new(&global.data).database().display().to_string(),
            );
        let storage = global.storage.clone().or_else(|| config.store.storage.clone());
        Ok(Settings {
            config_path,
            config_found,
            config,
            source,
            data_dir: global.data.clone(),
            database,
            storage,
            apt,
        })
    }

    /// The repository signing key (configured, or generated in the data directory),
    /// without opening the store.
    pub(crate) fn signing_key(&self) -> anyhow::Result<SigningKey> {
        Ok(wharf_app::context::signing_key(&self.apt, &self.layout(), &self.config_path)?)
    }

    /// The data directory's layout.
    pub(crate) fn layout(&self) -> wharf_app::DataLayout {
        wharf_app::DataLayout::new(&self.data_dir)
    }

    /// The validated inventory described by the configuration.
    pub(crate) fn inventory(&self) -> anyhow::Result<Inventory> {
        Ok(Inventory::from_config(&self.config, &self.source)?)
    }

    /// The bucket `storage` names, or `None` for the data directory. A URL Wharf cannot use
    /// is a usage error naming where it came from and what is accepted.
    pub(crate) fn bucket(&self) -> anyhow::Result<Option<wharf_storage::Bucket>> {
        let Some(url) = &self.storage else { return Ok(None) };
        let parsed = wharf_storage::StorageUrl::parse(url).map_err(|err| {
            UsageError(format!(
                "{err} (check --storage, ${} or [store] storage in {})",
                env_vars::STORAGE,
                self.config_path.display()
            ))
        })?;
        Ok(Some(wharf_storage::Bucket::from_env(&parsed).map_err(|err| {
            UsageError(format!("{err} (check the {}* environment variables)", env_vars::AWS_PREFIX))
        })?))
    }

    /// What the application layer's context is opened with.
    pub(crate) fn context_settings(&self) -> anyhow::Result<wharf_app::ContextSettings> {
        Ok(wharf_app::ContextSettings {
            data_dir: self.data_dir.clone(),
            database: self.database.clone(),
            bucket: self.bucket()?,
            apt: self.apt.clone(),
            config_path: self.config_path.clone(),
        })
    }

    /// Open the application context, acting as the user at this terminal.
    pub(crate) async fn context(&self) -> anyhow::Result<wharf_app::Context> {
        Ok(wharf_app::Context::open(self.context_settings()?, wharf_app::Actor::cli(actor()))
            .await?)
    }
}

/// Who is running this command, for the audit log.
pub(crate) fn actor() -> String {
    [env_vars::ACTOR, "SUDO_USER", "USER"]
        .iter()
        .find_map(|var| std::env::var(var).ok().filter(|value| !value.is_empty()))
        .unwrap_or_else(|| "unknown".to_owned())
}
