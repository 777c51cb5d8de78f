//! `wharf-apt`: Debian package repositories.
//!
//! Goals: read and validate `.deb` files; produce `Packages` stanzas identical to
//! `dpkg-scanpackages`; build `Release` files that apt 2.6 accepts without warnings; sign
//! them with an OpenPGP v4 key; lay out and atomically publish repository trees; do the
//! least work that a change needs. Source packages (`.dsc`) are
//! checked and listed in `Sources` as `dpkg-scansources` lists them. Non-goals: `Contents` indices,
//! translations, and the metadata database (that is `wharf-store`).
//!
//! Tour:
//! - [`control::Control`] parses and prints control stanzas with dpkg's exact rules.
//! - [`dsc::Dsc`] reads a `.dsc`, checks the files it lists and renders its `Sources`
//!   stanza; [`changes::Changes`] reads a `.changes` upload; [`keyring`] checks their
//!   signatures against the uploaders' keys.
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

pub mod changes;
pub mod chunked;
pub mod contents;
pub mod control;
pub mod deb;
pub mod depends;
pub mod dsc;
pub mod fsutil;
pub mod index;
pub mod keyring;
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
