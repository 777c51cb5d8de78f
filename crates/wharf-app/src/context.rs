//! [`Context`]: everything a flow needs — store, data directory, storage, `[apt]`
//! settings, the signing key — and who is acting ([`Actor`]). Cheap to clone: a server
//! keeps one and derives a per-request context with [`Context::acting_as`].

use std::path::{Path, PathBuf};
use std::sync::Arc;

use wharf_apt::sign::SigningKey;
use wharf_core::config::{AptSettings, ConfigError};
use wharf_store::{NewAuditEntry, Store};

use crate::error::{AppError, Context as _, ErrorKind, Result};
use crate::layout::DataLayout;
use crate::storage::Storage;

/// How a request reached Wharf: recorded with every audit entry it causes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Via {
    /// The command line, on the machine that holds the data directory.
    Cli,
    /// The HTTP API, with the named token, from the peer address `from` (`IP:PORT` as the
    /// server saw it; `None` where unknown). Both are recorded in `details` of every
    /// audit entry the request causes (`token`, `from`).
    Api { token: String, from: Option<String> },
    /// A chat command (the chat user id).
    Chat { user: String },
    /// A configured schedule.
    Schedule { name: String },
}

impl Via {
    /// `cli`, `api`, `chat` or `schedule`.
    #[must_use]
    pub fn kind(&self) -> &'static str {
        match self {
            Via::Cli => "cli",
            Via::Api { .. } => "api",
            Via::Chat { .. } => "chat",
            Via::Schedule { .. } => "schedule",
        }
    }
}

/// Who is acting, and how they came.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    /// The identity recorded as the audit entry's actor: a user or a token's name.
    pub name: String,
    pub via: Via,
}

impl Actor {
    /// Someone at the command line.
    pub fn cli(name: impl Into<String>) -> Actor {
        Actor { name: name.into(), via: Via::Cli }
    }

    /// The audit entry of `action` on `target` by this actor. Entries from the command
    /// line are recorded as they always were; others name how they came in `details.via`
    /// (and the token, chat user or schedule), so the log says how a change arrived.
    #[must_use]
    pub fn entry(
        &self,
        action: &str,
        target: &str,
        mut details: serde_json::Value,
    ) -> NewAuditEntry {
        if let (Some(map), false) = (details.as_object_mut(), self.via == Via::Cli) {
            map.insert("via".to_owned(), self.via.kind().into());
            if let Via::Api { from: Some(from), .. } = &self.via {
                map.insert("from".to_owned(), from.clone().into());
            }
            let (key, value) = match &self.via {
                Via::Api { token, .. } => ("token", token),
                Via::Chat { user } => ("chat_user", user),
                Via::Schedule { name } => ("schedule", name),
                Via::Cli => unreachable!("checked above"),
            };
            map.insert(key.to_owned(), value.clone().into());
        }
        NewAuditEntry::new(&self.name, action, target).details(details)
    }
}

/// What a front end resolves before opening a [`Context`].
#[derive(Debug, Clone)]
pub struct ContextSettings {
    /// The data directory.
    pub data_dir: PathBuf,
    /// Store URL (`postgres://…`, or a SQLite path: usually [`DataLayout::database`]).
    pub database: String,
    /// With S3 storage, the bucket; `None`: the data directory.
    pub bucket: Option<wharf_storage::Bucket>,
    /// `[apt]`, checked, with defaults.
    pub apt: AptSettings,
    /// The configuration file, for errors about what it says.
    pub config_path: PathBuf,
}

#[derive(Debug)]
struct Shared {
    store: Store,
    layout: DataLayout,
    storage: Storage,
    apt: AptSettings,
    config_path: PathBuf,
}

/// See the module docs.
#[derive(Debug, Clone)]
pub struct Context {
    shared: Arc<Shared>,
    actor: Actor,
}

impl Context {
    /// Open the store (creating the data directory for a SQLite store in it) and storage.
    pub async fn open(settings: ContextSettings, actor: Actor) -> Result<Context> {
        let layout = DataLayout::new(settings.data_dir);
        if !settings.database.contains("://") {
            layout.create()?;
        }
        let store = Store::open(&settings.database).await.map_err(|err| {
            let kind = AppError::from(err);
            AppError::new(
                kind.kind(),
                format!(
                    "cannot open the store (check --database, $WHARF_DATABASE or [store] database in {})",
                    settings.config_path.display()
                ),
            )
            .with_source(kind)
        })?;
        let storage = match settings.bucket {
            None => Storage::local(&layout),
            Some(bucket) => Storage::bucket(bucket, &layout),
        };
        let shared =
            Shared { store, layout, storage, apt: settings.apt, config_path: settings.config_path };
        Ok(Context { shared: Arc::new(shared), actor })
    }

    /// The same context acting for someone else (a server's per-request context).
    #[must_use]
    pub fn acting_as(&self, actor: Actor) -> Context {
        Context { shared: self.shared.clone(), actor }
    }

    #[must_use]
    pub fn store(&self) -> &Store {
        &self.shared.store
    }

    #[must_use]
    pub fn layout(&self) -> &DataLayout {
        &self.shared.layout
    }

    #[must_use]
    pub fn storage(&self) -> &Storage {
        &self.shared.storage
    }

    #[must_use]
    pub fn apt(&self) -> &AptSettings {
        &self.shared.apt
    }

    #[must_use]
    pub fn actor(&self) -> &Actor {
        &self.actor
    }

    /// The audit entry of `action` on `target` by the acting identity.
    #[must_use]
    pub fn entry(&self, action: &str, target: &str, details: serde_json::Value) -> NewAuditEntry {
        self.actor.entry(action, target, details)
    }

    /// The keys `[apt] uploaders_keyring` names, when set; a file that cannot be read or
    /// holds no key is a configuration error naming it and its line.
    pub fn uploaders_keyring(&self) -> Result<Option<wharf_apt::keyring::Keyring>> {
        let Some(configured) = &self.shared.apt.uploaders_keyring else { return Ok(None) };
        wharf_apt::keyring::Keyring::load(&configured.path).map(Some).map_err(|err| {
            let error = ConfigError {
                file: self.shared.config_path.clone(),
                line: Some(configured.line),
                key: Some("apt.uploaders_keyring".to_owned()),
                message: err.to_string(),
            };
            AppError::transparent(ErrorKind::Invalid, error)
        })
    }

    /// The repository signing key (see [`signing_key`]).
    pub fn signing_key(&self) -> Result<SigningKey> {
        signing_key(&self.shared.apt, &self.shared.layout, &self.shared.config_path)
    }
}

/// The repository signing key: the one `[apt] signing_key` names (a key apt cannot use
/// is a configuration error naming the file `config_path`, the line and why), else the
/// one Wharf generated in the data directory, generating it on first use. Needs no store.
pub fn signing_key(
    apt: &AptSettings,
    layout: &DataLayout,
    config_path: &Path,
) -> Result<SigningKey> {
    if let Some(configured) = &apt.signing_key {
        return SigningKey::load_configured(&configured.path).map_err(|err| {
            let error = ConfigError {
                file: config_path.to_owned(),
                line: Some(configured.line),
                key: Some("apt.signing_key".to_owned()),
                message: err.to_string(),
            };
            AppError::transparent(ErrorKind::Invalid, error)
        });
    }
    layout.create()?;
    let path = layout.generated_key();
    SigningKey::load_or_generate(&path, "Wharf repository signing key")
        .or_internal(|| format!("cannot load or generate the signing key {}", path.display()))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn entries_say_how_the_request_came() {
        let check = |via: Via, expected: serde_json::Value| {
            let actor = Actor { name: "alice".into(), via };
            let entry = actor.entry("publish", "tools", json!({ "generation": 3 }));
            assert_eq!((entry.actor.as_str(), entry.action.as_str()), ("alice", "publish"));
            assert_eq!(entry.details, expected);
        };
        check(Via::Cli, json!({ "generation": 3 }));
        check(
            Via::Api { token: "ci-upload".into(), from: None },
            json!({ "generation": 3, "via": "api", "token": "ci-upload" }),
        );
        check(
            Via::Api { token: "ci-upload".into(), from: Some("127.0.0.1:51234".into()) },
            json!({ "generation": 3, "via": "api", "token": "ci-upload", "from": "127.0.0.1:51234" }),
        );
        check(
            Via::Schedule { name: "nightly".into() },
            json!({ "generation": 3, "via": "schedule", "schedule": "nightly" }),
        );
    }
}
