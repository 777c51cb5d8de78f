//! Shared setup: an sshd, a client key, a known_hosts file and an ssh config naming many
//! nodes that all point at that sshd.

use std::path::{Path, PathBuf};

use wharf_exec::ssh_config::SshConfigFile;
use wharf_exec::testing::Sshd;
use wharf_exec::{
    ExecOptions, FanoutOptions, HostKeyPolicy, HostOverrides, LocalEnv, SshResolver, Target,
    TargetTransport,
};

pub(crate) struct Fleet {
    pub(crate) sshd: Sshd,
    pub(crate) known_hosts: PathBuf,
    pub(crate) config_text: String,
    pub(crate) policy: Option<HostKeyPolicy>,
}

impl Fleet {
    /// An sshd whose key is already in known_hosts, and `names` → `address` entries.
    pub(crate) fn start(entries: &[(String, &str)]) -> Fleet {
        let sshd = Sshd::start();
        let known_hosts = sshd.dir.path().join("known_hosts");
        sshd.write_known_hosts(&known_hosts);
        let config_text = sshd.ssh_config(entries, &sshd.client_key, &known_hosts);
        Fleet { sshd, known_hosts, config_text, policy: None }
    }

    pub(crate) fn resolver(&self) -> SshResolver {
        SshResolver {
            config: SshConfigFile::parse(Path::new("test_ssh_config"), &self.config_text).unwrap(),
            env: LocalEnv {
                home: self.sshd.dir.path().to_owned(),
                local_user: "root".to_owned(),
                agent: None,
            },
            default_user: None,
            default_policy: HostKeyPolicy::Strict,
            forced_policy: self.policy,
        }
    }

    pub(crate) fn targets(&self, names: &[String]) -> Vec<Target> {
        let resolver = self.resolver();
        names
            .iter()
            .map(|name| Target {
                name: name.clone(),
                transport: TargetTransport::Ssh(
                    resolver.resolve(name, &HostOverrides::default()).unwrap(),
                ),
            })
            .collect()
    }
}

pub(crate) fn entries(names: &[String], address: &'static str) -> Vec<(String, &'static str)> {
    names.iter().map(|name| (name.clone(), address)).collect()
}

pub(crate) fn options() -> FanoutOptions {
    FanoutOptions {
        fanout: 64,
        exec: ExecOptions {
            connect_timeout: std::time::Duration::from_secs(20),
            ..ExecOptions::default()
        },
        stream_lines: false,
        keep_connections: true,
    }
}

/// Count of successful logins so far, from the sshd log.
pub(crate) fn logins(sshd: &Sshd) -> usize {
    sshd.log_text().matches("Accepted publickey").count()
}
