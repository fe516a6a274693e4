//! The `keys` commands and loading the worker key.
//!
//! The mnemonic is printed once, by `keys new`; `keys show` prints only the
//! address and public key; `keys import` reads the mnemonic from standard
//! input so it never appears in the process list or shell history.

use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::str::FromStr;

use allora_sdk::keyfile;
use allora_sdk::keys::{Mnemonic, WorkerKey};
use zeroize::Zeroizing;

use crate::config::{self, KeySource, DEFAULT_DATA_DIR, DEFAULT_KEY_FILE_NAME, MNEMONIC_ENV};
use crate::error::AppError;

/// The key file a `keys` command uses: `--key-file`, else `ALLORA_KEY_FILE`,
/// else the configuration's `key_file`, else `key_file` in the data directory.
pub async fn key_file_path(
    flag: Option<&Path>,
    config_path: Option<&Path>,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<PathBuf, AppError> {
    if let Some(path) = flag {
        return Ok(path.to_owned());
    }
    if let Some(path) = env("ALLORA_KEY_FILE").filter(|s| !s.is_empty()) {
        return Ok(PathBuf::from(path));
    }
    let file = match config_path {
        Some(path) => config::read_file(path).await?,
        None => config::FileConfig::default(),
    };
    if let Some(path) = file.key_file {
        return Ok(path);
    }
    let data_dir = env("ALLORA_DATA_DIR")
        .filter(|s| !s.is_empty())
        .map(PathBuf::from)
        .or(file.data_dir)
        .unwrap_or_else(|| PathBuf::from(DEFAULT_DATA_DIR));
    Ok(data_dir.join(DEFAULT_KEY_FILE_NAME))
}

/// Loads the worker key from its source (the file is read off the runtime).
pub async fn load(source: KeySource) -> Result<WorkerKey, AppError> {
    match source {
        KeySource::Mnemonic(mnemonic) => Ok(WorkerKey::from_mnemonic(&mnemonic, "")?),
        KeySource::File(path) => {
            let mnemonic = tokio::task::spawn_blocking(move || read_key_file(&path)).await??;
            Ok(WorkerKey::from_mnemonic(&mnemonic, "")?)
        }
    }
}

/// Reads a key file, saying how to create one when it is missing. Blocking.
pub fn read_key_file(path: &Path) -> Result<Mnemonic, AppError> {
    if !path.exists() {
        return Err(AppError::ConfigValue {
            field: "key_file".into(),
            problem: format!(
                "{} does not exist; create it with `allora-worker keys new --key-file {}`, import a mnemonic with `allora-worker keys import --key-file {}`, or set ALLORA_MNEMONIC",
                path.display(),
                path.display(),
                path.display()
            ),
        });
    }
    Ok(keyfile::read(path)?)
}

/// Reads the key file at `path`, or creates it with a new 24-word mnemonic.
/// Returns the key and whether it was created. Blocking.
pub fn load_or_create(path: &Path) -> Result<(WorkerKey, bool), AppError> {
    if path.exists() {
        let mnemonic = keyfile::read(path)?;
        return Ok((WorkerKey::from_mnemonic(&mnemonic, "")?, false));
    }
    let mnemonic = Mnemonic::generate(24)?;
    keyfile::write_new(path, &mnemonic)?;
    Ok((WorkerKey::from_mnemonic(&mnemonic, "")?, true))
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

/// `keys show`: the address and compressed public key of the key file or,
/// when no file is named and `ALLORA_MNEMONIC` is set, of that mnemonic.
pub fn show_key(
    path: &Path,
    explicit_path: bool,
    env: &dyn Fn(&str) -> Option<String>,
    out: &mut dyn Write,
) -> Result<(), AppError> {
    let (key, origin) = match env(MNEMONIC_ENV).filter(|s| !s.trim().is_empty()) {
        Some(phrase) if !explicit_path => {
            let phrase = Zeroizing::new(phrase);
            let mnemonic =
                Mnemonic::from_str(phrase.trim()).map_err(|e| AppError::ConfigValue {
                    field: MNEMONIC_ENV.into(),
                    problem: format!("is not a valid mnemonic ({e})"),
                })?;
            (
                WorkerKey::from_mnemonic(&mnemonic, "")?,
                MNEMONIC_ENV.to_owned(),
            )
        }
        _ => {
            let mnemonic = read_key_file(path)?;
            (
                WorkerKey::from_mnemonic(&mnemonic, "")?,
                path.display().to_string(),
            )
        }
    };
    writeln!(
        out,
        "key:     {origin}\naddress: {}\npubkey:  {}",
        key.address(),
        key.public_key().to_hex()
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

#[cfg(test)]
mod tests {
    use super::*;

    const PHRASE: &str = "abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about";

    #[test]
    fn import_then_show_gives_the_address_but_not_the_phrase() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k/worker.key");
        let mut out = Vec::new();
        import_key(&path, &mut format!("{PHRASE}\n").as_bytes(), &mut out).unwrap();
        let imported = String::from_utf8(out).unwrap();
        let mut out = Vec::new();
        show_key(&path, true, &|_| None, &mut out).unwrap();
        let shown = String::from_utf8(out).unwrap();
        let address = WorkerKey::from_mnemonic(&PHRASE.parse().unwrap(), "")
            .unwrap()
            .address()
            .to_string();
        assert!(imported.contains(&address) && shown.contains(&address));
        assert!(!shown.contains("abandon") && !imported.contains("abandon"));
    }

    #[test]
    fn a_missing_key_file_says_how_to_create_one() {
        let dir = tempfile::tempdir().unwrap();
        let err = read_key_file(&dir.path().join("none.key"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("keys new"), "{err}");
    }

    #[test]
    fn a_bad_mnemonic_is_refused_without_echoing_it() {
        let dir = tempfile::tempdir().unwrap();
        let err = import_key(
            &dir.path().join("w.key"),
            &mut "secret words here\n".as_bytes(),
            &mut Vec::new(),
        )
        .unwrap_err();
        assert!(!err.to_string().contains("secret"), "{err}");
    }
}
