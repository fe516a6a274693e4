//! ONNX models as providers, run by tract (pure Rust, no system libraries).
//!
//! The model is loaded and optimized once; each inference builds a feature
//! vector from the request with a user closure, runs the model on tokio's
//! blocking pool and converts its output to [`Dec`] (NaN and infinities
//! become [`InferError::InvalidValue`]).
//!
//! ```no_run
//! use allora_infer::{InferenceRequest, OnnxProvider};
//!
//! # fn main() -> Result<(), allora_infer::InferError> {
//! // A model taking one row of three features.
//! let provider = OnnxProvider::load("model.onnx", &[1, 3], |req: &InferenceRequest| {
//!     vec![req.topic_id as f32, req.nonce as f32, 1.0]
//! })?;
//! # let _ = provider;
//! # Ok(()) }
//! ```

use std::fmt;
use std::path::Path;
use std::sync::Arc;

use async_trait::async_trait;
use tokio::time::Instant;
use tract_onnx::prelude::{
    tvec, Datum, Framework, InferenceFact, InferenceModelExt, Tensor, TypedModel,
    TypedRunnableModel,
};

use crate::decimal::Dec;
use crate::error::InferError;
use crate::inference::InferenceProvider;
use crate::request::{InferenceRequest, Prediction};

type Features = dyn Fn(&InferenceRequest) -> Vec<f32> + Send + Sync;

/// A provider that runs an ONNX model on features computed from the request.
///
/// The model's first output must hold one value, or as many as there are
/// labels given with [`with_output_labels`](Self::with_output_labels).
/// Cheap to clone; the optimized model is shared.
#[derive(Clone)]
pub struct OnnxProvider {
    plan: Arc<TypedRunnableModel<TypedModel>>,
    input_shape: Vec<usize>,
    features: Arc<Features>,
    labels: Option<Vec<String>>,
}

impl fmt::Debug for OnnxProvider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OnnxProvider")
            .field("input_shape", &self.input_shape)
            .field("labels", &self.labels)
            .finish_non_exhaustive()
    }
}

impl OnnxProvider {
    /// Loads and optimizes the model at `path`, whose first input is an
    /// `f32` tensor of `input_shape` (e.g. `[1, 3]` for one row of three
    /// features); `features` must return exactly that many values.
    ///
    /// This reads the file and compiles the model, which blocks: call it at
    /// startup, or inside `spawn_blocking`.
    pub fn load<F>(
        path: impl AsRef<Path>,
        input_shape: &[usize],
        features: F,
    ) -> Result<Self, InferError>
    where
        F: Fn(&InferenceRequest) -> Vec<f32> + Send + Sync + 'static,
    {
        let path = path.as_ref();
        let model_err = |stage: &str, e: tract_onnx::prelude::TractError| {
            InferError::Model(format!("{stage} {}: {e:#}", path.display()))
        };
        let fact = InferenceFact::dt_shape(f32::datum_type(), input_shape);
        let plan = tract_onnx::onnx()
            .model_for_path(path)
            .map_err(|e| model_err("cannot read ONNX model", e))?
            .with_input_fact(0, fact)
            .map_err(|e| model_err("input shape does not fit", e))?
            .into_optimized()
            .map_err(|e| model_err("cannot optimize", e))?
            .into_runnable()
            .map_err(|e| model_err("cannot prepare", e))?;
        Ok(OnnxProvider {
            plan: Arc::new(plan),
            input_shape: input_shape.to_vec(),
            features: Arc::new(features),
            labels: None,
        })
    }

    /// Names the model's outputs: output value `i` becomes labeled value
    /// `labels[i]`, and the provider returns [`Prediction::Labeled`].
    pub fn with_output_labels<S: Into<String>>(
        mut self,
        labels: impl IntoIterator<Item = S>,
    ) -> Self {
        self.labels = Some(labels.into_iter().map(Into::into).collect());
        self
    }

    /// Runs the model once; blocking, so called from the blocking pool.
    fn run(&self, req: &InferenceRequest) -> Result<Prediction, InferError> {
        let features = (self.features)(req);
        let expected: usize = self.input_shape.iter().product();
        if features.len() != expected {
            return Err(InferError::Config(format!(
                "the feature closure returned {} values; the model input {:?} needs {expected}",
                features.len(),
                self.input_shape
            )));
        }
        let input = Tensor::from_shape(&self.input_shape, &features)
            .map_err(|e| InferError::Model(format!("cannot build the input tensor: {e:#}")))?;
        let outputs = self
            .plan
            .run(tvec!(input.into()))
            .map_err(|e| InferError::Model(format!("model run failed: {e:#}")))?;
        let first = outputs
            .first()
            .ok_or_else(|| InferError::Model("the model produced no output".into()))?;
        let values = first
            .cast_to::<f32>()
            .map_err(|e| InferError::Model(format!("model output is not numeric: {e:#}")))?;
        let values = values
            .as_slice::<f32>()
            .map_err(|e| InferError::Model(format!("cannot read the model output: {e:#}")))?;
        match &self.labels {
            None => match values {
                [v] => Ok(Prediction::Single(Dec::try_from(*v)?)),
                _ => Err(InferError::Config(format!(
                    "the model's output has {} values; name them with with_output_labels() or use a model with one output value",
                    values.len()
                ))),
            },
            Some(labels) if labels.len() == values.len() => {
                let mut pairs = Vec::with_capacity(labels.len());
                for (label, v) in labels.iter().zip(values) {
                    let value = Dec::try_from(*v)
                        .map_err(|e| InferError::invalid_value(label.clone(), e))?;
                    pairs.push((label.clone(), value));
                }
                crate::convert::check_labeled(&pairs)?;
                Ok(Prediction::Labeled(pairs))
            }
            Some(labels) => Err(InferError::Config(format!(
                "the model's output has {} values but {} labels were given",
                values.len(),
                labels.len()
            ))),
        }
    }
}

#[async_trait]
impl InferenceProvider for OnnxProvider {
    async fn infer(&self, req: &InferenceRequest) -> Result<Prediction, InferError> {
        let this = self.clone();
        let owned = req.clone();
        let started = Instant::now();
        let task = tokio::task::spawn_blocking(move || this.run(&owned));
        match tokio::time::timeout_at(req.deadline, task).await {
            Ok(Ok(result)) => result,
            Ok(Err(join)) => Err(InferError::Model(format!(
                "the model run panicked or was cancelled: {join}"
            ))),
            Err(_) => Err(InferError::Timeout {
                elapsed: started.elapsed(),
            }),
        }
    }
}
