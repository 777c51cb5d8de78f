//! The repository signing key's public half, for `GET /api/v1/key` (`wharf key export
//! --server`): the key apt clients put in `signed-by=`.

use crate::context::Context;
use crate::error::{Context as _, Result};
use crate::wire::SigningKeyView;

/// The public key and its fingerprint (generating the key on first use, as a publish would).
pub fn public_key(ctx: &Context) -> Result<SigningKeyView> {
    let key = ctx.signing_key()?;
    let armored = key.public_armored().or_internal(|| "cannot armor the public key".to_owned())?;
    Ok(SigningKeyView { fingerprint: key.fingerprint(), armored })
}
