//! Resolves what every command needs — configuration, inventory, data directory, store —
//! once, with precedence defaults < file < environment < command line. Environment
//! variable names come from [`crate::env_vars`].

use std::path::{Path, PathBuf};

use wharf_apt::sign::SigningKey;
use wharf_core::config::{AptSettings, Config, ConfigSource};
use wharf_core::inventory::Inventory;

use crate::cli::GlobalArgs;
use crate::env_vars;
use crate::exit::UsageError;

/// The configuration file looked for in the working directory.
pub(crate) const DEFAULT_CONFIG: &str = "wharf.toml";
/// The system-wide configuration file, looked for after [`DEFAULT_CONFIG`]
/// (`$WHARF_SYSTEM_CONFIG` replaces it, for tests).
pub(crate) const SYSTEM_CONFIG: &str = "/etc/wharf/wharf.toml";
/// The data directory when neither `--data`, `$WHARF_DATA` nor `[store] data` names one.
pub(crate) const DEFAULT_DATA: &str = "wharf-data";

/// Where the configuration file was found, as ansible and clush look for theirs: named by
/// `--config`, named by `$WHARF_CONFIG`, `./wharf.toml`, `/etc/wharf/wharf.toml`, or
/// none of these (the empty configuration).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum ConfigOrigin {
    Flag,
    Env,
    Cwd,
    System,
    None,
}

impl ConfigOrigin {
    /// `flag`, `env`, `cwd`, `system` or `none`, as `config check --json` says it.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            ConfigOrigin::Flag => "flag",
            ConfigOrigin::Env => "env",
            ConfigOrigin::Cwd => "cwd",
            ConfigOrigin::System => "system",
            ConfigOrigin::None => "none",
        }
    }

    /// The origin `as_str` names (`config check --json` from a server).
    pub(crate) fn parse(text: &str) -> Option<ConfigOrigin> {
        [
            ConfigOrigin::Flag,
            ConfigOrigin::Env,
            ConfigOrigin::Cwd,
            ConfigOrigin::System,
            ConfigOrigin::None,
        ]
        .into_iter()
        .find(|origin| origin.as_str() == text)
    }

    /// How the file was chosen, in words for `config check`.
    pub(crate) fn describe(self) -> &'static str {
        match self {
            ConfigOrigin::Flag => "named by --config",
            ConfigOrigin::Env => "named by $WHARF_CONFIG",
            ConfigOrigin::Cwd => "found in the working directory",
            ConfigOrigin::System => "the system-wide file",
            ConfigOrigin::None => "no configuration file found",
        }
    }
}

/// Which configuration file to read: `--config`, else `$WHARF_CONFIG` (when not empty),
/// else `./wharf.toml` if it exists, else `system` if it exists. With none of them the path
/// is [`DEFAULT_CONFIG`] and the origin [`ConfigOrigin::None`]. Pure: the caller passes the
/// environment and how to test for a file.
pub(crate) fn discover_config(
    flag: Option<&Path>,
    env: Option<&std::ffi::OsStr>,
    system: &Path,
    exists: impl Fn(&Path) -> bool,
) -> (PathBuf, ConfigOrigin) {
    if let Some(path) = flag {
        return (path.to_owned(), ConfigOrigin::Flag);
    }
    if let Some(path) = env.filter(|path| !path.is_empty()) {
        return (PathBuf::from(path), ConfigOrigin::Env);
    }
    let cwd = Path::new(DEFAULT_CONFIG);
    if exists(cwd) {
        return (cwd.to_owned(), ConfigOrigin::Cwd);
    }
    if exists(system) {
        return (system.to_owned(), ConfigOrigin::System);
    }
    (cwd.to_owned(), ConfigOrigin::None)
}

/// The data directory: `--data`/`$WHARF_DATA` (clap gives either as `flag`), else
/// `[store] data` (already resolved against the file's directory), else [`DEFAULT_DATA`].
pub(crate) fn resolve_data_dir(flag: Option<&Path>, file: Option<PathBuf>) -> PathBuf {
    flag.map(Path::to_owned).or(file).unwrap_or_else(|| PathBuf::from(DEFAULT_DATA))
}

/// Everything resolved from flags, environment and file.
#[derive(Debug)]
pub(crate) struct Settings {
    pub(crate) config_path: PathBuf,
    /// False when no configuration file was named or found (an empty configuration).
    pub(crate) config_found: bool,
    /// How `config_path` was chosen.
    pub(crate) config_origin: ConfigOrigin,
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
    /// Find, read and parse the configuration file, then resolve the data directory,
    /// database and storage with precedence flag/environment > file > default.
    pub(crate) fn load(global: &GlobalArgs) -> anyhow::Result<Settings> {
        let system = std::env::var_os(env_vars::SYSTEM_CONFIG)
            .filter(|path| !path.is_empty())
            .map_or_else(|| PathBuf::from(SYSTEM_CONFIG), PathBuf::from);
        let (config_path, config_origin) = discover_config(
            global.config.as_deref(),
            std::env::var_os(env_vars::CONFIG).as_deref(),
            &system,
            Path::exists,
        );
        let (text, config_found) = match std::fs::read_to_string(&config_path) {
            Ok(text) => (text, true),
            Err(err)
                if err.kind() == std::io::ErrorKind::NotFound
                    && config_origin == ConfigOrigin::None =>
            {
                (String::new(), false)
            }
            Err(err) => {
                return Err(anyhow::Error::new(err).context(UsageError(format!(
                    "cannot read configuration file {} ({})",
                    config_path.display(),
                    config_origin.describe()
                ))));
            }
        };
        let source = ConfigSource::new(&config_path, text);
        let config = source.parse()?;
        let apt = config.apt.resolve(&source)?;
        let data_dir = resolve_data_dir(global.data.as_deref(), config.store.data_dir(&source)?);
        let database =
            global.database.clone().or_else(|| config.store.database.clone()).unwrap_or_else(
                || wharf_app::DataLayout::new(&data_dir).database().display().to_string(),
            );
        let storage = global.storage.clone().or_else(|| config.store.storage.clone());
        Ok(Settings {
            config_path,
            config_found,
            config_origin,
            config,
            source,
            data_dir,
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

    /// The validated inventory described by the configuration. Its pipelines are checked
    /// too, so a bad `[[pipelines]]` stage stops every command, not just `deploy`.
    pub(crate) fn inventory(&self) -> anyhow::Result<Inventory> {
        let inventory = Inventory::from_config(&self.config, &self.source)?;
        wharf_deploy::Pipelines::resolve(&self.config, &self.source, &inventory)?;
        wharf_app::notify::destinations(&self.config, &self.source)?;
        Ok(inventory)
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
    [env_vars::ACTOR, env_vars::SUDO_USER, env_vars::USER]
        .iter()
        .find_map(|var| std::env::var(var).ok().filter(|value| !value.is_empty()))
        .unwrap_or_else(|| "unknown".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every row: --config, $WHARF_CONFIG, which of ./wharf.toml and the system file exist
    /// → the file read and where it came from.
    #[test]
    fn config_discovery_precedence() {
        let system = Path::new("/etc/wharf/wharf.toml");
        let flag = Some(Path::new("fleet.toml"));
        let env = Some(std::ffi::OsStr::new("/srv/wharf.toml"));
        let empty = Some(std::ffi::OsStr::new(""));
        #[rustfmt::skip]
        let table = [
            // flag,  env,   cwd,   system → path,                     origin
            (flag,    env,   true,  true,     "fleet.toml",             ConfigOrigin::Flag),
            (flag,    None,  false, false,    "fleet.toml",             ConfigOrigin::Flag),
            (None,    env,   true,  true,     "/srv/wharf.toml",        ConfigOrigin::Env),
            (None,    env,   false, false,    "/srv/wharf.toml",        ConfigOrigin::Env),
            (None,    empty, true,  true,     "wharf.toml",             ConfigOrigin::Cwd),
            (None,    None,  true,  true,     "wharf.toml",             ConfigOrigin::Cwd),
            (None,    None,  true,  false,    "wharf.toml",             ConfigOrigin::Cwd),
            (None,    None,  false, true,     "/etc/wharf/wharf.toml",  ConfigOrigin::System),
            (None,    empty, false, true,     "/etc/wharf/wharf.toml",  ConfigOrigin::System),
            (None,    None,  false, false,    "wharf.toml",             ConfigOrigin::None),
        ];
        for (row, (flag, env, cwd, sys, path, origin)) in table.into_iter().enumerate() {
            let exists = |candidate: &Path| {
                (cwd && candidate == Path::new(DEFAULT_CONFIG)) || (sys && candidate == system)
            };
            assert_eq!(
                discover_config(flag, env, system, exists),
                (PathBuf::from(path), origin),
                "row {row}"
            );
        }
    }

    #[test]
    fn data_dir_precedence() {
        let file = || Some(PathBuf::from("/etc/wharf/state"));
        let flag = Some(Path::new("/tmp/data"));
        assert_eq!(resolve_data_dir(flag, file()), Path::new("/tmp/data"));
        assert_eq!(resolve_data_dir(flag, None), Path::new("/tmp/data"));
        assert_eq!(resolve_data_dir(None, file()), Path::new("/etc/wharf/state"));
        assert_eq!(resolve_data_dir(None, None), Path::new("wharf-data"));
    }

    #[test]
    fn config_origins_serialize_as_documented() {
        let names: Vec<String> = [
            ConfigOrigin::Flag,
            ConfigOrigin::Env,
            ConfigOrigin::Cwd,
            ConfigOrigin::System,
            ConfigOrigin::None,
        ]
        .iter()
        .map(|origin| serde_json::to_string(origin).unwrap())
        .collect();
        assert_eq!(names, ["\"flag\"", "\"env\"", "\"cwd\"", "\"system\"", "\"none\""]);
    }
}
