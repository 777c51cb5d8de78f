//! `wharf repo`, `wharf snapshot` and `wharf publish` through a server's API, rendered by
//! the local commands' own functions.
//!
//! Not through a server: `publish --to-dir` (it writes a tree on the machine that runs it).
//! `repo cleanup` through a server cleans the server's data directory.

use serde_json::json;
use wharf_app::wire::{CollectionView, PublishView};

use super::{Remote, enc};
use crate::cli::{PublishArgs, PublishCommand, RepoCommand, RepoCopyArgs, SnapshotCommand};
use crate::cmd::{publish, repo as local};
use crate::exit::UsageError;

pub(super) async fn repo(remote: &Remote, command: RepoCommand) -> anyhow::Result<u8> {
    match command {
        RepoCommand::Create(args) => {
            let body = json!({ "name": args.name, "distribution": args.distribution,
                "components": args.component, "architectures": args.architectures,
                "comment": args.comment, "contents": args.contents });
            local::render_created(args.output.json, &remote.post_as("/repos", &body).await?)
        }
        RepoCommand::Edit(args) => {
            let body = json!({ "contents": args.contents });
            let path = format!("/repos/{}", enc(&args.name));
            local::render_edited(args.output.json, &remote.patch_as(&path, &body).await?)
        }
        RepoCommand::List(args) => {
            let views: Vec<CollectionView> = remote.get("/repos").await?;
            local::list(&views, &args)
        }
        RepoCommand::Show(args) => {
            let path = format!("/repos/{}?packages={}", enc(&args.name), args.with_packages);
            let path = with_query(path, &args.queries);
            let view: CollectionView = remote.get(&path).await?;
            local::render(args.output.json, &view, || local::print_collection(&view))
        }
        RepoCommand::Add(args) => add(remote, args).await,
        RepoCommand::Include(args) => include(remote, args).await,
        RepoCommand::Remove(args) => {
            let path = format!("/repos/{}/packages?query={}", enc(&args.name), enc(&args.query));
            local::render_remove(&args, &remote.delete(&path).await?)
        }
        RepoCommand::Copy(args) => copy(remote, &args, "copy").await,
        RepoCommand::Move(args) => copy(remote, &args, "move").await,
        RepoCommand::Diff(args) => {
            let path = format!("/diff?left={}&right={}", enc(&args.left), enc(&args.right));
            local::render_diff(args.output.json, &remote.get(&path).await?)
        }
        RepoCommand::Drop(args) => {
            let path = format!("/repos/{}?force={}", enc(&args.name), args.force);
            local::render_drop(args.output.json, &remote.delete(&path).await?)
        }
        RepoCommand::Verify(args) => {
            let body = json!({ "names": args.names, "all": args.all });
            local::render_verify(args.output.json, &remote.post_as("/repos/verify", &body).await?)
        }
        RepoCommand::Cleanup(args) => {
            local::render_cleanup(args.json, &remote.post_as("/repos/cleanup", &json!({})).await?)
        }
    }
}

/// `path` with `&query=` when there are queries: several mean any of them, so they travel
/// as one query joined with `|`.
fn with_query(mut path: String, queries: &[String]) -> String {
    if !queries.is_empty() {
        let any: Vec<String> = queries.iter().map(|q| format!("({q})")).collect();
        path.push_str(&format!("&query={}", enc(&any.join(" | "))));
    }
    path
}

/// `repo copy`/`repo move`: one request, all or nothing on the server.
async fn copy(remote: &Remote, args: &RepoCopyArgs, action: &str) -> anyhow::Result<u8> {
    let body = json!({ "from": args.source, "queries": args.queries, "all": args.all,
        "with_deps": args.with_deps, "dry_run": args.dry_run });
    let path = format!("/repos/{}/{action}", enc(&args.destination));
    local::render_copy(args.output.json, &remote.post_as(&path, &body).await?)
}

/// `path` as a streamed multipart part named by its file name.
async fn file_part(
    form: reqwest::multipart::Form,
    field: &'static str,
    path: &std::path::Path,
) -> anyhow::Result<reqwest::multipart::Form> {
    let file = tokio::fs::File::open(path)
        .await
        .map_err(|err| anyhow::anyhow!("cannot read {}: {err}", path.display()))?;
    let length = file.metadata().await?.len();
    let body = reqwest::Body::wrap_stream(tokio_util::io::ReaderStream::new(file));
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    Ok(form.part(field, reqwest::multipart::Part::stream_with_length(body, length).file_name(name)))
}

/// Every file a `.dsc` lists, next to it: the server needs them beside the `.dsc`.
fn dsc_files(path: &std::path::Path) -> anyhow::Result<Vec<std::path::PathBuf>> {
    let text = std::fs::read_to_string(path)
        .map_err(|err| anyhow::anyhow!("cannot read {}: {err}", path.display()))?;
    let dsc = wharf_apt::dsc::Dsc::parse(&path.display().to_string(), &text, None)?;
    let dir = path.parent().unwrap_or(std::path::Path::new("."));
    Ok(dsc.files.iter().map(|file| dir.join(&file.name)).collect())
}

/// One multipart request: the server adds every file or none. A `.dsc` travels with the
/// files it lists.
async fn add(remote: &Remote, args: crate::cli::RepoAddArgs) -> anyhow::Result<u8> {
    let mut form = reqwest::multipart::Form::new();
    for path in &args.paths {
        if path.is_dir() {
            anyhow::bail!(UsageError(format!(
                "{}: with --server, name the .deb and .dsc files (a directory is not uploaded)",
                path.display()
            )));
        }
        form = file_part(form, "deb", path).await?;
        if path.extension().is_some_and(|ext| ext == "dsc") {
            for listed in dsc_files(path)? {
                form = file_part(form, "deb", &listed).await?;
            }
        }
    }
    let mut query = vec![format!("replace={}", args.replace)];
    if let Some(component) = &args.component {
        query.push(format!("component={}", enc(component)));
    }
    let path = format!("/repos/{}/packages?{}", enc(&args.name), query.join("&"));
    let request = remote.request(reqwest::Method::POST, &path).multipart(form);
    local::render_add(args.output.json, &remote.call(request).await?)
}

/// `repo include` through the server: the `.changes` and every file it lists, one
/// multipart request; the server checks and adds them all or nothing.
async fn include(remote: &Remote, args: crate::cli::RepoIncludeArgs) -> anyhow::Result<u8> {
    let Some(path) = &args.changes else {
        anyhow::bail!(UsageError(
            "repo include --incoming reads a directory on the machine that runs it: run it on \
             the server's machine, without --server (unset $WHARF_SERVER), or name each .changes"
                .into()
        ));
    };
    let file = path.display().to_string();
    let text = std::fs::read_to_string(path)
        .map_err(|err| anyhow::anyhow!("cannot read {file}: {err}"))?;
    // Parsed only to know which files to send; the server checks everything.
    let changes = wharf_apt::changes::Changes::parse(&file, &text, None)?;
    let dir = path.parent().unwrap_or(std::path::Path::new("."));
    let mut form = file_part(reqwest::multipart::Form::new(), "changes", path).await?;
    for listed in &changes.files {
        form = file_part(form, "file", &dir.join(&listed.name)).await?;
    }
    let mut query = vec![
        format!("replace={}", args.replace),
        format!("accept_unsigned={}", args.accept_unsigned),
    ];
    if let Some(component) = &args.component {
        query.push(format!("component={}", enc(component)));
    }
    let path = format!("/repos/{}/include?{}", enc(&args.name), query.join("&"));
    let request = remote.request(reqwest::Method::POST, &path).multipart(form);
    local::render_include(args.output.json, &remote.call(request).await?)
}

pub(super) async fn snapshot(remote: &Remote, command: SnapshotCommand) -> anyhow::Result<u8> {
    match command {
        SnapshotCommand::Create(args) => {
            let body = json!({ "name": args.name, "from": args.from });
            local::render_snapshot(args.output.json, &remote.post_as("/snapshots", &body).await?)
        }
        SnapshotCommand::List(args) => {
            let views: Vec<CollectionView> = remote.get("/snapshots").await?;
            local::list(&views, &args)
        }
        SnapshotCommand::Show(args) => {
            let path = with_query(format!("/snapshots/{}?", enc(&args.name)), &args.queries);
            let view: CollectionView = remote.get(&path).await?;
            local::render(args.output.json, &view, || local::print_collection(&view))
        }
        SnapshotCommand::Drop(args) => {
            let path = format!("/snapshots/{}?force={}", enc(&args.name), args.force);
            local::render_drop(args.output.json, &remote.delete(&path).await?)
        }
    }
}

pub(super) async fn publish(remote: &Remote, args: PublishArgs) -> anyhow::Result<u8> {
    match args.command {
        Some(PublishCommand::List(list)) => {
            let views: Vec<PublishView> = remote.get("/publish").await?;
            return publish::render_list(list.json, &views);
        }
        Some(PublishCommand::Drop(drop)) => {
            let report = remote.delete(&format!("/publish/{}", enc(&drop.prefix))).await?;
            return publish::render_unpublished(drop.output.json || args.output.json, &report);
        }
        None => {}
    }
    if args.to_dir.is_some() {
        anyhow::bail!(UsageError(
            "publish --to-dir writes a tree on the machine that runs it: run it where the data \
             directory is, without --server (unset $WHARF_SERVER)"
                .into()
        ));
    }
    let (snapshot, source) = match (&args.snapshot, &args.repo) {
        (Some(snapshot), _) => (true, snapshot.clone()),
        (None, Some(repo)) => (false, repo.clone()),
        (None, None) => anyhow::bail!(UsageError("name a repository or --snapshot SNAP".into())),
    };
    let mut path = format!("/publish/{}?snapshot={snapshot}", enc(&source));
    if let Some(prefix) = &args.prefix {
        path.push_str(&format!("&prefix={}", enc(prefix)));
    }
    publish::render_publish(args.output.json, &remote.post_as(&path, &json!({})).await?)
}

/// `wharf apply --server URL`: the server applies the `[[repositories]]` of the
/// configuration it runs (admin).
pub(super) async fn apply(remote: &Remote, args: &crate::cli::ApplyArgs) -> anyhow::Result<u8> {
    let body = json!({ "dry_run": args.dry_run, "prune": args.prune,
        "prune_with_packages": args.prune_with_packages });
    crate::cmd::apply::render(args.output.json, &remote.post_as("/apply", &body).await?)
}
