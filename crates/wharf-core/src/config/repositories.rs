//! `[[repositories]]`: the APT repositories this Wharf should have, declared the way
//! Toolforge declares its aptly repositories in puppet (seed 004: one per OS release and
//! project, `bookworm-tools`, `bookworm-toolsbeta`). `wharf apply` and `wharf server`
//! (on start and SIGHUP) create what is missing and report what differs.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::{Config, ConfigError, ConfigSource, Spanned};
use crate::names;

/// `[[repositories]]` as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RepositoryConfig {
    pub name: Spanned<String>,
    /// Suite and Codename of the published `Release`: what clients write in
    /// `sources.list`.
    pub distribution: Spanned<String>,
    /// Default `["main"]`.
    pub components: Option<Spanned<Vec<String>>>,
    /// Default `["amd64"]`; never `all`.
    pub architectures: Option<Spanned<Vec<String>>>,
    /// Where `wharf publish NAME` publishes (`/apt/PREFIX/…`). Default: the name.
    pub prefix: Option<Spanned<String>>,
    /// Shown by `repo show` and in the `Release` file's Description.
    pub comment: Option<String>,
    /// `Contents-ARCH.gz` indices for `apt-file` (default `true`).
    pub contents: Option<bool>,
    /// Snapshot policy: `{ on = "publish", name = "{repo}-{date}-{n}", keep = 10 }`.
    pub snapshot: Option<Spanned<SnapshotPolicyConfig>>,
}

/// `snapshot = { … }` of a `[[repositories]]` entry, as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SnapshotPolicyConfig {
    /// When a snapshot is taken: `publish` (the only one, and the default).
    pub on: Option<Spanned<String>>,
    /// The name template (default `{repo}-{date}-{n}`).
    pub name: Option<Spanned<String>>,
    /// How many snapshots made by the policy to keep (default 10).
    pub keep: Option<Spanned<i64>>,
}

/// A checked snapshot policy: every publish of the repository also takes a snapshot named
/// by `name`; those the policy made beyond the newest `keep` are dropped, never one made
/// by hand or one that is published.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeclaredSnapshotPolicy {
    pub name: String,
    pub keep: u32,
}

impl SnapshotPolicyConfig {
    /// `name` when none is written.
    pub const DEFAULT_NAME: &'static str = "{repo}-{date}-{n}";
    /// `keep` when none is written.
    pub const DEFAULT_KEEP: u32 = 10;
}

/// The snapshot name `template` gives: `{repo}` the repository, `{date}` the UTC date
/// (`YYYYMMDD`), `{n}` a number that makes the name new. The error says what is wrong
/// with the template: an unknown or unclosed placeholder, no `{n}`, or a name that is not
/// a valid one.
pub fn snapshot_name(template: &str, repo: &str, date: &str, n: u32) -> Result<String, String> {
    let mut out = String::new();
    let mut rest = template;
    let mut numbered = false;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let Some(close) = rest[open..].find('}') else {
            return Err(format!("{template:?} has an unclosed '{{'"));
        };
        match &rest[open + 1..open + close] {
            "repo" => out.push_str(repo),
            "date" => out.push_str(date),
            "n" => {
                numbered = true;
                out.push_str(&n.to_string());
            }
            other => {
                return Err(format!(
                    "{template:?} has an unknown placeholder {{{other}}}: use {{repo}}, {{date}} and {{n}}"
                ));
            }
        }
        rest = &rest[open + close + 1..];
    }
    out.push_str(rest);
    if !numbered {
        return Err(format!(
            "{template:?} has no {{n}}: two publishes would want the same name (e.g. \"{{repo}}-{{date}}-{{n}}\")"
        ));
    }
    names::check_name("snapshot name", &out)?;
    Ok(out)
}

/// Check a `snapshot = { … }` entry of repository `repo`.
fn snapshot_policy(
    source: &ConfigSource,
    repo: &str,
    policy: &Spanned<SnapshotPolicyConfig>,
) -> Result<DeclaredSnapshotPolicy, ConfigError> {
    let key = |k: &str| format!("repositories.{repo}.snapshot.{k}");
    let config = policy.get_ref();
    if let Some(on) = &config.on
        && on.get_ref() != "publish"
    {
        return Err(source.error(
            Some(on.span()),
            Some(&key("on")),
            format!(
                "{:?} is not a snapshot trigger: the one there is is \"publish\"",
                on.get_ref()
            ),
        ));
    }
    let name = config
        .name
        .as_ref()
        .map_or_else(|| SnapshotPolicyConfig::DEFAULT_NAME.to_owned(), |n| n.get_ref().clone());
    let span = config.name.as_ref().map_or(policy.span(), Spanned::span);
    snapshot_name(&name, repo, "20260101", 1)
        .map_err(|why| source.error(Some(span), Some(&key("name")), why))?;
    let keep = match &config.keep {
        None => SnapshotPolicyConfig::DEFAULT_KEEP,
        Some(keep) => u32::try_from(*keep.get_ref()).ok().filter(|k| *k >= 1).ok_or_else(|| {
            source.error(
                Some(keep.span()),
                Some(&key("keep")),
                format!("is {}: keep at least 1 snapshot", keep.get_ref()),
            )
        })?,
    };
    Ok(DeclaredSnapshotPolicy { name, keep })
}

/// A `[[repositories]]` entry, checked, with its defaults filled in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeclaredRepository {
    pub name: String,
    pub distribution: String,
    pub components: Vec<String>,
    pub architectures: Vec<String>,
    /// `None`: published under its name.
    pub prefix: Option<String>,
    pub comment: Option<String>,
    /// Whether publishes carry `Contents` indices.
    pub contents: bool,
    /// `None`: publishes take no snapshot.
    pub snapshot: Option<DeclaredSnapshotPolicy>,
    /// The line of the entry's `name`, for reports.
    pub line: usize,
}

impl RepositoryConfig {
    /// `components` when none are written.
    pub const DEFAULT_COMPONENTS: &'static [&'static str] = &["main"];
    /// `architectures` when none are written (as `wharf repo create`).
    pub const DEFAULT_ARCHITECTURES: &'static [&'static str] = &["amd64"];
}

/// A list of names, each checked by `check`, without repeats; `default` when absent.
fn name_list(
    source: &ConfigSource,
    list: Option<&Spanned<Vec<String>>>,
    default: &[&str],
    key: &str,
    check: impl Fn(&str) -> Result<(), String>,
) -> Result<Vec<String>, ConfigError> {
    let Some(list) = list else { return Ok(default.iter().map(|s| (*s).to_owned()).collect()) };
    let fail = |why: String| source.error(Some(list.span()), Some(key), why);
    if list.get_ref().is_empty() {
        return Err(fail("is empty: name at least one, or leave the key out".to_owned()));
    }
    let mut seen = std::collections::BTreeSet::new();
    for item in list.get_ref() {
        check(item).map_err(&fail)?;
        if !seen.insert(item) {
            return Err(fail(format!("names {item:?} twice")));
        }
    }
    Ok(list.get_ref().clone())
}

impl Config {
    /// Every `[[repositories]]` entry checked as `wharf repo create` checks its
    /// arguments (names, distribution, components, architectures — `all` is not one —
    /// and the publish prefix), with unique names and unique prefixes.
    pub fn resolve_repositories(
        &self,
        source: &ConfigSource,
    ) -> Result<Vec<DeclaredRepository>, ConfigError> {
        let mut names_seen = BTreeMap::new();
        let mut prefixes_seen: BTreeMap<String, String> = BTreeMap::new();
        let mut all = Vec::with_capacity(self.repositories.len());
        for entry in &self.repositories {
            let name = entry.name.get_ref().clone();
            let key = |k: &str| format!("repositories.{name}.{k}");
            let at = |span: std::ops::Range<usize>, k: &str, why: String| {
                source.error(Some(span), Some(&key(k)), why)
            };
            names::check_name("repository name", &name)
                .map_err(|why| at(entry.name.span(), "name", why))?;
            let line = source.line_of(entry.name.span().start);
            if let Some(first) = names_seen.insert(name.clone(), line) {
                return Err(at(
                    entry.name.span(),
                    "name",
                    format!(
                        "is declared twice (first on line {first}): repository names must be unique"
                    ),
                ));
            }
            let distribution = entry.distribution.get_ref().clone();
            names::check_name("distribution", &distribution)
                .map_err(|why| at(entry.distribution.span(), "distribution", why))?;
            let components = name_list(
                source,
                entry.components.as_ref(),
                RepositoryConfig::DEFAULT_COMPONENTS,
                &key("components"),
                |c| names::check_name("component", c),
            )?;
            let architectures = name_list(
                source,
                entry.architectures.as_ref(),
                RepositoryConfig::DEFAULT_ARCHITECTURES,
                &key("architectures"),
                names::check_repository_architecture,
            )?;
            let prefix = match &entry.prefix {
                None => None,
                Some(prefix) => {
                    names::check_name("prefix", prefix.get_ref())
                        .map_err(|why| at(prefix.span(), "prefix", why))?;
                    Some(prefix.get_ref().clone())
                }
            };
            let published_at = prefix.clone().unwrap_or_else(|| name.clone());
            if let Some(other) = prefixes_seen.insert(published_at.clone(), name.clone()) {
                let span = entry.prefix.as_ref().map_or(entry.name.span(), Spanned::span);
                return Err(at(
                    span,
                    "prefix",
                    format!(
                        "repository {other:?} is already published at {published_at:?}: give one of them another prefix"
                    ),
                ));
            }
            let snapshot = entry
                .snapshot
                .as_ref()
                .map(|policy| snapshot_policy(source, &name, policy))
                .transpose()?;
            all.push(DeclaredRepository {
                name,
                distribution,
                components,
                architectures,
                prefix,
                comment: entry.comment.clone(),
                contents: entry.contents.unwrap_or(true),
                snapshot,
                line,
            });
        }
        Ok(all)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resolve(text: &str) -> Result<Vec<DeclaredRepository>, ConfigError> {
        let source = ConfigSource::new("wharf.toml", text);
        source.parse()?.resolve_repositories(&source)
    }

    #[test]
    fn defaults_and_values() {
        let repos = resolve(concat!(
            "[[repositories]]\nname = \"bookworm-tools\"\ndistribution = \"bookworm\"\n\n",
            "[[repositories]]\nname = \"bookworm-toolsbeta\"\ndistribution = \"bookworm\"\n",
            "components = [\"main\", \"contrib\"]\narchitectures = [\"amd64\", \"arm64\"]\n",
            "prefix = \"beta\"\ncomment = \"Toolsbeta\"\n",
        ))
        .unwrap();
        assert_eq!(repos.len(), 2);
        assert_eq!(
            repos[0],
            DeclaredRepository {
                name: "bookworm-tools".into(),
                distribution: "bookworm".into(),
                components: vec!["main".into()],
                architectures: vec!["amd64".into()],
                prefix: None,
                comment: None,
                contents: true,
                snapshot: None,
                line: 2,
            }
        );
        assert_eq!(repos[1].components, ["main", "contrib"]);
        assert_eq!(repos[1].architectures, ["amd64", "arm64"]);
        assert_eq!(repos[1].prefix.as_deref(), Some("beta"));
        assert_eq!(repos[1].comment.as_deref(), Some("Toolsbeta"));
        assert_eq!(repos[1].line, 6);
    }

    #[test]
    fn snapshot_policies_with_defaults() {
        let head = "[[repositories]]\nname = \"tools\"\ndistribution = \"bookworm\"\n";
        let repos = resolve(&format!("{head}snapshot = {{ on = \"publish\" }}\n")).unwrap();
        let policy = DeclaredSnapshotPolicy { name: "{repo}-{date}-{n}".into(), keep: 10 };
        assert_eq!(repos[0].snapshot, Some(policy));
        let repos =
            resolve(&format!("{head}[repositories.snapshot]\nname = \"rel-{{n}}\"\nkeep = 3\n"))
                .unwrap();
        assert_eq!(
            repos[0].snapshot,
            Some(DeclaredSnapshotPolicy { name: "rel-{n}".into(), keep: 3 })
        );
        assert_eq!(
            snapshot_name("{repo}-{date}-{n}", "tools", "20261201", 12).unwrap(),
            "tools-20261201-12"
        );
        assert!(snapshot_name("{repo}-{n", "t", "d", 1).unwrap_err().contains("unclosed"));
    }

    #[test]
    fn bad_entries_name_key_and_line() {
        let head = "[[repositories]]\nname = \"r\"\ndistribution = \"bookworm\"\n";
        for (text, line, key, says) in [
            (
                "[[repositories]]\nname = \"a/b\"\ndistribution = \"x\"\n",
                2,
                "repositories.a/b.name",
                "invalid repository name",
            ),
            (
                "[[repositories]]\nname = \"r\"\ndistribution = \"bad dist\"\n",
                3,
                "repositories.r.distribution",
                "invalid distribution",
            ),
            (
                &format!("{head}architectures = [\"all\"]\n"),
                4,
                "repositories.r.architectures",
                "`all` is not",
            ),
            (
                &format!("{head}architectures = [\"amd64\", \"amd64\"]\n"),
                4,
                "repositories.r.architectures",
                "twice",
            ),
            (&format!("{head}components = []\n"), 4, "repositories.r.components", "is empty"),
            (
                &format!("{head}components = [\"ma in\"]\n"),
                4,
                "repositories.r.components",
                "invalid component",
            ),
            (&format!("{head}prefix = \"../x\"\n"), 4, "repositories.r.prefix", "invalid prefix"),
            (
                &format!("{head}\n{head}"),
                6,
                "repositories.r.name",
                "declared twice (first on line 2)",
            ),
            (
                &format!(
                    "{head}\n[[repositories]]\nname = \"s\"\ndistribution = \"b\"\nprefix = \"r\"\n"
                ),
                8,
                "repositories.s.prefix",
                "already published at \"r\"",
            ),
            (&format!("{head}suite = \"x\"\n"), 4, "suite", "unknown field"),
            (
                &format!("{head}snapshot = {{ on = \"add\" }}\n"),
                4,
                "repositories.r.snapshot.on",
                "not a snapshot trigger",
            ),
            (
                &format!("{head}snapshot = {{ name = \"{{repo}}-{{date}}\" }}\n"),
                4,
                "repositories.r.snapshot.name",
                "has no {n}",
            ),
            (
                &format!("{head}snapshot = {{ name = \"{{repo}}-{{when}}-{{n}}\" }}\n"),
                4,
                "repositories.r.snapshot.name",
                "unknown placeholder {when}",
            ),
            (
                &format!("{head}snapshot = {{ name = \"{{repo}}/{{n}}\" }}\n"),
                4,
                "repositories.r.snapshot.name",
                "invalid snapshot name \"r/1\"",
            ),
            (
                &format!("{head}snapshot = {{ keep = 0 }}\n"),
                4,
                "repositories.r.snapshot.keep",
                "keep at least 1",
            ),
            (&format!("{head}snapshot = {{ every = \"day\" }}\n"), 4, "every", "unknown field"),
        ] {
            let err = resolve(text).expect_err(text);
            assert_eq!((err.line, err.key.as_deref()), (Some(line), Some(key)), "{text}: {err}");
            assert!(err.message.contains(says), "{text}: {err}");
        }
    }
}
