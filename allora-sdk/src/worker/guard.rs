//! Guard rails on model output: values a topic's owner knows to be wrong
//! (a zero from a model that failed quietly, a price far outside any
//! plausible range) are refused before they are signed, as provider
//! errors, rather than sent to cost a fee and hurt the worker's score.

use std::cmp::Ordering;

use allora_infer::{Dec, InferError, Prediction};

/// What a topic's inference values must satisfy before they are signed.
/// Every labeled value of a multi-value inference is checked alike.
///
/// ```
/// use allora_sdk::worker::ValueGuard;
/// use allora_sdk::{Dec, Prediction};
///
/// let guard = ValueGuard::default()
///     .refuse_zero()
///     .range(Some("100".parse()?), Some("10000".parse()?));
/// assert!(guard.check(&Prediction::Single("3012.5".parse()?)).is_ok());
/// assert!(guard.check(&Prediction::Single(Dec::from(0))).is_err());
/// assert!(guard.check(&Prediction::Single("99.99".parse()?)).is_err());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ValueGuard {
    /// Refuse a value equal to zero.
    pub refuse_zero: bool,
    /// Refuse values below this.
    pub min: Option<Dec>,
    /// Refuse values above this.
    pub max: Option<Dec>,
}

impl ValueGuard {
    /// Refuses zero.
    pub fn refuse_zero(mut self) -> Self {
        self.refuse_zero = true;
        self
    }

    /// Refuses values outside `[min, max]` (each bound optional, both
    /// inclusive).
    pub fn range(mut self, min: Option<Dec>, max: Option<Dec>) -> Self {
        self.min = min;
        self.max = max;
        self
    }

    /// Whether the guard checks anything.
    pub fn is_empty(&self) -> bool {
        !self.refuse_zero && self.min.is_none() && self.max.is_none()
    }

    /// Whether `min` is above `max` (a configuration error).
    pub fn is_inverted(&self) -> bool {
        matches!((&self.min, &self.max), (Some(min), Some(max)) if min.cmp_value(max) == Ordering::Greater)
    }

    /// Checks every value of `prediction`; the first refused one is an
    /// [`InferError::Refused`].
    pub fn check(&self, prediction: &Prediction) -> Result<(), InferError> {
        match prediction {
            Prediction::Single(value) => self.check_value(value, None),
            Prediction::Labeled(pairs) => pairs
                .iter()
                .try_for_each(|(label, value)| self.check_value(value, Some(label))),
        }
    }

    fn check_value(&self, value: &Dec, label: Option<&str>) -> Result<(), InferError> {
        let refused = |reason: String| InferError::Refused {
            value: match label {
                Some(label) => format!("{value} (label {label:?})"),
                None => value.to_string(),
            },
            reason,
        };
        if self.refuse_zero && value.is_zero() {
            return Err(refused(
                "zero is refused for this topic (refuse_zero)".into(),
            ));
        }
        if let Some(min) = &self.min {
            if value.cmp_value(min) == Ordering::Less {
                return Err(refused(format!("below this topic's minimum {min}")));
            }
        }
        if let Some(max) = &self.max {
            if value.cmp_value(max) == Ordering::Greater {
                return Err(refused(format!("above this topic's maximum {max}")));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dec(s: &str) -> Dec {
        s.parse().unwrap()
    }

    #[test]
    fn zero_and_out_of_range_values_are_refused_with_the_rule() {
        let guard = ValueGuard::default()
            .refuse_zero()
            .range(Some(dec("-5")), Some(dec("1E+3")));
        for ok in ["1", "-5", "1000", "999.999", "0.0001"] {
            guard.check(&Prediction::Single(dec(ok))).unwrap();
        }
        for (bad, rule) in [
            ("0", "zero"),
            ("-0.000", "zero"),
            ("-5.0001", "minimum -5"),
            ("1000.1", "maximum 1E+3"),
        ] {
            let err = guard.check(&Prediction::Single(dec(bad))).unwrap_err();
            assert!(err.to_string().contains(rule), "{bad}: {err}");
            assert!(!err.is_retryable());
        }
        let labeled = Prediction::Labeled(vec![("up".into(), dec("1")), ("down".into(), dec("0"))]);
        let err = guard.check(&labeled).unwrap_err();
        assert!(err.to_string().contains("label \"down\""), "{err}");
        assert!(ValueGuard::default()
            .check(&Prediction::Single(dec("0")))
            .is_ok());
        assert!(ValueGuard::default().is_empty() && !guard.is_empty());
        assert!(ValueGuard::default()
            .range(Some(dec("2")), Some(dec("1")))
            .is_inverted());
        assert!(!guard.is_inverted());
    }
}
