//! Source packages: a `.dsc` (`dsc(5)`) and the files it lists, checked against its
//! `Files`/`Checksums-*` fields, and its `Sources` stanza exactly as `dpkg-scansources`
//! prints it (`Source` renamed `Package`, the `.dsc` itself first in every file list,
//! fields in `CTRL_INDEX_SRC` order, `Directory` added where the repository puts it).
//!
//! A source package is stored as one package row of architecture `source`: the `.dsc`'s
//! digests, and as its control the `Sources` stanza without `Directory`, whose
//! `Checksums-Sha256` names every file ([`stanza_files`]).

use std::fmt::Write as _;

use wharf_core::version::Version;

use crate::control::{Control, check_package_name};
use crate::deb::FileDigest;
use crate::keyring::{Clearsigned, Keyring, SignatureError};

/// Field order of a `Sources` stanza (`Dpkg::Control::FieldsCore`, `CTRL_INDEX_SRC`).
const SOURCES_ORDER: &[&str] = &[
    "Format",
    "Package",
    "Binary",
    "Architecture",
    "Version",
    "Priority",
    "Section",
    "Origin",
    "Maintainer",
    "Uploaders",
    "Homepage",
    "Description",
    "Standards-Version",
    "Vcs-Browser",
    "Vcs-Arch",
    "Vcs-Bzr",
    "Vcs-Cvs",
    "Vcs-Darcs",
    "Vcs-Git",
    "Vcs-Hg",
    "Vcs-Mtn",
    "Vcs-Svn",
    "Testsuite",
    "Testsuite-Triggers",
    "Build-Depends",
    "Build-Depends-Arch",
    "Build-Depends-Indep",
    "Build-Conflicts",
    "Build-Conflicts-Arch",
    "Build-Conflicts-Indep",
    "Package-List",
    "Directory",
    "Checksums-Md5",
    "Checksums-Sha1",
    "Checksums-Sha256",
    "Files",
];

/// The architecture a source package is stored and queried under (`$Architecture
/// (source)` in aptly's query language).
pub const SOURCE_ARCHITECTURE: &str = "source";

/// A file a `.dsc` lists, with what it says about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceFile {
    pub name: String,
    pub size: u64,
    pub md5: String,
    pub sha1: Option<String>,
    pub sha256: String,
}

/// A parsed, checked `.dsc`.
#[derive(Debug, Clone)]
pub struct Dsc {
    pub name: String,
    pub version: Version,
    /// In the order of its `Files` field.
    pub files: Vec<SourceFile>,
    /// Fingerprint of the key that signed it, when a keyring checked it.
    pub signed_by: Option<String>,
    control: Control,
}

/// Why a `.dsc` (or a file it lists) was refused; names the file.
#[derive(Debug, thiserror::Error)]
pub enum DscError {
    #[error("{file}: {reason}")]
    Invalid { file: String, reason: String },
    #[error(transparent)]
    Signature(#[from] SignatureError),
}

fn invalid(file: &str, reason: impl Into<String>) -> DscError {
    DscError::Invalid { file: file.to_owned(), reason: reason.into() }
}

/// One line of a checksum list: `DIGEST SIZE NAME`.
pub(crate) fn checksum_lines(
    file: &str,
    field: &str,
    value: &str,
    digest_len: usize,
) -> Result<Vec<(String, u64, String)>, DscError> {
    let mut out = Vec::new();
    for line in value.lines().filter(|line| !line.trim().is_empty()) {
        let parts: Vec<&str> = line.split_whitespace().collect();
        let [digest, size, name] = parts.as_slice() else {
            return Err(invalid(file, format!("{field}: line {line:?} is not `DIGEST SIZE NAME`")));
        };
        if digest.len() != digest_len || !digest.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(invalid(file, format!("{field}: {digest:?} is not a digest of {name}")));
        }
        let size: u64 =
            size.parse().map_err(|_| invalid(file, format!("{field}: bad size of {name}")))?;
        check_file_name(name).map_err(|why| invalid(file, format!("{field}: {why}")))?;
        out.push((digest.to_ascii_lowercase(), size, (*name).to_owned()));
    }
    Ok(out)
}

/// A listed file must be a plain name in the `.dsc`'s directory.
pub fn check_file_name(name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && !name.starts_with('.')
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b"+-.~_".contains(&b));
    if ok { Ok(()) } else { Err(format!("file name {name:?} is not a plain package file name")) }
}

/// A control file as read: its stanza, whether it was signed, and the fingerprint of the
/// key whose signature verified (with a keyring).
pub(crate) struct ReadControl {
    pub(crate) control: Control,
    pub(crate) signed: bool,
    pub(crate) signed_by: Option<String>,
}

impl ReadControl {
    /// Reads the (possibly clearsigned) control file named `file`; with a keyring, a
    /// signature must verify against it.
    pub(crate) fn read(
        file: &str,
        input: &str,
        keyring: Option<&Keyring>,
    ) -> Result<ReadControl, DscError> {
        let read = Clearsigned::parse(file, input)?;
        let signed_by = match keyring {
            Some(keyring) => read.verify(file, keyring)?,
            None => None,
        };
        let control = Control::parse(&read.text)
            .map_err(|err| invalid(file, format!("not a control file: {err}")))?;
        Ok(ReadControl { control, signed: read.is_signed(), signed_by })
    }

    /// A field that must be there and not be empty.
    pub(crate) fn field(&self, file: &str, name: &str) -> Result<&str, DscError> {
        self.control
            .get(name)
            .filter(|v| !v.trim().is_empty())
            .ok_or_else(|| invalid(file, format!("the {name} field is missing")))
    }

    /// An optional checksum list (`Checksums-Sha1`); empty when absent.
    pub(crate) fn optional_list(
        &self,
        file: &str,
        name: &str,
        digest_len: usize,
    ) -> Result<Vec<(String, u64, String)>, DscError> {
        match self.control.get(name) {
            Some(value) => checksum_lines(file, name, value, digest_len),
            None => Ok(Vec::new()),
        }
    }
}

/// The digest `list` (field `field`) gives for `name`, which `Files` says is `size`
/// bytes: `None` when it does not list it, an error when it says another size.
pub(crate) fn listed_digest(
    file: &str,
    list: &[(String, u64, String)],
    field: &str,
    name: &str,
    size: u64,
) -> Result<Option<String>, DscError> {
    match list.iter().find(|(_, _, n)| n == name) {
        Some((digest, other, _)) if *other == size => Ok(Some(digest.clone())),
        Some(_) => Err(invalid(file, format!("{field} and Files disagree on the size of {name}"))),
        None => Ok(None),
    }
}

impl Dsc {
    /// Parses the `.dsc` named `file` (clearsigned or not). With a keyring, a signed
    /// `.dsc` must verify against it; an unsigned one is accepted (the caller decides).
    pub fn parse(file: &str, input: &str, keyring: Option<&Keyring>) -> Result<Dsc, DscError> {
        let read = ReadControl::read(file, input, keyring)?;
        let field = |name: &str| read.field(file, name);
        let name = field("Source")?.to_owned();
        check_package_name(&name).map_err(|why| invalid(file, why))?;
        let version: Version = field("Version")?
            .parse()
            .map_err(|err| invalid(file, format!("bad Version: {err}")))?;
        field("Format")?;
        field("Binary")?;
        let md5 = checksum_lines(file, "Files", field("Files")?, 32)?;
        let sha256 = checksum_lines(file, "Checksums-Sha256", field("Checksums-Sha256")?, 64)?;
        let sha1 = read.optional_list(file, "Checksums-Sha1", 40)?;
        let mut files = Vec::with_capacity(md5.len());
        for (md5, size, name) in md5 {
            if files.iter().any(|f: &SourceFile| f.name == name) {
                return Err(invalid(file, format!("Files lists {name} twice")));
            }
            let sha256 = listed_digest(file, &sha256, "Checksums-Sha256", &name, size)?
                .ok_or_else(|| invalid(file, format!("Checksums-Sha256 does not list {name}")))?;
            let sha1 = listed_digest(file, &sha1, "Checksums-Sha1", &name, size)?;
            files.push(SourceFile { name, size, md5, sha1, sha256 });
        }
        if let Some((_, _, extra)) =
            sha256.iter().find(|(_, _, n)| !files.iter().any(|f| f.name == *n))
        {
            return Err(invalid(
                file,
                format!("Checksums-Sha256 lists {extra}, which Files does not"),
            ));
        }
        Ok(Dsc { name, version, files, signed_by: read.signed_by, control: read.control })
    }

    /// Checks `bytes` against what the `.dsc` (named `dsc_file`) says of `file`; the
    /// file's digests on success.
    pub fn check_file(
        dsc_file: &str,
        file: &SourceFile,
        bytes: &[u8],
    ) -> Result<FileDigest, DscError> {
        let digest = FileDigest::of(bytes);
        let mismatch = |what: &str, listed: &str, actual: &str| {
            invalid(
                dsc_file,
                format!(
                    "{} does not match: {what} is {actual}, the .dsc says {listed}; copy the file again or rebuild the source package",
                    file.name
                ),
            )
        };
        if digest.size != file.size {
            return Err(mismatch("its size", &file.size.to_string(), &digest.size.to_string()));
        }
        if digest.sha256 != file.sha256 {
            return Err(mismatch("its SHA-256", &file.sha256, &digest.sha256));
        }
        if let Some(sha1) = &file.sha1
            && digest.sha1 != *sha1
        {
            return Err(mismatch("its SHA-1", sha1, &digest.sha1));
        }
        if digest.md5 != file.md5 {
            return Err(mismatch("its MD5", &file.md5, &digest.md5));
        }
        Ok(digest)
    }

    /// The `Sources` stanza without `Directory` (see [`with_directory`]), the `.dsc`
    /// itself (`dsc_name`, `dsc`) first in each file list; `files` are the listed files'
    /// digests in the `.dsc`'s order.
    #[must_use]
    pub fn sources_stanza(&self, dsc_name: &str, dsc: &FileDigest, files: &[FileDigest]) -> String {
        let mut control = self.control.clone();
        let source = control.get("Source").unwrap_or_default().to_owned();
        control.remove("Source");
        control.set("Package", source);
        let all: Vec<(&str, &FileDigest)> = std::iter::once((dsc_name, dsc))
            .chain(self.files.iter().map(|f| f.name.as_str()).zip(files))
            .collect();
        let list = |digest: fn(&FileDigest) -> &str| {
            let mut out = String::new();
            for (name, d) in &all {
                let _ = write!(out, "\n{} {} {name}", digest(d), d.size);
            }
            out
        };
        control.set("Checksums-Sha1", list(|d| &d.sha1));
        control.set("Checksums-Sha256", list(|d| &d.sha256));
        control.set("Files", list(|d| &d.md5));
        control.render_ordered(SOURCES_ORDER)
    }
}

/// Inserts `Directory: DIR` where `dpkg-scansources` puts it: before the checksum lists
/// and any field of a name it does not know.
#[must_use]
pub fn with_directory(stanza: &str, directory: &str) -> String {
    let at = SOURCES_ORDER.iter().position(|f| *f == "Directory").unwrap_or(0);
    let fields = format!("Directory: {directory}\n");
    crate::control::insert_fields(stanza, &SOURCES_ORDER[..at], &fields)
}

/// The files a stored `Sources` stanza names (the `.dsc` first): (name, size, SHA-256),
/// from its `Checksums-Sha256`.
#[must_use]
pub fn stanza_files(stanza: &str) -> Vec<(String, u64, String)> {
    let mut out = Vec::new();
    let mut inside = false;
    for line in stanza.lines() {
        if let Some(rest) = line.strip_prefix(' ') {
            if inside {
                let mut parts = rest.split_whitespace();
                if let (Some(sha), Some(size), Some(name)) =
                    (parts.next(), parts.next(), parts.next())
                {
                    out.push((name.to_owned(), size.parse().unwrap_or(0), sha.to_owned()));
                }
            }
        } else {
            inside = line.starts_with("Checksums-Sha256:");
        }
    }
    out
}

/// The `Sources` sort order of `dpkg-scansources`: `Package . Version` as bytes.
#[must_use]
pub fn sort_key(name: &str, version: &str) -> String {
    format!("{name}{version}")
}

#[cfg(test)]
mod tests {
    use super::*;

    const DSC: &str = "Format: 3.0 (quilt)\nSource: hello\nBinary: hello\nArchitecture: all\nVersion: 1.0-1\nMaintainer: T <t@example.com>\nHomepage: https://example.com\nStandards-Version: 4.6.2\nBuild-Depends: debhelper-compat (= 13)\nX-Zed: 1\nPackage-List:\n hello deb utils optional arch=all\nChecksums-Sha1:\n 97a61834f9c08aa8b9b10ffb971268d3d61460e0 3 hello_1.0.orig.tar.gz\nChecksums-Sha256:\n ac3c1808762d9276f39ff512aa4a0be806d2055e640824c85edc72b49285da51 3 hello_1.0.orig.tar.gz\nFiles:\n 8b958299846c3fe92a1915d3611b4371 3 hello_1.0.orig.tar.gz\n";

    #[test]
    fn parses_and_renders_in_dpkg_scansources_order() {
        let dsc = Dsc::parse("hello_1.0-1.dsc", DSC, None).unwrap();
        assert_eq!(dsc.name, "hello");
        assert_eq!(dsc.files.len(), 1);
        let own =
            FileDigest { size: 10, md5: "m".into(), sha1: "s1".into(), sha256: "s256".into() };
        let orig =
            FileDigest { size: 3, md5: "om".into(), sha1: "os1".into(), sha256: "os256".into() };
        let stanza = dsc.sources_stanza("hello_1.0-1.dsc", &own, &[orig]);
        let published = with_directory(&stanza, "pool/main/h/hello");
        assert_eq!(
            published,
            "Format: 3.0 (quilt)\nPackage: hello\nBinary: hello\nArchitecture: all\nVersion: 1.0-1\nMaintainer: T <t@example.com>\nHomepage: https://example.com\nStandards-Version: 4.6.2\nBuild-Depends: debhelper-compat (= 13)\nPackage-List:\n hello deb utils optional arch=all\nDirectory: pool/main/h/hello\nChecksums-Sha1:\n s1 10 hello_1.0-1.dsc\n os1 3 hello_1.0.orig.tar.gz\nChecksums-Sha256:\n s256 10 hello_1.0-1.dsc\n os256 3 hello_1.0.orig.tar.gz\nFiles:\n m 10 hello_1.0-1.dsc\n om 3 hello_1.0.orig.tar.gz\nX-Zed: 1\n"
        );
        assert_eq!(
            stanza_files(&stanza),
            [
                ("hello_1.0-1.dsc".into(), 10, "s256".into()),
                ("hello_1.0.orig.tar.gz".into(), 3, "os256".into())
            ]
        );
    }

    #[test]
    fn refuses_broken_dsc_files_naming_the_problem() {
        let cases = [
            (DSC.replace("Source: hello\n", ""), "Source field is missing"),
            (DSC.replace("Version: 1.0-1", "Version: a:b"), "bad Version"),
            (DSC.replace(" 8b958299846c3fe92a1915d3611b4371 3", " 8b958299846c3fe92a1915d3611b4371 4"), "disagree on the size"),
            (DSC.replace("hello_1.0.orig.tar.gz\nFiles", "../etc/passwd\nFiles"), "not a plain package file name"),
            (DSC.replace("Checksums-Sha256:\n ac3c1808762d9276f39ff512aa4a0be806d2055e640824c85edc72b49285da51 3 hello_1.0.orig.tar.gz\n", ""), "Checksums-Sha256 field is missing"),
        ];
        for (text, expected) in cases {
            let err = Dsc::parse("x.dsc", &text, None).unwrap_err().to_string();
            assert!(err.contains(expected) && err.starts_with("x.dsc: "), "{expected}: {err}");
        }
    }

    #[test]
    fn checks_each_file_against_the_dsc() {
        let dsc = Dsc::parse("x.dsc", DSC, None).unwrap();
        let mut file = dsc.files[0].clone();
        let bytes = b"abc";
        let digest = FileDigest::of(bytes);
        file.sha256.clone_from(&digest.sha256);
        file.sha1 = Some(digest.sha1.clone());
        file.md5.clone_from(&digest.md5);
        assert_eq!(Dsc::check_file("x.dsc", &file, bytes).unwrap(), digest);
        let err = Dsc::check_file("x.dsc", &file, b"abd").unwrap_err().to_string();
        assert!(err.contains("hello_1.0.orig.tar.gz does not match: its SHA-256"), "{err}");
        let err = Dsc::check_file("x.dsc", &file, b"abcd").unwrap_err().to_string();
        assert!(err.contains("its size is 4, the .dsc says 3"), "{err}");
    }
}
