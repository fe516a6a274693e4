//! Protobuf types of the Allora chain that a worker sends and receives.
//!
//! Generated from the `.proto` files under `proto/` (no `protoc` on the build
//! path). Field numbers, names and type URLs follow the chain's `emissions`
//! module (v10's messages, v9's parameters and query service, nonces from
//! v3; v9's payloads are v10's messages under v9 type URLs); the golden
//! vectors of the official Python SDK pin the encoding byte for byte in this
//! crate's tests. Which version a chain speaks, and each version's type
//! URLs, services and events, are in [`crate::emissions`].
//!
//! Decimal fields are strings on the wire; build them with [`crate::Dec`] so
//! they are in the canonical form the chain re-encodes for signature checks.

pub mod emissions;
pub mod feemarket;

pub use cosmrs::proto::Any;

/// Wraps a message into an [`Any`] with its type URL (`/package.Name`).
pub fn to_any<M: prost::Name>(message: &M) -> Any {
    Any {
        type_url: M::type_url(),
        value: prost::Message::encode_to_vec(message),
    }
}
