//! `[[checks]]`: the configured prepare checks (issue 10) — `haproxy`, `alertmanager`,
//! `http` and `command` — as written ([`CheckConfig`]) and checked ([`CheckSettings`], from
//! [`Config::resolve_checks`]). Running them is `wharf_app::checks`.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::ops::Range;
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use super::{Config, ConfigError, ConfigSource, Spanned, parse_duration};

/// The placeholder an `alertmanager` matcher value may contain.
pub const ENVIRONMENT_PLACEHOLDER: &str = "{environment}";

/// `[[checks]]`: one configured prepare check. Which keys it takes depends on `kind`; a key
/// of another kind is an error naming it ([`Config::resolve_checks`]).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CheckConfig {
    pub name: Spanned<String>,
    pub kind: Spanned<CheckKind>,
    /// Environment names the check applies to; absent or `"*"`: all.
    pub environments: Option<Spanned<Vec<String>>>,
    /// Only environments with `production = true`; `--ignore-production-checks` lifts it.
    #[serde(default)]
    pub production_only: bool,
    /// How long one attempt may take (`http`: how long to keep polling).
    pub timeout: Option<Spanned<String>>,
    /// `haproxy`: a stats CSV URL or `unix:/path/to/stats.sock`.
    pub stats: Option<Spanned<String>>,
    /// `haproxy`: only these backends (`pxname`).
    pub backends: Option<Spanned<Vec<String>>>,
    /// `alertmanager`: the base URL; `http`: the URL to poll.
    pub url: Option<Spanned<String>>,
    /// `alertmanager`: label = value; `{environment}` in a value is the environment's name.
    pub matchers: Option<Spanned<BTreeMap<String, String>>>,
    /// `alertmanager`: alert severities that fail the check (default `["critical"]`).
    pub severities: Option<Spanned<Vec<String>>>,
    /// `http`: the status to wait for (default 200).
    pub expect_status: Option<Spanned<u16>>,
    /// `http`: a substring the body must contain.
    pub expect_body: Option<Spanned<String>>,
    /// `command`: run on the Wharf host with `sh -c`.
    pub command: Option<Spanned<String>>,
}

/// What a check asks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum CheckKind {
    /// Every server of the environment's nodes is UP in HAProxy's stats.
    Haproxy,
    /// No active, unsilenced alert matches (Alertmanager API v2).
    Alertmanager,
    /// A URL answers with a status (and a body substring) before a timeout.
    Http,
    /// A command on the Wharf host exits 0.
    Command,
}

impl CheckKind {
    /// The name written in `kind`.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            CheckKind::Haproxy => "haproxy",
            CheckKind::Alertmanager => "alertmanager",
            CheckKind::Http => "http",
            CheckKind::Command => "command",
        }
    }

    /// The keys of this kind, besides the ones every check has.
    fn keys(self) -> &'static [&'static str] {
        match self {
            CheckKind::Haproxy => &["stats", "backends"],
            CheckKind::Alertmanager => &["url", "matchers", "severities"],
            CheckKind::Http => &["url", "expect_status", "expect_body"],
            CheckKind::Command => &["command"],
        }
    }

    /// `timeout` when the file sets none.
    fn default_timeout(self) -> Duration {
        Duration::from_secs(match self {
            CheckKind::Command => 60,
            _ => 10,
        })
    }
}

impl fmt::Display for CheckKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where HAProxy's statistics are read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HaproxyStats {
    /// `GET` this URL (`…/stats;csv`).
    Url(String),
    /// Send `show stat` to this stats socket.
    Socket(PathBuf),
}

/// A check's kind with its values, defaults applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CheckSpec {
    Haproxy { stats: HaproxyStats, backends: Vec<String> },
    Alertmanager { url: String, matchers: BTreeMap<String, String>, severities: Vec<String> },
    Http { url: String, expect_status: u16, expect_body: Option<String> },
    Command { command: String },
}

impl CheckSpec {
    #[must_use]
    pub fn kind(&self) -> CheckKind {
        match self {
            CheckSpec::Haproxy { .. } => CheckKind::Haproxy,
            CheckSpec::Alertmanager { .. } => CheckKind::Alertmanager,
            CheckSpec::Http { .. } => CheckKind::Http,
            CheckSpec::Command { .. } => CheckKind::Command,
        }
    }
}

/// A `[[checks]]` entry checked, with its defaults applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckSettings {
    pub name: String,
    pub spec: CheckSpec,
    /// `None`: every environment.
    pub environments: Option<Vec<String>>,
    pub production_only: bool,
    pub timeout: Duration,
    /// The line of `name`, for messages that point back at the file.
    pub line: usize,
}

impl CheckSettings {
    /// Whether the check runs before a deploy to `environment`.
    #[must_use]
    pub fn applies_to(&self, environment: &str, production: bool, ignore_production: bool) -> bool {
        let listed =
            self.environments.as_ref().is_none_or(|envs| envs.iter().any(|e| e == environment));
        listed && (!self.production_only || (production && !ignore_production))
    }
}

impl CheckConfig {
    /// The kind-specific keys as written: name and span.
    fn kind_keys(&self) -> [(&'static str, Option<Range<usize>>); 8] {
        fn span<T>(value: Option<&Spanned<T>>) -> Option<Range<usize>> {
            value.map(Spanned::span)
        }
        [
            ("stats", span(self.stats.as_ref())),
            ("backends", span(self.backends.as_ref())),
            ("url", span(self.url.as_ref())),
            ("matchers", span(self.matchers.as_ref())),
            ("severities", span(self.severities.as_ref())),
            ("expect_status", span(self.expect_status.as_ref())),
            ("expect_body", span(self.expect_body.as_ref())),
            ("command", span(self.command.as_ref())),
        ]
    }

    /// Check every value and apply the defaults; errors name the line and
    /// `checks.NAME.KEY`. Environment names are checked by [`Config::resolve_checks`].
    pub fn resolve(&self, source: &ConfigSource) -> Result<CheckSettings, ConfigError> {
        let name = self.name.get_ref();
        let err = |span: Range<usize>, key: &str, message: String| {
            source.error(Some(span), Some(&format!("checks.{name}.{key}")), message)
        };
        if name.trim().is_empty() {
            return Err(err(self.name.span(), "name", "is empty: name the check".to_owned()));
        }
        let kind = *self.kind.get_ref();
        for (key, span) in self.kind_keys() {
            if let Some(span) = span.filter(|_| !kind.keys().contains(&key)) {
                let why = format!(
                    "does not belong to a `{kind}` check (its keys: {}, and environments, \
                     production_only, timeout)",
                    kind.keys().join(", ")
                );
                return Err(err(span, key, why));
            }
        }
        // A required string key, as (value, span).
        let required = |value: Option<&Spanned<String>>, key: &str| match value {
            Some(value) if !value.get_ref().trim().is_empty() => {
                Ok((value.get_ref().clone(), value.span()))
            }
            Some(value) => Err(err(value.span(), key, "is empty".to_owned())),
            None => {
                let why = format!("a `{kind}` check needs `{key}`");
                Err(err(self.kind.span(), "kind", why))
            }
        };
        let url = |key: &str| {
            let (value, span) = required(self.url.as_ref(), key)?;
            http_url(&value).map_err(|why| err(span, key, why))
        };
        let spec = match kind {
            CheckKind::Haproxy => {
                let (stats, span) = required(self.stats.as_ref(), "stats")?;
                let stats = match stats.strip_prefix("unix:") {
                    Some(path) if !path.is_empty() => {
                        HaproxyStats::Socket(source.resolve_path(path).into())
                    }
                    _ => HaproxyStats::Url(http_url(&stats).map_err(|why| {
                        err(span, "stats", format!("{why}, or unix:/path/to/socket"))
                    })?),
                };
                let backends =
                    self.backends.as_ref().map(|b| b.get_ref().clone()).unwrap_or_default();
                CheckSpec::Haproxy { stats, backends }
            }
            CheckKind::Alertmanager => CheckSpec::Alertmanager {
                url: url("url")?.trim_end_matches('/').to_owned(),
                matchers: self.matchers(&err)?,
                severities: self
                    .severities
                    .as_ref()
                    .map_or_else(|| vec!["critical".to_owned()], |s| s.get_ref().clone()),
            },
            CheckKind::Http => {
                let expect_status = match &self.expect_status {
                    None => 200,
                    Some(status) if (100..=599).contains(status.get_ref()) => *status.get_ref(),
                    Some(status) => {
                        let why = "is not an HTTP status (100 to 599)".to_owned();
                        return Err(err(status.span(), "expect_status", why));
                    }
                };
                let expect_body = self.expect_body.as_ref().map(|body| body.get_ref().clone());
                CheckSpec::Http { url: url("url")?, expect_status, expect_body }
            }
            CheckKind::Command => {
                let command = required(self.command.as_ref(), "command")?.0;
                CheckSpec::Command { command }
            }
        };
        let timeout = match &self.timeout {
            None => kind.default_timeout(),
            Some(text) => match parse_duration(text.get_ref()) {
                Ok(0) => return Err(err(text.span(), "timeout", "must be longer than 0s".into())),
                Ok(secs) => Duration::from_secs(secs),
                Err(why) => return Err(err(text.span(), "timeout", why)),
            },
        };
        Ok(CheckSettings {
            name: name.clone(),
            spec,
            environments: None,
            production_only: self.production_only,
            timeout,
            line: source.line_of(self.name.span().start),
        })
    }

    /// `matchers`: label names as Prometheus spells them; `{environment}` the only
    /// placeholder in values.
    fn matchers(
        &self,
        err: &impl Fn(Range<usize>, &str, String) -> ConfigError,
    ) -> Result<BTreeMap<String, String>, ConfigError> {
        let Some(matchers) = &self.matchers else { return Ok(BTreeMap::new()) };
        for (label, value) in matchers.get_ref() {
            let mut chars = label.chars();
            let valid = chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
                && chars.all(|c| c.is_ascii_alphanumeric() || c == '_');
            let why = if !valid {
                format!("{label:?} is not a label name (letters, digits and _, not first a digit)")
            } else if value.replace(ENVIRONMENT_PLACEHOLDER, "").contains(['{', '}']) {
                format!("{label} = {value:?}: only {ENVIRONMENT_PLACEHOLDER} is expanded")
            } else {
                continue;
            };
            return Err(err(matchers.span(), "matchers", why));
        }
        Ok(matchers.get_ref().clone())
    }
}

/// An `http://` or `https://` URL with a host, trimmed.
fn http_url(text: &str) -> Result<String, String> {
    let text = text.trim();
    let rest = text.strip_prefix("http://").or_else(|| text.strip_prefix("https://"));
    match rest {
        Some(rest) if !rest.is_empty() && !rest.starts_with('/') => Ok(text.to_owned()),
        _ => Err(format!("{text:?} is not an http:// or https:// URL with a host")),
    }
}

impl Config {
    /// Every `[[checks]]` entry resolved, in file order; check names are unique and name
    /// environments that exist.
    pub fn resolve_checks(&self, source: &ConfigSource) -> Result<Vec<CheckSettings>, ConfigError> {
        let mut seen = BTreeSet::new();
        let mut checks = Vec::with_capacity(self.checks.len());
        for check in &self.checks {
            let mut settings = check.resolve(source)?;
            if !seen.insert(settings.name.clone()) {
                let key = format!("checks.{}", settings.name);
                let why = "is defined twice: check names must be unique";
                return Err(source.error(Some(check.name.span()), Some(&key), why));
            }
            let key = format!("checks.{}.environments", settings.name);
            settings.environments =
                self.environment_list(source, check.environments.as_ref(), &key)?;
            checks.push(settings);
        }
        Ok(checks)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ENVS: &str = "[[environments]]\nname = \"gprd\"\nnodes = \"a\"\nproduction = true\n\n\
                        [[environments]]\nname = \"gstg\"\nnodes = \"b\"\n\n";

    fn resolve(text: &str) -> Result<Vec<CheckSettings>, ConfigError> {
        let source = ConfigSource::new("/etc/wharf/wharf.toml", format!("{ENVS}{text}"));
        source.parse().and_then(|config| config.resolve_checks(&source))
    }

    #[test]
    fn checks_resolve_with_defaults() {
        let checks = resolve(
            "[[checks]]\nname = \"lb\"\nkind = \"haproxy\"\nstats = \"http://127.0.0.1:8404/stats;csv\"\n\
             production_only = true\n\n\
             [[checks]]\nname = \"lb-socket\"\nkind = \"haproxy\"\nstats = \"unix:run/haproxy.sock\"\n\
             backends = [\"web\"]\nenvironments = [\"gstg\"]\n\n\
             [[checks]]\nname = \"alerts\"\nkind = \"alertmanager\"\nurl = \"http://am:9093/\"\n\
             matchers = { env = \"{environment}\" }\n\n\
             [[checks]]\nname = \"ready\"\nkind = \"http\"\nurl = \"https://gitlab/-/readiness\"\n\
             expect_body = \"ok\"\ntimeout = \"30s\"\n\n\
             [[checks]]\nname = \"script\"\nkind = \"command\"\ncommand = \"true\"\n",
        )
        .unwrap();
        assert_eq!(checks.len(), 5);
        let stats = HaproxyStats::Url("http://127.0.0.1:8404/stats;csv".into());
        assert_eq!(checks[0].spec, CheckSpec::Haproxy { stats, backends: vec![] });
        assert_eq!((checks[0].line, checks[0].timeout.as_secs()), (11, 10));
        assert!(checks[0].applies_to("gprd", true, false));
        assert!(!checks[0].applies_to("gprd", true, true), "--ignore-production-checks");
        assert!(!checks[0].applies_to("gstg", false, false));
        let socket = HaproxyStats::Socket("/etc/wharf/run/haproxy.sock".into());
        let backends = vec!["web".to_owned()];
        assert_eq!(checks[1].spec, CheckSpec::Haproxy { stats: socket, backends });
        assert_eq!(checks[1].environments, Some(vec!["gstg".to_owned()]));
        assert!(
            checks[1].applies_to("gstg", false, true) && !checks[1].applies_to("gprd", true, false)
        );
        let CheckSpec::Alertmanager { url, matchers, severities } = &checks[2].spec else {
            panic!("{:?}", checks[2].spec)
        };
        assert_eq!(
            (url.as_str(), severities.as_slice()),
            ("http://am:9093", &["critical".to_owned()][..])
        );
        assert_eq!(matchers["env"], "{environment}");
        let http = CheckSpec::Http {
            url: "https://gitlab/-/readiness".into(),
            expect_status: 200,
            expect_body: Some("ok".into()),
        };
        assert_eq!((&checks[3].spec, checks[3].timeout.as_secs()), (&http, 30));
        assert_eq!(checks[4].spec, CheckSpec::Command { command: "true".into() });
        assert_eq!((checks[4].spec.kind(), checks[4].timeout.as_secs()), (CheckKind::Command, 60));
    }

    #[test]
    fn bad_checks_name_file_line_and_key() {
        let c = "[[checks]]\nname = \"c\"\n";
        let cases: &[(String, usize, &str, &str)] = &[
            (
                format!("{c}kind = \"http\"\nurl = \"http://x\"\nexpect = 200\n"),
                14,
                "expect",
                "unknown field `expect`",
            ),
            (format!("{c}kind = \"ping\"\n"), 12, "ping", "unknown variant `ping`"),
            (
                format!("{c}kind = \"http\"\nurl = \"http://x\"\nstats = \"http://y\"\n"),
                14,
                "checks.c.stats",
                "does not belong to a `http` check (its keys: url, expect_status, expect_body",
            ),
            (
                format!("{c}kind = \"command\"\ncommand = \"true\"\nurl = \"http://y\"\n"),
                14,
                "checks.c.url",
                "does not belong to a `command` check",
            ),
            (
                format!("{c}kind = \"haproxy\"\n"),
                12,
                "checks.c.kind",
                "a `haproxy` check needs `stats`",
            ),
            (
                format!("{c}kind = \"alertmanager\"\nurl = \"am:9093\"\n"),
                13,
                "checks.c.url",
                "not an http:// or https:// URL",
            ),
            (
                format!("{c}kind = \"haproxy\"\nstats = \"/run/haproxy.sock\"\n"),
                13,
                "checks.c.stats",
                "or unix:/path/to/socket",
            ),
            (
                format!("{c}kind = \"command\"\ncommand = \" \"\n"),
                13,
                "checks.c.command",
                "is empty",
            ),
            (
                format!("{c}kind = \"command\"\ncommand = \"true\"\ntimeout = \"5\"\n"),
                14,
                "checks.c.timeout",
                "invalid duration",
            ),
            (
                format!("{c}kind = \"http\"\nurl = \"http://x\"\nexpect_status = 700\n"),
                14,
                "checks.c.expect_status",
                "not an HTTP status",
            ),
            (
                format!(
                    "{c}kind = \"alertmanager\"\nurl = \"http://am\"\nmatchers = {{ env = \"{{env}}\" }}\n"
                ),
                14,
                "checks.c.matchers",
                "only {environment} is expanded",
            ),
            (
                format!(
                    "{c}kind = \"alertmanager\"\nurl = \"http://am\"\nmatchers = {{ \"1x\" = \"a\" }}\n"
                ),
                14,
                "checks.c.matchers",
                "is not a label name",
            ),
            (
                format!("{c}kind = \"command\"\ncommand = \"true\"\nenvironments = [\"prod\"]\n"),
                14,
                "checks.c.environments",
                "no [[environments]] entry is named \"prod\"",
            ),
            (
                format!("{c}kind = \"command\"\ncommand = \"true\"\nenvironments = []\n"),
                14,
                "checks.c.environments",
                "is empty",
            ),
            (
                format!(
                    "{c}kind = \"command\"\ncommand = \"true\"\n\n{c}kind = \"command\"\ncommand = \"false\"\n"
                ),
                16,
                "checks.c",
                "defined twice",
            ),
        ];
        for (text, line, key, part) in cases {
            let err = resolve(text).expect_err(text);
            assert_eq!((err.line, err.key.as_deref()), (Some(*line), Some(*key)), "{err}");
            assert!(err.message.contains(part), "{text}: {err} lacks {part:?}");
            let prefix = format!("/etc/wharf/wharf.toml:{line}: key `{key}`");
            assert!(err.to_string().starts_with(&prefix), "{err}");
        }
    }
}
