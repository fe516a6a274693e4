//! Generates the chain's protobuf messages and gRPC services from the
//! `.proto` files under `proto/`, without a `protoc` binary (protox parses
//! them in pure Rust).

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let files = [
        "proto/emissions/v3/nonce.proto",
        "proto/emissions/v9/params.proto",
        "proto/emissions/v10/inputworker.proto",
        "proto/emissions/v10/tx.proto",
        "proto/emissions/v10/topic.proto",
        "proto/emissions/v10/events.proto",
        "proto/emissions/v10/network_inference.proto",
        "proto/emissions/v10/query.proto",
        "proto/feemarket/feemarket/v1/query.proto",
    ];
    println!("cargo:rerun-if-changed=proto");
    let descriptors = protox::compile(files, ["proto"])?;
    let mut config = prost_build::Config::new();
    // `prost::Name` impls give every message its `/package.Name` type URL.
    config.enable_type_names();
    tonic_build::configure()
        .build_client(true)
        .build_server(true)
        .extern_path(
            ".cosmos.base.v1beta1",
            "::cosmrs::proto::cosmos::base::v1beta1",
        )
        .compile_fds_with_config(config, descriptors)?;
    Ok(())
}
