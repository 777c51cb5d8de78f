//! The repository signing key as clients fetch it.

use serde::Serialize;

/// `key export` through the API (`GET /api/v1/key`): the public key apt's `signed-by=`
/// takes, and its fingerprint to check it by.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct SigningKeyView {
    /// Upper-case hex, as gpg prints it.
    pub fingerprint: String,
    /// The ASCII-armored OpenPGP public key.
    pub armored: String,
}
