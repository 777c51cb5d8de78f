//! Step 3b of a publish: `dists/DIST/COMP/Contents-ARCH.gz` for every component and
//! architecture, from the `Packages` indices just written and the per-package file lists
//! ([`crate::contents`]). An index whose packages (SHA-256 and location) are those of the
//! previous publish is not rebuilt; otherwise it is rendered from the stored lists — no
//! `.deb` is read unless its list is missing — and compressed chunk by chunk, copying the
//! unchanged chunks' gzip members out of the previous `.gz` ([`crate::chunked`]). Like
//! `Packages`, `Contents-ARCH` and `Contents-ARCH.gz` are written to `by-hash/SHA256/`
//! first, and the plain names are hard links to them. `Release` lists both, as Debian's
//! does: apt looks for the uncompressed name in `Release` before it fetches a compressed
//! form, and skips a `Contents` index whose uncompressed name is not there.
//!
//! The state file keeps each one under `COMP/Contents-ARCH`, its SHA-256 being the
//! fingerprint of its packages ([`contents::fingerprint`]).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

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
                    if cached.sha256 == fingerprint
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
                    let plain = render(&packages, index, objects)?;
                    let previous_gz = cached.and_then(|cached| {
                        let file = cached.files.iter().find(|f| f.path.ends_with(".gz"))?;
                        let bytes = std::fs::read(by_hash_dir.join(&file.sha256)).ok()?;
                        (crate::sha256_hex(&bytes) == file.sha256).then_some(bytes)
                    });
                    let compressed = crate::chunked::compress_gz(
                        &plain,
                        previous_gz.as_deref().zip(cached.map(|c| c.spans.as_slice())),
                    );
                    drop(previous_gz);
                    outcome.n_chunks_compressed += compressed.n_chunks_compressed;
                    std::fs::create_dir_all(&by_hash_dir).map_err(io_err(&by_hash_dir))?;
                    let files = vec![
                        IndexFile::of(key.clone(), &plain),
                        IndexFile::of(format!("{key}.gz"), &compressed.gz),
                    ];
                    for (file, bytes) in files.iter().zip([&plain, &compressed.gz]) {
                        let by_hash = by_hash_dir.join(&file.sha256);
                        if !by_hash.exists() {
                            super::write_unsynced(&by_hash, bytes)?;
                        }
                    }
                    dirs_to_sync.insert(by_hash_dir.clone());
                    outcome.n_indices_rewritten += 1;
                    IndexState { sha256: fingerprint, files, spans: compressed.spans }
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
    super::sync_dirs(&dirs_to_sync)?;
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

/// The plain `Contents` of `packages`.
fn render(
    packages: &[contents::ContentsPackage],
    index: &mut ListIndex,
    objects: Option<&Objects>,
) -> Result<Vec<u8>, PublishError> {
    let mut files = Vec::with_capacity(packages.len());
    for package in packages {
        let list = index
            .get_or_extract(&package.sha256, || match objects {
                Some(objects) => objects.get(&package.sha256),
                None => Err(std::io::Error::other("its file list was never read, and the package file is not in a local object store")),
            })
            .map_err(|reason| PublishError::Contents {
                package: package.location.clone(),
                sha256: package.sha256.clone(),
                reason,
            })?;
        files.push(list);
    }
    Ok(contents::contents_file(
        packages.iter().zip(&files).map(|(p, list)| (p.location.as_str(), list.as_slice())),
    ))
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

    #[test]
    fn incremental_contents_equal_contents_from_scratch_and_go_when_turned_off() {
        let dir = tempfile::tempdir().unwrap();
        let objects = Objects::new(dir.path().join("objects"));
        let lists = ContentsLists::new(dir.path().join("contents"));
        let key = SigningKey::generate("Test <test@example.invalid>").unwrap();
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

    #[test]
    fn a_package_without_a_list_or_a_file_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let objects = Objects::new(dir.path().join("objects"));
        let lists = ContentsLists::new(dir.path().join("contents"));
        let key = SigningKey::generate("Test <test@example.invalid>").unwrap();
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
