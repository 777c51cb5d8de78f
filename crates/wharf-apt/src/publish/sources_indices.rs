//! Step 2 and 3 for source packages: `dists/DIST/COMP/source/Sources{,.gz,.xz}`, written
//! like the `Packages` indices. A publish that edits its tree ([`super::Delta`]) takes the
//! previous `Sources` of each component, leaves out the removed stanzas (found by the
//! `.dsc`'s SHA-256, the first `Checksums-Sha256` entry) and merges the new ones in, in
//! `dpkg-scansources` order; a publish from scratch renders every stanza. Either way the
//! text goes through [`crate::chunked::Builder`], so only the chunks that changed are
//! compressed again, and the result is the same bytes.
//!
//! Every component gets a `Sources` (empty for one without source packages) as soon as the
//! tree has one source package, none when it has none.

use std::collections::{HashMap, HashSet};
use std::sync::RwLock;

use super::index_files::{BuiltIndex, build_index};
use super::previous::{field, stanzas};
use super::{Indices, PublishError, PublishOutcome, PublishRequest, State};
use crate::index;

/// One source package to publish: its `.dsc` and the files it lists, under
/// `pool/COMP/<p>/<source>/`, listed in `COMP/source/Sources`.
#[derive(Debug, Clone)]
pub struct PublishSource {
    pub name: String,
    pub version: String,
    pub component: String,
    /// The `Sources` stanza without `Directory` ([`crate::dsc::Dsc::sources_stanza`]).
    pub stanza: String,
}

impl PublishSource {
    /// `pool/COMP/<p>/<source>`, the stanza's `Directory`.
    #[must_use]
    pub fn directory(&self) -> String {
        format!("pool/{}/{}/{}", self.component, index::pool_prefix(&self.name), self.name)
    }

    /// (pool path, SHA-256) of the `.dsc` and every file it lists.
    #[must_use]
    pub fn pool_files(&self) -> Vec<(String, String)> {
        let directory = self.directory();
        crate::dsc::stanza_files(&self.stanza)
            .into_iter()
            .map(|(name, _, sha256)| (format!("{directory}/{name}"), sha256))
            .collect()
    }

    /// Where it goes in a `Sources` index: `dpkg-scansources` sorts by `Package . Version`
    /// as bytes; name, then version, decide between equal keys.
    fn sort_key(&self) -> (String, &str, &str) {
        (crate::dsc::sort_key(&self.name, &self.version), &self.name, &self.version)
    }
}

/// Whether `source` goes before the stanza in a `Sources` index (see
/// [`PublishSource::sort_key`]).
fn sorts_before(source: &PublishSource, stanza: &[u8]) -> bool {
    let (Some(name), Some(version)) = (field(stanza, "Package"), field(stanza, "Version")) else {
        return true;
    };
    source.sort_key() < (crate::dsc::sort_key(name, version), name, version)
}

/// The previous `Sources` of one component, as written (checked against the state's
/// SHA-256), its stanzas by their `.dsc`'s SHA-256.
#[derive(Debug)]
pub(super) struct SourcesIndex {
    /// Released ([`SourcesIndex::release`]) once the new indices are built.
    bytes: RwLock<Vec<u8>>,
    /// The `.dsc`'s SHA-256 → the stanza's byte range (with its last newline).
    stanzas: HashMap<String, (usize, usize)>,
    /// How many distinct pool paths its stanzas name (sources of one name may share an
    /// `.orig.tar.*`): the lines they take in the pool list.
    pub(super) n_pool_paths: usize,
}

/// What a `Sources` stanza says about its files.
struct StanzaFiles<'a> {
    directory: Option<&'a [u8]>,
    /// The file names of `Checksums-Sha256`, with their SHA-256; the `.dsc` first.
    files: Vec<(&'a [u8], &'a [u8])>,
}

impl StanzaFiles<'_> {
    fn of(stanza: &[u8]) -> StanzaFiles<'_> {
        let mut out = StanzaFiles { directory: None, files: Vec::new() };
        let mut inside = false;
        for line in stanza.split(|b| *b == b'\n') {
            if let Some(rest) = line.strip_prefix(b" ") {
                if inside {
                    let mut parts = rest.split(|b| *b == b' ').filter(|part| !part.is_empty());
                    if let (Some(sha256), Some(_size), Some(name)) =
                        (parts.next(), parts.next(), parts.next())
                    {
                        out.files.push((name, sha256));
                    }
                }
                continue;
            }
            inside = line.starts_with(b"Checksums-Sha256:");
            if let Some(directory) = line.strip_prefix(b"Directory: ") {
                out.directory = Some(directory);
            }
        }
        out
    }

    /// The `.dsc`'s SHA-256.
    fn dsc_sha256(&self) -> Option<&str> {
        self.files.first().and_then(|(_, sha256)| std::str::from_utf8(sha256).ok())
    }

    fn paths(&self) -> impl Iterator<Item = String> + '_ {
        let directory = String::from_utf8_lossy(self.directory.unwrap_or_default());
        self.files
            .iter()
            .map(move |(name, _)| format!("{directory}/{}", String::from_utf8_lossy(name)))
    }
}

impl SourcesIndex {
    pub(super) fn parse(bytes: Vec<u8>) -> SourcesIndex {
        let mut ranges = HashMap::new();
        let mut paths: HashSet<(&[u8], &[u8])> = HashSet::new();
        for (at, stanza) in stanzas(&bytes) {
            let files = StanzaFiles::of(stanza);
            if let Some(sha256) = files.dsc_sha256() {
                ranges.insert(sha256.to_owned(), (at, at + stanza.len()));
            }
            let directory = files.directory.unwrap_or_default();
            paths.extend(files.files.iter().map(|(name, _)| (directory, *name)));
        }
        let n_pool_paths = paths.len();
        drop(paths);
        SourcesIndex { bytes: RwLock::new(bytes), stanzas: ranges, n_pool_paths }
    }

    pub(super) fn contains(&self, sha256: &str) -> bool {
        self.stanzas.contains_key(sha256)
    }

    /// The `.dsc` SHA-256 of every stanza.
    pub(super) fn shas(&self) -> impl Iterator<Item = &String> {
        self.stanzas.keys()
    }

    /// The pool paths of the source package whose `.dsc` has this SHA-256.
    pub(super) fn pool_paths(&self, sha256: &str) -> Vec<String> {
        let Some(&(start, end)) = self.stanzas.get(sha256) else { return Vec::new() };
        let bytes = self.bytes.read().unwrap_or_else(std::sync::PoisonError::into_inner);
        bytes
            .get(start..end)
            .map_or_else(Vec::new, |stanza| StanzaFiles::of(stanza).paths().collect())
    }

    /// The pool paths that stanzas not in `removed`, in one of `directories`, name: files
    /// of a removed source package that another one still lists stay in the pool.
    pub(super) fn paths_kept(
        &self,
        directories: &HashSet<String>,
        removed: &HashSet<String>,
    ) -> HashSet<String> {
        let bytes = self.bytes.read().unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut kept = HashSet::new();
        for (_, stanza) in stanzas(&bytes) {
            let files = StanzaFiles::of(stanza);
            let directory = String::from_utf8_lossy(files.directory.unwrap_or_default());
            if directories.contains(directory.as_ref())
                && files.dsc_sha256().is_some_and(|sha256| !removed.contains(sha256))
            {
                kept.extend(files.paths());
            }
        }
        kept
    }

    /// Hands out its stanzas less `removed`, with `new` (sorted) merged in, to `out`.
    fn merge_into(
        &self,
        removed: Option<&HashSet<String>>,
        new: &[(&PublishSource, Vec<u8>)],
        out: &mut dyn FnMut(&[u8]) -> Result<(), PublishError>,
    ) -> Result<(), PublishError> {
        let bytes = self.bytes.read().unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut new = new.iter().peekable();
        for (_, stanza) in stanzas(&bytes) {
            if removed.is_some_and(|removed| {
                StanzaFiles::of(stanza).dsc_sha256().is_some_and(|sha| removed.contains(sha))
            }) {
                continue;
            }
            while let Some((_, text)) = new.next_if(|(source, _)| sorts_before(source, stanza)) {
                out(text)?;
            }
            out(stanza)?;
        }
        for (_, text) in new {
            out(text)?;
        }
        Ok(())
    }

    pub(super) fn release(&self) {
        *self.bytes.write().unwrap_or_else(std::sync::PoisonError::into_inner) = Vec::new();
    }
}

impl super::PreviousIndices {
    /// The pool paths of the package with this SHA-256 in the component's indices: its
    /// `Filename`, or the files of a source package.
    pub(super) fn pool_paths(&self, component: &str, sha256: &str) -> Vec<String> {
        if let Some(path) = self.filename(component, sha256) {
            return vec![path];
        }
        self.sources
            .get(&format!("{component}/source/Sources"))
            .map_or_else(Vec::new, |sources| sources.pool_paths(sha256))
    }

    /// Which of `paths` (files of the component's `removed` packages) a source package
    /// not in `removed` still lists.
    pub(super) fn source_paths_kept(
        &self,
        component: &str,
        removed: &HashSet<String>,
        paths: &[String],
    ) -> HashSet<String> {
        let Some(sources) = self.sources.get(&format!("{component}/source/Sources")) else {
            return HashSet::new();
        };
        let directories: HashSet<String> = paths
            .iter()
            .filter_map(|path| path.rsplit_once('/').map(|(dir, _)| dir.to_owned()))
            .collect();
        if directories.is_empty() {
            return HashSet::new();
        }
        sources.paths_kept(&directories, removed)
    }
}

/// How many source packages the tree publishes: with a [`super::Delta`], those the previous
/// indices list and keep, plus the new ones.
pub(super) fn n_sources(request: &PublishRequest<'_>) -> usize {
    request.delta.map_or(0, |delta| delta.n_sources_kept) + request.sources.len()
}

/// The `Sources` index of every component, when the tree has source packages.
pub(super) fn write(
    request: &PublishRequest<'_>,
    dists: &std::path::Path,
    state: &State,
    outcome: &mut PublishOutcome,
    indices: &mut Indices,
    dirs_to_sync: &mut std::collections::BTreeSet<std::path::PathBuf>,
) -> Result<(), PublishError> {
    if n_sources(request) == 0 {
        return Ok(());
    }
    let mut sorted: Vec<&PublishSource> = request.sources.iter().collect();
    sorted.sort_by(|a, b| a.sort_key().cmp(&b.sort_key()));
    for component in request.components {
        let rel_dir = format!("{component}/source");
        let plain_rel = format!("{rel_dir}/Sources");
        let new: Vec<(&PublishSource, Vec<u8>)> = sorted
            .iter()
            .filter(|source| source.component == *component)
            .map(|source| {
                let text = crate::dsc::with_directory(&source.stanza, &source.directory());
                (*source, text.into_bytes())
            })
            .collect();
        let previous = request.delta.and(request.previous).and_then(|p| p.sources.get(&plain_rel));
        let built = BuiltIndex {
            dists,
            rel_dir: &rel_dir,
            name: "Sources",
            cached: state.indices.get(&plain_rel),
        };
        let entry = build_index(built, outcome, dirs_to_sync, |write| match previous {
            Some(previous) => previous.merge_into(
                request.delta.and_then(|delta| delta.removed.get(component)),
                &new,
                write,
            ),
            // From scratch, or the component's first source packages.
            None => new.iter().try_for_each(|(_, text)| write(text)),
        })?;
        indices.add(request.distribution, &rel_dir, plain_rel, entry);
    }
    Ok(())
}

/// A `Sources` index no longer published (the last source package removed) loses its
/// plain names once `Release` stops listing it.
pub(super) fn remove_dropped(
    dists: &std::path::Path,
    state: &State,
    new_indices: &std::collections::BTreeMap<String, super::IndexState>,
) {
    for (key, entry) in &state.indices {
        if key.ends_with("/source/Sources") && !new_indices.contains_key(key) {
            for file in &entry.files {
                let _ = std::fs::remove_file(dists.join(&file.path));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{package, request};
    use super::super::*;
    use std::collections::HashSet;

    /// A source package `name` `version` in `component`, its `.dsc` and one tarball stored.
    fn source(objects: &Objects, component: &str, name: &str, version: &str) -> PublishSource {
        let (dsc, tar) =
            (format!("{name} {version} {component}"), format!("tarball of {name} {version}"));
        source_with(
            objects,
            component,
            (name, version),
            &dsc,
            (&format!("{name}_{version}.tar.xz"), &tar),
        )
    }

    /// A source package whose `.dsc` holds `dsc` and lists one tarball (name, content).
    fn source_with(
        objects: &Objects,
        component: &str,
        (name, version): (&str, &str),
        dsc: &str,
        (tar_name, tar): (&str, &str),
    ) -> PublishSource {
        let dsc_name = format!("{name}_{version}.dsc");
        let digests = [dsc.as_bytes(), tar.as_bytes()].map(crate::deb::FileDigest::of);
        for (digest, bytes) in digests.iter().zip([dsc.as_bytes(), tar.as_bytes()]) {
            objects.put_batch(&[(&digest.sha256, bytes)]).unwrap();
        }
        let list = |f: fn(&crate::deb::FileDigest) -> &str| {
            format!(
                "\n {} {} {dsc_name}\n {} {} {tar_name}",
                f(&digests[0]),
                digests[0].size,
                f(&digests[1]),
                digests[1].size
            )
        };
        let stanza = format!(
            "Format: 3.0 (native)\nPackage: {name}\nBinary: {name}\nArchitecture: all\nVersion: {version}\nMaintainer: T <t@example.com>\nChecksums-Sha1:{}\nChecksums-Sha256:{}\nFiles:{}\n",
            list(|d| &d.sha1),
            list(|d| &d.sha256),
            list(|d| &d.md5)
        );
        PublishSource {
            name: name.into(),
            version: version.into(),
            component: component.into(),
            stanza,
        }
    }

    const COMPONENTS: [&str; 2] = ["contrib", "main"];

    fn members(packages: &[PublishPackage], sources: &[PublishSource]) -> Vec<(String, String)> {
        packages
            .iter()
            .map(|p| (p.digest.sha256.clone(), p.component.clone()))
            .chain(sources.iter().map(|s| (s.pool_files()[0].1.clone(), s.component.clone())))
            .collect()
    }

    /// Publishes (packages, sources) by editing the tree at `tree` when it can be, and from
    /// scratch into `scratch`; the two trees' indices are the same bytes.
    fn publish_both(
        objects: &Objects,
        key: &SigningKey,
        (tree, scratch): (&Path, &Path),
        (packages, sources): (&[PublishPackage], &[PublishSource]),
        now: i64,
    ) -> PublishOutcome {
        let components: Vec<String> = COMPONENTS.map(str::to_owned).to_vec();
        let members = members(packages, sources);
        let previous = PreviousIndices::load(tree, "bookworm");
        let delta = previous.delta(&members, &components, &["amd64".to_owned()]);
        let delta = delta.expect("the tree can be edited");
        let new: HashSet<&str> = delta.new.iter().map(|(sha, _)| sha.as_str()).collect();
        let new_packages: Vec<PublishPackage> =
            packages.iter().filter(|p| new.contains(p.digest.sha256.as_str())).cloned().collect();
        let new_sources: Vec<PublishSource> = sources
            .iter()
            .filter(|s| new.contains(s.pool_files()[0].1.as_str()))
            .cloned()
            .collect();
        let mut edit = request(tree, &new_packages, Some(&previous), PoolMode::Listed, now);
        edit.components = &components;
        edit.sources = &new_sources;
        edit.delta = Some(&delta);
        let outcome = publish(&edit, objects, key).unwrap();
        let mut full = request(scratch, packages, None, PoolMode::Listed, now);
        full.components = &components;
        full.sources = sources;
        let _ = std::fs::remove_dir_all(scratch);
        publish(&full, objects, key).unwrap();
        for component in COMPONENTS {
            for name in [
                "source/Sources",
                "source/Sources.gz",
                "source/Sources.xz",
                "binary-amd64/Packages",
            ] {
                let rel = format!("dists/bookworm/{component}/{name}");
                let edited = std::fs::read(tree.join(&rel)).ok();
                assert!(edited == std::fs::read(scratch.join(&rel)).ok(), "{rel} differs");
            }
        }
        let release = |root: &Path| {
            let text = std::fs::read_to_string(root.join("dists/bookworm/Release")).unwrap();
            text.lines().filter(|l| !l.starts_with("Date:")).collect::<Vec<_>>().join("\n")
        };
        assert_eq!(release(tree), release(scratch));
        outcome
    }

    /// A tree with source packages is edited — one added, one removed, a version replaced
    /// by other content, in two components — into the very bytes a publish from scratch
    /// writes; the pool list keeps the removed files for the grace period, but not a file
    /// another source package still lists.
    #[test]
    fn sources_are_edited_into_what_a_publish_from_scratch_writes() {
        let dir = tempfile::tempdir().unwrap();
        let objects = Objects::new(dir.path().join("objects"));
        let key = SigningKey::generate("Test <test@example.invalid>").unwrap();
        let (tree, scratch) = (dir.path().join("tree"), dir.path().join("scratch"));
        let packages = vec![package(&objects, "hello", "1.0-1", "hello binary")];
        let mut sources: Vec<PublishSource> = (0..400)
            .map(|n| source(&objects, COMPONENTS[n % 2], &format!("src{n:04}"), "1.0"))
            .collect();
        // The first publish of a tree with sources, then one edited to add more.
        let mut first = request(&tree, &packages, None, PoolMode::Listed, 1_000);
        let components: Vec<String> = COMPONENTS.map(str::to_owned).to_vec();
        first.components = &components;
        first.sources = &sources[..300];
        publish(&first, &objects, &key).unwrap();
        let outcome = publish_both(&objects, &key, (&tree, &scratch), (&packages, &sources), 2_000);
        assert_eq!((outcome.n_sources, outcome.n_packages), (400, 1), "{outcome:?}");

        // One added (between others and at the start), one removed, one replaced by
        // another `.dsc` of the same name and version (`repo add --replace`).
        let removed = sources.remove(10);
        let old = sources[20].clone();
        let tar_name = format!("{}_{}.tar.xz", old.name, old.version);
        let names = (old.name.as_str(), old.version.as_str());
        sources[20] =
            source_with(&objects, &old.component, names, "other", (&tar_name, "other tar"));
        sources.push(source(&objects, "main", "src0100", "0.9"));
        sources.push(source(&objects, "contrib", "aaa", "1"));
        let outcome = publish_both(&objects, &key, (&tree, &scratch), (&packages, &sources), 3_000);
        assert_eq!(outcome.n_sources, 401, "{outcome:?}");
        // Chunks of ~32 stanzas, cut by the `Package:` line (the `Format:` line that
        // starts every stanza would never cut one): four edits, a few chunks.
        let state: State =
            serde_json::from_slice(&std::fs::read(tree.join(STATE_FILE)).unwrap()).unwrap();
        let n_spans = state.indices["main/source/Sources"].spans.len();
        assert!(n_spans >= 4, "main/source/Sources in {n_spans} chunks");
        assert!(outcome.n_chunks_compressed <= 6, "{outcome:?}");
        let list = read_pool_list(&tree).unwrap();
        for (path, sha256) in removed.pool_files() {
            assert_eq!(list.get(&path), Some(&sha256), "{path} kept for the grace period");
        }
        let later = publish_both(&objects, &key, (&tree, &scratch), (&packages, &sources), 9_000);
        assert_eq!(later.n_pool_files_removed, 2, "{later:?}");
        assert_eq!(read_pool_list(&tree).unwrap(), read_pool_list(&scratch).unwrap());

        // Two revisions sharing a tarball: removing one keeps the tarball listed.
        let shared = "pool/main/s/src0101/src0101_1.0.tar.xz";
        let dsc = "pool/main/s/src0101/src0101_1.0.dsc";
        let tar = ("src0101_1.0.tar.xz", "tarball of src0101 1.0");
        sources.push(source_with(&objects, "main", ("src0101", "1.0-2"), "revision 2", tar));
        publish_both(&objects, &key, (&tree, &scratch), (&packages, &sources), 10_000);
        sources.retain(|s| !(s.name == "src0101" && s.version == "1.0"));
        publish_both(&objects, &key, (&tree, &scratch), (&packages, &sources), 20_000);
        let list = read_pool_list(&tree).unwrap();
        assert!(list.contains_key(shared) && list.contains_key(dsc), "{list:?}");
        publish_both(&objects, &key, (&tree, &scratch), (&packages, &sources), 25_000);
        let list = read_pool_list(&tree).unwrap();
        assert!(list.contains_key(shared), "still listed by 1.0-2");
        assert!(!list.contains_key(dsc), "gone after the grace period");
        assert_eq!(list, read_pool_list(&scratch).unwrap());

        // The last source package removed: no Sources any more, edited all the same.
        sources.clear();
        let outcome =
            publish_both(&objects, &key, (&tree, &scratch), (&packages, &sources), 30_000);
        assert_eq!(outcome.n_sources, 0);
        let release = std::fs::read_to_string(tree.join("dists/bookworm/Release")).unwrap();
        assert!(!release.contains("Sources"), "{release}");
    }
}
