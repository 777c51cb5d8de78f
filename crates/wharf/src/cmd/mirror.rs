//! `wharf mirror …`: parse, call [`wharf_app::mirror`], render.

use wharf_app::mirror::CreateRequest;
use wharf_app::wire::{CollectionView, MirrorUpdateReport};

use super::repo::{print_collection, render, render_drop};
use crate::cli::MirrorCommand;
use crate::output;
use crate::progress::TerminalProgress;
use crate::settings::Settings;

pub(crate) fn run(settings: &Settings, command: MirrorCommand) -> anyhow::Result<u8> {
    super::runtime()?.block_on(async {
        let ctx = settings.context().await?;
        match command {
            MirrorCommand::Create(args) => {
                let request = CreateRequest {
                    name: args.name,
                    url: args.url,
                    distribution: args.distribution,
                    components: args.component,
                    architectures: args.architecture,
                    filter: args.filter,
                    filter_with_deps: args.filter_with_deps,
                    keyring: args
                        .keyring
                        .as_deref()
                        .map(wharf_app::mirror::read_keyring)
                        .transpose()?,
                    ignore_signatures: args.ignore_signatures,
                    with_sources: args.with_sources,
                };
                let created = wharf_app::mirror::create(&ctx, request).await?;
                render_created(args.output.json, &created)
            }
            MirrorCommand::List(args) => {
                let views = wharf_app::mirror::list(&ctx).await?;
                render_list(args.json, &views)
            }
            MirrorCommand::Show(args) => {
                let view = wharf_app::mirror::show(&ctx, &args.name, args.with_packages).await?;
                render(args.output.json, &view, || print_mirror(&view))
            }
            MirrorCommand::Update(args) => {
                let progress = TerminalProgress::new(!args.output.json);
                let report = wharf_app::mirror::update(&ctx, &args.name, &progress).await;
                progress.clear();
                render_update(args.output.json, &report?)
            }
            MirrorCommand::Drop(args) => {
                render_drop(args.output.json, &wharf_app::mirror::drop(&ctx, &args.name).await?)
            }
        }
    })
}

/// `wharf mirror create`'s output.
pub(crate) fn render_created(json: bool, created: &CollectionView) -> anyhow::Result<u8> {
    render(json, created, || {
        output::line(format!("created mirror {}", created.name));
        if created.mirror.as_ref().is_some_and(|m| m.ignore_signatures) {
            output::warn(
                "signatures are not checked: anyone on the network path can feed this mirror",
            );
        }
        output::line(format!("fetch it with: wharf mirror update {}", created.name));
    })
}

/// `wharf mirror list`'s output.
pub(crate) fn render_list(json: bool, views: &[CollectionView]) -> anyhow::Result<u8> {
    render(json, &views, || {
        let rows: Vec<Vec<String>> = views
            .iter()
            .map(|v| {
                let mirror = v.mirror.as_ref();
                vec![
                    v.name.clone(),
                    mirror.map(|m| m.url.clone()).unwrap_or_default(),
                    v.distribution.clone(),
                    v.packages.to_string(),
                    mirror.and_then(|m| m.updated_at.clone()).unwrap_or_else(|| "never".to_owned()),
                ]
            })
            .collect();
        output::table(&["NAME", "URL", "DISTRIBUTION", "PACKAGES", "UPDATED"], &rows);
    })
}

/// `wharf mirror show`'s text.
pub(crate) fn print_mirror(view: &CollectionView) {
    if let Some(mirror) = &view.mirror {
        output::line(format!("mirror {}", view.name));
        output::line(format!("  url:           {}", mirror.url));
        if !mirror.filter.is_empty() {
            let deps = if mirror.filter_with_deps { " (with dependencies)" } else { "" };
            output::line(format!("  filter:        {}{deps}", mirror.filter.join(" | ")));
        }
        if mirror.with_sources {
            output::line("  sources:       mirrored too");
        }
        if mirror.ignore_signatures {
            output::line("  signatures:    NOT CHECKED (--ignore-signatures)");
        } else {
            output::line(format!("  keys:          {}", mirror.keys.join(", ")));
        }
        output::line(format!(
            "  remote date:   {}",
            mirror.release_date.as_deref().unwrap_or("never updated")
        ));
    }
    print_collection(view);
}

/// `wharf mirror update`'s output.
pub(crate) fn render_update(json: bool, report: &MirrorUpdateReport) -> anyhow::Result<u8> {
    render(json, report, || {
        let resumed = if report.resumed > 0 {
            format!(", {} resumed", report.resumed)
        } else {
            String::new()
        };
        output::line(format!(
            "mirror {}: {} package(s); downloaded {} ({} bytes{resumed}), reused {}, removed {}{}",
            report.mirror,
            report.packages,
            report.downloaded,
            report.bytes,
            report.reused,
            report.removed,
            if report.generation.is_none() { " — nothing changed" } else { "" }
        ));
    })
}
