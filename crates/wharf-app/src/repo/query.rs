//! [`PackageQuery`]: which packages `repo show`, `remove`, `copy` and `move` mean — one or
//! more of aptly's package queries ([`wharf_apt::query`]), matching a package when any
//! of them does (as aptly reads several query arguments).

use wharf_apt::query::{Candidate, Query};
use wharf_store::AptPackageRow;

use crate::error::{AppError, Result};

/// Parsed package queries.
#[derive(Debug, Clone)]
pub struct PackageQuery {
    queries: Vec<Query>,
}

impl PackageQuery {
    /// Parse one query; the error names the query, the column and what was expected.
    pub fn parse(text: &str) -> Result<PackageQuery> {
        PackageQuery::parse_all(&[text])
    }

    /// Parse several queries, any of which may match; at least one is needed.
    pub fn parse_all<S: AsRef<str>>(texts: &[S]) -> Result<PackageQuery> {
        if texts.is_empty() {
            return Err(AppError::invalid(
                "no package query: name packages, e.g. `hello` or 'hello (>= 1.2)'",
            ));
        }
        let queries = texts
            .iter()
            .map(|text| {
                Query::parse(text.as_ref()).map_err(|err| AppError::invalid(err.to_string()))
            })
            .collect::<Result<_>>()?;
        Ok(PackageQuery { queries })
    }

    /// Whether `package` is one the queries mean (versions compared as dpkg does).
    #[must_use]
    pub fn matches(&self, package: &AptPackageRow) -> bool {
        let candidate = Candidate {
            name: &package.name,
            version: &package.version,
            architecture: &package.architecture,
            control: &package.control,
        };
        self.queries.iter().any(|query| query.matches(&candidate))
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
            control: format!("Package: {name}\nVersion: {version}\nArchitecture: {arch}\n"),
        }
    }

    #[test]
    fn queries_match_as_documented() {
        let check = |query: &[&str], (name, version, arch): (&str, &str, &str), expected: bool| {
            let parsed = PackageQuery::parse_all(query).unwrap();
            assert_eq!(parsed.matches(&package(name, version, arch)), expected, "{query:?}");
        };
        check(&["hello"], ("hello", "1.0-1", "amd64"), true);
        check(&["hello"], ("hello-doc", "1.0-1", "all"), false);
        check(&["hello (= 1.0-1)"], ("hello", "1.0-1", "arm64"), true);
        check(&["hello (= 0:1.0-1)"], ("hello", "1.0-1", "amd64"), true);
        check(&["hello (= 1.0-2)"], ("hello", "1.0-1", "amd64"), false);
        check(&["hello (>= 1.0)"], ("hello", "1.0-1", "amd64"), true);
        check(&["hello_1.0-1_amd64"], ("hello", "1.0-1", "amd64"), true);
        check(&["hello_1.0-1_amd64"], ("hello", "1.0-1", "arm64"), false);
        check(&["nope", "hello-doc"], ("hello-doc", "1.0-1", "all"), true);
        check(&["Architecture (= all)"], ("hello-doc", "1.0-1", "all"), true);
    }

    #[test]
    fn bad_queries_say_what_is_expected() {
        for (query, needle) in [
            ("hello (= 1.0", "at column 13: unexpected end of the query: expected `)`"),
            ("hello_not a version_amd64", "invalid package query"),
            ("", "the query is empty"),
        ] {
            let err = PackageQuery::parse(query).unwrap_err();
            assert!(err.to_string().contains(needle), "{query}: {err}");
            assert_eq!(err.kind(), crate::ErrorKind::Invalid);
        }
        let none: [&str; 0] = [];
        assert_eq!(PackageQuery::parse_all(&none).unwrap_err().kind(), crate::ErrorKind::Invalid);
    }
}
