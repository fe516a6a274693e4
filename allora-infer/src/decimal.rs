//! Canonical decimal text, as the chain re-encodes it.
//!
//! The chain stores inference and forecast values as arbitrary-precision
//! decimals and, when it verifies a bundle signature, re-marshals them with the
//! general (`'G'`) text format of its decimal library. A value signed in any
//! other spelling (`1.2345e-07` instead of `1.2345E-7`) fails verification, so
//! every value that goes into a payload passes through [`Dec`] first.
//!
//! The rules: a finite decimal with coefficient digits `d` and exponent `e`
//! (value = d × 10^e) is written in plain notation when `e <= 0` and the
//! adjusted exponent (`e + len(d) - 1`) is at least -6; otherwise in scientific
//! notation with an upper-case `E` and an explicit exponent sign. Trailing
//! zeros are significant and kept (`0.70` stays `0.70`).
//!
//! The chain also bounds input values: zero, or a magnitude between `1E-40`
//! and `1E+40` inclusive. [`Dec`] enforces that bound too, so a value that
//! would be refused at decode time on the chain is refused here first.
//!
//! ```
//! use allora_infer::Dec;
//!
//! assert_eq!("1e3".parse::<Dec>().unwrap().as_str(), "1E+3");
//! assert_eq!(Dec::try_from(1.2345e-7).unwrap().as_str(), "1.2345E-7");
//! assert_eq!("0.70".parse::<Dec>().unwrap().as_str(), "0.70");
//! assert!(Dec::try_from(f64::NAN).is_err());
//! ```

use std::fmt;
use std::str::FromStr;

/// Below this adjusted exponent the general format switches to scientific notation.
const ADJ_EXPONENT_LIMIT: i64 = -6;
/// Zeros with an exponent at or above this are padded into plain notation.
const LOWEST_ZERO_NEG_EXPONENT: i64 = -2000;
/// Largest exponent magnitude accepted in input text; far beyond any real
/// prediction, small enough that formatting can never allocate unboundedly.
const MAX_EXPONENT_MAGNITUDE: i64 = 100_000;
/// Longest input accepted, in bytes.
const MAX_INPUT_LEN: usize = 1024;

/// Why a value could not be turned into a chain decimal.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecimalError {
    /// The input was empty (or only white space).
    #[error("empty decimal: a number such as \"1.5\" or \"-2E-3\" is required")]
    Empty,
    /// The input was NaN or an infinity, which the chain cannot store.
    #[error("non-finite value {0:?}: the chain accepts only finite decimals")]
    NonFinite(String),
    /// The value is outside what the chain accepts for inputs: zero, or a
    /// magnitude between 1E-40 and 1E+40 inclusive.
    #[error(
        "decimal {0} is out of range: the chain accepts 0 or a magnitude between 1E-40 and 1E+40"
    )]
    OutOfRange(String),
    /// The input is not a decimal number.
    #[error("invalid decimal {input:?}: {reason}")]
    Invalid {
        /// The offending input, truncated to 64 characters.
        input: String,
        /// What is wrong with it.
        reason: &'static str,
    },
}

impl DecimalError {
    fn invalid(input: &str, reason: &'static str) -> Self {
        DecimalError::Invalid {
            input: input.chars().take(64).collect(),
            reason,
        }
    }
}

/// A finite decimal in the chain's canonical text form.
///
/// Build one from a string ([`FromStr`]), an `f64` ([`TryFrom<f64>`], which
/// uses the shortest decimal that round-trips, as Python's `str(float)` does),
/// or any integer type.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Dec(String);

impl Dec {
    /// The canonical text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Consumes the value, returning the canonical text.
    pub fn into_string(self) -> String {
        self.0
    }

    /// Whether the value is zero (of either sign, with any exponent).
    pub fn is_zero(&self) -> bool {
        self.0
            .bytes()
            .take_while(|b| *b != b'E')
            .all(|b| matches!(b, b'0' | b'.' | b'-'))
    }

    /// Compares the values (not the text, whose derived order is that of
    /// strings): `"1.50"` equals `"1.5"`, `"-0"` equals `"0"`, `"1E+3"` is
    /// above `"999.9"`. Exact, whatever the number of digits.
    ///
    /// ```
    /// use std::cmp::Ordering;
    /// use allora_infer::Dec;
    ///
    /// let d = |s: &str| s.parse::<Dec>().unwrap();
    /// assert_eq!(d("1.50").cmp_value(&d("1.5")), Ordering::Equal);
    /// assert_eq!(d("1E+3").cmp_value(&d("999.9")), Ordering::Greater);
    /// assert_eq!(d("-2").cmp_value(&d("1E-7")), Ordering::Less);
    /// ```
    pub fn cmp_value(&self, other: &Dec) -> std::cmp::Ordering {
        use std::cmp::Ordering;
        let (a, b) = (Magnitude::of(&self.0), Magnitude::of(&other.0));
        match (a.sign(), b.sign()) {
            (x, y) if x != y => x.cmp(&y),
            (0, _) => Ordering::Equal,
            (sign, _) => {
                let by_magnitude = a
                    .adjusted
                    .cmp(&b.adjusted)
                    .then_with(|| a.digits.cmp(&b.digits));
                if sign < 0 {
                    by_magnitude.reverse()
                } else {
                    by_magnitude
                }
            }
        }
    }

    fn from_parts(negative: bool, digits: &str, exponent: i64) -> Self {
        let mut digit_len = digits.len() as i64;
        let is_zero = digits.bytes().all(|b| b == b'0');
        if is_zero && (LOWEST_ZERO_NEG_EXPONENT..0).contains(&exponent) {
            digit_len += -exponent;
        }
        let adjusted = exponent + digit_len - 1;
        let mut out = String::with_capacity(digits.len() + 8);
        if negative {
            out.push('-');
        }
        if exponent <= 0 && adjusted >= ADJ_EXPONENT_LIMIT {
            format_plain(&mut out, digits, exponent);
        } else {
            format_scientific(&mut out, digits, exponent);
        }
        Dec(out)
    }
}

/// A canonical value split for comparison: its sign, the exponent of its
/// first significant digit, and its significant digits without trailing
/// zeros (empty for zero).
struct Magnitude {
    negative: bool,
    adjusted: i64,
    digits: String,
}

impl Magnitude {
    fn of(text: &str) -> Magnitude {
        let (negative, rest) = match text.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, text),
        };
        let (mantissa, exponent) = match rest.split_once('E') {
            Some((m, e)) => (m, e.parse::<i64>().unwrap_or(0)),
            None => (rest, 0),
        };
        let (int_part, frac_part) = mantissa.split_once('.').unwrap_or((mantissa, ""));
        let all: String = int_part.chars().chain(frac_part.chars()).collect();
        let significant = all.trim_start_matches('0');
        let leading = (all.len() - significant.len()) as i64;
        // value = 0.d1d2... × 10^(int_len + exponent - leading), so the first
        // significant digit sits at 10^(int_len - leading - 1 + exponent).
        let adjusted = int_part.len() as i64 - leading - 1 + exponent;
        Magnitude {
            negative,
            adjusted,
            digits: significant.trim_end_matches('0').to_owned(),
        }
    }

    /// -1, 0 or 1.
    fn sign(&self) -> i8 {
        if self.digits.is_empty() {
            0
        } else if self.negative {
            -1
        } else {
            1
        }
    }
}

/// Checks the chain's bound on input values for a coefficient without
/// leading zeros.
fn check_bounds(negative: bool, digits: &str, exponent: i64) -> Result<(), DecimalError> {
    if digits.bytes().all(|b| b == b'0') {
        return Ok(());
    }
    let adjusted = exponent + digits.len() as i64 - 1;
    let above_one_e40 = adjusted > 40
        || (adjusted == 40 && !(digits.starts_with('1') && digits[1..].bytes().all(|b| b == b'0')));
    if adjusted < -40 || above_one_e40 {
        return Err(DecimalError::OutOfRange(
            Dec::from_parts(negative, digits, exponent).into_string(),
        ));
    }
    Ok(())
}

fn format_plain(out: &mut String, digits: &str, exponent: i64) {
    if exponent >= 0 {
        out.push_str(digits);
        out.extend(std::iter::repeat_n('0', exponent as usize));
        return;
    }
    let left = -exponent - digits.len() as i64;
    if left >= 0 {
        out.push_str("0.");
        out.extend(std::iter::repeat_n('0', left as usize));
        out.push_str(digits);
    } else {
        let split = (-left) as usize;
        out.push_str(&digits[..split]);
        out.push('.');
        out.push_str(&digits[split..]);
    }
}

fn format_scientific(out: &mut String, digits: &str, exponent: i64) {
    let adjusted = exponent + digits.len() as i64 - 1;
    out.push_str(&digits[..1]);
    if digits.len() > 1 {
        out.push('.');
        out.push_str(&digits[1..]);
    }
    out.push('E');
    out.push(if adjusted < 0 { '-' } else { '+' });
    out.push_str(&adjusted.unsigned_abs().to_string());
}

impl FromStr for Dec {
    type Err = DecimalError;

    /// Parses `[+-]digits[.digits][(e|E)[+-]digits]` (white space around it is
    /// ignored; a leading or trailing point such as `.5` or `5.` is accepted).
    fn from_str(input: &str) -> Result<Self, Self::Err> {
        let s = input.trim();
        if s.is_empty() {
            return Err(DecimalError::Empty);
        }
        if s.len() > MAX_INPUT_LEN {
            return Err(DecimalError::invalid(s, "longer than 1024 characters"));
        }
        let lower = s.trim_start_matches(['+', '-']).to_ascii_lowercase();
        if matches!(
            lower.as_str(),
            "nan" | "snan" | "inf" | "infinity" | "+inf" | "-inf"
        ) {
            return Err(DecimalError::NonFinite(s.to_owned()));
        }

        let (negative, rest) = match s.as_bytes()[0] {
            b'-' => (true, &s[1..]),
            b'+' => (false, &s[1..]),
            _ => (false, s),
        };
        let (mantissa, exp_text) = match rest.find(['e', 'E']) {
            Some(i) => (&rest[..i], Some(&rest[i + 1..])),
            None => (rest, None),
        };
        let (int_part, frac_part) = match mantissa.find('.') {
            Some(i) => (&mantissa[..i], &mantissa[i + 1..]),
            None => (mantissa, ""),
        };
        if int_part.is_empty() && frac_part.is_empty() {
            return Err(DecimalError::invalid(s, "no digits"));
        }
        if !int_part.bytes().all(|b| b.is_ascii_digit())
            || !frac_part.bytes().all(|b| b.is_ascii_digit())
        {
            return Err(DecimalError::invalid(s, "not a number"));
        }
        let exponent: i64 = match exp_text {
            None => 0,
            Some(t) => {
                let digits = t.trim_start_matches(['+', '-']);
                if digits.is_empty()
                    || t.len() - digits.len() > 1
                    || !digits.bytes().all(|b| b.is_ascii_digit())
                {
                    return Err(DecimalError::invalid(s, "malformed exponent"));
                }
                match t.parse::<i64>() {
                    Ok(e) if e.abs() <= MAX_EXPONENT_MAGNITUDE => e,
                    _ => return Err(DecimalError::invalid(s, "exponent out of range")),
                }
            }
        };

        let mut digits = String::with_capacity(int_part.len() + frac_part.len());
        digits.push_str(int_part);
        digits.push_str(frac_part);
        // Leading zeros carry no value; keep at least one digit.
        let significant = digits.trim_start_matches('0');
        let digits = if significant.is_empty() {
            "0"
        } else {
            significant
        };
        let exponent = exponent - frac_part.len() as i64;
        // The canonical text carries the exponent net of the fraction
        // digits; it must stay within what parsing accepts.
        if exponent.abs() > MAX_EXPONENT_MAGNITUDE {
            return Err(DecimalError::invalid(s, "exponent out of range"));
        }
        check_bounds(negative, digits, exponent)?;
        let dec = Dec::from_parts(negative, digits, exponent);
        // A zero with a very negative exponent is spelled out in full
        // ("0E-1590" is 1592 characters); refuse what could not be read back.
        if dec.0.len() > MAX_INPUT_LEN {
            return Err(DecimalError::invalid(
                s,
                "canonical form longer than 1024 characters",
            ));
        }
        Ok(dec)
    }
}

impl TryFrom<f64> for Dec {
    type Error = DecimalError;

    /// Converts through the shortest decimal that round-trips to the same
    /// `f64`, spelled the way Python's `str(float)` spells it (so `1000.0`
    /// stays `1000.0` and `1e16` becomes `1E+16`), which is what the official
    /// SDK signs for a float prediction.
    fn try_from(value: f64) -> Result<Self, Self::Error> {
        from_float(value, value.is_finite())
    }
}

impl TryFrom<f32> for Dec {
    type Error = DecimalError;

    /// As for `f64`, from the shortest text of the `f32` itself (0.1f32 is
    /// `0.1`, not the `0.10000000149011612` of its widening to `f64`).
    fn try_from(value: f32) -> Result<Self, Self::Error> {
        from_float(value, value.is_finite())
    }
}

/// A float (`finite` or not) through the shortest text that round-trips.
fn from_float<F: fmt::Display + fmt::LowerExp>(
    value: F,
    finite: bool,
) -> Result<Dec, DecimalError> {
    if !finite {
        return Err(DecimalError::NonFinite(value.to_string()));
    }
    // `{:e}` yields the shortest round-trip digits: "1.2345e-7", "-1e3".
    from_shortest_scientific(&format!("{value:e}"))
}

/// Turns Rust's shortest `{:e}` text of a float into the decimal that Python's
/// float repr would produce, then into canonical form.
fn from_shortest_scientific(sci: &str) -> Result<Dec, DecimalError> {
    let (mantissa, exp) = sci
        .split_once('e')
        .ok_or_else(|| DecimalError::invalid(sci, "unexpected float format"))?;
    let exp10: i64 = exp
        .parse()
        .map_err(|_| DecimalError::invalid(sci, "unexpected float format"))?;
    let negative = mantissa.starts_with('-');
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    // Python's repr uses plain notation for exponents in [-4, 16) and always
    // shows at least one fractional digit there ("1000.0", "0.5").
    if (-4..16).contains(&exp10) {
        let frac_digits = (digits.len() as i64 - 1 - exp10).max(1);
        let mut coeff = digits;
        let pad = frac_digits + exp10 + 1 - coeff.len() as i64;
        coeff.extend(std::iter::repeat_n('0', pad.max(0) as usize));
        let coeff = trim_leading_zeros(&coeff);
        check_bounds(negative, coeff, -frac_digits)?;
        Ok(Dec::from_parts(negative, coeff, -frac_digits))
    } else {
        let exponent = exp10 - (digits.len() as i64 - 1);
        check_bounds(negative, &digits, exponent)?;
        Ok(Dec::from_parts(negative, &digits, exponent))
    }
}

fn trim_leading_zeros(digits: &str) -> &str {
    let t = digits.trim_start_matches('0');
    if t.is_empty() {
        "0"
    } else {
        t
    }
}

impl TryFrom<&str> for Dec {
    type Error = DecimalError;

    /// Parses the text, as [`FromStr`] does.
    fn try_from(value: &str) -> Result<Self, Self::Error> {
        value.parse()
    }
}

impl TryFrom<String> for Dec {
    type Error = DecimalError;

    /// Parses the text, as [`FromStr`] does.
    fn try_from(value: String) -> Result<Self, Self::Error> {
        value.parse()
    }
}

impl TryFrom<&String> for Dec {
    type Error = DecimalError;

    /// Parses the text, as [`FromStr`] does.
    fn try_from(value: &String) -> Result<Self, Self::Error> {
        value.parse()
    }
}

macro_rules! dec_from_int {
    ($($t:ty),*) => {$(
        impl From<$t> for Dec {
            fn from(value: $t) -> Self {
                let text = value.to_string();
                let (negative, digits) = match text.strip_prefix('-') {
                    Some(d) => (true, d),
                    None => (false, text.as_str()),
                };
                Dec::from_parts(negative, digits, 0)
            }
        }
    )*};
}
dec_from_int!(i8, i16, i32, i64, i128, isize, u8, u16, u32, u64, u128, usize);

impl fmt::Display for Dec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Dec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Dec({})", self.0)
    }
}

impl AsRef<str> for Dec {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl From<Dec> for String {
    fn from(value: Dec) -> Self {
        value.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn canon(s: &str) -> String {
        s.parse::<Dec>().unwrap().into_string()
    }

    #[test]
    fn values_compare_by_value_not_text() {
        use std::cmp::Ordering::{Equal, Greater, Less};
        let d = |s: &str| s.parse::<Dec>().unwrap();
        let cases = [
            ("1.50", "1.5", Equal),
            ("-0", "0", Equal),
            ("0.000", "0E-5", Equal),
            ("1E+3", "999.9", Greater),
            ("1E+3", "1000", Equal),
            ("12.5", "125", Less),
            ("0.0012", "0.00119", Greater),
            ("1E-7", "0", Greater),
            ("-1E-7", "0", Less),
            ("-2", "-10", Greater),
            ("-2.5", "-2.50", Equal),
            ("3012.5", "3012.49999999999999999", Greater),
            (
                "123456789012345678901234567890.5",
                "123456789012345678901234567890.4",
                Greater,
            ),
        ];
        for (a, b, want) in cases {
            assert_eq!(d(a).cmp_value(&d(b)), want, "{a} vs {b}");
            assert_eq!(d(b).cmp_value(&d(a)), want.reverse(), "{b} vs {a}");
        }
    }

    #[test]
    fn strings_follow_general_format() {
        let cases = [
            ("1e3", "1E+3"),
            ("1.2345e-07", "1.2345E-7"),
            ("123.456", "123.456"),
            ("-0.00001234", "-0.00001234"),
            ("0.70", "0.70"),
            ("0", "0"),
            ("-0", "-0"),
            ("0.000", "0.000"),
            ("0.0000001", "1E-7"),
            ("0.000001", "0.000001"),
            ("100", "100"),
            ("1E+2", "1E+2"),
            ("12.5e1", "125"),
            ("12.5e2", "1.25E+3"),
            (".5", "0.5"),
            ("5.", "5"),
            ("+3.25", "3.25"),
            ("007.50", "7.50"),
            ("  42 ", "42"),
            ("0e5", "0E+5"),
            ("0E-7", "0.0000000"),
            ("98765.4321", "98765.4321"),
            ("-1.5", "-1.5"),
        ];
        for (input, want) in cases {
            assert_eq!(canon(input), want, "input {input:?}");
        }
    }

    #[test]
    fn floats_match_python_repr_then_general_format() {
        let cases: [(f64, &str); 12] = [
            (1.2345e-7, "1.2345E-7"),
            (1.23e-7, "1.23E-7"),
            (0.3, "0.3"),
            (1000.0, "1000.0"),
            (1e16, "1E+16"),
            (1.5e16, "1.5E+16"),
            (123.456, "123.456"),
            (0.0001, "0.0001"),
            (0.00001, "0.00001"),
            (-2.5, "-2.5"),
            (0.0, "0.0"),
            (9_999_999_999_999_998.0, "9999999999999998.0"),
        ];
        for (input, want) in cases {
            assert_eq!(
                Dec::try_from(input).unwrap().as_str(),
                want,
                "input {input:e}"
            );
        }
    }

    #[test]
    fn integers_are_plain() {
        assert_eq!(Dec::from(0u8).as_str(), "0");
        assert_eq!(Dec::from(-42i64).as_str(), "-42");
        assert_eq!(Dec::from(u128::MAX).as_str(), u128::MAX.to_string());
    }

    #[test]
    fn rejects_garbage_and_non_finite() {
        for bad in [
            "", "   ", "abc", "1.2.3", "1e", "e5", "--1", "1e+-2", "0x10", "1,5", ".",
        ] {
            assert!(bad.parse::<Dec>().is_err(), "accepted {bad:?}");
        }
        for nf in ["NaN", "nan", "-inf", "Infinity", "+Infinity"] {
            assert!(
                matches!(nf.parse::<Dec>(), Err(DecimalError::NonFinite(_))),
                "{nf}"
            );
        }
        assert!(matches!(
            Dec::try_from(f64::NAN),
            Err(DecimalError::NonFinite(_))
        ));
        assert!(matches!(
            Dec::try_from(f64::INFINITY),
            Err(DecimalError::NonFinite(_))
        ));
        assert!(matches!(
            Dec::try_from(f32::NEG_INFINITY),
            Err(DecimalError::NonFinite(_))
        ));
        assert!("1e999999999".parse::<Dec>().is_err());
        for out in [
            "1e41",
            "1.0000001E+40",
            "-2E+40",
            "9.9e-41",
            "1e-41",
            "0.00000000000000000000000000000000000000000099",
        ] {
            assert!(
                matches!(out.parse::<Dec>(), Err(DecimalError::OutOfRange(_))),
                "{out}"
            );
        }
        for inside in ["1e40", "-1.000E+40", "1e-40", "-1E-40", "0e-99", "0E+99"] {
            assert!(inside.parse::<Dec>().is_ok(), "{inside}");
        }
        assert!(matches!(
            Dec::try_from(1e-300),
            Err(DecimalError::OutOfRange(_))
        ));
        assert!(matches!(
            Dec::try_from(f64::MAX),
            Err(DecimalError::OutOfRange(_))
        ));
        assert!("1".repeat(2000).parse::<Dec>().is_err());
    }

    #[test]
    fn canonical_text_is_a_fixed_point() {
        for s in [
            "1E+3",
            "1.2345E-7",
            "0.70",
            "-0.00001234",
            "0.0000000",
            "1000.0",
        ] {
            assert_eq!(canon(s), s);
        }
    }

    #[test]
    fn f32_uses_its_own_shortest_text() {
        assert_eq!(Dec::try_from(0.1f32).unwrap().as_str(), "0.1");
    }

    #[test]
    fn zero_detection() {
        assert!(canon("0.000").parse::<Dec>().unwrap().is_zero());
        assert!("-0E-7".parse::<Dec>().unwrap().is_zero());
        assert!(!"1E-7".parse::<Dec>().unwrap().is_zero());
    }

    proptest::proptest! {
        #[test]
        fn any_finite_f64_round_trips(x in proptest::num::f64::NORMAL | proptest::num::f64::SUBNORMAL | proptest::num::f64::ZERO) {
            let Ok(d) = Dec::try_from(x) else {
                // Only values outside the chain's bound may be refused.
                proptest::prop_assert!(x != 0.0 && (x.abs() < 1e-40 || x.abs() > 1e40));
                return Ok(());
            };
            // Canonical text is stable and parses back to the same float.
            proptest::prop_assert_eq!(canon(d.as_str()), d.as_str());
            let back: f64 = d.as_str().parse().unwrap();
            proptest::prop_assert_eq!(back, x);
        }

        #[test]
        fn parser_never_panics(s in "\\PC{0,40}") {
            let _ = s.parse::<Dec>();
        }
    }

    /// Found by `fuzz/fuzz_targets/decimal.rs`: a zero with a large negative
    /// exponent parsed into a canonical text too long to parse back.
    #[test]
    fn every_parsed_value_parses_back() {
        assert!("0E-01590".parse::<Dec>().is_err());
        assert!(".000000E-0100000".parse::<Dec>().is_err());
        for text in ["0E-1000", "0E-1022", "-0E-900", "0E-7", "1E-40"] {
            let value: Dec = text.parse().unwrap();
            assert_eq!(value.as_str().parse::<Dec>().unwrap(), value, "{text}");
        }
    }
}
