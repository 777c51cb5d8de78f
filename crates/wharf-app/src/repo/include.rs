//! `repo include`: a `.changes` upload (what `dpkg-genchanges` writes and `dput` sends)
//! added to a repository all or nothing, as `aptly repo include` and `reprepro include`
//! do. The `.changes` must be signed by a key of `[apt] uploaders_keyring` — unsigned only
//! with `--accept-unsigned` *and* `[apt] accept_unsigned = true` — and every file it
//! lists must have the size and digests it says. The checked bytes are copied into a
//! private directory, so what is added is exactly what was checked; then its `.deb` and
//! `.dsc` files go through `repo add` (one transaction, one audit entry).

use std::path::{Path, PathBuf};

use wharf_apt::changes::Changes;
use wharf_apt::dsc::DscError;
use wharf_apt::keyring::SignatureError;

use super::add::{AddRequest, add};
use crate::context::Context;
use crate::error::{AppError, Context as _, Result};
use crate::progress::Progress;
use crate::wire::IncludeReport;

/// What `repo include` asks for.
#[derive(Debug, Clone)]
pub struct IncludeRequest {
    pub repository: String,
    /// The `.changes`; the files it lists are read from its directory.
    pub changes: PathBuf,
    pub component: Option<String>,
    pub replace: bool,
    /// Take an unsigned `.changes` (only where `[apt] accept_unsigned` allows it).
    pub accept_unsigned: bool,
}

/// Whether an upload may go on, given how it is signed: the decision, without I/O.
/// `signed`: whether the `.changes` carried a signature; `verified`: whether it verified
/// against the configured keyring (`None`: no keyring configured).
pub(crate) fn signature_decision(
    file: &str,
    signed: bool,
    verified: Option<bool>,
    accept_unsigned: bool,
    config_allows_unsigned: bool,
) -> Result<()> {
    match (signed, verified) {
        (true, Some(true)) => Ok(()),
        (true, Some(false)) => {
            Err(AppError::refused(format!("{file}: the signature did not verify")))
        }
        (true, None) => Err(AppError::refused(format!(
            "{file} is signed, but no [apt] uploaders_keyring is configured to check it against: set it to the uploaders' public keys (`gpg --export KEYID > uploaders.gpg`)"
        ))),
        (false, _) if !accept_unsigned => Err(AppError::refused(format!(
            "{file} is not signed: sign it (`debsign`, `gpg --clearsign`) with a key of [apt] uploaders_keyring, or pass --accept-unsigned where [apt] accept_unsigned = true allows it"
        ))),
        (false, _) if !config_allows_unsigned => Err(AppError::refused(format!(
            "{file} is not signed, and --accept-unsigned is refused: [apt] accept_unsigned is not set to true in the configuration"
        ))),
        (false, _) => Ok(()),
    }
}

fn upload_error(err: DscError) -> AppError {
    let message = format!("nothing included: {err}");
    if matches!(
        err,
        DscError::Signature(
            SignatureError::UnknownKey { .. } | SignatureError::BadSignature { .. }
        )
    ) {
        AppError::refused(message)
    } else {
        AppError::invalid(message)
    }
}

/// Include a `.changes` upload. See the module docs.
pub async fn include(
    ctx: &Context,
    request: IncludeRequest,
    progress: &dyn Progress,
) -> Result<IncludeReport> {
    let keyring = ctx.uploaders_keyring()?;
    let apt = ctx.apt().clone();
    let file = request.changes.display().to_string();
    let text = std::fs::read(&request.changes)
        .map_err(|err| AppError::invalid(format!("nothing included: cannot read {file}: {err}")))?;
    let text = String::from_utf8(text).map_err(|_| {
        AppError::invalid(format!("nothing included: {file} is not a .changes (not UTF-8 text)"))
    })?;
    let changes = Changes::parse(&file, &text, keyring.as_ref()).map_err(upload_error)?;
    let verified = keyring.as_ref().map(|_| changes.signed_by.is_some());
    signature_decision(
        &file,
        changes.signed,
        verified,
        request.accept_unsigned,
        apt.accept_unsigned,
    )
    .map_err(|err| AppError::new(err.kind(), format!("nothing included: {}", err.message())))?;
    progress.phase("checking the upload", 0);
    let dir = request.changes.parent().unwrap_or(Path::new(".")).to_owned();
    let staging =
        tempfile::tempdir().or_internal(|| "cannot create a temporary directory".to_owned())?;
    let (staged, ignored) = {
        let (changes, staging) = (changes.clone(), staging.path().to_owned());
        let file = file.clone();
        tokio::task::spawn_blocking(move || stage(&file, &changes, &dir, &staging))
            .await
            .or_internal(|| "checking the upload failed".to_owned())??
    };
    if staged.is_empty() {
        return Err(AppError::invalid(format!(
            "nothing included: {file} lists no .deb or .dsc file"
        )));
    }
    let added = add(
        ctx,
        AddRequest {
            repository: request.repository.clone(),
            paths: staged,
            component: request.component.clone(),
            replace: request.replace,
        },
        progress,
    )
    .await?;
    Ok(IncludeReport {
        changes: file,
        source: changes.source,
        version: changes.version,
        signed_by: changes.signed_by,
        ignored,
        add: added,
    })
}

/// Checks every listed file in `dir` against the `.changes` and copies it into
/// `staging`; returns the staged `.deb` and `.dsc` paths and the names of other files
/// that are not added by themselves (`.buildinfo`; tarballs come with their `.dsc`).
fn stage(
    file: &str,
    changes: &Changes,
    dir: &Path,
    staging: &Path,
) -> Result<(Vec<PathBuf>, Vec<String>)> {
    let (mut staged, mut ignored) = (Vec::new(), Vec::new());
    for listed in &changes.files {
        let source = dir.join(&listed.name);
        let bytes = std::fs::read(&source).map_err(|err| {
            AppError::invalid(format!(
                "nothing included: {file} lists {}, which cannot be read ({err}): upload every file the .changes lists",
                listed.name
            ))
        })?;
        Changes::check_file(file, listed, &bytes).map_err(upload_error)?;
        let target = staging.join(&listed.name);
        std::fs::write(&target, &bytes)
            .or_internal(|| format!("cannot write {}", target.display()))?;
        if listed.name.ends_with(".deb") || listed.name.ends_with(".dsc") {
            staged.push(target);
        } else if listed.name.ends_with(".udeb") {
            return Err(AppError::invalid(format!(
                "nothing included: {file} lists {}: .udeb packages are not supported yet",
                listed.name
            )));
        } else if !listed.name.contains(".tar.") && !listed.name.ends_with(".diff.gz") {
            ignored.push(listed.name.clone());
        }
    }
    Ok((staged, ignored))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorKind;

    #[test]
    fn signatures_decide_whether_an_upload_goes_on() {
        // (signed, verified, --accept-unsigned, config allows) → error containing
        type Case = (bool, Option<bool>, bool, bool, Option<&'static str>);
        let cases: &[Case] = &[
            (true, Some(true), false, false, None),
            (true, Some(true), true, true, None),
            (true, Some(false), true, true, Some("did not verify")),
            (true, None, false, false, Some("no [apt] uploaders_keyring")),
            (false, Some(false), false, true, Some("pass --accept-unsigned")),
            (false, None, false, false, Some("pass --accept-unsigned")),
            (false, Some(false), true, false, Some("accept_unsigned is not set")),
            (false, None, true, true, None),
        ];
        for &(signed, verified, flag, allowed, expected) in cases {
            let got = signature_decision("u.changes", signed, verified, flag, allowed);
            match (expected, got) {
                (None, Ok(())) => {}
                (Some(text), Err(err)) => {
                    assert_eq!(err.kind(), ErrorKind::Refused);
                    assert!(err.message().contains(text), "{text}: {}", err.message());
                }
                (expected, got) => {
                    panic!("{signed} {verified:?} {flag} {allowed}: {expected:?} vs {got:?}")
                }
            }
        }
    }
}
