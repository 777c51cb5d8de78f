//! The host key decision, made in russh's `check_server_key`: a host certificate against
//! `@cert-authority` lines, else the plain key against known_hosts under the host's
//! known_hosts name (`HostKeyAlias` or `[host]:port`), recording new keys as the policy
//! allows, then — with `CheckHostIP` — the peer address's key. A refusal is remembered, to
//! be reported instead of russh's generic "unknown key".

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use russh::client;
use russh::keys::{Certificate, PublicKeyOrCertificate};

use crate::host_cert::{CertStatus, check_certificate};
use crate::known_hosts::{self, HostKeyStatus};
use crate::ssh_config::HostKeyPolicy;
use crate::target::SshTarget;

/// What a host key is checked against, for one target.
#[derive(Debug, Clone)]
struct HostCheck {
    /// How the host is named in known_hosts: `HostKeyAlias`, or `host`/`[host]:port`.
    name: String,
    /// What a host certificate must name: `HostKeyAlias`, or the host.
    principal: String,
    files: Vec<PathBuf>,
    record_file: Option<PathBuf>,
    hash: bool,
    policy: HostKeyPolicy,
    /// `CheckHostIP yes` on a direct connection to a named host: the peer address's
    /// known_hosts name, set once connected.
    ip_name: Option<String>,
}

/// Decides about the server's key, and remembers why it said no.
pub(crate) struct ClientHandler {
    check: HostCheck,
    refusal: Arc<Mutex<Option<String>>>,
}

impl ClientHandler {
    pub(crate) fn new(target: &SshTarget, refusal: Arc<Mutex<Option<String>>>) -> ClientHandler {
        let alias = target.host_key_alias.as_deref();
        let check = HostCheck {
            name: known_hosts::lookup_name(&target.host, target.port, alias),
            principal: alias.unwrap_or(&target.host).to_owned(),
            files: target.known_hosts_files.clone(),
            record_file: target.record_file.clone(),
            hash: target.hash_known_hosts,
            policy: target.host_key_policy,
            ip_name: None,
        };
        ClientHandler { check, refusal }
    }

    /// Check the peer address too (`CheckHostIP`), as OpenSSH does: only for a direct
    /// connection, without `HostKeyAlias`, to a host given by name.
    pub(crate) fn check_ip_of(&mut self, target: &SshTarget, peer: std::net::SocketAddr) {
        let by_name = target.host.parse::<std::net::IpAddr>().is_err();
        if target.check_host_ip && target.host_key_alias.is_none() && by_name {
            let ip_name = known_hosts::host_entry_name(&peer.ip().to_string(), target.port);
            self.check.ip_name = Some(ip_name);
        }
    }

    fn refuse(&self, message: String) -> bool {
        *self.refusal.lock().expect("refusal lock") = Some(message);
        false
    }
}

impl client::Handler for ClientHandler {
    type Error = russh::Error;

    async fn check_server_key(
        &mut self,
        server_key: &PublicKeyOrCertificate,
    ) -> Result<bool, Self::Error> {
        let key = server_key.public_key();
        let algorithm = key.algorithm().as_str().to_owned();
        let Ok(blob) = key.to_bytes() else {
            return Ok(self.refuse("cannot encode the server's host key".to_owned()));
        };
        let certificate = server_key.certificate().cloned();
        let check = self.check.clone();
        let decision = tokio::task::spawn_blocking(move || {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |elapsed| elapsed.as_secs());
            check.decide(&algorithm, &blob, certificate.as_ref(), now)
        })
        .await
        .map_err(|_| russh::Error::Disconnect)?;
        match decision {
            Ok(()) => Ok(true),
            Err(message) => Ok(self.refuse(message)),
        }
    }
}

impl HostCheck {
    /// Accept the key (`Ok`) or say why not; `now` in Unix seconds.
    fn decide(
        &self,
        algorithm: &str,
        blob: &[u8],
        certificate: Option<&Certificate>,
        now: u64,
    ) -> Result<(), String> {
        if let Some(cert) = certificate
            && self.certificate_trusted(cert, now)?
        {
            return Ok(());
        }
        let status = known_hosts::check(&self.files, &self.name, algorithm, blob)
            .map_err(|err| format!("cannot read known_hosts: {err}"))?;
        decide(status, &self.name, algorithm, &self.files, self.policy, || {
            self.record(&self.name, algorithm, blob)
        })?;
        match &self.ip_name {
            Some(ip_name) => self.check_ip(ip_name, algorithm, blob),
            None => Ok(()),
        }
    }

    /// `Ok(true)`: a trusted CA vouches for it; `Ok(false)`: no CA line names its signer,
    /// check the plain key instead.
    fn certificate_trusted(&self, cert: &Certificate, now: u64) -> Result<bool, String> {
        let name = &self.name;
        let status = check_certificate(&self.files, name, &self.principal, cert, now)
            .map_err(|err| format!("cannot read known_hosts: {err}"))?;
        match status {
            CertStatus::Trusted => Ok(true),
            CertStatus::NoAuthority => Ok(false),
            CertStatus::Invalid(reason) => Err(format!(
                "the host certificate of {name} is signed by a trusted @cert-authority but is \
                 not valid: {reason}"
            )),
            CertStatus::Revoked { file, line } => Err(format!(
                "the host certificate of {name} (or its CA) is marked @revoked in {}:{line}; \
                 re-sign the host with a CA that is not revoked",
                file.display()
            )),
        }
    }

    fn record(&self, as_name: &str, algorithm: &str, blob: &[u8]) -> Result<(), String> {
        let Some(file) = &self.record_file else { return Ok(()) };
        known_hosts::record(file, as_name, algorithm, blob, self.hash).map_err(|err| {
            format!("cannot record the host key of {as_name} in {}: {err}", file.display())
        })?;
        tracing::info!(host = %as_name, file = %file.display(), "recorded new host key");
        Ok(())
    }

    /// `CheckHostIP`: a new address is recorded; one listed with another key is refused
    /// unless `StrictHostKeyChecking no`.
    fn check_ip(&self, ip_name: &str, algorithm: &str, blob: &[u8]) -> Result<(), String> {
        let name = &self.name;
        let status = known_hosts::check(&self.files, ip_name, algorithm, blob)
            .map_err(|err| format!("cannot read known_hosts: {err}"))?;
        match status {
            HostKeyStatus::Known => Ok(()),
            HostKeyStatus::Unknown => self.record(ip_name, algorithm, blob),
            HostKeyStatus::Changed { file, line } | HostKeyStatus::Revoked { file, line }
                if self.policy != HostKeyPolicy::AcceptAny =>
            {
                Err(format!(
                    "the {algorithm} host key of {name} differs from the key for its address \
                     {ip_name} in {}:{line} (CheckHostIP yes with strict checking); if the \
                     address moved, remove that line (ssh-keygen -R '{ip_name}' -f {})",
                    file.display(),
                    file.display()
                ))
            }
            HostKeyStatus::Changed { .. } | HostKeyStatus::Revoked { .. } => {
                tracing::warn!(host = %name, address = %ip_name, "host key differs from the key for its address");
                Ok(())
            }
        }
    }
}

/// What to do with a plain host key, given what known_hosts says about it.
fn decide(
    status: HostKeyStatus,
    name: &str,
    algorithm: &str,
    files: &[PathBuf],
    policy: HostKeyPolicy,
    record: impl FnOnce() -> Result<(), String>,
) -> Result<(), String> {
    match status {
        HostKeyStatus::Known => Ok(()),
        HostKeyStatus::Revoked { file, line } => Err(format!(
            "the {algorithm} host key of {name} is marked @revoked in {}:{line}",
            file.display()
        )),
        HostKeyStatus::Changed { file, line } if policy != HostKeyPolicy::AcceptAny => {
            Err(format!(
                "REMOTE HOST KEY CHANGED: the {algorithm} key of {name} does not match {}:{line}; \
             if the host was reinstalled, remove that line (ssh-keygen -R '{name}' -f {})",
                file.display(),
                file.display()
            ))
        }
        HostKeyStatus::Changed { .. } => Ok(()),
        HostKeyStatus::Unknown if policy == HostKeyPolicy::Strict => Err(format!(
            "no {algorithm} host key for {name} in {}; connect once with --accept-new \
             (StrictHostKeyChecking accept-new), add it to known_hosts, or trust its CA with a \
             @cert-authority line",
            files.first().map_or_else(|| "known_hosts".to_owned(), |f| f.display().to_string())
        )),
        HostKeyStatus::Unknown => record(),
    }
}
