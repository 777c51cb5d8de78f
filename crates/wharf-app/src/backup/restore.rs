//! `wharf restore SRC`: a backup copied beside the data directory, checked file by file
//! against its manifest, then renamed into place — all or nothing.

use std::path::{Path, PathBuf};

use super::manifest::{self, Manifest};
use crate::error::{AppError, Context as _, Result};
use crate::wire::RestoreReport;

/// What is at the data directory's path before a restore.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Found {
    Nothing,
    EmptyDir,
    /// A directory with something in it.
    Occupied,
    /// A file or anything else that is not a directory.
    NotADir,
}

/// What the restore does with what it found, once the copy is complete and checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Placement {
    /// Rename the copy to the data directory's path.
    Create,
    /// Remove the empty directory, then rename.
    ReplaceEmpty,
    /// Rename the occupied directory aside (never deleted), then rename.
    SetAside,
}

/// The decision, before anything is copied: an occupied data directory only with
/// `force`, and even then it is kept under another name.
fn placement(found: Found, force: bool) -> std::result::Result<Placement, &'static str> {
    match (found, force) {
        (Found::Nothing, _) => Ok(Placement::Create),
        (Found::EmptyDir, _) => Ok(Placement::ReplaceEmpty),
        (Found::Occupied, true) => Ok(Placement::SetAside),
        (Found::Occupied, false) => {
            Err("is not empty: restore into a new or empty directory (--data DIR), or pass \
             --force to move it aside and restore in its place")
        }
        (Found::NotADir, _) => Err("is not a directory: name a directory to restore into"),
    }
}

fn look(data: &Path) -> Result<Found> {
    match std::fs::symlink_metadata(data) {
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(Found::Nothing),
        Err(err) => {
            Err(AppError::internal(format!("cannot stat {}", data.display())).with_source(err))
        }
        Ok(meta) if !meta.is_dir() => Ok(Found::NotADir),
        Ok(_) => {
            let mut entries = std::fs::read_dir(data)
                .or_internal(|| format!("cannot read {}", data.display()))?;
            Ok(if entries.next().is_some() { Found::Occupied } else { Found::EmptyDir })
        }
    }
}

/// Restore the backup at `src` into the data directory `data`: missing or empty, or
/// occupied with `force` (then kept beside it as `DATA.replaced-UNIXTIME`). Every file is
/// copied and checked against the manifest before the data directory changes.
pub fn restore(src: &Path, data: &Path, force: bool) -> Result<RestoreReport> {
    let manifest = manifest::read(src)?;
    let data = &std::path::absolute(data)
        .or_internal(|| format!("cannot resolve data directory {}", data.display()))?;
    let place = placement(look(data)?, force).map_err(|what| {
        AppError::conflict(format!(
            "data directory {} {what}; nothing was restored",
            data.display()
        ))
    })?;
    let name = data.file_name().and_then(|name| name.to_str()).ok_or_else(|| {
        AppError::invalid(format!(
            "data directory {} must end in a UTF-8 directory name",
            data.display()
        ))
    })?;
    let parent = match data.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent.to_owned(),
        _ => PathBuf::from("."),
    };
    std::fs::create_dir_all(&parent)
        .or_internal(|| format!("cannot create {}", parent.display()))?;
    let staging = parent.join(format!(".{name}.restore-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&staging);
    if let Err(err) = copy_checked(src, &staging, &manifest) {
        let _ = std::fs::remove_dir_all(&staging);
        return Err(err);
    }
    let set_aside = match place {
        Placement::Create => None,
        Placement::ReplaceEmpty => {
            std::fs::remove_dir(data)
                .or_internal(|| format!("cannot replace empty directory {}", data.display()))?;
            None
        }
        Placement::SetAside => {
            let unix = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs());
            let aside = parent.join(format!("{name}.replaced-{unix}"));
            std::fs::rename(data, &aside).or_internal(|| {
                format!("cannot move {} aside to {}", data.display(), aside.display())
            })?;
            Some(aside.display().to_string())
        }
    };
    std::fs::rename(&staging, data)
        .or_internal(|| format!("cannot rename {} to {}", staging.display(), data.display()))?;
    manifest::sync_dir(&parent)?;
    Ok(RestoreReport {
        data: data.display().to_string(),
        files: manifest.files.len(),
        bytes: manifest.bytes(),
        created_at: manifest.created_at,
        set_aside,
    })
}

/// Copies every manifest file into `staging`, checking each copy's size and SHA-256;
/// every mismatch is named, and any makes the whole restore fail.
fn copy_checked(src: &Path, staging: &Path, manifest: &Manifest) -> Result<()> {
    manifest::create_private_dir(staging)?;
    let mut problems = Vec::new();
    let mut dirs = std::collections::BTreeSet::new();
    for file in &manifest.files {
        let to = staging.join(&file.path);
        if let Some(dir) = to.parent()
            && dirs.insert(dir.to_owned())
        {
            manifest::create_private_dir(dir)?;
        }
        match manifest::copy_hashed(&src.join(&file.path), Some(&to), &file.path) {
            Ok(copied) if copied.sha256 == file.sha256 && copied.size == file.size => {
                std::fs::set_permissions(
                    &to,
                    std::os::unix::fs::PermissionsExt::from_mode(file.mode),
                )
                .or_internal(|| format!("cannot set the mode of {}", to.display()))?;
            }
            Ok(copied) => problems.push(format!(
                "{}: SHA-256 {} ({} bytes), the manifest says {} ({} bytes)",
                file.path, copied.sha256, copied.size, file.sha256, file.size
            )),
            Err(err) => problems.push(format!("{}: {err}", file.path)),
        }
    }
    if !problems.is_empty() {
        let shown = problems.iter().take(10).cloned().collect::<Vec<_>>().join("; ");
        return Err(AppError::invalid(format!(
            "backup {} is damaged, {} of {} file(s) differ from its manifest: {shown}{}; \
             nothing was restored (restore an older backup)",
            src.display(),
            problems.len(),
            manifest.files.len(),
            if problems.len() > 10 { "; …" } else { "" }
        )));
    }
    manifest::sync_dirs(staging, &dirs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_occupied_data_directory_is_replaced_only_when_forced_and_then_kept() {
        use Found::*;
        use Placement::*;
        let cases = [
            (Nothing, false, Some(Create)),
            (Nothing, true, Some(Create)),
            (EmptyDir, false, Some(ReplaceEmpty)),
            (EmptyDir, true, Some(ReplaceEmpty)),
            (Occupied, false, None),
            (Occupied, true, Some(SetAside)),
            (NotADir, false, None),
            (NotADir, true, None),
        ];
        for (found, force, expected) in cases {
            assert_eq!(placement(found, force).ok(), expected, "{found:?} force={force}");
        }
    }

    #[test]
    fn what_is_at_the_data_directory_path() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(look(&dir.path().join("missing")).unwrap(), Found::Nothing);
        std::fs::create_dir(dir.path().join("empty")).unwrap();
        assert_eq!(look(&dir.path().join("empty")).unwrap(), Found::EmptyDir);
        std::fs::write(dir.path().join("empty/x"), "").unwrap();
        assert_eq!(look(&dir.path().join("empty")).unwrap(), Found::Occupied);
        assert_eq!(look(&dir.path().join("empty/x")).unwrap(), Found::NotADir);
    }
}
