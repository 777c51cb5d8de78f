//! The settings for one host, evaluated as OpenSSH 9.2's `readconf.c` and `ssh.c` do:
//! every file in order with an "active" flag that `Host`/`Match` lines set, `Include`d
//! files evaluated in place (and unable to change the includer's state), first value wins,
//! then `HostName`'s `%h` expanded and the host lowercased, then — when a `Match final`
//! was seen — a second pass in which `Host` lines match the resolved host name.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;

use super::matching::{MatchFacts, host_line_matches, match_criteria};
use super::parse::{ConfigFile, Line, Setting};
use super::{
    HostConfig, NotImplemented, SshConfigError, SshConfigFile, TokenContext, parse_flag,
    parse_policy, parse_seconds,
};

/// The local facts `Match` criteria and tokens depend on.
#[derive(Debug, Clone)]
pub struct MatchEnv {
    pub local_user: String,
    /// `%d`, `~`.
    pub home: PathBuf,
    /// `%i`.
    pub uid: u32,
    /// `%l` (and `%L`).
    pub local_host: String,
}

impl MatchEnv {
    /// `local_user` and `home` as given; the uid and host name read from `/proc`.
    pub fn new(local_user: &str, home: &Path) -> MatchEnv {
        use std::os::unix::fs::MetadataExt as _;
        static LOCAL: std::sync::OnceLock<(u32, String)> = std::sync::OnceLock::new();
        let (uid, local_host) = LOCAL.get_or_init(|| {
            let uid = std::fs::metadata("/proc/self").map_or(0, |meta| meta.uid());
            let local_host = std::fs::read_to_string("/proc/sys/kernel/hostname")
                .map(|name| name.trim().to_owned())
                .unwrap_or_else(|_| "localhost".to_owned());
            (uid, local_host)
        });
        MatchEnv {
            local_user: local_user.to_owned(),
            home: home.to_owned(),
            uid: *uid,
            local_host: local_host.clone(),
        }
    }

    #[cfg(test)]
    pub(crate) fn for_tests() -> MatchEnv {
        MatchEnv {
            local_user: "op".to_owned(),
            home: PathBuf::from("/home/op"),
            uid: 1000,
            local_host: "admin.example".to_owned(),
        }
    }
}

/// What is known before the files are read (like `ssh -l USER -p PORT -o HostName=…`):
/// these win over the files, and `Match user` sees the user.
#[derive(Debug, Clone, Default)]
pub struct ResolveOptions {
    pub host_name: Option<String>,
    pub port: Option<u16>,
    pub user: Option<String>,
}

/// One evaluation pass over the files.
struct Pass<'a> {
    env: &'a MatchEnv,
    /// The name as typed (`%n`, `originalhost`).
    original: &'a str,
    /// What `Host` lines match: the name as typed, or the resolved host in the final pass.
    host: String,
    final_pass: bool,
    want_final: bool,
    /// Where `HostName` was set, for errors about its tokens.
    host_name_at: Option<(Arc<Path>, usize)>,
}

impl SshConfigFile {
    /// The settings for `host` (the name as typed). `Match exec` commands run here, through
    /// `sh -c`, as `ssh` runs them.
    pub fn resolve(
        &self,
        host: &str,
        options: &ResolveOptions,
        env: &MatchEnv,
    ) -> Result<HostConfig, SshConfigError> {
        let mut config = HostConfig {
            host_name: options.host_name.clone(),
            port: options.port,
            user: options.user.clone(),
            ..HostConfig::default()
        };
        let mut pass = Pass {
            env,
            original: host,
            host: host.to_owned(),
            final_pass: false,
            want_final: false,
            host_name_at: None,
        };
        self.run_pass(&mut pass, &mut config)?;
        let mut resolved = pass.expanded_host_name(&config)?;
        if resolved.parse::<std::net::IpAddr>().is_err() {
            resolved = resolved.to_ascii_lowercase();
        }
        config.host_name = Some(resolved.clone());
        if pass.want_final {
            pass.host = resolved;
            pass.final_pass = true;
            self.run_pass(&mut pass, &mut config)?;
        }
        config.host_key_alias = config.host_key_alias.map(|alias| alias.to_ascii_lowercase());
        if config.batch_mode == Some(true) && config.server_alive_interval.is_none() {
            // Debian's OpenSSH: in batch mode, ServerAliveInterval defaults to 5 minutes.
            config.server_alive_interval = Some(300);
        }
        Ok(config)
    }

    fn run_pass(&self, pass: &mut Pass<'_>, config: &mut HostConfig) -> Result<(), SshConfigError> {
        for file in &self.files {
            let mut active = true;
            pass.walk(file, config, &mut active, false)?;
        }
        Ok(())
    }
}

impl Pass<'_> {
    fn walk(
        &mut self,
        file: &ConfigFile,
        config: &mut HostConfig,
        active: &mut bool,
        never_match: bool,
    ) -> Result<(), SshConfigError> {
        for (line_no, line) in &file.lines {
            match line {
                Line::Host(patterns) => {
                    *active = !never_match && host_line_matches(patterns, &self.host);
                }
                Line::Match(criteria) => {
                    let error = |message: String| SshConfigError {
                        file: file.path.to_path_buf(),
                        line: *line_no,
                        message,
                    };
                    let host = self.match_host(config).map_err(&error)?;
                    let remote_user = config.user.as_deref().unwrap_or(&self.env.local_user);
                    let facts = MatchFacts {
                        host: &host,
                        original_host: self.original,
                        remote_user,
                        local_user: &self.env.local_user,
                        final_pass: self.final_pass,
                    };
                    let ctx = TokenContext {
                        home: &self.env.home,
                        host: &host,
                        original_host: self.original,
                        remote_user,
                        local_user: &self.env.local_user,
                        port: config.port.unwrap_or(22),
                        key_alias: config.host_key_alias.as_deref().unwrap_or(&host),
                        local_host: &self.env.local_host,
                        uid: self.env.uid,
                    };
                    let mut exec = |command: &str| run_exec(&ctx.expand(command)?);
                    let matched = match_criteria(criteria, &facts, &mut self.want_final, &mut exec)
                        .map_err(&error)?;
                    *active = !never_match && matched;
                }
                Line::Include(files) => {
                    let outer = *active;
                    for included in files {
                        self.walk(included, config, active, never_match || !outer)?;
                        *active = outer;
                    }
                }
                Line::Setting(setting) if *active => self.apply(config, setting),
                Line::Setting(_) => {}
            }
        }
        Ok(())
    }

    /// The host `Match host` sees: in the final pass the resolved name, else `HostName`
    /// so far (its `%h` expanded) or the name as typed.
    fn match_host(&self, config: &HostConfig) -> Result<String, String> {
        match &config.host_name {
            Some(name) if self.final_pass => Ok(name.clone()),
            Some(name) => expand_host_name(name, self.original),
            None => Ok(self.original.to_owned()),
        }
    }

    fn expanded_host_name(&self, config: &HostConfig) -> Result<String, SshConfigError> {
        self.match_host(config).map_err(|message| {
            let (file, line) = self
                .host_name_at
                .as_ref()
                .map_or((PathBuf::from("(HostName)"), 0), |(file, line)| {
                    (file.to_path_buf(), *line)
                });
            SshConfigError { file, line, message }
        })
    }

    /// First value wins; `IdentityFile` and `CertificateFile` accumulate.
    fn apply(&mut self, config: &mut HostConfig, setting: &Setting) {
        let value = setting.args[0].as_str();
        let set = |slot: &mut Option<String>| {
            slot.get_or_insert_with(|| value.to_owned());
        };
        match setting.keyword.as_str() {
            "hostname" => {
                if config.host_name.is_none() {
                    self.host_name_at = Some((setting.file.clone(), setting.line));
                }
                set(&mut config.host_name);
            }
            "port" => config.port = config.port.or_else(|| value.parse().ok()),
            "user" => set(&mut config.user),
            // Duplicates are registered once (a final pass reads the files again).
            "identityfile" if !config.identity_files.iter().any(|f| f == value) => {
                config.identity_files.push(value.to_owned());
            }
            "certificatefile" if !config.certificate_files.iter().any(|f| f == value) => {
                config.certificate_files.push(value.to_owned());
            }
            "identityfile" | "certificatefile" => {}
            "userknownhostsfile" => {
                config.user_known_hosts_files.get_or_insert_with(|| setting.args.clone());
            }
            "globalknownhostsfile" => {
                config.global_known_hosts_files.get_or_insert_with(|| setting.args.clone());
            }
            "stricthostkeychecking" => {
                config.strict_host_key_checking =
                    config.strict_host_key_checking.or_else(|| parse_policy(value));
            }
            "proxyjump" if config.proxy_jump.is_none() && config.proxy_command.is_none() => {
                config.proxy_jump = Some(value.to_owned());
            }
            "proxycommand" if config.proxy_jump.is_none() && config.proxy_command.is_none() => {
                config.proxy_command = Some(setting.raw.clone());
            }
            "proxyjump" | "proxycommand" | "loglevel" => {}
            "hostkeyalias" => set(&mut config.host_key_alias),
            "checkhostip" => config.check_host_ip = config.check_host_ip.or(parse_flag(value)),
            "hashknownhosts" => {
                config.hash_known_hosts = config.hash_known_hosts.or(parse_flag(value));
            }
            "identitiesonly" => {
                config.identities_only = config.identities_only.or(parse_flag(value));
            }
            "batchmode" => config.batch_mode = config.batch_mode.or(parse_flag(value)),
            "identityagent" => set(&mut config.identity_agent),
            "connecttimeout" => {
                config.connect_timeout = config.connect_timeout.or_else(|| parse_seconds(value));
            }
            "serveraliveinterval" => {
                config.server_alive_interval =
                    config.server_alive_interval.or_else(|| parse_seconds(value));
            }
            "serveralivecountmax" => {
                config.server_alive_count_max =
                    config.server_alive_count_max.or_else(|| value.parse().ok());
            }
            "ciphers" => set(&mut config.ciphers),
            "kexalgorithms" => set(&mut config.kex_algorithms),
            "hostkeyalgorithms" => set(&mut config.host_key_algorithms),
            keyword => {
                if !config.not_implemented.iter().any(|seen| seen.keyword == keyword) {
                    config.not_implemented.push(NotImplemented {
                        keyword: keyword.to_owned(),
                        file: setting.file.to_path_buf(),
                        line: setting.line,
                    });
                }
            }
        }
    }
}

/// `HostName` knows `%h` (the name as typed) and `%%` only, as in OpenSSH.
fn expand_host_name(value: &str, original: &str) -> Result<String, String> {
    let mut out = String::new();
    let mut chars = value.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('h') => out.push_str(original),
            Some('%') => out.push('%'),
            other => {
                return Err(format!(
                    "HostName {value:?}: unknown token %{}; HostName knows only %h and %%",
                    other.map(String::from).unwrap_or_default()
                ));
            }
        }
    }
    Ok(out)
}

/// `Match exec`: `sh -c COMMAND`, true when it exits 0. Its output is discarded.
fn run_exec(command: &str) -> Result<bool, String> {
    Command::new("/bin/sh")
        .arg("-c")
        .arg(command)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map(|status| status.success())
        .map_err(|err| format!("Match exec {command:?}: cannot run /bin/sh: {err}"))
}
