//! Resolves what every command needs — configuration, inventory, data directory, store —
//! once, with precedence defaults < file < environment < command line. Environment
//! variable names come from [`crate::env_vars`].

use std::path::{Path, PathBuf};

use anyhow::Context as _;

use wharf_apt::sign::SigningKey;
use wharf_core::config::{AptSettings, Config, ConfigError, ConfigSource};
use wharf_core::inventory::Inventory;
use wharf_store::Store;

use crate::cli::GlobalArgs;
use crate::env_vars;
use crate::exit::UsageError;

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

/// Where the signing key lives when `[apt] signing_key` names none (generated on first use).
pub(crate) const GENERATED_KEY: &str = "keys/signing.asc";

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
        let database = global
            .database
            .clone()
            .or_else(|| config.store.database.clone())
            .unwrap_or_else(|| global.data.join("wharf.db").display().to_string());
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

    /// The repository signing key: the one `[apt] signing_key` names (a key apt cannot use
    /// is a configuration error naming the file and why), else the one Wharf generated in
    /// the data directory, generating it on first use.
    pub(crate) fn signing_key(&self) -> anyhow::Result<SigningKey> {
        if let Some(configured) = &self.apt.signing_key {
            return SigningKey::load_configured(&configured.path).map_err(|err| {
                ConfigError {
                    file: self.config_path.clone(),
                    line: Some(configured.line),
                    key: Some("apt.signing_key".to_owned()),
                    message: err.to_string(),
                }
                .into()
            });
        }
        std::fs::create_dir_all(&self.data_dir)
            .with_context(|| format!("cannot create data directory {}", self.data_dir.display()))?;
        Ok(SigningKey::load_or_generate(
            &self.data_dir.join(GENERATED_KEY),
            "Wharf repository signing key",
        )?)
    }

    /// The validated inventory described by the configuration.
    pub(crate) fn inventory(&self) -> anyhow::Result<Inventory> {
        Ok(Inventory::from_config(&self.config, &self.source)?)
    }

    /// Open the store the settings name, creating the data directory for the SQLite default.
    pub(crate) async fn open_store(&self) -> anyhow::Result<Store> {
        if !self.database.contains("://") {
            std::fs::create_dir_all(&self.data_dir).with_context(|| {
                format!(
                    "cannot create data directory {} (pass --data DIR or set {})",
                    self.data_dir.display(),
                    env_vars::DATA
                )
            })?;
        }
        Store::open(&self.database).await.with_context(|| {
            format!(
                "cannot open the store (check --database, ${} or [store] database in {})",
                env_vars::DATABASE,
                self.config_path.display()
            )
        })
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

    pub(crate) fn data_dir(&self) -> &Path {
        &self.data_dir
    }
}

/// Who is running this command, for the audit log.
pub(crate) fn actor() -> String {
    [env_vars::ACTOR, "SUDO_USER", "USER"]
        .iter()
        .find_map(|var| std::env::var(var).ok().filter(|value| !value.is_empty()))
        .unwrap_or_else(|| "unknown".to_owned())
}
