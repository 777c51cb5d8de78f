//! `[commands]` and the `commands = { … }` of `[[environments]]`: the shell templates of
//! each remote step, laid over the Debian defaults by [`Config::commands_for`].

use serde::Deserialize;

use super::{Config, ConfigError, ConfigSource, Spanned};
use crate::template::{CommandKey, CommandTemplates, Template};

/// `[commands]`, and `commands = { … }` of an `[[environments]]` entry: the shell templates
/// of each remote step (see [`crate::template`]). Absent keys fall back to `[commands]`, then
/// to the Debian default; `""` means "no command for this step".
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CommandsConfig {
    pub install: Option<Spanned<String>>,
    pub version: Option<Spanned<String>>,
    pub hold: Option<Spanned<String>>,
    pub unhold: Option<Spanned<String>>,
    pub holds: Option<Spanned<String>>,
    pub stop: Option<Spanned<String>>,
    pub start: Option<Spanned<String>>,
    pub restart: Option<Spanned<String>>,
    pub status: Option<Spanned<String>>,
    pub reconfigure: Option<Spanned<String>>,
    pub maintenance_start: Option<Spanned<String>>,
    pub maintenance_stop: Option<Spanned<String>>,
}

impl CommandsConfig {
    /// The value written for `key`, if any.
    #[must_use]
    pub fn get(&self, key: CommandKey) -> Option<&Spanned<String>> {
        match key {
            CommandKey::Install => self.install.as_ref(),
            CommandKey::Version => self.version.as_ref(),
            CommandKey::Hold => self.hold.as_ref(),
            CommandKey::Unhold => self.unhold.as_ref(),
            CommandKey::Holds => self.holds.as_ref(),
            CommandKey::Stop => self.stop.as_ref(),
            CommandKey::Start => self.start.as_ref(),
            CommandKey::Restart => self.restart.as_ref(),
            CommandKey::Status => self.status.as_ref(),
            CommandKey::Reconfigure => self.reconfigure.as_ref(),
            CommandKey::MaintenanceStart => self.maintenance_start.as_ref(),
            CommandKey::MaintenanceStop => self.maintenance_stop.as_ref(),
        }
    }

    /// Lay the written keys over `base`; `prefix` (`commands`,
    /// `environments.NAME.commands`) names the key in errors.
    fn apply(
        &self,
        base: &mut CommandTemplates,
        prefix: &str,
        source: &ConfigSource,
    ) -> Result<(), ConfigError> {
        for key in CommandKey::ALL {
            let Some(value) = self.get(key) else { continue };
            let text = value.get_ref();
            let template = if text.trim().is_empty() {
                None
            } else {
                let parsed = Template::parse(key, text).map_err(|why| {
                    source.error(Some(value.span()), Some(&format!("{prefix}.{key}")), why)
                })?;
                Some(parsed)
            };
            base.set(key, template);
        }
        Ok(())
    }
}

impl Config {
    /// The command templates of environment `env` (`None`: `[commands]` and the defaults
    /// only). Errors name the key and line of a bad template; [`ConfigSource::parse`] has
    /// already refused those, so after a successful parse this only fails for an unknown
    /// environment name.
    pub fn commands_for(
        &self,
        env: Option<&str>,
        source: &ConfigSource,
    ) -> Result<CommandTemplates, ConfigError> {
        let mut templates = CommandTemplates::defaults();
        self.commands.apply(&mut templates, "commands", source)?;
        if let Some(name) = env {
            let Some(entry) = self.environments.iter().find(|e| e.name.get_ref() == name) else {
                return Err(source.error(None, None, format!("no environment named {name:?}")));
            };
            let prefix = format!("environments.{name}.commands");
            entry.commands.apply(&mut templates, &prefix, source)?;
        }
        Ok(templates)
    }

    pub(super) fn check_commands(&self, source: &ConfigSource) -> Result<(), ConfigError> {
        self.commands_for(None, source)?;
        for env in &self.environments {
            self.commands_for(Some(env.name.get_ref()), source)?;
        }
        Ok(())
    }
}
