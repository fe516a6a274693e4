//! The in-memory key as a [`Signer`].

use super::{RawSignature, SignRequest, Signer, SignerError};
use crate::keys::{PublicKey, WorkerKey};

/// Signs in this process with RFC 6979 deterministic nonces: the signatures
/// are byte-identical to [`WorkerKey::sign`] on the same message, always
/// low-S, and need no verification step ([`Signer::needs_verification`] is
/// `false`: the golden vectors prove the signing path, and checking every
/// signature would double the cost of the worker's hot path).
#[async_trait::async_trait]
impl Signer for WorkerKey {
    fn public_key(&self) -> PublicKey {
        WorkerKey::public_key(self)
    }

    fn describe(&self) -> String {
        format!("local key {}", self.address())
    }

    async fn sign_digest(&self, request: &SignRequest<'_>) -> Result<RawSignature, SignerError> {
        WorkerKey::sign_prehash(self, request.digest()).map_err(|e| SignerError::Refused {
            signer: Signer::describe(self),
            code: "SigningFailed".to_owned(),
            reason: e.to_string(),
        })
    }

    fn needs_verification(&self) -> bool {
        false
    }
}
