//! `emissions` module messages.

/// Messages of `emissions.v3` still used by v10.
pub mod v3 {
    /// A block height that opens a worker (or reputer) submission round.
    #[derive(Clone, Copy, PartialEq, Eq, Hash, prost::Message)]
    pub struct Nonce {
        /// The block height of the nonce.
        #[prost(int64, tag = "1")]
        pub block_height: i64,
    }

    /// A list of nonces.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Nonces {
        /// The nonces.
        #[prost(message, repeated, tag = "1")]
        pub nonces: Vec<Nonce>,
    }

    macro_rules! named {
        ($($t:ident),*) => {$(
            impl prost::Name for $t {
                const NAME: &'static str = stringify!($t);
                const PACKAGE: &'static str = "emissions.v3";
            }
        )*};
    }
    named!(Nonce, Nonces);
}

/// Messages of `emissions.v10`, the chain's current worker protocol.
pub mod v10 {
    use super::v3;

    /// One labeled value of a (possibly multi-output) inference.
    #[derive(Clone, PartialEq, Eq, prost::Message)]
    pub struct InputLabeledValue {
        /// The label (`"y"` for a single-value topic).
        #[prost(string, tag = "1")]
        pub label: String,
        /// Canonical decimal text.
        #[prost(string, tag = "2")]
        pub value: String,
    }

    /// A worker's inference for one topic and nonce.
    #[derive(Clone, PartialEq, Eq, prost::Message)]
    pub struct InputInference {
        /// Topic id.
        #[prost(uint64, tag = "1")]
        pub topic_id: u64,
        /// Block height of the nonce this answers.
        #[prost(int64, tag = "2")]
        pub block_height: i64,
        /// Address of the inferer (the worker).
        #[prost(string, tag = "3")]
        pub inferer: String,
        /// Legacy single value; `"0"` when `values` carries the inference.
        #[prost(string, tag = "4")]
        pub value: String,
        /// Opaque extra data.
        #[prost(bytes = "vec", tag = "5")]
        pub extra_data: Vec<u8>,
        /// Optional proof text.
        #[prost(string, tag = "6")]
        pub proof: String,
        /// The labeled values.
        #[prost(message, repeated, tag = "7")]
        pub values: Vec<InputLabeledValue>,
    }

    /// A forecast of one inferer's loss.
    #[derive(Clone, PartialEq, Eq, prost::Message)]
    pub struct InputForecastElement {
        /// The inferer whose loss is forecast.
        #[prost(string, tag = "1")]
        pub inferer: String,
        /// Canonical decimal text.
        #[prost(string, tag = "2")]
        pub value: String,
    }

    /// A worker's forecast for one topic and nonce.
    #[derive(Clone, PartialEq, Eq, prost::Message)]
    pub struct InputForecast {
        /// Topic id.
        #[prost(uint64, tag = "1")]
        pub topic_id: u64,
        /// Block height of the nonce this answers.
        #[prost(int64, tag = "2")]
        pub block_height: i64,
        /// Address of the forecaster (the worker).
        #[prost(string, tag = "3")]
        pub forecaster: String,
        /// Elements, sorted by inferer address.
        #[prost(message, repeated, tag = "4")]
        pub forecast_elements: Vec<InputForecastElement>,
        /// Opaque extra data.
        #[prost(bytes = "vec", tag = "5")]
        pub extra_data: Vec<u8>,
    }

    /// The signed part of a worker payload.
    #[derive(Clone, PartialEq, Eq, prost::Message)]
    pub struct InputInferenceForecastBundle {
        /// The inference, if the worker infers.
        #[prost(message, optional, tag = "1")]
        pub inference: Option<InputInference>,
        /// The forecast, if the worker forecasts.
        #[prost(message, optional, tag = "2")]
        pub forecast: Option<InputForecast>,
    }

    /// A worker's whole payload for one topic and nonce.
    #[derive(Clone, PartialEq, Eq, prost::Message)]
    pub struct InputWorkerDataBundle {
        /// The worker address.
        #[prost(string, tag = "1")]
        pub worker: String,
        /// The nonce answered.
        #[prost(message, optional, tag = "2")]
        pub nonce: Option<v3::Nonce>,
        /// Topic id.
        #[prost(uint64, tag = "3")]
        pub topic_id: u64,
        /// The signed bundle.
        #[prost(message, optional, tag = "4")]
        pub inference_forecasts_bundle: Option<InputInferenceForecastBundle>,
        /// secp256k1 signature (64-byte `r || s`, low-S) over sha256 of the
        /// encoded bundle.
        #[prost(bytes = "vec", tag = "5")]
        pub inferences_forecasts_bundle_signature: Vec<u8>,
        /// Lower-case hex of the worker's compressed public key.
        #[prost(string, tag = "6")]
        pub pubkey: String,
    }

    /// The transaction message that submits a worker payload.
    #[derive(Clone, PartialEq, Eq, prost::Message)]
    pub struct InsertWorkerPayloadRequest {
        /// The tx signer; must equal the worker.
        #[prost(string, tag = "1")]
        pub sender: String,
        /// The payload.
        #[prost(message, optional, tag = "2")]
        pub worker_data_bundle: Option<InputWorkerDataBundle>,
    }

    /// The transaction message that registers an address as a worker (or
    /// reputer) in a topic.
    #[derive(Clone, PartialEq, Eq, prost::Message)]
    pub struct RegisterRequest {
        /// The tx signer (pays the registration fee).
        #[prost(string, tag = "1")]
        pub sender: String,
        /// The topic to register in.
        #[prost(uint64, tag = "4")]
        pub topic_id: u64,
        /// The owner of the registration (usually the sender).
        #[prost(string, tag = "5")]
        pub owner: String,
        /// `true` to register as a reputer, `false` as a worker.
        #[prost(bool, tag = "6")]
        pub is_reputer: bool,
    }

    /// Reply to [`RegisterRequest`].
    #[derive(Clone, PartialEq, Eq, prost::Message)]
    pub struct RegisterResponse {
        /// Deprecated success flag.
        #[prost(bool, tag = "1")]
        pub success: bool,
        /// Deprecated message.
        #[prost(string, tag = "2")]
        pub message: String,
    }

    /// Reply to [`InsertWorkerPayloadRequest`] (empty).
    #[derive(Clone, PartialEq, Eq, prost::Message)]
    pub struct InsertWorkerPayloadResponse {}

    macro_rules! named {
        ($($t:ident),*) => {$(
            impl prost::Name for $t {
                const NAME: &'static str = stringify!($t);
                const PACKAGE: &'static str = "emissions.v10";
            }
        )*};
    }
    named!(
        InputLabeledValue,
        InputInference,
        InputForecastElement,
        InputForecast,
        InputInferenceForecastBundle,
        InputWorkerDataBundle,
        InsertWorkerPayloadRequest,
        InsertWorkerPayloadResponse,
        RegisterRequest,
        RegisterResponse
    );
}
