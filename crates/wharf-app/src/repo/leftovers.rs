//! `repo cleanup`'s removal of directories nothing refers to any more: the tree of a
//! prefix no publish record names (a `publish drop`, or a first publish, killed between
//! the store and the files) and the partial downloads of a mirror that no longer exists
//! (a `mirror drop` killed the same way). Only directories named like a prefix or mirror
//! are looked at, so temporary files of other writers are left alone; a recorded prefix
//! or an existing mirror is never touched, so a kill at any instant leaves every
//! repository publishable, and the next cleanup finishes a removal cut short.

use std::collections::HashSet;
use std::io;
use std::path::{Path, PathBuf};

/// The subdirectories of `parent` named like a prefix or mirror that `keep` does not name
/// (a missing `parent`: none).
pub(crate) fn orphans(parent: &Path, keep: &HashSet<String>) -> io::Result<Vec<PathBuf>> {
    let entries = match std::fs::read_dir(parent) {
        Ok(entries) => entries,
        Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(err) => return Err(err),
    };
    let mut found = Vec::new();
    for entry in entries {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let named_like_one = wharf_core::names::check_name("name", &name).is_ok();
        if named_like_one && entry.file_type()?.is_dir() && !keep.contains(&name) {
            found.push(entry.path());
        }
    }
    found.sort();
    Ok(found)
}

/// Remove the orphans of each `(parent, keep)`; the removed directories relative to
/// `root`.
pub(crate) fn remove_orphans(
    root: &Path,
    places: &[(PathBuf, HashSet<String>)],
) -> io::Result<Vec<String>> {
    let mut removed = Vec::new();
    for (parent, keep) in places {
        for dir in orphans(parent, keep)? {
            std::fs::remove_dir_all(&dir)?;
            removed.push(dir.strip_prefix(root).unwrap_or(&dir).display().to_string());
        }
    }
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_directories_named_like_one_and_not_kept_are_orphans() {
        let dir = tempfile::tempdir().unwrap();
        let public = dir.path().join("public");
        for name in ["tools", "gone", ".tmp-tools", "a b"] {
            std::fs::create_dir_all(public.join(name).join("dists")).unwrap();
        }
        std::fs::write(public.join("file"), "x").unwrap();
        let keep: HashSet<String> = ["tools".to_owned()].into();
        assert_eq!(orphans(&public, &keep).unwrap(), [public.join("gone")]);
        let removed = remove_orphans(dir.path(), &[(public.clone(), keep.clone())]).unwrap();
        assert_eq!(removed, ["public/gone"]);
        assert!(public.join("tools/dists").exists() && public.join(".tmp-tools").exists());
        assert!(orphans(&dir.path().join("absent"), &keep).unwrap().is_empty());
    }
}
