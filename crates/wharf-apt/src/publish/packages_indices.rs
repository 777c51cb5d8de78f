//! The `Packages` indices: each one's stanzas, from the new packages' control stanzas or
//! the previous publish's, or the previous index edited with a [`Delta`](super::Delta).

use std::collections::BTreeSet;
use std::path::PathBuf;

use super::index_files::{BuiltIndex, build_index};
use super::{IndexState, PublishError, PublishOutcome, PublishPackage, PublishRequest};
use crate::deb::FileDigest;

/// Insert the file fields into a stanza rendered without them, where dpkg puts them:
/// before the first field that sorts after `Filename` (`Section`, `Description`, unknown
/// fields…). Equal to [`index::packages_stanza`](crate::index::packages_stanza) on the
/// same control, much cheaper.
#[must_use]
pub fn stanza_with_file_fields(control: &str, filename: &str, digest: &FileDigest) -> String {
    let fields = format!(
        "Filename: {filename}\nSize: {}\nMD5sum: {}\nSHA1: {}\nSHA256: {}\n",
        digest.size, digest.md5, digest.sha1, digest.sha256
    );
    crate::control::insert_fields(control, crate::control::fields_before_filename(), &fields)
}

/// One `Packages` index of `here` (its packages, sorted): the previous one edited with a
/// [`Delta`](super::Delta), else every stanza. `last`: the previous indices are let go
/// once it is built.
pub(super) fn packages_index(
    request: &PublishRequest<'_>,
    built: BuiltIndex<'_>,
    here: &[&PublishPackage],
    last: bool,
    outcome: &mut PublishOutcome,
    dirs_to_sync: &mut BTreeSet<PathBuf>,
) -> Result<IndexState, PublishError> {
    let plain_rel = format!("{}/{}", built.rel_dir, built.name);
    let component = built.rel_dir.split('/').next().unwrap_or_default().to_owned();
    build_index(built, outcome, dirs_to_sync, |write| {
        match (request.delta, request.previous) {
            (Some(delta), Some(previous)) => {
                let new: Vec<(&PublishPackage, Vec<u8>)> = here
                    .iter()
                    .map(|package| {
                        let control = package.control.as_deref().unwrap_or_default();
                        let text =
                            stanza_with_file_fields(control, &package.pool_path(), &package.digest);
                        (*package, text.into_bytes())
                    })
                    .collect();
                let removed = delta.removed.get(&component);
                if !previous.merge_into(&plain_rel, removed, &new, write)? {
                    return Err(PublishError::MissingStanza {
                        index: plain_rel.clone(),
                        package: "(previous index)".into(),
                    });
                }
            }
            _ => write_packages(request, &plain_rel, here, write)?,
        }
        if last && let Some(previous) = request.previous {
            previous.release();
        }
        Ok(())
    })
}

/// Every package of one `Packages` index, from its control stanza or the previous index's.
fn write_packages(
    request: &PublishRequest<'_>,
    plain_rel: &str,
    here: &[&PublishPackage],
    write: &mut dyn FnMut(&[u8]) -> Result<(), PublishError>,
) -> Result<(), PublishError> {
    let mut stanza = Vec::new();
    for package in here {
        stanza.clear();
        match &package.control {
            Some(control) => stanza.extend_from_slice(
                stanza_with_file_fields(control, &package.pool_path(), &package.digest).as_bytes(),
            ),
            None => {
                let found = request.previous.is_some_and(|previous| {
                    previous.stanza_into(plain_rel, &package.digest.sha256, &mut stanza)
                });
                if !found {
                    return Err(PublishError::MissingStanza {
                        index: plain_rel.to_owned(),
                        package: package.pool_path(),
                    });
                }
            }
        }
        write(&stanza)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::control::Control;
    use crate::index;

    #[test]
    fn inserted_file_fields_match_full_rendering() {
        let digest = FileDigest::of(b"x");
        for text in [
            "Package: a\nVersion: 1\nArchitecture: all\nDescription: d\n more\n",
            "Package: a\nVersion: 1\nDepends: b\nSection: s\nX-Foo: 1\n",
            "Package: a\nVersion: 1\nX-Foo: 1\n",
            "Package: a\nVersion: 1\n",
        ] {
            let control = Control::parse(text).unwrap();
            assert_eq!(
                stanza_with_file_fields(&control.render_index(), "pool/a.deb", &digest),
                index::packages_stanza(&control, "pool/a.deb", &digest),
                "{text}"
            );
        }
    }
}
