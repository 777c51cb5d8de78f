//! Step 3b of a publish: `dists/DIST/COMP/Contents-ARCH.gz` for every component and
//! architecture, from the `Packages` indices just written and the per-package file lists
//! ([`crate::contents`]). An index whose packages (SHA-256 and location) are those of the
//! previous publish is not rebuilt; one whose packages changed is the previous one edited
//! with the lists of the packages added and removed ([`super::contents_edit`]), or, when
//! that cannot be done, rendered whole from the stored lists — no `.deb` is read unless
//! its list is missing. Either is compressed chunk by chunk, copying the unchanged chunks'
//! gzip members out of the previous `.gz` ([`crate::chunked`]). Like `Packages`,
//! `Contents-ARCH` and `Contents-ARCH.gz` are written to `by-hash/SHA256/` first, and the
//! plain names are hard links to them. `Release` lists both, as Debian's does: apt looks
//! for the uncompressed name in `Release` before it fetches a compressed form, and skips a
//! `Contents` index whose uncompressed name is not there.
//!
//! The state file keeps each one under `COMP/Contents-ARCH`, its SHA-256 being the
//! fingerprint of its packages ([`contents::fingerprint`]), followed by
//! [`NOT_EDITABLE`] when the next change must render it whole.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use super::contents_edit::{NOT_EDITABLE, Previous};
use super::{IndexState, Indices, PublishError, PublishOutcome, PublishRequest, State, io_err};
use crate::contents::{self, ContentsLists, ListIndex};
use crate::fsutil;
use crate::index::IndexFile;
use crate::objects::Objects;

/// Whether a state file key is a `Contents` index's.
pub(super) fn is_contents_key(key: &str) -> bool {
    key.split('/').nth(1).is_some_and(|name| name.starts_with("Contents-"))
}

/// Add the `Contents` indices of `request` to `indices`.
pub(super) fn write(
    request: &PublishRequest<'_>,
    lists: &ContentsLists,
    objects: Option<&Objects>,
    dists: &Path,
    state: &State,
    outcome: &mut PublishOutcome,
    indices: &mut Indices,
) -> Result<(), PublishError> {
    let mut dirs_to_sync = BTreeSet::new();
    let mut index: Option<ListIndex> = None;
    for component in request.components {
        let by_hash_dir = dists.join(component).join("by-hash/SHA256");
        for arch in request.architectures {
            let packages_path = dists.join(format!("{component}/binary-{arch}/Packages"));
            let packages_index = std::fs::read(&packages_path).map_err(io_err(&packages_path))?;
            let packages = contents::packages_of_index(&packages_index);
            drop(packages_index);
            let key = format!("{component}/Contents-{arch}");
            let fingerprint = contents::fingerprint(&packages);
            let cached = state.indices.get(&key);
            let entry = match cached {
                Some(cached)
                    if cached.sha256.strip_suffix(NOT_EDITABLE).unwrap_or(&cached.sha256)
                        == fingerprint
                        && cached.files.iter().all(|f| by_hash_dir.join(&f.sha256).exists()) =>
                {
                    outcome.n_indices_unchanged += 1;
                    cached.clone()
                }
                _ => {
                    let index = match &mut index {
                        Some(index) => index,
                        None => index.insert(lists.load().map_err(io_err(lists.root()))?),
                    };
                    let previous = cached
                        .and_then(|cached| Previous::load(dists, component, arch, state, cached));
                    let edited = previous.and_then(|previous| {
                        previous.edit(&packages, |p, removed| match removed {
                            // Stored, or a whole render instead: never stored anew.
                            true => index.get(&p.sha256),
                            false => list_of(index, objects, p).ok(),
                        })
                    });
                    let (plain, editable) = match edited {
                        Some(edited) => edited,
                        None => render(&packages, index, objects)?,
                    };
                    let (files, spans) = store(&by_hash_dir, &key, &plain, cached, outcome)?;
                    dirs_to_sync.insert(by_hash_dir.clone());
                    let sha256 = if editable { fingerprint } else { fingerprint + NOT_EDITABLE };
                    IndexState { sha256, files, spans }
                }
            };
            for file in &entry.files {
                indices.current_by_hash.insert(format!(
                    "dists/{}/{component}/by-hash/SHA256/{}",
                    request.distribution, file.sha256
                ));
            }
            indices.release_files.extend(entry.files.iter().cloned());
            indices.new_indices.insert(key, entry);
        }
    }
    if let Some(index) = &mut index {
        // Lists extracted now are kept for the next publish; losing them only costs time.
        if let Err(err) = index.save() {
            tracing::warn!("cannot keep the file lists extracted for Contents: {err}");
        }
    }
    super::index_files::sync_dirs(&dirs_to_sync)?;
    // The plain names last, once every by-hash file is durable.
    for component in request.components {
        let by_hash_dir = dists.join(component).join("by-hash/SHA256");
        for arch in request.architectures {
            let Some(entry) = indices.new_indices.get(&format!("{component}/Contents-{arch}"))
            else {
                continue;
            };
            for file in &entry.files {
                let plain = dists.join(&file.path);
                fsutil::link_atomic(&by_hash_dir.join(&file.sha256), &plain)
                    .map_err(io_err(&plain))?;
            }
        }
    }
    Ok(())
}

/// Compress `plain` (reusing the chunks of the previous `.gz`), write both to
/// `by_hash_dir` unsynced; their `Release` entries and the `.gz`'s chunks.
fn store(
    by_hash_dir: &Path,
    key: &str,
    plain: &[u8],
    cached: Option<&IndexState>,
    outcome: &mut PublishOutcome,
) -> Result<(Vec<IndexFile>, Vec<crate::chunked::ChunkSpan>), PublishError> {
    let previous_gz = cached.and_then(|cached| {
        let file = cached.files.iter().find(|f| f.path.ends_with(".gz"))?;
        let bytes = std::fs::read(by_hash_dir.join(&file.sha256)).ok()?;
        (crate::sha256_hex(&bytes) == file.sha256).then_some(bytes)
    });
    let compressed = crate::chunked::compress_gz(
        plain,
        previous_gz.as_deref().zip(cached.map(|c| c.spans.as_slice())),
    );
    drop(previous_gz);
    outcome.n_chunks_compressed += compressed.n_chunks_compressed;
    std::fs::create_dir_all(by_hash_dir).map_err(io_err(by_hash_dir))?;
    let files = vec![
        IndexFile::of(key.to_owned(), plain),
        IndexFile::of(format!("{key}.gz"), &compressed.gz),
    ];
    // Both at once: each write waits for its fsync, which a busy disk makes the longest
    // part of a publish after a small change.
    std::thread::scope(|scope| {
        let writes: Vec<_> = files
            .iter()
            .zip([plain, &compressed.gz])
            .map(|(file, bytes)| (by_hash_dir.join(&file.sha256), bytes))
            .filter(|(by_hash, _)| !by_hash.exists())
            .map(|(by_hash, bytes)| {
                scope.spawn(move || super::index_files::write_unsynced(&by_hash, bytes))
            })
            .collect();
        writes.into_iter().try_for_each(|write| write.join().expect("a write does not panic"))
    })?;
    Ok((files, compressed.spans))
}

/// The file list of `package`: stored, or read from its file in `objects`.
fn list_of(
    index: &mut ListIndex,
    objects: Option<&Objects>,
    package: &contents::ContentsPackage,
) -> Result<Vec<String>, PublishError> {
    index
        .get_or_extract(&package.sha256, || match objects {
            Some(objects) => objects.get(&package.sha256),
            None => Err(std::io::Error::other(
                "its file list was never read, and the package file is not in a local object store",
            )),
        })
        .map_err(|reason| PublishError::Contents {
            package: package.location.clone(),
            sha256: package.sha256.clone(),
            reason,
        })
}

/// The plain `Contents` of `packages`, rendered whole: the stored lists read in file
/// order, a run of records at a time ([`ListIndex::read_many`]); and whether every line
/// reads back as written ([`contents::reads_back`]).
fn render(
    packages: &[contents::ContentsPackage],
    index: &mut ListIndex,
    objects: Option<&Objects>,
) -> Result<(Vec<u8>, bool), PublishError> {
    let shas: Vec<&str> = packages.iter().map(|p| p.sha256.as_str()).collect();
    let stored = index.read_many(&shas);
    let mut extracted = Vec::new();
    for (idx, package) in packages.iter().enumerate() {
        if stored.files(idx).is_none() {
            extracted.push((package.location.as_str(), list_of(index, objects, package)?));
        }
    }
    let mut pairs: Vec<(&str, &str)> = Vec::with_capacity(packages.len());
    for (idx, package) in packages.iter().enumerate() {
        if let Some(files) = stored.files(idx) {
            pairs.extend(files.map(|file| (file, package.location.as_str())));
        }
    }
    for (location, files) in &extracted {
        pairs.extend(files.iter().map(|file| (file.as_str(), *location)));
    }
    let editable = pairs.iter().all(|(path, location)| contents::reads_back(path, location));
    Ok((contents::render_pairs(&mut pairs), editable))
}

/// Remove the plain names of `Contents` indices the previous publish had and this one
/// does not (turned off, or an architecture or component dropped); their by-hash files
/// expire like any superseded index.
pub(super) fn remove_dropped(
    dists: &Path,
    state: &State,
    new_indices: &BTreeMap<String, IndexState>,
) {
    for (key, entry) in &state.indices {
        if is_contents_key(key) && !new_indices.contains_key(key) {
            for file in &entry.files {
                let _ = std::fs::remove_file(dists.join(&file.path));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::publish::tests::{packages, request};
    use crate::publish::{PoolMode, PreviousIndices, PublishPackage, publish};
    use crate::sign::SigningKey;

    /// Three files a package, one of them shipped by every package: a `Contents` large
    /// enough to be compressed in chunks.
    fn store_lists(lists: &ContentsLists, packages: &[PublishPackage]) {
        let entries: Vec<(String, Vec<String>)> = packages
            .iter()
            .map(|p| {
                let files = vec![
                    format!("usr/share/doc/{}/copyright", p.name),
                    format!("usr/share/{}/data/a-long-enough-file-name.txt", p.name),
                    "usr/bin/shared-by-all".to_owned(),
                ];
                (p.digest.sha256.clone(), files)
            })
            .collect();
        lists.append(&entries).unwrap();
    }

    fn with_lists<'a>(req: PublishRequest<'a>, lists: &'a ContentsLists) -> PublishRequest<'a> {
        PublishRequest { contents: Some(lists), ..req }
    }

    fn contents_gz(tree: &Path) -> Vec<u8> {
        std::fs::read(tree.join("dists/bookworm/main/Contents-amd64.gz")).unwrap()
    }

    fn release(tree: &Path) -> String {
        std::fs::read_to_string(tree.join("dists/bookworm/Release")).unwrap()
    }

    /// A directory with an object store, file lists and a signing key.
    fn setup() -> (tempfile::TempDir, Objects, ContentsLists, SigningKey) {
        let dir = tempfile::tempdir().unwrap();
        let objects = Objects::new(dir.path().join("objects"));
        let lists = ContentsLists::new(dir.path().join("contents"));
        let key = SigningKey::generate("Test <test@example.invalid>").unwrap();
        (dir, objects, lists, key)
    }

    #[test]
    fn incremental_contents_equal_contents_from_scratch_and_go_when_turned_off() {
        let (dir, objects, lists, key) = setup();
        let tree = dir.path().join("tree");
        let mut all = packages(&objects, 0..600);
        store_lists(&lists, &all);
        publish(
            &with_lists(request(&tree, &all, None, PoolMode::Listed, 1_000), &lists),
            &objects,
            &key,
        )
        .unwrap();
        let first = contents_gz(&tree);
        assert!(first.len() > 1_000);
        assert!(release(&tree).contains(" main/Contents-amd64.gz\n"), "{}", release(&tree));

        // One package added, one removed: one or two chunks compressed again.
        let previous = PreviousIndices::load(&tree, "bookworm");
        all.remove(10);
        let added = packages(&objects, 600..601);
        store_lists(&lists, &added);
        all.extend(added);
        let outcome = publish(
            &with_lists(request(&tree, &all, Some(&previous), PoolMode::Listed, 2_000), &lists),
            &objects,
            &key,
        )
        .unwrap();
        // Packages.gz and .xz chunks, and the Contents chunks.
        assert!(outcome.n_chunks_compressed <= 8, "{outcome:?}");
        let incremental = contents_gz(&tree);
        assert_ne!(incremental, first);

        let scratch = dir.path().join("scratch");
        publish(
            &with_lists(request(&scratch, &all, None, PoolMode::Files, 2_000), &lists),
            &objects,
            &key,
        )
        .unwrap();
        assert!(incremental == contents_gz(&scratch), "an incremental Contents differs");
        let mut text = String::new();
        std::io::Read::read_to_string(
            &mut flate2::read::MultiGzDecoder::new(incremental.as_slice()),
            &mut text,
        )
        .unwrap();
        assert_eq!(text.lines().count(), 600 * 2 + 1);
        assert!(
            text.contains("usr/share/pkg00600/data/a-long-enough-file-name.txt\t    pkg00600\n")
        );
        assert!(!text.contains("pkg00010"), "the removed package is gone");
        let shared = text.lines().find(|l| l.starts_with("usr/bin/shared-by-all\t")).unwrap();
        assert_eq!(shared.matches(',').count(), 599);

        // Nothing changed: nothing rebuilt.
        let previous = PreviousIndices::load(&tree, "bookworm");
        let outcome = publish(
            &with_lists(request(&tree, &all, Some(&previous), PoolMode::Listed, 3_000), &lists),
            &objects,
            &key,
        )
        .unwrap();
        assert_eq!(outcome.n_indices_rewritten, 0, "{outcome:?}");

        // Turned off: Release stops listing it and the plain name goes.
        let previous = PreviousIndices::load(&tree, "bookworm");
        publish(&request(&tree, &all, Some(&previous), PoolMode::Listed, 4_000), &objects, &key)
            .unwrap();
        assert!(!release(&tree).contains("Contents"), "{}", release(&tree));
        assert!(!tree.join("dists/bookworm/main/Contents-amd64.gz").exists());
    }

    /// A package `name` `version` of `arch` in `section`, stored with a file of its own.
    fn package(
        objects: &Objects,
        name: &str,
        version: &str,
        arch: &str,
        section: &str,
    ) -> PublishPackage {
        let bytes = format!("{name} {version} {arch}").into_bytes();
        objects.put_batch(&[(&crate::sha256_hex(&bytes), &bytes)]).unwrap();
        let control = format!(
            "Package: {name}\nVersion: {version}\nArchitecture: {arch}\nSection: {section}\nDescription: {name}\n"
        );
        PublishPackage {
            name: name.into(),
            version: version.parse().unwrap(),
            architecture: arch.into(),
            component: "main".into(),
            control: Some(crate::control::Control::parse(&control).unwrap().render_index()),
            digest: crate::deb::FileDigest::of(&bytes),
        }
    }

    /// Its files: some of its own (named after its version too), a file every package
    /// ships, and one every version of the same name ships.
    fn files_of(p: &PublishPackage) -> Vec<String> {
        vec![
            format!("usr/share/doc/{}/copyright", p.name),
            format!("usr/lib/{}/{}/{}.so", p.name, p.architecture, p.version),
            format!("usr/share/{}/a-long-enough-file-name-to-fill-the-chunks.txt", p.name),
            "usr/bin/shared-by-all".to_owned(),
        ]
    }

    fn store(lists: &ContentsLists, packages: &[&PublishPackage]) {
        let entries: Vec<(String, Vec<String>)> =
            packages.iter().map(|p| (p.digest.sha256.clone(), files_of(p))).collect();
        lists.append(&entries).unwrap();
    }

    /// The plain and compressed `Contents` of both architectures.
    fn both_contents(tree: &Path) -> Vec<Vec<u8>> {
        let dists = tree.join("dists/bookworm/main");
        ["Contents-amd64", "Contents-amd64.gz", "Contents-arm64", "Contents-arm64.gz"]
            .iter()
            .map(|name| std::fs::read(dists.join(name)).unwrap())
            .collect()
    }

    #[test]
    fn edited_contents_equal_rendered_ones_through_adds_removals_and_replacements() {
        let dir = tempfile::tempdir().unwrap();
        let objects = Objects::new(dir.path().join("objects"));
        // Every list, for the publishes from scratch; and only those of the packages that
        // change, for the edited tree: it publishes only by editing (a render would find
        // lists missing, and the objects are not .deb files to read them from).
        let all_lists = ContentsLists::new(dir.path().join("all-lists"));
        let changed_lists = ContentsLists::new(dir.path().join("changed-lists"));
        let key = SigningKey::generate("Test <test@example.invalid>").unwrap();
        let tree = dir.path().join("tree");
        let architectures = ["amd64".to_owned(), "arm64".to_owned()];
        let mut current: Vec<PublishPackage> = (0..900)
            .map(|n| {
                let arch = ["amd64", "arm64", "all"][n % 3];
                let section = ["utils", "admin"][n % 2];
                package(&objects, &format!("pkg{n:03}"), "1.0", arch, section)
            })
            .collect();
        store(&all_lists, &current.iter().collect::<Vec<_>>());
        let publish_to = |root: &Path,
                          packages: &[PublishPackage],
                          lists: &ContentsLists,
                          previous: Option<&PreviousIndices>,
                          now: i64| {
            let req = PublishRequest {
                architectures: &architectures,
                contents: Some(lists),
                ..request(root, packages, previous, PoolMode::Listed, now)
            };
            publish(&req, &objects, &key).unwrap()
        };
        publish_to(&tree, &current, &all_lists, None, 1_000);
        assert!(both_contents(&tree)[0].len() > crate::chunked::MIN_CHUNKED_BYTES);

        let v2 = |name: &str, arch: &str| package(&objects, name, "2.0", arch, "utils");
        let bulk: Vec<PublishPackage> =
            (0..40).map(|n| package(&objects, &format!("bulk{n}"), "1", "all", "misc")).collect();
        let bulk_removed: Vec<String> = (10..60).map(|n| format!("pkg{n:03}")).collect();
        let bulk_removed: Vec<(&str, &str)> =
            bulk_removed.iter().map(|name| (name.as_str(), "1.0")).collect();
        type Step<'a> = (&'a str, Vec<PublishPackage>, Vec<(&'a str, &'a str)>);
        let steps: Vec<Step<'_>> = vec![
            (
                "one package of each architecture added",
                vec![
                    package(&objects, "new-amd64", "1", "amd64", "utils"),
                    package(&objects, "new-all", "1", "all", "misc"),
                    package(&objects, "new-arm64", "1", "arm64", "misc"),
                ],
                vec![],
            ),
            (
                "an amd64 and an all package removed",
                vec![],
                vec![("pkg000", "1.0"), ("pkg002", "1.0")],
            ),
            (
                "replaced by a new version (amd64, all)",
                vec![v2("pkg003", "amd64"), v2("pkg005", "all")],
                vec![("pkg003", "1.0"), ("pkg005", "1.0")],
            ),
            ("a second version beside the first", vec![v2("pkg006", "amd64")], vec![]),
            ("the first version removed", vec![], vec![("pkg006", "1.0")]),
            ("many at once", bulk, bulk_removed),
        ];
        for (step, (name, added, removed)) in steps.into_iter().enumerate() {
            let now = 2_000 + i64::try_from(step).unwrap() * 1_000;
            let removed: Vec<PublishPackage> = current
                .iter()
                .filter(|p| removed.contains(&(p.name.as_str(), p.version.to_string().as_str())))
                .cloned()
                .collect();
            // The packages left that share a location with a removed one.
            let same_location: Vec<&PublishPackage> =
                current.iter().filter(|p| removed.iter().any(|r| r.name == p.name)).collect();
            store(&changed_lists, &added.iter().chain(same_location).collect::<Vec<_>>());
            store(&all_lists, &added.iter().collect::<Vec<_>>());
            current.retain(|p| !removed.iter().any(|r| r.digest.sha256 == p.digest.sha256));
            current.extend(added);
            let previous = PreviousIndices::load(&tree, "bookworm");
            publish_to(&tree, &current, &changed_lists, Some(&previous), now);
            let scratch = dir.path().join(format!("scratch-{step}"));
            publish_to(&scratch, &current, &all_lists, None, now);
            let (edited, rendered) = (both_contents(&tree), both_contents(&scratch));
            for (idx, (edited, rendered)) in edited.iter().zip(&rendered).enumerate() {
                assert!(
                    edited == rendered,
                    "{name}: file {idx} differs:\n{}",
                    String::from_utf8_lossy(edited)
                );
            }
        }
    }

    #[test]
    fn an_index_with_a_path_ending_in_a_blank_is_rendered_whole_next_time() {
        let (dir, objects, lists, key) = setup();
        let (tree, scratch) = (dir.path().join("tree"), dir.path().join("scratch"));
        let mut all = vec![package(&objects, "blank", "1", "amd64", "utils")];
        // 57 bytes and a blank: its line also reads as a 57-byte path and more padding.
        let path = format!("usr/share/{} ", "x".repeat(47));
        lists.append(&[(all[0].digest.sha256.clone(), vec![path, "usr/bin/x".into()])]).unwrap();
        let publish_to = |root: &Path, all: &[PublishPackage], now| {
            let previous = PreviousIndices::load(root, "bookworm");
            let req = request(root, all, Some(&previous), PoolMode::Listed, now);
            publish(&with_lists(req, &lists), &objects, &key).unwrap();
        };
        publish_to(&tree, &all, 1_000);
        let state = std::fs::read_to_string(tree.join(crate::publish::STATE_FILE)).unwrap();
        assert!(state.contains(NOT_EDITABLE), "{state}");
        all.push(package(&objects, "other", "1", "amd64", "utils"));
        store(&lists, &[&all[1]]);
        publish_to(&tree, &all, 2_000);
        publish_to(&scratch, &all, 2_000);
        let read = |root: &Path| std::fs::read(root.join("dists/bookworm/main/Contents-amd64"));
        assert_eq!(read(&tree).unwrap(), read(&scratch).unwrap());
    }

    #[test]
    fn a_package_without_a_list_or_a_file_is_named() {
        let (dir, objects, lists, key) = setup();
        let tree = dir.path().join("tree");
        // The objects are not .deb files: their lists cannot be read from them.
        let all = packages(&objects, 0..2);
        let req = PublishRequest {
            contents: Some(&lists),
            ..request(&tree, &all, None, PoolMode::Listed, 1_000)
        };
        let err = publish(&req, &objects, &key).unwrap_err().to_string();
        assert!(err.contains("pkg0000") && err.contains("cannot list its files"), "{err}");
        assert!(!tree.join("dists/bookworm/InRelease").exists(), "nothing published");
    }
}
