//! The `wharf.toml` schema and its parser.
//!
//! Parsing is strict: an unknown key, a wrong type, a duplicate name or a reference to
//! something that does not exist is a [`ConfigError`] that names the file, the line and the
//! key, so an operator can fix the file without guessing. Defaults live here and only here.
//! Cross-references (groups, environments, services) are checked when the
//! [`Inventory`](crate::inventory::Inventory) is built from a [`Config`].

mod apt;
mod chatops;
mod checks;
mod commands;
mod notify;
mod pipelines;
mod repositories;
mod schedules;
mod windows;

use std::collections::BTreeMap;
use std::fmt::{self, Write as _};
use std::ops::Range;
use std::path::{Path, PathBuf};

use serde::Deserialize;
/// Re-exported so crates that read the raw configuration name the same type.
pub use toml::Spanned;

pub use apt::{AptConfig, AptSettings, ConfiguredPath};
pub use chatops::{ChatUser, ChatopsConfig, MattermostConfig, Role, SecretSource, SlackConfig};
pub use checks::{
    CheckConfig, CheckKind, CheckSettings, CheckSpec, ENVIRONMENT_PLACEHOLDER, HaproxyStats,
};
pub use commands::CommandsConfig;
pub use notify::{NotifyConfig, NotifyKind, NotifySettings, UrlSource, glob_matches};
pub use pipelines::{AmountValue, PipelineConfig, StageConfig, StageKind, StageWhen};
pub use repositories::{
    DeclaredRepository, DeclaredSnapshotPolicy, RepositoryConfig, SnapshotPolicyConfig,
    snapshot_name,
};
pub use schedules::{ScheduleAction, ScheduleConfig, ScheduleSettings, ScheduledDeploy};
pub use windows::{AppliesTo, WindowConfig, WindowSchedule, WindowSettings};

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
    #[serde(default)]
    pub checks: Vec<CheckConfig>,
    #[serde(default)]
    pub chatops: ChatopsConfig,
    #[serde(default)]
    pub schedules: Vec<ScheduleConfig>,
    #[serde(default)]
    pub notify: Vec<NotifyConfig>,
    #[serde(default)]
    pub repositories: Vec<RepositoryConfig>,
}

/// `[server]`: where `wharf server` listens and how nodes reach it.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerConfig {
    #[serde(default = "ServerConfig::default_listen")]
    pub listen: String,
    /// How nodes reach this server's `/apt/…` trees, e.g. `http://wharf.internal:8440`.
    pub public_url: Option<String>,
    /// On SIGTERM, how long running deploys may take to finish before they are stopped
    /// and recorded `interrupted` (`wharf resume` continues them). Default `5m`.
    pub drain_timeout: Option<Spanned<String>>,
    /// The environment variable holding the token `/metrics` requires
    /// (`Authorization: Bearer TOKEN`). Absent: `/metrics` is public.
    pub metrics_token_env: Option<String>,
}

impl ServerConfig {
    /// The default listen address, `127.0.0.1:8440`.
    pub const DEFAULT_LISTEN: &'static str = "127.0.0.1:8440";
    /// Default `drain_timeout`, in seconds.
    pub const DEFAULT_DRAIN_SECONDS: u64 = 300;

    /// `drain_timeout` in seconds, checked.
    pub fn drain_seconds(&self, source: &ConfigSource) -> Result<u64, ConfigError> {
        match &self.drain_timeout {
            None => Ok(Self::DEFAULT_DRAIN_SECONDS),
            Some(text) => parse_duration(text.get_ref())
                .map_err(|why| source.error(Some(text.span()), Some("server.drain_timeout"), why)),
        }
    }

    fn default_listen() -> String {
        Self::DEFAULT_LISTEN.to_owned()
    }
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            listen: Self::default_listen(),
            public_url: None,
            drain_timeout: None,
            metrics_token_env: None,
        }
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
        config.resolve_checks(self)?;
        config.slack_secret(self)?;
        config.mattermost_token(self)?;
        config.server.drain_seconds(self)?;
        config.resolve_schedules(self)?;
        config.resolve_notify(self)?;
        config.resolve_repositories(self)?;
        Ok(config)
    }
}

impl Config {
    /// Parse `text`, naming `file` in errors.
    pub fn parse(file: &Path, text: &str) -> Result<Config, ConfigError> {
        ConfigSource::new(file, text).parse()
    }

    /// The `environments` list of a `[[windows]]` or `[[checks]]` entry: `None` (every
    /// environment) when absent or `["*"]`; an empty list, or a name no `[[environments]]`
    /// entry has, is an error at `key`.
    pub(super) fn environment_list(
        &self,
        source: &ConfigSource,
        list: Option<&Spanned<Vec<String>>>,
        key: &str,
    ) -> Result<Option<Vec<String>>, ConfigError> {
        let Some(list) = list else { return Ok(None) };
        let names = list.get_ref();
        if names.iter().any(|env| env == "*") {
            return Ok(None);
        }
        let fail = |why: String| source.error(Some(list.span()), Some(key), why);
        if names.is_empty() {
            return Err(fail("is empty: name environments, or leave it out for all".to_owned()));
        }
        let known = |env: &String| self.environments.iter().any(|e| e.name.get_ref() == env);
        if let Some(unknown) = names.iter().find(|env| !known(env)) {
            return Err(fail(format!("no [[environments]] entry is named {unknown:?}")));
        }
        Ok(Some(names.clone()))
    }
}

/// `unknown field `nmaes`, expected …` → `nmaes`.
fn first_backticked(message: &str) -> Option<String> {
    let start = message.find('`')? + 1;
    let len = message[start..].find('`')?;
    Some(message[start..start + len].to_owned())
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
}
