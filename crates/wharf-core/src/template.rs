//! Command templates: the `[commands]` keys of `wharf.toml`, their placeholders and their
//! Debian defaults.
//!
//! A template is shell text with placeholders in braces — `systemctl restart {unit}` —
//! and `{{` / `}}` for literal braces (`dpkg-query -f='${{Version}}'`). Each
//! [`CommandKey`] allows its own set of [`Placeholder`]s; any other `{name}` is refused
//! when the configuration is loaded, so a typo never reaches a node. This module only
//! parses and checks the syntax; `wharf-deploy`'s `command` module expands templates
//! with typed, validated values, each one shell-quoted.

use std::fmt;

/// A value a template can refer to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Placeholder {
    /// `{packages}`: one shell word `'name=version'` per package.
    Packages,
    /// `{package_names}`: one shell word per package name.
    PackageNames,
    /// `{package}`: one package name.
    Package,
    /// `{version}`: the version being deployed.
    Version,
    /// `{allow_downgrades}`: `--allow-downgrades` when the install is a downgrade, else
    /// nothing. A flag chosen by Wharf, not a value.
    AllowDowngrades,
    /// `{unit}`: a systemd unit.
    Unit,
    /// `{reason}`: the operator's reason, any text.
    Reason,
    /// `{node}`: the node the command runs on.
    Node,
}

impl Placeholder {
    pub const ALL: [Placeholder; 8] = [
        Placeholder::Packages,
        Placeholder::PackageNames,
        Placeholder::Package,
        Placeholder::Version,
        Placeholder::AllowDowngrades,
        Placeholder::Unit,
        Placeholder::Reason,
        Placeholder::Node,
    ];

    /// The name written between the braces.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Placeholder::Packages => "packages",
            Placeholder::PackageNames => "package_names",
            Placeholder::Package => "package",
            Placeholder::Version => "version",
            Placeholder::AllowDowngrades => "allow_downgrades",
            Placeholder::Unit => "unit",
            Placeholder::Reason => "reason",
            Placeholder::Node => "node",
        }
    }

    /// The placeholder called `name`, if there is one.
    #[must_use]
    pub fn from_name(name: &str) -> Option<Placeholder> {
        Self::ALL.into_iter().find(|p| p.name() == name)
    }
}

impl fmt::Display for Placeholder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{{{}}}", self.name())
    }
}

/// A key of `[commands]`: one remote step of a deploy, hold or maintenance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum CommandKey {
    Install,
    Version,
    Hold,
    Unhold,
    Holds,
    Stop,
    Start,
    Restart,
    Status,
    Reconfigure,
    MaintenanceStart,
    MaintenanceStop,
}

/// The default `install`: refresh the lists, then install the pinned versions without
/// questions, keeping locally changed configuration files (seed `003_…`).
const DEFAULT_INSTALL: &str = "apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y \
     -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold \
     {allow_downgrades} {packages}";

/// The default `version`: the installed version, or nothing (and exit 0) when the package
/// is not installed — `dpkg-query -W` alone fails for unknown packages and prints a version
/// for removed ones whose configuration files remain.
const DEFAULT_VERSION: &str = "dpkg-query -W -f='${{db:Status-Status}} ${{Version}}' {package} 2>/dev/null | sed -n 's/^installed //p'";

impl CommandKey {
    pub const ALL: [CommandKey; 12] = [
        CommandKey::Install,
        CommandKey::Version,
        CommandKey::Hold,
        CommandKey::Unhold,
        CommandKey::Holds,
        CommandKey::Stop,
        CommandKey::Start,
        CommandKey::Restart,
        CommandKey::Status,
        CommandKey::Reconfigure,
        CommandKey::MaintenanceStart,
        CommandKey::MaintenanceStop,
    ];

    /// The key as written in `[commands]`.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            CommandKey::Install => "install",
            CommandKey::Version => "version",
            CommandKey::Hold => "hold",
            CommandKey::Unhold => "unhold",
            CommandKey::Holds => "holds",
            CommandKey::Stop => "stop",
            CommandKey::Start => "start",
            CommandKey::Restart => "restart",
            CommandKey::Status => "status",
            CommandKey::Reconfigure => "reconfigure",
            CommandKey::MaintenanceStart => "maintenance_start",
            CommandKey::MaintenanceStop => "maintenance_stop",
        }
    }

    /// The placeholders this command may use. `{node}` is allowed everywhere.
    #[must_use]
    pub fn allowed(self) -> &'static [Placeholder] {
        use Placeholder as P;
        match self {
            CommandKey::Install => {
                &[P::Packages, P::PackageNames, P::Version, P::AllowDowngrades, P::Node]
            }
            CommandKey::Version => &[P::Package, P::Node],
            CommandKey::Hold | CommandKey::Unhold => &[P::PackageNames, P::Reason, P::Node],
            CommandKey::Holds => &[P::Node],
            CommandKey::Stop | CommandKey::Start | CommandKey::Restart | CommandKey::Status => {
                &[P::Unit, P::Node]
            }
            CommandKey::Reconfigure => &[P::PackageNames, P::Version, P::Node],
            CommandKey::MaintenanceStart | CommandKey::MaintenanceStop => {
                &[P::Reason, P::Version, P::Node]
            }
        }
    }

    /// The Debian default, or `None` for steps that have none (`reconfigure`,
    /// `maintenance_start`, `maintenance_stop`).
    #[must_use]
    pub fn default_text(self) -> Option<&'static str> {
        Some(match self {
            CommandKey::Install => DEFAULT_INSTALL,
            CommandKey::Version => DEFAULT_VERSION,
            CommandKey::Hold => "apt-mark hold {package_names}",
            CommandKey::Unhold => "apt-mark unhold {package_names}",
            CommandKey::Holds => "apt-mark showhold",
            CommandKey::Stop => "systemctl stop {unit}",
            CommandKey::Start => "systemctl start {unit}",
            CommandKey::Restart => "systemctl restart {unit}",
            CommandKey::Status => "systemctl is-active {unit}",
            CommandKey::Reconfigure
            | CommandKey::MaintenanceStart
            | CommandKey::MaintenanceStop => {
                return None;
            }
        })
    }
}

impl fmt::Display for CommandKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One piece of a parsed template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Segment {
    /// Shell text, copied as is (`{{`/`}}` already turned into `{`/`}`).
    Literal(String),
    /// A value, substituted shell-quoted.
    Placeholder(Placeholder),
}

/// A checked template for one [`CommandKey`]: every placeholder is one that key allows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    key: CommandKey,
    text: String,
    segments: Vec<Segment>,
}

impl Template {
    /// Parse `text` as the template of `key`. The error says what is wrong and how to fix it
    /// (the caller adds file, line and key).
    pub fn parse(key: CommandKey, text: &str) -> Result<Template, String> {
        if text.contains('\0') {
            return Err("contains a NUL character".to_owned());
        }
        let mut segments = Vec::new();
        let mut literal = String::new();
        let mut rest = text;
        while let Some(pos) = rest.find(['{', '}']) {
            literal.push_str(&rest[..pos]);
            let tail = &rest[pos..];
            if let Some(after) = tail.strip_prefix("{{").or_else(|| tail.strip_prefix("}}")) {
                literal.push_str(&tail[..1]);
                rest = after;
                continue;
            }
            if tail.starts_with('}') {
                return Err(format!(
                    "{text:?} has a `}}` without its `{{` (write `}}}}` for a literal brace)"
                ));
            }
            let Some(end) = tail.find('}') else {
                return Err(format!(
                    "{text:?} has a `{{` that is not closed (write `{{{{` for a literal brace)"
                ));
            };
            let name = &tail[1..end];
            let allowed = key.allowed();
            let list = || allowed.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ");
            match Placeholder::from_name(name) {
                Some(placeholder) if allowed.contains(&placeholder) => {
                    if !literal.is_empty() {
                        segments.push(Segment::Literal(std::mem::take(&mut literal)));
                    }
                    segments.push(Segment::Placeholder(placeholder));
                }
                Some(placeholder) => {
                    return Err(format!(
                        "{placeholder} is not available in `{key}` (it may use {}); \
                         write `{{{{`/`}}}}` for literal braces",
                        list()
                    ));
                }
                None => {
                    return Err(format!(
                        "unknown placeholder `{{{name}}}` (`{key}` may use {}); \
                         write `{{{{`/`}}}}` for literal braces, e.g. `${{{{Version}}}}`",
                        list()
                    ));
                }
            }
            rest = &tail[end + 1..];
        }
        literal.push_str(rest);
        if !literal.is_empty() {
            segments.push(Segment::Literal(literal));
        }
        Ok(Template { key, text: text.to_owned(), segments })
    }

    /// The Debian default of `key`, if it has one.
    #[must_use]
    pub fn default_for(key: CommandKey) -> Option<Template> {
        key.default_text()
            .map(|text| Template::parse(key, text).expect("every default template is valid"))
    }

    #[must_use]
    pub fn key(&self) -> CommandKey {
        self.key
    }

    /// The template as written.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.text
    }

    #[must_use]
    pub fn segments(&self) -> &[Segment] {
        &self.segments
    }

    /// Whether the template refers to `placeholder`.
    #[must_use]
    pub fn uses(&self, placeholder: Placeholder) -> bool {
        self.segments.contains(&Segment::Placeholder(placeholder))
    }
}

impl fmt::Display for Template {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// The commands of one environment, resolved: environment value, else `[commands]`, else
/// the Debian default. `None` for a step without a command (no default, or configured as
/// `""`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandTemplates {
    templates: Vec<Option<Template>>,
}

impl CommandTemplates {
    /// Every key at its Debian default.
    #[must_use]
    pub fn defaults() -> CommandTemplates {
        CommandTemplates { templates: CommandKey::ALL.map(Template::default_for).to_vec() }
    }

    /// The template of `key`, or `None` when that step has no command.
    #[must_use]
    pub fn get(&self, key: CommandKey) -> Option<&Template> {
        self.templates[key as usize].as_ref()
    }

    /// Replace the template of `key` (`None`: no command).
    pub fn set(&mut self, key: CommandKey, template: Option<Template>) {
        assert!(template.as_ref().is_none_or(|t| t.key == key), "template for another key");
        self.templates[key as usize] = template;
    }
}

impl Default for CommandTemplates {
    fn default() -> Self {
        Self::defaults()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_index_in_order() {
        for (i, key) in CommandKey::ALL.into_iter().enumerate() {
            assert_eq!(key as usize, i);
        }
    }

    #[test]
    fn defaults_parse_and_use_only_allowed_placeholders() {
        let templates = CommandTemplates::defaults();
        for key in CommandKey::ALL {
            let has_default = !matches!(
                key,
                CommandKey::Reconfigure
                    | CommandKey::MaintenanceStart
                    | CommandKey::MaintenanceStop
            );
            assert_eq!(templates.get(key).is_some(), has_default, "{key}");
        }
        let version = templates.get(CommandKey::Version).unwrap();
        assert!(version.uses(Placeholder::Package));
        let Segment::Literal(first) = &version.segments()[0] else { panic!() };
        assert_eq!(first, "dpkg-query -W -f='${db:Status-Status} ${Version}' ");
    }

    #[test]
    fn parse_table() {
        use Placeholder as P;
        use Segment::{Literal as L, Placeholder as H};
        let l = |s: &str| L(s.to_owned());
        let cases: [(CommandKey, &str, Vec<Segment>); 6] = [
            (
                CommandKey::Restart,
                "systemctl restart {unit}",
                vec![l("systemctl restart "), H(P::Unit)],
            ),
            (CommandKey::Holds, "apt-mark showhold", vec![l("apt-mark showhold")]),
            (CommandKey::Holds, "", vec![]),
            (CommandKey::Version, "{{{package}}}", vec![l("{"), H(P::Package), l("}")]),
            (CommandKey::Version, "a {{b}} c", vec![l("a {b} c")]),
            (
                CommandKey::MaintenanceStart,
                "puppet agent --disable {reason}; echo {node}",
                vec![l("puppet agent --disable "), H(P::Reason), l("; echo "), H(P::Node)],
            ),
        ];
        for (key, text, segments) in cases {
            let template = Template::parse(key, text).unwrap();
            assert_eq!(template.segments(), segments, "{text}");
            assert_eq!(template.as_str(), text);
        }
    }

    #[test]
    fn bad_templates_say_why() {
        let cases = [
            (CommandKey::Restart, "systemctl restart {unti}", "unknown placeholder `{unti}`"),
            (
                CommandKey::Version,
                "dpkg-query -f='${Version}' {package}",
                "unknown placeholder `{Version}`",
            ),
            (
                CommandKey::Restart,
                "systemctl restart {reason}",
                "{reason} is not available in `restart`",
            ),
            (CommandKey::Holds, "apt-mark showhold {package_names}", "may use {node}"),
            (CommandKey::Stop, "stop {unit", "not closed"),
            (CommandKey::Stop, "stop unit}", "without its"),
            (CommandKey::Stop, "stop {}", "unknown placeholder `{}`"),
            (CommandKey::Stop, "stop \0", "NUL"),
        ];
        for (key, text, message) in cases {
            let err = Template::parse(key, text).unwrap_err();
            assert!(err.contains(message), "{text:?}: {err}");
        }
    }
}

#[cfg(test)]
mod config_tests {
    use std::path::Path;

    use super::*;
    use crate::config::{Config, ConfigError, ConfigSource};

    fn load(text: &str) -> Result<(Config, ConfigSource), ConfigError> {
        let source = ConfigSource::new("/etc/wharf/wharf.toml", text);
        Ok((source.parse()?, source))
    }

    const ENVS: &str = "[commands]\nrestart = \"gitlab-ctl restart {unit}\"\nreconfigure = \"gitlab-ctl reconfigure\"\n\n[[environments]]\nname = \"gstg\"\nnodes = \"a\"\ncommands = { reconfigure = \"\", maintenance_start = \"puppet agent --disable {reason}\" }\n\n[[environments]]\nname = \"gprd\"\nnodes = \"a\"\n";

    #[test]
    fn environment_overrides_global_overrides_default() {
        let (config, source) = load(ENVS).unwrap();
        let text = |env, key| {
            let templates = config.commands_for(env, &source).unwrap();
            templates.get(key).map(|t| t.as_str().to_owned())
        };
        assert_eq!(text(None, CommandKey::Restart).as_deref(), Some("gitlab-ctl restart {unit}"));
        assert_eq!(text(None, CommandKey::Stop).as_deref(), Some("systemctl stop {unit}"));
        assert_eq!(
            text(Some("gprd"), CommandKey::Reconfigure).as_deref(),
            Some("gitlab-ctl reconfigure")
        );
        assert_eq!(text(Some("gstg"), CommandKey::Reconfigure), None, "\"\" turns a step off");
        assert_eq!(
            text(Some("gstg"), CommandKey::MaintenanceStart).as_deref(),
            Some("puppet agent --disable {reason}")
        );
        assert_eq!(text(Some("gprd"), CommandKey::MaintenanceStart), None);
        assert_eq!(
            text(Some("gstg"), CommandKey::Restart).as_deref(),
            Some("gitlab-ctl restart {unit}")
        );
        assert!(config.commands_for(Some("nope"), &source).is_err());
        let empty = Config::parse(Path::new("w.toml"), "").unwrap();
        let source = ConfigSource::new("w.toml", "");
        assert_eq!(empty.commands_for(None, &source).unwrap(), CommandTemplates::defaults());
    }

    #[test]
    fn bad_templates_are_refused_at_load_with_key_and_line() {
        let cases = [
            (
                "[commands]\nstop = \"x\"\nrestart = \"systemctl restart {unti}\"\n",
                3,
                "commands.restart",
                "unknown placeholder",
            ),
            (
                "[commands]\ninstall = \"apt-get install {unit}\"\n",
                2,
                "commands.install",
                "not available in `install`",
            ),
            (
                "[[environments]]\nname = \"gstg\"\nnodes = \"a\"\ncommands = { version = \"dpkg-query -f='${Version}' {package}\" }\n",
                4,
                "environments.gstg.commands.version",
                "{{",
            ),
            ("[commands]\nreboot = \"reboot\"\n", 2, "reboot", "unknown field"),
        ];
        let err = load(cases[2].0).unwrap_err();
        assert_eq!(
            err.to_string(),
            "/etc/wharf/wharf.toml:4: key `environments.gstg.commands.version`: unknown placeholder \
             `{Version}` (`version` may use {package}, {node}); write `{{`/`}}` for literal braces, \
             e.g. `${{Version}}`"
        );
        for (text, line, key, message) in cases {
            let err = load(text).unwrap_err();
            assert_eq!((err.line, err.key.as_deref()), (Some(line), Some(key)), "{err}");
            assert!(err.message.contains(message), "{err}");
        }
    }
}
