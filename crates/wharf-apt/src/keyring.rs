//! Uploaders' keys and clearsigned control files (`.dsc`, `.changes`): [`Keyring`] reads
//! the public keys an operator trusts (ASCII-armored or binary, as `gpg --export [-a]`
//! writes them, several keys to a file), and [`Clearsigned::parse`] splits a file into
//! its text and, when signed, the signature to check against them.

use std::path::{Path, PathBuf};

use pgp::composed::{CleartextSignedMessage, PublicOrSecret, SignedPublicKey};
use pgp::types::KeyDetails as _;

/// Why a keyring or a signature was refused; always names the file.
#[derive(Debug, thiserror::Error)]
pub enum SignatureError {
    #[error("cannot read uploaders keyring {}: {source}", path.display())]
    KeyringIo { path: PathBuf, source: std::io::Error },
    #[error(
        "uploaders keyring {} holds no usable OpenPGP public key ({reason}): export one with `gpg --export -a KEYID > FILE`",
        path.display()
    )]
    KeyringInvalid { path: PathBuf, reason: String },
    #[error("{file}: the OpenPGP signature block cannot be read ({reason})")]
    Malformed { file: String, reason: String },
    #[error(
        "{file}: signed by key {issuer}, which is not in the uploaders keyring {}: add the uploader's key to it, or sign with a key it holds",
        keyring.display()
    )]
    UnknownKey { file: String, issuer: String, keyring: PathBuf },
    #[error(
        "{file}: the signature does not verify against key {issuer} of {}: the file was changed after signing, or signed by another key",
        keyring.display()
    )]
    BadSignature { file: String, issuer: String, keyring: PathBuf },
}

/// The public keys of the people and machines allowed to upload.
#[derive(Debug, Clone)]
pub struct Keyring {
    path: PathBuf,
    keys: Vec<SignedPublicKey>,
}

impl Keyring {
    /// Reads every public key in `path` (armored or binary); a secret key counts as its
    /// public half.
    pub fn load(path: &Path) -> Result<Keyring, SignatureError> {
        let bytes = std::fs::read(path)
            .map_err(|source| SignatureError::KeyringIo { path: path.to_owned(), source })?;
        let invalid =
            |reason: String| SignatureError::KeyringInvalid { path: path.to_owned(), reason };
        let parsed: Vec<_> = if bytes.starts_with(b"-----BEGIN") {
            PublicOrSecret::from_armor_many(&bytes[..])
                .map_err(|err| invalid(err.to_string()))?
                .0
                .collect()
        } else {
            PublicOrSecret::from_bytes_many(&bytes[..])
                .map_err(|err| invalid(err.to_string()))?
                .collect()
        };
        let mut keys = Vec::new();
        for key in parsed {
            match key.map_err(|err| invalid(err.to_string()))? {
                PublicOrSecret::Public(key) => keys.push(key),
                PublicOrSecret::Secret(key) => keys.push(SignedPublicKey::from(key)),
            }
        }
        if keys.is_empty() {
            return Err(invalid("the file is empty".to_owned()));
        }
        Ok(Keyring { path: path.to_owned(), keys })
    }

    #[must_use]
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Fingerprints of the keys, upper-case hex.
    #[must_use]
    pub fn fingerprints(&self) -> Vec<String> {
        self.keys.iter().map(|key| hex::encode_upper(key.fingerprint().as_bytes())).collect()
    }
}

/// A control file as read: its text (without the signature armor) and, when it was
/// clearsigned, the signature.
#[derive(Debug)]
pub struct Clearsigned {
    /// The signed text, as `gpg --decrypt` would print it (dash-escaping undone, LF line
    /// ends).
    pub text: String,
    message: Option<CleartextSignedMessage>,
}

impl Clearsigned {
    /// Splits `input` (named `file` in errors). Text without a `-----BEGIN PGP SIGNED
    /// MESSAGE-----` line is unsigned; one with it must be a well-formed clearsigned
    /// message.
    pub fn parse(file: &str, input: &str) -> Result<Clearsigned, SignatureError> {
        let start = input.lines().position(|line| line == "-----BEGIN PGP SIGNED MESSAGE-----");
        let Some(start) = start else {
            return Ok(Clearsigned { text: input.to_owned(), message: None });
        };
        let armored: String = input.lines().skip(start).flat_map(|line| [line, "\n"]).collect();
        let (message, _) = CleartextSignedMessage::from_string(&armored).map_err(|err| {
            SignatureError::Malformed { file: file.to_owned(), reason: err.to_string() }
        })?;
        let mut text = message.signed_text().replace("\r\n", "\n");
        if !text.ends_with('\n') {
            text.push('\n');
        }
        Ok(Clearsigned { text, message: Some(message) })
    }

    /// Whether the file carried a signature.
    #[must_use]
    pub fn is_signed(&self) -> bool {
        self.message.is_some()
    }

    /// Checks the signature against `keyring`; returns the fingerprint of the key that
    /// made it (upper-case hex). An unsigned file is `Ok(None)`: callers decide whether
    /// that is acceptable.
    pub fn verify(&self, file: &str, keyring: &Keyring) -> Result<Option<String>, SignatureError> {
        let Some(message) = &self.message else { return Ok(None) };
        let signed = message.signed_text();
        let issuers: Vec<String> = message
            .signatures()
            .iter()
            .flat_map(|sig| {
                let by_fpr =
                    sig.issuer_fingerprint().into_iter().map(|f| hex::encode_upper(f.as_bytes()));
                let by_id =
                    sig.issuer_key_id().into_iter().map(|id| hex::encode_upper(id.as_ref()));
                by_fpr.chain(by_id).collect::<Vec<_>>()
            })
            .collect();
        let issuer = issuers.first().cloned().unwrap_or_else(|| "(unnamed)".to_owned());
        let mut known = false;
        for key in &keyring.keys {
            let primary_id = hex::encode_upper(key.legacy_key_id().as_ref());
            let primary_fpr = hex::encode_upper(key.fingerprint().as_bytes());
            let subkeys = key.public_subkeys.iter().map(|sub| {
                (
                    hex::encode_upper(sub.legacy_key_id().as_ref()),
                    hex::encode_upper(sub.fingerprint().as_bytes()),
                )
            });
            let matches = |(id, fpr): &(String, String)| {
                issuers.iter().any(|issuer| issuer == id || issuer == fpr)
            };
            if matches(&(primary_id, primary_fpr.clone())) {
                known = true;
                if message.signatures().iter().any(|sig| sig.verify(key, signed.as_bytes()).is_ok())
                {
                    return Ok(Some(primary_fpr));
                }
            }
            for (sub, ids) in key.public_subkeys.iter().zip(subkeys) {
                if matches(&ids) {
                    known = true;
                    if message
                        .signatures()
                        .iter()
                        .any(|sig| sig.verify(&sub.key, signed.as_bytes()).is_ok())
                    {
                        return Ok(Some(primary_fpr));
                    }
                }
            }
        }
        let (file, keyring) = (file.to_owned(), keyring.path.clone());
        if known {
            Err(SignatureError::BadSignature { file, issuer, keyring })
        } else {
            Err(SignatureError::UnknownKey { file, issuer, keyring })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sign::SigningKey;

    fn keyring_of(dir: &Path, key: &SigningKey) -> Keyring {
        let path = dir.join("uploaders.asc");
        std::fs::write(&path, key.public_armored().unwrap()).unwrap();
        Keyring::load(&path).unwrap()
    }

    #[test]
    fn verifies_signed_text_and_names_what_is_wrong() {
        let dir = tempfile::tempdir().unwrap();
        let uploader = SigningKey::generate("Uploader <u@example.invalid>").unwrap();
        let stranger = SigningKey::generate("Stranger <s@example.invalid>").unwrap();
        let keyring = keyring_of(dir.path(), &uploader);
        let text = "Source: hello\nVersion: 1.0\n- dashed line\n";
        let signed = uploader.clearsign(text).unwrap();

        let read = Clearsigned::parse("x.dsc", &signed).unwrap();
        assert!(read.is_signed());
        assert_eq!(read.text, text);
        assert_eq!(read.verify("x.dsc", &keyring).unwrap(), Some(uploader.fingerprint()));

        let tampered = signed.replace("Version: 1.0", "Version: 1.1");
        let err = Clearsigned::parse("x.dsc", &tampered).unwrap().verify("x.dsc", &keyring);
        assert!(matches!(err, Err(SignatureError::BadSignature { .. })), "{err:?}");

        let other = stranger.clearsign(text).unwrap();
        let err =
            Clearsigned::parse("x.dsc", &other).unwrap().verify("x.dsc", &keyring).unwrap_err();
        assert!(matches!(err, SignatureError::UnknownKey { .. }), "{err:?}");
        assert!(err.to_string().contains("not in the uploaders keyring"), "{err}");

        let plain = Clearsigned::parse("x.dsc", text).unwrap();
        assert!(!plain.is_signed());
        assert_eq!(plain.verify("x.dsc", &keyring).unwrap(), None);

        let broken = "-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA256\n\nA: b\n";
        assert!(matches!(
            Clearsigned::parse("x.dsc", broken),
            Err(SignatureError::Malformed { .. })
        ));
    }

    #[test]
    fn refuses_keyrings_without_keys() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("empty.gpg");
        std::fs::write(&path, b"").unwrap();
        let err = Keyring::load(&path).unwrap_err();
        assert!(err.to_string().contains("empty.gpg"), "{err}");
        let err = Keyring::load(&dir.path().join("missing.gpg")).unwrap_err();
        assert!(matches!(err, SignatureError::KeyringIo { .. }), "{err}");
    }
}
