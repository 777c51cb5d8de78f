//! `repo include --incoming DIR REPO`: every complete `.changes` in an incoming directory
//! (where `dput` with `method = local` copies an upload), like `reprepro processincoming`.
//!
//! Each `.changes` (in name order) whose listed files are all there at their listed size
//! goes through [`super::include`] — signature and checksums checked, all or nothing —
//! and is then removed, the `.changes` first (a kill between leaves only files no
//! `.changes` names). One with a file missing or short is left waiting (an upload still
//! being copied); one `include` refuses is left where it is, with the reason. An error
//! that is not about the upload (the store unreachable) stops the run.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use wharf_apt::changes::Changes;
use wharf_store::AptKind;

use super::include::{IncludeRequest, include};
use crate::context::Context;
use crate::error::{AppError, Context as _, ErrorKind, Result};
use crate::progress::Progress;
use crate::wire::{IncludeReport, IncomingReport, IncomingSkip};

/// What to process.
#[derive(Debug, Clone)]
pub struct IncomingRequest {
    pub repository: String,
    pub dir: PathBuf,
    pub component: Option<String>,
    pub replace: bool,
    pub accept_unsigned: bool,
}

/// The listed files missing from the directory or shorter than listed (`present`: name
/// → size of the directory's files): empty when the upload is complete.
fn missing(listed: &[(String, u64)], present: &HashMap<String, u64>) -> Vec<String> {
    listed
        .iter()
        .filter(|(name, size)| present.get(name) != Some(size))
        .map(|(name, size)| match present.get(name) {
            None => format!("{name} is not there yet"),
            Some(have) => format!("{name} has {have} of {size} bytes"),
        })
        .collect()
}

/// The regular files of `dir` with their sizes.
fn files_of(dir: &Path) -> Result<HashMap<String, u64>> {
    let entries = std::fs::read_dir(dir).map_err(|err| {
        AppError::invalid(format!("cannot read the incoming directory {}: {err}", dir.display()))
    })?;
    let mut files = HashMap::new();
    for entry in entries {
        let entry = entry.or_internal(|| format!("cannot list {}", dir.display()))?;
        let meta = entry.metadata().or_internal(|| format!("cannot stat {:?}", entry.path()))?;
        if meta.is_file() {
            files.insert(entry.file_name().to_string_lossy().into_owned(), meta.len());
        }
    }
    Ok(files)
}

/// Whether an include's error is about the upload (left, reported) rather than about
/// Wharf (the run stops).
fn about_the_upload(err: &AppError) -> bool {
    matches!(err.kind(), ErrorKind::Invalid | ErrorKind::Refused | ErrorKind::Conflict)
}

/// Process `request.dir`; see the module docs.
pub async fn include_incoming(
    ctx: &Context,
    request: IncomingRequest,
    progress: &dyn Progress,
) -> Result<IncomingReport> {
    super::collection(ctx, AptKind::Repo, &request.repository).await?;
    let mut names: Vec<String> =
        files_of(&request.dir)?.into_keys().filter(|n| n.ends_with(".changes")).collect();
    names.sort();
    let mut report = IncomingReport {
        directory: request.dir.display().to_string(),
        included: Vec::new(),
        waiting: Vec::new(),
        rejected: Vec::new(),
    };
    for name in &names {
        let path = request.dir.join(name);
        let skip = |reason: String| IncomingSkip { changes: name.clone(), reason };
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        let changes = match Changes::parse(name, &text, None) {
            Ok(changes) => changes,
            Err(err) => {
                report.rejected.push(skip(format!("not a valid .changes: {err}")));
                continue;
            }
        };
        let listed: Vec<(String, u64)> =
            changes.files.iter().map(|f| (f.name.clone(), f.size)).collect();
        // Listed again for each: an upload included before took its files away.
        let absent = missing(&listed, &files_of(&request.dir)?);
        if !absent.is_empty() {
            report.waiting.push(skip(absent.join("; ")));
            continue;
        }
        let include_request = IncludeRequest {
            repository: request.repository.clone(),
            changes: path.clone(),
            component: request.component.clone(),
            replace: request.replace,
            accept_unsigned: request.accept_unsigned,
        };
        match include(ctx, include_request, progress).await {
            Ok(included) => {
                remove(&path, listed.iter().map(|(file, _)| request.dir.join(file)))?;
                report.included.push(IncludeReport { changes: name.clone(), ..included });
            }
            Err(err) if about_the_upload(&err) => {
                report.rejected.push(skip(format!("{err}; left in {}", request.dir.display())));
            }
            Err(err) => return Err(err),
        }
    }
    Ok(report)
}

/// Remove an included upload: its `.changes` first, then the files it listed.
fn remove(changes: &Path, files: impl Iterator<Item = PathBuf>) -> Result<()> {
    let failed =
        |path: &Path| format!("included, but cannot remove {} (remove it by hand)", path.display());
    std::fs::remove_file(changes).or_internal(|| failed(changes))?;
    for file in files {
        match std::fs::remove_file(&file) {
            Err(err) if err.kind() != std::io::ErrorKind::NotFound => {
                return Err(err).or_internal(|| failed(&file));
            }
            _ => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_upload_is_complete_when_every_listed_file_has_its_size() {
        let listed = |items: &[(&str, u64)]| -> Vec<(String, u64)> {
            items.iter().map(|(n, s)| ((*n).to_owned(), *s)).collect()
        };
        let present: HashMap<String, u64> =
            [("a.deb".to_owned(), 10), ("a.dsc".to_owned(), 5), ("other".to_owned(), 1)].into();
        // (listed files and sizes, what is missing)
        type Case = (&'static [(&'static str, u64)], &'static [&'static str]);
        let cases: &[Case] = &[
            (&[("a.deb", 10), ("a.dsc", 5)], &[]),
            (&[("a.deb", 10), ("a.tar.xz", 7)], &["a.tar.xz is not there yet"]),
            (&[("a.deb", 12)], &["a.deb has 10 of 12 bytes"]),
            (&[], &[]),
        ];
        for (files, expected) in cases {
            assert_eq!(missing(&listed(files), &present), *expected, "{files:?}");
        }
    }
}
