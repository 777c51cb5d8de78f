//! `Ciphers`, `KexAlgorithms` and `HostKeyAlgorithms` lists as OpenSSH 9.2 assembles them
//! (`kex_assemble_names`): a plain list replaces the default, `+list` appends to it, `-list`
//! removes (wildcards allowed), `^list` puts names first. Names are OpenSSH's; which of
//! them the SSH client can speak is decided in `ssh.rs`.

/// The three lists this module assembles.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AlgorithmKind {
    Ciphers,
    Kex,
    HostKey,
}

impl AlgorithmKind {
    fn keyword(self) -> &'static str {
        match self {
            AlgorithmKind::Ciphers => "Ciphers",
            AlgorithmKind::Kex => "KexAlgorithms",
            AlgorithmKind::HostKey => "HostKeyAlgorithms",
        }
    }

    /// OpenSSH 9.2's defaults (Debian 12), most preferred first.
    pub fn defaults(self) -> &'static [&'static str] {
        match self {
            AlgorithmKind::Ciphers => &[
                "chacha20-poly1305@openssh.com",
                "aes128-ctr",
                "aes192-ctr",
                "aes256-ctr",
                "aes128-gcm@openssh.com",
                "aes256-gcm@openssh.com",
            ],
            AlgorithmKind::Kex => &[
                "sntrup761x25519-sha512",
                "sntrup761x25519-sha512@openssh.com",
                "curve25519-sha256",
                "curve25519-sha256@libssh.org",
                "ecdh-sha2-nistp256",
                "ecdh-sha2-nistp384",
                "ecdh-sha2-nistp521",
                "diffie-hellman-group-exchange-sha256",
                "diffie-hellman-group16-sha512",
                "diffie-hellman-group18-sha512",
                "diffie-hellman-group14-sha256",
            ],
            AlgorithmKind::HostKey => &[
                "ssh-ed25519-cert-v01@openssh.com",
                "ecdsa-sha2-nistp256-cert-v01@openssh.com",
                "ecdsa-sha2-nistp384-cert-v01@openssh.com",
                "ecdsa-sha2-nistp521-cert-v01@openssh.com",
                "sk-ssh-ed25519-cert-v01@openssh.com",
                "sk-ecdsa-sha2-nistp256-cert-v01@openssh.com",
                "rsa-sha2-512-cert-v01@openssh.com",
                "rsa-sha2-256-cert-v01@openssh.com",
                "ssh-ed25519",
                "ecdsa-sha2-nistp256",
                "ecdsa-sha2-nistp384",
                "ecdsa-sha2-nistp521",
                "sk-ssh-ed25519@openssh.com",
                "sk-ecdsa-sha2-nistp256@openssh.com",
                "rsa-sha2-512",
                "rsa-sha2-256",
            ],
        }
    }

    /// Every name OpenSSH 9.2 knows (`ssh -Q`), in its order.
    fn all(self) -> &'static [&'static str] {
        match self {
            AlgorithmKind::Ciphers => &[
                "3des-cbc",
                "aes128-cbc",
                "aes192-cbc",
                "aes256-cbc",
                "aes128-ctr",
                "aes192-ctr",
                "aes256-ctr",
                "aes128-gcm@openssh.com",
                "aes256-gcm@openssh.com",
                "chacha20-poly1305@openssh.com",
            ],
            AlgorithmKind::Kex => &[
                "diffie-hellman-group1-sha1",
                "diffie-hellman-group14-sha1",
                "diffie-hellman-group14-sha256",
                "diffie-hellman-group16-sha512",
                "diffie-hellman-group18-sha512",
                "diffie-hellman-group-exchange-sha1",
                "diffie-hellman-group-exchange-sha256",
                "ecdh-sha2-nistp256",
                "ecdh-sha2-nistp384",
                "ecdh-sha2-nistp521",
                "curve25519-sha256",
                "curve25519-sha256@libssh.org",
                "sntrup761x25519-sha512",
                "sntrup761x25519-sha512@openssh.com",
            ],
            AlgorithmKind::HostKey => &[
                "ssh-ed25519",
                "ssh-ed25519-cert-v01@openssh.com",
                "sk-ssh-ed25519@openssh.com",
                "sk-ssh-ed25519-cert-v01@openssh.com",
                "ecdsa-sha2-nistp256",
                "ecdsa-sha2-nistp256-cert-v01@openssh.com",
                "ecdsa-sha2-nistp384",
                "ecdsa-sha2-nistp384-cert-v01@openssh.com",
                "ecdsa-sha2-nistp521",
                "ecdsa-sha2-nistp521-cert-v01@openssh.com",
                "sk-ecdsa-sha2-nistp256@openssh.com",
                "sk-ecdsa-sha2-nistp256-cert-v01@openssh.com",
                "webauthn-sk-ecdsa-sha2-nistp256@openssh.com",
                "ssh-dss",
                "ssh-dss-cert-v01@openssh.com",
                "ssh-rsa",
                "ssh-rsa-cert-v01@openssh.com",
                "rsa-sha2-256",
                "rsa-sha2-256-cert-v01@openssh.com",
                "rsa-sha2-512",
                "rsa-sha2-512-cert-v01@openssh.com",
            ],
        }
    }
}

/// The list `spec` (a config value, or `None` for the default) stands for.
pub fn assemble(kind: AlgorithmKind, spec: Option<&str>) -> Vec<String> {
    let defaults = kind.defaults();
    let Some(spec) = spec else { return defaults.iter().map(|name| (*name).to_owned()).collect() };
    if let Some(removed) = spec.strip_prefix('-') {
        return defaults
            .iter()
            .filter(|name| super::matching::pattern_list(name, removed, false) != 1)
            .map(|name| (*name).to_owned())
            .collect();
    }
    let wanted = if let Some(added) = spec.strip_prefix('+') {
        format!("{},{added}", defaults.join(","))
    } else if let Some(first) = spec.strip_prefix('^') {
        format!("{first},{}", defaults.join(","))
    } else {
        spec.to_owned()
    };
    let mut out: Vec<String> = Vec::new();
    for pattern in wanted.split(',').filter(|pattern| !pattern.is_empty()) {
        for name in kind.all() {
            if super::matching::pattern_list(name, pattern, false) == 1
                && !out.iter().any(|have| have == name)
            {
                out.push((*name).to_owned());
            }
        }
    }
    out
}

/// Refuse a list naming an algorithm OpenSSH does not know (checked on every line).
pub(crate) fn check_spec(keyword: &str, spec: &str) -> Result<(), String> {
    let kind = match keyword {
        "ciphers" => AlgorithmKind::Ciphers,
        "kexalgorithms" => AlgorithmKind::Kex,
        _ => AlgorithmKind::HostKey,
    };
    if spec.starts_with('-') {
        return Ok(());
    }
    let names = spec.trim_start_matches(['+', '^']);
    for name in names.split(',') {
        if name.is_empty()
            || !kind.all().iter().any(|known| super::matching::glob_case(name, known, false))
        {
            return Err(format!(
                "{} {spec:?}: unknown algorithm {name:?}; `ssh -Q {}` lists the names",
                kind.keyword(),
                match kind {
                    AlgorithmKind::Ciphers => "cipher",
                    AlgorithmKind::Kex => "kex",
                    AlgorithmKind::HostKey => "HostKeyAlgorithms",
                }
            ));
        }
    }
    if assemble(kind, Some(spec)).is_empty() {
        return Err(format!("{} {spec:?} leaves no algorithm", kind.keyword()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plus_minus_caret_and_plain() {
        let ciphers = |spec| assemble(AlgorithmKind::Ciphers, Some(spec));
        assert_eq!(ciphers("+aes128-cbc").last().map(String::as_str), Some("aes128-cbc"));
        assert_eq!(ciphers("+aes128-ctr").len(), 6, "no duplicates");
        assert!(!ciphers("-aes*-ctr").iter().any(|name| name.ends_with("-ctr")));
        let caret = assemble(AlgorithmKind::HostKey, Some("^ssh-ed25519"));
        assert_eq!(caret[..2], ["ssh-ed25519", "ssh-ed25519-cert-v01@openssh.com"]);
        assert_eq!(caret.len(), AlgorithmKind::HostKey.defaults().len());
        assert_eq!(ciphers("aes256-ctr,aes128-ctr"), ["aes256-ctr", "aes128-ctr"]);
        assert_eq!(assemble(AlgorithmKind::Kex, None).len(), 11);
    }

    #[test]
    fn unknown_names_are_refused() {
        let err = check_spec("ciphers", "+rot13").unwrap_err();
        assert!(err.contains("rot13") && err.contains("ssh -Q cipher"), "{err}");
        assert!(check_spec("kexalgorithms", "-nothing-matches").is_ok());
        assert!(check_spec("hostkeyalgorithms", "ssh-ed25519*").is_ok());
    }
}
