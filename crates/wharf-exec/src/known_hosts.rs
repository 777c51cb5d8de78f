//! `known_hosts` checking as OpenSSH does it: plain and hashed (`|1|salt|hash`) host
//! fields, `[host]:port` for ports other than 22, `*`/`?`/`!` patterns, `@revoked` markers.
//!
//! **Invariant:** a key is only ever *added* by [`record`], which takes an exclusive
//! `flock` on the file, re-reads it and appends one whole line only if no other writer
//! (thread or process) recorded the host in the meantime. Many concurrent `accept-new`
//! connections to one host therefore leave exactly one valid line.

use std::io::{Read as _, Seek as _, Write as _};
use std::path::{Path, PathBuf};

use data_encoding::BASE64;

/// What `known_hosts` says about a host's key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostKeyStatus {
    /// A line lists this key for this host.
    Known,
    /// No line lists a key of this type for this host.
    Unknown,
    /// A line lists a *different* key of the same type for this host.
    Changed { file: PathBuf, line: usize },
    /// The key is marked `@revoked`.
    Revoked { file: PathBuf, line: usize },
}

/// The name a host is filed under: `host`, or `[host]:port` when the port is not 22.
pub fn host_entry_name(host: &str, port: u16) -> String {
    if port == 22 { host.to_owned() } else { format!("[{host}]:{port}") }
}

/// The name a host key is looked up and recorded under: the `HostKeyAlias` as written
/// (no port), else [`host_entry_name`].
pub fn lookup_name(host: &str, port: u16, alias: Option<&str>) -> String {
    alias.map_or_else(|| host_entry_name(host, port), str::to_owned)
}

/// The text of each existing file of `files`, in order. Missing files are skipped.
pub(crate) fn read_files(files: &[PathBuf]) -> std::io::Result<Vec<(&PathBuf, String)>> {
    let mut texts = Vec::new();
    for file in files {
        match std::fs::read_to_string(file) {
            Ok(text) => texts.push((file, text)),
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
            Err(err) => return Err(err),
        }
    }
    Ok(texts)
}

/// Check `algorithm` + `key_blob` (the key's wire encoding) for `name` (see
/// [`lookup_name`]) against `files`, in order. Missing files are empty.
pub fn check(
    files: &[PathBuf],
    name: &str,
    algorithm: &str,
    key_blob: &[u8],
) -> std::io::Result<HostKeyStatus> {
    let mut changed = None;
    for (file, text) in read_files(files)? {
        match check_text(&text, name, algorithm, key_blob) {
            TextStatus::Known => return Ok(HostKeyStatus::Known),
            TextStatus::Revoked(line) => {
                return Ok(HostKeyStatus::Revoked { file: file.clone(), line });
            }
            TextStatus::Changed(line) => {
                changed.get_or_insert(HostKeyStatus::Changed { file: file.clone(), line });
            }
            TextStatus::Unknown => {}
        }
    }
    Ok(changed.unwrap_or(HostKeyStatus::Unknown))
}

enum TextStatus {
    Known,
    Unknown,
    Changed(usize),
    Revoked(usize),
}

fn check_text(text: &str, name: &str, algorithm: &str, key_blob: &[u8]) -> TextStatus {
    let mut changed = None;
    let mut known = false;
    for (idx, line) in text.lines().enumerate() {
        let Some(entry) = Entry::parse(line) else { continue };
        if entry.marker == Some("@cert-authority") || !entry.matches_host(name) {
            continue;
        }
        let same_key = entry.algorithm == algorithm && entry.blob == key_blob;
        if entry.marker == Some("@revoked") {
            if same_key {
                return TextStatus::Revoked(idx + 1);
            }
            continue;
        }
        if same_key {
            known = true;
        } else if entry.algorithm == algorithm && changed.is_none() {
            changed = Some(idx + 1);
        }
    }
    match (known, changed) {
        (true, _) => TextStatus::Known,
        (false, Some(line)) => TextStatus::Changed(line),
        (false, None) => TextStatus::Unknown,
    }
}

pub(crate) struct Entry<'a> {
    pub(crate) marker: Option<&'a str>,
    hosts: &'a str,
    pub(crate) algorithm: &'a str,
    pub(crate) blob: Vec<u8>,
}

impl<'a> Entry<'a> {
    pub(crate) fn parse(line: &'a str) -> Option<Entry<'a>> {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            return None;
        }
        let mut fields = line.split_whitespace();
        let mut hosts = fields.next()?;
        let mut marker = None;
        if hosts.starts_with('@') {
            marker = Some(hosts);
            hosts = fields.next()?;
        }
        let algorithm = fields.next()?;
        let blob = BASE64.decode(fields.next()?.as_bytes()).ok()?;
        Some(Entry { marker, hosts, algorithm, blob })
    }

    pub(crate) fn matches_host(&self, name: &str) -> bool {
        if let Some(hashed) = self.hosts.strip_prefix("|1|") {
            return hashed_matches(hashed, name);
        }
        let mut matched = false;
        for pattern in self.hosts.split(',') {
            if let Some(negated) = pattern.strip_prefix('!') {
                if crate::ssh_config::glob(negated, name) {
                    return false;
                }
            } else if crate::ssh_config::glob(pattern, name) {
                matched = true;
            }
        }
        matched
    }
}

/// `|1|salt|hash` for `name`, with a fresh random 20-byte salt (as `ssh-keygen -H`).
fn hashed_name(name: &str) -> std::io::Result<String> {
    use ring::rand::SecureRandom as _;
    let mut salt = [0u8; 20];
    ring::rand::SystemRandom::new()
        .fill(&mut salt)
        .map_err(|_| std::io::Error::other("no random bytes for a known_hosts salt"))?;
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, &salt);
    let hash = ring::hmac::sign(&key, name.as_bytes());
    Ok(format!("|1|{}|{}", BASE64.encode(&salt), BASE64.encode(hash.as_ref())))
}

/// `salt|hash`, both base64: HMAC-SHA1 of the name keyed with the salt.
fn hashed_matches(hashed: &str, name: &str) -> bool {
    let Some((salt, hash)) = hashed.split_once('|') else { return false };
    let (Ok(salt), Ok(hash)) = (BASE64.decode(salt.as_bytes()), BASE64.decode(hash.as_bytes()))
    else {
        return false;
    };
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, &salt);
    ring::hmac::verify(&key, name.as_bytes(), &hash).is_ok()
}

/// Append `name algorithm key` to `file` unless, once the file is locked, it already lists
/// that key for the name; `hash` writes the name as `|1|salt|hash` (`HashKnownHosts`).
/// Creates the file (and its directory) when missing.
pub fn record(
    file: &Path,
    name: &str,
    algorithm: &str,
    key_blob: &[u8],
    hash: bool,
) -> std::io::Result<()> {
    if let Some(parent) = file.parent().filter(|parent| !parent.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)?;
    }
    let mut handle = std::fs::OpenOptions::new().read(true).append(true).create(true).open(file)?;
    handle.lock()?;
    let mut text = String::new();
    handle.rewind()?;
    handle.read_to_string(&mut text)?;
    if matches!(check_text(&text, name, algorithm, key_blob), TextStatus::Known) {
        return Ok(());
    }
    let mut line = String::new();
    if !text.is_empty() && !text.ends_with('\n') {
        line.push('\n');
    }
    let written = if hash { hashed_name(name)? } else { name.to_owned() };
    line.push_str(&format!("{written} {algorithm} {}\n", BASE64.encode(key_blob)));
    // One write of the whole line, under the lock: readers never see half a line.
    handle.write_all(line.as_bytes())?;
    handle.sync_data()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY_A: &[u8] = b"key-a";
    const KEY_B: &[u8] = b"key-b";

    fn line(hosts: &str, blob: &[u8]) -> String {
        format!("{hosts} ssh-ed25519 {}\n", BASE64.encode(blob))
    }

    fn status(text: &str, name: &str, blob: &[u8]) -> &'static str {
        match check_text(text, name, "ssh-ed25519", blob) {
            TextStatus::Known => "known",
            TextStatus::Unknown => "unknown",
            TextStatus::Changed(_) => "changed",
            TextStatus::Revoked(_) => "revoked",
        }
    }

    #[test]
    fn plain_patterns_ports_and_markers() {
        let text = format!(
            "# comment\n{}{}{}{}",
            line("web01,10.0.0.1", KEY_A),
            line("[127.0.0.1]:2222", KEY_A),
            line("*.internal,!bad.internal", KEY_B),
            line("@revoked revoked-host", KEY_A),
        );
        assert_eq!(status(&text, "web01", KEY_A), "known");
        assert_eq!(status(&text, "10.0.0.1", KEY_B), "changed");
        assert_eq!(status(&text, "[127.0.0.1]:2222", KEY_A), "known");
        assert_eq!(status(&text, "127.0.0.1", KEY_A), "unknown");
        assert_eq!(status(&text, "x.internal", KEY_B), "known");
        assert_eq!(status(&text, "bad.internal", KEY_B), "unknown");
        assert_eq!(status(&text, "revoked-host", KEY_A), "revoked");
        // A key of another type is not a change.
        assert!(matches!(check_text(&text, "web01", "ssh-rsa", KEY_B), TextStatus::Unknown));
    }

    #[test]
    fn hashed_entries_match() {
        // `ssh-keygen -H` form for "[127.0.0.1]:2222", computed with the same HMAC.
        let salt = b"0123456789abcdefghij";
        let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, salt);
        let hash = ring::hmac::sign(&key, b"[127.0.0.1]:2222");
        let hosts = format!("|1|{}|{}", BASE64.encode(salt), BASE64.encode(hash.as_ref()));
        let text = line(&hosts, KEY_A);
        assert_eq!(status(&text, "[127.0.0.1]:2222", KEY_A), "known");
        assert_eq!(status(&text, "[127.0.0.1]:2222", KEY_B), "changed");
        assert_eq!(status(&text, "127.0.0.1", KEY_A), "unknown");
    }

    #[test]
    fn hashed_records_are_found_and_hide_the_name() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("known_hosts");
        record(&file, "fleet-lb", "ssh-ed25519", KEY_A, true).unwrap();
        record(&file, "fleet-lb", "ssh-ed25519", KEY_A, true).unwrap();
        let text = std::fs::read_to_string(&file).unwrap();
        assert!(text.starts_with("|1|") && !text.contains("fleet-lb"), "{text}");
        assert_eq!(text.lines().count(), 1, "recorded once: {text}");
        let files = [file];
        assert_eq!(check(&files, "fleet-lb", "ssh-ed25519", KEY_A).unwrap(), HostKeyStatus::Known);
    }

    #[test]
    fn record_appends_once_and_check_reads_it_back() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("sub/known_hosts");
        std::thread::scope(|scope| {
            for _ in 0..16 {
                scope.spawn(|| {
                    record(&file, "[127.0.0.1]:2222", "ssh-ed25519", KEY_A, false).unwrap()
                });
            }
        });
        let text = std::fs::read_to_string(&file).unwrap();
        assert_eq!(text.lines().count(), 1, "{text}");
        let files = [file.clone()];
        assert_eq!(
            check(&files, "[127.0.0.1]:2222", "ssh-ed25519", KEY_A).unwrap(),
            HostKeyStatus::Known
        );
        assert_eq!(
            check(&files, "[127.0.0.1]:2222", "ssh-ed25519", KEY_B).unwrap(),
            HostKeyStatus::Changed { file, line: 1 }
        );
    }
}
