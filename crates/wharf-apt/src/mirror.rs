//! What a mirror decides about a remote repository, without any I/O: the keyring its
//! `InRelease` must be signed with, the `Release` (dates, `Acquire-By-Hash`, the SHA-256
//! of every index), which index file to fetch for a component and architecture, the
//! packages a `Packages` file lists, and which of them must be downloaded.

use std::collections::{BTreeMap, HashSet};

use pgp::composed::{
    ArmorOptions, CleartextSignedMessage, Deserializable as _, DetachedSignature, SignedPublicKey,
};
use pgp::packet::Signature;
use pgp::types::KeyDetails as _;

use crate::control::Control;

mod sources;
pub use sources::parse_sources;

/// OpenPGP public keys a remote repository's `Release` must be signed with.
#[derive(Debug, Clone)]
pub struct Keyring {
    keys: Vec<SignedPublicKey>,
}

impl Keyring {
    /// Reads public keys, ASCII-armored (`.asc`) or binary (`.gpg`, what `gpg --export`
    /// and Debian's keyring packages write).
    pub fn parse(bytes: &[u8]) -> Result<Keyring, String> {
        let (keys, _) = SignedPublicKey::from_reader_many(bytes)
            .map_err(|err| format!("not an OpenPGP public keyring: {err}"))?;
        let keys = keys
            .collect::<Result<Vec<_>, _>>()
            .map_err(|err| format!("not an OpenPGP public keyring: {err}"))?;
        if keys.is_empty() {
            return Err("the keyring holds no public key".to_owned());
        }
        Ok(Keyring { keys })
    }

    /// Every key, ASCII-armored one after the other (what [`Keyring::parse`] reads back).
    pub fn to_armored(&self) -> Result<String, String> {
        let mut out = String::new();
        for key in &self.keys {
            out.push_str(
                &key.to_armored_string(ArmorOptions::default()).map_err(|err| err.to_string())?,
            );
        }
        Ok(out)
    }

    /// The primary keys' fingerprints, upper-case hex as gpg prints them.
    #[must_use]
    pub fn fingerprints(&self) -> Vec<String> {
        self.keys.iter().map(|key| hex::encode_upper(key.fingerprint().as_bytes())).collect()
    }

    /// Whether some key of the keyring (primary or subkey) made `signature` over `data`.
    fn verifies(&self, signature: &Signature, data: &[u8]) -> bool {
        self.keys.iter().any(|key| {
            signature.verify(key, data).is_ok()
                || key.public_subkeys.iter().any(|sub| signature.verify(sub, data).is_ok())
        })
    }

    /// Checks a cleartext-signed `InRelease` and returns the `Release` text it signs.
    pub fn verify_inrelease(&self, inrelease: &str) -> Result<String, String> {
        let (message, _) = CleartextSignedMessage::from_string(inrelease)
            .map_err(|err| format!("InRelease is not a cleartext-signed message: {err}"))?;
        let signed = message.signed_text();
        if message.signatures().iter().any(|sig| self.verifies(sig, signed.as_bytes())) {
            return Ok(signed.replace("\r\n", "\n"));
        }
        Err(self.refusal(message.signatures()))
    }

    /// Checks `Release.gpg`, a detached signature over `release`.
    pub fn verify_detached(&self, release: &[u8], signature: &str) -> Result<(), String> {
        let (signatures, _) = DetachedSignature::from_string_many(signature)
            .map_err(|err| format!("Release.gpg is not an OpenPGP signature: {err}"))?;
        let signatures: Vec<Signature> =
            signatures.filter_map(Result::ok).map(|sig| sig.signature).collect();
        if signatures.iter().any(|sig| self.verifies(sig, release)) {
            return Ok(());
        }
        Err(self.refusal(&signatures))
    }

    /// Why no signature verified: made by a key the keyring does not hold, or bad.
    fn refusal(&self, signatures: &[Signature]) -> String {
        let issuers: Vec<String> = signatures
            .iter()
            .flat_map(|sig| {
                let fps =
                    sig.issuer_fingerprint().into_iter().map(|fp| hex::encode_upper(fp.as_bytes()));
                let ids = sig.issuer_key_id().into_iter().map(|id| hex::encode_upper(id.as_ref()));
                fps.chain(ids).collect::<Vec<_>>()
            })
            .collect();
        let known = self.keys.iter().any(|key| {
            let mut ids = vec![hex::encode_upper(key.fingerprint().as_bytes())];
            ids.push(hex::encode_upper(key.legacy_key_id().as_ref()));
            for sub in &key.public_subkeys {
                ids.push(hex::encode_upper(sub.fingerprint().as_bytes()));
                ids.push(hex::encode_upper(sub.legacy_key_id().as_ref()));
            }
            issuers.iter().any(|issuer| ids.contains(issuer))
        });
        if signatures.is_empty() {
            "it carries no signature".to_owned()
        } else if known {
            "the signature does not match the signed text (BAD signature: altered or corrupt)"
                .to_owned()
        } else {
            format!(
                "it is signed by key {}, which the mirror's keyring ({}) does not hold",
                issuers.first().map_or("(unknown)", String::as_str),
                self.fingerprints().join(", ")
            )
        }
    }
}

/// The `Release` text of an `InRelease` whose signature is not checked (a mirror created
/// with `--ignore-signatures`); text that is not a signed message is taken as it is.
#[must_use]
pub fn unverified_release(inrelease: &str) -> String {
    match CleartextSignedMessage::from_string(inrelease) {
        Ok((message, _)) => message.signed_text().replace("\r\n", "\n"),
        Err(_) => inrelease.to_owned(),
    }
}

/// One index file a `Release` lists.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexEntry {
    pub size: u64,
    pub sha256: String,
}

/// What a mirror reads from a remote `Release`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Release {
    /// `Date`, Unix seconds.
    pub date: Option<i64>,
    pub date_text: Option<String>,
    /// `Valid-Until`, Unix seconds.
    pub valid_until: Option<i64>,
    pub acquire_by_hash: bool,
    pub components: Vec<String>,
    pub architectures: Vec<String>,
    /// Path below `dists/DIST/` → size and SHA-256.
    pub sha256: BTreeMap<String, IndexEntry>,
}

impl Release {
    /// Parses a `Release`; one without a `SHA256` list cannot be checked and is refused.
    pub fn parse(text: &str) -> Result<Release, String> {
        let control = Control::parse(text).map_err(|err| format!("Release: {err}"))?;
        let date_of = |field: &str| -> Result<Option<i64>, String> {
            control
                .get(field)
                .map(|value| {
                    crate::index::parse_rfc2822_utc(value)
                        .ok_or_else(|| format!("Release: {field} {value:?} is not a date"))
                })
                .transpose()
        };
        let words = |field: &str| -> Vec<String> {
            control.get(field).unwrap_or_default().split_whitespace().map(str::to_owned).collect()
        };
        let mut sha256 = BTreeMap::new();
        for line in control.get("SHA256").unwrap_or_default().lines() {
            let line = line.trim();
            if line.is_empty() {
                continue;
            }
            let [sha, size, path] = line.split_whitespace().collect::<Vec<_>>()[..] else {
                return Err(format!("Release: SHA256 line {line:?} is not `sha256 size path`"));
            };
            let size = size.parse().map_err(|_| format!("Release: size {size:?} of {path}"))?;
            if sha.len() != 64 || !sha.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(format!("Release: {sha:?} is not a SHA-256 (of {path})"));
            }
            sha256.insert(path.to_owned(), IndexEntry { size, sha256: sha.to_ascii_lowercase() });
        }
        if sha256.is_empty() {
            return Err(
                "Release lists no SHA256 checksums: its indices cannot be checked".to_owned()
            );
        }
        Ok(Release {
            date: date_of("Date")?,
            date_text: control.get("Date").map(str::to_owned),
            valid_until: date_of("Valid-Until")?,
            acquire_by_hash: control
                .get("Acquire-By-Hash")
                .is_some_and(|v| v.eq_ignore_ascii_case("yes")),
            components: words("Components"),
            architectures: words("Architectures"),
            sha256,
        })
    }

    /// Refuses a `Release` that expired (`Valid-Until` passed), is dated in the future
    /// (more than `skew` seconds ahead of `now`) or is older than the one the mirror
    /// used last (`previous`: a replayed, stale repository).
    pub fn check_dates(&self, now: i64, skew: i64, previous: Option<i64>) -> Result<(), String> {
        if let Some(until) = self.valid_until
            && until < now
        {
            return Err(format!(
                "the remote Release expired at {} (Valid-Until): the remote is stale or replayed",
                crate::index::rfc2822_utc(until)
            ));
        }
        if let Some(date) = self.date {
            if date > now + skew {
                return Err(format!(
                    "the remote Release is dated {}, in the future: check this machine's clock",
                    crate::index::rfc2822_utc(date)
                ));
            }
            if let Some(previous) = previous
                && date < previous
            {
                return Err(format!(
                    "the remote Release is dated {}, older than the {} the last update used: the remote went back in time (replayed or rolled back)",
                    crate::index::rfc2822_utc(date),
                    crate::index::rfc2822_utc(previous)
                ));
            }
        }
        Ok(())
    }

    /// The `Packages` file to fetch for `component` and `arch`: `.xz`, else `.gz`, else
    /// plain, as the `Release` lists them; with the URL path below `dists/DIST/` (its
    /// `by-hash` name when the `Release` says `Acquire-By-Hash: yes`).
    #[must_use]
    pub fn packages_index(&self, component: &str, arch: &str) -> Option<IndexRef> {
        self.index(&format!("{component}/binary-{arch}"), "Packages")
    }

    /// The `Sources` file of `component`, chosen as [`Release::packages_index`] does.
    #[must_use]
    pub fn sources_index(&self, component: &str) -> Option<IndexRef> {
        self.index(&format!("{component}/source"), "Sources")
    }

    fn index(&self, dir: &str, base: &str) -> Option<IndexRef> {
        ["xz", "gz", ""].iter().find_map(|ext| {
            let path = if ext.is_empty() {
                format!("{dir}/{base}")
            } else {
                format!("{dir}/{base}.{ext}")
            };
            let entry = self.sha256.get(&path)?;
            let fetch = if self.acquire_by_hash {
                format!("{dir}/by-hash/SHA256/{}", entry.sha256)
            } else {
                path.clone()
            };
            Some(IndexRef { path, fetch, entry: entry.clone() })
        })
    }
}

/// An index file to fetch: its name in the `Release`, the path to request (both below
/// `dists/DIST/`) and what it must hash to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexRef {
    pub path: String,
    pub fetch: String,
    pub entry: IndexEntry,
}

/// The text of a fetched index, decompressed by its name (`.xz`, `.gz` or plain).
pub fn decompress(path: &str, bytes: &[u8]) -> Result<String, String> {
    use std::io::Read as _;
    let mut out = Vec::new();
    let read = if path.ends_with(".xz") {
        liblzma::read::XzDecoder::new_multi_decoder(bytes).read_to_end(&mut out)
    } else if path.ends_with(".gz") {
        flate2::read::MultiGzDecoder::new(bytes).read_to_end(&mut out)
    } else {
        out.extend_from_slice(bytes);
        Ok(out.len())
    };
    read.map_err(|err| format!("{path} does not decompress: {err}"))?;
    String::from_utf8(out).map_err(|_| format!("{path} is not UTF-8 text"))
}

/// A package a remote `Packages` file lists.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemotePackage {
    pub name: String,
    pub version: String,
    pub architecture: String,
    /// Path below the repository root (`pool/main/h/hello/hello_1.0_amd64.deb`).
    pub filename: String,
    pub size: u64,
    pub sha256: String,
    /// The stanza without the file fields, for queries and dependencies.
    pub control: String,
    /// A source package's other files (`filename` is its `.dsc`); empty for a binary.
    pub files: Vec<RemoteFile>,
}

/// A file of a source package, as the remote's `Sources` lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteFile {
    /// Path below the repository root.
    pub path: String,
    pub size: u64,
    pub sha256: String,
}

/// Reads every stanza of a `Packages` file. A stanza without the fields a mirror needs,
/// or whose `Filename` leaves the repository (`..`, absolute), is an error naming it.
pub fn parse_packages(text: &str) -> Result<Vec<RemotePackage>, String> {
    parse_packages_with(text, true)
}

/// [`parse_packages`], keeping each stanza's `control` only when `with_control` (a
/// filter needs it; without one, only the file fields are read: no stanza is parsed
/// whole or rendered again).
pub fn parse_packages_with(text: &str, with_control: bool) -> Result<Vec<RemotePackage>, String> {
    let mut out = Vec::new();
    for stanza in text.split("\n\n") {
        if stanza.trim().is_empty() {
            continue;
        }
        out.push(if with_control { full_stanza(stanza)? } else { lean_stanza(stanza)? });
    }
    Ok(out)
}

/// The fields a mirror needs, in [`checked_package`]'s order.
const NEEDED: [&str; 6] = ["Package", "Version", "Architecture", "Filename", "Size", "SHA256"];

fn full_stanza(stanza: &str) -> Result<RemotePackage, String> {
    let mut control = Control::parse(stanza).map_err(|err| format!("Packages: {err}"))?;
    let fields = NEEDED.map(|name| control.get(name).map(str::to_owned));
    for computed in crate::control::FILE_FIELDS {
        control.remove(computed);
    }
    checked_package(fields, control.render_index())
}

/// Only the single-line fields a mirror needs, read line by line.
fn lean_stanza(stanza: &str) -> Result<RemotePackage, String> {
    let mut fields: [Option<String>; 6] = Default::default();
    for line in stanza.lines() {
        if line.starts_with([' ', '\t']) {
            continue;
        }
        let Some((key, value)) = line.split_once(':') else {
            return Err(format!("Packages: line {line:?} is not a field"));
        };
        if let Some(idx) = NEEDED.iter().position(|name| name.eq_ignore_ascii_case(key)) {
            fields[idx] = Some(value.trim().to_owned());
        }
    }
    checked_package(fields, String::new())
}

/// A package from its [`NEEDED`] fields, refusing missing ones, an unsafe `Filename`,
/// a bad `Size` or `SHA256`.
fn checked_package(fields: [Option<String>; 6], control: String) -> Result<RemotePackage, String> {
    let named = fields[0].clone();
    let mut values = Vec::with_capacity(NEEDED.len());
    for (field, value) in NEEDED.iter().zip(fields) {
        values
            .push(value.ok_or_else(|| {
                format!("Packages: the stanza of {named:?} has no {field} field")
            })?);
    }
    let [name, version, architecture, filename, size, sha256]: [String; 6] =
        values.try_into().map_err(|_| "Packages: a stanza lost a field".to_owned())?;
    if !safe_path(&filename) {
        return Err(format!("Packages: {name} has an unsafe Filename {filename:?}"));
    }
    if sha256.len() != 64 || !sha256.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(format!("Packages: {name} has no valid SHA256 ({sha256:?})"));
    }
    let size = size.parse().map_err(|_| format!("Packages: {name} has Size {size:?}"))?;
    Ok(RemotePackage {
        name,
        version,
        architecture,
        filename,
        size,
        sha256: sha256.to_ascii_lowercase(),
        control,
        files: Vec::new(),
    })
}

/// A relative path that stays inside the repository (no `..`, not absolute, no empty
/// part, printable ASCII).
fn safe_path(path: &str) -> bool {
    !path.starts_with('/')
        && !path.split('/').any(|part| part == ".." || part.is_empty())
        && path.bytes().all(|b| b.is_ascii_graphic())
}

/// Which packages an update downloads and which it already has.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    /// Indices into `wanted` whose file is not stored yet, one per distinct SHA-256.
    pub download: Vec<usize>,
    /// Indices into `wanted` whose file is stored.
    pub reuse: Vec<usize>,
    /// SHA-256s the mirror had that it no longer lists.
    pub removed: Vec<String>,
}

/// Decides an update: `wanted` are the packages selected from the remote, `stored` the
/// SHA-256s whose files and records Wharf has, `current` the mirror's members now.
#[must_use]
pub fn plan<'a>(
    wanted: impl IntoIterator<Item = &'a str>,
    stored: &HashSet<String>,
    current: &[String],
) -> Plan {
    let mut plan = Plan::default();
    let mut seen = HashSet::new();
    for (idx, sha256) in wanted.into_iter().enumerate() {
        if !seen.insert(sha256) {
            continue;
        }
        if stored.contains(sha256) {
            plan.reuse.push(idx);
        } else {
            plan.download.push(idx);
        }
    }
    plan.removed = current.iter().filter(|sha| !seen.contains(sha.as_str())).cloned().collect();
    plan
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHA_A: &str = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    const SHA_B: &str = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";

    fn release(extra: &str) -> String {
        format!(
            "Origin: up\nDate: Sat, 01 Jun 2024 12:00:00 UTC\n{extra}Architectures: amd64\nComponents: main\nSHA256:\n {SHA_A} 120 main/binary-amd64/Packages\n {SHA_B} 80 main/binary-amd64/Packages.gz\n"
        )
    }

    #[test]
    fn release_names_the_index_to_fetch() {
        let plain = Release::parse(&release("")).unwrap();
        assert_eq!(plain.date, Some(1_717_243_200));
        assert_eq!(
            (plain.components.clone(), plain.architectures.clone()),
            (vec!["main".to_owned()], vec!["amd64".to_owned()])
        );
        let index = plain.packages_index("main", "amd64").unwrap();
        assert_eq!(
            (index.path.as_str(), index.fetch.as_str()),
            ("main/binary-amd64/Packages.gz", "main/binary-amd64/Packages.gz")
        );
        assert_eq!(index.entry, IndexEntry { size: 80, sha256: SHA_B.into() });
        let by_hash = Release::parse(&release("Acquire-By-Hash: yes\n")).unwrap();
        let index = by_hash.packages_index("main", "amd64").unwrap();
        assert_eq!(index.fetch, format!("main/binary-amd64/by-hash/SHA256/{SHA_B}"));
        assert_eq!(plain.packages_index("contrib", "amd64"), None);
        assert_eq!(plain.packages_index("main", "arm64"), None);
    }

    #[test]
    fn bad_releases_are_refused_saying_why() {
        for (text, needle) in [
            ("Origin: x\n".to_owned(), "no SHA256"),
            (release("").replace("Sat, 01 Jun 2024 12:00:00 UTC", "yesterday"), "is not a date"),
            (release("").replace(" 120 ", " many "), "size \"many\""),
            (release("").replace(SHA_A, "abc"), "is not a SHA-256"),
        ] {
            let err = Release::parse(&text).unwrap_err();
            assert!(err.contains(needle), "{needle}: {err}");
        }
    }

    #[test]
    fn dates_are_checked_against_now_and_the_last_update() {
        let date = 1_717_243_200;
        let with_until =
            Release::parse(&release("Valid-Until: Sun, 02 Jun 2024 12:00:00 UTC\n")).unwrap();
        let day = 86_400;
        for (release, now, previous, expected) in [
            (&with_until, date + 60, None, None),
            (&with_until, date + 2 * day, None, Some("expired")),
            (&with_until, date - 3600, None, Some("in the future")),
            (&with_until, date - 60, None, None),
            (&with_until, date + 60, Some(date + 1), Some("went back in time")),
            (&with_until, date + 60, Some(date), None),
        ] {
            let result = release.check_dates(now, 300, previous);
            match expected {
                None => assert!(result.is_ok(), "{now}: {result:?}"),
                Some(needle) => assert!(result.unwrap_err().contains(needle), "{needle}"),
            }
        }
    }

    fn stanza(name: &str, sha: &str, filename: &str) -> String {
        format!(
            "Package: {name}\nVersion: 1.0\nArchitecture: amd64\nMaintainer: m <m@x>\nFilename: {filename}\nSize: 10\nMD5sum: 00\nSHA256: {sha}\nDescription: d\n long\n"
        )
    }

    #[test]
    fn packages_are_read_and_unsafe_names_refused() {
        let text = format!(
            "{}\n{}",
            stanza("aa", SHA_A, "pool/main/a/aa/aa_1.0_amd64.deb"),
            stanza("bb", SHA_B, "pool/main/b/bb/bb_1.0_amd64.deb")
        );
        let packages = parse_packages(&text).unwrap();
        assert_eq!(packages.len(), 2);
        let lean = parse_packages_with(&text, false).unwrap();
        let without_control: Vec<RemotePackage> = packages
            .iter()
            .map(|p| RemotePackage { control: String::new(), ..p.clone() })
            .collect();
        assert_eq!(lean, without_control);
        assert_eq!((packages[1].name.as_str(), packages[1].size), ("bb", 10));
        assert_eq!(
            packages[0].control,
            "Package: aa\nVersion: 1.0\nArchitecture: amd64\nMaintainer: m <m@x>\nDescription: d\n long\n"
        );
        for (bad, needle) in [
            (stanza("aa", SHA_A, "../../etc/passwd"), "unsafe Filename"),
            (stanza("aa", SHA_A, "/etc/passwd"), "unsafe Filename"),
            (stanza("aa", SHA_A, "pool//x.deb"), "unsafe Filename"),
            (stanza("aa", "nope", "pool/a.deb"), "no valid SHA256"),
            (stanza("aa", SHA_A, "pool/a.deb").replace("Size: 10\n", ""), "no Size field"),
        ] {
            for with_control in [true, false] {
                let err = parse_packages_with(&bad, with_control).unwrap_err();
                assert!(err.contains(needle), "{needle}: {err}");
            }
        }
    }

    #[test]
    fn indices_decompress_by_name() {
        use std::io::Write as _;
        let text = "Package: a\n";
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(text.as_bytes()).unwrap();
        let gz = gz.finish().unwrap();
        let mut xz = liblzma::write::XzEncoder::new(Vec::new(), 1);
        xz.write_all(text.as_bytes()).unwrap();
        let xz = xz.finish().unwrap();
        assert_eq!(decompress("x/Packages.gz", &gz).unwrap(), text);
        assert_eq!(decompress("x/Packages.xz", &xz).unwrap(), text);
        assert_eq!(decompress("x/Packages", text.as_bytes()).unwrap(), text);
        assert!(decompress("x/Packages.xz", &gz).unwrap_err().contains("does not decompress"));
    }

    #[test]
    fn plans_download_only_what_is_not_stored() {
        let package = |name: &str, sha: &str| RemotePackage {
            name: name.into(),
            version: "1".into(),
            architecture: "amd64".into(),
            filename: format!("pool/{name}.deb"),
            size: 1,
            sha256: sha.into(),
            control: String::new(),
            files: Vec::new(),
        };
        let wanted =
            [package("a", "1"), package("b", "2"), package("b-again", "2"), package("c", "3")];
        let stored: HashSet<String> = ["2".to_owned(), "9".to_owned()].into();
        let current = ["2".to_owned(), "9".to_owned()];
        let planned = plan(wanted.iter().map(|p| p.sha256.as_str()), &stored, &current);
        assert_eq!(
            planned,
            Plan { download: vec![0, 3], reuse: vec![1], removed: vec!["9".into()] }
        );
        assert_eq!(plan([], &stored, &[]), Plan::default());
    }
}
