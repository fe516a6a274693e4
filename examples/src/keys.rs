//! The worker key's source as configured, loading the signer from it, and
//! the key file the `keys` commands write (the commands themselves are
//! [`allora_sdk::operator`]: the mnemonic is printed once, by `keys new`;
//! `keys show` prints only the address and public key, of a key in KMS or a
//! remote signer too; `keys import` reads the mnemonic from standard input so
//! it never appears in the process list or shell history).

use std::path::{Path, PathBuf};

use allora_aws::setup::{kms_key_source, secrets_manager_key_source};
use allora_sdk::key_source::{
    EnvMnemonicSource, KeyFileSource, KeySource, RemoteSignerSource, WorkerSigner,
};

use crate::config::{ConfigError, KeySetting, MNEMONIC_ENV};
use crate::error::AppError;

/// The source of a key setting. An AWS source reads with `aws` when given
/// (the caller may share it with the CloudWatch exporter), else with the
/// SDK's usual configuration (see [`allora_aws::setup::shared_or_load`]).
pub async fn source(
    setting: &KeySetting,
    aws: Option<&aws_config::SdkConfig>,
) -> Box<dyn KeySource> {
    match setting {
        KeySetting::File(path) => Box::new(KeyFileSource::new(path)),
        KeySetting::Env => Box::new(EnvMnemonicSource::new(MNEMONIC_ENV)),
        KeySetting::AwsSecret(id) => Box::new(secrets_manager_key_source(aws, id.clone()).await),
        KeySetting::Kms {
            key_id,
            message_type,
        } => Box::new(kms_key_source(aws, key_id.clone(), *message_type).await),
        KeySetting::Remote {
            url,
            public_key,
            token,
        } => Box::new(
            RemoteSignerSource::new(url.clone(), *public_key).bearer_token_from(token.clone()),
        ),
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
