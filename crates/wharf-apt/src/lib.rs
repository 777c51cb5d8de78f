//! `wharf-apt`: Debian package repositories.
//!
//! Goals: read and validate `.deb` files; produce `Packages` stanzas identical to
//! `dpkg-scanpackages`; build `Release` files that apt 2.6 accepts without warnings; sign
//! them with an OpenPGP v4 key; lay out and atomically publish repository trees; do the
//! least work that a change needs. Non-goals: source packages, `Contents` indices,
//! translations, and the metadata database (that is `wharf-store`).
//!
//! Tour:
//! - [`control::Control`] parses and prints control stanzas with dpkg's exact rules.
//! - [`deb::DebPackage`] reads a `.deb` file, checks its structure and control fields,
//!   and hashes it.
//! - [`index`] renders `Packages` stanzas and `Release` files and compresses indices;
//!   [`chunked`] compresses large indices chunk by chunk, reusing unchanged chunks.
//! - [`sign::SigningKey`] generates, stores, exports and uses the signing key.
//! - [`objects::Objects`] stores package files content-addressed by SHA-256.
//! - [`publish::publish`] writes a signed tree atomically, redoing only changed indices.
//! - [`mirror`] checks a remote repository's signed `Release` and decides what an
//!   update fetches.
//! - [`fsutil`] writes files durably (temporary file, fsync, rename, fsync directory).

pub mod chunked;
pub mod control;
pub mod deb;
pub mod depends;
pub mod fsutil;
pub mod index;
pub mod mirror;
pub mod objects;
pub mod publish;
pub mod query;
pub mod sign;

/// Lower-case hex SHA-256 of `bytes`: how Wharf names objects and checks files.
#[must_use]
pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest as _;
    hex::encode(sha2::Sha256::digest(bytes))
}
