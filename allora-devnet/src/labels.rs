//! Inference labels as the emissions module canonicalises and checks them
//! (allora-chain `x/emissions/types/label_canonicalize.go`,
//! `x/emissions/types/labels.go`, `InputInference.ValidateWithLimits` in
//! `x/emissions/types/validations.go`).

use std::collections::BTreeSet;

use unicode_normalization::UnicodeNormalization;

use super::abci::{self, AbciError};

/// The only label a single-value topic accepts besides none at all.
pub(crate) const SINGLE_ARITY_LABEL: &str = "y";

/// Smallest accepted `max_canonical_label_byte_length` (chain:
/// `MinMaxCanonicalLabelByteLength`).
pub const MIN_MAX_LABEL_BYTES: u64 = 1;
/// Largest accepted `max_canonical_label_byte_length` (chain:
/// `MaxMaxCanonicalLabelByteLength`).
pub const MAX_MAX_LABEL_BYTES: u64 = 1024;

/// The canonical form of a label, or the chain's code 95 with its reason.
///
/// In order: valid UTF-8 (guaranteed by `&str`), NFC, trim of Unicode white
/// space at both ends, non-empty, lower-case unless the topic is
/// case-sensitive, at most `max_bytes` bytes, then only ASCII letters,
/// digits, `_`, `-`, space, `/` and `.`.
pub(crate) fn canonical_label(
    label: &str,
    max_bytes: u64,
    case_sensitive: bool,
) -> Result<String, AbciError> {
    if max_bytes == 0 {
        return Err(abci::INVALID_LABEL_NAME.wrap("max canonical label byte length must be >= 1"));
    }
    let normalized: String = label.nfc().collect();
    let trimmed = normalized.trim();
    if trimmed.is_empty() {
        return Err(abci::INVALID_LABEL_NAME.wrap("label is empty after trimming"));
    }
    let canonical = if case_sensitive {
        trimmed.to_owned()
    } else {
        trimmed.to_lowercase()
    };
    let len = canonical.len();
    if u64::try_from(len).unwrap_or(u64::MAX) > max_bytes {
        return Err(abci::INVALID_LABEL_NAME.wrap(format!(
            "label exceeds {max_bytes} bytes after normalization (got {len})"
        )));
    }
    if let Some(c) = canonical.chars().find(|c| !is_allowed(*c)) {
        return Err(abci::INVALID_LABEL_NAME.wrap(format!(
            "label contains a disallowed character: U+{:04X}",
            u32::from(c)
        )));
    }
    Ok(canonical)
}

fn is_allowed(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | ' ' | '/' | '.')
}

/// Canonicalises a topic's label whitelist, refusing invalid entries and
/// duplicates after canonicalisation (as the chain does when a topic is
/// created or updated). Returns the reason on failure.
pub(crate) fn canonical_whitelist(
    labels: &[String],
    max_bytes: u64,
    case_sensitive: bool,
) -> Result<Vec<String>, String> {
    let mut seen = BTreeSet::new();
    let mut out = Vec::with_capacity(labels.len());
    for (index, label) in labels.iter().enumerate() {
        let canonical = canonical_label(label, max_bytes, case_sensitive)
            .map_err(|e| format!("label at index {index}: {}", e.log))?;
        if !seen.insert(canonical.clone()) {
            return Err(format!(
                "duplicate label after canonicalization at index {index}: {canonical:?}"
            ));
        }
        out.push(canonical);
    }
    Ok(out)
}

/// What a topic allows in a submission's labeled values.
#[derive(Debug, Clone, Copy)]
pub(crate) struct LabelLimits<'a> {
    /// `max_labels_per_submission`, or 1 on a single-value topic.
    pub(crate) cap: u64,
    /// The canonical whitelist; empty means any label.
    pub(crate) whitelist: &'a [String],
    /// `Params.max_canonical_label_byte_length`.
    pub(crate) max_bytes: u64,
    /// The topic's `label_case_sensitive`.
    pub(crate) case_sensitive: bool,
}

/// `InputInference.ValidateWithLimits` for the labels of one inference:
/// count first (98), then per value its canonical form (95), duplicates
/// after canonicalisation (95) and whitelist membership (97). Returns the
/// labels in canonical form, in the submitted order.
pub(crate) fn validate_labels(
    labels: &[&str],
    limits: LabelLimits<'_>,
) -> Result<Vec<String>, AbciError> {
    if limits.cap == 0 {
        return Err(abci::MUST_BE_GREATER_THAN_ZERO.wrap("per-submission label cap must be >= 1"));
    }
    let count = labels.len();
    if u64::try_from(count).unwrap_or(u64::MAX) > limits.cap {
        return Err(abci::TOO_MANY_LABELS.wrap(format!(
            "submission has {count} labels, per-topic cap is {}",
            limits.cap
        )));
    }
    let mut seen = BTreeSet::new();
    let mut out = Vec::with_capacity(count);
    for (index, label) in labels.iter().enumerate() {
        let canonical = canonical_label(label, limits.max_bytes, limits.case_sensitive)
            .map_err(|e| e.context(format!("input labeled value at index {index}")))?;
        if !seen.insert(canonical.clone()) {
            return Err(abci::INVALID_LABEL_NAME.wrap(format!(
                "duplicate label after canonicalization at index {index}: {canonical:?}"
            )));
        }
        if !limits.whitelist.is_empty() && !limits.whitelist.contains(&canonical) {
            return Err(abci::LABEL_NOT_IN_WHITELIST.wrap(format!(
                "label {canonical:?} is not in topic label whitelist"
            )));
        }
        out.push(canonical);
    }
    Ok(out)
}

/// `ValidateSingleArityLabel`: a single-value topic takes no label or `y`.
pub(crate) fn validate_single_arity_label(label: &str) -> Result<(), AbciError> {
    if !label.is_empty() && label != SINGLE_ARITY_LABEL {
        return Err(abci::INVALID_REQUEST.wrap(format!(
            "single-arity label must be {SINGLE_ARITY_LABEL:?}, got {label:?}"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn canon(label: &str) -> Result<String, (u32, String)> {
        canonical_label(label, 64, false).map_err(|e| (e.code, e.log))
    }

    #[test]
    fn labels_are_trimmed_lowercased_and_limited_to_the_charset() {
        assert_eq!(canon("  Y  ").unwrap(), "y");
        assert_eq!(canon("BTC/USD 1h.close_-x").unwrap(), "btc/usd 1h.close_-x");
        assert_eq!(
            canonical_label("BTC", 64, true).unwrap(),
            "BTC",
            "case-sensitive topics keep case"
        );
        assert_eq!(
            canon("   ").unwrap_err(),
            (
                95,
                "label is empty after trimming: invalid label name".to_owned()
            )
        );
        assert_eq!(
            canon("a!b").unwrap_err(),
            (
                95,
                "label contains a disallowed character: U+0021: invalid label name".to_owned()
            )
        );
        assert_eq!(
            canon("é").unwrap_err().1,
            "label contains a disallowed character: U+00E9: invalid label name"
        );
        assert_eq!(
            canonical_label("abcd", 3, false).unwrap_err().log,
            "label exceeds 3 bytes after normalization (got 4): invalid label name"
        );
        // The length is checked before the charset.
        assert!(canonical_label("a!!!", 3, false)
            .unwrap_err()
            .log
            .starts_with("label exceeds 3 bytes"));
    }

    #[test]
    fn label_count_comes_before_label_contents() {
        let limits = LabelLimits {
            cap: 1,
            whitelist: &[],
            max_bytes: 64,
            case_sensitive: false,
        };
        let err = validate_labels(&["!", "!"], limits).unwrap_err();
        assert_eq!(err.code, 98);
        assert_eq!(
            err.log,
            "submission has 2 labels, per-topic cap is 1: too many labels in one submission \
             (exceeds effective cap)"
        );
        let two = LabelLimits { cap: 2, ..limits };
        let err = validate_labels(&["A", " a"], two).unwrap_err();
        assert_eq!(
            (err.code, err.log.as_str()),
            (
                95,
                "duplicate label after canonicalization at index 1: \"a\": invalid label name"
            )
        );
        let whitelist = ["a".to_owned(), "b".to_owned()];
        let listed = LabelLimits {
            whitelist: &whitelist,
            ..two
        };
        assert_eq!(validate_labels(&["B", "a"], listed).unwrap(), ["b", "a"]);
        let err = validate_labels(&["a", "c"], listed).unwrap_err();
        assert_eq!(
            (err.code, err.log.as_str()),
            (
                97,
                "label \"c\" is not in topic label whitelist: label is not in the topic's label \
                 whitelist"
            )
        );
    }

    #[test]
    fn single_arity_takes_y_or_nothing() {
        assert!(validate_single_arity_label("y").is_ok());
        assert!(validate_single_arity_label("").is_ok());
        let err = validate_single_arity_label("price").unwrap_err();
        assert_eq!(
            (err.code, err.log.as_str()),
            (
                18,
                "single-arity label must be \"y\", got \"price\": invalid request"
            )
        );
    }

    #[test]
    fn whitelists_are_canonicalised_without_duplicates() {
        assert_eq!(
            canonical_whitelist(&["Up".into(), " down ".into()], 64, false).unwrap(),
            ["up", "down"]
        );
        assert!(canonical_whitelist(&["up".into(), "UP".into()], 64, false)
            .unwrap_err()
            .contains("duplicate"));
        assert!(canonical_whitelist(&["up".into(), "UP".into()], 64, true).is_ok());
        assert!(canonical_whitelist(&["a,b".into()], 64, false).is_err());
    }
}
