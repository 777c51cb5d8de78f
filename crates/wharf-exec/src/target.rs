//! Where and how to reach a node: [`Target`], and [`SshResolver`], which turns a node name
//! (plus what the inventory says about it) into connection settings through ssh_config.

use std::path::{Path, PathBuf};

use std::time::Duration;

use crate::ssh_config::algorithms::{AlgorithmKind, assemble};
use crate::ssh_config::{
    HostConfig, HostKeyPolicy, MatchEnv, NotImplemented, ResolveOptions, SshConfigError,
    SshConfigFile, TokenContext, expand_path,
};

/// A node and the way to reach it.
#[derive(Debug, Clone)]
pub struct Target {
    /// The node name, as the user typed it or the inventory lists it.
    pub name: String,
    pub transport: TargetTransport,
}

#[derive(Debug, Clone)]
#[expect(
    clippy::large_enum_variant,
    reason = "one per node, built once per run; boxing would only add an allocation"
)]
pub enum TargetTransport {
    Ssh(SshTarget),
    Local(LocalTarget),
}

/// Resolved SSH settings for one host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SshTarget {
    /// Address to connect to (a name resolved through DNS, or an IP address).
    pub host: String,
    pub port: u16,
    pub user: String,
    /// Private keys to offer, in order; missing files are skipped.
    pub identity_files: Vec<PathBuf>,
    /// `known_hosts` files checked in order: `UserKnownHostsFile`s, then
    /// `GlobalKnownHostsFile`s.
    pub known_hosts_files: Vec<PathBuf>,
    /// Where new keys are recorded: the first `UserKnownHostsFile` (none for `none`).
    pub record_file: Option<PathBuf>,
    /// `HashKnownHosts`: record new keys hashed.
    pub hash_known_hosts: bool,
    /// `HostKeyAlias`: the name the host key is looked up and recorded under (no port).
    pub host_key_alias: Option<String>,
    /// `CheckHostIP`: also check the peer address's key in known_hosts (and record it).
    pub check_host_ip: bool,
    pub host_key_policy: HostKeyPolicy,
    /// Connect through this host first (`ProxyJump`), tunnelling with `direct-tcpip`.
    pub proxy_jump: Option<Box<SshTarget>>,
    /// Connect through this command's stdin/stdout (`ProxyCommand`, tokens expanded), run
    /// with `sh -c`.
    pub proxy_command: Option<String>,
    /// The ssh-agent socket (`IdentityAgent`, else `SSH_AUTH_SOCK`), tried before key files.
    pub agent: Option<PathBuf>,
    /// `IdentitiesOnly`: offer only agent keys whose public half is an `IdentityFile`'s
    /// (`KEY.pub`, or its certificate).
    pub identities_only: bool,
    /// `CertificateFile`s: user certificates offered with the matching key file.
    pub certificate_files: Vec<PathBuf>,
    /// `ConnectTimeout`, when ssh_config sets one (else the run's `--connect-timeout`).
    pub connect_timeout: Option<Duration>,
    /// `ServerAliveInterval` and `ServerAliveCountMax` (0 interval: none).
    pub server_alive: (Duration, u32),
    /// `Ciphers`/`KexAlgorithms`/`HostKeyAlgorithms` as assembled, when ssh_config sets them.
    pub algorithms: Algorithms,
    /// Applying ssh_config keywords Wharf does not act on (for `--ssh-debug`).
    pub not_implemented: Vec<NotImplemented>,
}

/// Algorithm lists an ssh_config set for a host (`None`: Wharf's defaults).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Algorithms {
    pub ciphers: Option<Vec<String>>,
    pub kex: Option<Vec<String>>,
    pub host_key: Option<Vec<String>>,
}

impl Algorithms {
    fn from_config(config: &HostConfig) -> Algorithms {
        let list =
            |kind, spec: &Option<String>| spec.as_deref().map(|spec| assemble(kind, Some(spec)));
        Algorithms {
            ciphers: list(AlgorithmKind::Ciphers, &config.ciphers),
            kex: list(AlgorithmKind::Kex, &config.kex_algorithms),
            host_key: list(AlgorithmKind::HostKey, &config.host_key_algorithms),
        }
    }
}

impl SshTarget {
    /// What Wharf will do for this host, and every ssh_config keyword that applies to it but
    /// that Wharf does not act on, one line each (`wharf run --ssh-debug`, `-vv`).
    pub fn describe(&self) -> Vec<String> {
        let mut lines = vec![format!("connect {}@{}:{}", self.user, self.host, self.port)];
        if let Some(command) = &self.proxy_command {
            lines.push(format!("through ProxyCommand {command}"));
        }
        if let Some(jump) = &self.proxy_jump {
            lines.push(format!("through ProxyJump {}@{}:{}", jump.user, jump.host, jump.port));
        }
        let files: Vec<String> =
            self.known_hosts_files.iter().map(|file| file.display().to_string()).collect();
        lines.push(format!(
            "host key as {} in {} ({:?}{})",
            crate::known_hosts::lookup_name(&self.host, self.port, self.host_key_alias.as_deref()),
            files.join(" "),
            self.host_key_policy,
            if self.hash_known_hosts { ", recorded hashed" } else { "" },
        ));
        if self.check_host_ip {
            lines.push(
                "CheckHostIP: the address's key is checked too (direct connections by name)"
                    .to_owned(),
            );
        }
        for ignored in &self.not_implemented {
            lines.push(format!(
                "not implemented: {} ({}:{})",
                ignored.keyword,
                ignored.file.display(),
                ignored.line
            ));
        }
        lines
    }
}

/// A node that is this machine: commands run with `sh -c`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalTarget {
    /// The directory standing in for the node's `/`, exported as `WHARF_NODE_ROOT`.
    pub root: Option<PathBuf>,
}

/// What the inventory says about a node; `None` fields fall back to ssh_config.
#[derive(Debug, Clone, Default)]
pub struct HostOverrides {
    pub host: Option<String>,
    pub port: Option<u16>,
    pub user: Option<String>,
}

/// The local facts ssh_config tokens and defaults depend on. Built by the caller (the CLI
/// reads `HOME`, `USER` and `SSH_AUTH_SOCK`), so this crate reads no environment variable.
#[derive(Debug, Clone)]
pub struct LocalEnv {
    pub home: PathBuf,
    pub local_user: String,
    pub agent: Option<PathBuf>,
}

/// A host whose ssh_config cannot be used (a `ProxyJump`, a token, a `Match exec`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{host}: {reason}")]
pub struct ResolveError {
    pub host: String,
    pub reason: String,
}

/// Turns node names into [`SshTarget`]s: inventory overrides > ssh_config > defaults.
#[derive(Debug, Clone)]
pub struct SshResolver {
    pub config: SshConfigFile,
    pub env: LocalEnv,
    /// `[ssh] user` from wharf.toml: used when neither inventory nor ssh_config names one.
    pub default_user: Option<String>,
    /// `[ssh] known_hosts` from wharf.toml: used when ssh_config says nothing.
    pub default_policy: HostKeyPolicy,
    /// `--accept-new`: wins over everything.
    pub forced_policy: Option<HostKeyPolicy>,
}

const MAX_JUMPS: usize = 8;

impl SshResolver {
    /// Settings for `name`, with the inventory's `overrides`.
    pub fn resolve(
        &self,
        name: &str,
        overrides: &HostOverrides,
    ) -> Result<SshTarget, ResolveError> {
        self.resolve_depth(name, overrides, 0)
    }

    fn resolve_depth(
        &self,
        name: &str,
        overrides: &HostOverrides,
        depth: usize,
    ) -> Result<SshTarget, ResolveError> {
        let error = |reason: String| ResolveError { host: name.to_owned(), reason };
        let options = ResolveOptions {
            host_name: overrides.host.clone(),
            port: overrides.port,
            user: overrides.user.clone(),
        };
        let match_env = MatchEnv::new(&self.env.local_user, &self.env.home);
        let config = self
            .config
            .resolve(name, &options, &match_env)
            .map_err(|err: SshConfigError| error(err.to_string()))?;
        let host = config.host_name.clone().unwrap_or_else(|| name.to_owned());
        let port = config.port.unwrap_or(22);
        let user = config
            .user
            .clone()
            .or_else(|| self.default_user.clone())
            .unwrap_or_else(|| self.env.local_user.clone());
        let ctx = TokenContext {
            home: &self.env.home,
            host: &host,
            original_host: name,
            remote_user: &user,
            local_user: &self.env.local_user,
            port,
            key_alias: config.host_key_alias.as_deref().unwrap_or(name),
            local_host: &match_env.local_host,
            uid: match_env.uid,
        };
        let identity_files = if config.identity_files.is_empty() {
            ["id_ed25519", "id_ecdsa", "id_rsa"]
                .iter()
                .map(|file| self.ssh_dir().join(file))
                .collect()
        } else {
            config.identity_files.iter().map(|value| expand_path(value, &ctx)).collect()
        };
        let (user_files, global_files) = self.known_hosts_files(&config, &ctx);
        let host_key_policy =
            self.forced_policy.or(config.strict_host_key_checking).unwrap_or(self.default_policy);
        let proxy_jump = match config.proxy_jump.as_deref() {
            None | Some("none") => None,
            Some(spec) => Some(Box::new(self.resolve_jumps(name, spec, depth)?)),
        };
        let proxy_command = match config.proxy_command.as_deref() {
            None | Some("none") => None,
            Some(command) => Some(
                ctx.expand(command).map_err(|reason| error(format!("ProxyCommand: {reason}")))?,
            ),
        };
        let agent = match config.identity_agent.as_deref() {
            None | Some("SSH_AUTH_SOCK" | "$SSH_AUTH_SOCK") => self.env.agent.clone(),
            Some("none") => None,
            Some(path) => Some(expand_path(path, &ctx)),
        };
        Ok(SshTarget {
            host: host.clone(),
            port,
            user: user.clone(),
            identity_files,
            record_file: user_files.first().cloned(),
            known_hosts_files: user_files.into_iter().chain(global_files).collect(),
            hash_known_hosts: config.hash_known_hosts.unwrap_or(false),
            host_key_alias: config.host_key_alias.clone(),
            check_host_ip: config.check_host_ip.unwrap_or(false),
            host_key_policy,
            proxy_jump,
            proxy_command,
            agent,
            identities_only: config.identities_only.unwrap_or(false),
            certificate_files: config
                .certificate_files
                .iter()
                .map(|v| expand_path(v, &ctx))
                .collect(),
            connect_timeout: config.connect_timeout.map(Duration::from_secs),
            server_alive: (
                Duration::from_secs(config.server_alive_interval.unwrap_or(0)),
                config.server_alive_count_max.unwrap_or(3),
            ),
            algorithms: Algorithms::from_config(&config),
            not_implemented: config.not_implemented,
        })
    }

    /// `UserKnownHostsFile`s (tokens expanded) and `GlobalKnownHostsFile`s; `none` is none.
    fn known_hosts_files(
        &self,
        config: &HostConfig,
        ctx: &TokenContext<'_>,
    ) -> (Vec<PathBuf>, Vec<PathBuf>) {
        let user = match &config.user_known_hosts_files {
            Some(files) if files[0].eq_ignore_ascii_case("none") => Vec::new(),
            Some(files) => files.iter().map(|value| expand_path(value, ctx)).collect(),
            None => vec![self.ssh_dir().join("known_hosts"), self.ssh_dir().join("known_hosts2")],
        };
        let global = match &config.global_known_hosts_files {
            Some(files) if files[0].eq_ignore_ascii_case("none") => Vec::new(),
            Some(files) => files.iter().map(PathBuf::from).collect(),
            None => vec![
                PathBuf::from("/etc/ssh/ssh_known_hosts"),
                PathBuf::from("/etc/ssh/ssh_known_hosts2"),
            ],
        };
        (user, global)
    }

    /// `[user@]host[:port][,…]`: the last hop is the one the target is reached from.
    fn resolve_jumps(
        &self,
        name: &str,
        spec: &str,
        depth: usize,
    ) -> Result<SshTarget, ResolveError> {
        if depth >= MAX_JUMPS {
            return Err(ResolveError {
                host: name.to_owned(),
                reason: format!("ProxyJump: more than {MAX_JUMPS} jumps (a ProxyJump loop?)"),
            });
        }
        let mut previous: Option<SshTarget> = None;
        for hop in spec.split(',') {
            let (user, rest) = match hop.rsplit_once('@') {
                Some((user, rest)) => (Some(user.to_owned()), rest),
                None => (None, hop),
            };
            let (hop_host, port) = match rest.rsplit_once(':') {
                Some((hop_host, port)) => {
                    let port = port.parse().map_err(|_| ResolveError {
                        host: name.to_owned(),
                        reason: format!("ProxyJump: {port:?} in {hop:?} is not a port"),
                    })?;
                    (hop_host, Some(port))
                }
                None => (rest, None),
            };
            if hop_host.is_empty() || hop_host.starts_with('-') {
                return Err(ResolveError {
                    host: name.to_owned(),
                    reason: format!("ProxyJump: bad jump host {hop:?}"),
                });
            }
            let overrides = HostOverrides { host: None, port, user };
            let mut target = self.resolve_depth(hop_host, &overrides, depth + 1)?;
            if let Some(previous) = previous.take() {
                target.proxy_jump = Some(Box::new(previous));
            }
            previous = Some(target);
        }
        previous.ok_or_else(|| ResolveError {
            host: name.to_owned(),
            reason: "ProxyJump: empty".to_owned(),
        })
    }

    fn ssh_dir(&self) -> PathBuf {
        self.env.home.join(".ssh")
    }
}

/// True when `path` names a regular file (used to skip absent default keys quietly).
pub(crate) fn is_file(path: &Path) -> bool {
    path.is_file()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resolver(text: &str) -> SshResolver {
        SshResolver {
            config: SshConfigFile::parse(Path::new("cfg"), text).unwrap(),
            env: LocalEnv {
                home: PathBuf::from("/home/op"),
                local_user: "op".to_owned(),
                agent: None,
            },
            default_user: Some("deploy".to_owned()),
            default_policy: HostKeyPolicy::Strict,
            forced_policy: None,
        }
    }

    #[test]
    fn precedence_inventory_over_config_over_defaults() {
        let resolver = resolver(
            "Host web*\n HostName %h.example\n Port 2200\n User cfg\n IdentityFile ~/.ssh/k_%r\n",
        );
        let target = resolver.resolve("web01", &HostOverrides::default()).unwrap();
        assert_eq!(
            (target.host.as_str(), target.port, target.user.as_str()),
            ("web01.example", 2200, "cfg")
        );
        assert_eq!(target.identity_files, [PathBuf::from("/home/op/.ssh/k_cfg")]);
        assert_eq!(target.known_hosts_files[0], PathBuf::from("/home/op/.ssh/known_hosts"));
        let overrides = HostOverrides {
            host: Some("10.1.1.1".into()),
            port: Some(22),
            user: Some("inv".into()),
        };
        let target = resolver.resolve("web01", &overrides).unwrap();
        assert_eq!(
            (target.host.as_str(), target.port, target.user.as_str()),
            ("10.1.1.1", 22, "inv")
        );
        let other = resolver.resolve("db1", &HostOverrides::default()).unwrap();
        assert_eq!((other.host.as_str(), other.user.as_str()), ("db1", "deploy"));
        assert_eq!(other.identity_files.len(), 3);
    }

    #[test]
    fn proxy_jump_chains() {
        let resolver = resolver(
            "Host inner\n ProxyJump j1,admin@j2:2222\nHost j2\n HostName 10.0.0.2\nHost loop\n ProxyJump loop\n",
        );
        let target = resolver.resolve("inner", &HostOverrides::default()).unwrap();
        let j2 = target.proxy_jump.unwrap();
        assert_eq!((j2.host.as_str(), j2.port, j2.user.as_str()), ("10.0.0.2", 2222, "admin"));
        let j1 = j2.proxy_jump.unwrap();
        assert_eq!(j1.host, "j1");
        assert!(j1.proxy_jump.is_none());
        let err = resolver.resolve("loop", &HostOverrides::default()).unwrap_err();
        assert!(err.reason.contains("loop"), "{err}");
    }
}
