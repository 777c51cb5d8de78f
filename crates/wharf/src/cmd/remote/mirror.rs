//! `wharf mirror` through a server's API, rendered by the local command's functions. The
//! server fetches from the remote; `--keyring` is read on this machine and sent armored.

use serde_json::json;
use wharf_app::wire::CollectionView;

use super::{Remote, enc};
use crate::cli::MirrorCommand;
use crate::cmd::mirror as local;
use crate::cmd::repo::{render, render_drop};

pub(super) async fn mirror(remote: &Remote, command: MirrorCommand) -> anyhow::Result<u8> {
    match command {
        MirrorCommand::Create(args) => {
            let keyring =
                args.keyring.as_deref().map(wharf_app::mirror::read_keyring).transpose()?;
            let body = json!({ "name": args.name, "url": args.url,
                "distribution": args.distribution, "components": args.component,
                "architectures": args.architecture, "filter": args.filter,
                "filter_with_deps": args.filter_with_deps, "keyring": keyring,
                "ignore_signatures": args.ignore_signatures, "with_sources": args.with_sources });
            let created: CollectionView = remote.post_as("/mirrors", &body).await?;
            local::render_created(args.output.json, &created)
        }
        MirrorCommand::List(args) => {
            let views: Vec<CollectionView> = remote.get("/mirrors").await?;
            local::render_list(args.json, &views)
        }
        MirrorCommand::Show(args) => {
            let path = format!("/mirrors/{}?packages={}", enc(&args.name), args.with_packages);
            let view: CollectionView = remote.get(&path).await?;
            render(args.output.json, &view, || local::print_mirror(&view))
        }
        MirrorCommand::Update(args) => {
            let path = format!("/mirrors/{}/update", enc(&args.name));
            local::render_update(args.output.json, &remote.post_as(&path, &json!({})).await?)
        }
        MirrorCommand::Drop(args) => {
            let path = format!("/mirrors/{}", enc(&args.name));
            render_drop(args.output.json, &remote.delete(&path).await?)
        }
    }
}
