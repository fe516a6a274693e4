//! `allora-worker`: the Allora worker built on `allora-sdk`.

use allora_sdk::keys::{Mnemonic, WorkerKey};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mnemonic = match std::env::var("ALLORA_MNEMONIC") {
        Ok(phrase) => phrase.parse()?,
        Err(_) => Mnemonic::generate(24)?,
    };
    let key = WorkerKey::from_mnemonic(&mnemonic, "")?;
    println!("worker address: {}", key.address());
    Ok(())
}
