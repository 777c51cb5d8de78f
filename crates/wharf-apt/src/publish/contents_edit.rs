//! A `Contents-ARCH` after a change, made by editing the previous one (kept by-hash) with
//! the file lists of the packages added and removed since, as `Packages` is edited: a
//! publish after `repo add` of one package reads two lists, not one per package. The
//! packages of the previous index come from the previous `Packages` (also by-hash), and
//! are trusted only when their fingerprint is the one the state file recorded for the
//! previous `Contents`. The result is the bytes a full render gives
//! ([`crate::contents::render_pairs`]); anything unexpected (a line that does not parse, a
//! removed pair that is not there, a list that cannot be read) gives `None`, and the caller
//! renders the index whole.

use std::collections::HashSet;
use std::path::Path;

use super::{IndexState, State};
use crate::contents::{self, ContentsPackage};

/// Appended to the fingerprint the state file keeps for a `Contents` index with a line
/// that does not read back as written ([`contents::reads_back`]): it is rendered whole
/// the next time.
pub(super) const NOT_EDITABLE: &str = " not-editable";

/// The previous plain `Contents` of an index and the packages it lists.
pub(super) struct Previous {
    plain: Vec<u8>,
    packages: Vec<ContentsPackage>,
}

/// Read back a by-hash file of `dir`, checked against its name.
fn by_hash(dir: &Path, sha256: &str) -> Option<Vec<u8>> {
    let bytes = std::fs::read(dir.join("by-hash/SHA256").join(sha256)).ok()?;
    (crate::sha256_hex(&bytes) == sha256).then_some(bytes)
}

impl Previous {
    /// The previous `COMP/Contents-ARCH` (state `cached`) and the packages of the previous
    /// `COMP/binary-ARCH/Packages`, if both are still there and belong together.
    pub(super) fn load(
        dists: &Path,
        component: &str,
        arch: &str,
        state: &State,
        cached: &IndexState,
    ) -> Option<Previous> {
        let key = format!("{component}/Contents-{arch}");
        let plain_file = cached.files.iter().find(|file| file.path == key)?;
        let packages_key = format!("{component}/binary-{arch}/Packages");
        let packages_state = state.indices.get(&packages_key)?;
        // Not checked against its SHA-256: what is read from it is checked whole by the
        // fingerprint.
        let packages_path = dists
            .join(format!("{component}/binary-{arch}/by-hash/SHA256"))
            .join(&packages_state.sha256);
        let packages_index = std::fs::read(packages_path).ok()?;
        let packages = contents::packages_of_index(&packages_index);
        drop(packages_index);
        if contents::fingerprint(&packages) != cached.sha256 {
            return None;
        }
        let plain = by_hash(&dists.join(component), &plain_file.sha256)?;
        Some(Previous { plain, packages })
    }

    /// The plain `Contents` of `packages`: this one edited with the lists of the packages
    /// added and removed, which `list` gives (`None`: cannot be read; its second argument
    /// says whether the package was removed — `repo cleanup` may have dropped that list
    /// already, and reading it again from the package would only store it anew); and
    /// whether every line added reads back ([`contents::reads_back`]).
    pub(super) fn edit(
        &self,
        packages: &[ContentsPackage],
        mut list: impl FnMut(&ContentsPackage, bool) -> Option<Vec<String>>,
    ) -> Option<(Vec<u8>, bool)> {
        let old: HashSet<(&str, &str)> = self.packages.iter().map(key).collect();
        let new: HashSet<(&str, &str)> = packages.iter().map(key).collect();
        let removed: Vec<&ContentsPackage> = dedup(&self.packages, |p| !new.contains(&key(p)));
        let added: Vec<&ContentsPackage> = dedup(packages, |p| !old.contains(&key(p)));
        // A removed package's file stays listed at its location if another package with
        // that location still ships it (another version, the same name in `all`).
        let removed_locations: HashSet<&str> =
            removed.iter().map(|p| p.location.as_str()).collect();
        let still_there: Vec<&ContentsPackage> =
            dedup(packages, |p| removed_locations.contains(p.location.as_str()));
        let mut lists =
            |packages: &[&ContentsPackage], removed: bool| -> Option<Vec<(String, Vec<String>)>> {
                packages.iter().map(|p| Some((p.location.clone(), list(p, removed)?))).collect()
            };
        let (removed, added, still_there) =
            (lists(&removed, true)?, lists(&added, false)?, lists(&still_there, false)?);
        let kept: HashSet<(&str, &str)> = pairs(&still_there).collect();
        let mut remove: Vec<(&str, &str)> =
            pairs(&removed).filter(|pair| !kept.contains(pair)).collect();
        let mut add: Vec<(&str, &str)> = pairs(&added).collect();
        for edits in [&mut remove, &mut add] {
            edits.sort_unstable();
            edits.dedup();
        }
        let editable = add.iter().all(|(path, location)| contents::reads_back(path, location));
        Some((apply(&self.plain, &remove, &add)?, editable))
    }
}

/// What tells packages apart in a `Contents` index.
fn key(package: &ContentsPackage) -> (&str, &str) {
    (package.sha256.as_str(), package.location.as_str())
}

/// The packages of `packages` that `keep` says, each (SHA-256, location) once.
fn dedup(
    packages: &[ContentsPackage],
    keep: impl Fn(&ContentsPackage) -> bool,
) -> Vec<&ContentsPackage> {
    let mut seen = HashSet::new();
    packages.iter().filter(|p| keep(p) && seen.insert(key(p))).collect()
}

/// (path, location) of every file of `lists`.
fn pairs(lists: &[(String, Vec<String>)]) -> impl Iterator<Item = (&str, &str)> {
    lists.iter().flat_map(|(location, files)| {
        files.iter().map(move |file| (file.as_str(), location.as_str()))
    })
}

/// `previous` (a `Contents` file) with the (path, location) pairs of `remove` taken out
/// and those of `add` put in, both sorted and without repeats; `None` if `previous` does
/// not parse or lacks a pair of `remove`.
pub(super) fn apply(
    previous: &[u8],
    remove: &[(&str, &str)],
    add: &[(&str, &str)],
) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(previous.len() + add.len() * 80);
    let (mut remove, mut add) = (remove.iter().peekable(), add.iter().peekable());
    let mut locations: Vec<&[u8]> = Vec::new();
    for line in previous.split_inclusive(|b| *b == b'\n') {
        let text = line.strip_suffix(b"\n")?;
        let (path, listed) = contents::split_line(text)?;
        // Paths only added come first.
        while let Some((new_path, _)) = add.peek().filter(|(p, _)| p.as_bytes() < path) {
            locations.clear();
            while let Some((_, location)) = add.next_if(|(p, _)| p == new_path) {
                locations.push(location.as_bytes());
            }
            contents::push_line(&mut out, new_path.as_bytes(), locations.iter().copied());
        }
        if remove.peek().is_some_and(|(p, _)| p.as_bytes() < path) {
            return None;
        }
        let edited = |edits: &mut std::iter::Peekable<std::slice::Iter<'_, (&str, &str)>>| {
            edits.peek().is_some_and(|(p, _)| p.as_bytes() == path)
        };
        if !edited(&mut remove) && !edited(&mut add) {
            out.extend_from_slice(line);
            continue;
        }
        locations.clear();
        locations.extend(listed.split(|b| *b == b','));
        while let Some((_, location)) = remove.next_if(|(p, _)| p.as_bytes() == path) {
            let at = locations.iter().position(|l| *l == location.as_bytes())?;
            locations.remove(at);
        }
        while let Some((_, location)) = add.next_if(|(p, _)| p.as_bytes() == path) {
            locations.push(location.as_bytes());
        }
        locations.sort_unstable();
        locations.dedup();
        if !locations.is_empty() {
            contents::push_line(&mut out, path, locations.iter().copied());
        }
    }
    if remove.next().is_some() {
        return None;
    }
    while let Some((new_path, _)) = add.peek() {
        locations.clear();
        while let Some((_, location)) = add.next_if(|(p, _)| p == new_path) {
            locations.push(location.as_bytes());
        }
        contents::push_line(&mut out, new_path.as_bytes(), locations.iter().copied());
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn render(pairs: &[(&str, &str)]) -> Vec<u8> {
        contents::render_pairs(&mut pairs.to_vec())
    }

    /// Every edit gives what a render of the pairs after it gives.
    #[test]
    fn edits_equal_a_render_from_scratch() {
        let long = "usr/share/a path with blanks that is longer than fifty-six bytes/f";
        let base = [
            ("etc/a.conf", "admin/a"),
            ("usr/bin/shared", "admin/a"),
            ("usr/bin/shared", "utils/b"),
            ("usr/share/doc/b/copyright", "utils/b"),
            (long, "utils/b"),
        ];
        type Case<'a> = (&'a str, &'a [(&'a str, &'a str)], &'a [(&'a str, &'a str)]);
        let cases: &[Case<'_>] = &[
            ("nothing", &[], &[]),
            ("a new path first", &[], &[("aaa", "misc/c")]),
            ("a new path last", &[], &[("zzz", "misc/c")]),
            ("a new path between", &[], &[("usr/bin/c", "misc/c")]),
            ("a location added to a path", &[], &[("usr/bin/shared", "misc/c")]),
            ("a location already there", &[], &[("usr/bin/shared", "utils/b")]),
            ("one of two locations removed", &[("usr/bin/shared", "admin/a")], &[]),
            ("a package removed", &[("etc/a.conf", "admin/a"), ("usr/bin/shared", "admin/a")], &[]),
            ("the long path with blanks removed", &[(long, "utils/b")], &[]),
            (
                "replaced in place",
                &[("etc/a.conf", "admin/a")],
                &[("etc/a.conf", "admin/a"), ("etc/a2.conf", "admin/a")],
            ),
            (
                "everything removed",
                &[
                    ("etc/a.conf", "admin/a"),
                    ("usr/bin/shared", "admin/a"),
                    ("usr/bin/shared", "utils/b"),
                    ("usr/share/doc/b/copyright", "utils/b"),
                    (long, "utils/b"),
                ],
                &[("x", "y/z")],
            ),
        ];
        let previous = render(&base);
        for (name, remove, add) in cases {
            let mut after: Vec<(&str, &str)> =
                base.iter().filter(|pair| !remove.contains(pair)).copied().collect();
            after.extend_from_slice(add);
            let (mut remove, mut add) = (remove.to_vec(), add.to_vec());
            remove.sort_unstable();
            add.sort_unstable();
            let edited = apply(&previous, &remove, &add).unwrap();
            assert_eq!(
                String::from_utf8(edited).unwrap(),
                String::from_utf8(render(&after)).unwrap(),
                "{name}"
            );
        }
    }

    #[test]
    fn an_edit_that_does_not_fit_is_refused() {
        let previous = render(&[("etc/a", "admin/a")]);
        assert_eq!(apply(&previous, &[("etc/a", "admin/b")], &[]), None, "not listed there");
        assert_eq!(apply(&previous, &[("etc/0", "admin/a")], &[]), None, "no such path");
        assert_eq!(apply(&previous, &[("etc/z", "admin/a")], &[]), None, "no such path, last");
        assert_eq!(apply(b"no locations\n", &[], &[]), None);
        assert_eq!(apply(b"etc/a\t\t\t\t\t\t    admin/a", &[], &[]), None, "no last newline");
    }

    #[test]
    fn lines_split_at_their_padding() {
        for path in ["a", "usr/bin/x", "with blank inside", &"x".repeat(55), &"y z".repeat(30)] {
            let mut line = Vec::new();
            contents::push_line(&mut line, path.as_bytes(), [&b"s/a"[..], b"s/b"].into_iter());
            let (got, locations) = contents::split_line(line.strip_suffix(b"\n").unwrap()).unwrap();
            assert_eq!((got, locations), (path.as_bytes(), &b"s/a,s/b"[..]), "{path:?}");
            assert!(contents::reads_back(path, "s/a"));
        }
        assert!(!contents::reads_back("ends in a blank ", "s/a"));
        assert!(!contents::reads_back("a", "s/a b"));
        assert_eq!(contents::split_line(b"a\t\t\t\t\t\t\t    "), None, "no location");
        assert_eq!(contents::split_line(b"a\t\t    b"), None, "not the padding of a");
    }
}
