//! Inference labels as the chain canonicalises and checks them, so that a
//! payload the chain would refuse for its labels is refused before it is
//! signed (and costs no fee).
//!
//! The rules are those of allora-chain's emissions module (v15 and later):
//! `x/emissions/types/label_canonicalize.go` (`CanonicalLabelName`),
//! `x/emissions/types/labels.go` (`ValidateSingleArityLabel`),
//! `InputInference.ValidateWithLimits` in `x/emissions/types/validations.go`
//! and `validateWorkerInferenceLabels` in the payload message server. Each
//! refusal carries the chain's codespace, code and log text
//! ([`LabelErrorKind`]):
//!
//! | check, in the chain's order | codespace / code |
//! |---|---|
//! | more labeled values than the topic's cap (`max_labels_per_submission`, 1 on a single-value topic) | emissions / 98 |
//! | a label empty after trimming, longer than `max_canonical_label_byte_length` bytes, or with a character outside ASCII letters, digits, `_ - / .` and space | emissions / 95 |
//! | two labels equal after canonicalisation (trimmed, lower-cased unless the topic is case-sensitive) | emissions / 95 |
//! | a label outside the topic's `label_whitelist` (when it has one) | emissions / 97 |
//! | a single-value topic's one label is not `y` once canonical | sdk / 18 |
//!
//! A topic's settings come from `GetTopic` (arity, cap, whitelist, case
//! sensitivity) and the module parameters from `GetParams` (the byte limit):
//! [`LabelRules::from_topic`].
//!
//! ```
//! use allora_sdk::labels::{LabelErrorKind, LabelRules, OutputArity};
//!
//! let single = LabelRules::default();
//! assert_eq!(single.check(&["  Y "]).unwrap(), ["y"]);
//! assert_eq!(single.check(&["price"]).unwrap_err().kind, LabelErrorKind::SingleArityLabel);
//!
//! let multi = LabelRules {
//!     arity: OutputArity::Multi,
//!     whitelist: vec!["up".into(), "down".into()],
//!     ..LabelRules::default()
//! };
//! assert_eq!(multi.check(&["UP", "down"]).unwrap(), ["up", "down"]);
//! let err = multi.check(&["up", "sideways"]).unwrap_err();
//! assert_eq!((err.kind.codespace(), err.kind.code()), ("emissions", 97));
//! ```

use std::collections::BTreeSet;
use std::fmt;

use unicode_normalization::UnicodeNormalization;

use crate::proto::emissions::{v10, v9};

/// The only label a single-value topic accepts (besides no label at all).
pub const SINGLE_VALUE_LABEL: &str = "y";
/// Smallest accepted `max_canonical_label_byte_length` (chain:
/// `MinMaxCanonicalLabelByteLength`).
pub const MIN_MAX_LABEL_BYTES: u64 = 1;
/// Largest accepted `max_canonical_label_byte_length` (chain:
/// `MaxMaxCanonicalLabelByteLength`).
pub const MAX_MAX_LABEL_BYTES: u64 = 1024;
/// The chain's default `max_canonical_label_byte_length`.
pub const DEFAULT_MAX_LABEL_BYTES: u64 = 64;
/// The chain's default `max_labels_per_submission` of a topic.
pub const DEFAULT_MAX_LABELS_PER_SUBMISSION: u64 = 32;

/// Which check refused a label, with the chain's codespace, code and
/// registered description.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum LabelErrorKind {
    /// Empty after trimming, too long, a disallowed character, or a
    /// duplicate after canonicalisation: emissions 95
    /// (`ErrInvalidLabelName`).
    InvalidLabelName,
    /// Not in the topic's label whitelist: emissions 97
    /// (`ErrLabelNotInWhitelist`).
    NotInWhitelist,
    /// More labeled values than the topic allows: emissions 98
    /// (`ErrTooManyLabelsPerSubmission`).
    TooManyLabels,
    /// A single-value topic's label is not `y`: sdk 18 (`ErrInvalidRequest`).
    SingleArityLabel,
    /// A label cap of zero (a defensive check of the chain's): emissions 62.
    CapNotPositive,
}

impl LabelErrorKind {
    /// The chain's codespace.
    pub fn codespace(self) -> &'static str {
        match self {
            LabelErrorKind::SingleArityLabel => "sdk",
            _ => "emissions",
        }
    }

    /// The chain's ABCI code.
    pub fn code(self) -> u32 {
        match self {
            LabelErrorKind::InvalidLabelName => 95,
            LabelErrorKind::NotInWhitelist => 97,
            LabelErrorKind::TooManyLabels => 98,
            LabelErrorKind::SingleArityLabel => 18,
            LabelErrorKind::CapNotPositive => 62,
        }
    }

    /// The chain's registered description, which ends its log text.
    pub fn description(self) -> &'static str {
        match self {
            LabelErrorKind::InvalidLabelName => "invalid label name",
            LabelErrorKind::NotInWhitelist => "label is not in the topic's label whitelist",
            LabelErrorKind::TooManyLabels => {
                "too many labels in one submission (exceeds effective cap)"
            }
            LabelErrorKind::SingleArityLabel => "invalid request",
            LabelErrorKind::CapNotPositive => "value must be greater than 0",
        }
    }

    /// A short stable name, for metrics labels.
    pub fn as_str(self) -> &'static str {
        match self {
            LabelErrorKind::InvalidLabelName => "invalid_label_name",
            LabelErrorKind::NotInWhitelist => "label_not_in_whitelist",
            LabelErrorKind::TooManyLabels => "too_many_labels",
            LabelErrorKind::SingleArityLabel => "single_arity_label",
            LabelErrorKind::CapNotPositive => "label_cap_not_positive",
        }
    }
}

/// A label refused as the chain would refuse it. Displays as the chain's
/// log text: `<reason>: <registered description>`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{reason}: {}", kind.description())]
pub struct LabelError {
    /// Which check refused it (and so the chain's code).
    pub kind: LabelErrorKind,
    /// What was wrong, in the chain's words.
    pub reason: String,
}

impl LabelError {
    fn new(kind: LabelErrorKind, reason: impl Into<String>) -> Self {
        LabelError {
            kind,
            reason: reason.into(),
        }
    }

    /// Adds context in front of the reason, as the chain's error wrapping
    /// does.
    pub fn context(mut self, context: impl fmt::Display) -> Self {
        self.reason = format!("{context}: {}", self.reason);
        self
    }
}

/// The canonical form of a label (chain: `CanonicalLabelName`).
///
/// In order: NFC, trim of Unicode white space at both ends, non-empty,
/// ASCII letters lower-cased unless `case_sensitive`, at most `max_bytes`
/// bytes, then only ASCII letters, digits, `_`, `-`, space, `/` and `.`.
/// Every refusal is [`LabelErrorKind::InvalidLabelName`].
pub fn canonical_label(
    label: &str,
    max_bytes: u64,
    case_sensitive: bool,
) -> Result<String, LabelError> {
    let invalid = |reason: String| LabelError::new(LabelErrorKind::InvalidLabelName, reason);
    if max_bytes == 0 {
        return Err(invalid(
            "max canonical label byte length must be >= 1".into(),
        ));
    }
    let normalized: String = label.nfc().collect();
    let trimmed = normalized.trim();
    if trimmed.is_empty() {
        return Err(invalid("label is empty after trimming".into()));
    }
    let canonical = if case_sensitive {
        trimmed.to_owned()
    } else {
        trimmed.to_ascii_lowercase()
    };
    let len = canonical.len();
    if u64::try_from(len).unwrap_or(u64::MAX) > max_bytes {
        return Err(invalid(format!(
            "label exceeds {max_bytes} bytes after normalization (got {len})"
        )));
    }
    if let Some(c) = canonical.chars().find(|c| !is_allowed(*c)) {
        return Err(invalid(format!(
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
/// duplicates after canonicalisation, as the chain does when a topic is
/// created or updated.
pub fn canonical_whitelist(
    labels: &[String],
    max_bytes: u64,
    case_sensitive: bool,
) -> Result<Vec<String>, LabelError> {
    let mut seen = BTreeSet::new();
    let mut out = Vec::with_capacity(labels.len());
    for (index, label) in labels.iter().enumerate() {
        let canonical = canonical_label(label, max_bytes, case_sensitive)
            .map_err(|e| e.context(format!("label at index {index}")))?;
        if !seen.insert(canonical.clone()) {
            return Err(LabelError::new(
                LabelErrorKind::InvalidLabelName,
                format!("duplicate label after canonicalization at index {index}: {canonical:?}"),
            ));
        }
        out.push(canonical);
    }
    Ok(out)
}

/// What a topic allows in one submission's labeled values.
#[derive(Debug, Clone, Copy)]
pub struct LabelLimits<'a> {
    /// `max_labels_per_submission`, or 1 on a single-value topic.
    pub cap: u64,
    /// The canonical whitelist; empty means any label.
    pub whitelist: &'a [String],
    /// `Params.max_canonical_label_byte_length`.
    pub max_bytes: u64,
    /// The topic's `label_case_sensitive`.
    pub case_sensitive: bool,
}

/// `InputInference.ValidateWithLimits` for the labels of one inference:
/// the count first (98), then per value its canonical form (95), duplicates
/// after canonicalisation (95) and whitelist membership (97). Returns the
/// labels in canonical form, in the submitted order.
pub fn validate_labels(
    labels: &[&str],
    limits: LabelLimits<'_>,
) -> Result<Vec<String>, LabelError> {
    if limits.cap == 0 {
        return Err(LabelError::new(
            LabelErrorKind::CapNotPositive,
            "per-submission label cap must be >= 1",
        ));
    }
    let count = labels.len();
    if u64::try_from(count).unwrap_or(u64::MAX) > limits.cap {
        return Err(LabelError::new(
            LabelErrorKind::TooManyLabels,
            format!(
                "submission has {count} labels, per-topic cap is {}",
                limits.cap
            ),
        ));
    }
    let mut seen = BTreeSet::new();
    let mut out = Vec::with_capacity(count);
    for (index, label) in labels.iter().enumerate() {
        let canonical = canonical_label(label, limits.max_bytes, limits.case_sensitive)
            .map_err(|e| e.context(format!("input labeled value at index {index}")))?;
        if !seen.insert(canonical.clone()) {
            return Err(LabelError::new(
                LabelErrorKind::InvalidLabelName,
                format!("duplicate label after canonicalization at index {index}: {canonical:?}"),
            ));
        }
        if !limits.whitelist.is_empty() && !limits.whitelist.contains(&canonical) {
            return Err(LabelError::new(
                LabelErrorKind::NotInWhitelist,
                format!("label {canonical:?} is not in topic label whitelist"),
            ));
        }
        out.push(canonical);
    }
    Ok(out)
}

/// `ValidateSingleArityLabel`: a single-value topic's (canonical) label
/// must be `y` (an empty label stands for none).
pub fn validate_single_arity_label(label: &str) -> Result<(), LabelError> {
    if !label.is_empty() && label != SINGLE_VALUE_LABEL {
        return Err(LabelError::new(
            LabelErrorKind::SingleArityLabel,
            format!("single-arity label must be {SINGLE_VALUE_LABEL:?}, got {label:?}"),
        ));
    }
    Ok(())
}

/// How many values a topic's inference has (chain: `TopicOutputArity`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum OutputArity {
    /// One value, sent unlabeled or labeled `y` (the chain's default, and
    /// what older topics were migrated to).
    #[default]
    Single,
    /// Several labeled values.
    Multi,
    /// Not set (a topic the migration did not reach); labels are checked
    /// as for a multi-value topic.
    Unspecified,
}

impl OutputArity {
    /// From the chain's enum value.
    pub fn from_proto(value: i32) -> Self {
        match v10::TopicOutputArity::try_from(value) {
            Ok(v10::TopicOutputArity::Single) => OutputArity::Single,
            Ok(v10::TopicOutputArity::Multi) => OutputArity::Multi,
            _ => OutputArity::Unspecified,
        }
    }

    /// `single`, `multi` or `unspecified`.
    pub fn as_str(self) -> &'static str {
        match self {
            OutputArity::Single => "single",
            OutputArity::Multi => "multi",
            OutputArity::Unspecified => "unspecified",
        }
    }
}

/// A topic's label settings with the module's byte limit: everything the
/// chain's label checks depend on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LabelRules {
    /// The topic's output arity.
    pub arity: OutputArity,
    /// The topic's `max_labels_per_submission` (ignored on a single-value
    /// topic, whose cap is 1).
    pub max_labels_per_submission: u64,
    /// The topic's label whitelist in canonical form; empty means any label.
    pub whitelist: Vec<String>,
    /// The topic's `label_case_sensitive`.
    pub case_sensitive: bool,
    /// `Params.max_canonical_label_byte_length`.
    pub max_label_bytes: u64,
}

impl Default for LabelRules {
    /// A single-value topic with the chain's defaults.
    fn default() -> Self {
        LabelRules {
            arity: OutputArity::Single,
            max_labels_per_submission: DEFAULT_MAX_LABELS_PER_SUBMISSION,
            whitelist: Vec::new(),
            case_sensitive: false,
            max_label_bytes: DEFAULT_MAX_LABEL_BYTES,
        }
    }
}

impl LabelRules {
    /// The rules of `topic` (from `GetTopic`) under `params` (from
    /// `GetParams`). A whitelist entry the chain would not accept is left
    /// out (as the chain's label migration drops them); a byte limit of 0
    /// (a chain without the parameter) is taken as the default, 64.
    pub fn from_topic(topic: &v10::Topic, params: &v9::Params) -> Self {
        let max_label_bytes = match params.max_canonical_label_byte_length {
            0 => DEFAULT_MAX_LABEL_BYTES,
            n => n,
        };
        let case_sensitive = topic.label_case_sensitive;
        let mut whitelist: Vec<String> = Vec::with_capacity(topic.label_whitelist.len());
        for label in &topic.label_whitelist {
            if let Ok(canonical) = canonical_label(label, max_label_bytes, case_sensitive) {
                if !whitelist.contains(&canonical) {
                    whitelist.push(canonical);
                }
            }
        }
        LabelRules {
            arity: OutputArity::from_proto(topic.output_arity),
            max_labels_per_submission: topic.max_labels_per_submission,
            whitelist,
            case_sensitive,
            max_label_bytes,
        }
    }

    /// Whether the topic takes one value.
    pub fn is_single(&self) -> bool {
        self.arity == OutputArity::Single
    }

    /// The most labeled values one submission may carry.
    pub fn cap(&self) -> u64 {
        if self.is_single() {
            1
        } else {
            self.max_labels_per_submission
        }
    }

    /// The limits [`validate_labels`] applies.
    pub fn limits(&self) -> LabelLimits<'_> {
        LabelLimits {
            cap: self.cap(),
            whitelist: &self.whitelist,
            max_bytes: self.max_label_bytes,
            case_sensitive: self.case_sensitive,
        }
    }

    /// Every label check of the chain, in its order: [`validate_labels`],
    /// then, on a single-value topic with one labeled value,
    /// [`validate_single_arity_label`]. Returns the canonical labels.
    pub fn check(&self, labels: &[&str]) -> Result<Vec<String>, LabelError> {
        let canonical = validate_labels(labels, self.limits())?;
        if self.is_single() {
            if let [label] = canonical.as_slice() {
                validate_single_arity_label(label)?;
            }
        }
        Ok(canonical)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn canon(label: &str) -> Result<String, (u32, String)> {
        canonical_label(label, 64, false).map_err(|e| (e.kind.code(), e.to_string()))
    }

    #[test]
    fn labels_are_trimmed_lowercased_and_limited_to_the_charset() {
        assert_eq!(canon("  Y  ").unwrap(), "y");
        assert_eq!(canon("BTC/USD 1h.close_-x").unwrap(), "btc/usd 1h.close_-x");
        assert_eq!(canon("\u{2003}up\t").unwrap(), "up", "Unicode white space");
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
        // NFC first: e + combining acute is reported as the composed é.
        assert_eq!(
            canon("e\u{301}").unwrap_err().1,
            "label contains a disallowed character: U+00E9: invalid label name"
        );
        assert_eq!(
            canonical_label("abcd", 3, false).unwrap_err().to_string(),
            "label exceeds 3 bytes after normalization (got 4): invalid label name"
        );
        assert!(
            canonical_label("abc", 3, false).is_ok(),
            "the limit itself is allowed"
        );
        // The length is checked before the charset.
        assert!(canonical_label("a!!!", 3, false)
            .unwrap_err()
            .reason
            .starts_with("label exceeds 3 bytes"));
        assert_eq!(
            canonical_label("a", 0, false).unwrap_err().kind,
            LabelErrorKind::InvalidLabelName
        );
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
        assert_eq!((err.kind.codespace(), err.kind.code()), ("emissions", 98));
        assert_eq!(
            err.to_string(),
            "submission has 2 labels, per-topic cap is 1: too many labels in one submission \
             (exceeds effective cap)"
        );
        let two = LabelLimits { cap: 2, ..limits };
        let err = validate_labels(&["A", " a"], two).unwrap_err();
        assert_eq!(
            (err.kind.code(), err.to_string().as_str()),
            (
                95,
                "duplicate label after canonicalization at index 1: \"a\": invalid label name"
            )
        );
        let err = validate_labels(&["ok", "a?"], two).unwrap_err();
        assert_eq!(
            err.to_string(),
            "input labeled value at index 1: label contains a disallowed character: U+003F: \
             invalid label name"
        );
        let whitelist = ["a".to_owned(), "b".to_owned()];
        let listed = LabelLimits {
            whitelist: &whitelist,
            ..two
        };
        assert_eq!(validate_labels(&["B", "a"], listed).unwrap(), ["b", "a"]);
        let err = validate_labels(&["a", "c"], listed).unwrap_err();
        assert_eq!(
            (err.kind.code(), err.to_string().as_str()),
            (
                97,
                "label \"c\" is not in topic label whitelist: label is not in the topic's label \
                 whitelist"
            )
        );
        let zero = LabelLimits { cap: 0, ..limits };
        assert_eq!(
            validate_labels(&[], zero).unwrap_err().kind.code(),
            62,
            "a zero cap is refused whatever is sent"
        );
        assert!(validate_labels(&[], limits).unwrap().is_empty());
    }

    #[test]
    fn single_arity_takes_y_or_nothing() {
        assert!(validate_single_arity_label("y").is_ok());
        assert!(validate_single_arity_label("").is_ok());
        let err = validate_single_arity_label("price").unwrap_err();
        assert_eq!(
            (
                err.kind.codespace(),
                err.kind.code(),
                err.to_string().as_str()
            ),
            (
                "sdk",
                18,
                "single-arity label must be \"y\", got \"price\": invalid request"
            )
        );
    }

    #[test]
    fn rules_compose_the_checks_per_arity() {
        let single = LabelRules::default();
        assert_eq!(single.cap(), 1);
        assert_eq!(single.check(&["Y"]).unwrap(), ["y"]);
        assert!(single.check(&[]).unwrap().is_empty(), "no label at all");
        assert_eq!(
            single.check(&["y", "z"]).unwrap_err().kind,
            LabelErrorKind::TooManyLabels,
            "two values on a single-value topic are too many, whatever they are"
        );
        assert_eq!(
            single.check(&["inference"]).unwrap_err().kind,
            LabelErrorKind::SingleArityLabel
        );
        let case_sensitive = LabelRules {
            case_sensitive: true,
            ..LabelRules::default()
        };
        assert_eq!(
            case_sensitive.check(&["Y"]).unwrap_err().kind,
            LabelErrorKind::SingleArityLabel,
            "a case-sensitive topic does not fold Y to y"
        );

        let multi = LabelRules {
            arity: OutputArity::Multi,
            max_labels_per_submission: 2,
            ..LabelRules::default()
        };
        assert_eq!(multi.check(&["Up", "down"]).unwrap(), ["up", "down"]);
        assert_eq!(
            multi.check(&["a", "b", "c"]).unwrap_err().kind,
            LabelErrorKind::TooManyLabels
        );
        let long = "x".repeat(65);
        assert_eq!(
            multi.check(&[long.as_str()]).unwrap_err().kind,
            LabelErrorKind::InvalidLabelName
        );
        let short = LabelRules {
            max_label_bytes: 100,
            ..multi.clone()
        };
        assert!(
            short.check(&[long.as_str()]).is_ok(),
            "the limit is a parameter"
        );
    }

    #[test]
    fn rules_are_read_from_the_topic_and_the_params() {
        let topic = v10::Topic {
            id: 3,
            output_arity: v10::TopicOutputArity::Multi as i32,
            max_labels_per_submission: 4,
            label_whitelist: vec!["Up".into(), "down".into(), "bad!".into(), "UP".into()],
            label_case_sensitive: false,
            ..Default::default()
        };
        let params = v9::Params {
            max_canonical_label_byte_length: 16,
            ..Default::default()
        };
        let rules = LabelRules::from_topic(&topic, &params);
        assert_eq!(rules.arity, OutputArity::Multi);
        assert_eq!(rules.cap(), 4);
        assert_eq!(rules.whitelist, ["up", "down"]);
        assert_eq!(rules.max_label_bytes, 16);
        let unset = LabelRules::from_topic(&v10::Topic::default(), &v9::Params::default());
        assert_eq!(unset.arity, OutputArity::Unspecified);
        assert_eq!(unset.max_label_bytes, DEFAULT_MAX_LABEL_BYTES);
    }

    #[test]
    fn whitelists_are_canonicalised_without_duplicates() {
        assert_eq!(
            canonical_whitelist(&["Up".into(), " down ".into()], 64, false).unwrap(),
            ["up", "down"]
        );
        assert!(canonical_whitelist(&["up".into(), "UP".into()], 64, false)
            .unwrap_err()
            .reason
            .contains("duplicate"));
        assert!(canonical_whitelist(&["up".into(), "UP".into()], 64, true).is_ok());
        assert_eq!(
            canonical_whitelist(&["a,b".into()], 64, false)
                .unwrap_err()
                .to_string(),
            "label at index 0: label contains a disallowed character: U+002C: invalid label name"
        );
    }
}
