//! `Depends`/`Pre-Depends` as apt reads them for binary packages, and [`follow`]: which
//! packages of a source list a selection needs, as `repo copy --with-deps` asks. Pure.
//!
//! A group (`a | b (>= 1)`) is satisfied when any alternative is: by a package of that
//! name whose version meets the relation, or by one that `Provides` it (unversioned
//! dependencies by any provider, versioned ones only by a versioned `Provides`, as apt
//! does). Architectures: a dependency of an `amd64` package wants `amd64` or `all`
//! packages, `:any` any architecture; a dependency of an `all` package accepts any.

use std::collections::{HashMap, HashSet};
use std::str::FromStr as _;

use wharf_core::version::Version;

use crate::query::{Relation, control_field};

/// One alternative of a dependency group.
#[derive(Debug, Clone)]
pub struct Dependency {
    pub name: String,
    /// `:any` (or another qualifier): any architecture will do.
    pub any_arch: bool,
    pub relation: Option<(Relation, Version)>,
}

impl std::fmt::Display for Dependency {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.name)?;
        if let Some((relation, version)) = &self.relation {
            write!(f, " ({relation} {version})")?;
        }
        Ok(())
    }
}

/// Parse a relationship field into groups of alternatives; alternatives that do not parse
/// are left out (a `.deb` with a broken field was accepted by dpkg-deb).
#[must_use]
pub fn parse_relations(field: &str) -> Vec<Vec<Dependency>> {
    field
        .split(',')
        .map(|group| group.split('|').filter_map(parse_one).collect::<Vec<_>>())
        .filter(|group| !group.is_empty())
        .collect()
}

fn parse_one(text: &str) -> Option<Dependency> {
    // Architecture restrictions `[…]` and build profiles `<…>` follow the relation.
    let text = match text.split_once('(') {
        Some((name, rest)) => &text[..name.len() + 1 + rest.find(')')? + 1],
        None => text.split(['[', '<']).next()?,
    }
    .trim();
    let (name, relation) = match text.split_once('(') {
        Some((name, rest)) => {
            let inner = rest.split_once(')')?.0.trim();
            let split = inner.find(|c: char| !"<>=".contains(c))?;
            let relation = match &inner[..split] {
                "<<" => Relation::Less,
                "<=" | "<" => Relation::LessOrEqual,
                "=" => Relation::Equal,
                ">=" | ">" => Relation::GreaterOrEqual,
                ">>" => Relation::Greater,
                _ => return None,
            };
            (name.trim(), Some((relation, Version::from_str(inner[split..].trim()).ok()?)))
        }
        None => (text, None),
    };
    let (name, any_arch) = match name.split_once(':') {
        Some((name, _qualifier)) => (name, true),
        None => (name, false),
    };
    if name.is_empty() {
        return None;
    }
    Some(Dependency { name: name.to_owned(), any_arch, relation })
}

/// A package as [`follow`] sees it.
#[derive(Debug, Clone)]
pub struct DepPackage {
    pub name: String,
    pub version: String,
    pub architecture: String,
    /// `Pre-Depends` then `Depends`.
    pub depends: Vec<Vec<Dependency>>,
    /// `Provides`, each with its version when it has one.
    pub provides: Vec<Dependency>,
}

impl DepPackage {
    /// Read the relationship fields from a control stanza.
    #[must_use]
    pub fn from_control(name: &str, version: &str, architecture: &str, control: &str) -> Self {
        let mut depends = Vec::new();
        for field in ["Pre-Depends", "Depends"] {
            if let Some(value) = control_field(control, field) {
                depends.extend(parse_relations(&value));
            }
        }
        let provides = control_field(control, "Provides")
            .map(|value| parse_relations(&value).into_iter().flatten().collect())
            .unwrap_or_default();
        DepPackage {
            name: name.to_owned(),
            version: version.to_owned(),
            architecture: architecture.to_owned(),
            depends,
            provides,
        }
    }

    fn satisfies(&self, dep: &Dependency, wanted_arch: &str) -> bool {
        let arch_ok = dep.any_arch
            || wanted_arch == "all"
            || self.architecture == "all"
            || self.architecture == wanted_arch;
        if !arch_ok {
            return false;
        }
        let relation_holds = |have: Option<&Version>| match (&dep.relation, have) {
            (None, _) => true,
            (Some((relation, want)), Some(have)) => relation.holds(have.cmp(want)),
            (Some(_), None) => false,
        };
        if self.name == dep.name {
            return relation_holds(Version::from_str(&self.version).ok().as_ref());
        }
        self.provides.iter().any(|provided| {
            provided.name == dep.name
                && match &provided.relation {
                    Some((Relation::Equal, version)) => relation_holds(Some(version)),
                    _ => dep.relation.is_none(),
                }
        })
    }
}

/// What [`follow`] found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Followed {
    /// Indices into `source` the selection needs, besides the selection itself, in the
    /// order they were found.
    pub added: Vec<usize>,
    /// `pkg_version_arch: group` for every group neither `dest` nor `source` satisfies.
    pub missing: Vec<String>,
}

/// Follow the dependencies of `source[selected]`: every group not already satisfied by
/// `dest` or the selection is satisfied from `source` by the first alternative it can
/// satisfy, with the highest version that does; and so on for what that adds.
#[must_use]
pub fn follow(source: &[DepPackage], dest: &[DepPackage], selected: &[usize]) -> Followed {
    let mut by_name: HashMap<&str, Vec<usize>> = HashMap::new();
    for (idx, package) in source.iter().enumerate() {
        by_name.entry(package.name.as_str()).or_default().push(idx);
        for provided in &package.provides {
            by_name.entry(provided.name.as_str()).or_default().push(idx);
        }
    }
    let mut dest_by_name: HashMap<&str, Vec<&DepPackage>> = HashMap::new();
    for package in dest {
        dest_by_name.entry(package.name.as_str()).or_default().push(package);
        for provided in &package.provides {
            dest_by_name.entry(provided.name.as_str()).or_default().push(package);
        }
    }
    let mut chosen: HashSet<usize> = selected.iter().copied().collect();
    let mut queue: Vec<usize> = selected.to_vec();
    let mut out = Followed::default();
    while let Some(idx) = queue.pop() {
        let package = &source[idx];
        for group in &package.depends {
            let arch = package.architecture.as_str();
            let satisfied = group.iter().any(|dep| {
                let name = dep.name.as_str();
                dest_by_name.get(name).is_some_and(|ps| ps.iter().any(|p| p.satisfies(dep, arch)))
                    || by_name.get(name).is_some_and(|ps| {
                        ps.iter().any(|i| chosen.contains(i) && source[*i].satisfies(dep, arch))
                    })
            });
            if satisfied {
                continue;
            }
            let best = group.iter().find_map(|dep| {
                by_name
                    .get(dep.name.as_str())?
                    .iter()
                    .filter(|i| source[**i].satisfies(dep, arch))
                    .max_by(|a, b| {
                        let version = |i: usize| Version::from_str(&source[i].version).ok();
                        version(**a).cmp(&version(**b))
                    })
                    .copied()
            });
            match best {
                Some(found) => {
                    chosen.insert(found);
                    out.added.push(found);
                    queue.push(found);
                }
                None => {
                    let alternatives: Vec<String> = group.iter().map(ToString::to_string).collect();
                    out.missing.push(format!(
                        "{}_{}_{}: {}",
                        package.name,
                        package.version,
                        package.architecture,
                        alternatives.join(" | ")
                    ));
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn package(name: &str, version: &str, arch: &str, control: &str) -> DepPackage {
        DepPackage::from_control(name, version, arch, control)
    }

    fn names(source: &[DepPackage], followed: &Followed) -> Vec<String> {
        followed
            .added
            .iter()
            .map(|i| {
                format!("{}_{}_{}", source[*i].name, source[*i].version, source[*i].architecture)
            })
            .collect()
    }

    #[test]
    fn relations_parse_as_apt_reads_them() {
        let groups = parse_relations(
            "libc6 (>= 2.36), foo:any | bar (<< 1.0~), baz [amd64] <!nocheck>, (broken",
        );
        let text: Vec<Vec<String>> =
            groups.iter().map(|g| g.iter().map(ToString::to_string).collect()).collect();
        assert_eq!(text, [vec!["libc6 (>= 2.36)"], vec!["foo", "bar (<< 1.0~)"], vec!["baz"]]);
        assert!(groups[1][0].any_arch);
        let old = parse_relations("a (> 1), b (< 2)");
        assert_eq!(old[0][0].relation.as_ref().unwrap().0, Relation::GreaterOrEqual);
        assert_eq!(old[1][0].relation.as_ref().unwrap().0, Relation::LessOrEqual);
    }

    #[test]
    fn follows_dependencies_with_versions_and_architectures() {
        let source = vec![
            package("app", "2.0", "amd64", "Depends: libx (>= 1.5), data\nPre-Depends: tool"),
            package("libx", "1.0", "amd64", ""),
            package("libx", "1.6", "amd64", "Depends: libc-fake"),
            package("libx", "1.9", "arm64", ""),
            package("data", "1", "all", ""),
            package("tool", "1~rc1", "amd64", ""),
            package("libc-fake", "1", "amd64", ""),
            package("other", "1", "amd64", "Depends: virtual-mta | nothing-here, gone (>= 1)"),
            package("mta", "1", "amd64", "Provides: virtual-mta"),
        ];
        let followed = follow(&source, &[], &[0]);
        let mut added = names(&source, &followed);
        added.sort();
        assert_eq!(
            added,
            ["data_1_all", "libc-fake_1_amd64", "libx_1.6_amd64", "tool_1~rc1_amd64"]
        );
        assert!(followed.missing.is_empty(), "{:?}", followed.missing);

        // What the destination has already is not copied again.
        let dest = vec![package("libx", "1.7", "amd64", ""), package("data", "0", "all", "")];
        let mut added = names(&source, &follow(&source, &dest, &[0]));
        added.sort();
        assert_eq!(added, ["tool_1~rc1_amd64"]);

        // Virtual packages through Provides; unsatisfiable groups are reported.
        let followed = follow(&source, &[], &[7]);
        assert_eq!(names(&source, &followed), ["mta_1_amd64"]);
        assert_eq!(followed.missing, ["other_1_amd64: gone (>= 1)"]);
    }
}
