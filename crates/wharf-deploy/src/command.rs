//! Remote steps as shell commands: `[commands]` templates expanded with typed values.
//!
//! Every remote step of a deploy (install, version check, hold, restart, maintenance) is a
//! command line run with `sh -c` on each node by the fleet engine. Operators write the
//! templates ([`wharf_core::template`], checked when the configuration loads); this module
//! fills them in. Two rules make that safe:
//!
//! 1. Values are typed and validated before any command is built: [`PackageName`] (Debian
//!    policy), [`Version`] (dpkg's syntax, no whitespace), [`UnitName`]
//!    (`[A-Za-z0-9:_.@-]+`, not starting with `-`), [`NodeName`] (the inventory's rule),
//!    [`Reason`] (any text but NUL).
//! 2. Every value reaches the shell only single-quoted, by [`shell_quote`] — even the ones
//!    whose validation already excludes shell syntax. A [`ShellCommand`] can only be made by
//!    [`expand`], so holding one means the rule was followed.
//!
//! `{allow_downgrades}` is the one placeholder that is not a value: it is `--allow-downgrades`
//! when [`Values::allow_downgrades`] is set and nothing otherwise.

use std::fmt;
use std::str::FromStr;

use wharf_core::template::{CommandKey, CommandTemplates, Placeholder, Segment, Template};
use wharf_core::version::Version;

/// `s` as one POSIX shell word: wrapped in single quotes, each `'` written as `'\''`.
/// Inside single quotes no character is special, so the shell sees exactly `s`.
///
/// ```
/// use wharf_deploy::command::shell_quote;
/// assert_eq!(shell_quote("it's"), r"'it'\''s'");
/// assert_eq!(shell_quote(""), "''");
/// ```
#[must_use]
pub fn shell_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('\'');
    for c in s.chars() {
        if c == '\'' {
            out.push_str(r"'\''");
        } else {
            out.push(c);
        }
    }
    out.push('\'');
    out
}

/// A value refused before any command is built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {what} {value:?}: {reason}")]
pub struct ValueError {
    /// `package name`, `unit name`, `node name`, `reason`.
    pub what: &'static str,
    pub value: String,
    pub reason: String,
}

fn refuse<T>(what: &'static str, value: &str, reason: impl Into<String>) -> Result<T, ValueError> {
    Err(ValueError { what, value: value.to_owned(), reason: reason.into() })
}

/// A Debian binary package name (policy §5.6.1): at least two characters of `a-z`, `0-9`,
/// `+`, `-`, `.`, starting with a letter or digit.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PackageName(String);

impl PackageName {
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for PackageName {
    type Err = ValueError;

    fn from_str(name: &str) -> Result<Self, ValueError> {
        const WHAT: &str = "package name";
        if name.len() < 2 {
            return refuse(WHAT, name, "must be at least two characters long");
        }
        if !name.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit()) {
            return refuse(WHAT, name, "must start with a lower-case letter or digit");
        }
        if let Some(bad) = name
            .chars()
            .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || "+-.".contains(*c)))
        {
            return refuse(
                WHAT,
                name,
                format!("contains {bad:?}; only a-z, 0-9, '+', '-' and '.' are allowed"),
            );
        }
        Ok(PackageName(name.to_owned()))
    }
}

impl fmt::Display for PackageName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A systemd unit name: `[A-Za-z0-9:_.@-]+`, at most 256 bytes, not starting with `-` (it
/// would read as an option, quoted or not; so `-.mount` cannot be named).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct UnitName(String);

impl UnitName {
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for UnitName {
    type Err = ValueError;

    fn from_str(name: &str) -> Result<Self, ValueError> {
        const WHAT: &str = "unit name";
        if name.is_empty() || name.len() > 256 {
            return refuse(WHAT, name, "must be 1 to 256 characters long");
        }
        if name.starts_with('-') {
            return refuse(WHAT, name, "starts with '-', which commands read as an option");
        }
        if let Some(bad) =
            name.chars().find(|c| !(c.is_ascii_alphanumeric() || ":_.@-".contains(*c)))
        {
            return refuse(
                WHAT,
                name,
                format!(
                    "contains {bad:?}; only A-Z, a-z, 0-9, ':', '_', '.', '@' and '-' are allowed"
                ),
            );
        }
        Ok(UnitName(name.to_owned()))
    }
}

impl fmt::Display for UnitName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A node name as the inventory accepts it: `A-Z`, `a-z`, `0-9`, `-`, `_`, `.`, not
/// starting with `-`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct NodeName(String);

impl NodeName {
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for NodeName {
    type Err = ValueError;

    fn from_str(name: &str) -> Result<Self, ValueError> {
        const WHAT: &str = "node name";
        if name.is_empty() || name.starts_with('-') {
            return refuse(WHAT, name, "must be non-empty and not start with '-'");
        }
        if let Some(bad) = name.chars().find(|c| !(c.is_ascii_alphanumeric() || "-_.".contains(*c)))
        {
            return refuse(WHAT, name, format!("contains {bad:?}"));
        }
        Ok(NodeName(name.to_owned()))
    }
}

impl fmt::Display for NodeName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// An operator's reason (`--reason`, overrides): any text except NUL, which no shell
/// argument can carry, and not blank.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Reason(String);

impl Reason {
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for Reason {
    type Err = ValueError;

    fn from_str(text: &str) -> Result<Self, ValueError> {
        if text.trim().is_empty() {
            return refuse("reason", text, "is empty: say why");
        }
        if text.contains('\0') {
            return refuse("reason", text, "contains a NUL character");
        }
        Ok(Reason(text.to_owned()))
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A package at an exact version: one `{packages}` word, `'name=version'`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pin {
    pub name: PackageName,
    pub version: Version,
}

/// The values a command may refer to; the ones a template uses must be set.
#[derive(Debug, Clone, Copy, Default)]
pub struct Values<'a> {
    /// `{packages}` and `{package_names}`.
    pub packages: &'a [Pin],
    /// `{package}`; also `{package_names}` when `packages` is empty (`hold` of one package).
    pub package: Option<&'a PackageName>,
    pub version: Option<&'a Version>,
    pub unit: Option<&'a UnitName>,
    pub reason: Option<&'a Reason>,
    pub node: Option<&'a NodeName>,
    /// `{allow_downgrades}` expands to `--allow-downgrades`.
    pub allow_downgrades: bool,
}

/// A template that could not be filled in: a caller bug, not an operator's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("command `{key}` uses {placeholder} but no value was given")]
pub struct ExpandError {
    pub key: CommandKey,
    pub placeholder: Placeholder,
}

/// A command line ready for `sh -c`: made only by [`expand`], so every value in it is
/// validated and single-quoted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShellCommand {
    key: CommandKey,
    line: String,
}

impl ShellCommand {
    /// The step this command performs.
    #[must_use]
    pub fn key(&self) -> CommandKey {
        self.key
    }

    /// The command line.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.line
    }

    #[must_use]
    pub fn into_string(self) -> String {
        self.line
    }
}

impl fmt::Display for ShellCommand {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.line)
    }
}

/// Fill in `template`. Values are shell-quoted; a list (`{packages}`, `{package_names}`) is
/// one quoted word per item, separated by spaces, and must not be empty.
pub fn expand(template: &Template, values: &Values<'_>) -> Result<ShellCommand, ExpandError> {
    let key = template.key();
    let missing = |placeholder| ExpandError { key, placeholder };
    let mut line = String::with_capacity(template.as_str().len() + 64);
    for segment in template.segments() {
        let placeholder = match segment {
            Segment::Literal(text) => {
                line.push_str(text);
                continue;
            }
            Segment::Placeholder(placeholder) => *placeholder,
        };
        let words: Vec<String> = match placeholder {
            Placeholder::Packages => {
                values.packages.iter().map(|pin| format!("{}={}", pin.name, pin.version)).collect()
            }
            // A hold or unhold names packages without versions: the one `package`.
            Placeholder::PackageNames if values.packages.is_empty() => {
                values.package.map(ToString::to_string).into_iter().collect()
            }
            Placeholder::PackageNames => {
                values.packages.iter().map(|pin| pin.name.to_string()).collect()
            }
            Placeholder::Package => values.package.map(ToString::to_string).into_iter().collect(),
            Placeholder::Version => values.version.map(ToString::to_string).into_iter().collect(),
            Placeholder::Unit => values.unit.map(ToString::to_string).into_iter().collect(),
            Placeholder::Reason => values.reason.map(ToString::to_string).into_iter().collect(),
            Placeholder::Node => values.node.map(ToString::to_string).into_iter().collect(),
            Placeholder::AllowDowngrades => {
                // A fixed flag, not a value: nothing to quote.
                if values.allow_downgrades {
                    line.push_str("--allow-downgrades");
                }
                continue;
            }
        };
        if words.is_empty() {
            return Err(missing(placeholder));
        }
        let quoted: Vec<String> = words.iter().map(|word| shell_quote(word)).collect();
        line.push_str(&quoted.join(" "));
    }
    Ok(ShellCommand { key, line })
}

/// The command of step `key` in `templates`, expanded; `Ok(None)` when the step has no
/// command (no default and none configured, or configured as `""`).
pub fn expand_step(
    templates: &CommandTemplates,
    key: CommandKey,
    values: &Values<'_>,
) -> Result<Option<ShellCommand>, ExpandError> {
    templates.get(key).map(|template| expand(template, values)).transpose()
}

#[cfg(test)]
mod tests;
