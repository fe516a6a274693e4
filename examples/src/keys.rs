//! The `keys` commands, and loading the worker's signer from its configured
//! source.
//!
//! The mnemonic is printed once, by `keys new`; `keys show` prints only the
//! address and public key (of a key in KMS or a remote signer too);
//! `keys import` reads the mnemonic from standard input so it never appears
//! in the process list or shell history.

use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::str::FromStr;

use allora_aws::kms::KmsKeySource;
use allora_aws::sdk_config::AwsContext;
use allora_aws::secrets::SecretsManagerKeySource;
use allora_sdk::key_source::{
    EnvMnemonicSource, KeyFileSource, KeySource, RemoteSignerSource, WorkerSigner,
};
use allora_sdk::keyfile;
use allora_sdk::keys::{Mnemonic, WorkerKey};
use zeroize::Zeroizing;

use crate::config::{ConfigError, KeySetting, MNEMONIC_ENV};
use crate::error::AppError;

/// The source of a key setting. An AWS source reads with `aws` when given
/// (the caller may share it with the CloudWatch exporter), else with the
/// SDK's usual configuration (credentials and endpoints from the
/// environment, profile or instance role; the region from the environment,
/// profile or instance).
pub async fn source(
    setting: &KeySetting,
    aws: Option<&aws_config::SdkConfig>,
) -> Box<dyn KeySource> {
    match setting {
        KeySetting::File(path) => Box::new(KeyFileSource::new(path)),
        KeySetting::Env => Box::new(EnvMnemonicSource::new(MNEMONIC_ENV)),
        KeySetting::AwsSecret(id) => {
            let client = aws_sdk_secretsmanager::Client::new(&aws_config(aws).await);
            Box::new(SecretsManagerKeySource::new(client, id.clone()))
        }
        KeySetting::Kms {
            key_id,
            message_type,
        } => {
            let client = aws_sdk_kms::Client::new(&aws_config(aws).await);
            Box::new(KmsKeySource::new(client, key_id.clone()).with_message_type(*message_type))
        }
        KeySetting::Remote {
            url,
            public_key,
            token,
        } => Box::new(
            RemoteSignerSource::new(url.clone(), *public_key).bearer_token_from(token.clone()),
        ),
    }
}

/// `aws`, or the SDK's usual configuration with the instance's region.
async fn aws_config(aws: Option<&aws_config::SdkConfig>) -> aws_config::SdkConfig {
    match aws {
        Some(aws) => aws.clone(),
        None => AwsContext::load(crate::aws::IMDS_LIMIT).await.config,
    }
}

/// Loads the worker's signer from `source`: a local key, or a signer that
/// keeps the key elsewhere (KMS, a remote signing service).
pub async fn load(source: &dyn KeySource) -> Result<WorkerSigner, AppError> {
    Ok(source.load().await?)
}

/// Loads the worker's signer as configured.
pub async fn load_configured(setting: &KeySetting) -> Result<WorkerSigner, AppError> {
    load(source(setting, None).await.as_ref()).await
}

/// The key file `keys new` and `keys import` write: `--key-file`, else the
/// configured one.
pub fn file_to_write(flag: Option<&Path>, setting: &KeySetting) -> Result<PathBuf, AppError> {
    match (flag, setting) {
        (Some(path), _) => Ok(path.to_owned()),
        (None, KeySetting::File(path)) => Ok(path.clone()),
        (None, other) => Err(AppError::from(ConfigError::Value {
            field: "key.source".into(),
            problem: format!("is {other:?}, not a key file; pass --key-file PATH to write one"),
        })),
    }
}

/// `keys new`: writes a new key file and prints the address and, once, the
/// mnemonic. Blocking.
pub fn new_key(path: &Path, words: usize, out: &mut dyn Write) -> Result<(), AppError> {
    let mnemonic = Mnemonic::generate(words)?;
    keyfile::write_new(path, &mnemonic)?;
    let key = WorkerKey::from_mnemonic(&mnemonic, "")?;
    let phrase = mnemonic.phrase();
    writeln!(
        out,
        "key file: {}\naddress:  {}\n\nmnemonic (shown once; write it down and keep it offline, anyone with it controls the worker's funds):\n\n{}\n",
        path.display(),
        key.address(),
        phrase.as_str()
    )
    .map_err(AppError::Output)
}

/// `keys show`: the source, address and compressed public key (never the
/// mnemonic). For a key in KMS the public key is read from KMS
/// (`kms:GetPublicKey`); for a remote signer it is the configured one.
pub async fn show_key(source: &dyn KeySource, out: &mut dyn Write) -> Result<(), AppError> {
    let signer = load(source).await?;
    writeln!(
        out,
        "key:     {}\naddress: {}\npubkey:  {}",
        source.describe(),
        signer.address(),
        signer.public_key().to_hex()
    )
    .map_err(AppError::Output)
}

/// `keys import`: reads a mnemonic from `input` and writes it to a new key
/// file. Blocking.
pub fn import_key(
    path: &Path,
    input: &mut dyn BufRead,
    out: &mut dyn Write,
) -> Result<(), AppError> {
    let mut line = Zeroizing::new(String::new());
    input.read_line(&mut line).map_err(AppError::Stdin)?;
    let mnemonic = Mnemonic::from_str(line.trim()).map_err(AppError::BadMnemonic)?;
    keyfile::write_new(path, &mnemonic)?;
    let key = WorkerKey::from_mnemonic(&mnemonic, "")?;
    writeln!(
        out,
        "imported into {}\naddress: {}",
        path.display(),
        key.address()
    )
    .map_err(AppError::Output)
}
