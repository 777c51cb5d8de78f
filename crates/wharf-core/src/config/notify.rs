//! `[[notify]]`: where announcements go (issue 11) — a Slack incoming webhook or a generic
//! JSON webhook, filtered by event kind and environment — as written ([`NotifyConfig`]) and
//! checked ([`NotifySettings`], from [`Config::resolve_notify`]). Delivering is
//! `wharf_app::notify`.
//!
//! The webhook URL is a secret: the file names the environment variable (`url_env`) or the
//! file (`url_file`) that holds it, never the URL itself.

use serde::Deserialize;

use super::{Config, ConfigError, ConfigSource, Spanned};

/// `[[notify]]`: one destination for announcements.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NotifyConfig {
    /// Unique; delivery progress is kept under this name.
    pub name: Spanned<String>,
    pub kind: NotifyKind,
    /// The environment variable holding the webhook URL.
    pub url_env: Option<Spanned<String>>,
    /// A file holding the webhook URL (relative to this file's directory).
    pub url_file: Option<Spanned<String>>,
    /// Event kinds to announce, as globs (`deploy.*`, `lock*`); absent: all.
    pub events: Option<Spanned<Vec<String>>>,
    /// Environments to announce about; absent or `"*"`: all.
    pub environments: Option<Spanned<Vec<String>>>,
}

/// What a destination speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum NotifyKind {
    /// A Slack (or Mattermost) incoming webhook: `{"text": …}`.
    Slack,
    /// The event as JSON, with `Idempotency-Key` and `X-Wharf-Event-Id` headers.
    Webhook,
}

/// Where a destination's URL comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UrlSource {
    /// The name of an environment variable.
    Env(String),
    /// A file's path, resolved against the configuration file's directory.
    File(String),
}

/// A `[[notify]]` entry checked, with its defaults applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotifySettings {
    pub name: String,
    pub kind: NotifyKind,
    pub url: UrlSource,
    /// `None`: every kind.
    pub events: Option<Vec<String>>,
    /// `None`: every environment.
    pub environments: Option<Vec<String>>,
    /// The line of `name`, and of `events`, for messages that point back at the file.
    pub line: usize,
    pub events_line: Option<usize>,
}

/// Whether `kind` matches `pattern`: `*` stands for any run of characters, and `X.*` also
/// matches `X` itself (`lock.*` is `lock`, `lock.steal`).
#[must_use]
pub fn glob_matches(pattern: &str, kind: &str) -> bool {
    fn matches(pattern: &[u8], text: &[u8]) -> bool {
        match pattern.split_first() {
            None => text.is_empty(),
            Some((b'*', rest)) => (0..=text.len()).any(|skip| matches(rest, &text[skip..])),
            Some((first, rest)) => text.first() == Some(first) && matches(rest, &text[1..]),
        }
    }
    matches(pattern.as_bytes(), kind.as_bytes())
        || pattern.strip_suffix(".*").is_some_and(|base| matches(base.as_bytes(), kind.as_bytes()))
}

impl NotifyConfig {
    /// Check every value and apply the defaults; errors name the line and
    /// `notify.NAME.KEY`.
    pub fn resolve(
        &self,
        config: &Config,
        source: &ConfigSource,
    ) -> Result<NotifySettings, ConfigError> {
        let name = self.name.get_ref();
        let key = |key: &str| format!("notify.{name}.{key}");
        if name.trim().is_empty() {
            let why = "is empty: name the destination";
            return Err(source.error(Some(self.name.span()), Some(&key("name")), why));
        }
        let url = match (&self.url_env, &self.url_file) {
            (Some(var), None) if !var.get_ref().trim().is_empty() => {
                UrlSource::Env(var.get_ref().clone())
            }
            (None, Some(file)) if !file.get_ref().trim().is_empty() => {
                UrlSource::File(source.resolve_path(file.get_ref()))
            }
            (Some(_), Some(file)) => {
                let why = "cannot be used with `url_env`: give one of them";
                return Err(source.error(Some(file.span()), Some(&key("url_file")), why));
            }
            (Some(given), None) | (None, Some(given)) => {
                let why = "is empty";
                let which = if self.url_env.is_some() { "url_env" } else { "url_file" };
                return Err(source.error(Some(given.span()), Some(&key(which)), why));
            }
            (None, None) => {
                let why = "needs `url_env` (the environment variable holding the webhook URL) \
                           or `url_file`: the URL is a secret and is never written here";
                return Err(source.error(Some(self.name.span()), Some(&key("name")), why));
            }
        };
        let events = match &self.events {
            None => None,
            Some(list) => {
                let fail = |why: String| source.error(Some(list.span()), Some(&key("events")), why);
                if list.get_ref().is_empty() {
                    return Err(fail("is empty: name event kinds, or leave it out for all".into()));
                }
                let valid = |glob: &String| {
                    !glob.is_empty()
                        && glob.bytes().all(|b| b.is_ascii_lowercase() || b"._-*".contains(&b))
                };
                if let Some(bad) = list.get_ref().iter().find(|glob| !valid(glob)) {
                    return Err(fail(format!(
                        "{bad:?} is not an event kind or glob (write e.g. \"deploy.*\", \"lock\")"
                    )));
                }
                Some(list.get_ref().clone())
            }
        };
        let environments =
            config.environment_list(source, self.environments.as_ref(), &key("environments"))?;
        Ok(NotifySettings {
            name: name.clone(),
            kind: self.kind,
            url,
            events,
            environments,
            line: source.line_of(self.name.span().start),
            events_line: self.events.as_ref().map(|list| source.line_of(list.span().start)),
        })
    }
}

impl Config {
    /// Every `[[notify]]` entry checked, in file order; names must be unique.
    pub fn resolve_notify(
        &self,
        source: &ConfigSource,
    ) -> Result<Vec<NotifySettings>, ConfigError> {
        let mut seen = std::collections::BTreeSet::new();
        let mut list = Vec::with_capacity(self.notify.len());
        for entry in &self.notify {
            let settings = entry.resolve(self, source)?;
            if !seen.insert(settings.name.clone()) {
                let key = format!("notify.{}", settings.name);
                let why = "is defined twice: destination names must be unique";
                return Err(source.error(Some(entry.name.span()), Some(&key), why));
            }
            list.push(settings);
        }
        Ok(list)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ENV: &str = "[[environments]]\nname = \"gprd\"\nnodes = \"\"\n\n";

    fn resolve(text: &str) -> Result<Vec<NotifySettings>, ConfigError> {
        let source = ConfigSource::new("/etc/wharf/wharf.toml", format!("{ENV}{text}"));
        source.parse()?.resolve_notify(&source)
    }

    #[test]
    fn globs() {
        let cases = [
            ("deploy.*", "deploy.start", true),
            ("deploy.*", "deploy", true),
            ("deploy.*", "deployed", false),
            ("lock*", "lock.steal", true),
            ("lock", "lock.steal", false),
            ("*", "publish", true),
            ("*.start", "maintenance.start", true),
            ("*.start", "maintenance.stop", false),
            ("downgrade.*", "downgrade.completed", true),
        ];
        for (pattern, kind, expected) in cases {
            assert_eq!(glob_matches(pattern, kind), expected, "{pattern} {kind}");
        }
    }

    #[test]
    fn resolves_with_defaults() {
        let list = resolve(
            "[[notify]]\nname = \"chat\"\nkind = \"slack\"\nurl_env = \"SLACK_URL\"\n\n\
             [[notify]]\nname = \"audit\"\nkind = \"webhook\"\nurl_file = \"secrets/hook\"\n\
             events = [\"deploy.*\"]\nenvironments = [\"gprd\"]\n",
        )
        .unwrap();
        assert_eq!(list[0].kind, NotifyKind::Slack);
        assert_eq!(list[0].url, UrlSource::Env("SLACK_URL".into()));
        assert_eq!((list[0].events.as_ref(), list[0].environments.as_ref()), (None, None));
        assert_eq!(list[0].line, 6);
        assert_eq!(list[1].url, UrlSource::File("/etc/wharf/secrets/hook".into()));
        assert_eq!(list[1].events, Some(vec!["deploy.*".to_owned()]));
        assert_eq!(list[1].environments, Some(vec!["gprd".to_owned()]));
        assert_eq!(list[1].events_line, Some(14));
    }

    #[test]
    fn errors_name_key_and_line() {
        let n = "[[notify]]\nname = \"chat\"\nkind = \"slack\"\n";
        let cases = [
            (format!("{n}url = \"https://hooks.slack.com/x\"\n"), 8, "url", "unknown field"),
            (n.to_owned(), 6, "notify.chat.name", "needs `url_env`"),
            (
                format!("{n}url_env = \"A\"\nurl_file = \"f\"\n"),
                9,
                "notify.chat.url_file",
                "cannot",
            ),
            (format!("{n}url_env = \"\"\n"), 8, "notify.chat.url_env", "is empty"),
            (format!("{n}url_env = \"A\"\nevents = []\n"), 9, "notify.chat.events", "is empty"),
            (
                format!("{n}url_env = \"A\"\nevents = [\"Deploy\"]\n"),
                9,
                "notify.chat.events",
                "\"Deploy\" is not an event kind",
            ),
            (
                format!("{n}url_env = \"A\"\nenvironments = [\"prod\"]\n"),
                9,
                "notify.chat.environments",
                "no [[environments]] entry is named \"prod\"",
            ),
            (
                "[[notify]]\nname = \"x\"\nkind = \"email\"\nurl_env = \"A\"\n".to_owned(),
                7,
                "email",
                "unknown variant `email`",
            ),
            (format!("{n}url_env = \"A\"\n\n{n}url_env = \"B\"\n"), 11, "notify.chat", "twice"),
        ];
        for (text, line, key, part) in cases {
            let err = resolve(&text).expect_err(&text);
            assert_eq!(err.line, Some(line), "{err}");
            assert_eq!(err.key.as_deref(), Some(key), "{err}");
            assert!(err.message.contains(part), "{err}");
        }
    }
}
