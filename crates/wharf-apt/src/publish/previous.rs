//! The indices of the previous publish of a tree ([`PreviousIndices`]) and what changed
//! since ([`Delta`]): the stanzas a publish reuses, and the merge that edits an index.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::path::Path;
use std::sync::RwLock;

use super::{POOL_LIST, PublishError, PublishPackage, STATE_FILE, State, sources_indices};
use crate::deb::FileDigest;
use crate::sha256_hex;

/// The `Packages` (and `Sources`) indices of the previous publish of a tree, as written
/// (checked against the SHA-256 the state file recorded), indexed by each stanza's `SHA256`
/// (a `Sources` stanza by its `.dsc`'s). A publish after
/// a small change takes the unchanged stanzas from here instead of reading every control
/// stanza from the store and rendering it again.
#[derive(Debug, Default)]
pub struct PreviousIndices {
    /// Plain index path (`main/binary-amd64/Packages`) → (bytes, SHA-256 → stanza range).
    /// The bytes are released ([`PreviousIndices::release`]) once the new indices are
    /// built: megabytes that a publish no longer needs while it compresses.
    pub(super) indices: BTreeMap<String, (RwLock<Vec<u8>>, RwLock<StanzaRanges>)>,
    /// Plain `Sources` path (`main/source/Sources`) → the index.
    pub(super) sources: BTreeMap<String, sources_indices::SourcesIndex>,
    /// Whether the tree's pool list has exactly one line per listed package and per
    /// entry the state keeps after removal — so it can be edited ([`Delta`]).
    pool_list_consistent: bool,
}

/// A stanza's SHA-256 → its byte range in the index.
pub(super) type StanzaRanges = std::collections::HashMap<String, (usize, usize)>;

/// What changed since the previous publish of a tree, when the previous indices are the
/// current ones less a few stanzas ([`PreviousIndices::delta`]): the new indices are the
/// previous ones with the removed stanzas left out and the new packages merged in, in
/// order — no stanza of an unchanged package is parsed, and the pool list is edited
/// rather than rebuilt. [`PublishRequest::packages`](super::PublishRequest::packages) then
/// holds only the new packages.
#[derive(Debug, Default)]
pub struct Delta {
    /// Component → SHA-256s its previous indices list that it no longer publishes.
    pub removed: BTreeMap<String, HashSet<String>>,
    /// (SHA-256, component) of the members the previous indices do not list.
    pub new: Vec<(String, String)>,
    /// How many members the tree publishes, less the source packages of `n_sources_kept`.
    pub n_packages: usize,
    /// How many source packages the previous `Sources` list and the tree still publishes.
    pub n_sources_kept: usize,
}

impl PreviousIndices {
    /// Read the indices of the tree at `root`; empty when there is no previous publish or
    /// a file does not match what the state file recorded.
    #[must_use]
    pub fn load(root: &Path, distribution: &str) -> PreviousIndices {
        let Some(state) = std::fs::read(root.join(STATE_FILE))
            .ok()
            .and_then(|bytes| serde_json::from_slice::<State>(&bytes).ok())
        else {
            return PreviousIndices::default();
        };
        let dists = root.join("dists").join(distribution);
        let (mut indices, mut sources) = (BTreeMap::new(), BTreeMap::new());
        let wanted = state
            .indices
            .iter()
            .filter(|(rel, _)| rel.contains("/binary-") || rel.ends_with("/source/Sources"));
        for (plain_rel, entry) in wanted {
            let dir = Path::new(plain_rel).parent().unwrap_or(Path::new(""));
            let path = dists.join(dir).join("by-hash/SHA256").join(&entry.sha256);
            let Ok(bytes) = std::fs::read(&path) else { return PreviousIndices::default() };
            if sha256_hex(&bytes) != entry.sha256 {
                return PreviousIndices::default();
            }
            if plain_rel.ends_with("/Sources") {
                sources.insert(plain_rel.clone(), sources_indices::SourcesIndex::parse(bytes));
                continue;
            }
            let stanzas = index_stanzas(&bytes);
            indices.insert(plain_rel.clone(), (RwLock::new(bytes), RwLock::new(stanzas)));
        }
        let mut previous = PreviousIndices { indices, sources, pool_list_consistent: false };
        // Sorted by path, as written, with a line per package and per kept entry.
        let n_lines = std::fs::read_to_string(root.join(POOL_LIST)).ok().and_then(|list| {
            let mut paths = list.lines().map(|line| line.split_once(' ').map(|(_, path)| path));
            let mut last = "";
            let mut n = 0;
            for path in &mut paths {
                let path = path?;
                if path <= last {
                    return None;
                }
                (last, n) = (path, n + 1);
            }
            Some(n)
        });
        let n_source_paths: usize = previous.sources.values().map(|s| s.n_pool_paths).sum();
        previous.pool_list_consistent = n_lines
            .is_some_and(|n| n == previous.n_listed() + n_source_paths + state.stale_pool.len());
        previous
    }

    /// Whether every index the package belongs in (its architecture's, or every
    /// architecture's for `all`) has its stanza.
    #[must_use]
    pub fn has(
        &self,
        component: &str,
        architecture: &str,
        architectures: &[String],
        sha256: &str,
    ) -> bool {
        let found = |arch: &str| {
            self.indices.get(&format!("{component}/binary-{arch}/Packages")).is_some_and(
                |(_, stanzas)| {
                    stanzas
                        .read()
                        .unwrap_or_else(std::sync::PoisonError::into_inner)
                        .contains_key(sha256)
                },
            )
        };
        if architecture == "all" {
            architectures.iter().all(|arch| found(arch))
        } else {
            found(architecture)
        }
    }

    /// The package with this SHA-256 as the previous publish listed it in `component`,
    /// when every index it belongs in has its stanza: everything but the control stanza
    /// (`control: None`, reused from here) is read from the stanza. A publish after a
    /// small change needs nothing else from the store for the packages it already listed.
    #[must_use]
    pub fn package(
        &self,
        component: &str,
        architectures: &[String],
        sha256: &str,
    ) -> Option<PublishPackage> {
        let prefix = format!("{component}/binary-");
        let package = self.indices.iter().find_map(|(plain_rel, (bytes, stanzas))| {
            if !plain_rel.starts_with(&prefix) {
                return None;
            }
            let &(start, end) =
                stanzas.read().unwrap_or_else(std::sync::PoisonError::into_inner).get(sha256)?;
            let bytes = bytes.read().unwrap_or_else(std::sync::PoisonError::into_inner);
            let text = std::str::from_utf8(bytes.get(start..end)?).ok()?;
            // One pass over the stanza; continuation lines start with a blank and match
            // no field name.
            let (mut name, mut version, mut architecture) = (None, None, None);
            let (mut size, mut md5, mut sha1) = (None, None, None);
            for line in text.lines() {
                let Some((field, value)) = line.split_once(": ") else { continue };
                match field {
                    "Package" => name = Some(value),
                    "Version" => version = Some(value),
                    "Architecture" => architecture = Some(value),
                    "Size" => size = Some(value),
                    "MD5sum" => md5 = Some(value),
                    "SHA1" => sha1 = Some(value),
                    _ => {}
                }
            }
            Some(PublishPackage {
                name: name?.to_owned(),
                version: version?.parse().ok()?,
                architecture: architecture?.to_owned(),
                component: component.to_owned(),
                control: None,
                digest: FileDigest {
                    size: size?.parse().ok()?,
                    md5: md5?.to_owned(),
                    sha1: sha1?.to_owned(),
                    sha256: sha256.to_owned(),
                },
            })
        })?;
        self.has(component, &package.architecture, architectures, sha256).then_some(package)
    }

    /// Whether any index of the previous publish lists a package with this SHA-256.
    #[must_use]
    pub fn contains_sha256(&self, sha256: &str) -> bool {
        self.indices.values().any(|(_, stanzas)| {
            stanzas.read().unwrap_or_else(std::sync::PoisonError::into_inner).contains_key(sha256)
        })
    }

    /// Appends the stanza to `out`; whether there was one (and the bytes are still held).
    pub(super) fn stanza_into(&self, plain_rel: &str, sha256: &str, out: &mut Vec<u8>) -> bool {
        let Some((bytes, stanzas)) = self.indices.get(plain_rel) else { return false };
        let Some(&(start, end)) =
            stanzas.read().unwrap_or_else(std::sync::PoisonError::into_inner).get(sha256)
        else {
            return false;
        };
        match bytes.read().unwrap_or_else(std::sync::PoisonError::into_inner).get(start..end) {
            Some(stanza) => {
                out.extend_from_slice(stanza);
                true
            }
            None => false,
        }
    }

    /// What changed between these indices and `members` ((SHA-256, component) of every
    /// package to publish, source packages by their `.dsc`'s), when the new indices can be
    /// made by editing these: the tree had indices for exactly `components` ×
    /// `architectures`, and `Sources` for every component or none. `None` otherwise (no
    /// previous publish, other architectures or components). A member neither index lists
    /// is new, binary or source: the caller tells which.
    #[must_use]
    pub fn delta(
        &self,
        members: &[(String, String)],
        components: &[String],
        architectures: &[String],
    ) -> Option<Delta> {
        let wanted: BTreeSet<String> = components
            .iter()
            .flat_map(|c| architectures.iter().map(move |a| format!("{c}/binary-{a}/Packages")))
            .collect();
        let sources_everywhere = || {
            let wanted = components.iter().map(|c| format!("{c}/source/Sources"));
            self.sources.keys().cloned().eq(wanted)
        };
        if self.indices.is_empty()
            || !self.indices.keys().eq(wanted.iter())
            || !(self.sources.is_empty() || sources_everywhere())
            || !self.pool_list_consistent
        {
            return None;
        }
        let mut delta = Delta::default();
        let mut kept: HashSet<(&str, &str)> = HashSet::with_capacity(members.len());
        // Each component's indices, read-locked once.
        let by_component: Vec<(&str, Vec<_>, _)> = components
            .iter()
            .map(|component| {
                let prefix = format!("{component}/binary-");
                let stanzas = self
                    .indices
                    .iter()
                    .filter(|(plain_rel, _)| plain_rel.starts_with(&prefix))
                    .map(|(_, (_, stanzas))| {
                        stanzas.read().unwrap_or_else(std::sync::PoisonError::into_inner)
                    })
                    .collect();
                let sources = self.sources.get(&format!("{component}/source/Sources"));
                (component.as_str(), stanzas, sources)
            })
            .collect();
        for (sha256, component) in members {
            let Some((_, stanzas, sources)) =
                by_component.iter().find(|(name, _, _)| name == component)
            else {
                delta.new.push((sha256.clone(), component.clone()));
                continue;
            };
            if stanzas.iter().any(|stanzas| stanzas.contains_key(sha256)) {
                kept.insert((sha256, component));
            } else if sources.is_some_and(|sources| sources.contains(sha256)) {
                kept.insert((sha256, component));
                delta.n_sources_kept += 1;
            } else {
                delta.new.push((sha256.clone(), component.clone()));
            }
        }
        drop(by_component);
        delta.n_packages = members.len() - delta.n_sources_kept;
        for (plain_rel, (_, stanzas)) in &self.indices {
            let component = plain_rel.split('/').next().unwrap_or_default();
            let stanzas = stanzas.read().unwrap_or_else(std::sync::PoisonError::into_inner);
            for sha256 in stanzas.keys() {
                if !kept.contains(&(sha256.as_str(), component)) {
                    delta.removed.entry(component.to_owned()).or_default().insert(sha256.clone());
                }
            }
        }
        for (plain_rel, sources) in &self.sources {
            let component = plain_rel.split('/').next().unwrap_or_default();
            for sha256 in sources.shas() {
                if !kept.contains(&(sha256.as_str(), component)) {
                    delta.removed.entry(component.to_owned()).or_default().insert(sha256.clone());
                }
            }
        }
        Some(delta)
    }

    /// The number of distinct packages the indices list.
    fn n_listed(&self) -> usize {
        let guards: Vec<_> = self
            .indices
            .values()
            .map(|(_, stanzas)| stanzas.read().unwrap_or_else(std::sync::PoisonError::into_inner))
            .collect();
        if let [only] = guards.as_slice() {
            return only.len();
        }
        // Borrowed keys: no copy of tens of thousands of digests.
        let shas: HashSet<&str> =
            guards.iter().flat_map(|stanzas| stanzas.keys().map(String::as_str)).collect();
        shas.len()
    }

    /// The `Filename` of the package with this SHA-256 in the component's indices.
    pub(super) fn filename(&self, component: &str, sha256: &str) -> Option<String> {
        let prefix = format!("{component}/binary-");
        self.indices.iter().filter(|(plain_rel, _)| plain_rel.starts_with(&prefix)).find_map(
            |(_, (bytes, stanzas))| {
                let &(start, end) = stanzas
                    .read()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .get(sha256)?;
                let bytes = bytes.read().unwrap_or_else(std::sync::PoisonError::into_inner);
                let text = std::str::from_utf8(bytes.get(start..end)?).ok()?;
                text.lines().find_map(|line| line.strip_prefix("Filename: ")).map(str::to_owned)
            },
        )
    }

    /// Hands out the stanzas of index `plain_rel` — the previous ones less `removed`, with
    /// `new` (sorted) merged in — each with its last newline, to `out`; `false` if these
    /// indices do not have it.
    pub(super) fn merge_into(
        &self,
        plain_rel: &str,
        removed: Option<&HashSet<String>>,
        new: &[(&PublishPackage, Vec<u8>)],
        out: &mut dyn FnMut(&[u8]) -> Result<(), PublishError>,
    ) -> Result<bool, PublishError> {
        let Some((bytes, _)) = self.indices.get(plain_rel) else { return Ok(false) };
        let bytes = bytes.read().unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut new = new.iter().peekable();
        for (_, stanza) in stanzas(&bytes) {
            if removed.is_some_and(|removed| {
                field(stanza, "SHA256").is_some_and(|sha256| removed.contains(sha256))
            }) {
                continue;
            }
            while let Some((package, text)) =
                new.next_if(|(package, _)| sorts_before(package, stanza))
            {
                debug_assert!(!package.name.is_empty());
                out(text)?;
            }
            out(stanza)?;
        }
        for (_, text) in new {
            out(text)?;
        }
        Ok(true)
    }

    /// Frees the previous indices' bytes and stanza positions: nothing is found in them
    /// afterwards.
    pub(super) fn release(&self) {
        for (bytes, stanzas) in self.indices.values() {
            *bytes.write().unwrap_or_else(std::sync::PoisonError::into_inner) = Vec::new();
            *stanzas.write().unwrap_or_else(std::sync::PoisonError::into_inner) =
                StanzaRanges::new();
        }
        for sources in self.sources.values() {
            sources.release();
        }
    }
}
/// Stanzas of a `Packages` file by their `SHA256:` field; each range includes the
/// stanza's last newline but not the blank line after it.
pub(super) fn index_stanzas(bytes: &[u8]) -> StanzaRanges {
    const FIELD: &[u8] = b"SHA256: ";
    let mut out = StanzaRanges::new();
    let mut stanza_start = 0;
    let mut sha: Option<&[u8]> = None;
    let mut line_start = 0;
    while line_start < bytes.len() {
        let line_end = bytes[line_start..]
            .iter()
            .position(|b| *b == b'\n')
            .map_or(bytes.len(), |p| line_start + p);
        let line = &bytes[line_start..line_end];
        if line.is_empty() {
            // The blank line after a stanza.
            if let Some(value) = sha.take()
                && let Ok(value) = std::str::from_utf8(value)
            {
                out.insert(value.to_owned(), (stanza_start, line_start));
            }
            stanza_start = line_end + 1;
        } else if let Some(value) = line.strip_prefix(FIELD) {
            sha = Some(value);
        }
        line_start = line_end + 1;
    }
    out
}

/// Each stanza of an index, with its last newline, and the offset it starts at: a stanza
/// ends at its blank line (or the end of the file).
pub(super) fn stanzas(bytes: &[u8]) -> impl Iterator<Item = (usize, &[u8])> {
    let mut start = 0;
    std::iter::from_fn(move || {
        while start < bytes.len() {
            let end = find_blank_line(&bytes[start..]).map_or(bytes.len(), |at| start + at);
            let (at, stanza) = (start, &bytes[start..end]);
            start = end + 1;
            if !stanza.is_empty() {
                return Some((at, stanza));
            }
        }
        None
    })
}

/// Where the blank line that ends the stanza starting at `text[0]` is: the position of
/// the second of two newlines in a row, so the stanza is `text[..at]` with its last newline.
fn find_blank_line(text: &[u8]) -> Option<usize> {
    let mut from = 0;
    loop {
        let at = from + text[from..].iter().position(|b| *b == b'\n')?;
        if text.get(at + 1) == Some(&b'\n') {
            return Some(at + 1);
        }
        from = at + 1;
    }
}

/// The value of a stanza's field (not continued over several lines).
pub(super) fn field<'a>(stanza: &'a [u8], name: &str) -> Option<&'a str> {
    stanza.split(|b| *b == b'\n').find_map(|line| {
        let rest = line.strip_prefix(name.as_bytes())?.strip_prefix(b": ")?;
        std::str::from_utf8(rest).ok()
    })
}

/// Whether `package` goes before the stanza in an index: by name, then version, then
/// architecture, as [`write_indices`](super::write_indices) sorts a whole index.
fn sorts_before(package: &PublishPackage, stanza: &[u8]) -> bool {
    let Some(name) = field(stanza, "Package") else { return true };
    match package.name.as_str().cmp(name) {
        std::cmp::Ordering::Less => true,
        std::cmp::Ordering::Greater => false,
        std::cmp::Ordering::Equal => {
            let version = field(stanza, "Version").and_then(|v| v.parse().ok());
            let Some(version) = version else { return true };
            let architecture = field(stanza, "Architecture").unwrap_or_default();
            package
                .version
                .cmp(&version)
                .then_with(|| package.architecture.as_str().cmp(architecture))
                .is_lt()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{
        ARCHITECTURES_AMD64, COMPONENTS_MAIN, package, packages, published_600, request,
    };
    use super::super::*;

    /// A publish that edits the previous indices (new packages at the start, in the
    /// middle next to another version of the same name, and at the end; one removed; one
    /// replaced by other content) writes the very bytes a publish from scratch writes,
    /// and keeps the pool list as the full path would.
    #[test]
    fn delta_publish_equals_publish_from_scratch() {
        let (dir, objects, key, tree, mut all) = published_600();

        let removed = all.remove(10);
        let replaced = all[19].clone();
        let new = vec![
            package(&objects, "aaa", "1", "first"),
            package(&objects, "pkg00300", "1.300~rc1", "an older version"),
            package(&objects, &replaced.name, replaced.version.as_str(), "other content"),
            package(&objects, "zzz", "2", "last"),
        ];
        all[19] = new[2].clone();
        all.extend([new[0].clone(), new[1].clone(), new[3].clone()]);
        let members: Vec<(String, String)> =
            all.iter().map(|p| (p.digest.sha256.clone(), p.component.clone())).collect();
        let previous = PreviousIndices::load(&tree, "bookworm");
        let delta = previous.delta(&members, &COMPONENTS_MAIN, &ARCHITECTURES_AMD64).unwrap();
        let mut new_shas: Vec<&str> = delta.new.iter().map(|(sha, _)| sha.as_str()).collect();
        new_shas.sort_unstable();
        let mut expected: Vec<&str> = new.iter().map(|p| p.digest.sha256.as_str()).collect();
        expected.sort_unstable();
        assert_eq!(new_shas, expected);
        let removed_shas: BTreeSet<&str> =
            delta.removed["main"].iter().map(String::as_str).collect();
        assert_eq!(
            removed_shas,
            BTreeSet::from([removed.digest.sha256.as_str(), replaced.digest.sha256.as_str()])
        );
        let mut edit = request(&tree, &new, Some(&previous), PoolMode::Listed, 2_000);
        edit.delta = Some(&delta);
        let outcome = publish(&edit, &objects, &key).unwrap();
        assert_eq!((outcome.n_packages, outcome.n_pool_files_added), (602, 4), "{outcome:?}");
        assert!(outcome.n_chunks_compressed <= 8, "{outcome:?}");

        let scratch_tree = dir.path().join("scratch");
        publish(&request(&scratch_tree, &all, None, PoolMode::Listed, 2_000), &objects, &key)
            .unwrap();
        for name in ["Packages", "Packages.gz", "Packages.xz", "../../Release"] {
            let rel = format!("dists/bookworm/main/binary-amd64/{name}");
            let edited = std::fs::read(tree.join(&rel)).unwrap();
            assert!(edited == std::fs::read(scratch_tree.join(&rel)).unwrap(), "{name} differs");
        }
        let list = read_pool_list(&tree).unwrap();
        let mut scratch_list = read_pool_list(&scratch_tree).unwrap();
        assert_eq!(list.len(), 603, "602 published and the removed one, in its grace period");
        scratch_list.insert(removed.pool_path(), removed.digest.sha256.clone());
        assert_eq!(list, scratch_list);

        // Nothing changed, the grace period over: the removed package leaves the list, and
        // the tree is still what a publish from scratch writes.
        let previous = PreviousIndices::load(&tree, "bookworm");
        let delta = previous.delta(&members, &COMPONENTS_MAIN, &ARCHITECTURES_AMD64).unwrap();
        assert!(delta.new.is_empty() && delta.removed.is_empty(), "{delta:?}");
        let mut edit = request(&tree, &[], Some(&previous), PoolMode::Listed, 5_600);
        edit.delta = Some(&delta);
        let outcome = publish(&edit, &objects, &key).unwrap();
        assert_eq!((outcome.n_pool_files_removed, outcome.n_indices_unchanged), (1, 1));
        assert_eq!(read_pool_list(&tree).unwrap().len(), 602);

        // Another architecture set: no delta, the full path is needed.
        let previous = PreviousIndices::load(&tree, "bookworm");
        let two = ["amd64".to_owned(), "arm64".to_owned()];
        assert!(previous.delta(&members, &COMPONENTS_MAIN, &two).is_none());
    }

    /// Publishing after a change reuses stanzas and compressed chunks of the previous
    /// publish, and writes exactly the bytes a publish from scratch writes; the pool list
    /// keeps a removed package for the grace period, then drops it.
    #[test]
    fn incremental_publish_equals_publish_from_scratch() {
        let (dir, objects, key, tree, mut all) = published_600();

        // One package added, one removed; unchanged stanzas come from the previous index.
        let previous = PreviousIndices::load(&tree, "bookworm");
        let removed = all.remove(10);
        all.extend(packages(&objects, 600..601));
        for package in &mut all[..500] {
            package.control = None;
        }
        let outcome = publish(
            &request(&tree, &all, Some(&previous), PoolMode::Listed, 2_000),
            &objects,
            &key,
        )
        .unwrap();
        assert!(outcome.n_chunks_compressed <= 4, "{outcome:?}");

        let scratch_tree = dir.path().join("scratch");
        let fresh = {
            let mut all = packages(&objects, 0..601);
            all.remove(10);
            all
        };
        publish(&request(&scratch_tree, &fresh, None, PoolMode::Files, 2_000), &objects, &key)
            .unwrap();
        for name in ["Packages", "Packages.gz", "Packages.xz"] {
            let rel = format!("dists/bookworm/main/binary-amd64/{name}");
            let incremental = std::fs::read(tree.join(&rel)).unwrap();
            assert!(
                incremental == std::fs::read(scratch_tree.join(&rel)).unwrap(),
                "{name} differs"
            );
        }
        // A Files tree has the pool files; a Listed tree names them.
        let pool_file = scratch_tree.join(fresh[0].pool_path());
        assert_eq!(std::fs::read(pool_file).unwrap(), b"package 0");
        let list = read_pool_list(&tree).unwrap();
        assert_eq!(list.len(), 601, "600 published and the removed one, in its grace period");
        assert_eq!(list.get(&removed.pool_path()), Some(&removed.digest.sha256));
        // After the grace period the removed package leaves the list.
        let previous = PreviousIndices::load(&tree, "bookworm");
        let outcome = publish(
            &request(&tree, &all, Some(&previous), PoolMode::Listed, 5_600),
            &objects,
            &key,
        )
        .unwrap();
        assert_eq!(outcome.n_pool_files_removed, 1);
        assert_eq!(read_pool_list(&tree).unwrap().len(), 600);
    }
}
