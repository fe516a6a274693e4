//! `emissions` module messages and the query service.

/// Nonces (`emissions.v3`, still used by v10).
pub mod v3 {
    #![allow(missing_docs, clippy::all)]
    include!(concat!(env!("OUT_DIR"), "/emissions.v3.rs"));
}

/// Emissions v9 (chain v0.16 and earlier): what differs from v10 in the
/// messages themselves. Module parameters (also returned by the v10
/// `GetParams`) and the worker's part of the `QueryService`, which takes
/// and returns v10's messages: the same on the wire, as a message's package
/// never is. Payloads and registration are v10's messages under v9 type
/// URLs (see [`crate::emissions`]).
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
