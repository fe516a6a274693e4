//! Reading what an inference server answers: a bare number as text, a JSON
//! number, a JSON string holding a number, or a JSON object of labeled
//! values (inferer address -> value, for forecasts).
//!
//! A forecast server may also answer in the official off-chain node's
//! format, inferer address -> list of numbers (`{"allo1...": [0.12, 0.3]}`):
//! as that node does, the first number of each list is the value and an
//! empty list leaves its inferer out.
//!
//! Whether a one-key object (`{"inference": 3012.5}`) is a single value or
//! one labeled value depends on the topic's arity, which only the worker
//! knows: it comes back here as [`Prediction::Labeled`] with one pair.
//!
//! Numbers are taken from the raw response text, never through `f64`, so
//! `0.70` stays `0.70` and a 30-digit value keeps its digits.

use std::fmt;

use serde::de::{Deserialize, Deserializer, MapAccess, Visitor};
use serde_json::value::RawValue;

use crate::convert::{check_forecast, check_labeled};
use crate::decimal::Dec;
use crate::error::InferError;
use crate::request::{ForecastValue, Prediction};

/// A response, before it is known whether it is an inference or a forecast.
#[derive(Debug, PartialEq, Eq)]
enum Answer {
    Scalar(Dec),
    Object(Vec<(String, Dec)>),
}

/// Which object values are accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Values {
    /// Numbers and numeric strings.
    Scalars,
    /// Also lists of them, of which the first counts (an empty list drops
    /// its key): the forecast format of the official off-chain node.
    FirstOfList,
}

pub(crate) fn parse_prediction(body: &str, url: &str) -> Result<Prediction, InferError> {
    match parse_answer(body, url, Values::Scalars)? {
        Answer::Scalar(v) => Ok(Prediction::Single(v)),
        Answer::Object(pairs) => {
            check_labeled(&pairs)?;
            Ok(Prediction::Labeled(pairs))
        }
    }
}

pub(crate) fn parse_forecast(body: &str, url: &str) -> Result<Vec<ForecastValue>, InferError> {
    let pairs = match parse_answer(body, url, Values::FirstOfList)? {
        Answer::Object(pairs) => pairs,
        Answer::Scalar(_) => {
            return Err(InferError::UnexpectedShape {
                detail: "a forecast must be a JSON object mapping inferer address to value, got a single number".into(),
            })
        }
    };
    let values: Vec<ForecastValue> = pairs
        .into_iter()
        .map(|(inferer, value)| ForecastValue { inferer, value })
        .collect();
    check_forecast(&values)?;
    Ok(values)
}

fn parse_answer(body: &str, url: &str, values: Values) -> Result<Answer, InferError> {
    let text = body.trim();
    match text.as_bytes().first() {
        None => Err(InferError::EmptyResponse {
            url: url.to_owned(),
        }),
        Some(b'{') => {
            let entries: Entries = serde_json::from_str(text).map_err(invalid_json)?;
            let mut pairs = Vec::with_capacity(entries.0.len());
            for (key, raw) in entries.0 {
                let value = match values {
                    Values::Scalars => Some(raw_value(&raw)),
                    Values::FirstOfList => first_of_list(&raw).transpose(),
                };
                if let Some(value) = value {
                    let value = value.map_err(|e| with_context(e, &key))?;
                    pairs.push((key, value));
                }
            }
            Ok(Answer::Object(pairs))
        }
        Some(b'"') => {
            let inner: String = serde_json::from_str(text).map_err(invalid_json)?;
            Ok(Answer::Scalar(inner.parse()?))
        }
        Some(b'[') => Err(InferError::UnexpectedShape {
            detail: "got a JSON array; answer with a number or an object of labeled values".into(),
        }),
        Some(_) if matches!(text, "null" | "true" | "false") => Err(InferError::UnexpectedShape {
            detail: format!("got JSON {text}; answer with a number"),
        }),
        // A bare number in text and a JSON number are the same text.
        Some(_) => Ok(Answer::Scalar(text.parse()?)),
    }
}

fn raw_value(raw: &RawValue) -> Result<Dec, InferError> {
    let text = raw.get();
    match text.as_bytes().first() {
        Some(b'"') => {
            let inner: String = serde_json::from_str(text).map_err(invalid_json)?;
            Ok(inner.parse()?)
        }
        Some(b'-' | b'0'..=b'9') => Ok(text.parse()?),
        _ => Err(InferError::UnexpectedShape {
            detail: format!("value {text} is not a number or a numeric string"),
        }),
    }
}

/// A value, or the first element of a list of values (`None` for an empty
/// list).
fn first_of_list(raw: &RawValue) -> Result<Option<Dec>, InferError> {
    if !raw.get().starts_with('[') {
        return raw_value(raw).map(Some);
    }
    let list: Vec<Box<RawValue>> = serde_json::from_str(raw.get()).map_err(invalid_json)?;
    list.first().map(|first| raw_value(first)).transpose()
}

fn with_context(err: InferError, key: &str) -> InferError {
    match err {
        InferError::InvalidValue { source, .. } => InferError::invalid_value(key, source),
        InferError::UnexpectedShape { detail } => InferError::UnexpectedShape {
            detail: format!("{detail} (key {key:?})"),
        },
        other => other,
    }
}

fn invalid_json(e: serde_json::Error) -> InferError {
    InferError::InvalidJson {
        detail: e.to_string(),
    }
}

/// Object entries in document order, each value kept as its raw JSON text.
struct Entries(Vec<(String, Box<RawValue>)>);

impl<'de> Deserialize<'de> for Entries {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct EntriesVisitor;

        impl<'de> Visitor<'de> for EntriesVisitor {
            type Value = Entries;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object")
            }

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Entries, A::Error> {
                let mut entries = Vec::new();
                while let Some(entry) = map.next_entry::<String, Box<RawValue>>()? {
                    entries.push(entry);
                }
                Ok(Entries(entries))
            }
        }

        deserializer.deserialize_map(EntriesVisitor)
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::decimal::DecimalError;

    fn dec(s: &str) -> Dec {
        s.parse().unwrap()
    }

    #[test]
    fn scalar_forms_keep_their_text() {
        for (body, want) in [
            ("123.45", "123.45"),
            ("  0.70\n", "0.70"),
            ("\"0.70\"", "0.70"),
            ("1e-7", "1E-7"),
            ("\"-2.5E+3\"", "-2.5E+3"),
            (
                "123456789012345678901234567890.5",
                "123456789012345678901234567890.5",
            ),
        ] {
            assert_eq!(
                parse_prediction(body, "u").unwrap(),
                Prediction::Single(dec(want)),
                "{body}"
            );
        }
    }

    #[test]
    fn labeled_object_keeps_order_and_mixed_forms() {
        assert_eq!(
            parse_prediction(r#"{"up":0.70,"down":"0.3"}"#, "u").unwrap(),
            Prediction::Labeled(vec![
                ("up".into(), dec("0.70")),
                ("down".into(), dec("0.3"))
            ])
        );
    }

    #[test]
    fn bad_bodies_are_typed_errors() {
        let err = |body: &str| parse_prediction(body, "u").unwrap_err();
        assert!(matches!(err(""), InferError::EmptyResponse { .. }));
        let invalid = |body: &str| match err(body) {
            InferError::InvalidValue { source, .. } => source,
            other => panic!("{body:?}: {other:?}"),
        };
        assert!(matches!(invalid("NaN"), DecimalError::NonFinite(_)));
        assert!(matches!(
            invalid("\"Infinity\""),
            DecimalError::NonFinite(_)
        ));
        assert!(matches!(invalid("1e50"), DecimalError::OutOfRange(_)));
        assert!(matches!(invalid("hello"), DecimalError::Invalid { .. }));
        assert!(matches!(err("{\"a\":1,"), InferError::InvalidJson { .. }));
        assert!(matches!(err("\"12"), InferError::InvalidJson { .. }));
        assert!(matches!(err("[1]"), InferError::UnexpectedShape { .. }));
        assert!(matches!(err("null"), InferError::UnexpectedShape { .. }));
        assert!(matches!(err("{}"), InferError::UnexpectedShape { .. }));
        assert!(matches!(
            err(r#"{"a":{"b":1}}"#),
            InferError::UnexpectedShape { .. }
        ));
        assert!(matches!(err(r#"{"a":1,"a":2}"#), InferError::DuplicateKey(k) if k == "a"));
        match err(r#"{"up":"NaN"}"#) {
            InferError::InvalidValue { context, .. } => assert_eq!(context, "up"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn forecasts_are_objects_of_inferers() {
        let got = parse_forecast(r#"{"allo1b":"0.5","allo1a":0.25}"#, "u").unwrap();
        assert_eq!(
            got,
            vec![
                ForecastValue::new("allo1b", dec("0.5")),
                ForecastValue::new("allo1a", dec("0.25"))
            ]
        );
        assert!(matches!(
            parse_forecast("1.5", "u"),
            Err(InferError::UnexpectedShape { .. })
        ));
        assert!(matches!(
            parse_forecast("{}", "u"),
            Err(InferError::UnexpectedShape { .. })
        ));
        assert!(matches!(
            parse_forecast(r#"{"":1}"#, "u"),
            Err(InferError::UnexpectedShape { .. })
        ));
    }

    #[test]
    fn forecasts_take_the_first_number_of_each_list() {
        let got = parse_forecast(
            r#"{"allo1b": [0.12, 0.3], "allo1a": ["7"], "allo1c": [], "allo1d": 5}"#,
            "u",
        )
        .unwrap();
        assert_eq!(
            got,
            vec![
                ForecastValue::new("allo1b", dec("0.12")),
                ForecastValue::new("allo1a", dec("7")),
                ForecastValue::new("allo1d", dec("5"))
            ]
        );
        // Only empty lists: no element at all.
        assert!(matches!(
            parse_forecast(r#"{"allo1a": []}"#, "u"),
            Err(InferError::UnexpectedShape { .. })
        ));
        match parse_forecast(r#"{"allo1a": ["NaN", 1]}"#, "u") {
            Err(InferError::InvalidValue { context, .. }) => assert_eq!(context, "allo1a"),
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            parse_forecast(r#"{"allo1a": [[1]]}"#, "u"),
            Err(InferError::UnexpectedShape { .. })
        ));
        // Inferences do not take lists.
        assert!(matches!(
            parse_prediction(r#"{"up": [1]}"#, "u"),
            Err(InferError::UnexpectedShape { .. })
        ));
    }

    #[test]
    fn a_one_key_object_is_left_to_the_worker() {
        assert_eq!(
            parse_prediction(r#"{"inference": 3012.5}"#, "u").unwrap(),
            Prediction::Labeled(vec![("inference".into(), dec("3012.5"))])
        );
        assert_eq!(
            parse_prediction(r#"{"prediction": "0.0012"}"#, "u").unwrap(),
            Prediction::Labeled(vec![("prediction".into(), dec("0.0012"))])
        );
    }

    proptest! {
        // Outside input must never panic, whatever it is.
        #[test]
        fn never_panics(body in ".{0,64}") {
            let _ = parse_prediction(&body, "u");
            let _ = parse_forecast(&body, "u");
        }

        // Any value that parses as a Dec comes back unchanged through each wire form.
        #[test]
        fn decimals_round_trip(mantissa in -1_000_000_000i64..1_000_000_000, scale in 0u32..12) {
            let text = if scale == 0 { mantissa.to_string() } else {
                let s = format!("{:0>width$}", mantissa.unsigned_abs(), width = scale as usize + 1);
                let (i, f) = s.split_at(s.len() - scale as usize);
                format!("{}{i}.{f}", if mantissa < 0 { "-" } else { "" })
            };
            let want = Prediction::Single(dec(&text));
            prop_assert_eq!(parse_prediction(&text, "u").unwrap(), want.clone());
            prop_assert_eq!(parse_prediction(&format!("\"{text}\""), "u").unwrap(), want);
        }
    }
}
