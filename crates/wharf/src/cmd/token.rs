//! `wharf token create|list|revoke`: parse, call [`wharf_app::token`], render. The secret
//! is printed once, by `create`, and nowhere else.

use wharf_app::token::{CreateToken, Role};

use super::repo::render;
use crate::cli::{RoleArg, TokenCommand};
use crate::exit::UsageError;
use crate::output;
use crate::settings::Settings;

fn role(arg: RoleArg) -> Role {
    match arg {
        RoleArg::Viewer => Role::Viewer,
        RoleArg::Publisher => Role::Publisher,
        RoleArg::Deployer => Role::Deployer,
        RoleArg::Admin => Role::Admin,
    }
}

pub(crate) fn run(settings: &Settings, command: &TokenCommand) -> anyhow::Result<u8> {
    super::runtime()?.block_on(async {
        let ctx = settings.context().await?;
        match command {
            TokenCommand::Create(args) => {
                let expires_in = args
                    .expires
                    .as_deref()
                    .map(wharf_core::config::parse_duration)
                    .transpose()
                    .map_err(|err| UsageError(format!("--expires: {err}")))?;
                let request = CreateToken {
                    name: args.name.clone(),
                    role: role(args.role),
                    automated: args.automated,
                    expires_in,
                };
                let created = wharf_app::token::create(&ctx, &request).await?;
                render_created(args.output.json, &created)
            }
            TokenCommand::List(args) => {
                render_list(args.json, &wharf_app::token::list(&ctx).await?)
            }
            TokenCommand::Revoke(args) => {
                render_revoked(args.output.json, &wharf_app::token::revoke(&ctx, &args.name).await?)
            }
        }
    })
}

/// `wharf token create`'s output: the token on stdout, once (also with `--server`).
pub(crate) fn render_created(
    json: bool,
    created: &wharf_app::wire::TokenCreated,
) -> anyhow::Result<u8> {
    render(json, created, || {
        output::line(&created.token);
        let expires = created.view.expires_at.as_deref().unwrap_or("never");
        output::err_line(format!(
            "created token {} ({}{}), expires {expires}; it is shown only now",
            created.view.name,
            created.view.role,
            if created.view.automated { ", automated" } else { "" },
        ));
    })
}

/// `wharf token list`'s output (also with `--server`).
pub(crate) fn render_list(json: bool, tokens: &[wharf_app::wire::TokenView]) -> anyhow::Result<u8> {
    render(json, &tokens, || {
        let dash = || "-".to_owned();
        let rows: Vec<Vec<String>> = tokens
            .iter()
            .map(|t| {
                vec![
                    t.name.clone(),
                    t.role.clone(),
                    if t.automated { "yes" } else { "no" }.to_owned(),
                    t.state.clone(),
                    t.created_by.clone(),
                    t.created_at.clone(),
                    t.expires_at.clone().unwrap_or_else(dash),
                ]
            })
            .collect();
        output::table(
            &["NAME", "ROLE", "AUTOMATED", "STATE", "CREATED BY", "CREATED", "EXPIRES"],
            &rows,
        );
    })
}

/// `wharf token revoke`'s output (also with `--server`).
pub(crate) fn render_revoked(
    json: bool,
    revoked: &wharf_app::wire::TokenRevoked,
) -> anyhow::Result<u8> {
    render(json, revoked, || output::line(format!("revoked token {}", revoked.name)))
}
