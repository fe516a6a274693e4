//! Inference labels as the emissions module canonicalises and checks them
//! (allora-chain `x/emissions/types/label_canonicalize.go`,
//! `x/emissions/types/labels.go`, `InputInference.ValidateWithLimits` in
//! `x/emissions/types/validations.go`).
//!
//! The rules themselves live in one place, [`allora_sdk::labels`], which a
//! worker also runs before signing; the devnet only turns their refusals
//! into the chain's ABCI errors.

use allora_sdk::labels::{self as rules, LabelError};

use super::abci::AbciError;

pub(crate) use allora_sdk::labels::LabelLimits;
pub use allora_sdk::labels::{MAX_MAX_LABEL_BYTES, MIN_MAX_LABEL_BYTES};

/// The only label a single-value topic accepts besides none at all.
pub(crate) const SINGLE_ARITY_LABEL: &str = rules::SINGLE_VALUE_LABEL;

/// A label refusal as the chain reports it: the check's codespace and code,
/// its log text.
fn abci(error: LabelError) -> AbciError {
    AbciError {
        codespace: error.kind.codespace(),
        code: error.kind.code(),
        log: error.to_string(),
    }
}

/// Canonicalises a topic's label whitelist, refusing invalid entries and
/// duplicates after canonicalisation (as the chain does when a topic is
/// created or updated). Returns the reason on failure.
pub(crate) fn canonical_whitelist(
    labels: &[String],
    max_bytes: u64,
    case_sensitive: bool,
) -> Result<Vec<String>, String> {
    rules::canonical_whitelist(labels, max_bytes, case_sensitive).map_err(|e| e.to_string())
}

/// `InputInference.ValidateWithLimits` for the labels of one inference:
/// count first (98), then per value its canonical form (95), duplicates
/// after canonicalisation (95) and whitelist membership (97). Returns the
/// labels in canonical form, in the submitted order.
pub(crate) fn validate_labels(
    labels: &[&str],
    limits: LabelLimits<'_>,
) -> Result<Vec<String>, AbciError> {
    rules::validate_labels(labels, limits).map_err(abci)
}

/// `ValidateSingleArityLabel`: a single-value topic takes no label or `y`.
pub(crate) fn validate_single_arity_label(label: &str) -> Result<(), AbciError> {
    rules::validate_single_arity_label(label).map_err(abci)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_carry_the_chains_codespace_code_and_log() {
        let limits = LabelLimits {
            cap: 1,
            whitelist: &[],
            max_bytes: 64,
            case_sensitive: false,
        };
        let err = validate_labels(&["a", "b"], limits).unwrap_err();
        assert_eq!((err.codespace, err.code), ("emissions", 98));
        assert_eq!(
            err.log,
            "submission has 2 labels, per-topic cap is 1: too many labels in one submission \
             (exceeds effective cap)"
        );
        let err = validate_labels(&["a!"], limits).unwrap_err();
        assert_eq!(
            (err.codespace, err.code, err.log.as_str()),
            (
                "emissions",
                95,
                "input labeled value at index 0: label contains a disallowed character: U+0021: \
                 invalid label name"
            )
        );
        let err = validate_single_arity_label("price").unwrap_err();
        assert_eq!(
            (err.codespace, err.code, err.log.as_str()),
            (
                "sdk",
                18,
                "single-arity label must be \"y\", got \"price\": invalid request"
            )
        );
        assert_eq!(
            canonical_whitelist(&["Up".into(), "down".into()], 64, false).unwrap(),
            ["up", "down"]
        );
        assert!(canonical_whitelist(&["up".into(), "UP".into()], 64, false)
            .unwrap_err()
            .contains("duplicate label"));
    }
}
