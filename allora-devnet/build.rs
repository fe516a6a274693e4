//! Generates the gRPC server traits of the chain's emissions and feemarket
//! query services. The descriptors come from allora-sdk's build script
//! (`DEP_ALLORA_SDK_PROTO_DESCRIPTOR_SET`) and every message type is mapped
//! to allora-sdk's (`extern_path`), so no message is defined twice and the
//! devnet serves exactly the types the SDK's clients send.

use prost::Message;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    const DESCRIPTOR_SET: &str = "DEP_ALLORA_SDK_PROTO_DESCRIPTOR_SET";
    println!("cargo::rerun-if-env-changed={DESCRIPTOR_SET}");
    let path = std::env::var(DESCRIPTOR_SET)
        .map_err(|_| format!("{DESCRIPTOR_SET} is not set: allora-sdk's build script passes it"))?;
    println!("cargo::rerun-if-changed={path}");
    let descriptors = tonic_build::FileDescriptorSet::decode(std::fs::read(&path)?.as_slice())?;
    tonic_build::configure()
        .build_client(false)
        .build_server(true)
        .extern_path(".emissions.v3", "::allora_sdk::proto::emissions::v3")
        .extern_path(".emissions.v9", "::allora_sdk::proto::emissions::v9")
        .extern_path(".emissions.v10", "::allora_sdk::proto::emissions::v10")
        .extern_path(".feemarket.feemarket.v1", "::allora_sdk::proto::feemarket")
        .extern_path(
            ".cosmos.base.v1beta1",
            "::cosmrs::proto::cosmos::base::v1beta1",
        )
        .compile_fds(descriptors)?;
    Ok(())
}
