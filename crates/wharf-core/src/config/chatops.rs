//! `[chatops.slack]`: Slack slash commands (`/wharf deploy 11.8.0 gstg`). The signing
//! secret is named, never written here: `signing_secret_env` (an environment variable) or
//! `signing_secret_file`. Chat users map to Wharf identities and roles; anyone else is
//! refused.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::{Config, ConfigError, ConfigSource, Spanned};

/// `[chatops]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChatopsConfig {
    pub slack: Option<SlackConfig>,
}

/// `[chatops.slack]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SlackConfig {
    /// The environment variable holding the app's signing secret.
    pub signing_secret_env: Option<Spanned<String>>,
    /// A file holding it (e.g. a systemd credential).
    pub signing_secret_file: Option<Spanned<String>>,
    /// Slack user id → who they are in Wharf.
    #[serde(default)]
    pub users: BTreeMap<String, ChatUser>,
}

/// A chat user as a Wharf identity.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChatUser {
    /// The name the audit log records.
    pub name: String,
    pub role: Role,
}

/// What an identity may do: viewers read; publishers also upload and publish; deployers
/// also deploy, approve, roll back, lock and hold; admins do everything.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize, serde::Serialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Viewer,
    Publisher,
    Deployer,
    Admin,
}

impl Role {
    /// Whether this role may do what `needed` allows. Publishers and deployers are
    /// separate duties: neither includes the other.
    #[must_use]
    pub fn allows(self, needed: Role) -> bool {
        match (self, needed) {
            (Role::Admin, _) | (_, Role::Viewer) => true,
            (have, need) => have == need,
        }
    }

    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Publisher => "publisher",
            Role::Deployer => "deployer",
            Role::Admin => "admin",
        }
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where the signing secret comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecretSource {
    Env(String),
    File(String),
}

impl Config {
    /// `[chatops.slack]` checked: exactly one of `signing_secret_env` and
    /// `signing_secret_file`. `None` when ChatOps is not configured.
    pub fn slack_secret(&self, source: &ConfigSource) -> Result<Option<SecretSource>, ConfigError> {
        let Some(slack) = &self.chatops.slack else { return Ok(None) };
        match (&slack.signing_secret_env, &slack.signing_secret_file) {
            (Some(env), None) if !env.get_ref().trim().is_empty() => {
                Ok(Some(SecretSource::Env(env.get_ref().clone())))
            }
            (None, Some(file)) if !file.get_ref().trim().is_empty() => {
                Ok(Some(SecretSource::File(file.get_ref().clone())))
            }
            (Some(env), Some(_)) => Err(source.error(
                Some(env.span()),
                Some("chatops.slack"),
                "give signing_secret_env or signing_secret_file, not both",
            )),
            _ => Err(source.error(
                None,
                Some("chatops.slack"),
                "name the signing secret: signing_secret_env = \"VAR\" or signing_secret_file = \"PATH\" (never the secret itself)",
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_allow_what_they_include() {
        use Role::*;
        let table = [
            (Viewer, Viewer, true),
            (Viewer, Deployer, false),
            (Publisher, Viewer, true),
            (Publisher, Publisher, true),
            (Publisher, Deployer, false),
            (Deployer, Deployer, true),
            (Deployer, Publisher, false),
            (Admin, Deployer, true),
            (Admin, Admin, true),
            (Deployer, Admin, false),
        ];
        for (have, need, allowed) in table {
            assert_eq!(have.allows(need), allowed, "{have} for {need}");
        }
    }

    #[test]
    fn the_secret_is_named_once() {
        // `ConfigSource::parse` checks it, so every command refuses a bad section.
        let parse = |text: &str| {
            let source = ConfigSource::new("wharf.toml", text);
            source.parse().and_then(|config| config.slack_secret(&source))
        };
        assert_eq!(parse("").unwrap(), None);
        let env = "[chatops.slack]\nsigning_secret_env = \"SLACK\"\nusers = { U1 = { name = \"alice\", role = \"deployer\" } }\n";
        assert_eq!(parse(env).unwrap(), Some(SecretSource::Env("SLACK".into())));
        let none = parse("[chatops.slack]\n").unwrap_err();
        assert!(none.message.contains("never the secret itself"), "{none}");
        let both = "[chatops.slack]\nsigning_secret_env = \"A\"\nsigning_secret_file = \"/b\"\n";
        assert!(parse(both).unwrap_err().message.contains("not both"));
        let bad_role = "[chatops.slack]\nsigning_secret_env = \"A\"\nusers = { U1 = { name = \"a\", role = \"god\" } }\n";
        let source = ConfigSource::new("wharf.toml", bad_role);
        assert!(source.parse().is_err());
    }
}
