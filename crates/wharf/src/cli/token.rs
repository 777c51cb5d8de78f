//! Options of `wharf token create|list|revoke`: the API's identities.

use clap::{Args, Subcommand, ValueEnum};

use super::JsonArgs;

#[derive(Debug, Subcommand)]
pub(crate) enum TokenCommand {
    /// Create a token for the HTTP API and print it once (only its hash is stored).
    ///
    /// Roles: viewer reads; publisher also uploads and publishes; deployer also deploys,
    /// approves, rolls back, locks, holds; admin does all and manages tokens.
    #[command(after_help = concat!(
        "Examples:\n",
        "  wharf token create ci-upload --role publisher --automated --expires 90d\n",
        "  wharf token create alice --role deployer\n",
        "  wharf token create ops --role admin --json",
    ))]
    Create(TokenCreateArgs),
    /// List tokens: name, role, state, expiry (never the secrets).
    #[command(after_help = concat!(
        "Examples:\n",
        "  wharf token list\n",
        "  wharf token list --json",
    ))]
    List(JsonArgs),
    /// Revoke a token: the API refuses it from then on.
    #[command(after_help = concat!(
        "Examples:\n",
        "  wharf token revoke ci-upload\n",
        "  wharf token revoke alice --json",
    ))]
    Revoke(TokenRevokeArgs),
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub(crate) enum RoleArg {
    Viewer,
    Publisher,
    Deployer,
    Admin,
}

#[derive(Debug, Args)]
pub(crate) struct TokenCreateArgs {
    /// A unique name, recorded as the actor of everything done with the token.
    pub(crate) name: String,
    /// What the token may do.
    #[arg(long, value_enum)]
    pub(crate) role: RoleArg,
    /// An automated identity (CI, timers): change-lock windows apply to its deploys.
    #[arg(long)]
    pub(crate) automated: bool,
    /// Expire after this long (`90d`, `12h`) [default: never].
    #[arg(long, value_name = "DURATION")]
    pub(crate) expires: Option<String>,
    #[command(flatten)]
    pub(crate) output: JsonArgs,
}

#[derive(Debug, Args)]
pub(crate) struct TokenRevokeArgs {
    /// The token's name (`wharf token list`).
    pub(crate) name: String,
    #[command(flatten)]
    pub(crate) output: JsonArgs,
}
