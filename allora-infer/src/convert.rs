//! Turning what user code returns (floats, integers, text, labeled pairs)
//! into a [`Prediction`], refusing anything the chain would refuse.
//!
//! ```
//! use allora_infer::{Dec, IntoPrediction, Prediction};
//!
//! assert_eq!(0.5f64.into_prediction().unwrap(), Prediction::Single("0.5".parse::<Dec>().unwrap()));
//! assert_eq!(7u32.into_prediction().unwrap(), Prediction::Single(Dec::from(7)));
//! assert_eq!("0.70".into_prediction().unwrap(), Prediction::Single("0.70".parse::<Dec>().unwrap()));
//! assert!(f64::NAN.into_prediction().is_err());
//!
//! let labeled = vec![("up", 0.7), ("down", 0.3)].into_prediction().unwrap();
//! assert!(matches!(labeled, Prediction::Labeled(ref v) if v.len() == 2));
//! ```

use std::collections::HashSet;

use crate::decimal::Dec;
use crate::error::InferError;
use crate::request::{ForecastValue, Prediction};

/// A value a closure provider may return.
///
/// Implemented for `Dec`, `f64`, `f32`, every integer type, `String`,
/// `&str`, [`Prediction`], `Vec<(label, value)>` (labeled values, order kept)
/// and `Result<T, E>` of any of those where `E: Into<InferError>`, so a
/// closure can fail with a typed error.
pub trait IntoPrediction {
    /// Converts, refusing NaN, infinities, garbage text and values outside
    /// the chain's range.
    fn into_prediction(self) -> Result<Prediction, InferError>;
}

macro_rules! single_value {
    ($($t:ty),*) => {$(
        impl IntoPrediction for $t {
            fn into_prediction(self) -> Result<Prediction, InferError> {
                Ok(Prediction::Single(Dec::try_from(self)?))
            }
        }
    )*};
}
single_value!(
    f64, f32, i8, i16, i32, i64, i128, isize, u8, u16, u32, u64, u128, usize, String, &str, &String
);

impl IntoPrediction for Dec {
    fn into_prediction(self) -> Result<Prediction, InferError> {
        Ok(Prediction::Single(self))
    }
}

impl IntoPrediction for Prediction {
    fn into_prediction(self) -> Result<Prediction, InferError> {
        if let Prediction::Labeled(pairs) = &self {
            check_labeled(pairs)?;
        }
        Ok(self)
    }
}

impl<K, V> IntoPrediction for Vec<(K, V)>
where
    K: Into<String>,
    V: TryInto<Dec>,
    V::Error: Into<InferError>,
{
    fn into_prediction(self) -> Result<Prediction, InferError> {
        let pairs = named_values(self)?;
        check_labeled(&pairs)?;
        Ok(Prediction::Labeled(pairs))
    }
}

impl<T, E> IntoPrediction for Result<T, E>
where
    T: IntoPrediction,
    E: Into<InferError>,
{
    fn into_prediction(self) -> Result<Prediction, InferError> {
        self.map_err(Into::into)?.into_prediction()
    }
}

/// A value a closure forecaster may return.
///
/// Implemented for `Vec<ForecastValue>`, `Vec<(inferer, value)>` (any value
/// [`IntoPrediction`] accepts for a single value: `f64`, integers, text,
/// `Dec`) and `Result<T, E>` of those where `E: Into<InferError>`.
///
/// ```
/// use allora_infer::IntoForecast;
///
/// let f = vec![("allo1a", 0.25), ("allo1b", 0.5)].into_forecast().unwrap();
/// assert_eq!(f[1].inferer, "allo1b");
/// assert!(vec![("allo1a", f64::NAN)].into_forecast().is_err());
/// ```
pub trait IntoForecast {
    /// Converts, refusing invalid values, empty or repeated inferer
    /// addresses and empty forecasts.
    fn into_forecast(self) -> Result<Vec<ForecastValue>, InferError>;
}

impl IntoForecast for Vec<ForecastValue> {
    fn into_forecast(self) -> Result<Vec<ForecastValue>, InferError> {
        check_forecast(&self)?;
        Ok(self)
    }
}

impl<K, V> IntoForecast for Vec<(K, V)>
where
    K: Into<String>,
    V: TryInto<Dec>,
    V::Error: Into<InferError>,
{
    fn into_forecast(self) -> Result<Vec<ForecastValue>, InferError> {
        named_values(self)?
            .into_iter()
            .map(|(inferer, value)| ForecastValue { inferer, value })
            .collect::<Vec<_>>()
            .into_forecast()
    }
}

impl<T, E> IntoForecast for Result<T, E>
where
    T: IntoForecast,
    E: Into<InferError>,
{
    fn into_forecast(self) -> Result<Vec<ForecastValue>, InferError> {
        self.map_err(Into::into)?.into_forecast()
    }
}

/// Converts `(name, value)` pairs (labels or inferers), naming the first
/// whose value is invalid.
fn named_values<K, V>(pairs: Vec<(K, V)>) -> Result<Vec<(String, Dec)>, InferError>
where
    K: Into<String>,
    V: TryInto<Dec>,
    V::Error: Into<InferError>,
{
    pairs
        .into_iter()
        .map(|(name, value)| {
            let name = name.into();
            let value = value
                .try_into()
                .map_err(|e| name_invalid(e.into(), &name))?;
            Ok((name, value))
        })
        .collect()
}

/// Says which value was invalid.
fn name_invalid(err: InferError, name: &str) -> InferError {
    match err {
        InferError::InvalidValue { source, .. } => InferError::invalid_value(name, source),
        other => other,
    }
}

/// A forecast needs at least one element, each for a distinct, named inferer.
pub(crate) fn check_forecast(values: &[ForecastValue]) -> Result<(), InferError> {
    if values.is_empty() {
        return Err(InferError::UnexpectedShape {
            detail: "empty forecast: give at least one (inferer address, value) element".into(),
        });
    }
    let mut seen = HashSet::with_capacity(values.len());
    for v in values {
        if v.inferer.is_empty() {
            return Err(InferError::UnexpectedShape {
                detail: "forecast element with an empty inferer address".into(),
            });
        }
        if !seen.insert(v.inferer.as_str()) {
            return Err(InferError::DuplicateKey(v.inferer.clone()));
        }
    }
    Ok(())
}

/// Labeled values must be non-empty, with distinct non-empty labels: the
/// chain keys them by label.
pub(crate) fn check_labeled(pairs: &[(String, Dec)]) -> Result<(), InferError> {
    if pairs.is_empty() {
        return Err(InferError::UnexpectedShape {
            detail: "no labeled values: return at least one (label, value) pair".into(),
        });
    }
    let mut seen = HashSet::with_capacity(pairs.len());
    for (label, _) in pairs {
        if label.is_empty() {
            return Err(InferError::UnexpectedShape {
                detail: "empty label: every labeled value needs a name".into(),
            });
        }
        if !seen.insert(label.as_str()) {
            return Err(InferError::DuplicateKey(label.clone()));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decimal::DecimalError;

    fn single(text: &str) -> Prediction {
        Prediction::Single(text.parse().unwrap())
    }

    #[test]
    fn numbers_and_text_become_single_values() {
        assert_eq!(1.25f64.into_prediction().unwrap(), single("1.25"));
        assert_eq!(0.1f32.into_prediction().unwrap(), single("0.1"));
        assert_eq!((-3i64).into_prediction().unwrap(), single("-3"));
        assert_eq!(
            String::from("1e3").into_prediction().unwrap(),
            single("1E+3")
        );
        assert_eq!(Dec::from(5u8).into_prediction().unwrap(), single("5"));
    }

    #[test]
    fn non_finite_and_garbage_are_typed_errors() {
        assert!(matches!(
            f64::NAN.into_prediction(),
            Err(InferError::InvalidValue {
                source: DecimalError::NonFinite(_),
                ..
            })
        ));
        assert!(matches!(
            f64::INFINITY.into_prediction(),
            Err(InferError::InvalidValue { .. })
        ));
        assert!(matches!(
            "abc".into_prediction(),
            Err(InferError::InvalidValue {
                source: DecimalError::Invalid { .. },
                ..
            })
        ));
        assert!(matches!(
            1e50f64.into_prediction(),
            Err(InferError::InvalidValue {
                source: DecimalError::OutOfRange(_),
                ..
            })
        ));
    }

    #[test]
    fn labeled_values_keep_order_and_name_the_bad_one() {
        let p = vec![("z", 1.0), ("a", 2.0)].into_prediction().unwrap();
        assert_eq!(
            p,
            Prediction::Labeled(vec![
                ("z".into(), "1.0".parse().unwrap()),
                ("a".into(), "2.0".parse().unwrap())
            ])
        );
        match vec![("ok", 1.0), ("bad", f64::NAN)].into_prediction() {
            Err(InferError::InvalidValue { context, .. }) => assert_eq!(context, "bad"),
            other => panic!("{other:?}"),
        }
        assert_eq!(
            vec![("a", 1), ("a", 2)].into_prediction(),
            Err(InferError::DuplicateKey("a".into()))
        );
        assert!(Vec::<(String, f64)>::new().into_prediction().is_err());
    }

    #[test]
    fn forecasts_keep_order_and_refuse_bad_elements() {
        let f = vec![("allo1b", "0.5"), ("allo1a", "1")]
            .into_forecast()
            .unwrap();
        assert_eq!(
            f,
            vec![
                ForecastValue::new("allo1b", "0.5".parse().unwrap()),
                ForecastValue::new("allo1a", Dec::from(1))
            ]
        );
        assert!(matches!(
            Vec::<ForecastValue>::new().into_forecast(),
            Err(InferError::UnexpectedShape { .. })
        ));
        assert!(matches!(
            vec![("", 1.0)].into_forecast(),
            Err(InferError::UnexpectedShape { .. })
        ));
        assert_eq!(
            vec![("allo1a", 1), ("allo1a", 2)].into_forecast(),
            Err(InferError::DuplicateKey("allo1a".into()))
        );
        match vec![("allo1a", f64::INFINITY)].into_forecast() {
            Err(InferError::InvalidValue { context, .. }) => assert_eq!(context, "allo1a"),
            other => panic!("{other:?}"),
        }
        let failed: Result<Vec<ForecastValue>, InferError> = Err(InferError::provider("no data"));
        assert_eq!(failed.into_forecast(), Err(InferError::provider("no data")));
    }

    #[test]
    fn results_pass_errors_through() {
        let ok: Result<f64, InferError> = Ok(2.5);
        assert_eq!(ok.into_prediction().unwrap(), single("2.5"));
        let err: Result<f64, InferError> = Err(InferError::provider("feed down"));
        assert_eq!(
            err.into_prediction(),
            Err(InferError::provider("feed down"))
        );
        let dec_err: Result<f64, DecimalError> = Err(DecimalError::Empty);
        assert!(matches!(
            dec_err.into_prediction(),
            Err(InferError::InvalidValue { .. })
        ));
    }
}
