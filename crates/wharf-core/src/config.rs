//! The `wharf.toml` schema and its parser.
//!
//! Parsing is strict: an unknown key, a wrong type, a duplicate name or a reference to
//! something that does not exist is a [`ConfigError`] that names the file, the line and the
//! key, so an operator can fix the file without guessing. Defaults live here and only here.
//! Cross-references (groups, environments, services) are checked when the
//! [`Inventory`](crate::inventory::Inventory) is built from a [`Config`].

use std::collections::BTreeMap;
use std::fmt::{self, Write as _};
use std::ops::Range;
use std::path::{Path, PathBuf};

use serde::Deserialize;
/// Re-exported so crates that read the raw configuration name the same type.
pub use toml::Spanned;

/// The whole configuration file, as written.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default)]
    pub server: ServerConfig,
    #[serde(default)]
    pub store: StoreConfig,
    #[serde(default)]
    pub ssh: SshConfig,
    #[serde(default)]
    pub apt: AptConfig,
    #[serde(default)]
    pub nodes: Vec<NodeConfig>,
    #[serde(default)]
    pub groups: BTreeMap<Spanned<String>, GroupConfig>,
    #[serde(default)]
    pub environments: Vec<EnvironmentConfig>,
    #[serde(default)]
    pub services: Vec<ServiceConfig>,
    #[serde(default)]
    pub commands: CommandsConfig,
    #[serde(default)]
    pub windows: Vec<WindowConfig>,
    #[serde(default)]
    pub pipelines: Vec<PipelineConfig>,
}

/// `[server]`: where `wharf server` listens and how nodes reach it.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerConfig {
    #[serde(default = "ServerConfig::default_listen")]
    pub listen: String,
    /// How nodes reach this server's `/apt/…` trees, e.g. `http://wharf.internal:8440`.
    pub public_url: Option<String>,
}

impl ServerConfig {
    /// The default listen address, `127.0.0.1:8440`.
    pub const DEFAULT_LISTEN: &'static str = "127.0.0.1:8440";

    fn default_listen() -> String {
        Self::DEFAULT_LISTEN.to_owned()
    }
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig { listen: Self::default_listen(), public_url: None }
    }
}

/// `[store]`: where Wharf keeps its state. Absent: SQLite in the data directory.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoreConfig {
    /// `postgres://…` for a shared PostgreSQL, or a SQLite path or `sqlite://` URL.
    pub database: Option<String>,
    /// Where package files and published trees live: `s3://BUCKET[/PREFIX]` for
    /// S3-compatible storage (endpoint and credentials from `AWS_*` variables). Absent: the
    /// data directory.
    pub storage: Option<String>,
    /// The data directory (SQLite store, keys, published trees), relative to the
    /// configuration file's directory: see [`StoreConfig::data_dir`].
    pub data: Option<Spanned<String>>,
}

impl StoreConfig {
    /// `[store] data`, resolved against the configuration file's directory; `None` when
    /// the file sets none. An empty value is an error naming the line.
    pub fn data_dir(&self, source: &ConfigSource) -> Result<Option<PathBuf>, ConfigError> {
        let Some(data) = &self.data else { return Ok(None) };
        if data.get_ref().trim().is_empty() {
            return Err(source.error(
                Some(data.span()),
                Some("store.data"),
                "is empty: name a directory (or leave the key out for ./wharf-data)",
            ));
        }
        Ok(Some(PathBuf::from(source.resolve_path(data.get_ref()))))
    }
}

/// `[ssh]`: defaults for every SSH node.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SshConfig {
    /// Login user when neither the node nor `~/.ssh/config` names one.
    pub user: Option<String>,
    /// `strict` (default) refuses unknown host keys; `accept-new` records them.
    #[serde(default)]
    pub known_hosts: KnownHostsPolicy,
}

/// `[apt]`: how published repositories describe and sign themselves, how long superseded
/// files stay, and when `wharf health` worries about disk space. Every key is optional;
/// [`AptConfig::resolve`] checks the values and applies the defaults.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AptConfig {
    /// `Origin:` of every `Release`. Default [`AptSettings::DEFAULT_ORIGIN`].
    pub origin: Option<Spanned<String>>,
    /// `Label:` of every `Release`; `{prefix}` is replaced by the publish prefix. Default
    /// [`AptSettings::DEFAULT_LABEL`].
    pub label: Option<Spanned<String>>,
    /// `Valid-Until:` = `Date:` + this duration (`7d`, `12h`, `30m`, `3600s`). Absent: no
    /// `Valid-Until:`.
    pub valid_for: Option<Spanned<String>>,
    /// How long superseded by-hash indices and unpublished pool entries stay. Default `1h`.
    pub grace: Option<Spanned<String>>,
    /// An ASCII-armored OpenPGP secret key (relative to the configuration file) to sign
    /// with, instead of the one Wharf generates in the data directory.
    pub signing_key: Option<Spanned<String>>,
    /// `wharf health` fails below this much free disk, in percent. Default 10.
    pub min_free_percent: Option<Spanned<f64>>,
}

/// `[apt]` checked and with its defaults applied.
#[derive(Debug, Clone, PartialEq)]
pub struct AptSettings {
    pub origin: String,
    /// The label template, `{prefix}` not yet replaced: see [`AptSettings::label`].
    pub label: String,
    /// Seconds from `Date:` to `Valid-Until:`, when set.
    pub valid_for: Option<u64>,
    /// Grace period in seconds.
    pub grace: u64,
    /// The configured key, resolved against the configuration file's directory, with the
    /// line that names it (for errors about the key's content).
    pub signing_key: Option<ConfiguredPath>,
    pub min_free_percent: f64,
}

/// A path from the configuration file, resolved, and the line that wrote it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfiguredPath {
    pub path: PathBuf,
    pub line: usize,
}

impl AptSettings {
    pub const DEFAULT_ORIGIN: &'static str = "Wharf";
    pub const DEFAULT_LABEL: &'static str = "Wharf {prefix}";
    pub const DEFAULT_GRACE: u64 = 3600;
    pub const DEFAULT_MIN_FREE_PERCENT: f64 = 10.0;

    /// The `Label:` of the tree published at `prefix`.
    #[must_use]
    pub fn label(&self, prefix: &str) -> String {
        self.label.replace("{prefix}", prefix)
    }
}

impl Default for AptSettings {
    fn default() -> Self {
        AptSettings {
            origin: Self::DEFAULT_ORIGIN.to_owned(),
            label: Self::DEFAULT_LABEL.to_owned(),
            valid_for: None,
            grace: Self::DEFAULT_GRACE,
            signing_key: None,
            min_free_percent: Self::DEFAULT_MIN_FREE_PERCENT,
        }
    }
}

impl AptConfig {
    /// Check every value and apply the defaults; errors name the line and `apt.KEY`.
    pub fn resolve(&self, source: &ConfigSource) -> Result<AptSettings, ConfigError> {
        let defaults = AptSettings::default();
        let err = |value_span: Range<usize>, key: &str, message: String| {
            source.error(Some(value_span), Some(&format!("apt.{key}")), message)
        };
        let field =
            |value: &Option<Spanned<String>>, key: &str, default: &str, placeholders| match value {
                None => Ok(default.to_owned()),
                Some(value) => check_release_field(value.get_ref(), placeholders)
                    .map(|()| value.get_ref().clone())
                    .map_err(|why| err(value.span(), key, why)),
            };
        let origin = field(&self.origin, "origin", &defaults.origin, false)?;
        let label = field(&self.label, "label", &defaults.label, true)?;
        let duration = |value: &Option<Spanned<String>>, key: &str| {
            value
                .as_ref()
                .map(|value| {
                    parse_duration(value.get_ref()).map_err(|why| err(value.span(), key, why))
                })
                .transpose()
        };
        let valid_for = duration(&self.valid_for, "valid_for")?;
        if let (Some(0), Some(value)) = (valid_for, &self.valid_for) {
            return Err(err(
                value.span(),
                "valid_for",
                "must be longer than 0s (leave it out for no Valid-Until)".to_owned(),
            ));
        }
        let grace = duration(&self.grace, "grace")?.unwrap_or(defaults.grace);
        let signing_key = match &self.signing_key {
            Some(path) if path.get_ref().trim().is_empty() => {
                return Err(err(
                    path.span(),
                    "signing_key",
                    "is empty: name a key file".to_owned(),
                ));
            }
            Some(path) => Some(ConfiguredPath {
                path: PathBuf::from(source.resolve_path(path.get_ref())),
                line: source.line_of(path.span().start),
            }),
            None => None,
        };
        let min_free_percent = match &self.min_free_percent {
            None => defaults.min_free_percent,
            Some(value) if (0.0..=100.0).contains(value.get_ref()) => *value.get_ref(),
            Some(value) => {
                return Err(err(
                    value.span(),
                    "min_free_percent",
                    format!("{} is not a percentage between 0 and 100", value.get_ref()),
                ));
            }
        };
        Ok(AptSettings { origin, label, valid_for, grace, signing_key, min_free_percent })
    }
}

/// A value that goes into one `Release` field: non-empty, one line of printable
/// characters, no surrounding blanks (apt would strip them and every client would see a
/// changed field), at most 200 characters. With `placeholders`, `{prefix}` is the only
/// `{…}` allowed.
fn check_release_field(value: &str, placeholders: bool) -> Result<(), String> {
    if value.trim().is_empty() {
        return Err("is empty: a Release field needs a value".to_owned());
    }
    if let Some(bad) = value.chars().find(|c| c.is_control()) {
        return Err(format!(
            "contains the control character {bad:?}: a Release field is one line of printable text"
        ));
    }
    if value.trim() != value {
        return Err(format!("{value:?} starts or ends with blanks, which apt strips: remove them"));
    }
    if value.chars().count() > 200 {
        return Err("is longer than 200 characters".to_owned());
    }
    let rest = if placeholders { value.replace("{prefix}", "") } else { value.to_owned() };
    if rest.contains(['{', '}']) {
        let hint = if placeholders { " (only `{prefix}` is replaced)" } else { "" };
        return Err(format!("{value:?} contains `{{` or `}}`{hint}"));
    }
    Ok(())
}

/// `7d`, `12h`, `30m`, `3600s` (also `1h30m`): seconds. Units: `s`, `m`, `h`, `d`, `w`.
pub fn parse_duration(text: &str) -> Result<u64, String> {
    let invalid = |why: &str| {
        format!(
            "invalid duration {text:?}: {why} (write e.g. \"7d\", \"12h\", \"30m\" or \"3600s\")"
        )
    };
    let mut total: u64 = 0;
    let mut digits = String::new();
    let mut any = false;
    for c in text.trim().chars() {
        if c.is_ascii_digit() {
            digits.push(c);
            continue;
        }
        let unit: u64 = match c {
            's' => 1,
            'm' => 60,
            'h' => 3600,
            'd' => 86_400,
            'w' => 604_800,
            _ => return Err(invalid(&format!("unknown unit {c:?}"))),
        };
        if digits.is_empty() {
            return Err(invalid("a unit without a number"));
        }
        let n: u64 = digits.parse().map_err(|_| invalid("number too large"))?;
        total = n
            .checked_mul(unit)
            .and_then(|secs| total.checked_add(secs))
            .filter(|secs| *secs <= 100 * 365 * 86_400)
            .ok_or_else(|| invalid("longer than 100 years"))?;
        digits.clear();
        any = true;
    }
    if !digits.is_empty() {
        return Err(invalid("a number without a unit"));
    }
    if !any {
        return Err(invalid("empty"));
    }
    Ok(total)
}

/// `3600` → `1h`, `90` → `1m30s`: the shortest way [`parse_duration`] reads back.
#[must_use]
pub fn format_duration(mut secs: u64) -> String {
    if secs == 0 {
        return "0s".to_owned();
    }
    let mut out = String::new();
    for (unit, size) in [("d", 86_400), ("h", 3600), ("m", 60), ("s", 1)] {
        if secs >= size {
            let _ = write!(out, "{}{unit}", secs / size);
            secs %= size;
        }
    }
    out
}

/// What to do with a host key that is not yet in `known_hosts`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum KnownHostsPolicy {
    #[default]
    Strict,
    AcceptNew,
}

/// How Wharf reaches a node.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Transport {
    #[default]
    Ssh,
    /// Run commands on this machine with `sh -c` (demo fleets and tests).
    Local,
}

impl fmt::Display for Transport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Transport::Ssh => "ssh",
            Transport::Local => "local",
        })
    }
}

/// `[[nodes]]`: one entry describes one node or many (`names = "web[01-20]"`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeConfig {
    /// A node-set expression without groups: `web01`, `web[01-20]`, `db1,db2`.
    #[serde(alias = "name")]
    pub names: Spanned<String>,
    /// Address to connect to; `{name}` is replaced by the node's name. Default: the name.
    pub host: Option<String>,
    pub port: Option<u16>,
    pub user: Option<String>,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    #[serde(default)]
    pub transport: Transport,
    /// For `local` nodes: the node's root directory (`{name}` is replaced; relative to the
    /// configuration file's directory), exported to commands as `WHARF_NODE_ROOT`.
    pub root: Option<String>,
}

/// A `[groups]` value: a node-set expression or a list of them, with its place in the file.
pub type GroupConfig = Spanned<GroupValue>;

/// What a `[groups]` entry says.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum GroupValue {
    Expr(String),
    List(Vec<String>),
}

impl GroupValue {
    /// The group as one node-set expression (a list is a union).
    pub fn expression(&self) -> String {
        match self {
            GroupValue::Expr(expr) => expr.clone(),
            GroupValue::List(items) => items.join(","),
        }
    }
}

/// `[[environments]]`: a named set of nodes a version is deployed to.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnvironmentConfig {
    pub name: Spanned<String>,
    /// Node-set expression, groups allowed: `@canary`, `web[03-20]`.
    pub nodes: Spanned<String>,
    /// The environment a version must reach before this one (promotion order).
    pub after: Option<Spanned<String>>,
    #[serde(default)]
    pub production: bool,
    pub repository: Option<String>,
    #[serde(default)]
    pub packages: Vec<String>,
    /// Overrides `[commands]` for this environment.
    #[serde(default)]
    pub commands: CommandsConfig,
    /// The pipeline `wharf deploy` runs here (default `upgrade`) and the one `wharf
    /// rollback` runs (default `rollback`); `canary` enables `when = "canary-only"` stages.
    pub pipeline: Option<Spanned<String>>,
    pub rollback_pipeline: Option<Spanned<String>>,
    #[serde(default)]
    pub canary: bool,
}

/// `[[services]]`: what runs on nodes and how to restart it.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceConfig {
    pub name: Spanned<String>,
    pub kind: ServiceKind,
    #[serde(default)]
    pub units: Vec<String>,
    pub nodes: Spanned<String>,
    /// Lower tiers deploy first; services without a tier deploy with the fleet.
    pub tier: Option<u32>,
}

/// The three kinds of service our users run (seed `003_…`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ServiceKind {
    Worker,
    Rpc,
    JournalClient,
}

impl fmt::Display for ServiceKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ServiceKind::Worker => "worker",
            ServiceKind::Rpc => "rpc",
            ServiceKind::JournalClient => "journal-client",
        })
    }
}

/// A configuration file that could not be used, with where and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ConfigError {
    pub file: PathBuf,
    /// 1-based line, when the problem has a place in the file.
    pub line: Option<usize>,
    /// The key or name at fault, e.g. `nmaes` or `environments.gprd.after`.
    pub key: Option<String>,
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
        }
        if let Some(key) = &self.key {
            write!(f, ": key `{key}`")?;
        }
        write!(f, ": {}", self.message)
    }
}

/// The text of a configuration file and where it came from, for error positions.
#[derive(Debug, Clone)]
pub struct ConfigSource {
    pub file: PathBuf,
    pub text: String,
}

impl ConfigSource {
    pub fn new(file: impl Into<PathBuf>, text: impl Into<String>) -> Self {
        ConfigSource { file: file.into(), text: text.into() }
    }

    /// A path written in the file: relative paths are relative to the file's directory, so
    /// a configuration means the same thing whatever directory Wharf runs from.
    pub fn resolve_path(&self, path: &str) -> String {
        let base = self.file.parent().unwrap_or(Path::new(""));
        if Path::new(path).is_absolute() || base.as_os_str().is_empty() {
            path.to_owned()
        } else {
            base.join(path).display().to_string()
        }
    }

    /// The 1-based line number of a byte offset.
    pub fn line_of(&self, offset: usize) -> usize {
        let end = offset.min(self.text.len());
        self.text.as_bytes()[..end].iter().filter(|&&b| b == b'\n').count() + 1
    }

    /// An error at `span` (if known) about `key`.
    pub fn error(
        &self,
        span: Option<Range<usize>>,
        key: Option<&str>,
        message: impl Into<String>,
    ) -> ConfigError {
        ConfigError {
            file: self.file.clone(),
            line: span.map(|span| self.line_of(span.start)),
            key: key.map(str::to_owned),
            message: message.into(),
        }
    }

    /// Parse the text as a [`Config`].
    pub fn parse(&self) -> Result<Config, ConfigError> {
        let config = toml::from_str::<Config>(&self.text).map_err(|err| {
            let message = err.message().trim().to_owned();
            let key = first_backticked(&message);
            let hint = if message.starts_with("unknown field") {
                " (check the spelling; see docs/config.md for the keys Wharf knows)"
            } else {
                ""
            };
            self.error(err.span(), key.as_deref(), format!("{message}{hint}"))
        })?;
        // Values with a syntax of their own are checked here, so every command refuses them.
        config.apt.resolve(self)?;
        config.store.data_dir(self)?;
        config.check_commands(self)?;
        config.resolve_windows(self)?;
        Ok(config)
    }
}

impl Config {
    /// Parse `text`, naming `file` in errors.
    pub fn parse(file: &Path, text: &str) -> Result<Config, ConfigError> {
        ConfigSource::new(file, text).parse()
    }
}

// ---- [commands] ----------------------------------------------------------------------

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

    fn check_commands(&self, source: &ConfigSource) -> Result<(), ConfigError> {
        self.commands_for(None, source)?;
        for env in &self.environments {
            self.commands_for(Some(env.name.get_ref()), source)?;
        }
        Ok(())
    }
}

/// `unknown field `nmaes`, expected …` → `nmaes`.
fn first_backticked(message: &str) -> Option<String> {
    let start = message.find('`')? + 1;
    let len = message[start..].find('`')?;
    Some(message[start..start + len].to_owned())
}

// ---------------------------------------------------------------------------------------
// `[[pipelines]]`: the stages of a deploy, as written. `wharf-deploy` checks them against
// the inventory (unknown services, bad batch sizes, a `run` without `command`, …) and
// resolves them; this file only knows their shape.
// ---------------------------------------------------------------------------------------

/// `[[pipelines]]`: a named list of stages.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PipelineConfig {
    pub name: Spanned<String>,
    pub stages: Spanned<Vec<StageConfig>>,
}

/// One `[[pipelines.stages]]` table; which keys apply depends on `kind`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StageConfig {
    pub name: Spanned<String>,
    pub kind: Spanned<StageKind>,
    /// `run`: the command, run with `sh -c` on every node of the stage.
    pub command: Option<Spanned<String>>,
    /// `restart`: service names, kinds (`rpc`) or `tier:N`.
    pub services: Option<Spanned<Vec<String>>>,
    /// `http-check`: the URL, the expected status (default 200) and body substring, and
    /// the timeout (a duration, default 10s).
    pub url: Option<Spanned<String>>,
    pub expect_status: Option<Spanned<u16>>,
    pub expect_body: Option<Spanned<String>>,
    pub timeout: Option<Spanned<String>>,
    /// `wait`: how long, e.g. `"5m"`.
    pub duration: Option<Spanned<String>>,
    /// Node-set expression, intersected with the environment's nodes. Default: all of them.
    pub nodes: Option<Spanned<String>>,
    /// Nodes per batch: a count (`5`, `"5"`) or a percentage (`"25%"`). Default: all.
    pub batch: Option<Spanned<AmountValue>>,
    /// Failed nodes the stage tolerates: a count or a percentage. Default 0.
    pub max_failures: Option<Spanned<AmountValue>>,
    #[serde(default)]
    pub when: StageWhen,
    /// Once this stage ran, rolling back past this deploy needs `--force REASON`.
    #[serde(default)]
    pub point_of_no_return: bool,
}

/// What a stage does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum StageKind {
    Check,
    Run,
    Install,
    Restart,
    HttpCheck,
    Wait,
    Manual,
}

impl fmt::Display for StageKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            StageKind::Check => "check",
            StageKind::Run => "run",
            StageKind::Install => "install",
            StageKind::Restart => "restart",
            StageKind::HttpCheck => "http-check",
            StageKind::Wait => "wait",
            StageKind::Manual => "manual",
        })
    }
}

/// When a stage runs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum StageWhen {
    #[default]
    Always,
    /// Only in environments with `canary = true`; skipped elsewhere.
    CanaryOnly,
    /// Waits for an operator to continue it.
    Manual,
}

/// A count or a percentage as written: `5` or `"5"` or `"25%"`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub enum AmountValue {
    Count(i64),
    Text(String),
}

impl fmt::Display for AmountValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AmountValue::Count(n) => write!(f, "{n}"),
            AmountValue::Text(text) => f.write_str(text),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_err(text: &str) -> ConfigError {
        Config::parse(Path::new("wharf.toml"), text).expect_err("config should be rejected")
    }

    #[test]
    fn empty_config_is_valid_and_defaulted() {
        let config = Config::parse(Path::new("wharf.toml"), "").unwrap();
        assert_eq!(config.server.listen, "127.0.0.1:8440");
        assert_eq!(config.ssh.known_hosts, KnownHostsPolicy::Strict);
        assert!(config.nodes.is_empty());
    }

    #[test]
    fn unknown_key_names_key_and_line() {
        let err = parse_err("[server]\nlisten = \"127.0.0.1:1\"\n\n[[nodes]]\nnmaes = \"web01\"\n");
        assert_eq!(err.line, Some(5), "{err}");
        assert_eq!(err.key.as_deref(), Some("nmaes"), "{err}");
        assert!(err.to_string().starts_with("wharf.toml:5: key `nmaes`: unknown field"), "{err}");
    }

    #[test]
    fn wrong_type_names_line() {
        let err = parse_err("[[nodes]]\nnames = \"a\"\nport = \"twenty-two\"\n");
        assert_eq!(err.line, Some(3), "{err}");
    }

    #[test]
    fn unknown_service_kind_is_rejected() {
        let err = parse_err("[[services]]\nname = \"x\"\nkind = \"daemon\"\nnodes = \"a\"\n");
        assert_eq!(err.line, Some(3), "{err}");
        assert!(err.message.contains("daemon"), "{err}");
    }

    #[test]
    fn relative_paths_resolve_against_the_config_file() {
        let source = ConfigSource::new("/etc/wharf/wharf.toml", "");
        assert_eq!(source.resolve_path("nodes/web01"), "/etc/wharf/nodes/web01");
        assert_eq!(source.resolve_path("/srv/web01"), "/srv/web01");
        assert_eq!(ConfigSource::new("wharf.toml", "").resolve_path("nodes/a"), "nodes/a");
    }

    #[test]
    fn store_data_resolves_against_the_config_file() {
        let data = |file: &str, text: &str| {
            let source = ConfigSource::new(file, text);
            source.parse()?.store.data_dir(&source)
        };
        assert_eq!(data("/etc/wharf/wharf.toml", ""), Ok(None));
        assert_eq!(
            data("/etc/wharf/wharf.toml", "[store]\ndata = \"/var/lib/wharf\"\n"),
            Ok(Some(PathBuf::from("/var/lib/wharf")))
        );
        assert_eq!(
            data("/etc/wharf/wharf.toml", "[store]\ndata = \"state\"\n"),
            Ok(Some(PathBuf::from("/etc/wharf/state")))
        );
        assert_eq!(data("wharf.toml", "[store]\ndata = \"state\"\n"), Ok(Some("state".into())));
        let err = data("wharf.toml", "[store]\ndatabase = \"x.db\"\ndata = \" \"\n").unwrap_err();
        assert_eq!((err.line, err.key.as_deref()), (Some(3), Some("store.data")), "{err}");
    }

    #[test]
    fn groups_accept_expressions_and_lists() {
        let config = Config::parse(
            Path::new("wharf.toml"),
            "[groups]\nweb = \"web[01-02]\"\nall = [\"@web\", \"db1\"]\n",
        )
        .unwrap();
        let exprs: Vec<_> =
            config.groups.values().map(|group| group.get_ref().expression()).collect();
        assert_eq!(exprs, ["@web,db1", "web[01-02]"]);
    }

    fn apt(text: &str) -> Result<AptSettings, ConfigError> {
        let source = ConfigSource::new("/etc/wharf/wharf.toml", text);
        source.parse()?.apt.resolve(&source)
    }

    #[test]
    fn apt_defaults() {
        let settings = apt("").unwrap();
        assert_eq!(settings, AptSettings::default());
        assert_eq!(settings.origin, "Wharf");
        assert_eq!(settings.label("tools"), "Wharf tools");
        assert_eq!(settings.grace, 3600);
        assert_eq!(settings.valid_for, None);
        assert_eq!(settings.signing_key, None);
        assert!((settings.min_free_percent - 10.0).abs() < f64::EPSILON);
    }

    #[test]
    fn apt_values_are_parsed_and_paths_resolved() {
        let settings = apt(
            "[apt]\norigin = \"ACME\"\nlabel = \"ACME {prefix} repo\"\nvalid_for = \"7d\"\ngrace = \"90s\"\nsigning_key = \"keys/repo.asc\"\nmin_free_percent = 5\n",
        )
        .unwrap();
        assert_eq!(settings.origin, "ACME");
        assert_eq!(settings.label("bookworm-tools"), "ACME bookworm-tools repo");
        assert_eq!(settings.valid_for, Some(7 * 86_400));
        assert_eq!(settings.grace, 90);
        let key = settings.signing_key.unwrap();
        assert_eq!(key.path, Path::new("/etc/wharf/keys/repo.asc"));
        assert_eq!(key.line, 6);
        assert!((settings.min_free_percent - 5.0).abs() < f64::EPSILON);
        let fractional = apt("[apt]\nmin_free_percent = 2.5\n").unwrap();
        assert!((fractional.min_free_percent - 2.5).abs() < f64::EPSILON);
    }

    #[test]
    fn durations() {
        for (text, secs) in [
            ("7d", 604_800),
            ("12h", 43_200),
            ("30m", 1800),
            ("3600s", 3600),
            ("1h30m", 5400),
            ("2w", 1_209_600),
            ("0s", 0),
        ] {
            assert_eq!(parse_duration(text), Ok(secs), "{text}");
            assert_eq!(parse_duration(&format_duration(secs)), Ok(secs), "{text}");
        }
        for bad in ["", "7", "d", "7x", "1.5h", "-1h", "7 d", "99999999999999999999s", "40000d"] {
            assert!(parse_duration(bad).is_err(), "{bad:?} accepted");
        }
        assert_eq!(format_duration(5400), "1h30m");
    }

    #[test]
    fn bad_apt_values_name_file_line_and_key() {
        let cases = [
            ("[apt]\nvalid_for = \"7x\"\n", 2, "apt.valid_for", "unknown unit"),
            ("[apt]\norigin = \"a\"\ngrace = \"soon\"\n", 3, "apt.grace", "invalid duration"),
            ("[apt]\nvalid_for = \"0s\"\n", 2, "apt.valid_for", "longer than 0s"),
            ("[apt]\norigin = \"\"\n", 2, "apt.origin", "empty"),
            ("[apt]\norigin = \"a\\nSuite: evil\"\n", 2, "apt.origin", "control character"),
            ("[apt]\nlabel = \" Wharf\"\n", 2, "apt.label", "blanks"),
            ("[apt]\nlabel = \"Wharf {prefx}\"\n", 2, "apt.label", "only `{prefix}`"),
            ("[apt]\norigin = \"{prefix}\"\n", 2, "apt.origin", "contains `{`"),
            ("[apt]\nmin_free_percent = 150\n", 2, "apt.min_free_percent", "between 0 and 100"),
            ("[apt]\nsigning_key = \"\"\n", 2, "apt.signing_key", "empty"),
        ];
        for (text, line, key, message) in cases {
            let err = apt(text).expect_err(text);
            assert_eq!((err.line, err.key.as_deref()), (Some(line), Some(key)), "{err}");
            assert!(err.message.contains(message), "{text}: {err}");
            assert!(
                err.to_string().starts_with(&format!("/etc/wharf/wharf.toml:{line}: key `{key}`")),
                "{err}"
            );
        }
    }

    #[test]
    fn unknown_apt_key_names_key_and_line() {
        let err = apt("[apt]\norigin = \"x\"\nvalid_until = \"7d\"\n").unwrap_err();
        assert_eq!((err.line, err.key.as_deref()), (Some(3), Some("valid_until")), "{err}");
        assert!(err.message.contains("valid_for"), "lists the known keys: {err}");
        let err = apt("[apt]\nmin_free_percent = \"ten\"\n").unwrap_err();
        assert_eq!(err.line, Some(2), "{err}");
    }

    #[test]
    fn pipelines_parse_with_their_stages() {
        let config = Config::parse(
            Path::new("wharf.toml"),
            "[[pipelines]]\nname = \"upgrade\"\n\n[[pipelines.stages]]\nname = \"prepare\"\nkind = \"check\"\n\n[[pipelines.stages]]\nname = \"web\"\nkind = \"install\"\nbatch = \"25%\"\nmax_failures = 1\nwhen = \"canary-only\"\npoint_of_no_return = true\n",
        )
        .unwrap();
        let stages = config.pipelines[0].stages.get_ref();
        assert_eq!(stages.len(), 2);
        assert_eq!(*stages[1].kind.get_ref(), StageKind::Install);
        assert_eq!(stages[1].batch.as_ref().unwrap().get_ref(), &AmountValue::Text("25%".into()));
        assert_eq!(stages[1].max_failures.as_ref().unwrap().get_ref(), &AmountValue::Count(1));
        assert_eq!(stages[1].when, StageWhen::CanaryOnly);
        assert!(stages[1].point_of_no_return && !stages[0].point_of_no_return);
        assert_eq!(stages[0].when, StageWhen::Always);
    }

    #[test]
    fn bad_stage_keys_name_the_line() {
        for (text, line) in [
            (
                "[[pipelines]]\nname = \"p\"\n[[pipelines.stages]]\nname = \"s\"\nkind = \"deploy\"\n",
                5,
            ),
            (
                "[[pipelines]]\nname = \"p\"\n[[pipelines.stages]]\nname = \"s\"\nkind = \"run\"\ncomand = \"x\"\n",
                6,
            ),
            (
                "[[pipelines]]\nname = \"p\"\n[[pipelines.stages]]\nname = \"s\"\nkind = \"run\"\nwhen = \"sometimes\"\n",
                6,
            ),
        ] {
            assert_eq!(parse_err(text).line, Some(line), "{text}");
        }
    }
}

// ---------------------------------------------------------------------------------------
// `[[windows]]`: change-lock windows (issue 10). Kept in one block: [`WindowConfig`] as
// written, [`WindowConfig::resolve`] into [`WindowSettings`], and their tests.

/// `[[windows]]`: a change-lock window, a time when deploys are refused. One of three forms:
/// `start` + `end` (cron expressions), `start` + `duration`, or `from` + `until` (one-off
/// dates). [`WindowConfig::resolve`] checks it.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WindowConfig {
    pub name: Spanned<String>,
    /// Five-field cron expression, in wall-clock time of `timezone`: when the window opens.
    pub start: Option<Spanned<String>>,
    /// Cron expression: the first match after an opening closes the window.
    pub end: Option<Spanned<String>>,
    /// How long the window stays open after `start` (`2h`, `1d12h`).
    pub duration: Option<Spanned<String>>,
    /// RFC 3339 date-time: with an offset (`Z`, `+02:00`) an instant, without one a
    /// wall-clock time in `timezone`.
    pub from: Option<Spanned<String>>,
    pub until: Option<Spanned<String>>,
    /// IANA time zone name. Default `UTC`.
    pub timezone: Option<Spanned<String>>,
    /// Environment names the window applies to; absent or `"*"`: all.
    pub environments: Option<Spanned<Vec<String>>>,
    #[serde(default)]
    pub applies_to: AppliesTo,
    /// Shown when the window refuses a deploy.
    pub reason: Option<String>,
}

/// Which deploys a window refuses.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum AppliesTo {
    /// Only deploys nobody started by hand (the scheduler's, promotions).
    #[default]
    Automated,
    /// Every deploy.
    All,
}

/// When a window is open, as checked by [`WindowConfig::resolve`].
#[derive(Debug, Clone, PartialEq)]
pub enum WindowSchedule {
    /// Open from each `start` match until the next `end` match.
    Cron { start: crate::cron::Cron, end: crate::cron::Cron },
    /// Open from each `start` match for `seconds`.
    CronFor { start: crate::cron::Cron, seconds: u64 },
    /// Open once, `from` (inclusive) to `until` (exclusive).
    Dated { from: jiff::Timestamp, until: jiff::Timestamp },
}

/// A `[[windows]]` entry checked, with its defaults applied.
#[derive(Debug, Clone, PartialEq)]
pub struct WindowSettings {
    pub name: String,
    pub schedule: WindowSchedule,
    pub timezone: jiff::tz::TimeZone,
    /// `None`: every environment.
    pub environments: Option<Vec<String>>,
    pub applies_to: AppliesTo,
    pub reason: Option<String>,
    /// The line of `name`, for messages that point back at the file.
    pub line: usize,
}

impl WindowConfig {
    /// Check every value and apply the defaults; errors name the line and
    /// `windows.NAME.KEY`.
    pub fn resolve(&self, source: &ConfigSource) -> Result<WindowSettings, ConfigError> {
        let name = self.name.get_ref();
        let err = |span: Range<usize>, key: &str, message: String| {
            source.error(Some(span), Some(&format!("windows.{name}.{key}")), message)
        };
        if name.trim().is_empty() {
            return Err(err(self.name.span(), "name", "is empty: name the window".to_owned()));
        }
        let timezone = match &self.timezone {
            None => jiff::tz::TimeZone::UTC,
            Some(zone) => jiff::tz::TimeZone::get(zone.get_ref()).map_err(|why| {
                err(
                    zone.span(),
                    "timezone",
                    format!(
                        "unknown time zone {:?} (write an IANA name such as \"Europe/Amsterdam\"; \
                         the system tz database, Debian's `tzdata`, must know it): {why}",
                        zone.get_ref()
                    ),
                )
            })?,
        };
        let cron = |value: &Spanned<String>, key: &str| {
            value.get_ref().parse::<crate::cron::Cron>().map_err(|why| err(value.span(), key, why))
        };
        let instant = |value: &Spanned<String>, key: &str| {
            let text = value.get_ref();
            if let Ok(at) = text.parse::<jiff::Timestamp>() {
                return Ok(at);
            }
            text.parse::<jiff::civil::DateTime>()
                .map_err(|why| why.to_string())
                .and_then(|dt| {
                    crate::cron::wall_clock_instant(&timezone, dt).map_err(|why| why.to_string())
                })
                .map_err(|why| {
                    err(
                        value.span(),
                        key,
                        format!(
                            "invalid date-time {text:?}: {why} (write RFC 3339, e.g. \
                             \"2026-12-20T00:00:00Z\", or without an offset for wall-clock \
                             time in the window's timezone)"
                        ),
                    )
                })
        };
        let mix = |value: &Option<Spanned<String>>, key: &str, form: &str| match value {
            Some(value) => Err(err(value.span(), key, format!("cannot be used with {form}"))),
            None => Ok(()),
        };
        let schedule = match (&self.start, &self.from) {
            (Some(start), None) => {
                mix(&self.until, "until", "`start` (a dated window is `from` + `until`)")?;
                match (&self.end, &self.duration) {
                    (Some(end), None) => WindowSchedule::Cron {
                        start: cron(start, "start")?,
                        end: cron(end, "end")?,
                    },
                    (None, Some(duration)) => {
                        let seconds = parse_duration(duration.get_ref())
                            .map_err(|why| err(duration.span(), "duration", why))?;
                        if seconds == 0 {
                            let why = "must be longer than 0s".to_owned();
                            return Err(err(duration.span(), "duration", why));
                        }
                        WindowSchedule::CronFor { start: cron(start, "start")?, seconds }
                    }
                    (Some(_), Some(duration)) => {
                        let why = "cannot be used with `end`: choose one".to_owned();
                        return Err(err(duration.span(), "duration", why));
                    }
                    (None, None) => {
                        let why = "needs `end` (a cron expression) or `duration`".to_owned();
                        return Err(err(start.span(), "start", why));
                    }
                }
            }
            (None, Some(from)) => {
                mix(&self.end, "end", "`from` (a cron window is `start` + `end`)")?;
                mix(&self.duration, "duration", "`from` (a dated window ends at `until`)")?;
                let Some(until) = &self.until else {
                    return Err(err(from.span(), "from", "needs `until`".to_owned()));
                };
                let (from_at, until_at) = (instant(from, "from")?, instant(until, "until")?);
                if until_at <= from_at {
                    let why = format!("{until_at} is not after `from` ({from_at})");
                    return Err(err(until.span(), "until", why));
                }
                WindowSchedule::Dated { from: from_at, until: until_at }
            }
            (Some(_), Some(from)) => {
                let why = "cannot be used with `start`: a window is either cron (`start`) \
                           or dated (`from` + `until`)";
                return Err(err(from.span(), "from", why.to_owned()));
            }
            (None, None) => {
                let why = "needs `start` + `end`, `start` + `duration`, or `from` + `until`";
                return Err(err(self.name.span(), "name", why.to_owned()));
            }
        };
        let environments = match &self.environments {
            None => None,
            Some(list) if list.get_ref().iter().any(|env| env == "*") => None,
            Some(list) if list.get_ref().is_empty() => {
                let why = "is empty: name environments, or leave it out for all".to_owned();
                return Err(err(list.span(), "environments", why));
            }
            Some(list) => Some(list.get_ref().clone()),
        };
        Ok(WindowSettings {
            name: name.clone(),
            schedule,
            timezone,
            environments,
            applies_to: self.applies_to,
            reason: self.reason.clone(),
            line: source.line_of(self.name.span().start),
        })
    }
}

impl Config {
    /// Every `[[windows]]` entry resolved; window names are unique and name environments
    /// that exist.
    pub fn resolve_windows(
        &self,
        source: &ConfigSource,
    ) -> Result<Vec<WindowSettings>, ConfigError> {
        let mut seen = std::collections::BTreeSet::new();
        let mut windows = Vec::with_capacity(self.windows.len());
        for window in &self.windows {
            let settings = window.resolve(source)?;
            if !seen.insert(settings.name.clone()) {
                let key = format!("windows.{}", settings.name);
                let why = "is defined twice: window names must be unique";
                return Err(source.error(Some(window.name.span()), Some(&key), why));
            }
            let known = |env: &String| self.environments.iter().any(|e| e.name.get_ref() == env);
            if let (Some(envs), Some(span)) = (&settings.environments, &window.environments)
                && let Some(unknown) = envs.iter().find(|env| !known(env))
            {
                let key = format!("windows.{}.environments", settings.name);
                let why = format!("no [[environments]] entry is named {unknown:?}");
                return Err(source.error(Some(span.span()), Some(&key), why));
            }
            windows.push(settings);
        }
        Ok(windows)
    }
}

#[cfg(test)]
mod window_tests {
    use super::*;

    /// `Ok(check)` runs `check` on the one resolved window; `Err((line, key, part))` is the
    /// expected error.
    /// What a window check expects: a check of the resolved window, or an error's line,
    /// key and part of its message.
    type Expect<'a> = Result<fn(&WindowSettings), (usize, &'a str, &'a str)>;

    fn check(text: &str, expect: Expect<'_>) {
        let source = ConfigSource::new("/etc/wharf/wharf.toml", text);
        let got = source.parse().and_then(|config| config.resolve_windows(&source));
        match (got, expect) {
            (Ok(windows), Ok(check)) => check(&windows[0]),
            (Err(err), Err((line, key, part))) => {
                assert_eq!((err.line, err.key.as_deref()), (Some(line), Some(key)), "{err}");
                assert!(err.message.contains(part), "{text}: {err} lacks {part:?}");
                let prefix = format!("/etc/wharf/wharf.toml:{line}: key `{key}`");
                assert!(err.to_string().starts_with(&prefix), "{err}");
            }
            (got, _) => panic!("{text}: unexpected {got:?}"),
        }
    }

    const ENVS: &str = "[[environments]]\nname = \"production\"\nnodes = \"a\"\n";

    #[test]
    fn windows_resolve() {
        check(
            "[[windows]]\nname = \"weekend\"\nstart = \"0 23 * * fri\"\nend = \"0 7 * * mon\"\ntimezone = \"Europe/Amsterdam\"\nreason = \"weekend\"\n",
            Ok(|w| {
                assert_eq!(w.name, "weekend");
                assert_eq!(w.line, 2);
                assert!(
                    matches!(&w.schedule, WindowSchedule::Cron { start, .. } if start.to_string() == "0 23 * * fri")
                );
                assert_eq!(w.timezone.iana_name(), Some("Europe/Amsterdam"));
                assert_eq!((w.environments.as_ref(), w.applies_to), (None, AppliesTo::Automated));
                assert_eq!(w.reason.as_deref(), Some("weekend"));
            }),
        );
        check(
            "[[windows]]\nname = \"nightly\"\nstart = \"0 22 * * *\"\nduration = \"9h\"\napplies_to = \"all\"\nenvironments = [\"*\"]\n",
            Ok(|w| {
                assert!(matches!(w.schedule, WindowSchedule::CronFor { seconds: 32_400, .. }));
                assert_eq!(w.timezone, jiff::tz::TimeZone::UTC);
                assert_eq!((w.environments.as_ref(), w.applies_to), (None, AppliesTo::All));
            }),
        );
        check(
            "[[windows]]\nname = \"year-end\"\nfrom = \"2026-12-20T00:00:00Z\"\nuntil = \"2027-01-04T00:00:00+01:00\"\n",
            Ok(|w| {
                let WindowSchedule::Dated { from, until } = w.schedule else { panic!() };
                assert_eq!(from.to_string(), "2026-12-20T00:00:00Z");
                assert_eq!(until.to_string(), "2027-01-03T23:00:00Z");
            }),
        );
        check(
            &format!(
                "{ENVS}[[windows]]\nname = \"eve\"\nfrom = \"2026-12-24T18:00:00\"\nuntil = \"2026-12-27\"\ntimezone = \"Europe/Amsterdam\"\nenvironments = [\"production\"]\n"
            ),
            Ok(|w| {
                let WindowSchedule::Dated { from, until } = w.schedule else { panic!() };
                assert_eq!(from.to_string(), "2026-12-24T17:00:00Z", "local time in the zone");
                assert_eq!(until.to_string(), "2026-12-26T23:00:00Z");
                assert_eq!(w.environments, Some(vec!["production".to_owned()]));
            }),
        );
    }

    #[test]
    fn bad_windows_name_file_line_and_key() {
        let w = "[[windows]]\nname = \"w\"\n";
        let cases: &[(String, usize, &str, &str)] = &[
            (format!("{w}strat = \"0 0 * * *\"\n"), 3, "strat", "unknown field `strat`"),
            (
                format!(
                    "{w}start = \"0 0 * * *\"\nend = \"0 1 * * *\"\ntimezone = \"Europe/Amsterdan\"\n"
                ),
                5,
                "windows.w.timezone",
                "unknown time zone \"Europe/Amsterdan\"",
            ),
            (
                format!("{w}start = \"0 0 * *\"\nend = \"0 1 * * *\"\n"),
                3,
                "windows.w.start",
                "expected 5 fields",
            ),
            (
                format!("{w}start = \"0 0 * * *\"\nend = \"0 0 31 2 *\"\n"),
                4,
                "windows.w.end",
                "can never match",
            ),
            (
                format!("{w}start = \"0 0 * * *\"\nend = \"0 1 * * *\"\nduration = \"1h\"\n"),
                5,
                "windows.w.duration",
                "cannot be used with `end`",
            ),
            (format!("{w}start = \"0 0 * * *\"\n"), 3, "windows.w.start", "needs `end`"),
            (
                format!("{w}start = \"0 0 * * *\"\nduration = \"2x\"\n"),
                4,
                "windows.w.duration",
                "invalid duration",
            ),
            (
                format!("{w}start = \"0 0 * * *\"\nduration = \"0s\"\n"),
                4,
                "windows.w.duration",
                "longer than 0s",
            ),
            (
                format!("{w}start = \"0 0 * * *\"\nfrom = \"2026-12-20T00:00:00Z\"\n"),
                4,
                "windows.w.from",
                "cannot be used with `start`",
            ),
            (format!("{w}from = \"2026-12-20T00:00:00Z\"\n"), 3, "windows.w.from", "needs `until`"),
            (
                format!("{w}from = \"2026-12-20T00:00:00Z\"\nuntil = \"2026-12-32\"\n"),
                4,
                "windows.w.until",
                "invalid date-time \"2026-12-32\"",
            ),
            (
                format!("{w}from = \"2026-12-20T00:00:00Z\"\nuntil = \"2026-12-19T00:00:00Z\"\n"),
                4,
                "windows.w.until",
                "is not after `from`",
            ),
            (
                format!("{w}from = \"2026-12-20\"\nuntil = \"2026-12-21\"\nend = \"0 0 * * *\"\n"),
                5,
                "windows.w.end",
                "cannot be used with `from`",
            ),
            (w.to_owned(), 2, "windows.w.name", "needs `start` + `end`"),
            (
                format!(
                    "{w}from = \"2026-12-20\"\nuntil = \"2026-12-21\"\napplies_to = \"some\"\n"
                ),
                5,
                "some",
                "unknown variant `some`, expected `automated` or `all`",
            ),
            (
                format!("{w}from = \"2026-12-20\"\nuntil = \"2026-12-21\"\nenvironments = []\n"),
                5,
                "windows.w.environments",
                "is empty",
            ),
            (
                format!(
                    "{w}from = \"2026-12-20\"\nuntil = \"2026-12-21\"\nenvironments = [\"prod\"]\n"
                ),
                5,
                "windows.w.environments",
                "no [[environments]] entry is named \"prod\"",
            ),
            (
                format!(
                    "{w}from = \"2026-12-20\"\nuntil = \"2026-12-21\"\n\n{w}from = \"2026-12-20\"\nuntil = \"2026-12-21\"\n"
                ),
                7,
                "windows.w",
                "defined twice",
            ),
        ];
        for (text, line, key, part) in cases {
            check(text, Err((*line, key, part)));
        }
    }
}
