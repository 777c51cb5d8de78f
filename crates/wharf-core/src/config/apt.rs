//! `[apt]`: how published repositories describe and sign themselves, checked into
//! [`AptSettings`] by [`AptConfig::resolve`].

use std::ops::Range;
use std::path::PathBuf;

use serde::Deserialize;

use super::{ConfigError, ConfigSource, Spanned, parse_duration};

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
    /// The public keys (`gpg --export [-a]`, relative to the configuration file) whose
    /// signatures `repo include` accepts on a `.changes`, and `repo add` on a signed `.dsc`.
    pub uploaders_keyring: Option<Spanned<String>>,
    /// Whether `repo include --accept-unsigned` may take an unsigned `.changes`. Default
    /// false: an unsigned upload is refused whatever the command line says.
    pub accept_unsigned: Option<bool>,
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
    /// `[apt] uploaders_keyring`, resolved.
    pub uploaders_keyring: Option<ConfiguredPath>,
    /// `[apt] accept_unsigned`.
    pub accept_unsigned: bool,
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
            uploaders_keyring: None,
            accept_unsigned: false,
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
        let configured_path = |value: &Option<Spanned<String>>, key: &str| match value {
            Some(path) if path.get_ref().trim().is_empty() => {
                Err(err(path.span(), key, "is empty: name a key file".to_owned()))
            }
            Some(path) => Ok(Some(ConfiguredPath {
                path: PathBuf::from(source.resolve_path(path.get_ref())),
                line: source.line_of(path.span().start),
            })),
            None => Ok(None),
        };
        let signing_key = configured_path(&self.signing_key, "signing_key")?;
        let uploaders_keyring = configured_path(&self.uploaders_keyring, "uploaders_keyring")?;
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
        Ok(AptSettings {
            origin,
            label,
            valid_for,
            grace,
            signing_key,
            min_free_percent,
            uploaders_keyring,
            accept_unsigned: self.accept_unsigned.unwrap_or(false),
        })
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

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

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
        assert_eq!((settings.uploaders_keyring, settings.accept_unsigned), (None, false));
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
        let uploads =
            apt("[apt]\nuploaders_keyring = \"uploaders.gpg\"\naccept_unsigned = true\n").unwrap();
        let keyring = uploads.uploaders_keyring.unwrap();
        assert_eq!(
            (keyring.path.as_path(), keyring.line),
            (Path::new("/etc/wharf/uploaders.gpg"), 2)
        );
        assert!(uploads.accept_unsigned);
        let err = apt("[apt]\nuploaders_keyring = \"\"\n").unwrap_err().to_string();
        assert!(err.contains("apt.uploaders_keyring"), "{err}");
        let fractional = apt("[apt]\nmin_free_percent = 2.5\n").unwrap();
        assert!((fractional.min_free_percent - 2.5).abs() < f64::EPSILON);
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
}
