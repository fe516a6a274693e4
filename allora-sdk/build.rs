//! Generates the chain's protobuf messages and gRPC clients from the
//! `.proto` files under `proto/`, without a `protoc` binary (protox parses
//! them in pure Rust).
//!
//! The compiled descriptor set is also written to `OUT_DIR` and its path
//! passed to the build scripts of crates that depend on this one (through
//! `links`, as `DEP_ALLORA_SDK_PROTO_DESCRIPTOR_SET`), so that a server of
//! these services (the devnet) can generate its traits against the message
//! types defined here instead of defining them a second time.

use prost::Message;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let files = [
        "proto/emissions/v3/nonce.proto",
        "proto/emissions/v9/params.proto",
        "proto/emissions/v9/query.proto",
        "proto/emissions/v10/inputworker.proto",
        "proto/emissions/v10/tx.proto",
        "proto/emissions/v10/topic.proto",
        "proto/emissions/v10/events.proto",
        "proto/emissions/v10/network_inference.proto",
        "proto/emissions/v10/epoch.proto",
        "proto/emissions/v10/query.proto",
        "proto/feemarket/feemarket/v1/query.proto",
    ];
    println!("cargo::rerun-if-changed=proto");
    let descriptors = protox::compile(files, ["proto"])?;
    let out_dir = std::path::PathBuf::from(std::env::var("OUT_DIR")?);
    let descriptor_set = out_dir.join("allora_sdk_descriptors.bin");
    std::fs::write(&descriptor_set, descriptors.encode_to_vec())?;
    println!(
        "cargo::metadata=descriptor_set={}",
        descriptor_set.display()
    );
    let mut config = prost_build::Config::new();
    // `prost::Name` impls give every message its `/package.Name` type URL.
    config.enable_type_names();
    tonic_build::configure()
        .build_client(true)
        .build_server(false)
        .extern_path(
            ".cosmos.base.v1beta1",
            "::cosmrs::proto::cosmos::base::v1beta1",
        )
        // The Timestamp every other chain message uses (tendermint-proto's).
        .extern_path(".google.protobuf.Timestamp", "::cosmrs::proto::Timestamp")
        .compile_fds_with_config(config, descriptors)?;
    Ok(())
}
