//! The signer's account number and next sequence, held locally.
//!
//! The sequence is fetched once and then advanced locally for every
//! transaction the mempool accepts, so back-to-back transactions need no
//! query. A sequence-mismatch rejection sets it to what the chain expects (or
//! marks it stale, to be fetched again before the next transaction).

use crate::client::{ChainClient, ClientError};
use crate::keys::Address;

/// Account number and sequence of one signer.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SequenceTracker {
    account_number: Option<u64>,
    sequence: Option<u64>,
}

impl SequenceTracker {
    /// An empty tracker: the first use fetches both values.
    pub fn new() -> Self {
        Self::default()
    }

    /// Returns `(account_number, sequence)`, fetching them when unknown.
    pub async fn current(
        &mut self,
        client: &ChainClient,
        address: &Address,
    ) -> Result<(u64, u64), ClientError> {
        if let (Some(number), Some(sequence)) = (self.account_number, self.sequence) {
            return Ok((number, sequence));
        }
        let info = client.account_info(address).await?;
        self.account_number = Some(info.account_number);
        self.sequence = Some(info.sequence);
        Ok((info.account_number, info.sequence))
    }

    /// The mempool accepted a transaction with the current sequence.
    pub fn advance(&mut self) {
        if let Some(s) = self.sequence.as_mut() {
            *s += 1;
        }
    }

    /// The chain said which sequence it expects (or not: then fetch again).
    pub fn resync(&mut self, expected: Option<u64>) {
        self.sequence = expected;
    }

    /// Forgets the sequence; the next use fetches it.
    pub fn invalidate(&mut self) {
        self.sequence = None;
    }

    /// The locally known sequence, if any.
    pub fn sequence(&self) -> Option<u64> {
        self.sequence
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn advance_and_resync() {
        let mut t = SequenceTracker {
            account_number: Some(3),
            sequence: Some(7),
        };
        t.advance();
        assert_eq!(t.sequence(), Some(8));
        t.resync(Some(12));
        assert_eq!(t.sequence(), Some(12));
        t.resync(None);
        assert_eq!(t.sequence(), None);
        t.advance();
        assert_eq!(t.sequence(), None);
    }
}
