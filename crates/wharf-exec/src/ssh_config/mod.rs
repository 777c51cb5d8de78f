//! OpenSSH's `ssh_config(5)` as OpenSSH 9.2 reads it: the user file then the system file
//! (or one `-F` file), `Include`, `Host` and `Match` (`all`, `canonical`, `final`, `host`,
//! `originalhost`, `user`, `localuser`, `exec`), first value wins (`IdentityFile` and
//! `CertificateFile` accumulate), and a second pass when a `Match final` asks for one.
//!
//! - [`parse`]: lines, `Include` globs and value checks (even in blocks that do not apply).
//! - [`matching`]: `Host` patterns, pattern lists and `Match` criteria.
//! - [`resolve`]: the settings for one host, evaluated as `readconf.c` evaluates them.
//! - [`algorithms`]: `Ciphers`/`KexAlgorithms`/`HostKeyAlgorithms` with `+`/`-`/`^`.
//!
//! Keywords Wharf does not act on are kept, with their file and line, in
//! [`HostConfig::not_implemented`] so `wharf run --ssh-debug` can list them: nothing is
//! silently different from `ssh -G`.

pub mod algorithms;
mod matching;
mod parse;
mod resolve;

use std::path::{Path, PathBuf};

pub(crate) use matching::glob;
pub use resolve::{MatchEnv, ResolveOptions};

/// `StrictHostKeyChecking`: what to do with a host key that `known_hosts` does not list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum HostKeyPolicy {
    /// `yes` (and `ask`, since Wharf never prompts): refuse unknown and changed keys.
    Strict,
    /// `accept-new`: record unknown keys, refuse changed ones.
    AcceptNew,
    /// `no` / `off`: record unknown keys and accept changed ones (not recommended).
    AcceptAny,
}

/// The config files OpenSSH would read, parsed: `~/.ssh/config` then `/etc/ssh/ssh_config`,
/// or the one file given with `-F` / `--ssh-config`.
#[derive(Debug, Clone, Default)]
pub struct SshConfigFile {
    files: Vec<parse::ConfigFile>,
}

/// A keyword that applies to the host but that Wharf does not act on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotImplemented {
    pub keyword: String,
    pub file: PathBuf,
    pub line: usize,
}

/// The settings that apply to one host, before defaults are filled in. Paths and lists
/// are as written (tokens not expanded) except `host_name`, whose `%h` is expanded.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HostConfig {
    pub host_name: Option<String>,
    pub port: Option<u16>,
    pub user: Option<String>,
    /// In file order.
    pub identity_files: Vec<String>,
    /// In file order.
    pub certificate_files: Vec<String>,
    pub user_known_hosts_files: Option<Vec<String>>,
    pub global_known_hosts_files: Option<Vec<String>>,
    pub strict_host_key_checking: Option<HostKeyPolicy>,
    /// `none` is kept here and means no jump.
    pub proxy_jump: Option<String>,
    /// `none` is kept here and means no command.
    pub proxy_command: Option<String>,
    pub host_key_alias: Option<String>,
    pub check_host_ip: Option<bool>,
    pub hash_known_hosts: Option<bool>,
    pub identities_only: Option<bool>,
    pub identity_agent: Option<String>,
    /// Seconds (`none` leaves it unset, as in OpenSSH).
    pub connect_timeout: Option<u64>,
    pub server_alive_interval: Option<u64>,
    pub server_alive_count_max: Option<u32>,
    pub ciphers: Option<String>,
    pub kex_algorithms: Option<String>,
    pub host_key_algorithms: Option<String>,
    pub batch_mode: Option<bool>,
    /// Applying keywords Wharf ignores, first occurrence of each.
    pub not_implemented: Vec<NotImplemented>,
}

/// A line of a file that cannot be understood, or a value that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}:{line}: {message}")]
pub struct SshConfigError {
    pub file: PathBuf,
    pub line: usize,
    pub message: String,
}

/// OpenSSH's system-wide client configuration.
pub const SYSTEM_CONFIG: &str = "/etc/ssh/ssh_config";

impl SshConfigFile {
    /// One file read as `ssh -F FILE` reads it (a user file: relative `Include`s are under
    /// `home/.ssh`). A missing file is an empty configuration.
    pub fn load(path: &Path, home: &Path) -> Result<SshConfigFile, SshConfigError> {
        let base = parse::IncludeBase { home: Some(home), user: true };
        Ok(SshConfigFile { files: parse::load_file(path, base, 0)?.into_iter().collect() })
    }

    /// What plain `ssh` reads: `user` (normally `~/.ssh/config`), then `system`
    /// (normally [`SYSTEM_CONFIG`]), whose relative `Include`s are under `/etc/ssh`.
    pub fn load_with_system(
        user: &Path,
        system: &Path,
        home: &Path,
    ) -> Result<SshConfigFile, SshConfigError> {
        let mut config = SshConfigFile::load(user, home)?;
        let base = parse::IncludeBase { home: Some(home), user: false };
        config.files.extend(parse::load_file(system, base, 0)?);
        Ok(config)
    }

    /// Parse the text of one config file (`file` names it in errors); `Include` must use
    /// absolute paths.
    pub fn parse(file: &Path, text: &str) -> Result<SshConfigFile, SshConfigError> {
        let base = parse::IncludeBase { home: None, user: true };
        Ok(SshConfigFile { files: vec![parse::parse_text(file, text, base, 0)?] })
    }

    /// The settings for `host` with a fixed local environment (tests).
    #[cfg(test)]
    pub(crate) fn host(&self, host: &str) -> HostConfig {
        let env = MatchEnv::for_tests();
        self.resolve(host, &ResolveOptions::default(), &env).expect("resolvable")
    }
}

pub(crate) fn parse_policy(value: &str) -> Option<HostKeyPolicy> {
    match value.to_ascii_lowercase().as_str() {
        "yes" | "true" | "ask" => Some(HostKeyPolicy::Strict),
        "accept-new" => Some(HostKeyPolicy::AcceptNew),
        "no" | "false" | "off" => Some(HostKeyPolicy::AcceptAny),
        _ => None,
    }
}

pub(crate) fn parse_flag(value: &str) -> Option<bool> {
    match value.to_ascii_lowercase().as_str() {
        "yes" | "true" => Some(true),
        "no" | "false" => Some(false),
        _ => None,
    }
}

/// OpenSSH's `convtime`: `90`, `1m30s`, `2h`, … in seconds.
pub(crate) fn parse_seconds(value: &str) -> Option<u64> {
    let mut total = 0u64;
    let mut number = String::new();
    for c in value.chars() {
        if c.is_ascii_digit() {
            number.push(c);
            continue;
        }
        let unit = match c.to_ascii_lowercase() {
            's' => 1,
            'm' => 60,
            'h' => 3600,
            'd' => 86_400,
            'w' => 604_800,
            _ => return None,
        };
        total = total.checked_add(number.parse::<u64>().ok()?.checked_mul(unit)?)?;
        number.clear();
    }
    if !number.is_empty() {
        total = total.checked_add(number.parse().ok()?)?;
    } else if value.is_empty() {
        return None;
    }
    i32::try_from(total).ok()?;
    Some(total)
}

/// What `%` tokens and `~` expand to.
#[derive(Debug, Clone)]
pub struct TokenContext<'a> {
    /// `%d` and `~`: the local home directory.
    pub home: &'a Path,
    /// `%h`: the remote host name (after `HostName`).
    pub host: &'a str,
    /// `%n`: the name as typed.
    pub original_host: &'a str,
    /// `%r`: the remote user.
    pub remote_user: &'a str,
    /// `%u`: the local user.
    pub local_user: &'a str,
    /// `%p`: the port.
    pub port: u16,
    /// `%k`: `HostKeyAlias`, or the name as typed.
    pub key_alias: &'a str,
    /// `%l`: this machine's host name (`%L`: up to the first dot).
    pub local_host: &'a str,
    /// `%i`: the local user id.
    pub uid: u32,
}

impl TokenContext<'_> {
    /// `%C`: SHA-1 of `%l%h%p%r`, in hex.
    fn connection_hash(&self) -> String {
        let text = format!("{}{}{}{}", self.local_host, self.host, self.port, self.remote_user);
        let digest = ring::digest::digest(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY, text.as_bytes());
        digest.as_ref().iter().map(|byte| format!("{byte:02x}")).collect()
    }

    /// The value of `%token`, when there is one.
    fn token(&self, token: char) -> Option<String> {
        Some(match token {
            '%' => "%".to_owned(),
            'C' => self.connection_hash(),
            'd' => self.home.display().to_string(),
            'h' => self.host.to_owned(),
            'i' => self.uid.to_string(),
            'k' => self.key_alias.to_owned(),
            'L' => self.local_host.split('.').next().unwrap_or_default().to_owned(),
            'l' => self.local_host.to_owned(),
            'n' => self.original_host.to_owned(),
            'p' => self.port.to_string(),
            'r' => self.remote_user.to_owned(),
            'u' => self.local_user.to_owned(),
            _ => return None,
        })
    }

    /// Expand `%` tokens; an unknown token is an error naming it, as in OpenSSH.
    pub fn expand(&self, value: &str) -> Result<String, String> {
        let mut out = String::new();
        let mut chars = value.chars();
        while let Some(c) = chars.next() {
            if c != '%' {
                out.push(c);
                continue;
            }
            let token = chars.next().ok_or_else(|| format!("{value:?} ends with a lone %"))?;
            let expanded = self.token(token).ok_or_else(|| {
                format!("unknown token %{token} in {value:?}; write %% for a literal %")
            })?;
            out.push_str(&expanded);
        }
        Ok(out)
    }
}

/// Expand `~/` and `%` tokens in a path setting such as `IdentityFile` (an unknown token is
/// left as written).
pub fn expand_path(value: &str, ctx: &TokenContext<'_>) -> PathBuf {
    let mut out = String::new();
    let mut chars = value.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some(token) => match ctx.token(token) {
                Some(expanded) => out.push_str(&expanded),
                None => {
                    out.push('%');
                    out.push(token);
                }
            },
            None => out.push('%'),
        }
    }
    if out == "~" {
        return ctx.home.to_owned();
    }
    match out.strip_prefix("~/") {
        Some(rest) => ctx.home.join(rest),
        None => PathBuf::from(out),
    }
}

#[cfg(test)]
mod tests;
