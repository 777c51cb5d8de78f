//! `.changes` uploads (`deb-changes(5)`): what `dpkg-genchanges` writes and `dput`
//! sends. [`Changes::parse`] reads one (clearsigned or not) and the files it lists;
//! [`Changes::check_file`] checks a file's size and digests against it. Whether an
//! unsigned upload is acceptable, and what to do with the files, is the caller's.

use crate::deb::FileDigest;
use crate::dsc::{
    DscError, ReadControl, SourceFile, check_file_name, checksum_lines, listed_digest,
};
use crate::keyring::Keyring;

/// A parsed `.changes`.
#[derive(Debug, Clone)]
pub struct Changes {
    pub source: String,
    pub version: String,
    pub distribution: String,
    /// Every listed file, in the order of its `Files` field.
    pub files: Vec<SourceFile>,
    /// Whether the file was clearsigned.
    pub signed: bool,
    /// Fingerprint of the key whose signature verified, when a keyring checked it.
    pub signed_by: Option<String>,
}

fn invalid(file: &str, reason: impl Into<String>) -> DscError {
    DscError::Invalid { file: file.to_owned(), reason: reason.into() }
}

impl Changes {
    /// Parses the `.changes` named `file`. With a keyring, a signed file must verify
    /// against it (an unsigned one is returned with `signed: false`).
    pub fn parse(file: &str, input: &str, keyring: Option<&Keyring>) -> Result<Changes, DscError> {
        let read = ReadControl::read(file, input, keyring)?;
        let field = |name: &str| read.field(file, name);
        let source = field("Source")?.split_whitespace().next().unwrap_or_default().to_owned();
        let version = field("Version")?.to_owned();
        let distribution = field("Distribution")?.to_owned();
        let sha256 = checksum_lines(file, "Checksums-Sha256", field("Checksums-Sha256")?, 64)?;
        let sha1 = read.optional_list(file, "Checksums-Sha1", 40)?;
        let mut files: Vec<SourceFile> = Vec::new();
        for line in field("Files")?.lines().filter(|line| !line.trim().is_empty()) {
            // MD5 SIZE SECTION PRIORITY NAME
            let parts: Vec<&str> = line.split_whitespace().collect();
            let [md5, size, _section, _priority, name] = parts.as_slice() else {
                return Err(invalid(
                    file,
                    format!("Files: line {line:?} is not `MD5 SIZE SECTION PRIORITY NAME`"),
                ));
            };
            check_file_name(name).map_err(|why| invalid(file, format!("Files: {why}")))?;
            if md5.len() != 32 || !md5.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(invalid(file, format!("Files: {md5:?} is not the MD5 of {name}")));
            }
            let size: u64 =
                size.parse().map_err(|_| invalid(file, format!("Files: bad size of {name}")))?;
            if files.iter().any(|f| f.name == *name) {
                return Err(invalid(file, format!("Files lists {name} twice")));
            }
            let sha256 = listed_digest(file, &sha256, "Checksums-Sha256", name, size)?
                .ok_or_else(|| invalid(file, format!("Checksums-Sha256 does not list {name}")))?;
            files.push(SourceFile {
                name: (*name).to_owned(),
                size,
                md5: md5.to_ascii_lowercase(),
                sha1: listed_digest(file, &sha1, "Checksums-Sha1", name, size)?,
                sha256,
            });
        }
        Ok(Changes {
            source,
            version,
            distribution,
            files,
            signed: read.signed,
            signed_by: read.signed_by,
        })
    }

    /// Checks a listed file's bytes against the `.changes` (named `changes_file`).
    pub fn check_file(
        changes_file: &str,
        file: &SourceFile,
        bytes: &[u8],
    ) -> Result<FileDigest, DscError> {
        crate::dsc::Dsc::check_file(changes_file, file, bytes).map_err(|err| match err {
            DscError::Invalid { file, reason } => DscError::Invalid {
                file,
                reason: reason.replace("the .dsc says", "the .changes says"),
            },
            other => other,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CHANGES: &str = "Format: 1.8\nDate: Mon, 01 Jan 2024 00:00:00 +0000\nSource: hello\nBinary: hello\nArchitecture: source all\nVersion: 1.0-1\nDistribution: unstable\nMaintainer: T <t@example.com>\nChanges:\n hello (1.0-1) unstable; urgency=low\nChecksums-Sha256:\n ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad 3 hello_1.0-1_all.deb\nFiles:\n 900150983cd24fb0d6963f7d28e17f72 3 utils optional hello_1.0-1_all.deb\n";

    #[test]
    fn parses_the_files_of_an_upload() {
        let changes = Changes::parse("hello.changes", CHANGES, None).unwrap();
        assert_eq!((changes.source.as_str(), changes.version.as_str()), ("hello", "1.0-1"));
        assert!(!changes.signed);
        let [file] = changes.files.as_slice() else { panic!("{:?}", changes.files) };
        assert_eq!(file.name, "hello_1.0-1_all.deb");
        assert_eq!(Changes::check_file("hello.changes", file, b"abc").unwrap().size, 3);
        let err = Changes::check_file("hello.changes", file, b"abd").unwrap_err().to_string();
        assert!(err.contains("the .changes says"), "{err}");
    }

    #[test]
    fn refuses_inconsistent_lists() {
        for (text, expected) in [
            (CHANGES.replace(" 3 utils", " 4 utils"), "disagree on the size"),
            (
                CHANGES.replace("optional hello_1.0-1_all.deb", "optional ../x.deb"),
                "plain package file name",
            ),
            (CHANGES.replace("Distribution: unstable\n", ""), "Distribution field is missing"),
            (CHANGES.replace(" utils optional", ""), "MD5 SIZE SECTION PRIORITY NAME"),
        ] {
            let err = Changes::parse("u.changes", &text, None).unwrap_err().to_string();
            assert!(err.contains(expected), "{expected}: {err}");
        }
    }
}
