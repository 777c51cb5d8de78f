//! `[chatops.slack]`: Slack slash commands (`/wharf deploy 11.8.0 gstg`); and
//! `[chatops.mattermost]`, the same commands from Mattermost. The signing secret (Slack) or
//! token (Mattermost) is named, never written here: `…_env` (an environment variable) or
//! `…_file`. Chat users map to Wharf identities and roles; anyone else is refused.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::{Config, ConfigError, ConfigSource, Spanned};

/// `[chatops]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChatopsConfig {
    pub slack: Option<SlackConfig>,
    pub mattermost: Option<MattermostConfig>,
}

/// `[chatops.mattermost]`: Mattermost's slash commands carry the command's token (in
/// `Authorization: Token …` and the form) instead of a signature.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MattermostConfig {
    /// The environment variable holding the slash command's token.
    pub token_env: Option<Spanned<String>>,
    /// A file holding it.
    pub token_file: Option<Spanned<String>>,
    /// Mattermost user id → who they are in Wharf.
    #[serde(default)]
    pub users: BTreeMap<String, ChatUser>,
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
        let named =
            Named { section: "chatops.slack", what: "signing secret", key: "signing_secret" };
        named.source(source, slack.signing_secret_env.as_ref(), slack.signing_secret_file.as_ref())
    }

    /// `[chatops.mattermost]` checked: exactly one of `token_env` and `token_file`. `None`
    /// when Mattermost is not configured.
    pub fn mattermost_token(
        &self,
        source: &ConfigSource,
    ) -> Result<Option<SecretSource>, ConfigError> {
        let Some(mattermost) = &self.chatops.mattermost else { return Ok(None) };
        let named = Named { section: "chatops.mattermost", what: "token", key: "token" };
        named.source(source, mattermost.token_env.as_ref(), mattermost.token_file.as_ref())
    }
}

/// A secret a section names by `KEY_env` or `KEY_file`.
struct Named {
    section: &'static str,
    what: &'static str,
    key: &'static str,
}

impl Named {
    fn source(
        &self,
        source: &ConfigSource,
        env: Option<&Spanned<String>>,
        file: Option<&Spanned<String>>,
    ) -> Result<Option<SecretSource>, ConfigError> {
        let Named { section, what, key } = self;
        match (env, file) {
            (Some(env), None) if !env.get_ref().trim().is_empty() => {
                Ok(Some(SecretSource::Env(env.get_ref().clone())))
            }
            (None, Some(file)) if !file.get_ref().trim().is_empty() => {
                Ok(Some(SecretSource::File(file.get_ref().clone())))
            }
            (Some(env), Some(_)) => Err(source.error(
                Some(env.span()),
                Some(section),
                format!("give {key}_env or {key}_file, not both"),
            )),
            _ => Err(source.error(
                None,
                Some(section),
                format!(
                    "name the {what}: {key}_env = \"VAR\" or {key}_file = \"PATH\" (never the {what} itself)"
                ),
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
        assert!(none.message.contains("never the signing secret itself"), "{none}");
        let both = "[chatops.slack]\nsigning_secret_env = \"A\"\nsigning_secret_file = \"/b\"\n";
        assert!(parse(both).unwrap_err().message.contains("not both"));
        let bad_role = "[chatops.slack]\nsigning_secret_env = \"A\"\nusers = { U1 = { name = \"a\", role = \"god\" } }\n";
        let source = ConfigSource::new("wharf.toml", bad_role);
        assert!(source.parse().is_err());

        let parse = |text: &str| {
            let source = ConfigSource::new("wharf.toml", text);
            source.parse().and_then(|config| config.mattermost_token(&source))
        };
        let file = "[chatops.mattermost]\ntoken_file = \"/run/credentials/wharf/mm\"\n";
        assert_eq!(
            parse(file).unwrap(),
            Some(SecretSource::File("/run/credentials/wharf/mm".into()))
        );
        let none = parse("[chatops.mattermost]\nusers = {}\n").unwrap_err();
        assert!(none.message.contains("name the token: token_env"), "{none}");
        let both = "[chatops.mattermost]\ntoken_env = \"A\"\ntoken_file = \"/b\"\n";
        assert!(parse(both).unwrap_err().message.contains("token_env or token_file, not both"));
        assert!(
            ConfigSource::new("w.toml", "[chatops.mattermost]\ntoken = \"x\"\n").parse().is_err()
        );
    }
}
