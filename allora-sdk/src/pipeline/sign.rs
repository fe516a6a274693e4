//! Signing: the prepared transaction, the signer's account number and
//! sequence and the fee, into signed `TxRaw` bytes.
//!
//! The body (the messages) is encoded once per transaction; each attempt
//! encodes only what changes (auth info: sequence and fee) and signs through
//! the pipeline's [`SharedSigner`], by the transaction's send deadline.

use tokio::time::Instant;

use crate::proto::Any;
use crate::signer::{SharedSigner, SignError};
use crate::tx::{Fee, PreparedTx, SignedTx, SignerData, TxBuildError, UnsignedTx};

/// A transaction's messages, encoded once, and who signs them on which chain.
#[derive(Debug)]
pub(crate) struct TxSigner {
    tx: PreparedTx,
    chain_id: String,
}

impl TxSigner {
    /// Encodes the body of `messages` with `memo`.
    pub(crate) fn new(
        messages: Vec<Any>,
        memo: &str,
        chain_id: &str,
    ) -> Result<Self, TxBuildError> {
        Ok(TxSigner {
            tx: UnsignedTx::new(messages).with_memo(memo).prepare()?,
            chain_id: chain_id.to_owned(),
        })
    }

    /// The prepared transaction (for simulation).
    pub(crate) fn prepared(&self) -> &PreparedTx {
        &self.tx
    }

    /// Signs for `account_number` and `sequence` with `fee`, by `deadline`
    /// (see [`PreparedTx::sign_with`]).
    pub(crate) async fn sign(
        &self,
        signer: &SharedSigner,
        account_number: u64,
        sequence: u64,
        fee: &Fee,
        deadline: Instant,
    ) -> Result<SignedTx, SignError> {
        let data = SignerData::new(self.chain_id.as_str(), account_number, sequence);
        self.tx
            .sign_with(signer.signer().as_ref(), &data, fee, deadline)
            .await
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::keys::WorkerKey;
    use crate::payload::WorkerPayload;

    #[tokio::test]
    async fn signs_what_unsigned_tx_signs() {
        let key = WorkerKey::from_private_key_hex(&"11".repeat(32)).unwrap();
        let signer = SharedSigner::from(key.clone());
        let payload = WorkerPayload::inference(69, 1_234_567, "123.456".parse().unwrap())
            .sign(&key)
            .unwrap()
            .to_any();
        let fee = Fee::uallo(9_720_000, 216_000);
        let deadline = Instant::now() + Duration::from_secs(5);
        let tx = TxSigner::new(vec![payload.clone()], "", "allora-testnet-1").unwrap();
        let once = tx.sign(&signer, 12345, 7, &fee, deadline).await.unwrap();
        let direct = UnsignedTx::new(vec![payload])
            .sign(&key, &SignerData::new("allora-testnet-1", 12345, 7), &fee)
            .unwrap();
        assert_eq!(once, direct);
        // Another attempt with the next sequence reuses the body.
        let next = tx.sign(&signer, 12345, 8, &fee, deadline).await.unwrap();
        assert_eq!(next.body_bytes(), once.body_bytes());
        assert_ne!(next.hash(), once.hash());
        assert_eq!(tx.prepared().message_count(), 1);
        assert!(matches!(
            TxSigner::new(vec![], "", "allora-testnet-1"),
            Err(TxBuildError::NoMessages)
        ));
    }
}
