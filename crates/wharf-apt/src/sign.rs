//! The repository signing key: an OpenPGP **v4** Ed25519 ("EdDSA legacy") key, generated
//! on first use and kept ASCII-armored in the data directory with mode 0600. apt 2.6 and
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
use pgp::types::{KeyDetails as _, Password};

/// The signing key could not be created, read or used.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("cannot read or write signing key {}: {source}", path.display())]
    Io { path: PathBuf, source: std::io::Error },
    #[error("signing key {} is not a usable OpenPGP secret key: {reason}", path.display())]
    Invalid { path: PathBuf, reason: String },
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

    fn from_armored(path: &Path, text: &str) -> Result<SigningKey, KeyError> {
        let (secret, _) = SignedSecretKey::from_string(text)
            .map_err(|err| KeyError::Invalid { path: path.to_owned(), reason: err.to_string() })?;
        if secret.version() != pgp::types::KeyVersion::V4 {
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
