//! Every environment variable Wharf reads, by name. `cli` (clap's `env = …`) and
//! `settings` both use these; this module depends on nothing, so neither depends on the
//! other for them.

/// The configuration file, when `--config` names none.
pub(crate) const CONFIG: &str = "WHARF_CONFIG";
/// Replaces `/etc/wharf/wharf.toml`, the last place a configuration file is looked for.
/// Not in `--help`: for tests, which must not read the machine's own configuration.
pub(crate) const SYSTEM_CONFIG: &str = "WHARF_SYSTEM_CONFIG";
pub(crate) const DATA: &str = "WHARF_DATA";
pub(crate) const DATABASE: &str = "WHARF_DATABASE";
/// `s3://BUCKET[/PREFIX]`: package files and published trees in a bucket.
pub(crate) const STORAGE: &str = "WHARF_STORAGE";
/// S3 storage: endpoint, region, credentials (`AWS_ENDPOINT_URL`, `AWS_REGION`,
/// `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`, `AWS_ALLOW_HTTP`…),
/// read by `object_store`; never logged.
pub(crate) const AWS_PREFIX: &str = "AWS_";
/// Who is acting, for the audit log (default: `$SUDO_USER`, then `$USER`).
pub(crate) const ACTOR: &str = "WHARF_ACTOR";
/// `~` in ssh_config paths and the default `~/.ssh/config` (`wharf run`, `wharf copy`).
pub(crate) const HOME: &str = "HOME";
/// The local user, for ssh_config's `%u` and the default remote user; the audit log's
/// actor when neither `$WHARF_ACTOR` nor `$SUDO_USER` is set.
pub(crate) const USER: &str = "USER";
/// Who ran `sudo wharf …`: the audit log's actor unless `$WHARF_ACTOR` is set.
pub(crate) const SUDO_USER: &str = "SUDO_USER";
/// The ssh-agent socket; its keys are offered before key files.
pub(crate) const SSH_AUTH_SOCK: &str = "SSH_AUTH_SOCK";
/// `--server URL`: the commands that work against a server call its API instead of the
/// local data directory.
pub(crate) const SERVER: &str = "WHARF_SERVER";
/// The API token for `--server` (never a flag: flags show in `ps`); never logged.
pub(crate) const TOKEN: &str = "WHARF_TOKEN";
