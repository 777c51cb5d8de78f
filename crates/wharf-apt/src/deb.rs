//! Reading `.deb` files (`deb(5)`): an `ar` archive of `debian-binary` (`2.x`),
//! `control.tar[.gz|.xz|.zst]` and `data.tar[.*]`. Reading checks the whole archive
//! structure (every member present and complete), parses and validates the control
//! stanza, and hashes the file once for the index fields.

use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::str::FromStr as _;

use md5::Digest as _;
use wharf_core::version::Version;

use crate::control::{self, Control};

/// A `.deb` file that could not be read or is not acceptable; names the file.
#[derive(Debug, thiserror::Error)]
#[error("{}: {reason}", path.display())]
pub struct DebError {
    pub path: PathBuf,
    pub reason: String,
}

/// File checksums and size, as the index fields need them.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct FileDigest {
    pub size: u64,
    pub md5: String,
    pub sha1: String,
    pub sha256: String,
}

impl FileDigest {
    /// Hash a byte slice with all three algorithms.
    #[must_use]
    pub fn of(bytes: &[u8]) -> FileDigest {
        FileDigest {
            size: bytes.len() as u64,
            md5: hex::encode(md5::Md5::digest(bytes)),
            sha1: hex::encode(sha1::Sha1::digest(bytes)),
            sha256: crate::sha256_hex(bytes),
        }
    }
}

/// A validated binary package read from a `.deb` file.
#[derive(Debug, Clone)]
pub struct DebPackage {
    pub name: String,
    pub version: Version,
    pub architecture: String,
    /// The control stanza without the fields computed from the file.
    pub control: Control,
    pub digest: FileDigest,
}

impl DebPackage {
    /// Read and validate a `.deb` file.
    pub fn read(path: &Path) -> Result<DebPackage, DebError> {
        let bytes = std::fs::read(path).map_err(|err| DebError {
            path: path.to_owned(),
            reason: format!("cannot read file: {err}"),
        })?;
        DebPackage::parse(path, &bytes)
    }

    /// Validate a `.deb` held in memory; `path` is only used in errors.
    pub fn parse(path: &Path, bytes: &[u8]) -> Result<DebPackage, DebError> {
        let fail = |reason: String| DebError { path: path.to_owned(), reason };
        let control_text = control_member(bytes).map_err(fail)?;
        let mut control = Control::parse(&control_text)
            .map_err(|err| fail(format!("broken control file: {err}")))?;
        let field = |name: &str| {
            control
                .get(name)
                .map(str::to_owned)
                .ok_or_else(|| fail(format!("control file has no {name} field")))
        };
        let name = field("Package")?;
        let version_text = field("Version")?;
        let architecture = field("Architecture")?;
        control::check_package_name(&name).map_err(fail)?;
        let version = Version::from_str(&version_text).map_err(|err| fail(err.to_string()))?;
        control::check_architecture(&architecture).map_err(fail)?;
        for computed in control::FILE_FIELDS {
            control.remove(computed);
        }
        Ok(DebPackage { name, version, architecture, control, digest: FileDigest::of(bytes) })
    }

    /// `name_version_arch.deb` with the epoch left out, as Debian names pool files.
    #[must_use]
    pub fn file_name(&self) -> String {
        file_name(&self.name, self.version.as_str(), &self.architecture)
    }
}

/// `name_version_arch.deb`, without the epoch (the colon is not file-name friendly).
#[must_use]
pub fn file_name(name: &str, version: &str, arch: &str) -> String {
    let version = version.split_once(':').map_or(version, |(_, rest)| rest);
    format!("{name}_{version}_{arch}.deb")
}

/// Walk the `ar` archive, check its structure and return the control file's text.
fn control_member(bytes: &[u8]) -> Result<String, String> {
    if !bytes.starts_with(b"!<arch>\n") {
        return Err("not a Debian package (no ar archive signature)".to_owned());
    }
    let mut archive = ar::Archive::new(bytes);
    let mut idx = 0;
    let mut control = None;
    let mut has_data = false;
    while let Some(entry) = archive.next_entry() {
        let mut entry = entry.map_err(|err| format!("damaged or truncated ar archive: {err}"))?;
        let name = String::from_utf8_lossy(entry.header().identifier()).into_owned();
        let declared = entry.header().size();
        let mut content = Vec::with_capacity(usize::try_from(declared.min(1 << 20)).unwrap_or(0));
        let is_data = name.starts_with("data.tar");
        if is_data {
            let copied = io::copy(&mut entry, &mut io::sink())
                .map_err(|err| format!("cannot read member {name}: {err}"))?;
            if copied != declared {
                return Err(format!("truncated: member {name} has {copied} of {declared} bytes"));
            }
        } else {
            entry
                .read_to_end(&mut content)
                .map_err(|err| format!("cannot read member {name}: {err}"))?;
            if content.len() as u64 != declared {
                return Err(format!(
                    "truncated: member {name} has {} of {declared} bytes",
                    content.len()
                ));
            }
        }
        match (idx, name.as_str()) {
            (0, "debian-binary") if !content.starts_with(b"2.") => {
                return Err(format!(
                    "unsupported package format version {:?}",
                    String::from_utf8_lossy(&content).trim()
                ));
            }
            (0, "debian-binary") => {}
            (0, other) => {
                return Err(format!("first member is {other:?}, not debian-binary"));
            }
            (_, member) if member.starts_with("control.tar") => {
                control = Some(read_control_tar(member, &content)?);
            }
            _ if is_data => has_data = true,
            _ => {}
        }
        idx += 1;
    }
    if idx == 0 {
        return Err("empty ar archive".to_owned());
    }
    if !has_data {
        return Err("no data.tar member (truncated or not a binary package)".to_owned());
    }
    control.ok_or_else(|| "no control.tar member".to_owned())
}

fn read_control_tar(member: &str, content: &[u8]) -> Result<String, String> {
    let reader: Box<dyn Read + '_> = match member {
        "control.tar" => Box::new(content),
        "control.tar.gz" => Box::new(flate2::read::GzDecoder::new(content)),
        "control.tar.xz" => Box::new(liblzma::read::XzDecoder::new(content)),
        "control.tar.zst" => Box::new(
            ruzstd::decoding::StreamingDecoder::new(content)
                .map_err(|err| format!("{member}: bad zstd stream: {err}"))?,
        ),
        other => return Err(format!("unsupported control member compression {other:?}")),
    };
    let mut archive = tar::Archive::new(reader);
    let entries = archive.entries().map_err(|err| format!("{member}: {err}"))?;
    for entry in entries {
        let mut entry = entry.map_err(|err| format!("{member} is damaged: {err}"))?;
        let path = entry.path().map_err(|err| format!("{member}: {err}"))?;
        let path = path.to_string_lossy();
        if path == "./control" || path == "control" {
            let mut text = String::new();
            entry
                .read_to_string(&mut text)
                .map_err(|err| format!("control file unreadable or not UTF-8: {err}"))?;
            return Ok(text);
        }
    }
    Err(format!("{member} has no control file"))
}
