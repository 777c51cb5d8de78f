//! Where and how to reach a node: [`Target`], and [`SshResolver`], which turns a node name
//! (plus what the inventory says about it) into connection settings through ssh_config.

use std::path::{Path, PathBuf};

use crate::ssh_config::{HostKeyPolicy, SshConfigFile, TokenContext, expand_path};

/// A node and the way to reach it.
#[derive(Debug, Clone)]
pub struct Target {
    /// The node name, as the user typed it or the inventory lists it.
    pub name: String,
    pub transport: TargetTransport,
}

#[derive(Debug, Clone)]
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
    /// `known_hosts` files checked in order; new keys are recorded in the first one.
    pub known_hosts_files: Vec<PathBuf>,
    pub host_key_policy: HostKeyPolicy,
    /// Connect through this host first (`ProxyJump`), tunnelling with `direct-tcpip`.
    pub proxy_jump: Option<Box<SshTarget>>,
    /// The ssh-agent socket (`SSH_AUTH_SOCK`), tried before key files.
    pub agent: Option<PathBuf>,
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

/// A `ProxyJump` value that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("ProxyJump for {host}: {reason}")]
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
        let host_config = self.config.host(name);
        let host =
            overrides.host.clone().or(host_config.host_name).unwrap_or_else(|| name.to_owned());
        let port = overrides.port.or(host_config.port).unwrap_or(22);
        let user = overrides
            .user
            .clone()
            .or(host_config.user)
            .or_else(|| self.default_user.clone())
            .unwrap_or_else(|| self.env.local_user.clone());
        let ctx = TokenContext {
            home: &self.env.home,
            host: &host,
            original_host: name,
            remote_user: &user,
            local_user: &self.env.local_user,
            port,
        };
        let identity_files = if host_config.identity_files.is_empty() {
            ["id_ed25519", "id_ecdsa", "id_rsa"]
                .iter()
                .map(|file| self.ssh_dir().join(file))
                .collect()
        } else {
            host_config.identity_files.iter().map(|value| expand_path(value, &ctx)).collect()
        };
        let mut known_hosts_files: Vec<PathBuf> = match &host_config.user_known_hosts_files {
            Some(files) => files.iter().map(|value| expand_path(value, &ctx)).collect(),
            None => vec![self.ssh_dir().join("known_hosts"), self.ssh_dir().join("known_hosts2")],
        };
        known_hosts_files.push(PathBuf::from("/etc/ssh/ssh_known_hosts"));
        known_hosts_files.push(PathBuf::from("/etc/ssh/ssh_known_hosts2"));
        let host_key_policy = self
            .forced_policy
            .or(host_config.strict_host_key_checking)
            .unwrap_or(self.default_policy);
        let proxy_jump = match host_config.proxy_jump {
            None => None,
            Some(spec) => Some(Box::new(self.resolve_jumps(name, &spec, depth)?)),
        };
        Ok(SshTarget {
            host,
            port,
            user,
            identity_files,
            known_hosts_files,
            host_key_policy,
            proxy_jump,
            agent: self.env.agent.clone(),
        })
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
                reason: format!("more than {MAX_JUMPS} jumps (a ProxyJump loop?)"),
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
                        reason: format!("{port:?} in {hop:?} is not a port"),
                    })?;
                    (hop_host, Some(port))
                }
                None => (rest, None),
            };
            if hop_host.is_empty() || hop_host.starts_with('-') {
                return Err(ResolveError {
                    host: name.to_owned(),
                    reason: format!("bad jump host {hop:?}"),
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
            reason: "empty ProxyJump".to_owned(),
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
