//! `emissions` module messages and the query service.

/// Nonces (`emissions.v3`, still used by v10).
pub mod v3 {
    #![allow(missing_docs, clippy::all)]
    include!(concat!(env!("OUT_DIR"), "/emissions.v3.rs"));
}

/// Emissions v9 (chain v0.16 and earlier): what differs from v10. Module
/// parameters (also returned by the v10 `GetParams`), the payload messages
/// (the inference value in `value`, no labeled values), registration (v10's
/// fields under the v9 type URL), the topic and its `GetTopicResponse`, and
/// the worker's part of the `QueryService`, whose other requests and
/// responses are v10's: the same on the wire, as a message's package never
/// is.
pub mod v9 {
    #![allow(missing_docs, clippy::all)]
    include!(concat!(env!("OUT_DIR"), "/emissions.v9.rs"));
}

/// Emissions v10 (chain v0.17 on): payload and registration messages
/// (labeled values), topics, events, scheduler epochs (chain v0.18 on) and
/// the worker's part of the `QueryService`.
pub mod v10 {
    #![allow(missing_docs, clippy::all)]
    include!(concat!(env!("OUT_DIR"), "/emissions.v10.rs"));
}
