//! `emissions` module messages and the query service.

/// Nonces (`emissions.v3`, still used by v10).
pub mod v3 {
    #![allow(missing_docs, clippy::all)]
    include!(concat!(env!("OUT_DIR"), "/emissions.v3.rs"));
}

/// Module parameters (`emissions.v9`, returned by the v10 `GetParams`).
pub mod v9 {
    #![allow(missing_docs, clippy::all)]
    include!(concat!(env!("OUT_DIR"), "/emissions.v9.rs"));
}

/// The chain's current worker protocol (`emissions.v10`): payload and
/// registration messages, topics, events and the `QueryService`.
pub mod v10 {
    #![allow(missing_docs, clippy::all)]
    include!(concat!(env!("OUT_DIR"), "/emissions.v10.rs"));
}
