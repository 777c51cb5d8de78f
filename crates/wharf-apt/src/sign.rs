//! The repository signing key: an OpenPGP **v4** Ed25519 ("EdDSA legacy") key, generated
//! on first use and kept ASCII-armored in the data directory with mode 0600, or one the
//! operator configured ([`SigningKey::load_configured`]: v4 Ed25519 or RSA ≥ 3072, no
//! passphrase, checked before use). apt 2.6 and
//! gpgv 2.2 reject v6 keys, so v4 is not a choice but a requirement. Signatures use
//! SHA-512 (detached) or the key's default SHA-256 or stronger (cleartext).

use std::io::Write as _;
use std::path::{Path, PathBuf};

use pgp::composed::Deserializable as _;
use pgp::composed::{
    ArmorOptions, CleartextSignedMessage, DetachedSignature, KeyType, SecretKeyParamsBuilder,
    SignedPublicKey, SignedSecretKey,
};
use pgp::crypto::hash::HashAlgorithm;
use pgp::types::{KeyDetails as _, KeyVersion, Password, PublicParams};

/// Why apt or Wharf could not use `secret`, if so.
fn check_usable(secret: &SignedSecretKey) -> Result<(), String> {
    match secret.version() {
        KeyVersion::V4 => {}
        KeyVersion::V6 => {
            return Err("it is an OpenPGP v6 key: apt 2.6 and gpgv 2.2 reject v6 keys (\"Invalid public key algorithm\"); use a v4 key, e.g. `gpg --quick-gen-key UID ed25519 sign`".to_owned());
        }
        other => return Err(format!("it is an OpenPGP {other:?} key: apt needs a v4 key")),
    }
    match secret.public_params() {
        PublicParams::EdDSALegacy(pgp::types::EddsaLegacyPublicParams::Ed25519 { .. }) => {}
        PublicParams::RSA(_) => {
            let bits = rsa_bits(secret).unwrap_or(0);
            if bits < 3072 {
                return Err(format!(
                    "it is an RSA key of {bits} bits: use RSA of 3072 bits or more, or Ed25519"
                ));
            }
        }
        _ => {
            return Err(format!(
                "its algorithm is {:?}: Wharf signs with Ed25519 (EdDSA legacy) or RSA of 3072 bits or more",
                secret.algorithm()
            ));
        }
    }
    if secret.primary_key.secret_params().is_encrypted() {
        return Err("it is protected by a passphrase, and Wharf signs unattended: remove it (`gpg --passwd KEYID`, empty passphrase) and keep the file mode 0600".to_owned());
    }
    // Wharf signs with the primary key, so it must be allowed to sign (when its
    // self-signatures say what it may do at all).
    let flags: Vec<_> = secret
        .details
        .users
        .iter()
        .flat_map(|user| &user.signatures)
        .chain(&secret.details.direct_signatures)
        .map(pgp::packet::Signature::key_flags)
        .filter(|flags| {
            flags.certify() || flags.sign() || flags.encrypt_comms() || flags.encrypt_storage()
        })
        .collect();
    if !flags.is_empty() && !flags.iter().any(pgp::packet::KeyFlags::sign) {
        return Err("its primary key is not allowed to sign (only its subkeys are), and Wharf signs with the primary key: create one with `gpg --quick-gen-key UID ed25519 sign`".to_owned());
    }
    Ok(())
}

/// The bit length of an RSA key's modulus.
fn rsa_bits(secret: &SignedSecretKey) -> Option<u32> {
    use pgp::ser::Serialize as _;
    // Serialized RSA public parameters start with the modulus as an MPI: two bytes of
    // bit length, then the bytes.
    let bytes = secret.public_params().to_bytes().ok()?;
    Some(u32::from(u16::from_be_bytes([*bytes.first()?, *bytes.get(1)?])))
}

/// The signing key could not be created, read or used.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("cannot read or write signing key {}: {source}", path.display())]
    Io { path: PathBuf, source: std::io::Error },
    #[error("signing key {} is not a usable OpenPGP secret key: {reason}", path.display())]
    Invalid { path: PathBuf, reason: String },
    #[error("signing key {} cannot sign for apt: {reason}", path.display())]
    Unsuitable { path: PathBuf, reason: String },
    #[error("OpenPGP operation failed: {0}")]
    Pgp(String),
}

/// The loaded signing key.
#[derive(Clone)]
pub struct SigningKey {
    secret: SignedSecretKey,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKey").field("fingerprint", &self.fingerprint()).finish()
    }
}

fn pgp_err(err: impl std::fmt::Display) -> KeyError {
    KeyError::Pgp(err.to_string())
}

impl SigningKey {
    /// Generate a fresh v4 Ed25519-legacy key that can certify and sign.
    pub fn generate(user_id: &str) -> Result<SigningKey, KeyError> {
        let params = SecretKeyParamsBuilder::default()
            .key_type(KeyType::Ed25519Legacy)
            .can_certify(true)
            .can_sign(true)
            .primary_user_id(user_id.to_owned())
            .preferred_hash_algorithms(vec![HashAlgorithm::Sha512, HashAlgorithm::Sha256].into())
            .build()
            .map_err(pgp_err)?;
        let secret = params.generate(rand::thread_rng()).map_err(pgp_err)?;
        Ok(SigningKey { secret })
    }

    /// Load the key at `path`, generating and storing one (mode 0600, written to a
    /// temporary file, synced, then renamed) when the file does not exist.
    pub fn load_or_generate(path: &Path, user_id: &str) -> Result<SigningKey, KeyError> {
        match std::fs::read_to_string(path) {
            Ok(text) => SigningKey::from_armored(path, &text),
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
                let key = SigningKey::generate(user_id)?;
                key.store(path)?;
                Ok(key)
            }
            Err(source) => Err(KeyError::Io { path: path.to_owned(), source }),
        }
    }

    /// Load a key an operator configured (`[apt] signing_key`): an ASCII-armored secret
    /// key that apt 2.6 and gpgv 2.2 accept and Wharf can use without asking anyone —
    /// OpenPGP v4, Ed25519 ("EdDSA legacy") or RSA of 3072 bits or more, a primary key
    /// that may sign, no passphrase. Anything else is refused, saying why.
    pub fn load_configured(path: &Path) -> Result<SigningKey, KeyError> {
        let text = std::fs::read_to_string(path)
            .map_err(|source| KeyError::Io { path: path.to_owned(), source })?;
        let unsuitable = |reason: String| KeyError::Unsuitable { path: path.to_owned(), reason };
        if !text.contains("-----BEGIN PGP PRIVATE KEY BLOCK-----") {
            let reason = if text.contains("-----BEGIN PGP PUBLIC KEY BLOCK-----") {
                "it is a public key; export the secret key with `gpg --armor --export-secret-keys KEYID`"
            } else {
                "no ASCII-armored secret key (`-----BEGIN PGP PRIVATE KEY BLOCK-----`) in it; export one with `gpg --armor --export-secret-keys KEYID`"
            };
            return Err(KeyError::Invalid { path: path.to_owned(), reason: reason.to_owned() });
        }
        let (secret, _) = SignedSecretKey::from_string(&text)
            .map_err(|err| KeyError::Invalid { path: path.to_owned(), reason: err.to_string() })?;
        check_usable(&secret).map_err(unsuitable)?;
        Ok(SigningKey { secret })
    }

    fn from_armored(path: &Path, text: &str) -> Result<SigningKey, KeyError> {
        let (secret, _) = SignedSecretKey::from_string(text)
            .map_err(|err| KeyError::Invalid { path: path.to_owned(), reason: err.to_string() })?;
        if secret.version() != KeyVersion::V4 {
            return Err(KeyError::Invalid {
                path: path.to_owned(),
                reason: "not an OpenPGP v4 key (apt 2.6 and gpgv 2.2 only accept v4)".to_owned(),
            });
        }
        Ok(SigningKey { secret })
    }

    fn store(&self, path: &Path) -> Result<(), KeyError> {
        use std::os::unix::fs::OpenOptionsExt as _;
        let io = |source| KeyError::Io { path: path.to_owned(), source };
        let armored = self.secret.to_armored_string(ArmorOptions::default()).map_err(pgp_err)?;
        let dir = path.parent().unwrap_or(Path::new("."));
        std::fs::create_dir_all(dir).map_err(io)?;
        let tmp = path.with_extension("tmp");
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)
            .map_err(io)?;
        file.write_all(armored.as_bytes()).map_err(io)?;
        file.sync_all().map_err(io)?;
        // A concurrent first use may have stored a key meanwhile: keep that one.
        std::fs::hard_link(&tmp, path)
            .or_else(|err| {
                if err.kind() == std::io::ErrorKind::AlreadyExists { Ok(()) } else { Err(err) }
            })
            .map_err(io)?;
        std::fs::remove_file(&tmp).map_err(io)?;
        crate::fsutil::sync_dir(dir).map_err(io)?;
        Ok(())
    }

    /// A one-line description: algorithm and fingerprint.
    #[must_use]
    pub fn describe(&self) -> String {
        let algorithm = match self.secret.public_params() {
            PublicParams::EdDSALegacy(_) => "Ed25519 (EdDSA legacy)".to_owned(),
            PublicParams::RSA(_) => format!("RSA-{}", rsa_bits(&self.secret).unwrap_or(0)),
            _ => format!("{:?}", self.secret.algorithm()),
        };
        format!("OpenPGP v4 {algorithm} {}", self.fingerprint())
    }

    /// The key's fingerprint in upper-case hex, as gpg prints it.
    #[must_use]
    pub fn fingerprint(&self) -> String {
        hex::encode_upper(self.secret.fingerprint().as_bytes())
    }

    /// The public key, ASCII-armored, for clients' `signed-by=`.
    pub fn public_armored(&self) -> Result<String, KeyError> {
        let public = SignedPublicKey::from(self.secret.clone());
        public.to_armored_string(ArmorOptions::default()).map_err(pgp_err)
    }

    /// `InRelease`: the `Release` text, cleartext-signed.
    pub fn clearsign(&self, text: &str) -> Result<String, KeyError> {
        let message = CleartextSignedMessage::sign(
            rand::thread_rng(),
            text,
            &*self.secret,
            &Password::empty(),
        )
        .map_err(pgp_err)?;
        message.to_armored_string(ArmorOptions::default()).map_err(pgp_err)
    }

    /// `Release.gpg`: a detached, armored signature over `data`.
    pub fn detached(&self, data: &[u8]) -> Result<String, KeyError> {
        let signature = DetachedSignature::sign_binary_data(
            rand::thread_rng(),
            &*self.secret,
            &Password::empty(),
            HashAlgorithm::Sha512,
            data,
        )
        .map_err(pgp_err)?;
        signature.to_armored_string(ArmorOptions::default()).map_err(pgp_err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        path
    }

    fn refused(path: &Path) -> String {
        let err = SigningKey::load_configured(path).expect_err("key should be refused");
        let text = err.to_string();
        assert!(text.contains(&path.display().to_string()), "names the file: {text}");
        text
    }

    #[test]
    fn configured_v4_ed25519_key_is_accepted() {
        let dir = tempfile::tempdir().unwrap();
        let key = SigningKey::generate("Test <t@example.invalid>").unwrap();
        let armored = key.secret.to_armored_string(ArmorOptions::default()).unwrap();
        let loaded = SigningKey::load_configured(&write(dir.path(), "k.asc", &armored)).unwrap();
        assert_eq!(loaded.fingerprint(), key.fingerprint());
        assert!(loaded.describe().starts_with("OpenPGP v4 Ed25519"), "{}", loaded.describe());
    }

    #[test]
    fn unusable_configured_keys_are_refused_with_the_reason() {
        let dir = tempfile::tempdir().unwrap();
        // v6 Ed25519 (RFC 9580): rpgp makes them, apt 2.6 cannot read them.
        let v6 = SecretKeyParamsBuilder::default()
            .version(KeyVersion::V6)
            .key_type(KeyType::Ed25519)
            .can_certify(true)
            .can_sign(true)
            .primary_user_id("V6 <v6@example.invalid>".to_owned())
            .build()
            .unwrap()
            .generate(rand::thread_rng())
            .unwrap();
        let path =
            write(dir.path(), "v6.asc", &v6.to_armored_string(ArmorOptions::default()).unwrap());
        let text = refused(&path);
        assert!(text.contains("apt 2.6 and gpgv 2.2 reject v6 keys"), "{text}");

        let mut locked = SigningKey::generate("Locked <l@example.invalid>").unwrap().secret;
        locked.primary_key.set_password(rand::thread_rng(), &Password::from("secret")).unwrap();
        let path = write(
            dir.path(),
            "locked.asc",
            &locked.to_armored_string(ArmorOptions::default()).unwrap(),
        );
        assert!(refused(&path).contains("passphrase"));

        let public = SigningKey::generate("Pub <p@example.invalid>").unwrap().public_armored();
        let path = write(dir.path(), "public.asc", &public.unwrap());
        assert!(refused(&path).contains("it is a public key"));

        let path = write(dir.path(), "notes.txt", "just some text\n");
        assert!(refused(&path).contains("no ASCII-armored secret key"));

        let path = write(
            dir.path(),
            "broken.asc",
            "-----BEGIN PGP PRIVATE KEY BLOCK-----\n\nAAAA\n-----END PGP PRIVATE KEY BLOCK-----\n",
        );
        assert!(refused(&path).contains("not a usable OpenPGP secret key"));

        let missing = dir.path().join("missing.asc");
        assert!(refused(&missing).contains("cannot read"));
    }
}
