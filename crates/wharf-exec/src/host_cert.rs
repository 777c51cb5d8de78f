//! Host certificates, as OpenSSH checks them: a `@cert-authority PATTERNS KEY` line in a
//! known_hosts file trusts every host certificate that KEY signed for hosts matching
//! PATTERNS — when the certificate is a host certificate, its signature verifies, the time
//! is within its validity and its principals name the host. `@revoked` lines naming the CA
//! key (or the host's own key) refuse it.

use std::path::PathBuf;

use russh::keys::Certificate;
use russh::keys::ssh_key::HashAlg;
use russh::keys::ssh_key::certificate::CertType;
use russh::keys::ssh_key::public::KeyData;

use crate::known_hosts::{Entry, read_files};

/// What the known_hosts files say about a host certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum CertStatus {
    /// A `@cert-authority` line trusts the signer and the certificate is valid for the host.
    Trusted,
    /// No `@cert-authority` line for this host names the signer: check the certificate's
    /// key as a plain key instead (OpenSSH does the same).
    NoAuthority,
    /// A trusted CA signed it, but it is not valid for this host now: the reason.
    Invalid(String),
    /// The CA key or the host key is marked `@revoked`.
    Revoked { file: PathBuf, line: usize },
}

/// Check `cert` presented by the host known as `name` (its known_hosts name) whose
/// principal should be `principal` (the host name or `HostKeyAlias`, without port), at
/// `now` (Unix seconds).
pub(crate) fn check_certificate(
    files: &[PathBuf],
    name: &str,
    principal: &str,
    cert: &Certificate,
    now: u64,
) -> std::io::Result<CertStatus> {
    let encode = |key: &KeyData| russh::keys::ssh_encoding::Encode::encode_vec(key).ok();
    let ca_blob = encode(cert.signature_key());
    let host_blob = encode(cert.public_key());
    let mut trusted = false;
    for (file, text) in read_files(files)? {
        for (idx, line) in text.lines().enumerate() {
            let Some(entry) = Entry::parse(line) else { continue };
            if !entry.matches_host(name) {
                continue;
            }
            let names_ca = ca_blob.as_deref() == Some(entry.blob.as_slice());
            let names_host = host_blob.as_deref() == Some(entry.blob.as_slice());
            match entry.marker {
                Some("@revoked") if names_ca || names_host => {
                    return Ok(CertStatus::Revoked { file: file.clone(), line: idx + 1 });
                }
                Some("@cert-authority") if names_ca => trusted = true,
                _ => {}
            }
        }
    }
    if !trusted {
        return Ok(CertStatus::NoAuthority);
    }
    Ok(match validate(cert, principal, now) {
        Ok(()) => CertStatus::Trusted,
        Err(reason) => CertStatus::Invalid(reason),
    })
}

/// The checks besides the CA's identity: type, signature, validity, principals, options.
fn validate(cert: &Certificate, principal: &str, now: u64) -> Result<(), String> {
    if cert.cert_type() != CertType::Host {
        return Err("it is a user certificate, not a host certificate".to_owned());
    }
    let ca = cert.signature_key().fingerprint(HashAlg::Sha256);
    if cert.validate_at(now, [&ca]).is_err() {
        return Err(if cert.valid_after() > now || now >= cert.valid_before() {
            format!(
                "it is valid only from {} to {} (Unix time; now {now})",
                cert.valid_after(),
                cert.valid_before()
            )
        } else {
            "its signature does not verify".to_owned()
        });
    }
    let principals = cert.valid_principals();
    if !principals.is_empty() && !principals.iter().any(|p| p == principal) {
        return Err(format!(
            "it names principals {principals:?}, not {principal:?} (sign it with ssh-keygen -h -n {principal}, \
             or set HostKeyAlias to one of them)"
        ));
    }
    if !cert.critical_options().is_empty() {
        return Err("it carries critical options, which host certificates do not use".to_owned());
    }
    Ok(())
}
