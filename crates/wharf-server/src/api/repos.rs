//! Repositories, snapshots and published trees: create, list, show, upload, remove, copy,
//! move, diff, drop, verify, cleanup, snapshot, publish, unpublish — `wharf_app::repo` and `wharf_app::publish`, as `wharf repo`,
//! `wharf snapshot` and `wharf publish` call them.
//!
//! An upload is streamed to files in a temporary directory (never held in memory), then
//! added by `wharf_app::repo::add` exactly as `repo add` adds files: every file checked
//! first, all or nothing. A `.changes` upload (`include`) is the same, through
//! `wharf_app::repo::include`: signature and checksums checked before anything is added.

use std::sync::Arc;

use axum::Json;
use axum::extract::{FromRequest, Multipart, Request, State};
use axum::response::{IntoResponse, Response};
use futures::StreamExt as _;
use serde::Deserialize;
use tokio::io::AsyncWriteExt as _;
use wharf_app::repo::{AddRequest, CopyRequest, IncludeRequest, PackageQuery};
use wharf_store::AptKind;

use super::auth::{Body, Caller, OptionalBody, Path, Query};
use crate::{ApiError, AppState};

pub(crate) async fn list(
    State(state): State<Arc<AppState>>,
    caller: Caller,
) -> Result<Response, ApiError> {
    let ctx = caller.context(&state).await?;
    Ok(Json(wharf_app::repo::list(&ctx, AptKind::Repo).await?).into_response())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ShowQuery {
    #[serde(default)]
    packages: bool,
    /// List only the packages this package query matches.
    query: Option<String>,
}

pub(crate) async fn show(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(name): Path<String>,
    Query(query): Query<ShowQuery>,
) -> Result<Response, ApiError> {
    let ctx = caller.context(&state).await?;
    let filter = query.query.as_deref().map(PackageQuery::parse).transpose()?;
    let view =
        wharf_app::repo::show(&ctx, AptKind::Repo, &name, query.packages, filter.as_ref()).await?;
    Ok(Json(view).into_response())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct UploadQuery {
    component: Option<String>,
    #[serde(default)]
    replace: bool,
}

fn io_error(err: impl std::fmt::Display) -> ApiError {
    ApiError::internal(format!("cannot store an upload: {err}"))
}

/// Write a stream of chunks to `path`.
async fn write_stream<S, E>(path: &std::path::Path, mut chunks: S) -> Result<u64, ApiError>
where
    S: futures::Stream<Item = Result<bytes::Bytes, E>> + Unpin,
    E: std::fmt::Display,
{
    let mut file = tokio::fs::File::create(path).await.map_err(io_error)?;
    let mut n = 0;
    while let Some(chunk) = chunks.next().await {
        let chunk = chunk.map_err(|err| ApiError::invalid(format!("reading the upload: {err}")))?;
        n += chunk.len() as u64;
        file.write_all(&chunk).await.map_err(io_error)?;
    }
    file.flush().await.map_err(io_error)?;
    Ok(n)
}

/// Whether a part's file name can be kept: a plain name (a `.dsc` names its tarballs, a
/// `.changes` every file).
fn plain_name(name: &str) -> bool {
    name.len() <= 200
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b"._+-~".contains(&b))
        && !name.starts_with('.')
}

/// The name a part is stored under: its own file name when plain, else `upload-N.deb`.
fn part_name(filename: Option<&str>, idx: usize) -> String {
    filename
        .filter(|name| plain_name(name))
        .map_or_else(|| format!("upload-{idx}.deb"), str::to_owned)
}

/// Streams the request's parts (or its body, as one `.deb`) into `dir`; the paths, in
/// order. Two parts of one name are refused.
async fn receive(
    request: Request,
    dir: &std::path::Path,
) -> Result<Vec<std::path::PathBuf>, ApiError> {
    let multipart = request
        .headers()
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("multipart/form-data"));
    let mut paths = Vec::new();
    if multipart {
        let mut form = Multipart::from_request(request, &())
            .await
            .map_err(|err| ApiError::invalid(err.body_text()))?;
        while let Some(field) =
            form.next_field().await.map_err(|err| ApiError::invalid(err.body_text()))?
        {
            let path = dir.join(part_name(field.file_name(), paths.len() + 1));
            if paths.contains(&path) {
                return Err(ApiError::invalid(format!(
                    "two parts of the upload are named {}: send each file once",
                    path.file_name().unwrap_or_default().to_string_lossy()
                )));
            }
            write_stream(&path, field.map(|c| c.map_err(|e| e.body_text())).boxed()).await?;
            paths.push(path);
        }
    } else {
        let path = dir.join("upload-1.deb");
        let n = write_stream(&path, request.into_body().into_data_stream()).await?;
        if n > 0 {
            paths.push(path);
        }
    }
    Ok(paths)
}

pub(crate) async fn upload(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(name): Path<String>,
    Query(query): Query<UploadQuery>,
    request: Request,
) -> Result<Response, ApiError> {
    let dir = tempfile::Builder::new().prefix("wharf-upload-").tempdir().map_err(io_error)?;
    // Other parts (a `.dsc`'s tarballs) stay beside the `.dsc` that names them.
    let paths: Vec<_> = receive(request, dir.path())
        .await?
        .into_iter()
        .filter(|path| path.extension().is_some_and(|ext| ext == "deb" || ext == "dsc"))
        .collect();
    if paths.is_empty() {
        return Err(ApiError::invalid(
            "no package in the request: send a .deb as the body, or multipart parts",
        ));
    }
    let ctx = caller.context(&state).await?;
    let request =
        AddRequest { repository: name, paths, component: query.component, replace: query.replace };
    let report = wharf_app::repo::add(&ctx, request, &wharf_app::progress::Silent).await;
    drop(dir);
    Ok(Json(report?).into_response())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct IncludeQuery {
    component: Option<String>,
    #[serde(default)]
    replace: bool,
    /// Take an unsigned `.changes` (only where `[apt] accept_unsigned = true`).
    #[serde(default)]
    accept_unsigned: bool,
}

/// `POST /repos/{name}/include`: a `.changes` and the files it lists, as multipart parts
/// named by their file names (`wharf repo include`).
pub(crate) async fn include(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(name): Path<String>,
    Query(query): Query<IncludeQuery>,
    request: Request,
) -> Result<Response, ApiError> {
    let dir = tempfile::Builder::new().prefix("wharf-include-").tempdir().map_err(io_error)?;
    let paths = receive(request, dir.path()).await?;
    let mut changes = paths.iter().filter(|p| p.extension().is_some_and(|e| e == "changes"));
    let (Some(file), None) = (changes.next(), changes.next()) else {
        return Err(ApiError::invalid(
            "send exactly one .changes part (named by its file name) and the files it lists",
        ));
    };
    let ctx = caller.context(&state).await?;
    let request = IncludeRequest {
        repository: name,
        changes: file.clone(),
        component: query.component,
        replace: query.replace,
        accept_unsigned: query.accept_unsigned,
    };
    let report = wharf_app::repo::include(&ctx, request, &wharf_app::progress::Silent).await;
    drop(dir);
    Ok(Json(report?).into_response())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct PublishQuery {
    /// Publish the snapshot of this name instead of a repository.
    #[serde(default)]
    snapshot: bool,
    prefix: Option<String>,
}

pub(crate) async fn publish(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(name): Path<String>,
    Query(query): Query<PublishQuery>,
) -> Result<Response, ApiError> {
    let ctx = caller.context(&state).await?;
    let request = wharf_app::publish::PublishRequest {
        kind: if query.snapshot { AptKind::Snapshot } else { AptKind::Repo },
        source: name,
        prefix: query.prefix,
        to_dir: None,
    };
    let prefix = request.prefix.clone().unwrap_or_else(|| request.source.clone());
    let started = std::time::Instant::now();
    let report = wharf_app::publish::publish(&ctx, request, &wharf_app::progress::Silent).await?;
    state.metrics.publish_finished(&prefix, started.elapsed());
    Ok(Json(report).into_response())
}

/// `POST /repos/verify`: `wharf repo verify [NAME…] [--all]`; an empty body checks every
/// stored package.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct VerifyBody {
    #[serde(default)]
    names: Vec<String>,
    #[serde(default)]
    all: bool,
}

pub(crate) async fn verify(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    OptionalBody(body): OptionalBody<VerifyBody>,
) -> Result<Response, ApiError> {
    let ctx = caller.context(&state).await?;
    let scope = wharf_app::repo::VerifyScope { names: body.names, all: body.all };
    Ok(Json(wharf_app::repo::verify(&ctx, &scope).await?).into_response())
}

/// `POST /repos/cleanup`: `wharf repo cleanup`, on the server's data directory.
pub(crate) async fn cleanup(
    State(state): State<Arc<AppState>>,
    caller: Caller,
) -> Result<Response, ApiError> {
    let ctx = caller.context(&state).await?;
    Ok(Json(wharf_app::repo::cleanup(&ctx).await?).into_response())
}

/// `POST /repos`: `wharf repo create NAME --distribution D --component C… --architectures A…`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct CreateBody {
    name: String,
    distribution: String,
    components: Vec<String>,
    architectures: Vec<String>,
    comment: Option<String>,
    /// `Contents-ARCH.gz` indices; on when left out.
    #[serde(default = "yes")]
    contents: bool,
}

fn yes() -> bool {
    true
}

/// `PATCH /repos/{name}`: `wharf repo edit NAME --contents=BOOL`; a setting left out
/// stays as it is.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct EditBody {
    contents: Option<bool>,
}

pub(crate) async fn edit(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(name): Path<String>,
    Body(body): Body<EditBody>,
) -> Result<Response, ApiError> {
    let ctx = caller.context(&state).await?;
    let request = wharf_app::repo::EditRequest { repository: name, contents: body.contents };
    Ok(Json(wharf_app::repo::edit(&ctx, request).await?).into_response())
}

pub(crate) async fn create(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Body(body): Body<CreateBody>,
) -> Result<Response, ApiError> {
    let ctx = caller.context(&state).await?;
    let request = wharf_app::repo::CreateRequest {
        name: body.name,
        distribution: body.distribution,
        components: body.components,
        architectures: body.architectures,
        comment: body.comment,
        contents: body.contents,
    };
    Ok(Json(wharf_app::repo::create(&ctx, request).await?).into_response())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RemoveQuery {
    /// `pkg`, `pkg (= version)` or `pkg_version_arch`.
    query: String,
}

/// `DELETE /repos/{name}/packages?query=`: `wharf repo remove NAME QUERY`. Nothing matching
/// is not an error: the report's `removed` is empty (the CLI exits 1).
pub(crate) async fn remove(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(name): Path<String>,
    Query(query): Query<RemoveQuery>,
) -> Result<Response, ApiError> {
    let ctx = caller.context(&state).await?;
    Ok(Json(wharf_app::repo::remove(&ctx, &name, &query.query).await?).into_response())
}

/// `POST /repos/{name}/copy` and `/move`: `wharf repo copy|move FROM NAME QUERY…`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct CopyBody {
    /// A repository, a snapshot, `repo:NAME` or `snapshot:NAME`.
    from: String,
    #[serde(default)]
    queries: Vec<String>,
    #[serde(default)]
    all: bool,
    #[serde(default)]
    with_deps: bool,
    #[serde(default)]
    dry_run: bool,
}

async fn copy_or_move(
    state: &AppState,
    caller: &Caller,
    destination: String,
    body: CopyBody,
    remove_from_source: bool,
) -> Result<Response, ApiError> {
    let ctx = caller.context(state).await?;
    let request = CopyRequest {
        source: body.from,
        destination,
        queries: body.queries,
        all: body.all,
        with_deps: body.with_deps,
        dry_run: body.dry_run,
        remove_from_source,
    };
    Ok(Json(wharf_app::repo::copy(&ctx, request).await?).into_response())
}

pub(crate) async fn copy(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(name): Path<String>,
    Body(body): Body<CopyBody>,
) -> Result<Response, ApiError> {
    copy_or_move(&state, &caller, name, body, false).await
}

pub(crate) async fn move_packages(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(name): Path<String>,
    Body(body): Body<CopyBody>,
) -> Result<Response, ApiError> {
    copy_or_move(&state, &caller, name, body, true).await
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct DiffQuery {
    left: String,
    right: String,
}

/// `GET /diff?left=&right=`: `wharf repo diff LEFT RIGHT`.
pub(crate) async fn diff(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Query(query): Query<DiffQuery>,
) -> Result<Response, ApiError> {
    let ctx = caller.context(&state).await?;
    Ok(Json(wharf_app::repo::diff(&ctx, &query.left, &query.right).await?).into_response())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct DropQuery {
    /// Drop even while published.
    #[serde(default)]
    force: bool,
}

async fn drop_collection(
    state: &AppState,
    caller: &Caller,
    kind: AptKind,
    name: &str,
    force: bool,
) -> Result<Response, ApiError> {
    let ctx = caller.context(state).await?;
    Ok(Json(wharf_app::repo::drop(&ctx, kind, name, force).await?).into_response())
}

/// `DELETE /repos/{name}?force=`: `wharf repo drop`.
pub(crate) async fn drop_repo(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(name): Path<String>,
    Query(query): Query<DropQuery>,
) -> Result<Response, ApiError> {
    drop_collection(&state, &caller, AptKind::Repo, &name, query.force).await
}

pub(crate) async fn snapshots(
    State(state): State<Arc<AppState>>,
    caller: Caller,
) -> Result<Response, ApiError> {
    let ctx = caller.context(&state).await?;
    Ok(Json(wharf_app::repo::list(&ctx, AptKind::Snapshot).await?).into_response())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ShowSnapshotQuery {
    /// List only the packages this package query matches.
    query: Option<String>,
}

/// `GET /snapshots/{name}?query=`: a snapshot, its packages included (`wharf snapshot show`).
pub(crate) async fn show_snapshot(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(name): Path<String>,
    Query(query): Query<ShowSnapshotQuery>,
) -> Result<Response, ApiError> {
    let ctx = caller.context(&state).await?;
    let filter = query.query.as_deref().map(PackageQuery::parse).transpose()?;
    let view = wharf_app::repo::show(&ctx, AptKind::Snapshot, &name, true, filter.as_ref()).await?;
    Ok(Json(view).into_response())
}

/// `POST /snapshots`: `wharf snapshot create NAME --from REPO`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct SnapshotBody {
    name: String,
    from: String,
}

pub(crate) async fn create_snapshot(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Body(body): Body<SnapshotBody>,
) -> Result<Response, ApiError> {
    let ctx = caller.context(&state).await?;
    Ok(Json(wharf_app::repo::snapshot(&ctx, &body.name, &body.from).await?).into_response())
}

/// `DELETE /snapshots/{name}?force=`: `wharf snapshot drop`.
pub(crate) async fn drop_snapshot(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(name): Path<String>,
    Query(query): Query<DropQuery>,
) -> Result<Response, ApiError> {
    drop_collection(&state, &caller, AptKind::Snapshot, &name, query.force).await
}

/// `GET /publish`: `wharf publish list`.
pub(crate) async fn published(
    State(state): State<Arc<AppState>>,
    caller: Caller,
) -> Result<Response, ApiError> {
    let ctx = caller.context(&state).await?;
    Ok(Json(wharf_app::publish::list(&ctx).await?).into_response())
}

/// `DELETE /publish/{name}`: `wharf publish drop PREFIX`.
pub(crate) async fn unpublish(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(prefix): Path<String>,
) -> Result<Response, ApiError> {
    let ctx = caller.context(&state).await?;
    Ok(Json(wharf_app::publish::drop(&ctx, &prefix).await?).into_response())
}
