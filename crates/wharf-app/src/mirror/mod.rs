//! Mirrors of remote APT repositories: `create`, `list`, `show`, `drop` and `update`
//! ([`mod@update`]). A mirror is a collection like a repository (`AptKind::Mirror`): its
//! members are the packages its last update fetched, so `snapshot create --from MIRROR`
//! and publish go through the same paths as for repositories. Its settings carry the
//! remote (URL, filter, the keyring its `Release` must be signed with).

mod download;
mod fetch;
pub mod update;

use std::path::{Path, PathBuf};

use wharf_apt::mirror::Keyring;
use wharf_store::{AptKind, MirrorSource, RepoSettings};

use crate::context::Context;
use crate::error::{AppError, Context as _, Result};
use crate::repo::{self, PackageQuery, check_name};
use crate::wire::{CollectionView, DropReport, MirrorView};
pub use update::update;

/// What `mirror create` asks for.
#[derive(Debug, Clone)]
pub struct CreateRequest {
    pub name: String,
    /// The remote repository's root (the directory holding `dists/` and `pool/`).
    pub url: String,
    pub distribution: String,
    /// Empty: `main`.
    pub components: Vec<String>,
    pub architectures: Vec<String>,
    /// aptly package queries; any matching selects a package. Empty: everything.
    pub filter: Vec<String>,
    pub filter_with_deps: bool,
    /// The public keys the remote `Release` must be signed with, ASCII-armored (what
    /// [`read_keyring`] returns for a file, or what an API client sends).
    pub keyring: Option<String>,
    /// Accept unsigned or unverifiable remotes (unsafe).
    pub ignore_signatures: bool,
    /// Mirror `Sources` and the source packages' files too.
    pub with_sources: bool,
}

/// The wire view of a mirror's source.
pub(crate) fn view(source: MirrorSource) -> MirrorView {
    let keys = source
        .keyring
        .as_deref()
        .and_then(|armored| Keyring::parse(armored.as_bytes()).ok())
        .map(|keyring| keyring.fingerprints())
        .unwrap_or_default();
    MirrorView {
        url: source.url,
        filter: source.filter,
        filter_with_deps: source.filter_with_deps,
        keys,
        ignore_signatures: source.ignore_signatures,
        with_sources: source.with_sources,
        release_date: source.release_date,
        updated_at: source.updated_at,
    }
}

/// `http://` or `https://` with a host, no query or fragment; returned without a
/// trailing `/`.
fn check_url(url: &str) -> Result<String> {
    let parsed = reqwest::Url::parse(url)
        .map_err(|err| AppError::invalid(format!("invalid mirror URL {url:?}: {err}")))?;
    if !matches!(parsed.scheme(), "http" | "https")
        || parsed.host_str().is_none()
        || parsed.query().is_some()
        || parsed.fragment().is_some()
    {
        return Err(AppError::invalid(format!(
            "invalid mirror URL {url:?}: give the repository's root as http(s)://HOST/PATH (the directory holding dists/ and pool/)"
        )));
    }
    Ok(url.trim_end_matches('/').to_owned())
}

/// The OpenPGP public keys in the file at `path` (armored or binary), armored.
pub fn read_keyring(path: &Path) -> Result<String> {
    let bytes =
        std::fs::read(path).or_invalid(|| format!("cannot read keyring {}", path.display()))?;
    armor(&format!("keyring {}", path.display()), &bytes)
}

/// `bytes` read as public keys and written back armored; `what` names them in errors.
fn armor(what: &str, bytes: &[u8]) -> Result<String> {
    let keyring =
        Keyring::parse(bytes).map_err(|err| AppError::invalid(format!("{what}: {err}")))?;
    keyring.to_armored().map_err(|err| AppError::internal(format!("cannot store {what}: {err}")))
}

/// Create a mirror (nothing is fetched until `mirror update`).
pub async fn create(ctx: &Context, request: CreateRequest) -> Result<CollectionView> {
    check_name("mirror name", &request.name)?;
    check_name("distribution", &request.distribution)?;
    let url = check_url(&request.url)?;
    let components =
        if request.components.is_empty() { vec!["main".to_owned()] } else { request.components };
    for component in &components {
        check_name("component", component)?;
    }
    if request.architectures.is_empty() {
        return Err(AppError::invalid(
            "a mirror needs at least one architecture: pass --architecture, e.g. --architecture amd64",
        ));
    }
    for arch in &request.architectures {
        wharf_apt::control::check_architecture(arch).map_err(AppError::invalid)?;
    }
    if !request.filter.is_empty() {
        PackageQuery::parse_all(&request.filter)?;
    } else if request.filter_with_deps {
        return Err(AppError::invalid("--filter-with-deps needs --filter"));
    }
    let keyring = match (&request.keyring, request.ignore_signatures) {
        (Some(armored), _) => Some(armor("the keyring", armored.as_bytes())?),
        (None, true) => None,
        (None, false) => {
            return Err(AppError::invalid(
                "a mirror needs the keyring its remote signs with: pass --keyring FILE (e.g. /usr/share/keyrings/debian-archive-keyring.gpg), or --ignore-signatures to accept anything the network returns (unsafe)",
            ));
        }
    };
    let settings = RepoSettings {
        distribution: request.distribution,
        components,
        architectures: request.architectures,
        comment: None,
        from: None,
        prefix: None,
        // Lists are read from the packages at the first publish of a snapshot that wants them.
        contents: true,
        mirror: Some(MirrorSource {
            url,
            filter: request.filter,
            filter_with_deps: request.filter_with_deps,
            keyring,
            ignore_signatures: request.ignore_signatures,
            release_date: None,
            updated_at: None,
            indices: Vec::new(),
            with_sources: request.with_sources,
        }),
        snapshot: None,
    };
    let _lock = ctx.layout().lock_writer().await?;
    let mut details = serde_json::to_value(&settings).unwrap_or_default();
    // The keys are named by fingerprint in the view; the entry needs no armored blob.
    if let Some(source) = details.get_mut("mirror").and_then(serde_json::Value::as_object_mut) {
        source.remove("keyring");
    }
    let entry = ctx.entry("mirror.create", &request.name, details);
    if ctx
        .store()
        .apt_create_collection(AptKind::Mirror, &request.name, &settings, &entry)
        .await?
        .is_none()
    {
        return Err(AppError::conflict(format!("mirror {:?} already exists", request.name)));
    }
    show(ctx, &request.name, false).await
}

/// Every mirror.
pub async fn list(ctx: &Context) -> Result<Vec<CollectionView>> {
    repo::list(ctx, AptKind::Mirror).await
}

/// One mirror, with its packages when asked.
pub async fn show(ctx: &Context, name: &str, with_packages: bool) -> Result<CollectionView> {
    repo::show(ctx, AptKind::Mirror, name, with_packages, None).await
}

/// Delete a mirror (its packages stay stored, and snapshots of it keep theirs).
pub async fn drop(ctx: &Context, name: &str) -> Result<DropReport> {
    let report = repo::drop(ctx, AptKind::Mirror, name, false).await?;
    let downloads = ctx.layout().mirror_downloads(name);
    let _ = std::fs::remove_file(update_lock_path(ctx, name));
    if downloads.exists() {
        std::fs::remove_dir_all(&downloads)
            .or_internal(|| format!("cannot remove {}", downloads.display()))?;
    }
    Ok(report)
}

/// The lock file an update holds (next to its downloads directory).
fn update_lock_path(ctx: &Context, name: &str) -> PathBuf {
    let downloads = ctx.layout().mirror_downloads(name);
    downloads.with_file_name(format!(".{name}.lock"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_repository_roots() {
        assert_eq!(
            check_url("http://127.0.0.1:8080/debian/").unwrap(),
            "http://127.0.0.1:8080/debian"
        );
        assert_eq!(check_url("https://deb.example.org").unwrap(), "https://deb.example.org");
        for bad in ["ftp://x/debian", "deb.example.org/debian", "http://x/?a=1", "http://x/#top"] {
            let err = check_url(bad).unwrap_err();
            assert_eq!(err.kind(), crate::ErrorKind::Invalid, "{bad}");
        }
    }
}
