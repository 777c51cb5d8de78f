//! [`PackageQuery`]: which packages `repo remove` means — `pkg`, `pkg (= version)` or
//! `pkg_version_arch`.

use std::str::FromStr as _;

use wharf_core::version::Version;
use wharf_store::AptPackageRow;

use crate::error::{AppError, Result};

/// A parsed package query.
#[derive(Debug, PartialEq, Eq)]
pub struct PackageQuery {
    name: String,
    version: Option<Version>,
    arch: Option<String>,
}

impl PackageQuery {
    /// Parse a query; the error names the query and the expected forms.
    pub fn parse(text: &str) -> Result<PackageQuery> {
        let text = text.trim();
        let invalid =
            |why: String| AppError::invalid(format!("invalid package query {text:?}: {why}"));
        let version = |text: &str| Version::from_str(text).map_err(|err| invalid(err.to_string()));
        let query = if let Some((name, rest)) = text.split_once('(') {
            let inner = rest
                .strip_suffix(')')
                .and_then(|inner| inner.trim().strip_prefix('='))
                .ok_or_else(|| invalid("expected `pkg (= version)`".into()))?;
            PackageQuery {
                name: name.trim().to_owned(),
                version: Some(version(inner.trim())?),
                arch: None,
            }
        } else if let [name, ver, arch] = text.split('_').collect::<Vec<_>>()[..] {
            PackageQuery {
                name: name.to_owned(),
                version: Some(version(ver)?),
                arch: Some(arch.to_owned()),
            }
        } else {
            PackageQuery { name: text.to_owned(), version: None, arch: None }
        };
        wharf_apt::control::check_package_name(&query.name).map_err(invalid)?;
        Ok(query)
    }

    /// Whether `package` is one the query means (versions compared as dpkg does).
    #[must_use]
    pub fn matches(&self, package: &AptPackageRow) -> bool {
        package.name == self.name
            && self.arch.as_ref().is_none_or(|arch| *arch == package.architecture)
            && self.version.as_ref().is_none_or(|version| {
                Version::from_str(&package.version).is_ok_and(|have| have == *version)
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn package(name: &str, version: &str, arch: &str) -> AptPackageRow {
        AptPackageRow {
            sha256: String::new(),
            name: name.into(),
            version: version.into(),
            architecture: arch.into(),
            size: 0,
            md5: String::new(),
            sha1: String::new(),
            control: String::new(),
        }
    }

    #[test]
    fn queries_match_as_documented() {
        let check = |query: &str, (name, version, arch): (&str, &str, &str), expected: bool| {
            let parsed = PackageQuery::parse(query).unwrap();
            assert_eq!(parsed.matches(&package(name, version, arch)), expected, "{query}");
        };
        check("hello", ("hello", "1.0-1", "amd64"), true);
        check("hello", ("hello-doc", "1.0-1", "all"), false);
        check("hello (= 1.0-1)", ("hello", "1.0-1", "arm64"), true);
        check("hello (= 0:1.0-1)", ("hello", "1.0-1", "amd64"), true);
        check("hello (= 1.0-2)", ("hello", "1.0-1", "amd64"), false);
        check("hello_1.0-1_amd64", ("hello", "1.0-1", "amd64"), true);
        check("hello_1.0-1_amd64", ("hello", "1.0-1", "arm64"), false);
    }

    #[test]
    fn bad_queries_say_what_is_expected() {
        for (query, needle) in [
            ("hello (>= 1.0)", "expected `pkg (= version)`"),
            ("hello (= 1.0", "expected `pkg (= version)`"),
            ("Hello", "invalid package query"),
            ("hello_not a version_amd64", "invalid package query"),
        ] {
            let err = PackageQuery::parse(query).unwrap_err();
            assert!(err.to_string().contains(needle), "{query}: {err}");
            assert_eq!(err.kind(), crate::ErrorKind::Invalid);
        }
    }
}
